//! The behaviour every backend must show, run against memory, SQLite and Redis alike (see the
//! `conformance!` invocation in `main.rs`). Store-level: counters, windows, holds, approvals,
//! idempotency, revocation, attestations, reset, state.

pub mod calendar;
mod counter_pages;
mod counters;
mod expiry;
mod lifecycle;
mod sliding_logs;

pub use calendar::*;
pub use counter_pages::*;
pub use counters::*;
pub use expiry::*;
pub use lifecycle::*;
pub use sliding_logs::*;

use passgate::store::{Commit, CommitOutcome, CounterOp, Store, StoredRecord};

use crate::support::d;

pub fn commit(s: &dyn Store, now: i64, ops: &[CounterOp], rec: &StoredRecord) -> CommitOutcome {
    try_commit(s, now, ops, rec).unwrap()
}

/// [`commit`], its error returned.
pub fn try_commit(
    s: &dyn Store,
    now: i64,
    ops: &[CounterOp],
    rec: &StoredRecord,
) -> passgate::Result<CommitOutcome> {
    s.commit(&Commit {
        now_ms: now,
        counters: ops,
        enforce_bounds: true,
        record: rec,
        idempotency: None,
        hold: None,
        approval_request: None,
        use_approval: None,
        nonce: None,
        guard: None,
        expect_usage: None,
    })
}

pub fn used(s: &dyn Store, o: &CounterOp, now: i64) -> String {
    s.read(std::slice::from_ref(o), now).unwrap()[0]
        .normalize()
        .to_string()
}

pub fn rejected(usage: &[&str]) -> CommitOutcome {
    CommitOutcome::Rejected {
        usage: usage.iter().map(|u| d(u)).collect(),
    }
}
