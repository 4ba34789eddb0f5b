//! Run bundles on every store: kept by evaluation id, read back, and deleted with their decision
//! record when retention prunes it (a bundle never outlives the record that names it).

use passgate::store::Retention;
use passgate::{ops, Engine, Issuer, PassportRequest};
use serde_json::json;

use crate::support::RedisServer;

fn pruning_takes_the_bundles_with_their_records(url: &str) {
    let issuer = Issuer::generate().unwrap();
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "record": {"payload": true},
            "gates": {"pay": {"require": ["pay"]}}}))
        .trusted_issuer(issuer.did())
        .store_url(url)
        .retention(Retention {
            max_age_ms: None,
            max_records: Some(3),
        })
        .build()
        .unwrap();
    let token = issuer
        .issue_passport(&PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let d = ops::call(
                &engine,
                "enforce",
                json!({"gate": "pay", "passport": token, "payload": {"n": i}}),
            )
            .unwrap();
            d["evaluation_id"].as_str().unwrap().to_string()
        })
        .collect();
    let store = engine.store();
    // Pruning may already run inline on commits: prune the rest now.
    engine.prune(100).unwrap();
    let kept: Vec<bool> = ids
        .iter()
        .map(|id| store.bundle_get(id).unwrap().is_some())
        .collect();
    let recorded: Vec<bool> = ids
        .iter()
        .map(|id| ops::call(&engine, "get_evaluation", json!({"evaluation_id": id})).is_ok())
        .collect();
    assert_eq!(
        kept, recorded,
        "a bundle is kept exactly while its record is"
    );
    assert!(
        kept.iter().any(|k| !k) && kept.last() == Some(&true),
        "{kept:?}"
    );
    let last = ops::call(
        &engine,
        "get_evaluation",
        json!({"evaluation_id": ids.last().unwrap()}),
    )
    .unwrap();
    assert_eq!(last["bundle"]["payload"], json!({"n": 5}));
}

#[test]
fn memory_prunes_bundles_with_their_records() {
    pruning_takes_the_bundles_with_their_records("memory:");
}

#[test]
fn sqlite_prunes_bundles_with_their_records() {
    let dir = tempfile::tempdir().unwrap();
    pruning_takes_the_bundles_with_their_records(&format!(
        "sqlite://{}",
        dir.path().join("b.db").display()
    ));
}

#[test]
fn redis_prunes_bundles_with_their_records() {
    let server = RedisServer::start();
    pruning_takes_the_bundles_with_their_records(&server.url("bundles"));
}
