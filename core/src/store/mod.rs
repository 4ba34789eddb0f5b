//! State stores: counters, revocations, idempotency records and attestation chains.
//!
//! One trait, [`Store`], with backends chosen by URL ([`open`]): `memory:` ([`MemoryStore`], the
//! reference), `sqlite:///path/to/file.db` ([`SqliteStore`]: durable, several processes on one
//! machine) and `redis://host:port/db` ([`RedisStore`]: a fleet sharing budgets). All three pass
//! one conformance suite and a differential property test against the memory store
//! (`core/tests/stores/`).
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
//!   `(t − s, t]`. [`WindowKind::Forever`] never resets (quotas). A calendar window
//!   ([`WindowKind::Calendar`]: a local day, week or month in a time zone) is a fixed window
//!   whose intervals come from [`WindowKind::bounds`] instead of the epoch; every backend treats
//!   it exactly as a fixed window with those bounds (and refuses an instant it has no bounds
//!   for, [`check_times`]).
//!   A sliding window keeps a log of (time, amount) entries, bounded by one rule on every backend
//!   (all inside the commit's transaction / script, so usage is identical across backends): a
//!   zero amount is not logged; an amount at the millisecond of an entry already in the log joins
//!   that entry (one entry per millisecond); past [`MAX_SLIDING_LOG`] entries the oldest entries
//!   merge into the next-oldest one — their amounts summed into it, at its (later) time — until
//!   the log is back at the bound. A merged amount leaves the window a little later than it
//!   would have, so usage can only be over-stated, never under-stated: a cap still holds, and no
//!   amount is ever lost. A hold adjustment is a (possibly negative) entry at the hold's placed
//!   time, under the same rule.
//! - **Guards.** A commit may carry the trust state its decision was made under
//!   ([`Commit::guard`]: passport ids not revoked, the issuers' generation, the policy version)
//!   and the counter usage it was decided on ([`Commit::expect_usage`]); a backend whose
//!   [`Store::checks_guard`] is true verifies both first, inside the same atomic step, and
//!   changes nothing if they moved ([`CommitOutcome::Stale`], [`CommitOutcome::Rejected`]).
//!   That is what lets the engine decide without reading them first (`engine/fold.rs`).
//! - **Counters are keyed** by ([`CounterKey`], [`WindowKind`]): a policy swap that keeps a
//!   constraint's id and window keeps its counter.
//! - **Failures** are [`Error::StoreUnavailable`](crate::Error::StoreUnavailable); a store error
//!   never turns into an allow.
//! - Records are returned oldest first; each engine writes its own chain, so a backend never has to
//!   order two writers' appends to one chain. Durable backends refuse a record whose `seq` does not
//!   follow its chain's stored tail ([`Error::ChainConflict`]), and
//!   [`Store::chain_tail`] lets an engine whose write ended without a known outcome read its tail
//!   back — so a chain never forks. A store found *behind* what an engine committed (a flush, a
//!   failover without persistence, a restored backup) is never written on: the engine starts a new
//!   chain whose first record, `chain.break`, names the old chain and both tails.
//! - **Retention** ([`Retention`], module `retention`). [`Store::prune_due`] lists the records
//!   due under a retention, oldest first in append order (at most `limit`; each chain's newest
//!   record is never due); [`Store::prune_prefix`] deletes one chain's records up to and
//!   including a checkpoint's `seq` and stores that checkpoint, **in one atomic step** (a
//!   transaction, one script), and only if the checkpoint is newer than the one stored (an older
//!   one deletes nothing: two engines pruning at once never move a checkpoint back); it never
//!   deletes a chain's newest record. [`Store::checkpoint`] / [`Store::checkpoints`] return the
//!   newest checkpoint of a chain / of every chain. [`Store::prune_closed`] drops closed holds
//!   and approvals that can no longer matter (SQLite, memory; Redis lets their keys expire).
//!   Paging ([`Store::attestations_page`]) is by append position, so a page boundary survives
//!   pruning: records before it may go, none after it is skipped.

mod catalogs;
mod events;
mod memory;
#[cfg(feature = "redis")]
pub mod redis;
mod registry;
mod retention;
mod settlements;
#[cfg(feature = "sqlite")]
pub mod sqlite;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use catalogs::no_catalogs;
pub use catalogs::{CatalogStore, CatalogStoreExt};
pub use events::{EventAck, OutboxEvent, StoredEvent, ACKED_RETAIN_MS};
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use registry::{
    IssuerRecord, PassportFilter, PassportRecord, PassportSource, Registered, RegistryStore,
};
pub use retention::{
    split_options, Checkpoint, PolicySource, Retention, StoreOptions, MAX_RETENTION_AGE_MS,
    MEMORY_DEFAULT_RECORDS,
};
pub(crate) use settlements::no_settlements;
pub use settlements::{SettlementStore, StatusSwap, StoredSettlement};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

use crate::calendar::{CalendarUnit, Zone};
use crate::error::{Error, Result};

/// At most this many entries in one sliding window's log, on every backend (the rule: "Windows"
/// in the module docs). Past it the oldest entries merge into the next-oldest one's time, so a
/// counter's size stays bounded whatever the traffic, and usage is only ever over-stated.
pub const MAX_SLIDING_LOG: usize = 1024;

/// What a counter counts for: (namespace, constraint id, scope value).
///
/// `namespace` is `gate:<name>`, `global`, `passport:<declaring passport id>` (caveats) or
/// `anonymous` (the anonymous section: one budget per client across its gates).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CounterKey {
    pub namespace: KeyPart,
    pub constraint: KeyPart,
    pub scope: KeyPart,
}

/// A part of a [`CounterKey`]: a shared string (cloning it is a reference count), compared,
/// ordered and hashed as the `str` it holds, and compared with `str`s directly
/// (`key.constraint == "daily"`). A request's keys are built from parts the compiled policy and
/// the verified passport hold, so building them allocates nothing.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyPart(std::sync::Arc<str>);

