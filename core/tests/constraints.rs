//! Every constraint type passing and failing, with the observed value and limit asserted; exact
//! decimals; wildcards; domain tricks; time windows; condition expressions; counters.

// Test helpers outside #[test] functions may unwrap and panic too (clippy.toml covers only the
// tests themselves).
#![allow(clippy::unwrap_used, clippy::panic)]

use passgate::json::{self, Limits};
use passgate::{Check, Constraint, CounterKind, EvalCtx, Rule, Scope};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Parses JSON text with the strict parser, keeping numbers exactly as written.
fn p(text: &str) -> Value {
    json::parse(text, Limits::PAYLOAD).unwrap()
}

fn compile(doc: &str) -> Constraint {
    Constraint::compile(&p(doc), 0, "/c").unwrap()
}

fn compile_err(doc: &str) -> (String, String) {
    match Constraint::compile(&p(doc), 0, "/c").unwrap_err() {
        passgate::Error::PolicyInvalid { path, message } => (path, message),
        other => panic!("expected POLICY_INVALID, got {other:?}"),
    }
}

fn check_at(doc: &str, payload: &str, now_ms: i64) -> Check {
    let payload = p(payload);
    compile(doc)
        .check(&EvalCtx {
            payload: &payload,
            now_ms,
        })
        .unwrap()
}

fn check(doc: &str, payload: &str) -> Check {
    check_at(doc, payload, 0)
}

fn passes(doc: &str, payload: &str) -> bool {
    check(doc, payload).passed
}

// ---------------------------------------------------------------------------------------------
// max_value / min_value

const MAX500: &str = r#"{"id": "per-call", "type": "max_value", "field": "/amount", "max": 500}"#;

