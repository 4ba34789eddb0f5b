//! The tier-2 full decision in a loop, for a profiler: `enforce` of the allow case on the memory
//! store (cached passport; `uncached` as first argument turns the passport cache off), N calls
//! (second argument, default 20,000). `dry-run` as first argument profiles the tier-1 evaluation
//! instead: `dry_run` of the allow case with the state supplied; `checkpoint` profiles `enforce`
//! with checkpointed signing (a signed head every 1,024 records) instead of a signature each.
//!
//! `cargo build --profile bench -p passgate-benches --example profile_enforce`, then e.g.
//! `valgrind --tool=callgrind target/bench/examples/profile_enforce cached 2000`.

use std::sync::Arc;

use passgate::store::MemoryStore;
use passgate_benches::{engine, passport, request, supplied_engine, Case, Res, Setup};

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let uncached = args.get(1).is_some_and(|a| a == "uncached");
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let (issuer, token) = passport()?;
    if args.get(1).is_some_and(|a| a == "dry-run") {
        let e = supplied_engine(Case::Allow, &issuer)?;
        let req = request(Case::Allow, &token);
        let mut allowed = 0usize;
        for _ in 0..n {
            if e.dry_run(&req).map_err(|e| e.to_string())?.allowed {
                allowed += 1;
            }
        }
        println!("{allowed} of {n} allowed (dry run)");
        return Ok(());
    }
    let mut setup = Setup::new(Arc::new(MemoryStore::default()));
    setup.caps = (1_000_000_000, 1_000_000_000_000);
    if uncached {
        setup.cache_size = 0;
    }
    if args.get(1).is_some_and(|a| a == "checkpoint") {
        setup.signing = passgate::Signing::checkpoint();
    }
    let (e, _clock) = engine(&setup, &issuer)?;
    let req = request(Case::Allow, &token);
    let mut allowed = 0usize;
    let mut record_bytes = 0usize;
    for _ in 0..n {
        let d = e.enforce(&req).map_err(|e| e.to_string())?;
        if d.allowed {
            allowed += 1;
        }
        record_bytes = d.attestation.as_ref().map_or(0, |r| r.as_str().len());
    }
    println!("{allowed} of {n} allowed; the last record is {record_bytes} bytes");
    Ok(())
}
