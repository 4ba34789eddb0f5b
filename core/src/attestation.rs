//! Attestations: signed, hash-chained records of decisions and host events.
//!
//! A record is `{"body": {...}, "hash": "sha256:<hex>", "sig": "<base64url>", "kid": "did:key:…"}`.
//! `hash` is SHA-256 of the RFC 8785 canonical JSON of `body`; `sig` is Ed25519 over
//! `passgate-attestation-v1\n` followed by the 32 raw bytes of that digest (domain separation: a
//! passgate signature over a record can never be replayed as a passport signature or vice versa).
//! Each engine writes its own chain: `body.chain` names it, `body.seq` counts from 1 and
//! `body.prev` is the previous record's `hash` (`null` for the first). A decision's body also lists
//! under `counted` what an admitted request added to each counter (`namespace`, `constraint`,
//! `scope`, `amount`; empty when nothing was admitted), so an audit can recompute every counter
//! from the records alone. An engine whose store lost records it had acknowledged starts a new
//! chain whose first record has kind `chain.break` and `data` {`previous_chain`, `last_seq`,
//! `last_hash`, `store_tail`} (see [`crate::Engine::enforce`], "Chain breaks").

use parking_lot::{Mutex, MutexGuard};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::decision::Decision;
use crate::error::{Error, Result};
use crate::json;
use crate::keys::{b64u_decode, b64u_encode, KeyPair, PublicKey};
use crate::passport::Principal;
use crate::store::CounterOp;

/// The bytes every attestation signature starts with.
pub const DOMAIN: &[u8] = b"passgate-attestation-v1\n";
/// The bytes every chain-head signature starts with (a head is not a record of the chain).
pub const HEAD_DOMAIN: &[u8] = b"passgate-chain-head-v1\n";

/// The record format version (`body.v`).
pub const VERSION: u64 = 1;

/// The largest integer a body may hold (JavaScript's safe range), so every language canonicalizes
/// a body identically.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

fn digest_of(body: &Value) -> Result<[u8; 32]> {
    let canonical = json::canonical(body)?;
    Ok(Sha256::digest(canonical.as_bytes()).into())
}

fn domain_input(domain: &[u8], digest: &[u8; 32]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(domain.len() + 32);
    msg.extend_from_slice(domain);
    msg.extend_from_slice(digest);
    msg
}

/// Hashes and signs `body`, returning the record and its `hash`.
pub fn seal(body: Value, key: &KeyPair) -> Result<(Value, String)> {
    seal_in(DOMAIN, body, key)
}

pub(crate) fn seal_in(domain: &[u8], body: Value, key: &KeyPair) -> Result<(Value, String)> {
    let digest = digest_of(&body)?;
    let hash = format!("sha256:{}", hex::encode(digest));
    let sig = b64u_encode(&key.sign(&domain_input(domain, &digest)));
    let mut record = Map::new();
    record.insert("body".into(), body);
    record.insert("hash".into(), Value::String(hash.clone()));
    record.insert("sig".into(), Value::String(sig));
    record.insert("kid".into(), Value::String(key.did().to_string()));
    Ok((Value::Object(record), hash))
}

struct Parts<'a> {
    body: &'a Map<String, Value>,
    hash: &'a str,
    sig: &'a str,
    kid: &'a str,
}

fn parts(record: &Value) -> Result<Parts<'_>> {
    let malformed = |m: &str| Error::AttestationMalformed(m.to_string());
    let obj = record
        .as_object()
        .ok_or_else(|| malformed("a record must be an object"))?;
    if let Some(extra) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "body" | "hash" | "sig" | "kid"))
    {
        return Err(malformed(&format!("unexpected field {extra:?}")));
    }
    let text = |k: &str| {
        obj.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| malformed(&format!("field {k:?} must be a string")))
    };
    let body = obj
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("field \"body\" must be an object"))?;
    Ok(Parts {
        body,
        hash: text("hash")?,
        sig: text("sig")?,
        kid: text("kid")?,
    })
}

/// Checks one record against the signer's did:key: shape, key, hash, signature.
///
/// Errors: `ATTESTATION_MALFORMED`, `ATTESTATION_KEY` (signed by another key), `ATTESTATION_HASH`
/// (the body or the hash was changed), `ATTESTATION_SIGNATURE`.
pub fn verify_attestation(record: &Value, did: &str) -> Result<()> {
    verify_with(record, did, &PublicKey::from_did(did)?)
}

fn verify_with(record: &Value, did: &str, key: &PublicKey) -> Result<()> {
    verify_in(DOMAIN, record, did, key)
}

