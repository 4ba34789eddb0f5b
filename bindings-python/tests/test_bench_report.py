"""benches/python/report.py's "Issue 20 goals" table, fed fabricated results (no bench run)."""

from __future__ import annotations

import pathlib
import sys
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benches" / "python"))

import report  # noqa: E402  (benches/python is a script directory, not a package)

CRIT = {
    "tier1/passgate-supplied/allow": 0.8,
    "tier1/passgate-memory/allow": 1.0,
    "tier1/cedar-prebuilt/allow": 7.2,
    "tier1/regorus-rvm/allow": 2.3,
    "tier2/enforce-cached/allow": 30.0,
    "tier2/floor-sign": 23.6,
    "tier2/enforce-uncached/allow": 80.0,
    "tier2/floor-verify-sign": 78.0,
}
CHAIN = {"records": 1_000_000, "verify_total_s": 12.5, "verify_us_per_record": 12.5, "peak_rss_mib": 3072}
PY = {"results": {"allow": {"passgate": {"median": 2.0}, "cedarpy": {"median": 160.0}, "casbin": {"median": 90.0}}}}
NODE = {"results": {"allow": {"passgate": {"median": 4.0}, "casbin": {"median": 9.0}}}}
INSTR = {"commit": "abc1234", "date": "2026-12-03 12:42 UTC", "ops": {"passgate-dry-run-supplied/allow": {"ir_per_op": 6000.4}}}


def rows(crit: dict[str, float], chain: dict[str, Any], py: dict[str, Any], node: dict[str, Any], instr: dict[str, Any]) -> dict[str, tuple[str, str, str, str, str, str]]:
    return {r[0]: r for r in report.issue20_rows(crit, chain, py, node, instr)}


def test_every_issue_row_is_present_with_its_fixed_today_value() -> None:
    got = rows(CRIT, CHAIN, PY, NODE, INSTR)
    assert list(got) == [m for m, *_ in report.ISSUE20_ROWS]
    assert got["`verify_chain`, 1M records"][1] == "65.7 s"
    assert got["Rust `dry_run`, state supplied"][1] == "11.5 µs"
    assert got["memory store, 1M decisions"][1] == "7.9 GiB"


def test_measured_rows_are_judged_against_must_and_goal() -> None:
    got = rows(CRIT, CHAIN, PY, NODE, INSTR)
    dry = got["Rust `dry_run`, state supplied"]
    assert dry[4].startswith("0.80 µs (9.0× pre-built Cedar")
    assert "6,000 Ir" in dry[4] and "abc1234" in dry[4]  # the Ir, labelled with its run
    assert dry[5] == "met (goal not met)"  # ≤ 1 µs and ≥ 7× Cedar, but not ≤ 0.45 µs
    cached = got["Rust `enforce`, cached passport, memory store"]
    assert cached[4].startswith("floor + 6.40 µs") and cached[5] == "**missed**"
    assert got["Rust `enforce`, uncached passport"][5] == "met (goal met too)"  # 2 µs over
    assert got["Python `dry_run`"][5] == "**missed**"  # + 1 µs and 80× cedarpy, but 45× casbin < 50×
    assert got["Node `dryRun`"][5] == "met (goal met too)"  # + 3 µs, 2.25× casbin
    assert got["`verify_chain`, 1M records"][4].startswith("12.5 s for 1,000,000 records")
    assert got["`verify_chain`, 1M records"][5] == "met (goal not met)"
    assert got["memory store, 1M decisions"][5] == "**missed**"  # 3.0 GiB > 2.5 GiB


def test_rows_without_a_measurement_say_so_and_invent_nothing() -> None:
    got = rows({}, {}, {}, {}, {})
    for measure, _today, _must, _goal, now, status in got.values():
        assert now == report.NOT_MEASURED, measure
        assert status == report.NOT_MEASURED, measure
    # the store and checkpoint rows come from their own files: without them, not measured
    full = rows(CRIT, CHAIN, PY, NODE, INSTR)
    for measure in ("SQLite decisions/s (1 process)", "Redis", "attested decisions/s, one core, checkpoint mode"):
        assert full[measure][4] == report.NOT_MEASURED


