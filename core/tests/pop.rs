//! Proof of possession and trust levels (issue 18 item 4), from the adversary's side: the agent
//! holds its passport and key, mints delegates, chooses every byte of its requests and retries.
//! A stolen passport without its key is denied at an L3 gate; a proof made for another gate,
//! payload, catalog pin or by another key, or with any byte changed, is denied; a delegate's
//! proof by its own key is admitted; malformed proofs are typed errors naming the field.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::commerce::TrustLevel;
use passgate::pop::{self, Pop};
use passgate::{
    ops, Decision, Engine, IssuedPassport, Issuer, KeyPair, PassportRequest, Pin, Request, Verdict,
};
use serde_json::{json, Value};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn policy(level: &str) -> Value {
    json!({"version": 1, "gates": {
        "pay": {"require": ["pay"], "trust_level": level,
                "constraints": [{"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}]},
        "llm": {"require": ["llm:complete"]},
        "open": {"require": []}
    }, "anonymous": {"gates": ["open"]}})
}

fn engine_with(
    doc: Value,
    issuer: &Issuer,
    clock: &ManualClock,
    class: Option<TrustLevel>,
) -> Engine {
    let mut b = Engine::builder()
        .policy_value(doc)
        .trusted_issuers([issuer.did().to_string()])
        .clock(Arc::new(clock.clone()));
    if let Some(c) = class {
        b = b.issuer_level(issuer.did(), c);
    }
    b.build().unwrap()
}

struct World {
    issuer: Issuer,
    clock: ManualClock,
    e: Engine,
    agent: IssuedPassport,
    key: KeyPair,
}

fn world(level: &str) -> World {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine_with(policy(level), &issuer, &clock, Some(TrustLevel::L2));
    let agent = issuer
        .issue_passport_at(
            &PassportRequest::new("agent", ["pay", "llm:complete"]),
            T0 / 1000,
        )
        .unwrap();
    let key = KeyPair::from_secret(&agent.private_key).unwrap();
    World {
        issuer,
        clock,
        e,
        agent,
        key,
    }
}

fn req(token: &str, amount: i64) -> Request {
    Request::new("pay", json!({"amount": amount})).passport(token)
}

fn nonce(i: usize) -> String {
    format!("nonce-{i:016}")
}

fn proved(token: &str, key: &KeyPair, amount: i64, n: &str) -> Request {
    let r = req(token, amount);
    let p = pop::sign(key, &r, None, Some(n.into()), Some(T0)).unwrap();
    r.pop(&p)
}

fn pop_code(d: &Decision) -> Option<String> {
    d.checks
        .iter()
        .find(|c| (c.ty == "pop" || c.ty == "trust_level") && !c.passed)
        .and_then(|c| c.code.as_deref().map(str::to_string))
}

fn denied_with(d: &Decision, code: &str) {
    assert_eq!(d.decision, Verdict::Deny, "{:?}", d.checks);
    assert_eq!(pop_code(d).as_deref(), Some(code), "{:?}", d.checks);
}

#[test]
fn a_proof_by_the_passports_key_is_admitted_and_recorded() {
    let w = world("L3");
    let d =
        w.e.enforce(&proved(&w.agent.token, &w.key, 10, &nonce(1)))
            .unwrap();
    assert!(d.allowed, "{:?}", d.checks);
    let check = d.checks.iter().find(|c| c.ty == "pop").unwrap();
    assert!(check.passed);
    assert!(check.message.contains(&nonce(1)));
    let tl = d.checks.iter().find(|c| c.ty == "trust_level").unwrap();
    assert!(tl.passed);
    let body = &d.attestation.as_ref().unwrap()["body"];
    assert_eq!(body["pop"]["nonce"], nonce(1));
    assert_eq!(body["pop"]["ts"], T0);
    assert_eq!(body["pop"]["agent"], w.agent.did);
}

#[test]
fn a_stolen_passport_without_its_key_is_denied_at_an_l3_gate() {
    let w = world("L3");
    // No proof at all.
    denied_with(
        &w.e.enforce(&req(&w.agent.token, 10)).unwrap(),
        "POP_REQUIRED",
    );
    // A proof by the thief's own key.
    let thief = KeyPair::generate().unwrap();
    denied_with(
        &w.e.enforce(&proved(&w.agent.token, &thief, 10, &nonce(2)))
            .unwrap(),
        "POP_INVALID",
    );
    // Nothing was counted.
    let d =
        w.e.enforce(&proved(&w.agent.token, &w.key, 100, &nonce(3)))
            .unwrap();
    assert!(d.allowed, "{:?}", d.checks);
}

/// The attacker reads the attestation log: a decision record names the proof's nonce, ts and
/// agent but never its signature, so the log gives nothing to replay; and another agent using
/// (or using first) the same nonce burns only its own, never the victim's.
#[test]
fn an_agent_reading_the_log_can_neither_replay_nor_burn_anothers_proof() {
    let w = world("L3");
    let mallory = w
        .issuer
        .issue_passport_at(&PassportRequest::new("mallory", ["pay"]), T0 / 1000)
        .unwrap();
    let mallory_key = KeyPair::from_secret(&mallory.private_key).unwrap();
    let d =
        w.e.enforce(&proved(&w.agent.token, &w.key, 10, &nonce(40)))
            .unwrap();
    assert!(d.allowed, "{:?}", d.checks);
    let logged = &d.attestation.as_ref().unwrap()["body"]["pop"];
    assert_eq!(logged.as_object().unwrap().len(), 3, "{logged}");
    assert!(
        logged.get("sig").is_none(),
        "the log must not carry the signature"
    );
    // Mallory reuses the victim's logged nonce, and takes a nonce the victim has yet to use:
    // each is a nonce of Mallory's own key.
    for n in [nonce(40), nonce(41)] {
        let m =
            w.e.enforce(&proved(&mallory.token, &mallory_key, 1, &n))
                .unwrap();
        assert!(m.allowed, "{:?}", m.checks);
    }
    let d =
        w.e.enforce(&proved(&w.agent.token, &w.key, 10, &nonce(41)))
            .unwrap();
    assert!(
        d.allowed,
        "the victim's nonce was burnt by another agent: {:?}",
        d.checks
    );
    // The victim's own replay is still refused.
    denied_with(
        &w.e.enforce(&proved(&w.agent.token, &w.key, 10, &nonce(40)))
            .unwrap(),
        "POP_REPLAYED",
    );
}

#[test]
fn a_proof_for_another_gate_payload_or_pin_is_denied() {
    let w = world("L3");
    let base = req(&w.agent.token, 10);
    // Made for llm, presented at pay.
    let other_gate = Request::new("llm", json!({"amount": 10}));
    let p = pop::sign(&w.key, &other_gate, None, Some(nonce(4)), Some(T0)).unwrap();
    denied_with(&w.e.enforce(&base.clone().pop(&p)).unwrap(), "POP_INVALID");
    // Made for amount 1, presented with amount 10.
    let p = pop::sign(
        &w.key,
        &req(&w.agent.token, 1),
        None,
        Some(nonce(5)),
        Some(T0),
    )
    .unwrap();
    denied_with(&w.e.enforce(&base.clone().pop(&p)).unwrap(), "POP_INVALID");
    // Made with a catalog hash the passport does not pin.
    let p = pop::sign(
        &w.key,
        &base,
        Some("sha256:0000000000000000000000000000000000000000000000000000000000000000"),
        Some(nonce(6)),
        Some(T0),
    )
    .unwrap();
    denied_with(&w.e.enforce(&base.clone().pop(&p)).unwrap(), "POP_INVALID");
    // None of the nonces was burnt by a failed proof.
    assert!(
        w.e.enforce(&proved(&w.agent.token, &w.key, 10, &nonce(4)))
            .unwrap()
            .allowed
    );
}

#[test]
fn the_proof_binds_the_passports_catalog_pin() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine_with(policy("L1"), &issuer, &clock, None);
    let catalog = json!({"gate": "llm", "trust_level": "L1", "offers": [
        {"permission": "llm:complete", "price": {"amount": 5, "currency": "USD"}, "pricing": {"model": "per_call"}}
    ]});
    ops::call(
        &e,
        "create_catalog",
        json!({"gate": "llm", "catalog": catalog}),
    )
    .unwrap();
    let published = ops::call(&e, "publish_catalog", json!({"gate": "llm"})).unwrap();
    let hash = published["content_hash"].as_str().unwrap().to_string();
    let agent = issuer
        .issue_passport_at(
            &PassportRequest::new("agent", ["llm:complete"]).with_pin(Pin {
                gate: "llm".into(),
                version: 1,
                content_hash: hash.clone(),
            }),
            T0 / 1000,
        )
        .unwrap();
    let key = KeyPair::from_secret(&agent.private_key).unwrap();
    let r = Request::new("llm", json!({})).passport(&agent.token);
    let without = pop::sign(&key, &r, None, Some(nonce(1)), Some(T0)).unwrap();
    denied_with(&e.enforce(&r.clone().pop(&without)).unwrap(), "POP_INVALID");
    let with = pop::sign(&key, &r, Some(&hash), Some(nonce(2)), Some(T0)).unwrap();
    let d = e.enforce(&r.clone().pop(&with)).unwrap();
    assert!(d.allowed, "{:?}", d.checks);
}

#[test]
fn a_delegates_proof_must_be_by_the_delegates_key() {
    let w = world("L3");
    let child = w
        .agent
        .issue_sub_passport_at(
            &PassportRequest::new("worker", ["pay"]).with_expires_in_secs(3600),
            T0 / 1000,
        )
        .unwrap();
    let child_key = KeyPair::from_secret(&child.private_key).unwrap();
    // The parent's key over the child's passport: not the presenting agent's.
    denied_with(
        &w.e.enforce(&proved(&child.token, &w.key, 10, &nonce(7)))
            .unwrap(),
        "POP_INVALID",
    );
    let d =
        w.e.enforce(&proved(&child.token, &child_key, 10, &nonce(8)))
            .unwrap();
    assert!(d.allowed, "{:?}", d.checks);
    // The parent's own passport with the parent's key.
    assert!(
        w.e.enforce(&proved(&w.agent.token, &w.key, 10, &nonce(9)))
            .unwrap()
            .allowed
    );
}

/// Every one-character change of `text` (to each of a few other characters).
fn mutations(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, ch) in text.char_indices() {
        for alt in ['A', 'z', '0', '9', '-', '_'] {
            if alt != ch {
                let mut s = text.to_string();
                s.replace_range(i..i + ch.len_utf8(), &alt.to_string());
                out.push(s);
            }
        }
    }
    out
}

#[test]
fn any_changed_byte_of_a_proof_is_detected() {
    let w = world("L3");
    let r = req(&w.agent.token, 1);
    let good = pop::sign(&w.key, &r, None, Some(nonce(42)), Some(T0)).unwrap();
    let mut variants: Vec<Value> = Vec::new();
    for sig in mutations(&good.sig) {
        variants.push(json!({"nonce": good.nonce, "ts": good.ts, "sig": sig}));
    }
    for n in mutations(&good.nonce) {
        variants.push(json!({"nonce": n, "ts": good.ts, "sig": good.sig}));
    }
    for ts in mutations(&good.ts.to_string()) {
        let v: Value = serde_json::from_str(&ts).unwrap_or(Value::String(ts));
        variants.push(json!({"nonce": good.nonce, "ts": v, "sig": good.sig}));
    }
    assert!(variants.len() > 500);
    let (mut denied, mut refused) = (0, 0);
    for v in &variants {
        let mut bad = r.clone();
        bad.pop = Some(v.clone());
        match w.e.enforce(&bad) {
            Ok(d) => {
                assert!(!d.allowed, "a changed proof was admitted: {v}");
                let code = pop_code(&d).unwrap();
                assert!(code == "POP_INVALID" || code == "POP_STALE", "{code} {v}");
                denied += 1;
            }
            Err(e) => {
                assert_eq!(e.code(), "INVALID_ARGUMENT", "{v}");
                assert!(e.path().unwrap().starts_with("/pop/"), "{v}");
                refused += 1;
            }
        }
    }
    assert!(denied > 0 && refused > 0);
    // The original still works (nothing above burnt its nonce).
    assert!(w.e.enforce(&r.pop(&good)).unwrap().allowed);
}

#[test]
fn stale_and_future_timestamps_are_refused_within_the_leeway_only() {
    let w = world("L3");
    let at = |ts: i64, n: usize| {
        let r = req(&w.agent.token, 1);
        let p = pop::sign(&w.key, &r, None, Some(nonce(n)), Some(ts)).unwrap();
        w.e.enforce(&r.pop(&p)).unwrap()
    };
    assert!(at(T0 - 60_000, 1).allowed, "at the leeway's edge");
    assert!(at(T0 + 60_000, 2).allowed, "at the leeway's edge");
    denied_with(&at(T0 - 60_001, 3), "POP_STALE");
    denied_with(&at(T0 + 60_001, 4), "POP_STALE");
    // A replay later, while the nonce is remembered, is refused; after the window the ts is
    // stale anyway.
    let r = proved(&w.agent.token, &w.key, 1, &nonce(5));
    assert!(w.e.enforce(&r).unwrap().allowed);
    w.clock.advance_ms(59_000);
    denied_with(&w.e.enforce(&r).unwrap(), "POP_REPLAYED");
    w.clock.advance_ms(2_000);
    denied_with(&w.e.enforce(&r).unwrap(), "POP_STALE");
}

#[test]
fn the_pop_leeway_is_an_engine_option() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let e = Engine::builder()
        .policy_value(policy("L3"))
        .trusted_issuers([issuer.did().to_string()])
        .issuer_level(issuer.did(), TrustLevel::L2)
        .pop_leeway_secs(5)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let agent = issuer
        .issue_passport_at(&PassportRequest::new("a", ["pay"]), T0 / 1000)
        .unwrap();
    let key = KeyPair::from_secret(&agent.private_key).unwrap();
    let r = req(&agent.token, 1);
    let p = pop::sign(&key, &r, None, Some(nonce(1)), Some(T0 - 6_000)).unwrap();
    denied_with(&e.enforce(&r.clone().pop(&p)).unwrap(), "POP_STALE");
    for bad in [0, -1, 3601] {
        let err = Engine::builder().pop_leeway_secs(bad).build().unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT");
        assert_eq!(err.path(), Some("/pop_leeway_secs"));
    }
}

