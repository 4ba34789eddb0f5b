//! Consumption claims and settlements held to one contract on memory, SQLite and Redis: an
//! evaluation is claimed once (the holder is named; only the holder gives it back), a settlement
//! is written once, its status moves only by compare-and-swap; engines on one shared store
//! consuming the same evaluation at once record exactly one consumption; and a SQLite database at
//! version 9 migrates through 10 (nonces) and 11 (settlements).

use std::sync::Arc;

use passgate::store::{StatusSwap, Store, StoredSettlement};
use passgate::{ops, Engine, Issuer};
use serde_json::json;

use crate::support::{self, Guard, RedisServer};

fn contract(store: Arc<dyn Store>) {
    let ss = store.settlements().expect("the backend keeps settlements");
    assert_eq!(ss.consumption_claim("evl_1", "att_a").unwrap(), None);
    assert_eq!(
        ss.consumption_claim("evl_1", "att_b").unwrap().as_deref(),
        Some("att_a"),
        "claimed once, the holder named"
    );
    ss.consumption_unclaim("evl_1", "att_b").unwrap();
    assert_eq!(
        ss.consumption_claim("evl_1", "att_c").unwrap().as_deref(),
        Some("att_a"),
        "only the holder gives a claim back"
    );
    ss.consumption_unclaim("evl_1", "att_a").unwrap();
    assert_eq!(ss.consumption_claim("evl_1", "att_d").unwrap(), None);

    assert_eq!(ss.settlement_get("stl_1").unwrap(), None);
    let s = StoredSettlement {
        id: "stl_1".into(),
        status: "draft".into(),
        document: "{\"d\":1}".into(),
        records: "[]".into(),
        created_ms: 42,
    };
    assert!(ss.settlement_insert(&s).unwrap());
    let mut other = s.clone();
    other.document = "{\"d\":2}".into();
    assert!(!ss.settlement_insert(&other).unwrap(), "written once");
    assert_eq!(ss.settlement_get("stl_1").unwrap(), Some(s));
    assert_eq!(
        ss.settlement_set_status("stl_1", "draft", "issued")
            .unwrap(),
        StatusSwap::Swapped
    );
    assert_eq!(
        ss.settlement_set_status("stl_1", "draft", "void").unwrap(),
        StatusSwap::Current("issued".into())
    );
    assert_eq!(
        ss.settlement_set_status("stl_none", "draft", "void")
            .unwrap(),
        StatusSwap::Unknown
    );
    assert_eq!(
        ss.settlement_get("stl_1").unwrap().unwrap().status,
        "issued"
    );
}

fn run(make: fn() -> (Arc<dyn Store>, Guard)) {
    let (store, _guard) = make();
    contract(store);
}

#[test]
fn memory_settlement_contract() {
    run(support::memory);
}

#[test]
fn sqlite_settlement_contract() {
    run(support::sqlite);
}

#[test]
fn redis_settlement_contract() {
    run(support::redis);
}

/// Four engines (their own keys) on one store consume the same evaluations at once: each
/// evaluation gets exactly one consumption record.
fn racing_consumers(url: &str) {
    let issuer = Issuer::generate().unwrap();
    let policy = json!({"version": 1, "gates": {"pay": {"require": ["pay"]}}});
    let engines: Vec<Arc<Engine>> = (0..4)
        .map(|_| {
            Arc::new(
                Engine::builder()
                    .policy_value(policy.clone())
                    .trusted_issuer(issuer.did())
                    .store_url(url)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    let e0 = &engines[0];
    ops::call(e0, "create_catalog", json!({"gate": "pay", "catalog": {"gate": "pay", "trust_level": "L1", "offers": [
        {"permission": "pay", "price": {"amount": 7, "currency": "USD"}, "pricing": {"model": "per_call"}}]}})).unwrap();
    ops::call(e0, "publish_catalog", json!({"gate": "pay"})).unwrap();
    let token = ops::call(
        e0,
        "issue_passport",
        json!({"issuer_secret": issuer.secret(), "agent_id": "a", "permissions": ["pay"]}),
    )
    .unwrap()["token"]
        .clone();
    let evals: Vec<serde_json::Value> = (0..5)
        .map(|_| {
            ops::call(
                e0,
                "enforce",
                json!({"gate": "pay", "passport": token, "payload": {}}),
            )
            .unwrap()["evaluation_id"]
                .clone()
        })
        .collect();
    let handles: Vec<_> = engines
        .iter()
        .map(|e| {
            let (e, evals) = (e.clone(), evals.clone());
            std::thread::spawn(move || {
                evals
                    .iter()
                    .filter(|ev| {
                        match ops::call(
                            &e,
                            "issue_consumption_attestation",
                            json!({"evaluation_id": ev, "outcome": "success"}),
                        ) {
                            Ok(_) => true,
                            Err(x) => {
                                assert_eq!(x.code(), "CONSUMPTION_EXISTS", "{x}");
                                false
                            }
                        }
                    })
                    .count()
            })
        })
        .collect();
    let won: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(won, evals.len());
    let recorded = ops::call(e0, "attestations", json!({"kind": "consumption"})).unwrap()
        ["attestations"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(recorded, evals.len());
}

#[test]
fn engines_racing_to_consume_on_one_sqlite_file_record_one_consumption_each() {
    let dir = tempfile::tempdir().unwrap();
    racing_consumers(&format!("sqlite://{}/pc.db", dir.path().display()));
}

#[test]
fn engines_racing_to_consume_on_one_redis_record_one_consumption_each() {
    let server = RedisServer::start();
    racing_consumers(&server.url("con"));
}

/// A database at version 9 (before proof of possession and settlements) migrates through 10
/// and 11: the nonce table and the settlement tables are there and work.
#[test]
fn migrations_10_and_11_apply_to_a_version_9_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    let url = format!("sqlite://{}", path.display());
    drop(passgate::store::sqlite::SqliteStore::open(&url).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("DROP TABLE consumptions; DROP TABLE settlements; DROP TABLE pop_nonces;")
        .unwrap();
    c.pragma_update(None, "user_version", 9).unwrap();
    drop(c);
    let store = passgate::store::sqlite::SqliteStore::open(&url).unwrap();
    let ss = store.settlements().unwrap();
    assert_eq!(ss.consumption_claim("e", "r").unwrap(), None);
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, passgate::store::sqlite::SCHEMA_VERSION);
    let nonces: i64 = c
        .query_row("SELECT count(*) FROM pop_nonces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nonces, 0);
}
