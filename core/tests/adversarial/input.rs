//! Attacks through payload values: what the agent puts in its arguments.

use passgate::clock::ManualClock;
use passgate::{Decision, Engine, Issuer, PassportRequest, Request, Verdict};
use serde_json::{json, Value};

use crate::support::{check, p, T0};

/// An engine whose gate `g` has `constraints`, and a passport allowed to use it.
fn gate(constraints: Value) -> (Engine, String) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let policy =
        json!({"version": 1, "gates": {"g": {"require": ["g"], "constraints": constraints}}});
    let engine = crate::support::engine(policy, &issuer, &clock);
    let token = issuer
        .issue_passport_at(&PassportRequest::new("agent", ["g"]), T0 / 1000)
        .unwrap()
        .token;
    (engine, token)
}

fn enforce(engine: &Engine, token: &str, payload: &str) -> Decision {
    engine
        .enforce(&Request::new("g", p(payload)).passport(token))
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// F4: a comparison on a value that cannot be read as a decimal is unknown, never false.

/// Values a host may read as a large amount but that are not exact decimals for us.
const UNREADABLE_AMOUNTS: [&str; 5] = [
    "1e30",
    "79228162514264337593543950336",
    "1000.00000000000000000000000000001",
    r#""5000 ""#,
    r#""\t5000""#,
];

#[test]
fn unreadable_amount_still_escalates_approval() {
    let (engine, token) = gate(json!([{"id": "big", "type": "approval",
        "when": {"field": "/amount", "op": "gt", "value": 1000}}]));
    assert_eq!(
        enforce(&engine, &token, r#"{"amount": 10}"#).decision,
        Verdict::Allow
    );
    for amount in UNREADABLE_AMOUNTS {
        let d = enforce(&engine, &token, &format!(r#"{{"amount": {amount}}}"#));
        assert_eq!(d.decision, Verdict::Escalate, "{amount}");
        let c = d.checks.iter().find(|c| c.constraint == "big").unwrap();
        assert_eq!(c.code.as_deref(), Some("APPROVAL_REQUIRED"));
        assert!(c.message.contains("cannot be decided"), "{}", c.message);
        assert!(c.message.contains("/amount"), "{}", c.message);
    }
}

#[test]
fn unreadable_amount_escalates_approval_under_not() {
    // "approval unless amount <= 1000": an unreadable amount must not be taken as small.
    let (engine, token) = gate(json!([{"id": "big", "type": "approval",
        "when": {"not": {"field": "/amount", "op": "lte", "value": 1000}}}]));
    assert_eq!(
        enforce(&engine, &token, r#"{"amount": 10}"#).decision,
        Verdict::Allow
    );
    for amount in UNREADABLE_AMOUNTS {
        let d = enforce(&engine, &token, &format!(r#"{{"amount": {amount}}}"#));
        assert_eq!(d.decision, Verdict::Escalate, "{amount}");
    }
}

#[test]
fn unreadable_amount_fails_negated_condition() {
    let doc = r#"{"type": "condition", "expr": {"not": {"field": "/amount", "op": "gt", "value": 1000}}}"#;
    assert!(check(doc, r#"{"amount": 999}"#).passed);
    for amount in UNREADABLE_AMOUNTS {
        let c = check(doc, &format!(r#"{{"amount": {amount}}}"#));
        assert!(!c.passed, "{amount}");
        assert!(
            c.message
                .starts_with("condition cannot be decided: /amount is "),
            "{}",
            c.message
        );
        assert!(
            c.message.contains("cannot be read as a number for gt 1000"),
            "{}",
            c.message
        );
    }
}

#[test]
fn unreadable_amount_fails_condition_through_any_and_all() {
    // any(not(amount > 1000), currency == "XXX"): Kleene — unknown or false is unknown.
    let doc = r#"{"type": "condition", "expr": {"any": [
        {"not": {"field": "/amount", "op": "gt", "value": 1000}},
        {"field": "/currency", "op": "eq", "value": "XXX"}]}}"#;
    assert!(!check(doc, r#"{"amount": "5000 ", "currency": "USD"}"#).passed);
    assert!(check(doc, r#"{"amount": "5000 ", "currency": "XXX"}"#).passed);
    let doc = r#"{"type": "condition", "expr": {"all": [
        {"field": "/currency", "op": "eq", "value": "USD"},
        {"not": {"field": "/amount", "op": "gte", "value": 1000}}]}}"#;
    assert!(!check(doc, r#"{"amount": 1e30, "currency": "USD"}"#).passed);
    assert!(check(doc, r#"{"amount": 1e2, "currency": "USD"}"#).passed);
}

#[test]
fn absent_amount_is_not_unknown() {
    // Absence keeps its meaning: not(amount > 1000) holds, `exists` still decides.
    let doc = r#"{"type": "condition", "expr": {"not": {"field": "/amount", "op": "gt", "value": 1000}}}"#;
    assert!(check(doc, "{}").passed);
    let (engine, token) = gate(json!([{"type": "approval",
        "when": {"field": "/amount", "op": "gt", "value": 1000}}]));
    assert_eq!(enforce(&engine, &token, "{}").decision, Verdict::Allow);
}
