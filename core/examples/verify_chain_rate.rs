//! `verify_chain` over one chain of N records (`record_attestation`, memory store), timed once.
//! `cargo run --release -p passgate --example verify_chain_rate [records] [checkpoint]`
//! (`checkpoint`: checkpointed signing, a signed head every 1,024 records).

use std::time::Instant;

use passgate::{AttestationFilter, Engine, Signing};
use serde_json::json;

fn main() -> passgate::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let signing = match args.next().as_deref() {
        Some("checkpoint") => Signing::checkpoint(),
        _ => Signing::Each,
    };
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {}}))
        .signing(signing)
        .build()?;
    let data = json!({"tool": "payments.transfer", "note": "host event"});
    let t = Instant::now();
    for _ in 0..n {
        engine.record_attestation("bench.event", &data)?;
    }
    let append = t.elapsed().as_secs_f64();
    let records = engine.attestations(&AttestationFilter::default())?;
    let did = engine.signer_did().to_string();
    drop(engine);
    let t = Instant::now();
    passgate::verify_chain(&records, &did)?;
    let verify = t.elapsed().as_secs_f64();
    println!(
        "records={} append_s={append:.2} verify_s={verify:.3} verify_us_per_record={:.2}",
        records.len(),
        verify / records.len().max(1) as f64 * 1e6
    );
    Ok(())
}
