//! A policy kept in the store (`policy_source=store`): every engine on one SQLite file or one
//! Redis enforces one document. An edit on one engine is in force on the others from their
//! next decision; of concurrent edits made on the same `policy_hash`, exactly one wins; every
//! change is one `policy.changed` record with its diff, written with the document or not at all.

use std::sync::{Arc, Barrier};

use passgate::store::PolicySource;
use passgate::{Engine, Issuer, Request};
use serde_json::{json, Value};

use crate::support::RedisServer;

fn policy() -> Value {
    json!({"version": 1, "gates": {
        "pay": {"require": ["pay"], "constraints": [
            {"id": "cap", "type": "max_value", "field": "/amount", "max": 100}]}
    }})
}

fn engine(url: &str, issuer: &Issuer, policy: Option<Value>) -> Engine {
    let mut b = Engine::builder()
        .store_url(url)
        .trusted_issuer(issuer.did())
        .policy_source(PolicySource::Store);
    if let Some(p) = policy {
        b = b.policy_value(p);
    }
    b.build().unwrap()
}

fn decide(e: &Engine, token: &str, gate: &str, amount: i64) -> (String, Vec<String>) {
    let d = e
        .enforce(&Request::new(gate, json!({"amount": amount})).passport(token))
        .unwrap();
    let v = serde_json::to_value(&d).unwrap();
    let failed = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["code"].as_str().unwrap_or("").to_string())
        .collect();
    (v["decision"].as_str().unwrap().to_string(), failed)
}

/// Every `policy.changed` record the store holds, all chains together.
fn changes(e: &Engine) -> Vec<Value> {
    passgate::ops::call(
        e,
        "attestations",
        json!({"kind": "policy.changed", "limit": 10000}),
    )
    .unwrap()["attestations"]
        .as_array()
        .unwrap()
        .clone()
}

fn fleet_sees_one_policy(url: &str) {
    let issuer = Issuer::generate().unwrap();
    let token = issuer
        .issue_passport(&passgate::PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    // The first engine seeds the store; the second, built with another policy, takes the store's.
    let a = engine(url, &issuer, Some(policy()));
    let b = engine(url, &issuer, Some(json!({"version": 1, "gates": {}})));
    let seeded = a.current_policy().unwrap().unwrap().hash.clone();
    assert_eq!(b.current_policy().unwrap().unwrap().hash, seeded);
    assert_eq!(changes(&a).len(), 1, "the seed is one attested change");
    assert_eq!(decide(&b, &token, "pay", 50).0, "allow");
    assert_eq!(decide(&b, &token, "pay", 500).0, "deny");

    // An edit on A is enforced by B on its next decision: a tighter cap, and a new gate.
    let c = a
        .set_gate_constraints(
            "pay",
            vec![json!({"id": "cap", "type": "max_value", "field": "/amount", "max": 10})],
            Some(&seeded),
        )
        .unwrap();
    assert_eq!(decide(&b, &token, "pay", 50).0, "deny");
    assert_eq!(
        decide(&b, &token, "refund", 1).1,
        vec!["GATE_UNKNOWN".to_string()]
    );
    let c2 = a
        .upsert_gate("refund", json!({"require": ["pay"]}), Some(&c.policy_hash))
        .unwrap();
    assert_eq!(decide(&b, &token, "refund", 1).0, "allow");
    assert_eq!(b.current_policy().unwrap().unwrap().hash, c2.policy_hash);

    // B edits on a stale hash: refused, nothing changes. Without if_match B edits the current.
    let stale = b.delete_gate("refund", Some(&seeded)).unwrap_err();
    assert_eq!(stale.code(), "POLICY_CONFLICT");
    assert_eq!(decide(&a, &token, "refund", 1).0, "allow");
    let c3 = b.delete_gate("refund", None).unwrap();
    assert_eq!(c3.previous_hash.as_deref(), Some(c2.policy_hash.as_str()));
    assert_eq!(
        decide(&a, &token, "refund", 1).1,
        vec!["GATE_UNKNOWN".to_string()]
    );

    // Every change is one record with its diff, whichever engine made it.
    let all = changes(&a);
    assert_eq!(all.len(), 4, "seed, two edits on A, one on B");
    let ops: Vec<&str> = all
        .iter()
        .map(|r| r["body"]["data"]["operation"].as_str().unwrap())
        .collect();
    assert_eq!(
        ops,
        [
            "set_policy",
            "set_gate_constraints",
            "upsert_gate",
            "delete_gate"
        ]
    );
    assert_eq!(
        all[2]["body"]["data"]["diff"]["gates_added"],
        json!(["refund"])
    );
    assert_eq!(
        all[3]["body"]["data"]["diff"]["gates_removed"],
        json!(["refund"])
    );
    assert_eq!(all[3]["body"]["data"]["new_hash"], json!(c3.policy_hash));
    // Each change is a `policy.changed` decision event too, written with its record by the swap.
    let events = passgate::ops::call(
        &a,
        "events",
        json!({"kinds": ["policy.changed"], "limit": 100}),
    )
    .unwrap();
    let event_records: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["attestation"])
        .collect();
    assert_eq!(event_records, all.iter().collect::<Vec<_>>());

    // Concurrent edits on the same hash from both engines: exactly one wins.
    let base = c3.policy_hash.clone();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let e = if i % 2 == 0 { a.clone() } else { b.clone() };
            let (barrier, base) = (barrier.clone(), base.clone());
            std::thread::spawn(move || {
                barrier.wait();
                e.upsert_gate(&format!("g{i}"), json!({}), Some(&base))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.code(), "POLICY_CONFLICT");
    }
    assert_eq!(changes(&a).len(), 5, "one record for the one winner");
    let gates = &a.current_policy().unwrap().unwrap().gates;
    assert_eq!(gates.keys().filter(|g| g.starts_with('g')).count(), 1);
    // Both engines agree on the document in force.
    assert_eq!(
        a.current_policy().unwrap().unwrap().hash,
        b.current_policy().unwrap().unwrap().hash
    );

    // Edits without if_match from both engines at once: each is redone on the other's, none lost.
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let e = if i % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                e.upsert_gate(&format!("h{i}"), json!({}), None)
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let gates = &b.current_policy().unwrap().unwrap().gates;
    assert_eq!(gates.keys().filter(|g| g.starts_with('h')).count(), n);
    assert_eq!(changes(&a).len(), 5 + n);
}

