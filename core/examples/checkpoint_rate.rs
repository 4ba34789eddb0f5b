//! Decisions per second on one thread, memory store: `signing: each` (every record signed)
//! against `signing: checkpoint` (a signed head every 1,024 records / 100 ms).
//! `cargo run --release -p passgate --example checkpoint_rate [seconds per mode]`; with
//! `PASSGATE_BENCH_OUT` set (`make bench`), also writes `checkpoint.json` there.

use std::time::{Duration, Instant};

use passgate::{Engine, Issuer, PassportRequest, Request, Signing};
use serde_json::json;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let mut rates = serde_json::Map::new();
    let issuer = Issuer::generate()?;
    let token = issuer
        .issue_passport(&PassportRequest::new("agent", ["pay"]))?
        .token;
    for (name, signing) in [
        ("each", Signing::Each),
        ("checkpoint", Signing::checkpoint()),
    ] {
        let engine = Engine::builder()
            .policy_value(
                json!({"version": 1, "gates": {"pay": {"require": ["pay"], "constraints": [
                {"id": "cap", "type": "max_value", "field": "/amount", "max": 100},
                {"id": "calls", "type": "rate_limit", "max": 1_000_000_000, "window": "1m"}]}}}),
            )
            .trusted_issuer(issuer.did())
            .signing(signing)
            .build()?;
        let req = Request::new("pay", json!({"amount": 5})).passport(&token);
        for _ in 0..1000 {
            engine.enforce(&req)?;
        }
        let (start, mut n) = (Instant::now(), 0u64);
        while start.elapsed() < Duration::from_secs(secs) {
            for _ in 0..256 {
                assert!(engine.enforce(&req)?.allowed);
            }
            n += 256;
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        println!(
            "enforce/allow signing={name}: {rate:.0} decisions/s ({:.2} µs each)",
            1e6 / rate
        );
        rates.insert(name.into(), json!(rate));
    }
    if let Ok(dir) = std::env::var("PASSGATE_BENCH_OUT") {
        let path = std::path::Path::new(&dir).join("checkpoint.json");
        let text = json!({"decisions_per_second": rates, "secs_per_mode": secs}).to_string();
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
