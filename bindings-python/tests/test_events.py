"""Decision events from Python: the outbox (``events`` / ``ack_event``), ``notify``, and
``Engine.subscribe`` callbacks (called after the commit, with the GIL; an exception is logged,
never raised into the deciding call)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

import passgate

POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "payments.send": {
            "require": ["pay"],
            "constraints": [
                {"id": "cap", "type": "max_value", "field": "/amount", "max": 10000},
                {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 1000}},
            ],
        }
    },
}


@pytest.fixture
def world() -> tuple[passgate.Engine, str]:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer])
    return engine, issuer.issue_passport("alice", permissions=["pay"]).token


def test_an_escalation_is_an_event_with_its_signed_record(world: tuple[passgate.Engine, str]) -> None:
    engine, token = world
    engine.enforce("payments.send", token, {"amount": 10})
    d = engine.enforce("payments.send", token, {"amount": 2000}, notify="finance", mcp_session_id="s-1")
    page = engine.events()
    assert [e["kind"] for e in page["events"]] == ["escalation"]
    e = page["events"][0]
    assert e["evaluation_id"] == d.evaluation_id and e["notify"] == "finance" and e["session_id"] == "s-1"
    assert e["agent"] == "alice" and e["gate"] == "payments.send"
    assert passgate.verify_attestation(e["attestation"], engine.signer_did) is True
    assert engine.events(since=page["cursor"]) == {"events": [], "cursor": None}
    assert engine.ack_event(e["id"]) is True
    assert engine.ack_event(e["id"]) is False
    with pytest.raises(passgate.InputError) as err:
        engine.ack_event("evt_nope")
    assert err.value.code == "EVENT_UNKNOWN"
    assert engine.events()["events"] == []


def test_notify_is_checked_and_refused_by_dry_run(world: tuple[passgate.Engine, str]) -> None:
    engine, token = world
    for bad in ["", "ftp://x", "Upper", "https://a b", "x" * 513]:
        with pytest.raises(passgate.InputError) as err:
            engine.enforce("payments.send", token, {"amount": 1}, notify=bad)
        assert err.value.path == "/notify", bad
    with pytest.raises(passgate.InputError) as err:
        engine.dry_run("payments.send", token, {"amount": 1}, notify="ops")
    assert err.value.path == "/notify"
    d = engine.evaluate("payments.send", passport=token, payload_scope={"amount": 3000}, notify="https://h.example/x")
    assert d.decision == "escalate"
    assert engine.events()["events"][0]["notify"] == "https://h.example/x"


def test_subscribers_are_called_after_the_commit(world: tuple[passgate.Engine, str], caplog: pytest.LogCaptureFixture) -> None:
    engine, token = world
    seen: list[dict[str, Any]] = []
    threads: list[int] = []

    def hear(event: dict[str, Any]) -> None:
        # The event is already in the outbox: the callback runs after the commit, and may call the engine.
        assert event["id"] in [e["id"] for e in engine.events()["events"]]
        seen.append(event)
        threads.append(threading.get_ident())

    def boom(event: dict[str, Any]) -> None:
        raise RuntimeError("a subscriber's bug")

    sub = engine.subscribe(hear)
    bad = engine.subscribe(boom, kinds=["escalation"])
    only_s2 = engine.subscribe(lambda e: seen.append({"s2": e["id"]}), session_id="s-2")
    with caplog.at_level(logging.ERROR, logger="passgate.events"):
        d = engine.enforce("payments.send", token, {"amount": 2000}, mcp_session_id="s-1")
        assert d.decision == "escalate"  # the raising subscriber did not fail the call
    assert any("subscriber raised" in r.getMessage() for r in caplog.records)
    assert any(r.exc_info and "a subscriber's bug" in str(r.exc_info[1]) for r in caplog.records)
    engine.enforce("payments.send", token, {"amount": 2500}, mcp_session_id="s-2")
    engine.approve(d.evaluation_id, "cfo")
    kinds = [e.get("kind") or "s2" for e in seen]
    assert kinds == ["escalation", "escalation", "s2", "approval.resolved"]
    assert seen[3]["outcome"] == "approved"
    assert threads == [threading.get_ident()] * 3, "on the deciding thread"
    assert [e for e in seen if "kind" in e] == engine.events()["events"]
    sub.close()
    sub.close()
    assert sub.closed
    bad.close()
    with only_s2:
        pass
    assert only_s2.closed
    engine.enforce("payments.send", token, {"amount": 2600}, mcp_session_id="s-2")
    assert len(seen) == 4
    with pytest.raises(passgate.InputError) as err:
        engine.subscribe(hear, kinds=["nope"])  # type: ignore[list-item]
    assert err.value.path == "/kinds/0"
    with pytest.raises(passgate.InputError):
        engine.subscribe(42)  # type: ignore[arg-type]


def test_the_policy_opts_in_to_denies(world: tuple[passgate.Engine, str]) -> None:
    _, token = world
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine({**POLICY, "events": {"kinds": ["deny"]}}, trusted_issuers=[issuer])
    t = issuer.issue_passport("bob", permissions=["pay"]).token
    engine.enforce("payments.send", t, {"amount": 2000})
    engine.enforce("payments.send", t, {"amount": 20000})
    assert [e["kind"] for e in engine.events(kinds=["deny", "escalation"])["events"]] == ["deny"]
