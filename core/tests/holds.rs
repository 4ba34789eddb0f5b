//! Holds (reserve, settle, release, expire), the `concurrency` constraint, and the property that
//! settled plus outstanding never exceeds a cap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

mod support;

use support::T0;

use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::store::{
    ApprovalRecord, ApprovalState, AttestationFilter as StoreFilter, Commit, CommitOutcome,
    CounterOp, CounterState, DueHold, HoldOutcome, HoldRecord, HoldResolution, IdempotencyRecord,
    MemoryStore, Store, StoredRecord,
};
use passgate::{
    attestation, AttestationFilter, CounterFilter, Engine, Issuer, PassportRequest, Request,
    Verdict,
};
use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{json, Value};

struct F {
    engine: Engine,
    clock: ManualClock,
    token: String,
}

fn fixture(constraints: Value) -> F {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let policy = json!({"version": 1, "hold_ttl": "10m", "gates": {
        "llm.call": {"require": ["llm"], "constraints": constraints},
        "llm.fast": {"require": ["llm"], "hold_ttl": "30s", "constraints": [
            {"id": "fast-budget", "type": "spend_limit", "field": "/cost", "max": 10, "window": "1d"}]}
    }});
    let engine = support::engine(policy, &issuer, &clock);
    let req = PassportRequest::new("agent", ["llm"]).with_expires_in_secs(365 * 86400);
    let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    F {
        engine,
        clock,
        token,
    }
}

fn budget() -> Value {
    json!([{"id": "budget", "type": "spend_limit", "field": "/cost", "max": 100, "window": "1d"},
           {"id": "calls", "type": "rate_limit", "max": 1000, "window": "1d"}])
}

impl F {
    fn hold(&self, cost: impl Into<Value>) -> passgate::Decision {
        self.engine
            .enforce(
                &Request::new("llm.call", json!({"cost": cost.into()}))
                    .passport(&self.token)
                    .hold(true),
            )
            .unwrap()
    }
    fn used(&self, id: &str) -> String {
        let s = self
            .engine
            .cumulative_state(&CounterFilter {
                constraint: Some(id.into()),
                ..Default::default()
            })
            .unwrap();
        s.iter()
            .map(|c| c.used)
            .sum::<Decimal>()
            .normalize()
            .to_string()
    }
}

