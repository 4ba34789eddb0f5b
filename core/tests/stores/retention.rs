//! Retention (issue 14, items 6, 8 and 9): records pruned as a prefix of each chain behind a
//! signed checkpoint, exported first, the remainder still verifying — and every way of cutting
//! records without a trusted checkpoint detected. Store-level and engine-level, on every backend.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::sync::Arc;

use passgate::__private::retention::{seal_checkpoint, verify_chain_from, verify_export};
use passgate::clock::ManualClock;
use passgate::store::{AttestationFilter, Checkpoint, Retention, Store};
use passgate::{Engine, Issuer, KeyPair, PassportRequest, Request};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::conformance::commit;
use crate::support::{Chain, T0};

// ---------------------------------------------------------------------------------------------
// Store level.

fn count(s: &dyn Store) -> usize {
    s.attestations(&AttestationFilter::default()).unwrap().len()
}

fn cp(chain: &str, seq: u64) -> Checkpoint {
    Checkpoint {
        chain: chain.into(),
        seq,
        record: Arc::new(json!({"body": {"kind": "chain.checkpoint", "chain": chain, "seq": seq}})),
    }
}

/// `prune_due` lists the oldest records in append order (never a chain's newest), by count and by
/// age; `prune_prefix` deletes exactly one chain's prefix with its checkpoint, refuses to move a
/// checkpoint back or to delete a chain's newest record.
pub fn store_prunes_a_prefix_behind_its_checkpoint(s: &dyn Store) {
    let (a, b) = (Chain::new("ca"), Chain::new("cb"));
    for i in 0..10 {
        for c in [&a, &b] {
            let r = c.record(T0 + i * 1000, Some("g"), Some("ag"), "allow");
            assert_eq!(
                commit(s, T0 + i * 1000, &[], &r),
                passgate::store::CommitOutcome::Committed
            );
        }
    }
    assert_eq!(count(s), 20);
    let keep_all = s
        .prune_due(&Retention::KEEP_ALL, T0 + 100_000, 100)
        .unwrap();
    assert!(keep_all.is_empty());
    // By count: 20 records, keep 15 → the 5 oldest (a1 b1 a2 b2 a3).
    let by_count = Retention {
        max_age_ms: None,
        max_records: Some(15),
    };
    let due = s.prune_due(&by_count, T0 + 100_000, 100).unwrap();
    let names: Vec<(String, u64)> = due.iter().map(|r| (r.chain.clone(), r.seq)).collect();
    assert_eq!(
        names,
        vec![
            ("ca".into(), 1),
            ("cb".into(), 1),
            ("ca".into(), 2),
            ("cb".into(), 2),
            ("ca".into(), 3)
        ]
    );
    assert_eq!(s.prune_due(&by_count, T0, 2).unwrap().len(), 2, "limit");
    // By age: older than 3.5 s at T0 + 10 s → times T0..T0+6000 (7 per chain).
    let by_age = Retention {
        max_age_ms: Some(3500),
        max_records: None,
    };
    assert_eq!(s.prune_due(&by_age, T0 + 10_000, 100).unwrap().len(), 14);
    // Everything old: each chain's newest record stays.
    let all_old = s.prune_due(&by_age, T0 + 1_000_000, 100).unwrap();
    assert_eq!(all_old.len(), 18);
    assert!(all_old.iter().all(|r| r.seq < 10));

    assert_eq!(s.checkpoint("ca").unwrap(), None);
    assert_eq!(s.prune_prefix(&cp("ca", 3)).unwrap(), 3);
    assert_eq!(s.checkpoint("ca").unwrap().unwrap().seq, 3);
    assert_eq!(count(s), 17);
    let left: Vec<u64> = s
        .attestations(&AttestationFilter {
            chain: Some("ca".into()),
            ..Default::default()
        })
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(left, (4..=10).collect::<Vec<_>>(), "a prefix, nothing else");
    assert_eq!(count(s) - left.len(), 10, "the other chain untouched");
    // An older (or equal) checkpoint changes nothing: never moved back.
    assert_eq!(s.prune_prefix(&cp("ca", 2)).unwrap(), 0);
    assert_eq!(s.prune_prefix(&cp("ca", 3)).unwrap(), 0);
    assert_eq!(s.checkpoint("ca").unwrap().unwrap().seq, 3);
    // The newest record of a chain is never pruned.
    let e = s.prune_prefix(&cp("cb", 10)).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT", "{e}");
    assert_eq!(s.prune_prefix(&cp("cb", 9)).unwrap(), 9);
    let cps: Vec<(String, u64)> = s
        .checkpoints()
        .unwrap()
        .into_iter()
        .map(|c| (c.chain, c.seq))
        .collect();
    assert_eq!(cps, vec![("ca".into(), 3), ("cb".into(), 9)]);
    // What is due now starts after the pruned prefixes and skips cb's newest.
    let due = s.prune_due(&by_age, T0 + 1_000_000, 100).unwrap();
    assert_eq!(due.first().map(|r| r.seq), Some(4));
    assert!(due.iter().all(|r| r.chain == "ca"));
    // The chain continues after pruning (its tail is where it was).
    let r = a.record(T0 + 20_000, None, None, "allow");
    assert_eq!(
        commit(s, T0 + 20_000, &[], &r),
        passgate::store::CommitOutcome::Committed
    );
    assert_eq!(s.chain_tail("ca").unwrap().unwrap().seq, 11);
}

