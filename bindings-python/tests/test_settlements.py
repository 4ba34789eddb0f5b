"""Consumption attestations and settlements from Python (issue 18 items 5-6): a call consumed and
priced from its decision's catalog terms, a settlement generated, moved through its states, and
verified offline with only ``cryptography``, SHA-256 and canonical JSON (the Merkle root and the
totals recomputed from the consumption records); typed errors."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import passgate
from passgate import AttestationError, InputError

POLICY = {"version": 1, "gates": {"llm": {"require": ["llm:complete"]}}}
CATALOG = {
    "gate": "llm",
    "trust_level": "L1",
    "offers": [
        {
            "permission": "llm:complete",
            "price": {"amount": 300, "currency": "USD"},
            "pricing": {"model": "per_unit", "field": "/tokens", "unit": 1000},
            "sla": {"availability_bp": 9000, "p95_latency_ms": 800},
        }
    ],
}
B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def canonical(v: Any) -> bytes:
    # RFC 8785 for documents of strings, integers, booleans, null, arrays and ASCII-keyed objects.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def did_key(did: str) -> Ed25519PublicKey:
    n = 0
    for ch in did.removeprefix("did:key:z"):
        n = n * 58 + B58.index(ch)
    raw = n.to_bytes(34, "big")
    assert raw[:2] == b"\xed\x01"
    return Ed25519PublicKey.from_public_bytes(raw[2:])


def check_signed(document: dict[str, Any], did: str, domain: bytes) -> None:
    digest = hashlib.sha256(canonical(document["body"])).digest()
    assert document["hash"] == "sha256:" + digest.hex()
    sig = base64.urlsafe_b64decode(document["sig"] + "=" * (-len(document["sig"]) % 4))
    did_key(did).verify(sig, domain + digest)


def merkle_root(ids: list[str]) -> str:
    """RFC 9162: leaf = SHA-256(0x00 || id), node = SHA-256(0x01 || l || r), ids sorted."""

    def mth(leaves: list[bytes]) -> bytes:
        if not leaves:
            return hashlib.sha256(b"").digest()
        if len(leaves) == 1:
            return leaves[0]
        k = 1
        while k * 2 < len(leaves):
            k *= 2
        return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()

    leaves = [hashlib.sha256(b"\x00" + i.encode()).digest() for i in sorted(ids, key=str.encode)]
    return "sha256:" + mth(leaves).hex()


def verify_offline(bundle: dict[str, Any], did: str) -> None:
    doc = bundle["settlement"]
    check_signed(doc, did, b"passgate/settlement/v1\n")
    totals: dict[str, dict[str, int]] = {}
    for rec in bundle["consumptions"]:
        check_signed(rec, did, b"passgate-attestation-v1\n")
        data = rec["body"]["data"]
        t = totals.setdefault(data["price"]["currency"], {"gross": 0, "fee": 0, "net": 0, "count": 0})
        t["gross"] += data["price"]["amount"]
        t["fee"] += data["fee"]
        t["net"] += data["net"]
        t["count"] += 1
    assert doc["body"]["totals"] == totals
    assert doc["body"]["merkle_root"] == merkle_root([r["body"]["id"] for r in bundle["consumptions"]])


@pytest.fixture
def world() -> tuple[passgate.Engine, passgate.IssuedPassport]:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    engine.create_catalog("llm", CATALOG)
    engine.publish_catalog("llm")
    return engine, issuer.issue_passport("agent", permissions=["llm:complete"])


def test_consume_settle_and_verify_offline(world: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, passport = world
    for tokens, outcome in [(2500, "success"), (1000, "error"), (4000, "success")]:
        d = engine.enforce("llm", passport, {"tokens": tokens})
        rec = engine.issue_consumption_attestation(d.evaluation_id, outcome=outcome, quantity=tokens, latency_ms=100)
        assert rec["body"]["kind"] == "consumption"
    # Through a hold: the quantity is the actual payload's.
    d = engine.enforce("llm", passport, {"tokens": 9000}, hold=True)
    assert d.hold_id is not None
    settled = engine.settle(d.hold_id, {"tokens": 1000}, consume={"outcome": "success"})
    assert settled["consumption"]["body"]["data"]["price"] == {"amount": 300, "currency": "USD"}
    s = engine.generate_settlement(0, 4_000_000_000_000)
    assert s["totals"]["USD"] == {"gross": 750 + 0 + 1200 + 300, "fee": 0, "net": 2250, "count": 4}
    bundle = engine.export_settlement(s["settlement_id"])
    verify_offline(bundle, engine.signer_did)
    assert engine.verify_settlement(bundle["settlement"], engine.signer_did, bundle["consumptions"])["records_checked"]
    # A changed byte of a record: the offline check and the engine both refuse it.
    forged = json.loads(json.dumps(bundle))
    forged["consumptions"][0]["body"]["data"]["price"]["amount"] = 1
    with pytest.raises(AssertionError):
        verify_offline(forged, engine.signer_did)
    with pytest.raises(AttestationError) as e:
        engine.verify_settlement(forged["settlement"], engine.signer_did, forged["consumptions"])
    assert e.value.code == "ATTESTATION_HASH"
    summary = engine.get_billing_summary({"gate": "llm"})
    assert summary["count"] == 4 and summary["outcomes"]["error"] == 1
    sla = engine.get_sla_compliance("llm", 0, 4_000_000_000_000)
    assert (sla["success_bps"], sla["met"]) == (7500, False)


def test_typed_errors(world: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, passport = world
    d = engine.enforce("llm", passport, {"tokens": 1})
    engine.issue_consumption_attestation(d.evaluation_id, outcome="success", quantity=1)
    with pytest.raises(InputError) as e:
        engine.issue_consumption_attestation(d.evaluation_id, outcome="success", quantity=1)
    assert e.value.code == "CONSUMPTION_EXISTS"
    with pytest.raises(InputError) as e:
        engine.issue_consumption_attestation(d.evaluation_id, outcome="partial", quantity=1)
    assert e.value.code in ("CONSUMPTION_EXISTS", "CONSUMPTION_INVALID")
    s = engine.generate_settlement(0, 4_000_000_000_000)
    engine.update_settlement_status(s["settlement_id"], "issued")
    engine.update_settlement_status(s["settlement_id"], "paid", reason="wire 42")
    with pytest.raises(InputError) as e:
        engine.update_settlement_status(s["settlement_id"], "void")
    assert e.value.code == "SETTLEMENT_TRANSITION" and "paid -> void" in str(e.value)
    with pytest.raises(InputError) as e:
        engine.get_settlement("stl_none")
    assert e.value.code == "SETTLEMENT_UNKNOWN"
    with pytest.raises(passgate.PassgateError) as refused:
        engine.record_attestation("consumption", {})
    assert refused.value.code == "INVALID_ARGUMENT"


def test_engine_options_for_commerce() -> None:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did], platform_fee_bps=250, pop_leeway_secs=5)
    engine.create_catalog("llm", CATALOG)
    engine.publish_catalog("llm")
    passport = issuer.issue_passport("agent", permissions=["llm:complete"])
    d = engine.enforce("llm", passport, {"tokens": 4000})
    data = engine.issue_consumption_attestation(d.evaluation_id, outcome="success", quantity=4000)["body"]["data"]
    assert (data["price"]["amount"], data["fee_bps"], data["fee"], data["net"]) == (1200, 250, 30, 1170)
    # A proof 10 s old is stale under a 5 s leeway.
    pop = passgate.make_pop(passport, gate="llm", payload={"tokens": 1}, ts=int(time.time() * 1000) - 10_000)
    stale = engine.enforce("llm", passport, {"tokens": 1}, pop=pop)
    assert [c["code"] for c in stale.failed()] == ["POP_STALE"]
    bad: list[tuple[Callable[[], passgate.Engine], str]] = [
        (lambda: passgate.Engine(POLICY, platform_fee_bps=10_001), "/platform_fee_bps"),
        (lambda: passgate.Engine(POLICY, platform_fee_bps=-1), "/platform_fee_bps"),
        (lambda: passgate.Engine(POLICY, pop_leeway_secs=0), "/pop_leeway_secs"),
    ]
    for make, path in bad:
        with pytest.raises(InputError) as e:
            make()
        assert e.value.code == "INVALID_ARGUMENT" and e.value.path == path, (path, e.value)
