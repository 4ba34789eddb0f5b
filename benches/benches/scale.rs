//! Scale: the cost of one decision as the policy and the state grow.
//!
//! - `gates/<n>`: `dry_run` of the allow case (supplied state) with `n` gates in the policy.
//! - `revoked/<n>`: `dry_run` of the allow case (memory store) with `n` other passports revoked
//!   (each call checks the passport against the revocation set).
//! - chain (timed once, outside criterion, printed): `record_attestation` appended N times to one chain
//!   (µs per append over the first and the last 1% — flat means appends do not slow down with the
//!   chain's length), then the whole chain read back and checked with `verify_chain`; written to
//!   `$PASSGATE_BENCH_OUT/scale-chain.json` when that is set (`make bench`).
//!
//! Under `cargo test` (no `--bench`) the sizes shrink: 100 and 10,000 gates → 10 and 100,
//! 1,000,000 revoked → 1,000, the 1,000,000-record chain → 1,000.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a bench may stop on a broken setup
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use passgate::store::{MemoryStore, Store};
use passgate::AttestationFilter;
use passgate_benches::*;

fn scale(c: &mut Criterion) {
    let (issuer, token) = passport().unwrap();
    let req = request(Case::Allow, &token);
    let mut g = c.benchmark_group("scale");
    for n in [1, size(100, 10), size(10_000, 100)] {
        let (calls, spent) = Case::Allow.state();
        let mut setup = Setup::new(Arc::new(SuppliedState::new([
            ("burst", calls),
            ("daily", spent),
        ])));
        setup.extra_gates = n - 1;
        let (e, _clock) = engine(&setup, &issuer).unwrap();
        assert!(e.dry_run(&req).unwrap().allowed);
        g.bench_function(format!("gates/{n}"), |b| {
            b.iter(|| black_box(e.dry_run(black_box(&req)).unwrap()))
        });
    }
    for n in [0, size(1_000_000, 1_000)] {
        let store = Arc::new(MemoryStore::default());
        for i in 0..n {
            store
                .revoke(&format!("psp_revoked_{i:08}"), NOW_MS)
                .unwrap();
        }
        let (e, _clock) = engine(&Setup::new(store), &issuer).unwrap();
        assert!(e.dry_run(&req).unwrap().allowed);
        g.bench_function(format!("revoked/{n}"), |b| {
            b.iter(|| black_box(e.dry_run(black_box(&req)).unwrap()))
        });
    }
    g.finish();
    chain(size(1_000_000, 1_000));
}

/// Appends `n` records to one chain, then verifies it; prints and saves the timings.
fn chain(n: usize) {
    let (issuer, _) = passport().unwrap();
    let (e, _clock) = engine(&Setup::new(Arc::new(MemoryStore::default())), &issuer).unwrap();
    let edge = (n / 100).max(1);
    let data = serde_json::json!({"tool": "payments.transfer", "note": "host event"});
    let mut times = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        e.record_attestation("bench.event", &data).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let append_total = start.elapsed().as_secs_f64();
    let median = |xs: &[f64]| {
        let mut v = xs.to_vec();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let first = median(&times[..edge]);
    let last = median(&times[n - edge..]);
    let t = Instant::now();
    let records = e.attestations(&AttestationFilter::default()).unwrap();
    let read = t.elapsed().as_secs_f64();
    assert_eq!(records.len(), n);
    let did = e.signer_did().to_string();
    drop(e); // the store's copy of the chain: only the read-back copy stays in memory
    let t = Instant::now();
    passgate::verify_chain(&records, &did).unwrap();
    let verify = t.elapsed().as_secs_f64();
    let out = serde_json::json!({
        "records": n,
        "append_total_s": append_total,
        "append_us_first_1pct": first,
        "append_us_last_1pct": last,
        "read_back_s": read,
        "verify_total_s": verify,
        "verify_us_per_record": verify / n as f64 * 1e6,
        "peak_rss_mib": peak_rss_mib(),
    });
    eprintln!("scale/chain: {out}");
    if let Some(dir) = std::env::var_os("PASSGATE_BENCH_OUT") {
        std::fs::write(
            std::path::Path::new(&dir).join("scale-chain.json"),
            out.to_string(),
        )
        .unwrap();
    }
}

/// The process's peak resident set (Linux `VmHWM`), in MiB.
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

criterion_group!(name = g; config = config(); targets = scale);
criterion_main!(g);

fn config() -> Criterion {
    passgate_benches::criterion_config(2.0, 20)
}
