//! `memory:` — the in-process store: one mutex over plain maps. Commits are atomic because they
//! run entirely under that mutex.
//!
//! # Layout (bounded growth)
//!
//! A decision costs what it must and no more: its record is kept as its serialized bytes with the
//! fields filters use (strings that repeat — chains, kinds, gates, agents, verdicts — are shared),
//! not as a JSON tree; an idempotency record keeps only what the record does not already say (it
//! shares the record's bytes and takes the checks from them). Whatever stops mattering is dropped
//! on expiry-ordered indexes, a few entries per commit ([`PRUNE_BATCH`]): idempotency records
//! once expired, closed holds and decided approvals a grace period ([`GRACE_MS`]) after they
//! expire, counters a grace period after their window can no longer hold anything. Records
//! themselves are kept for the store's retention (default: 100,000 records), pruned by the
//! engine inline; each carries an append number (`g`) for keyset paging.
//!
//! A counter dropped after its window ended must not come back in that window: requests are
//! placed no earlier than [`GRACE_MS`] before the latest time the store has seen (an engine whose
//! clock is more than that behind counts in a later window, never a reopened one).

mod catalogs;
mod counter;
mod registry;
mod settlements;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{
    counters_by_pages, filter_floor, filter_may_follow, ApprovalRecord, ApprovalState,
    AttestationFilter, Checkpoint, Commit, CommitOutcome, CounterFilter, CounterKey, CounterOp,
    CounterPosition, CounterState, DueHold, HoldOutcome, HoldRecord, HoldResolution, HoldState,
    IdempotencyRecord, KeyPart, RecordFields, Retention, Store, StoredRecord, WindowKind,
    MEMORY_DEFAULT_RECORDS,
};
use crate::error::{Error, Result};
use counter::Counter;

/// How long past the point where they stop mattering counters, closed holds and approvals are
/// kept (a late settle still gets "already settled", a skewed engine still finds its window).
pub const GRACE_MS: i64 = 3_600_000;

/// At most this many entries of each expiry index are dropped per commit: pruning is amortised
/// over traffic and never stalls one request.
pub const PRUNE_BATCH: usize = 8;

/// The in-process store (the default).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
    /// The passport and issuer registries.
    registry: registry::MemRegistry,
    /// The catalogs.
    catalogs: catalogs::MemCatalogs,
    /// The consumption claims and settlements.
    settlements: settlements::MemSettlements,
    /// Counter entries looked at by listings and resets (a probe for tests: a filtered walk
    /// visits only its range).
    visited: AtomicU64,
}

type SlotKey = (CounterKey, WindowKind);

/// A counter slot's key as borrowed parts: `counters` is looked up by a request's op without
/// building an owned [`SlotKey`] per counter per read (a clone of its three shared parts: six
/// atomic operations on reference counts every thread deciding on the gate shares). Ordered
/// exactly as `SlotKey`'s derived order (namespace, constraint, scope, window), as `Borrow`
/// requires; looked up as `&(&key, window) as &dyn SlotRef`.
trait SlotRef {
    fn parts(&self) -> (&str, &str, &str, WindowKind);
}

impl SlotRef for SlotKey {
    fn parts(&self) -> (&str, &str, &str, WindowKind) {
        (&self.0.namespace, &self.0.constraint, &self.0.scope, self.1)
    }
}

impl SlotRef for (&CounterKey, WindowKind) {
    fn parts(&self) -> (&str, &str, &str, WindowKind) {
        (&self.0.namespace, &self.0.constraint, &self.0.scope, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn SlotRef + 'a> for SlotKey {
    fn borrow(&self) -> &(dyn SlotRef + 'a) {
        self
    }
}

impl PartialEq for dyn SlotRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn SlotRef + '_ {}

impl PartialOrd for dyn SlotRef + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for dyn SlotRef + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}
type IdemKey = Arc<(String, String)>;

/// A counter and the time it is listed under in `State::counter_idle`.
#[derive(Debug, Clone)]
struct Slot {
    counter: Counter,
    idle: Option<i64>,
    /// The latest expiry of a hold that reserved on this counter: a settle may still adjust it
    /// until then, so it is kept at least that long (even when it reads zero).
    held_until: i64,
}

/// A record: its bytes and the fields filters use.
#[derive(Debug, Clone)]
struct Rec {
    /// The append number.
    g: u64,
    chain: Arc<str>,
    seq: u64,
    time_ms: i64,
    kind: Arc<str>,
    gate: Option<Arc<str>>,
    agent_id: Option<Arc<str>>,
    decision: Option<Arc<str>>,
    evaluation_id: Option<Box<str>>,
    bytes: Packed,
}

/// A record's JSON, LZ4-compressed against a recent record of the same store (the dictionary:
/// consecutive records share most of their text — keys, messages, dids, hashes' prefixes — so a
/// 2.5 KB decision record keeps a few hundred bytes). We compress because a record's own JSON is
/// already over the 2.5 KB a decision may cost in memory; LZ4 because it costs microseconds.
#[derive(Debug, Clone)]
struct Packed {
    bytes: Arc<[u8]>,
    dict: Arc<[u8]>,
}

impl Packed {
    /// Compresses `json` against `dict` in `scratch` (the store's, reused: a fresh zeroed output
    /// buffer per record cost more than the copy out of it), in `compress_prepend_size`'s
    /// format: the length as a little-endian `u32`, then the LZ4 block.
    fn new(json: &[u8], dict: Arc<[u8]>, scratch: &mut Vec<u8>) -> Result<Packed> {
        let len = u32::try_from(json.len())
            .map_err(|_| Error::Internal("memory store: a record over 4 GiB".into()))?;
        let need = 4 + lz4_flex::block::get_maximum_output_size(json.len());
        if scratch.len() < need {
            scratch.resize(need, 0);
        }
        let (head, block) = scratch.split_at_mut(4);
        head.copy_from_slice(&len.to_le_bytes());
        let n = lz4_flex::block::compress_into_with_dict(json, block, &dict)
            .map_err(|e| Error::Internal(format!("memory store: cannot compress a record: {e}")))?;
        let bytes = scratch.get(..4 + n).unwrap_or_default().into();
        Ok(Packed { bytes, dict })
    }

    fn json(&self) -> Result<Vec<u8>> {
        lz4_flex::block::decompress_size_prepended_with_dict(&self.bytes, &self.dict)
            .map_err(|e| Error::Internal(format!("memory store: record unreadable: {e}")))
    }

    /// The record, its `Value` parsed only when read: these bytes are a record's JSON text as
    /// this store was given it ([`crate::attestation::Record::as_str`]), so they parse.
    fn record(&self) -> Result<crate::attestation::Record> {
        let text = String::from_utf8(self.json()?)
            .map_err(|e| Error::Internal(format!("memory store: record unreadable: {e}")))?;
        Ok(crate::attestation::Record::from_written(text))
    }

