//! The driver of `make bench-instructions`: one operation of the benchmark workload in a loop, for
//! `valgrind --tool=callgrind` to count its instructions (benches/python/instructions.py runs it
//! twice per operation, with N1 and N2 iterations, and divides the difference of the totals).
//!
//! - `instructions <op> <iterations>`: the setup of `<op>` (including one call whose verdict is
//!   checked), then `<op>` `<iterations>` times, each verdict checked again.
//! - `instructions --list`: the operations, one a line.
//! - `instructions --smoke`: every operation with 2 iterations (the test that keeps this driver
//!   from rotting; no valgrind).
//! - `instructions --cpu`: `{"sha_ni": …}` — whether the SHA extensions are visible (valgrind hides
//!   them, so `sha2` takes its software path under callgrind).
//!
//! Operations are `<engine>/<case>` (the cases of [`Case`]) or a floor:
//!
//! - `passgate-dry-run-supplied/*`: `Engine::dry_run`, counter reads answered from supplied state
//!   (tier 1's `passgate-supplied`; cached passport). The baseline of the ratios.
//! - `passgate-dry-run-memory/*`: `Engine::dry_run` on the memory store, counters built by real calls.
//! - `passgate-enforce-cached/*`: `Engine::enforce` on the memory store (tier 2): `allow` with the
//!   counter bounds raised ([`RAISED_CAPS`]) so every iteration is admitted and counted, the denials
//!   with the real bounds and history.
//! - `passgate-enforce-uncached/allow`: the same with the passport cache off (`verify_strict` per call).
//! - `cedar-prebuilt/*`: `Authorizer::is_authorized` on a pre-built request.
//! - `cedar-json/*`: `Context::from_json_value` + `Request::new` + `is_authorized`.
//! - `regorus-interp/*`: `Engine::set_input` + `eval_rule`; `regorus-rvm/*`: `RegoVM::set_input` +
//!   `execute`.
//! - `floor-sign`: SHA-256 of an attestation record + one Ed25519 signature.
//! - `floor-verify-strict`: `verify_strict` of a signature over a passport-sized message.
//!
//! The floors use a fixed key; passgate's passports and ids, and the peers' hash seeds, are random
//! per process, so their counts move a little between runs (the report gives the spread).

use std::hint::black_box;
use std::sync::Arc;

use passgate::__private::keys::{KeyPair, PublicKey};
use passgate::store::MemoryStore;
use passgate_benches::*;
use sha2::{Digest, Sha256};

/// One iteration of an operation: its verdict (`true` for the floors).
type Op = Box<dyn FnMut() -> Res<bool>>;

/// The engines measured on every case.
const PER_CASE: [&str; 7] = [
    "passgate-dry-run-supplied",
    "passgate-dry-run-memory",
    "passgate-enforce-cached",
    "cedar-prebuilt",
    "cedar-json",
    "regorus-interp",
    "regorus-rvm",
];

