"""Shared by the framework integration tests: one policy, one agent, the three-call scenario.

The scenario every framework's agent loop runs: the model calls ``send_payment`` three times —
30 (allowed), 90 (denied: 30 + 90 exceeds the daily spend cap of 100) and 60 (escalated: above
50 needs an approval) — so the tool body runs once and the log holds three decisions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import passgate

POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "payments.send": {
            "require": ["payments:send"],
            "constraints": [
                {"id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"},
                {"id": "big-payment", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 50}},
            ],
        },
        "admin.wipe": {"require": ["admin:wipe"]},
    },
}

#: The three calls the scripted model makes, and what each must be decided.
CALLS: list[tuple[dict[str, Any], str]] = [
    ({"amount": 30, "to": "bob"}, "allow"),
    ({"amount": 90, "to": "eve"}, "deny"),
    ({"amount": 60, "to": "carol"}, "escalate"),
]


@pytest.fixture
def issuer() -> passgate.Issuer:
    return passgate.Issuer.generate()


@pytest.fixture
def passport(issuer: passgate.Issuer) -> passgate.IssuedPassport:
    return issuer.issue_passport(agent_id="agent-fw", permissions=["payments:send"])


@pytest.fixture
def engine(issuer: passgate.Issuer) -> passgate.Engine:
    return passgate.Engine(POLICY, trusted_issuers=[issuer.did])


def decisions(engine: passgate.Engine) -> list[dict[str, Any]]:
    """The engine's decision attestations, oldest first."""
    return [r for r in engine.attestations() if r["body"].get("kind") == "decision"]


def assert_three_attestations(engine: passgate.Engine) -> None:
    """Exactly the scenario's three decisions were attested, and the chain and each record verify."""
    records = decisions(engine)
    assert [r["body"]["decision"] for r in records] == [d for _, d in CALLS]
    assert all(r["body"]["gate"] == "payments.send" for r in records)
    engine.verify_chain(engine.attestations())
    for r in records:
        assert passgate.verify_attestation(r, engine.signer_did) is True


def assert_refusals(texts: list[str]) -> None:
    """What the model read for the denied and the escalated call: the refusal JSON."""
    deny, escalate = (json.loads(t) for t in texts)
    assert deny["decision"] == "deny" and deny["gate"] == "payments.send"
    # Every failed check: the spend cap, and the approval 90 would also have needed.
    assert sorted(c["constraint"] for c in deny["checks"]) == ["big-payment", "daily-spend"]
    spend = next(c for c in deny["checks"] if c["constraint"] == "daily-spend")
    assert spend["limit"] == "100" and spend["observed"] == "120"
    assert "approval_request" not in deny
    assert escalate["decision"] == "escalate"
    assert [c["constraint"] for c in escalate["checks"]] == ["big-payment"]
    assert escalate["approval_request"]["evaluation_id"] == escalate["evaluation_id"]


def remaining_spend(engine: passgate.Engine, passport: passgate.IssuedPassport) -> str:
    """What is left of the daily spend cap (a dry run: counts nothing)."""
    return engine.dry_run("payments.send", passport, {"amount": 0, "to": "x"}).remaining["daily-spend"]
