//! [`Store`] for [`RedisStore`]: every write one script, reads plain commands or read-only scripts.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use std::sync::atomic::Ordering;

use super::counter_index::{self, Index, INDEX_BATCH};
use super::scripts::{eval, Call};
use super::{
    bad_reply, chain_conflict, record_from, scaled, unscaled, Keys, RedisStore, GRACE_MS, RETAIN_MS,
};
use crate::error::{Error, Result};
use crate::store::{
    counters_by_pages, ApprovalRecord, ApprovalState, AttestationFilter, Commit, CommitOutcome,
    CounterFilter, CounterKey, CounterOp, CounterPosition, CounterState, DueHold, HoldOutcome,
    HoldRecord, HoldResolution, HoldState, IdempotencyRecord, Store, StoredRecord, WindowKind,
};

/// Records fetched per round trip when scanning.
const PAGE: usize = 512;

/// The index range a counter filter walks (see `counter_index.rs`): the scope-first index for a
/// filter with a scope (unless namespace and constraint are both given), else the
/// namespace-first one, bounded by the prefix the filter fixes.
struct Walk {
    index: Index,
    index_key: String,
    /// `ZRANGE … BYLEX` bounds.
    lower: Vec<u8>,
    upper: Vec<u8>,
}

impl Walk {
    fn new(keys: &Keys, filter: &CounterFilter, after: Option<&CounterPosition>) -> Walk {
        let (ns_key, scope_key) = counter_index::keys(keys);
        let scope_first = match (&filter.scope, &filter.namespace, &filter.constraint) {
            (Some(_), Some(_), Some(_)) | (None, _, _) => None,
            (Some(s), ns, _) => Some((s, ns)),
        };
        let above = |prefix: &[u8]| {
            let mut b = counter_index::bound(b'(', prefix);
            b.push(0xff);
            b
        };
        if let Some((scope, ns)) = scope_first {
            let mut parts = vec![scope.as_str()];
            parts.extend(ns.as_deref());
            let prefix = counter_index::prefix(&parts);
            let floor = counter_index::bound(b'[', &prefix);
            let lower = match after {
                None => floor,
                Some(a) => {
                    let at = [scope.as_str(), &a.key.namespace, &a.key.constraint];
                    // Strictly after `a` in listing order, among this scope's counters.
                    let from = match scope.as_str().cmp(&*a.key.scope) {
                        std::cmp::Ordering::Equal => counter_index::bound(
                            b'(',
                            counter_index::scope_member(&a.key, a.window).as_bytes(),
                        ),
                        std::cmp::Ordering::Greater => {
                            counter_index::bound(b'[', &counter_index::prefix(&at))
                        }
                        std::cmp::Ordering::Less => above(&counter_index::prefix(&at)),
                    };
                    max_bound(floor, from)
                }
            };
            return Walk {
                index: Index::Scope,
                index_key: scope_key,
                lower,
                upper: above(&prefix),
            };
        }
        let parts: Vec<&str> = match (&filter.namespace, &filter.constraint, &filter.scope) {
            (Some(n), Some(c), Some(s)) => vec![n, c, s],
            (Some(n), Some(c), None) => vec![n, c],
            (Some(n), _, _) => vec![n],
            (None, _, _) => vec![],
        };
        let (floor, upper) = match parts.is_empty() {
            true => (b"-".to_vec(), b"+".to_vec()),
            false => {
                let prefix = counter_index::prefix(&parts);
                (counter_index::bound(b'[', &prefix), above(&prefix))
            }
        };
        let lower = match after {
            None => floor,
            Some(a) => {
                let from = counter_index::bound(
                    b'(',
                    counter_index::ns_member(&a.key, a.window).as_bytes(),
                );
                match parts.is_empty() {
                    true => from,
                    false => max_bound(floor, from),
                }
            }
        };
        Walk {
            index: Index::Namespace,
            index_key: ns_key,
            lower,
            upper,
        }
    }
}

/// The stricter of two lower `BYLEX` bounds (`[x` or `(x`).
fn max_bound(a: Vec<u8>, b: Vec<u8>) -> Vec<u8> {
    match a.get(1..).cmp(&b.get(1..)) {
        std::cmp::Ordering::Greater => a,
        std::cmp::Ordering::Less => b,
        std::cmp::Ordering::Equal if a.first() == Some(&b'(') => a,
        std::cmp::Ordering::Equal => b,
    }
}

#[derive(Serialize, Deserialize)]
struct IdemRow {
    namespace: String,
    key: String,
    fingerprint: String,
    decision: Value,
    expires_ms: i64,
}

