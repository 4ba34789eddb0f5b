//! Restarts: counters, revocations, idempotency records and chains outlive the process that wrote
//! them (SQLite) and the client that wrote them (Redis); a Redis server killed and restarted
//! mid-run gives errors, then recovery — never an allow past the cap, never a forked chain.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passgate::store::{CounterFilter, Store};
use passgate::{attestation, AttestationFilter, Decision, Issuer, PassportRequest, Request};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::{RedisServer, T0};
use crate::workers::{self, engine_on, Rng, Tally, NOW};

fn pay(token: &str, amount: &str) -> Request {
    Request::new("spend", json!({"amount": amount})).passport(token)
}

/// The first process: spends, uses an idempotency key, revokes a passport, then exits.
pub fn first_life(store: Arc<dyn Store>, issuer: &Issuer, spec: &Value, say: fn(Value)) {
    let engine = engine_on(store, issuer.did(), "100");
    let token = spec["token"].as_str().unwrap();
    let first = engine
        .enforce(&pay(token, "60").idempotency_key("once"))
        .unwrap();
    assert!(first.allowed);
    assert!(engine.enforce(&pay(token, "30.5")).unwrap().allowed);
    engine
        .revoke_passport(spec["revoke"].as_str().unwrap())
        .unwrap();
    say(json!({"first": first.to_json(), "chain": engine.chain_id(), "did": engine.signer_did()}));
}