#[test]
fn sqlite_engines_on_one_file_enforce_one_policy() {
    let dir = tempfile::tempdir().unwrap();
    fleet_sees_one_policy(&format!(
        "sqlite://{}",
        dir.path().join("fleet.db").display()
    ));
}

#[test]
fn redis_engines_on_one_server_enforce_one_policy() {
    let server = RedisServer::start();
    fleet_sees_one_policy(&server.url("fleet"));
}

#[test]
fn memory_store_shares_the_policy_between_engines_on_it() {
    let store = passgate::store::open("memory:").unwrap();
    let issuer = Issuer::generate().unwrap();
    let a = Engine::builder()
        .store(store.clone())
        .policy_value(policy())
        .policy_source(PolicySource::Store)
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    let b = Engine::builder()
        .store(store)
        .policy_source(PolicySource::Store)
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    a.upsert_gate("x", json!({}), None).unwrap();
    assert!(b.current_policy().unwrap().unwrap().gates.contains_key("x"));
}

/// The URL option selects it too (how Python, Node and the CLI set it), and a bad value is a
/// typed error naming the option.
#[test]
fn the_store_url_selects_the_policy_source() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("url.db");
    let url = format!("sqlite://{}?policy_source=store", db.display());
    let a = Engine::builder()
        .store_url(&url)
        .policy_value(policy())
        .build()
        .unwrap();
    let b = Engine::builder().store_url(&url).build().unwrap();
    assert!(b
        .current_policy()
        .unwrap()
        .unwrap()
        .gates
        .contains_key("pay"));
    a.delete_gate("pay", None).unwrap();
    assert!(b.current_policy().unwrap().unwrap().gates.is_empty());
    let e = Engine::builder()
        .store_url(&format!("sqlite://{}?policy_source=fleet", db.display()))
        .build()
        .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(e.to_string().contains("policy_source"), "{e}");
}

/// A document in the store that does not compile (written by hand, or by a newer passgate)
/// fails every decision, rather than leaving an older policy in force.
#[test]
fn a_stored_document_that_does_not_compile_fails_decisions_closed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let url = format!("sqlite://{}?policy_source=store", db.display());
    let issuer = Issuer::generate().unwrap();
    let token = issuer
        .issue_passport(&passgate::PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    let a = Engine::builder()
        .store_url(&url)
        .policy_value(policy())
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    assert_eq!(decide(&a, &token, "pay", 1).0, "allow");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE policy SET version = version + 1, doc = '{\"version\": 1, \"gates\": {\"pay\": {\"constraints\": [{\"type\": \"nope\"}]}}}'",
        [],
    )
    .unwrap();
    let e = a
        .enforce(&Request::new("pay", json!({"amount": 1})).passport(&token))
        .unwrap_err();
    assert_eq!(e.code(), "POLICY_INVALID");
    // A document that compiles but is not the one its hash names is refused the same way.
    conn.execute(
        "UPDATE policy SET version = version + 1, doc = '{\"version\": 1, \"gates\": {\"pay\": {}}}'",
        [],
    )
    .unwrap();
    let e = a
        .enforce(&Request::new("pay", json!({"amount": 1})).passport(&token))
        .unwrap_err();
    assert_eq!(e.code(), "POLICY_INVALID");
    assert!(e.to_string().contains("hashes to"), "{e}");
}
