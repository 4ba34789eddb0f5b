//! What a dry run allocates (issue 20: "an evaluator that allocates nothing on the allow path").
//! Counted with dhat's heap profiler as this binary's allocator: the blocks a call allocates, and
//! how many of them the returned `Decision` still holds (its evaluation id, its checks, their
//! messages kept as typed parts, `remaining`). The difference is what the call allocated for
//! itself and dropped.
//!
//! One test per binary: dhat's profiler is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use passgate::{Decision, Engine, Issuer, PassportRequest, Request};
use serde_json::json;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// (blocks allocated by the call, blocks the returned decision holds)
fn count(f: impl Fn() -> Decision) -> (u64, u64) {
    let before = dhat::HeapStats::get();
    let d = f();
    let during = dhat::HeapStats::get();
    assert!(d.allowed, "{:?}", d.checks);
    drop(d);
    let after = dhat::HeapStats::get();
    let allocated = during.total_blocks - before.total_blocks;
    let held = (during.curr_blocks - after.curr_blocks) as u64;
    // Nothing allocated by the call outlives it but the decision (caches were warmed).
    assert_eq!(after.curr_blocks, before.curr_blocks);
    (allocated, held)
}

#[test]
fn a_dry_run_allocates_only_what_it_returns() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let issuer = Issuer::generate().unwrap();
    let token = issuer
        .issue_passport(&PassportRequest::new("agent", ["pay"]))
        .unwrap()
        .token;
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {
            "pay": {"require": ["pay"], "constraints": [
                {"id": "cap", "type": "max_value", "field": "/amount", "max": 100},
                {"id": "currency", "type": "allowed_values", "field": "/currency",
                 "values": ["EUR", "USD"]},
                {"id": "hours", "type": "time_window", "days": ["mon", "tue", "wed", "thu", "fri",
                 "sat", "sun"]}]},
            "metered": {"require": ["pay"], "constraints": [
                {"id": "cap", "type": "max_value", "field": "/amount", "max": 100},
                {"id": "daily", "type": "spend_limit", "field": "/amount", "max": 1000,
                 "window": "1d"},
                {"id": "calls", "type": "rate_limit", "max": 100, "window": "1m"}]}}}))
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    let payload = json!({"amount": 5, "currency": "EUR", "memo": "lunch"});
    let pay = Request::new("pay", payload.clone()).passport(&token);
    let metered = Request::new("metered", payload).passport(&token);
    // Warm the passport cache and the thread's id generator.
    for _ in 0..3 {
        engine.dry_run(&pay).unwrap();
        engine.dry_run(&metered).unwrap();
    }

    // Stateless constraints: every block is the decision's.
    let (allocated, held) = count(|| engine.dry_run(&pay).unwrap());
    assert_eq!(allocated, held, "a stateless dry run allocated for itself");
    assert!(held > 0);

    // Counters: each op's key is built of shared parts (the gate's namespace, the constraint's
    // id, the principal's scope). What the call allocates for itself is the list of its pending
    // ops, the store's answer (one `Vec`) and the field a spend settles by: 3.
    let (allocated, held) = count(|| engine.dry_run(&metered).unwrap());
    let own = allocated - held;
    eprintln!("metered dry run: {allocated} blocks, {held} held by the decision, {own} its own");
    assert!(own <= 3, "{own} blocks for two counters");
}
