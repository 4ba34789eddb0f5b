//! Bytes per decision: `enforce` of the benchmark workload (the allow case, every call with its
//! own idempotency key) on a store, N calls, then the process's resident set.
//!
//! `cargo run --release -p passgate-benches --example footprint -- [N] [store URL]` (default
//! 100,000 calls on `memory:`; issue 14 asks 1,000,000 to stay under 3 GiB peak). Prints one JSON
//! line: calls, RSS before and after, peak RSS, bytes per decision (RSS growth / N), and the
//! JSON sizes of one decision and its record; for SQLite the file (with its WAL) and for Redis
//! `used_memory` growth per decision. The clock moves 1 ms per call so windows and
//! expiries advance as in traffic. `FOOTPRINT_SHOW=1` prints that decision. A third argument
//! `keep-all` turns retention off (every record of the N decisions stays in the store: issue 20's
//! "memory store, 1M decisions"); `make bench` runs it so.

use std::sync::Arc;
use std::time::Instant;

use passgate::clock::Clock;
use passgate::store::{open, Store};
use passgate_benches::{engine, passport, request, Case, Res, Setup};

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "counters") {
        return counters(&args);
    }
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let url = args.get(2).map_or("memory:", String::as_str);
    let (issuer, token) = passport()?;
    let store: Arc<dyn Store> = open(url).map_err(|e| e.to_string())?;
    let mut setup = Setup::new(store.clone());
    setup.caps = (1_000_000_000, 1_000_000_000_000);
    let keep_all = args.get(3).is_some_and(|a| a == "keep-all");
    if keep_all {
        setup.retention = Some(passgate::store::Retention::KEEP_ALL);
    }
    let (e, clock) = engine(&setup, &issuer)?;
    let base = request(Case::Allow, &token);
    // Warm up (allocator arenas, caches), then measure from here.
    for i in 0..1_000 {
        let req = base.clone().idempotency_key(format!("warm-{i}"));
        e.enforce(&req).map_err(|e| e.to_string())?;
        clock.advance_ms(1);
    }
    let before = rss_kib("VmRSS:").unwrap_or(0);
    let stored_before = stored_bytes(url);
    let first_ms = clock.now_ms();
    let t = Instant::now();
    let mut allowed = 0usize;
    for i in 0..n {
        let req = base.clone().idempotency_key(format!("call-{i:08}"));
        if e.enforce(&req).map_err(|e| e.to_string())?.allowed {
            allowed += 1;
        }
        clock.advance_ms(1);
    }
    let secs = t.elapsed().as_secs_f64();
    let after = rss_kib("VmRSS:").unwrap_or(0);
    let stored_after = stored_bytes(url);
    let store_bytes_per_decision = match (stored_before, stored_after) {
        (Some(b), Some(a)) => Some((a.saturating_sub(b) as f64 / n as f64).round()),
        _ => None,
    };
    let sample = e
        .enforce(&base.clone().idempotency_key("sample"))
        .map_err(|e| e.to_string())?;
    let record_bytes = sample
        .attestation
        .as_ref()
        .map_or(0, |r| r.to_string().len());
    let decision_bytes = sample.to_json().to_string().len();
    if std::env::var_os("FOOTPRINT_SHOW").is_some() {
        eprintln!(
            "{}",
            serde_json::to_string_pretty(&sample.to_json()).unwrap_or_default()
        );
    }
    let peak = rss_kib("VmHWM:").map(|k| k / 1024);
    // Whether the first measured decision's record is still held (retention did not prune it).
    let first_kept = !store
        .attestations(&passgate::store::AttestationFilter {
            since_ms: Some(first_ms),
            until_ms: Some(first_ms + 1),
            limit: Some(1),
            ..Default::default()
        })
        .map_err(|e| e.to_string())?
        .is_empty();
    let out = serde_json::json!({
        "keep_all": keep_all,
        "first_record_kept": first_kept,
        "record_json_bytes": record_bytes,
        "decision_json_bytes": decision_bytes,
        "store": url,
        "calls": n,
        "allowed": allowed,
        "seconds": secs,
        "us_per_call": secs / n as f64 * 1e6,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "peak_rss_mib": peak,
        "store_bytes_per_decision": store_bytes_per_decision,
        "bytes_per_decision": (after.saturating_sub(before) as f64 * 1024.0 / n as f64).round(),
    });
    println!("{out}");
    Ok(())
}