/// Keyset paging: a page boundary survives pruning (no record after it is skipped, none
/// repeated), and the last page says there is no next.
pub fn pages_survive_pruning(s: &dyn Store) {
    let a = Chain::new("pa");
    for i in 0..30 {
        let gate = if i % 3 == 0 { "three" } else { "other" };
        let r = a.record(T0 + i, Some(gate), None, "allow");
        commit(s, T0 + i, &[], &r);
    }
    let all = AttestationFilter::default();
    let (page, next) = s.attestations_page(&all, 0, 10).unwrap();
    assert_eq!(page.last().unwrap().seq, 10);
    let next = next.unwrap();
    // Prune the first 15 (5 beyond the page boundary).
    assert_eq!(s.prune_prefix(&cp("pa", 15)).unwrap(), 15);
    let (page, next) = s.attestations_page(&all, next, 10).unwrap();
    let seqs: Vec<u64> = page.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (16..=25).collect::<Vec<_>>());
    let (page, next) = s.attestations_page(&all, next.unwrap(), 10).unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(next, None, "the last page");
    // A filtered walk: every third record, by pages of 2.
    let f = AttestationFilter {
        gate: Some("three".into()),
        ..Default::default()
    };
    let (mut got, mut at) = (Vec::new(), 0);
    loop {
        let (page, next) = s.attestations_page(&f, at, 2).unwrap();
        got.extend(page.iter().map(|r| r.seq));
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    assert_eq!(got, vec![16, 19, 22, 25, 28]);
}

// ---------------------------------------------------------------------------------------------
// Engine level.

pub struct Fx {
    pub engine: Engine,
    pub clock: ManualClock,
    pub token: String,
}

pub fn policy() -> Value {
    json!({"version": 1, "gates": {
        "g": {"require": ["g"], "constraints": [
            {"id": "calls", "type": "quota", "max": 100000000},
            {"id": "spend", "type": "spend_limit", "field": "/amount", "max": 1000000000, "window": "366d"},
            {"id": "small", "type": "max_value", "field": "/amount", "max": 50}
        ]}
    }})
}

pub fn fx(store: Arc<dyn Store>, retention: Retention, export: Option<&std::path::Path>) -> Fx {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let mut b = Engine::builder()
        .policy_value(policy())
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .store(store)
        .retention(retention);
    if let Some(p) = export {
        b = b.retention_export(p);
    }
    let engine = b.build().unwrap();
    let req = PassportRequest::new("agent", ["g"]).with_expires_in_secs(365 * 86400);
    let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    Fx {
        engine,
        clock,
        token,
    }
}

impl Fx {
    pub fn decide(&self, i: u64) {
        // Some allowed, some denied (amount over 50): both are records; only allows count.
        let amount = (i % 60) as i64;
        let req = Request::new("g", json!({"amount": amount})).passport(&self.token);
        self.engine.enforce(&req).unwrap();
        self.clock.advance_ms(10);
    }
    pub fn signer(&self) -> Vec<String> {
        vec![self.engine.signer_did().to_string()]
    }
    /// The store's checkpoints, then its records: what `verify_export` takes as the remainder.
    pub fn remainder(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .engine
            .store()
            .checkpoints()
            .unwrap()
            .into_iter()
            .map(|c| (*c.record).clone())
            .collect();
        out.extend(
            self.engine
                .attestations(&AttestationFilter::default())
                .unwrap(),
        );
        out
    }
}

