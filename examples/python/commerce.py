"""passgate commerce, end to end (Python): a provider publishes v1 of its prices; an agent's passport
is pinned to v1; 100 metered calls, each with a proof of possession of the agent's key; midway v2
raises the price (the impact shows a breaking change) and the pinned agent keeps v1's prices; a
settlement for the period is then verified **offline** by the payer with nothing but
`cryptography`, `rfc8785`, SHA-256 and the provider's did:key (`verify_offline` below uses no
passgate code). Run: `.venv/bin/python examples/python/commerce.py`"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import passgate

GATE = "llm.complete"
issuer = passgate.Issuer.generate()
# L3: every call must carry a proof of possession of the passport's key (a stolen token is useless).
engine = passgate.Engine(
    {
        "version": 1,
        "issuers": [issuer.did],
        "issuer_levels": {issuer.did: "L2"},
        "gates": {GATE: {"require": ["llm:complete"], "trust_level": "L3"}},
    }
)


def catalog(cents_per_1000_tokens: int) -> dict[str, Any]:
    return {
        "gate": GATE,
        "trust_level": "L3",
        "offers": [{
            "permission": "llm:complete",
            "price": {"amount": cents_per_1000_tokens, "currency": "USD"},  # integer minor units
            "pricing": {"model": "per_unit", "field": "/tokens", "unit": 1000},
            "sla": {"availability_bp": 9900, "p95_latency_ms": 800},
        }],
    }


# 1. The provider publishes v1; the agent discovers it and is issued a passport pinned to it.
engine.create_catalog(GATE, catalog(200))
v1 = engine.publish_catalog(GATE, change_summary="launch")
service = engine.discover_services({"permission": "llm:*"})["services"][0]
pin = {"gate": GATE, "version": service["version"], "content_hash": service["content_hash"]}
agent = engine.issue_passport(issuer, "agent-007", permissions=["llm:complete"], pins=[pin])


def call(tokens: int) -> None:
    """One metered call: enforce with a fresh proof of possession, then attest the consumption."""
    payload = {"tokens": tokens}
    pop = passgate.make_pop(agent, gate=GATE, payload=payload, catalog_hash=pin["content_hash"])
    d = engine.enforce(GATE, agent, payload, pop=pop)
    assert d.decision == "allow", d.failed()
    engine.issue_consumption_attestation(d.evaluation_id, outcome="success", quantity=tokens, latency_ms=120)


for i in range(50):
    call(1000 + 10 * i)

# 2. v2 raises the price: a breaking change by the impact; the pinned agent is not affected.
engine.create_catalog(GATE, catalog(300))
engine.publish_catalog(GATE, effective_at=v1["effective_at"] + 1, change_summary="price up")
impact = engine.get_catalog_impact(GATE, 1, 2)
print(f"v1 -> v2 breaking: {impact['has_breaking_changes']} {[c['kind'] for c in impact['changes']]}")
for i in range(50, 100):
    call(1000 + 10 * i)

# A replayed proof is refused, whatever engine shares the store.
payload = {"tokens": 1000}
pop = passgate.make_pop(agent, gate=GATE, payload=payload, catalog_hash=pin["content_hash"])
engine.enforce(GATE, agent, payload, pop=pop)
print("replayed proof:", [c["code"] for c in engine.enforce(GATE, agent, payload, pop=pop).failed()])

# 3. The provider settles the period and hands the payer the bundle (statement + records).
statement = engine.generate_settlement(0, 4_000_000_000_000, payee=engine.signer_did)
engine.update_settlement_status(statement["settlement_id"], "issued")
bundle = engine.export_settlement(statement["settlement_id"])
provider_did = engine.signer_did


# 4. The payer verifies it offline: signatures, the Merkle root, the totals, the terms applied.
def did_key(did: str) -> Ed25519PublicKey:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for ch in did.removeprefix("did:key:z"):
        n = n * 58 + alphabet.index(ch)
    raw = n.to_bytes(34, "big")
    assert raw[:2] == b"\xed\x01", "not an Ed25519 did:key"
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def check_signed(document: dict[str, Any], did: str, domain: bytes) -> None:
    digest = hashlib.sha256(rfc8785.dumps(document["body"])).digest()
    assert document["hash"] == "sha256:" + digest.hex(), "hash"
    sig = base64.urlsafe_b64decode(document["sig"] + "=" * (-len(document["sig"]) % 4))
    did_key(did).verify(sig, domain + digest)  # raises InvalidSignature


def merkle_root(ids: list[str]) -> str:  # RFC 9162 tree hash over the sorted record ids
    def mth(leaves: list[bytes]) -> bytes:
        if not leaves:
            return hashlib.sha256(b"").digest()
        if len(leaves) == 1:
            return leaves[0]
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()

    return "sha256:" + mth([hashlib.sha256(b"\x00" + i.encode()).digest() for i in sorted(ids)]).hex()


def verify_offline(bundle: dict[str, Any], did: str, pinned_hash: str) -> dict[str, Any]:
    doc = bundle["settlement"]
    check_signed(doc, did, b"passgate/settlement/v1\n")
    totals: dict[str, dict[str, int]] = {}
    for rec in bundle["consumptions"]:
        check_signed(rec, did, b"passgate-attestation-v1\n")
        data = rec["body"]["data"]
        assert data["catalog"]["content_hash"] == pinned_hash, "priced on terms the agent did not accept"
        t = totals.setdefault(data["price"]["currency"], {"gross": 0, "fee": 0, "net": 0, "count": 0})
        for k, v in (("gross", data["price"]["amount"]), ("fee", data["fee"]), ("net", data["net"]), ("count", 1)):
            t[k] += v
    assert doc["body"]["totals"] == totals, "totals"
    assert doc["body"]["merkle_root"] == merkle_root([r["body"]["id"] for r in bundle["consumptions"]]), "root"
    return totals


totals = verify_offline(bundle, provider_did, pin["content_hash"])
usd = totals["USD"]
expected = sum((1000 + 10 * i) * 200 // 1000 for i in range(100))
print(f"settlement {statement['settlement_id']}: {usd['count']} calls, {usd['gross']} cents (v1 prices: {expected})")
assert usd["gross"] == expected and usd["count"] == 100

# Any changed byte is caught: the payer refuses a statement whose records were altered.
forged = json.loads(json.dumps(bundle))
forged["consumptions"][7]["body"]["data"]["price"]["amount"] += 1
try:
    verify_offline(forged, provider_did, pin["content_hash"])
    raise SystemExit("a forged record verified")
except AssertionError as e:
    print("forged record refused offline:", e)
engine.update_settlement_status(statement["settlement_id"], "paid", reason="wire 2026-12-03")
print("settlement verified offline against", provider_did)
