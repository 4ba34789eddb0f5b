//! Folded store reads (issue 20, "store paths"): what `enforce` does not read before deciding.
//!
//! On a store that verifies a commit's guard ([`Store::checks_guard`]: memory, SQLite, Redis),
//! `enforce` decides on what this engine already holds, and its commit checks all of it inside
//! the store's one atomic step (one transaction, one script):
//!
//! - **the issuers' generation** it last read (no `issuers_generation` read; the commit's
//!   [`Guard::issuers_generation`]);
//! - **the shared policy's version** it holds, with `policy_source=store` (no `policy_version`
//!   read; [`Guard::policy_version`]);
//! - **revocation** of a passport chain this engine has already registered (no `first_revoked`
//!   read; [`Guard::not_revoked`] names every link). A chain seen for the first time is read as
//!   before, so nothing revoked is ever registered;
//! - **counter usage** of fixed, calendar and forever windows as its own last commit (or read)
//!   left it, when the decision on it is an allow ([`Commit::expect_usage`]: the store compares
//!   each counter's usage, so a signed record never states a usage the store did not hold). A
//!   deny or escalation is never decided on cached usage: it reads, as before.
//!
//! If the guard no longer holds ([`CommitOutcome::Stale`](crate::store::CommitOutcome::Stale):
//! another engine revoked a link, changed the issuers or swapped the policy), nothing was
//! stored and the request is decided once more on fresh reads, exactly as without folding, so a
//! revoked passport or an untrusted issuer is refused by the very next decision of any engine
//! sharing the store. A usage that moved comes back with the commit's `Rejected` and the commit
//! is retried on it, not counted as contention. Dry runs, requests with an idempotency key
//! (whose stored replay must not outlive a revocation) and stores that do not check guards read
//! everything as before.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use rust_decimal::Decimal;

use super::counters::lend_ops;
use super::decide::{finish, Evaluation};
use super::Engine;
use crate::error::Result;
use crate::passport::Verified;
use crate::policy::Policy;
use crate::store::{CounterKey, CounterOp, Guard, WindowKind};

/// The most counters whose usage an engine remembers (past it, the cache starts empty again).
const USAGE_ENTRIES: usize = 4096;

/// What one decision took from the engine instead of the store.
#[derive(Debug, Default)]
pub(super) struct Folded {
    /// Whether this decision may fold its reads at all.
    pub(super) on: bool,
    /// The issuers' generation it verified under, when not read for it.
    pub(super) issuers_generation: Option<u64>,
    /// The shared policy version it decided under, when not read for it.
    pub(super) policy_version: Option<u64>,
    /// Whether the passport chain's revocation was not read (the commit checks it).
    pub(super) revocation: bool,
    /// The usage of `ops(pending)` the decision was finished on, when taken from the cache.
    pub(super) usage: Option<Vec<Decimal>>,
    /// The usage the decision was finished on, cached or read (to remember what a commit on
    /// it leaves).
    pub(super) basis: Option<Vec<Decimal>>,
}

impl Folded {
    /// The guard of a commit of `delegation` (the passport chain's ids), if anything was folded.
    pub(super) fn guard<'a>(&self, ids: &'a [&'a str]) -> Option<Guard<'a>> {
        let guard = Guard {
            not_revoked: if self.revocation { ids } else { &[] },
            issuers_generation: self.issuers_generation,
            policy_version: self.policy_version,
        };
        (guard != Guard::default()).then_some(guard)
    }
}

/// Counter usage as this engine last saw it, by counter and window (see the module docs).
#[derive(Debug, Default)]
pub(super) struct UsageCache(Mutex<HashMap<(CounterKey, WindowKind), (i64, Decimal)>>);

/// The window `op` counts in at `now` (`None`: a sliding window, whose usage moves with time).
fn window_of(op: &CounterOp, now: i64) -> Option<i64> {
    match op.window {
        WindowKind::Forever => Some(i64::MIN),
        WindowKind::Sliding { .. } => None,
        w => w.fixed_start(now),
    }
}

impl UsageCache {
    /// The cached usage of every op, or `None` if any is not cached for its current window.
    fn get(&self, ops: &[CounterOp], now: i64) -> Option<Vec<Decimal>> {
        let map = self.0.lock();
        ops.iter()
            .map(|op| {
                let at = window_of(op, now)?;
                let (w, used) = map.get(&(op.key.clone(), op.window))?;
                (*w == at).then_some(*used)
            })
            .collect()
    }

