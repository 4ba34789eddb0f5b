//! Tier 1 — evaluation only: passgate against Cedar and regorus on the same workload, every
//! engine fed the same state (see the crate docs). Each bench id is `<engine>/<case>`.
//!
//! - `passgate-supplied`: `Engine::dry_run` with counter reads answered from supplied state
//!   (cached passport: verification is a cache hit).
//! - `passgate-memory`: `Engine::dry_run` on the memory store, counters built by real calls.
//! - `passgate-json`: as `passgate-supplied`, the payload parsed from JSON text per call.
//! - `cedar-prebuilt`: `Authorizer::is_authorized` on a pre-built request.
//! - `cedar-json`: the context built from JSON (`Context::from_json_value`) + `Request::new` +
//!   `is_authorized`, per call.
//! - `regorus-interp`: `Engine::set_input` + `eval_rule` (tree-walking interpreter).
//! - `regorus-rvm`: `RegoVM::set_input` + `execute` (compiled program).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a bench may stop on a broken setup
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use passgate_benches::*;

fn tier1(c: &mut Criterion) {
    let (issuer, token) = passport().unwrap();
    let cedar = Cedar::new().unwrap();
    let mut interp = rego_interpreter().unwrap();
    let mut vm = rego_vm().unwrap();
    let mut g = c.benchmark_group("tier1");
    for case in Case::ALL {
        let want = case.expected_allow();
        let name = case.name();
        let req = request(case, &token);

        let e = supplied_engine(case, &issuer).unwrap();
        assert_eq!(e.dry_run(&req).unwrap().allowed, want);
        g.bench_function(format!("passgate-supplied/{name}"), |b| {
            b.iter(|| black_box(e.dry_run(black_box(&req)).unwrap()))
        });
        let text = payload(case.amount()).to_string();
        g.bench_function(format!("passgate-json/{name}"), |b| {
            b.iter(|| {
                let p: serde_json::Value = serde_json::from_str(black_box(&text)).unwrap();
                let r = passgate::Request::new(GATE, p).passport(&token);
                black_box(e.dry_run(&r).unwrap())
            })
        });

        let m = memory_engine(case, &issuer, &token).unwrap();
        assert_eq!(m.dry_run(&req).unwrap().allowed, want);
        g.bench_function(format!("passgate-memory/{name}"), |b| {
            b.iter(|| black_box(m.dry_run(black_box(&req)).unwrap()))
        });

        let ctx = Cedar::context_json(case);
        let creq = cedar.request(ctx.clone()).unwrap();
        assert_eq!(cedar.allowed(&creq), want);
        g.bench_function(format!("cedar-prebuilt/{name}"), |b| {
            b.iter(|| black_box(cedar.allowed(black_box(&creq))))
        });
        g.bench_function(format!("cedar-json/{name}"), |b| {
            b.iter(|| {
                let r = cedar.request(black_box(ctx.clone())).unwrap();
                black_box(cedar.allowed(&r))
            })
        });

        let input = rego_input(case).unwrap();
        assert_eq!(
            rego_interpreter_allowed(&mut interp, input.clone()).unwrap(),
            want
        );
        g.bench_function(format!("regorus-interp/{name}"), |b| {
            b.iter(|| {
                black_box(rego_interpreter_allowed(&mut interp, black_box(input.clone())).unwrap())
            })
        });
        assert_eq!(rego_vm_allowed(&mut vm, input.clone()).unwrap(), want);
        g.bench_function(format!("regorus-rvm/{name}"), |b| {
            b.iter(|| black_box(rego_vm_allowed(&mut vm, black_box(input.clone())).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(name = g; config = config(); targets = tier1);
criterion_main!(g);

fn config() -> Criterion {
    passgate_benches::criterion_config(2.0, 20)
}
