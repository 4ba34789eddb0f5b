//! Checkpointed signing under SIGKILL (SQLite): a writer enforcing with `signing: checkpoint`
//! (a head every 5 records) is killed at random moments and restarted on the same file, a few
//! times (`PASSGATE_CKPT_SOAK=N` for N rounds; `make soak` runs 50). After every kill, for every chain: each
//! head's root is recomputed from the stored records (no head covers a record that was lost),
//! the chain up to its last head verifies, and every stored decision below the last head has a
//! valid inclusion proof against it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use passgate::merkle::{self, Tree};
use passgate::store::{SqliteStore, Store};
use passgate::{attestation, AttestationFilter, Engine, Issuer, PassportRequest, Request, Signing};
use serde_json::{json, Value};

use crate::support::T0;
use crate::workers::{self, spend_policy, Rng};

/// The worker: one engine signing by checkpoint, enforcing as fast as it can until killed.
pub fn writer(store: Arc<dyn Store>, issuer: &Issuer, seed: u64, say: fn(Value)) {
    let engine = Engine::builder()
        .policy_value(spend_policy("1000000000"))
        .trusted_issuer(issuer.did())
        .signing_key(issuer.key().clone())
        .signing(Signing::Checkpoint {
            every: 5,
            interval_ms: 2,
        })
        .store(store)
        .build()
        .unwrap();
    let token = issuer
        .issue_passport_at(
            &PassportRequest::new("agent", ["pay"]).with_expires_in_secs(365 * 86400),
            T0 / 1000,
        )
        .unwrap()
        .token;
    let mut rng = Rng::new(seed);
    for i in 0u64.. {
        let r = Request::new("spend", json!({"amount": rng.amount().to_string()})).passport(&token);
        engine.enforce(&r).unwrap();
        if i == 6 {
            say(json!("ready"));
        }
    }
}

/// Audits every chain of the store; returns (chains, heads, proofs checked).
fn audit(url: &str, did: &str) -> (usize, usize, usize) {
    let store = SqliteStore::open(url).unwrap();
    let mut chains: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for r in store.attestations(&AttestationFilter::default()).unwrap() {
        chains
            .entry(r.chain.clone())
            .or_default()
            .push((*r.record).clone());
    }
    let (mut heads, mut proofs) = (0, 0);
    for (id, recs) in &chains {
        let Some(last) = recs.iter().rposition(|r| r["body"]["kind"] == "checkpoint") else {
            continue;
        };
        // Recomputes every head's root from the stored records (and checks links, hashes and
        // signatures) up to the last head.
        attestation::verify_chain(&recs[..=last], did)
            .unwrap_or_else(|e| panic!("chain {id}: {e}"));
        heads += recs[..=last]
            .iter()
            .filter(|r| r["body"]["kind"] == "checkpoint")
            .count();
        let mut tree = Tree::new();
        for r in recs {
            tree.push(merkle::leaf_hash(
                &merkle::from_tagged(r["hash"].as_str().unwrap()).unwrap(),
            ));
        }
        let head = &recs[last];
        let size = head["body"]["data"]["tree_size"].as_u64().unwrap();
        for r in &recs[..last] {
            if r["body"]["kind"] != "decision" {
                continue;
            }
            let seq = r["body"]["seq"].as_u64().unwrap();
            let path: Vec<String> = tree
                .inclusion_proof(seq - 1, size)
                .unwrap()
                .iter()
                .map(merkle::to_tagged)
                .collect();
            let doc = json!({"proof": path, "head": head});
            attestation::verify_inclusion_proof(r, &doc, did)
                .unwrap_or_else(|e| panic!("chain {id} seq {seq}: {e}"));
            proofs += 1;
        }
    }
    (chains.len(), heads, proofs)
}

#[test]
fn checkpointed_sqlite_survives_sigkill_and_restarts() {
    let rounds: u64 = std::env::var("PASSGATE_CKPT_SOAK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/ckpt.db", dir.path().display());
    let issuer = Issuer::generate().unwrap();
    let mut rng = Rng::new(7);
    let started = Instant::now();
    let mut last = (0, 0, 0);
    for round in 0..rounds {
        let (mut child, mut out) = workers::spawn(
            &json!({"mode": "crash_ckpt", "url": url, "issuer": issuer.secret(), "seed": round}),
        );
        assert_eq!(workers::next_line(&mut out), Some(json!("ready")));
        std::thread::sleep(Duration::from_millis(rng.next() % 80));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        last = audit(&url, issuer.did());
        assert_eq!(last.0 as u64, round + 1, "one chain per life");
    }
    eprintln!(
        "[checkpoint crash] {rounds} kills in {:.2?}: {} chains, {} heads, {} proofs verified",
        started.elapsed(),
        last.0,
        last.1,
        last.2
    );
    assert!(
        last.1 as u64 >= rounds,
        "every life wrote a head before it was killed"
    );
}

/// Checkpoint-mode decisions and heads on each backend: stored as written, the chain verifies,
/// every decision is proven against the last head, and an engine on the same store reads the
/// proofs back from the store (its own log is of its own chain).
fn checkpointed_chain_on(store: Arc<dyn Store>) {
    let issuer = Issuer::generate().unwrap();
    let engine = |store: Arc<dyn Store>| {
        Engine::builder()
            .policy_value(spend_policy("1000"))
            .trusted_issuer(issuer.did())
            .signing_key(issuer.key().clone())
            .clock(Arc::new(passgate::clock::ManualClock::new(workers::NOW)))
            .signing(Signing::Checkpoint {
                every: 3,
                interval_ms: 60_000,
            })
            .store(store)
            .build()
            .unwrap()
    };
    let a = engine(store.clone());
    let token = issuer
        .issue_passport_at(&PassportRequest::new("agent", ["pay"]), T0 / 1000)
        .unwrap()
        .token;
    let mut ids = Vec::new();
    for i in 0..7 {
        let d = a
            .enforce(&Request::new("spend", json!({"amount": 100 + i})).passport(&token))
            .unwrap();
        ids.push(d.evaluation_id);
    }
    a.checkpoint().unwrap();
    let recs: Vec<Value> = store
        .attestations(&AttestationFilter {
            chain: Some(a.chain_id()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|r| (*r.record).clone())
        .collect();
    // 7 decisions, heads after the 3rd and 6th decisions' records and the final one.
    assert_eq!(recs.len(), 10);
    attestation::verify_chain(&recs, issuer.did()).unwrap();
    let b = engine(store);
    for id in &ids {
        let target = passgate::ProofTarget::EvaluationId(id.clone());
        let proof = b.inclusion_proof(&target, None).unwrap();
        assert_eq!(proof, a.inclusion_proof(&target, None).unwrap());
        let rec = recs
            .iter()
            .find(|r| r["body"]["evaluation_id"] == json!(id))
            .unwrap();
        attestation::verify_inclusion_proof(rec, &proof, issuer.did()).unwrap();
    }
}

#[test]
fn checkpointed_chain_memory() {
    let (store, _g) = crate::support::memory();
    checkpointed_chain_on(store);
}

#[test]
fn checkpointed_chain_sqlite() {
    let (store, _g) = crate::support::sqlite();
    checkpointed_chain_on(store);
}

#[test]
fn checkpointed_chain_redis() {
    let (store, _g) = crate::support::redis();
    checkpointed_chain_on(store);
}