#[test]
fn a_dry_run_checks_the_nonce_and_burns_nothing() {
    let w = world("L3");
    let r = proved(&w.agent.token, &w.key, 10, &nonce(1));
    for _ in 0..3 {
        let d = w.e.dry_run(&r).unwrap();
        assert!(d.allowed, "{:?}", d.checks);
    }
    assert!(w.e.enforce(&r).unwrap().allowed);
    denied_with(&w.e.dry_run(&r).unwrap(), "POP_REPLAYED");
}

#[test]
fn an_idempotent_retry_returns_the_first_decision_and_a_new_key_cannot_replay() {
    let w = world("L3");
    let r = proved(&w.agent.token, &w.key, 10, &nonce(1)).idempotency_key("k1");
    let first = w.e.enforce(&r).unwrap();
    assert!(first.allowed);
    let again = w.e.enforce(&r).unwrap();
    assert!(again.replayed && again.allowed);
    let other = proved(&w.agent.token, &w.key, 10, &nonce(1)).idempotency_key("k2");
    denied_with(&w.e.enforce(&other).unwrap(), "POP_REPLAYED");
    let d =
        w.e.enforce(&proved(&w.agent.token, &w.key, 90, &nonce(2)))
            .unwrap();
    assert!(d.allowed, "only one 10 was counted: {:?}", d.checks);
}

