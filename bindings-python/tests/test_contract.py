"""The contract between the core's operations and the Python binding: every operation the core
lists (``_native.operations()``) is an ``Engine`` method with the operation's argument names,
declared in the stub, and returns what the generic entry point returns for the same arguments
(modulo the documented Python-side unwrapping). An operation missing from the table below fails
the test: adding one to the core without reaching it from Python is caught here."""

from __future__ import annotations

import ast
import inspect
import itertools
import pathlib
from typing import Any, Callable

import pytest

import passgate
from passgate import _native

from conftest import ROOT

POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "payments.send": {
            "require": ["payments:send"],
            "constraints": [
                {"id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": 1000, "window": "1d"},
                {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 500}},
            ],
        },
    },
}

#: Python parameters that stand for an operation argument under another name (binding-only glue).
RENAMED = {
    ("reissue", "issuer"): "issuer_secret",
    # `from` is a Python keyword.
    ("generate_settlement", "from_ms"): "from",
    ("generate_settlement", "to_ms"): "to",
    ("get_sla_compliance", "from_ms"): "from",
    ("get_sla_compliance", "to_ms"): "to",
}

#: Operations whose Python method returns one field of the operation's result object (the
#: unwrapping the binding documents), or converts it (``Decision``, ``IssuedPassport``, ``None``).
UNWRAP: dict[str, str] = {
    "cumulative_state": "counters",
    "reset_cumulative_state": "reset",
    "attestations": "attestations",
    "anonymous_log": "attestations",
    "list_gates": "gates",
    "sessions": "sessions",
    "allowed_gates": "gates",
    "expire_holds": "expired",
    "prune": "pruned",
    "export_attestations": "exported",
    "approve": "approval",
    "set_policy": "policy_hash",
    "list_my_evaluations": "evaluations",
    "list_api_keys": "keys",
    "list_issuers": "issuers",
    "ack_event": "acked",
}


class World:
    """A memory engine with a policy, a passport, a hold and an escalation to act on."""

    def __init__(self, tmp: pathlib.Path) -> None:
        self.issuer = passgate.Issuer.generate()
        self.engine = passgate.Engine(POLICY, trusted_issuers=[self.issuer.did], signing_key=self.issuer)
        self.passport = self.issuer.issue_passport("agent", permissions=["payments:send"])
        self.tmp = tmp

    def hold(self) -> str:
        d = self.engine.enforce("payments.send", self.passport, {"amount": 10}, hold=True)
        assert d.hold_id is not None
        return d.hold_id

    def escalation(self) -> str:
        d = self.engine.enforce("payments.send", self.passport, {"amount": 600})
        assert d.decision == "escalate"
        return d.evaluation_id

    def record(self) -> dict[str, Any]:
        return self.engine.record_attestation("note", {"n": 1})

    def head(self) -> int:
        """The tree size of a new signed checkpoint of the engine's chain (after a record)."""
        self.record()
        return int(self.engine.checkpoint()["body"]["data"]["tree_size"])

    def policy_hash(self) -> str:
        return str(_native.call(self.engine, "list_gates")["policy_hash"])

    def event(self) -> str:
        self.escalation()
        return str(self.engine.events(limit=1000)["events"][-1]["id"])

    def gate(self) -> str:
        self.engine.upsert_gate("scratch", {})
        return "scratch"

    def draft(self) -> str:
        self.engine.create_catalog("payments.send", catalog(next(FRESH)))
        return "payments.send"

    def published(self) -> str:
        if not self.engine.list_catalog_versions("payments.send")["versions"]:
            self.engine.create_catalog("payments.send", catalog(100))
            self.engine.publish_catalog("payments.send")
        return "payments.send"

    def catalog_document(self) -> dict[str, Any]:
        return dict(self.engine.get_catalog(self.published())["document"])

    def consumable(self) -> str:
        self.published()
        return self.engine.enforce("payments.send", self.passport, {"amount": 1}).evaluation_id

    def settlement(self) -> str:
        self.engine.issue_consumption_attestation(self.consumable(), outcome="success")
        return str(self.engine.generate_settlement(0, 4_000_000_000_000)["settlement_id"])

    def template(self) -> str:
        self.engine.upsert_template(template="small", definition={"params": {"max": {"type": "number"}}, "constraints": [{"id": "c", "type": "max_value", "field": "/amount", "max": "$max"}]})
        return "small"


