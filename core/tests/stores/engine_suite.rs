//! The engine on each backend, end to end: caps, holds, approvals, idempotency, revocation,
//! attestations (verified, and recomputing every counter from their `counted` lists), state and
//! reset.

use std::collections::BTreeMap;
use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::store::Store;
use passgate::{
    attestation, AttestationFilter, CounterFilter, Engine, Issuer, PassportRequest, Request,
    Verdict,
};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::T0;

pub struct Fx {
    pub engine: Engine,
    pub clock: ManualClock,
    pub issuer: Issuer,
    pub token: String,
    pub passport_id: String,
}

pub fn policy() -> Value {
    json!({"version": 1, "hold_ttl": "10m", "gates": {
        "pay": {"require": ["pay"], "constraints": [
            {"id": "daily", "type": "spend_limit", "field": "/amount", "max": "1000.00", "window": "1d"},
            {"id": "burst", "type": "rate_limit", "max": 10, "window": {"size": "1m", "kind": "sliding"}},
            {"id": "org", "type": "spend_limit", "field": "/amount", "max": 5000, "window": "7d", "scope": "global"},
            {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 900}}
        ]},
        "llm": {"require": ["pay"], "constraints": [
            {"id": "budget", "type": "spend_limit", "field": "/cost", "max": 100, "window": "1d"},
            {"id": "in-flight", "type": "concurrency", "max": 2},
            {"id": "calls", "type": "quota", "max": 1000}
        ]}
    }})
}

pub fn engine(store: Arc<dyn Store>) -> Fx {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::builder()
        .policy_value(policy())
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .store(store)
        .build()
        .unwrap();
    let req = PassportRequest::new("agent", ["pay"]).with_expires_in_secs(365 * 86400);
    let issued = issuer.issue_passport_at(&req, T0 / 1000).unwrap();
    Fx {
        engine,
        clock,
        issuer,
        token: issued.token,
        passport_id: issued.passport_id,
    }
}

impl Fx {
    fn pay(&self, amount: impl Into<Value>) -> Request {
        Request::new("pay", json!({"amount": amount.into()})).passport(&self.token)
    }
    fn llm(&self, cost: i64) -> Request {
        Request::new("llm", json!({"cost": cost}))
            .passport(&self.token)
            .hold(true)
    }
}

/// Sums the `counted` lists of every admitted decision, per (namespace, constraint, scope).
pub fn counted(records: &[Value]) -> BTreeMap<(String, String, String), Decimal> {
    let mut out = BTreeMap::new();
    for r in records {
        let b = &r["body"];
        if b["kind"] != "decision" || b["decision"] != "allow" {
            continue;
        }
        for c in b["counted"].as_array().unwrap() {
            let k = (
                c["namespace"].as_str().unwrap().to_string(),
                c["constraint"].as_str().unwrap().to_string(),
                c["scope"].as_str().unwrap().to_string(),
            );
            *out.entry(k).or_insert(Decimal::ZERO) +=
                c["amount"].as_str().unwrap().parse::<Decimal>().unwrap();
        }
    }
    out
}

