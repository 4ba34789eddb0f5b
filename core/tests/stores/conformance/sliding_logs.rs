//! Sliding logs stay bounded (`MAX_SLIDING_LOG` entries per counter) with one rule on every
//! backend: zero amounts are not logged, one millisecond's amounts share an entry, and past the
//! bound the oldest entries merge into the next-oldest one's (later) time. Checked against a
//! reference model of the exact log (usage is never under-stated) and against the memory store
//! run side by side (usage is identical, so the differential test keeps holding).

use passgate::store::{
    CommitOutcome, CounterOp, HeldOp, HoldOutcome, HoldState, MemoryStore, SettleRule, Store,
    MAX_SLIDING_LOG,
};
use rust_decimal::Decimal;

use crate::support::{d, op, sliding, Chain, T0};

use super::lifecycle::{hold, resolve, take_hold};
use super::{commit, used};

const WINDOW: i64 = 600_000;

/// Every admitted (time, amount), exactly: the usage a log without a bound would report.
#[derive(Default)]
struct Exact(Vec<(i64, Decimal)>);

impl Exact {
    fn usage(&self, now: i64) -> Decimal {
        self.0
            .iter()
            .filter(|(t, _)| *t > now - WINDOW)
            .map(|(_, a)| *a)
            .sum()
    }
}

/// The store under test and a memory store, fed the same commits.
struct Twin<'s> {
    s: &'s dyn Store,
    c: Chain,
    m: MemoryStore,
    cm: Chain,
}