fn idem_from(text: &str) -> Result<IdempotencyRecord> {
    let r: IdemRow = serde_json::from_str(text).map_err(|e| {
        Error::StoreUnavailable(format!("stored idempotency record unreadable: {e}"))
    })?;
    Ok(IdempotencyRecord {
        namespace: r.namespace,
        key: r.key,
        fingerprint: r.fingerprint,
        decision: r.decision,
        expires_ms: r.expires_ms,
    })
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()))
}

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::StoreUnavailable(format!("stored {what} unreadable: {e}")))
}

fn usages(reply: &[String]) -> Result<Vec<Decimal>> {
    reply.iter().map(|s| unscaled(s)).collect()
}

fn hold_state(s: &str) -> Result<HoldState> {
    HoldState::from_stored(s)
}

/// An API key from its stored JSON and times.
fn api_key_from(
    text: &str,
    revoked: Option<i64>,
    used: Option<i64>,
) -> Result<crate::apikey::StoredApiKey> {
    let mut key: crate::apikey::StoredApiKey = serde_json::from_str(text)
        .map_err(|e| Error::StoreUnavailable(format!("stored api key unreadable: {e}")))?;
    key.record.revoked_at = revoked;
    key.record.last_used_at = used;
    Ok(key)
}

impl RedisStore {
    pub(super) fn script(
        &self,
        s: &super::scripts::Script,
        call: &Call,
        write: bool,
    ) -> Result<Vec<String>> {
        let f = |c: &mut ::redis::Connection| eval(c, s, call);
        let out = if write { self.rw(f) } else { self.ro(f) };
        out.map_err(|e| match e {
            Error::StoreUnavailable(m) => {
                Error::StoreUnavailable(format!("{m} (script {})", s.name))
            }
            other => other,
        })
    }

    fn record_keys(&self, call: &mut Call) {
        call.key(self.keys.k("r"))
            .key(self.keys.k("rseq"))
            .key(self.keys.k("tails"));
    }

    /// Records by global number, in that order (missing numbers skipped).
    fn records_at(&self, gs: &[String]) -> Result<Vec<StoredRecord>> {
        if gs.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Option<String>> =
            self.ro(|c| ::redis::cmd("HMGET").arg(self.keys.k("r")).arg(gs).query(c))?;
        texts
            .into_iter()
            .flatten()
            .map(|t| record_from(&t))
            .collect()
    }
}

impl Store for RedisStore {
    fn registry(&self) -> Option<&dyn crate::store::RegistryStore> {
        Some(self)
    }

    fn catalogs(&self) -> Option<&dyn crate::store::CatalogStore> {
        Some(self)
    }

    fn settlements(&self) -> Option<&dyn crate::store::SettlementStore> {
        Some(self)
    }

    fn persistent(&self) -> bool {
        true
    }

    fn checks_guard(&self) -> bool {
        true
    }

    fn nonce_seen(&self, key: &str, now_ms: i64) -> Result<bool> {
        let until: Option<i64> =
            self.ro(|c| ::redis::cmd("GET").arg(self.keys.nonce(key)).query(c))?;
        Ok(until.is_some_and(|t| t > now_ms))
    }

    fn read(&self, counters: &[CounterOp], now_ms: i64) -> Result<Vec<Decimal>> {
        let mut call = Call::default();
        call.arg(counters.len());
        for op in counters {
            call.op(&self.keys, op, op.amount, now_ms, None)?;
        }
        usages(&self.script(&self.scripts.read, &call, false)?)
    }

