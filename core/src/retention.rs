//! Retention and chain continuity: signed checkpoints, verifying a chain from one, and auditing
//! an export (JSONL) together with what a store still holds.
//!
//! A **checkpoint** is a signed statement that chain `chain` was pruned through `seq`, whose
//! record hashed to `hash`: `{"body": {"v": 1, "kind": "chain.checkpoint", "chain", "seq",
//! "hash", "time"}, "hash", "sig", "kid"}` — `hash` is SHA-256 of the body's RFC 8785 form and
//! `sig` Ed25519 over `passgate-chain-checkpoint-v1\n` ‖ that digest (a domain of its own: a
//! checkpoint can never pass for a record or a chain head, nor the reverse). It is signed by the
//! engine that pruned, which need not be the chain's writer: a verifier accepts it only if its
//! `kid` is among the signers it trusts.
//!
//! An **export** is JSONL: one record per line exactly as stored, each chain oldest first, and,
//! before a chain's first record when that record follows a checkpoint, the checkpoint's line.
//! [`Auditor`] verifies an export (or several, oldest first) followed by a store's remainder,
//! streaming: every record's hash and signature, one signer per chain (trusted), and each chain's
//! continuity from seq 1 or from a trusted checkpoint naming the record before. A record seen
//! twice (an export retried after a crash, an export overlapping the remainder) must be the same
//! record; two different records with one `seq` are a fork (`CHAIN_DUPLICATE`).

use std::collections::HashMap;
use std::io::BufRead;

use serde_json::{json, Value};

use crate::attestation::{self, VERSION};
use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::{KeyPair, PublicKey};

/// The bytes every checkpoint signature starts with.
pub const CHECKPOINT_DOMAIN: &[u8] = b"passgate-chain-checkpoint-v1\n";

/// What a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStatement {
    pub chain: String,
    /// The `seq` of the last record pruned.
    pub seq: u64,
    /// Its `hash`.
    pub hash: String,
    pub time_ms: i64,
    /// Who signed it (did:key).
    pub signer: String,
}

/// Signs a checkpoint (see the module docs).
pub fn seal_checkpoint(
    chain: &str,
    seq: u64,
    hash: &str,
    time_ms: i64,
    key: &KeyPair,
) -> Result<Value> {
    let body = json!({
        "v": VERSION, "kind": "chain.checkpoint", "chain": chain, "seq": seq, "hash": hash,
        "time": time_ms,
    });
    Ok(attestation::seal_in(CHECKPOINT_DOMAIN, body, key)?.0)
}

/// Whether `v` is a checkpoint (by its `body.kind`), as opposed to a record.
pub fn is_checkpoint(v: &Value) -> bool {
    v.pointer("/body/kind").and_then(Value::as_str) == Some("chain.checkpoint")
}

/// Checks a checkpoint: its signer must be one of `trusted_signers` (`ATTESTATION_KEY`), its
/// hash and signature must verify (`ATTESTATION_HASH`, `ATTESTATION_SIGNATURE`), its body must
/// be a checkpoint's (`ATTESTATION_MALFORMED`). Returns what it states.
pub fn verify_checkpoint(
    checkpoint: &Value,
    trusted_signers: &[String],
) -> Result<CheckpointStatement> {
    let malformed = |m: &str| Error::AttestationMalformed(format!("checkpoint: {m}"));
    let kid = checkpoint
        .get("kid")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no kid"))?;
    if !trusted_signers.iter().any(|t| t == kid) {
        return Err(Error::AttestationKey(format!(
            "checkpoint signed by {kid}, which is not among the trusted signers"
        )));
    }
    attestation::verify_in(
        CHECKPOINT_DOMAIN,
        checkpoint,
        kid,
        &PublicKey::from_did(kid)?,
    )
    .map_err(|e| match e {
        Error::AttestationHash(m) => Error::AttestationHash(format!("checkpoint: {m}")),
        Error::AttestationSignature(m) => Error::AttestationSignature(format!("checkpoint: {m}")),
        other => other,
    })?;
    if !is_checkpoint(checkpoint) {
        return Err(malformed("kind must be \"chain.checkpoint\""));
    }
    let body = checkpoint.get("body").ok_or_else(|| malformed("no body"))?;
    let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(CheckpointStatement {
        chain: s("chain").ok_or_else(|| malformed("no chain"))?,
        seq: body
            .get("seq")
            .and_then(Value::as_u64)
            .filter(|s| *s > 0)
            .ok_or_else(|| malformed("no seq"))?,
        hash: s("hash").ok_or_else(|| malformed("no hash"))?,
        time_ms: body
            .get("time")
            .and_then(Value::as_i64)
            .ok_or_else(|| malformed("no time"))?,
        signer: kid.to_string(),
    })
}