/// Sums `counted` per (namespace, constraint, scope) over export lines and remainder records.
pub fn attested_sums<'a>(
    records: impl Iterator<Item = &'a Value>,
) -> BTreeMap<(String, String), Decimal> {
    let mut out = BTreeMap::new();
    for r in records {
        let b = &r["body"];
        if b["kind"] != "decision" || b["decision"] != "allow" {
            continue;
        }
        for c in b["counted"].as_array().unwrap() {
            let k = (
                c["constraint"].as_str().unwrap().to_string(),
                c["scope"].as_str().unwrap().to_string(),
            );
            *out.entry(k).or_insert(Decimal::ZERO) +=
                c["amount"].as_str().unwrap().parse::<Decimal>().unwrap();
        }
    }
    out
}

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Prune by count with an export sink: the store stays bounded, `verify_store` passes on what is
/// left (from its checkpoint), the export plus the remainder verify offline and every decision is
/// in exactly one of them, and the counters equal the attested sums.
pub fn engine_prunes_exports_and_still_verifies(store: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("pruned.jsonl");
    let keep = Retention {
        max_age_ms: None,
        max_records: Some(40),
    };
    let f = fx(store.clone(), keep, Some(&sink));
    for i in 0..300 {
        f.decide(i);
    }
    let mut total = 0;
    loop {
        let r = f.engine.prune(50).unwrap();
        assert!(r.refused.is_empty(), "{r:?}");
        assert!(r.records <= 50);
        total += r.records;
        if r.records == 0 {
            break;
        }
    }
    let left = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    assert_eq!(left.len(), 40, "exactly the retention");
    let report = f.engine.verify_store(&f.signer()).unwrap();
    assert_eq!(report["records"], 40);
    assert_eq!(report["chains"][0]["first_seq"], 261);
    assert_eq!(report["chains"][0]["last_seq"], 300);
    assert_eq!(
        f.engine
            .store()
            .checkpoint(&f.engine.chain_id())
            .unwrap()
            .unwrap()
            .seq,
        260
    );
    // Offline: the sink file and the remainder.
    let exported = read_lines(&sink);
    let records: Vec<&Value> = exported
        .iter()
        .filter(|v| v["body"]["kind"] == "decision")
        .collect();
    assert_eq!(records.len(), 260);
    if !store.prunes_inline() {
        assert_eq!(total, 260, "memory: some were pruned inline by enforce");
    }
    let mut file = BufReader::new(std::fs::File::open(&sink).unwrap());
    let v = verify_export(&mut file, &f.remainder(), &f.signer()).unwrap();
    assert_eq!(v["records"], 300, "{v}");
    assert_eq!(v["chains"][0]["first_seq"], 1);
    // Counters = attested sums (quota and spend, every allowed decision counted once).
    let sums = attested_sums(records.into_iter().chain(left.iter()));
    for c in f.engine.cumulative_state(&Default::default()).unwrap() {
        let k = (c.key.constraint.to_string(), c.key.scope.to_string());
        assert_eq!(sums.get(&k).copied(), Some(c.used), "{k:?}");
    }
    // `export_attestations` of the remainder starts with its checkpoint and verifies alone.
    let mut out = Vec::new();
    assert_eq!(f.engine.export_attestations(None, &mut out).unwrap(), 40);
    let text = String::from_utf8(out).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["body"]["kind"], "chain.checkpoint");
    let v = verify_export(&mut text.as_bytes(), &[], &f.signer()).unwrap();
    assert_eq!(v["records"], 40);
    // Nothing to prune: nothing happens.
    assert_eq!(f.engine.prune(1000).unwrap().records, 0);
}

