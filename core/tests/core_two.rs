//! PII guard (with its measured false positives), delegated budgets, anonymous access, policy
//! hot-swap and `allowed_gates`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

mod support;

use passgate::clock::ManualClock;
use passgate::constraint::pii::{scan, PiiKind};
use passgate::{AttestationFilter, Issuer, PassportRequest, Policy, Request, Verdict};
use serde_json::{json, Value};
use support::{engine, T0};

fn pii_policy() -> Value {
    json!({"version": 1, "gates": {
        "mail.send": {"require": ["mail"], "constraints": [{"id": "no-pii", "type": "pii", "mode": "block"}]},
        "notes.save": {"require": ["mail"], "constraints": [{"id": "scrub", "type": "pii", "mode": "redact", "field": "/body"}]},
        "chat.log": {"require": ["mail"], "constraints": [{"id": "watch", "type": "pii", "mode": "log_only", "kinds": ["card"]}]}
    }})
}

#[test]
fn pii_block_redact_and_log_only() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(pii_policy(), &issuer, &clock);
    let t = issuer
        .issue_passport_at(&PassportRequest::new("a", ["mail"]), T0 / 1000)
        .unwrap()
        .token;
    let run = |gate: &str, payload: Value| {
        e.enforce(&Request::new(gate, payload).passport(&t))
            .unwrap()
    };

    let d = run(
        "mail.send",
        json!({"to": "team", "body": "card 4111 1111 1111 1111, call +1 415 555 2671"}),
    );
    assert_eq!(d.decision, Verdict::Deny);
    let c = d.checks.iter().find(|c| c.constraint == "no-pii").unwrap();
    assert_eq!(c.message, "personal data found: card, phone at /body");
    assert_eq!(c.observed.as_deref(), Some("2"));
    assert!(
        run(
            "mail.send",
            json!({"body": "see order ORD-2026-1142 shipped 2026-11-21"})
        )
        .allowed
    );

    let d = run(
        "notes.save",
        json!({"title": "jane@example.com", "body": {"text": "SSN 123-45-6789; IBAN GB82 WEST 1234 5698 7654 32"}}),
    );
    assert!(d.allowed);
    assert_eq!(
        d.redacted_payload.unwrap(),
        json!({"title": "jane@example.com", "body": {"text": "SSN [REDACTED:ssn]; IBAN [REDACTED:iban]"}}),
        "only under field, each match by kind"
    );
    // The attestation never holds the payload, only its hash.
    assert!(!d.attestation.unwrap().to_string().contains("123-45-6789"));

    let d = run(
        "chat.log",
        json!({"m": ["pay with 5555-5555-5555-4444", "mail me at x@y.io"]}),
    );
    assert!(d.allowed);
    let c = d.checks.iter().find(|c| c.constraint == "watch").unwrap();
    assert_eq!(c.message, "personal data found (logged only): card at /m/0");
}

/// False positives measured on ordinary text: none of these may be flagged; the true positives
/// all must be. The counts are printed (`cargo test -- --nocapture`).
#[test]
fn pii_false_positive_behaviour_on_ordinary_text() {
    let ordinary = [
        "Order ORD-2026-1142 shipped on 2026-11-21 at 14:05",
        "Invoice #INV-00012345 total 1,234.56 EUR due 21/12/2026",
        "tracking 1Z999AA10123456784",
        "build 4.11.1111 released; see v2.3.15-rc.1",
        "the population was 1234567890123 in the model (not a card: Luhn fails)",
        "timestamp 1767225600000 epoch ms",
        "ISBN 978-3-16-148410-0",
        "coordinates 48.8566, 2.3522 and altitude 35",
        "phone extension 4021, room 12-345",
        "SKU 000-12-3456 is not an SSN (area 000)",
        "weights 0.1000000000000000001 and 3.14159265358979",
        "UUID 123e4567-e89b-12d3-a456-426614174000",
        "account acct_9f2k3j4h, ref GB-2026-7788",
        "ratio 415-555 and score 555-2671",
        "serial ABCD1234EFGH5678 and code DE12",
        "call me at noon, or email the team channel",
        "temperature +21.5C, pressure +1013 hPa",
        "version 2026.11.21.1234567",
    ];
    let positives = [
        ("mail jane.doe@example.com", PiiKind::Email),
        ("ring +49 30 901820", PiiKind::Phone),
        ("ring +1 (415) 555-2671", PiiKind::Phone),
        ("ring (212) 555-0100", PiiKind::Phone),
        ("visa 4012 8888 8888 1881", PiiKind::Card),
        ("amex 378282246310005", PiiKind::Card),
        ("iban FR14 2004 1010 0505 0001 3M02 606", PiiKind::Iban),
        ("iban NL91ABNA0417164300", PiiKind::Iban),
        ("ssn 078-05-1120", PiiKind::Ssn),
    ];
    let false_positives: Vec<_> = ordinary
        .iter()
        .filter(|s| !scan(s, &PiiKind::ALL).is_empty())
        .collect();
    let misses: Vec<_> = positives
        .iter()
        .filter(|(s, k)| {
            scan(s, &PiiKind::ALL)
                .iter()
                .map(|f| f.kind)
                .collect::<Vec<_>>()
                != [*k]
        })
        .collect();
    println!(
        "pii: {} ordinary strings, {} flagged; {} true positives, {} missed",
        ordinary.len(),
        false_positives.len(),
        positives.len(),
        misses.len()
    );
    assert!(
        false_positives.is_empty(),
        "false positives: {false_positives:?}"
    );
    assert!(misses.is_empty(), "missed: {misses:?}");
}

