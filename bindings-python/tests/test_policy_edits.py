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


def test_engines_on_one_sqlite_file_share_the_policy_kept_in_the_store(tmp_path: Any) -> None:
    """`?policy_source=store`: an edit on one engine is enforced by the other on its next
    decision; concurrent edits on one hash across both engines: exactly one wins."""
    issuer = passgate.Issuer.generate()
    url = f"sqlite://{tmp_path / 'fleet.db'}?policy_source=store"
    a = passgate.Engine(POLICY, trusted_issuers=[issuer.did], store=url)
    b = passgate.Engine(None, trusted_issuers=[issuer.did], store=url)
    passport = issuer.issue_passport("alice", permissions=["pay"])
    assert a.policy_hash == b.policy_hash is not None
    assert b.enforce("refund", passport, {}).decision == "deny"
    a.upsert_gate("refund", {"require": ["pay"]}, if_match=a.policy_hash)
    assert b.enforce("refund", passport, {}).decision == "allow"
    assert b.policy_hash == a.policy_hash

    base = a.policy_hash
    assert base is not None
    results: list[Any] = []

    def edit(engine: passgate.Engine, i: int) -> None:
        try:
            results.append(engine.upsert_gate(f"g{i}", {}, if_match=base))
        except passgate.InputError as e:
            results.append(e)

    threads = [threading.Thread(target=edit, args=(a if i % 2 else b, i)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [r for r in results if isinstance(r, dict)]
    assert len(won) == 1
    assert all(r.code == "POLICY_CONFLICT" for r in results if not isinstance(r, dict))
    assert a.policy_hash == b.policy_hash == won[0]["policy_hash"]


def test_templates_and_effective_constraints() -> None:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    passport = issuer.issue_passport("alice", permissions=["pay"])
    definition = {
        "params": {"max": {"type": "number"}},
        "constraints": [{"id": "c", "type": "max_value", "field": "/amount", "max": "$max"}],
    }
    engine.upsert_template("per-request", definition)
    assert any(t["name"] == "per-request" and not t["builtin"] for t in engine.templates())
    r = engine.apply_template("pay", "per-request", {"max": 5})
    assert r["attestation"]["body"]["data"]["operation"] == "apply_template"
    got = engine.get_constraints("pay", passport)
    assert [c["id"] for c in got["constraints"]] == ["per-request/c", "cap"]
    assert got["caveats"] == []
    assert engine.enforce("pay", passport, {"amount": 6}).decision == "deny"
    with pytest.raises(passgate.PolicyError) as e:
        engine.apply_template("pay", "per-request", {"max": "five"})
    assert e.value.code == "POLICY_INVALID"
    with pytest.raises(passgate.InputError) as conflict:
        engine.create_gate("pay", {})
    assert conflict.value.code == "POLICY_CONFLICT"
    assert engine.anonymous_policy() == {"anonymous": None, "policy_hash": engine.policy_hash}


def test_a_run_bundle_round_trips_and_is_purged() -> None:
    issuer = passgate.Issuer.generate()
    policy = {**POLICY, "record": {"payload": True, "tool_calls": True}}
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did])
    passport = issuer.issue_passport("alice", permissions=["pay"])
    d = engine.evaluate(policy_name="pay", passport=passport.token, payload_scope={"amount": 3}, tool_calls=[{"name": "t"}])
    got = engine.get_evaluation(d.evaluation_id)
    assert got["bundle_status"] == "recorded"
    assert got["bundle"]["payload"] == {"amount": 3} and got["bundle"]["tool_calls"] == [{"name": "t"}]
    assert got["evaluation"]["body"]["bundle_hash"].startswith("sha256:")
    assert engine.purge_bundle(d.evaluation_id)["purged"] is True
    assert engine.get_evaluation(d.evaluation_id)["bundle_status"] == "purged"