    fn value(&self) -> Result<Value> {
        serde_json::from_slice(&self.json()?)
            .map_err(|e| Error::Internal(format!("memory store: record unreadable: {e}")))
    }
}

/// A new dictionary every this many records (the newest record's JSON), so it stays close to
/// what is being written.
const DICT_EVERY: u64 = 4096;

impl Rec {
    fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            chain: &self.chain,
            time_ms: self.time_ms,
            kind: &self.kind,
            gate: self.gate.as_deref(),
            agent_id: self.agent_id.as_deref(),
            decision: self.decision.as_deref(),
            evaluation_id: self.evaluation_id.as_deref(),
        }
    }

    fn to_stored(&self) -> Result<StoredRecord> {
        let record = self.bytes.record()?;
        Ok(StoredRecord {
            chain: self.chain.to_string(),
            seq: self.seq,
            time_ms: self.time_ms,
            kind: self.kind.to_string(),
            gate: self.gate.as_deref().map(str::to_string),
            agent_id: self.agent_id.as_deref().map(str::to_string),
            decision: self.decision.as_deref().map(str::to_string),
            evaluation_id: self.evaluation_id.as_deref().map(str::to_string),
            record,
            event: None,
        })
    }
}

/// An idempotency record: the decision without what its attestation record already holds.
#[derive(Debug, Clone)]
struct Idem {
    fingerprint: Box<str>,
    expires_ms: i64,
    /// The decision's JSON, less `attestation` (and `checks` / `remaining` if `from_record`).
    rest: Box<[u8]>,
    /// The decision's attestation record: the bytes the record list holds (shared, not copied).
    attestation: Option<Packed>,
    /// `checks` and `remaining` are the record body's.
    from_record: bool,
}

#[derive(Debug, Default)]
struct State {
    /// Ordered by (key, window), the listing order: a namespace's counters are one range.
    counters: BTreeMap<SlotKey, Slot>,
    /// (scope, key, window) of every counter: a scope's counters are one range (in listing
    /// order within it).
    by_scope: BTreeSet<(KeyPart, CounterKey, WindowKind)>,
    /// Counters by the time after which they read zero.
    counter_idle: BTreeSet<(i64, SlotKey)>,
    /// Records by append number (ascending), oldest first.
    records: VecDeque<Rec>,
    /// The last append number given.
    last_g: u64,
    /// Each chain's last record, by append number (never pruned).
    tails: HashMap<Arc<str>, u64>,
    /// Each pruned chain's newest checkpoint.
    checkpoints: HashMap<String, Checkpoint>,
    /// Shared copies of repeated strings.
    strings: HashSet<Arc<str>>,
    /// What records are compressed against (see [`Packed`]).
    dict: Arc<[u8]>,
    /// Where records are compressed (see [`Packed::new`]).
    scratch: Vec<u8>,
    revoked: HashSet<String>,
    idempotency: HashMap<IdemKey, Idem>,
    idempotency_expiry: BTreeSet<(i64, IdemKey)>,
    /// Proof-of-possession nonces → until when they are remembered.
    nonces: HashMap<String, i64>,
    /// Nonces by expiry, for pruning.
    nonce_expiry: BTreeSet<(i64, String)>,
    holds: HashMap<String, HoldRecord>,
    /// Open holds by expiry, for `holds_due`.
    open_holds: BTreeSet<(i64, String)>,
    /// Closed holds by the time they may be forgotten.
    closed_holds: BTreeSet<(i64, String)>,
    approvals: HashMap<String, ApprovalRecord>,
    /// Approvals by the time they may be forgotten (checked again then: an approval's token may
    /// outlive its request's expiry).
    approval_expiry: BTreeSet<(i64, String)>,
    /// The latest time a commit was made at.
    latest_ms: i64,
    /// API keys by id.
    api_keys: BTreeMap<String, crate::apikey::StoredApiKey>,
    /// The shared policy document (`policy_source=store`).
    policy: Option<super::StoredPolicy>,
    /// Run bundles by evaluation id.
    bundles: HashMap<String, String>,
    /// Unacknowledged decision events by position.
    events: BTreeMap<u64, super::OutboxEvent>,
    /// Every event id ever written: its position, and whether it was acknowledged.
    event_ids: HashMap<String, (u64, bool)>,
    /// The last event position given.
    last_event: u64,
    /// Acknowledged events by acknowledgement time, for `prune_closed`.
    acked_events: BTreeSet<(i64, String)>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many counter entries listings and resets have looked at so far (a test probe: a
    /// walk filtered by namespace or scope looks only at that range).
    #[doc(hidden)]
    pub fn counters_visited(&self) -> u64 {
        self.visited.load(Ordering::Relaxed)
    }
}

impl State {
    /// The time a request stamped `now_ms` is placed at: never more than [`GRACE_MS`] before the
    /// latest time seen (see the module docs).
    fn placed(&self, now_ms: i64) -> i64 {
        now_ms.max(self.latest_ms.saturating_sub(GRACE_MS))
    }

    /// Up to `take` keys of counters matching `filter` after `after`, in listing order, from
    /// the index that serves the filter; and how many entries were looked at.
    fn walk(
        &self,
        filter: &CounterFilter,
        after: Option<&CounterPosition>,
        take: usize,
    ) -> (Vec<(CounterKey, WindowKind)>, u64) {
        let mut out = Vec::new();
        let mut visited = 0u64;
        // A scope without a constraint: the scope index (within one scope, its order is the
        // listing order), from the namespace if there is one.
        if let (Some(scope), None) = (&filter.scope, &filter.constraint) {
            let scope: KeyPart = scope.as_str().into();
            let floor = (
                scope.clone(),
                CounterKey {
                    namespace: filter.namespace.as_deref().unwrap_or_default().into(),
                    constraint: "".into(),
                    scope: scope.clone(),
                },
                WindowKind::Forever,
            );
            let lower = match after {
                Some(a) if (&a.key, a.window) >= (&floor.1, floor.2) => {
                    Bound::Excluded((scope.clone(), a.key.clone(), a.window))
                }
                _ => Bound::Included(floor),
            };
            for (s, k, w) in self.by_scope.range((lower, Bound::Unbounded)) {
                visited += 1;
                if *s != scope || filter.namespace.as_ref().is_some_and(|n| *n != k.namespace) {
                    break;
                }
                if filter.matches(k) {
                    out.push((k.clone(), *w));
                    if out.len() >= take {
                        break;
                    }
                }
            }
            return (out, visited);
        }
        let floor = filter_floor(filter).map(|p| (p.key, p.window));
        let lower = match (after, floor) {
            (Some(a), Some(f)) if (&a.key, a.window) < (&f.0, f.1) => Bound::Included(f),
            (Some(a), _) => Bound::Excluded((a.key.clone(), a.window)),
            (None, Some(f)) => Bound::Included(f),
            (None, None) => Bound::Unbounded,
        };
        for (k, w) in self
            .counters
            .range((lower, Bound::Unbounded))
            .map(|(k, _)| k)
        {
            visited += 1;
            if !filter_may_follow(filter, k) {
                break;
            }
            if filter.matches(k) {
                out.push((k.clone(), *w));
                if out.len() >= take {
                    break;
                }
            }
        }
        (out, visited)
    }

    fn usage(&self, op: &CounterOp, now_ms: i64) -> Decimal {
        self.counters
            .get(&(&op.key, op.window) as &dyn SlotRef)
            .map_or(Decimal::ZERO, |s| s.counter.usage(op.window, now_ms))
    }