    fn commit(&self, c: &Commit<'_>) -> Result<CommitOutcome> {
        crate::store::distinct_counters(c.counters)?;
        let k = &self.keys;
        let mut call = Call::default();
        self.record_keys(&mut call);
        let (ns_index, scope_index) = counter_index::keys(k);
        call.key(ns_index).key(scope_index);
        call.arg(c.now_ms).arg(u8::from(c.enforce_bounds));
        let guard = c.guard.unwrap_or_default();
        let text = |v: Option<u64>| v.map_or_else(String::new, |v| v.to_string());
        call.key(k.k("revoked"))
            .key(k.k("issuers:gen"))
            .key(k.k("policy"))
            .arg(text(guard.issuers_generation))
            .arg(text(guard.policy_version))
            .arg(guard.not_revoked.len());
        for id in guard.not_revoked {
            call.arg(*id);
        }
        match c.idempotency {
            Some(i) => {
                let row = IdemRow {
                    namespace: i.namespace.clone(),
                    key: i.key.clone(),
                    fingerprint: i.fingerprint.clone(),
                    decision: i.decision.clone(),
                    expires_ms: i.expires_ms,
                };
                call.key(k.idempotency(&i.namespace, &i.key))
                    .arg(1)
                    .arg(to_json(&row)?)
                    .arg(i.expires_ms)
                    .arg(i.expires_ms.saturating_sub(c.now_ms));
            }
            None => {
                call.key(k.k("none")).arg(0).arg("").arg(0).arg(0);
            }
        }
        match c.use_approval {
            Some(u) => {
                let used = ApprovalState::Used {
                    token_id: u.token_id.to_string(),
                };
                call.key(k.approval(u.evaluation_id))
                    .arg(u.token_id)
                    .arg(to_json(&used)?)
                    .arg(u.fingerprint);
            }
            None => {
                call.key(k.k("none")).arg("").arg("").arg("");
            }
        }
        match c.nonce {
            Some(n) => {
                call.key(k.nonce(n.key))
                    .arg(n.expires_ms)
                    .arg(n.expires_ms.saturating_sub(c.now_ms).max(1));
            }
            None => {
                call.key(k.k("none")).arg(0).arg(0);
            }
        }
        match c.hold {
            Some(h) => {
                call.key(k.hold(&h.id))
                    .key(k.k("holds"))
                    .arg(to_json(h)?)
                    .arg(&h.id)
                    .arg(h.expires_ms);
            }
            None => {
                call.key(k.k("none"))
                    .key(k.k("holds"))
                    .arg("")
                    .arg("")
                    .arg(0);
            }
        }
        match c.approval_request {
            Some(a) => {
                let ttl = a
                    .expires_ms
                    .saturating_sub(c.now_ms)
                    .saturating_add(RETAIN_MS);
                call.key(k.approval(&a.evaluation_id))
                    .arg(to_json(a)?)
                    .arg(to_json(&a.state)?)
                    .arg(ttl.max(1))
                    .arg(&a.fingerprint);
            }
            None => {
                call.key(k.k("none")).arg("").arg("").arg(0).arg("");
            }
        }
        call.record(k, c.record)?;
        call.arg(c.counters.len());
        let hold_expires = c.hold.map(|h| h.expires_ms);
        for (i, op) in c.counters.iter().enumerate() {
            let expect = match c.expect_usage.map(|e| e.get(i)) {
                Some(Some(u)) => scaled(*u)?,
                Some(None) => {
                    return Err(Error::Internal("expect_usage shorter than counters".into()))
                }
                None => String::new(),
            };
            call.op(k, op, op.amount, c.now_ms, hold_expires)?
                .op_identity(op)
                .arg(expect);
        }
        let reply = self.script(&self.scripts.reserve, &call, true)?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(CommitOutcome::Committed),
            Some("stale") => Ok(CommitOutcome::Stale),
            Some("replay") => Ok(CommitOutcome::Replay(idem_from(
                reply.get(1).map_or("", String::as_str),
            )?)),
            Some("nonce") => Ok(CommitOutcome::NonceReplayed),
            Some("approval") => Ok(CommitOutcome::ApprovalUnavailable {
                state: reply.get(1).cloned().unwrap_or_else(|| "unknown".into()),
            }),
            Some("rejected") => Ok(CommitOutcome::Rejected {
                usage: usages(reply.get(1..).unwrap_or_default())?,
            }),
            Some("chain") => Err(chain_conflict(
                c.record,
                reply.get(1).map_or("?", String::as_str),
            )),
            Some("overflow") => Err(Error::payload("/", "counter total would overflow")),
            _ => Err(bad_reply("reserve", &reply)),
        }
    }

    fn append(&self, record: &StoredRecord) -> Result<()> {
        let mut call = Call::default();
        self.record_keys(&mut call);
        call.record(&self.keys, record)?;
        let reply = self.script(&self.scripts.append, &call, true)?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("chain") => Err(chain_conflict(
                record,
                reply.get(1).map_or("?", String::as_str),
            )),
            _ => Err(bad_reply("append", &reply)),
        }
    }

    fn events_page(
        &self,
        after: u64,
        kinds: &[String],
        limit: usize,
    ) -> Result<Vec<crate::store::StoredEvent>> {
        self.events_after(after, kinds, limit)
    }

    fn event_ack(&self, id: &str, _now_ms: i64) -> Result<crate::store::EventAck> {
        self.ack(id)
    }

    fn idempotency_get(
        &self,
        namespace: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<IdempotencyRecord>> {
        let k = self.keys.idempotency(namespace, key);
        let (exp, json): (Option<i64>, Option<String>) = self.ro(|c| {
            ::redis::cmd("HMGET")
                .arg(&k)
                .arg("exp")
                .arg("json")
                .query(c)
        })?;
        match (exp, json) {
            (Some(exp), Some(json)) if exp > now_ms => Ok(Some(idem_from(&json)?)),
            _ => Ok(None),
        }
    }

    fn revoke(&self, passport_id: &str, _now_ms: i64) -> Result<()> {
        let k = self.keys.k("revoked");
        self.rw(|c| {
            ::redis::cmd("SADD")
                .arg(&k)
                .arg(passport_id)
                .query::<i64>(c)
        })?;
        Ok(())
    }

    fn session_records(&self, session_id: &str, limit: usize) -> Result<Vec<StoredRecord>> {
        let ix = self.keys.index("session", session_id);
        let end = i64::try_from(limit).unwrap_or(i64::MAX).saturating_sub(1);
        let gs: Vec<String> =
            self.ro(|c| ::redis::cmd("ZRANGE").arg(&ix).arg(0).arg(end).query(c))?;
        self.records_at(&gs)
    }

    fn bundle_put(&self, evaluation_id: &str, bundle: &str) -> Result<()> {
        let k = self.keys.k("b");
        self.rw(|c| {
            ::redis::cmd("HSET")
                .arg(&k)
                .arg(evaluation_id)
                .arg(bundle)
                .query::<i64>(c)
        })?;
        Ok(())
    }

    fn bundle_get(&self, evaluation_id: &str) -> Result<Option<String>> {
        let k = self.keys.k("b");
        self.ro(|c| ::redis::cmd("HGET").arg(&k).arg(evaluation_id).query(c))
    }

    fn bundle_delete(&self, evaluation_id: &str) -> Result<bool> {
        let k = self.keys.k("b");
        let n: i64 = self.rw(|c| ::redis::cmd("HDEL").arg(&k).arg(evaluation_id).query(c))?;
        Ok(n > 0)
    }

    fn policy_version(&self) -> Result<u64> {
        let v: Option<u64> = self.ro(|c| {
            ::redis::cmd("HGET")
                .arg(self.keys.k("policy"))
                .arg("version")
                .query(c)
        })?;
        Ok(v.unwrap_or(0))
    }

    fn policy_get(&self) -> Result<Option<crate::store::StoredPolicy>> {
        let (version, hash, doc): (Option<u64>, Option<String>, Option<String>) = self.ro(|c| {
            ::redis::cmd("HMGET")
                .arg(self.keys.k("policy"))
                .arg("version")
                .arg("hash")
                .arg("doc")
                .query(c)
        })?;
        Ok(match (version, hash, doc) {
            (Some(version), Some(hash), Some(doc)) => {
                Some(crate::store::StoredPolicy { version, hash, doc })
            }
            _ => None,
        })
    }

    fn policy_swap(
        &self,
        expected: u64,
        policy: &crate::store::StoredPolicy,
        record: &StoredRecord,
    ) -> Result<bool> {
        let mut call = Call::default();
        self.record_keys(&mut call);
        call.record(&self.keys, record)?;
        call.key(self.keys.k("policy"))
            .arg(expected)
            .arg(policy.version)
            .arg(&policy.hash)
            .arg(&policy.doc);
        let reply = self.script(&self.scripts.policy, &call, true)?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(true),
            Some("stale") => Ok(false),
            Some("chain") => Err(chain_conflict(
                record,
                reply.get(1).map_or("?", String::as_str),
            )),
            _ => Err(bad_reply("policy", &reply)),
        }
    }

    fn api_key_create(&self, key: &crate::apikey::StoredApiKey) -> Result<bool> {
        let mut meta = key.clone();
        meta.record.revoked_at = None;
        meta.record.last_used_at = None;
        let text = serde_json::to_string(&meta)
            .map_err(|e| Error::Internal(format!("api key not serialisable: {e}")))?;
        let k = self.keys.k("k");
        let n: i64 = self.rw(|c| {
            ::redis::cmd("HSETNX")
                .arg(&k)
                .arg(&key.record.id)
                .arg(&text)
                .query(c)
        })?;
        Ok(n == 1)
    }

    fn api_key_get(&self, id: &str) -> Result<Option<crate::apikey::StoredApiKey>> {
        let (text, revoked, used): (Option<String>, Option<i64>, Option<i64>) = self.ro(|c| {
            ::redis::pipe()
                .cmd("HGET")
                .arg(self.keys.k("k"))
                .arg(id)
                .cmd("HGET")
                .arg(self.keys.k("krev"))
                .arg(id)
                .cmd("HGET")
                .arg(self.keys.k("kused"))
                .arg(id)
                .query(c)
        })?;
        text.map(|t| api_key_from(&t, revoked, used)).transpose()
    }

    fn api_keys(&self) -> Result<Vec<crate::apikey::StoredApiKey>> {
        let (all, revoked, used): (
            std::collections::HashMap<String, String>,
            std::collections::HashMap<String, i64>,
            std::collections::HashMap<String, i64>,
        ) = self.ro(|c| {
            ::redis::pipe()
                .cmd("HGETALL")
                .arg(self.keys.k("k"))
                .cmd("HGETALL")
                .arg(self.keys.k("krev"))
                .cmd("HGETALL")
                .arg(self.keys.k("kused"))
                .query(c)
        })?;
        let mut out = all
            .iter()
            .map(|(id, t)| api_key_from(t, revoked.get(id).copied(), used.get(id).copied()))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        Ok(out)
    }

    fn api_key_revoke(&self, id: &str, now_ms: i64) -> Result<Option<i64>> {
        let mut call = Call::default();
        call.key(self.keys.k("k")).key(self.keys.k("krev"));
        call.arg("revoke").arg(id).arg(now_ms);
        let out = self.script(&self.scripts.apikey, &call, true)?;
        out.first()
            .map(|t| t.parse::<i64>().map_err(|_| bad_reply("apikey", &out)))
            .transpose()
    }

    fn api_key_touch(&self, id: &str, now_ms: i64) -> Result<()> {
        let mut call = Call::default();
        call.key(self.keys.k("k")).key(self.keys.k("kused"));
        call.arg("touch").arg(id).arg(now_ms);
        self.script(&self.scripts.apikey, &call, true)?;
        Ok(())
    }

    fn first_revoked(&self, ids: &[&str]) -> Result<Option<String>> {
        if ids.is_empty() {
            return Ok(None);
        }
        let k = self.keys.k("revoked");
        let hits: Vec<i64> = self.ro(|c| ::redis::cmd("SMISMEMBER").arg(&k).arg(ids).query(c))?;
        Ok(ids
            .iter()
            .zip(hits)
            .find(|(_, hit)| *hit == 1)
            .map(|(id, _)| id.to_string()))
    }

    fn attestations(&self, filter: &AttestationFilter) -> Result<Vec<StoredRecord>> {
        let k = &self.keys;
        // Scan the most selective index the filter names; every other field is checked on the
        // records themselves.
        let index = self.filter_index(filter);
        let limit = filter.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut from = 0usize;
        let last: usize = match &index {
            Some(_) => usize::MAX,
            None => self
                .ro(|c| ::redis::cmd("GET").arg(k.k("rseq")).query::<Option<u64>>(c))?
                .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        while out.len() < limit {
            let gs: Vec<String> = match &index {
                Some(ix) => self.ro(|c| {
                    ::redis::cmd("ZRANGE")
                        .arg(ix)
                        .arg(from)
                        .arg(from + PAGE - 1)
                        .query(c)
                })?,
                None => (from + 1..=last.min(from + PAGE))
                    .map(|g| g.to_string())
                    .collect(),
            };
            if gs.is_empty() {
                break;
            }
            from += gs.len();
            let page = self.records_at(&gs)?;
            out.extend(page.into_iter().filter(|r| filter.matches(r)));
        }
        out.truncate(limit);
        Ok(out)
    }

    fn attestations_page(
        &self,
        filter: &AttestationFilter,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, Option<u64>)> {
        self.page(filter, after, limit)
    }

    fn prune_due(
        &self,
        retention: &crate::store::Retention,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.due(retention, now_ms, limit)
    }

    fn prune_prefix(&self, checkpoint: &crate::store::Checkpoint) -> Result<usize> {
        self.prune_chain(checkpoint)
    }

    fn checkpoint(&self, chain: &str) -> Result<Option<crate::store::Checkpoint>> {
        self.checkpoints_of(Some(chain)).map(|mut v| v.pop())
    }

    fn checkpoints(&self) -> Result<Vec<crate::store::Checkpoint>> {
        self.checkpoints_of(None)
    }

    fn sliding_log_len(
        &self,
        key: &crate::store::CounterKey,
        window: crate::store::WindowKind,
    ) -> Result<Option<usize>> {
        if !matches!(window, crate::store::WindowKind::Sliding { .. }) {
            return Ok(None);
        }
        let id = Keys::counter_id_of(key, window);
        let (c, l) = (self.keys.counter(&id), self.keys.log(&id));
        let (exists, len): (bool, usize) = self.ro(|conn| {
            ::redis::pipe()
                .cmd("EXISTS")
                .arg(&c)
                .cmd("ZCARD")
                .arg(&l)
                .query(conn)
        })?;
        Ok(exists.then_some(len))
    }

    fn chain_tail(&self, chain: &str) -> Result<Option<StoredRecord>> {
        let ix = self.keys.index("chain", chain);
        let last: Vec<String> =
            self.ro(|c| ::redis::cmd("ZRANGE").arg(&ix).arg(-1).arg(-1).query(c))?;
        Ok(self.records_at(&last)?.pop())
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
        let walk = Walk::new(&self.keys, filter, after);
        let mut lower = walk.lower.clone();
        let mut out: Vec<CounterState> = Vec::new();
        let mut visited = 0usize;
        // Bounded work per page: past this many index entries, the page ends early (with a
        // position to resume from) however few of them matched.
        let budget = limit.saturating_mul(4).max(4 * INDEX_BATCH);
        loop {
            let members = self.ro(|c| {
                counter_index::range(c, &walk.index_key, &lower, &walk.upper, INDEX_BATCH)
            })?;
            self.visited
                .fetch_add(members.len() as u64, Ordering::Relaxed);
            visited += members.len();
            let batch: Vec<(CounterKey, WindowKind)> = members
                .iter()
                .filter_map(|m| counter_index::decode(walk.index, m))
                .filter(|(k, _)| filter.matches(k))
                .collect();
            out.extend(self.page_usage(&batch, now_ms)?);
            let last = members.last().cloned();
            let exhausted = members.len() < INDEX_BATCH;
            if out.len() > limit {
                out.truncate(limit);
                let next = out.last().map(CounterPosition::of);
                return Ok((out, next));
            }
            let Some(last) = last else {
                return Ok((out, None));
            };
            if exhausted {
                return Ok((out, None));
            }
            lower = counter_index::bound(b'(', &last);
            if visited >= budget {
                // Resume after the last entry looked at.
                let next = counter_index::decode(walk.index, &last)
                    .map(|(key, window)| CounterPosition { key, window });
                if next.is_some() {
                    return Ok((out, next));
                }
            }
        }
    }

    fn reset_counters(&self, filter: &CounterFilter) -> Result<usize> {
        let walk = Walk::new(&self.keys, filter, None);
        let (ns_index, scope_index) = counter_index::keys(&self.keys);
        let mut lower = walk.lower.clone();
        let mut deleted = 0usize;
        loop {
            let members = self.ro(|c| {
                counter_index::range(c, &walk.index_key, &lower, &walk.upper, INDEX_BATCH)
            })?;
            self.visited
                .fetch_add(members.len() as u64, Ordering::Relaxed);
            let mut call = Call::default();
            call.key(ns_index.clone()).key(scope_index.clone());
            let batch: Vec<(CounterKey, WindowKind)> = members
                .iter()
                .filter_map(|m| counter_index::decode(walk.index, m))
                .filter(|(k, _)| filter.matches(k))
                .collect();
            if !batch.is_empty() {
                call.arg(batch.len());
                for (k, w) in &batch {
                    let id = Keys::counter_id_of(k, *w);
                    call.key(self.keys.counter(&id)).key(self.keys.log(&id));
                    counter_index::push_members(&mut call, k, *w);
                }
                let reply = self.script(&self.scripts.counter_delete, &call, true)?;
                let n: usize = reply
                    .first()
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| bad_reply("ctrdel", &reply))?;
                deleted += n;
            }
            match members.last() {
                Some(last) if members.len() == INDEX_BATCH => {
                    lower = counter_index::bound(b'(', last);
                }
                _ => return Ok(deleted),
            }
        }
    }

    fn hold_get(&self, id: &str) -> Result<Option<HoldRecord>> {
        let k = self.keys.hold(id);
        let (rec, state): (Option<String>, Option<String>) = self.ro(|c| {
            ::redis::cmd("HMGET")
                .arg(&k)
                .arg("rec")
                .arg("state")
                .query(c)
        })?;
        hold_row(rec, state)
    }

    fn hold_resolve(&self, r: &HoldResolution<'_>) -> Result<HoldOutcome> {
        // The hold's ops never change once stored; its state is checked again inside the script.
        let Some(hold) = self.hold_get(r.hold_id)? else {
            return Ok(HoldOutcome::Unknown);
        };
        if r.amounts.len() != hold.ops.len() {
            return Err(Error::Internal(format!(
                "hold {} has {} counters, {} amounts given",
                hold.id,
                hold.ops.len(),
                r.amounts.len()
            )));
        }
        let k = &self.keys;
        let mut call = Call::default();
        self.record_keys(&mut call);
        call.key(k.k("holds")).key(k.hold(&hold.id));
        call.arg(r.now_ms)
            .arg(r.state.as_str())
            .arg(&hold.id)
            .arg(RETAIN_MS)
            .arg(u8::from(r.enforce_bounds));
        call.record(k, r.record)?;
        call.arg(hold.ops.len());
        for (h, fin) in hold.ops.iter().zip(r.amounts) {
            // Compared with the stored window in the script: a window never moves backwards.
            let placed_start = h.op.window.fixed_start(hold.created_ms).unwrap_or(0);
            let inside = match h.op.window {
                WindowKind::Sliding { size_ms } => {
                    hold.created_ms > r.now_ms.saturating_sub(size_ms)
                }
                _ => false,
            };
            call.op(k, &h.op, h.op.amount, r.now_ms, None)?
                .arg(super::scaled(*fin)?)
                .arg(placed_start)
                .arg(u8::from(inside))
                .arg(hold.created_ms);
        }
        let reply = self.script(&self.scripts.hold, &call, true)?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(HoldOutcome::Resolved),
            Some("unknown") => Ok(HoldOutcome::Unknown),
            Some("notopen") => Ok(HoldOutcome::NotOpen(hold_state(
                reply.get(1).map_or("", String::as_str),
            )?)),
            Some("rejected") => Ok(HoldOutcome::Rejected {
                usage: usages(reply.get(1..).unwrap_or_default())?,
            }),
            Some("chain") => Err(chain_conflict(
                r.record,
                reply.get(1).map_or("?", String::as_str),
            )),
            Some("overflow") => Err(Error::payload("/", "counter total would overflow")),
            _ => Err(bad_reply("hold", &reply)),
        }
    }

    fn holds_due(&self, now_ms: i64, limit: usize) -> Result<Vec<DueHold>> {
        let k = self.keys.k("holds");
        let ids: Vec<String> = self.ro(|c| {
            ::redis::cmd("ZRANGE")
                .arg(&k)
                .arg("-inf")
                .arg(now_ms)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query(c)
        })?;
        // One connection for the batch; a reply error on one hold's key (WRONGTYPE) is that
        // hold's, a broken connection fails the whole call.
        let rows = self.ro(|c| {
            let mut rows = Vec::with_capacity(ids.len());
            for id in &ids {
                let row: ::redis::RedisResult<(Option<String>, Option<String>)> =
                    ::redis::cmd("HMGET")
                        .arg(self.keys.hold(id))
                        .arg("rec")
                        .arg("state")
                        .query(c);
                match row {
                    Err(e) if super::broken(&e) => return Err(e),
                    other => rows.push(other),
                }
            }
            Ok(rows)
        })?;
        Ok(ids
            .into_iter()
            .zip(rows)
            .map(|(id, row)| {
                let read = row
                    .map_err(|e| Error::StoreUnavailable(e.to_string()))
                    .and_then(|(rec, state)| hold_row(rec, state));
                match read {
                    Ok(Some(h)) if h.id == id => DueHold::Hold(h),
                    Ok(Some(h)) => DueHold::Unreadable {
                        reason: format!("key of {id:?} holds the record of hold {:?}", h.id),
                        id,
                    },
                    Ok(None) => DueHold::Unreadable {
                        id,
                        reason: "listed as open but not stored".into(),
                    },
                    Err(e) => DueHold::Unreadable {
                        id,
                        reason: e.to_string(),
                    },
                }
            })
            .collect())
    }

    fn hold_quarantine(&self, id: &str) -> Result<bool> {
        let (open, bad) = (self.keys.k("holds"), self.keys.k("holds:unreadable"));
        let (removed, _): (i64, i64) = self.rw(|c| {
            ::redis::pipe()
                .atomic()
                .cmd("ZREM")
                .arg(&open)
                .arg(id)
                .cmd("SADD")
                .arg(&bad)
                .arg(id)
                .query(c)
        })?;
        Ok(removed > 0)
    }

    fn approval_get(&self, evaluation_id: &str) -> Result<Option<ApprovalRecord>> {
        let k = self.keys.approval(evaluation_id);
        let (rec, state): (Option<String>, Option<String>) = self.ro(|c| {
            ::redis::cmd("HMGET")
                .arg(&k)
                .arg("rec")
                .arg("state")
                .query(c)
        })?;
        match (rec, state) {
            (Some(rec), Some(state)) => {
                let mut a: ApprovalRecord = from_json("approval", &rec)?;
                a.state = from_json("approval state", &state)?;
                Ok(Some(a))
            }
            _ => Ok(None),
        }
    }

    fn approval_resolve(
        &self,
        evaluation_id: &str,
        to: &ApprovalState,
        record: &StoredRecord,
    ) -> Result<Option<ApprovalState>> {
        let (token, texp) = match to {
            ApprovalState::Approved {
                token_id,
                expires_ms,
                ..
            } => (token_id.as_str(), *expires_ms),
            _ => ("", 0),
        };
        let retain = texp
            .saturating_sub(record.time_ms)
            .max(0)
            .saturating_add(RETAIN_MS + GRACE_MS);
        let mut call = Call::default();
        self.record_keys(&mut call);
        call.key(self.keys.approval(evaluation_id));
        call.arg(to_json(to)?)
            .arg(to.name())
            .arg(token)
            .arg(texp)
            .arg(retain);
        call.record(&self.keys, record)?;
        let reply = self.script(&self.scripts.approval, &call, true)?;
        match reply.first().map(String::as_str) {
            Some("none") => Ok(None),
            Some("resolved") => Ok(Some(ApprovalState::Pending)),
            Some("found") => Ok(Some(from_json(
                "approval state",
                reply.get(1).map_or("", String::as_str),
            )?)),
            Some("chain") => Err(chain_conflict(
                record,
                reply.get(1).map_or("?", String::as_str),
            )),
            _ => Err(bad_reply("approval", &reply)),
        }
    }
}