impl KeyPart {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for KeyPart {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for KeyPart {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for KeyPart {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for KeyPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for KeyPart {
    fn from(s: &str) -> Self {
        KeyPart(s.into())
    }
}

impl From<String> for KeyPart {
    fn from(s: String) -> Self {
        KeyPart(s.into())
    }
}

impl From<std::sync::Arc<str>> for KeyPart {
    fn from(s: std::sync::Arc<str>) -> Self {
        KeyPart(s)
    }
}

impl From<KeyPart> for String {
    fn from(p: KeyPart) -> Self {
        p.0.to_string()
    }
}

impl PartialEq<str> for KeyPart {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for KeyPart {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for KeyPart {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<KeyPart> for str {
    fn eq(&self, other: &KeyPart) -> bool {
        *self == *other.0
    }
}

impl PartialEq<KeyPart> for &str {
    fn eq(&self, other: &KeyPart) -> bool {
        **self == *other.0
    }
}

impl PartialEq<KeyPart> for String {
    fn eq(&self, other: &KeyPart) -> bool {
        **self == *other.0
    }
}

/// The spellings of counter namespaces and scope values (stored keys: they never change). Every
/// place that builds one calls these, so a key is spelled one way. (Concatenated rather than
/// `format!`ted: they are built per counter per request.)
impl CounterKey {
    /// The namespace of a `global` counter of the gates and the anonymous section.
    pub const GLOBAL: &'static str = "global";
    /// The namespace of the anonymous section's counters.
    pub const ANONYMOUS: &'static str = "anonymous";

    /// A key part written once and shared: `""` (no scope), [`CounterKey::GLOBAL`],
    /// [`CounterKey::ANONYMOUS`]. A request's keys are built of shared parts, not new strings.
    pub(crate) fn shared(part: &'static str) -> KeyPart {
        static PARTS: std::sync::OnceLock<[KeyPart; 3]> = std::sync::OnceLock::new();
        let [empty, global, anonymous] = PARTS.get_or_init(|| {
            [
                KeyPart::from(""),
                KeyPart::from(CounterKey::GLOBAL),
                KeyPart::from(CounterKey::ANONYMOUS),
            ]
        });
        match part {
            "" => empty.clone(),
            CounterKey::GLOBAL => global.clone(),
            CounterKey::ANONYMOUS => anonymous.clone(),
            other => KeyPart::from(other),
        }
    }

    /// `gate:<gate>`: the namespace of a gate's counters, and the scope value of a caveat's
    /// `scope: "gate"` counter.
    pub fn gate(gate: &str) -> String {
        ["gate:", gate].concat()
    }
    /// `passport:<id>`: the namespace of the counters of the caveats passport `id` declared, and
    /// the scope value of a `scope: "passport"` counter.
    pub fn passport(passport_id: &str) -> String {
        ["passport:", passport_id].concat()
    }
    /// `client:<key>`: the scope value of an anonymous caller's counter (by the host's client
    /// key).
    pub fn client(client: &str) -> String {
        ["client:", client].concat()
    }
    /// `agent:<principal key>`: the scope value of a `scope: "agent"` counter (the principal:
    /// `<agent id>@<issuer did>`).
    pub fn agent(principal_key: &str) -> String {
        ["agent:", principal_key].concat()
    }
    /// [`CounterKey::agent`] of the principal (`agent_id`, `issuer`), without building its key
    /// first: `agent:<agent id>@<issuer did>`.
    pub fn agent_of(agent_id: &str, issuer: &str) -> String {
        ["agent:", agent_id, "@", issuer].concat()
    }
    /// `field:<pointer>=<canonical value>`: the scope value of a `scope: {"field": ...}` counter.
    pub fn field(pointer: &str, canonical_value: &str) -> String {
        format!("field:{pointer}={canonical_value}")
    }
}

/// How a counter forgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WindowKind {
    /// Never (quotas).
    Forever,
    /// Epoch-aligned windows of `size_ms`.
    Fixed { size_ms: i64 },
    /// Any interval of `size_ms`.
    Sliding { size_ms: i64 },
    /// Local days, weeks (from Monday) or months (from the 1st) in a time zone: a fixed window
    /// whose bounds come from the calendar ([`crate::calendar`]). Serialized as
    /// `{"kind": "calendar", "unit": "day", "tz": "Europe/Berlin"}`.
    Calendar { unit: CalendarUnit, tz: Zone },
}

impl WindowKind {
    /// The window `[start, end)` holding `now_ms`, for the kinds that have one (fixed and
    /// calendar; `None` for sliding and forever, and for a calendar window at an instant outside
    /// years 1–9999). Every backend takes a window's bounds from here.
    pub fn bounds(self, now_ms: i64) -> Option<(i64, i64)> {
        match self {
            WindowKind::Fixed { size_ms } if size_ms > 0 => {
                let start = now_ms.div_euclid(size_ms).checked_mul(size_ms)?;
                Some((start, start.saturating_add(size_ms)))
            }
            WindowKind::Calendar { unit, tz } => crate::calendar::bounds(unit, tz, now_ms),
            _ => None,
        }
    }

    /// The start of the fixed or calendar window containing `now_ms` (`None` for other kinds).
    pub fn fixed_start(self, now_ms: i64) -> Option<i64> {
        self.bounds(now_ms).map(|(start, _)| start)
    }

