//! `time_window` (fixed epoch instants, wrap-around, `24:00`, days, time zones) and `condition`
//! (every op and combinator, missing fields, wildcards, compile errors).

// Test helpers outside #[test] functions may unwrap and panic too (clippy.toml covers only the
// tests themselves).
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use passgate::Check;
use support::{check, check_at, compile, compile_err};

// time_window (2024-01-05 is a Friday)

const FRI_0900: i64 = 1_704_445_200_000;
const FRI_1000: i64 = 1_704_448_800_000;
const FRI_1659: i64 = 1_704_473_940_000;
const FRI_1700: i64 = 1_704_474_000_000;
const FRI_0200: i64 = 1_704_420_000_000;
const FRI_2300: i64 = 1_704_495_600_000;
const FRI_2359: i64 = 1_704_499_140_000;
const SAT_0000: i64 = 1_704_499_200_000;
const SAT_0200: i64 = 1_704_506_400_000;
const SAT_0600: i64 = 1_704_520_800_000;
const SAT_1000: i64 = 1_704_535_200_000;
const SAT_2300: i64 = 1_704_582_000_000;
const FRI_0830: i64 = 1_704_443_400_000;
const FRI_1630: i64 = 1_704_472_200_000;
const JUL_FRI_0730: i64 = 1_720_164_600_000;

fn in_window(doc: &str, now_ms: i64) -> bool {
    check_at(doc, "{}", now_ms).passed
}

#[test]
fn office_hours_utc() {
    let doc = r#"{"id": "office", "type": "time_window", "days": ["mon", "tue", "wed", "thu", "fri"],
                  "start": "09:00", "end": "17:00"}"#;
    assert!(in_window(doc, FRI_0900), "start is inclusive");
    assert!(in_window(doc, FRI_1000));
    assert!(in_window(doc, FRI_1659));
    assert!(!in_window(doc, FRI_1700), "end is exclusive");
    assert!(!in_window(doc, SAT_1000), "saturday");
    let c = check_at(doc, "{}", SAT_1000);
    assert_eq!(c.observed.as_deref(), Some("2024-01-06 Sat 10:00"));
    assert_eq!(
        c.limit.as_deref(),
        Some("mon,tue,wed,thu,fri 09:00-17:00 UTC")
    );
    assert_eq!(
        c.message,
        "time 2024-01-06 Sat 10:00 outside window mon,tue,wed,thu,fri 09:00-17:00 UTC"
    );
}

#[test]
fn window_wrapping_past_midnight_belongs_to_its_start_day() {
    let doc = r#"{"type": "time_window", "days": ["fri"], "start": "22:00", "end": "06:00"}"#;
    assert!(in_window(doc, FRI_2300));
    assert!(
        in_window(doc, SAT_0200),
        "saturday 02:00 is friday night's window"
    );
    assert!(!in_window(doc, SAT_0600), "end is exclusive");
    assert!(
        !in_window(doc, SAT_2300),
        "saturday's own night is not listed"
    );
    assert!(
        !in_window(doc, FRI_0200),
        "friday 02:00 belongs to thursday's window"
    );
    assert!(!in_window(doc, FRI_1000));
}

#[test]
fn end_of_day_and_defaults() {
    let doc = r#"{"type": "time_window", "start": "18:00", "end": "24:00"}"#;
    assert!(in_window(doc, FRI_2359));
    assert!(!in_window(doc, SAT_0000));
    assert!(!in_window(doc, FRI_1700));
    let all_day = r#"{"type": "time_window"}"#;
    assert!(in_window(all_day, SAT_0000) && in_window(all_day, FRI_2359));
    let weekend = r#"{"type": "time_window", "days": ["sat", "sun"]}"#;
    assert!(in_window(weekend, SAT_0000) && !in_window(weekend, FRI_2359));
}

#[test]
fn time_zones() {
    let doc = r#"{"type": "time_window", "days": ["fri"], "start": "09:00", "end": "17:00", "tz": "Europe/Paris"}"#;
    assert!(in_window(doc, FRI_0830), "09:30 in Paris (UTC+1 in winter)");
    assert!(!in_window(doc, FRI_1630), "17:30 in Paris");
    assert!(
        in_window(doc, JUL_FRI_0730),
        "09:30 in Paris (UTC+2 in summer)"
    );
    let c = check_at(doc, "{}", FRI_1630);
    assert_eq!(c.observed.as_deref(), Some("2024-01-05 Fri 17:30"));
    // Saturday 02:00 UTC is still Friday 21:00 in New York.
    let ny = r#"{"type": "time_window", "days": ["fri"], "tz": "America/New_York"}"#;
    assert!(in_window(ny, SAT_0200));
    assert!(!in_window(ny, SAT_1000));
}

