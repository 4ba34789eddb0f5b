//! Checkpointed signing: decision records hashed as RFC 9162 Merkle leaves instead of signed
//! one by one, and signed tree heads — `checkpoint` records of the chain — written every N
//! records or T ms and on demand; inclusion and consistency proofs against them.
//!
//! Every record of the engine's chain is a leaf, whatever its kind, in `seq` order (leaf index =
//! seq − 1); the leaf data is the 32 raw bytes of the record's body digest (its `hash`), so leaf
//! = SHA-256(0x00 ‖ digest). A head is a record of the chain, kind `checkpoint`, signed as every
//! signed record (`passgate-attestation-v1\n`), with `data: {tree_size, root, time_ms}` where
//! `tree_size` = its own seq − 1: it covers every record before it. It is written only after
//! the records it covers were committed (through the same store append as any event), so a head
//! never covers a record that is not durable, and it is as durable as any record.

use serde_json::{json, Value};

use super::{Engine, Event};
use crate::attestation::{self, ChainLog, HeadRef, Tail, CHECKPOINT_KIND};
use crate::error::{Error, Result};
use crate::merkle;
use crate::store::AttestationFilter;

/// How decisions are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Signing {
    /// Every record signed on its own (`{body, hash, sig, kid}`), as always.
    #[default]
    Each,
    /// Decision records are not signed (`{body, hash, kid, leaf}`); a signed `checkpoint` record
    /// (a tree head) is appended after a decision once `every` records or `interval_ms`
    /// milliseconds have passed since the last one, and on demand ([`Engine::checkpoint`]).
    /// There is no background thread: records written during a lull are covered by the head
    /// after the next decision, or by [`Engine::checkpoint`].
    Checkpoint { every: u64, interval_ms: u64 },
}

impl Signing {
    /// The default head frequency of [`Signing::Checkpoint`]: every 1,024 records.
    pub const DEFAULT_EVERY: u64 = 1024;
    /// The default head interval of [`Signing::Checkpoint`]: 100 ms.
    pub const DEFAULT_INTERVAL_MS: u64 = 100;
    /// The most records between heads.
    pub const MAX_EVERY: u64 = 1 << 20;
    /// The longest interval between heads: one day.
    pub const MAX_INTERVAL_MS: u64 = 86_400_000;

    /// [`Signing::Checkpoint`] with the defaults (1,024 records / 100 ms).
    pub fn checkpoint() -> Signing {
        Signing::Checkpoint {
            every: Self::DEFAULT_EVERY,
            interval_ms: Self::DEFAULT_INTERVAL_MS,
        }
    }

    /// Parses `"each"` or `"checkpoint"` (with the given or default frequency).
    pub fn parse(mode: &str, every: Option<u64>, interval_ms: Option<u64>) -> Result<Signing> {
        match mode {
            "each" if every.is_none() && interval_ms.is_none() => Ok(Signing::Each),
            "each" => Err(Error::argument(
                "/checkpoint_every",
                "checkpoint_every and checkpoint_interval_ms need signing=\"checkpoint\"",
            )),
            "checkpoint" => Ok(Signing::Checkpoint {
                every: every.unwrap_or(Self::DEFAULT_EVERY),
                interval_ms: interval_ms.unwrap_or(Self::DEFAULT_INTERVAL_MS),
            }),
            other => Err(Error::argument(
                "/signing",
                format!("signing must be \"each\" or \"checkpoint\", not {other:?}"),
            )),
        }
    }

    /// `INVALID_ARGUMENT` unless `every` is 1 to [`Signing::MAX_EVERY`] and `interval_ms` at most
    /// [`Signing::MAX_INTERVAL_MS`].
    pub fn check(self) -> Result<()> {
        if let Signing::Checkpoint { every, interval_ms } = self {
            if !(1..=Self::MAX_EVERY).contains(&every) {
                return Err(Error::argument(
                    "/checkpoint_every",
                    format!("must be 1 to {}, got {every}", Self::MAX_EVERY),
                ));
            }
            if interval_ms > Self::MAX_INTERVAL_MS {
                return Err(Error::argument(
                    "/checkpoint_interval_ms",
                    format!("must be 0 to {}, got {interval_ms}", Self::MAX_INTERVAL_MS),
                ));
            }
        }
        Ok(())
    }
}

/// Where a proof is asked for: a decision by its evaluation id, or a record of this engine's
/// chain by its seq.
#[derive(Debug, Clone)]
pub enum ProofTarget {
    EvaluationId(String),
    Seq(u64),
}

impl Engine {
    /// How this engine signs decisions.
    pub fn signing(&self) -> Signing {
        self.signing
    }