/// An agent mints a sub-passport whose caveat reuses the gate's constraint id (`daily`) with a
/// cap of its own choosing. Both caps are enforced, and `remaining` under the shared id reports
/// the tighter of the two, whichever side declared it: a looser caveat cannot make the agent's
/// budget look larger, and the record carries the same figure.
#[test]
fn a_caveat_reusing_the_gates_constraint_id_reports_the_tighter_remaining() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(
        json!({"version": 1, "gates": {"payments.send": {"require": ["pay"], "constraints": [
            {"id": "daily", "type": "spend_limit", "field": "/amount", "max": "100.00", "window": "1d"}
        ]}}}),
        &issuer,
        &clock,
    );
    let root = issuer
        .issue_passport_at(&PassportRequest::new("planner", ["pay"]), T0 / 1000)
        .unwrap();
    let sub = |max: u64| {
        root.issue_sub_passport_at(
            &PassportRequest::new("worker", ["pay"])
                .with_expires_in_secs(3600)
                .with_caveat(
                    json!({"id": "daily", "type": "spend_limit", "field": "/amount",
                                    "max": max, "window": "1d"}),
                ),
            T0 / 1000,
        )
        .unwrap()
        .token
    };
    let pay = |t: &str, n: i64| {
        e.enforce(&Request::new("payments.send", json!({"amount": n})).passport(t))
            .unwrap()
    };
    // The caveat is looser (1,000 a day): the gate's cap (100.00, its own scale) is reported.
    let loose = sub(1000);
    let d = pay(&loose, 30);
    assert!(d.allowed, "{:?}", d.checks);
    assert_eq!(d.remaining["daily"], "70.00");
    let record = d.attestation.as_ref().unwrap();
    assert_eq!(record["body"]["remaining"]["daily"], "70.00");
    // The caveat is tighter (50 a day, its own counter): the caveat's figure is reported.
    let tight = sub(50);
    let d = pay(&tight, 30);
    assert!(d.allowed, "{:?}", d.checks);
    assert_eq!(d.remaining["daily"], "20");
    // The tighter cap holds: 30 more is over the caveat's 50 though under the gate's 100.00.
    let d = pay(&tight, 30);
    assert_eq!(d.decision, Verdict::Deny);
}

