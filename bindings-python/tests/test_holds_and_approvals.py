"""Holds, approvals, allowed gates, the anonymous log and PII redaction, from Python."""

from __future__ import annotations

import time
from typing import Any

import pytest

import passgate

POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "llm.call": {
            "require": ["llm:call"],
            "constraints": [
                {"id": "budget", "type": "spend_limit", "field": "/cost", "max": 100, "window": "1d"},
            ],
        },
        "payments.send": {
            "require": ["payments:send"],
            "constraints": [
                {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 100}},
            ],
        },
        "mail.send": {
            "require": ["mail:send"],
            "constraints": [{"id": "pii", "type": "pii", "mode": "redact"}],
        },
    },
    "anonymous": {"gates": ["catalog.read"]},
}


@pytest.fixture
def setup() -> tuple[passgate.Engine, passgate.IssuedPassport]:
    issuer = passgate.Issuer.generate()
    passport = issuer.issue_passport("agent", permissions=["llm:call", "payments:send"])
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    return engine, passport


def used(engine: passgate.Engine) -> str:
    (state,) = engine.cumulative_state(gate="llm.call")
    return str(state["used"])


def test_the_new_decision_fields_exist_today(setup: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, passport = setup
    d = engine.enforce("llm.call", passport, {"cost": 1})
    assert (d.hold_id, d.approval_request, d.redacted_payload) == (None, None, None)


def test_hold_then_settle_keeps_the_actual_amount(setup: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, passport = setup
    d = engine.enforce("llm.call", passport, {"cost": 60}, hold=True)
    assert d.allowed and d.hold_id
    assert engine.dry_run("llm.call", passport, {"cost": 50}).decision == "deny"
    settled = engine.settle(d.hold_id, {"cost": 20})
    assert settled["state"] == "settled" and settled["amounts"] == {"budget": "20"}
    assert used(engine) == "20"
    with pytest.raises(passgate.PassgateError) as info:
        engine.settle(d.hold_id)
    assert info.value.code == "HOLD_CLOSED"
    assert engine.enforce("llm.call", passport, {"cost": 80}).allowed


def test_hold_then_release_gives_it_back(setup: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, passport = setup
    d = engine.enforce("llm.call", passport, {"cost": 100}, hold=True)
    assert d.hold_id
    engine.release(d.hold_id)
    assert engine.enforce("llm.call", passport, {"cost": 100}).allowed
    assert engine.expire_holds() == 0


def test_expire_holds_takes_a_limit_and_drains() -> None:
    issuer = passgate.Issuer.generate()
    policy = {"version": 1, "hold_ttl": "1s", "gates": {"job": {"require": ["job"], "constraints": [
        {"id": "slots", "type": "concurrency", "max": 10}]}}}
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did])
    passport = issuer.issue_passport("agent", permissions=["job"])
    for _ in range(5):
        assert engine.enforce("job", passport, {}, hold=True).allowed
    time.sleep(1.1)  # past the 1 s hold TTL (the engine reads the system clock)
    assert [engine.expire_holds(limit=2) for _ in range(4)] == [2, 2, 1, 0]
    assert engine.expire_holds() == 0
    (slots,) = engine.cumulative_state(gate="job")
    assert str(slots["used"]) == "0"


def test_escalate_approve_retry(setup: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, passport = setup
    payload = {"amount": 500}
    d = engine.enforce("payments.send", passport, payload)
    token = engine.approve(d.evaluation_id, "alice@example.com", ttl="15m")
    assert d.decision == "escalate" and d.approval_request
    assert isinstance(token, str)
    assert engine.enforce("payments.send", passport, payload, approval=token).decision == "allow"
    again = engine.enforce("payments.send", passport, payload, approval=token)
    assert again.decision == "deny"
    assert [c["code"] for c in again.checks if not c["passed"]] == ["APPROVAL_USED"]
    other = engine.enforce("payments.send", passport, {"amount": 600})
    engine.deny_approval(other.evaluation_id, "alice@example.com", "too much")
    with pytest.raises(passgate.InputError) as info:
        engine.approve(other.evaluation_id, "alice@example.com")
    assert info.value.code == "APPROVAL_CLOSED"
    assert engine.attestations(evaluation_id=other.evaluation_id)


def test_allowed_gates_and_anonymous_log(setup: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, passport = setup
    assert sorted(engine.allowed_gates(passport)) == ["llm.call", "payments.send"]
    engine.enforce("catalog.read", client="10.0.0.1")
    assert len(engine.anonymous_log()) == 1


def test_redacted_payload() -> None:
    issuer = passgate.Issuer.generate()
    passport = issuer.issue_passport("agent", permissions=["mail:send"])
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    d = engine.enforce("mail.send", passport, {"to": "bob@example.com", "n": 2**70, "x": 0.5})
    assert d.redacted_payload is not None
    assert "bob@example.com" not in str(d.redacted_payload)
    assert d.redacted_payload["n"] == 2**70 and d.redacted_payload["x"] == 0.5
