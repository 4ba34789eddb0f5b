//! State stores: counters, revocations, idempotency records and attestation chains.
//!
//! One trait, [`Store`], with backends chosen by URL ([`open`]): `memory:` now; `sqlite://` and
//! `redis://` implement the same contract.
//!
//! # The contract
//!
//! - **Atomic commit.** [`Store::commit`] is one indivisible step: it looks up the idempotency key
//!   (if any), then checks *every* counter of the request against its bound, and only if all hold
//!   advances *all* of them, appends the attestation record and stores the idempotency record.
//!   Either everything of a commit is visible afterwards, or nothing. No backend may implement it
//!   as read-then-write from the client: a transaction (SQLite) or one server-side script (Redis).
//!   After a crash, no counted amount lacks its attestation.
//! - **Bounds are checked in the store, at commit time.** The engine's earlier [`Store::read`] is
//!   advice (for the explanation); a concurrent writer may have moved the counters since, in which
//!   case `commit` returns [`CommitOutcome::Rejected`] with fresh values and changes nothing.
//! - **Windows.** A fixed window of size `s` admits at most `max` within each aligned interval
//!   `[k·s, (k+1)·s)` (epoch-aligned; `1d` is the UTC day). A sliding window admits at most `max`
//!   within any interval of length `s`: the usage at time `t` is the sum of amounts admitted in
//!   `(t − s, t]`. [`WindowKind::Forever`] never resets (quotas).
//! - **Counters are keyed** by ([`CounterKey`], [`WindowKind`]): a policy swap that keeps a
//!   constraint's id and window keeps its counter.
//! - **Failures** are [`Error::StoreUnavailable`](crate::Error::StoreUnavailable); a store error
//!   never turns into an allow.
//! - Records are returned oldest first; each engine writes its own chain, so a backend never has to
//!   order two writers' appends to one chain.

mod memory;

use rust_decimal::Decimal;
use serde_json::Value;

pub use memory::MemoryStore;

use crate::error::{Error, Result};

/// What a counter counts for: (namespace, constraint id, scope value).
///
/// `namespace` is `gate:<name>`, `global`, `passport:<declaring passport id>` (caveats) or
/// `anonymous:<gate>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterKey {
    pub namespace: String,
    pub constraint: String,
    pub scope: String,
}

/// How a counter forgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WindowKind {
    /// Never (quotas).
    Forever,
    /// Epoch-aligned windows of `size_ms`.
    Fixed { size_ms: i64 },
    /// Any interval of `size_ms`.
    Sliding { size_ms: i64 },
}

impl WindowKind {
    /// The start of the fixed window containing `now_ms` (`None` for other kinds).
    pub fn fixed_start(self, now_ms: i64) -> Option<i64> {
        match self {
            WindowKind::Fixed { size_ms } if size_ms > 0 => {
                Some(now_ms.div_euclid(size_ms) * size_ms)
            }
            _ => None,
        }
    }
}

/// One counter a request touches: its key, window, the amount the request adds and the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterOp {
    pub key: CounterKey,
    pub window: WindowKind,
    pub amount: Decimal,
    pub max: Decimal,
}

/// An attestation record ready to append: the sealed JSON and the fields stores index.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    pub chain: String,
    pub seq: u64,
    pub time_ms: i64,
    pub kind: String,
    pub gate: Option<String>,
    pub agent_id: Option<String>,
    pub decision: Option<String>,
    pub evaluation_id: Option<String>,
    /// The whole record: `{"body", "hash", "sig", "kid"}`.
    pub record: Value,
}

/// The stored outcome of the first request under an idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// `passport:<id>` or `client:<key>`.
    pub namespace: String,
    pub key: String,
    /// Hash over (gate, passport id, client, hold, canonical payload).
    pub fingerprint: String,
    /// The decision as JSON.
    pub decision: Value,
    pub expires_ms: i64,
}

/// One atomic step (see the module docs).
#[derive(Debug, Clone)]
pub struct Commit<'a> {
    pub now_ms: i64,
    /// Counters to advance.
    pub counters: &'a [CounterOp],
    /// Check the bounds before advancing (false only in `monitor` mode, which counts what passes).
    pub enforce_bounds: bool,
    /// The record to append.
    pub record: &'a StoredRecord,
    /// Stored only if no record exists under its key yet.
    pub idempotency: Option<&'a IdempotencyRecord>,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// Counters advanced, record appended, idempotency record stored.
    Committed,
    /// A bound would have been passed: nothing changed. `usage[i]` is the current usage of
    /// `counters[i]` (before this request).
    Rejected { usage: Vec<Decimal> },
    /// The idempotency key was already used: nothing changed; here is the stored record.
    Replay(IdempotencyRecord),
}