pub(crate) fn verify_in(domain: &[u8], record: &Value, did: &str, key: &PublicKey) -> Result<()> {
    let p = parts(record)?;
    if p.kid != did {
        return Err(Error::AttestationKey(format!(
            "record names key {} but {did} was expected",
            p.kid
        )));
    }
    let body = Value::Object(p.body.clone());
    let digest = digest_of(&body)?;
    let expected = format!("sha256:{}", hex::encode(digest));
    if p.hash != expected {
        return Err(Error::AttestationHash(format!(
            "body hashes to {expected}, record says {}",
            p.hash
        )));
    }
    let sig = b64u_decode(p.sig).map_err(|e| Error::AttestationSignature(format!("sig: {e}")))?;
    key.verify_strict(&domain_input(domain, &digest), &sig)
        .map_err(Error::AttestationSignature)
}

/// What a signed chain head states: chain `chain` held `seq` records, the last hashing to `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub chain: String,
    pub seq: u64,
    /// `None` when `seq` is 0 (nothing written yet).
    pub hash: Option<String>,
    pub time_ms: i64,
}

/// Signs a chain head: `{"body": {"v", "kind": "chain.head", "chain", "seq", "hash", "time"},
/// "hash", "sig", "kid"}`, the signature over `passgate-chain-head-v1\n` ‖ SHA-256(JCS(body)) —
/// a domain of its own, so a head can never pass for a record of the chain or the reverse.
pub fn seal_head(head: &ChainHead, key: &KeyPair) -> Result<Value> {
    let body = json!({
        "v": VERSION, "kind": "chain.head", "chain": head.chain, "seq": head.seq,
        "hash": head.hash, "time": head.time_ms,
    });
    Ok(seal_in(HEAD_DOMAIN, body, key)?.0)
}

/// Checks a signed chain head against the signer's did:key and returns what it states.
pub fn verify_head(head: &Value, did: &str) -> Result<ChainHead> {
    verify_in(HEAD_DOMAIN, head, did, &PublicKey::from_did(did)?)?;
    let p = parts(head)?;
    let malformed = |m: &str| Error::AttestationMalformed(format!("chain head: {m}"));
    if p.body.get("kind").and_then(Value::as_str) != Some("chain.head") {
        return Err(malformed("kind must be \"chain.head\""));
    }
    let s = |k: &str| p.body.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(ChainHead {
        chain: s("chain").ok_or_else(|| malformed("no chain"))?,
        seq: p
            .body
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| malformed("no seq"))?,
        hash: s("hash"),
        time_ms: p
            .body
            .get("time")
            .and_then(Value::as_i64)
            .ok_or_else(|| malformed("no time"))?,
    })
}

/// [`verify_chain`], and then against a signed head (from [`crate::Engine::chain_head`]) held by
/// the verifier: the records must reach the head's `seq` and hold the head's `hash` there, so
/// records cut from the end of the chain are detected (`CHAIN_GAP`), as is a chain that was
/// rewritten after the head was signed (`CHAIN_MISMATCH`).
pub fn verify_chain_with_head(records: &[Value], did: &str, head: &Value) -> Result<()> {
    verify_chain(records, did)?;
    let head = verify_head(head, did)?;
    let mut last: Option<(u64, &str)> = None;
    for (i, r) in records.iter().enumerate() {
        let p = parts(r)?;
        let chain = chain_of(p.body);
        if chain != head.chain {
            return Err(Error::ChainMismatch(format!(
                "record {i} belongs to chain {chain:?}, the head to {:?}",
                head.chain
            )));
        }
        let seq = body_u64(p.body, "seq", i)?;
        if seq == head.seq && Some(p.hash) != head.hash.as_deref() {
            return Err(Error::ChainMismatch(format!(
                "record {i} (seq {seq}) is not the record the head names"
            )));
        }
        last = Some((seq, p.hash));
    }
    let reached = last.map_or(0, |(s, _)| s);
    if reached < head.seq {
        return Err(Error::ChainGap(format!(
            "the chain ends at seq {reached} but its signed head is at seq {}: {} record(s) \
             missing from the end",
            head.seq,
            head.seq - reached
        )));
    }
    Ok(())
}

