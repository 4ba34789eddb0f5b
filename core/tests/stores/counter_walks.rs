//! Issue 14, item 10: listing or resetting one namespace's (or one scope's) counters visits only
//! those — 10,000 counters in namespace A, 10 in B; listing and resetting B must not walk A.
//! Each backend with a deterministic probe of the work done (no timing): the memory store's
//! count of entries visited, SQLite's virtual-machine steps (and `EXPLAIN QUERY PLAN`), Redis's
//! index entries read and the server's own `INFO commandstats`. Each probe is first shown to see
//! a full walk (a constraint-only filter, which no index serves).

use passgate::store::{
    CounterFilter, CounterOp, MemoryStore, RedisStore, SqliteStore, Store, WindowKind,
};

use crate::conformance::{counter, create};
use crate::support::{fixed, Chain, RedisServer, DAY, T0};

const A: usize = 10_000;

fn population() -> Vec<CounterOp> {
    let mut ops: Vec<CounterOp> = (0..A)
        .map(|i| {
            counter(
                "gate:A",
                &format!("c{i:05}"),
                &format!("agent:a{}", i % 100),
                fixed(DAY),
                "1",
            )
        })
        .collect();
    ops.extend((0..10).map(|i| counter("gate:B", &format!("c{i}"), "agent:b", fixed(DAY), "2")));
    ops.push(counter(
        "gate:B",
        "quota",
        "agent:b",
        WindowKind::Forever,
        "3",
    ));
    ops
}

fn ns(n: &str) -> CounterFilter {
    CounterFilter {
        namespace: Some(n.into()),
        ..CounterFilter::default()
    }
}

fn scope(s: &str) -> CounterFilter {
    CounterFilter {
        scope: Some(s.into()),
        ..CounterFilter::default()
    }
}

fn ns_scope(n: &str, s: &str) -> CounterFilter {
    CounterFilter {
        namespace: Some(n.into()),
        scope: Some(s.into()),
        ..CounterFilter::default()
    }
}

fn constraint_only() -> CounterFilter {
    CounterFilter {
        constraint: Some("c00005".into()),
        ..CounterFilter::default()
    }
}

/// Runs `f` and returns what `probe` rose by.
fn cost<T>(probe: &dyn Fn() -> u64, f: impl FnOnce() -> T) -> (T, u64) {
    let before = probe();
    let out = f();
    (out, probe() - before)
}

/// The B listings and the B reset on `s`, each costing at most `small` by `probe`; the control
/// (a constraint-only filter walks everything) costs at least `A`.
fn only_b_is_walked(s: &dyn Store, probe: &dyn Fn() -> u64, small: u64) {
    create(s, &Chain::new("c1"), &population());
    let (all, c) = cost(probe, || s.counters(&constraint_only(), T0 + 1).unwrap());
    assert_eq!(all.len(), 1);
    assert!(c >= A as u64, "the probe sees a full walk: {c}");
    for f in [
        ns("gate:B"),
        scope("agent:b"),
        ns_scope("gate:B", "agent:b"),
    ] {
        let (listed, c) = cost(probe, || s.counters(&f, T0 + 1).unwrap());
        assert_eq!(listed.len(), 11, "{f:?}");
        assert!(
            c <= small,
            "listing {f:?} cost {c} (> {small}): A was walked"
        );
        let (page, c) = cost(probe, || s.counters_page(&f, None, 5, T0 + 1).unwrap());
        assert_eq!(page.0.len(), 5);
        assert!(c <= small, "a page of {f:?} cost {c}");
    }
    let (n, c) = cost(probe, || s.reset_counters(&ns("gate:B")).unwrap());
    eprintln!("reset of B: probe {c} (a full walk: at least {A})");
    assert_eq!(n, 11);
    assert!(c <= small, "resetting B cost {c} (> {small}): A was walked");
    let (n, c) = cost(probe, || s.reset_counters(&scope("agent:a7")).unwrap());
    assert_eq!(n, A / 100);
    assert!(c <= small * 10, "resetting one scope of A cost {c}");
    let left = s.counters(&ns("gate:A"), T0 + 1).unwrap();
    assert_eq!(left.len(), A - A / 100, "the rest of A untouched");
    assert!(left.iter().all(|c| c.used == rust_decimal::Decimal::ONE));
    assert!(s.counters(&ns("gate:B"), T0 + 1).unwrap().is_empty());
}

#[test]
fn memory_walks_only_the_filtered_namespace_or_scope() {
    let s = MemoryStore::new();
    let probe = || s.counters_visited();
    only_b_is_walked(&s, &probe, 20);
}

#[test]
fn sqlite_walks_only_the_filtered_namespace_or_scope() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&format!("sqlite://{}/pg.db", dir.path().display())).unwrap();
    let probe = || s.counter_steps();
    // A handful of VM steps per row returned; a walk of A would be tens of thousands.
    only_b_is_walked(&s, &probe, 600);
}

