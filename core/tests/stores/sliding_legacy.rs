//! Sliding logs written before the `MAX_SLIDING_LOG` bound (one entry per admitted request, any
//! number, several in one millisecond) are brought within it by the next write, in that write's
//! transaction / script, without losing an amount: SQLite and Redis (the memory store keeps
//! nothing across restarts).

use passgate::store::{CommitOutcome, CounterOp, RedisStore, SqliteStore, Store, MAX_SLIDING_LOG};
use rust_decimal::Decimal;

use crate::conformance::{commit, used};
use crate::support::{d, op, sliding, Chain, RedisServer, T0};

const WINDOW: i64 = 60_000;
/// Legacy entries: two per millisecond over `LEGACY / 2` ms, amount 1 each.
const LEGACY: i64 = 3 * MAX_SLIDING_LOG as i64;

fn legacy_time(i: i64) -> i64 {
    T0 + 1 + i / 2
}

fn calls() -> CounterOp {
    op("calls", sliding(WINDOW), "1", "100000000")
}

/// Usage before and after the write that merges, against the exact log.
fn check_merged(s: &dyn Store, c: &Chain) {
    let m = calls();
    assert_eq!(
        s.sliding_log_len(&m.key, m.window).unwrap(),
        Some(LEGACY as usize + 1)
    );
    let now = legacy_time(LEGACY) + 10;
    let r = c.record(now, None, None, "allow");
    assert_eq!(
        commit(s, now, std::slice::from_ref(&m), &r),
        CommitOutcome::Committed
    );
    assert_eq!(
        s.sliding_log_len(&m.key, m.window).unwrap(),
        Some(MAX_SLIDING_LOG)
    );
    // Nothing has left the window: every amount is still there.
    assert_eq!(d(&used(s, &m, now)), Decimal::from(LEGACY + 2));
    // Later, never under-stated.
    for k in 0..=10 {
        let at = T0 + WINDOW + k * (LEGACY / 20);
        let exact = (0..LEGACY)
            .filter(|i| legacy_time(*i) > at - WINDOW)
            .count() as i64
            + 1
            + i64::from(T0 > at - WINDOW);
        assert!(
            d(&used(s, &m, at)) >= Decimal::from(exact),
            "under-stated at {at}"
        );
    }
    assert_eq!(d(&used(s, &m, now + WINDOW)), Decimal::ZERO);
}

#[test]
fn sqlite_legacy_over_long_log_is_merged_on_the_next_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pg.db");
    let s = SqliteStore::open(&format!("sqlite://{}", path.display())).unwrap();
    let c = Chain::new("c-legacy");
    let m = calls();
    assert_eq!(
        commit(
            &s,
            T0,
            std::slice::from_ref(&m),
            &c.record(T0, None, None, "allow")
        ),
        CommitOutcome::Committed
    );
    // What an older passgate wrote: one row per request.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let id: i64 = conn
        .query_row("SELECT id FROM counters", [], |r| r.get(0))
        .unwrap();
    for i in 0..LEGACY {
        conn.execute(
            "INSERT INTO counter_log (counter, time_ms, amount) VALUES (?1, ?2, '1')",
            rusqlite::params![id, legacy_time(i)],
        )
        .unwrap();
    }
    conn.execute(
        "UPDATE counters SET total = ?2 WHERE id = ?1",
        rusqlite::params![id, (LEGACY + 1).to_string()],
    )
    .unwrap();
    drop(conn);
    check_merged(&s, &c);
}

#[test]
fn redis_legacy_over_long_log_is_merged_on_the_next_write() {
    let server = RedisServer::start();
    let s = RedisStore::open(&server.url("t")).unwrap();
    let c = Chain::new("c-legacy");
    let m = calls();
    assert_eq!(
        commit(
            &s,
            T0,
            std::slice::from_ref(&m),
            &c.record(T0, None, None, "allow")
        ),
        CommitOutcome::Committed
    );
    let logs: Vec<String> = server.query(&["KEYS", "*:l:*"]);
    let counters: Vec<String> = server.query(&["KEYS", "*:c:*"]);
    let (log, counter) = (&logs[0], &counters[0]);
    // What an older passgate wrote: one member per request (`<n>:<amount scaled by 10^18>`).
    let one = "1000000000000000000";
    for i in 0..LEGACY {
        let member = format!("{}:{one}", 100 + i);
        server.cmd(&["ZADD", log, &legacy_time(i).to_string(), &member]);
    }
    let total = format!("{}{}", LEGACY + 1, &one[1..]);
    server.cmd(&[
        "HSET",
        counter,
        "sum",
        &total,
        "n",
        &(100 + LEGACY).to_string(),
    ]);
    check_merged(&s, &c);
}