#[test]
fn a_denied_request_burns_its_nonce() {
    let w = world("L3");
    let r = proved(&w.agent.token, &w.key, 500, &nonce(1));
    let d = w.e.enforce(&r).unwrap();
    assert!(!d.allowed);
    assert!(d.checks.iter().any(|c| c.ty == "pop" && c.passed));
    denied_with(&w.e.enforce(&r).unwrap(), "POP_REPLAYED");
}

#[test]
fn monitor_mode_never_relaxes_the_proof() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let doc = json!({"version": 1, "gates": {"pay": {"require": ["pay"], "trust_level": "L3", "mode": "monitor"}}});
    let e = engine_with(doc, &issuer, &clock, Some(TrustLevel::L2));
    let agent = issuer
        .issue_passport_at(&PassportRequest::new("a", ["pay"]), T0 / 1000)
        .unwrap();
    denied_with(&e.enforce(&req(&agent.token, 1)).unwrap(), "POP_REQUIRED");
}

#[test]
fn a_pop_presented_to_an_l1_gate_is_verified_anyway() {
    let w = world("L1");
    assert!(
        w.e.enforce(&req(&w.agent.token, 1)).unwrap().allowed,
        "L1: no proof needed"
    );
    let thief = KeyPair::generate().unwrap();
    denied_with(
        &w.e.enforce(&proved(&w.agent.token, &thief, 1, &nonce(1)))
            .unwrap(),
        "POP_INVALID",
    );
    let d =
        w.e.enforce(&proved(&w.agent.token, &w.key, 1, &nonce(2)))
            .unwrap();
    assert!(d.allowed && d.checks.iter().any(|c| c.ty == "pop" && c.passed));
    // An anonymous caller has no key to prove.
    let mut anon = Request::new("open", json!({}));
    anon.pop = Some(
        pop::sign(&w.key, &anon, None, Some(nonce(3)), Some(T0))
            .unwrap()
            .to_value(),
    );
    denied_with(&w.e.enforce(&anon).unwrap(), "POP_INVALID");
}