    /// Stores a counter and moves its entry in the idle index.
    /// Stores a counter and moves its entry in the idle index; `held_until`: the expiry of a hold
    /// this commit makes on it.
    fn put_counter(&mut self, key: SlotKey, counter: Counter, held_until: Option<i64>) {
        let old = self.counters.get(&key).map(|s| (s.idle, s.held_until));
        let held_until = old
            .map_or(i64::MIN, |(_, h)| h)
            .max(held_until.unwrap_or(i64::MIN));
        let idle = counter
            .idle_from(key.1)
            .map(|t| t.max(held_until).saturating_add(GRACE_MS));
        let old = old.and_then(|(idle, _)| idle);
        if old != idle {
            if let Some(t) = old {
                self.counter_idle.remove(&(t, key.clone()));
            }
            if let Some(t) = idle {
                self.counter_idle.insert((t, key.clone()));
            }
        }
        if !self.counters.contains_key(&key) {
            self.by_scope
                .insert((key.0.scope.clone(), key.0.clone(), key.1));
        }
        self.counters.insert(
            key,
            Slot {
                counter,
                idle,
                held_until,
            },
        );
    }

    /// Forgets a counter (and its index entries).
    fn drop_counter(&mut self, key: &SlotKey) {
        if let Some(slot) = self.counters.remove(key) {
            if let Some(t) = slot.idle {
                self.counter_idle.remove(&(t, key.clone()));
            }
            self.by_scope
                .remove(&(key.0.scope.clone(), key.0.clone(), key.1));
        }
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(found) = self.strings.get(s) {
            return Arc::clone(found);
        }
        let shared: Arc<str> = Arc::from(s);
        self.strings.insert(Arc::clone(&shared));
        shared
    }

    /// Appends a record; returns its bytes.
    fn push_record(&mut self, r: &StoredRecord) -> Result<Packed> {
        // The record's own text (its canonical bytes, for one this crate sealed): nothing to
        // serialise.
        let json = r.record.as_str().as_bytes();
        let g = self.last_g + 1;
        if g % DICT_EVERY == 1 || self.dict.is_empty() {
            self.dict = json.into();
        }
        let bytes = Packed::new(json, Arc::clone(&self.dict), &mut self.scratch)?;
        self.last_g = g;
        let chain = self.intern(&r.chain);
        let rec = Rec {
            g,
            chain: Arc::clone(&chain),
            seq: r.seq,
            time_ms: r.time_ms,
            kind: self.intern(&r.kind),
            gate: r.gate.as_deref().map(|g| self.intern(g)),
            agent_id: r.agent_id.as_deref().map(|a| self.intern(a)),
            decision: r.decision.as_deref().map(|d| self.intern(d)),
            evaluation_id: r.evaluation_id.as_deref().map(Box::from),
            bytes: bytes.clone(),
        };
        self.records.push_back(rec);
        self.tails.insert(chain, g);
        if let Some(e) = &r.event {
            self.last_event += 1;
            self.event_ids
                .insert(e.id.clone(), (self.last_event, false));
            self.events.insert(self.last_event, e.clone());
        }
        Ok(bytes)
    }

    /// The record with append number `g`, if kept.
    fn record(&self, g: u64) -> Option<&Rec> {
        let i = self.records.partition_point(|r| r.g < g);
        self.records.get(i).filter(|r| r.g == g)
    }

    fn close_hold(&mut self, hold: &HoldRecord, to: HoldState) {
        self.open_holds.remove(&(hold.expires_ms, hold.id.clone()));
        let forget = hold.expires_ms.saturating_add(GRACE_MS);
        self.closed_holds.insert((forget, hold.id.clone()));
        if let Some(h) = self.holds.get_mut(&hold.id) {
            h.state = to;
        }
    }

    /// Drops up to [`PRUNE_BATCH`] entries of each expiry index that are due at `now_ms`.
    fn prune(&mut self, now_ms: i64) {
        for _ in 0..PRUNE_BATCH {
            match self.nonce_expiry.first() {
                Some((t, _)) if *t <= now_ms => {}
                _ => break,
            }
            if let Some((t, k)) = self.nonce_expiry.pop_first() {
                if self.nonces.get(&k) == Some(&t) {
                    self.nonces.remove(&k);
                }
            }
        }
        for _ in 0..PRUNE_BATCH {
            match self.idempotency_expiry.first() {
                Some((t, _)) if *t <= now_ms => {}
                _ => break,
            }
            if let Some((_, k)) = self.idempotency_expiry.pop_first() {
                self.idempotency.remove(&k);
            }
        }
        for _ in 0..PRUNE_BATCH {
            match self.counter_idle.first() {
                Some((t, _)) if *t <= now_ms => {}
                _ => break,
            }
            if let Some((_, k)) = self.counter_idle.pop_first() {
                self.drop_counter(&k);
            }
        }
        for _ in 0..PRUNE_BATCH {
            match self.closed_holds.first() {
                Some((t, _)) if *t <= now_ms => {}
                _ => break,
            }
            if let Some((_, id)) = self.closed_holds.pop_first() {
                self.holds.remove(&id);
            }
        }
        for _ in 0..PRUNE_BATCH {
            match self.approval_expiry.first() {
                Some((t, _)) if *t <= now_ms => {}
                _ => break,
            }
            let Some((_, id)) = self.approval_expiry.pop_first() else {
                break;
            };
            let token_until = match self.approvals.get(&id).map(|a| &a.state) {
                Some(ApprovalState::Approved { expires_ms, .. }) => Some(*expires_ms),
                _ => None,
            };
            match token_until.map(|t| t.saturating_add(GRACE_MS)) {
                // An approved token still usable (or within its grace): look again then.
                Some(later) if later > now_ms => {
                    self.approval_expiry.insert((later, id));
                }
                _ => {
                    self.approvals.remove(&id);
                }
            }
        }
    }

    /// What `commit` stores under an idempotency key: the decision less what `record` holds.
    fn pack_idempotency(
        &self,
        idem: &IdempotencyRecord,
        record: &StoredRecord,
        bytes: &Packed,
    ) -> Result<Idem> {
        let mut rest = match &idem.decision {
            Value::Object(m) => m.clone(),
            other => {
                let mut m = Map::new();
                m.insert("decision".into(), other.clone());
                m
            }
        };
        let hash = |v: &Value| v.get("hash").cloned();
        let shares = rest
            .get("attestation")
            .is_some_and(|a| hash(a).is_some() && hash(a) == hash(&record.record));
        let mut attestation = None;
        let mut from_record = false;
        if shares {
            rest.remove("attestation");
            attestation = Some(bytes.clone());
            let body = record.record.get("body");
            let same = |k: &str| rest.get(k) == body.and_then(|b| b.get(k));
            if same("checks") && same("remaining") {
                rest.remove("checks");
                rest.remove("remaining");
                from_record = true;
            }
        }
        let rest = serde_json::to_vec(&Value::Object(rest))
            .map_err(|e| Error::Internal(format!("memory store: decision unwritable: {e}")))?;
        Ok(Idem {
            fingerprint: idem.fingerprint.as_str().into(),
            expires_ms: idem.expires_ms,
            rest: rest.into(),
            attestation,
            from_record,
        })
    }
}

impl Idem {
    /// The idempotency record as the engine stored it.
    fn unpack(&self, key: &(String, String)) -> Result<IdempotencyRecord> {
        let bad = |e: serde_json::Error| {
            Error::Internal(format!("memory store: idempotency record unreadable: {e}"))
        };
        let mut decision: Map<String, Value> = serde_json::from_slice(&self.rest).map_err(bad)?;
        if let Some(bytes) = &self.attestation {
            let record = bytes.value()?;
            if self.from_record {
                for k in ["checks", "remaining"] {
                    if let Some(v) = record.get("body").and_then(|b| b.get(k)) {
                        decision.insert(k.into(), v.clone());
                    }
                }
            }
            decision.insert("attestation".into(), record);
        }
        Ok(IdempotencyRecord {
            namespace: key.0.clone(),
            key: key.1.clone(),
            fingerprint: self.fingerprint.to_string(),
            decision: Value::Object(decision),
            expires_ms: self.expires_ms,
        })
    }
}

impl Store for MemoryStore {
    fn registry(&self) -> Option<&dyn super::RegistryStore> {
        Some(self)
    }