    /// Fails for a calendar window at an instant it has no bounds for (outside years 1–9999):
    /// a store refuses to count there rather than guess the window.
    pub fn check_time(self, now_ms: i64) -> Result<()> {
        match self {
            WindowKind::Calendar { unit, tz } if self.bounds(now_ms).is_none() => {
                Err(Error::InvalidArgument(format!(
                    "time {now_ms} ms is outside the range of calendar windows \
                     ({unit} in {tz}: years 1 to 9999)"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Fails if any op's window cannot place `now_ms` ([`WindowKind::check_time`]).
pub fn check_times(ops: &[CounterOp], now_ms: i64) -> Result<()> {
    ops.iter().try_for_each(|op| op.window.check_time(now_ms))
}

/// One counter a request touches: its key, window, the amount the request adds and the bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterOp {
    pub key: CounterKey,
    pub window: WindowKind,
    /// What the request adds.
    pub amount: Decimal,
    /// What must fit under `max` (usage + need ≤ max). Usually `amount`; a `concurrency` check
    /// without a hold adds nothing but still needs a free slot (need 1, amount 0).
    pub need: Decimal,
    pub max: Decimal,
}

impl CounterOp {
    /// Whether `other` is an op on the same counter: the same key and the same window.
    pub fn same_counter(&self, other: &CounterOp) -> bool {
        self.key == other.key && self.window == other.window
    }

    /// Whether `usage` leaves room for this op.
    pub fn fits(&self, usage: Decimal) -> bool {
        usage
            .checked_add(self.need.max(self.amount))
            .is_some_and(|t| t <= self.max)
    }
}

/// What a hold does to one of its counters when it is settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on_settle", rename_all = "snake_case")]
pub enum SettleRule {
    /// Keep the reserved amount (a request was made: rate limits, quotas).
    Keep,
    /// Replace it by the actual amount at this pointer of the settlement payload (spend).
    Actual { field: String },
    /// Give it back (a slot in flight: concurrency).
    Release,
}

/// One counter a hold reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldOp {
    pub op: CounterOp,
    pub settle: SettleRule,
}

/// Where a hold is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldState {
    Open,
    Settled,
    Released,
    Expired,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Open => "open",
            HoldState::Settled => "settled",
            HoldState::Released => "released",
            HoldState::Expired => "expired",
        }
    }

    /// A state as a backend stored it ([`HoldState::as_str`]); anything else is a corrupt store
    /// (`STORE_UNAVAILABLE`).
    pub fn from_stored(s: &str) -> Result<HoldState> {
        Ok(match s {
            "open" => HoldState::Open,
            "settled" => HoldState::Settled,
            "released" => HoldState::Released,
            "expired" => HoldState::Expired,
            other => {
                return Err(Error::StoreUnavailable(format!(
                    "stored hold state {other:?}"
                )))
            }
        })
    }
}

/// A reservation made by `enforce(hold = true)`, stored with the decision that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRecord {
    pub id: String,
    pub evaluation_id: String,
    pub gate: String,
    pub agent_id: Option<String>,
    pub passport_id: Option<String>,
    /// When the reservation was counted (its fixed window, its place in a sliding log).
    pub created_ms: i64,
    pub expires_ms: i64,
    pub ops: Vec<HeldOp>,
    pub state: HoldState,
}

/// An open hold found due by [`Store::holds_due`]: the hold, or the id of one whose stored row
/// cannot be read (corrupt, of the wrong type, gone from under its index entry).
#[derive(Debug, Clone, PartialEq)]
pub enum DueHold {
    Hold(HoldRecord),
    Unreadable { id: String, reason: String },
}

impl DueHold {
    /// The hold's id.
    pub fn id(&self) -> &str {
        match self {
            DueHold::Hold(h) => &h.id,
            DueHold::Unreadable { id, .. } => id,
        }
    }
}

/// Settling, releasing or expiring a hold: one atomic step.
#[derive(Debug, Clone)]
pub struct HoldResolution<'a> {
    pub hold_id: &'a str,
    pub now_ms: i64,
    /// The state the hold moves to (not `Open`).
    pub state: HoldState,
    /// The final amount of each of the hold's ops, in order (0 gives the reservation back).
    pub amounts: &'a [Decimal],
    /// Refuse ([`HoldOutcome::Rejected`]) an amount above its reservation that would pass its
    /// bound. `false` records the amounts whatever the bounds: a settle whose actual cost is over
    /// the cap (the money is already spent), flagged as an overrun in its record.
    pub enforce_bounds: bool,
    /// The record of this step.
    pub record: &'a StoredRecord,
}

/// What resolving a hold did.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    /// Counters adjusted, hold closed, record appended.
    Resolved,
    /// No such hold.
    Unknown,
    /// The hold was already closed; nothing changed.
    NotOpen(HoldState),
    /// An amount above its reservation would pass a bound (and `enforce_bounds` was set);
    /// nothing changed. `usage[i]` is the current usage of op `i`.
    Rejected { usage: Vec<Decimal> },
}

/// Where an approval request is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Approved {
        token_id: String,
        approver: String,
        expires_ms: i64,
        /// The did:key of the engine that approved: the key approval tokens for this request
        /// must be signed with (engines sharing a store trust each other's approvals this way).
        #[serde(default)]
        key: String,
    },
    Denied {
        approver: String,
        reason: String,
    },
    Used {
        token_id: String,
    },
}

impl ApprovalState {
    pub fn name(&self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved { .. } => "approved",
            ApprovalState::Denied { .. } => "denied",
            ApprovalState::Used { .. } => "used",
        }
    }
}

/// An `escalate` decision's request for a human approval, bound to the request's fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub evaluation_id: String,
    /// Hash over (gate, passport id, client, canonical payload).
    pub fingerprint: String,
    pub gate: String,
    pub agent_id: Option<String>,
    pub passport_id: Option<String>,
    pub created_ms: i64,
    /// After this, the request can no longer be approved.
    pub expires_ms: i64,
    pub state: ApprovalState,
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
    /// The whole record: `{"body", "hash", "sig", "kid"}` (shared: never deep-copied on the hot path).
    pub record: crate::attestation::Record,
    /// The decision event this record causes, written to the outbox in the same atomic step
    /// (module `events`); `None` on records read back.
    pub event: Option<OutboxEvent>,
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
    /// Counters to advance, each at most once: two ops on one counter (see
    /// [`CounterOp::same_counter`]) are refused with `INVALID_ARGUMENT` before anything is read
    /// ([`distinct_counters`]), since each op's bound is checked against the usage before the
    /// commit and two amounts that each fit could together pass the cap. Merge them first (the
    /// engine does: amounts and needs summed, the smaller `max` kept).
    pub counters: &'a [CounterOp],
    /// Check the bounds before advancing (false only in `monitor` mode, which counts what passes).
    pub enforce_bounds: bool,
    /// The record to append.
    pub record: &'a StoredRecord,
    /// Stored only if no record exists under its key yet.
    pub idempotency: Option<&'a IdempotencyRecord>,
    /// A reservation to remember (`enforce(hold = true)`), stored if the commit goes through.
    pub hold: Option<&'a HoldRecord>,
    /// An approval request to remember (an `escalate` decision).
    pub approval_request: Option<&'a ApprovalRecord>,
    /// An approval this request uses up. The commit goes through only if that approval is
    /// `Approved` with this token, not expired, and bound to this fingerprint; it becomes `Used`.
    pub use_approval: Option<UseApproval<'a>>,
    /// A proof-of-possession nonce this request uses up (see [`crate::pop`]): the commit goes
    /// through only if the store holds no unexpired entry under its key; it is then stored
    /// until `expires_ms`. Checked after the idempotency key and before anything else.
    pub nonce: Option<NonceClaim<'a>>,
    /// The trust state the decision was made under (see [`Guard`]): checked first, before
    /// anything else (the idempotency key included); if it no longer holds, the commit changes
    /// nothing and returns [`CommitOutcome::Stale`]. `None`: not checked.
    pub guard: Option<Guard<'a>>,
    /// The usage of each of `counters` the decision was made on, when the engine took it from
    /// its own cache instead of [`Store::read`]: if any counter's usage differs, the commit
    /// changes nothing and returns [`CommitOutcome::Rejected`] with the current usage (whatever
    /// `enforce_bounds` says), so a signed record never states a usage the store did not hold.
    /// `None`: not compared (the bounds alone decide). Only stores whose
    /// [`Store::checks_guard`] is true compare it.
    pub expect_usage: Option<&'a [Decimal]>,
}

/// Refuses `ops` that name one counter twice (see [`Commit::counters`]): every backend calls it
/// first in [`Store::commit`].
pub fn distinct_counters(ops: &[CounterOp]) -> Result<()> {
    match repeated_counter(ops) {
        None => Ok(()),
        Some((j, i)) => Err(Error::argument(
            format!("/counters/{i}"),
            format!(
                "names the counter of /counters/{j} again: a commit takes one op per counter \
                 (merge their amounts and needs)"
            ),
        )),
    }
}

/// The first op of `ops` whose counter an earlier op names too ([`CounterOp::same_counter`]), as
/// `(earlier, later)` positions; `None` when every op is its own counter.
pub fn repeated_counter<'a, I>(ops: I) -> Option<(usize, usize)>
where
    I: IntoIterator<Item = &'a CounterOp>,
    I::IntoIter: Clone,
{
    let ops = ops.into_iter();
    ops.clone().enumerate().find_map(|(i, p)| {
        ops.clone()
            .take(i)
            .position(|q| q.same_counter(p))
            .map(|j| (j, i))
    })
}

/// The trust state a decision was made under, verified inside the commit's atomic step
/// ([`Commit::guard`]), so an engine can decide on its cached issuers, policy version and
/// revocation status without reading them first: a commit made under state that changed since
/// (another engine revoked a passport of the chain, changed the stored issuers or swapped the
/// shared policy) is refused as [`CommitOutcome::Stale`], and the engine reads again and decides
/// again. Only stores whose [`Store::checks_guard`] is true verify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Guard<'a> {
    /// Passport ids that must not be revoked (the chain of the deciding passport).
    pub not_revoked: &'a [&'a str],
    /// The issuers' generation ([`RegistryStore::issuers_generation`]) the issuers were read at.
    pub issuers_generation: Option<u64>,
    /// The shared policy's version ([`Store::policy_version`]) the decision used.
    pub policy_version: Option<u64>,
}