/// `footprint counters [N] [URL]`: N distinct counters (a daily spend per scope, 1,000 per
/// commit so records do not count), then the growth of RSS or of the store per counter.
fn counters(args: &[String]) -> Res<()> {
    use passgate::store::{Commit, CounterKey, CounterOp, StoredRecord, WindowKind};
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let url = args.get(3).map_or("memory:", String::as_str);
    let store = open(url).map_err(|e| e.to_string())?;
    let now = passgate_benches::NOW_MS;
    let before = rss_kib("VmRSS:").unwrap_or(0);
    let stored_before = stored_bytes(url);
    let batch = 1_000;
    for (seq, start) in (0..n).step_by(batch).enumerate() {
        let ops: Vec<CounterOp> = (start..(start + batch).min(n))
            .map(|i| CounterOp {
                key: CounterKey {
                    namespace: "gate:payments.transfer".into(),
                    constraint: "daily".into(),
                    scope: format!(
                        "agent:{}|agent-{i:08}",
                        "did:key:z6MknGc8U4bmumJVvTvatn4eQsNUxEF4MbPxGunGfG9Vs6VL"
                    )
                    .into(),
                },
                window: WindowKind::Fixed {
                    size_ms: 86_400_000,
                },
                amount: 120.into(),
                need: 120.into(),
                max: 5000.into(),
            })
            .collect();
        let record = StoredRecord {
            chain: "chn_footprint".into(),
            seq: seq as u64 + 1,
            time_ms: now,
            kind: "bench".into(),
            gate: None,
            agent_id: None,
            decision: None,
            evaluation_id: None,
            record: serde_json::json!({"body": {"seq": seq + 1}}).into(),
            event: None,
        };
        store
            .commit(&Commit {
                now_ms: now,
                counters: &ops,
                enforce_bounds: true,
                record: &record,
                idempotency: None,
                hold: None,
                approval_request: None,
                use_approval: None,
                nonce: None,
                guard: None,
                expect_usage: None,
            })
            .map_err(|e| e.to_string())?;
    }
    let after = rss_kib("VmRSS:").unwrap_or(0);
    let per = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) => Some((a.saturating_sub(b) as f64 / n as f64).round()),
        _ => None,
    };
    let out = serde_json::json!({
        "store": url,
        "counters": n,
        "rss_bytes_per_counter": per(Some(before * 1024), Some(after * 1024)),
        "store_bytes_per_counter": per(stored_before, stored_bytes(url)),
    });
    println!("{out}");
    Ok(())
}

/// A `/proc/self/status` field in KiB (Linux).
fn rss_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What the store holds outside this process: a SQLite file with its WAL, or a Redis server's
/// `used_memory` (through `redis-cli`).
fn stored_bytes(url: &str) -> Option<u64> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next()?;
        let size = |p: &str| std::fs::metadata(p).map_or(0, |m| m.len());
        return Some(size(path) + size(&format!("{path}-wal")));
    }
    let rest = url.strip_prefix("redis://")?;
    let hostport = rest.split('/').next()?.rsplit('@').next()?;
    let (host, port) = hostport.split_once(':')?;
    let out = std::process::Command::new("redis-cli")
        .args(["-h", host, "-p", port, "INFO", "memory"])
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let line = text.lines().find(|l| l.starts_with("used_memory:"))?;
    line.trim_start_matches("used_memory:").trim().parse().ok()
}