    fn catalogs(&self) -> Option<&dyn super::CatalogStore> {
        Some(self)
    }

    fn settlements(&self) -> Option<&dyn super::SettlementStore> {
        Some(self)
    }

    fn read(&self, counters: &[CounterOp], now_ms: i64) -> Result<Vec<Decimal>> {
        super::check_times(counters, now_ms)?;
        let state = self.state.lock();
        let now_ms = state.placed(now_ms);
        Ok(counters.iter().map(|op| state.usage(op, now_ms)).collect())
    }

    fn nonce_seen(&self, key: &str, now_ms: i64) -> Result<bool> {
        Ok(self
            .state
            .lock()
            .nonces
            .get(key)
            .is_some_and(|&t| t > now_ms))
    }

    fn commit(&self, c: &Commit<'_>) -> Result<CommitOutcome> {
        super::distinct_counters(c.counters)?;
        super::check_times(c.counters, c.now_ms)?;
        let mut state = self.state.lock();
        let now_ms = state.placed(c.now_ms);
        if let Some(g) = &c.guard {
            let revoked = g.not_revoked.iter().any(|id| state.revoked.contains(*id));
            let policy = state.policy.as_ref().map_or(0, |p| p.version);
            let issuers = || self.registry.generation();
            if revoked
                || g.policy_version.is_some_and(|v| v != policy)
                || g.issuers_generation.is_some_and(|v| v != issuers())
            {
                return Ok(CommitOutcome::Stale);
            }
        }
        if let Some(idem) = c.idempotency {
            let k = (idem.namespace.clone(), idem.key.clone());
            if let Some(existing) = state.idempotency.get(&k) {
                if existing.expires_ms > c.now_ms {
                    return Ok(CommitOutcome::Replay(existing.unpack(&k)?));
                }
            }
        }
        if let Some(n) = c.nonce {
            if state.nonces.get(n.key).is_some_and(|&t| t > c.now_ms) {
                return Ok(CommitOutcome::NonceReplayed);
            }
        }
        if let Some(u) = c.use_approval {
            let found = state.approvals.get(u.evaluation_id);
            if !found.is_some_and(|a| u.usable(a, c.now_ms)) {
                let found = found.map_or("unknown", |a| a.state.name());
                return Ok(CommitOutcome::ApprovalUnavailable {
                    state: found.to_string(),
                });
            }
        }
        if c.enforce_bounds || c.expect_usage.is_some() {
            let usage: Vec<Decimal> = c
                .counters
                .iter()
                .map(|op| state.usage(op, now_ms))
                .collect();
            let over = c.enforce_bounds
                && c.counters
                    .iter()
                    .zip(&usage)
                    .any(|(op, used)| !op.fits(*used));
            if over || c.expect_usage.is_some_and(|e| e != usage.as_slice()) {
                return Ok(CommitOutcome::Rejected { usage });
            }
        }
        // Every addition on a copy first (one running copy per counter, so two ops on one
        // counter both land), so a failure leaves nothing half-applied.
        let mut updated: Vec<(SlotKey, Counter)> = Vec::with_capacity(c.counters.len());
        for op in c.counters {
            let key = (op.key.clone(), op.window);
            let at = updated.iter().position(|(k, _)| *k == key);
            let mut counter = match at.and_then(|i| updated.get(i)) {
                Some((_, counter)) => counter.clone(),
                None => state
                    .counters
                    .get(&key)
                    .map_or_else(|| Counter::new(op.window, now_ms), |s| s.counter.clone()),
            };
            counter.roll(op.window, now_ms);
            counter.add(op.amount, now_ms)?;
            match at.and_then(|i| updated.get_mut(i)) {
                Some(slot) => slot.1 = counter,
                None => updated.push((key, counter)),
            }
        }
        let held_until = c.hold.map(|h| h.expires_ms);
        for (key, counter) in updated {
            state.put_counter(key, counter, held_until);
        }
        let bytes = state.push_record(c.record)?;
        if let Some(idem) = c.idempotency {
            let packed = state.pack_idempotency(idem, c.record, &bytes)?;
            let k: IdemKey = Arc::new((idem.namespace.clone(), idem.key.clone()));
            if let Some(old) = state.idempotency.insert(Arc::clone(&k), packed) {
                state
                    .idempotency_expiry
                    .remove(&(old.expires_ms, Arc::clone(&k)));
            }
            state.idempotency_expiry.insert((idem.expires_ms, k));
        }
        if let Some(n) = c.nonce {
            state.nonces.insert(n.key.to_string(), n.expires_ms);
            state.nonce_expiry.insert((n.expires_ms, n.key.to_string()));
        }
        if let Some(hold) = c.hold {
            state.open_holds.insert((hold.expires_ms, hold.id.clone()));
            state.holds.insert(hold.id.clone(), hold.clone());
        }
        if let Some(a) = c.approval_request {
            let forget = a.expires_ms.saturating_add(GRACE_MS);
            state
                .approval_expiry
                .insert((forget, a.evaluation_id.clone()));
            state.approvals.insert(a.evaluation_id.clone(), a.clone());
        }
        if let Some(u) = c.use_approval {
            if let Some(a) = state.approvals.get_mut(u.evaluation_id) {
                a.state = ApprovalState::Used {
                    token_id: u.token_id.to_string(),
                };
            }
        }
        state.latest_ms = state.latest_ms.max(c.now_ms);
        let latest = state.latest_ms;
        state.prune(latest);
        Ok(CommitOutcome::Committed)
    }

    fn append(&self, record: &StoredRecord) -> Result<()> {
        self.state.lock().push_record(record)?;
        Ok(())
    }

    fn events_page(
        &self,
        after: u64,
        kinds: &[String],
        limit: usize,
    ) -> Result<Vec<super::StoredEvent>> {
        let state = self.state.lock();
        Ok(state
            .events
            .range(after.saturating_add(1)..)
            .filter(|(_, e)| kinds.is_empty() || kinds.contains(&e.kind))
            .take(limit)
            .map(|(p, e)| super::StoredEvent {
                position: *p,
                event: e.clone(),
            })
            .collect())
    }

