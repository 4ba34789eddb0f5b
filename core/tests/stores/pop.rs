//! Proof-of-possession nonces held to one contract on memory, SQLite and Redis: a nonce is
//! inserted in the decision's own commit, a second commit under an unexpired nonce changes
//! nothing (`NonceReplayed`: no counter, no record), an expired one is replaced, and pruning
//! forgets it; then engines sharing one store (SQLite file, Redis) refuse a nonce replayed to
//! another engine, and threads racing one nonce get exactly one allow.

use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::store::{Commit, CommitOutcome, NonceClaim, Store};
use passgate::{CheckCode, Engine, Issuer, KeyPair, PassportRequest, Request, Verdict};
use serde_json::json;

use crate::conformance::used;
use crate::support::{self, fixed, op, Chain, Guard, RedisServer};

const T0: i64 = 1_767_225_600_000;

fn commit_with(s: &dyn Store, c: &Chain, now: i64, nonce: Option<NonceClaim<'_>>) -> CommitOutcome {
    let r = c.record(now, Some("g"), Some("a"), "allow");
    let q = op("q", fixed(3_600_000), "1", "100");
    let out = s
        .commit(&Commit {
            now_ms: now,
            counters: std::slice::from_ref(&q),
            enforce_bounds: true,
            record: &r,
            idempotency: None,
            hold: None,
            approval_request: None,
            use_approval: None,
            nonce,
            guard: None,
            expect_usage: None,
        })
        .unwrap();
    if out != CommitOutcome::Committed {
        c.unwind();
    }
    out
}

fn contract(store: Arc<dyn Store>) {
    let s = store.as_ref();
    let c = Chain::new("pop");
    let q = op("q", fixed(3_600_000), "1", "100");
    let n1 = NonceClaim {
        key: "did:key:zA n1",
        expires_ms: T0 + 1000,
    };
    assert!(!s.nonce_seen(n1.key, T0).unwrap());
    assert_eq!(commit_with(s, &c, T0, Some(n1)), CommitOutcome::Committed);
    assert!(s.nonce_seen(n1.key, T0).unwrap());
    assert_eq!(used(s, &q, T0), "1");
    // Replayed: nothing of the commit happens.
    assert_eq!(
        commit_with(s, &c, T0 + 10, Some(n1)),
        CommitOutcome::NonceReplayed
    );
    assert_eq!(used(s, &q, T0 + 10), "1", "no counter moved");
    // Another agent's key with the same nonce is another nonce.
    let other = NonceClaim {
        key: "did:key:zB n1",
        expires_ms: T0 + 1000,
    };
    assert_eq!(
        commit_with(s, &c, T0 + 10, Some(other)),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &q, T0 + 10), "2");
    // Expired: seen no more, and a commit under it goes through (and holds it again).
    assert!(!s.nonce_seen(n1.key, T0 + 1000).unwrap());
    let again = NonceClaim {
        key: n1.key,
        expires_ms: T0 + 5000,
    };
    assert_eq!(
        commit_with(s, &c, T0 + 1000, Some(again)),
        CommitOutcome::Committed
    );
    assert_eq!(
        commit_with(s, &c, T0 + 1001, Some(again)),
        CommitOutcome::NonceReplayed
    );
    // A commit without a nonce is not affected.
    assert_eq!(
        commit_with(s, &c, T0 + 1002, None),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &q, T0 + 1002), "4");
}

fn run(make: fn() -> (Arc<dyn Store>, Guard)) {
    let (store, _guard) = make();
    contract(store);
}

#[test]
fn memory_nonce_contract() {
    run(support::memory);
}

#[test]
fn sqlite_nonce_contract() {
    run(support::sqlite);
}

#[test]
fn redis_nonce_contract() {
    run(support::redis);
}

