//! The engine: verifies passports, evaluates gates, counts in the store, signs attestations.
//!
//! [`Engine::enforce`] answers *may this agent do this, with these arguments, now?*; it admits a
//! request only if every check passes, and then — and only then — advances every counter of the
//! gate and of the passport's caveats in one atomic store commit that also appends the signed
//! record of the decision. [`Engine::dry_run`] runs the same evaluation and changes nothing.

use std::num::NonZeroUsize;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use serde_json::{json, Value};

mod evaluate;
mod lifecycle;
mod request;
mod retention;

pub use request::Request;

pub use evaluate::{agent_scope, CAVEAT_REGEX_MAX_LEN, CAVEAT_REGEX_SIZE_LIMIT};
pub use lifecycle::INLINE_SWEEP_LIMIT;
pub use retention::{PruneReport, CLOSED_RETENTION_MS, INLINE_PRUNE_LIMIT, PRUNE_BATCH};

use evaluate::{
    compile_caveat, evaluate, finish, ops, ApprovalNeed, Caller, Caveat, Evaluation, Inputs,
    Presented,
};
use request::{check_request, request_hash};

use crate::approval;
use crate::attestation::{self, ChainWriter};
use crate::cache::WeighedLru;
use crate::clock::{Clock, SystemClock};
use crate::decision::{Check, Decision, Verdict};
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::json::{self, Limits};
use crate::keys::KeyPair;
use crate::passport::{
    IssuedPassport, Issuer, PassportRequest, Verified, Verifier, VerifierOptions,
};
use crate::policy::{Mode, Policy};
use crate::store::{
    self, ApprovalRecord, ApprovalState, AttestationFilter, Commit, CommitOutcome, CounterFilter,
    CounterState, HoldRecord, HoldState, IdempotencyRecord, Store, StoredRecord, UseApproval,
};

/// How long an idempotency record is kept.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
/// Longest accepted gate name, idempotency key or client key.
pub const MAX_NAME_LEN: usize = 256;
/// How long an unsettled hold lives when the policy does not say (`hold_ttl`).
pub const DEFAULT_HOLD_TTL_MS: i64 = 15 * 60 * 1000;
/// How long an escalated request can still be approved.
pub const APPROVAL_REQUEST_TTL_MS: i64 = 24 * 3600 * 1000;
/// How long an approval token is valid when `approve` is given no `ttl`.
pub const DEFAULT_APPROVAL_TTL_MS: i64 = 15 * 60 * 1000;
/// How many (passport, gate) caveat compilations the engine remembers.
const CAVEAT_CACHE_ENTRIES: usize = 1024;
/// The most memory compiled caveats may hold, estimated.
const CAVEAT_CACHE_BYTES: usize = 16 << 20;

/// Builds an [`Engine`].
///
/// ```
/// use passgate::{Engine, Issuer};
/// let issuer = Issuer::generate().unwrap();
/// let engine = Engine::builder()
///     .policy_json(r#"{"version": 1, "gates": {}}"#)
///     .trusted_issuer(issuer.did())
///     .build()
///     .unwrap();
/// assert!(engine.signer_did().starts_with("did:key:z6Mk"));
/// ```
#[derive(Debug, Default)]
pub struct EngineBuilder {
    policy: Option<Result<Policy>>,
    trusted: Vec<String>,
    signing_key: Option<KeyPair>,
    store: Option<Result<Arc<dyn Store>>>,
    /// The engine's options the store URL carried (retention).
    store_options: store::StoreOptions,
    retention: Option<store::Retention>,
    retention_export: Option<std::path::PathBuf>,
    clock: Option<Arc<dyn Clock>>,
    verifier: VerifierOptions,
}

