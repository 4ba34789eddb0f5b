//! Behaviour of the engine: decisions, fail-closed, monitor mode, caveats, idempotency, dry run,
//! attestations.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

mod support;

use support::T0;

use passgate::clock::ManualClock;
use passgate::{
    attestation, AttestationFilter, CounterFilter, Engine, Issuer, PassportRequest, Request,
    Verdict,
};
use serde_json::{json, Value};

fn policy() -> Value {
    json!({
        "version": 1,
        "gates": {
            "payments.send": {
                "require": ["payments:send"],
                "constraints": [
                    { "id": "per-call", "type": "max_value", "field": "/amount", "max": 500 },
                    { "id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"] },
                    { "id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": "1000.00", "window": "1d", "scope": "agent" },
                    { "id": "burst", "type": "rate_limit", "max": 10, "window": { "size": "1m", "kind": "sliding" } }
                ]
            },
            "web.fetch": {
                "require": ["web:fetch"],
                "mode": "monitor",
                "constraints": [ { "id": "domains", "type": "allowed_domains", "field": "/url", "domains": ["example.com"] } ]
            },
            "org.spend": {
                "require": ["payments:*"],
                "constraints": [ { "id": "org-budget", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d", "scope": "global" } ]
            },
            "org.spend2": {
                "require": ["payments:*"],
                "constraints": [ { "id": "org-budget", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d", "scope": "global" } ]
            }
        }
    })
}

struct Fixture {
    issuer: Issuer,
    clock: ManualClock,
    engine: Engine,
}

fn fixture() -> Fixture {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = support::engine(policy(), &issuer, &clock);
    Fixture {
        issuer,
        clock,
        engine,
    }
}

fn passport(f: &Fixture, agent: &str, perms: &[&str]) -> String {
    let req = PassportRequest::new(agent, perms.iter().copied());
    f.issuer
        .issue_passport_at(&req, f.clock.now_secs())
        .unwrap()
        .token
}

trait Secs {
    fn now_secs(&self) -> i64;
}
impl Secs for ManualClock {
    fn now_secs(&self) -> i64 {
        use passgate::clock::Clock;
        self.now_ms() / 1000
    }
}

fn pay(token: &str, amount: Value) -> Request {
    Request::new(
        "payments.send",
        json!({ "amount": amount, "currency": "USD" }),
    )
    .passport(token)
}

fn no_fractional_numbers(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.is_i64() || n.is_u64(),
        Value::Array(a) => a.iter().all(no_fractional_numbers),
        Value::Object(o) => o.values().all(no_fractional_numbers),
        _ => true,
    }
}

fn check<'a>(d: &'a passgate::Decision, id: &str) -> &'a passgate::Check {
    d.checks
        .iter()
        .find(|c| c.constraint == id)
        .unwrap_or_else(|| panic!("no check {id} in {:#?}", d.checks))
}

#[test]
fn allows_then_denies_at_the_daily_cap_with_every_check_explained() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    let d = f.engine.enforce(&pay(&t, json!(400))).unwrap();
    assert_eq!(d.decision, Verdict::Allow);
    assert_eq!(d.remaining["daily-spend"], "600");
    assert_eq!(d.remaining["burst"], "9");
    for id in [
        "passport",
        "gate",
        "permissions",
        "per-call",
        "currency",
        "daily-spend",
        "burst",
    ] {
        assert!(check(&d, id).passed, "{id}");
    }
    f.engine.enforce(&pay(&t, json!("400.00"))).unwrap();
    let d = f.engine.enforce(&pay(&t, json!(400))).unwrap();
    assert_eq!(d.decision, Verdict::Deny);
    assert!(!d.allowed);
    let c = check(&d, "daily-spend");
    assert!(!c.passed);
    assert_eq!(c.observed.as_deref(), Some("1200"));
    assert_eq!(c.limit.as_deref(), Some("1000"));
    assert_eq!(c.max_admissible.as_deref(), Some("200"));
    assert_eq!(c.message, "spend 800 + 400 would exceed 1000 per 1d");
    // Unchanged when not admitted.
    assert_eq!(d.remaining["daily-spend"], "200");
    // The rest still reported, passing.
    assert!(check(&d, "per-call").passed && check(&d, "burst").passed);
    // 200 still fits exactly.
    assert!(f.engine.enforce(&pay(&t, json!(200))).unwrap().allowed);
    // A new UTC day resets the fixed window.
    f.clock.advance_ms(24 * 3600 * 1000);
    let t = passport(&f, "a1", &["payments:send"]);
    assert!(f.engine.enforce(&pay(&t, json!(400))).unwrap().allowed);
}

