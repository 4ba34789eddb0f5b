"""The injectable clock (for tests and simulations), the async API on a thread pool, and
``Decision`` equality, hashing and pickling."""

from __future__ import annotations

import asyncio
import pickle
import time
from typing import Any

import pytest

import passgate

#: A minute boundary a day from now (passports are issued by the real clock, valid 30 days).
T0 = (int(time.time() * 1000) // 60_000 + 1440) * 60_000

RATE_POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "llm.call": {
            "require": ["llm:call"],
            "constraints": [{"id": "per-minute", "type": "rate_limit", "max": 2, "window": "1m"}],
        },
        "payments.send": {
            "require": ["payments:send"],
            "constraints": [{"id": "cap", "type": "spend_limit", "field": "/amount", "max": 10, "window": "1d"}],
        },
    },
}


def test_a_fake_clock_moves_a_window(issuer: passgate.Issuer) -> None:
    now = [T0]
    reads: list[int] = []

    def clock() -> int:
        reads.append(now[0])
        return now[0]

    engine = passgate.Engine(RATE_POLICY, trusted_issuers=[issuer.did], clock=clock)
    p = issuer.issue_passport("agent", permissions=["llm:call"])
    assert [engine.enforce("llm.call", p).decision for _ in range(3)] == ["allow", "allow", "deny"]
    assert len(reads) == 3  # read once per call
    now[0] += 59_999
    assert engine.enforce("llm.call", p).decision == "deny"
    now[0] += 1  # the fixed window turns over
    assert engine.enforce("llm.call", p).decision == "allow"
    assert engine.attestations()[-1]["body"]["time"] == T0 + 60_000


@pytest.mark.parametrize("bad", [1.5, "now", None, True, -1, 2**70])
def test_a_bad_clock_reading_is_an_input_error(issuer: passgate.Issuer, bad: Any) -> None:
    engine = passgate.Engine(RATE_POLICY, trusted_issuers=[issuer.did], clock=lambda: bad)
    with pytest.raises(passgate.InputError) as e:
        engine.list_gates()
    assert e.value.code == "INVALID_ARGUMENT" and e.value.path == "/clock"


def test_a_clock_that_is_not_callable_is_refused() -> None:
    with pytest.raises(passgate.InputError) as e:
        passgate.Engine(clock=12345)  # type: ignore[arg-type]
    assert e.value.path == "/clock"


def test_fifty_concurrent_enforce_async_admit_exactly_the_cap(issuer: passgate.Issuer) -> None:
    engine = passgate.Engine(RATE_POLICY, trusted_issuers=[issuer.did])
    p = issuer.issue_passport("agent", permissions=["payments:send"])

    async def main() -> list[passgate.Decision]:
        return await asyncio.gather(
            *(engine.enforce_async("payments.send", p, {"amount": 1}) for _ in range(50))
        )

    decisions = asyncio.run(main())
    assert sum(d.allowed for d in decisions) == 10
    assert engine.cumulative_state(constraint="cap")[0]["used"] == "10"


def test_async_forms_of_the_other_methods(issuer: passgate.Issuer) -> None:
    engine = passgate.Engine(RATE_POLICY, trusted_issuers=[issuer.did])
    p = issuer.issue_passport("agent", permissions=["payments:send"])

    async def main() -> None:
        d = await engine.dry_run_async("payments.send", p, payload={"amount": 4})
        assert d.dry_run and d.allowed
        h1 = (await engine.enforce_async("payments.send", p, {"amount": 4}, hold=True)).hold_id
        h2 = (await engine.enforce_async("payments.send", p, {"amount": 4}, hold=True)).hold_id
        assert h1 and h2
        assert (await engine.settle_async(h1, {"amount": 2}))["state"] == "settled"
        assert (await engine.release_async(h2))["state"] == "released"
        with pytest.raises(passgate.InputError):  # an error is raised when awaited
            await engine.approve_async("evl_nope", "ops")
        with pytest.raises(passgate.InputError):
            await engine.enforce_async(123)  # type: ignore[arg-type]

    asyncio.run(main())


def test_decisions_compare_by_value_hash_and_pickle(issuer: passgate.Issuer) -> None:
    engine = passgate.Engine(RATE_POLICY, trusted_issuers=[issuer.did])
    p = issuer.issue_passport("agent", permissions=["payments:send"])
    d = engine.enforce("payments.send", p, {"amount": 1}, idempotency_key="k1")
    again = engine.enforce("payments.send", p, {"amount": 1}, idempotency_key="k1")
    other = engine.enforce("payments.send", p, {"amount": 1})
    copy = pickle.loads(pickle.dumps(d))
    assert isinstance(copy, passgate.Decision)
    assert copy == d and hash(copy) == hash(d) and copy.to_dict() == d.to_dict()
    assert copy.attestation == d.attestation and copy.remaining == d.remaining
    assert again.replayed and again != d  # the replay says it is one
    assert other != d and d != d.to_dict()
    assert len({d, copy, other}) == 2