    fn event_ack(&self, id: &str, now_ms: i64) -> Result<super::EventAck> {
        let mut state = self.state.lock();
        let Some((position, acked)) = state.event_ids.get(id).copied() else {
            return Ok(super::EventAck::Unknown);
        };
        if acked {
            return Ok(super::EventAck::AlreadyAcked);
        }
        state.events.remove(&position);
        state.event_ids.insert(id.to_string(), (position, true));
        state.acked_events.insert((now_ms, id.to_string()));
        Ok(super::EventAck::Acked)
    }

    fn idempotency_get(
        &self,
        namespace: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<IdempotencyRecord>> {
        let state = self.state.lock();
        let k = (namespace.to_string(), key.to_string());
        match state.idempotency.get(&k) {
            Some(found) if found.expires_ms > now_ms => Ok(Some(found.unpack(&k)?)),
            _ => Ok(None),
        }
    }

    fn revoke(&self, passport_id: &str, _now_ms: i64) -> Result<()> {
        self.state.lock().revoked.insert(passport_id.to_string());
        Ok(())
    }

    fn bundle_put(&self, evaluation_id: &str, bundle: &str) -> Result<()> {
        self.state
            .lock()
            .bundles
            .insert(evaluation_id.to_string(), bundle.to_string());
        Ok(())
    }

    fn bundle_get(&self, evaluation_id: &str) -> Result<Option<String>> {
        Ok(self.state.lock().bundles.get(evaluation_id).cloned())
    }

    fn bundle_delete(&self, evaluation_id: &str) -> Result<bool> {
        Ok(self.state.lock().bundles.remove(evaluation_id).is_some())
    }

    fn policy_version(&self) -> Result<u64> {
        Ok(self.state.lock().policy.as_ref().map_or(0, |p| p.version))
    }

    fn policy_get(&self) -> Result<Option<super::StoredPolicy>> {
        Ok(self.state.lock().policy.clone())
    }

    fn policy_swap(
        &self,
        expected: u64,
        policy: &super::StoredPolicy,
        record: &StoredRecord,
    ) -> Result<bool> {
        let mut state = self.state.lock();
        if state.policy.as_ref().map_or(0, |p| p.version) != expected {
            return Ok(false);
        }
        state.push_record(record)?;
        state.policy = Some(policy.clone());
        Ok(true)
    }

    fn api_key_create(&self, key: &crate::apikey::StoredApiKey) -> Result<bool> {
        let mut state = self.state.lock();
        if state.api_keys.contains_key(&key.record.id) {
            return Ok(false);
        }
        state.api_keys.insert(key.record.id.clone(), key.clone());
        Ok(true)
    }

    fn api_key_get(&self, id: &str) -> Result<Option<crate::apikey::StoredApiKey>> {
        Ok(self.state.lock().api_keys.get(id).cloned())
    }

    fn api_keys(&self) -> Result<Vec<crate::apikey::StoredApiKey>> {
        Ok(self.state.lock().api_keys.values().cloned().collect())
    }

    fn api_key_revoke(&self, id: &str, now_ms: i64) -> Result<Option<i64>> {
        let mut state = self.state.lock();
        Ok(state
            .api_keys
            .get_mut(id)
            .map(|k| *k.record.revoked_at.get_or_insert(now_ms)))
    }

    fn api_key_touch(&self, id: &str, now_ms: i64) -> Result<()> {
        if let Some(k) = self.state.lock().api_keys.get_mut(id) {
            k.record.last_used_at = Some(k.record.last_used_at.map_or(now_ms, |t| t.max(now_ms)));
        }
        Ok(())
    }

    fn first_revoked(&self, ids: &[&str]) -> Result<Option<String>> {
        let state = self.state.lock();
        Ok(ids
            .iter()
            .find(|id| state.revoked.contains(**id))
            .map(|id| id.to_string()))
    }

    fn attestations(&self, filter: &AttestationFilter) -> Result<Vec<StoredRecord>> {
        let state = self.state.lock();
        state
            .records
            .iter()
            .filter(|r| filter.matches_fields(&r.fields()))
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(Rec::to_stored)
            .collect()
    }

    fn attestations_page(
        &self,
        filter: &AttestationFilter,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, Option<u64>)> {
        let state = self.state.lock();
        let from = state.records.partition_point(|r| r.g <= after);
        let mut out = Vec::new();
        let mut last = None;
        for r in state.records.range(from..) {
            if !filter.matches_fields(&r.fields()) {
                continue;
            }
            if out.len() == limit {
                // One more matches: there is a next page.
                return Ok((out, last));
            }
            out.push(r.to_stored()?);
            last = Some(r.g);
        }
        Ok((out, None))
    }

    fn sliding_log_len(&self, key: &CounterKey, window: WindowKind) -> Result<Option<usize>> {
        let state = self.state.lock();
        let slot = state.counters.get(&(key, window) as &dyn SlotRef);
        Ok(slot.and_then(|s| s.counter.log_len()))
    }

    fn chain_tail(&self, chain: &str) -> Result<Option<StoredRecord>> {
        let state = self.state.lock();
        let found = state.tails.get(chain).and_then(|n| state.record(*n));
        found.map(Rec::to_stored).transpose()
    }

    fn prune_due(
        &self,
        retention: &Retention,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let state = self.state.lock();
        let total = u64::try_from(state.records.len()).unwrap_or(u64::MAX);
        let excess = retention.max_records.map_or(0, |m| total.saturating_sub(m));
        let cutoff = retention.cutoff_ms(now_ms);
        let mut out = Vec::new();
        for r in &state.records {
            if out.len() >= limit {
                break;
            }
            if state.tails.get(&r.chain) == Some(&r.g) {
                continue;
            }
            let by_count = u64::try_from(out.len()).unwrap_or(u64::MAX) < excess;
            if !(by_count || cutoff.is_some_and(|c| r.time_ms < c)) {
                break;
            }
            out.push(r.to_stored()?);
        }
        Ok(out)
    }

    fn prune_prefix(&self, cp: &Checkpoint) -> Result<usize> {
        let mut state = self.state.lock();
        let stored = state.checkpoints.get(&cp.chain).map_or(0, |c| c.seq);
        if cp.seq <= stored {
            return Ok(0);
        }
        let tail_seq = state
            .tails
            .get(cp.chain.as_str())
            .and_then(|g| state.record(*g))
            .map(|r| r.seq);
        if tail_seq.is_none_or(|t| t <= cp.seq) {
            return Err(Error::InvalidArgument(format!(
                "chain {}: a checkpoint at seq {} would prune the chain's newest record",
                cp.chain, cp.seq
            )));
        }
        // The chain's records up to the checkpoint lie in the oldest part of the log: take them
        // out from the front, putting back what belongs to other chains.
        let mut others = Vec::new();
        let mut removed = 0usize;
        while let Some(r) = state.records.pop_front() {
            if *r.chain == *cp.chain {
                if r.seq > cp.seq {
                    others.push(r);
                    break;
                }
                removed += 1;
                // A pruned decision's run bundle goes with it.
                if let (true, Some(e)) = (&*r.kind == "decision", r.evaluation_id.as_deref()) {
                    state.bundles.remove(e);
                }
                if r.seq == cp.seq {
                    break;
                }
            } else {
                others.push(r);
            }
        }
        for entry in others.into_iter().rev() {
            state.records.push_front(entry);
        }
        state.checkpoints.insert(cp.chain.clone(), cp.clone());
        Ok(removed)
    }

    fn checkpoint(&self, chain: &str) -> Result<Option<Checkpoint>> {
        Ok(self.state.lock().checkpoints.get(chain).cloned())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let state = self.state.lock();
        let mut out: Vec<Checkpoint> = state.checkpoints.values().cloned().collect();
        out.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(out)
    }

    /// Closed holds and decided approvals are also dropped as commits go (see the module docs);
    /// this takes those older than `before_ms` now.
    fn prune_closed(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let mut state = self.state.lock();
        let holds: Vec<String> = state
            .holds
            .values()
            .filter(|h| h.state != HoldState::Open && h.expires_ms < before_ms)
            .take(limit)
            .map(|h| h.id.clone())
            .collect();
        for id in &holds {
            state.holds.remove(id);
        }
        let approvals: Vec<String> = state
            .approvals
            .values()
            .filter(|a| approval_done_before(a) < before_ms)
            .take(limit.saturating_sub(holds.len()))
            .map(|a| a.evaluation_id.clone())
            .collect();
        for id in &approvals {
            state.approvals.remove(id);
        }
        // Decision events acknowledged before `before_ms` (a later ack of one: EVENT_UNKNOWN).
        let events: Vec<(i64, String)> = state
            .acked_events
            .iter()
            .take_while(|(at, _)| *at < before_ms)
            .take(limit.saturating_sub(holds.len() + approvals.len()))
            .cloned()
            .collect();
        for e in &events {
            state.acked_events.remove(e);
            state.event_ids.remove(&e.1);
        }
        Ok(holds.len() + approvals.len() + events.len())
    }

    fn default_retention(&self) -> Retention {
        Retention {
            max_age_ms: None,
            max_records: Some(MEMORY_DEFAULT_RECORDS),
        }
    }

    fn checks_guard(&self) -> bool {
        true
    }

    fn prunes_inline(&self) -> bool {
        true
    }

    fn counters(&self, filter: &CounterFilter, now_ms: i64) -> Result<Vec<CounterState>> {
        counters_by_pages(self, filter, now_ms)
    }

    fn counters_page(
        &self,
        filter: &CounterFilter,
        after: Option<&CounterPosition>,
        limit: usize,
        now_ms: i64,
    ) -> Result<(Vec<CounterState>, Option<CounterPosition>)> {
        let state = self.state.lock();
        let now_ms = state.placed(now_ms);
        let (keys, visited) = state.walk(filter, after, limit.saturating_add(1));
        self.visited.fetch_add(visited, Ordering::Relaxed);
        let mut page: Vec<CounterState> = keys
            .into_iter()
            .filter_map(|(key, window)| {
                let s = state.counters.get(&(&key, window) as &dyn SlotRef)?;
                Some(CounterState {
                    used: s.counter.usage(window, now_ms),
                    window_start_ms: window.fixed_start(now_ms),
                    key,
                    window,
                })
            })
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        let next = match more {
            true => page.last().map(CounterPosition::of),
            false => None,
        };
        Ok((page, next))
    }

    fn reset_counters(&self, filter: &CounterFilter) -> Result<usize> {
        let mut state = self.state.lock();
        let (keys, visited) = state.walk(filter, None, usize::MAX);
        self.visited.fetch_add(visited, Ordering::Relaxed);
        for (k, w) in keys.iter().cloned() {
            state.drop_counter(&(k, w));
        }
        Ok(keys.len())
    }

    fn hold_get(&self, id: &str) -> Result<Option<HoldRecord>> {
        Ok(self.state.lock().holds.get(id).cloned())
    }

    fn hold_resolve(&self, r: &HoldResolution<'_>) -> Result<HoldOutcome> {
        let mut state = self.state.lock();
        let now_ms = state.placed(r.now_ms);
        let Some(hold) = state.holds.get(r.hold_id).cloned() else {
            return Ok(HoldOutcome::Unknown);
        };
        if hold.state != HoldState::Open {
            return Ok(HoldOutcome::NotOpen(hold.state));
        }
        if r.amounts.len() != hold.ops.len() {
            return Err(Error::Internal(format!(
                "hold {} has {} counters, {} amounts given",
                hold.id,
                hold.ops.len(),
                r.amounts.len()
            )));
        }
        for h in &hold.ops {
            h.op.window.check_time(r.now_ms)?;
        }
        // An amount above its reservation must still fit under the bound.
        let usage: Vec<Decimal> = hold
            .ops
            .iter()
            .map(|h| state.usage(&h.op, now_ms))
            .collect();
        let over = hold
            .ops
            .iter()
            .zip(r.amounts)
            .zip(&usage)
            .any(|((h, new), used)| {
                let delta = *new - h.op.amount;
                delta > Decimal::ZERO && used.checked_add(delta).is_none_or(|t| t > h.op.max)
            });
        if over && r.enforce_bounds {
            return Ok(HoldOutcome::Rejected { usage });
        }
        // Adjusted copies first (all or nothing on overflow), one running copy per counter: two
        // ops of a hold on one counter both land.
        let mut updated: HashMap<SlotKey, Counter> = HashMap::new();
        for (h, new) in hold.ops.iter().zip(r.amounts) {
            let key = (h.op.key.clone(), h.op.window);
            let counter = match updated.remove(&key) {
                Some(c) => c,
                None => match state.counters.get(&key) {
                    Some(s) => s.counter.clone(),
                    None => continue,
                },
            };
            let mut counter = counter;
            counter.adjust(h.op.window, hold.created_ms, *new - h.op.amount, now_ms)?;
            updated.insert(key, counter);
        }
        for (key, counter) in updated {
            state.put_counter(key, counter, None);
        }
        state.close_hold(&hold, r.state);
        state.push_record(r.record)?;
        state.latest_ms = state.latest_ms.max(r.now_ms);
        Ok(HoldOutcome::Resolved)
    }

    fn holds_due(&self, now_ms: i64, limit: usize) -> Result<Vec<DueHold>> {
        let state = self.state.lock();
        Ok(state
            .open_holds
            .iter()
            .take_while(|(expires, _)| *expires <= now_ms)
            .take(limit)
            .map(|(_, id)| match state.holds.get(id) {
                Some(h) => DueHold::Hold(h.clone()),
                None => DueHold::Unreadable {
                    id: id.clone(),
                    reason: "listed as open but not stored".into(),
                },
            })
            .collect())
    }

    fn hold_quarantine(&self, id: &str) -> Result<bool> {
        let mut state = self.state.lock();
        let listed: Vec<(i64, String)> = state
            .open_holds
            .iter()
            .filter(|(_, h)| h == id)
            .cloned()
            .collect();
        for k in &listed {
            state.open_holds.remove(k);
        }
        Ok(!listed.is_empty())
    }

    fn approval_get(&self, evaluation_id: &str) -> Result<Option<ApprovalRecord>> {
        Ok(self.state.lock().approvals.get(evaluation_id).cloned())
    }

    fn approval_resolve(
        &self,
        evaluation_id: &str,
        to: &ApprovalState,
        record: &StoredRecord,
    ) -> Result<Option<ApprovalState>> {
        let mut state = self.state.lock();
        let Some(a) = state.approvals.get_mut(evaluation_id) else {
            return Ok(None);
        };
        let found = a.state.clone();
        if found == ApprovalState::Pending {
            a.state = to.clone();
            state.push_record(record)?;
        }
        Ok(Some(found))
    }
}

/// When an approval stops mattering: its request can no longer be approved and any token it
/// gave has expired (SQLite stores the same value in a column).
pub(crate) fn approval_done_before(a: &ApprovalRecord) -> i64 {
    match &a.state {
        ApprovalState::Approved { expires_ms, .. } => a.expires_ms.max(*expires_ms),
        _ => a.expires_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{HeldOp, SettleRule};
    use serde_json::json;

    const MIN: i64 = 60_000;

    /// The borrowed lookup key orders as the owned one (what `Borrow` requires of it), and
    /// finds every slot.
    #[test]
    fn slot_refs_order_as_slot_keys() {
        let parts = ["", "a", "ab", "b", "gate:x", "é"];
        let windows = [
            WindowKind::Forever,
            WindowKind::Fixed { size_ms: MIN },
            WindowKind::Fixed { size_ms: 2 * MIN },
            WindowKind::Sliding { size_ms: MIN },
        ];
        let mut keys: Vec<SlotKey> = Vec::new();
        for (i, n) in parts.iter().enumerate() {
            for c in &parts[i % 3..] {
                for (j, sc) in parts.iter().enumerate().skip(i % 2) {
                    let w = windows[(i + j) % windows.len()];
                    let key = CounterKey {
                        namespace: (*n).into(),
                        constraint: (*c).into(),
                        scope: (*sc).into(),
                    };
                    keys.push((key, w));
                }
            }
        }
        for a in &keys {
            for b in &keys {
                let (ra, rb) = ((&a.0, a.1), (&b.0, b.1));
                let (ra, rb): (&dyn SlotRef, &dyn SlotRef) = (&ra, &rb);
                assert_eq!(a.cmp(b), ra.cmp(rb));
            }
        }
        let map: BTreeMap<SlotKey, usize> = keys.iter().cloned().zip(0..).collect();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(map.get(&(&k.0, k.1) as &dyn SlotRef), Some(&i));
        }
    }

    fn op(window: WindowKind, amount: i64, max: i64) -> CounterOp {
        CounterOp {
            key: CounterKey {
                namespace: "gate:g".into(),
                constraint: "c".into(),
                scope: "s".into(),
            },
            window,
            amount: Decimal::from(amount),
            need: Decimal::from(amount),
            max: Decimal::from(max),
        }
    }

    fn record(seq: u64, now: i64) -> StoredRecord {
        StoredRecord {
            chain: "ch".into(),
            seq,
            time_ms: now,
            kind: "decision".into(),
            gate: Some("g".into()),
            agent_id: Some("a".into()),
            decision: Some("allow".into()),
            evaluation_id: Some(format!("ev{seq}")),
            record: json!({
                "body": {"seq": seq, "checks": [{"constraint": "c", "passed": true}],
                         "remaining": {"c": "9"}},
                "hash": format!("h{seq}"), "sig": "s", "kid": "k"})
            .into(),
            event: None,
        }
    }

    fn commit(
        s: &MemoryStore,
        seq: u64,
        now: i64,
        ops: &[CounterOp],
        idem: Option<&IdempotencyRecord>,
        hold: Option<&HoldRecord>,
    ) -> CommitOutcome {
        s.commit(&Commit {
            now_ms: now,
            counters: ops,
            enforce_bounds: true,
            record: &record(seq, now),
            idempotency: idem,
            hold,
            approval_request: None,
            use_approval: None,
            nonce: None,
            guard: None,
            expect_usage: None,
        })
        .unwrap()
    }

    fn idem(key: &str, r: &StoredRecord, expires_ms: i64) -> IdempotencyRecord {
        IdempotencyRecord {
            namespace: "passport:p".into(),
            key: key.into(),
            fingerprint: "fp".into(),
            decision: json!({"decision": "allow", "allowed": true, "evaluation_id": "ev",
                             "checks": r.record["body"]["checks"],
                             "remaining": r.record["body"]["remaining"],
                             "attestation": *r.record}),
            expires_ms,
        }
    }

    /// The idempotency record shares its decision's attestation and checks with the record list
    /// and comes back whole; once expired (and a commit later) it is gone from memory.
    #[test]
    fn idempotency_records_share_the_record_and_are_pruned_after_expiry() {
        let s = MemoryStore::new();
        let r = record(1, 1_000);
        let i = idem("k1", &r, 5_000);
        assert_eq!(
            commit(&s, 1, 1_000, &[], Some(&i), None),
            CommitOutcome::Committed
        );
        {
            let st = s.state.lock();
            let packed = st.idempotency.values().next().unwrap();
            assert!(packed.from_record && packed.attestation.is_some());
            let back = String::from_utf8(packed.rest.to_vec()).unwrap();
            assert!(!back.contains("checks") && !back.contains("attestation"));
        }
        let got = s
            .idempotency_get("passport:p", "k1", 2_000)
            .unwrap()
            .unwrap();
        assert_eq!(got.decision, i.decision);
        assert_eq!(got.fingerprint, "fp");
        match commit(&s, 2, 2_000, &[], Some(&i), None) {
            CommitOutcome::Replay(back) => assert_eq!(back.decision, i.decision),
            other => panic!("expected a replay, got {other:?}"),
        }
        // A decision whose attestation is not this commit's record is kept whole.
        let other = IdempotencyRecord {
            key: "k2".into(),
            ..idem("k2", &record(9, 0), 5_000)
        };
        commit(&s, 3, 2_000, &[], Some(&other), None);
        let got = s
            .idempotency_get("passport:p", "k2", 2_000)
            .unwrap()
            .unwrap();
        assert_eq!(got.decision, other.decision);
        // Expired: not returned, and pruned by the next commit.
        assert!(s
            .idempotency_get("passport:p", "k1", 5_000)
            .unwrap()
            .is_none());
        commit(&s, 4, 5_000, &[], None, None);
        assert!(s.state.lock().idempotency.is_empty());
        assert!(s.state.lock().idempotency_expiry.is_empty());
    }

    /// A fixed-window counter is dropped a grace period after its window ended; a request
    /// stamped in that old window afterwards counts in a later window, never a reopened one.
    #[test]
    fn counters_of_ended_windows_are_pruned_and_never_reopened() {
        let s = MemoryStore::new();
        let fixed = WindowKind::Fixed { size_ms: MIN };
        let o = op(fixed, 10, 10);
        assert_eq!(
            commit(&s, 1, 5_000, std::slice::from_ref(&o), None, None),
            CommitOutcome::Committed
        );
        assert!(matches!(
            commit(&s, 2, 6_000, std::slice::from_ref(&o), None, None),
            CommitOutcome::Rejected { .. }
        ));
        assert_eq!(s.state.lock().counters.len(), 1);
        // Long after the window (and its grace): the next commit drops the counter.
        let later = MIN + GRACE_MS + 1;
        commit(&s, 3, later, &[], None, None);
        assert!(s.state.lock().counters.is_empty());
        assert!(s.state.lock().counter_idle.is_empty());
        // An engine whose clock is far behind: its request lands in a later window than the one
        // dropped (placed at latest - grace), so the spent window stays spent.
        let placed = s.state.lock().placed(6_000);
        assert!(fixed.fixed_start(placed) > fixed.fixed_start(6_000));
        // A counter that is still in use is kept.
        let daily = op(
            WindowKind::Fixed {
                size_ms: 86_400_000,
            },
            1,
            100,
        );
        commit(&s, 4, later, std::slice::from_ref(&daily), None, None);
        commit(&s, 5, later + GRACE_MS + 1, &[], None, None);
        assert_eq!(s.state.lock().counters.len(), 1);
        // A quota never is.
        let quota = op(WindowKind::Forever, 1, 100);
        commit(&s, 6, later, std::slice::from_ref(&quota), None, None);
        commit(&s, 7, i64::MAX / 2, &[], None, None);
        commit(&s, 8, i64::MAX / 2, &[], None, None);
        assert_eq!(s.read(&[quota], i64::MAX / 2).unwrap(), [Decimal::ONE]);
    }

    /// A calendar-day counter is kept through its local day (23 or 25 hours across a DST change,
    /// not a fixed 24) and dropped a grace period after that day ended.
    #[test]
    fn calendar_counters_are_pruned_after_their_local_day() {
        let s = MemoryStore::new();
        let day = WindowKind::Calendar {
            unit: crate::calendar::CalendarUnit::Day,
            tz: "Europe/Berlin".parse().unwrap(),
        };
        // 2024-10-27 in Berlin: from 2024-10-26T22:00Z, 25 hours long.
        let midnight = 1_729_980_000_000;
        let end = midnight + 25 * 3_600_000;
        let o = op(day, 1, 10);
        assert_eq!(
            commit(&s, 1, midnight, std::slice::from_ref(&o), None, None),
            CommitOutcome::Committed
        );
        // 24 h + grace later the day is not over yet: kept.
        commit(
            &s,
            2,
            midnight + 24 * 3_600_000 + GRACE_MS + 1,
            &[],
            None,
            None,
        );
        assert_eq!(s.state.lock().counters.len(), 1);
        assert_eq!(
            s.read(std::slice::from_ref(&o), end - 1).unwrap(),
            [Decimal::ONE]
        );
        // After the day's end and the grace: dropped.
        commit(&s, 3, end + GRACE_MS + 1, &[], None, None);
        assert!(s.state.lock().counters.is_empty());
        assert!(s.state.lock().counter_idle.is_empty());
    }

    /// Closed holds are forgotten a grace period after their expiry; open ones never by pruning.
    #[test]
    fn closed_holds_are_pruned_after_their_grace() {
        let s = MemoryStore::new();
        let o = op(WindowKind::Forever, 1, 100);
        let hold = |id: &str| HoldRecord {
            id: id.into(),
            evaluation_id: "ev".into(),
            gate: "g".into(),
            agent_id: None,
            passport_id: None,
            created_ms: 1_000,
            expires_ms: 2_000,
            ops: vec![HeldOp {
                op: o.clone(),
                settle: SettleRule::Keep,
            }],
            state: HoldState::Open,
        };
        commit(
            &s,
            1,
            1_000,
            std::slice::from_ref(&o),
            None,
            Some(&hold("h1")),
        );
        commit(
            &s,
            2,
            1_000,
            std::slice::from_ref(&o),
            None,
            Some(&hold("h2")),
        );
        let rec = record(3, 1_500);
        let out = s
            .hold_resolve(&HoldResolution {
                hold_id: "h1",
                now_ms: 1_500,
                state: HoldState::Settled,
                amounts: &[Decimal::ONE],
                enforce_bounds: true,
                record: &rec,
            })
            .unwrap();
        assert_eq!(out, HoldOutcome::Resolved);
        commit(&s, 4, 2_000 + GRACE_MS - 1, &[], None, None);
        assert!(s.hold_get("h1").unwrap().is_some());
        commit(&s, 5, 2_000 + GRACE_MS, &[], None, None);
        assert!(s.hold_get("h1").unwrap().is_none());
        assert_eq!(s.hold_get("h2").unwrap().unwrap().state, HoldState::Open);
        assert_eq!(s.holds_due(i64::MAX, 10).unwrap().len(), 1);
    }

    /// Records keep their fields and bytes; chain_tail answers from the tail index.
    #[test]
    fn records_round_trip_and_chain_tail_is_indexed() {
        let s = MemoryStore::new();
        for seq in 1..=3 {
            commit(&s, seq, 1_000, &[], None, None);
        }
        let mut other = record(1, 1_000);
        other.chain = "other".into();
        s.append(&other).unwrap();
        let all = s.attestations(&AttestationFilter::default()).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[0], record(1, 1_000));
        assert_eq!(s.chain_tail("ch").unwrap().unwrap(), record(3, 1_000));
        assert_eq!(s.chain_tail("other").unwrap().unwrap().seq, 1);
        assert!(s.chain_tail("nope").unwrap().is_none());
        let (page, next) = s
            .attestations_page(
                &AttestationFilter {
                    chain: Some("ch".into()),
                    ..AttestationFilter::default()
                },
                1,
                1,
            )
            .unwrap();
        assert_eq!(page, vec![record(2, 1_000)]);
        assert_eq!(next, Some(2));
        let st = s.state.lock();
        assert!(Arc::ptr_eq(&st.records[0].chain, &st.records[1].chain));
    }