    /// Remembers `usage[i]` (plus `added[i]`, if given) as the usage of `ops[i]` at `now`.
    pub(super) fn put(&self, ops: &[CounterOp], usage: &[Decimal], added: bool, now: i64) {
        let mut map = self.0.lock();
        for (op, used) in ops.iter().zip(usage) {
            let Some(at) = window_of(op, now) else {
                continue;
            };
            let value = match added {
                true => used.checked_add(op.amount),
                false => Some(*used),
            };
            let key = (op.key.clone(), op.window);
            match value {
                Some(v) => {
                    if map.len() >= USAGE_ENTRIES && !map.contains_key(&key) {
                        map.clear();
                    }
                    map.insert(key, (at, v));
                }
                None => {
                    map.remove(&key);
                }
            }
        }
    }
}

impl Engine {
    /// The policy to decide under: without reading the store's version when folding (the commit
    /// checks it).
    pub(super) fn policy_for(&self, folded: &mut Folded) -> Result<Option<Arc<Policy>>> {
        match (&self.shared, folded.on) {
            (Some(shared), true) if shared.version() != 0 => {
                // The version first: the policy read after it is that one or newer (a newer
                // one fails the guard and is decided again).
                folded.policy_version = Some(shared.version());
                Ok(self.policy())
            }
            _ => self.current_policy(),
        }
    }

    /// [`Engine::verify_as`], folding the issuers' generation and, for a chain already
    /// registered, its revocation into the commit.
    pub(super) fn verify_for(
        &self,
        token: &str,
        now: i64,
        register: bool,
        folded: &mut Folded,
    ) -> Result<Arc<Verified>> {
        if !folded.on {
            return self.verify_as(token, now, register);
        }
        if let Some(reg) = self.store.registry() {
            let known = self.issuers.read().generation();
            let g = match known {
                Some(g) => g,
                None => {
                    self.sync_issuers()?;
                    match self.issuers.read().generation() {
                        Some(g) => g,
                        None => reg.issuers_generation()?,
                    }
                }
            };
            folded.issuers_generation = Some(g);
        }
        let v = self.verifier.verify(token, now)?;
        self.check_issuer_window(&v)?;
        let known =
            self.store.registry().is_none() || self.registered.lock().get(&v.token_hash).is_some();
        if register && known {
            folded.revocation = true;
            return Ok(v);
        }
        // First sight of this token: read its revocation now (nothing revoked is registered).
        self.check_revoked(&v)?;
        if register {
            self.register_seen(&v)?;
        }
        Ok(v)
    }

    /// Adds the cumulative checks, the verdict and `remaining` to `eval`: on cached usage when
    /// folding and that decides an allow, on read usage otherwise.
    pub(super) fn finish_usage(
        &self,
        eval: &mut Evaluation<'_>,
        now: i64,
        folded: &mut Folded,
    ) -> Result<()> {
        let cached = match folded.on && !eval.pending.is_empty() {
            true => lend_ops(&mut eval.pending, |ops| self.usage_cache.get(ops, now)),
            false => None,
        };
        if let Some(cached) = cached {
            finish(eval, &cached);
            if eval.decision.allowed {
                folded.basis = Some(cached.clone());
                folded.usage = Some(cached);
                return Ok(());
            }
            // Not an allow: decided on read usage instead.
            eval.decision.checks.truncate(eval.base_checks);
            eval.decision.remaining.clear();
        }
        let usage = lend_ops(&mut eval.pending, |ops| -> Result<Vec<Decimal>> {
            let usage = match folded.on && ops.is_empty() {
                true => Vec::new(),
                false => self.store.read(ops, now)?,
            };
            if folded.on {
                self.usage_cache.put(ops, &usage, false, now);
            }
            Ok(usage)
        })?;
        if folded.on {
            folded.basis = Some(usage.clone());
        }
        finish(eval, &usage);
        Ok(())
    }
}
