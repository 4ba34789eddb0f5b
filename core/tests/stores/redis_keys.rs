//! Redis only: what the server does with our keys on its own — expiry — checked on the keys
//! themselves, since the store's clock (the engine's) does not move the server's.

use passgate::store::{CommitOutcome, HeldOp, RedisStore, SettleRule};

use crate::conformance::{commit, used};
use crate::support::{op, sliding, Chain, RedisServer, T0};

/// Issue 14, item 4 on the keys: after a hold (long TTL) and plain requests that emptied and
/// recreated the sliding log, the log and its counter expire at the same instant; and a counter
/// whose log is gone (expired, evicted) reports no usage rather than its stale sum.
#[test]
fn sliding_log_and_counter_share_one_lifetime() {
    let server = RedisServer::start();
    let s = RedisStore::open(&server.url("t")).unwrap();
    let c = Chain::new("c1");
    let burst = op("burst", sliding(1000), "1", "10");
    let held = crate::conformance::hold(
        "hld_s",
        T0,
        T0 + 15 * 60_000,
        vec![HeldOp {
            op: burst.clone(),
            settle: SettleRule::Keep,
        }],
    );
    assert_eq!(
        crate::conformance::take_hold(&s, &c, &held),
        CommitOutcome::Committed
    );
    for i in 0..3 {
        let t = T0 + 2000 + i;
        let r = c.record(t, None, None, "allow");
        assert_eq!(
            commit(&s, t, std::slice::from_ref(&burst), &r),
            CommitOutcome::Committed
        );
    }
    let counters: Vec<String> = server.query(&["KEYS", "{t}:c:*"]);
    assert_eq!(counters.len(), 1, "{counters:?}");
    let counter = &counters[0];
    let log = counter.replacen(":c:", ":l:", 1);
    let expiry = |k: &str| -> i64 { server.query(&["PEXPIRETIME", k]) };
    let (c_exp, l_exp) = (expiry(counter), expiry(&log));
    assert!(c_exp > 0, "the counter has a TTL ({c_exp})");
    assert_eq!(l_exp, c_exp, "the log expires with its counter");
    assert_eq!(used(&s, &burst, T0 + 2002), "3");
    // The log gone on its own (expired or evicted), the counter still there: no stale usage.
    let _: i64 = server.query(&["DEL", &log]);
    assert_eq!(used(&s, &burst, T0 + 2002), "0");
    let r = c.record(T0 + 2003, None, None, "allow");
    assert_eq!(
        commit(&s, T0 + 2003, std::slice::from_ref(&burst), &r),
        CommitOutcome::Committed
    );
    assert_eq!(used(&s, &burst, T0 + 2003), "1", "counted from zero again");
    assert_eq!(expiry(&log), expiry(counter));
}
