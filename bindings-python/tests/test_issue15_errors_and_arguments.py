"""Errors from one source (classes in ``passgate.errors``, family and ``.path`` from the core) and
argument errors that are always passgate errors (never a PyO3 ``TypeError``, ``OverflowError``
or ``UnicodeEncodeError``), with the agent as the adversary."""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
from typing import Any, Callable

import pytest

import passgate
import passgate.errors
from passgate import InputError, PassgateError, PolicyError

from conftest import PAYMENTS_POLICY

FAMILY_CLASSES = {
    "PassgateError": passgate.errors.PassgateError,
    "PolicyError": passgate.errors.PolicyError,
    "PassportError": passgate.errors.PassportError,
    "InputError": passgate.errors.InputError,
    "IdempotencyConflictError": passgate.errors.IdempotencyConflictError,
    "StoreError": passgate.errors.StoreError,
    "AttestationError": passgate.errors.AttestationError,
}


def raises(code: str, f: Callable[[], object], cls: type[PassgateError] = InputError) -> PassgateError:
    with pytest.raises(PassgateError) as info:
        f()
    e = info.value
    assert e.code == code, e
    assert isinstance(e, cls), type(e)
    assert "extract" not in e.message and "Can't" not in e.message, e.message
    return e


def test_every_error_code_maps_to_the_class_of_its_core_family() -> None:
    codes = passgate._native.error_codes()
    assert set(codes) == set(passgate.ERROR_CODES)
    for code, name in codes.items():
        assert passgate._native._exception_for(code) is FAMILY_CLASSES[name], code
        # The extension re-exports the very classes of passgate.errors.
        assert getattr(passgate._native, name) is FAMILY_CLASSES[name]
        assert getattr(passgate, name) is FAMILY_CLASSES[name]
    # The families of the issue: HOLD_*/APPROVAL_* are input errors.
    for code in ("HOLD_UNKNOWN", "HOLD_CLOSED", "APPROVAL_UNKNOWN", "APPROVAL_CLOSED", "KEY_INVALID"):
        assert codes[code] == ("PassportError" if code == "KEY_INVALID" else "InputError")
    assert codes["IDEMPOTENCY_CONFLICT"] == "IdempotencyConflictError"


def test_the_errors_module_documents_each_code_under_its_family() -> None:
    doc = inspect.getdoc(passgate.errors) or ""
    sections: dict[str, str] = {}
    current = ""
    for line in doc.splitlines():
        if line.startswith("``") and line.rstrip().endswith("``") and not line.startswith(" "):
            current = line.strip("` ")
            sections[current] = ""
        elif current:
            sections[current] += line + "\n"
    for code, name in passgate._native.error_codes().items():
        if name == "PassgateError":
            assert code in doc
            continue
        assert f"``{code}``" in sections[name], (code, name)


def test_the_deprecated_alias_is_the_same_class() -> None:
    assert passgate.IdempotencyConflict is passgate.IdempotencyConflictError
    assert passgate.errors.IdempotencyConflict is passgate.errors.IdempotencyConflictError


def test_errors_carry_a_path_and_pickle_with_it(issuer: passgate.Issuer) -> None:
    e = raises("POLICY_INVALID", lambda: passgate.Engine({"version": 1, "gates": {"g": {"constraints": [
        {"type": "max_value", "field": "amount", "max": 1}]}}}), PolicyError)
    assert e.path is not None and e.path.startswith("/gates/g/constraints/0"), e.path
    engine = passgate.Engine(PAYMENTS_POLICY, trusted_issuers=[issuer.did])
    e = raises("INVALID_ARGUMENT", lambda: engine.approve("evl_x", "ops", ttl="1 day"))
    assert e.path == "/ttl" and "a duration like 30s, 15m, 1h, 1d" in e.message, e
    e = raises("INVALID_ARGUMENT", lambda: engine.expire_holds(limit=-1))
    assert e.path == "/limit"
    p = issuer.issue_passport("a", permissions=["payments:send"])
    e = raises("PAYLOAD_INVALID", lambda: engine.enforce("payments.send", p, {"amount": float("nan")}))
    assert e.path == "/amount"
    back = pickle.loads(pickle.dumps(e))
    assert (type(back), back.code, back.message, back.path) == (type(e), e.code, e.message, e.path)
    # Errors without a place have no path.
    e = raises("PASSPORT_MALFORMED", lambda: engine.verify_passport("nope"), passgate.PassportError)
    assert e.path is None


