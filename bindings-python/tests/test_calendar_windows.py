"""Calendar windows (`"window": "day"` with a `tz`) through the Python surface: the explanation, the
listed window and its local bounds, and policy errors with their JSON pointer."""

from __future__ import annotations

import time

import pytest

import passgate

POLICY = {
    "version": 1,
    "gates": {},
    "anonymous": {
        "gates": ["g"],
        "constraints": [
            {"id": "daily", "type": "rate_limit", "max": 1, "window": "day", "tz": "Europe/Berlin",
             "scope": "client"},
        ],
    },
}


def test_a_berlin_day_is_listed_with_its_unit_zone_and_local_bounds() -> None:
    engine = passgate.Engine(POLICY)
    assert engine.enforce("g", client="c1").allowed
    d = engine.enforce("g", client="c1")
    assert not d.allowed
    [check] = [c for c in d.checks if c["constraint"] == "daily"]
    assert check["message"].endswith("per day (Europe/Berlin)")
    [state] = engine.cumulative_state()
    assert state["window"] == {"kind": "calendar", "unit": "day", "tz": "Europe/Berlin"}
    start, end = state["window_start"], state["window_end"]
    # Local midnight in Berlin is 22:00 or 23:00 UTC; a local day lasts 23 to 25 hours.
    assert time.gmtime(start / 1000).tm_hour in (22, 23)
    assert (end - start) // 3_600_000 in (23, 24, 25)
    assert start <= time.time() * 1000 < end


@pytest.mark.parametrize(
    ("constraint", "path"),
    [
        ({"window": "day", "tz": "Mars/Olympus"}, "/gates/g/constraints/0/tz"),
        ({"window": "1d", "tz": "Europe/Berlin"}, "/gates/g/constraints/0/tz"),
        ({"window": "fortnight"}, "/gates/g/constraints/0/window"),
        ({"window": {"kind": "calendar", "unit": "year"}}, "/gates/g/constraints/0/window/unit"),
    ],
)
def test_bad_calendar_windows_are_policy_errors_with_a_path(constraint: dict[str, object], path: str) -> None:
    policy = {"version": 1, "gates": {"g": {"constraints": [{"type": "rate_limit", "max": 1, **constraint}]}}}
    with pytest.raises(passgate.PolicyError) as e:
        passgate.Engine(policy)
    assert e.value.code == "POLICY_INVALID"
    # The pointer is in the message (`PolicyError` carries no `.path` attribute yet).
    assert f"policy invalid at {path}: " in str(e.value)
