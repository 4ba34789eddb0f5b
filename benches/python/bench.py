"""passgate vs cedarpy vs casbin vs a hand-written dict check, from Python: µs per call.

The workload of `benches/src/lib.rs` (gate `payments.transfer`, five constraints, a passport with
four permissions, a ~300-byte payload; cases allow / deny on the amount / deny on the daily cap):

- passgate: `Engine.dry_run` on the memory store, the counters built by real `enforce` calls;
  and `Engine.enforce` (full decision: counters updated, attestation signed) on the allow case.
- cedarpy: `is_authorized` with a pre-parsed `PolicySet` and `Entities`, the state in the context.
- casbin: `Enforcer.enforce` on an ABAC model (the five constraints in the matcher, one policy
  line for the permission), the state passed as a request argument.
- dict: the five checks written by hand on the dicts (the least any Python check costs).

The Python package reads the system clock (no injectable clock in the bindings), so the hours
window is 09:00–17:00 in an `Etc/GMT±N` zone chosen at start so that now falls at 10:xx local
time there; the peers get the same local minute in their state.

Run: `make bench` (or `.venv/bin/python benches/python/bench.py OUT.json` after
`make python-package` and `pip install -r benches/python/requirements.txt`).
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import statistics
import sys
import time
from typing import Any, Callable

import casbin
import cedarpy
from casbin.persist.adapters.string_adapter import StringAdapter

import passgate

GATE = "payments.transfer"
AGENT = "agent-1"
PERMISSIONS = ["payments:transfer", "payments:read", "web:fetch", "fs:read"]
CASES = ["allow", "deny-amount", "deny-daily-cap"]


def local_zone() -> tuple[str, int]:
    """An `Etc/GMT±N` zone where it is now 10:xx, and the minute of the day there."""
    now = dt.datetime.now(dt.timezone.utc)
    k = (10 - now.hour) % 24
    if k > 14:
        k -= 24
    # Etc/GMT signs are inverted: Etc/GMT-3 is UTC+3.
    name = "Etc/GMT" if k == 0 else f"Etc/GMT{'-' if k > 0 else '+'}{abs(k)}"
    local = now + dt.timedelta(hours=k)
    return name, local.hour * 60 + local.minute


def payload(amount: int) -> dict[str, Any]:
    return {
        "amount": amount,
        "currency": "USD",
        "to": "acct_9f2k3j4h",
        "memo": "invoice 2026-114 for cloud compute, October",
        "metadata": {
            "invoice": "INV-2026-114",
            "project": "research",
            "requested_by": AGENT,
            "cost_center": "cc-4411",
            "approved": True,
        },
        "reference": "ref_8d1c7e0a5b3f",
    }


def amount_of(case: str) -> int:
    return 900 if case == "deny-amount" else 120


def history(case: str) -> list[int]:
    """Amounts of the enforced calls that build the counters of `case` (all in this minute)."""
    if case == "deny-daily-cap":
        return [500] * 9 + [450]  # 4,950 spent; 10 calls, so the burst limit is reached too
    return [400, 300, 300]


def state(case: str, minute: int) -> dict[str, int]:
    h = history(case)
    return {"calls_last_minute": len(h), "spent_today": sum(h), "minute_of_day": minute}


def policy(tz: str, caps: tuple[int, int]) -> dict[str, Any]:
    constraints: list[dict[str, Any]] = [
        {"id": "per-call", "type": "max_value", "field": "/amount", "max": 500},
        {"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]},
        {"id": "hours", "type": "time_window", "start": "09:00", "end": "17:00", "tz": tz},
        {"id": "burst", "type": "rate_limit", "max": caps[0], "window": "1m"},
        {"id": "daily", "type": "spend_limit", "field": "/amount", "max": caps[1], "window": "1d"},
    ]
    return {"version": 1, "gates": {GATE: {"require": ["payments:transfer"], "constraints": constraints}}}


CEDAR_POLICY = """
permit (principal, action == Action::"payments.transfer", resource == Gate::"payments.transfer")
when {
  principal.permissions.contains("payments:transfer") &&
  context.payload.amount <= 500 &&
  ["USD", "EUR"].contains(context.payload.currency) &&
  context.state.minute_of_day >= 540 &&
  context.state.minute_of_day < 1020 &&
  context.state.calls_last_minute + 1 <= 10 &&
  context.state.spent_today + context.payload.amount <= 5000
};
"""

CASBIN_MODEL = """
[request_definition]
r = sub, act, obj, st