impl<'s> Twin<'s> {
    fn new(s: &'s dyn Store) -> Twin<'s> {
        Twin {
            s,
            c: Chain::new("c-slide"),
            m: MemoryStore::new(),
            cm: Chain::new("c-slide"),
        }
    }

    fn commit(&self, now: i64, o: &CounterOp) {
        for (s, c) in [(self.s, &self.c), (&self.m as &dyn Store, &self.cm)] {
            let r = c.record(now, None, None, "allow");
            assert_eq!(
                commit(s, now, std::slice::from_ref(o), &r),
                CommitOutcome::Committed
            );
        }
    }

    fn log_len(&self, o: &CounterOp) -> usize {
        let n = self.s.sliding_log_len(&o.key, o.window).unwrap();
        let m = self.m.sliding_log_len(&o.key, o.window).unwrap();
        assert_eq!(n.unwrap_or(0), m.unwrap_or(0), "log lengths differ");
        n.unwrap_or(0)
    }

    /// Usage at `now`: the same as the memory store's, never below the exact usage.
    fn check(&self, o: &CounterOp, exact: &Exact, now: i64) -> Decimal {
        let got = d(&used(self.s, o, now));
        assert_eq!(
            got,
            d(&used(&self.m, o, now)),
            "usage at {now} differs from the memory store's"
        );
        let want = exact.usage(now);
        assert!(got >= want, "usage {got} at {now} under-states {want}");
        got
    }
}

fn amount(o: &CounterOp, a: &str) -> CounterOp {
    CounterOp {
        amount: d(a),
        need: d(a),
        ..o.clone()
    }
}

/// 3 × `MAX_SLIDING_LOG` commits at distinct milliseconds (some stamped by a clock that stepped
/// back) into one sliding counter: the log never passes the bound, usage at every later time is
/// at least the exact usage and the memory store's exactly; zero amounts add no entry, one
/// millisecond's amounts share one.
pub fn sliding_logs_stay_bounded_and_never_under_count(s: &dyn Store) {
    let tw = Twin::new(s);
    let m = op("calls", sliding(WINDOW), "1", "100000000");
    let mut exact = Exact::default();

    // (c) A zero amount logs nothing; two amounts in one millisecond share an entry.
    tw.commit(T0, &amount(&m, "0"));
    assert_eq!(tw.log_len(&m), 0);
    for a in ["1", "2.5"] {
        tw.commit(T0 + 1, &amount(&m, a));
        exact.0.push((T0 + 1, d(a)));
    }
    assert_eq!(tw.log_len(&m), 1);
    assert_eq!(tw.check(&m, &exact, T0 + 1), d("3.5"));
    tw.commit(T0 + 1, &amount(&m, "0"));
    assert_eq!(tw.log_len(&m), 1);

    // (a) Many distinct milliseconds: the log stays at most MAX_SLIDING_LOG entries.
    let n = 3 * MAX_SLIDING_LOG as i64;
    let mut last = T0 + 1;
    for i in 0..n {
        // Every 97th request comes from a clock 150 ms behind (an earlier, distinct ms).
        let t = if i % 97 == 96 {
            T0 + 100 + 100 * i - 150
        } else {
            T0 + 100 + 100 * i
        };
        let a = format!("{}.{}", i % 7 + 1, i % 3 * 25);
        tw.commit(t, &amount(&m, &a));
        exact.0.push((t, d(&a)));
        last = last.max(t);
        assert!(tw.log_len(&m) <= MAX_SLIDING_LOG, "log past the bound");
    }
    assert_eq!(tw.log_len(&m), MAX_SLIDING_LOG);

    // (b) Nothing has left the window yet: usage is exact.
    assert_eq!(tw.check(&m, &exact, last), exact.usage(last));
    // As the oldest amounts leave, usage may be over-stated (merged amounts leave later), never
    // under-stated, and is the same on every backend.
    let mut over = false;
    for k in 0..=16 {
        let now = T0 + WINDOW + k * (n * 100 / 16);
        over |= tw.check(&m, &exact, now) > exact.usage(now);
    }
    assert!(
        over,
        "the merged log over-states somewhere (else nothing merged)"
    );
    // Everything has left: zero.
    assert_eq!(tw.check(&m, &exact, last + WINDOW), Decimal::ZERO);
    // A commit later still leaves the log bounded (and rolls the old entries out).
    tw.commit(last + WINDOW + 1, &amount(&m, "4"));
    assert_eq!(tw.log_len(&m), 1);
    assert_eq!(tw.check(&m, &exact, last + WINDOW + 1), d("4"));
}

/// A hold's adjustment lands at its placed time, which is then the oldest entry of a full log:
/// it is merged like any other (a negative delta included), the log stays bounded, and usage is
/// never below the exact usage and equal to the memory store's.
pub fn sliding_hold_adjustments_merge_within_the_bound(s: &dyn Store) {
    let tw = Twin::new(s);
    let m = op("spend", sliding(WINDOW), "1", "100000000");
    let held = HeldOp {
        op: amount(&m, "50"),
        settle: SettleRule::Actual {
            field: "/cost".into(),
        },
    };
    let mut exact = Exact::default();
    let twin_stores: [(&dyn Store, &Chain); 2] = [(tw.s, &tw.c), (&tw.m, &tw.cm)];
    // Two holds placed at T0 and T0 + 1 (50 each), then a full log of later calls.
    for (id, at) in [("hld_down", T0), ("hld_up", T0 + 1)] {
        let h = hold(id, at, at + 10 * WINDOW, vec![held.clone()]);
        for (s, c) in twin_stores {
            assert_eq!(take_hold(s, c, &h), CommitOutcome::Committed);
        }
        exact.0.push((at, d("50")));
    }
    let calls = MAX_SLIDING_LOG as i64 + 10;
    for i in 0..calls {
        let t = T0 + 10 + 10 * i;
        tw.commit(t, &amount(&m, "1"));
        exact.0.push((t, d("1")));
        assert!(tw.log_len(&m) <= MAX_SLIDING_LOG);
    }
    let now = T0 + 10 + 10 * calls;
    // Settle one below its reservation (−30 at T0) and one above it (+25 at T0 + 1): both
    // adjustments land on merged entries and are merged in turn.
    for (id, actual, delta_at, delta) in [
        ("hld_down", "20", T0, "-30"),
        ("hld_up", "75", T0 + 1, "25"),
    ] {
        for (s, c) in twin_stores {
            assert_eq!(
                resolve(s, c, id, now, HoldState::Settled, &[actual]),
                HoldOutcome::Resolved
            );
        }
        exact.0.push((delta_at, d(delta)));
        assert!(tw.log_len(&m) <= MAX_SLIDING_LOG);
    }
    assert_eq!(tw.check(&m, &exact, now), exact.usage(now));
    for k in 0..=12 {
        tw.check(&m, &exact, T0 + WINDOW - 5 + k * (calls * 10 / 12));
    }
    assert_eq!(tw.check(&m, &exact, now + WINDOW), Decimal::ZERO);
}
