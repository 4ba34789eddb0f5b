//! Calendar windows in policies and through the engine: `"window": "day"` (with `"tz"`),
//! `"week"`, `"month"` reset at local midnight / on Monday / on the 1st; the policy errors carry
//! JSON pointers; the explanation and `cumulative_state` name the window and when it ends.
//! (Bounds themselves are unit-tested in `core/src/calendar.rs`; every store runs the calendar
//! conformance cases in `tests/stores/conformance/calendar.rs`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::Arc;

use passgate::__private::calendar::{CalendarUnit, Zone};
use passgate::clock::ManualClock;
use passgate::store::WindowKind;
use passgate::{CounterFilter, Engine, Error, Policy, Request, Verdict};
use serde_json::{json, Value};

const HOUR: i64 = 3_600_000;
/// 2024-05-14T22:00:00Z: midnight of Wednesday 2024-05-15 in Berlin (CEST).
const BERLIN_MIDNIGHT: i64 = 1_715_724_000_000;
/// 2024-05-15T00:00:00Z.
const UTC_MIDNIGHT: i64 = 1_715_731_200_000;
/// 2024-03-30T23:00:00Z: midnight of 2024-03-31 in Berlin, a 23-hour day.
const SPRING_DAY: i64 = 1_711_839_600_000;
/// 2024-10-26T22:00:00Z: midnight of 2024-10-27 in Berlin, a 25-hour day.
const AUTUMN_DAY: i64 = 1_729_980_000_000;
/// 2024-05-13T00:00:00Z, a Monday.
const MONDAY: i64 = 1_715_558_400_000;
/// 2024-02-01T05:00:00Z: midnight of February 1st in New York (EST, −05:00).
const NY_FEB_1: i64 = 1_706_763_600_000;

/// An engine whose anonymous gate `g` carries `constraints`, on the memory store, at `now`.
fn engine(constraints: Value, now: i64) -> (Engine, ManualClock) {
    let clock = ManualClock::new(now);
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {},
            "anonymous": {"gates": ["g"], "constraints": constraints}}))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    (engine, clock)
}

fn allowed(e: &Engine) -> bool {
    e.enforce(&Request::new("g", json!({"amount": 1})).client("c1"))
        .unwrap()
        .allowed
}

fn rate(window: Value, tz: Option<&str>) -> Value {
    let mut c =
        json!({"id": "cap", "type": "rate_limit", "max": 1, "window": window, "scope": "client"});
    if let Some(tz) = tz {
        c["tz"] = json!(tz);
    }
    json!([c])
}

#[test]
fn a_berlin_day_resets_at_local_midnight_not_utc_midnight() {
    let (e, clock) = engine(
        json!([
            {"id": "berlin", "type": "rate_limit", "max": 2, "window": "day", "tz": "Europe/Berlin", "scope": "client"},
        ]),
        BERLIN_MIDNIGHT - HOUR,
    );
    assert!(allowed(&e) && allowed(&e));
    let d = e
        .enforce(&Request::new("g", json!({})).client("c1"))
        .unwrap();
    assert_eq!(d.decision, Verdict::Deny);
    let check = d.checks.iter().find(|c| c.constraint == "berlin").unwrap();
    assert_eq!(
        check.message,
        "request 3 would exceed 2 per day (Europe/Berlin)"
    );
    clock.set_ms(BERLIN_MIDNIGHT - 1);
    assert!(!allowed(&e), "the last millisecond of the local day");
    clock.set_ms(BERLIN_MIDNIGHT);
    assert!(allowed(&e) && allowed(&e), "local midnight resets it");
    clock.set_ms(UTC_MIDNIGHT);
    assert!(!allowed(&e), "UTC midnight does not");
    clock.set_ms(BERLIN_MIDNIGHT + 24 * HOUR);
    assert!(allowed(&e));
}

