//! What must be gone once its time has passed: a sliding window's usage long after the window.

use passgate::store::{CommitOutcome, CounterFilter, HeldOp, SettleRule, Store};

use crate::support::{op, sliding, Chain, T0};

use super::lifecycle::{hold, take_hold};
use super::{commit, used};

/// The scenario of issue 14, item 4: a 1 s sliding window still reported usage 3 after 64 s on
/// Redis. A hold kept the counter alive for its TTL; three requests 2 s later emptied the log (the
/// hold's entry left the window) and recreated it with a plain request's short lifetime; once the
/// log expired, the counter's sum had nothing left to subtract. Every backend: usage long after
/// the window is 0, and a new request counts from zero.
pub fn sliding_usage_is_zero_long_after_its_window(s: &dyn Store) {
    let c = Chain::new("c1");
    let burst = op("burst", sliding(1000), "1", "10");
    let held = hold(
        "hld_s",
        T0,
        T0 + 15 * 60_000,
        vec![HeldOp {
            op: burst.clone(),
            settle: SettleRule::Keep,
        }],
    );
    assert_eq!(take_hold(s, &c, &held), CommitOutcome::Committed);
    for i in 0..3 {
        let t = T0 + 2000 + i;
        let r = c.record(t, None, None, "allow");
        assert_eq!(
            commit(s, t, std::slice::from_ref(&burst), &r),
            CommitOutcome::Committed
        );
    }
    assert_eq!(used(s, &burst, T0 + 2002), "3");
    assert_eq!(used(s, &burst, T0 + 3001), "1", "(t - 1 s, t]");
    assert_eq!(used(s, &burst, T0 + 64_000), "0");
    for state in s.counters(&CounterFilter::default(), T0 + 64_000).unwrap() {
        assert_eq!(state.used.normalize().to_string(), "0", "{state:?}");
    }
    let r = c.record(T0 + 64_000, None, None, "allow");
    assert_eq!(
        commit(s, T0 + 64_000, std::slice::from_ref(&burst), &r),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &burst, T0 + 64_000), "1");
}
