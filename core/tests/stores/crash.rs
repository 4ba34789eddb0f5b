//! Crash safety (SQLite): a writer process is killed with SIGKILL at random moments, 50 times
//! (`PASSGATE_SOAK=N` for N). After every kill: every chain verifies, and every counter equals the
//! sum of the amounts the attestations say were counted — no counted amount lacks its record, no
//! record claims an amount that was not counted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passgate::store::{CounterFilter, SqliteStore, Store};
use passgate::{attestation, AttestationFilter, Issuer, PassportRequest, Request};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::engine_suite::counted;
use crate::support::T0;
use crate::workers::{self, engine_on, Rng, NOW};

/// The worker: two engines (two chains) writing as fast as they can until killed. It says
/// "ready" once both have committed a first request, so the kill lands mid-stream.
pub fn writer(store: Arc<dyn Store>, issuer: &Issuer, seed: u64, say: fn(Value)) {
    let (tx, rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let tx = tx.clone();
            let store = store.clone();
            let did = issuer.did().to_string();
            let req = PassportRequest::new(format!("agent-{t}"), ["pay"])
                .with_expires_in_secs(365 * 86400);
            let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
            std::thread::spawn(move || {
                let engine = engine_on(store, &did, "1000000000");
                let mut rng = Rng::new(seed * 10 + t);
                for i in 0u64.. {
                    let mut r = Request::new("spend", json!({"amount": rng.amount().to_string()}))
                        .passport(&token);
                    if i % 5 == 0 {
                        r = r.idempotency_key(format!("k-{seed}-{t}-{i}"));
                    }
                    engine.enforce(&r).unwrap();
                    if i == 0 {
                        tx.send(()).unwrap();
                    }
                }
            })
        })
        .collect();
    for _ in 0..2 {
        rx.recv().unwrap();
    }
    say(json!("ready"));
    for t in threads {
        let _ = t.join();
    }
}

/// What the audits have seen so far: chains verified, amounts counted by their records.
#[derive(Default)]
struct Audit {
    chains: BTreeSet<String>,
    counted: BTreeMap<(String, String, String), Decimal>,
    records: usize,
}

/// Checks the store after a crash. Killed writers' chains never change again, so each chain is
/// read (through the store), verified and summed once, when it first appears; every counter
/// must then equal the sum over all chains of what their records say was counted.
fn audit(url: &str, path: &str, seen: &mut Audit) {
    let store = SqliteStore::open(url).unwrap();
    let db = rusqlite::Connection::open(path).unwrap();
    let mut stmt = db.prepare("SELECT DISTINCT chain FROM records").unwrap();
    let chains: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for id in chains {
        if seen.chains.contains(&id) {
            continue;
        }
        let f = AttestationFilter {
            chain: Some(id.clone()),
            ..Default::default()
        };
        let recs: Vec<Value> = store
            .attestations(&f)
            .unwrap()
            .into_iter()
            .map(|r| (*r.record).clone())
            .collect();
        let did = recs[0]["kid"].as_str().unwrap();
        attestation::verify_chain(&recs, did).unwrap_or_else(|e| panic!("chain {id}: {e}"));
        for (k, v) in counted(&recs) {
            *seen.counted.entry(k).or_insert(Decimal::ZERO) += v;
        }
        seen.records += recs.len();
        seen.chains.insert(id);
    }
    let state = store.counters(&CounterFilter::default(), NOW).unwrap();
    assert_eq!(
        state.len(),
        seen.counted.len(),
        "a counter for every counted key and no other"
    );
    for s in &state {
        let k = (
            s.key.namespace.to_string(),
            s.key.constraint.to_string(),
            s.key.scope.to_string(),
        );
        assert_eq!(
            s.used,
            seen.counted.get(&k).copied().unwrap_or(Decimal::ZERO),
            "counter {k:?}"
        );
    }
}

#[test]
fn sqlite_survives_sigkill_at_random_moments() {
    let rounds: u64 = std::env::var("PASSGATE_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/crash.db", dir.path().display());
    let url = format!("sqlite://{path}");
    let issuer = Issuer::generate().unwrap();
    let mut rng = Rng::new(42);
    let mut seen = Audit::default();
    let started = Instant::now();
    for round in 0..rounds {
        let (mut child, mut out) = workers::spawn(
            &json!({"mode": "crash", "url": url, "issuer": issuer.secret(), "seed": round}),
        );
        assert_eq!(workers::next_line(&mut out), Some(json!("ready")));
        std::thread::sleep(Duration::from_millis(rng.next() % 60));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        audit(&url, &path, &mut seen);
        assert_eq!(
            seen.chains.len() as u64,
            2 * (round + 1),
            "both writers' chains are there"
        );
    }
    // Finally everything once more, from scratch, through the store alone.
    let store = SqliteStore::open(&url).unwrap();
    let records = store.attestations(&AttestationFilter::default()).unwrap();
    assert_eq!(records.len(), seen.records);
    let mut chains: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records {
        chains
            .entry(r.chain.clone())
            .or_default()
            .push((*r.record).clone());
    }
    for (id, recs) in &chains {
        attestation::verify_chain(recs, recs[0]["kid"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("chain {id}: {e}"));
    }
    eprintln!(
        "[crash] {rounds} kills in {:.2?}: {} chains, {} records, all verified",
        started.elapsed(),
        chains.len(),
        seen.records
    );
    assert!(seen.records as u64 >= 2 * rounds);
}
