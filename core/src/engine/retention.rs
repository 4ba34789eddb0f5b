//! Retention on the engine side: pruning in bounded batches behind signed checkpoints, the
//! export sink pruned records go to first, JSONL export, and verifying a pruned store.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::Value;

use super::{Engine, MAX_PAGE};
use crate::error::{Error, Result};
use crate::retention::{seal_checkpoint, Auditor};
use crate::store::{AttestationFilter, Checkpoint, Retention, StoredRecord};

/// The most records one step of [`Engine::prune`] asks the store for.
pub const PRUNE_BATCH: usize = 1000;
/// `enforce` on the memory store prunes inline once every this many decisions…
const INLINE_PRUNE_EVERY: u64 = 64;
/// … at most this many records (so inline pruning outpaces the decisions that add records).
pub const INLINE_PRUNE_LIMIT: usize = 256;
/// Closed holds and approvals are kept this long when the retention sets no age.
pub const CLOSED_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

/// What [`Engine::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Records deleted (each chain's behind a signed checkpoint).
    pub records: usize,
    /// Chains a checkpoint was stored for.
    pub chains: usize,
    /// Records appended to the export sink first.
    pub exported: usize,
    /// Closed holds and approvals deleted.
    pub closed: usize,
    /// Chains not pruned because their oldest records do not link up (a record missing or
    /// changed in the store): `(chain, error code, message)`. Pruning them would hide it behind
    /// a checkpoint; they stay as they are, and `verify_store` reports them.
    pub refused: Vec<(String, String, String)>,
}

/// The engine's retention settings (resolved at build).
#[derive(Debug)]
pub(super) struct RetentionState {
    pub retention: Retention,
    pub export: Option<PathBuf>,
    /// Serialises this engine's pruning (and its writes to the export file).
    pub lock: parking_lot::Mutex<()>,
    pub warned: std::sync::atomic::AtomicBool,
    pub tick: std::sync::atomic::AtomicU64,
}