#[test]
fn a_utc_day_is_the_default_zone() {
    let (e, clock) = engine(rate(json!("day"), None), UTC_MIDNIGHT - 1);
    assert!(allowed(&e));
    assert!(!allowed(&e));
    clock.set_ms(UTC_MIDNIGHT);
    assert!(allowed(&e));
}

#[test]
fn local_days_across_daylight_saving_changes_last_23_and_25_hours() {
    let (e, clock) = engine(rate(json!("day"), Some("Europe/Berlin")), SPRING_DAY);
    assert!(allowed(&e));
    clock.set_ms(SPRING_DAY + 23 * HOUR - 1);
    assert!(!allowed(&e), "still March 31st (23:59:59.999 CEST)");
    clock.set_ms(SPRING_DAY + 23 * HOUR);
    assert!(allowed(&e), "April 1st, 23 hours after the last midnight");

    let (e, clock) = engine(rate(json!("day"), Some("Europe/Berlin")), AUTUMN_DAY);
    assert!(allowed(&e));
    clock.set_ms(AUTUMN_DAY + 24 * HOUR);
    assert!(
        !allowed(&e),
        "24 hours later it is 23:00 CET on the same day"
    );
    clock.set_ms(AUTUMN_DAY + 25 * HOUR);
    assert!(allowed(&e));
}

#[test]
fn weeks_reset_on_monday_where_7d_resets_on_thursday() {
    let (e, clock) = engine(
        json!([
            {"id": "week", "type": "rate_limit", "max": 1, "window": "week", "scope": "client"},
        ]),
        MONDAY - 1,
    );
    assert!(allowed(&e), "Sunday 23:59:59.999 UTC");
    assert!(!allowed(&e));
    clock.set_ms(MONDAY);
    assert!(allowed(&e), "Monday 00:00 UTC starts a new week");
    clock.set_ms(MONDAY + 3 * 24 * HOUR);
    assert!(!allowed(&e), "Thursday is the same calendar week");

    // The epoch-aligned `7d` starts its weeks on Thursday (1970-01-01 was one).
    let (e, clock) = engine(rate(json!("7d"), None), MONDAY - 1);
    assert!(allowed(&e));
    clock.set_ms(MONDAY);
    assert!(!allowed(&e), "a 7d window does not reset on Monday");
    clock.set_ms(MONDAY + 3 * 24 * HOUR);
    assert!(allowed(&e), "it resets on Thursday");
}

#[test]
fn months_reset_on_the_first_in_their_zone() {
    let window = json!({"kind": "calendar", "unit": "month", "tz": "America/New_York"});
    let (e, clock) = engine(rate(window, None), NY_FEB_1 - HOUR);
    assert!(
        allowed(&e),
        "January 31st, 23:00 EST (already February in UTC)"
    );
    assert!(!allowed(&e));
    clock.set_ms(NY_FEB_1 - 1);
    assert!(!allowed(&e));
    clock.set_ms(NY_FEB_1);
    assert!(allowed(&e), "February 1st, 00:00 EST");
}

#[test]
fn a_clock_stepping_back_counts_against_the_later_day() {
    let (e, clock) = engine(
        rate(json!("day"), Some("Europe/Berlin")),
        BERLIN_MIDNIGHT + 1_000,
    );
    assert!(allowed(&e), "the 15th, just after local midnight");
    // The clock steps back into the 14th: the 15th's spent budget still counts.
    clock.set_ms(BERLIN_MIDNIGHT - 1_000);
    assert!(!allowed(&e));
    clock.set_ms(BERLIN_MIDNIGHT + 2_000);
    assert!(!allowed(&e));
}

