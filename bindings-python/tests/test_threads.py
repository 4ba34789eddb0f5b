"""One engine, many threads: the GIL is released while the engine works, and caps still hold."""

from __future__ import annotations

import threading
from decimal import Decimal

import passgate

CAP = 1000
AMOUNT = 10
THREADS = 8
PER_THREAD = 50  # demand: 8 * 50 * 10 = 4000, four times the cap


def test_eight_threads_never_pass_the_cap() -> None:
    issuer = passgate.Issuer.generate()
    policy = {"version": 1, "gates": {"llm.call": {"require": ["llm:call"], "constraints": [
        {"id": "budget", "type": "spend_limit", "field": "/cost", "max": CAP, "window": "1d", "scope": "gate"}]}}}
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did])
    passports = [issuer.issue_passport(f"agent-{i}", permissions=["llm:call"]) for i in range(THREADS)]
    admitted = [0] * THREADS
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def work(i: int) -> None:
        try:
            start.wait()
            for n in range(PER_THREAD):
                d = engine.enforce("llm.call", passports[i], {"cost": AMOUNT, "n": n})
                if d.allowed:
                    admitted[i] += AMOUNT
                else:
                    assert [c["constraint"] for c in d.failed()] == ["budget"]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    # Never more than the cap, and exactly the cap since demand exceeded it.
    assert sum(admitted) == CAP
    assert sum(1 for a in admitted if a) > 1, "the threads did not interleave"
    (state,) = engine.cumulative_state(gate="llm.call")
    assert Decimal(state["used"]) == CAP
    records = engine.attestations()
    assert len(records) == THREADS * PER_THREAD
    assert sum(1 for r in records if r["body"]["decision"] == "allow") == CAP // AMOUNT
    assert passgate.verify_chain(records, engine.signer_did)


def test_threads_share_dry_runs_and_verification() -> None:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine({"version": 1, "gates": {"g": {"require": ["x:y"]}}}, trusted_issuers=[issuer.did])
    tokens = [issuer.issue_passport(f"a{i}", permissions=["x:y"]).token for i in range(4)]
    results: list[bool] = []
    lock = threading.Lock()

    def work(token: str) -> None:
        ok = all(engine.dry_run("g", token, {"i": i}).allowed for i in range(200))
        ok = ok and engine.verify_passport(token)["perms"] == ["x:y"]
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=work, args=(t,)) for t in tokens * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 8
    assert engine.attestations() == []