/// A proof-of-possession nonce a commit uses up (see [`Commit::nonce`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceClaim<'a> {
    /// The agent's did and the nonce (see [`crate::pop`]).
    pub key: &'a str,
    /// Until when it is remembered (ms); expired entries are pruned.
    pub expires_ms: i64,
}

/// The approval a commit uses up (see [`Commit::use_approval`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UseApproval<'a> {
    pub evaluation_id: &'a str,
    pub token_id: &'a str,
    /// The fingerprint of the request being admitted: must equal the stored approval record's.
    pub fingerprint: &'a str,
}

impl UseApproval<'_> {
    /// Whether `a` can be used up by this request at `now_ms`.
    pub fn usable(&self, a: &ApprovalRecord, now_ms: i64) -> bool {
        match &a.state {
            ApprovalState::Approved {
                token_id,
                expires_ms,
                ..
            } => {
                token_id == self.token_id
                    && *expires_ms > now_ms
                    && a.fingerprint == self.fingerprint
                    && a.evaluation_id == self.evaluation_id
            }
            _ => false,
        }
    }
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq)]
pub enum CommitOutcome {
    /// Counters advanced, record appended, idempotency record stored.
    Committed,
    /// A bound would have been passed, or a usage differs from [`Commit::expect_usage`]:
    /// nothing changed. `usage[i]` is the current usage of `counters[i]` (before this request).
    Rejected { usage: Vec<Decimal> },
    /// The idempotency key was already used: nothing changed; here is the stored record.
    Replay(IdempotencyRecord),
    /// The approval named by `use_approval` cannot be used (another request used it, it was
    /// never approved with that token, or it expired): nothing changed.
    ApprovalUnavailable { state: String },
    /// The nonce named by [`Commit::nonce`] was used already (and has not expired): nothing
    /// changed.
    NonceReplayed,
    /// The [`Commit::guard`] no longer holds (a passport of it was revoked, or the issuers'
    /// generation or the policy version moved): nothing changed. Decide again on fresh state.
    Stale,
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
    /// Only decisions on requests made without a passport.
    pub anonymous_only: bool,
    /// The oldest `limit` matching records.
    pub limit: Option<usize>,
}

impl AttestationFilter {
    /// Whether `r` passes the filter (limit aside).
    pub fn matches(&self, r: &StoredRecord) -> bool {
        self.matches_fields(&RecordFields {
            chain: &r.chain,
            time_ms: r.time_ms,
            kind: &r.kind,
            gate: r.gate.as_deref(),
            agent_id: r.agent_id.as_deref(),
            decision: r.decision.as_deref(),
            evaluation_id: r.evaluation_id.as_deref(),
        })
    }

    /// Whether a record with these indexed fields passes the filter (limit aside): for backends
    /// that keep the fields apart from the record.
    pub fn matches_fields(&self, r: &RecordFields<'_>) -> bool {
        fn eq(f: &Option<String>, v: Option<&str>) -> bool {
            f.as_deref().is_none_or(|f| v == Some(f))
        }
        eq(&self.chain, Some(r.chain))
            && eq(&self.gate, r.gate)
            && eq(&self.agent_id, r.agent_id)
            && eq(&self.decision, r.decision)
            && eq(&self.evaluation_id, r.evaluation_id)
            && eq(&self.kind, Some(r.kind))
            && self.since_ms.is_none_or(|s| r.time_ms >= s)
            && self.until_ms.is_none_or(|u| r.time_ms < u)
            && (!self.anonymous_only || (r.kind == "decision" && r.agent_id.is_none()))
    }
}

/// The indexed fields of a record (see [`StoredRecord`]).
#[derive(Debug, Clone, Copy)]
pub struct RecordFields<'a> {
    pub chain: &'a str,
    pub time_ms: i64,
    pub kind: &'a str,
    pub gate: Option<&'a str>,
    pub agent_id: Option<&'a str>,
    pub decision: Option<&'a str>,
    pub evaluation_id: Option<&'a str>,
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