/// The chain a record body names (`""` when it names none: then it matches no other record).
fn chain_of(body: &Map<String, Value>) -> &str {
    body.get("chain")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn body_u64(body: &Map<String, Value>, k: &str, i: usize) -> Result<u64> {
    body.get(k).and_then(Value::as_u64).ok_or_else(|| {
        Error::AttestationMalformed(format!(
            "record {i}: body.{k} must be a non-negative integer"
        ))
    })
}

/// Checks one chain's records, given in `seq` order from its first record: every record as in
/// [`verify_attestation`], then one chain id, no duplicates, no reordering, no gap, and every
/// `prev` equal to the previous record's `hash`. The error names the first record at fault.
///
/// Errors (besides those of [`verify_attestation`], prefixed with the record's index):
/// `CHAIN_MISMATCH`, `CHAIN_DUPLICATE`, `CHAIN_ORDER`, `CHAIN_GAP`.
pub fn verify_chain(records: &[Value], did: &str) -> Result<()> {
    verify_chain_anchored(records, did, None)
}

/// [`verify_chain`] for records that start after `anchor` — `(chain, seq, hash)` of the record
/// before the first, as a verified checkpoint states it (`None`: from seq 1). The first record
/// must belong to that chain (`CHAIN_MISMATCH`), follow its `seq` (`CHAIN_GAP`) and name its
/// `hash` as `prev` (`CHAIN_ORDER`).
pub(crate) fn verify_chain_anchored(
    records: &[Value],
    did: &str,
    anchor: Option<(&str, u64, &str)>,
) -> Result<()> {
    let key = PublicKey::from_did(did)?;
    let mut seqs = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        verify_with(r, did, &key).map_err(|e| at_record(e, i))?;
        let p = parts(r)?;
        let chain = chain_of(p.body);
        seqs.push((
            chain,
            body_u64(p.body, "seq", i)?,
            p.hash,
            p.body.get("prev"),
        ));
    }
    let Some((chain0, ..)) = seqs.first().copied() else {
        return Ok(());
    };
    let mut seen = std::collections::HashMap::new();
    for (i, (chain, seq, hash, _)) in seqs.iter().enumerate() {
        if *chain != chain0 {
            return Err(Error::ChainMismatch(format!(
                "record {i} belongs to chain {chain:?}, record 0 to {chain0:?}"
            )));
        }
        if let Some(j) = seen.insert(*seq, i) {
            let what = if seqs.get(j).is_some_and(|s| s.2 == *hash) {
                "repeats"
            } else {
                "reuses the seq of"
            };
            return Err(Error::ChainDuplicate(format!(
                "record {i} (seq {seq}) {what} record {j}"
            )));
        }
    }
    if let Some(i) = seqs
        .windows(2)
        .position(|w| matches!(w, [a, b] if b.1 < a.1))
    {
        let (a, b) = (
            seqs.get(i).map_or(0, |s| s.1),
            seqs.get(i + 1).map_or(0, |s| s.1),
        );
        return Err(Error::ChainOrder(format!(
            "record {} (seq {b}) comes after seq {a}",
            i + 1
        )));
    }
    if let Some((chain, _, _)) = anchor {
        if chain != chain0 {
            return Err(Error::ChainMismatch(format!(
                "the records belong to chain {chain0:?}, the checkpoint to {chain:?}"
            )));
        }
    }
    let mut prev: Option<(u64, &str)> = anchor.map(|(_, seq, hash)| (seq, hash));
    for (i, (_, seq, hash, link)) in seqs.iter().enumerate() {
        match prev {
            Some((p, _)) if i == 0 && *seq != p + 1 => {
                return Err(Error::ChainGap(format!(
                    "record 0 has seq {seq} but the checkpoint is at seq {p}: the chain must \
                     continue at seq {}",
                    p + 1
                )));
            }
            Some((_, h)) if i == 0 && link.and_then(Value::as_str) != Some(h) => {
                return Err(Error::ChainOrder(format!(
                    "record 0 (seq {seq}): prev does not match the hash the checkpoint names"
                )));
            }
            None if *seq != 1 => {
                return Err(Error::ChainGap(format!(
                    "record 0 has seq {seq}: the chain must start at seq 1"
                )));
            }
            None if !matches!(link, Some(Value::Null)) => {
                return Err(Error::ChainOrder(
                    "record 0 (seq 1) must have prev null".into(),
                ));
            }
            Some((p, _)) if *seq > p + 1 => {
                return Err(Error::ChainGap(format!(
                    "record {i} has seq {seq} after seq {p}: {} record(s) missing",
                    seq - p - 1
                )));
            }
            Some((_, h)) if link.and_then(Value::as_str) != Some(h) => {
                return Err(Error::ChainOrder(format!(
                    "record {i} (seq {seq}): prev does not match the hash of record {}",
                    i - 1
                )));
            }
            _ => {}
        }
        prev = Some((*seq, hash));
    }
    Ok(())
}