/// Every operation, in the order of the report.
fn ops() -> Vec<String> {
    let mut out = Vec::new();
    for engine in PER_CASE {
        for case in Case::ALL {
            out.push(format!("{engine}/{}", case.name()));
        }
        if engine == "passgate-enforce-cached" {
            out.push("passgate-enforce-uncached/allow".into());
        }
    }
    out.extend(["floor-sign".into(), "floor-verify-strict".into()]);
    out
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The setup of `op`: the loop body and the verdict every call must give. The body has been
/// called once (its verdict checked), so the loop measures warm calls (cached passport, compiled
/// policy).
fn prepare(op: &str) -> Res<(Op, bool)> {
    let (kind, case) = match op.split_once('/') {
        Some((kind, case)) => {
            let case = Case::ALL
                .into_iter()
                .find(|c| c.name() == case)
                .ok_or_else(|| format!("unknown case in {op:?}"))?;
            (kind, Some(case))
        }
        None => (op, None),
    };
    let want = case.is_none_or(Case::expected_allow);
    let (issuer, token) = passport()?;
    let mut f: Op = match (kind, case) {
        ("passgate-dry-run-supplied", Some(case)) => {
            let e = supplied_engine(case, &issuer)?;
            let req = request(case, &token);
            Box::new(move || Ok(black_box(e.dry_run(black_box(&req)).map_err(s)?).allowed))
        }
        ("passgate-dry-run-memory", Some(case)) => {
            let e = memory_engine(case, &issuer, &token)?;
            let req = request(case, &token);
            Box::new(move || Ok(black_box(e.dry_run(black_box(&req)).map_err(s)?).allowed))
        }
        ("passgate-enforce-cached", Some(Case::Allow))
        | ("passgate-enforce-uncached", Some(Case::Allow)) => {
            let mut setup = Setup::new(Arc::new(MemoryStore::default()));
            setup.caps = RAISED_CAPS;
            if kind == "passgate-enforce-uncached" {
                setup.cache_size = 0;
            }
            let (e, _clock) = engine(&setup, &issuer)?;
            let req = request(Case::Allow, &token);
            Box::new(move || Ok(black_box(e.enforce(black_box(&req)).map_err(s)?).allowed))
        }
        ("passgate-enforce-cached", Some(case)) => {
            let e = memory_engine(case, &issuer, &token)?;
            let req = request(case, &token);
            Box::new(move || Ok(black_box(e.enforce(black_box(&req)).map_err(s)?).allowed))
        }
        ("cedar-prebuilt", Some(case)) => {
            let cedar = Cedar::new()?;
            let creq = cedar.request(Cedar::context_json(case))?;
            Box::new(move || Ok(cedar.allowed(black_box(&creq))))
        }
        ("cedar-json", Some(case)) => {
            let cedar = Cedar::new()?;
            let ctx = Cedar::context_json(case);
            Box::new(move || {
                let r = cedar.request(black_box(ctx.clone()))?;
                Ok(cedar.allowed(&r))
            })
        }
        ("regorus-interp", Some(case)) => {
            let mut interp = rego_interpreter()?;
            let input = rego_input(case)?;
            Box::new(move || rego_interpreter_allowed(&mut interp, black_box(input.clone())))
        }
        ("regorus-rvm", Some(case)) => {
            let mut vm = rego_vm()?;
            let input = rego_input(case)?;
            Box::new(move || rego_vm_allowed(&mut vm, black_box(input.clone())))
        }
        ("floor-sign", None) => {
            let body = attestation_record(&issuer, &token)?;
            let key = fixed_key()?;
            Box::new(move || {
                let d = Sha256::digest(black_box(&body));
                black_box(key.sign(&d));
                Ok(true)
            })
        }
        ("floor-verify-strict", None) => {
            // A fixed key and message of the token's size: verification is variable-time, so a
            // random key or message would move the count between runs.
            let key = fixed_key()?;
            let msg = vec![b'x'; token.len()];
            let sig = key.sign(&msg);
            let pk = PublicKey::from_did(key.did()).map_err(s)?;
            Box::new(move || Ok(pk.verify_strict(black_box(&msg), &sig).is_ok()))
        }
        _ => return Err(format!("unknown operation {op:?} (--list shows them)")),
    };
    check(op, f()?, want)?;
    Ok((f, want))
}

/// The floors' key: a fixed seed, so every run signs and verifies the same bytes.
fn fixed_key() -> Res<KeyPair> {
    KeyPair::from_secret(&"A".repeat(43)).map_err(s)
}

fn check(op: &str, got: bool, want: bool) -> Res<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{op}: verdict {got}, expected {want}"))
    }
}

/// `op` `n` times after its setup.
fn run(op: &str, n: u64) -> Res<()> {
    let (mut f, want) = prepare(op)?;
    for _ in 0..n {
        check(op, f()?, want)?;
    }
    Ok(())
}

/// Whether the CPU's SHA extensions are visible to this process (`sha2` uses them when they are).
fn sha_ni() -> Option<bool> {
    #[cfg(target_arch = "x86_64")]
    {
        Some(std::arch::is_x86_feature_detected!("sha"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["--list"] => {
            for op in ops() {
                println!("{op}");
            }
            Ok(())
        }
        ["--cpu"] => {
            println!("{}", serde_json::json!({"sha_ni": sha_ni()}));
            Ok(())
        }
        ["--smoke"] => {
            for op in ops() {
                run(&op, 2)?;
                println!("{op}: ok");
            }
            Ok(())
        }
        [op, n] => {
            let n: u64 = n.parse().map_err(|e| format!("iterations {n:?}: {e}"))?;
            run(op, n)
        }
        _ => Err("usage: instructions <op> <iterations> | --list | --smoke | --cpu".into()),
    }
}
