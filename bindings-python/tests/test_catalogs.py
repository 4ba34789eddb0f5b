"""Catalogs from Python (issue 18 items 1-3): draft, publish, read, diff, discover, pin; a catalog
verified offline with only ``cryptography``, SHA-256 and canonical JSON; typed errors naming the
field; a delegate cannot change its parent's pin."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import passgate
from passgate import InputError, PassportError

POLICY = {"version": 1, "gates": {"llm": {"require": ["llm:complete"]}}}


def catalog(amount: int) -> dict[str, Any]:
    return {
        "gate": "llm",
        "trust_level": "L1",
        "offers": [
            {
                "permission": "llm:complete",
                "price": {"amount": amount, "currency": "USD"},
                "pricing": {"model": "per_unit", "field": "/tokens", "unit": 1000},
                "sla": {"availability_bp": 9990, "p95_latency_ms": 800},
            }
        ],
    }


def canonical(v: Any) -> bytes:
    # RFC 8785 for documents of strings, integers, booleans, null, arrays and ASCII-keyed objects.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def did_key(did: str) -> Ed25519PublicKey:
    n = 0
    for ch in did.removeprefix("did:key:z"):
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes(34, "big")
    assert raw[:2] == b"\xed\x01"
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def verify_offline(document: dict[str, Any], did: str) -> None:
    body = document["body"]
    digest = hashlib.sha256(canonical(body)).digest()
    assert document["hash"] == "sha256:" + digest.hex()
    assert body["content_hash"] == "sha256:" + hashlib.sha256(canonical(body["catalog"])).hexdigest()
    sig = base64.urlsafe_b64decode(document["sig"] + "=" * (-len(document["sig"]) % 4))
    did_key(did).verify(sig, b"passgate/catalog/v1\n" + digest)


@pytest.fixture
def world() -> tuple[passgate.Engine, passgate.Issuer]:
    issuer = passgate.Issuer.generate()
    return passgate.Engine(POLICY, trusted_issuers=[issuer.did]), issuer


def test_publish_read_and_verify_offline(world: tuple[passgate.Engine, passgate.Issuer]) -> None:
    engine, _ = world
    draft = engine.create_catalog("llm", catalog(200))
    assert draft["next_version"] == 1
    v1 = engine.publish_catalog("llm", change_summary="launch")
    assert (v1["version"], v1["content_hash"]) == (1, draft["content_hash"])
    verify_offline(v1["document"], engine.signer_did)
    assert engine.verify_catalog(v1["document"])["valid"] is True
    # Any changed byte: the offline check and the engine both refuse it.
    forged = json.loads(json.dumps(v1["document"]))
    forged["body"]["catalog"]["offers"][0]["price"]["amount"] = 1
    with pytest.raises(AssertionError):
        verify_offline(forged, engine.signer_did)
    with pytest.raises(passgate.AttestationError):
        engine.verify_catalog(forged)
    # Re-hashed but not re-signed: the signature fails offline too.
    forged["body"]["content_hash"] = "sha256:" + hashlib.sha256(canonical(forged["body"]["catalog"])).hexdigest()
    forged["hash"] = "sha256:" + hashlib.sha256(canonical(forged["body"])).hexdigest()
    with pytest.raises(InvalidSignature):
        verify_offline(forged, engine.signer_did)
    assert engine.get_catalog("llm")["document"] == v1["document"]
    assert [v["version"] for v in engine.list_catalog_versions("llm")["versions"]] == [1]


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        (lambda c: c["offers"][0]["price"].update(amount=1.5), "/offers/0/price/amount"),
        (lambda c: c["offers"][0]["price"].update(amount=-3), "/offers/0/price/amount"),
        (lambda c: c["offers"][0].update(pricing={"model": "auction"}), "/offers/0/pricing/model"),
        (lambda c: c["offers"][0]["sla"].update(availability_bp=10_001), "/offers/0/sla/availability_bp"),
    ],
)
def test_bad_catalogs_raise_catalog_invalid_naming_the_field(world: tuple[passgate.Engine, passgate.Issuer], edit: Any, path: str) -> None:
    engine, _ = world
    c = catalog(200)
    edit(c)
    with pytest.raises(InputError) as e:
        engine.create_catalog("llm", c)
    assert (e.value.code, e.value.path) == ("CATALOG_INVALID", path)


def test_impact_pins_and_discovery(world: tuple[passgate.Engine, passgate.Issuer]) -> None:
    _, issuer = world
    # The engine's clock is held still, then moved past v2's effective time before discovery:
    # on the system clock the whole test can run within the one millisecond between v1 and v2.
    now = [int(time.time() * 1000)]
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did], clock=lambda: now[0])
    engine.create_catalog("llm", catalog(200))
    v1 = engine.publish_catalog("llm")
    pin = {"gate": "llm", "version": 1, "content_hash": v1["content_hash"]}
    agent = engine.issue_passport(issuer, "agent", permissions=["llm:complete"], pins=[pin])
    engine.create_catalog("llm", catalog(300))
    engine.publish_catalog("llm", effective_at=v1["effective_at"] + 1)
    impact = engine.get_catalog_impact("llm", 1, 2)
    assert impact["has_breaking_changes"] is True
    assert [c["kind"] for c in impact["changes"]] == ["price_increase"]
    d = engine.enforce("llm", agent, {"tokens": 10})
    assert d.allowed
    pins = [c for c in d.checks if c["type"] == "catalog_pin"]
    assert pins and pins[0]["passed"] and pins[0]["limit"].startswith("v1 ")
    wrong = engine.issue_passport(issuer, "agent", permissions=["llm:complete"], pins=[{**pin, "version": 2}])
    d = engine.enforce("llm", wrong, {"tokens": 10})
    assert not d.allowed
    assert [c["code"] for c in d.checks if not c["passed"]] == ["CATALOG_PIN_MISMATCH"]
    # A delegate may not move its parent's pin to other terms.
    with pytest.raises(PassportError) as e:
        engine.issue_passport(agent.private_key, "sub", permissions=["llm:complete"], passport=agent, expires_in_days=1, pins=[{**pin, "version": 2, "content_hash": impact["new_content_hash"]}])
    assert e.value.code == "DELEGATION_WIDENS"
    now[0] = v1["effective_at"] + 1
    services = engine.discover_services({"permission": "llm:*", "currency": "USD"})["services"]
    assert [(s["gate"], s["version"]) for s in services] == [("llm", 2)]
    assert engine.discover_services({"currency": "EUR"})["services"] == []
