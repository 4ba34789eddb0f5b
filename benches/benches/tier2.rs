//! Tier 2 — the full decision, next to its floor measured in the same run.
//!
//! - `enforce-cached/<case>`: `Engine::enforce` on the memory store: passport verification (a
//!   cache hit), evaluation, counter read + atomic update, a signed, hash-chained attestation
//!   appended. `allow` runs with the counter bounds raised (10^9 calls/min, 10^12/day) so every
//!   iteration is admitted and counted (same work as the real bounds, which a loop would exhaust);
//!   the deny cases use the real bounds and history (a denial counts nothing, so it repeats).
//! - `enforce-uncached/allow`: the same with the verified-passport cache off: the passport's
//!   Ed25519 signature is verified (`verify_strict`) on every call.
//! - `dry-run/allow`: `Engine::dry_run` of the same request (no commit, no signature).
//! - `verify-passport-uncached`: `Engine::verify_passport` alone, cache off.
//! - `floor-sign`: SHA-256 of the serialized attestation record + one Ed25519 signature — the
//!   least any signed, hash-chained decision costs.
//! - `floor-verify-sign`: `verify_strict` of a signature over a passport-sized message +
//!   `floor-sign` — the least a decision on an unverified passport costs.
//! - `floor-verify`: `verify_strict` alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may stop on a broken setup
use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use passgate::__private::keys::{KeyPair, PublicKey};
use passgate::store::MemoryStore;
use passgate_benches::*;
use sha2::{Digest, Sha256};

fn tier2(c: &mut Criterion) {
    let (issuer, token) = passport().unwrap();
    let mut g = c.benchmark_group("tier2");

    for cache in [true, false] {
        let mut setup = Setup::new(Arc::new(MemoryStore::default()));
        setup.caps = RAISED_CAPS;
        if !cache {
            setup.cache_size = 0;
        }
        let (e, _clock) = engine(&setup, &issuer).unwrap();
        let req = request(Case::Allow, &token);
        assert!(e.enforce(&req).unwrap().allowed);
        let id = if cache {
            "enforce-cached/allow"
        } else {
            "enforce-uncached/allow"
        };
        g.bench_function(id, |b| {
            b.iter(|| black_box(e.enforce(black_box(&req)).unwrap()))
        });
        if cache {
            g.bench_function("dry-run/allow", |b| {
                b.iter(|| black_box(e.dry_run(black_box(&req)).unwrap()))
            });
        } else {
            g.bench_function("verify-passport-uncached", |b| {
                b.iter(|| black_box(e.verify_passport(black_box(&token)).unwrap()))
            });
        }
    }
    for case in [Case::DenyAmount, Case::DenyDaily] {
        let e = memory_engine(case, &issuer, &token).unwrap();
        let req = request(case, &token);
        assert!(!e.enforce(&req).unwrap().allowed);
        g.bench_function(format!("enforce-cached/{}", case.name()), |b| {
            b.iter(|| black_box(e.enforce(black_box(&req)).unwrap()))
        });
    }

    // The floors, on the real sizes: the record an allowed enforce signs, the passport token.
    let body = attestation_record(&issuer, &token).unwrap();
    let key = KeyPair::generate().unwrap();
    g.bench_function("floor-sign", |b| {
        b.iter(|| {
            let d = Sha256::digest(black_box(&body));
            black_box(key.sign(&d))
        })
    });
    let msg = token.as_bytes();
    let sig = key.sign(msg);
    let pk = PublicKey::from_did(key.did()).unwrap();
    assert!(pk.verify_strict(msg, &sig).is_ok());
    g.bench_function("floor-verify", |b| {
        b.iter(|| black_box(pk.verify_strict(black_box(msg), &sig).is_ok()))
    });
    g.bench_function("floor-verify-sign", |b| {
        b.iter(|| {
            assert!(pk.verify_strict(black_box(msg), &sig).is_ok());
            let d = Sha256::digest(black_box(&body));
            black_box(key.sign(&d))
        })
    });
    g.finish();
    eprintln!(
        "tier2: attestation record {} bytes, passport token {} bytes",
        body.len(),
        msg.len()
    );
}

criterion_group!(name = g; config = config(); targets = tier2);
criterion_main!(g);

fn config() -> Criterion {
    passgate_benches::criterion_config(3.0, 30)
}