/// [`attestation::verify_chain`] for what is left of a pruned chain: `records` (one chain, in
/// `seq` order) signed by `did`, continuing from `checkpoint` — whose signer must be in
/// `trusted_signers` and which must name the record before the first (its `seq` and `hash`).
/// Without a checkpoint this is `verify_chain` (the records must start at seq 1), so a chain
/// whose head was cut off without a checkpoint fails (`CHAIN_GAP`).
///
/// Errors: those of `verify_chain` and [`verify_checkpoint`].
pub fn verify_chain_from(
    records: &[Value],
    did: &str,
    checkpoint: Option<&Value>,
    trusted_signers: &[String],
) -> Result<()> {
    let Some(cp) = checkpoint else {
        return attestation::verify_chain(records, did);
    };
    let st = verify_checkpoint(cp, trusted_signers)?;
    attestation::verify_chain_anchored(records, did, Some((&st.chain, st.seq, &st.hash)))
}

/// The first 16 bytes of a `sha256:<hex>` hash, to recognise a record seen twice.
fn short(hash: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    if let Ok(bytes) = hex::decode(hex) {
        for (o, b) in out.iter_mut().zip(bytes) {
            *o = b;
        }
    }
    out
}

/// What the auditor knows of one chain.
#[derive(Debug, Default)]
struct ChainState {
    signer: String,
    key: Option<PublicKey>,
    first_seq: u64,
    last: Option<(u64, String)>,
    records: u64,
    /// Every seq seen, with its hash's first bytes (a record seen twice must be the same).
    seen: HashMap<u64, [u8; 16]>,
    /// Trusted checkpoints of this chain: seq → hash.
    anchors: HashMap<u64, String>,
    /// The first unsigned (checkpointed) record no signed `checkpoint` record has followed yet.
    uncovered: Option<u64>,
}

/// Verifies records and checkpoints of any number of chains, fed in order (each chain's records
/// in `seq` order; see the module docs). Memory grows with the number of records (a few dozen
/// bytes each, to recognise duplicates), not their size.
///
/// ```
/// use passgate::__private::retention::Auditor;
/// let mut a = Auditor::new(vec![]);
/// assert_eq!(a.finish().unwrap()["records"], 0);
/// ```
#[derive(Debug)]
pub struct Auditor {
    trusted: Vec<String>,
    chains: HashMap<String, ChainState>,
    order: Vec<String>,
    records: u64,
    duplicates: u64,
    fed: u64,
}

impl Auditor {
    /// An auditor trusting `trusted_signers` (did:key) for records and checkpoints.
    pub fn new(trusted_signers: Vec<String>) -> Auditor {
        Auditor {
            trusted: trusted_signers,
            chains: HashMap::new(),
            order: Vec::new(),
            records: 0,
            duplicates: 0,
            fed: 0,
        }
    }

    fn chain(&mut self, chain: &str) -> &mut ChainState {
        if !self.chains.contains_key(chain) {
            self.order.push(chain.to_string());
        }
        self.chains.entry(chain.to_string()).or_default()
    }