#[test]
fn max_value_pass_and_fail_with_values() {
    let c = check(MAX500, r#"{"amount": 400}"#);
    assert!(c.passed);
    assert_eq!(c.constraint, "per-call");
    assert_eq!(c.ty, "max_value");
    assert_eq!(c.observed.as_deref(), Some("400"));
    assert_eq!(c.limit.as_deref(), Some("500"));

    let c = check(MAX500, r#"{"amount": 600}"#);
    assert!(!c.passed);
    assert_eq!(c.message, "amount 600 exceeds max 500");
    assert_eq!(c.observed.as_deref(), Some("600"));
    assert_eq!(c.limit.as_deref(), Some("500"));

    assert!(passes(MAX500, r#"{"amount": 500}"#));
    assert!(passes(MAX500, r#"{"amount": 5E2}"#));
    assert!(passes(MAX500, r#"{"amount": "499.99"}"#));
    assert!(passes(MAX500, r#"{"amount": -1000}"#));
}

#[test]
fn exact_decimals() {
    let doc = r#"{"type": "max_value", "field": "/amount", "max": "1000.00"}"#;
    let c = check(doc, r#"{"amount": 1000.000000000000000000000001}"#);
    assert!(!c.passed, "{c:?}");
    assert_eq!(c.observed.as_deref(), Some("1000.000000000000000000000001"));
    assert_eq!(c.limit.as_deref(), Some("1000"));
    assert!(passes(doc, r#"{"amount": 1000}"#));
    assert!(passes(doc, r#"{"amount": "1000.000"}"#));

    let doc = r#"{"type": "max_value", "field": "/amount", "max": 0.3}"#;
    assert!(!passes(doc, r#"{"amount": 0.30000000000000004}"#));
    assert!(passes(doc, r#"{"amount": 0.3}"#));
    let doc = r#"{"type": "min_value", "field": "/amount", "min": 0.3}"#;
    assert!(!passes(doc, r#"{"amount": 0.29999999999999999}"#));

    // A number that cannot be represented exactly fails the check; it is never rounded.
    let c = check(MAX500, r#"{"amount": 1e400}"#);
    assert!(!c.passed);
    assert!(c.message.starts_with("amount: "), "{}", c.message);
    assert!(c.message.contains("exactly"), "{}", c.message);
    let c = check(MAX500, r#"{"amount": 0.00000000000000000000000000001}"#);
    assert!(!c.passed, "29 decimal places cannot be held exactly: {c:?}");
}

#[test]
fn wrong_types_and_missing_fields_fail() {
    let c = check(MAX500, r#"{"amount": "lots"}"#);
    assert!(!c.passed);
    assert_eq!(c.message, r#"amount: "lots" is not a decimal number"#);
    let c = check(MAX500, r#"{"amount": true}"#);
    assert_eq!(c.message, "amount: expected a number, found a boolean");
    let c = check(MAX500, r#"{"amount": null}"#);
    assert!(!c.passed);
    let c = check(MAX500, r#"{"amt": 1}"#);
    assert!(!c.passed);
    assert_eq!(c.message, "field /amount is missing");
    assert_eq!(c.observed, None);
    assert_eq!(c.limit.as_deref(), Some("500"));
    assert!(!passes(MAX500, "[1]"));
}

#[test]
fn min_value() {
    let doc = r#"{"type": "min_value", "field": "/qty", "min": "-2.5"}"#;
    let c = check(doc, r#"{"qty": -3}"#);
    assert!(!c.passed);
    assert_eq!(c.message, "qty -3 is below min -2.5");
    assert_eq!(
        (c.observed.as_deref(), c.limit.as_deref()),
        (Some("-3"), Some("-2.5"))
    );
    assert!(passes(doc, r#"{"qty": -2.5}"#));
    assert_eq!(
        check(doc, r#"{"qty": 0}"#).id_type(),
        ("min_value#0", "min_value")
    );
}

trait IdType {
    fn id_type(&self) -> (&str, &str);
}
impl IdType for Check {
    fn id_type(&self) -> (&str, &str) {
        (&self.constraint, &self.ty)
    }
}

#[test]
fn wildcards_require_every_match() {
    let doc = r#"{"type": "max_value", "field": "/items/*/price", "max": 500}"#;
    let c = check(
        doc,
        r#"{"items": [{"price": 10}, {"price": 450}, {"price": 20}]}"#,
    );
    assert!(c.passed, "{c:?}");
    assert_eq!(
        c.observed.as_deref(),
        Some("450"),
        "the largest is reported"
    );
    assert!(
        c.message.contains("all 3 values of items/*/price"),
        "{}",
        c.message
    );

    let c = check(doc, r#"{"items": [{"price": 10}, {"price": 600}]}"#);
    assert!(!c.passed);
    assert_eq!(c.message, "items/1/price 600 exceeds max 500");
    assert_eq!(c.observed.as_deref(), Some("600"));

    // An item without the field is skipped; zero matches is a missing field.
    assert!(passes(doc, r#"{"items": [{"price": 1}, {"name": "x"}]}"#));
    let c = check(doc, r#"{"items": []}"#);
    assert_eq!(c.message, "field /items/*/price is missing");
    assert!(!passes(doc, r#"{"items": [{"name": "x"}]}"#));
    assert!(!passes(doc, r#"{}"#));

    // Object values too.
    let doc = r#"{"type": "allowed_values", "field": "/by_region/*", "values": ["on", "off"]}"#;
    assert!(passes(doc, r#"{"by_region": {"eu": "on", "us": "off"}}"#));
    let c = check(doc, r#"{"by_region": {"eu": "on", "us": "maybe"}}"#);
    assert_eq!(c.message, r#"by_region/us "maybe" not in [on, off]"#);
}

// ---------------------------------------------------------------------------------------------
// allowed_values / denied_values

#[test]
fn allowed_and_denied_values() {
    let doc = r#"{"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]}"#;
    let c = check(doc, r#"{"currency": "GBP"}"#);
    assert!(!c.passed);
    assert_eq!(c.message, r#"currency "GBP" not in [USD, EUR]"#);
    assert_eq!(c.observed.as_deref(), Some("GBP"));
    assert_eq!(c.limit.as_deref(), Some("[USD, EUR]"));
    assert!(passes(doc, r#"{"currency": "EUR"}"#));
    assert!(!passes(doc, r#"{"currency": "usd"}"#));
    assert!(!passes(doc, r#"{}"#));

    // Numbers compare by exact value; a number never equals a string.
    let doc = r#"{"type": "allowed_values", "field": "/n", "values": [1, 2.50, {"a": [1]}]}"#;
    assert!(passes(doc, r#"{"n": 1.0}"#));
    assert!(passes(doc, r#"{"n": 1e0}"#));
    assert!(passes(doc, r#"{"n": 2.5}"#));
    assert!(passes(doc, r#"{"n": {"a": [1.00]}}"#));
    assert!(!passes(doc, r#"{"n": "1"}"#));
    assert!(!passes(doc, r#"{"n": 1.0000000000000000000001}"#));

    let doc = r#"{"type": "denied_values", "field": "/to", "values": ["acct_blocked", 0]}"#;
    let c = check(doc, r#"{"to": "acct_blocked"}"#);
    assert!(!c.passed);
    assert_eq!(c.message, r#"to "acct_blocked" is denied"#);
    assert!(!passes(doc, r#"{"to": 0.0}"#));
    assert!(passes(doc, r#"{"to": "acct_ok"}"#));
    assert!(passes(doc, r#"{"to": "0"}"#));
    assert!(
        !passes(doc, r#"{}"#),
        "a missing field fails a deny list too"
    );
}

// ---------------------------------------------------------------------------------------------
// pattern

#[test]
fn pattern_matches_the_whole_string() {
    let doc = r#"{"type": "pattern", "field": "/to", "regex": "acct_[0-9]+"}"#;
    let c = check(doc, r#"{"to": "acct_123"}"#);
    assert!(c.passed);
    assert_eq!(c.limit.as_deref(), Some("acct_[0-9]+"));
    let c = check(doc, r#"{"to": "xacct_123"}"#);
    assert!(!c.passed);
    assert_eq!(c.message, r#"to "xacct_123" does not match acct_[0-9]+"#);
    assert!(!passes(doc, r#"{"to": "acct_123\n"}"#));
    assert!(!passes(doc, r#"{"to": "acct_123 or anything"}"#));
    let c = check(doc, r#"{"to": 123}"#);
    assert_eq!(c.message, "to: expected a string, found a number");

    // Alternation stays inside the anchors.
    let doc = r#"{"type": "pattern", "field": "/s", "regex": "a|b"}"#;
    assert!(passes(doc, r#"{"s": "b"}"#));
    assert!(!passes(doc, r#"{"s": "ab"}"#));
    assert!(!passes(doc, r#"{"s": "xb"}"#));
}

#[test]
fn pattern_compile_errors() {
    let (path, msg) = compile_err(r#"{"type": "pattern", "field": "/s", "regex": "("}"#);
    assert_eq!(path, "/c/regex");
    assert!(msg.contains("invalid regex"), "{msg}");
    let (path, _) = compile_err(r#"{"type": "pattern", "field": "/s", "regex": "a)|(b"}"#);
    assert_eq!(path, "/c/regex");
    let (path, msg) =
        compile_err(r#"{"type": "pattern", "field": "/s", "regex": "(\\w{100}){100}"}"#);
    assert_eq!(path, "/c/regex");
    assert!(msg.contains("too large"), "{msg}");
    // Look-around is not in the linear-time engine.
    let (path, _) = compile_err(r#"{"type": "pattern", "field": "/s", "regex": "(?=a)a"}"#);
    assert_eq!(path, "/c/regex");
}

// ---------------------------------------------------------------------------------------------
// allowed_domains / denied_domains

const ALLOWED: &str = r#"{"type": "allowed_domains", "field": "/url", "domains": ["Example.com.", "api.partner.io"]}"#;

fn url(u: &str) -> String {
    json!({ "url": u }).to_string()
}

#[test]
fn allowed_domains_hosts_and_subdomains() {
    for ok in [
        "https://example.com/x",
        "https://EXAMPLE.COM./x",
        "https://docs.example.com:8443/a?b#c",
        "http://a.b.example.com",
        "alice@example.com",
        "mailto:alice@mail.example.com",
        "example.com",
        "sub.example.com/path",
        "https://v2.api.partner.io/",
        "https://example.com\\@evil.com/",
    ] {
        assert!(passes(ALLOWED, &url(ok)), "{ok}");
    }
    for bad in [
        "https://evilexample.com",
        "https://example.com.evil.net",
        "https://example.com@evil.com/",
        "https://example.com:pw@evil.com/",
        "example.com@evil.com",
        "evil.com/example.com",
        "https://partner.io",
        "https://xapi.partner.io",
        "bob@example.com.evil.net",
        "https://evil.com\\@example.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "",
    ] {
        assert!(!passes(ALLOWED, &url(bad)), "{bad}");
    }
    let c = check(ALLOWED, &url("https://example.com@evil.com/"));
    assert_eq!(c.message, "url host evil.com not in allowed domains");
    assert_eq!(c.observed.as_deref(), Some("evil.com"));
    assert_eq!(c.limit.as_deref(), Some("[example.com, api.partner.io]"));
    let c = check(ALLOWED, &url("file:///etc/passwd"));
    assert_eq!(c.message, r#"url: "file:///etc/passwd" has no host"#);
    let c = check(ALLOWED, &url("https://docs.example.com"));
    assert!(c.passed);
    assert_eq!(c.observed.as_deref(), Some("docs.example.com"));
    assert!(!passes(ALLOWED, r#"{"url": 5}"#));
    assert!(!passes(ALLOWED, r#"{}"#));
}

#[test]
fn denied_domains_and_ip_forms() {
    let doc = r#"{"type": "denied_domains", "field": "/url",
                  "domains": ["localhost", "127.0.0.1", "::1", "169.254.169.254", "metadata.google.internal"]}"#;
    for bad in [
        "http://localhost/",
        "http://LOCALHOST.:8080/",
        "http://api.localhost/",
        "http://127.0.0.1/",
        "http://0x7f.0.0.1/",
        "http://2130706433/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://good.com@169.254.169.254/",
        "localhost:6379",
    ] {
        let c = check(doc, &url(bad));
        assert!(!c.passed, "{bad}");
        assert!(c.message.contains("is denied"), "{bad}: {}", c.message);
    }
    for ok in [
        "https://example.com/",
        "http://127.0.0.2/",
        "http://notlocalhost/",
        "http://[::2]/",
    ] {
        assert!(passes(doc, &url(ok)), "{ok}");
    }
    let c = check(doc, &url("http://127.1/"));
    assert_eq!(c.message, "url host 127.0.0.1 is denied (within 127.0.0.1)");
    // An unreadable value fails closed.
    assert!(!passes(doc, &url("http://[::1/")));
}

#[test]
fn domain_list_errors() {
    let (path, _) = compile_err(
        r#"{"type": "allowed_domains", "field": "/u", "domains": ["ok.com", "*.x.com"]}"#,
    );
    assert_eq!(path, "/c/domains/1");
    let (path, _) =
        compile_err(r#"{"type": "denied_domains", "field": "/u", "domains": ["https://x.com/"]}"#);
    assert_eq!(path, "/c/domains/0");
}

// ---------------------------------------------------------------------------------------------
// max_length

#[test]
fn max_length_strings_and_arrays() {
    let doc = r#"{"type": "max_length", "field": "/name", "max": 5}"#;
    let c = check(doc, r#"{"name": "héllo"}"#);
    assert!(c.passed, "five scalar values, six bytes");
    assert_eq!(
        (c.observed.as_deref(), c.limit.as_deref()),
        (Some("5"), Some("5"))
    );
    let c = check(doc, r#"{"name": "héllo!"}"#);
    assert!(!c.passed);
    assert_eq!(c.message, "name length 6 exceeds max 5");
    let doc = r#"{"type": "max_length", "field": "/tool_calls", "max": 2}"#;
    assert!(passes(doc, r#"{"tool_calls": [1, 2]}"#));
    assert!(!passes(doc, r#"{"tool_calls": [1, 2, 3]}"#));
    let c = check(doc, r#"{"tool_calls": {"a": 1}}"#);
    assert_eq!(
        c.message,
        "tool_calls: expected a string or an array, found an object"
    );
    assert!(passes(
        r#"{"type": "max_length", "field": "/s", "max": 0}"#,
        r#"{"s": ""}"#
    ));
    assert!(passes(
        r#"{"type": "max_length", "field": "/s", "max": 2.0}"#,
        r#"{"s": "ab"}"#
    ));

    let (path, _) = compile_err(r#"{"type": "max_length", "field": "/s", "max": 1.5}"#);
    assert_eq!(path, "/c/max");
    let (path, _) = compile_err(r#"{"type": "max_length", "field": "/s", "max": -1}"#);
    assert_eq!(path, "/c/max");
    let (path, _) = compile_err(r#"{"type": "max_length", "field": "/s", "max": "3"}"#);
    assert_eq!(path, "/c/max");
}

// ---------------------------------------------------------------------------------------------
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

// ---------------------------------------------------------------------------------------------
// counters, ids, unsupported types

#[test]
fn counters_compile_and_are_left_to_the_engine() {
    let c = compile(
        r#"{"id": "burst", "type": "rate_limit", "max": 10, "window": {"size": "1m", "kind": "sliding"}}"#,
    );
    let counter = c.counter().unwrap();
    assert_eq!(counter.kind, CounterKind::Rate);
    assert_eq!(counter.max.to_string(), "10");
    let w = counter.window.as_ref().unwrap();
    assert_eq!(
        (w.size_ms, w.sliding, w.label.as_str()),
        (60_000, true, "1m")
    );
    assert_eq!(counter.scope, Scope::Agent);
    assert!(counter.amount.is_none());
    let payload = json!({});
    assert!(c
        .check(&EvalCtx {
            payload: &payload,
            now_ms: 0
        })
        .is_none());

    let c = compile(
        r#"{"type": "spend_limit", "field": "/amount", "max": "1000.00", "window": "1d", "scope": "field:/to"}"#,
    );
    let Rule::Counter(counter) = &c.rule else {
        panic!()
    };
    assert_eq!(counter.kind, CounterKind::Spend);
    assert_eq!(counter.max.to_string(), "1000");
    let w = counter.window.as_ref().unwrap();
    assert_eq!(
        (w.size_ms, w.sliding),
        (86_400_000, false),
        "a window string is fixed"
    );
    assert_eq!(counter.amount.as_ref().unwrap().as_str(), "/amount");
    assert_eq!(counter.scope.to_string(), "field:/to");

    let c = compile(r#"{"type": "quota", "max": 3, "scope": "client"}"#);
    let counter = c.counter().unwrap();
    assert_eq!(
        (counter.kind, counter.window.is_none()),
        (CounterKind::Quota, true)
    );
    assert_eq!(counter.scope, Scope::Client);
    for scope in ["agent", "passport", "gate", "global", "client"] {
        compile(&format!(
            r#"{{"type": "quota", "max": 3, "scope": "{scope}"}}"#
        ));
    }
}

#[test]
fn counter_compile_errors() {
    for (doc, path) in [
        (
            r#"{"type": "rate_limit", "max": 1.5, "window": "1m"}"#,
            "/c/max",
        ),
        (
            r#"{"type": "rate_limit", "max": -1, "window": "1m"}"#,
            "/c/max",
        ),
        (
            r#"{"type": "rate_limit", "max": "10", "window": "1m"}"#,
            "/c/max",
        ),
        (r#"{"type": "quota", "max": 2.5}"#, "/c/max"),
        (
            r#"{"type": "spend_limit", "field": "/a", "max": "-5", "window": "1d"}"#,
            "/c/max",
        ),
        (
            r#"{"type": "spend_limit", "field": "/a", "max": 1e400, "window": "1d"}"#,
            "/c/max",
        ),
        (
            r#"{"type": "rate_limit", "max": 1, "window": "1w"}"#,
            "/c/window",
        ),
        (
            r#"{"type": "rate_limit", "max": 1, "window": "0m"}"#,
            "/c/window",
        ),
        (
            r#"{"type": "rate_limit", "max": 1, "window": "367d"}"#,
            "/c/window",
        ),
        (
            r#"{"type": "rate_limit", "max": 1, "window": {"size": "1x"}}"#,
            "/c/window/size",
        ),
        (
            r#"{"type": "rate_limit", "max": 1, "window": {"size": "1m", "kind": "rolling"}}"#,
            "/c/window/kind",
        ),
        (
            r#"{"type": "rate_limit", "max": 1, "window": {"kind": "fixed"}}"#,
            "/c/window",
        ),
        (r#"{"type": "rate_limit", "max": 1}"#, "/c"),
        (
            r#"{"type": "rate_limit", "max": 1, "window": "1m", "scope": "team"}"#,
            "/c/scope",
        ),
        (
            r#"{"type": "rate_limit", "max": 1, "window": "1m", "scope": "field:/a/*"}"#,
            "/c/scope",
        ),
        (r#"{"type": "quota", "max": 1, "window": "1d"}"#, "/c"),
        (r#"{"type": "spend_limit", "max": 1, "window": "1d"}"#, "/c"),
    ] {
        assert_eq!(compile_err(doc).0, path, "{doc}");
    }
}

#[test]
fn ids_and_sources() {
    let c = Constraint::compile(
        &p(r#"{"type": "max_value", "field": "/a", "max": 1}"#),
        3,
        "/x",
    )
    .unwrap();
    assert_eq!(c.id, "max_value#3");
    assert_eq!(
        c.source,
        json!({"id": "max_value#3", "type": "max_value", "field": "/a", "max": 1})
    );
    let c = compile(
        r#"{"type": "max_value", "field": "/a", "max": 1, "id": "cap", "description": "the cap"}"#,
    );
    assert_eq!(c.id, "cap");
    assert_eq!(c.description.as_deref(), Some("the cap"));
    assert_eq!(c.source.as_object().unwrap().keys().next().unwrap(), "id");
    assert_eq!(
        compile_err(r#"{"type": "max_value", "field": "/a", "max": 1, "id": ""}"#).0,
        "/c/id"
    );
    assert_eq!(
        compile_err(r#"{"type": "max_value", "field": "/a", "max": 1, "extra": 1}"#).0,
        "/c"
    );
    assert_eq!(
        compile_err(r#"{"type": "max_value", "field": "a", "max": 1}"#).0,
        "/c/field"
    );
    assert_eq!(
        compile_err(r#"{"type": "max_value", "field": "/a~2", "max": 1}"#).0,
        "/c/field"
    );
    assert_eq!(
        compile_err(r#"{"type": "max_value", "field": "/a", "max": "ten"}"#).0,
        "/c/max"
    );
    assert_eq!(compile_err(r#"{"type": "nope"}"#).0, "/c/type");
    assert_eq!(compile_err(r#"{"field": "/a"}"#).0, "/c");
    assert_eq!(compile_err(r#"[]"#).0, "/c");
}

#[test]
fn future_types_are_refused_not_ignored() {
    for doc in [
        r#"{"type": "concurrency", "max": 2}"#,
        r#"{"type": "pii", "mode": "block"}"#,
        r#"{"type": "approval", "when": {"field": "/amount", "op": "gt", "value": 100}}"#,
    ] {
        let (path, msg) = compile_err(doc);
        assert_eq!(path, "/c/type");
        assert!(msg.ends_with("is not supported yet"), "{msg}");
    }
    // ... but their parameters are still checked first.
    assert_eq!(
        compile_err(r#"{"type": "pii", "mode": "shout"}"#).0,
        "/c/mode"
    );
}

#[test]
fn constraint_types_lists_every_type_from_the_schema() {
    let types = passgate::constraint_types();
    let list = types.as_array().unwrap();
    assert_eq!(list.len(), 16);
    let names: Vec<&str> = list.iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert_eq!(names[0], "max_value");
    assert!(
        names.contains(&"approval") && names.contains(&"pii") && names.contains(&"concurrency")
    );
    for t in list {
        let name = t["type"].as_str().unwrap();
        assert!(
            t["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{name}"
        );
        let stateful = matches!(name, "rate_limit" | "spend_limit" | "quota" | "concurrency");
        assert_eq!(t["stateful"], json!(stateful), "{name}");
        assert_eq!(
            t["implemented"],
            json!(!matches!(name, "pii" | "approval" | "concurrency"))
        );
        assert_eq!(t["params"]["properties"]["type"]["const"], json!(name));
        // Each params schema stands alone.
        let v = jsonschema::validator_for(&t["params"]).unwrap();
        assert!(
            !v.is_valid(&json!({"type": name, "unknown_param": 1})),
            "{name}"
        );
    }
    let by = |n: &str| list.iter().find(|t| t["type"] == n).unwrap()["params"].clone();
    let v = jsonschema::validator_for(&by("condition")).unwrap();
    assert!(v.is_valid(
        &json!({"type": "condition", "expr": {"any": [{"field": "/a", "op": "exists"}]}})
    ));
    let v = jsonschema::validator_for(&by("spend_limit")).unwrap();
    assert!(v.is_valid(&json!({"type": "spend_limit", "field": "/a", "max": "10.5", "window": {"size": "1d", "kind": "sliding"}})));
    assert!(!v.is_valid(
        &json!({"type": "spend_limit", "field": "/a", "max": "10.5", "window": "1 day"})
    ));
}

// ---------------------------------------------------------------------------------------------
// properties

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "-?(0|[1-9][0-9]{0,39})(\\.[0-9]{1,40})?(e-?[0-9]{1,3})?".prop_map(|s| p(&s)),
        ".{0,12}".prop_map(Value::String),
        "(https?://)?[a-z@.:/\\[\\]0-9]{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z*]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn max_value_agrees_with_exact_decimal_order(a in any::<i64>(), sa in 0u32..20, m in any::<i64>(), sm in 0u32..20) {
        let amount = rust_decimal::Decimal::new(a, sa);
        let max = rust_decimal::Decimal::new(m, sm);
        let doc = format!(r#"{{"type": "max_value", "field": "/x", "max": "{max}"}}"#);
        let c = check(&doc, &format!(r#"{{"x": {amount}}}"#));
        prop_assert_eq!(c.passed, amount <= max);
    }

    #[test]
    fn checks_never_panic(payload in arb_json(), now in any::<i64>()) {
        let docs = [
            MAX500,
            r#"{"type": "min_value", "field": "/*/*", "min": 0}"#,
            r#"{"type": "allowed_values", "field": "/a", "values": [1, "x", null]}"#,
            r#"{"type": "pattern", "field": "/*", "regex": "[a-z]+"}"#,
            ALLOWED,
            r#"{"type": "denied_domains", "field": "/*", "domains": ["localhost", "::1"]}"#,
            r#"{"type": "max_length", "field": "/a", "max": 3}"#,
            r#"{"type": "time_window", "days": ["mon"], "start": "22:00", "end": "02:00", "tz": "Asia/Kolkata"}"#,
            r#"{"type": "condition", "expr": {"any": [{"field": "/*", "op": "gt", "value": 1}, {"field": "/a", "op": "contains", "value": "x"}, {"not": {"field": "/b/*", "op": "matches", "value": "a+"}}]}}"#,
        ];
        for doc in docs {
            let c = compile(doc);
            let check = c.check(&EvalCtx { payload: &payload, now_ms: now }).unwrap();
            prop_assert!(!check.message.is_empty());
        }
    }

    #[test]
    fn pointer_agrees_with_serde_json_without_wildcards(doc in arb_json(), path in prop::collection::vec("[a-z0-9]{1,2}", 0..4)) {
        let s: String = path.iter().map(|seg| format!("/{seg}")).collect();
        let ptr = passgate::Pointer::parse(&s).unwrap();
        prop_assert_eq!(ptr.resolve_one(&doc), doc.pointer(&s));
    }
}