def test_wrong_argument_types_are_input_errors_naming_the_argument(
    engine: passgate.Engine, issuer: passgate.Issuer
) -> None:
    # A str is a sequence of str: never read as a list of one-letter permissions.
    e = raises("INVALID_ARGUMENT", lambda: issuer.issue_passport("a", permissions="payments:send"))  # type: ignore[arg-type]
    assert e.path == "/permissions"
    e = raises("INVALID_ARGUMENT", lambda: engine.issue_passport(issuer, "a", permissions="x:y"))  # type: ignore[arg-type]
    assert e.path == "/permissions"
    # Integers out of any range, floats for days, wrong kinds: InputError, not OverflowError.
    for bad in (2**70, -(2**70), 1.5, "7", True):
        e = raises("INVALID_ARGUMENT", lambda: issuer.issue_passport("a", expires_in_days=bad))  # type: ignore[arg-type]
        assert e.path == "/expires_in_days", (bad, e)
    e = raises("INVALID_ARGUMENT", lambda: engine.expire_holds(limit=2**64))
    assert e.path == "/limit"
    e = raises("INVALID_ARGUMENT", lambda: engine.approve(123, "ops"))  # type: ignore[arg-type]
    assert e.path == "/evaluation_id"
    e = raises("INVALID_ARGUMENT", lambda: engine.enforce(123, None, {}))  # type: ignore[arg-type]
    assert e.path == "/gate"
    e = raises("INVALID_ARGUMENT", lambda: engine.enforce("payments.send", None, {}, idempotency_key=5))  # type: ignore[arg-type]
    assert e.path == "/idempotency_key"
    e = raises("INVALID_ARGUMENT", lambda: engine.enforce("payments.send", None, {}, hold="yes"))  # type: ignore[arg-type]
    assert e.path == "/hold"
    e = raises("INVALID_ARGUMENT", lambda: engine.cumulative_state(gate=7))  # type: ignore[arg-type]
    assert e.path == "/gate"
    e = raises("INVALID_ARGUMENT", lambda: passgate.Engine(leeway_secs=2**63 - 1))
    assert e.path == "/leeway_secs"
    e = raises("INVALID_ARGUMENT", lambda: passgate.Engine(leeway_secs=2**80))
    assert e.path == "/leeway_secs"
    raises("INVALID_ARGUMENT", lambda: passgate.Engine(trusted_issuers="did:key:z6Mk"))  # type: ignore[arg-type]


def test_settle_with_a_number_is_refused_and_the_hold_stays_open(
    engine: passgate.Engine, passport: passgate.IssuedPassport
) -> None:
    d = engine.enforce("payments.send", passport, {"amount": 100, "currency": "USD"}, hold=True)
    assert d.hold_id is not None
    e = raises("INVALID_ARGUMENT", lambda: engine.settle(d.hold_id, 42))  # type: ignore[arg-type]
    assert e.path == "/actual"
    assert engine.settle(d.hold_id, {"amount": 10})["state"] == "settled"


def test_revoking_a_malformed_passport_id_is_refused(engine: passgate.Engine) -> None:
    e = raises("INVALID_ARGUMENT", lambda: engine.revoke_passport("psp_typo"))
    assert e.path == "/passport_id"
    assert engine.attestations(kind="revocation") == []
    # A well-formed id not seen yet is revoked ahead of use (documented).
    engine.revoke_passport("psp_abcdefghijklmnopqrstuvwxyz")
    assert len(engine.attestations(kind="revocation")) == 1


LONE = "order-\ud800"


