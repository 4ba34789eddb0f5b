//! The engine: verifies passports, evaluates gates, counts in the store, signs attestations.
//!
//! [`Engine::enforce`] answers *may this agent do this, with these arguments, now?*; it admits a
//! request only if every check passes, and then — and only then — advances every counter of the
//! gate and of the passport's caveats in one atomic store commit that also appends the signed
//! record of the decision. [`Engine::dry_run`] runs the same evaluation and changes nothing.
//!
//! The parts, by concept:
//! - `builder`: [`EngineBuilder`], what an engine is made of.
//! - `decide`: the `enforce` / `dry_run` pipeline — who is asking, which gate, every check, the
//!   verdict.
//! - `counters`: counter operations of a request, and reading, paging and resetting counters.
//! - `approvals`: escalated requests — presented approval tokens, approving and denying.
//! - `commit`: committing a decision — counters, hold, approval, idempotency record and the
//!   signed attestation in one store commit.
//! - `chain`: this engine's attestation chain — its tail, event records, chain breaks.
//! - `checkpoint`: checkpointed signing — Merkle leaves, signed tree heads, proofs.
//! - `apikeys`: API keys — created, listed, revoked, authenticated.
//! - `admin`: passports, revocation, host events and attestation reads.
//! - `registry`: the passport registry and the trusted issuers (trust windows, export and
//!   import).
//! - `policy_edit`: every change of the policy — compare-and-swap on its hash, attested with a
//!   diff.
//! - `lifecycle`: holds — settled, released or expired.
//! - `retention`: pruning, export and verifying a pruned store.
//! - `events`: decision events — the outbox, its reads and acknowledgements, subscribers.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

mod admin;
mod apikeys;
mod approvals;
mod builder;
mod bundles;
mod catalogs;
mod chain;
mod checkpoint;
mod commit;
mod counters;
mod decide;
mod events;
mod fold;
mod lifecycle;
mod policy_edit;
mod registry;
mod request;
mod retention;
mod sessions;
mod settlements;
mod trust;

pub use apikeys::CreatedApiKey;
pub use builder::EngineBuilder;
pub use catalogs::{
    CatalogDraft, CatalogImpact, CatalogVersion, CatalogVersions, CatalogView, Service,
    ServiceFilter, Services, LEVEL_CACHE_MS, PUBLISH_ATTEMPTS,
};
pub use checkpoint::{ProofTarget, Signing};
pub use counters::agent_scope;
pub use decide::{CAVEAT_REGEX_MAX_LEN, CAVEAT_REGEX_SIZE_LIMIT};
pub use events::{
    check_notify, DecisionEvent, EventCallback, EventFilter, EventKind, EventPage, Subscription,
    DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT, MAX_NOTIFY_LEN,
};
pub use lifecycle::INLINE_SWEEP_LIMIT;
pub use policy_edit::{policy_diff, PolicyChange, EDIT_ATTEMPTS, MAX_DIFF_PATHS};
pub use registry::{
    IssuerSource, IssuerView, PassportQuery, PassportStatus, PassportView, TrustImport, Untrusted,
    MAX_PASSPORT_PAGE, TRUST_DOMAIN,
};
pub use request::Request;
pub(crate) use request::{check_name, request_hash};
pub use retention::{PruneReport, CLOSED_RETENTION_MS, INLINE_PRUNE_LIMIT, PRUNE_BATCH};
pub use sessions::{SessionQuery, SessionSummary, MAX_SESSIONS, MAX_SESSION_DECISIONS};
pub use settlements::{
    transition_allowed, BillingFilter, BillingSummary, ConsumeTerms, OutcomeCounts, Payer,
    SettlementBundle, SettlementView, SlaCompliance, MAX_SETTLEMENT_RECORDS, TERMS_TTL_MS,
};

use decide::Caveat;

use crate::attestation::ChainWriter;
use crate::cache::WeighedLru;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::passport::Verifier;
use crate::policy::Policy;
use crate::store::Store;

/// How long an idempotency record is kept.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

/// Longest accepted gate name, idempotency key or client key.
pub const MAX_NAME_LEN: usize = 256;

/// How long an unsettled hold lives when the policy does not say (`hold_ttl`).
pub use crate::policy::DEFAULT_HOLD_TTL_MS;

/// How long an escalated request can still be approved.
pub const APPROVAL_REQUEST_TTL_MS: i64 = 24 * 3600 * 1000;

/// How long an approval token is valid when `approve` is given no `ttl`.
pub const DEFAULT_APPROVAL_TTL_MS: i64 = 15 * 60 * 1000;

/// The largest page of `attestations_page`.
pub const MAX_PAGE: usize = 10_000;

/// Compiled caveats by (token hash, gate).
type CaveatCache = WeighedLru<([u8; 32], String), Arc<Vec<Caveat>>>;

/// What an event record is about, for the store's filters.
#[derive(Debug, Default, Clone, Copy)]
struct Event<'a> {
    gate: Option<&'a str>,
    agent_id: Option<&'a str>,
    evaluation_id: Option<&'a str>,
}