#[test]
fn sqlite_counter_filters_with_a_namespace_or_scope_use_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&format!("sqlite://{}/pg.db", dir.path().display())).unwrap();
    create(&s, &Chain::new("c1"), &population()[..200]);
    let f = |n: Option<&str>, c: Option<&str>, sc: Option<&str>| CounterFilter {
        namespace: n.map(Into::into),
        constraint: c.map(Into::into),
        scope: sc.map(Into::into),
    };
    let after = passgate::store::CounterPosition {
        key: passgate::store::CounterKey {
            namespace: "gate:A".into(),
            constraint: "c00003".into(),
            scope: "agent:a3".into(),
        },
        window: fixed(DAY),
    };
    let other = passgate::store::CounterPosition {
        key: passgate::store::CounterKey {
            scope: "agent:zz".into(),
            ..after.key.clone()
        },
        ..after.clone()
    };
    let filters = [
        f(Some("gate:A"), None, None),
        f(Some("gate:A"), Some("c1"), None),
        f(Some("gate:A"), None, Some("agent:a1")),
        f(Some("gate:A"), Some("c1"), Some("agent:a1")),
        f(None, None, Some("agent:a1")),
        f(None, Some("c1"), Some("agent:a1")),
    ];
    for filter in &filters {
        for a in [None, Some(&after), Some(&other)] {
            let plan = s.explain_counters_page(filter, a).unwrap();
            let text = plan.join(" | ");
            assert!(
                plan.iter()
                    .any(|l| l.contains("USING INDEX") || l.contains("USING COVERING INDEX")),
                "{filter:?} after {a:?}: {text}"
            );
            assert!(
                !plan
                    .iter()
                    .any(|l| l.starts_with("SCAN counters") && !l.contains("INDEX")),
                "{filter:?} after {a:?}: a full scan: {text}"
            );
            assert!(
                !text.contains("TEMP B-TREE"),
                "{filter:?}: sorts instead of walking an index: {text}"
            );
        }
    }
}

#[test]
fn redis_walks_only_the_filtered_namespace_or_scope() {
    let server = RedisServer::start();
    let s = RedisStore::open(&server.url("t")).unwrap();
    let probe = || s.counters_visited();
    only_b_is_walked(&s, &probe, 20);
    let bytes = |k: &str| -> i64 { server.query(&["MEMORY", "USAGE", k]) };
    let n = (A - A / 100) as i64;
    eprintln!(
        "redis counter indexes: {} + {} bytes for {n} counters",
        bytes("{t}:cx:ns"),
        bytes("{t}:cx:sc")
    );
    // The server's own count: resetting one namespace is one index read and one short script.
    create(&s, &Chain::new("c2"), &population()[A..]);
    let calls = |cmd: &str| -> u64 {
        let info: String = server.query(&["INFO", "commandstats"]);
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse().unwrap())
    };
    let before = (calls("zrange"), calls("evalsha"), calls("eval"));
    assert_eq!(s.reset_counters(&ns("gate:B")).unwrap(), 11);
    let after = (calls("zrange"), calls("evalsha"), calls("eval"));
    assert_eq!(after.0 - before.0, 1, "one ZRANGE of B's range");
    assert_eq!(after.1 - before.1 + after.2 - before.2, 1, "one script");
    // Listing everything is paged too: many short calls, never one script over every counter.
    let before = calls("zrange");
    assert_eq!(
        s.counters(&CounterFilter::default(), T0 + 1).unwrap().len(),
        A - A / 100
    );
    assert!(calls("zrange") - before >= ((A - A / 100) / 256) as u64);
}

/// Counters written by an earlier version (the `{p}:counters` set) are moved into the indexes
/// when a store is opened, then listed and reset like any other.
#[test]
fn redis_counters_of_the_old_index_are_migrated_on_open() {
    let server = RedisServer::start();
    let s = RedisStore::open(&server.url("t")).unwrap();
    create(&s, &Chain::new("c1"), &population()[A..]);
    // Rewind the indexes to the old layout: a set of counter ids.
    let members: Vec<String> = server.query(&["KEYS", "{t}:c:*"]);
    assert_eq!(members.len(), 11);
    let _: i64 = server.query(&["DEL", "{t}:cx:ns", "{t}:cx:sc"]);
    for k in &members {
        let id = k.strip_prefix("{t}:c:").unwrap();
        let _: i64 = server.query(&["SADD", "{t}:counters", id]);
    }
    assert!(s.counters(&ns("gate:B"), T0 + 1).unwrap().is_empty());
    let s = RedisStore::open(&server.url("t")).unwrap();
    assert_eq!(s.counters(&ns("gate:B"), T0 + 1).unwrap().len(), 11);
    let exists: i64 = server.query(&["EXISTS", "{t}:counters"]);
    assert_eq!(exists, 0, "the old index is gone");
    assert_eq!(s.reset_counters(&scope("agent:b")).unwrap(), 11);
}
