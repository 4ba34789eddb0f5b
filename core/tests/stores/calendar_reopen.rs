//! Calendar counters outlive the store handle that wrote them: a SQLite file reopened (kind 3
//! rows decoded back to their unit and zone) and a Redis store reconnected both report the same
//! window and usage.

use std::sync::Arc;

use passgate::store::{CounterFilter, RedisStore, SqliteStore, Store};

use crate::conformance::calendar;
use crate::support::{op, Chain, RedisServer};

/// 2024-05-15T00:00:00Z: 02:00 on the 15th in Berlin.
const NOW: i64 = 1_715_731_200_000;
/// 2024-05-14T22:00:00Z: that day's local midnight.
const BERLIN_MIDNIGHT: i64 = 1_715_724_000_000;

fn write(s: &dyn Store) {
    let c = Chain::new("c-reopen");
    for (unit, tz, n) in [
        (
            passgate::__private::calendar::CalendarUnit::Day,
            "Europe/Berlin",
            2,
        ),
        (
            passgate::__private::calendar::CalendarUnit::Week,
            "Asia/Tokyo",
            3,
        ),
    ] {
        let o = op("reopen", calendar(unit, tz), "1", "10");
        for _ in 0..n {
            let r = c.record(NOW, None, None, "allow");
            assert_eq!(
                crate::conformance::commit(s, NOW, std::slice::from_ref(&o), &r),
                passgate::store::CommitOutcome::Committed
            );
        }
    }
}

fn check(s: &dyn Store) {
    let mut list = s.counters(&CounterFilter::default(), NOW).unwrap();
    list.sort_by_key(|c| c.used);
    let got: Vec<(String, String)> = list
        .iter()
        .map(|c| (format!("{:?}", c.window), c.used.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "Calendar { unit: Day, tz: Zone(Europe/Berlin) }".to_string(),
                "2".to_string()
            ),
            (
                "Calendar { unit: Week, tz: Zone(Asia/Tokyo) }".to_string(),
                "3".to_string()
            ),
        ]
    );
    assert_eq!(list[0].window_start_ms, Some(BERLIN_MIDNIGHT));
    let day = op(
        "reopen",
        calendar(
            passgate::__private::calendar::CalendarUnit::Day,
            "Europe/Berlin",
        ),
        "1",
        "10",
    );
    assert_eq!(crate::conformance::used(s, &day, NOW), "2");
}

#[test]
fn sqlite_calendar_counters_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pg.db", dir.path().display());
    {
        let s: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).unwrap());
        write(s.as_ref());
    }
    let s: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).unwrap());
    check(s.as_ref());
}

#[test]
fn redis_calendar_counters_survive_a_reconnect() {
    let server = RedisServer::start();
    {
        let s: Arc<dyn Store> = Arc::new(RedisStore::open(&server.url("t")).unwrap());
        write(s.as_ref());
    }
    let s: Arc<dyn Store> = Arc::new(RedisStore::open(&server.url("t")).unwrap());
    check(s.as_ref());
}