fn at_record(e: Error, i: usize) -> Error {
    match e {
        Error::AttestationHash(m) => Error::AttestationHash(format!("record {i}: {m}")),
        Error::AttestationSignature(m) => Error::AttestationSignature(format!("record {i}: {m}")),
        Error::AttestationKey(m) => Error::AttestationKey(format!("record {i}: {m}")),
        Error::AttestationMalformed(m) => Error::AttestationMalformed(format!("record {i}: {m}")),
        other => other,
    }
}

/// The tail of an engine's chain: which chain, the last `seq` the store acknowledged and its hash.
#[derive(Debug)]
pub struct Tail {
    /// The chain being written (a new one after a [`Tail::rebase`]).
    pub chain: String,
    pub seq: u64,
    pub prev: Option<String>,
    /// A write failed without saying whether it was stored (a lost reply, a timeout): the next
    /// writer reads the tail back from the store before building on it.
    pub unsure: bool,
    /// The data of a `chain.break` record still to be written as this chain's first record.
    pub pending_break: Option<Value>,
}

impl Tail {
    /// A new, empty chain with a random id.
    pub fn fresh() -> Result<Tail> {
        Ok(Tail {
            chain: crate::ids::random_id("chn")?,
            seq: 0,
            prev: None,
            unsure: false,
            pending_break: None,
        })
    }

    /// The `(seq, prev)` the next record gets.
    pub fn next(&self) -> (u64, Value) {
        (
            self.seq + 1,
            self.prev.clone().map_or(Value::Null, Value::String),
        )
    }

    /// Records that the next record was stored with `hash`.
    pub fn advance(&mut self, hash: String) {
        self.seq += 1;
        self.prev = Some(hash);
        self.pending_break = None;
    }

    /// Whether a store whose tail of this chain is `stored` — `(seq, hash, prev)` of its last
    /// record, `None` for none — still holds everything this tail says was acknowledged: its last
    /// record is ours, or the one after it, built on ours (a write whose reply was lost).
    pub fn holds(&self, stored: Option<(u64, &str, Option<&str>)>) -> bool {
        match stored {
            None => self.seq == 0,
            Some((seq, hash, prev)) => {
                (seq == self.seq && Some(hash) == self.prev.as_deref())
                    || (seq == self.seq + 1 && prev == self.prev.as_deref())
            }
        }
    }

    /// Puts the tail where the store says the chain ends (`None`: nothing stored yet).
    pub fn resync(&mut self, last: Option<(u64, String)>) {
        (self.seq, self.prev) = match last {
            Some((seq, hash)) => (seq, Some(hash)),
            None => (0, None),
        };
        self.unsure = false;
        if self.seq > 0 {
            // A chain's first record is its `chain.break` when it has one: stored.
            self.pending_break = None;
        }
    }

    /// Leaves this chain for a new, empty one whose first record must be a `chain.break` with
    /// `data` (see [`Tail::pending_break`]); returns the old chain id.
    pub fn rebase(&mut self, data: Value) -> Result<String> {
        let fresh = Tail::fresh()?;
        let old = std::mem::replace(&mut self.chain, fresh.chain);
        (self.seq, self.prev, self.unsure) = (0, None, false);
        self.pending_break = Some(data);
        Ok(old)
    }
}

/// One engine's chain writer: its key and its tail (the chain id lives in the tail, since an
/// engine that finds its store behind what it committed moves to a new chain). Writers hold the
/// tail's lock from building a body until the record is stored, so seq order is store order.
#[derive(Debug)]
pub struct ChainWriter {
    pub key: KeyPair,
    tail: Mutex<Tail>,
}