/// Without a checkpoint a pruned remainder does not verify; with a forged, unsigned, untrusted
/// or wrong checkpoint it fails with a typed error; tampering with the export is detected.
pub fn pruned_chains_verify_only_from_a_trusted_checkpoint(store: Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let sink = dir.path().join("pruned.jsonl");
    let keep = Retention {
        max_age_ms: Some(1000),
        max_records: None,
    };
    let f = fx(store.clone(), keep, Some(&sink));
    for i in 0..30 {
        f.decide(i);
    }
    f.clock.advance_ms(1000 - 200);
    let r = f.engine.prune(usize::MAX).unwrap();
    // 30 records 10 ms apart (T0 .. T0 + 290), now T0 + 1100: those before T0 + 100 go.
    assert_eq!(r.records, 10, "{r:?}");
    let did = f.engine.signer_did().to_string();
    let left = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    let cp = f
        .engine
        .store()
        .checkpoint(&f.engine.chain_id())
        .unwrap()
        .unwrap();
    let cp = (*cp.record).clone();
    let trusted = f.signer();
    // The remainder alone: it does not start at seq 1.
    let e = passgate::verify_chain(&left, &did).unwrap_err();
    assert_eq!(e.code(), "CHAIN_GAP");
    assert_eq!(
        verify_chain_from(&left, &did, None, &trusted)
            .unwrap_err()
            .code(),
        "CHAIN_GAP"
    );
    verify_chain_from(&left, &did, Some(&cp), &trusted).unwrap();
    // A checkpoint from a key not trusted.
    let stranger = KeyPair::generate().unwrap();
    assert_eq!(
        verify_chain_from(&left, &did, Some(&cp), &[stranger.did().to_string()])
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
    // The stranger's own checkpoint, well signed but not trusted.
    let hash = cp["body"]["hash"].as_str().unwrap();
    let theirs = seal_checkpoint(&f.engine.chain_id(), 9, hash, T0, &stranger).unwrap();
    assert_eq!(
        verify_chain_from(&left, &did, Some(&theirs), &trusted)
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
    // Forged: the body changed (a wrong hash named), or signed by another key under our kid.
    let mut forged = cp.clone();
    forged["body"]["hash"] = json!("sha256:00");
    assert_eq!(
        verify_chain_from(&left, &did, Some(&forged), &trusted)
            .unwrap_err()
            .code(),
        "ATTESTATION_HASH"
    );
    let mut swapped = theirs.clone();
    swapped["kid"] = json!(did);
    assert_eq!(
        verify_chain_from(&left, &did, Some(&swapped), &trusted)
            .unwrap_err()
            .code(),
        "ATTESTATION_SIGNATURE"
    );
    let mut unsigned = cp.clone();
    unsigned.as_object_mut().unwrap().remove("sig");
    assert_eq!(
        verify_chain_from(&left, &did, Some(&unsigned), &trusted)
            .unwrap_err()
            .code(),
        "ATTESTATION_MALFORMED"
    );
    // A record of the remainder removed from its front: the checkpoint no longer reaches it.
    assert_eq!(
        verify_chain_from(&left[1..], &did, Some(&cp), &trusted)
            .unwrap_err()
            .code(),
        "CHAIN_GAP"
    );
    // The record before the remainder dropped from the export: a gap.
    let lines = std::fs::read_to_string(&sink).unwrap();
    let kept: Vec<&str> = lines
        .lines()
        .filter(|l| !l.contains("\"seq\":5,"))
        .collect();
    assert_eq!(kept.len(), lines.lines().count() - 1);
    let e = verify_export(&mut kept.join("\n").as_bytes(), &f.remainder(), &trusted).unwrap_err();
    assert_eq!(e.code(), "CHAIN_GAP", "{e}");
    // A byte of the export changed.
    let tampered = lines.replacen("\"decision\":\"allow\"", "\"decision\":\"deny\"", 1);
    assert_ne!(tampered, lines);
    let e = verify_export(&mut tampered.as_bytes(), &f.remainder(), &trusted).unwrap_err();
    assert_eq!(e.code(), "ATTESTATION_HASH", "{e}");
    // The whole thing, untouched, verifies; and with an untrusted signer set it does not.
    verify_export(&mut lines.as_bytes(), &f.remainder(), &trusted).unwrap();
    let e = verify_export(
        &mut lines.as_bytes(),
        &f.remainder(),
        &[stranger.did().to_string()],
    )
    .unwrap_err();
    assert_eq!(e.code(), "ATTESTATION_KEY");
    f.engine.verify_store(&trusted).unwrap();
}

/// A checkpoint stored for a pruned chain that is not trusted, or names the wrong record:
/// `verify_store` fails with a typed error.
pub fn verify_store_refuses_a_bad_checkpoint(store: Arc<dyn Store>) {
    let f = fx(store.clone(), Retention::KEEP_ALL, None);
    for i in 0..10 {
        f.decide(i);
    }
    let chain = f.engine.chain_id();
    let trusted = f.signer();
    let left = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    let hash3 = left[2]["hash"].as_str().unwrap().to_string();
    let hash4 = left[3]["hash"].as_str().unwrap().to_string();
    // An attacker with write access prunes with their own key: not trusted.
    let stranger = KeyPair::generate().unwrap();
    let theirs = seal_checkpoint(&chain, 3, &hash3, T0, &stranger).unwrap();
    let n = store
        .prune_prefix(&Checkpoint {
            chain: chain.clone(),
            seq: 3,
            record: Arc::new(theirs),
        })
        .unwrap();
    assert_eq!(n, 3);
    let e = f.engine.verify_store(&trusted).unwrap_err();
    assert_eq!(e.code(), "ATTESTATION_KEY", "{e}");
    // Our key, but a checkpoint whose hash is not the pruned record's.
    let key = KeyPair::generate().unwrap();
    let wrong = seal_checkpoint(&chain, 4, &hash3, T0, &key).unwrap();
    let _ = hash4;
    store
        .prune_prefix(&Checkpoint {
            chain: chain.clone(),
            seq: 4,
            record: Arc::new(wrong),
        })
        .unwrap();
    let mut with_key = trusted.clone();
    with_key.push(key.did().to_string());
    let e = f.engine.verify_store(&with_key).unwrap_err();
    assert_eq!(e.code(), "CHAIN_ORDER", "{e}");
}

/// A record deleted from the middle of a chain (by a hand in the store): `verify_store` fails
/// with `CHAIN_GAP`, and `prune` refuses to hide it behind a checkpoint.
pub fn a_record_deleted_from_the_middle(f: &Fx, delete: impl Fn(&str, u64)) {
    let chain = f.engine.chain_id();
    delete(&chain, 5);
    let e = f.engine.verify_store(&f.signer()).unwrap_err();
    assert_eq!(e.code(), "CHAIN_GAP", "{e}");
    let r = f.engine.prune(usize::MAX).unwrap();
    assert_eq!(r.records, 0, "{r:?}");
    assert_eq!(r.refused.len(), 1);
    assert_eq!(r.refused[0].1, "CHAIN_GAP");
    let e = f.engine.verify_store(&f.signer()).unwrap_err();
    assert_eq!(e.code(), "CHAIN_GAP", "still reported");
}

/// `memory:` prunes inline: thousands of decisions and no `prune()` call stay bounded.
#[test]
fn memory_prunes_inline_and_stays_bounded() {
    let store: Arc<dyn Store> = Arc::new(passgate::store::MemoryStore::new());
    let keep = Retention {
        max_age_ms: None,
        max_records: Some(100),
    };
    let f = fx(store.clone(), keep, None);
    for i in 0..3000 {
        f.decide(i);
    }
    let n = count(store.as_ref());
    assert!(
        n <= 100 + passgate::engine::INLINE_PRUNE_LIMIT,
        "{n} records"
    );
    f.engine.verify_store(&f.signer()).unwrap();
    // The default for memory: 100,000 records.
    let dflt = Engine::builder()
        .policy_value(policy())
        .build()
        .unwrap()
        .retention();
    assert_eq!(dflt.max_records, Some(100_000));
}

/// Retention from the store URL; the builder wins; durable stores keep everything by default;
/// a bad value is `INVALID_ARGUMENT` naming the option.
#[test]
fn retention_comes_from_the_url_or_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}/r.db?retention_age=30d&busy_timeout_ms=500&retention_records=7",
        dir.path().display()
    );
    let e = Engine::builder()
        .policy_value(policy())
        .store_url(&url)
        .build()
        .unwrap();
    assert_eq!(
        e.retention(),
        Retention {
            max_age_ms: Some(30 * 86_400_000),
            max_records: Some(7)
        }
    );
    let plain = format!("sqlite://{}/r.db", dir.path().display());
    let e = Engine::builder()
        .policy_value(policy())
        .store_url(&plain)
        .build()
        .unwrap();
    assert!(e.retention().keeps_all());
    let mine = Retention {
        max_age_ms: Some(1000),
        max_records: None,
    };
    let e = Engine::builder()
        .policy_value(policy())
        .store_url(&url)
        .retention(mine)
        .build()
        .unwrap();
    assert_eq!(e.retention(), mine);
    for (bad, name) in [
        ("memory:?retention_age=1y", "retention_age"),
        ("memory:?retention_records=0", "retention_records"),
        ("memory:?retention_records=many", "retention_records"),
    ] {
        let e = Engine::builder()
            .policy_value(policy())
            .store_url(bad)
            .build()
            .unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
        assert!(e.to_string().contains(name), "{e}");
    }
    let e = Engine::builder()
        .policy_value(policy())
        .store_url("memory:?retention_records=5")
        .build()
        .unwrap();
    assert_eq!(e.retention().max_records, Some(5));
    // An old count cursor is refused with a message saying why.
    let e = e
        .attestations_page(&AttestationFilter::default(), Some("c1.10"), 10)
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains("older passgate"), "{e}");
}