def catalog(amount: int) -> dict[str, Any]:
    return {"gate": "payments.send", "trust_level": "L1", "offers": [{"permission": "payments:send", "price": {"amount": amount, "currency": "USD"}, "pricing": {"model": "per_call"}}]}


#: Fresh names for samples that create something (each sample runs twice on one world).
FRESH = itertools.count()

#: Per operation: the arguments of one sample call (made twice: through the method and through the
#: generic entry point, on fresh state where the call consumes something).
SAMPLES: dict[str, Callable[[World], dict[str, Any]]] = {
    "enforce": lambda w: {"gate": "payments.send", "passport": w.passport.token, "payload": {"amount": 1}, "notify": "ops"},
    "dry_run": lambda w: {"gate": "payments.send", "passport": w.passport.token, "payload": {"amount": 1}},
    "evaluate": lambda w: {"policy_name": "payments.send", "passport": w.passport.token, "payload_scope": {"amount": 1}, "mcp_session_id": "s", "tool_calls": [{"name": "t"}]},
    "sessions": lambda w: {"since": 0, "limit": 5},
    "session": lambda w: {"session_id": "s", "limit": 5},
    "purge_bundle": lambda w: {"evaluation_id": w.escalation()},
    "get_evaluation": lambda w: {"evaluation_id": w.escalation(), "passport": w.passport.token},
    "verify_passport": lambda w: {"passport": w.passport.token},
    "revoke_passport": lambda w: {"passport_id": w.issuer.issue_passport("x", permissions=["payments:send"]).passport_id},
    "reissue": lambda w: {"passport": w.issuer.issue_passport("x", permissions=["payments:send"]).token, "issuer_secret": w.issuer.secret, "expires_in_days": 2},
    "issue_passport": lambda w: {"issuer_secret": w.issuer.secret, "agent_id": "x", "permissions": ["payments:send"], "expires_in_days": 1},
    "allowed_gates": lambda w: {"passport": w.passport.token},
    "list_my_evaluations": lambda w: {"passport": w.passport.token, "limit": 5},
    "cumulative_state": lambda w: {"gate": "payments.send"},
    "cumulative_state_page": lambda w: {"limit": 2},
    "reset_cumulative_state": lambda w: {"agent_id": "nobody"},
    "attestations": lambda w: {"kind": "decision", "limit": 3},
    "attestations_page": lambda w: {"limit": 2},
    "anonymous_log": lambda w: {"limit": 2},
    "record_attestation": lambda w: {"kind": "note", "data": {"a": 1}},
    "chain_head": lambda w: {},
    "verify_attestation": lambda w: {"record": w.record()},
    "verify_chain": lambda w: {"records": [w.record()] and w.engine.attestations()},
    "checkpoint": lambda w: {},
    "inclusion_proof": lambda w: {"seq": 1, "tree_size": w.head()},
    "consistency_proof": lambda w: {"old_size": 1, "new_size": w.head()},
    "verify_inclusion_proof": lambda w: (lambda r: {"record": r, "proof": w.engine.inclusion_proof(seq=r["body"]["seq"], tree_size=w.head())})(w.record()),
    "verify_store": lambda w: {"trusted_signers": [w.issuer.did]},
    "export_attestations": lambda w: {"path": str(w.tmp / "export.jsonl")},
    "verify_export": lambda w: {"path": str(w.tmp / "exported.jsonl"), "trusted_signers": [w.issuer.did]},
    "prune": lambda w: {"limit": 10},
    "set_policy": lambda w: {"policy": POLICY, "if_match": w.policy_hash()},
    "upsert_gate": lambda w: {"gate": "web.fetch", "definition": {"require": ["web:fetch"]}, "if_match": w.policy_hash()},
    "delete_gate": lambda w: {"gate": w.gate(), "if_match": w.policy_hash()},
    "set_gate_constraints": lambda w: {"gate": "payments.send", "constraints": [{"type": "rate_limit", "max": 5, "window": "1h"}]},
    "set_anonymous_policy": lambda w: {"anonymous": {"gates": ["payments.send"]}},
    "create_gate": lambda w: {"gate": f"created{next(FRESH)}", "definition": {}},
    "update_gate": lambda w: {"gate": "payments.send", "definition": {"require": ["payments:send"]}},
    "upsert_template": lambda w: {"template": "small", "definition": {"params": {"max": {"type": "number"}}, "constraints": [{"id": "c", "type": "max_value", "field": "/amount", "max": "$max"}]}},
    "apply_template": lambda w: {"gate": "payments.send", "template": w.template(), "params": {"max": 5}},
    "get_constraints": lambda w: {"gate": "payments.send", "passport": w.passport.token},
    "anonymous_policy": lambda w: {},
    "list_gates": lambda w: {},
    "get_gate": lambda w: {"gate": "payments.send"},
    "constraint_types": lambda w: {},
    "templates": lambda w: {},
    "settle": lambda w: {"hold_id": w.hold(), "actual": {"amount": 5}},
    "release": lambda w: {"hold_id": w.hold()},
    "expire_holds": lambda w: {"limit": 5},
    "approve": lambda w: {"evaluation_id": w.escalation(), "approver": "ops", "ttl": "15m"},
    "deny_approval": lambda w: {"evaluation_id": w.escalation(), "approver": "ops", "reason": "no"},
    "create_api_key": lambda w: {"name": "ci", "scopes": ["decide"], "expires_in": "1d"},
    "list_api_keys": lambda w: {},
    "revoke_api_key": lambda w: {"id": w.engine.create_api_key("old", ["decide"])["id"]},
    "get_passport": lambda w: {"passport_id": w.engine.issue_passport(w.issuer.secret, "y", permissions=["payments:send"]).passport_id},
    "list_passports": lambda w: {"agent": "agent", "status": "active", "permission": "payments:send", "limit": 5},
    "list_issuers": lambda w: {},
    "trust_issuer": lambda w: {"did": passgate.Issuer.generate().did, "not_before": 0, "not_after": 4_000_000_000_000},
    "untrust_issuer": lambda w: {"did": passgate.Issuer.generate().did},
    "export_trust": lambda w: {},
    "import_trust": lambda w: {"document": w.engine.export_trust(), "signer": w.engine.signer_did},
    "authenticate_api_key": lambda w: {"secret": w.engine.create_api_key("ci", ["approve"])["secret"]},
    "events": lambda w: {"kinds": ["escalation"], "limit": 5, "since": None} if w.escalation() else {},
    "ack_event": lambda w: {"id": w.event()},
    "create_catalog": lambda w: {"gate": "payments.send", "catalog": catalog(100)},
    "publish_catalog": lambda w: {"gate": w.draft(), "effective_at": 4_000_000_000_000, "change_summary": "new"},
    "get_catalog": lambda w: {"gate": w.published(), "version": 1},
    "get_catalog_version": lambda w: {"gate": w.published(), "version": 1},
    "list_catalog_versions": lambda w: {"gate": w.published()},
    "get_catalog_impact": lambda w: {"gate": w.published(), "old": 1, "new": 1},
    "discover_services": lambda w: {"filter": {"permission": "payments:*", "currency": "USD"}} if w.published() else {},
    "verify_catalog": lambda w: {"document": w.catalog_document(), "did": w.engine.signer_did},
    "issue_consumption_attestation": lambda w: {"evaluation_id": w.consumable(), "outcome": "partial", "quantity": 2, "delivered": 1, "latency_ms": 5, "permission": "payments:send", "pop": {"p": 1}},
    "generate_settlement": lambda w: {"from": 0, "to": 4_000_000_000_000, "payer": {"issuer": w.issuer.did, "agent_id": "agent"}, "payee": w.engine.signer_did},
    "get_settlement": lambda w: {"settlement_id": w.settlement()},
    "update_settlement_status": lambda w: {"settlement_id": w.settlement(), "status": "issued", "reason": "sent"},
    "export_settlement": lambda w: {"settlement_id": w.settlement()},
    "verify_settlement": lambda w: (lambda b: {"document": b["settlement"], "did": w.engine.signer_did, "consumptions": b["consumptions"]})(w.engine.export_settlement(w.settlement())),
    "get_billing_summary": lambda w: {"filter": {"gate": "payments.send", "payer": {"issuer": w.issuer.did, "agent_id": "agent"}, "payee": w.engine.signer_did, "from": 0, "to": 4_000_000_000_000}},
    "get_sla_compliance": lambda w: {"gate": "payments.send", "from": 0, "to": 4_000_000_000_000, "permission": "payments:send"},
}

