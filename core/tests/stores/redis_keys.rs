//! Redis only: what the server does with our keys on its own — expiry — checked on the keys
//! themselves, since the store's clock (the engine's) does not move the server's.

use passgate::store::{CommitOutcome, HeldOp, RedisStore, SettleRule};

use passgate::Request;
use serde_json::json;

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

/// The store refuses a server that may evict its keys.
fn refused(url: &str) -> String {
    let e = RedisStore::open(url).unwrap_err();
    assert_eq!(e.code(), "STORE_UNAVAILABLE", "{e}");
    e.to_string()
}

/// Issue 14, item 8: `maxmemory-policy` other than `noeviction` is refused, naming the setting
/// and the escape; `?allow_eviction=1` opens it (and it works).
#[test]
fn a_server_that_may_evict_is_refused_unless_allowed() {
    let plain = RedisServer::start();
    let policy: Vec<String> = plain.query(&["CONFIG", "GET", "maxmemory-policy"]);
    assert_eq!(
        policy,
        ["maxmemory-policy", "noeviction"],
        "the test servers"
    );
    assert!(RedisStore::open(&plain.url("ok")).is_ok());
    for policy in ["allkeys-lru", "volatile-ttl"] {
        let lru = RedisServer::start_with(&["--maxmemory-policy", policy]);
        let m = refused(&lru.url("t"));
        assert!(m.contains("maxmemory-policy") && m.contains(policy), "{m}");
        assert!(m.contains("allow_eviction=1"), "{m}");
        let s = RedisStore::open(&format!("{}&allow_eviction=1", lru.url("t"))).unwrap();
        let c = Chain::new("c1");
        let r = c.record(T0, None, None, "allow");
        let q = op("q", passgate::store::WindowKind::Forever, "1", "1");
        assert_eq!(
            commit(&s, T0, std::slice::from_ref(&q), &r),
            CommitOutcome::Committed
        );
        // allow_eviction=0 is the default.
        refused(&format!("{}&allow_eviction=0", lru.url("t")));
    }
}

/// Where `CONFIG` is renamed away (managed services), the policy is read from `INFO memory`;
/// where neither answers, the store is refused with a message saying so, unless allowed.
#[test]
fn eviction_policy_without_config_command() {
    let no_config = RedisServer::start_with(&[
        "--maxmemory-policy",
        "allkeys-lru",
        "--rename-command",
        "CONFIG",
        "",
    ]);
    let m = refused(&no_config.url("t"));
    assert!(m.contains("maxmemory-policy is allkeys-lru"), "{m}");
    let fine = RedisServer::start_with(&["--rename-command", "CONFIG", ""]);
    assert!(
        RedisStore::open(&fine.url("t")).is_ok(),
        "noeviction, via INFO"
    );
    let blind = RedisServer::start_with(&[
        "--rename-command",
        "CONFIG",
        "",
        "--rename-command",
        "INFO",
        "",
    ]);
    let m = refused(&blind.url("t"));
    assert!(
        m.contains("cannot read") && m.contains("allow_eviction=1"),
        "{m}"
    );
    assert!(RedisStore::open(&format!("{}&allow_eviction=1", blind.url("t"))).is_ok());
}