impl EngineBuilder {
    /// The policy, already compiled.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = Some(Ok(policy));
        self
    }
    /// The policy as JSON text, or a path to a JSON file (see [`Policy::load`]).
    pub fn policy_json(mut self, text_or_path: &str) -> Self {
        self.policy = Some(Policy::load(text_or_path));
        self
    }
    /// The policy as a JSON value.
    pub fn policy_value(mut self, doc: Value) -> Self {
        self.policy = Some(Policy::from_value(doc));
        self
    }
    /// Trusts passports issued by `did` (in addition to the policy's `issuers`).
    pub fn trusted_issuer(mut self, did: impl Into<String>) -> Self {
        self.trusted.push(did.into());
        self
    }
    /// Trusts every issuer in `dids`.
    pub fn trusted_issuers<I: IntoIterator<Item = S>, S: Into<String>>(mut self, dids: I) -> Self {
        self.trusted.extend(dids.into_iter().map(Into::into));
        self
    }
    /// The key attestations are signed with (default: a fresh one, see [`Engine::signer_did`]).
    pub fn signing_key(mut self, key: KeyPair) -> Self {
        self.signing_key = Some(key);
        self
    }
    /// The state store.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(Ok(store));
        self
    }
    /// The state store by URL: `memory:`, `sqlite:///path/to/file.db`, `redis://host:port/db`
    /// (see [`store::open`]).
    pub fn store_url(mut self, url: &str) -> Self {
        match store::open_with_options(url) {
            Ok((store, options)) => {
                self.store = Some(Ok(store));
                self.store_options = options;
            }
            Err(e) => self.store = Some(Err(e)),
        }
        self
    }
    /// How long the store keeps attestation records (wins over the store URL's
    /// `retention_age` / `retention_records`; see [`store::Retention`] and [`Engine::prune`]).
    pub fn retention(mut self, retention: store::Retention) -> Self {
        self.retention = Some(retention);
        self
    }
    /// A JSONL file pruned records are appended (and fsynced) to before they are deleted (wins
    /// over the store URL's `retention_export`).
    pub fn retention_export(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.retention_export = Some(path.into());
        self
    }
    /// The clock (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }
    /// Leeway for passport time checks, in seconds (default 60).
    pub fn leeway_secs(mut self, secs: i64) -> Self {
        self.verifier.leeway_secs = secs;
        self
    }
    /// Passport verification options.
    pub fn verifier_options(mut self, opts: VerifierOptions) -> Self {
        self.verifier = opts;
        self
    }

    pub fn build(self) -> Result<Engine> {
        let policy = self.policy.transpose()?.map(Arc::new);
        let trusted = trusted_set(&self.trusted, policy.as_deref());
        let verifier = Verifier::new(trusted, self.verifier)?;
        let store = self.store.unwrap_or_else(|| store::open("memory:"))?;
        let key = match self.signing_key {
            Some(k) => k,
            None => {
                let k = KeyPair::generate()?;
                if store.persistent() {
                    // Records outlive this key: after a restart nothing can sign as it again,
                    // and a verifier must be told every key the store was written with.
                    log::warn!(
                        "passgate: persistent store without a configured signing key: this engine \
                         signs with a new key ({}) that ends with the process; configure one \
                         (EngineBuilder::signing_key / signing_key=) and keep it, or verify the \
                         store with verify_store() given every key it was written with",
                        k.did()
                    );
                }
                k
            }
        };
        let retention = self
            .retention
            .or(self.store_options.retention)
            .unwrap_or_else(|| store.default_retention());
        let export = self.retention_export.or(self.store_options.export);
        let cache = NonZeroUsize::new(CAVEAT_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN);
        Ok(Engine {
            policy: RwLock::new(policy),
            builder_trusted: self.trusted,
            verifier,
            store,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
            chain: ChainWriter::new(key)?,
            caveats: Mutex::new(WeighedLru::new(cache, CAVEAT_CACHE_BYTES)),
            next_sweep_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            pid: std::process::id(),
            retention: retention::RetentionState::new(retention, export),
        })
    }
}

/// The largest page of `attestations_page`.
pub const MAX_PAGE: usize = 10_000;
/// What an attestation cursor starts with (a version, should the encoding change). `c2.` cursors
/// hold a store position (an append number: keyset paging that survives pruning); `c1.` cursors
/// (a count of records, before retention) are refused with a message saying so.
const CURSOR_PREFIX: &str = "c2.";
/// What a counter cursor starts with (see [`Engine::cumulative_state_page`]).
const COUNTER_CURSOR_PREFIX: &str = "k1.";

/// Compiled caveats by (token hash, gate).
type CaveatCache = WeighedLru<([u8; 32], String), Arc<Vec<Caveat>>>;

/// What an event record is about, for the store's filters.
#[derive(Debug, Default, Clone, Copy)]
struct Event<'a> {
    gate: Option<&'a str>,
    agent_id: Option<&'a str>,
    evaluation_id: Option<&'a str>,
}

/// A counter cursor (see [`Engine::cumulative_state_page_of`]).
fn encode_counter_cursor(filter: usize, after: Option<&store::CounterPosition>) -> String {
    match after {
        None => format!("{COUNTER_CURSOR_PREFIX}{filter}"),
        Some(p) => format!(
            "{COUNTER_CURSOR_PREFIX}{filter}.{}.{}.{}.{}",
            crate::keys::b64u_encode(p.key.namespace.as_bytes()),
            crate::keys::b64u_encode(p.key.constraint.as_bytes()),
            crate::keys::b64u_encode(p.key.scope.as_bytes()),
            store::window_token(p.window),
        ),
    }
}

