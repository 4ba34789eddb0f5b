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
    # the store and checkpoint rows are never measured by `make bench`
    full = rows(CRIT, CHAIN, PY, NODE, INSTR)
    for measure in ("SQLite decisions/s (1 process)", "Redis", "attested decisions/s, one core, checkpoint mode"):
        assert full[measure][4] == report.NOT_MEASURED


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
