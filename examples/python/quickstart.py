"""passgate quickstart (Python): issue a passport, pay until the daily cap says no, read why,
dry-run, and verify the signed audit chain. Run: `.venv/bin/python examples/python/quickstart.py`"""

import passgate

# 1. An issuer (your control plane) signs a passport for an agent.
issuer = passgate.Issuer.generate()
passport = issuer.issue_passport(agent_id="agent-007", permissions=["payments:send"])

# 2. The engine trusts that issuer and enforces a policy: at most 500 per payment,
#    1000 per day, USD or EUR only.
engine = passgate.Engine(
    {"version": 1, "gates": {"payments.send": {
        "require": ["payments:send"],
        "constraints": [
            {"id": "per-call", "type": "max_value", "field": "/amount", "max": 500},
            {"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]},
            {"id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": "1000.00", "window": "1d"},
        ]}}},
    trusted_issuers=[issuer.did],
)

# 3. Pay 400 three times: the third payment would pass 1000 for the day.
for i in range(1, 4):
    d = engine.enforce("payments.send", passport.token, {"amount": 400, "currency": "USD"})
    print(f"payment {i}: {d.decision} (remaining today: {d.remaining.get('daily-spend')})")
    if not d.allowed:
        # 4. Every failed check says why, with the observed value and the limit.
        for c in d.failed():
            print(f"  denied by {c['constraint']}: {c['message']}")

# 5. Dry run: would 200 pass? It answers without counting anything.
probe = engine.dry_run("payments.send", passport.token, {"amount": 200, "currency": "USD"})
print(f"dry run of 200: {probe.decision}")

# 6. Every decision was signed into this engine's chain; anyone with its did:key can verify.
records = engine.attestations()
passgate.verify_chain(records, engine.signer_did)
print(f"audit chain: {len(records)} records verified against {engine.signer_did}")