/// Closed holds and approvals that can no longer matter are pruned in bounded batches (memory,
/// SQLite; Redis lets their keys expire, see `redis_keys`), open holds never.
pub fn closed_holds_and_approvals_are_pruned(s: &dyn Store) {
    use passgate::store::{HoldResolution, HoldState};
    let c = Chain::new("h");
    let mut ids = Vec::new();
    for i in 0..6 {
        let h = crate::conformance::hold(&format!("hld_{i}"), T0, T0 + 1000, vec![]);
        crate::conformance::take_hold(s, &c, &h);
        ids.push(h.id);
    }
    for id in &ids[..4] {
        let r = c.event(T0 + 10, "hold.settled");
        let out = s
            .hold_resolve(&HoldResolution {
                hold_id: id,
                now_ms: T0 + 10,
                state: HoldState::Settled,
                amounts: &[],
                enforce_bounds: true,
                record: &r,
            })
            .unwrap();
        assert_eq!(out, passgate::store::HoldOutcome::Resolved);
    }
    assert_eq!(
        s.prune_closed(T0 + 1000, 100).unwrap(),
        0,
        "not yet expired"
    );
    assert_eq!(s.prune_closed(T0 + 1001, 3).unwrap(), 3, "a bounded batch");
    assert_eq!(s.prune_closed(T0 + 1001, 100).unwrap(), 1);
    assert!(s.hold_get(&ids[0]).unwrap().is_none());
    assert!(s.hold_get(&ids[3]).unwrap().is_none());
    assert_eq!(s.hold_get(&ids[4]).unwrap().unwrap().state, HoldState::Open);
    assert_eq!(s.prune_closed(i64::MAX, 100).unwrap(), 0, "open holds stay");
}

