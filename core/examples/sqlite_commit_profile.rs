//! The SQLite store's commit alone in a loop, for a profiler: two fixed-window counters and a
//! 2 KB record per commit (the shape of `benches/stores.rs`'s "store alone" row).
//! `cargo build --release -p passgate --example sqlite_commit_profile`, then
//! `perf record target/release/examples/sqlite_commit_profile <dir> [n]`.

use passgate::store::{Commit, CounterKey, CounterOp, StoredRecord, WindowKind};
use serde_json::json;

fn main() -> passgate::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "/tmp".into());
    let n: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let store = passgate::store::open(&format!("sqlite://{dir}/profile.db"))?;
    let op = |c: &str, size_ms| CounterOp {
        key: CounterKey {
            namespace: "gate:g".into(),
            constraint: c.into(),
            scope: "agent:a".into(),
        },
        window: WindowKind::Fixed { size_ms },
        amount: rust_decimal::Decimal::new(1234, 2),
        need: rust_decimal::Decimal::new(1234, 2),
        max: rust_decimal::Decimal::new(1_000_000_000_000, 0),
    };
    let ops = [op("daily", 86_400_000), op("burst", 60_000)];
    let now = passgate::clock::Clock::now_ms(&passgate::clock::SystemClock);
    let body = passgate::attestation::Record::from_value(
        json!({"body": {"checks": "x".repeat(2000)}, "hash": "sha256:0"}),
    );
    let start = std::time::Instant::now();
    for seq in 1..=n {
        let record = StoredRecord {
            chain: format!("chn_profile_{now}"),
            seq,
            time_ms: now,
            kind: "decision".into(),
            gate: Some("g".into()),
            agent_id: Some("a".into()),
            decision: Some("allow".into()),
            evaluation_id: Some(format!("evl_{seq}")),
            record: body.clone(),
            event: None,
        };
        store.commit(&Commit {
            now_ms: now,
            counters: &ops,
            enforce_bounds: true,
            record: &record,
            idempotency: None,
            hold: None,
            approval_request: None,
            use_approval: None,
            nonce: None,
            guard: None,
            expect_usage: None,
        })?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{n} commits in {secs:.2} s: {:.0}/s", n as f64 / secs);
    Ok(())
}