#[test]
fn l2_needs_a_root_issuer_of_class_l2_and_l3_implies_it() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    for level in ["L2", "L3"] {
        let e = engine_with(policy(level), &issuer, &clock, None);
        let agent = issuer
            .issue_passport_at(&PassportRequest::new("a", ["pay"]), T0 / 1000)
            .unwrap();
        let key = KeyPair::from_secret(&agent.private_key).unwrap();
        let d = e
            .enforce(&proved(&agent.token, &key, 1, &nonce(1)))
            .unwrap();
        denied_with(&d, "TRUST_LEVEL");
    }
    // The class from the policy.
    let mut doc = policy("L2");
    doc["issuer_levels"] = json!({issuer.did(): "L2"});
    doc["issuers"] = json!([issuer.did()]);
    let e = Engine::builder()
        .policy_value(doc)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let agent = issuer
        .issue_passport_at(&PassportRequest::new("a", ["pay"]), T0 / 1000)
        .unwrap();
    let d = e.enforce(&req(&agent.token, 1)).unwrap();
    assert!(d.allowed, "L2 without a proof: {:?}", d.checks);
    // A delegate's chain is judged by its root issuer.
    let child = agent
        .issue_sub_passport_at(&PassportRequest::new("w", ["pay"]), T0 / 1000)
        .unwrap();
    assert!(e.enforce(&req(&child.token, 1)).unwrap().allowed);
    // A class does not trust an issuer.
    let stranger = Issuer::generate().unwrap();
    let e = Engine::builder()
        .policy_value(policy("L2"))
        .issuer_level(stranger.did(), TrustLevel::L2)
        .build()
        .unwrap();
    let p = stranger
        .issue_passport(&PassportRequest::new("a", ["pay"]))
        .unwrap();
    let d = e.enforce(&req(&p.token, 1)).unwrap();
    assert_eq!(d.checks[0].code.as_deref(), Some("ISSUER_UNTRUSTED"));
}

