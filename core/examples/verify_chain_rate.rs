//! `verify_chain` over one chain of N records (memory store), timed once.
//! `cargo run --release -p passgate --example verify_chain_rate [records] [checkpoint] [decisions]`
//! (`checkpoint`: checkpointed signing, a signed head every 1,024 records; `decisions`: the
//! records are decisions (`enforce` with a passport) instead of host events (`record_attestation`).
//! A host event is signed in either mode; a decision only under `signing: each`). With
//! `PASSGATE_BENCH_OUT` set (`make bench`), also writes `verify-chain-<signing>-<kind>.json` there.

use std::time::Instant;

use passgate::{AttestationFilter, Engine, Issuer, PassportRequest, Request, Signing};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let signing = match args.next().as_deref() {
        Some("checkpoint") => Signing::checkpoint(),
        _ => Signing::Each,
    };
    let decisions = args.next().as_deref() == Some("decisions");
    let issuer = Issuer::generate()?;
    let token = issuer
        .issue_passport(&PassportRequest::new("agent", ["pay"]))?
        .token;
    let engine = Engine::builder()
        .policy_value(
            json!({"version": 1, "gates": {"pay": {"require": ["pay"], "constraints": [
            {"id": "cap", "type": "max_value", "field": "/amount", "max": 100}]}}}),
        )
        .trusted_issuer(issuer.did())
        .signing(signing)
        // Every record stays (the memory store otherwise keeps the newest 100,000).
        .retention(passgate::store::Retention::KEEP_ALL)
        .build()?;
    let data = json!({"tool": "payments.transfer", "note": "host event"});
    let req = Request::new("pay", json!({"amount": 5})).passport(&token);
    let t = Instant::now();
    for _ in 0..n {
        if decisions {
            engine.enforce(&req)?;
        } else {
            engine.record_attestation("bench.event", &data)?;
        }
    }
    // A signed head over the last records (a checkpointed chain verifies up to its last head).
    if matches!(signing, Signing::Checkpoint { .. }) {
        engine.checkpoint()?;
    }
    let append = t.elapsed().as_secs_f64();
    let records = engine.attestations(&AttestationFilter::default())?;
    let did = engine.signer_did().to_string();
    drop(engine);
    let t = Instant::now();
    passgate::verify_chain(&records, &did)?;
    let verify = t.elapsed().as_secs_f64();
    let per_record_us = verify / records.len().max(1) as f64 * 1e6;
    println!(
        "records={} append_s={append:.2} verify_s={verify:.3} verify_us_per_record={per_record_us:.2}",
        records.len(),
    );
    if let Ok(dir) = std::env::var("PASSGATE_BENCH_OUT") {
        let signing = match signing {
            Signing::Each => "each",
            Signing::Checkpoint { .. } => "checkpoint",
        };
        let kind = if decisions { "decisions" } else { "events" };
        let path = std::path::Path::new(&dir).join(format!("verify-chain-{signing}-{kind}.json"));
        let text = json!({
            "records": records.len(), "signing": signing, "kind": kind,
            "verify_total_s": verify, "verify_us_per_record": per_record_us,
            "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
        });
        std::fs::write(&path, text.to_string())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