/// A place in the listing of counters: the counter a page ended on. Counters are listed in the
/// order of (`key`, `window`) — namespace, constraint, scope, then window (forever, fixed, sliding
/// by size) — on every backend, and a page resumes strictly after its position, so a position
/// stays valid while counters are added or removed (a counter is never returned twice; one
/// added behind the position during a walk is not returned).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CounterPosition {
    pub key: CounterKey,
    pub window: WindowKind,
}

impl CounterPosition {
    /// The position of `c`.
    pub fn of(c: &CounterState) -> CounterPosition {
        CounterPosition {
            key: c.key.clone(),
            window: c.window,
        }
    }
}

/// How many counters [`Store::counters`] and [`Store::reset_counters`] take per batch.
pub const COUNTER_BATCH: usize = 1_000;

/// A window as a string whose byte order is the order of [`WindowKind`] (kind, then size): `0`
/// (forever), `1` / `2` (fixed / sliding) followed by the size as 20 digits, offset so that every
/// `i64` keeps its order; `3` (calendar) followed by its
/// [`calendar_id`](crate::calendar::calendar_id) the same way. Used in counter cursors and in Redis's sorted counter indexes.
pub fn window_token(w: WindowKind) -> String {
    let sized = |kind: char, size_ms: i64| {
        let offset = i128::from(size_ms) - i128::from(i64::MIN);
        format!("{kind}{offset:020}")
    };
    match w {
        WindowKind::Forever => "0".into(),
        WindowKind::Fixed { size_ms } => sized('1', size_ms),
        WindowKind::Sliding { size_ms } => sized('2', size_ms),
        // Its stable number, whose order is the order of calendar windows (unit, then zone).
        WindowKind::Calendar { unit, tz } => sized('3', crate::calendar::calendar_id(unit, tz)),
    }
}

/// The window of a [`window_token`], or `None` if `s` is not one.
pub fn window_from_token(s: &str) -> Option<WindowKind> {
    if s == "0" {
        return Some(WindowKind::Forever);
    }
    let (kind, digits) = (s.get(..1)?, s.get(1..)?);
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let offset: i128 = digits.parse().ok()?;
    let size_ms = i64::try_from(offset.checked_add(i128::from(i64::MIN))?).ok()?;
    match kind {
        "1" => Some(WindowKind::Fixed { size_ms }),
        "2" => Some(WindowKind::Sliding { size_ms }),
        "3" => crate::calendar::calendar_from_id(size_ms).map(|c| WindowKind::Calendar {
            unit: c.unit,
            tz: c.tz,
        }),
        _ => None,
    }
}

/// The first possible position a counter matching `filter` can have, when the filter fixes a
/// prefix of the listing order (a namespace; a namespace and a constraint; all three): backends
/// start a walk there instead of at the beginning. `None`: the filter fixes no prefix.
pub fn filter_floor(filter: &CounterFilter) -> Option<CounterPosition> {
    let ns = filter.namespace.clone()?;
    let (constraint, scope) = match (&filter.constraint, &filter.scope) {
        (Some(c), Some(s)) => (c.as_str().into(), s.as_str().into()),
        (Some(c), None) => (c.as_str().into(), "".into()),
        (None, _) => ("".into(), "".into()),
    };
    Some(CounterPosition {
        key: CounterKey {
            namespace: ns.into(),
            constraint,
            scope,
        },
        window: WindowKind::Forever,
    })
}

/// Whether a listing walk that reached `key` (in listing order) can still meet a counter matching
/// `filter`: false once past the prefix the filter fixes.
pub fn filter_may_follow(filter: &CounterFilter, key: &CounterKey) -> bool {
    let Some(ns) = &filter.namespace else {
        return true;
    };
    if *key.namespace != **ns {
        return *key.namespace < **ns;
    }
    let Some(c) = &filter.constraint else {
        return true;
    };
    if *key.constraint != **c {
        return *key.constraint < **c;
    }
    match &filter.scope {
        Some(s) => *key.scope <= **s,
        None => true,
    }
}

/// Pages over [`Store::counters_page`] until the end: what [`Store::counters`] returns for a
/// backend that pages natively.
pub fn counters_by_pages(
    store: &(impl Store + ?Sized),
    filter: &CounterFilter,
    now_ms: i64,
) -> Result<Vec<CounterState>> {
    let mut out = Vec::new();
    let mut after: Option<CounterPosition> = None;
    loop {
        let (page, next) = store.counters_page(filter, after.as_ref(), COUNTER_BATCH, now_ms)?;
        out.extend(page);
        match next {
            Some(n) if after.as_ref().is_none_or(|a| n > *a) => after = Some(n),
            // The end, or a backend that did not move forward (never loop on it).
            _ => return Ok(out),
        }
    }
}