#[test]
fn anonymous_callers_are_refused_above_l1() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let doc = json!({"version": 1, "gates": {"open": {"require": [], "trust_level": "L2"}},
        "anonymous": {"gates": ["open"]}});
    let e = engine_with(doc, &issuer, &clock, None);
    let d = e.enforce(&Request::new("open", json!({}))).unwrap();
    denied_with(&d, "TRUST_LEVEL");
}

#[test]
fn a_catalog_advertising_a_higher_level_raises_the_gate() {
    let w = world("L1");
    let catalog = json!({"gate": "pay", "trust_level": "L3", "offers": [
        {"permission": "pay", "price": {"amount": 5, "currency": "USD"}, "pricing": {"model": "per_call"}}
    ]});
    assert!(w.e.enforce(&req(&w.agent.token, 1)).unwrap().allowed);
    ops::call(
        &w.e,
        "create_catalog",
        json!({"gate": "pay", "catalog": catalog}),
    )
    .unwrap();
    ops::call(&w.e, "publish_catalog", json!({"gate": "pay"})).unwrap();
    denied_with(
        &w.e.enforce(&req(&w.agent.token, 1)).unwrap(),
        "POP_REQUIRED",
    );
    assert!(
        w.e.enforce(&proved(&w.agent.token, &w.key, 1, &nonce(1)))
            .unwrap()
            .allowed
    );
    let _ = &w.issuer;
}