OPERATIONS = _native.operations()
NAMES = [op["name"] for op in OPERATIONS]


def stub_methods() -> set[str]:
    tree = ast.parse((ROOT / "bindings-python/python/passgate/_native.pyi").read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Engine":
            return {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
    raise AssertionError("no Engine in the stub")


def test_the_operation_list_is_the_cores_and_each_is_in_the_table() -> None:
    assert NAMES and len(set(NAMES)) == len(NAMES)
    assert set(NAMES) == set(SAMPLES), "every operation needs a sample call here (and a method)"
    for op in OPERATIONS:
        assert {"name", "description", "input_schema", "output_schema"} <= set(op), op


@pytest.mark.parametrize("name", NAMES)
def test_each_operation_is_an_explicit_method_with_its_argument_names(name: str) -> None:
    assert name in vars(passgate.Engine), f"Engine has no method {name} (only the generic fallback)"
    spec = next(op for op in OPERATIONS if op["name"] == name)
    expected = set(spec["input_schema"].get("properties", {}))
    params = inspect.signature(getattr(passgate.Engine, name)).parameters
    got = {RENAMED.get((name, p), p) for p in params if p != "self"}
    assert got == expected, name
    assert name in stub_methods(), f"_native.pyi declares no Engine.{name}"


@pytest.mark.parametrize("name", NAMES)
def test_the_method_returns_what_the_entry_point_returns(name: str, tmp_path: pathlib.Path) -> None:
    w = World(tmp_path)
    if name == "verify_export":
        w.engine.export_attestations(str(tmp_path / "exported.jsonl"))
    via_op = _native.call(w.engine, name, SAMPLES[name](w))  # the one entry point, by name
    python_names = {arg: param for (op, param), arg in RENAMED.items() if op == name}
    via_method = getattr(w.engine, name)(**{python_names.get(k, k): v for k, v in SAMPLES[name](w).items()})
    if name in ("enforce", "dry_run", "evaluate"):
        assert isinstance(via_method, passgate.Decision)
        assert set(via_method.to_dict()) == set(via_op)
    elif name in ("reissue", "issue_passport"):
        assert isinstance(via_method, passgate.IssuedPassport)
        assert set(via_op) == {"token", "passport_id", "agent_id", "did", "private_key", "expires_at"}
    elif name == "revoke_passport":
        assert via_method is None and set(via_op) == {"revoked"}
    elif name in UNWRAP:
        assert isinstance(via_op, dict) and set(via_op) >= {UNWRAP[name]}, via_op
        assert type(via_method) is type(via_op[UNWRAP[name]])
        if isinstance(via_method, list) and via_method and isinstance(via_method[0], dict):
            assert set(via_method[0]) == set(via_op[UNWRAP[name]][0])
    elif isinstance(via_op, dict):
        assert isinstance(via_method, dict) and set(via_method) == set(via_op), (via_method, via_op)
    else:
        assert type(via_method) is type(via_op)


def test_a_core_operation_without_a_method_is_reachable_by_name() -> None:
    engine = passgate.Engine({"version": 1, "gates": {"g": {}}})
    # What `Engine.__getattr__` returns for an operation that has no method (every operation has
    # one today, so the fallback is reached here directly).
    op = _native._operation(engine, "list_gates")
    listed = op()
    assert listed == _native.call(engine, "list_gates")
    assert listed == {"gates": [engine.get_gate("g")], "policy_hash": listed["policy_hash"]}
    assert listed["policy_hash"].startswith("sha256:")
    with pytest.raises(passgate.InputError) as e:
        op(gatez=1)
    assert e.value.path == "/gatez"
    with pytest.raises(AttributeError):
        engine.no_such_operation  # type: ignore[attr-defined]  # noqa: B018
