"""Policy edits from Python: compare-and-swap on the policy hash, attested with a diff."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import passgate
import passgate.mcp
from passgate import _native

POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {"pay": {"require": ["pay"], "constraints": [{"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}]}},
}


def current_hash(engine: passgate.Engine) -> str:
    return str(_native.call(engine, "list_gates")["policy_hash"])


def changes(engine: passgate.Engine) -> list[dict[str, Any]]:
    return engine.attestations(kind="policy.changed")


def test_upsert_gate_with_if_match_is_attested_and_enforced() -> None:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    passport = issuer.issue_passport("alice", permissions=["pay", "web:fetch"])
    h0 = current_hash(engine)
    r = engine.upsert_gate("web.fetch", {"require": ["web:fetch"]}, if_match=h0)
    assert r["previous_hash"] == h0 and r["policy_hash"] == current_hash(engine) != h0
    data = r["attestation"]["body"]["data"]
    assert data["operation"] == "upsert_gate" and data["old_hash"] == h0
    assert data["diff"]["gates_added"] == ["web.fetch"]
    assert changes(engine) == [r["attestation"]]
    assert engine.enforce("web.fetch", passport, {}).decision == "allow"

    # The edit made on h0 again: POLICY_CONFLICT, an InputError; nothing changes.
    with pytest.raises(passgate.InputError) as e:
        engine.delete_gate("pay", if_match=h0)
    assert e.value.code == "POLICY_CONFLICT"
    assert engine.get_gate("pay")["name"] == "pay"

    r = engine.set_gate_constraints("pay", [{"id": "cap", "type": "spend_limit", "field": "/amount", "max": 10, "window": "1d"}], if_match=r["policy_hash"])
    assert r["attestation"]["body"]["data"]["diff"]["gates_changed"] == [{"gate": "pay", "paths": ["/constraints/0/max"]}]
    assert engine.enforce("pay", passport, {"amount": 50}).decision == "deny"

    r = engine.set_anonymous_policy({"gates": ["web.fetch"]}, if_match=r["policy_hash"])
    assert engine.enforce("web.fetch", None, {}).decision == "allow"
    r = engine.delete_gate("web.fetch", if_match=r["policy_hash"])
    assert r["attestation"]["body"]["data"]["diff"]["gates_removed"] == ["web.fetch"]
    with pytest.raises(passgate.InputError) as e:
        engine.delete_gate("web.fetch")
    assert e.value.code == "GATE_UNKNOWN"
    assert engine.set_policy(POLICY, if_match=r["policy_hash"]) == current_hash(engine)
    assert len(changes(engine)) == 5
    passgate.verify_chain(engine.attestations(), engine.signer_did)


def test_an_invalid_edit_is_a_policy_error_at_its_path_and_writes_nothing() -> None:
    engine = passgate.Engine(POLICY)
    before = engine.attestations()
    with pytest.raises(passgate.PolicyError) as e:
        engine.upsert_gate("pay", {"constraints": [{"type": "spend_limit", "field": "/amount", "max": "lots", "window": "1d"}]})
    assert e.value.code == "POLICY_INVALID" and e.value.path == "/gates/pay/constraints/0/max"
    assert engine.attestations() == before


def test_concurrent_edits_on_one_hash_exactly_one_wins() -> None:
    engine = passgate.Engine(POLICY)
    h0 = current_hash(engine)
    barrier = threading.Barrier(6)
    results: list[Any] = []

    def edit(i: int) -> None:
        barrier.wait()
        try:
            results.append(engine.upsert_gate(f"g{i}", {}, if_match=h0))
        except passgate.InputError as e:
            results.append(e.code)

    threads = [threading.Thread(target=edit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wins = [r for r in results if isinstance(r, dict)]
    assert len(wins) == 1 and sorted(r for r in results if isinstance(r, str)) == ["POLICY_CONFLICT"] * 5
    assert changes(engine) == [wins[0]["attestation"]]


def test_an_agent_cannot_call_the_edit_tools() -> None:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    passport = issuer.issue_passport("alice", permissions=["pay"])
    names = {t["name"] for t in passgate.mcp.tools("agent")}
    assert not names & {"upsert_gate", "delete_gate", "set_gate_constraints", "set_anonymous_policy"}
    before = engine.attestations()
    reply = passgate.mcp.handle(
        engine,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "delete_gate", "arguments": {"gate": "pay"}}},
        role="agent",
        passport=passport.token,
    )
    assert reply is not None and reply["result"]["isError"] is True
    assert '"FORBIDDEN"' in reply["result"]["content"][0]["text"]
    assert engine.attestations() == before