#[test]
fn reserve_then_settle_keeps_the_actual_amount() {
    let f = fixture(budget());
    let d = f.hold(60);
    assert_eq!(d.decision, Verdict::Allow);
    let hold = d.hold_id.clone().expect("a hold id");
    assert_eq!(d.remaining["budget"], "40");
    assert_eq!(
        d.attestation.as_ref().unwrap()["body"]["checks"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    // The reservation counts against the cap while open.
    assert!(!f.hold(50).allowed);
    let r = f
        .engine
        .settle(&hold, Some(&json!({"cost": "42.50"})))
        .unwrap();
    assert_eq!(r["state"], "settled");
    assert_eq!(r["amounts"]["budget"], "42.5");
    assert_eq!(f.used("budget"), "42.5");
    assert_eq!(
        f.used("calls"),
        "1",
        "a settled request still counts as a call; the denied one does not"
    );
    // Twice is an error with its own code.
    assert_eq!(
        f.engine.settle(&hold, None).unwrap_err().code(),
        "HOLD_CLOSED"
    );
    assert_eq!(f.engine.release(&hold).unwrap_err().code(), "HOLD_CLOSED");
    assert_eq!(
        f.engine.settle("hld_nope", None).unwrap_err().code(),
        "HOLD_UNKNOWN"
    );
    // Each step is attested.
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    let kinds: Vec<&str> = recs
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["decision", "decision", "hold.settled"]);
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
}

#[test]
fn settle_above_the_cap_is_recorded_and_flagged() {
    let f = fixture(budget());
    let h1 = f.hold(30).hold_id.unwrap();
    let h2 = f.hold(30).hold_id.unwrap();
    // 60 reserved: settling h1 at 70 (40 more) fits exactly (100): no overrun.
    let r = f.engine.settle(&h1, Some(&json!({"cost": 70}))).unwrap();
    assert!(r.get("overrun").is_none(), "{r}");
    assert_eq!(f.used("budget"), "100");
    // h2 at 31 passes 100: the money is spent, so it is recorded, and flagged.
    let r = f.engine.settle(&h2, Some(&json!({"cost": 31}))).unwrap();
    assert_eq!(r["state"], "settled");
    let o = &r["overrun"][0];
    assert_eq!(
        (
            &o["constraint"],
            &o["cap"],
            &o["used_before"],
            &o["reserved"],
            &o["actual"]
        ),
        (
            &json!("budget"),
            &json!("100"),
            &json!("100"),
            &json!("30"),
            &json!("31")
        )
    );
    assert_eq!(r["attestation"]["body"]["data"]["overrun"], r["overrun"]);
    assert_eq!(f.used("budget"), "101");
    assert!(!f.hold(0).allowed, "nothing fits past the cap");
    assert_eq!(
        f.engine
            .settle(&h2, Some(&json!({"cost": -1})))
            .unwrap_err()
            .code(),
        "HOLD_CLOSED"
    );
}

/// A settle read as fitting, pushed past the cap by a concurrent writer before it is stored: the
/// store refuses it as it stands, and the engine records it as the overrun it now is (a record
/// without `overrun` always fits its caps).
#[test]
fn settle_pushed_over_the_cap_meanwhile_is_flagged() {
    let issuer = Issuer::generate();
    let issuer = issuer.unwrap();
    let clock = ManualClock::new(T0);
    let store = Arc::new(StaleReads::default());
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {"llm.call": {"require": ["llm"], "constraints": budget()}}}))
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .store(store.clone())
        .build()
        .unwrap();
    let req = PassportRequest::new("agent", ["llm"]).with_expires_in_secs(365 * 86400);
    let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    let hold = |cost: i64| {
        let r = Request::new("llm.call", json!({"cost": cost}))
            .passport(&token)
            .hold(true);
        engine.enforce(&r).unwrap().hold_id.unwrap()
    };
    let (a, _b) = (hold(40), hold(50));
    // From here on the engine's reads see every counter at zero: 40 -> 55 looks like it fits.
    store.stale.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = engine.settle(&a, Some(&json!({"cost": 55}))).unwrap();
    let o = &r["overrun"][0];
    assert_eq!(
        (&o["used_before"], &o["actual"]),
        (&json!("90"), &json!("55")),
        "{r}"
    );
    store
        .stale
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let used = engine.cumulative_state(&CounterFilter::default()).unwrap();
    let budget = used.iter().find(|c| c.key.constraint == "budget").unwrap();
    assert_eq!(budget.used, Decimal::from(105));
    let recs = engine.attestations(&AttestationFilter::default()).unwrap();
    attestation::verify_chain(&recs, engine.signer_did()).unwrap();
    assert_eq!(
        recs.len(),
        3,
        "two decisions, one settle: the refused attempt left nothing"
    );
}

/// The memory store, except that `read` (the engine's advice) can be made to see nothing.
#[derive(Debug, Default)]
struct StaleReads {
    inner: MemoryStore,
    stale: std::sync::atomic::AtomicBool,
    /// Every commit that counts something is refused as if a concurrent writer got there first.
    contended: std::sync::atomic::AtomicBool,
}

