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

// ---------------------------------------------------------------------------------------------
// F6 / F14: domain checks read the value as the client that uses it does, and only one of it.

fn domains(ty: &str, listed: &str, value: &str) -> passgate::Check {
    check(
        &format!(r#"{{"type": "{ty}", "field": "/to", "domains": ["{listed}"]}}"#),
        &json!({ "to": value }).to_string(),
    )
}

/// The value fails both `allowed_domains` (listing `listed`) and `denied_domains` (listing
/// `other`), with `why` in both messages.
fn refused_both_ways(value: &str, listed: &str, other: &str, why: &str) {
    for (ty, d) in [("allowed_domains", listed), ("denied_domains", other)] {
        let c = domains(ty, d, value);
        assert!(!c.passed, "{ty} {value:?} passed: {}", c.message);
        assert!(c.message.contains(why), "{ty} {value:?}: {}", c.message);
    }
}

#[test]
fn backslash_url_escapes_denied_domains() {
    for url in [
        r"https:\\evil.com",
        r"http:\evil.com",
        r"https:/\evil.com/",
        r"https://good.com\@evil.com/",
        r"https://evil.com\x",
    ] {
        refused_both_ways(url, "good.com", "evil.com", "backslash");
    }
}

#[test]
fn single_slash_url_escapes_denied_domains() {
    // WHATWG fetch goes to evil.com for each of these.
    for url in [
        "https:/evil.com",
        "https:evil.com",
        "HTTPS:/EVIL.com/x",
        "wss:evil.com",
        "ftp:/sub.evil.com",
    ] {
        let c = domains("denied_domains", "evil.com", url);
        assert!(!c.passed, "{url}: {}", c.message);
        assert!(c.message.contains("is denied"), "{url}: {}", c.message);
        assert!(!domains("allowed_domains", "good.com", url).passed, "{url}");
    }
}

#[test]
fn userinfo_url_escapes_allowed_domains() {
    for url in [
        r"https://good.com\@evil.com/",
        "https://good.com@evil.com/",
        "https://good.com:443@evil.com/",
        "https://@evil.com/",
        "https:good.com@evil.com",
        "git://good.com@evil.com/repo",
    ] {
        let c = domains("allowed_domains", "good.com", url);
        assert!(!c.passed, "{url}: {}", c.message);
    }
    refused_both_ways(
        "https://good.com@evil.com/",
        "good.com",
        "evil.com",
        "userinfo",
    );
    refused_both_ways("https://x:y@good.com/", "good.com", "evil.com", "userinfo");
}

#[test]
fn whitespace_or_control_padded_url_escapes_domain_checks() {
    for (url, why) in [
        (" https://evil.com", "whitespace"),
        ("https://evil.com ", "whitespace"),
        ("\thttps://evil.com", "control character"),
        ("https://evil.com\n", "control character"),
        ("\u{a0}https://evil.com", "whitespace"),
        ("https://evil.com\u{2003}", "whitespace"),
        ("https://evil.com\u{0}", "control character"),
        ("https://evil.com\u{7f}", "control character"),
    ] {
        refused_both_ways(url, "evil.com", "evil.com", why);
    }
}

#[test]
fn recipient_list_smuggles_foreign_domain_past_allowed_domains() {
    assert!(domains("allowed_domains", "acme.com", "ap@acme.com").passed);
    assert!(domains("allowed_domains", "acme.com", "mailto:ap@acme.com").passed);
    for (value, why) in [
        ("x@evil.example, y@acme.com", "whitespace"),
        ("x@evil.example,y@acme.com", "more than one @"),
        ("x@evil.example;y@acme.com", "more than one @"),
        ("x@evil.example\ny@acme.com", "control character"),
        ("x@evil.example@acme.com", "more than one @"),
        ("ap@acme.com\r\n", "control character"),
        ("\"x@evil.example\"@acme.com", "more than one @"),
        ("X<x@acme.com>", "in an e-mail address"),
        ("evil.example,acme.com", "not part of one host"),
        ("mailto:x@evil.example,y@acme.com", "more than one @"),
        ("mailto:y@acme.com?cc=x@evil.example", "mailto with headers"),
    ] {
        refused_both_ways(value, "acme.com", "evil.example", why);
    }
}

#[test]
fn recipient_list_hides_denied_domain() {
    assert!(!domains("denied_domains", "evil.example", "x@evil.example").passed);
    assert!(domains("denied_domains", "evil.example", "y@acme.com").passed);
    for value in [
        "y@acme.com, x@evil.example",
        "y@acme.com;x@evil.example",
        "y@acme.com,x@evil.example",
        "y@acme.com\r\nBcc: x@evil.example",
    ] {
        let c = domains("denied_domains", "evil.example", value);
        assert!(!c.passed, "{value:?}: {}", c.message);
        assert!(c.message.contains("refused"), "{value:?}: {}", c.message);
    }
}

#[test]
fn host_with_port_is_still_a_host() {
    // `example.com:8080/x` looks like scheme `example.com:`; it is read as a host with a port.
    let c = domains("allowed_domains", "example.com", "example.com:8080/x");
    assert!(c.passed, "{}", c.message);
    let c = domains("denied_domains", "evil.com", "evil.com:8080/x");
    assert!(!c.passed, "{}", c.message);
}

// ---------------------------------------------------------------------------------------------
// F5: serde_json's private number key, sent as a plain object, is never a number.

const TOKEN_OBJECT: &str = r#"{"amount": {"$serde_json::private::Number": "007"}}"#;

#[test]
fn number_token_object_text_is_refused_not_read_as_a_number() {
    use passgate::__private::json::{self, Context, Limits};
    for text in [
        TOKEN_OBJECT,
        r#"{"amount": {"$serde_json::private::Number": "1"}}"#,
        r#"{"amount": {"$serde_json::private::Number": "1e999999"}}"#,
        r#"{"amount": {"$serde_json::private::Number": "-"}}"#,
        r#"{"amount": {"$serde_json::private::Numbe\u0072": "7"}}"#,
        r#"{"amount": {"x": 1, "$serde_json::private::Number": "7"}}"#,
    ] {
        let e = json::parse_in(text, Limits::PAYLOAD, Context::Payload).unwrap_err();
        assert_eq!(e.code(), "PAYLOAD_INVALID", "{text}");
        assert!(e.to_string().contains("reserved"), "{e}");
    }
}

#[test]
fn number_token_object_built_in_memory_is_refused_by_enforce() {
    // What a binding builds from a dict / JS object with that key.
    let (engine, token) = gate(json!([{"type": "max_value", "field": "/amount", "max": 100}]));
    for payload in [
        json!({"amount": {"$serde_json::private::Number": "007"}}),
        json!({"amount": {"$serde_json::private::Number": "7"}}),
        json!({"amount": 1, "meta": [{"$serde_json::private::Number": "7"}]}),
    ] {
        let e = engine
            .enforce(&Request::new("g", payload.clone()).passport(&token))
            .unwrap_err();
        assert_eq!(e.code(), "PAYLOAD_INVALID", "{payload}");
    }
    // And a number whose text is not JSON never reaches a record.
    let bad = Value::Number(serde_json::Number::from_string_unchecked("007".into()));
    let built = Value::Object(serde_json::Map::from_iter([("amount".to_string(), bad)]));
    let e = engine
        .enforce(&Request::new("g", built).passport(&token))
        .unwrap_err();
    assert_eq!(e.code(), "PAYLOAD_INVALID");
}

#[test]
fn number_token_object_fails_max_value() {
    let payload = json!({"amount": {"$serde_json::private::Number": "007"}});
    let c = passgate::Constraint::compile(
        &json!({"type": "max_value", "field": "/amount", "max": 100}),
        0,
        "/c",
    )
    .unwrap()
    .check(&passgate::EvalCtx {
        payload: &payload,
        now_ms: 0,
    })
    .unwrap();
    assert!(!c.passed);
    assert!(
        c.message.contains("expected a number, found an object"),
        "{}",
        c.message
    );
    let canonical = passgate::__private::json::canonical_normalized(&payload).unwrap();
    assert!(!canonical.contains(":007"), "{canonical}");
    assert!(!canonical.contains(r#""amount":7"#), "{canonical}");
}

// ---------------------------------------------------------------------------------------------
// F12: a number and its string are different requests.

#[test]
fn string_amount_reuses_idempotency_key_of_number_amount() {
    let (engine, token) = gate(json!([{"type": "max_value", "field": "/amount", "max": 100}]));
    let req = |payload: &str| {
        Request::new("g", p(payload))
            .passport(&token)
            .idempotency_key("k1")
    };
    let first = engine.enforce(&req(r#"{"amount": 1}"#)).unwrap();
    assert!(!first.replayed);
    // The same number written differently is the same request: a replay.
    let again = engine.enforce(&req(r#"{"amount": 1.0}"#)).unwrap();
    assert!(again.replayed);
    let e = engine.enforce(&req(r#"{"amount": "1"}"#)).unwrap_err();
    assert_eq!(e.code(), "IDEMPOTENCY_CONFLICT");
    let e = engine.enforce(&req(r#"{"amount": [1]}"#)).unwrap_err();
    assert_eq!(e.code(), "IDEMPOTENCY_CONFLICT");
}

#[test]
fn string_amount_has_its_own_request_hash() {
    let (engine, token) = gate(json!([]));
    let hash = |payload: &str| {
        let d = enforce(&engine, &token, payload);
        d.attestation.unwrap()["body"]["request_hash"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let number = hash(r#"{"x": 1}"#);
    assert_ne!(number, hash(r#"{"x": "1"}"#));
    assert_eq!(number, hash(r#"{"x": 1.0}"#));
    assert_eq!(number, hash(r#"{"x": 1e0}"#));
    assert_ne!(hash(r#"{"x": [0.1]}"#), hash(r#"{"x": ["0.1"]}"#));
    assert_ne!(
        hash(r#"{"x": 0.1}"#),
        hash(r#"{"x": 0.1000000000000000001}"#)
    );
}

#[test]
fn string_amount_does_not_reuse_approval_of_number_amount() {
    let (engine, token) = gate(json!([{"type": "approval",
        "when": {"field": "/amount", "op": "gt", "value": 1000}}]));
    let d = enforce(&engine, &token, r#"{"amount": 5000}"#);
    assert_eq!(d.decision, Verdict::Escalate);
    let approval = engine.approve(&d.evaluation_id, "cfo", None).unwrap();
    let with = |payload: &str| {
        engine
            .enforce(
                &Request::new("g", p(payload))
                    .passport(&token)
                    .approval(&approval),
            )
            .unwrap()
    };
    let other = with(r#"{"amount": "5000"}"#);
    assert_eq!(other.decision, Verdict::Deny);
    assert!(other
        .checks
        .iter()
        .any(|c| c.code.as_deref() == Some("APPROVAL_PAYLOAD_MISMATCH")));
    assert_eq!(with(r#"{"amount": 5000.0}"#).decision, Verdict::Allow);
}

#[test]
fn string_scope_value_shares_the_number_budget() {
    // The other direction: for a `field:` counter scope, `7` and `"7"` are one account, so an
    // agent alternating between them does not get two budgets.
    let (engine, token) = gate(json!([{"type": "rate_limit", "max": 1, "window": "1h",
        "scope": "field:/account"}]));
    assert!(enforce(&engine, &token, r#"{"account": 7}"#).allowed);
    assert!(!enforce(&engine, &token, r#"{"account": "7"}"#).allowed);
    assert!(!enforce(&engine, &token, r#"{"account": 7.0}"#).allowed);
    assert!(enforce(&engine, &token, r#"{"account": 8}"#).allowed);
}

// ---------------------------------------------------------------------------------------------
// F13: personal data in keys, numbers and other scripts' digits.

const PII_BLOCK: &str = r#"{"id": "pii", "type": "pii", "mode": "block"}"#;

fn blocked(payload: &str, kind: &str, at: &str) {
    let c = check(PII_BLOCK, payload);
    assert!(!c.passed, "{payload}: {}", c.message);
    assert_eq!(
        c.message,
        format!("personal data found: {kind} at {at}"),
        "{payload}"
    );
}

#[test]
fn card_number_sent_as_json_number_passes_pii_block() {
    blocked(r#"{"memo": 4111111111111111}"#, "card", "/memo");
    blocked(r#"{"memo": 4.111111111111111e15}"#, "card", "/memo");
    blocked(r#"{"memo": [1, 5555555555554444]}"#, "card", "/memo/1");
    assert!(check(PII_BLOCK, r#"{"memo": 4111111111111112}"#).passed);
}

#[test]
fn phone_sent_as_json_number_passes_pii_block() {
    blocked(r#"{"callback": 4155552671}"#, "phone", "/callback");
    blocked(r#"{"callback": 14155552671}"#, "phone", "/callback");
    // Epoch seconds and small amounts are not phones.
    assert!(check(PII_BLOCK, r#"{"t": 1767225600, "amount": 4155.52}"#).passed);
}

#[test]
fn pii_hidden_in_object_key_passes_pii_block() {
    blocked(
        r#"{"to": {"jane.doe@example.com": true}}"#,
        "email",
        "/to/jane.doe@example.com",
    );
    blocked(
        r#"{"4111 1111 1111 1111": 1}"#,
        "card",
        "/4111 1111 1111 1111",
    );
    blocked(
        r#"{"notes": {"ssn 123-45-6789": null}}"#,
        "ssn",
        "/notes/ssn 123-45-6789",
    );
}

#[test]
fn non_ascii_digits_card_passes_pii_block() {
    for card in [
        "４１１１ １１１１ １１１１ １１１１",
        "٤١١١١١١١١١١١١١١١",
        "۴۱۱۱-۱۱۱۱-۱۱۱۱-۱۱۱۱",
        "४१११ ११११ ११११ ११११",
    ] {
        blocked(&json!({ "memo": card }).to_string(), "card", "/memo");
    }
    blocked(
        &json!({"memo": "ssn ١٢٣-٤٥-٦٧٨٩"}).to_string(),
        "ssn",
        "/memo",
    );
}

#[test]
fn pii_in_keys_numbers_and_other_digits_is_redacted() {
    let (engine, token) = gate(json!([{"id": "pii", "type": "pii", "mode": "redact"}]));
    let d = engine
        .enforce(
            &Request::new(
                "g",
                json!({
                    "jane@example.com": {"card": 4111111111111111_u64, "qty": 2},
                    "memo": "card ４１１１ １１１１ １１１１ １１１１, thanks",
                    "callback": 4155552671_u64,
                }),
            )
            .passport(&token),
        )
        .unwrap();
    assert!(d.allowed);
    assert_eq!(
        d.redacted_payload.unwrap(),
        json!({
            "[REDACTED:email]": {"card": "[REDACTED:card]", "qty": 2},
            "memo": "card [REDACTED:card], thanks",
            "callback": "[REDACTED:phone]",
        })
    );
}