#[test]
fn spend_in_a_calendar_window_explains_and_lists_its_window() {
    let (e, _clock) = engine(
        json!([
            {"id": "monthly", "type": "spend_limit", "field": "/amount", "max": "10.50",
             "window": "month", "tz": "Asia/Tokyo", "scope": "client"},
        ]),
        BERLIN_MIDNIGHT,
    );
    let d = e
        .enforce(&Request::new("g", json!({"amount": "10"})).client("c1"))
        .unwrap();
    assert!(d.allowed);
    assert_eq!(d.remaining["monthly"], "0.5");
    let d = e
        .enforce(&Request::new("g", json!({"amount": 1})).client("c1"))
        .unwrap();
    assert!(!d.allowed);
    let c = d.checks.iter().find(|c| c.constraint == "monthly").unwrap();
    assert_eq!(
        c.message,
        "spend 10 + 1 would exceed 10.5 per month (Asia/Tokyo)"
    );

    let state = e.cumulative_state(&CounterFilter::default()).unwrap();
    assert_eq!(
        state[0].window,
        WindowKind::Calendar {
            unit: CalendarUnit::Month,
            tz: "Asia/Tokyo".parse::<Zone>().unwrap()
        }
    );
    // May 2024 in Tokyo (+09:00): from 2024-04-30T15:00Z to 2024-05-31T15:00Z.
    let v = passgate::seam::call(&e, "cumulative_state", &json!({})).unwrap();
    let c = &v["counters"][0];
    assert_eq!(
        c["window"],
        json!({"kind": "calendar", "unit": "month", "tz": "Asia/Tokyo"})
    );
    assert_eq!(c["used"], "10");
    assert_eq!(c["window_start"], 1_714_489_200_000i64);
    assert_eq!(c["window_end"], 1_717_167_600_000i64);
    // The listed window, pasted back into a policy, is the same window.
    let (e2, _c) = engine(rate(c["window"].clone(), None), BERLIN_MIDNIGHT);
    assert!(allowed(&e2));
}

#[test]
fn a_clock_beyond_year_9999_fails_the_check_closed() {
    let (e, _clock) = engine(
        rate(json!("day"), Some("Europe/Berlin")),
        passgate::__private::calendar::MAX_MS + 1,
    );
    let d = e
        .enforce(&Request::new("g", json!({})).client("c1"))
        .unwrap();
    assert!(!d.allowed);
    let c = d.checks.iter().find(|c| c.constraint == "cap").unwrap();
    assert!(!c.passed);
    assert!(
        c.message.contains("outside the range of calendar windows"),
        "{}",
        c.message
    );
}

// Policy errors ------------------------------------------------------------------------------

fn invalid(constraint: Value) -> (String, String) {
    let doc = json!({"version": 1, "gates": {"g": {"constraints": [constraint]}}});
    match Policy::from_value(doc) {
        Err(e @ Error::PolicyInvalid { .. }) => {
            assert_eq!(e.code(), "POLICY_INVALID");
            let Error::PolicyInvalid { path, message } = e else {
                unreachable!()
            };
            (path, message)
        }
        Err(other) => panic!("expected POLICY_INVALID, got {other:?}"),
        Ok(_) => panic!("expected POLICY_INVALID for {constraint}"),
    }
}

