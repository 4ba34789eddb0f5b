//! Differential property test: random schedules of commits (fixed, calendar, sliding and forever counters,
//! enforced or not, with holds), hold resolutions and clock moves (forwards and, as between
//! engines with skewed clocks, backwards) applied to the memory store and to SQLite / Redis;
//! every outcome, every usage and every listed counter (that reads more than zero) must be
//! identical.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use passgate::store::{
    Commit, CounterFilter, CounterOp, HeldOp, HoldRecord, HoldResolution, HoldState, MemoryStore,
    RedisStore, SettleRule, SqliteStore, Store, WindowKind,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rust_decimal::Decimal;

use crate::support::{fixed, key, sliding, Chain, RedisServer, DAY, T0};

#[derive(Debug, Clone)]
enum Step {
    Commit {
        ops: Vec<(usize, u16)>,
        enforce: bool,
        hold: bool,
    },
    Resolve {
        pick: usize,
        amounts: Vec<u16>,
        state: u8,
        /// `false`: a settle recorded past its cap (an overrun).
        enforce: bool,
    },
    Tick(u32),
    Back(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (prop::collection::vec((0usize..5, 0u16..4000), 1..4), prop::bool::weighted(0.85), any::<bool>())
            .prop_map(|(ops, enforce, hold)| Step::Commit { ops, enforce, hold }),
        2 => (any::<usize>(), prop::collection::vec(0u16..5000, 4), 0u8..3, prop::bool::weighted(0.7))
            .prop_map(|(pick, amounts, state, enforce)| Step::Resolve { pick, amounts, state, enforce }),
        2 => (0u32..90_000).prop_map(Step::Tick),
        1 => (0u16..20_000).prop_map(Step::Back),
    ]
}

/// Counter templates: (constraint, window, max).
fn template(i: usize) -> (&'static str, WindowKind, &'static str) {
    match i {
        0 => ("fixed", fixed(60_000), "100"),
        1 => ("sliding", sliding(60_000), "100"),
        2 => ("forever", WindowKind::Forever, "300"),
        // A London calendar day: in January its midnight is T0's, which the clock crosses both
        // ways (a calendar window in SQLite and Redis must behave as the memory store's).
        4 => (
            "london-day",
            WindowKind::Calendar {
                unit: passgate::__private::calendar::CalendarUnit::Day,
                tz: "Europe/London".parse().unwrap(),
            },
            "1000.5",
        ),
        _ => ("daily", fixed(DAY), "1000.5"),
    }
}

fn counter_op(i: usize, cents: u16) -> CounterOp {
    let (name, window, max) = template(i);
    let amount = Decimal::new(cents.into(), 2);
    CounterOp {
        key: key("gate:g", name),
        window,
        amount,
        need: amount,
        max: max.parse().unwrap(),
    }
}

struct Side {
    store: Arc<dyn Store>,
    chain: Chain,
}

