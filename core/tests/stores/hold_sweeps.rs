//! Issue 14, item 11: hold expiry in bounded batches. `enforce` expires at most
//! `INLINE_SWEEP_LIMIT` due holds per call (once a second); `expire_holds(limit)` expires at most
//! `limit` and repeated calls drain the rest; a hold row that cannot be read is skipped on its own
//! and never stalls a sweep.

use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::store::{DueHold, Store};
use passgate::{
    attestation, AttestationFilter, CounterFilter, Engine, Issuer, PassportRequest, Request,
    INLINE_SWEEP_LIMIT,
};
use rust_decimal::Decimal;
use serde_json::json;

use crate::support::{RedisServer, T0};

struct Fx {
    engine: Engine,
    clock: ManualClock,
    token: String,
}

fn fixture(store: Arc<dyn Store>) -> Fx {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "hold_ttl": "1m", "gates": {"job": {
        "require": ["job"], "constraints": [
            {"id": "slots", "type": "concurrency", "max": 1000},
            {"id": "calls", "type": "quota", "max": 100000}
        ]}}}))
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .store(store)
        .build()
        .unwrap();
    let req = PassportRequest::new("agent", ["job"]).with_expires_in_secs(365 * 86400);
    let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    Fx {
        engine,
        clock,
        token,
    }
}

impl Fx {
    fn job(&self, hold: bool) -> Request {
        Request::new("job", json!({}))
            .passport(&self.token)
            .hold(hold)
    }
    /// Takes `n` holds, one millisecond apart (so they fall due in this order); returns their ids.
    fn holds(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.clock.advance_ms(1);
                let d = self.engine.enforce(&self.job(true)).unwrap();
                assert!(d.allowed, "{:?}", d.checks);
                d.hold_id.unwrap()
            })
            .collect()
    }
    fn due(&self) -> usize {
        let now = self.engine.now_ms();
        self.engine.store().holds_due(now, 10_000).unwrap().len()
    }
    fn used(&self, constraint: &str) -> Decimal {
        let f = CounterFilter {
            constraint: Some(constraint.into()),
            ..Default::default()
        };
        self.engine.cumulative_state(&f).unwrap()[0].used
    }
    fn expired_records(&self) -> usize {
        let f = AttestationFilter {
            kind: Some("hold.expired".into()),
            ..Default::default()
        };
        self.engine.attestations(&f).unwrap().len()
    }
}

/// 200 expired holds: one `enforce` expires exactly the inline batch (and the next call in the
/// same second none); `expire_holds(50)` returns at most 50, and repeated calls drain the rest.
pub fn expire_holds_in_bounded_batches(store: Arc<dyn Store>) {
    let f = fixture(store);
    f.holds(200);
    assert_eq!(f.used("slots"), Decimal::from(200));
    f.clock.advance_ms(2 * 60_000);
    assert_eq!(f.due(), 200);
    assert!(f.engine.enforce(&f.job(false)).unwrap().allowed);
    assert_eq!(f.expired_records(), INLINE_SWEEP_LIMIT);
    assert_eq!(f.due(), 200 - INLINE_SWEEP_LIMIT);
    assert!(f.engine.enforce(&f.job(false)).unwrap().allowed);
    assert_eq!(
        f.due(),
        200 - INLINE_SWEEP_LIMIT,
        "at most one sweep a second"
    );
    let mut drained = Vec::new();
    loop {
        let n = f.engine.expire_holds(50).unwrap();
        assert!(n <= 50, "{n}");
        drained.push(n);
        if n == 0 {
            break;
        }
    }
    assert_eq!(drained, [50, 50, 36, 0]);
    assert_eq!(f.due(), 0);
    assert_eq!(f.expired_records(), 200);
    assert_eq!(f.used("slots"), Decimal::ZERO, "every slot freed");
    assert_eq!(f.used("calls"), Decimal::from(202), "every call kept");
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
}