fn rate_with(extra: Value) -> Value {
    let mut c = json!({"type": "rate_limit", "max": 1});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn calendar_policy_errors_carry_json_pointers() {
    let at = "/gates/g/constraints/0";
    let cases = [
        // An unknown zone, by name, in either place.
        (
            json!({"window": "day", "tz": "Mars/Olympus_Mons"}),
            format!("{at}/tz"),
        ),
        (
            json!({"window": "day", "tz": "europe/berlin"}),
            format!("{at}/tz"),
        ),
        (json!({"window": "day", "tz": ""}), format!("{at}/tz")),
        (json!({"window": "day", "tz": 1}), format!("{at}/tz")),
        (
            json!({"window": {"kind": "calendar", "unit": "day", "tz": "Nowhere/City"}}),
            format!("{at}/window/tz"),
        ),
        // An unknown unit.
        (json!({"window": "fortnight"}), format!("{at}/window")),
        (json!({"window": "Day"}), format!("{at}/window")),
        (
            json!({"window": {"kind": "calendar", "unit": "year"}}),
            format!("{at}/window/unit"),
        ),
        (
            json!({"window": {"kind": "calendar"}}),
            format!("{at}/window"),
        ),
        // `tz` belongs to calendar windows only, and in one place.
        (
            json!({"window": "1d", "tz": "Europe/Berlin"}),
            format!("{at}/tz"),
        ),
        (
            json!({"window": {"size": "1h", "kind": "sliding"}, "tz": "UTC"}),
            format!("{at}/tz"),
        ),
        (
            json!({"window": {"kind": "calendar", "unit": "day"}, "tz": "UTC"}),
            format!("{at}/tz"),
        ),
        (
            json!({"window": {"kind": "calendar", "unit": "day", "size": "1d"}}),
            format!("{at}/window"),
        ),
        (
            json!({"window": {"size": "day"}}),
            format!("{at}/window/size"),
        ),
    ];
    for (extra, want) in cases {
        let c = rate_with(extra.clone());
        let (path, message) = invalid(c);
        assert_eq!(path, want, "{extra}: {message}");
    }
    // A quota has no window, calendar or not (the schema refuses the extra field).
    let (path, _) = invalid(json!({"type": "quota", "max": 1, "window": "day"}));
    assert_eq!(path, at);
    // An unknown window string names the calendar units among the choices.
    let (_, m) = invalid(rate_with(json!({"window": "daily"})));
    assert!(m.contains("day|week|month"), "{m}");
    // Error messages name the zone and the choices.
    let (_, m) = invalid(rate_with(
        json!({"window": "day", "tz": "Mars/Olympus_Mons"}),
    ));
    assert!(m.contains("Mars/Olympus_Mons") && m.contains("IANA"), "{m}");
}

#[test]
fn calendar_windows_compile_in_every_form() {
    for (window, tz, unit, zone) in [
        (json!("day"), None, CalendarUnit::Day, "UTC"),
        (
            json!("week"),
            Some("Europe/Berlin"),
            CalendarUnit::Week,
            "Europe/Berlin",
        ),
        (
            json!("month"),
            Some("Asia/Kolkata"),
            CalendarUnit::Month,
            "Asia/Kolkata",
        ),
        (
            json!({"kind": "calendar", "unit": "day", "tz": "America/Sao_Paulo"}),
            None,
            CalendarUnit::Day,
            "America/Sao_Paulo",
        ),
        (
            json!({"kind": "calendar", "unit": "week"}),
            None,
            CalendarUnit::Week,
            "UTC",
        ),
    ] {
        let mut c = json!({"type": "spend_limit", "field": "/amount", "max": 5, "window": window});
        if let Some(tz) = tz {
            c["tz"] = json!(tz);
        }
        let policy =
            Policy::from_value(json!({"version": 1, "gates": {"g": {"constraints": [c]}}}))
                .unwrap();
        let g = policy.gate("g").unwrap();
        let counter = g.constraints[0].counter().unwrap();
        let w = counter.window.as_ref().unwrap();
        let cal = w.calendar.unwrap();
        assert_eq!((cal.unit, cal.tz.name()), (unit, zone));
        assert!(!w.sliding);
        assert_eq!(w.label, format!("{} ({zone})", unit.as_str()));
    }
}

/// A passport caveat (written by a delegating agent) may use a calendar window too: it only ever
/// adds a limit, and a bad zone there is refused like any malformed caveat.
#[test]
fn caveats_with_calendar_windows_compile_through_the_same_rules() {
    use passgate::Constraint;
    let ok = Constraint::compile(
        &json!({"type": "rate_limit", "max": 3, "window": "day", "tz": "Europe/Berlin"}),
        0,
        "/caveats",
    )
    .unwrap();
    assert!(ok
        .counter()
        .unwrap()
        .window
        .as_ref()
        .unwrap()
        .calendar
        .is_some());
    let err = Constraint::compile(
        &json!({"type": "rate_limit", "max": 3, "window": "day", "tz": "../../etc/localtime"}),
        0,
        "/caveats/0",
    )
    .unwrap_err();
    assert_eq!(err.code(), "POLICY_INVALID");
}