[policy_definition]
p = act, perm

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.act == p.act && p.perm in r.sub.permissions && r.obj.amount <= 500 && \
(r.obj.currency == "USD" || r.obj.currency == "EUR") && \
r.st.minute_of_day >= 540 && r.st.minute_of_day < 1020 && \
r.st.calls_last_minute + 1 <= 10 && r.st.spent_today + r.obj.amount <= 5000
"""

CURRENCIES = frozenset(["USD", "EUR"])


def dict_check(sub: dict[str, Any], gate: str, p: dict[str, Any], st: dict[str, int]) -> bool:
    """The five constraints and the permission, by hand."""
    return (
        gate == GATE
        and "payments:transfer" in sub["permissions"]
        and p["amount"] <= 500
        and p["currency"] in CURRENCIES
        and 540 <= st["minute_of_day"] < 1020
        and st["calls_last_minute"] + 1 <= 10
        and st["spent_today"] + p["amount"] <= 5000
    )


def interleaved(
    fns: dict[str, Callable[[], object]], batch: int, rounds: int = 31, warmup: int = 200
) -> dict[str, dict[str, float]]:
    """Median and fastest µs per call over `rounds` rounds, each running every function `batch`
    times in turn: interleaving keeps a busy machine's drift out of the comparison."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    per: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(rounds):
        for n, f in fns.items():
            t = time.perf_counter_ns()
            for _ in range(batch):
                f()
            per[n].append((time.perf_counter_ns() - t) / 1000 / batch)
    return {n: {"median": statistics.median(v), "min": min(v)} for n, v in per.items()}


def main() -> None:
    out_path = sys.argv[1] if len(sys.argv) > 1 else "python-results.json"
    tz, minute = local_zone()
    issuer = passgate.Issuer.generate()
    token = issuer.issue_passport(AGENT, permissions=PERMISSIONS).token
    sub = {"id": AGENT, "permissions": PERMISSIONS}

    cedar_policies = cedarpy.PolicySet.from_str(CEDAR_POLICY)
    cedar_entities = cedarpy.Entities.from_json_str(
        json.dumps([{"uid": {"type": "Agent", "id": AGENT}, "attrs": {"permissions": PERMISSIONS}, "parents": []}])
    )
    enforcer = casbin.Enforcer(
        casbin.Enforcer.new_model(text=CASBIN_MODEL), StringAdapter(f"p, {GATE}, payments:transfer")
    )

    results: dict[str, dict[str, dict[str, float]]] = {}
    for case in CASES:
        want = case == "allow"
        engine = passgate.Engine(policy(tz, (10, 5000)), trusted_issuers=[issuer.did])
        for amount in history(case):
            if not engine.enforce(GATE, token, payload(amount)).allowed:
                raise SystemExit(f"setup: history of {case} denied")
        p = payload(amount_of(case))
        st = state(case, minute)
        cedar_request = {
            "principal": f'Agent::"{AGENT}"',
            "action": f'Action::"{GATE}"',
            "resource": f'Gate::"{GATE}"',
            "context": {"payload": p, "state": st},
        }

        def pg() -> bool:
            return bool(engine.dry_run(GATE, token, p).allowed)

        def cedar() -> bool:
            return bool(cedarpy.is_authorized(cedar_request, cedar_policies, cedar_entities).allowed)

        def cas() -> bool:
            return bool(enforcer.enforce(sub, GATE, p, st))

        def dct() -> bool:
            return dict_check(sub, GATE, p, st)

        fns: dict[str, Callable[[], bool]] = {"passgate": pg, "cedarpy": cedar, "casbin": cas, "dict": dct}
        for name, f in fns.items():  # parity: every engine, the same verdict
            if f() != want:
                raise SystemExit(f"parity: {name} says {not want} on {case}")
        # casbin costs ~1 ms a call: fewer calls per batch for it.
        fast = interleaved({n: fns[n] for n in ("passgate", "cedarpy", "dict")}, batch=200)
        slow = interleaved({"casbin": cas}, batch=10, rounds=15, warmup=20)
        results[case] = {**fast, **slow}
        for name, f in fns.items():  # the state did not drift during the run
            if f() != want:
                raise SystemExit(f"parity after the run: {name} says {not want} on {case}")

    # The full decision from Python (counters updated, attestation signed), allow case.
    engine = passgate.Engine(policy(tz, (1_000_000_000, 1_000_000_000_000)), trusted_issuers=[issuer.did])
    p = payload(120)
    results["full-decision"] = interleaved(
        {"passgate enforce": lambda: engine.enforce(GATE, token, p).allowed}, batch=50, rounds=21
    )

    out = {
        "python": platform.python_version(),
        "passgate": passgate.__version__,
        "cedarpy": _version("cedarpy"),
        "casbin": _version("casbin"),
        "tz": tz,
        "results": results,
    }
    with open(out_path, "w") as out_file:
        json.dump(out, out_file, indent=1)
    for case, rows in results.items():
        for name, r in rows.items():
            print(f"python {case:15} {name:17} {r['median']:10.2f} µs (min {r['min']:.2f})")


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    main()
