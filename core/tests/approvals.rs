//! Action-bound approvals: escalate, approve / deny, single use, every refusal with its reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

mod support;

use support::T0;

use passgate::clock::ManualClock;
use passgate::{attestation, AttestationFilter, Engine, Issuer, PassportRequest, Request, Verdict};
use serde_json::{json, Value};

struct F {
    engine: Engine,
    clock: ManualClock,
    alice: String,
    bob: String,
}

fn fixture() -> F {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let policy = json!({"version": 1, "gates": {"payments.send": {"require": ["pay"], "constraints": [
        {"id": "per-call", "type": "max_value", "field": "/amount", "max": 10000},
        {"id": "daily", "type": "spend_limit", "field": "/amount", "max": 5000, "window": "1d"},
        {"id": "big-payment", "type": "approval", "description": "payments over 1000 need a human",
         "when": {"field": "/amount", "op": "gt", "value": 1000}}
    ]}}});
    let engine = support::engine(policy, &issuer, &clock);
    let t = |a: &str| {
        issuer
            .issue_passport_at(&PassportRequest::new(a, ["pay"]), T0 / 1000)
            .unwrap()
            .token
    };
    F {
        engine,
        clock,
        alice: t("alice"),
        bob: t("bob"),
    }
}

fn pay(token: &str, amount: i64) -> Request {
    Request::new("payments.send", json!({"amount": amount, "to": "acct_1"})).passport(token)
}

fn code(d: &passgate::Decision) -> Option<String> {
    d.checks
        .iter()
        .find(|c| c.constraint == "big-payment")
        .and_then(|c| c.code.as_deref().map(str::to_string))
}

fn used(f: &F) -> String {
    let s = f.engine.cumulative_state(&Default::default()).unwrap();
    s.iter()
        .map(|c| c.used)
        .sum::<rust_decimal::Decimal>()
        .to_string()
}

#[test]
fn escalate_approve_admit_once() {
    let f = fixture();
    // Small payments pass with the approval check reported as not needed.
    let d = f.engine.enforce(&pay(&f.alice, 100)).unwrap();
    assert_eq!(d.decision, Verdict::Allow);
    assert!(d
        .checks
        .iter()
        .any(|c| c.constraint == "big-payment" && c.passed));
    // A big one escalates, counting nothing.
    let d = f.engine.enforce(&pay(&f.alice, 2000)).unwrap();
    assert_eq!(d.decision, Verdict::Escalate);
    assert!(!d.allowed);
    assert_eq!(code(&d).as_deref(), Some("APPROVAL_REQUIRED"));
    let req = d.approval_request.clone().unwrap();
    assert_eq!(req["evaluation_id"], json!(d.evaluation_id));
    assert_eq!(req["reasons"][0]["constraint"], "big-payment");
    assert!(req["fingerprint"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(d.remaining["daily"], "4900");
    assert_eq!(used(&f), "100");
    // A human approves; the exact request is admitted once.
    let token = f
        .engine
        .approve(&d.evaluation_id, "cfo@example.com", None)
        .unwrap();
    let ok = f
        .engine
        .enforce(&pay(&f.alice, 2000).approval(&token))
        .unwrap();
    assert_eq!(ok.decision, Verdict::Allow, "{:#?}", ok.checks);
    assert_eq!(used(&f), "2100");
    let again = f
        .engine
        .enforce(&pay(&f.alice, 2000).approval(&token))
        .unwrap();
    assert_eq!(again.decision, Verdict::Deny);
    assert_eq!(code(&again).as_deref(), Some("APPROVAL_USED"));
    assert_eq!(used(&f), "2100");
    // Approving twice is an error.
    assert_eq!(
        f.engine
            .approve(&d.evaluation_id, "cfo", None)
            .unwrap_err()
            .code(),
        "APPROVAL_CLOSED"
    );
    assert_eq!(
        f.engine
            .approve("evl_nope", "cfo", None)
            .unwrap_err()
            .code(),
        "APPROVAL_UNKNOWN"
    );
    // Everything is on the chain.
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    let kinds: Vec<&str> = recs
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "decision",
            "decision",
            "approval.granted",
            "decision",
            "decision"
        ]
    );
    assert_eq!(recs[1]["body"]["decision"], "escalate");
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
}

