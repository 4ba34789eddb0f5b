//! Quick benches of the core paths (the full peer benchmark lives in `benches/`):
//! stateless evaluation (dry run), full enforce on the memory store, and the floors.

#![allow(clippy::unwrap_used)] // a bench may stop on a broken setup
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use passgate::__private::keys::{KeyPair, PublicKey};
use passgate::{Engine, Issuer, PassportRequest, Request};
use serde_json::json;
use sha2::{Digest, Sha256};

fn setup(stateful: bool) -> (Engine, String) {
    let issuer = Issuer::generate().unwrap();
    let mut constraints = vec![
        json!({"id": "per-call", "type": "max_value", "field": "/amount", "max": 500}),
        json!({"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]}),
        json!({"id": "to", "type": "pattern", "field": "/to", "regex": "acct_[0-9a-z]{4,32}"}),
    ];
    if stateful {
        constraints.push(
            json!({"id": "burst", "type": "rate_limit", "max": 1_000_000_000, "window": "1m"}),
        );
        constraints.push(json!({"id": "daily", "type": "spend_limit", "field": "/amount", "max": "1000000000000", "window": "1d"}));
    }
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {"payments.transfer": {"require": ["payments:transfer"], "constraints": constraints}}}))
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    let perms = ["payments:transfer", "payments:read", "web:fetch", "fs:read"]
        .map(String::from)
        .to_vec();
    let token = issuer
        .issue_passport(&PassportRequest::new("agent-1", perms))
        .unwrap()
        .token;
    (engine, token)
}

fn payload() -> serde_json::Value {
    json!({"amount": 120, "currency": "USD", "to": "acct_9f2k3j4h", "memo": "invoice 2026-114 for cloud compute, October",
           "metadata": {"invoice": "INV-2026-114", "project": "research", "requested_by": "agent-1", "approved": true}})
}

fn benches(c: &mut Criterion) {
    let (engine, token) = setup(false);
    let req = Request::new("payments.transfer", payload()).passport(&token);
    assert!(engine.dry_run(&req).unwrap().allowed);
    c.bench_function("evaluate (stateless gate, dry run, cached passport)", |b| {
        b.iter(|| black_box(engine.dry_run(black_box(&req)).unwrap()))
    });

    let (engine, token) = setup(true);
    let req = Request::new("payments.transfer", payload()).passport(&token);
    assert!(engine.enforce(&req).unwrap().allowed);
    c.bench_function(
        "enforce (memory store, counters, signed attestation)",
        |b| b.iter(|| black_box(engine.enforce(black_box(&req)).unwrap())),
    );

    let key = KeyPair::generate().unwrap();
    let body = serde_json::to_vec(&payload()).unwrap();
    c.bench_function("floor: SHA-256 of the record + Ed25519 sign", |b| {
        b.iter(|| {
            let d = Sha256::digest(black_box(&body));
            black_box(key.sign(&d))
        })
    });
    let sig = key.sign(b"msg");
    let pk = PublicKey::from_did(key.did()).unwrap();
    c.bench_function("floor: Ed25519 verify_strict", |b| {
        b.iter(|| black_box(pk.verify_strict(b"msg", &sig).is_ok()))
    });
}

criterion_group!(name = g; config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)); targets = benches);
criterion_main!(g);