#[test]
fn malformed_proofs_are_typed_errors_naming_the_field() {
    let w = world("L3");
    let sig = "A".repeat(86);
    for (v, path) in [
        (json!(null), "/pop"),
        (json!([1]), "/pop"),
        (json!({"ts": T0, "sig": sig}), "/pop/nonce"),
        (
            json!({"nonce": "x".repeat(65), "ts": T0, "sig": sig}),
            "/pop/nonce",
        ),
        (
            json!({"nonce": "ab/cdefghijklmnopq", "ts": T0, "sig": sig}),
            "/pop/nonce",
        ),
        (
            json!({"nonce": nonce(1), "ts": "now", "sig": sig}),
            "/pop/ts",
        ),
        (json!({"nonce": nonce(1), "ts": 1e3, "sig": sig}), "/pop/ts"),
        (
            json!({"nonce": nonce(1), "ts": T0, "sig": "A".repeat(1 << 20)}),
            "/pop/sig",
        ),
        (
            json!({"nonce": nonce(1), "ts": T0, "sig": "+".repeat(86)}),
            "/pop/sig",
        ),
        (
            json!({"nonce": nonce(1), "ts": T0, "sig": sig, "kid": "x"}),
            "/pop/kid",
        ),
    ] {
        let mut r = req(&w.agent.token, 1);
        r.pop = Some(v.clone());
        let e = w.e.enforce(&r).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{v}");
        assert_eq!(e.path(), Some(path), "{v}");
        if v.is_null() {
            continue; // the operations layer reads a null pop as none
        }
        let e = ops::call(
            &w.e,
            "enforce",
            json!({"gate": "pay", "passport": w.agent.token, "payload": {"amount": 1}, "pop": v}),
        )
        .unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{v}");
    }
}

#[test]
fn the_operations_layer_accepts_a_pop() {
    let w = world("L3");
    let r = req(&w.agent.token, 3);
    let p = pop::sign(&w.key, &r, None, Some(nonce(1)), Some(T0)).unwrap();
    let d = ops::call(
        &w.e,
        "enforce",
        json!({"gate": "pay", "passport": w.agent.token, "payload": {"amount": 3}, "pop": p.to_value()}),
    )
    .unwrap();
    assert_eq!(d["decision"], "allow", "{d}");
    let parsed = Pop::from_value(&p.to_value()).unwrap();
    assert_eq!(parsed, p);
}

#[test]
fn policy_trust_fields_are_validated() {
    for (doc, path) in [
        (
            json!({"version": 1, "gates": {"g": {"trust_level": "L4"}}}),
            "/gates/g/trust_level",
        ),
        (
            json!({"version": 1, "issuer_levels": {"did:key:zNope": "L2"}}),
            "/issuer_levels",
        ),
        (
            json!({"version": 1, "issuer_levels": {"did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK": "L3"}}),
            "/issuer_levels",
        ),
    ] {
        let e = Engine::builder()
            .policy_value(doc.clone())
            .build()
            .unwrap_err();
        assert_eq!(e.code(), "POLICY_INVALID", "{doc}");
        assert!(e.path().unwrap().starts_with(path), "{doc}: {:?}", e.path());
    }
    let e = Engine::builder()
        .issuer_level("did:key:nope", TrustLevel::L2)
        .build()
        .unwrap_err();
    assert_eq!(e.code(), "KEY_INVALID");
}

#[test]
fn the_mcp_agent_tools_accept_a_pop() {
    let tools = passgate::mcp::tools(passgate::mcp::Role::Agent);
    for name in ["enforce_action", "authorize_dry_run"] {
        let tool = tools
            .as_array()
            .or_else(|| tools["tools"].as_array())
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap();
        let schema = tool["inputSchema"].to_string();
        assert!(
            tool["inputSchema"]["properties"]["pop"].is_object(),
            "{name}: {schema}"
        );
        for field in ["nonce", "ts", "sig"] {
            assert!(schema.contains(field), "{name}: {field}");
        }
    }
}
