//! Catalogs held to one contract on memory, SQLite and Redis: a published version is written
//! once (insert-if-absent by (gate, version): never overwritten), versions listed ascending per
//! gate, the gates with a catalog listed sorted, one draft per gate replaced by each put; and
//! engines racing to publish on one shared store (SQLite file, Redis) never share a version.

use std::sync::Arc;

use passgate::store::Store;
use passgate::{ops, Engine};
use serde_json::{json, Value};

use crate::support::{self, Guard, RedisServer};

fn contract(store: Arc<dyn Store>) {
    let cs = store.catalogs().expect("the backend keeps catalogs");
    assert_eq!(cs.catalog_versions("g").unwrap(), vec![]);
    assert!(cs.catalog_gates().unwrap().is_empty());
    assert!(cs.catalog_insert("g", 1, "first").unwrap());
    assert!(
        !cs.catalog_insert("g", 1, "second").unwrap(),
        "written once"
    );
    assert_eq!(cs.catalog_get("g", 1).unwrap().as_deref(), Some("first"));
    assert_eq!(cs.catalog_get("g", 2).unwrap(), None);
    for v in [3, 2, 10] {
        assert!(cs.catalog_insert("g", v, &format!("v{v}")).unwrap());
    }
    assert!(cs.catalog_insert("g:x", 1, "other gate").unwrap());
    assert!(cs.catalog_insert("a b", 1, "spaces").unwrap());
    let versions: Vec<u64> = cs
        .catalog_versions("g")
        .unwrap()
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(versions, [1, 2, 3, 10]);
    assert_eq!(
        cs.catalog_versions("g:x").unwrap(),
        vec![(1, "other gate".to_string())]
    );
    assert_eq!(cs.catalog_gates().unwrap(), ["a b", "g", "g:x"]);
    assert_eq!(cs.catalog_draft_get("g").unwrap(), None);
    cs.catalog_draft_put("g", "d1").unwrap();
    cs.catalog_draft_put("g", "d2").unwrap();
    assert_eq!(cs.catalog_draft_get("g").unwrap().as_deref(), Some("d2"));
    assert_eq!(cs.catalog_draft_get("g:x").unwrap(), None);
}

fn run(make: fn() -> (Arc<dyn Store>, Guard)) {
    let (store, _guard) = make();
    contract(store);
}

#[test]
fn memory_catalog_contract() {
    run(support::memory);
}

#[test]
fn sqlite_catalog_contract() {
    run(support::sqlite);
}

#[test]
fn redis_catalog_contract() {
    run(support::redis);
}

fn catalog(amount: u64) -> Value {
    json!({"gate": "pay", "trust_level": "L1", "offers": [
        {"permission": "pay", "price": {"amount": amount, "currency": "USD"}, "pricing": {"model": "per_call"}}]})
}

/// Four engines (their own keys) on one store, each publishing its own drafts in a loop: every
/// version number is taken exactly once, each document verifies against its publisher's key,
/// and every publication is attested once.
fn racing_publishers(url: &str) {
    let engines: Vec<Arc<Engine>> = (0..4)
        .map(|_| {
            Arc::new(
                Engine::builder()
                    .policy_value(json!({"version": 1, "gates": {"pay": {"require": ["pay"]}}}))
                    .store_url(url)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    let handles: Vec<_> = engines
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let e = e.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for n in 0..5u64 {
                    // The draft is shared per gate: publish whatever is there (a draft
                    // identical to the latest version is refused: skip it).
                    ops::call(
                        &e,
                        "create_catalog",
                        json!({"gate": "pay", "catalog": catalog(1000 * (i as u64) + n)}),
                    )
                    .unwrap();
                    match ops::call(&e, "publish_catalog", json!({"gate": "pay"})) {
                        Ok(v) => {
                            mine.push((v["version"].as_u64().unwrap(), e.signer_did().to_string()))
                        }
                        Err(x) => assert_eq!(x.code(), "INVALID_ARGUMENT", "{x}"),
                    }
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<(u64, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort();
    let versions: Vec<u64> = all.iter().map(|(v, _)| *v).collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(versions, expected, "each version once, no gap");
    let listed = ops::call(&engines[0], "list_catalog_versions", json!({"gate": "pay"})).unwrap();
    assert_eq!(listed["versions"].as_array().unwrap().len(), all.len());
    for (v, signer) in &all {
        let got = ops::call(
            &engines[0],
            "get_catalog_version",
            json!({"gate": "pay", "version": v}),
        )
        .unwrap();
        assert_eq!(&got["signer"], signer);
        passgate::commerce::verify_catalog(&got["document"], signer).unwrap();
    }
    let attested: usize = engines
        .iter()
        .map(|e| {
            ops::call(
                e,
                "attestations",
                json!({"kind": "catalog.published", "chain": e.chain_id()}),
            )
            .unwrap()["attestations"]
                .as_array()
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(attested, all.len());
}

#[test]
fn engines_racing_to_publish_on_one_sqlite_file_never_share_a_version() {
    let dir = tempfile::tempdir().unwrap();
    racing_publishers(&format!("sqlite://{}/pg.db", dir.path().display()));
}

#[test]
fn engines_racing_to_publish_on_one_redis_never_share_a_version() {
    let server = RedisServer::start();
    racing_publishers(&server.url("cat"));
}