#[test]
fn all_failed_checks_reported_at_once() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    let req =
        Request::new("payments.send", json!({ "amount": 900, "currency": "GBP" })).passport(&t);
    let d = f.engine.enforce(&req).unwrap();
    let failed: Vec<&str> = d.failed().map(|c| c.constraint.as_str()).collect();
    assert_eq!(failed, ["per-call", "currency"]);
    // A denied request counts nothing.
    let s = f
        .engine
        .cumulative_state(&CounterFilter::default())
        .unwrap();
    assert!(s.iter().all(|c| c.used.is_zero()), "{s:?}");
}

#[test]
fn fails_closed() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    // Unknown gate.
    let d = f
        .engine
        .enforce(&Request::new("nope", json!({})).passport(&t))
        .unwrap();
    assert_eq!(d.decision, Verdict::Deny);
    assert_eq!(check(&d, "gate").code.as_deref(), Some("GATE_UNKNOWN"));
    // Missing permission.
    let t2 = passport(&f, "a2", &["web:fetch"]);
    let d = f.engine.enforce(&pay(&t2, json!(1))).unwrap();
    assert!(!check(&d, "permissions").passed);
    // No passport and no anonymous section.
    let d = f
        .engine
        .enforce(&Request::new(
            "payments.send",
            json!({"amount": 1, "currency": "USD"}),
        ))
        .unwrap();
    assert_eq!(
        check(&d, "passport").code.as_deref(),
        Some("PASSPORT_MISSING")
    );
    // Forged passport.
    let mut forged = t.clone();
    forged.pop();
    forged.push(if t.ends_with('A') { 'B' } else { 'A' });
    let d = f.engine.enforce(&pay(&forged, json!(1))).unwrap();
    assert_eq!(d.decision, Verdict::Deny);
    assert!(matches!(
        check(&d, "passport").code.as_deref(),
        Some("PASSPORT_SIGNATURE" | "PASSPORT_MALFORMED")
    ));
    // No policy at all.
    let bare = Engine::builder()
        .trusted_issuer(f.issuer.did())
        .build()
        .unwrap();
    let d = bare.enforce(&pay(&t, json!(1))).unwrap();
    assert_eq!(d.decision, Verdict::Deny);
    // Untrusted issuer.
    let other = Issuer::generate().unwrap();
    let t3 = other
        .issue_passport(&PassportRequest::new("x", ["payments:send"]))
        .unwrap()
        .token;
    let d = f.engine.enforce(&pay(&t3, json!(1))).unwrap();
    assert_eq!(
        check(&d, "passport").code.as_deref(),
        Some("ISSUER_UNTRUSTED")
    );
}

#[test]
fn revocation_is_checked_on_every_request() {
    let f = fixture();
    let issued = f
        .issuer
        .issue_passport_at(&PassportRequest::new("a1", ["payments:send"]), T0 / 1000)
        .unwrap();
    assert!(
        f.engine
            .enforce(&pay(&issued.token, json!(1)))
            .unwrap()
            .allowed
    );
    f.engine.revoke_passport(&issued.passport_id).unwrap();
    let d = f.engine.enforce(&pay(&issued.token, json!(1))).unwrap();
    assert_eq!(
        check(&d, "passport").code.as_deref(),
        Some("PASSPORT_REVOKED")
    );
    assert_eq!(
        f.engine.verify_passport(&issued.token).unwrap_err().code(),
        "PASSPORT_REVOKED"
    );
}

#[test]
fn reissue_revokes_the_old_passport() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    let new = f.engine.reissue(&t, &f.issuer, None).unwrap();
    assert_eq!(new.agent_id, "a1");
    assert!(
        f.engine
            .enforce(&pay(&new.token, json!(1)))
            .unwrap()
            .allowed
    );
    assert!(!f.engine.enforce(&pay(&t, json!(1))).unwrap().allowed);
}

#[test]
fn monitor_mode_allows_and_records_failures_but_never_a_bad_passport() {
    let f = fixture();
    let t = passport(&f, "a1", &["web:fetch"]);
    let d = f
        .engine
        .enforce(&Request::new("web.fetch", json!({"url": "https://evil.test/x"})).passport(&t))
        .unwrap();
    assert_eq!(d.mode, "monitor");
    assert!(d.allowed);
    assert!(!check(&d, "domains").passed);
    let d = f
        .engine
        .enforce(
            &Request::new("web.fetch", json!({"url": "https://evil.test/x"})).passport("x.y.z"),
        )
        .unwrap();
    assert!(!d.allowed);
}