STORES = {
    "decisions": {
        report.SQLITE_NORMAL: [5000.0, 9000.0, 9500.0],
        report.SQLITE_FULL: [2600.0, 3000.0, 3100.0],
        report.REDIS: [4500.0, 12000.0, 12500.0],
    },
    "floors": {
        report.FLOOR_NORMAL: [40000.0, 30000.0],
        report.FLOOR_FULL: [4000.0, 3500.0],
        report.FLOOR_REDIS: [8000.0, 30000.0],
    },
    "redis_commands_per_decision": 9.0,
    "redis_commands_by_name": {"evalsha": 1.0, "hget": 8.0},
}
CKPT = {"decisions_per_second": {"each": 23000.0, "checkpoint": 210000.0}}


def test_store_and_checkpoint_rows_are_judged_from_their_files() -> None:
    got = {r[0]: r for r in report.issue20_rows(CRIT, CHAIN, PY, NODE, INSTR, STORES, CKPT)}
    sqlite = got["SQLite decisions/s (1 process)"]
    assert sqlite[4].startswith("5,000/s vs bare transaction 40,000/s (0.12×)")
    assert "durability=full 2,600/s vs 4,000/s (0.65×)" in sqlite[4]
    assert sqlite[5] == "**missed**"  # judged at the default durability
    redis = got["Redis"]
    assert "(0.56×); 1.00 EVALSHA per decision" in redis[4] and redis[5] == "met"
    ckpt = got["attested decisions/s, one core, checkpoint mode"]
    assert ckpt[4].startswith("210,000/s") and ckpt[5] == "met (goal not met)"
    # two round trips per decision miss the Redis row whatever the rate
    two = {**STORES, "redis_commands_by_name": {"evalsha": 2.0}}
    assert {r[0]: r for r in report.issue20_rows(CRIT, CHAIN, PY, NODE, INSTR, two, CKPT)}["Redis"][5] == "**missed**"


def test_a_shorter_chain_is_shown_but_not_judged() -> None:
    got = rows(CRIT, {"records": 1000, "verify_total_s": 0.01, "verify_us_per_record": 10.0}, PY, NODE, INSTR)
    row = got["`verify_chain`, 1M records"]
    assert row[4].startswith("0.0 s for 1,000 records")
    assert row[5] == report.NOT_MEASURED


def test_the_section_is_marked_and_a_table() -> None:
    text = report.issue20_section(CRIT, CHAIN, PY, NODE, INSTR)
    assert text.startswith(report.ISSUE20_BEGIN) and text.rstrip().endswith(report.ISSUE20_END)
    assert "## Issue 20 goals" in text
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0] == "| measure | today | must | goal | now | status |"
    assert len(lines) == 1 + len(report.ISSUE20_ROWS)
    assert all(line.count(" | ") == 5 for line in lines)


def test_the_memory_row_judges_the_store_holding_a_million_decisions() -> None:
    fp = {"calls": 1_000_000, "first_record_kept": True, "peak_rss_mib": 1600, "bytes_per_decision": 1650.0}
    got = {r[0]: r for r in report.issue20_rows(CRIT, CHAIN, PY, NODE, INSTR, STORES, CKPT, fp)}
    mem = got["memory store, 1M decisions"]
    assert mem[4].startswith("1.56 GiB (peak RSS, 1,000,000 decisions all held, 1,650 B each)")
    assert "read back as values: 3.0 GiB" in mem[4]  # the scale bench's peak, shown beside it
    assert mem[5] == "met (goal not met)"
    # a run whose records were pruned (or shorter) does not stand for the row: the scale bench's peak does
    for bad in ({**fp, "first_record_kept": False}, {**fp, "calls": 100_000}):
        row = {r[0]: r for r in report.issue20_rows(CRIT, CHAIN, PY, NODE, INSTR, STORES, CKPT, bad)}["memory store, 1M decisions"]
        assert row[4].startswith("3.0 GiB (peak RSS of the scale bench") and row[5] == "**missed**"