#[test]
fn sqlite_prunes_expired_nonces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pg.db");
    let store =
        passgate::store::SqliteStore::open(&format!("sqlite://{}", path.display())).unwrap();
    let c = Chain::new("prune");
    for i in 0..5 {
        let key = format!("did:key:zA old{i}");
        let claim = NonceClaim {
            key: &key,
            expires_ms: T0 + 10,
        };
        assert_eq!(
            commit_with(&store, &c, T0, Some(claim)),
            CommitOutcome::Committed
        );
    }
    let fresh = NonceClaim {
        key: "did:key:zA fresh",
        expires_ms: T0 + 100_000,
    };
    assert_eq!(
        commit_with(&store, &c, T0 + 20, Some(fresh)),
        CommitOutcome::Committed
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let left: i64 = conn
        .query_row("SELECT count(*) FROM pop_nonces", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 1, "the expired nonces were pruned on insert");
}

#[test]
fn redis_nonces_expire_with_a_ttl() {
    let server = RedisServer::start();
    let store = passgate::store::RedisStore::open(&server.url("ttl")).unwrap();
    let c = Chain::new("ttl");
    let claim = NonceClaim {
        key: "did:key:zA n",
        expires_ms: T0 + 60_000,
    };
    assert_eq!(
        commit_with(&store, &c, T0, Some(claim)),
        CommitOutcome::Committed
    );
    let keys: Vec<String> = server.query(&["KEYS", "*pop:*"]);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let ttl: i64 = server.query(&["PTTL", &keys[0]]);
    assert!(ttl > 0 && ttl <= 60_000, "a TTL prunes it: {ttl}");
}

const POLICY: &str = r#"{"version": 1, "gates": {"pay": {"require": ["pay"], "trust_level": "L3",
    "constraints": [{"id": "cap", "type": "spend_limit", "field": "/amount", "max": 1000, "window": "1d"}]}},
    "issuer_levels": {}}"#;

fn engine(url: &str, issuer: &Issuer, clock: &ManualClock) -> Engine {
    Engine::builder()
        .policy_json(POLICY)
        .trusted_issuers([issuer.did().to_string()])
        .issuer_level(issuer.did(), passgate::commerce::TrustLevel::L2)
        .store_url(url)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

/// A request to `pay` with the agent's proof.
fn signed(token: &str, agent: &KeyPair, amount: i64, nonce: &str) -> Request {
    let req = Request::new("pay", json!({"amount": amount})).passport(token);
    let pop = passgate::pop::sign(agent, &req, None, Some(nonce.into()), Some(T0)).unwrap();
    req.pop(&pop)
}

fn replay_across_engines(url: &str) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let (a, b) = (engine(url, &issuer, &clock), engine(url, &issuer, &clock));
    let p = issuer
        .issue_passport_at(&PassportRequest::new("agent", ["pay"]), T0 / 1000)
        .unwrap();
    let key = KeyPair::from_secret(&p.private_key).unwrap();
    let req = signed(&p.token, &key, 10, "nonce-0123456789abcdef");
    let first = a.enforce(&req).unwrap();
    assert!(first.allowed, "{:?}", first.checks);
    let replayed = b.enforce(&req).unwrap();
    assert_eq!(replayed.decision, Verdict::Deny);
    let check = replayed.checks.iter().find(|c| c.ty == "pop").unwrap();
    assert_eq!(check.code.as_deref(), Some(CheckCode::PopReplayed.as_str()));
    assert_eq!(
        replayed.remaining.get("cap").map(|t| t.as_str()),
        Some("990")
    );
    // A dry run on either engine sees the nonce used too.
    let dry = a.dry_run(&req).unwrap();
    assert_eq!(
        dry.checks
            .iter()
            .find(|c| c.ty == "pop")
            .unwrap()
            .code
            .as_deref(),
        Some("POP_REPLAYED")
    );
    // A fresh nonce goes through on the other engine.
    assert!(
        b.enforce(&signed(&p.token, &key, 10, "nonce-fresh-0123456789"))
            .unwrap()
            .allowed
    );
}