fn run_case(other: Arc<dyn Store>, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let sides = [
        Side {
            store: Arc::new(MemoryStore::new()),
            chain: Chain::new("c"),
        },
        Side {
            store: other,
            chain: Chain::new("c"),
        },
    ];
    let mut now = T0;
    let mut holds: Vec<HoldRecord> = Vec::new();
    let mut n = 0;
    for s in steps {
        match s {
            Step::Commit { ops, enforce, hold } => {
                let mut ops: Vec<CounterOp> =
                    ops.into_iter().map(|(i, c)| counter_op(i, c)).collect();
                ops.sort_by(|a, b| a.key.cmp(&b.key));
                ops.dedup_by(|a, b| a.key == b.key);
                n += 1;
                let h = hold.then(|| HoldRecord {
                    id: format!("hld_{n}"),
                    evaluation_id: format!("evl_{n}"),
                    gate: "g".into(),
                    agent_id: None,
                    passport_id: None,
                    created_ms: now,
                    expires_ms: now + 300_000,
                    ops: ops
                        .iter()
                        .map(|o| HeldOp {
                            op: o.clone(),
                            settle: SettleRule::Keep,
                        })
                        .collect(),
                    state: HoldState::Open,
                });
                let mut outs = Vec::new();
                for side in &sides {
                    let r = side.chain.record(now, Some("g"), None, "allow");
                    let out = side
                        .store
                        .commit(&Commit {
                            now_ms: now,
                            counters: &ops,
                            enforce_bounds: enforce,
                            record: &r,
                            idempotency: None,
                            hold: h.as_ref(),
                            approval_request: None,
                            use_approval: None,
                            nonce: None,
                            guard: None,
                            expect_usage: None,
                        })
                        .unwrap();
                    if out != passgate::store::CommitOutcome::Committed {
                        side.chain.unwind();
                    }
                    outs.push(out);
                }
                prop_assert_eq!(&outs[0], &outs[1]);
                if let (Some(h), passgate::store::CommitOutcome::Committed) = (h, &outs[0]) {
                    holds.push(h);
                }
            }
            Step::Resolve {
                pick,
                amounts,
                state,
                enforce,
            } if !holds.is_empty() => {
                let h = holds.remove(pick % holds.len());
                let amounts: Vec<Decimal> = amounts
                    .iter()
                    .take(h.ops.len())
                    .map(|c| Decimal::new((*c).into(), 2))
                    .collect();
                let state = [HoldState::Settled, HoldState::Released, HoldState::Expired]
                    [usize::from(state)];
                let mut outs = Vec::new();
                for side in &sides {
                    let r = side.chain.event(now, "hold.x");
                    let out = side
                        .store
                        .hold_resolve(&HoldResolution {
                            hold_id: &h.id,
                            now_ms: now,
                            state,
                            amounts: &amounts,
                            enforce_bounds: enforce,
                            record: &r,
                        })
                        .unwrap();
                    if out != passgate::store::HoldOutcome::Resolved {
                        side.chain.unwind();
                    }
                    outs.push(out);
                }
                prop_assert_eq!(&outs[0], &outs[1]);
                if matches!(outs[0], passgate::store::HoldOutcome::Rejected { .. }) {
                    holds.push(h);
                }
            }
            Step::Tick(ms) => now += i64::from(ms),
            Step::Back(ms) => now -= i64::from(ms),
            Step::Resolve { .. } => {}
        }
        let probe: Vec<CounterOp> = (0..4).map(|i| counter_op(i, 1)).collect();
        let a = sides[0].store.read(&probe, now).unwrap();
        let b = sides[1].store.read(&probe, now).unwrap();
        prop_assert_eq!(a, b, "usage at {}", now - T0);
        // Counters reading zero may already be pruned (the memory store drops them a grace
        // period after their window can no longer hold anything): compare the others.
        let listed = |s: &Side| -> Vec<_> {
            s.store
                .counters(&CounterFilter::default(), now)
                .unwrap()
                .into_iter()
                .filter(|c| !c.used.is_zero())
                .collect()
        };
        prop_assert_eq!(listed(&sides[0]), listed(&sides[1]));
        let due_a: Vec<String> = sides[0]
            .store
            .holds_due(now, 100)
            .unwrap()
            .into_iter()
            .map(|h| h.id().to_string())
            .collect();
        let due_b: Vec<String> = sides[1]
            .store
            .holds_due(now, 100)
            .unwrap()
            .into_iter()
            .map(|h| h.id().to_string())
            .collect();
        prop_assert_eq!(due_a, due_b);
    }
    let a = sides[0].store.attestations(&Default::default()).unwrap();
    let b = sides[1].store.attestations(&Default::default()).unwrap();
    prop_assert_eq!(a, b);
    Ok(())
}

/// `PASSGATE_DIFF_CASES=N` runs N cases (default 40).
fn runner() -> TestRunner {
    let cases = std::env::var("PASSGATE_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn sqlite_matches_memory() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    runner()
        .run(&prop::collection::vec(step(), 1..50), |steps| {
            let url = format!(
                "sqlite://{}/d{}.db",
                dir.path().display(),
                n.fetch_add(1, Ordering::SeqCst)
            );
            run_case(Arc::new(SqliteStore::open(&url).unwrap()), steps)
        })
        .unwrap();
}

#[test]
fn redis_matches_memory() {
    let server = RedisServer::start();
    let n = AtomicUsize::new(0);
    runner()
        .run(&prop::collection::vec(step(), 1..50), |steps| {
            let url = server.url(&format!("d{}", n.fetch_add(1, Ordering::SeqCst)));
            run_case(Arc::new(RedisStore::open(&url).unwrap()), steps)
        })
        .unwrap();
}