    /// After a committed decision (the tail still held): writes a head if the engine signs by
    /// checkpoint and `every` records or `interval_ms` have passed since the last head. A failed
    /// head is logged, not returned: the decision is committed, and the next one tries again.
    pub(super) fn after_decision(&self, tail: &mut Tail, now: i64) {
        let Signing::Checkpoint { every, interval_ms } = self.signing else {
            return;
        };
        let since = *tail.log.since_ms.get_or_insert(now);
        let covered = tail.log.last_head().map_or(0, |h| h.seq);
        let new = tail.seq.saturating_sub(covered);
        let due = new >= every
            || (new > 0 && now.saturating_sub(since) >= i64::try_from(interval_ms).unwrap_or(0));
        if !due {
            return;
        }
        if let Err(e) = self.write_head(tail, now) {
            log::warn!(
                "passgate: checkpoint after seq {} not written: {e}",
                tail.seq
            );
        }
    }

    /// Writes a signed tree head now unless the chain's last record is one, and returns the
    /// newest head (see [`Signing::Checkpoint`]). In either signing mode: an engine that signs
    /// each record can still publish heads (then its records also have inclusion proofs).
    pub fn checkpoint(&self) -> Result<Value> {
        let mut tail = self.tail()?;
        self.ensure_log(&mut tail)?;
        if let Some(h) = tail.log.last_head() {
            if h.seq == tail.seq {
                return Ok(h.record.as_ref().clone());
            }
        }
        let now = self.clock.now_ms();
        self.write_head(&mut tail, now)
    }

    /// Appends a `checkpoint` record covering every record of the chain so far.
    fn write_head(&self, tail: &mut Tail, now: i64) -> Result<Value> {
        self.ensure_log(tail)?;
        let tree_size = tail.seq;
        let root = tail.log.tree.root(tree_size)?;
        let data = json!({
            "tree_size": tree_size, "root": merkle::to_tagged(&root), "time_ms": now,
        });
        let (stored, hash) =
            self.event_record_with(tail, CHECKPOINT_KIND, &data, Event::default(), now, true)?;
        let record = stored.record.clone();
        let written = self.store.append(&stored);
        self.after_write(tail, written)?;
        tail.advance(hash);
        tail.log.heads.push(HeadRef {
            seq: tree_size + 1,
            tree_size,
            record: record.clone(),
        });
        tail.log.since_ms = Some(now);
        Ok(record.into_value())
    }

    /// Rebuilds this engine's chain log from the store if it is out of step with the tail.
    fn ensure_log(&self, tail: &mut Tail) -> Result<()> {
        if tail.log.valid && tail.log.tree.len() == tail.seq {
            return Ok(());
        }
        let mut log = self.read_log(&tail.chain)?;
        if log.tree.len() != tail.seq {
            return Err(Error::StoreUnavailable(format!(
                "chain {} holds {} records in the store, this engine's tail is at seq {}",
                tail.chain,
                log.tree.len(),
                tail.seq
            )));
        }
        log.since_ms = tail.log.since_ms;
        tail.log = log;
        Ok(())
    }

    /// A chain's log read from the store: every record from seq 1 (a chain whose prefix was
    /// pruned cannot be rebuilt: `CHECKPOINT_PENDING`), its leaves and its heads.
    fn read_log(&self, chain: &str) -> Result<ChainLog> {
        let records = self.store.attestations(&AttestationFilter {
            chain: Some(chain.to_string()),
            ..AttestationFilter::default()
        })?;
        let mut log = ChainLog::new();
        for r in records {
            if r.seq != log.tree.len() + 1 {
                return Err(Error::CheckpointPending(format!(
                    "chain {chain}: the store holds seq {} after seq {} (records pruned or \
                     missing): its Merkle tree cannot be rebuilt",
                    r.seq,
                    log.tree.len()
                )));
            }
            let digest = r
                .record
                .get("hash")
                .and_then(Value::as_str)
                .and_then(merkle::from_tagged)
                .ok_or_else(|| {
                    Error::StoreUnavailable(format!("record {} of {chain} has no hash", r.seq))
                })?;
            log.tree.push(merkle::leaf_hash(&digest));
            if r.kind == CHECKPOINT_KIND && !attestation::is_unsigned(&r.record) {
                let tree_size = r
                    .record
                    .pointer("/body/data/tree_size")
                    .and_then(Value::as_u64);
                if tree_size == Some(r.seq - 1) {
                    log.heads.push(HeadRef {
                        seq: r.seq,
                        tree_size: r.seq - 1,
                        record: r.record.clone(),
                    });
                }
            }
        }
        Ok(log)
    }