impl Store for StaleReads {
    fn nonce_seen(&self, key: &str, now: i64) -> passgate::Result<bool> {
        self.inner.nonce_seen(key, now)
    }
    fn read(&self, c: &[CounterOp], now: i64) -> passgate::Result<Vec<Decimal>> {
        if self.stale.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(vec![Decimal::ZERO; c.len()]);
        }
        self.inner.read(c, now)
    }
    fn commit(&self, c: &Commit<'_>) -> passgate::Result<CommitOutcome> {
        if self.contended.load(std::sync::atomic::Ordering::SeqCst) && !c.counters.is_empty() {
            return Ok(CommitOutcome::Rejected {
                usage: vec![Decimal::ZERO; c.counters.len()],
            });
        }
        self.inner.commit(c)
    }
    fn append(&self, r: &StoredRecord) -> passgate::Result<()> {
        self.inner.append(r)
    }
    fn idempotency_get(
        &self,
        ns: &str,
        key: &str,
        now: i64,
    ) -> passgate::Result<Option<IdempotencyRecord>> {
        self.inner.idempotency_get(ns, key, now)
    }
    fn revoke(&self, id: &str, now: i64) -> passgate::Result<()> {
        self.inner.revoke(id, now)
    }
    fn first_revoked(&self, ids: &[&str]) -> passgate::Result<Option<String>> {
        self.inner.first_revoked(ids)
    }
    fn attestations(&self, f: &StoreFilter) -> passgate::Result<Vec<StoredRecord>> {
        self.inner.attestations(f)
    }
    fn counters(&self, f: &CounterFilter, now: i64) -> passgate::Result<Vec<CounterState>> {
        self.inner.counters(f, now)
    }
    fn reset_counters(&self, f: &CounterFilter) -> passgate::Result<usize> {
        self.inner.reset_counters(f)
    }
    fn hold_get(&self, id: &str) -> passgate::Result<Option<HoldRecord>> {
        self.inner.hold_get(id)
    }
    fn hold_resolve(&self, r: &HoldResolution<'_>) -> passgate::Result<HoldOutcome> {
        self.inner.hold_resolve(r)
    }
    fn holds_due(&self, now: i64, limit: usize) -> passgate::Result<Vec<DueHold>> {
        self.inner.holds_due(now, limit)
    }
    fn hold_quarantine(&self, id: &str) -> passgate::Result<bool> {
        self.inner.hold_quarantine(id)
    }
    fn approval_get(&self, id: &str) -> passgate::Result<Option<ApprovalRecord>> {
        self.inner.approval_get(id)
    }
    fn approval_resolve(
        &self,
        id: &str,
        to: &ApprovalState,
        r: &StoredRecord,
    ) -> passgate::Result<Option<ApprovalState>> {
        self.inner.approval_resolve(id, to, r)
    }
}

#[test]
fn release_gives_everything_back() {
    let f = fixture(budget());
    let h = f.hold(80).hold_id.unwrap();
    assert_eq!(f.used("budget"), "80");
    let r = f.engine.release(&h).unwrap();
    assert_eq!(r["state"], "released");
    assert_eq!(f.used("budget"), "0");
    assert_eq!(f.used("calls"), "0");
    assert!(f.hold(100).allowed);
}

#[test]
fn holds_expire_lazily_and_explicitly_with_policy_and_gate_ttls() {
    let f = fixture(budget());
    let h = f.hold(90).hold_id.unwrap();
    let fast = f
        .engine
        .enforce(
            &Request::new("llm.fast", json!({"cost": 10}))
                .passport(&f.token)
                .hold(true),
        )
        .unwrap();
    let fast = fast.hold_id.unwrap();
    // The gate's 30 s TTL passes first: expired, it keeps its reservation (a host that never
    // settles gets nothing for free).
    f.clock.advance_ms(31_000);
    assert_eq!(f.engine.expire_holds(usize::MAX).unwrap(), 1);
    assert_eq!(
        f.engine.settle(&fast, None).unwrap_err().code(),
        "HOLD_CLOSED"
    );
    assert_eq!(f.used("fast-budget"), "10");
    // The policy's 10 min TTL: enforce expires it lazily, at its reserved 90, so 100 does not fit.
    f.clock.advance_ms(10 * 60_000);
    assert!(!f.hold(100).allowed);
    assert_eq!(f.used("budget"), "90");
    let e = f.engine.settle(&h, None).unwrap_err();
    assert_eq!(e.code(), "HOLD_CLOSED");
    assert!(e.to_string().contains("expired"), "{e}");
    let kinds: Vec<String> = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap()
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds.iter().filter(|k| *k == "hold.expired").count(), 2);
}

