"""The Python surface of Engine, Issuer, IssuedPassport and Decision (names pinned in DESIGN.md)."""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any

import pytest

import passgate

from conftest import PAYMENTS_POLICY

PAY = {"amount": 400, "currency": "USD"}


def test_decision_attributes(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    d = engine.enforce("payments.send", passport.token, PAY)
    assert d.decision == "allow" and d.allowed is True and bool(d) is True
    assert d.gate == "payments.send" and d.agent_id == "agent-007"
    assert d.passport_id == passport.passport_id and d.mode == "enforce"
    assert d.dry_run is False and d.replayed is False
    assert d.evaluation_id.startswith("evl_") and d.policy_hash == engine.policy_hash
    assert d.remaining == {"daily-spend": "600.00"}
    assert [c["constraint"] for c in d.checks] == [
        "passport", "gate", "permissions", "per-call", "currency", "daily-spend"
    ]
    assert all(c["passed"] for c in d.checks) and d.failed() == []
    assert d.attestation is not None and d.attestation["body"]["evaluation_id"] == d.evaluation_id
    assert d.hold_id is None and d.approval_request is None and d.redacted_payload is None
    as_dict = d.to_dict()
    for key in ("decision", "allowed", "gate", "agent_id", "passport_id", "mode", "dry_run",
                "evaluation_id", "policy_hash", "checks", "remaining", "attestation", "replayed"):
        assert as_dict[key] == getattr(d, key), key
    assert json.loads(d.to_json()) == as_dict
    assert repr(d) == (
        "Decision(decision='allow', gate='payments.send', agent_id='agent-007', failed=[], "
        "remaining={'daily-spend': '600.00'})"
    )


def test_a_deny_explains_everything(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    d = engine.enforce("payments.send", passport, {"amount": 900, "currency": "GBP"})
    assert d.decision == "deny" and not d.allowed and not d
    assert [c["constraint"] for c in d.failed()] == ["per-call", "currency"]
    per_call = d.failed()[0]
    assert per_call["observed"] == "900" and per_call["limit"] == "500"
    assert "failed=['per-call', 'currency']" in repr(d)


def test_decision_is_frozen_and_not_constructible(engine: passgate.Engine) -> None:
    d = engine.dry_run("payments.send")
    with pytest.raises(AttributeError):
        d.allowed = True  # type: ignore[misc]
    with pytest.raises(TypeError):
        passgate.Decision()
    with pytest.raises(TypeError):

        class Sub(passgate.Engine):  # type: ignore[misc]
            pass


def test_dry_run_changes_nothing(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    engine.enforce("payments.send", passport, PAY)
    before = (engine.attestations(), engine.cumulative_state())
    d = engine.dry_run("payments.send", passport, PAY, idempotency_key="probe")
    assert d.dry_run and d.allowed and d.attestation is None and d.remaining == {"daily-spend": "200.00"}
    assert "dry_run=True" in repr(d)
    assert (engine.attestations(), engine.cumulative_state()) == before
    # The key was not consumed: a real request may use it with another payload.
    assert engine.enforce("payments.send", passport, {"amount": 1, "currency": "EUR"}, idempotency_key="probe").allowed


def test_fail_closed_without_policy(passport: passgate.IssuedPassport) -> None:
    engine = passgate.Engine()
    d = engine.enforce("payments.send", passport, PAY)
    assert d.decision == "deny" and engine.policy_hash is None
    assert "policy_hash=None" in repr(engine)


def test_policy_forms(issuer: passgate.Issuer, passport: passgate.IssuedPassport, tmp_path: pathlib.Path) -> None:
    text = json.dumps(PAYMENTS_POLICY)
    path = tmp_path / "policy.json"
    path.write_text(text, encoding="utf-8")
    odd = tmp_path / "{odd}.json"
    odd.write_text(text, encoding="utf-8")
    hashes = set()
    for policy in (PAYMENTS_POLICY, text, str(path), path, odd):
        e = passgate.Engine(policy, trusted_issuers=[issuer])
        assert e.enforce("payments.send", passport, PAY).allowed
        hashes.add(e.policy_hash)
    assert len(hashes) == 1
    with pytest.raises(passgate.InputError):
        passgate.Engine(PAYMENTS_POLICY, trusted_issuers=issuer.did)  # type: ignore[arg-type]  # one str, not a list


def test_set_policy_keeps_counters(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    engine.enforce("payments.send", passport, PAY)
    old = engine.policy_hash
    tighter = json.loads(json.dumps(PAYMENTS_POLICY))
    tighter["gates"]["payments.send"]["constraints"][0]["max"] = 450
    engine.set_policy(tighter)
    assert engine.policy_hash != old
    d = engine.enforce("payments.send", passport, PAY)
    assert d.remaining == {"daily-spend": "200.00"} and d.policy_hash == engine.policy_hash


def test_gates(engine: passgate.Engine) -> None:
    names = [g["name"] for g in engine.list_gates()]
    assert names == ["catalog.read", "payments.send"]
    assert engine.get_gate("payments.send")["require"] == ["payments:send"]


def test_idempotency_replays(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    a = engine.enforce("payments.send", passport, PAY, idempotency_key="order-1", trace={"req": 1})
    b = engine.enforce("payments.send", passport, PAY, idempotency_key="order-1", trace={"req": 2})
    assert b.replayed and "replayed=True" in repr(b) and b.evaluation_id == a.evaluation_id
    assert engine.cumulative_state()[0]["used"] == "400"


def test_anonymous_callers_and_client_scope() -> None:
    policy = {"version": 1, "gates": {}, "anonymous": {"gates": ["catalog.read"], "constraints": [
        {"id": "per-client", "type": "rate_limit", "max": 1, "window": "1m", "scope": "client"}]}}
    engine = passgate.Engine(policy)
    assert engine.enforce("catalog.read", client="10.0.0.1").allowed
    assert not engine.enforce("catalog.read", client="10.0.0.1").allowed
    assert engine.enforce("catalog.read", None, None, client="10.0.0.2").allowed


def test_trace_is_recorded(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    d = engine.enforce("payments.send", passport, PAY, trace={"mcp_session": "s-1", "request": 7})
    assert d.attestation is not None
    assert d.attestation["body"]["trace"] == {"mcp_session": "s-1", "request": "7"}


def test_attestation_filters(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    t0 = int(time.time() * 1000)
    allow = engine.enforce("payments.send", passport, PAY)
    engine.enforce("payments.send", passport, {"amount": 900, "currency": "USD"})
    engine.enforce("catalog.read", passport)
    note = engine.record_attestation("deployment", {"version": "1.2.3"})
    assert note["body"]["kind"] == "deployment" and note["body"]["data"] == {"version": "1.2.3"}
    every = engine.attestations()
    assert [r["body"]["seq"] for r in every] == [1, 2, 3, 4]
    assert len(engine.attestations(gate="payments.send")) == 2
    assert len(engine.attestations(decision="deny")) == 2
    assert len(engine.attestations(agent_id="agent-007")) == 3
    assert len(engine.attestations(kind="deployment")) == 1
    assert len(engine.attestations(chain=engine.chain_id, limit=2)) == 2
    assert engine.attestations(evaluation_id=allow.evaluation_id) == [allow.attestation]
    assert len(engine.attestations(since=t0, until=int(time.time() * 1000) + 1)) == 4
    assert engine.attestations(since=int(time.time() * 1000) + 60_000) == []
    assert passgate.verify_chain(every, engine.signer_did)


def test_cumulative_state_and_reset(issuer: passgate.Issuer, engine: passgate.Engine) -> None:
    a = issuer.issue_passport("a", permissions=["payments:send"])
    b = issuer.issue_passport("b", permissions=["payments:send"])
    engine.enforce("payments.send", a, PAY)
    engine.enforce("payments.send", b, {"amount": 100, "currency": "USD"})
    state = engine.cumulative_state(gate="payments.send")
    assert sorted(s["used"] for s in state) == ["100", "400"]
    only_a = engine.cumulative_state(agent_id="a")
    assert len(only_a) == 1 and only_a[0]["constraint"] == "daily-spend" and only_a[0]["scope"] == f"agent:a@{issuer.did}"
    assert engine.reset_cumulative_state(agent_id="a") == 1
    assert engine.cumulative_state(agent_id="a") == []
    assert engine.attestations(kind="reset")[0]["body"]["data"]["counters"] == "1"
    assert engine.enforce("payments.send", a, PAY).remaining == {"daily-spend": "600.00"}
    assert engine.reset_cumulative_state() == 2


@pytest.mark.parametrize("store", ["memory:", "sqlite"])
def test_cumulative_state_page(issuer: passgate.Issuer, tmp_path: pathlib.Path, store: str) -> None:
    url = store if store == "memory:" else f"sqlite://{tmp_path}/pg.db"
    engine = passgate.Engine(PAYMENTS_POLICY, trusted_issuers=[issuer.did], store=url)
    for name in ["a", "b", "c", "d", "e"]:
        agent = issuer.issue_passport(name, permissions=["payments:send"])
        assert engine.enforce("payments.send", agent, PAY).allowed

    def walk(limit: int, **filter: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = engine.cumulative_state_page(cursor=cursor, limit=limit, **filter)
            assert len(page["counters"]) <= limit
            out += page["counters"]
            cursor = page["next_cursor"]
            if cursor is None:
                return out

    for limit in (1, 2, 100):
        assert walk(limit) == engine.cumulative_state()
        assert walk(limit, gate="payments.send") == engine.cumulative_state(gate="payments.send")
        assert walk(limit, agent_id="c") == engine.cumulative_state(agent_id="c")
    assert len(walk(2)) == 5
    first = engine.cumulative_state_page(limit=2)
    assert isinstance(first["next_cursor"], str)
    with pytest.raises(passgate.InputError) as info:
        engine.cumulative_state_page(cursor="forged")
    assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(passgate.InputError):
        engine.cumulative_state_page(cursor=first["next_cursor"] + "x")
    with pytest.raises(passgate.InputError):
        engine.cumulative_state_page(limit=0)
    with pytest.raises(passgate.InputError):
        engine.cumulative_state_page(limit=10_001)
    engine.close()


def test_revoke_and_reissue(issuer: passgate.Issuer, engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    fresh = engine.reissue(passport, issuer, expires_in_days=7)
    assert fresh.agent_id == passport.agent_id and fresh.passport_id != passport.passport_id
    assert fresh.expires_at - int(time.time()) <= 7 * 86400
    assert engine.enforce("payments.send", fresh, PAY).allowed
    d = engine.enforce("payments.send", passport, PAY)
    assert d.failed()[0]["code"] == "PASSPORT_REVOKED"
    assert engine.attestations(kind="revocation")[0]["body"]["data"] == {"passport_id": passport.passport_id}
    again = engine.reissue(fresh.token, issuer.secret)
    assert engine.verify_passport(again)["sub"] == "agent-007"


def test_issuer_and_passports(issuer: passgate.Issuer, passport: passgate.IssuedPassport) -> None:
    assert issuer.did.startswith("did:key:z6Mk")
    assert passgate.Issuer.from_secret(issuer.secret).did == issuer.did
    assert issuer.public_jwk["kty"] == "OKP" and issuer.public_jwk["crv"] == "Ed25519"
    assert issuer.secret not in repr(issuer) and issuer.did in repr(issuer)
    assert passport.private_key not in repr(passport) and passport.passport_id in repr(passport)
    assert passport.passport_id.startswith("psp_") and passport.did.startswith("did:key:z6Mk")
    assert passport.agent_id == "agent-007" and passport.expires_at > time.time() + 29 * 86400
    again = passgate.IssuedPassport.from_token(passport.token, passport.private_key)
    assert (again.passport_id, again.did, again.expires_at) == (passport.passport_id, passport.did, passport.expires_at)
    child = again.issue_sub_passport(
        "helper", agent_name="Helper", permissions=["payments:send"], expires_in_days=1,
        caveats=[{"id": "tiny", "type": "max_value", "field": "/amount", "max": 10}],
    )
    engine = passgate.Engine(PAYMENTS_POLICY, trusted_issuers=[issuer.did])
    claims = engine.verify_passport(child.token)
    assert claims["sub"] == "helper" and claims["name"] == "Helper" and claims["prf"] == passport.token
    d = engine.enforce("payments.send", child, {"amount": 50, "currency": "USD"})
    assert [c["constraint"] for c in d.failed()] == ["tiny"]
    with pytest.raises(passgate.InputError):
        issuer.issue_passport("a", permissions="payments:send")  # type: ignore[arg-type]  # one str, not a list


def test_module_functions() -> None:
    types = passgate.constraint_types()
    names = {t["type"] for t in types}
    assert {"max_value", "spend_limit", "rate_limit", "quota", "pii", "approval"} <= names
    assert all("params" in t and "description" in t for t in types)
    templates = passgate.templates()
    assert any(t["name"] == "payments-conservative" for t in templates)
    assert passgate.__version__.count(".") == 2


def test_everything_public_is_documented() -> None:
    for cls in (passgate.Engine, passgate.Issuer, passgate.IssuedPassport, passgate.Decision):
        assert cls.__doc__ and len(cls.__doc__) > 40, cls
        for name, member in vars(cls).items():
            if not name.startswith("_"):
                assert getattr(member, "__doc__", None), f"{cls.__name__}.{name}"
    for fn in (passgate.verify_attestation, passgate.verify_chain, passgate.constraint_types, passgate.templates):
        assert fn.__doc__
    assert passgate.__doc__ and "PassgateError" in passgate.__doc__


def test_payload_may_be_any_mapping_of_decimal_strings(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    d: Any = engine.enforce("payments.send", passport, {"amount": "400.00", "currency": "EUR"})
    assert d.allowed and d.remaining == {"daily-spend": "600.00"}