#[test]
fn global_scope_is_shared_across_gates() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:*"]);
    let t2 = passport(&f, "a2", &["payments:*"]);
    let r = |gate: &str, tok: &str, n: i64| Request::new(gate, json!({"amount": n})).passport(tok);
    assert!(f.engine.enforce(&r("org.spend", &t, 60)).unwrap().allowed);
    let d = f.engine.enforce(&r("org.spend2", &t2, 60)).unwrap();
    assert!(!d.allowed, "{:#?}", d.checks);
    assert_eq!(
        check(&d, "org-budget").max_admissible.as_deref(),
        Some("40")
    );
}

#[test]
fn caveats_apply_on_top_of_the_gate() {
    let f = fixture();
    let mut req = PassportRequest::new("a1", ["payments:send"]);
    req.caveats = vec![json!({"id": "small", "type": "max_value", "field": "/amount", "max": 50})];
    let t = f.issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    assert!(f.engine.enforce(&pay(&t, json!(50))).unwrap().allowed);
    let d = f.engine.enforce(&pay(&t, json!(51))).unwrap();
    assert!(!check(&d, "small").passed);
}

#[test]
fn dry_run_changes_nothing() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    for _ in 0..5 {
        let d = f
            .engine
            .dry_run(&pay(&t, json!(400)).idempotency_key("k"))
            .unwrap();
        assert!(d.dry_run && d.allowed && d.attestation.is_none());
        assert_eq!(d.remaining["daily-spend"], "600");
    }
    assert!(f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap()
        .is_empty());
    // The key was not consumed.
    let d = f
        .engine
        .enforce(&pay(&t, json!(400)).idempotency_key("k"))
        .unwrap();
    assert!(!d.replayed);
}

#[test]
fn idempotency_replays_and_conflicts() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    let first = f
        .engine
        .enforce(
            &pay(&t, json!(400))
                .idempotency_key("pay-1")
                .trace(json!({"mcp_request": 1})),
        )
        .unwrap();
    // Same request, other trace metadata: the stored decision, nothing counted.
    let again = f
        .engine
        .enforce(
            &pay(&t, json!(400))
                .idempotency_key("pay-1")
                .trace(json!({"mcp_request": 2})),
        )
        .unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.evaluation_id, first.evaluation_id);
    assert_eq!(again.attestation, first.attestation);
    let d = f.engine.enforce(&pay(&t, json!(1))).unwrap();
    assert_eq!(d.remaining["daily-spend"], "599");
    // Same key, other payload.
    let e = f
        .engine
        .enforce(&pay(&t, json!(401)).idempotency_key("pay-1"))
        .unwrap_err();
    assert_eq!(e.code(), "IDEMPOTENCY_CONFLICT");
    // 400 and 400.0 are the same request.
    assert!(
        f.engine
            .enforce(&pay(&t, json!(400.0)).idempotency_key("pay-1"))
            .unwrap()
            .replayed
    );
}