#[test]
fn time_window_compile_errors() {
    for (doc, path) in [
        (r#"{"type": "time_window", "tz": "Mars/Olympus"}"#, "/c/tz"),
        (r#"{"type": "time_window", "start": "24:00"}"#, "/c/start"),
        (r#"{"type": "time_window", "start": "9:00"}"#, "/c/start"),
        (r#"{"type": "time_window", "end": "24:01"}"#, "/c/end"),
        (
            r#"{"type": "time_window", "start": "10:00", "end": "10:00"}"#,
            "/c/end",
        ),
        (
            r#"{"type": "time_window", "days": ["monday"]}"#,
            "/c/days/0",
        ),
        (r#"{"type": "time_window", "days": []}"#, "/c/days"),
        (
            r#"{"type": "time_window", "days": ["mon", "mon"]}"#,
            "/c/days",
        ),
    ] {
        assert_eq!(compile_err(doc).0, path, "{doc}");
    }
}

// ---------------------------------------------------------------------------------------------
// condition

fn cond(expr: &str, payload: &str) -> Check {
    check(
        &format!(r#"{{"type": "condition", "expr": {expr}}}"#),
        payload,
    )
}

fn holds(expr: &str, payload: &str) -> bool {
    cond(expr, payload).passed
}

#[test]
fn condition_every_op() {
    let pay = r#"{"amount": 150.50, "to": "acct_live_7", "tags": ["a", "b"], "n": null, "s": "1"}"#;
    let cases: &[(&str, bool)] = &[
        (r#"{"field": "/amount", "op": "eq", "value": 150.5}"#, true),
        (
            r#"{"field": "/amount", "op": "eq", "value": "150.5"}"#,
            false,
        ),
        (r#"{"field": "/s", "op": "eq", "value": 1}"#, false),
        (r#"{"field": "/amount", "op": "ne", "value": 150}"#, true),
        (
            r#"{"field": "/amount", "op": "ne", "value": 150.500}"#,
            false,
        ),
        (r#"{"field": "/amount", "op": "lt", "value": 150.51}"#, true),
        (
            r#"{"field": "/amount", "op": "lt", "value": "150.50"}"#,
            false,
        ),
        (
            r#"{"field": "/amount", "op": "lte", "value": "150.50"}"#,
            true,
        ),
        (
            r#"{"field": "/amount", "op": "gt", "value": 150.4999999999999999999}"#,
            true,
        ),
        (r#"{"field": "/amount", "op": "gt", "value": 150.5}"#, false),
        (r#"{"field": "/amount", "op": "gte", "value": 150.5}"#, true),
        (r#"{"field": "/s", "op": "gte", "value": 1}"#, true),
        (r#"{"field": "/to", "op": "lt", "value": 1}"#, false),
        (
            r#"{"field": "/to", "op": "in", "value": ["acct_live_7", "x"]}"#,
            true,
        ),
        (
            r#"{"field": "/amount", "op": "in", "value": [1, 150.500]}"#,
            true,
        ),
        (r#"{"field": "/to", "op": "in", "value": []}"#, false),
        (
            r#"{"field": "/to", "op": "contains", "value": "live"}"#,
            true,
        ),
        (
            r#"{"field": "/to", "op": "contains", "value": "test"}"#,
            false,
        ),
        (
            r#"{"field": "/tags", "op": "contains", "value": "b"}"#,
            true,
        ),
        (
            r#"{"field": "/tags", "op": "contains", "value": "c"}"#,
            false,
        ),
        (
            r#"{"field": "/amount", "op": "contains", "value": 1}"#,
            false,
        ),
        (
            r#"{"field": "/to", "op": "starts_with", "value": "acct_"}"#,
            true,
        ),
        (
            r#"{"field": "/to", "op": "starts_with", "value": "live"}"#,
            false,
        ),
        (
            r#"{"field": "/to", "op": "matches", "value": "acct_(live|test)_[0-9]+"}"#,
            true,
        ),
        (
            r#"{"field": "/to", "op": "matches", "value": "live"}"#,
            false,
        ),
        (r#"{"field": "/to", "op": "exists"}"#, true),
        (r#"{"field": "/n", "op": "exists", "value": true}"#, true),
        (r#"{"field": "/nope", "op": "exists"}"#, false),
        (
            r#"{"field": "/nope", "op": "exists", "value": false}"#,
            true,
        ),
        (r#"{"field": "/to", "op": "exists", "value": false}"#, false),
    ];
    for (expr, want) in cases {
        assert_eq!(holds(expr, pay), *want, "{expr}");
    }
}

#[test]
fn condition_missing_field_is_false_for_every_op_but_exists() {
    for op in [
        r#""op": "eq", "value": 1"#,
        r#""op": "ne", "value": 1"#,
        r#""op": "lt", "value": 1"#,
        r#""op": "lte", "value": 1"#,
        r#""op": "gt", "value": 1"#,
        r#""op": "gte", "value": 1"#,
        r#""op": "in", "value": [1]"#,
        r#""op": "contains", "value": 1"#,
        r#""op": "starts_with", "value": "a""#,
        r#""op": "matches", "value": ".*""#,
    ] {
        let expr = format!(r#"{{"field": "/missing", {op}}}"#);
        let c = cond(&expr, "{}");
        assert!(!c.passed, "{op}");
        assert_eq!(c.message, "condition not met: /missing is missing");
    }
}

#[test]
fn condition_combinators_and_explanations() {
    let pay = r#"{"amount": 50, "to": "acct_test_1"}"#;
    let all = r#"{"all": [{"field": "/amount", "op": "lt", "value": 100},
                          {"field": "/to", "op": "starts_with", "value": "acct_live"}]}"#;
    let c = cond(all, pay);
    assert!(!c.passed);
    assert_eq!(
        c.message,
        r#"condition not met: /to is "acct_test_1", not starts_with "acct_live""#
    );
    let any = r#"{"any": [{"field": "/amount", "op": "gt", "value": 100},
                          {"field": "/to", "op": "starts_with", "value": "acct_test"}]}"#;
    assert!(holds(any, pay));
    let none = r#"{"any": [{"field": "/amount", "op": "gt", "value": 100}, {"field": "/x", "op": "exists"}]}"#;
    assert_eq!(
        cond(none, pay).message,
        "condition not met: none of: /amount is 50, not gt 100; /x is missing"
    );
    let not = r#"{"not": {"field": "/amount", "op": "lt", "value": 100}}"#;
    let c = cond(not, pay);
    assert!(!c.passed);
    assert_eq!(
        c.message,
        "condition not met: not (/amount lt 100) is false"
    );
    assert!(holds(
        r#"{"not": {"not": {"field": "/amount", "op": "eq", "value": 50}}}"#,
        pay
    ));
    let c = cond(
        r#"{"all": [{"any": [{"field": "/a", "op": "exists"}, {"field": "/amount", "op": "eq", "value": 50}]},
                   {"not": {"field": "/to", "op": "in", "value": ["blocked"]}}]}"#,
        pay,
    );
    assert!(c.passed);
    assert_eq!(c.message, "condition holds");
    assert_eq!(c.ty, "condition");
}

#[test]
fn condition_wildcards_need_every_match() {
    let pay = r#"{"items": [{"price": 10}, {"price": 90}]}"#;
    assert!(holds(
        r#"{"field": "/items/*/price", "op": "lt", "value": 100}"#,
        pay
    ));
    let c = cond(
        r#"{"field": "/items/*/price", "op": "lt", "value": 50}"#,
        pay,
    );
    assert_eq!(
        c.message,
        "condition not met: /items/1/price is 90, not lt 50"
    );
    assert!(!holds(
        r#"{"field": "/none/*", "op": "ne", "value": 1}"#,
        pay
    ));
    assert!(holds(r#"{"field": "/items/*/price", "op": "exists"}"#, pay));
    assert!(holds(
        r#"{"field": "/items/*/nope", "op": "exists", "value": false}"#,
        pay
    ));
}

#[test]
fn condition_compile_errors() {
    let c = |expr: &str| compile_err(&format!(r#"{{"type": "condition", "expr": {expr}}}"#)).0;
    assert_eq!(
        c(r#"{"field": "/a", "op": "like", "value": 1}"#),
        "/c/expr/op"
    );
    assert_eq!(
        c(r#"{"field": "a", "op": "eq", "value": 1}"#),
        "/c/expr/field"
    );
    assert_eq!(
        c(r#"{"field": "/a", "op": "in", "value": 1}"#),
        "/c/expr/value"
    );
    assert_eq!(
        c(r#"{"field": "/a", "op": "lt", "value": "x"}"#),
        "/c/expr/value"
    );
    assert_eq!(
        c(r#"{"field": "/a", "op": "lt", "value": 1e400}"#),
        "/c/expr/value"
    );
    assert_eq!(
        c(r#"{"field": "/a", "op": "matches", "value": "("}"#),
        "/c/expr/value"
    );
    assert_eq!(
        c(r#"{"field": "/a", "op": "exists", "value": "yes"}"#),
        "/c/expr/value"
    );
    assert_eq!(c(r#"{"field": "/a", "op": "eq"}"#), "/c/expr");
    assert_eq!(c(r#"{"all": []}"#), "/c/expr/all");
    assert_eq!(
        c(r#"{"all": [{"field": "/a", "op": "nope"}]}"#),
        "/c/expr/all/0/op"
    );
    assert_eq!(
        c(r#"{"not": {"field": "/a", "op": "exists"}, "all": [{"field": "/a", "op": "exists"}]}"#),
        "/c/expr"
    );

    // 32 levels are fine, 33 are not.
    let nest = |n: usize| {
        let mut e = r#"{"field": "/a", "op": "exists"}"#.to_string();
        for _ in 1..n {
            e = format!(r#"{{"not": {e}}}"#);
        }
        e
    };
    compile(&format!(r#"{{"type": "condition", "expr": {}}}"#, nest(32)));
    let (path, msg) = compile_err(&format!(r#"{{"type": "condition", "expr": {}}}"#, nest(33)));
    assert!(path.starts_with("/c/expr/not/not/"), "{path}");
    assert!(msg.contains("deeper than 32"), "{msg}");
}