impl ChainWriter {
    pub fn new(key: KeyPair) -> Result<Self> {
        Ok(ChainWriter {
            key,
            tail: Mutex::new(Tail::fresh()?),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Tail> {
        self.tail.lock()
    }
}

/// A host event body (`kind` other than `decision`): `data` is normalised so it holds no floats.
pub fn event_body(
    tail: &Tail,
    id: String,
    time_ms: i64,
    kind: &str,
    data: &Value,
) -> Result<Value> {
    let (seq, prev) = tail.next();
    Ok(json!({
        "v": VERSION, "id": id, "kind": kind, "chain": tail.chain, "seq": seq, "prev": prev,
        "time": time_ms, "data": json::normalize_numbers(data)?,
    }))
}

/// What a decision record says, beside its place in the chain (see [`decision_body`]).
pub(crate) struct DecisionFacts<'a> {
    pub decision: &'a Decision,
    /// Whom the passport speaks for (`None` for anonymous or refused callers).
    pub principal: Option<&'a Principal>,
    /// The ids of the passport's chain, root first.
    pub delegation: &'a [String],
    /// The host's key of an anonymous caller.
    pub client: Option<&'a str>,
    pub request_hash: &'a str,
    /// The counter operations of the request (recorded as `counted` only if it was admitted).
    pub counted: Vec<&'a CounterOp>,
    /// Host metadata, recorded with its numbers normalised.
    pub trace: Option<&'a Value>,
    /// The hash of the evaluation's run bundle, when its gate records one.
    pub bundle_hash: Option<&'a str>,
    /// The verified proof of possession, `{nonce, ts, agent}` (see [`crate::pop`]).
    pub pop: Option<&'a Value>,
    /// The catalog terms an allowed decision applied: `{version, content_hash, permission}`.
    pub catalog: Option<&'a Value>,
}

/// A decision record's body (`kind` `decision`): the decision, who asked and for what, its checks
/// and `remaining`, and `counted` — what an admitted request adds to each counter, so an audit can
/// recompute every counter from the records alone (the checks' `observed` include usage read
/// before the commit).
pub(crate) fn decision_body(
    tail: &Tail,
    id: String,
    time_ms: i64,
    facts: &DecisionFacts<'_>,
) -> Result<Value> {
    let d = facts.decision;
    let (seq, prev) = tail.next();
    let trace = match facts.trace {
        Some(t) => json::normalize_numbers(t)?,
        None => Value::Null,
    };
    let counted: Vec<Value> = match d.allowed {
        true => facts
            .counted
            .iter()
            .map(|op| {
                json!({
                    "namespace": op.key.namespace, "constraint": op.key.constraint,
                    "scope": op.key.scope, "amount": op.amount.normalize().to_string(),
                })
            })
            .collect(),
        false => Vec::new(),
    };
    let mut body = json!({
        "v": VERSION,
        "id": id,
        "kind": "decision",
        "chain": tail.chain,
        "seq": seq,
        "prev": prev,
        "time": time_ms,
        "evaluation_id": d.evaluation_id,
        "gate": d.gate,
        "decision": d.decision.as_str(),
        "mode": d.mode,
        "agent_id": d.agent_id,
        "passport_id": d.passport_id,
        "principal": facts.principal.map(|p| json!({"issuer": p.issuer, "agent_id": p.agent_id})),
        "delegation": facts.delegation,
        "client": facts.client,
        "policy_hash": d.policy_hash,
        "request_hash": facts.request_hash,
        "checks": d.checks,
        "remaining": d.remaining,
        "counted": counted,
        "trace": trace,
    });
    if let Value::Object(m) = &mut body {
        if let Some(c) = facts.catalog {
            m.insert("catalog".into(), c.clone());
        }
        if let Some(h) = facts.bundle_hash {
            m.insert("bundle_hash".into(), Value::String(h.to_string()));
        }
        if let Some(p) = facts.pop {
            m.insert("pop".into(), p.clone());
        }
        // The hold an admitted request reserved (settled, released or expired later).
        if let Some(h) = &d.hold_id {
            m.insert("hold_id".into(), Value::String(h.clone()));
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_holds_only_a_store_that_kept_what_was_acknowledged() {
        let mut t = Tail::fresh().unwrap();
        assert!(t.holds(None));
        assert!(
            t.holds(Some((1, "h1", None))),
            "a lost reply's record landed"
        );
        t.advance("h1".into());
        t.advance("h2".into());
        assert!(t.holds(Some((2, "h2", Some("h1")))));
        assert!(t.holds(Some((3, "h3", Some("h2")))));
        assert!(!t.holds(None), "flushed");
        assert!(!t.holds(Some((1, "h1", None))), "an older copy");
        assert!(!t.holds(Some((2, "hX", Some("h1")))), "another record 2");
        assert!(
            !t.holds(Some((3, "h3", Some("hX")))),
            "a 3 not built on our 2"
        );
        assert!(!t.holds(Some((4, "h4", Some("h3")))), "more than one ahead");
        let old = t.chain.clone();
        assert_eq!(t.rebase(json!({"x": 1})).unwrap(), old);
        assert_ne!(t.chain, old);
        assert_eq!((t.seq, t.prev.as_deref()), (0, None));
        assert!(t.pending_break.is_some());
        t.resync(None);
        assert!(t.pending_break.is_some(), "not yet written");
        t.advance("b1".into());
        assert!(t.pending_break.is_none());
    }
}