#[test]
fn a_token_admits_that_request_and_nothing_else() {
    let f = fixture();
    let d = f.engine.enforce(&pay(&f.alice, 2000)).unwrap();
    let token = f
        .engine
        .approve(&d.evaluation_id, "cfo", Some(60_000))
        .unwrap();
    let refused = |r: Request| {
        let d = f.engine.enforce(&r).unwrap();
        assert_eq!(d.decision, Verdict::Deny);
        code(&d).unwrap()
    };
    assert_eq!(
        refused(pay(&f.alice, 2001).approval(&token)),
        "APPROVAL_PAYLOAD_MISMATCH"
    );
    assert_eq!(
        refused(pay(&f.bob, 2000).approval(&token)),
        "APPROVAL_PASSPORT_MISMATCH"
    );
    let other_gate = Request::new("payments.refund", json!({"amount": 2000}))
        .passport(&f.alice)
        .approval(&token);
    assert_eq!(
        f.engine.enforce(&other_gate).unwrap().decision,
        Verdict::Deny
    );
    let mut forged = token.clone();
    forged.insert(10, 'x');
    assert_eq!(
        refused(pay(&f.alice, 2000).approval(&forged)),
        "APPROVAL_INVALID"
    );
    // None of those used it up; an expired one is refused.
    f.clock.advance_ms(60_001);
    assert_eq!(
        refused(pay(&f.alice, 2000).approval(&token)),
        "APPROVAL_EXPIRED"
    );
    assert_eq!(used(&f), "0");
}

#[test]
fn a_denied_approval_is_refused_with_its_reason() {
    let f = fixture();
    let d = f.engine.enforce(&pay(&f.alice, 3000)).unwrap();
    let rec = f
        .engine
        .deny_approval(&d.evaluation_id, "cfo", "not in budget")
        .unwrap();
    assert_eq!(rec["body"]["kind"], "approval.denied");
    assert_eq!(rec["body"]["data"]["reason"], "not in budget");
    assert_eq!(
        f.engine
            .approve(&d.evaluation_id, "cfo", None)
            .unwrap_err()
            .code(),
        "APPROVAL_CLOSED"
    );
    // Asking again escalates again (a new request for approval).
    let again = f.engine.enforce(&pay(&f.alice, 3000)).unwrap();
    assert_eq!(again.decision, Verdict::Escalate);
    assert_ne!(again.evaluation_id, d.evaluation_id);
}

#[test]
fn an_approval_does_not_override_other_failures_and_dry_run_does_not_use_it() {
    let f = fixture();
    let d = f.engine.enforce(&pay(&f.alice, 20_000)).unwrap();
    assert_eq!(
        d.decision,
        Verdict::Deny,
        "per-call fails: no point escalating"
    );
    assert!(d.approval_request.is_none());
    let d = f.engine.enforce(&pay(&f.alice, 4000)).unwrap();
    let token = f.engine.approve(&d.evaluation_id, "cfo", None).unwrap();
    let dry = f
        .engine
        .dry_run(&pay(&f.alice, 4000).approval(&token))
        .unwrap();
    assert_eq!(dry.decision, Verdict::Allow);
    // Meanwhile spend moves: the approved request no longer fits the daily cap.
    for _ in 0..2 {
        assert!(f.engine.enforce(&pay(&f.alice, 1000)).unwrap().allowed);
    }
    let d = f
        .engine
        .enforce(&pay(&f.alice, 4000).approval(&token))
        .unwrap();
    assert_eq!(d.decision, Verdict::Deny);
    assert!(d
        .checks
        .iter()
        .any(|c| c.constraint == "daily" && !c.passed));
    // The approval was not used up by a denied request.
    f.clock.advance_ms(24 * 3600 * 1000 - 1); // still within its 15 min? no: it expired.
    let d = f
        .engine
        .enforce(&pay(&f.alice, 4000).approval(&token))
        .unwrap();
    assert_eq!(code(&d).as_deref(), Some("APPROVAL_EXPIRED"));
}