impl RetentionState {
    pub fn new(retention: Retention, export: Option<PathBuf>) -> RetentionState {
        RetentionState {
            retention,
            export,
            lock: parking_lot::Mutex::new(()),
            warned: std::sync::atomic::AtomicBool::new(false),
            tick: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Engine {
    /// The retention this engine applies (from the builder, else the store URL, else the
    /// store's default: `memory:` keeps 100,000 records, durable stores everything).
    pub fn retention(&self) -> Retention {
        self.retention.retention
    }

    /// Prunes at most `limit` records that are due under the retention, oldest first, and
    /// closed holds and approvals that can no longer matter; returns what it did. Each chain's
    /// records go behind a checkpoint this engine signs (chain, seq and hash of the last record
    /// dropped), stored in the same atomic step as the deletion, so what remains still verifies
    /// ([`Engine::verify_store`], [`crate::retention::verify_chain_from`]). With an export sink
    /// (`retention_export`), the records are appended to it and fsynced first; without one they
    /// are dropped (logged once per engine).
    ///
    /// SQLite and Redis are pruned only by this call (outside the decision path): hosts call it
    /// from a timer, like [`Engine::expire_holds`]. `memory:` is also pruned inline by `enforce`.
    ///
    /// ```
    /// # use passgate::Engine;
    /// # let engine = Engine::builder().policy_json(r#"{"version": 1, "gates": {}}"#).build().unwrap();
    /// // Every few seconds, on a thread or task of the host's:
    /// while engine.prune(10_000).unwrap().records == 10_000 {}
    /// ```
    pub fn prune(&self, limit: usize) -> Result<PruneReport> {
        self.same_process()?;
        let _g = self.retention.lock.lock();
        self.prune_locked(limit, true)
    }

    /// After a decision on a store that prunes inline (memory): a small batch, now and then.
    /// A failure is logged, never the decision's.
    pub(super) fn prune_inline(&self) {
        let r = &self.retention;
        if r.retention.keeps_all() || !self.store.prunes_inline() {
            return;
        }
        if r.tick.fetch_add(1, Ordering::Relaxed) % INLINE_PRUNE_EVERY != 0 {
            return;
        }
        let Some(_g) = r.lock.try_lock() else {
            return;
        };
        if let Err(e) = self.prune_locked(INLINE_PRUNE_LIMIT, false) {
            log::warn!("passgate: inline pruning failed: {e}");
        }
    }

    fn prune_locked(&self, limit: usize, closed: bool) -> Result<PruneReport> {
        let now = self.clock.now_ms();
        let retention = self.retention.retention;
        let mut report = PruneReport::default();
        let mut asked = 0usize;
        while !retention.keeps_all() && asked < limit {
            let batch = (limit - asked).min(PRUNE_BATCH);
            let due = self.store.prune_due(&retention, now, batch)?;
            let fetched = due.len();
            asked = asked.saturating_add(batch);
            let before = report.records;
            // Each chain's share of the batch, in order.
            let mut groups: Vec<(String, Vec<StoredRecord>)> = Vec::new();
            for r in due {
                match groups.iter_mut().find(|(c, _)| *c == r.chain) {
                    Some((_, v)) => v.push(r),
                    None => groups.push((r.chain.clone(), vec![r])),
                }
            }
            for (chain, records) in groups {
                match self.prune_chain(&chain, records, now, &mut report) {
                    Ok(()) => {}
                    Err(
                        e @ (Error::ChainGap(_)
                        | Error::ChainOrder(_)
                        | Error::AttestationMalformed(_)),
                    ) => {
                        log::error!(
                            "passgate: chain {chain} not pruned: its oldest records do not link \
                             up ({e}); a record is missing or was changed in the store"
                        );
                        if !report.refused.iter().any(|(c, ..)| *c == chain) {
                            report
                                .refused
                                .push((chain, e.code().to_string(), e.to_string()));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            if fetched < batch || report.records == before {
                break;
            }
        }
        if closed {
            let age = retention.max_age_ms.unwrap_or(CLOSED_RETENTION_MS);
            let left = limit.saturating_sub(report.records).clamp(1, PRUNE_BATCH);
            report.closed = self.store.prune_closed(now.saturating_sub(age), left)?;
        }
        Ok(report)
    }

    /// Checks that `records` (one chain's, oldest first) continue the chain's stored checkpoint
    /// link by link, signs the new checkpoint, exports, prunes.
    fn prune_chain(
        &self,
        chain: &str,
        mut records: Vec<StoredRecord>,
        now: i64,
        report: &mut PruneReport,
    ) -> Result<()> {
        let previous = self.store.checkpoint(chain)?;
        let (mut seq, mut hash) = match &previous {
            Some(cp) => (
                cp.seq,
                cp.record.pointer("/body/hash").and_then(Value::as_str),
            ),
            None => (0, None),
        };
        // Another engine may have pruned some of them meanwhile.
        records.retain(|r| r.seq > seq);
        let Some(last) = records.last() else {
            return Ok(());
        };
        for r in &records {
            if r.seq != seq + 1 {
                return Err(Error::ChainGap(format!(
                    "chain {chain}: seq {} follows seq {seq}",
                    r.seq
                )));
            }
            // Read without building the record's `Value` (see `Record::link`).
            let (own, prev) = r.record.link();
            if prev != hash {
                return Err(Error::ChainOrder(format!(
                    "chain {chain}: seq {}: prev does not match the hash of seq {seq}",
                    r.seq
                )));
            }
            hash = own;
            if hash.is_none() {
                return Err(Error::AttestationMalformed(format!(
                    "chain {chain}: seq {} has no hash",
                    r.seq
                )));
            }
            seq = r.seq;
        }
        let hash = hash.unwrap_or_default();
        let sealed = seal_checkpoint(chain, last.seq, hash, now, &self.chain.key)?;
        let checkpoint = Checkpoint {
            chain: chain.to_string(),
            seq: last.seq,
            record: Arc::new(sealed),
        };
        match &self.retention.export {
            Some(path) => {
                let mut lines = String::new();
                if let Some(cp) = &previous {
                    lines.push_str(&cp.record.to_string());
                    lines.push('\n');
                }
                for r in &records {
                    lines.push_str(&r.record.to_string());
                    lines.push('\n');
                }
                append_synced(path, lines.as_bytes())?;
                report.exported += records.len();
            }
            None => {
                if !self.retention.warned.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "passgate: pruning attestation records (retention {:?}) without an export \
                         sink: they are dropped, only a signed checkpoint remains. Set \
                         retention_export to keep them",
                        self.retention.retention
                    );
                }
            }
        }
        report.records += self.store.prune_prefix(&checkpoint)?;
        report.chains += 1;
        Ok(())
    }

    /// Writes the store's records (every chain; `time ≥ since_ms` if given) to `out` as JSONL,
    /// one record per line exactly as stored, each chain oldest first, reading the store a page
    /// at a time (bounded memory). A chain whose first record written follows the chain's
    /// checkpoint gets that checkpoint's line first, so the export verifies offline on its own
    /// ([`crate::retention::verify_export`]). Returns the number of records written.
    pub fn export_attestations(&self, since_ms: Option<i64>, out: &mut dyn Write) -> Result<u64> {
        let filter = AttestationFilter {
            since_ms,
            ..AttestationFilter::default()
        };
        let io = |e: std::io::Error| Error::InvalidArgument(format!("export: {e}"));
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut cursor: Option<String> = None;
        let mut n = 0u64;
        loop {
            let (page, next) = self.attestations_page(&filter, cursor.as_deref(), MAX_PAGE)?;
            for r in &page {
                let chain = r.pointer("/body/chain").and_then(Value::as_str);
                let seq = r.pointer("/body/seq").and_then(Value::as_u64);
                if let (Some(chain), Some(seq)) = (chain, seq) {
                    if seq > 1 && seen.insert(chain.to_string()) {
                        if let Some(cp) = self.store.checkpoint(chain)? {
                            if cp.seq + 1 == seq {
                                writeln!(out, "{}", cp.record).map_err(io)?;
                            }
                        }
                    } else {
                        seen.insert(chain.to_string());
                    }
                }
                writeln!(out, "{r}").map_err(io)?;
                n += 1;
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        out.flush().map_err(io)?;
        Ok(n)
    }

    /// Verifies every chain in this engine's store, each against its own signer, which must be
    /// one of `trusted_signers` (did:key): every record's hash and signature, and each chain's
    /// order and continuity from its first record — seq 1, or a checkpoint signed by one of
    /// `trusted_signers` naming the record before it (a pruned chain). Engines restarted without
    /// a configured signing key each start a chain with a new key: trust each of those keys (or
    /// configure one). Reads the store a page at a time. Returns `{records, duplicates, chains:
    /// [{chain, signer, records, first_seq, last_seq}]}`; fails on the first record or
    /// checkpoint that does not verify (`ATTESTATION_*` / `CHAIN_*`), with `ATTESTATION_KEY` for
    /// a chain or checkpoint signed by a key not in the set, and `CHAIN_GAP` for records cut from
    /// a chain without a checkpoint.
    pub fn verify_store(&self, trusted_signers: &[String]) -> Result<Value> {
        self.audit_store(Auditor::new(trusted_signers.to_vec()))
    }

    /// Verifies an export (JSONL: a `retention_export` sink or [`Engine::export_attestations`]
    /// output, oldest first) followed by what this engine's store still holds, as
    /// [`crate::retention::verify_export`] does offline: every record in one of them, each chain
    /// continuous from seq 1 or a trusted checkpoint. Returns the audit report.
    pub fn verify_export(
        &self,
        export: &mut dyn std::io::BufRead,
        trusted_signers: &[String],
    ) -> Result<Value> {
        let mut auditor = Auditor::new(trusted_signers.to_vec());
        auditor.feed_jsonl(export)?;
        self.audit_store(auditor)
    }

    fn audit_store(&self, mut auditor: Auditor) -> Result<Value> {
        for cp in self.store.checkpoints()? {
            auditor.feed(&cp.record)?;
        }
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) =
                self.attestations_page(&AttestationFilter::default(), cursor.as_deref(), MAX_PAGE)?;
            for r in &page {
                match auditor.feed(r) {
                    // Pruned while we read (after its checkpoint was fetched): the chain's
                    // checkpoint now, then the record again.
                    Err(Error::ChainGap(m)) => {
                        let chain = r.pointer("/body/chain").and_then(Value::as_str);
                        match chain
                            .map(|c| self.store.checkpoint(c))
                            .transpose()?
                            .flatten()
                        {
                            Some(cp) => {
                                auditor.feed(&cp.record)?;
                                auditor.feed(r)?;
                            }
                            None => return Err(Error::ChainGap(m)),
                        }
                    }
                    other => other?,
                }
            }
            match next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        auditor.finish()
    }
}

/// Appends `bytes` to the file at `path` (created if needed) and syncs it to disk.
fn append_synced(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let fail = |e: std::io::Error| {
        Error::StoreUnavailable(format!(
            "retention_export {}: {e}; nothing was pruned",
            path.display()
        ))
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    f.write_all(bytes).map_err(fail)?;
    f.sync_data().map_err(fail)
}