#[test]
fn concurrency_counts_holds_in_flight() {
    let f = fixture(json!([{"id": "in-flight", "type": "concurrency", "max": 2}]));
    let a = f.hold(0).hold_id.unwrap();
    let _b = f.hold(0).hold_id.unwrap();
    let d = f.hold(0);
    assert!(!d.allowed);
    let c = d
        .checks
        .iter()
        .find(|c| c.constraint == "in-flight")
        .unwrap();
    assert_eq!(c.message, "2 of 2 in flight, no slot is free");
    // A request without a hold needs a free slot too, but takes none.
    let plain = Request::new("llm.call", json!({"cost": 0})).passport(&f.token);
    assert!(!f.engine.enforce(&plain).unwrap().allowed);
    f.engine.settle(&a, None).unwrap();
    assert!(f.engine.enforce(&plain).unwrap().allowed);
    assert!(
        f.engine.enforce(&plain).unwrap().allowed,
        "the plain request took no slot"
    );
    assert!(f.hold(0).allowed);
    assert!(!f.hold(0).allowed);
}

#[test]
fn idempotency_fingerprint_includes_hold() {
    let f = fixture(budget());
    let r = Request::new("llm.call", json!({"cost": 1}))
        .passport(&f.token)
        .idempotency_key("k");
    f.engine.enforce(&r.clone().hold(true)).unwrap();
    assert_eq!(
        f.engine.enforce(&r).unwrap_err().code(),
        "IDEMPOTENCY_CONFLICT"
    );
    let again = f.engine.enforce(&r.hold(true)).unwrap();
    assert!(again.replayed && again.hold_id.is_some());
}

#[derive(Debug, Clone)]
enum Step {
    Hold(u8),
    Settle(usize, Option<u8>),
    Release(usize),
    Tick(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0u8..40).prop_map(Step::Hold),
        2 => (any::<usize>(), proptest::option::of(0u8..50)).prop_map(|(i, a)| Step::Settle(i, a)),
        1 => any::<usize>().prop_map(Step::Release),
        1 => (0u32..400_000).prop_map(Step::Tick),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Holds taken, settled (at random actual amounts), released and expired in random order:
    /// admission never passes the cap (settled + outstanding stays within it until a settle
    /// reports an overrun); a settle carries `overrun` exactly when its actual amount takes the
    /// counter past the cap, with the usage it found; and once every hold is resolved the counter
    /// equals the settled sum.
    #[test]
    fn admission_never_passes_the_cap_and_every_overrun_is_flagged(steps in prop::collection::vec(step(), 1..80)) {
        // A quota (never resets) so the model needs no windows; TTL 10 min.
        let f = fixture(json!([{"id": "budget", "type": "spend_limit", "field": "/cost", "max": 100, "window": "366d"}]));
        let cap = Decimal::from(100);
        let mut open: Vec<(String, i64)> = Vec::new(); // (id, reserved)
        let mut settled = 0i64;
        let mut overrun_seen = false;
        for s in steps {
            match s {
                Step::Hold(a) => {
                    let before: Decimal = f.used("budget").parse().unwrap();
                    if let Some(id) = f.hold(a).hold_id {
                        prop_assert!(before + Decimal::from(a) <= cap, "admitted past the cap");
                        open.push((id, a.into()));
                    }
                }
                Step::Settle(i, actual) if !open.is_empty() => {
                    let (id, reserved) = open.remove(i % open.len());
                    let before: Decimal = f.used("budget").parse().unwrap();
                    let actual_v = actual.map(|a| json!({"cost": a}));
                    match f.engine.settle(&id, actual_v.as_ref()) {
                        Ok(r) => {
                            let paid = actual.map_or(reserved, i64::from);
                            settled += paid;
                            let past = paid > reserved
                                && before + Decimal::from(paid - reserved) > cap;
                            prop_assert_eq!(r.get("overrun").is_some(), past, "{}", r);
                            if past {
                                overrun_seen = true;
                                let o = &r["overrun"][0];
                                prop_assert_eq!(&o["used_before"], &json!(before.normalize().to_string()));
                                prop_assert_eq!(&o["actual"], &json!(paid.to_string()));
                            }
                        }
                        // Expired meanwhile: settled at its reservation.
                        Err(e) if e.code() == "HOLD_CLOSED" => settled += reserved,
                        Err(e) => panic!("{e}"),
                    }
                }
                Step::Release(i) if !open.is_empty() => {
                    let (id, reserved) = open.remove(i % open.len());
                    if let Err(e) = f.engine.release(&id) {
                        prop_assert_eq!(e.code(), "HOLD_CLOSED");
                        settled += reserved;
                    }
                }
                Step::Tick(ms) => f.clock.advance_ms(ms.into()),
                _ => {}
            }
            let used: Decimal = f.used("budget").parse().unwrap();
            prop_assert!(overrun_seen || used <= cap, "used {used} with no overrun reported");
        }
        for (id, reserved) in open.drain(..) {
            if f.engine.release(&id).is_err() {
                settled += reserved; // expired meanwhile, at its reservation
            }
        }
        f.engine.expire_holds(usize::MAX).unwrap();
        let used: Decimal = f.used("budget").parse().unwrap();
        prop_assert_eq!(used, Decimal::from(settled));
    }
}

