//! passgate quickstart (Rust): issue a passport, pay until the daily cap says no, read why,
//! dry-run, and verify the signed audit chain.
//!
//! Run: `cargo run -p passgate-examples --bin quickstart` (or `make demo`)

use passgate::{attestation, AttestationFilter, Engine, Issuer, PassportRequest, Request};
use serde_json::json;

fn main() -> passgate::Result<()> {
    // 1. An issuer (your control plane) signs a passport for an agent.
    let issuer = Issuer::generate()?;
    let passport = issuer.issue_passport(&PassportRequest::new(
        "agent-007".to_string(),
        vec!["payments:send".to_string()],
    ))?;

    // 2. The engine trusts that issuer and enforces a policy: at most 500 per payment,
    //    1000 per day, USD or EUR only.
    let engine = Engine::builder()
        .policy_value(json!({
            "version": 1,
            "gates": { "payments.send": {
                "require": ["payments:send"],
                "constraints": [
                    { "id": "per-call", "type": "max_value", "field": "/amount", "max": 500 },
                    { "id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"] },
                    { "id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": "1000.00", "window": "1d" }
                ] } } }))
        .trusted_issuer(issuer.did())
        .build()?;

    // 3. Pay 400 three times: the third payment would pass 1000 for the day.
    for i in 1..=3 {
        let req = Request::new("payments.send", json!({ "amount": 400, "currency": "USD" }))
            .passport(&passport.token);
        let d = engine.enforce(&req)?;
        let left = d.remaining.get("daily-spend").map_or("?", |t| t.as_str());
        println!(
            "payment {i}: {} (remaining today: {left})",
            d.decision.as_str()
        );
        if !d.allowed {
            // 4. Every failed check says why, with the observed value and the limit.
            for c in d.failed() {
                println!("  denied by {}: {}", c.constraint, c.message);
            }
        }
    }

    // 5. Dry run: would 200 pass? It answers without counting anything.
    let probe = Request::new("payments.send", json!({ "amount": 200, "currency": "USD" }))
        .passport(&passport.token);
    println!(
        "dry run of 200: {}",
        engine.dry_run(&probe)?.decision.as_str()
    );

    // 6. Every decision was signed into this engine's chain; anyone with its did:key can verify.
    let records = engine.attestations(&AttestationFilter::default())?;
    attestation::verify_chain(&records, engine.signer_did())?;
    println!(
        "audit chain: {} records verified against {}",
        records.len(),
        engine.signer_did()
    );
    Ok(())
}