macro_rules! retention_suite {
    ($backend:ident) => {
        mod $backend {
            #[test]
            fn store_prunes_a_prefix_behind_its_checkpoint() {
                let (store, _guard) = crate::support::$backend();
                super::store_prunes_a_prefix_behind_its_checkpoint(store.as_ref());
            }
            #[test]
            fn pages_survive_pruning() {
                let (store, _guard) = crate::support::$backend();
                super::pages_survive_pruning(store.as_ref());
            }
            #[test]
            fn engine_prunes_exports_and_still_verifies() {
                let (store, _guard) = crate::support::$backend();
                super::engine_prunes_exports_and_still_verifies(store);
            }
            #[test]
            fn pruned_chains_verify_only_from_a_trusted_checkpoint() {
                let (store, _guard) = crate::support::$backend();
                super::pruned_chains_verify_only_from_a_trusted_checkpoint(store);
            }
            #[test]
            fn verify_store_refuses_a_bad_checkpoint() {
                let (store, _guard) = crate::support::$backend();
                super::verify_store_refuses_a_bad_checkpoint(store);
            }
        }
    };
}

retention_suite!(memory);
retention_suite!(sqlite);
retention_suite!(redis);

#[test]
fn memory_closed_holds_and_approvals_are_pruned() {
    let (s, _g) = crate::support::memory();
    closed_holds_and_approvals_are_pruned(s.as_ref());
}

#[test]
fn sqlite_closed_holds_and_approvals_are_pruned() {
    let (s, _g) = crate::support::sqlite();
    closed_holds_and_approvals_are_pruned(s.as_ref());
}

/// SQLite: a record deleted from the middle with another SQLite client.
#[test]
fn sqlite_a_record_deleted_from_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let store: Arc<dyn Store> = Arc::new(
        passgate::store::SqliteStore::open(&format!("sqlite://{}", path.display())).unwrap(),
    );
    let keep = Retention {
        max_age_ms: None,
        max_records: Some(5),
    };
    let f = fx(store, keep, None);
    for i in 0..20 {
        f.decide(i);
    }
    a_record_deleted_from_the_middle(&f, |chain, seq| {
        let c = rusqlite::Connection::open(&path).unwrap();
        let n = c
            .execute(
                "DELETE FROM records WHERE chain = ?1 AND seq = ?2",
                rusqlite::params![chain, seq as i64],
            )
            .unwrap();
        assert_eq!(n, 1);
    });
}