/// Issue 14, item 8: every key an evaluation writes lives exactly as long as what it indexes.
/// The keys are the module docs' table, no other; the per-evaluation record index
/// (`x:eval:<id>`) lives as long as the records it points to (kept without expiry: Redis has no
/// record retention yet, and whatever trims a record must delete its index entry with it);
/// idempotency records and approval requests carry their TTL; an open hold has none and is
/// listed as open, a closed one is kept 7 days and is not; a sliding log expires with its counter.
#[test]
fn every_key_an_evaluation_writes_lives_as_long_as_what_it_indexes() {
    const HOUR: i64 = 3_600_000;
    let server = RedisServer::start();
    let store = passgate::store::open(&server.url("t")).unwrap();
    let f = crate::engine_suite::engine(store);
    let pay = |a: i64| Request::new("pay", json!({"amount": a})).passport(&f.token);
    let llm = Request::new("llm", json!({"cost": 1}))
        .passport(&f.token)
        .hold(true);
    f.engine.enforce(&pay(1)).unwrap();
    f.engine.enforce(&pay(2).idempotency_key("k")).unwrap();
    let approved = f.engine.enforce(&pay(950)).unwrap();
    f.engine.enforce(&pay(951)).unwrap(); // stays pending
    let settled = f.engine.enforce(&llm).unwrap();
    let settled = settled.hold_id.unwrap();
    f.engine.settle(&settled, None).unwrap();
    let open = f.engine.enforce(&llm).unwrap().hold_id.unwrap();
    f.engine
        .approve(&approved.evaluation_id, "h", None)
        .unwrap();
    let records: i64 = server.query(&["HLEN", "{t}:r"]);
    let keys: Vec<String> = server.query(&["KEYS", "*"]);
    let ttl = |k: &str| -> i64 { server.query(&["PTTL", k]) };
    let record_ttl = ttl("{t}:r");
    assert_eq!(record_ttl, -1, "records are kept (no retention yet)");
    let mut evals = 0;
    for k in &keys {
        let rest = k
            .strip_prefix("{t}:")
            .unwrap_or_else(|| panic!("{k}: not ours"));
        let (family, id) = rest.split_once(':').unwrap_or((rest, ""));
        let t = ttl(k);
        match family {
            "passport" | "passports" => assert_eq!(t, -1, "{k}: the registry is kept"),
            "r" | "rseq" | "tails" | "cx" | "holds" | "revoked" | "evq" | "evseq" => {
                assert_eq!(t, -1, "{k}")
            }
            // A decision event (the pending escalation's, the approval's outcome): kept until
            // acknowledged, and listed as unacknowledged meanwhile.
            "ev" => {
                assert_eq!(t, -1, "{k}: kept until acknowledged");
                let listed: Option<String> = server.query(&["ZSCORE", "{t}:evq", id]);
                assert!(listed.is_some(), "{k}: listed as unacknowledged");
            }
            "x" if id.starts_with("eval:") => {
                evals += 1;
                assert_eq!(t, record_ttl, "{k}: lives as long as its records");
                let gs: Vec<String> = server.query(&["ZRANGE", k, "0", "-1"]);
                for g in gs {
                    let found: i64 = server.query(&["HEXISTS", "{t}:r", &g]);
                    assert_eq!(found, 1, "{k} points to record {g}, which exists");
                }
            }
            "x" => assert_eq!(t, -1, "{k}: shared indexes live as long as the records"),
            "i" => assert!(t > 0 && t <= 24 * HOUR, "{k}: the idempotency TTL ({t})"),
            "a" => assert!(
                t > 7 * 24 * HOUR,
                "{k}: the approval's TTL and 7 days ({t})"
            ),
            "h" if id == open => {
                assert_eq!(t, -1, "{k}: open until resolved");
                let listed: Option<String> = server.query(&["ZSCORE", "{t}:holds", id]);
                assert!(listed.is_some(), "{k}: listed as open");
            }
            "h" if id == settled => {
                assert!(
                    t > 0 && t <= 7 * 24 * HOUR,
                    "{k}: kept 7 days once closed ({t})"
                );
                let listed: Option<String> = server.query(&["ZSCORE", "{t}:holds", id]);
                assert!(listed.is_none(), "{k}: no longer listed as open");
            }
            "c" => {
                let log = format!("{{t}}:l:{id}");
                if keys.contains(&log) {
                    let (a, b): (i64, i64) = (
                        server.query(&["PEXPIRETIME", k]),
                        server.query(&["PEXPIRETIME", &log]),
                    );
                    assert_eq!(a, b, "{k}: its log expires with it");
                }
            }
            "l" => assert!(
                keys.contains(&format!("{{t}}:c:{id}")),
                "{k}: has its counter"
            ),
            _ => panic!("{k}: a key the module docs do not list"),
        }
    }
    // One index key per evaluation that wrote a record: 6 decisions (an idempotency key does
    // not change that).
    assert_eq!(evals, 6, "{keys:?}");
    assert_eq!(records, 8, "6 decisions, a settle, an approval");
}