/// A host that takes holds and never settles them: expiry keeps every count and reservation, so
/// the caps hold (once, 10 requests were admitted against 2 a day and a quota of 3).
#[test]
fn holds_never_settled_never_refund_their_counts() {
    let f = fixture(json!([
        {"id": "daily", "type": "rate_limit", "max": 2, "window": "1d"},
        {"id": "ever", "type": "quota", "max": 3},
        {"id": "budget", "type": "spend_limit", "field": "/cost", "max": 100, "window": "366d"},
        {"id": "in-flight", "type": "concurrency", "max": 1}
    ]));
    let mut admitted = 0;
    for _ in 0..10 {
        admitted += usize::from(f.hold(30).allowed);
        // Past every TTL: the next enforce (or the sweeper) expires what is open.
        f.clock.advance_ms(11 * 60_000);
        f.engine.expire_holds(usize::MAX).unwrap();
    }
    assert_eq!(admitted, 2, "two a day");
    assert_eq!(f.used("daily"), "2");
    assert_eq!(f.used("budget"), "60");
    // Concurrency slots are the one thing expiry frees.
    assert_eq!(f.used("in-flight"), "0");
    f.clock.advance_ms(86_400_000);
    admitted = 0;
    for _ in 0..10 {
        admitted += usize::from(f.hold(30).allowed);
        f.clock.advance_ms(11 * 60_000);
    }
    assert_eq!(admitted, 1, "the quota of 3 is spent");
}

/// Found by the state review: when the counters keep moving under concurrent writers, the engine
/// gives up with a deny — which used to be stored under the request's idempotency key, so the
/// retry the host makes got the same deny back for 24 hours. Now the deny says why (CONTENTION)
/// and a retry with the same key decides afresh.
#[test]
fn a_contention_deny_is_not_replayed_under_its_idempotency_key() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let store = Arc::new(StaleReads::default());
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {"llm.call": {"require": ["llm"], "constraints": budget()}}}))
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .store(store.clone())
        .build()
        .unwrap();
    let req = PassportRequest::new("agent", ["llm"]).with_expires_in_secs(365 * 86400);
    let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    let r = Request::new("llm.call", json!({"cost": 5}))
        .passport(&token)
        .idempotency_key("retry-me");
    store
        .contended
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let first = engine.enforce(&r).unwrap();
    assert!(!first.allowed);
    let why: Vec<_> = first
        .failed()
        .filter_map(|c| c.code.as_deref().map(str::to_string))
        .collect();
    assert_eq!(why, ["CONTENTION"]);
    store
        .contended
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let retry = engine.enforce(&r).unwrap();
    assert!(retry.allowed && !retry.replayed);
    let again = engine.enforce(&r).unwrap();
    assert!(again.allowed && again.replayed);
    let recs = engine.attestations(&AttestationFilter::default()).unwrap();
    attestation::verify_chain(&recs, engine.signer_did()).unwrap();
    assert_eq!(
        recs.len(),
        2,
        "the contention deny and the allow are both recorded"
    );
}
