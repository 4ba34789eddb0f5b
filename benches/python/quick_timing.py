"""Quick timing of passgate from Python: the median cost of one `enforce` and one `dry_run`.

Same policy and payload as the Rust quick bench (core/benches/engine.rs), so the two can be read
side by side: the difference is the binding's cost (argument conversion, the Decision object,
releasing and re-taking the GIL).

Run: `.venv/bin/python benches/python/quick_timing.py` (after `make demo`).
"""

from __future__ import annotations

import statistics
import timeit
from typing import Any, Callable

import passgate

PAYLOAD = {
    "amount": 120,
    "currency": "USD",
    "to": "acct_9f2k3j4h",
    "memo": "invoice 2026-114 for cloud compute, October",
    "metadata": {"invoice": "INV-2026-114", "project": "research", "requested_by": "agent-1", "approved": True},
}


def setup(stateful: bool) -> tuple[passgate.Engine, str]:
    issuer = passgate.Issuer.generate()
    constraints: list[dict[str, Any]] = [
        {"id": "per-call", "type": "max_value", "field": "/amount", "max": 500},
        {"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]},
        {"id": "to", "type": "pattern", "field": "/to", "regex": "acct_[0-9a-z]{4,32}"},
    ]
    if stateful:
        constraints.append({"id": "burst", "type": "rate_limit", "max": 1_000_000_000, "window": "1m"})
        constraints.append(
            {"id": "daily", "type": "spend_limit", "field": "/amount", "max": "1000000000000", "window": "1d"}
        )
    policy = {"version": 1, "gates": {"payments.transfer": {"require": ["payments:transfer"], "constraints": constraints}}}
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did])
    token = issuer.issue_passport(
        "agent-1", permissions=["payments:transfer", "payments:read", "web:fetch", "fs:read"]
    ).token
    return engine, token


def timing_us(fn: Callable[[], object], number: int, repeat: int = 15) -> tuple[float, float]:
    """(median, fastest) of `repeat` runs of `number` calls, in microseconds per call."""
    fn()  # warm: verifies and caches the passport
    runs = [r / number * 1e6 for r in timeit.repeat(fn, number=number, repeat=repeat)]
    return statistics.median(runs), min(runs)


def main() -> None:
    engine, token = setup(stateful=False)
    assert engine.dry_run("payments.transfer", token, PAYLOAD).allowed
    dry = timing_us(lambda: engine.dry_run("payments.transfer", token, PAYLOAD), number=2000)

    engine, token = setup(stateful=True)
    assert engine.enforce("payments.transfer", token, PAYLOAD).allowed
    enforce = timing_us(lambda: engine.enforce("payments.transfer", token, PAYLOAD), number=300)

    print(f"passgate {passgate.__version__}: per call, median (fastest) of 15 runs")
    print(f"dry_run (stateless gate, cached passport)             {dry[0]:7.2f} us ({dry[1]:.2f})")
    print(f"enforce (memory store, counters, signed attestation)  {enforce[0]:7.2f} us ({enforce[1]:.2f})")


if __name__ == "__main__":
    main()
