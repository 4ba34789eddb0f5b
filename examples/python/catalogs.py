"""passgate catalogs (Python): a provider publishes v1 of its prices, an agent's passport is pinned
to v1, v2 raises a price (the impact shows a breaking change), the pinned agent keeps v1 until it
accepts v2, and the published catalog verifies offline with only `cryptography`, SHA-256 and
canonical JSON. Run: `.venv/bin/python examples/python/catalogs.py`"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import passgate

issuer = passgate.Issuer.generate()
engine = passgate.Engine(
    {"version": 1, "gates": {"llm.complete": {"require": ["llm:complete"]}}},
    trusted_issuers=[issuer.did],
)


def offer(amount: int) -> dict[str, Any]:
    return {
        "gate": "llm.complete",
        "description": "Text completions",
        "trust_level": "L1",
        "offers": [{
            "permission": "llm:complete",
            "price": {"amount": amount, "currency": "USD"},  # minor units (cents) per 1000 tokens
            "pricing": {"model": "per_unit", "field": "/tokens", "unit": 1000},
            "sla": {"availability_bp": 9990, "p95_latency_ms": 800},
        }],
    }


# 1. The provider drafts and publishes v1: signed, versioned, never changed again.
engine.create_catalog("llm.complete", offer(200))
v1 = engine.publish_catalog("llm.complete", change_summary="launch")
print(f"published v{v1['version']} {v1['content_hash']}")

# 2. An agent finds the service and gets a passport pinned to the terms it read.
service = engine.discover_services({"permission": "llm:*"})["services"][0]
pin = {"gate": service["gate"], "version": service["version"], "content_hash": service["content_hash"]}
agent = engine.issue_passport(issuer, "agent-007", permissions=["llm:complete"], pins=[pin])

# 3. v2 raises the price: the impact says so, and that it is breaking.
engine.create_catalog("llm.complete", offer(300))
engine.publish_catalog("llm.complete", effective_at=v1["effective_at"] + 1, change_summary="price up")
impact = engine.get_catalog_impact("llm.complete", 1, 2)
print(f"v1 -> v2 breaking: {impact['has_breaking_changes']}: {[c['kind'] for c in impact['changes']]}")

# 4. The pinned agent still runs on v1's terms; the decision records which.
d = engine.enforce("llm.complete", agent, {"tokens": 1200})
pinned = next(c for c in d.checks if c["type"] == "catalog_pin")
print(f"pinned agent: {d.decision} ({pinned['message']})")

# 5. Having read the impact, the agent accepts v2: its passport is reissued pinned to v2.
agent = engine.reissue(agent, issuer, accept_catalog=[{"gate": "llm.complete", "version": 2}])
d = engine.enforce("llm.complete", agent, {"tokens": 1200})
print(f"after accepting v2: {next(c for c in d.checks if c['type'] == 'catalog_pin')['message']}")


# 6. Anyone verifies a published catalog with the provider's did:key alone.
def canonical(v: Any) -> bytes:  # RFC 8785 for strings, integers, null, arrays, ASCII keys
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def did_key(did: str) -> Ed25519PublicKey:
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for ch in did.removeprefix("did:key:z"):
        n = n * 58 + alphabet.index(ch)
    return Ed25519PublicKey.from_public_bytes(n.to_bytes(34, "big")[2:])  # after 0xed 0x01


doc = engine.get_catalog("llm.complete", 1)["document"]
digest = hashlib.sha256(canonical(doc["body"])).digest()
assert doc["hash"] == "sha256:" + digest.hex()
assert doc["body"]["content_hash"] == "sha256:" + hashlib.sha256(canonical(doc["body"]["catalog"])).hexdigest()
sig = base64.urlsafe_b64decode(doc["sig"] + "=" * (-len(doc["sig"]) % 4))
did_key(engine.signer_did).verify(sig, b"passgate/catalog/v1\n" + digest)
print("catalog v1 verified offline against", engine.signer_did)