def test_lone_surrogates_anywhere_are_input_errors(
    engine: passgate.Engine, passport: passgate.IssuedPassport, issuer: passgate.Issuer
) -> None:
    e = raises("PAYLOAD_INVALID", lambda: engine.enforce("payments.send", passport, {"note": LONE}))
    assert e.path == "/note"
    e = raises("PAYLOAD_INVALID", lambda: engine.enforce("payments.send", passport, {LONE: 1}))
    e = raises("INVALID_ARGUMENT", lambda: engine.enforce("payments.send", passport, {}, idempotency_key=LONE))
    assert e.path == "/idempotency_key"
    raises("INVALID_ARGUMENT", lambda: engine.enforce(LONE, passport, {}))
    raises("INVALID_ARGUMENT", lambda: engine.enforce("payments.send", passport, {}, client=LONE))
    raises("INVALID_ARGUMENT", lambda: engine.approve(LONE, "ops"))
    raises("INVALID_ARGUMENT", lambda: engine.record_attestation("note", {"x": LONE}))
    raises("INVALID_ARGUMENT", lambda: issuer.issue_passport(LONE))
    raises("INVALID_ARGUMENT", lambda: passgate._native.mcp_handle(engine, '{"jsonrpc": "2.0", "id": 1, "method": "' + LONE + '"}'))
    # Two keys differing only in their lone surrogate can never collide.
    raises("INVALID_ARGUMENT", lambda: engine.enforce("payments.send", passport, {}, idempotency_key="order-\udfff"))


def test_dict_subclasses_are_read_through_items(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    class Masked(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            return [(k, v) for k, v in super().items() if k != "amount"] + [("amount", 900)]

    d = engine.dry_run("payments.send", passport, Masked(amount=1, currency="USD"))
    assert d.decision == "deny" and [c["constraint"] for c in d.failed()] == ["per-call"]


def test_small_floats_cost_their_short_form(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    # 4,000 tiny floats: ~7 bytes each with an exponent (Node's size), ~300 without.
    d = engine.dry_run("catalog.read", passport, {"xs": [1e-300] * 4000})
    assert d.decision == "deny"  # permission, not size: the payload was accepted
    assert engine.dry_run("payments.send", passport, {"amount": 1e21, "currency": "USD"}).failed()[0]["constraint"] == "per-call"


def test_a_caught_panic_prints_no_backtrace() -> None:
    # A dict mutated while it is read makes the walk stop (caught at the boundary).
    code = (
        "import decimal, passgate\n"
        "i = passgate.Issuer.generate()\n"
        "e = passgate.Engine({'version': 1, 'gates': {}}, trusted_issuers=[i.did])\n"
        "d = {}\n"
        "class D(decimal.Decimal):\n"
        "    def is_finite(self):\n"
        "        for k in range(100): d[str(k)] = k\n"
        "        return True\n"
        "d['a'] = D(1); d['b'] = 2\n"
        "try:\n"
        "    e.dry_run('g', None, d)\n"
        "except passgate.PassgateError as err:\n"
        "    print(err.code)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "panicked" not in r.stderr and "backtrace" not in r.stderr, r.stderr


def test_policy_file_errors_name_the_file(tmp_path: Any) -> None:
    bad = tmp_path / "bad-policy.json"
    bad.write_text('{"version": 1, "gates": {"g": {"constraints": [{"type": "max_value"}]}}}')
    e = raises("POLICY_INVALID", lambda: passgate.Engine(str(bad)), PolicyError)
    assert "bad-policy.json" in e.message and e.path == "/gates/g/constraints/0", e
    e = raises("POLICY_INVALID", lambda: passgate.Engine(bad), PolicyError)
    assert "bad-policy.json" in e.message


def test_a_dry_run_that_escalates_follows_the_core(issuer: passgate.Issuer) -> None:
    # The core keeps the approval request on a dry run's decision, marked by the decision's own
    # `dry_run`; nothing was recorded, so `approve` cannot find it (APPROVAL_UNKNOWN).
    engine = passgate.Engine({"version": 1, "gates": {"g": {"require": ["x:y"], "constraints": [
        {"id": "big", "type": "approval", "when": {"field": "/a", "op": "gt", "value": 1}}]}}},
        trusted_issuers=[issuer.did])
    d = engine.dry_run("g", issuer.issue_passport("a", permissions=["x:y"]), {"a": 5})
    assert d.decision == "escalate" and d.dry_run and d.to_dict()["dry_run"] is True
    raises("APPROVAL_UNKNOWN", lambda: engine.approve(d.evaluation_id, "ops"))