/// The filter index and position of a counter cursor, or `None` if it is not one.
fn decode_counter_cursor(c: &str) -> Option<(usize, Option<store::CounterPosition>)> {
    let rest = c.strip_prefix(COUNTER_CURSOR_PREFIX)?;
    let mut parts = rest.split('.');
    let index = parts.next()?;
    // Digits only (no sign, no leading `+`), so one index has one spelling.
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: usize = index.parse().ok()?;
    let Some(ns) = parts.next() else {
        return Some((index, None));
    };
    let text = |p: &str| {
        crate::keys::b64u_decode(p)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let namespace = text(ns)?;
    let constraint = text(parts.next()?)?;
    let scope = text(parts.next()?)?;
    let window = store::window_from_token(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((
        index,
        Some(store::CounterPosition {
            key: store::CounterKey {
                namespace,
                constraint,
                scope,
            },
            window,
        }),
    ))
}

fn trusted_set(builder: &[String], policy: Option<&Policy>) -> Vec<String> {
    let mut all: Vec<String> = builder.to_vec();
    if let Some(p) = policy {
        all.extend(p.issuers.iter().cloned());
    }
    all.sort();
    all.dedup();
    all
}

/// The engine. Cheap to share across threads (`Arc<Engine>`); every method takes `&self`.
#[derive(Debug)]
pub struct Engine {
    policy: RwLock<Option<Arc<Policy>>>,
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

    /// Locks this engine's chain tail for a write: first reads it back from the store if an
    /// earlier write ended in an error that left its outcome unknown, and writes a pending
    /// `chain.break` record as a new chain's first.
    fn tail(&self) -> Result<parking_lot::MutexGuard<'_, attestation::Tail>> {
        self.same_process()?;
        let mut tail = self.chain.lock();
        if tail.unsure {
            self.reconcile(&mut tail)?;
        }
        if let Some(data) = tail.pending_break.clone() {
            let now = self.clock.now_ms();
            let (stored, hash) =
                self.event_record(&tail, "chain.break", &data, Event::default(), now)?;
            let written = self.store.append(&stored);
            self.after_write(&mut tail, written)?;
            tail.advance(hash);
        }
        Ok(tail)
    }

    /// Refuses to work in a `fork()`ed child (`PROCESS_FORKED`), checked before any lock: the
    /// child would continue the parent's chain (two records with one sequence number), reuse
    /// its store connections, and block forever on a lock a parent thread held at the fork.
    /// Build the engine in the child (after the fork) instead.
    fn same_process(&self) -> Result<()> {
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

    /// Passes a store write's result through. An error leaves the tail unsure (the write may or
    /// may not have been stored: the next writer reads the tail back); a chain conflict — the
    /// store's tail is not where this engine left it — is looked into at once, so the request that
    /// finds a store behind what this engine committed is the one that reports the break.
    fn after_write<T>(&self, tail: &mut attestation::Tail, r: Result<T>) -> Result<T> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                tail.unsure = true;
                if matches!(e, Error::ChainConflict { .. }) {
                    self.reconcile(tail)?;
                }
                Err(e)
            }
        }
    }

    /// Reads this engine's chain tail back from the store. If the store still holds everything
    /// the engine committed, the tail follows it; if not (a flush, a failover without
    /// persistence, a restored backup), the engine never signs those sequence numbers again: it
    /// moves to a new chain whose first record, `chain.break`, names the old chain, the last seq
    /// and hash the engine committed and the store's tail, logs the break, and returns it as a
    /// `STORE_UNAVAILABLE` error (the next write proceeds on the new chain).
    fn reconcile(&self, tail: &mut attestation::Tail) -> Result<()> {
        let last = self.store.chain_tail(&tail.chain)?;
        let stored = match &last {
            Some(r) => {
                let hash = r.record.get("hash").and_then(Value::as_str);
                let hash = hash.ok_or_else(|| {
                    Error::Internal(format!("record {} of {} has no hash", r.seq, r.chain))
                })?;
                let prev = r.record.pointer("/body/prev").and_then(Value::as_str);
                Some((r.seq, hash, prev))
            }
            None => None,
        };
        if tail.holds(stored) {
            tail.resync(stored.map(|(seq, hash, _)| (seq, hash.to_string())));
            return Ok(());
        }
        let store_tail = stored.map(|(seq, hash, _)| json!({"seq": seq, "hash": hash}));
        let data = json!({
            "previous_chain": tail.chain, "last_seq": tail.seq, "last_hash": tail.prev,
            "store_tail": store_tail,
        });
        let (committed, hash) = (tail.seq, tail.prev.clone().unwrap_or_default());
        let old = tail.rebase(data)?;
        let found = stored.map_or("nothing".to_string(), |(seq, hash, _)| {
            format!("seq {seq} ({hash})")
        });
        let msg = format!(
            "chain {old} broken: this engine committed seq {committed} ({hash}) but the store's \
             tail of it is {found}; the store lost or changed records it had acknowledged (a \
             flush, a failover without persistence, a restored backup). Rather than sign those \
             sequence numbers again, the engine continues on a new chain {} whose first record \
             (chain.break) names the old one. Nothing of this call was stored",
            tail.chain
        );
        log::error!("passgate: {msg}");
        Err(Error::StoreUnavailable(msg))
    }

    /// The current policy, if any.
    pub fn policy(&self) -> Option<Arc<Policy>> {
        self.policy.read().clone()
    }

    /// The store this engine writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The current time by this engine's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Replaces the policy atomically; counters and chains live on (they are keyed by gate and
    /// constraint id). Trusted issuers become the builder's plus the new policy's.
    pub fn set_policy(&self, policy: Policy) -> Result<()> {
        let trusted = trusted_set(&self.builder_trusted, Some(&policy));
        self.verifier.set_trusted(trusted)?;
        *self.policy.write() = Some(Arc::new(policy));
        Ok(())
    }

    /// Decides `req`, counts it if admitted, and signs the decision.
    ///
    /// Raises only for malformed arguments, oversized input, `IDEMPOTENCY_CONFLICT` and store
    /// failures: everything else — an unknown gate, a bad passport, a failed constraint — is a
    /// `deny` decision that says why.
    ///
    /// # Chain breaks
    ///
    /// If the store turns out to hold less of this engine's chain than the engine committed (a
    /// Redis flush or a restart without persistence, a restored older SQLite file), the engine
    /// never signs those sequence numbers again: it moves to a new chain ([`Engine::chain_id`])
    /// whose first record, of kind `chain.break`, carries `data` naming the `previous_chain`, the
    /// `last_seq` and `last_hash` the engine committed there and the `store_tail` it found
    /// (`{seq, hash}` or `null`). The call that finds it fails with `STORE_UNAVAILABLE` (nothing of
    /// it was stored; its message says the chain broke) and the break is logged (`log::error!`);
    /// the next call proceeds on the new chain, which verifies on its own.
    pub fn enforce(&self, req: &Request) -> Result<Decision> {
        self.run(req, false)
    }

    /// Evaluates `req` against the same state as [`Engine::enforce`] would, changing nothing:
    /// no counter, no attestation, no idempotency key.
    pub fn dry_run(&self, req: &Request) -> Result<Decision> {
        self.run(req, true)
    }

    fn run(&self, req: &Request, dry_run: bool) -> Result<Decision> {
        self.same_process()?;
        check_request(req)?;
        let now = self.clock.now_ms();
        if !dry_run {
            self.expire_due(now)?;
        }
        let policy = self.policy();
        let mut caller = self.caller(req, now)?;
        // Caveats are agent-written: compiled only for the gate asked for, and only once the
        // passport holds the gate's permissions (an unknown gate or a missing permission is a
        // deny that needs none of them). A caveat that does not compile is a deny.
        let caveats = match &caller {
            Caller::Agent(v) if permitted(policy.as_deref(), v, &req.gate) => {
                match self.caveats_for(v, &req.gate) {
                    Ok(c) => c,
                    Err(e @ Error::PassportMalformed(_)) => {
                        caller = Caller::Refused(
                            Check::new("passport", "passport", false, e.to_string())
                                .with_code(e.code()),
                        );
                        Arc::new(Vec::new())
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => Arc::new(Vec::new()),
        };
        let hash = request_hash(req)?;
        let idem = match (&req.idempotency_key, dry_run) {
            (Some(key), false) => Some(self.idempotency(req, &caller, key, &hash, now)?),
            _ => None,
        };
        if let Some(rec) = &idem {
            if let Some(stored) = self.store.idempotency_get(&rec.namespace, &rec.key, now)? {
                return replay(stored, rec);
            }
        }
        let presented = match &req.approval {
            Some(token) => Some(self.presented(token)?),
            None => None,
        };
        let mut eval = evaluate(Inputs {
            policy: policy.as_deref(),
            caller: &caller,
            caveats: &caveats,
            req,
            request_hash: hash,
            now,
            dry_run,
            presented: presented.as_ref(),
        })?;
        let usage = self.store.read(&ops(&eval.pending, false), now)?;
        finish(&mut eval, &usage);
        if dry_run {
            return Ok(eval.decision);
        }
        let ttl = policy
            .as_deref()
            .map_or(DEFAULT_HOLD_TTL_MS, |p| p.hold_ttl_for(&req.gate));
        let decided = self.commit(eval, req, idem, now, ttl);
        if decided.is_ok() {
            self.prune_inline();
        }
        decided
    }

    /// Reads a presented approval token and the store's record of the approval it names; the
    /// token's signature must verify with a key this engine trusts for approvals: its own, or
    /// the approving engine's key that the record names (engines sharing a store).
    fn presented(&self, token: &str) -> Result<Presented> {
        let refused = |e: Error| Presented {
            claims: Err(e.to_string()),
            record: None,
        };
        let decoded = match approval::decode(token) {
            Ok(d) => d,
            Err(e) => return Ok(refused(e)),
        };
        let record = self.store.approval_get(&decoded.claims.evaluation_id)?;
        let recorded_key = match record.as_ref().map(|r| &r.state) {
            Some(ApprovalState::Approved { key, .. }) if !key.is_empty() => Some(key.as_str()),
            _ => None,
        };
        let own = self.signer_did();
        let trusted = match recorded_key {
            Some(k) if k == decoded.claims.kid => k,
            _ => own,
        };
        if let Err(e) = decoded.verify_by(trusted) {
            return Ok(refused(e));
        }
        Ok(Presented {
            claims: Ok(decoded.claims),
            record,
        })
    }

    /// Signs and commits. If a concurrent writer moved the counters between our read and our
    /// commit (or used the approval this request presents), the store refuses the commit and
    /// nothing changes: decide again on the fresh state (a few times at most, then deny) and
    /// record what was really decided.
    fn commit(
        &self,
        mut eval: Evaluation<'_>,
        req: &Request,
        mut idem: Option<IdempotencyRecord>,
        now: i64,
        hold_ttl_ms: i64,
    ) -> Result<Decision> {
        const ATTEMPTS: usize = 4;
        let monitor = eval.decision.mode == Mode::Monitor.as_str();
        let mut tail = self.tail()?;
        for attempt in 1..=ATTEMPTS {
            let admitted = eval.decision.allowed;
            let counters = if admitted {
                ops(&eval.pending, monitor)
            } else {
                Vec::new()
            };
            let hold = match admitted && req.hold {
                true => Some(HoldRecord {
                    id: random_id("hld")?,
                    evaluation_id: eval.decision.evaluation_id.clone(),
                    gate: eval.decision.gate.clone(),
                    agent_id: eval.decision.agent_id.clone(),
                    passport_id: eval.decision.passport_id.clone(),
                    created_ms: now,
                    expires_ms: now.saturating_add(hold_ttl_ms),
                    ops: eval.pending.iter().map(|p| p.held(monitor)).collect(),
                    state: HoldState::Open,
                }),
                false => None,
            };
            eval.decision.hold_id = hold.as_ref().map(|h| h.id.clone());
            let approval_request = self.approval_request(&mut eval, now);
            let use_approval = match (&eval.approval, admitted) {
                (ApprovalNeed::Granted(e, t), true) => {
                    Some((e.clone(), t.clone(), eval.fingerprint()?))
                }
                _ => None,
            };
            let (record, hash) = self.seal_decision(&mut eval, req, &tail, now)?;
            if let Some(i) = idem.as_mut() {
                i.decision = eval.decision.to_json();
            }
            let outcome = self.after_write(
                &mut tail,
                self.store.commit(&Commit {
                    now_ms: now,
                    counters: &counters,
                    // Monitor mode lifts only its relaxed counters' bounds (see `ops`).
                    enforce_bounds: true,
                    record: &record,
                    idempotency: idem.as_ref(),
                    hold: hold.as_ref(),
                    approval_request: approval_request.as_ref(),
                    use_approval: use_approval.as_ref().map(|(e, t, f)| UseApproval {
                        evaluation_id: e,
                        token_id: t,
                        fingerprint: f,
                    }),
                }),
            )?;
            let usage = match (outcome, &idem) {
                (CommitOutcome::Committed, _) => {
                    tail.advance(hash);
                    return Ok(eval.decision);
                }
                (CommitOutcome::Replay(stored), Some(rec)) => return replay(stored, rec),
                (CommitOutcome::Replay(_), None) => {
                    return Err(Error::Internal(
                        "store replayed a request without a key".into(),
                    ))
                }
                (CommitOutcome::Rejected { usage }, _) => usage,
                (CommitOutcome::ApprovalUnavailable { state }, _) => {
                    // Someone used (or revoked) the approval first: this request is refused.
                    let why = match state.as_str() {
                        "used" => ("APPROVAL_USED", "the approval was already used"),
                        "denied" => ("APPROVAL_DENIED", "the approval was denied"),
                        "approved" => ("APPROVAL_EXPIRED", "the approval expired"),
                        _ => ("APPROVAL_INVALID", "no such approval was granted"),
                    };
                    for c in eval
                        .decision
                        .checks
                        .iter_mut()
                        .filter(|c| c.ty == "approval")
                    {
                        *c = Check::new(&c.constraint, "approval", false, why.1).with_code(why.0);
                    }
                    eval.approval = ApprovalNeed::None;
                    eval.stateless_ok = false;
                    self.store.read(&ops(&eval.pending, false), now)?
                }
            };
            eval.decision.checks.truncate(eval.base_checks);
            eval.decision.remaining.clear();
            finish(&mut eval, &usage);
            if attempt + 1 == ATTEMPTS && eval.decision.allowed {
                // Still contended: give up on admitting rather than loop — and say so. This deny
                // is about the moment, not the request: it is recorded but not kept under the
                // idempotency key, so a retry with the same key decides afresh.
                eval.decision.allowed = false;
                eval.decision.decision = Verdict::Deny;
                eval.decision.checks.push(
                    Check::new(
                        "contention",
                        "store",
                        false,
                        "concurrent writers kept moving the counters; retry",
                    )
                    .with_code("CONTENTION"),
                );
                idem = None;
            }
        }
        Err(Error::Internal("commit did not settle".into()))
    }

    /// For an `escalate` decision: the approval record to store, with its expiry written into the
    /// decision's `approval_request`.
    fn approval_request(&self, eval: &mut Evaluation<'_>, now: i64) -> Option<ApprovalRecord> {
        let request = eval.decision.approval_request.as_mut()?;
        let expires_ms = now.saturating_add(APPROVAL_REQUEST_TTL_MS);
        request["expires_at"] = json!(expires_ms);
        let d = &eval.decision;
        Some(ApprovalRecord {
            evaluation_id: d.evaluation_id.clone(),
            fingerprint: eval.fingerprint().ok()?,
            gate: d.gate.clone(),
            agent_id: d.agent_id.clone(),
            passport_id: d.passport_id.clone(),
            created_ms: now,
            expires_ms,
            state: ApprovalState::Pending,
        })
    }

    fn seal_decision(
        &self,
        eval: &mut Evaluation<'_>,
        req: &Request,
        tail: &attestation::Tail,
        now: i64,
    ) -> Result<(StoredRecord, String)> {
        let d = &eval.decision;
        let (seq, prev) = tail.next();
        let trace = match &req.trace {
            Some(t) => json::normalize_numbers(t)?,
            None => Value::Null,
        };
        // What an admitted request adds to each counter, so an audit can recompute every counter
        // from the records alone (the checks' `observed` include usage read before the commit).
        let counted: Vec<Value> = match d.allowed {
            true => eval
                .pending
                .iter()
                .map(|p| {
                    json!({
                        "namespace": p.op.key.namespace, "constraint": p.op.key.constraint,
                        "scope": p.op.key.scope, "amount": p.op.amount.normalize().to_string(),
                    })
                })
                .collect(),
            false => Vec::new(),
        };
        let body = json!({
            "v": attestation::VERSION,
            "id": random_id("att")?,
            "kind": "decision",
            "chain": tail.chain,
            "seq": seq,
            "prev": prev,
            "time": now,
            "evaluation_id": d.evaluation_id,
            "gate": d.gate,
            "decision": d.decision.as_str(),
            "mode": d.mode,
            "agent_id": d.agent_id,
            "passport_id": d.passport_id,
            "principal": eval.principal.as_ref().map(|p| json!({"issuer": p.issuer, "agent_id": p.agent_id})),
            "delegation": eval.delegation,
            "client": req.client,
            "policy_hash": d.policy_hash,
            "request_hash": eval.request_hash,
            "checks": d.checks,
            "remaining": d.remaining,
            "counted": counted,
            "trace": trace,
        });
        let (record, hash) = attestation::seal(body, &self.chain.key)?;
        let record = Arc::new(record);
        eval.decision.attestation = Some(Arc::clone(&record));
        let d = &eval.decision;
        Ok((
            StoredRecord {
                chain: tail.chain.clone(),
                seq,
                time_ms: now,
                kind: "decision".into(),
                gate: Some(d.gate.clone()),
                // Filed under the principal: what a delegate does, its agent did.
                agent_id: eval.principal.as_ref().map(|p| p.agent_id.clone()),
                decision: Some(d.decision.as_str().into()),
                evaluation_id: Some(d.evaluation_id.clone()),
                record,
            },
            hash,
        ))
    }

    fn caller(&self, req: &Request, now: i64) -> Result<Caller> {
        let Some(token) = &req.passport else {
            return Ok(Caller::Anonymous);
        };
        match self.verify(token, now) {
            Ok(v) => Ok(Caller::Agent(v)),
            // Store failures are errors, never a deny or an allow.
            Err(e @ Error::StoreUnavailable(_)) => Err(e),
            Err(e @ Error::LimitExceeded(_)) => Err(e),
            Err(e) => Ok(Caller::Refused(
                Check::new("passport", "passport", false, e.to_string()).with_code(e.code()),
            )),
        }
    }

    fn verify(&self, token: &str, now: i64) -> Result<Arc<Verified>> {
        let v = self.verifier.verify(token, now)?;
        let ids: Vec<&str> = v.chain_ids().collect();
        if let Some(id) = self.store.first_revoked(&ids)? {
            let whose = if id == v.passport_id {
                "this passport".to_string()
            } else {
                format!("its ancestor {id}")
            };
            return Err(Error::PassportRevoked(format!(
                "{} ({whose} was revoked)",
                v.passport_id
            )));
        }
        Ok(v)
    }

    /// Verifies a passport (signature, time, issuer, delegation chain, revocation) and returns its
    /// claims.
    pub fn verify_passport(&self, token: &str) -> Result<Value> {
        Ok(self.verify(token, self.clock.now_ms())?.claims.clone())
    }

    /// Whose passport this is: verifies it (signature, validity, trust, delegation, revocation)
    /// and returns its principal (the trusted issuer and the root passport's agent id).
    pub fn principal_of(&self, token: &str) -> Result<crate::passport::Principal> {
        Ok(self.verify(token, self.clock.now_ms())?.principal.clone())
    }

    /// Revokes a passport id; every passport delegated from it is revoked with it. Writes an
    /// attestation of kind `revocation`.
    pub fn revoke_passport(&self, passport_id: &str) -> Result<()> {
        if !crate::passport::is_any_passport_id(passport_id) {
            return Err(Error::argument(
                "/passport_id",
                format!(
                    "{passport_id:?} is not a passport id (psp_ or psd_ and 26 characters, \
                     as IssuedPassport.passport_id)"
                ),
            ));
        }
        let now = self.clock.now_ms();
        self.store.revoke(passport_id, now)?;
        self.append_event(
            "revocation",
            &json!({ "passport_id": passport_id }),
            Event::default(),
        )?;
        Ok(())
    }

    /// Issues a new passport for the agent of `token` with the same permissions, name and caveats
    /// (and a fresh agent key), and revokes the old one. Root passports only: a delegated
    /// passport is `INVALID_ARGUMENT` (minting a root in its place would drop its ancestors'
    /// caveats, their expiry bound and the revocation link; its parent re-delegates instead).
    pub fn reissue(
        &self,
        token: &str,
        issuer: &Issuer,
        expires_in_secs: Option<i64>,
    ) -> Result<IssuedPassport> {
        let old = self.verify(token, self.clock.now_ms())?;
        if old.is_delegated() {
            // A root passport minted in its place would drop its ancestors' caveats, their
            // expiry bound and the revocation link to them.
            return Err(Error::InvalidArgument(format!(
                "passport {} is delegated: reissue applies to root passports only (its parent \
                 agent delegates a new one instead)",
                old.passport_id
            )));
        }
        let mut req = PassportRequest::new(old.agent_id.clone(), old.perms.clone());
        req.agent_name = old.agent_name.clone();
        if let Some(secs) = expires_in_secs {
            req.expires_in_secs = secs;
        }
        req.caveats = old
            .chain
            .last()
            .map(|l| l.caveats.clone())
            .unwrap_or_default();
        let issued = issuer.issue_passport_at(&req, self.clock.now_ms().div_euclid(1000))?;
        self.revoke_passport(&old.passport_id)?;
        Ok(issued)
    }

    /// Appends a host event (`kind`, `data`) to this engine's chain and returns the record.
    pub fn record_attestation(&self, kind: &str, data: &Value) -> Result<Value> {
        let reserved = ["decision", "revocation", "reset"];
        if kind.is_empty()
            || kind.len() > MAX_NAME_LEN
            || reserved.contains(&kind)
            || kind.starts_with("hold.")
            || kind.starts_with("approval.")
            || kind.starts_with("chain.")
        {
            return Err(Error::InvalidArgument(format!(
                "kind must be 1 to 256 characters and not one passgate writes itself ({kind:?})"
            )));
        }
        self.append_event(kind, data, Event::default())
    }

    /// Signs an event of `kind` into this engine's chain and appends it.
    fn append_event(&self, kind: &str, data: &Value, about: Event<'_>) -> Result<Value> {
        let now = self.clock.now_ms();
        let mut tail = self.tail()?;
        let (stored, hash) = self.event_record(&tail, kind, data, about, now)?;
        let written = self.store.append(&stored);
        self.after_write(&mut tail, written)?;
        tail.advance(hash);
        Ok(Arc::unwrap_or_clone(stored.record))
    }

    /// Builds and signs the next event record of the chain (the caller stores it and advances
    /// the tail it holds).
    fn event_record(
        &self,
        tail: &attestation::Tail,
        kind: &str,
        data: &Value,
        about: Event<'_>,
        now: i64,
    ) -> Result<(StoredRecord, String)> {
        json::check_bounds(data, Limits::PAYLOAD)
            .map_err(|e| e.into_error(json::Context::Argument))?;
        let body = attestation::event_body(tail, random_id("att")?, now, kind, data)?;
        let (seq, _) = tail.next();
        let (record, hash) = attestation::seal(body, &self.chain.key)?;
        let stored = StoredRecord {
            chain: tail.chain.clone(),
            seq,
            time_ms: now,
            kind: kind.to_string(),
            gate: about.gate.map(str::to_string),
            agent_id: about.agent_id.map(str::to_string),
            decision: None,
            evaluation_id: about.evaluation_id.map(str::to_string),
            record: Arc::new(record),
        };
        Ok((stored, hash))
    }

    /// A signed statement of where this engine's chain ends now: `(chain, seq, hash)` (see
    /// [`attestation::seal_head`]). A verifier that keeps a recent head detects records cut from
    /// the end of the chain ([`crate::verify_chain_with_head`]).
    pub fn chain_head(&self) -> Result<Value> {
        let tail = self.tail()?;
        attestation::seal_head(
            &attestation::ChainHead {
                chain: tail.chain.clone(),
                seq: tail.seq,
                hash: tail.prev.clone(),
                time_ms: self.clock.now_ms(),
            },
            &self.chain.key,
        )
    }

    /// Records in this engine's store (every chain), oldest first.
    pub fn attestations(&self, filter: &AttestationFilter) -> Result<Vec<Value>> {
        Ok(self
            .store
            .attestations(filter)?
            .into_iter()
            .map(|r| Arc::unwrap_or_clone(r.record))
            .collect())
    }

    /// One page of the records in this engine's store (every chain), oldest first: at most
    /// `limit` (1–10,000) records matching `filter` (whose own `limit` is ignored) from `cursor`
    /// (`None`: the first page), and the cursor of the next page, `None` after the last. A
    /// cursor is opaque; one that this method did not return is `INVALID_ARGUMENT`.
    pub fn attestations_page(
        &self,
        filter: &AttestationFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<String>)> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "limit must be 1 to {MAX_PAGE}, not {limit}"
            )));
        }
        let after = match cursor {
            None => 0,
            Some(c) if c.starts_with("c1.") => {
                return Err(Error::InvalidArgument(format!(
                    "cursor {c:?} is from an older passgate (c1: counted records, which pruning \
                     invalidates); start again without a cursor"
                )))
            }
            Some(c) => c
                .strip_prefix(CURSOR_PREFIX)
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::InvalidArgument(format!("cursor {c:?} was not returned by a page"))
                })?,
        };
        let (records, next) = self.store.attestations_page(filter, after, limit)?;
        Ok((
            records
                .into_iter()
                .map(|r| Arc::unwrap_or_clone(r.record))
                .collect(),
            next.map(|n| format!("{CURSOR_PREFIX}{n}")),
        ))
    }

    /// Counters matching `filter` with their current usage (every one: the store pages
    /// internally; see [`Engine::cumulative_state_page`] to page yourself).
    pub fn cumulative_state(&self, filter: &CounterFilter) -> Result<Vec<CounterState>> {
        self.store.counters(filter, self.clock.now_ms())
    }

    /// One page of the counters matching `filter`, with their current usage: at most `limit`
    /// (1–10,000) counters from `cursor` (`None`: the first page), and the cursor of the next
    /// page, `None` after the last. Counters come in a stable order (namespace, constraint,
    /// scope, window), and a page resumes strictly after the counter the previous one ended on,
    /// so a walk never returns a counter twice while counters are being added (one added behind
    /// the walk's position is not returned). A page may hold fewer than `limit` counters (even
    /// none) and still have a next cursor: only `None` ends the walk. A filter with a
    /// `namespace` (gate) or a `scope` (agent) walks only those counters, from an index.
    ///
    /// A cursor is opaque: `k1.` followed by fields of the position (see
    /// [`Engine::cumulative_state_page_of`]); one that does not parse is `INVALID_ARGUMENT`.
    pub fn cumulative_state_page(
        &self,
        filter: &CounterFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<CounterState>, Option<String>)> {
        self.cumulative_state_page_of(std::slice::from_ref(filter), cursor, limit)
    }

    /// [`Engine::cumulative_state_page`] over several filters in turn (the counters of the
    /// first, then of the second, …): the filters of [`Engine::agent_filters`], one per trusted
    /// issuer. The cursor is `k1.<filter index>` (the start of that filter's counters) or
    /// `k1.<filter index>.<b64u namespace>.<b64u constraint>.<b64u scope>.<window>` (resume
    /// strictly after that counter; base64url without padding, the window as
    /// [`store::window_token`]). A cursor naming a filter past the last is the end (an empty
    /// page): the set of trusted issuers may have changed between two pages.
    pub fn cumulative_state_page_of(
        &self,
        filters: &[CounterFilter],
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<CounterState>, Option<String>)> {
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Error::InvalidArgument(format!(
                "limit must be 1 to {MAX_PAGE}, not {limit}"
            )));
        }
        let (mut i, mut after) = match cursor {
            None => (0, None),
            Some(c) => decode_counter_cursor(c).ok_or_else(|| {
                Error::InvalidArgument(format!("cursor {c:?} was not returned by a page"))
            })?,
        };
        let now = self.clock.now_ms();
        let mut out: Vec<CounterState> = Vec::new();
        while let Some(f) = filters.get(i) {
            let want = limit.saturating_sub(out.len());
            let (page, next) = self.store.counters_page(f, after.as_ref(), want, now)?;
            out.extend(page);
            if let Some(p) = next {
                return Ok((out, Some(encode_counter_cursor(i, Some(&p)))));
            }
            i += 1;
            after = None;
            if out.len() >= limit {
                return Ok((out, filters.get(i).map(|_| encode_counter_cursor(i, None))));
            }
        }
        Ok((out, None))
    }

    /// The `scope` values of `scope: "agent"` counters for the agent `agent_id`: agents are
    /// counted as principals (`agent:<id>@<issuer did>`), so an id names one counter per trusted
    /// issuer. An id that already names its issuer (`<id>@did:key:…`) names exactly one.
    pub fn agent_scopes(&self, agent_id: &str) -> Vec<String> {
        if agent_id.contains("@did:") {
            return vec![agent_scope(agent_id)];
        }
        self.verifier
            .trusted()
            .iter()
            .map(|did| {
                agent_scope(
                    &crate::passport::Principal {
                        issuer: did.clone(),
                        agent_id: agent_id.to_string(),
                    }
                    .key(),
                )
            })
            .collect()
    }

    /// [`Engine::cumulative_state`] or [`Engine::reset_cumulative_state`] filters for an optional
    /// `agent_id` on top of `filter` (one per [`Engine::agent_scopes`]).
    pub fn agent_filters(
        &self,
        filter: CounterFilter,
        agent_id: Option<&str>,
    ) -> Vec<CounterFilter> {
        match agent_id {
            None => vec![filter],
            Some(id) => self
                .agent_scopes(id)
                .into_iter()
                .map(|scope| CounterFilter {
                    scope: Some(scope),
                    ..filter.clone()
                })
                .collect(),
        }
    }

    /// Deletes counters matching `filter` and records that it did; returns how many.
    pub fn reset_cumulative_state(&self, filter: &CounterFilter) -> Result<usize> {
        let n = self.store.reset_counters(filter)?;
        self.append_event(
            "reset",
            &json!({
                "namespace": filter.namespace, "constraint": filter.constraint,
                "scope": filter.scope, "counters": n,
            }),
            Event::default(),
        )?;
        Ok(n)
    }

    fn idempotency(
        &self,
        req: &Request,
        caller: &Caller,
        key: &str,
        request_hash: &str,
        now: i64,
    ) -> Result<IdempotencyRecord> {
        let (namespace, passport_id) = match caller {
            Caller::Agent(v) => (
                format!("passport:{}", v.passport_id),
                Some(v.passport_id.as_str()),
            ),
            _ => match req.client.as_deref() {
                Some(client) => (format!("client:{client}"), None),
                // Without a client, every anonymous caller would share one namespace: one could
                // replay another's decisions (or block its keys).
                None => {
                    return Err(Error::InvalidArgument(
                        "an idempotency_key without a passport needs a client: anonymous \
                         callers' keys are namespaced by client"
                            .into(),
                    ))
                }
            },
        };
        let fingerprint = json::sha256_tagged(
            json::canonical_normalized(&json!({
                "gate": req.gate,
                "passport_id": passport_id,
                "passport": if passport_id.is_none() { req.passport.as_deref().map(|t| json::sha256_tagged(t.as_bytes())) } else { None },
                "client": req.client,
                "hold": req.hold,
                "request_hash": request_hash,
            }))?
            .as_bytes(),
        );
        Ok(IdempotencyRecord {
            namespace,
            key: key.to_string(),
            fingerprint,
            decision: Value::Null,
            expires_ms: now.saturating_add(IDEMPOTENCY_TTL_MS),
        })
    }

    /// The caveats of `v`'s chain that apply to `gate`, compiled (and cached by the exact token
    /// and gate, bounded in bytes).
    fn caveats_for(&self, v: &Verified, gate: &str) -> Result<Arc<Vec<Caveat>>> {
        if v.chain.iter().all(|l| l.caveats.is_empty()) {
            return Ok(Arc::new(Vec::new()));
        }
        let key = (v.token_hash, gate.to_string());
        if let Some(c) = self.caveats.lock().get(&key) {
            return Ok(c);
        }
        let mut out = Vec::new();
        let mut weight = 256;
        for link in &v.chain {
            for (i, doc) in link.caveats.iter().enumerate() {
                if let Some(c) = compile_caveat(&link.passport_id, doc, i, gate)? {
                    // A compiled constraint: a few times its document, regexes up to their budget.
                    let text = doc.to_string();
                    weight += 4 * text.len() + 1024;
                    if c.constraint.ty == crate::constraint::ConstraintType::Pattern
                        || text.contains("\"matches\"")
                    {
                        weight += 2 * CAVEAT_REGEX_SIZE_LIMIT;
                    }
                    out.push(c);
                }
            }
        }
        let out = Arc::new(out);
        self.caveats.lock().put(key, out.clone(), weight);
        Ok(out)
    }
}

/// Whether `v` may enter `gate` at all: the gate exists and the passport holds its permissions.
/// Nothing agent-written (caveats) is compiled for a request that fails this.
fn permitted(policy: Option<&Policy>, v: &Verified, gate: &str) -> bool {
    policy
        .and_then(|p| p.gate(gate))
        .is_some_and(|g| g.require.iter().all(|r| v.has_permission(r)))
}

fn replay(stored: IdempotencyRecord, rec: &IdempotencyRecord) -> Result<Decision> {
    if stored.fingerprint != rec.fingerprint {
        return Err(Error::IdempotencyConflict(format!(
            "key {:?} was first used for a different request (gate, passport, client or payload differ)",
            rec.key
        )));
    }
    let mut d: Decision = serde_json::from_value(stored.decision)
        .map_err(|e| Error::Internal(format!("stored decision unreadable: {e}")))?;
    d.replayed = true;
    Ok(d)
}