/// Corrupts the first `bad` of ten holds with `corrupt`, then sweeps with a limit smaller than
/// the number of bad rows: every call makes progress, the bad rows are skipped (taken out of the
/// open holds), the good ones expire, and nothing errs.
fn corrupt_rows_are_skipped(store: Arc<dyn Store>, corrupt: &dyn Fn(usize, &str)) {
    let f = fixture(store);
    let ids = f.holds(10);
    for (i, id) in ids.iter().take(3).enumerate() {
        corrupt(i, id);
    }
    f.clock.advance_ms(2 * 60_000);
    let due = f.engine.store().holds_due(f.engine.now_ms(), 10).unwrap();
    let unreadable: Vec<&str> = due
        .iter()
        .filter(|d| matches!(d, DueHold::Unreadable { .. }))
        .map(DueHold::id)
        .collect();
    assert_eq!(
        unreadable,
        ids[..3].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let mut expired = 0;
    for _ in 0..10 {
        expired += f.engine.expire_holds(2).unwrap();
    }
    assert_eq!(expired, 7, "every readable hold expired");
    assert_eq!(f.due(), 0, "the unreadable ones no longer come up");
    assert_eq!(f.engine.expire_holds(usize::MAX).unwrap(), 0);
    assert!(f.engine.enforce(&f.job(false)).unwrap().allowed);
    // Their slots stay taken (their counters are left at the reservation); the rest are free.
    assert_eq!(f.used("slots"), Decimal::from(3));
    let recs = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
}

#[test]
fn sqlite_skips_unreadable_hold_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pg.db");
    let store = passgate::store::open(&format!("sqlite://{}", path.display())).unwrap();
    let db = rusqlite::Connection::open(&path).unwrap();
    let corrupt = |i: usize, id: &str| {
        let garbage: &[&str] = &[
            "UPDATE holds SET record = 'garbage' WHERE id = ?1",
            "UPDATE holds SET record = x'00ff' WHERE id = ?1",
            "UPDATE holds SET record = '{\"id\": \"hld_someone_else\"}' WHERE id = ?1",
        ];
        db.execute(garbage[i], [id]).unwrap();
    };
    corrupt_rows_are_skipped(store, &corrupt);
}

#[test]
fn redis_skips_unreadable_hold_keys() {
    let server = RedisServer::start();
    let store = passgate::store::open(&server.url("t")).unwrap();
    let corrupt = |i: usize, id: &str| {
        let key = format!("{{t}}:h:{id}");
        match i {
            0 => {
                let _: i64 = server.query(&["HSET", &key, "rec", "garbage"]);
            }
            1 => {
                let _: i64 = server.query(&["DEL", &key]);
                let _: String = server.query(&["SET", &key, "not a hash"]);
            }
            _ => {
                let _: i64 = server.query(&["DEL", &key]);
            }
        }
    };
    corrupt_rows_are_skipped(store, &corrupt);
    let bad: Vec<String> = server.query(&["SMEMBERS", "{t}:holds:unreadable"]);
    assert_eq!(bad.len(), 3, "kept for the operator: {bad:?}");
}

/// Issue 14, item 9: expired idempotency records are swept by time as well as by write count,
/// in bounded batches: a process that writes little (here: 3 commits, not 1,024) still sweeps.
#[test]
fn sqlite_sweeps_expired_idempotency_records_without_many_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/idem.db", dir.path().display());
    let fx = fixture(passgate::store::open(&format!("sqlite://{path}")).unwrap());
    let rows = || -> i64 {
        rusqlite::Connection::open(&path)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM idempotency", [], |r| r.get(0))
            .unwrap()
    };
    for key in ["a", "b"] {
        let d = fx
            .engine
            .enforce(&fx.job(false).idempotency_key(key))
            .unwrap();
        assert!(d.allowed);
    }
    assert_eq!(rows(), 2);
    fx.clock
        .advance_ms(passgate::engine::IDEMPOTENCY_TTL_MS + 60_000);
    assert!(fx.engine.enforce(&fx.job(false)).unwrap().allowed);
    assert_eq!(
        rows(),
        0,
        "both expired records were swept by the next commit"
    );
}