#[test]
fn attestations_chain_and_verify() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    for i in 0..5 {
        f.engine
            .enforce(&pay(&t, json!(300 + i)).trace(json!({"session": "s1", "n": 1.5})))
            .unwrap();
    }
    f.engine
        .record_attestation("host.note", &json!({"note": "hello", "amount": 0.1}))
        .unwrap();
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    assert_eq!(recs.len(), 6);
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
    for r in &recs {
        attestation::verify_attestation(r, f.engine.signer_did()).unwrap();
        assert!(
            no_fractional_numbers(&r["body"]),
            "no floats in bodies: {r}"
        );
    }
    let b = &recs[0]["body"];
    assert_eq!(b["seq"], 1);
    assert!(b["prev"].is_null());
    assert_eq!(b["decision"], "allow");
    assert_eq!(b["trace"]["n"], "1.5");
    assert_eq!(recs[1]["body"]["prev"], recs[0]["hash"]);
    // Filters.
    let denied = f
        .engine
        .attestations(&AttestationFilter {
            decision: Some("deny".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(denied.len(), 2);
    let one = f
        .engine
        .attestations(&AttestationFilter {
            limit: Some(1),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(one, recs[..1]);
    let eid = recs[2]["body"]["evaluation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_id = f
        .engine
        .attestations(&AttestationFilter {
            evaluation_id: Some(eid),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_id, recs[2..3]);
}

#[test]
fn chain_tampering_is_pinpointed() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    for _ in 0..4 {
        f.engine.enforce(&pay(&t, json!(10))).unwrap();
    }
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    let did = f.engine.signer_did().to_string();
    let code = |r: &[Value]| attestation::verify_chain(r, &did).unwrap_err().code();
    let mut changed = recs.clone();
    changed[2]["body"]["decision"] = json!("deny");
    assert_eq!(code(&changed), "ATTESTATION_HASH");
    let mut dropped = recs.clone();
    dropped.remove(1);
    assert_eq!(code(&dropped), "CHAIN_GAP");
    assert_eq!(code(&recs[1..]), "CHAIN_GAP");
    let mut dup = recs.clone();
    dup.insert(2, recs[1].clone());
    assert_eq!(code(&dup), "CHAIN_DUPLICATE");
    let mut swapped = recs.clone();
    swapped.swap(1, 2);
    assert_eq!(code(&swapped), "CHAIN_ORDER");
    let other = Issuer::generate().unwrap();
    assert_eq!(
        attestation::verify_chain(&recs, other.did())
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
    let mut resigned = recs.clone();
    resigned[0]["kid"] = json!(other.did());
    assert_eq!(
        attestation::verify_chain(&resigned, other.did())
            .unwrap_err()
            .code(),
        "ATTESTATION_SIGNATURE"
    );
    let mut badsig = recs.clone();
    badsig[3]["sig"] = recs[2]["sig"].clone();
    let e = attestation::verify_chain(&badsig, &did).unwrap_err();
    assert_eq!(e.code(), "ATTESTATION_SIGNATURE");
    assert!(e.to_string().contains("record 3"), "{e}");
    let other_engine = fixture().engine;
    other_engine.record_attestation("x", &json!({})).unwrap();
    let mut mixed = recs.clone();
    mixed.extend(
        other_engine
            .attestations(&AttestationFilter::default())
            .unwrap(),
    );
    assert_eq!(
        attestation::verify_chain(&mixed, &did).unwrap_err().code(),
        "ATTESTATION_KEY"
    );
    assert_eq!(
        attestation::verify_attestation(&json!({"body": 1}), &did)
            .unwrap_err()
            .code(),
        "ATTESTATION_MALFORMED"
    );
}

#[test]
fn set_policy_keeps_counters_and_changes_the_hash() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    let d1 = f.engine.enforce(&pay(&t, json!(400))).unwrap();
    let mut p = policy();
    p["gates"]["payments.send"]["constraints"][0]["max"] = json!(450);
    f.engine
        .set_policy(passgate::Policy::from_value(p).unwrap())
        .unwrap();
    let d2 = f.engine.enforce(&pay(&t, json!(400))).unwrap();
    assert_ne!(d1.policy_hash, d2.policy_hash);
    assert_eq!(d2.remaining["daily-spend"], "200");
    assert_eq!(
        d2.attestation.unwrap()["body"]["policy_hash"],
        json!(d2.policy_hash)
    );
}

#[test]
fn bad_arguments_are_typed_errors() {
    let f = fixture();
    let t = passport(&f, "a1", &["payments:send"]);
    let e = |r: Request| f.engine.enforce(&r).unwrap_err().code();
    assert_eq!(
        e(Request::new("payments.send", json!([1]))),
        "PAYLOAD_INVALID"
    );
    assert_eq!(e(Request::new("", json!({}))), "INVALID_ARGUMENT");
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    assert_eq!(
        e(Request::new("payments.send", json!({"a": deep}))),
        "LIMIT_EXCEEDED"
    );
    assert_eq!(
        e(Request::new(
            "payments.send",
            json!({"a": "x".repeat(10 << 20)})
        )),
        "LIMIT_EXCEEDED"
    );
    assert_eq!(
        e(Request::new("payments.send", json!({})).passport("x".repeat(1 << 20))),
        "LIMIT_EXCEEDED"
    );
    // A number that cannot be written exactly is an error, not a rounding.
    let huge: Value = passgate::__private::json::parse(
        r#"{"amount": 1e400, "currency": "USD"}"#,
        passgate::__private::json::Limits::PAYLOAD,
    )
    .unwrap();
    assert_eq!(
        e(Request::new("payments.send", huge).passport(&t)),
        "PAYLOAD_INVALID"
    );
    // One that fits the hash but not a decimal amount fails its checks.
    let big: Value = passgate::__private::json::parse(
        r#"{"amount": 1e40, "currency": "USD"}"#,
        passgate::__private::json::Limits::PAYLOAD,
    )
    .unwrap();
    let d = f
        .engine
        .enforce(&Request::new("payments.send", big).passport(&t))
        .unwrap();
    assert!(!d.allowed);
    assert!(!check(&d, "per-call").passed && !check(&d, "daily-spend").passed);
}