#[test]
fn a_nonce_replayed_to_another_engine_on_one_sqlite_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    replay_across_engines(&format!("sqlite://{}/pg.db", dir.path().display()));
}

#[test]
fn a_nonce_replayed_to_another_engine_on_one_redis_is_refused() {
    let server = RedisServer::start();
    replay_across_engines(&server.url("pop"));
}

fn racing(url: &str, engines: usize) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engines: Vec<Arc<Engine>> = (0..engines)
        .map(|_| Arc::new(engine(url, &issuer, &clock)))
        .collect();
    let p = issuer
        .issue_passport_at(&PassportRequest::new("agent", ["pay"]), T0 / 1000)
        .unwrap();
    let key = KeyPair::from_secret(&p.private_key).unwrap();
    let req = Arc::new(signed(&p.token, &key, 100, "race-0123456789abcdef"));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let e = engines[i % engines.len()].clone();
            let req = req.clone();
            std::thread::spawn(move || e.enforce(&req).unwrap())
        })
        .collect();
    let decisions: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let allowed = decisions.iter().filter(|d| d.allowed).count();
    assert_eq!(allowed, 1, "exactly one allow");
    for d in decisions.iter().filter(|d| !d.allowed) {
        let check = d.checks.iter().find(|c| c.ty == "pop").unwrap();
        assert_eq!(
            check.code.as_deref(),
            Some("POP_REPLAYED"),
            "{:?}",
            d.checks
        );
    }
    let d = engines[0]
        .enforce(&signed(&p.token, &key, 900, "race-after-0123456789"))
        .unwrap();
    assert!(d.allowed, "only one 100 was spent: {:?}", d.checks);
}

#[test]
fn threads_racing_one_nonce_on_sqlite_get_one_allow() {
    let dir = tempfile::tempdir().unwrap();
    racing(&format!("sqlite://{}/pg.db", dir.path().display()), 2);
}

#[test]
fn threads_racing_one_nonce_on_redis_get_one_allow() {
    let server = RedisServer::start();
    racing(&server.url("race"), 2);
}

#[test]
fn threads_racing_one_nonce_in_memory_get_one_allow() {
    racing("memory:", 1);
}

#[test]
fn a_catalog_raised_to_l3_by_another_engine_applies_within_the_level_cache_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pg.db", dir.path().display());
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let doc = json!({"version": 1, "gates": {"pay": {"require": ["pay"]}}});
    let build = || {
        Engine::builder()
            .policy_value(doc.clone())
            .trusted_issuers([issuer.did().to_string()])
            .issuer_level(issuer.did(), passgate::commerce::TrustLevel::L2)
            .store_url(&url)
            .clock(Arc::new(clock.clone()))
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let p = issuer
        .issue_passport_at(&PassportRequest::new("agent", ["pay"]), T0 / 1000)
        .unwrap();
    let plain = Request::new("pay", json!({"amount": 1})).passport(&p.token);
    assert!(a.enforce(&plain).unwrap().allowed);
    let catalog = json!({"gate": "pay", "trust_level": "L3", "offers": [
        {"permission": "pay", "price": {"amount": 5, "currency": "USD"}, "pricing": {"model": "per_call"}}
    ]});
    passgate::ops::call(
        &b,
        "create_catalog",
        json!({"gate": "pay", "catalog": catalog}),
    )
    .unwrap();
    passgate::ops::call(&b, "publish_catalog", json!({"gate": "pay"})).unwrap();
    // The publisher enforces the new level at once; the other engine after its cache time.
    assert!(!b.enforce(&plain).unwrap().allowed);
    clock.advance_ms(passgate::engine::LEVEL_CACHE_MS);
    let d = a.enforce(&plain).unwrap();
    assert!(!d.allowed);
    assert!(d
        .checks
        .iter()
        .any(|c| c.code.as_deref() == Some("POP_REQUIRED")));
}
