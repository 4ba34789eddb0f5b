"""Every error code of the core, raised from Python as its family's exception class."""

from __future__ import annotations

import base64
import copy
import pickle
import time
from typing import Any, Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import passgate
from passgate import (
    AttestationError,
    IdempotencyConflict,
    InputError,
    PassgateError,
    PassportError,
    PolicyError,
    StoreError,
)

from conftest import PAYMENTS_POLICY

FAMILY = {
    "POLICY_INVALID": PolicyError,
    "PASSPORT_MALFORMED": PassportError,
    "PASSPORT_ALGORITHM": PassportError,
    "PASSPORT_SIGNATURE": PassportError,
    "PASSPORT_EXPIRED": PassportError,
    "PASSPORT_NOT_YET_VALID": PassportError,
    "PASSPORT_REVOKED": PassportError,
    "ISSUER_UNTRUSTED": PassportError,
    "DELEGATION_WIDENS": PassportError,
    "KEY_INVALID": PassportError,
    "GRANT_INVALID": PassportError,
    "UNAUTHENTICATED": PassportError,
    "GATE_UNKNOWN": InputError,
    "PAYLOAD_INVALID": InputError,
    "LIMIT_EXCEEDED": InputError,
    "INVALID_ARGUMENT": InputError,
    "HOLD_UNKNOWN": InputError,
    "HOLD_CLOSED": InputError,
    "HOLD_EXCEEDS": InputError,
    "APPROVAL_UNKNOWN": InputError,
    "APPROVAL_CLOSED": InputError,
    "EVALUATION_UNKNOWN": InputError,
    "EVENT_UNKNOWN": InputError,
    "API_KEY_UNKNOWN": InputError,
    "PASSPORT_UNKNOWN": InputError,
    "FORBIDDEN": InputError,
    "POLICY_CONFLICT": InputError,
    "CATALOG_INVALID": InputError,
    "CATALOG_UNKNOWN": InputError,
    "CONSUMPTION_INVALID": InputError,
    "CONSUMPTION_EXISTS": InputError,
    "SETTLEMENT_UNKNOWN": InputError,
    "SETTLEMENT_TRANSITION": InputError,
    "PROCESS_FORKED": StoreError,
    "IDEMPOTENCY_CONFLICT": IdempotencyConflict,
    "STORE_UNAVAILABLE": StoreError,
    "ATTESTATION_MALFORMED": AttestationError,
    "ATTESTATION_HASH": AttestationError,
    "ATTESTATION_SIGNATURE": AttestationError,
    "ATTESTATION_KEY": AttestationError,
    "ATTESTATION_UNCOVERED": AttestationError,
    "ATTESTATION_PROOF": AttestationError,
    "CHECKPOINT_PENDING": InputError,
    "CHAIN_GAP": AttestationError,
    "CHAIN_ORDER": AttestationError,
    "CHAIN_DUPLICATE": AttestationError,
    "CHAIN_MISMATCH": AttestationError,
    "INTERNAL": PassgateError,
}


def test_every_core_code_has_its_family() -> None:
    assert set(passgate.ERROR_CODES) == set(FAMILY)
    for code in passgate.ERROR_CODES:
        assert passgate._native._exception_for(code) is FAMILY[code], code
    for cls in set(FAMILY.values()):
        assert issubclass(cls, PassgateError) and issubclass(cls, Exception)
        assert cls.__module__ == "passgate"


def test_exception_shape_and_pickle() -> None:
    e = InputError("PAYLOAD_INVALID", "payload invalid at /amount: bad")
    assert e.code == "PAYLOAD_INVALID" and e.message.endswith("bad")
    assert str(e) == "PAYLOAD_INVALID: payload invalid at /amount: bad"
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is InputError and back.code == e.code and back.message == e.message


def raises(code: str, fn: Callable[[], Any]) -> PassgateError:
    with pytest.raises(FAMILY[code]) as info:
        fn()
    assert info.value.code == code, info.value
    assert info.value.message and code in str(info.value)
    return info.value


# --- tokens made with PyJWT, signed with the issuer's own key -------------------------------------