/// The policy kept in the store (`policy_source=store`): which version this engine compiled.
#[derive(Debug, Default)]
struct SharedPolicy {
    /// The store's policy version the engine's `policy` was compiled from (`0`: none yet).
    /// Written after the policy it names, so a reader that sees it sees that policy.
    version: std::sync::atomic::AtomicU64,
    /// Held while a new version is read and compiled: one compile per version, not one per
    /// thread that noticed it.
    load: Mutex<()>,
}

impl SharedPolicy {
    /// The store's policy version `policy` was compiled from (`0`: none yet).
    fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// The engine. Cheap to share across threads (`Arc<Engine>`); every method takes `&self`.
#[derive(Debug)]
pub struct Engine {
    policy: RwLock<Option<Arc<Policy>>>,
    /// Held across a policy edit's read, check and swap: edits of this engine are serialised
    /// (decisions read the policy without it).
    policy_edit: Mutex<()>,
    /// With `policy_source=store`: the version of the store's policy that `policy` holds.
    shared: Option<SharedPolicy>,
    builder_trusted: Vec<String>,
    verifier: Verifier,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    chain: ChainWriter,
    /// Compiled caveats by (SHA-256 of the exact token, gate): never by a passport id, which a
    /// delegating agent could make two different tokens share.
    caveats: Mutex<CaveatCache>,
    /// When `enforce` next looks for expired holds.
    next_sweep_ms: std::sync::atomic::AtomicI64,
    /// The process that built this engine: a `fork()`ed child refuses to use it.
    pid: u32,
    /// Retention: what is pruned, where it is exported first.
    retention: retention::RetentionState,
    /// The tokens (SHA-256) whose chains are in the passport registry: one insert per new token.
    registered: Mutex<WeighedLru<[u8; 32], ()>>,
    /// The issuers trusted or untrusted through the store, as last read.
    issuers: RwLock<registry::IssuerState>,
    /// Held while the issuers are re-read and the verifier's set replaced.
    issuers_sync: Mutex<()>,
    /// In-process event callbacks ([`Engine::subscribe`]).
    subscribers: events::Subscribers,
    /// Published catalogs verified once (a version never changes).
    catalog_cache: Mutex<catalogs::CatalogCache>,
    /// Catalog trust levels per gate, briefly cached (see `catalog_trust_level`).
    catalog_levels: Mutex<catalogs::LevelCache>,
    /// Issuer classes set by the builder (the policy's `issuer_levels` are merged at use).
    issuer_levels: std::collections::HashMap<String, crate::commerce::TrustLevel>,
    /// The PoP leeway, in milliseconds (see [`crate::pop`]).
    pop_leeway_ms: i64,
    /// Each gate's published catalog versions as last read, for the terms a decision applies.
    terms_cache: Mutex<settlements::TermsCache>,
    /// The platform fee of consumption attestations, basis points.
    fee_bps: u64,
    /// Each record signed, or decisions covered by signed tree heads.
    signing: Signing,
    /// Counter usage as this engine's own commits left it (see `fold`).
    usage_cache: fold::UsageCache,
}

impl Engine {
    /// Starts building an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The did:key of the key this engine signs attestations with.
    pub fn signer_did(&self) -> &str {
        self.chain.key.did()
    }

    /// This engine's chain id. An engine that finds its store behind what it committed moves to
    /// a new chain (see [`Engine::enforce`], "chain breaks"), so this can change over its life.
    pub fn chain_id(&self) -> String {
        self.chain.lock().chain.clone()
    }

    /// Refuses to work in a `fork()`ed child (`PROCESS_FORKED`), checked before any lock: the
    /// child would continue the parent's chain (two records with one sequence number), reuse
    /// its store connections, and block forever on a lock a parent thread held at the fork.
    /// Build the engine in the child (after the fork) instead.
    pub(super) fn same_process(&self) -> Result<()> {
        if std::process::id() == self.pid {
            return Ok(());
        }
        Err(Error::ProcessForked(format!(
            "this engine was built in process {} and cannot be used in its forked child {}: \
             build the engine after forking (each process its own engine and chain)",
            self.pid,
            std::process::id()
        )))
    }

    /// Closes the engine's store now (its connections and file handles), for hosts whose
    /// engines are freed by a garbage collector: every later call that touches the store fails
    /// with `STORE_UNAVAILABLE`. A store shared with other engines is closed for them too.
    pub fn close(&self) {
        self.store.close();
    }

    /// The policy this engine last compiled, if any (no store read: with `policy_source=store`,
    /// [`Engine::current_policy`] is the one in force).
    pub fn policy(&self) -> Option<Arc<Policy>> {
        self.policy.read().clone()
    }

    /// The store this engine writes to. Not API (tests and tools reach the store under the
    /// engine with it): the engine's methods are the way to its state.
    #[doc(hidden)]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current time by this engine's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

/// A page size of the paging reads: 1 to [`MAX_PAGE`], else `INVALID_ARGUMENT`.
fn check_page_limit(limit: usize) -> Result<()> {
    if (1..=MAX_PAGE).contains(&limit) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "limit must be 1 to {MAX_PAGE}, not {limit}"
    )))
}

/// The error for a cursor no page returned.
fn foreign_cursor(cursor: &str) -> Error {
    Error::InvalidArgument(format!("cursor {cursor:?} was not returned by a page"))
}