#[test]
fn sub_agents_share_their_ancestors_caveat_budgets() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine(
        json!({"version": 1, "gates": {"payments.send": {"require": ["pay"]}}}),
        &issuer,
        &clock,
    );
    let root = issuer
        .issue_passport_at(
            &PassportRequest::new("planner", ["pay"]).with_caveat(json!({"id": "fleet-budget", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"})),
            T0 / 1000,
        )
        .unwrap();
    let sub = |name: &str| {
        root.issue_sub_passport_at(
            &PassportRequest::new(name, ["pay"]).with_expires_in_secs(3600),
            T0 / 1000,
        )
        .unwrap()
        .token
    };
    let (w1, w2) = (sub("worker-1"), sub("worker-2"));
    let pay = |t: &str, n: i64| {
        e.enforce(&Request::new("payments.send", json!({"amount": n})).passport(t))
            .unwrap()
    };
    let d = pay(&w1, 60);
    assert!(d.allowed);
    assert_eq!(d.remaining["fleet-budget"], "40");
    let d = pay(&w2, 60);
    assert_eq!(d.decision, Verdict::Deny);
    let c = d
        .checks
        .iter()
        .find(|c| c.constraint == "fleet-budget")
        .unwrap();
    assert_eq!(c.max_admissible.as_deref(), Some("40"));
    assert_eq!(d.remaining["fleet-budget"], "40");
    assert!(pay(&w2, 40).allowed);
    assert!(
        !pay(&root.token, 1).allowed,
        "the root's own spend counts against the same cap"
    );
}

#[test]
fn anonymous_callers_and_their_log() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let policy = json!({"version": 1, "gates": {"catalog.read": {"require": ["catalog"], "constraints": [{"id": "q", "type": "max_length", "field": "/q", "max": 10}]}},
        "anonymous": {"gates": ["catalog.read", "status.read"], "constraints": [{"id": "anon", "type": "rate_limit", "max": 1, "window": "1m", "scope": "client"}]}});
    let e = engine(policy, &issuer, &clock);
    let anon = |gate: &str, client: &str, q: &str| {
        e.enforce(&Request::new(gate, json!({"q": q})).client(client))
            .unwrap()
    };
    assert!(
        anon("status.read", "1.2.3.4", "x").allowed,
        "an anonymous-only gate needs no definition"
    );
    assert!(
        !anon("catalog.read", "1.2.3.4", "x").allowed,
        "the anonymous limits are per client across the section"
    );
    let t = issuer
        .issue_passport_at(&PassportRequest::new("a", ["catalog"]), T0 / 1000)
        .unwrap()
        .token;
    assert!(
        e.enforce(&Request::new("catalog.read", json!({"q": "x"})).passport(&t))
            .unwrap()
            .allowed
    );
    let d = anon("catalog.read", "5.6.7.8", "a very long query");
    assert!(!d.allowed, "the defined gate's constraints apply too");
    let log = e.anonymous_log(&AttestationFilter::default()).unwrap();
    assert_eq!(log.len(), 3);
    assert!(log
        .iter()
        .all(|r| r["body"]["agent_id"].is_null() && r["body"]["client"].is_string()));
}

#[test]
fn set_policy_swaps_gates_and_keeps_counters_holds_and_chain() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let p1 = json!({"version": 1, "gates": {"g": {"require": ["x"], "constraints": [{"id": "cap", "type": "spend_limit", "field": "/n", "max": 10, "window": "1d"}]}}});
    let e = engine(p1.clone(), &issuer, &clock);
    let t = issuer
        .issue_passport_at(&PassportRequest::new("a", ["x"]), T0 / 1000)
        .unwrap()
        .token;
    let go = |n: i64, hold: bool| {
        e.enforce(&Request::new("g", json!({"n": n})).passport(&t).hold(hold))
            .unwrap()
    };
    let h = go(4, true).hold_id.unwrap();
    let before = go(1, false).policy_hash;
    let mut p2 = p1.clone();
    p2["gates"]["h"] = json!({"require": ["x"]});
    e.set_policy(Policy::from_value(p2).unwrap()).unwrap();
    let d = go(1, false);
    assert_ne!(d.policy_hash, before);
    assert_eq!(
        d.attestation.as_ref().unwrap()["body"]["policy_hash"],
        json!(d.policy_hash)
    );
    assert_eq!(d.remaining["cap"], "4");
    e.settle(&h, Some(&json!({"n": 2}))).unwrap();
    assert_eq!(go(6, false).remaining["cap"], "0");
    let recs = e.attestations(&AttestationFilter::default()).unwrap();
    passgate::verify_chain(&recs, e.signer_did()).unwrap();
}

#[test]
fn allowed_gates_filters_by_permissions_and_time() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0 + 10 * 3600 * 1000); // Thursday 10:00 UTC
    let policy = json!({"version": 1, "gates": {
        "payments.send": {"require": ["payments:send"]},
        "payments.refund": {"require": ["payments:refund"]},
        "reports.read": {"require": ["reports:read"], "constraints": [{"type": "time_window", "days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]},
        "night.batch": {"require": ["reports:read"], "constraints": [{"type": "time_window", "start": "22:00", "end": "06:00"}]}
    }, "anonymous": {"gates": ["status.read"]}});
    let e = engine(policy, &issuer, &clock);
    let t = issuer
        .issue_passport_at(
            &PassportRequest::new("a", ["payments:*", "reports:read"]),
            T0 / 1000,
        )
        .unwrap()
        .token;
    assert_eq!(
        e.allowed_gates(Some(&t)).unwrap(),
        ["payments.refund", "payments.send", "reports.read"]
    );
    clock.advance_ms(13 * 3600 * 1000); // 23:00
    assert_eq!(
        e.allowed_gates(Some(&t)).unwrap(),
        ["night.batch", "payments.refund", "payments.send"]
    );
    assert_eq!(e.allowed_gates(None).unwrap(), ["status.read"]);
    assert_eq!(
        e.allowed_gates(Some("nope")).unwrap_err().code(),
        "PASSPORT_MALFORMED"
    );
}