def b64u_decode(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def craft(issuer: passgate.Issuer, *, alg: str = "EdDSA", **claims: Any) -> str:
    """A passport token made outside passgate, with PyJWT."""
    agent = passgate.Issuer.generate()
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": issuer.did,
        "sub": "agent-x",
        "jti": "psp_" + "a" * 26,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "perms": ["payments:send"],
        "cnf": {"jwk": agent.public_jwk},
    }
    body.update(claims)
    headers = {"typ": "passport+jwt", "kid": issuer.did}
    if alg == "EdDSA":
        key: Any = Ed25519PrivateKey.from_private_bytes(b64u_decode(issuer.secret))
    else:
        key = b"k" * 64
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def test_a_token_made_with_pyjwt_is_accepted(issuer: passgate.Issuer, engine: passgate.Engine) -> None:
    claims = engine.verify_passport(craft(issuer))
    assert claims["sub"] == "agent-x"


@pytest.mark.parametrize(
    ("code", "claims", "alg"),
    [
        ("PASSPORT_EXPIRED", {"iat": 1_000_000, "nbf": 1_000_000, "exp": 1_003_600}, "EdDSA"),
        ("PASSPORT_NOT_YET_VALID", {"nbf": int(time.time()) + 3600}, "EdDSA"),
        ("PASSPORT_ALGORITHM", {}, "HS256"),
    ],
)
def test_passport_codes_from_crafted_tokens(
    issuer: passgate.Issuer, engine: passgate.Engine, code: str, claims: dict[str, Any], alg: str
) -> None:
    token = craft(issuer, alg=alg, **claims)
    raises(code, lambda: engine.verify_passport(token))
    # In enforce the same problem is a deny whose passport check carries the code.
    d = engine.enforce("payments.send", token, {"amount": 1, "currency": "USD"})
    assert d.decision == "deny"
    assert d.failed()[0]["constraint"] == "passport" and d.failed()[0]["code"] == code