fn survives(url: &str) {
    let issuer = Issuer::generate().unwrap();
    let issue = |a: &str| {
        issuer
            .issue_passport_at(
                &PassportRequest::new(a, ["pay"]).with_expires_in_secs(86400 * 365),
                T0 / 1000,
            )
            .unwrap()
    };
    let (alice, bob) = (issue("alice"), issue("bob"));
    let (mut child, mut out) = workers::spawn(
        &json!({"mode": "restart", "url": url, "issuer": issuer.secret(),
        "token": alice.token, "revoke": bob.passport_id}),
    );
    let said = workers::next_line(&mut out).expect("the first life's report");
    assert!(child.wait().unwrap().success());
    // A new process would open the store afresh: so does this one.
    let store = passgate::store::open(url).unwrap();
    let engine = engine_on(store.clone(), issuer.did(), "100");
    let first: Decision = serde_json::from_value(said["first"].clone()).unwrap();
    let again = engine
        .enforce(&pay(&alice.token, "60").idempotency_key("once"))
        .unwrap();
    assert!(again.replayed, "the idempotency record survived");
    assert_eq!(again.evaluation_id, first.evaluation_id);
    assert_eq!(
        engine
            .enforce(&pay(&alice.token, "61").idempotency_key("once"))
            .unwrap_err()
            .code(),
        "IDEMPOTENCY_CONFLICT"
    );
    let d = engine.enforce(&pay(&alice.token, "10")).unwrap();
    assert!(!d.allowed, "the counter survived: 90.5 + 10 > 100");
    assert!(engine.enforce(&pay(&alice.token, "9.5")).unwrap().allowed);
    let d = engine.enforce(&pay(&bob.token, "0")).unwrap();
    assert_eq!(
        d.checks[0].code.as_deref(),
        Some("PASSPORT_REVOKED"),
        "the revocation survived"
    );
    let old = engine
        .attestations(&AttestationFilter {
            chain: Some(said["chain"].as_str().unwrap().into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(old.len(), 3);
    attestation::verify_chain(&old, said["did"].as_str().unwrap()).unwrap();
    let mine = engine
        .attestations(&AttestationFilter {
            chain: Some(engine.chain_id()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(mine.len(), 3);
    attestation::verify_chain(&mine, engine.signer_did()).unwrap();
    let state = store
        .counters(
            &CounterFilter {
                constraint: Some("cap".into()),
                ..Default::default()
            },
            NOW,
        )
        .unwrap();
    assert_eq!(state[0].used, Decimal::from(100));

    // The whole store verifies with both lives' keys, each chain against its own signer; with
    // only this life's key, the first life's chain is refused as signed by an untrusted key.
    let old_did = said["did"].as_str().unwrap().to_string();
    let report = engine
        .verify_store(&[old_did.clone(), engine.signer_did().to_string()])
        .unwrap();
    assert_eq!(report["records"], 6);
    assert_eq!(report["chains"].as_array().unwrap().len(), 2);
    assert_eq!(
        engine
            .verify_store(&[engine.signer_did().to_string()])
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
    // Paging: every record once, in order, in pages of 4; a forged cursor is refused.
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let (page, next) = engine
            .attestations_page(&AttestationFilter::default(), cursor.as_deref(), 4)
            .unwrap();
        assert!(page.len() <= 4);
        seen.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        engine.attestations(&AttestationFilter::default()).unwrap()
    );
    assert_eq!(seen.len(), 6);
    for bad in ["", "7", "c1.x", "c1.-1"] {
        assert_eq!(
            engine
                .attestations_page(&AttestationFilter::default(), Some(bad), 4)
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
    }
    assert_eq!(
        engine
            .attestations_page(&AttestationFilter::default(), None, 0)
            .unwrap_err()
            .code(),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn sqlite_state_survives_a_process_restart() {
    let dir = tempfile::tempdir().unwrap();
    survives(&format!("sqlite://{}/restart.db", dir.path().display()));
}

#[test]
fn redis_state_survives_a_client_reconnect() {
    let server = RedisServer::start();
    survives(&server.url("restart"));
}

#[test]
fn redis_server_restart_mid_run_never_passes_the_cap() {
    const CAP: &str = "20000";
    let mut server = RedisServer::start_persistent();
    let url = server.url("crash");
    let store = passgate::store::open(&url).unwrap();
    let issuer = Issuer::generate().unwrap();
    let restarted = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            let did = issuer.did().to_string();
            let token = issuer
                .issue_passport_at(
                    &PassportRequest::new(format!("a{t}"), ["pay"])
                        .with_expires_in_secs(86400 * 365),
                    T0 / 1000,
                )
                .unwrap()
                .token;
            let restarted = restarted.clone();
            std::thread::spawn(move || {
                let engine = engine_on(store, &did, CAP);
                let mut rng = Rng::new(t + 100);
                let (mut tally, mut after) = (Tally::default(), 0u64);
                let deadline = Instant::now() + Duration::from_secs(20);
                while (tally.allowed + tally.denied < 600 || after < 50)
                    && Instant::now() < deadline
                {
                    let amount = rng.amount();
                    tally.max_amount = tally.max_amount.max(amount);
                    match engine.enforce(&pay(&token, &amount.to_string())) {
                        Ok(d) => {
                            if d.allowed {
                                tally.allowed += 1;
                                tally.admitted += amount;
                            } else {
                                tally.denied += 1;
                            }
                            if restarted.load(Ordering::SeqCst) {
                                after += 1;
                            }
                        }
                        Err(e) => {
                            assert_eq!(e.code(), "STORE_UNAVAILABLE", "{e}");
                            tally.errors += 1;
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    }
                }
                (tally, after, engine.chain_id())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    std::thread::sleep(Duration::from_millis(300));
    server.restart();
    restarted.store(true, Ordering::SeqCst);
    let mut all = Tally::default();
    for t in threads {
        let (tally, after, _chain) = t.join().unwrap();
        assert!(after >= 50, "calls succeed again after the restart");
        all.add(&tally);
    }
    let cap: Decimal = CAP.parse().unwrap();
    eprintln!(
        "[redis restart] {} allowed, {} denied, {} errors; admitted {} (seen by clients)",
        all.allowed, all.denied, all.errors, all.admitted
    );
    assert!(all.errors > 0, "a dead server is an error");
    assert!(
        all.admitted <= cap,
        "admitted {} past the cap {cap}",
        all.admitted
    );
    // The server may have counted a request whose reply was lost (over-counting, never under-).
    let state = store
        .counters(
            &CounterFilter {
                constraint: Some("cap".into()),
                ..Default::default()
            },
            NOW,
        )
        .unwrap();
    let used = state[0].used;
    assert!(
        used >= all.admitted && used <= cap,
        "counter {used}, admitted {}",
        all.admitted
    );
    assert!(used >= cap - all.max_amount, "the cap was reached: {used}");
    let records = store.attestations(&AttestationFilter::default()).unwrap();
    let mut chains: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for r in records {
        chains
            .entry(r.chain.clone())
            .or_default()
            .push((*r.record).clone());
    }
    assert_eq!(chains.len(), 4);
    for (id, recs) in &chains {
        attestation::verify_chain(recs, recs[0]["kid"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("chain {id}: {e}"));
    }
}