/// A state store (see the module docs for the contract every backend keeps).
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Current usage of each counter at `now_ms` (advice; bounds are enforced by `commit`).
    fn read(&self, counters: &[CounterOp], now_ms: i64) -> Result<Vec<Decimal>>;

    /// Whether a proof-of-possession nonce is held under `key` and not expired at `now_ms`
    /// (for a dry run, which commits nothing; see [`Commit::nonce`]).
    fn nonce_seen(&self, key: &str, now_ms: i64) -> Result<bool>;

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

    /// Counters matching `filter` with their usage at `now_ms`, in listing order (see
    /// [`CounterPosition`]). The backends page internally ([`counters_by_pages`]).
    fn counters(&self, filter: &CounterFilter, now_ms: i64) -> Result<Vec<CounterState>>;

    /// One page of the counters matching `filter`, in listing order (see [`CounterPosition`]):
    /// at most `limit` counters strictly after `after` (`None`: from the first), and the position
    /// to resume from, `None` when the walk is over. Answered from an index for a filter with a
    /// `namespace` (alone, with a `constraint`, with a `scope`, or all three) and for one with a
    /// `scope`, so a walk visits only the counters of that namespace or scope. A backend may end
    /// a page early (even empty) with a position to resume from, to bound the work of one call.
    ///
    /// The default pages over [`Store::counters`] (for wrappers and test doubles); the three
    /// backends answer from their indexes.
    fn counters_page(
        &self,
        filter: &CounterFilter,
        after: Option<&CounterPosition>,
        limit: usize,
        now_ms: i64,
    ) -> Result<(Vec<CounterState>, Option<CounterPosition>)> {
        let all = self.counters(filter, now_ms)?;
        let mut page: Vec<CounterState> = all
            .into_iter()
            .filter(|c| after.is_none_or(|a| CounterPosition::of(c) > *a))
            .collect();
        page.sort_by(|a, b| (&a.key, a.window).cmp(&(&b.key, b.window)));
        let more = page.len() > limit;
        page.truncate(limit);
        let next = match more {
            true => page.last().map(CounterPosition::of),
            false => None,
        };
        Ok((page, next))
    }

    /// Deletes counters matching `filter`; returns how many. Visits only the matching counters
    /// where [`Store::counters_page`] answers from an index, in bounded batches (on Redis: one
    /// short script per batch, never one walking every counter).
    fn reset_counters(&self, filter: &CounterFilter) -> Result<usize>;

    /// A hold by id.
    fn hold_get(&self, id: &str) -> Result<Option<HoldRecord>>;

    /// Settles, releases or expires an open hold, atomically with its record: adjusts each
    /// counter by (final amount − reserved amount) in the window the reservation was counted in
    /// (an increase is checked against the bound first, unless `enforce_bounds` is false),
    /// closes the hold, appends the record.
    fn hold_resolve(&self, r: &HoldResolution<'_>) -> Result<HoldOutcome>;

    /// Open holds whose `expires_ms` is at or before `now_ms` (at most `limit`), by expiry then
    /// id. A row that cannot be read comes back as [`DueHold::Unreadable`] in its place (an error
    /// is only for the store itself failing), so one bad row never stalls a sweep.
    fn holds_due(&self, now_ms: i64, limit: usize) -> Result<Vec<DueHold>>;

    /// Takes a hold that cannot be read out of the open holds (so sweeps stop finding it); its
    /// counters are left as they are, at the reservation. Returns whether it was listed as open.
    fn hold_quarantine(&self, id: &str) -> Result<bool>;

    /// An approval request by evaluation id.
    fn approval_get(&self, evaluation_id: &str) -> Result<Option<ApprovalRecord>>;

    /// Moves a `Pending` approval request to `to`, atomically with its record. Returns the state
    /// it found: if that is not `Pending`, nothing changed.
    fn approval_resolve(
        &self,
        evaluation_id: &str,
        to: &ApprovalState,
        record: &StoredRecord,
    ) -> Result<Option<ApprovalState>>;

    /// One page of the records matching `filter` (its `limit` aside), oldest first: at most
    /// `limit` records after position `after` (0: from the start), and the position of the next
    /// page if there may be more. A position is the store's append number of the last record
    /// returned (a keyset cursor: memory, SQLite and Redis answer from an index, never by
    /// skipping), so it stays valid while records are added and while old ones are pruned. The
    /// default (for stores without append numbers) counts matching records instead.
    fn attestations_page(
        &self,
        filter: &AttestationFilter,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, Option<u64>)> {
        let all = self.attestations(&AttestationFilter {
            limit: None,
            ..filter.clone()
        })?;
        let skip = usize::try_from(after).unwrap_or(usize::MAX);
        let total = all.len();
        let page: Vec<StoredRecord> = all.into_iter().skip(skip).take(limit).collect();
        let end = skip.saturating_add(page.len());
        let next = (end < total).then(|| u64::try_from(end).unwrap_or(u64::MAX));
        Ok((page, next))
    }

    /// Whether records outlive the process (SQLite, Redis): an engine on such a store without a
    /// configured signing key warns that its key does not.
    fn persistent(&self) -> bool {
        false
    }

    /// Releases the store's connections and file handles now, rather than when the last
    /// reference is dropped (a garbage-collected host may hold an engine for long). Every later
    /// call fails with `STORE_UNAVAILABLE`; closing twice is harmless. The default has nothing
    /// to release.
    fn close(&self) {}

    /// The records due under `retention` at `now_ms`, oldest first in append order (each chain's
    /// in `seq` order), at most `limit`: older than `max_age_ms`, or among the oldest beyond
    /// `max_records`. A chain's newest record is never due. The default (a store that cannot
    /// prune) returns none.
    fn prune_due(
        &self,
        retention: &Retention,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let _ = (retention, now_ms, limit);
        Ok(Vec::new())
    }

    /// Deletes `checkpoint.chain`'s records with `seq` up to `checkpoint.seq` and stores the
    /// checkpoint in their place, atomically; returns how many records it deleted. A checkpoint
    /// not newer than the stored one changes nothing (returns 0). One that would delete the
    /// chain's newest record is refused (`INVALID_ARGUMENT`), as is any call on a store that
    /// cannot prune (the default).
    fn prune_prefix(&self, checkpoint: &Checkpoint) -> Result<usize> {
        Err(Error::InvalidArgument(format!(
            "this store cannot prune (chain {})",
            checkpoint.chain
        )))
    }

    /// The newest checkpoint of `chain`, if its records were ever pruned.
    fn checkpoint(&self, chain: &str) -> Result<Option<Checkpoint>> {
        let _ = chain;
        Ok(None)
    }

    /// The newest checkpoint of every pruned chain (one per chain).
    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        Ok(Vec::new())
    }

    /// Deletes at most `limit` closed holds and approvals that can no longer matter, whose
    /// expiry is before `before_ms`; returns how many. The default deletes nothing (Redis lets
    /// their keys expire instead).
    fn prune_closed(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let _ = (before_ms, limit);
        Ok(0)
    }

    /// The retention an engine applies when neither the URL nor the builder sets one: keep
    /// everything (`memory:` keeps 100,000 records).
    fn default_retention(&self) -> Retention {
        Retention::KEEP_ALL
    }

    /// Whether [`Store::commit`] verifies [`Commit::guard`] and [`Commit::expect_usage`] inside
    /// its atomic step. Only then
    /// does the engine skip reading the issuers' generation, the revocations of the passport's
    /// chain and the policy version before deciding, and may decide on counter usage it cached
    /// from its own commits (it checks them all in the commit instead).
    /// The default, `false`, keeps the reads: a store that ignores the guard stays correct.
    fn checks_guard(&self) -> bool {
        false
    }

    /// Whether the engine may prune this store inline, in small batches on the decision path
    /// (`memory:` only: durable stores prune from [`Engine::prune`](crate::Engine::prune)).
    fn prunes_inline(&self) -> bool {
        false
    }

    /// How many entries the sliding log of a counter holds (`None`: no such counter, or not a
    /// sliding window). A probe for tests of the [`MAX_SLIDING_LOG`] bound, not an API.
    #[doc(hidden)]
    fn sliding_log_len(&self, _key: &CounterKey, _window: WindowKind) -> Result<Option<usize>> {
        Ok(None)
    }

    /// Stores a new API key (its metadata and the SHA-256 of its secret, never the secret).
    /// Returns `false`, changing nothing, if a key with its id exists. The default (a store that
    /// keeps no keys: wrappers, test doubles) refuses with `STORE_UNAVAILABLE`.
    fn api_key_create(&self, key: &crate::apikey::StoredApiKey) -> Result<bool> {
        let _ = key;
        Err(no_api_keys())
    }

    /// An API key by id, with its `revoked_at` and `last_used_at`.
    fn api_key_get(&self, id: &str) -> Result<Option<crate::apikey::StoredApiKey>> {
        let _ = id;
        Err(no_api_keys())
    }

    /// Every API key, by id.
    fn api_keys(&self) -> Result<Vec<crate::apikey::StoredApiKey>> {
        Err(no_api_keys())
    }

    /// Marks an API key revoked at `now_ms`, unless it already is (the first revocation's time
    /// stays). Returns its `revoked_at`, or `None` when there is no such key.
    fn api_key_revoke(&self, id: &str, now_ms: i64) -> Result<Option<i64>> {
        let _ = (id, now_ms);
        Err(no_api_keys())
    }

    /// Records that an API key authenticated at `now_ms` (`last_used_at` never moves back).
    fn api_key_touch(&self, id: &str, now_ms: i64) -> Result<()> {
        let _ = (id, now_ms);
        Err(no_api_keys())
    }

    /// The version of the policy document kept in the store (`0`: none), for engines built
    /// with `policy_source=store`: read before every decision, so it must be cheap (one point
    /// read). The default (a store that keeps no policy) refuses with `STORE_UNAVAILABLE`.
    fn policy_version(&self) -> Result<u64> {
        Err(no_policy())
    }

    /// The policy document kept in the store, with its version and hash.
    fn policy_get(&self) -> Result<Option<StoredPolicy>> {
        Err(no_policy())
    }

    /// Replaces the policy kept in the store with `policy` (whose `version` must be
    /// `expected + 1`) if its version is still `expected` (`0`: none yet), and appends
    /// `record` (the change's `policy.changed` attestation) in the same atomic step: both or
    /// neither. Returns `false`, writing nothing, when another writer came first.
    fn policy_swap(
        &self,
        expected: u64,
        policy: &StoredPolicy,
        record: &StoredRecord,
    ) -> Result<bool> {
        let _ = (expected, policy, record);
        Err(no_policy())
    }

    /// Keeps the run bundle (JSON text) of evaluation `evaluation_id` (see [`crate::bundle`]);
    /// a second put of one id replaces it. The default (a store that keeps no bundles) refuses
    /// with `STORE_UNAVAILABLE`.
    fn bundle_put(&self, evaluation_id: &str, bundle: &str) -> Result<()> {
        let _ = (evaluation_id, bundle);
        Err(no_bundles())
    }

    /// The run bundle of an evaluation, if kept (and not purged).
    fn bundle_get(&self, evaluation_id: &str) -> Result<Option<String>> {
        let _ = evaluation_id;
        Err(no_bundles())
    }

    /// Deletes the run bundle of an evaluation; whether there was one.
    fn bundle_delete(&self, evaluation_id: &str) -> Result<bool> {
        let _ = evaluation_id;
        Err(no_bundles())
    }

    /// The decision records of session `session_id` ([`session_of`]), oldest first, at most
    /// `limit`. The default scans every decision record; SQLite and Redis answer from an index.
    fn session_records(&self, session_id: &str, limit: usize) -> Result<Vec<StoredRecord>> {
        let all = self.attestations(&AttestationFilter {
            kind: Some("decision".into()),
            ..AttestationFilter::default()
        })?;
        Ok(all
            .into_iter()
            .filter(|r| session_of(r) == Some(session_id))
            .take(limit)
            .collect())
    }

    /// The sessions with a decision in `[since_ms, until_ms)`, most recently active first, at
    /// most `limit`. The default scans the decision records of the window; SQLite answers from
    /// its index.
    fn session_ids(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let all = self.attestations(&AttestationFilter {
            kind: Some("decision".into()),
            since_ms,
            until_ms,
            ..AttestationFilter::default()
        })?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in all.iter().rev() {
            if let Some(s) = session_of(r) {
                if seen.insert(s.to_string()) {
                    out.push(s.to_string());
                    if out.len() >= limit {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// The passport and issuer registries of this store (see [`RegistryStore`]); `None` (the
    /// default: wrappers, test doubles) keeps none: an engine on it registers nothing and
    /// trusts no issuer through the store.
    fn registry(&self) -> Option<&dyn RegistryStore> {
        None
    }

    /// The catalogs of this store (see [`CatalogStore`]); `None` (the default: wrappers, test
    /// doubles) keeps none: catalog operations fail with `STORE_UNAVAILABLE`.
    fn catalogs(&self) -> Option<&dyn CatalogStore> {
        None
    }

    /// The consumption claims and settlements of this store (see [`SettlementStore`]); `None`
    /// (the default: wrappers, test doubles) keeps none: consumption and settlement operations
    /// fail with `STORE_UNAVAILABLE`.
    fn settlements(&self) -> Option<&dyn SettlementStore> {
        None
    }

    /// The last record of `chain` (highest `seq`), if any. An engine reads it back after a write
    /// whose outcome it could not learn (a lost reply), so it never forks its own chain. The
    /// default scans the chain; backends answer from an index.
    fn chain_tail(&self, chain: &str) -> Result<Option<StoredRecord>> {
        let all = self.attestations(&AttestationFilter {
            chain: Some(chain.to_string()),
            ..AttestationFilter::default()
        })?;
        Ok(all.into_iter().max_by_key(|r| r.seq))
    }

    /// Unacknowledged events after position `after` (0: from the first), oldest first, at most
    /// `limit`, only of `kinds` when it is not empty. The default (a store that keeps no events)
    /// refuses with `STORE_UNAVAILABLE`.
    fn events_page(&self, after: u64, kinds: &[String], limit: usize) -> Result<Vec<StoredEvent>> {
        let _ = (after, kinds, limit);
        Err(events::no_events())
    }

    /// Acknowledges the event `id` at `now_ms`: it leaves the unacknowledged list. Idempotent.
    fn event_ack(&self, id: &str, now_ms: i64) -> Result<EventAck> {
        let _ = (id, now_ms);
        Err(events::no_events())
    }
}

/// The session a decision record belongs to: its `trace.mcp_session_id` (set by the MCP
/// transport or the gateway, over the caller's), else its `trace.session_id` (the host's); `None`
/// for other records. Sessions are listed per (session, principal): a caller naming another's
/// session id gets a session row of its own, never a place in the other's.
pub fn session_of(r: &StoredRecord) -> Option<&str> {
    // A record whose text never names the key has no session: the usual case, answered without
    // parsing the record (the key, were it there, is written `session_id"` whatever its escaping).
    if r.kind != "decision" || !r.record.as_str().contains("session_id\"") {
        return None;
    }
    let trace = r.record.pointer("/body/trace")?;
    trace
        .get("mcp_session_id")
        .or_else(|| trace.get("session_id"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty() && s.len() <= 256)
}

/// The error of a store that keeps no run bundles.
fn no_bundles() -> Error {
    Error::StoreUnavailable("this store keeps no run bundles".into())
}

/// The error of a store that keeps no policy.
fn no_policy() -> Error {
    Error::StoreUnavailable("this store keeps no policy (policy_source=store)".into())
}

/// The policy document a fleet of engines shares (`policy_source=store`): JSON text, its
/// `policy_hash`, and a version that grows by one with every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// `1` for the first document, then one more per change.
    pub version: u64,
    /// The document's `policy_hash`.
    pub hash: String,
    /// The document as JSON text.
    pub doc: String,
}

/// The error of a store that keeps no API keys.
fn no_api_keys() -> Error {
    Error::StoreUnavailable("this store keeps no API keys".into())
}

/// Opens a store from its URL: `memory:` (also the empty string), `sqlite:///path/to/file.db`
/// (options `?durability=normal|full&busy_timeout_ms=N`), `redis://[:password@]host:port/db`
/// (options `?prefix=pg&timeout_ms=N&pool=N&allow_eviction=0|1`; a server whose
/// `maxmemory-policy` is not `noeviction` is refused unless `allow_eviction=1`). Every URL also
/// takes the engine's retention options (`retention_age`, `retention_records`,
/// `retention_export`: see [`open_with_options`]), checked here and applied by an engine built
/// with [`EngineBuilder::store_url`](crate::EngineBuilder::store_url). The URL string is all a
/// binding passes, so it works the same from Rust, Python and Node.
///
/// ```
/// let store = passgate::store::open("memory:").unwrap();
/// assert!(passgate::store::open("ftp://nope").is_err());
/// let dir = std::env::temp_dir().join(format!("pg-doc-{}.db", std::process::id()));
/// let durable = passgate::store::open(&format!("sqlite://{}", dir.display())).unwrap();
/// # drop(durable); let _ = std::fs::remove_file(&dir);
/// ```
pub fn open(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    open_with_options(url).map(|(store, _)| store)
}

/// [`open`], also returning the engine's options the URL carried ([`StoreOptions`]:
/// `?retention_age=30d&retention_records=100000&retention_export=/path/file.jsonl`).
pub fn open_with_options(url: &str) -> Result<(std::sync::Arc<dyn Store>, StoreOptions)> {
    let (url, options) = split_options(url.trim())?;
    Ok((open_backend(&url)?, options))
}

fn open_backend(url: &str) -> Result<std::sync::Arc<dyn Store>> {
    let url = url.trim();
    if url.is_empty() || url == "memory:" || url == "memory://" {
        return Ok(std::sync::Arc::new(MemoryStore::new()));
    }
    let scheme = url.split_once(':').map_or(url, |(s, _)| s);
    match scheme {
        #[cfg(feature = "sqlite")]
        "sqlite" => Ok(std::sync::Arc::new(SqliteStore::open(url)?)),
        #[cfg(feature = "redis")]
        "redis" => Ok(std::sync::Arc::new(RedisStore::open(url)?)),
        #[cfg(not(feature = "sqlite"))]
        "sqlite" => Err(Error::InvalidArgument(format!(
            "store URL {url:?}: passgate was built without the sqlite feature"
        ))),
        #[cfg(not(feature = "redis"))]
        "redis" => Err(Error::InvalidArgument(format!(
            "store URL {url:?}: passgate was built without the redis feature"
        ))),
        _ => Err(Error::InvalidArgument(format!(
            "store URL {url:?}: scheme {scheme:?} is not supported \
             (memory:, sqlite:///path/to/file.db, redis://host:port/db)"
        ))),
    }
}

#[cfg(test)]
mod feature_tests {
    use super::open;

    /// A backend left out of the build is named in the error, never a panic or "unsupported".
    #[test]
    fn a_backend_built_without_its_feature_is_an_invalid_argument_saying_so() {
        for (url, feature, built) in [
            (
                "sqlite:///tmp/never-opened.db",
                "sqlite",
                cfg!(feature = "sqlite"),
            ),
            ("redis://127.0.0.1:1/0", "redis", cfg!(feature = "redis")),
        ] {
            if built {
                continue;
            }
            let e = open(url).err().map(|e| (e.code(), e.to_string()));
            let (code, msg) = e.unwrap_or_default();
            assert_eq!(code, "INVALID_ARGUMENT", "{url}");
            assert!(
                msg.contains(&format!("built without the {feature} feature")),
                "{msg}"
            );
        }
    }
}

#[cfg(test)]
mod key_tests {
    use super::CounterKey;
    use crate::passport::Principal;

    /// The stored spellings never change: `agent_of` is `agent` of the principal's key, and each
    /// helper is its prefix and value.
    #[test]
    fn counter_keys_are_spelled_one_way() {
        let p = Principal {
            issuer: "did:key:z6Mk\u{e9}".into(),
            agent_id: "agent-7@x".into(),
        };
        assert_eq!(
            CounterKey::agent_of(&p.agent_id, &p.issuer),
            CounterKey::agent(&p.key())
        );
        assert_eq!(
            CounterKey::agent(&p.key()),
            "agent:agent-7@x@did:key:z6Mk\u{e9}"
        );
        assert_eq!(CounterKey::gate("pay.x"), "gate:pay.x");
        assert_eq!(CounterKey::passport("psp_1"), "passport:psp_1");
        assert_eq!(CounterKey::client("c"), "client:c");
        assert_eq!(CounterKey::field("/a", "\"b\""), "field:/a=\"b\"");
    }
}