def test_passport_codes(issuer: passgate.Issuer, engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    raises("PASSPORT_MALFORMED", lambda: engine.verify_passport("not-a-token"))
    t = passport.token
    raises("PASSPORT_SIGNATURE", lambda: engine.verify_passport(t[:-1] + ("Q" if t[-1] == "A" else "A")))
    stranger = passgate.Issuer.generate().issue_passport("x", permissions=["payments:send"])
    raises("ISSUER_UNTRUSTED", lambda: engine.verify_passport(stranger))
    raises(
        "DELEGATION_WIDENS",
        lambda: passport.issue_sub_passport("sub", permissions=["admin:*"], expires_in_days=1),
    )
    raises("KEY_INVALID", lambda: passgate.Issuer.from_secret("not a key"))
    raises("KEY_INVALID", lambda: passgate.IssuedPassport.from_token(t, passgate.Issuer.generate().secret))
    engine.revoke_passport(passport.passport_id)
    raises("PASSPORT_REVOKED", lambda: engine.verify_passport(t))


def test_expiry_with_zero_leeway(issuer: passgate.Issuer) -> None:
    now = [int(time.time() * 1000)]
    engine = passgate.Engine(PAYMENTS_POLICY, trusted_issuers=[issuer.did], leeway_secs=0, clock=lambda: now[0])
    p = issuer.issue_passport("brief", permissions=["payments:send"], expires_in_days=1)
    engine.verify_passport(p)
    now[0] += 86_400_000  # exactly at `exp` (within the second it was issued in, or after)
    now[0] += 1000
    raises("PASSPORT_EXPIRED", lambda: engine.verify_passport(p))


def test_policy_invalid(tmp_path: Any) -> None:
    raises("POLICY_INVALID", lambda: passgate.Engine({"version": 2, "gates": {}}))
    raises("POLICY_INVALID", lambda: passgate.Engine('{"version": 1, "gates": {}, "gates": {}}'))
    raises("POLICY_INVALID", lambda: passgate.Engine(str(tmp_path / "missing.json")))
    raises("POLICY_INVALID", lambda: passgate.Engine(42))  # type: ignore[arg-type]
    e = raises("POLICY_INVALID", lambda: passgate.Engine({"version": 1, "gates": {"g": {"constraints": [
        {"type": "max_value", "field": "amount", "max": 1}]}}}))
    assert "/gates/g/constraints/0" in e.message
    e = raises("POLICY_INVALID", lambda: passgate.Engine({"version": 1, "gates": {"g": {"x": float("nan")}}}))
    assert "/gates/g/x" in e.message
    engine = passgate.Engine()
    raises("POLICY_INVALID", lambda: engine.set_policy({"version": 1, "gates": [], "extra": 1}))


def test_input_codes(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    raises("PAYLOAD_INVALID", lambda: engine.enforce("payments.send", passport, {"amount": float("inf")}))
    raises("PAYLOAD_INVALID", lambda: engine.enforce("payments.send", passport, [1, 2]))  # type: ignore[arg-type]
    deep: Any = {}
    for _ in range(100):
        deep = {"a": deep}
    raises("LIMIT_EXCEEDED", lambda: engine.enforce("payments.send", passport, deep))
    raises("LIMIT_EXCEEDED", lambda: engine.enforce("payments.send", passport, {"s": "x" * (2 << 20)}))
    raises("INVALID_ARGUMENT", lambda: engine.enforce("", passport, {}))
    raises("INVALID_ARGUMENT", lambda: engine.enforce("payments.send", passport, {}, idempotency_key="k" * 300))
    raises("INVALID_ARGUMENT", lambda: engine.enforce("payments.send", passport, {}, trace={"t": {1, 2}}))
    raises("INVALID_ARGUMENT", lambda: passgate.Engine(store="postgres://nowhere"))
    raises("INVALID_ARGUMENT", lambda: passgate._native.call(engine, "cumulative_state", {"colour": "red"}))
    raises("INVALID_ARGUMENT", lambda: engine.record_attestation("decision", {}))
    raises("INVALID_ARGUMENT", lambda: passgate.Issuer.generate().issue_passport("a", permissions=["no colon"]))
    raises("INVALID_ARGUMENT", lambda: passgate.Issuer.generate().issue_passport("a", expires_in_days=0))
    raises("INVALID_ARGUMENT", lambda: engine.verify_passport(None))  # type: ignore[arg-type]
    raises("GATE_UNKNOWN", lambda: engine.get_gate("nope"))


def test_unknown_gate_is_a_deny_not_an_error(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    d = engine.enforce("nope", passport, {})
    assert d.decision == "deny" and d.failed()[0]["constraint"] == "gate"


def test_idempotency_conflict(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    first = engine.enforce("payments.send", passport, {"amount": 5, "currency": "USD"}, idempotency_key="k1")
    again = engine.enforce("payments.send", passport, {"amount": 5, "currency": "USD"}, idempotency_key="k1")
    assert again.replayed and not first.replayed and again.evaluation_id == first.evaluation_id
    raises(
        "IDEMPOTENCY_CONFLICT",
        lambda: engine.enforce("payments.send", passport, {"amount": 6, "currency": "USD"}, idempotency_key="k1"),
    )


def test_store_unavailable_from_an_unreachable_redis() -> None:
    # Nothing listens on port 1: the store cannot be opened, and nothing is ever admitted.
    raises("STORE_UNAVAILABLE", lambda: passgate.Engine(PAYMENTS_POLICY, store="redis://127.0.0.1:1/0?timeout_ms=500"))


def test_hold_and_approval_codes(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    raises("HOLD_UNKNOWN", lambda: engine.settle("hld_missing"))
    d = engine.enforce("payments.send", passport, {"amount": 5, "currency": "USD"}, hold=True)
    assert d.hold_id is not None
    hold_id = d.hold_id
    # A settle past the cap is recorded and flagged (HOLD_EXCEEDS is no longer produced).
    settled = engine.settle(hold_id, {"amount": "1e9"})
    assert settled["state"] == "settled" and settled["overrun"][0]["actual"] == "1000000000"
    raises("HOLD_CLOSED", lambda: engine.release(hold_id))
    raises("APPROVAL_UNKNOWN", lambda: engine.approve("evl_missing", "cfo"))


def test_an_agent_cannot_approve_its_own_escalation(issuer: passgate.Issuer, passport: passgate.IssuedPassport) -> None:
    policy = {"version": 1, "gates": {"wire": {"require": ["payments:send"], "constraints": [
        {"type": "approval", "when": {"field": "/amount", "op": "gt", "value": 1}}]}}}  # fmt: skip
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did])
    d = engine.enforce("wire", passport, {"amount": 5})
    assert d.decision == "escalate"
    for approver in (passport.agent_id, f"{passport.agent_id}@{issuer.did}"):
        raises("FORBIDDEN", lambda: engine.approve(d.evaluation_id, approver))
    assert engine.approve(d.evaluation_id, "cfo")


def signed_records(engine: passgate.Engine, passport: passgate.IssuedPassport, n: int = 3) -> list[dict[str, Any]]:
    for i in range(n):
        engine.enforce("payments.send", passport, {"amount": i + 1, "currency": "USD"})
    return engine.attestations()


def test_attestation_codes(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    records = signed_records(engine, passport)
    did = engine.signer_did
    assert passgate.verify_attestation(records[0], did) is True
    raises("ATTESTATION_MALFORMED", lambda: passgate.verify_attestation({}, did))
    raises("ATTESTATION_MALFORMED", lambda: passgate.verify_attestation({"body": 0.5j}, did))
    changed = copy.deepcopy(records[0])
    changed["body"]["gate"] = "payments.other"
    raises("ATTESTATION_HASH", lambda: passgate.verify_attestation(changed, did))
    forged = copy.deepcopy(records[0])
    forged["sig"] = records[1]["sig"]
    raises("ATTESTATION_SIGNATURE", lambda: passgate.verify_attestation(forged, did))
    raises("ATTESTATION_KEY", lambda: passgate.verify_attestation(records[0], passgate.Issuer.generate().did))
    raises("KEY_INVALID", lambda: passgate.verify_attestation(records[0], "did:key:nope"))


def test_chain_codes(issuer: passgate.Issuer, passport: passgate.IssuedPassport) -> None:
    key = passgate.Issuer.generate()
    a = passgate.Engine(PAYMENTS_POLICY, trusted_issuers=[issuer.did], signing_key=key)
    b = passgate.Engine(PAYMENTS_POLICY, trusted_issuers=[issuer.did], signing_key=key.secret)
    assert a.signer_did == b.signer_did == key.did and a.chain_id != b.chain_id
    records = signed_records(a, passport)
    did = key.did
    assert passgate.verify_chain(records, did) is True
    assert passgate.verify_chain(tuple(records), did) is True
    raises("CHAIN_GAP", lambda: passgate.verify_chain([records[0], records[2]], did))
    raises("CHAIN_GAP", lambda: passgate.verify_chain(records[1:], did))
    raises("CHAIN_ORDER", lambda: passgate.verify_chain([records[0], records[2], records[1]], did))
    raises("CHAIN_DUPLICATE", lambda: passgate.verify_chain([records[0], records[1], records[1]], did))
    other = signed_records(b, passport, 1)
    raises("CHAIN_MISMATCH", lambda: passgate.verify_chain([records[0], *other], did))
    raises("INVALID_ARGUMENT", lambda: passgate.verify_chain("records", did))  # type: ignore[arg-type]


def test_checkpointed_signing_codes() -> None:
    engine = passgate.Engine({"version": 1, "gates": {}}, signing="checkpoint", checkpoint_every=1000)
    record = engine.enforce("nope").attestation
    assert record is not None
    did = engine.signer_did
    raises("ATTESTATION_UNCOVERED", lambda: passgate.verify_attestation(record, did))
    raises("ATTESTATION_UNCOVERED", lambda: passgate.verify_chain([record], did))
    raises("CHECKPOINT_PENDING", lambda: engine.inclusion_proof(seq=1))
    engine.checkpoint()
    proof = engine.inclusion_proof(seq=1)
    assert passgate.verify_inclusion_proof(record, proof, did) is True
    raises("ATTESTATION_PROOF", lambda: passgate.verify_inclusion_proof(record, {**proof, "leaf_index": 4}, did))
    raises("INVALID_ARGUMENT", lambda: passgate.Engine(signing="sometimes"))  # type: ignore[arg-type]


def test_internal_maps_to_the_base_class() -> None:
    # INTERNAL marks a broken invariant of passgate itself; nothing triggers it on purpose.
    assert passgate._native._exception_for("INTERNAL") is PassgateError
