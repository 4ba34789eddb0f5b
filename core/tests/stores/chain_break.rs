//! Issue 14, item 5: a store that loses the tail of an engine's chain (Redis `FLUSHALL` or a
//! restart without persistence, an older SQLite file restored) never makes the engine sign a
//! (chain, seq) twice. The request that finds the store behind gets `STORE_UNAVAILABLE` saying
//! the chain broke; the engine continues on a new chain whose first record, `chain.break`, names
//! the old chain, the last seq and hash it committed and the store's tail; the new chain verifies
//! on its own.

use std::collections::BTreeSet;
use std::sync::Arc;

use passgate::store::Store;
use passgate::{attestation, AttestationFilter, Request};
use serde_json::{json, Value};

use crate::engine_suite::{engine, Fx};
use crate::support::RedisServer;

fn pay(f: &Fx) -> Request {
    Request::new("pay", json!({"amount": 1})).passport(&f.token)
}

/// Runs `n` admitted decisions, keeping every record the engine signed.
fn decide(f: &Fx, n: usize, signed: &mut Vec<Value>) {
    for _ in 0..n {
        let d = f.engine.enforce(&pay(f)).unwrap();
        assert!(d.allowed, "{:?}", d.checks);
        signed.push((*d.attestation.unwrap()).clone());
    }
}

/// After the store lost the tail: the next request reports the break, the ones after proceed on
/// a new chain, and nothing is signed twice. `store_tail`: what the store still held of the old
/// chain when the break was found (`None`: nothing).
fn breaks_and_goes_on(f: &Fx, signed: &mut Vec<Value>, store_tail: Option<&Value>) {
    let old = f.engine.chain_id();
    let last = signed.last().unwrap().clone();
    assert_eq!(last["body"]["chain"], old.as_str());
    let e = f.engine.enforce(&pay(f)).unwrap_err();
    assert_eq!(e.code(), "STORE_UNAVAILABLE", "{e}");
    let m = e.to_string();
    assert!(m.contains(&format!("chain {old} broken")), "{m}");
    let new = f.engine.chain_id();
    assert_ne!(new, old);
    assert!(m.contains(&new), "{m}");
    decide(f, 3, signed);
    // No (chain, seq) signed twice, among what the engine handed out and what the store holds.
    let stored = f
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    let mut seen = BTreeSet::new();
    for r in signed.iter() {
        let at = (r["body"]["chain"].clone(), r["body"]["seq"].clone());
        assert!(seen.insert(format!("{at:?}")), "signed twice: {at:?}");
    }
    for r in &stored {
        let at = (r["body"]["chain"].clone(), r["body"]["seq"].clone());
        let same = signed
            .iter()
            .find(|s| s["body"]["chain"] == at.0 && s["body"]["seq"] == at.1);
        if let Some(s) = same {
            assert_eq!(
                s, r,
                "the store's record at {at:?} is the one the engine signed"
            );
        }
    }
    // The new chain: verifies on its own, starts with the break.
    let chain: Vec<Value> = f
        .engine
        .attestations(&AttestationFilter {
            chain: Some(new.clone()),
            ..Default::default()
        })
        .unwrap();
    attestation::verify_chain(&chain, f.engine.signer_did()).unwrap();
    assert_eq!(chain.len(), 4, "the break and three decisions");
    let brk = &chain[0]["body"];
    assert_eq!(
        (brk["kind"].as_str(), brk["seq"].as_u64()),
        (Some("chain.break"), Some(1))
    );
    assert_eq!(brk["prev"], Value::Null);
    assert_eq!(brk["data"]["previous_chain"], old.as_str());
    // Event data holds no JSON numbers (decimal strings, like every host event's).
    let seq_of = |r: &Value| r["body"]["seq"].as_u64().unwrap().to_string();
    assert_eq!(brk["data"]["last_seq"], seq_of(&last));
    assert_eq!(brk["data"]["last_hash"], last["hash"]);
    assert_eq!(
        brk["data"]["store_tail"],
        store_tail.cloned().unwrap_or(Value::Null)
    );
    let by_kind = f
        .engine
        .attestations(&AttestationFilter {
            kind: Some("chain.break".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_kind.len(), 1);
    // A host cannot write one.
    let e = f
        .engine
        .record_attestation("chain.break", &json!({}))
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}

#[test]
fn redis_flushall_breaks_the_chain_and_never_forks_it() {
    let server = RedisServer::start();
    let store: Arc<dyn Store> = passgate::store::open(&server.url("t")).unwrap();
    let f = engine(store);
    let mut signed = Vec::new();
    decide(&f, 5, &mut signed);
    let _: String = server.query(&["FLUSHALL"]);
    breaks_and_goes_on(&f, &mut signed, None);
}

/// A server restarted without persistence: the request in flight fails (its outcome unknown), the
/// next reads the tail back, finds nothing, and reports the break.
#[test]
fn redis_restart_without_persistence_breaks_the_chain() {
    let mut server = RedisServer::start();
    let store: Arc<dyn Store> = passgate::store::open(&server.url("t")).unwrap();
    let f = engine(store);
    let mut signed = Vec::new();
    decide(&f, 4, &mut signed);
    server.kill();
    assert_eq!(
        f.engine.enforce(&pay(&f)).unwrap_err().code(),
        "STORE_UNAVAILABLE"
    );
    server.restart();
    breaks_and_goes_on(&f, &mut signed, None);
}

/// An older copy of the database file restored under a running engine (done through SQL on the
/// live file, table by table, so the engine's open connections see it as a restore would).
#[test]
fn sqlite_restored_backup_breaks_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pg.db");
    let backup = dir.path().join("backup.db");
    let store: Arc<dyn Store> =
        passgate::store::open(&format!("sqlite://{}", path.display())).unwrap();
    let f = engine(store);
    let mut signed = Vec::new();
    decide(&f, 3, &mut signed);
    let at_backup = signed.last().unwrap().clone();
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute("VACUUM INTO ?1", [backup.to_str().unwrap()])
        .unwrap();
    decide(&f, 3, &mut signed);
    db.execute("ATTACH DATABASE ?1 AS bk", [backup.to_str().unwrap()])
        .unwrap();
    let tables = [
        "records",
        "counters",
        "counter_log",
        "idempotency",
        "holds",
        "approvals",
        "revoked",
    ];
    let mut restore = String::from("BEGIN IMMEDIATE;");
    for t in tables {
        restore.push_str(&format!(
            "DELETE FROM main.{t}; INSERT INTO main.{t} SELECT * FROM bk.{t};"
        ));
    }
    restore.push_str("COMMIT;");
    db.execute_batch(&restore).unwrap();
    let seq = at_backup["body"]["seq"].as_u64().unwrap().to_string();
    let tail = json!({"seq": seq, "hash": at_backup["hash"]});
    breaks_and_goes_on(&f, &mut signed, Some(&tail));
}
