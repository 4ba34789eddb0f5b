"""The shared cases in tests/cases/*.json (format in its README), run through the Python API.

Mirrors core/tests/shared_cases.rs: the Rust, Python and Node suites read the same files, so the
three cannot drift. Each file is one test.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

import passgate

from conftest import ROOT

CASES = ROOT / "tests" / "cases"
CASE_FILES = sorted(CASES.glob("*.json"))


def test_cases_are_found() -> None:
    assert len(CASE_FILES) >= 8, CASE_FILES


class Run:
    def __init__(self, policy: Any) -> None:
        self.trusted = passgate.Issuer.generate()
        self.untrusted = passgate.Issuer.generate()
        self.passports: dict[str, passgate.IssuedPassport] = {}
        self.engine = passgate.Engine(policy, trusted_issuers=[self.trusted.did])

    def issue(self, name: str, spec: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = {
            k: spec[k] for k in ("agent_name", "permissions", "expires_in_days", "caveats") if k in spec
        }
        if "parent" in spec:
            issued = self.passports[spec["parent"]].issue_sub_passport(spec["agent_id"], **kwargs)
        else:
            issuer = self.untrusted if spec.get("issuer") == "untrusted" else self.trusted
            issued = issuer.issue_passport(spec["agent_id"], **kwargs)
        self.passports[name] = issued

    def token(self, name: str | None) -> str | None:
        if name is None:
            return None
        if name.startswith("tampered:"):
            t = self.passports[name.removeprefix("tampered:")].token
            # Change the last signature character to another valid base64url one.
            return t[:-1] + ("Q" if t[-1] == "A" else "A")
        return self.passports[name].token

    def step(self, step: dict[str, Any]) -> Any:
        op = step["op"]
        e = self.engine
        if op in ("enforce", "dry_run"):
            call = e.enforce if op == "enforce" else e.dry_run
            d = call(
                step["gate"],
                self.token(step.get("passport")),
                step.get("payload", {}),
                idempotency_key=step.get("idempotency_key"),
                client=step.get("client"),
                hold=step.get("hold", False),
                approval=step.get("approval"),
            )
            assert d.dry_run == (op == "dry_run")
            out = d.to_dict()
            # The attributes and the dict agree.
            for key in ("decision", "allowed", "gate", "replayed", "evaluation_id", "remaining", "hold_id"):
                assert getattr(d, key) == out[key], key
            assert d.checks == out["checks"]
            return out
        if op == "revoke":
            e.revoke_passport(self.passports[step["passport"]].passport_id)
            return None
        if op == "verify_passport":
            token = self.token(step.get("passport"))
            assert token is not None, "verify_passport needs a passport"
            return e.verify_passport(token)
        if op == "issue":
            self.issue(step["name"], step)
            return None
        if op == "settle":
            return e.settle(step["hold_id"], step.get("actual"))
        if op == "release":
            return e.release(step["hold_id"])
        if op == "approve":
            return {"approval": e.approve(step["evaluation_id"], step["approver"], step.get("ttl"))}
        if op == "deny_approval":
            return e.deny_approval(step["evaluation_id"], step["approver"], step.get("reason", ""))
        if op == "allowed_gates":
            token = self.token(step.get("passport"))
            assert token is not None, "allowed_gates needs a passport"
            return {"gates": e.allowed_gates(token)}
        raise AssertionError(f"unknown op {op}")


def resolve(v: Any, saved: dict[str, Any], at: str) -> Any:
    """Replaces every string "$NAME.key" by the `key` of the result saved as NAME."""
    if isinstance(v, str) and v.startswith("$"):
        name, _, key = v[1:].partition(".")
        assert name in saved, f"{at}: nothing saved as {name}"
        return saved[name][key]
    if isinstance(v, list):
        return [resolve(x, saved, at) for x in v]
    if isinstance(v, dict):
        return {k: resolve(x, saved, at) for k, x in v.items()}
    return v


def check(at: str, expect: dict[str, Any], got: dict[str, Any]) -> None:
    for key, want in expect.items():
        if key == "failed":
            failed = [c["constraint"] for c in got["checks"] if not c["passed"]]
            assert failed == want, f"{at}: failed checks in {got}"
        elif key == "passed":
            for cid in want:
                c = next((c for c in got["checks"] if c["constraint"] == cid), None)
                assert c is not None and c["passed"], f"{at}: {cid} must pass in {got}"
        elif key == "codes":
            for cid, code in want.items():
                c = next((c for c in got["checks"] if c["constraint"] == cid), None)
                assert c is not None and c.get("code") == code, f"{at}: code of {cid} in {got}"
        elif key == "remaining":
            for cid, left in want.items():
                assert got["remaining"].get(cid) == left, f"{at}: remaining {cid} in {got}"
        elif key == "has":
            for k in want:
                assert got.get(k) is not None, f"{at}: {k} missing in {got}"
        else:
            # Anything else must be equal as JSON.
            assert got.get(key) == want, f"{at}: {key} in {got}"


@pytest.mark.parametrize("path", CASE_FILES, ids=[p.stem for p in CASE_FILES])
def test_shared_case(path: pathlib.Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    policy = case["policy"]
    if isinstance(policy, str):
        policy = json.loads((CASES / policy).read_text(encoding="utf-8"))
    run = Run(policy)
    for name, spec in case["passports"].items():
        run.issue(name, spec)
    saved: dict[str, Any] = {}
    for i, raw in enumerate(case["steps"]):
        at = f"{path.name} step {i}"
        step = resolve(raw, saved, at)
        expect = step.get("expect", {})
        if "error" in expect:
            with pytest.raises(passgate.PassgateError) as info:
                run.step(step)
            assert info.value.code == expect["error"], f"{at}: {info.value}"
        else:
            got = run.step(step)
            if got is not None:
                check(at, expect, got)
                if "save" in step:
                    saved[step["save"]] = got
            else:
                assert not expect, f"{at}: {expect} expected from an op that returns nothing"
    records = run.engine.attestations()
    assert passgate.verify_chain(records, run.engine.signer_did) is True
