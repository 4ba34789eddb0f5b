//! Every constraint type passing and failing, with the observed value and limit asserted; exact
//! decimals; wildcards; domain tricks; counters; ids. Time windows and conditions are in
//! `time_and_conditions.rs`.

// Test helpers outside #[test] functions may unwrap and panic too (clippy.toml covers only the
// tests themselves).
#![allow(clippy::unwrap_used, clippy::panic)]

mod support;

use passgate::__private::json::{self, Limits};
use passgate::{Constraint, CounterKind, EvalCtx, Rule, Scope};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::{check, compile, compile_err, p};

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
    let c = check(doc, r#"{"qty": 0}"#);
    assert_eq!(
        (c.constraint.as_str(), c.ty.as_str()),
        ("min_value#0", "min_value")
    );
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
        "https://example.com\\@evil.com/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "",
    ] {
        assert!(!passes(ALLOWED, &url(bad)), "{bad}");
    }
    let c = check(ALLOWED, &url("https://evil.com/"));
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
    // Userinfo is refused outright (clients disagree on where it ends).
    let c = check(doc, &url("http://good.com@169.254.169.254/"));
    assert!(!c.passed);
    assert!(c.message.contains("userinfo"), "{}", c.message);
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
fn concurrency_pii_and_approval_compile_and_check_their_parameters() {
    for doc in [
        r#"{"type": "concurrency", "max": 2}"#,
        r#"{"type": "pii", "mode": "block", "kinds": ["email", "card"]}"#,
        r#"{"type": "approval", "when": {"field": "/amount", "op": "gt", "value": 100}}"#,
    ] {
        Constraint::compile(&json::parse(doc, Limits::POLICY).unwrap(), 0, "/c").unwrap();
    }
    assert_eq!(
        compile_err(r#"{"type": "pii", "mode": "shout"}"#).0,
        "/c/mode"
    );
    assert_eq!(
        compile_err(r#"{"type": "pii", "mode": "block", "kinds": ["dna"]}"#).0,
        "/c/kinds/0"
    );
    assert_eq!(
        compile_err(r#"{"type": "concurrency", "max": 1.5}"#).0,
        "/c/max"
    );
    assert_eq!(
        compile_err(r#"{"type": "concurrency", "max": 1, "window": "1m"}"#).0,
        "/c"
    );
    assert_eq!(
        compile_err(r#"{"type": "approval", "when": {"op": "eq"}}"#).0,
        "/c/when"
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

#[test]
fn deep_documents_are_refused_not_recursed() {
    let mut expr = json!({"field": "/a", "op": "exists"});
    for _ in 0..10_000 {
        let mut m = serde_json::Map::new();
        m.insert("not".into(), expr);
        expr = Value::Object(m);
    }
    let mut doc = serde_json::Map::new();
    doc.insert("type".into(), Value::from("condition"));
    doc.insert("expr".into(), expr);
    let doc = Value::Object(doc);
    let e = Constraint::compile(&doc, 0, "/c").unwrap_err();
    assert_eq!(e.code(), "LIMIT_EXCEEDED");
    // Dropping 10,000 nested maps recurses inside serde_json; not what this test is about.
    std::mem::forget(doc);
}