    /// Feeds one record or checkpoint.
    pub fn feed(&mut self, item: &Value) -> Result<()> {
        let at = self.fed;
        self.fed += 1;
        let at_item = |e: Error| prefix(e, &format!("item {at}"));
        if is_checkpoint(item) {
            let st = verify_checkpoint(item, &self.trusted).map_err(at_item)?;
            self.chain(&st.chain).anchors.insert(st.seq, st.hash);
            return Ok(());
        }
        let malformed = |m: &str| Error::AttestationMalformed(format!("item {at}: {m}"));
        let body = item.get("body").ok_or_else(|| malformed("no body"))?;
        let chain = body
            .get("chain")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no body.chain"))?;
        let seq = body
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed("no body.seq"))?;
        let kid = item
            .get("kid")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no kid"))?;
        let hash = item
            .get("hash")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("no hash"))?
            .to_string();
        let prev = body.get("prev").and_then(Value::as_str).map(str::to_string);
        if !self.trusted.iter().any(|t| t == kid) {
            return Err(Error::AttestationKey(format!(
                "item {at}: chain {chain} is signed by {kid}, which is not among the trusted signers"
            )));
        }
        let state = self.chain(chain);
        if state.signer.is_empty() {
            state.signer = kid.to_string();
            state.key = Some(PublicKey::from_did(kid)?);
        } else if state.signer != kid {
            return Err(Error::AttestationKey(format!(
                "item {at}: chain {chain} record seq {seq} is signed by {kid}, its chain by {}",
                state.signer
            )));
        }
        let key = state
            .key
            .clone()
            .ok_or_else(|| Error::Internal("no key".into()))?;
        let unsigned = attestation::is_unsigned(item);
        match unsigned {
            // Checkpointed signing: its hash and leaf now; it is authenticated by the hash links
            // to the next signed checkpoint of its chain (see `finish`).
            true => attestation::verify_integrity(item, kid).map_err(at_item)?,
            false => {
                attestation::verify_in(attestation::DOMAIN, item, kid, &key).map_err(at_item)?
            }
        }
        let head = !unsigned
            && body.get("kind").and_then(Value::as_str) == Some(attestation::CHECKPOINT_KIND);
        if let Some(h) = state.seen.get(&seq) {
            if *h == short(&hash) {
                self.duplicates += 1;
                return Ok(());
            }
            return Err(Error::ChainDuplicate(format!(
                "item {at}: chain {chain} has two different records with seq {seq} (a fork)"
            )));
        }
        let follows = match &state.last {
            Some((last, h)) if seq == last + 1 => {
                if prev.as_deref() != Some(h) {
                    return Err(Error::ChainOrder(format!(
                        "item {at}: chain {chain} seq {seq}: prev does not match the hash of \
                         seq {last}"
                    )));
                }
                true
            }
            Some((last, _)) if seq <= *last => {
                return Err(Error::ChainOrder(format!(
                    "item {at}: chain {chain} seq {seq} comes after seq {last}"
                )));
            }
            None if seq == 1 => {
                if prev.is_some() || body.get("prev") != Some(&Value::Null) {
                    return Err(Error::ChainOrder(format!(
                        "item {at}: chain {chain} seq 1 must have prev null"
                    )));
                }
                true
            }
            _ => false,
        };
        if !follows {
            // A record after a gap (or a chain's first record after seq 1) must continue from a
            // trusted checkpoint naming the record before it.
            match state.anchors.get(&(seq - 1)) {
                Some(h) if prev.as_deref() == Some(h.as_str()) => {}
                Some(_) => {
                    return Err(Error::ChainOrder(format!(
                        "item {at}: chain {chain} seq {seq}: prev does not match the hash its \
                         checkpoint (seq {}) names",
                        seq - 1
                    )))
                }
                None => {
                    let after = state.last.as_ref().map_or(0, |(l, _)| *l);
                    return Err(Error::ChainGap(format!(
                        "item {at}: chain {chain} seq {seq} follows seq {after} and no trusted \
                         checkpoint at seq {} covers the records in between",
                        seq - 1
                    )));
                }
            }
        }
        if state.records == 0 {
            state.first_seq = seq;
        }
        state.records += 1;
        state.seen.insert(seq, short(&hash));
        state.last = Some((seq, hash));
        if head {
            state.uncovered = None;
        } else if unsigned && state.uncovered.is_none() {
            state.uncovered = Some(seq);
        }
        self.records += 1;
        Ok(())
    }

    /// Feeds every line of a JSONL export (blank lines skipped). Each line is read with passgate's
    /// strict parser (duplicate keys refused).
    pub fn feed_jsonl(&mut self, input: &mut dyn BufRead) -> Result<u64> {
        let mut n = 0;
        let mut line = String::new();
        loop {
            line.clear();
            let read = input
                .read_line(&mut line)
                .map_err(|e| Error::InvalidArgument(format!("export: {e}")))?;
            if read == 0 {
                return Ok(n);
            }
            if line.trim().is_empty() {
                continue;
            }
            let v = json::parse(line.trim_end(), Limits::PAYLOAD)
                .map_err(|e| e.into_error(Context::Attestation))?;
            self.feed(&v)?;
            n += 1;
        }
    }

    /// The report: `{records, duplicates, chains: [{chain, signer, records, first_seq,
    /// last_seq}]}` (chains in order of first appearance; a chain known only from a checkpoint
    /// has no records and no signer). With checkpointed signing, a chain whose last unsigned
    /// records no signed `checkpoint` record follows names the first as `uncovered_from_seq`:
    /// those records are checked for hash and leaf only, not authenticated.
    pub fn finish(&mut self) -> Result<Value> {
        let chains: Vec<Value> = self
            .order
            .iter()
            .filter_map(|c| self.chains.get(c).map(|s| (c, s)))
            .filter(|(_, s)| s.records > 0)
            .map(|(c, s)| {
                let mut v = json!({
                    "chain": c, "signer": s.signer, "records": s.records,
                    "first_seq": s.first_seq, "last_seq": s.last.as_ref().map(|(l, _)| *l),
                });
                if let (Some(from), Value::Object(m)) = (s.uncovered, &mut v) {
                    // Unsigned records after the chain's last signed checkpoint: not yet
                    // authenticated (a live engine's tail, or an engine that died before its
                    // next head).
                    m.insert("uncovered_from_seq".into(), json!(from));
                }
                v
            })
            .collect();
        Ok(json!({ "records": self.records, "duplicates": self.duplicates, "chains": chains }))
    }
}

fn prefix(e: Error, at: &str) -> Error {
    match e {
        Error::AttestationHash(m) => Error::AttestationHash(format!("{at}: {m}")),
        Error::AttestationSignature(m) => Error::AttestationSignature(format!("{at}: {m}")),
        Error::AttestationKey(m) => Error::AttestationKey(format!("{at}: {m}")),
        Error::AttestationMalformed(m) => Error::AttestationMalformed(format!("{at}: {m}")),
        other => other,
    }
}

/// Verifies an export (JSONL, as written by [`Engine::export_attestations`](crate::Engine) or a
/// `retention_export` sink) followed by what a store still holds (`remainder`: its checkpoints
/// and records, in order), offline: see [`Auditor`]. Returns the auditor's report.
pub fn verify_export(
    export: &mut dyn BufRead,
    remainder: &[Value],
    trusted_signers: &[String],
) -> Result<Value> {
    let mut a = Auditor::new(trusted_signers.to_vec());
    a.feed_jsonl(export)?;
    for v in remainder {
        a.feed(v)?;
    }
    a.finish()
}