#[test]
fn approval_tokens_are_signed_by_the_engine() {
    let f = fixture();
    let d = f.engine.enforce(&pay(&f.alice, 2000)).unwrap();
    let token = f.engine.approve(&d.evaluation_id, "cfo", None).unwrap();
    let claims = passgate::approval::verify(&token, &[f.engine.signer_did()]).unwrap();
    assert_eq!(claims.kid, f.engine.signer_did());
    assert_eq!(claims.evaluation_id, d.evaluation_id);
    let body: Value = f
        .engine
        .attestations(&AttestationFilter {
            kind: Some("approval.granted".into()),
            ..Default::default()
        })
        .unwrap()[0]["body"]
        .clone();
    // The log is readable by agents: it holds the token id's hash, never the id.
    assert!(body["data"].get("token_id").is_none());
    assert_eq!(
        body["data"]["token_hash"],
        json!(passgate::approval::token_id_hash(&claims.jti))
    );
    assert!(!body.to_string().contains(&claims.jti));
}

#[test]
fn a_dry_run_that_escalates_says_its_request_was_not_stored() {
    let f = fixture();
    let d = f.engine.dry_run(&pay(&f.alice, 2000)).unwrap();
    assert_eq!(d.decision, Verdict::Escalate);
    let request = d.approval_request.as_ref().unwrap();
    assert_eq!(request["dry_run"], true);
    // Nothing to approve: the evaluation was never stored.
    let e = f
        .engine
        .approve(&d.evaluation_id, "ops@example.com", None)
        .unwrap_err();
    assert_eq!(e.code(), "APPROVAL_UNKNOWN");
    // An enforced escalation has none of that mark.
    let d = f.engine.enforce(&pay(&f.alice, 2000)).unwrap();
    assert!(d
        .approval_request
        .as_ref()
        .unwrap()
        .get("dry_run")
        .is_none());
}

/// A dry run computes the request hash only when something needs it; an escalation's
/// fingerprint is one of those things. The dry run's fingerprint is the one `enforce` binds the
/// approval to, for the gate's own approval constraint and for one a passport caveat adds.
#[test]
fn a_dry_run_escalation_carries_the_enforced_fingerprint() {
    let f = fixture();
    let fp = |d: &passgate::Decision| {
        d.approval_request.as_ref().unwrap()["fingerprint"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let dry = f.engine.dry_run(&pay(&f.alice, 2000)).unwrap();
    let real = f.engine.enforce(&pay(&f.alice, 2000)).unwrap();
    assert_eq!(dry.decision, Verdict::Escalate);
    assert!(fp(&dry).starts_with("sha256:"));
    assert_eq!(fp(&dry), fp(&real));

    // A gate without approval constraints, escalated by a caveat only.
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let policy = json!({"version": 1, "gates": {"payments.send": {"require": ["pay"]}}});
    let engine = support::engine(policy, &issuer, &clock);
    let caveat = json!({"id": "ask", "type": "approval",
        "when": {"field": "/amount", "op": "gt", "value": 10}});
    let token = issuer
        .issue_passport_at(
            &PassportRequest::new("carol", ["pay"]).with_caveat(caveat),
            T0 / 1000,
        )
        .unwrap()
        .token;
    let dry = engine.dry_run(&pay(&token, 50)).unwrap();
    let real = engine.enforce(&pay(&token, 50)).unwrap();
    assert_eq!(dry.decision, Verdict::Escalate);
    assert_eq!(fp(&dry), fp(&real));
}