pub fn caps_idempotency_revocation_attestations(store: Arc<dyn Store>) {
    let f = engine(store.clone());
    let d = f.engine.enforce(&f.pay(400)).unwrap();
    assert_eq!(d.decision, Verdict::Allow, "{:#?}", d.checks);
    assert_eq!(d.remaining["daily"], "600.00");
    assert!(f.engine.enforce(&f.pay("400.00")).unwrap().allowed);
    let d = f.engine.enforce(&f.pay(400)).unwrap();
    assert!(!d.allowed);
    let c = d.checks.iter().find(|c| c.constraint == "daily").unwrap();
    assert_eq!(
        (c.observed.as_deref(), c.max_admissible.as_deref()),
        (Some("1200"), Some("200"))
    );
    assert!(f.engine.enforce(&f.pay("199.99")).unwrap().allowed);
    assert!(f.engine.dry_run(&f.pay("0.01")).unwrap().allowed);
    // Idempotency: the stored decision, nothing counted; another payload is a conflict.
    let first = f
        .engine
        .enforce(&f.pay("0.01").idempotency_key("k1"))
        .unwrap();
    let again = f
        .engine
        .enforce(&f.pay("0.01").idempotency_key("k1"))
        .unwrap();
    assert!(again.replayed && first.allowed);
    assert_eq!(again.attestation, first.attestation);
    assert_eq!(
        f.engine
            .enforce(&f.pay(1).idempotency_key("k1"))
            .unwrap_err()
            .code(),
        "IDEMPOTENCY_CONFLICT"
    );
    assert!(
        !f.engine.enforce(&f.pay("0.01")).unwrap().allowed,
        "the cap is exactly reached"
    );
    // A new day: the fixed window starts again; the 7d global one does not.
    f.clock.advance_ms(86_400_000);
    let d = f.engine.enforce(&f.pay(100)).unwrap();
    assert!(d.allowed);
    assert_eq!(d.remaining["org"], "3900");
    // Revocation.
    f.engine.revoke_passport(&f.passport_id).unwrap();
    let d = f.engine.enforce(&f.pay(1)).unwrap();
    assert_eq!(d.checks[0].code.as_deref(), Some("PASSPORT_REVOKED"));
    // Attestations: one chain, verified; filters; counters recomputed from the records.
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    assert_eq!(
        recs.len(),
        9,
        "8 decisions (the replay writes none) and a revocation"
    );
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
    let eid = first.evaluation_id.clone();
    let by = f
        .engine
        .attestations(&AttestationFilter {
            evaluation_id: Some(eid),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by, vec![(*first.attestation.clone().unwrap()).clone()]);
    let sums = counted(&recs);
    let state = f
        .engine
        .cumulative_state(&CounterFilter::default())
        .unwrap();
    for s in &state {
        let k = (
            s.key.namespace.to_string(),
            s.key.constraint.to_string(),
            s.key.scope.to_string(),
        );
        if s.key.constraint == "org" {
            assert_eq!(s.used, sums[&k], "{k:?}");
        }
    }
    assert_eq!(
        state
            .iter()
            .find(|s| s.key.constraint == "daily")
            .unwrap()
            .used,
        Decimal::from(100)
    );
    // Reset (recorded).
    assert_eq!(
        f.engine
            .reset_cumulative_state(&CounterFilter {
                constraint: Some("org".into()),
                ..Default::default()
            })
            .unwrap(),
        1
    );
    assert!(f
        .engine
        .cumulative_state(&CounterFilter {
            constraint: Some("org".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    assert_eq!(recs.last().unwrap()["body"]["kind"], "reset");
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
}

pub fn holds_and_approvals(store: Arc<dyn Store>) {
    let f = engine(store.clone());
    let a = f.engine.enforce(&f.llm(60)).unwrap();
    let b = f.engine.enforce(&f.llm(30)).unwrap();
    assert!(a.allowed && b.allowed);
    let c = f.engine.enforce(&f.llm(1)).unwrap();
    assert!(!c.allowed, "two in flight");
    f.engine
        .settle(a.hold_id.as_ref().unwrap(), Some(&json!({"cost": "70"})))
        .unwrap();
    assert_eq!(
        f.engine
            .settle(a.hold_id.as_ref().unwrap(), None)
            .unwrap_err()
            .code(),
        "HOLD_CLOSED"
    );
    f.engine.release(b.hold_id.as_ref().unwrap()).unwrap();
    let d = f.engine.enforce(&f.llm(30)).unwrap();
    assert!(d.allowed);
    assert_eq!(d.remaining["budget"], "0");
    // Expiry after the hold TTL (10 minutes), lazily on the next enforce: at its reservation, so
    // the budget stays spent; only its slot in flight is freed.
    f.clock.advance_ms(11 * 60_000);
    let late = f.engine.enforce(&f.llm(30)).unwrap();
    assert!(!late.allowed);
    assert!(late
        .checks
        .iter()
        .any(|c| c.constraint == "budget" && !c.passed));
    assert!(late
        .checks
        .iter()
        .any(|c| c.constraint == "in-flight" && c.passed));
    assert_eq!(
        f.engine
            .settle(&d.hold_id.clone().unwrap(), None)
            .unwrap_err()
            .code(),
        "HOLD_CLOSED"
    );
    let budget = f
        .engine
        .cumulative_state(&CounterFilter {
            constraint: Some("budget".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(budget[0].used, Decimal::from(100));
    // Approvals: escalate, approve, use once.
    let big = f.pay(950);
    let e = f.engine.enforce(&big).unwrap();
    assert_eq!(e.decision, Verdict::Escalate);
    let e2 = f.engine.enforce(&f.pay(901)).unwrap();
    assert_eq!(e2.decision, Verdict::Escalate);
    let token = f.engine.approve(&e.evaluation_id, "human", None).unwrap();
    assert_eq!(
        f.engine
            .approve(&e.evaluation_id, "human", None)
            .unwrap_err()
            .code(),
        "APPROVAL_CLOSED"
    );
    let ok = f.engine.enforce(&big.clone().approval(&token)).unwrap();
    assert_eq!(ok.decision, Verdict::Allow, "{:#?}", ok.checks);
    let again = f.engine.enforce(&big.clone().approval(&token)).unwrap();
    assert!(!again.allowed);
    f.engine
        .deny_approval(&e2.evaluation_id, "human", "no")
        .unwrap();
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
    let kinds: Vec<&str> = recs
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap())
        .collect();
    for k in [
        "hold.settled",
        "hold.released",
        "hold.expired",
        "approval.granted",
        "approval.denied",
    ] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let _ = &f.issuer;
}

/// A gate and the anonymous section both declaring a `global` constraint with one id name one
/// counter twice in a request: the store sees it once with both amounts (no lost update, no
/// double count, no negative sliding usage), so exactly `max` is admitted, fixed or sliding.
pub fn one_counter_named_twice_in_a_request(store: Arc<dyn Store>) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let org = |kind: &str| {
        json!({"id": format!("org-{kind}"), "type": "spend_limit", "field": "/amount", "max": 10,
               "window": {"size": "1h", "kind": kind}, "scope": "global"})
    };
    let engine = Engine::builder()
        .policy_value(json!({"version": 1,
            "gates": {"catalog.read": {"require": ["none:ever"], "constraints": [org("fixed"), org("sliding")]}},
            "anonymous": {"gates": ["catalog.read"], "constraints": [org("fixed"), org("sliding")]}}))
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .store(store)
        .build()
        .unwrap();
    // A hold on the shared counter, released: both reservations come back.
    let held = engine
        .enforce(
            &Request::new("catalog.read", json!({"amount": 2}))
                .client("h")
                .hold(true),
        )
        .unwrap();
    assert!(held.allowed);
    let used = |engine: &Engine| -> Vec<Decimal> {
        engine
            .cumulative_state(&CounterFilter::default())
            .unwrap()
            .iter()
            .map(|c| c.used)
            .collect()
    };
    assert_eq!(used(&engine), [Decimal::from(4), Decimal::from(4)]);
    engine.release(held.hold_id.as_deref().unwrap()).unwrap();
    assert_eq!(used(&engine), [Decimal::ZERO, Decimal::ZERO]);
    let mut admitted = 0;
    for i in 0..20 {
        clock.advance_ms(1);
        let d = engine
            .enforce(&Request::new("catalog.read", json!({"amount": 1})).client(format!("c{i}")))
            .unwrap();
        admitted += u32::from(d.allowed);
    }
    // Each request adds 1 twice (gate and anonymous section) to each of the two counters.
    assert_eq!(admitted, 5);
    let state = engine.cumulative_state(&CounterFilter::default()).unwrap();
    assert_eq!(state.len(), 2, "{state:?}");
    for c in &state {
        assert_eq!(c.used, Decimal::from(10), "{c:?}");
    }
    // The sliding one empties exactly once its hour has passed; never below zero.
    clock.advance_ms(3_600_000);
    for c in engine.cumulative_state(&CounterFilter::default()).unwrap() {
        assert!(c.used >= Decimal::ZERO, "{c:?}");
    }
}

/// Issue 14, item 2: a settle whose actual amount takes its counter past the cap is recorded (the
/// money is already spent) and flagged: the `hold.settled` record and the result carry `overrun`
/// (per constraint: cap, usage before, reservation, actual). A settle above its reservation but
/// within the cap is as before, with no flag.
pub fn settle_above_the_cap_records_the_overrun(store: Arc<dyn Store>) {
    let f = engine(store);
    let a = f.engine.enforce(&f.llm(60)).unwrap().hold_id.unwrap();
    let b = f.engine.enforce(&f.llm(30)).unwrap().hold_id.unwrap();
    let within = f.engine.settle(&b, Some(&json!({"cost": 40}))).unwrap();
    assert!(within.get("overrun").is_none(), "{within}");
    assert!(within["attestation"]["body"]["data"]
        .get("overrun")
        .is_none());
    let r = f.engine.settle(&a, Some(&json!({"cost": "75.5"}))).unwrap();
    assert_eq!(r["state"], "settled");
    assert_eq!(r["amounts"]["budget"], "75.5");
    let over = r["overrun"].as_array().unwrap();
    assert_eq!(over.len(), 1, "{r}");
    let o = &over[0];
    for (k, v) in [
        ("constraint", "budget"),
        ("cap", "100"),
        ("used_before", "100"),
        ("reserved", "60"),
        ("actual", "75.5"),
    ] {
        assert_eq!(o[k], v, "{k} in {o}");
    }
    assert_eq!(o.as_object().unwrap().len(), 5, "{o}");
    let body = &r["attestation"]["body"];
    assert_eq!(body["kind"], "hold.settled");
    assert_eq!(body["data"]["overrun"], r["overrun"]);
    let budget = |f: &Fx| {
        f.engine
            .cumulative_state(&CounterFilter {
                constraint: Some("budget".into()),
                ..Default::default()
            })
            .unwrap()[0]
            .used
    };
    assert_eq!(budget(&f), "115.5".parse::<Decimal>().unwrap());
    // The counter as it is: past its cap, so the next request is denied until the window moves.
    let d = f.engine.enforce(&f.llm(1)).unwrap();
    assert!(!d.allowed);
    let c = d.checks.iter().find(|c| c.constraint == "budget").unwrap();
    assert!(!c.passed && c.observed.as_deref() == Some("116.5"), "{c:?}");
    assert_eq!(f.engine.settle(&a, None).unwrap_err().code(), "HOLD_CLOSED");
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
    // The next day's window starts from zero.
    f.clock.advance_ms(86_400_000);
    assert!(f.engine.enforce(&f.llm(99)).unwrap().allowed);
}
