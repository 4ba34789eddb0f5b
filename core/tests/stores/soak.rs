//! Soak (issue 14, "Done means"): decisions on SQLite and Redis with retention on, pruned from a
//! timer thread while they are made, exported to a sink. Asserts that the store stays flat after
//! the first retention period, that every exported and remaining record verifies offline (the
//! export file, the store's checkpoints and its remainder), and that the counters equal the sums
//! the records attest.
//!
//! `PASSGATE_SOAK=1` runs the full soak (1,000,000 decisions, retention 50,000 records; `make
//! soak`), printing the size over time; the normal test run runs the same code as a smoke test
//! (5,000 decisions, retention 500).
//!
//! Tolerance: after the first two retention periods, every sample (taken right after a catch-up
//! prune) is at most 1.5 × the first such sample, plus 4 MiB (SQLite pages and Redis allocator
//! slack that a small store does not amortise).

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use passgate::__private::retention::Auditor;
use passgate::store::{AttestationFilter, Retention, Store};

use crate::retention::{attested_sums, fx};
use crate::support::RedisServer;

fn full() -> bool {
    std::env::var("PASSGATE_SOAK").is_ok_and(|v| v == "1")
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn soak(store: Arc<dyn Store>, size: &dyn Fn() -> u64, what: &str) {
    let (n, keep): (u64, u64) = if full() {
        (1_000_000, 50_000)
    } else {
        (5_000, 500)
    };
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("pruned.jsonl");
    let retention = Retention {
        max_age_ms: None,
        max_records: Some(keep),
    };
    let f = Arc::new(fx(store.clone(), retention, Some(&sink)));
    let stop = Arc::new(AtomicBool::new(false));
    let pruner = {
        let (f, stop) = (f.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut pruned = 0;
            while !stop.load(Ordering::Relaxed) {
                pruned += f.engine.prune(10_000).unwrap().records;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            pruned
        })
    };
    let every = n / 20;
    let mut samples: Vec<(u64, u64)> = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..n {
        f.decide(i);
        if (i + 1) % every == 0 {
            // Catch up (the timer thread does the bulk), then measure.
            while f.engine.prune(usize::MAX).unwrap().records > 0 {}
            let s = size();
            samples.push((i + 1, s));
            if full() {
                eprintln!(
                    "soak {what}: {:>8} decisions  {:>8.1} MiB store  {:>7.1} MiB RSS  {:>6.0} s",
                    i + 1,
                    s as f64 / 1048576.0,
                    rss_kib() as f64 / 1024.0,
                    started.elapsed().as_secs_f64()
                );
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let by_timer = pruner.join().unwrap();
    while f.engine.prune(usize::MAX).unwrap().records > 0 {}
    let left = store.attestations(&AttestationFilter::default()).unwrap();
    assert_eq!(left.len() as u64, keep, "{what}: the retention holds");
    assert!(by_timer > 0 || !full(), "{what}: the timer thread pruned");
    // Flat after the first two retention periods.
    let settled: Vec<u64> = samples
        .iter()
        .filter(|(d, _)| *d >= 2 * keep)
        .map(|(_, s)| *s)
        .collect();
    let base = settled[0];
    let limit = base + base / 2 + (4 << 20);
    for (d, s) in &samples {
        assert!(
            *d < 2 * keep || *s <= limit,
            "{what}: {s} bytes after {d} decisions, more than {limit} ({samples:?})"
        );
    }
    // Offline: the export file, then the store's checkpoints and remainder; counters = sums.
    let trusted = f.signer();
    let mut auditor = Auditor::new(trusted.clone());
    let mut sums_input: Vec<serde_json::Value> = Vec::new();
    let mut sums = std::collections::BTreeMap::new();
    let file = BufReader::new(std::fs::File::open(&sink).unwrap());
    for line in file.lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        auditor.feed(&v).unwrap();
        sums_input.push(v);
        if sums_input.len() == 10_000 {
            merge(&mut sums, attested_sums(sums_input.iter()));
            sums_input.clear();
        }
    }
    merge(&mut sums, attested_sums(sums_input.iter()));
    for cp in store.checkpoints().unwrap() {
        auditor.feed(&cp.record).unwrap();
    }
    for r in &left {
        auditor.feed(&r.record).unwrap();
    }
    merge(
        &mut sums,
        attested_sums(left.iter().map(|r| r.record.as_ref())),
    );
    let report = auditor.finish().unwrap();
    assert_eq!(report["records"], n, "{what}: {report}");
    assert_eq!(report["chains"][0]["first_seq"], 1);
    for c in f.engine.cumulative_state(&Default::default()).unwrap() {
        let k = (c.key.constraint.to_string(), c.key.scope.to_string());
        assert_eq!(sums.get(&k).copied(), Some(c.used), "{what}: {k:?}");
    }
    f.engine.verify_store(&trusted).unwrap();
    if full() {
        eprintln!(
            "soak {what}: done, {n} decisions in {:.0} s, export {:.1} MiB, samples {samples:?}",
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&sink).unwrap().len() as f64 / 1048576.0
        );
    }
}

fn merge(
    into: &mut std::collections::BTreeMap<(String, String), rust_decimal::Decimal>,
    from: std::collections::BTreeMap<(String, String), rust_decimal::Decimal>,
) {
    for (k, v) in from {
        *into.entry(k).or_default() += v;
    }
}

#[test]
fn sqlite_soak_with_retention() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("soak.db");
    let url = format!("sqlite://{}", path.display());
    let store: Arc<dyn Store> = Arc::new(passgate::store::SqliteStore::open(&url).unwrap());
    let size = || {
        ["", "-wal"]
            .iter()
            .map(|s| {
                std::fs::metadata(format!("{}{s}", path.display()))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum()
    };
    soak(store, &size, "sqlite");
}

#[test]
fn redis_soak_with_retention() {
    let server = RedisServer::start();
    let store: Arc<dyn Store> =
        Arc::new(passgate::store::RedisStore::open(&server.url("soak")).unwrap());
    let size = || {
        let info: String = server.query(&["INFO", "memory"]);
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    soak(store, &size, "redis");
}