/// A hold from its stored `rec` and `state` fields (`None`: no such hold).
fn hold_row(rec: Option<String>, state: Option<String>) -> Result<Option<HoldRecord>> {
    match (rec, state) {
        (Some(rec), Some(state)) => {
            let mut h: HoldRecord = from_json("hold", &rec)?;
            h.state = hold_state(&state)?;
            Ok(Some(h))
        }
        _ => Ok(None),
    }
}

impl RedisStore {
    /// The state of each counter of `batch` now (one `ctrpage.lua` call); counters that no
    /// longer exist are left out (and taken out of the indexes by the script).
    fn page_usage(
        &self,
        batch: &[(CounterKey, WindowKind)],
        now_ms: i64,
    ) -> Result<Vec<CounterState>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let (ns_index, scope_index) = counter_index::keys(&self.keys);
        let mut call = Call::default();
        call.key(ns_index).key(scope_index).arg(batch.len());
        for (key, window) in batch {
            let op = CounterOp {
                key: key.clone(),
                window: *window,
                amount: Decimal::ZERO,
                need: Decimal::ZERO,
                max: Decimal::ZERO,
            };
            call.op(&self.keys, &op, Decimal::ZERO, now_ms, None)?;
            counter_index::push_members(&mut call, key, *window);
        }
        let reply = self.script(&self.scripts.counter_page, &call, true)?;
        if reply.len() != batch.len() {
            return Err(bad_reply("ctrpage", &reply));
        }
        let mut out = Vec::with_capacity(batch.len());
        for ((key, window), used) in batch.iter().zip(&reply) {
            if used == "-" {
                continue;
            }
            out.push(CounterState {
                key: key.clone(),
                window: *window,
                used: unscaled(used)?,
                window_start_ms: window.fixed_start(now_ms),
            });
        }
        Ok(out)
    }

    /// Adds the counters listed in the index of earlier versions (`{p}:counters`, a set of
    /// counter ids) to the counter indexes, in batches, and drops it. Runs when a store is
    /// opened; a no-op once done.
    pub(super) fn migrate_counter_index(&self) -> Result<()> {
        let legacy = self.keys.k("counters");
        let (ns_index, scope_index) = counter_index::keys(&self.keys);
        let mut cursor: u64 = 0;
        loop {
            let (next, ids): (u64, Vec<String>) = self.ro(|c| {
                ::redis::cmd("SSCAN")
                    .arg(&legacy)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(INDEX_BATCH)
                    .query(c)
            })?;
            for id in ids {
                let c = self.keys.counter(&id);
                let v: Vec<Option<String>> = self.ro(|conn| {
                    ::redis::cmd("HMGET")
                        .arg(&c)
                        .arg(&["ns", "con", "scope", "kind", "size"])
                        .query(conn)
                })?;
                let found = match v.as_slice() {
                    [Some(ns), Some(con), Some(scope), Some(kind), Some(size)] => {
                        let size_ms: i64 = size.parse().unwrap_or(0);
                        let window = match kind.as_str() {
                            "F" => Some(WindowKind::Forever),
                            "X" => Some(WindowKind::Fixed { size_ms }),
                            "S" => Some(WindowKind::Sliding { size_ms }),
                            _ => None,
                        };
                        window.map(|w| {
                            let key = CounterKey {
                                namespace: ns.as_str().into(),
                                constraint: con.as_str().into(),
                                scope: scope.as_str().into(),
                            };
                            (key, w)
                        })
                    }
                    _ => None,
                };
                self.rw(|conn| {
                    let mut p = ::redis::pipe();
                    if let Some((k, w)) = &found {
                        p.cmd("ZADD")
                            .arg(&ns_index)
                            .arg(0)
                            .arg(counter_index::ns_member(k, *w))
                            .ignore();
                        p.cmd("ZADD")
                            .arg(&scope_index)
                            .arg(0)
                            .arg(counter_index::scope_member(k, *w))
                            .ignore();
                    }
                    p.cmd("SREM").arg(&legacy).arg(&id).ignore();
                    p.query::<()>(conn)
                })?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }
}
