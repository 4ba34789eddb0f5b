//! The registries (passports, issuers) held to one contract on memory, SQLite and Redis:
//! insert-if-absent (the first record of an id is never overwritten), keyset pages by id with
//! the agent and parent filters, issuer records with a generation that moves on every change,
//! the revoked ids; and two engines on one Redis sharing issuers and the registry.

use std::sync::Arc;

use passgate::store::{
    IssuerRecord, PassportFilter, PassportRecord, PassportSource, Registered, Store,
};
use passgate::{ops, Engine, Issuer};
use serde_json::json;

use crate::support::{self, Guard, RedisServer};

fn record(id: &str, agent: &str, parent: Option<&str>, hash: &str) -> PassportRecord {
    PassportRecord {
        passport_id: id.into(),
        agent: agent.into(),
        name: None,
        perms: vec!["pay".into()],
        caveats: vec![json!({"type": "max_value", "field": "/amount", "max": 5})],
        parent: parent.map(Into::into),
        ancestors: parent.map(|p| vec![p.to_string()]).unwrap_or_default(),
        issuer: "did:key:z6Mkexample".into(),
        exp: 2_000_000_000,
        issued_at: 1_700_000_000,
        token_hash: hash.into(),
        registered_at: 1_700_000_000_000,
        source: PassportSource::Seen,
    }
}

/// `psp_` and 26 base32 characters, ordered by `n`.
fn id(n: usize) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut tail = vec![b'a'; 26];
    let mut n = n;
    for i in (20..26).rev() {
        tail[i] = alphabet[n % 32];
        n /= 32;
    }
    format!("psp_{}", String::from_utf8(tail).unwrap())
}

fn contract(store: Arc<dyn Store>) {
    let reg = store.registry().expect("the backend keeps registries");
    let first = record(&id(1), "alice", None, "aa");
    assert_eq!(reg.passport_register(&first).unwrap(), Registered::Inserted);
    // Same id again, another token: the stored record is returned, never overwritten.
    let other = record(&id(1), "mallory", None, "bb");
    match reg.passport_register(&other).unwrap() {
        Registered::Existing(found) => assert_eq!(*found, first),
        r => panic!("{r:?}"),
    }
    assert_eq!(reg.passport_get(&id(1)).unwrap(), Some(first.clone()));
    assert_eq!(reg.passport_get(&id(2)).unwrap(), None);
    for n in 2..=25 {
        let parent = (n % 2 == 0).then(|| id(1));
        let agent = if n % 3 == 0 { "bob" } else { "alice" };
        reg.passport_register(&record(&id(n), agent, parent.as_deref(), "cc"))
            .unwrap();
    }
    let walk = |filter: &PassportFilter, limit: usize| -> Vec<String> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let (page, next) = reg.passports_page(filter, after.as_deref(), limit).unwrap();
            assert!(page.len() <= limit);
            out.extend(page.into_iter().map(|r| r.passport_id));
            match next {
                Some(n) => after = Some(n),
                None => return out,
            }
        }
    };
    let all = walk(&PassportFilter::default(), 7);
    assert_eq!(
        all,
        (1..=25).map(id).collect::<Vec<_>>(),
        "every record once, by id"
    );
    let bobs = walk(
        &PassportFilter {
            agent: Some("bob".into()),
            parent: None,
        },
        2,
    );
    assert_eq!(
        bobs,
        (1..=25).filter(|n| n % 3 == 0).map(id).collect::<Vec<_>>()
    );
    let children = walk(
        &PassportFilter {
            agent: None,
            parent: Some(id(1)),
        },
        100,
    );
    assert_eq!(
        children,
        (2..=25).filter(|n| n % 2 == 0).map(id).collect::<Vec<_>>()
    );

    // Issuers: a generation that moves with every change, the latest record per did.
    let g0 = reg.issuers_generation().unwrap();
    let did = Issuer::generate().unwrap().did().to_string();
    let rec = |trusted: bool, na: Option<i64>| IssuerRecord {
        did: did.clone(),
        trusted,
        not_before: None,
        not_after: na,
        changed_at: 5,
    };
    let g1 = reg.issuer_put(&rec(true, Some(10))).unwrap();
    assert_ne!(g1, g0);
    assert_eq!(reg.issuers_generation().unwrap(), g1);
    let g2 = reg.issuer_put(&rec(false, None)).unwrap();
    assert_ne!(g2, g1);
    let (g, all) = reg.issuers().unwrap();
    assert_eq!((g, all), (g2, vec![rec(false, None)]));

    store.revoke(&id(3), 1).unwrap();
    store.revoke(&id(2), 1).unwrap();
    assert_eq!(reg.revoked_ids().unwrap(), vec![id(2), id(3)]);
}

fn run(factory: fn() -> (Arc<dyn Store>, Guard)) {
    let (store, _guard) = factory();
    contract(store);
}

#[test]
fn memory_registry_contract() {
    run(support::memory);
}

#[test]
fn sqlite_registry_contract() {
    run(support::sqlite);
}

#[test]
fn redis_registry_contract() {
    run(support::redis);
}

#[test]
fn two_engines_on_one_redis_share_issuers_and_the_registry() {
    let server = RedisServer::start();
    let url = server.url("reg");
    let engine = || {
        Engine::builder()
            .policy_value(json!({"version": 1, "gates": {"pay": {"require": ["pay"]}}}))
            .store_url(&url)
            .build()
            .unwrap()
    };
    let (a, b) = (engine(), engine());
    let issuer = Issuer::generate().unwrap();
    let p = issuer
        .issue_passport(&passgate::PassportRequest::new("agent", ["pay"]))
        .unwrap();
    let decide = |e: &Engine| {
        ops::call(e, "enforce", json!({"gate": "pay", "passport": p.token})).unwrap()["decision"]
            .clone()
    };
    assert_eq!(decide(&b), "deny");
    ops::call(&a, "trust_issuer", json!({"did": issuer.did()})).unwrap();
    assert_eq!(
        decide(&b),
        "allow",
        "a trust on one engine is honoured by the other"
    );
    let rec = ops::call(&a, "get_passport", json!({"passport_id": p.passport_id})).unwrap();
    assert_eq!(rec["source"], "seen");
    assert_eq!(rec["status"], "active");
    ops::call(&a, "untrust_issuer", json!({"did": issuer.did()})).unwrap();
    assert_eq!(decide(&b), "deny");
    // Other prefixes see none of it.
    let elsewhere = Engine::builder()
        .store_url(&server.url("other"))
        .build()
        .unwrap();
    assert_eq!(
        ops::call(
            &elsewhere,
            "get_passport",
            json!({"passport_id": p.passport_id})
        )
        .unwrap_err()
        .code(),
        "PASSPORT_UNKNOWN"
    );
}