/// Redis: a record deleted from the middle by hand (its hash field and chain index entry).
#[test]
fn redis_a_record_deleted_from_the_middle() {
    let server = crate::support::RedisServer::start();
    let store: Arc<dyn Store> =
        Arc::new(passgate::store::RedisStore::open(&server.url("m")).unwrap());
    let keep = Retention {
        max_age_ms: None,
        max_records: Some(5),
    };
    let f = fx(store, keep, None);
    for i in 0..20 {
        f.decide(i);
    }
    a_record_deleted_from_the_middle(&f, |chain, seq| {
        let ix = format!("{{m}}:x:chain:{chain}");
        let g: Vec<String> = server.query(&[
            "ZRANGE",
            &ix,
            &(seq - 1).to_string(),
            &(seq - 1).to_string(),
        ]);
        let _: i64 = server.query(&["HDEL", "{m}:r", &g[0]]);
        let _: i64 = server.query(&["ZREM", &ix, &g[0]]);
        let _: i64 = server.query(&["ZREM", "{m}:x:all", &g[0]]);
    });
}

/// Redis: pruning deletes every index entry of a pruned record — its evaluation's `x:eval:<id>`
/// key included — and no key of a pruned record is left behind.
#[test]
fn redis_pruning_leaves_no_index_entry_behind() {
    let server = crate::support::RedisServer::start();
    let store: Arc<dyn Store> =
        Arc::new(passgate::store::RedisStore::open(&server.url("k")).unwrap());
    let keep = Retention {
        max_age_ms: None,
        max_records: Some(10),
    };
    let f = fx(store, keep, None);
    for i in 0..50 {
        f.decide(i);
    }
    let evals: Vec<String> = server.query(&["KEYS", "{k}:x:eval:*"]);
    assert_eq!(evals.len(), 50);
    f.engine.prune(usize::MAX).unwrap();
    let evals: Vec<String> = server.query(&["KEYS", "{k}:x:eval:*"]);
    assert_eq!(evals.len(), 10, "one per remaining record");
    let n: i64 = server.query(&["HLEN", "{k}:r"]);
    assert_eq!(n, 10);
    for ix in ["{k}:x:all", "{k}:x:kind:decision", "{k}:x:gate:g"] {
        let n: i64 = server.query(&["ZCARD", ix]);
        assert_eq!(n, 10, "{ix}");
    }
    let n: i64 = server.query(&["HLEN", "{k}:ck"]);
    assert_eq!(n, 1);
}

/// SQLite: paging by chain, gate, agent and time is answered from an index (EXPLAIN QUERY PLAN),
/// never by scanning the records table.
#[test]
fn sqlite_pages_from_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let _store =
        passgate::store::SqliteStore::open(&format!("sqlite://{}", path.display())).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let cols = "g, chain, seq, time_ms, kind, gate, agent_id, decision, evaluation_id, record";
    for (what, cond) in [
        ("all", ""),
        ("chain", " AND chain = ?2"),
        ("gate", " AND gate = ?2"),
        ("agent", " AND agent_id = ?2"),
        ("time", " AND time_ms >= ?2 AND time_ms < ?3"),
        ("kind", " AND kind = ?2"),
    ] {
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {cols} FROM records WHERE g > ?1{cond} ORDER BY g LIMIT 100"
        );
        let mut stmt = c.prepare(&sql).unwrap();
        let n = stmt.parameter_count();
        let params: Vec<rusqlite::types::Value> = (0..n)
            .map(|i| match (what, i) {
                (_, 0) | ("time", _) => rusqlite::types::Value::Integer(1),
                _ => rusqlite::types::Value::Text("x".into()),
            })
            .collect();
        let plan: Vec<String> = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let plan = plan.join(" | ");
        assert!(!plan.contains("SCAN records"), "{what}: {plan}");
        assert!(plan.contains("SEARCH records"), "{what}: {plan}");
        if matches!(what, "chain" | "gate" | "agent") {
            assert!(plan.contains("USING INDEX records_by_"), "{what}: {plan}");
        }
    }
}