/// Which records [`Store::attestations`] returns. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttestationFilter {
    pub chain: Option<String>,
    pub gate: Option<String>,
    pub agent_id: Option<String>,
    pub decision: Option<String>,
    pub evaluation_id: Option<String>,
    pub kind: Option<String>,
    /// Inclusive lower bound on `time` (ms).
    pub since_ms: Option<i64>,
    /// Exclusive upper bound on `time` (ms).
    pub until_ms: Option<i64>,
    /// The oldest `limit` matching records.
    pub limit: Option<usize>,
}

impl AttestationFilter {
    /// Whether `r` passes the filter (limit aside).
    pub fn matches(&self, r: &StoredRecord) -> bool {
        fn eq(f: &Option<String>, v: Option<&str>) -> bool {
            f.as_deref().is_none_or(|f| v == Some(f))
        }
        eq(&self.chain, Some(&r.chain))
            && eq(&self.gate, r.gate.as_deref())
            && eq(&self.agent_id, r.agent_id.as_deref())
            && eq(&self.decision, r.decision.as_deref())
            && eq(&self.evaluation_id, r.evaluation_id.as_deref())
            && eq(&self.kind, Some(&r.kind))
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
    }
}

/// The state of one counter, for `cumulative_state`.
#[derive(Debug, Clone, PartialEq)]
pub struct CounterState {
    pub key: CounterKey,
    pub window: WindowKind,
    /// Usage now (in the current fixed window, or the last `size` for sliding).
    pub used: Decimal,
    /// Start of the current fixed window.
    pub window_start_ms: Option<i64>,
}

/// Which counters `counters` / `reset_counters` touch. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterFilter {
    pub namespace: Option<String>,
    pub constraint: Option<String>,
    pub scope: Option<String>,
}

impl CounterFilter {
    pub fn matches(&self, k: &CounterKey) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == k.namespace)
            && self.constraint.as_deref().is_none_or(|c| c == k.constraint)
            && self.scope.as_deref().is_none_or(|s| s == k.scope)
    }
}

/// A state store (see the module docs for the contract every backend keeps).
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Current usage of each counter at `now_ms` (advice; bounds are enforced by `commit`).
    fn read(&self, counters: &[CounterOp], now_ms: i64) -> Result<Vec<Decimal>>;

    /// The atomic step: idempotency lookup, bound checks, advance, append, remember.
    fn commit(&self, commit: &Commit<'_>) -> Result<CommitOutcome>;

    /// Appends a record that counts nothing (host events, approvals).
    fn append(&self, record: &StoredRecord) -> Result<()>;

    /// The stored outcome under an idempotency key, if any and not expired.
    fn idempotency_get(
        &self,
        namespace: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<IdempotencyRecord>>;

    /// Marks a passport id revoked.
    fn revoke(&self, passport_id: &str, now_ms: i64) -> Result<()>;

    /// The first of `ids` that is revoked, if any.
    fn first_revoked(&self, ids: &[&str]) -> Result<Option<String>>;

    /// Records matching `filter`, oldest first.
    fn attestations(&self, filter: &AttestationFilter) -> Result<Vec<StoredRecord>>;

    /// Counters matching `filter` with their usage at `now_ms`.
    fn counters(&self, filter: &CounterFilter, now_ms: i64) -> Result<Vec<CounterState>>;

    /// Deletes counters matching `filter`; returns how many.
    fn reset_counters(&self, filter: &CounterFilter) -> Result<usize>;
}

/// Opens a store from its URL: `memory:` (also the empty string).
///
/// ```
/// let store = passgate::store::open("memory:").unwrap();
/// assert!(passgate::store::open("ftp://nope").is_err());
/// ```
pub fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    let url = url.trim();
    if url.is_empty() || url == "memory:" || url == "memory://" {
        return Ok(std::sync::Arc::new(MemoryStore::new()));
    }
    let scheme = url.split_once(':').map_or(url, |(s, _)| s);
    Err(Error::InvalidArgument(format!(
        "store URL {url:?}: scheme {scheme:?} is not supported (use memory:)"
    )))
}