    /// Runs `f` on the log of `chain`: this engine's own (under its tail lock, rebuilt if out
    /// of step) or another chain's, read from the store.
    fn with_log<T>(
        &self,
        chain: Option<&str>,
        f: impl FnOnce(&ChainLog) -> Result<T>,
    ) -> Result<T> {
        let mut tail = self.tail()?;
        if chain.is_none_or(|c| c == tail.chain) {
            self.ensure_log(&mut tail)?;
            return f(&tail.log);
        }
        drop(tail);
        let log = self.read_log(chain.unwrap_or_default())?;
        f(&log)
    }

    /// The inclusion proof of a record: a decision by evaluation id (on any chain of the store)
    /// or a record of this engine's chain by seq, against the head with `tree_size` (default:
    /// the newest head). Returns `{seq, leaf_index, leaf_hash, tree_size, proof, head}`
    /// (`proof`: the RFC 9162 path, `"sha256:<hex>"` each, leaf side first; `head`: the signed
    /// `checkpoint` record). Verify it with [`crate::attestation::verify_inclusion_proof`].
    ///
    /// Errors: `EVALUATION_UNKNOWN` (no such decision), `INVALID_ARGUMENT` (a seq beyond the
    /// chain, a `tree_size` no head has or that does not cover the record), `CHECKPOINT_PENDING`
    /// (no head covers the record yet: call [`Engine::checkpoint`], or wait for the next head).
    pub fn inclusion_proof(&self, target: &ProofTarget, tree_size: Option<u64>) -> Result<Value> {
        let (chain, seq) = match target {
            ProofTarget::Seq(seq) => (None, *seq),
            ProofTarget::EvaluationId(id) => {
                let found = self.store.attestations(&AttestationFilter {
                    evaluation_id: Some(id.clone()),
                    kind: Some("decision".into()),
                    limit: Some(1),
                    ..AttestationFilter::default()
                })?;
                let r = found.into_iter().next().ok_or_else(|| {
                    Error::EvaluationUnknown(format!("no decision record of {id:?}"))
                })?;
                (Some(r.chain), r.seq)
            }
        };
        self.with_log(chain.as_deref(), |log| {
            if seq == 0 || seq > log.tree.len() {
                return Err(Error::argument(
                    "/seq",
                    format!(
                        "the chain has records seq 1 to {}, not {seq}",
                        log.tree.len()
                    ),
                ));
            }
            let head = match tree_size {
                Some(n) => log.heads.iter().find(|h| h.tree_size == n).ok_or_else(|| {
                    Error::argument("/tree_size", format!("no checkpoint has tree_size {n}"))
                })?,
                None => log.last_head().ok_or_else(|| pending(seq))?,
            };
            if head.tree_size < seq {
                return match tree_size {
                    Some(n) => Err(Error::argument(
                        "/tree_size",
                        format!("the checkpoint of tree_size {n} does not cover seq {seq}"),
                    )),
                    None => Err(pending(seq)),
                };
            }
            let proof = log.tree.inclusion_proof(seq - 1, head.tree_size)?;
            let leaf = log
                .tree
                .leaf(seq - 1)
                .ok_or_else(|| Error::Internal(format!("no leaf {seq}")))?;
            Ok(json!({
                "seq": seq,
                "leaf_index": seq - 1,
                "leaf_hash": merkle::to_tagged(leaf),
                "tree_size": head.tree_size,
                "proof": proof.iter().map(merkle::to_tagged).collect::<Vec<_>>(),
                "head": head.record.as_ref(),
            }))
        })
    }

    /// The RFC 9162 consistency proof between this engine's chain at `old_size` and at
    /// `new_size` records (`0 < old_size ≤ new_size ≤` the chain's length; usually two heads'
    /// tree sizes): `{old_size, new_size, proof}`. Verify it with
    /// [`crate::merkle::verify_consistency`] and the two heads' roots.
    pub fn consistency_proof(&self, old_size: u64, new_size: u64) -> Result<Value> {
        self.with_log(None, |log| {
            if old_size == 0 || old_size > new_size || new_size > log.tree.len() {
                return Err(Error::argument(
                    "/old_size",
                    format!(
                        "need 0 < old_size ≤ new_size ≤ {} (the chain's length), got {old_size} \
                         and {new_size}",
                        log.tree.len()
                    ),
                ));
            }
            let proof = log.tree.consistency_proof(old_size, new_size)?;
            Ok(json!({
                "old_size": old_size,
                "new_size": new_size,
                "proof": proof.iter().map(merkle::to_tagged).collect::<Vec<_>>(),
            }))
        })
    }
}

fn pending(seq: u64) -> Error {
    Error::CheckpointPending(format!(
        "no signed checkpoint covers seq {seq} yet: its proof is available after the next \
         checkpoint (call checkpoint() to write one now)"
    ))
}