    /// Found by the differential test: a hold that reserved nothing on a sliding counter left
    /// it reading zero, so it was pruned — and a settle above the reservation then had no
    /// counter to add to (SQLite and Redis counted it). A counter is kept while a hold on it
    /// may still settle.
    #[test]
    fn a_counter_with_an_open_hold_is_kept_until_the_hold_expires() {
        let s = MemoryStore::new();
        let sliding = WindowKind::Sliding { size_ms: MIN };
        let zero = op(sliding, 0, 100);
        let hold = HoldRecord {
            id: "h".into(),
            evaluation_id: "ev".into(),
            gate: "g".into(),
            agent_id: None,
            passport_id: None,
            created_ms: 1_000,
            expires_ms: 1_000 + 2 * GRACE_MS,
            ops: vec![HeldOp {
                op: zero.clone(),
                settle: SettleRule::Actual {
                    field: "/cost".into(),
                },
            }],
            state: HoldState::Open,
        };
        commit(&s, 1, 1_000, std::slice::from_ref(&zero), None, Some(&hold));
        // Later commits prune what is idle: not this counter.
        let later = 1_000 + GRACE_MS + MIN;
        commit(&s, 2, later, &[], None, None);
        commit(&s, 3, later, &[], None, None);
        assert_eq!(s.state.lock().counters.len(), 1);
        let rec = record(4, later);
        let out = s
            .hold_resolve(&HoldResolution {
                hold_id: "h",
                now_ms: later,
                state: HoldState::Settled,
                amounts: &[Decimal::from(7)],
                enforce_bounds: false,
                record: &rec,
            })
            .unwrap();
        assert_eq!(out, HoldOutcome::Resolved);
        assert_eq!(s.read(&[zero], later).unwrap(), [Decimal::from(7)]);
    }
}
