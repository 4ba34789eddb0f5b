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

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::{Mutex, MutexGuard};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::decision::Decision;
use crate::error::{Error, Result};
use crate::json;
use crate::keys::{b64u_decode, b64u_encode, KeyPair, PublicKey};
use crate::passport::Principal;
use crate::store::CounterOp;

mod body;
mod record;

pub use record::Record;

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

/// [`digest_of`] of `Value::Object(body)`, without copying `body` (same bytes, same error).
fn digest_of_map(body: &Map<String, Value>) -> Result<[u8; 32]> {
    let mut canonical = Vec::with_capacity(512);
    crate::jcs::write_object(body, &mut canonical)
        .map_err(|e| Error::payload("/", format!("cannot canonicalize: {e}")))?;
    Ok(Sha256::digest(&canonical).into())
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

/// Hashes `body` without signing it (checkpointed signing, see [`crate::merkle`]): the record is
/// `{"body", "hash", "kid", "leaf"}` where `leaf` is `"sha256:<hex>"` of the RFC 9162 leaf hash of
/// the 32 raw bytes of the body digest. A later signed `checkpoint` record of the chain covers
/// it. Returns the record and its `hash`.
pub fn seal_unsigned(body: Value, did: &str) -> Result<(Value, String)> {
    let digest = digest_of(&body)?;
    let hash = crate::merkle::to_tagged(&digest);
    let leaf = crate::merkle::to_tagged(&crate::merkle::leaf_hash(&digest));
    let mut record = Map::new();
    record.insert("body".into(), body);
    record.insert("hash".into(), Value::String(hash.clone()));
    record.insert("kid".into(), Value::String(did.to_string()));
    record.insert("leaf".into(), Value::String(leaf));
    Ok((Value::Object(record), hash))
}

pub(crate) fn seal_in(domain: &[u8], body: Value, key: &KeyPair) -> Result<(Value, String)> {
    let digest = digest_of(&body)?;
    let hash = crate::merkle::to_tagged(&digest);
    let sig = b64u_encode(&key.sign(&domain_input(domain, &digest)));
    let mut record = Map::new();
    record.insert("body".into(), body);
    record.insert("hash".into(), Value::String(hash.clone()));
    record.insert("sig".into(), Value::String(sig));
    record.insert("kid".into(), Value::String(key.did().to_string()));
    Ok((Value::Object(record), hash))
}

/// How a decision record is sealed: signed on its own, or left to a later signed tree head.
pub(crate) enum Sealing<'a> {
    Each(&'a KeyPair),
    /// Checkpointed: the record carries its Merkle `leaf`; `did` is the engine's key id.
    Unsigned {
        did: &'a str,
    },
}

/// Writes and seals a decision record in one buffer: the body as RFC 8785 bytes in the order
/// known at compile time ([`body`]), hashed where it lies, then `hash`, `kid` and `sig` or `leaf`
/// — the record's canonical bytes, shared from here on ([`Record`]). The same record, byte for
/// byte, as `seal`/`seal_unsigned` of `decision_body`. Returns it and its `hash`.
pub(crate) fn seal_decision(
    tail: &Tail,
    id: &str,
    time_ms: i64,
    facts: &DecisionFacts<'_>,
    sealing: Sealing<'_>,
) -> Result<(Record, String)> {
    const OPEN: &[u8] = b"{\"body\":";
    let mut out = Vec::with_capacity(3072);
    out.extend_from_slice(OPEN);
    body::write_decision_body(&mut out, tail, id, time_ms, facts)?;
    let digest: [u8; 32] = Sha256::digest(out.get(OPEN.len()..).unwrap_or_default()).into();
    let hash = crate::merkle::to_tagged(&digest);
    out.extend_from_slice(b",\"hash\":");
    crate::jcs::string(&hash, &mut out);
    out.extend_from_slice(b",\"kid\":");
    match sealing {
        Sealing::Each(key) => {
            crate::jcs::string(key.did(), &mut out);
            let sig = b64u_encode(&key.sign(&domain_input(DOMAIN, &digest)));
            out.extend_from_slice(b",\"sig\":");
            crate::jcs::string(&sig, &mut out);
        }
        Sealing::Unsigned { did } => {
            crate::jcs::string(did, &mut out);
            let leaf = crate::merkle::to_tagged(&crate::merkle::leaf_hash(&digest));
            out.extend_from_slice(b",\"leaf\":");
            crate::jcs::string(&leaf, &mut out);
        }
    }
    out.push(b'}');
    // Every byte written above is UTF-8: JSON punctuation and strings taken from `&str`s.
    let text = String::from_utf8(out).map_err(|e| Error::Internal(format!("record text: {e}")))?;
    Ok((Record::from_written(text), hash))
}

struct Parts<'a> {
    body: &'a Map<String, Value>,
    hash: &'a str,
    /// `None` for an unsigned (checkpointed) record, which has a `leaf` instead.
    sig: Option<&'a str>,
    kid: &'a str,
    leaf: Option<&'a str>,
}

fn parts(record: &Value) -> Result<Parts<'_>> {
    let malformed = |m: &str| Error::AttestationMalformed(m.to_string());
    let obj = record
        .as_object()
        .ok_or_else(|| malformed("a record must be an object"))?;
    if let Some(extra) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "body" | "hash" | "sig" | "kid" | "leaf"))
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
    let opt = |k: &str| match obj.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| malformed(&format!("field {k:?} must be a string"))),
    };
    let (sig, leaf) = (opt("sig")?, opt("leaf")?);
    match (sig, leaf) {
        (Some(_), Some(_)) => return Err(malformed("a record has a sig or a leaf, not both")),
        (None, None) => return Err(malformed("field \"sig\" must be a string")),
        _ => {}
    }
    Ok(Parts {
        body,
        hash: text("hash")?,
        sig,
        kid: text("kid")?,
        leaf,
    })
}

/// Whether `record` is an unsigned (checkpointed) record: it has a `leaf` and no `sig`.
pub fn is_unsigned(record: &Value) -> bool {
    record.get("sig").is_none() && record.get("leaf").is_some()
}

/// Checks an unsigned record's key, hash and leaf (what can be checked without its
/// checkpoint); returns its body digest.
fn verify_unsigned_parts(p: &Parts<'_>, did: &str) -> Result<[u8; 32]> {
    if p.kid != did {
        return Err(Error::AttestationKey(format!(
            "record names key {} but {did} was expected",
            p.kid
        )));
    }
    let digest = digest_of_map(p.body)?;
    let expected = crate::merkle::to_tagged(&digest);
    if p.hash != expected {
        return Err(Error::AttestationHash(format!(
            "body hashes to {expected}, record says {}",
            p.hash
        )));
    }
    let leaf = crate::merkle::to_tagged(&crate::merkle::leaf_hash(&digest));
    if p.leaf != Some(leaf.as_str()) {
        return Err(Error::AttestationHash(format!(
            "the record's leaf is not the leaf hash of its digest ({leaf})"
        )));
    }
    Ok(digest)
}

/// Checks what a record says about itself — for a signed record, its key, hash and signature
/// ([`verify_attestation`]); for an unsigned (checkpointed) one, its key, hash and leaf only.
/// For records read back from the engine's own store; a third party verifies an unsigned
/// record with [`verify_inclusion_proof`] or in its chain ([`verify_chain`]).
pub(crate) fn verify_integrity(record: &Value, did: &str) -> Result<()> {
    let p = parts(record)?;
    match p.sig {
        Some(_) => verify_attestation(record, did),
        None => verify_unsigned_parts(&p, did).map(|_| ()),
    }
}

/// Checks one record against the signer's did:key: shape, key, hash, signature.
///
/// Errors: `ATTESTATION_MALFORMED`, `ATTESTATION_KEY` (signed by another key), `ATTESTATION_HASH`
/// (the body or the hash was changed), `ATTESTATION_SIGNATURE`, and `ATTESTATION_UNCOVERED` for
/// an unsigned (checkpointed) record: alone it proves nothing — verify it with its inclusion
/// proof ([`verify_inclusion_proof`]) or within its chain ([`verify_chain`]).
pub fn verify_attestation(record: &Value, did: &str) -> Result<()> {
    verify_with(record, did, &PublicKey::from_did(did)?)
}

fn verify_with(record: &Value, did: &str, key: &PublicKey) -> Result<()> {
    verify_in(DOMAIN, record, did, key)
}

pub(crate) fn verify_in(domain: &[u8], record: &Value, did: &str, key: &PublicKey) -> Result<()> {
    verify_parts(domain, &parts(record)?, did, key)
}

/// [`verify_in`] of a record already taken apart.
fn verify_parts(domain: &[u8], p: &Parts<'_>, did: &str, key: &PublicKey) -> Result<()> {
    let (digest, sig) = signed_parts(p, did)?;
    key.verify_strict(&domain_input(domain, &digest), &sig)
        .map_err(Error::AttestationSignature)
}

/// Everything [`verify_parts`] checks but the signature's validity, in the same order (the key
/// named, the hash, a signature present and in base64url): the body's digest and the
/// signature's bytes.
fn signed_parts(p: &Parts<'_>, did: &str) -> Result<([u8; 32], Vec<u8>)> {
    if p.kid != did {
        return Err(Error::AttestationKey(format!(
            "record names key {} but {did} was expected",
            p.kid
        )));
    }
    let digest = digest_of_map(p.body)?;
    let expected = crate::merkle::to_tagged(&digest);
    if p.hash != expected {
        return Err(Error::AttestationHash(format!(
            "body hashes to {expected}, record says {}",
            p.hash
        )));
    }
    let Some(sig) = p.sig else {
        return Err(Error::AttestationUncovered(
            "the record is not signed (checkpointed signing): alone it proves nothing; verify \
             it with its inclusion proof against a signed checkpoint, or within its chain"
                .into(),
        ));
    };
    let sig = b64u_decode(sig).map_err(|e| Error::AttestationSignature(format!("sig: {e}")))?;
    Ok((digest, sig))
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
    let links = verify_chain_in(records, did, None, Workers::available())?;
    let head = verify_head(head, did)?;
    let mut last: Option<(u64, &str)> = None;
    for (i, l) in links.iter().enumerate() {
        if l.chain != head.chain {
            return Err(Error::ChainMismatch(format!(
                "record {i} belongs to chain {:?}, the head to {:?}",
                l.chain, head.chain
            )));
        }
        let seq = l.seq;
        if seq == head.seq && Some(l.hash) != head.hash.as_deref() {
            return Err(Error::ChainMismatch(format!(
                "record {i} (seq {seq}) is not the record the head names"
            )));
        }
        last = Some((seq, l.hash));
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
///
/// Every record is first checked alone (as [`verify_attestation`], or key, hash and leaf for an
/// unsigned one), spread over the available cores for a chain of more than 256 records; then the
/// links are checked in order. The error is the one checking the records one by one reports:
/// the first record that fails alone, else the first fault in the links.
///
/// The signatures of each 256 records are checked as one batch
/// ([`crate::PublicKey::verify_batch`]), ≈ 3× cheaper than one by one, and one by one with
/// `verify_strict` only when a batch fails (to name the record, or to accept what a batch
/// refused under a key with a small-order component). The verdict is `verify_strict`'s on every
/// signature but one kind: a signature whose equation is off by a point of small order, which
/// `verify_strict` refuses and a batch may accept (as cofactored verification does). Only the
/// holder of the chain's secret key can make one, and the engine never does;
/// [`verify_attestation`] on a single record refuses it.
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
    verify_chain_in(records, did, anchor, Workers::available()).map(|_| ())
}

/// How [`verify_chain`] spreads the per-record checks over threads.
#[derive(Debug, Clone, Copy)]
struct Workers {
    /// Threads, the calling one included (1: everything on the calling thread).
    threads: usize,
    /// Records per unit of work (a thread takes the next unchecked unit).
    chunk: usize,
    /// Whether a unit's signatures are checked as one batch ([`PublicKey::verify_batch`]) first,
    /// and one by one only when the batch fails (to name the first fault).
    batch: bool,
}

impl Workers {
    /// One thread per available core (`std::thread::available_parallelism`), units of 256
    /// records checked in one batch (≈ 4 ms of signature checks: small enough to balance, large
    /// enough that handing them out costs nothing measurable, and where a batch's cost per
    /// signature has levelled off: ≈ 10 µs against 31 µs one by one on the bench machine).
    fn available() -> Workers {
        Workers {
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            chunk: 256,
            batch: true,
        }
    }
}

/// What the chain's checks after the per-record ones read of a record, taken while the record
/// is checked alone (on the worker threads), so that the checks in order parse nothing again.
#[derive(Debug, Clone, Copy)]
struct Link<'a> {
    chain: &'a str,
    seq: u64,
    hash: &'a str,
    prev: Option<&'a Value>,
    signed: bool,
    /// The body of a signed `checkpoint` record.
    checkpoint: Option<&'a Map<String, Value>>,
}

impl<'a> Link<'a> {
    /// The link of a record whose parts passed their checks (`seq` among them).
    fn of(p: &Parts<'a>, i: usize) -> Result<Link<'a>> {
        let signed = p.sig.is_some();
        Ok(Link {
            chain: chain_of(p.body),
            seq: body_u64(p.body, "seq", i)?,
            hash: p.hash,
            prev: p.body.get("prev"),
            signed,
            checkpoint: (signed
                && p.body.get("kind").and_then(Value::as_str) == Some(CHECKPOINT_KIND))
            .then_some(p.body),
        })
    }
}

/// Checks every record alone (shape, key, hash, signature or leaf, `seq`) and returns the error
/// of the first record at fault, exactly as checking them one by one in order would: the work
/// is spread over `workers`, a thread stops at the first fault of its unit, and units after a
/// known fault are skipped — the unit holding the first fault is always checked up to it, so
/// the lowest failing index found is the first one. When every record passes, their links in
/// order.
fn check_records<'a>(
    records: &'a [Value],
    did: &str,
    key: &PublicKey,
    workers: Workers,
) -> Result<Vec<Link<'a>>> {
    let check = |i: usize, r: &'a Value| -> Result<Link<'a>> {
        let p = parts(r).map_err(|e| at_record(e, i))?;
        match p.sig {
            Some(_) => verify_parts(DOMAIN, &p, did, key).map_err(|e| at_record(e, i))?,
            None => {
                verify_unsigned_parts(&p, did).map_err(|e| at_record(e, i))?;
            }
        }
        Link::of(&p, i)
    };
    // A unit: its links, unless a record fails; its signatures checked as one batch, and the
    // unit checked again one record at a time (to name the first fault) when anything fails.
    let check_unit =
        |from: usize, unit: &'a [Value]| -> std::result::Result<Vec<Link<'a>>, (usize, Error)> {
            if workers.batch {
                if let Some(links) = batch_links(unit, did, key) {
                    return Ok(links);
                }
            }
            unit.iter()
                .enumerate()
                .map(|(k, r)| check(from + k, r).map_err(|e| (from + k, e)))
                .collect()
        };
    let chunk = workers.chunk.max(1);
    let threads = workers.threads.min(records.len().div_ceil(chunk)).max(1);
    if threads == 1 {
        let mut links = Vec::with_capacity(records.len());
        for (n, unit) in records.chunks(chunk).enumerate() {
            links.extend(check_unit(n * chunk, unit).map_err(|(_, e)| e)?);
        }
        return Ok(links);
    }
    let next = AtomicUsize::new(0);
    let failed_at = AtomicUsize::new(usize::MAX);
    // A thread's units (first index, links) and its fault, if it met one.
    type Found<'a> = (Vec<(usize, Vec<Link<'a>>)>, Option<(usize, Error)>);
    let work = || -> Found<'a> {
        let mut done = Vec::new();
        loop {
            let from = next.fetch_add(1, Ordering::Relaxed).saturating_mul(chunk);
            if from >= records.len() || from > failed_at.load(Ordering::Relaxed) {
                return (done, None);
            }
            let unit = records.get(from..).unwrap_or_default();
            let unit = unit.get(..chunk).unwrap_or(unit);
            match check_unit(from, unit) {
                Ok(links) => done.push((from, links)),
                Err((i, e)) => {
                    failed_at.fetch_min(i, Ordering::Relaxed);
                    // Units are taken in increasing order: this thread's later ones cannot
                    // hold an earlier fault.
                    return (done, Some((i, e)));
                }
            }
        }
    };
    let found: Vec<Found<'a>> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|n| {
                std::thread::Builder::new()
                    .name(format!("passgate-verify-{n}"))
                    .spawn_scoped(s, work)
                    .ok() // no thread: the others (at least this one) take its units
            })
            .collect();
        let mut found = vec![work()];
        for h in helpers {
            found.push(h.join().unwrap_or_else(|_| {
                (
                    Vec::new(),
                    Some((
                        0,
                        Error::Internal("a chain verification thread panicked".into()),
                    )),
                )
            }));
        }
        found
    });
    let mut units = Vec::new();
    let mut first: Option<(usize, Error)> = None;
    for (done, fault) in found {
        units.extend(done);
        if let Some((i, e)) = fault {
            if first.as_ref().is_none_or(|(j, _)| i < *j) {
                first = Some((i, e));
            }
        }
    }
    if let Some((_, e)) = first {
        return Err(e);
    }
    // No fault: every unit was checked, once.
    units.sort_unstable_by_key(|(from, _)| *from);
    let mut links = Vec::with_capacity(records.len());
    for (_, unit) in units {
        links.extend(unit);
    }
    Ok(links)
}

/// The links of `unit` when every record passes the checks [`check_records`] makes one by one,
/// the signatures checked together ([`PublicKey::verify_batch`]: the same verdict as
/// `verify_strict` on each, but where the key or an `R` has a small-order component: see
/// [`crate::PublicKey::verify_batch`]). `None` as soon as anything fails: the caller then
/// checks the unit record by record, which names the first fault and its error.
fn batch_links<'a>(unit: &'a [Value], did: &str, key: &PublicKey) -> Option<Vec<Link<'a>>> {
    let mut links = Vec::with_capacity(unit.len());
    let mut inputs: Vec<Vec<u8>> = Vec::with_capacity(unit.len());
    let mut sigs: Vec<[u8; 64]> = Vec::with_capacity(unit.len());
    for r in unit {
        let p = parts(r).ok()?;
        if p.sig.is_none() {
            verify_unsigned_parts(&p, did).ok()?;
        } else {
            let (digest, sig) = signed_parts(&p, did).ok()?;
            sigs.push(<[u8; 64]>::try_from(sig.as_slice()).ok()?);
            inputs.push(domain_input(DOMAIN, &digest));
        }
        links.push(Link::of(&p, 0).ok()?);
    }
    let msgs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    key.verify_batch(&msgs, &sigs).then_some(links)
}

/// [`verify_chain_anchored`] with the per-record checks spread over `workers`; the records'
/// links when the chain holds.
fn verify_chain_in<'a>(
    records: &'a [Value],
    did: &str,
    anchor: Option<(&str, u64, &str)>,
    workers: Workers,
) -> Result<Vec<Link<'a>>> {
    let key = PublicKey::from_did(did)?;
    let links = check_records(records, did, &key, workers)?;
    let Some(chain0) = links.first().map(|l| l.chain) else {
        return Ok(links);
    };
    // One chain and strictly increasing seqs (every honest chain) repeat no seq: the map of
    // seqs seen is for the others.
    if links.iter().any(|l| l.chain != chain0)
        || links
            .windows(2)
            .any(|w| matches!(w, [a, b] if b.seq <= a.seq))
    {
        let mut seen = std::collections::HashMap::new();
        for (i, l) in links.iter().enumerate() {
            if l.chain != chain0 {
                return Err(Error::ChainMismatch(format!(
                    "record {i} belongs to chain {:?}, record 0 to {chain0:?}",
                    l.chain
                )));
            }
            if let Some(j) = seen.insert(l.seq, i) {
                let what = if links.get(j).is_some_and(|s| s.hash == l.hash) {
                    "repeats"
                } else {
                    "reuses the seq of"
                };
                return Err(Error::ChainDuplicate(format!(
                    "record {i} (seq {}) {what} record {j}",
                    l.seq
                )));
            }
        }
    }
    if let Some(i) = links
        .windows(2)
        .position(|w| matches!(w, [a, b] if b.seq < a.seq))
    {
        let (a, b) = (
            links.get(i).map_or(0, |s| s.seq),
            links.get(i + 1).map_or(0, |s| s.seq),
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
    for (i, l) in links.iter().enumerate() {
        let (seq, link) = (&l.seq, l.prev);
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
        prev = Some((l.seq, l.hash));
    }
    verify_checkpoints(&links, anchor.is_none())?;
    Ok(links)
}

/// Checkpointed signing within a verified range of one chain (links, hashes and signatures
/// already checked): every signed `checkpoint` record must state `tree_size` = its seq − 1 and,
/// when the range starts at seq 1 (`from_genesis`), the RFC 9162 root of the leaves of seq
/// 1..=tree_size; every unsigned record must be followed by a signed checkpoint in the range
/// (`ATTESTATION_UNCOVERED` names the first that is not). From a retention checkpoint the
/// earlier leaves are gone: the roots cannot be recomputed, and an unsigned record is accepted
/// on the hash links to a later signed checkpoint alone.
fn verify_checkpoints(links: &[Link<'_>], from_genesis: bool) -> Result<()> {
    // The tree is only read at a checkpoint: a chain without one (signing "each") needs none.
    let mut tree = (from_genesis && links.iter().any(|l| l.checkpoint.is_some()))
        .then(crate::merkle::Tree::new);
    let mut uncovered: Option<(usize, u64)> = None;
    for (i, l) in links.iter().enumerate() {
        let seq = l.seq;
        if let Some(body) = l.checkpoint {
            let head = head_data(body, seq).map_err(|e| at_record(e, i))?;
            if let Some(t) = &tree {
                let root = t.root(head.tree_size)?;
                if root != head.root {
                    return Err(Error::AttestationHash(format!(
                        "record {i} (seq {seq}): the checkpoint's root {} is not the Merkle root \
                         {} of the records before it",
                        crate::merkle::to_tagged(&head.root),
                        crate::merkle::to_tagged(&root)
                    )));
                }
            }
            uncovered = None;
        }
        if !l.signed && uncovered.is_none() {
            uncovered = Some((i, seq));
        }
        if let Some(t) = tree.as_mut() {
            let digest = crate::merkle::from_tagged(l.hash).ok_or_else(|| {
                Error::AttestationMalformed(format!("record {i}: hash is not sha256:<hex>"))
            })?;
            t.push(crate::merkle::leaf_hash(&digest));
        }
    }
    match uncovered {
        None => Ok(()),
        Some((i, seq)) => Err(Error::AttestationUncovered(format!(
            "record {i} (seq {seq}) is unsigned and no later signed checkpoint in the records \
             covers it: give the records up to the next checkpoint (or ask the engine for one)"
        ))),
    }
}

/// The `kind` of a signed tree head record (checkpointed signing).
pub const CHECKPOINT_KIND: &str = "checkpoint";

/// What a `checkpoint` record's `data` states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeHead {
    pub tree_size: u64,
    pub root: crate::merkle::Hash,
    pub time_ms: i64,
}

/// Reads a checkpoint body's `data`: `tree_size` must be `seq − 1`, `root` a `sha256:` hash.
fn head_data(body: &Map<String, Value>, seq: u64) -> Result<TreeHead> {
    let malformed = |m: &str| Error::AttestationMalformed(format!("checkpoint: {m}"));
    let data = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("data must be an object"))?;
    let tree_size = data
        .get("tree_size")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("data.tree_size must be a non-negative integer"))?;
    if seq.checked_sub(1) != Some(tree_size) {
        return Err(malformed(&format!(
            "data.tree_size is {tree_size} but a checkpoint at seq {seq} covers {} records",
            seq.saturating_sub(1)
        )));
    }
    let root = data
        .get("root")
        .and_then(Value::as_str)
        .and_then(crate::merkle::from_tagged)
        .ok_or_else(|| malformed("data.root must be sha256:<64 hex>"))?;
    let time_ms = data
        .get("time_ms")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed("data.time_ms must be an integer"))?;
    Ok(TreeHead {
        tree_size,
        root,
        time_ms,
    })
}

/// Checks a signed `checkpoint` record (a tree head of checkpointed signing) against the
/// signer's did:key and returns what it states with its chain. Errors as
/// [`verify_attestation`], and `ATTESTATION_MALFORMED` if it is not a checkpoint record.
pub fn verify_tree_head(head: &Value, did: &str) -> Result<(String, TreeHead)> {
    verify_attestation(head, did)?;
    let p = parts(head)?;
    if p.body.get("kind").and_then(Value::as_str) != Some(CHECKPOINT_KIND) {
        return Err(Error::AttestationMalformed(
            "the head is not a checkpoint record (body.kind must be \"checkpoint\")".into(),
        ));
    }
    let seq = body_u64(p.body, "seq", 0)?;
    Ok((chain_of(p.body).to_string(), head_data(p.body, seq)?))
}

/// Verifies that `record` (a record of the chain, signed or not) is in the signed log: its hash
/// and leaf are its body's, `proof["head"]` is a `checkpoint` record signed by `did` on the same
/// chain, and `proof["proof"]` is an RFC 9162 inclusion path of the record's leaf (index `seq −
/// 1`) in the head's tree. `proof` is what `inclusion_proof` returns: `{seq, leaf_index,
/// leaf_hash, tree_size, proof: ["sha256:<hex>", …], head}`; its `seq`, `leaf_index`,
/// `leaf_hash` and `tree_size`, when present, must agree with the record and the head.
///
/// Errors: those of [`verify_attestation`] for the head, `ATTESTATION_HASH` (the record was
/// changed), `ATTESTATION_KEY`, `ATTESTATION_MALFORMED`, `CHAIN_MISMATCH` (record and head of
/// different chains), `ATTESTATION_PROOF` (the path does not lead to the head's root, or the head
/// does not cover the record).
pub fn verify_inclusion_proof(record: &Value, proof: &Value, did: &str) -> Result<()> {
    let p = parts(record)?;
    let digest = match p.sig {
        Some(_) => {
            verify_attestation(record, did)?;
            crate::merkle::from_tagged(p.hash)
                .ok_or_else(|| Error::AttestationMalformed("hash is not sha256:<hex>".into()))?
        }
        None => verify_unsigned_parts(&p, did)?,
    };
    let leaf = crate::merkle::leaf_hash(&digest);
    let seq = body_u64(p.body, "seq", 0)?;
    let doc = proof
        .as_object()
        .ok_or_else(|| Error::AttestationMalformed("the proof must be an object".into()))?;
    let head = doc
        .get("head")
        .ok_or_else(|| Error::AttestationMalformed("the proof has no head".into()))?;
    let (chain, th) = verify_tree_head(head, did)?;
    if chain != chain_of(p.body) {
        return Err(Error::ChainMismatch(format!(
            "the record belongs to chain {:?}, the head to {chain:?}",
            chain_of(p.body)
        )));
    }
    let bad = |m: String| Error::AttestationProof(m);
    let index = seq
        .checked_sub(1)
        .ok_or_else(|| bad("the record's seq must be at least 1".into()))?;
    let agrees = |k: &str, want: &Value| match doc.get(k) {
        None => Ok(()),
        Some(v) if v == want => Ok(()),
        Some(v) => Err(bad(format!(
            "the proof's {k} is {v}, the record's is {want}"
        ))),
    };
    agrees("seq", &json!(seq))?;
    agrees("leaf_index", &json!(index))?;
    agrees("leaf_hash", &json!(crate::merkle::to_tagged(&leaf)))?;
    agrees("tree_size", &json!(th.tree_size))?;
    let path = doc
        .get("proof")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::AttestationMalformed("proof.proof must be an array".into()))?;
    let mut hashes = Vec::with_capacity(path.len());
    for (i, h) in path.iter().enumerate() {
        hashes.push(
            h.as_str()
                .and_then(crate::merkle::from_tagged)
                .ok_or_else(|| {
                    Error::AttestationMalformed(format!("proof.proof[{i}] must be sha256:<hex>"))
                })?,
        );
    }
    if index >= th.tree_size {
        return Err(bad(format!(
            "the head covers seq 1..={} and does not cover seq {seq}",
            th.tree_size
        )));
    }
    if !crate::merkle::verify_inclusion(&leaf, index, th.tree_size, &hashes, &th.root) {
        return Err(bad(format!(
            "the inclusion path of seq {seq} does not lead to the head's root (tree size {})",
            th.tree_size
        )));
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
    /// The chain's Merkle leaves and signed tree heads (checkpointed signing).
    pub(crate) log: ChainLog,
}

/// A signed tree head of a chain: the `checkpoint` record at `seq`, covering seq 1..=`tree_size`.
#[derive(Debug, Clone)]
pub(crate) struct HeadRef {
    pub seq: u64,
    pub tree_size: u64,
    pub record: Record,
}

/// One chain's Merkle log: a leaf per record (seq 1..=`tree.len()`) and its signed heads, kept
/// in step with the tail. `valid` is false when the tail moved without this log seeing the
/// record (a write whose reply was lost landed): then it is rebuilt from the store before use.
#[derive(Debug, Clone)]
pub(crate) struct ChainLog {
    pub tree: crate::merkle::Tree,
    pub heads: Vec<HeadRef>,
    pub valid: bool,
    /// When the last head was written (or the log started counting): the interval trigger.
    pub since_ms: Option<i64>,
}

impl ChainLog {
    pub fn new() -> ChainLog {
        ChainLog {
            tree: crate::merkle::Tree::new(),
            heads: Vec::new(),
            valid: true,
            since_ms: None,
        }
    }

    /// The newest head, if any.
    pub fn last_head(&self) -> Option<&HeadRef> {
        self.heads.last()
    }
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
            log: ChainLog::new(),
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
        match crate::merkle::from_tagged(&hash) {
            Some(d) if self.log.valid && self.log.tree.len() == self.seq => {
                self.log.tree.push(crate::merkle::leaf_hash(&d));
            }
            _ => self.log.valid = false,
        }
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
        if self.log.tree.len() != self.seq {
            self.log.valid = false;
        }
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
        self.log = ChainLog::new();
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

/// What a decision record says, beside its place in the chain (see [`seal_decision`]).
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
/// The decision body as a `Value`: the writer before [`body`], kept as the reference its bytes
/// are tested against.
#[cfg(test)]
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

    /// The reference: every per-record check on the calling thread, in order (the code path of
    /// `verify_chain` before it was spread over threads).
    const ONE: Workers = Workers {
        threads: 1,
        chunk: usize::MAX,
        batch: false,
    };
    /// More threads than this machine has cores and small units, so that many units are in
    /// flight and a fault is often found by a thread other than the one whose unit is first.
    const MANY: Workers = Workers {
        threads: 4,
        chunk: 7,
        batch: true,
    };

    fn chain(key: &KeyPair, n: u64) -> Vec<Value> {
        let mut prev = Value::Null;
        (1..=n)
            .map(|seq| {
                let body = json!({"v": VERSION, "kind": "test.event", "chain": "c1", "seq": seq,
                    "prev": prev, "time": 1_700_000_000_000_i64 + seq as i64, "data": {"n": seq}});
                let (record, hash) = seal(body, key).unwrap();
                prev = Value::String(hash);
                record
            })
            .collect()
    }

    /// A fault of `kind` put into record `i` (the records after it are left as they were).
    fn tamper(records: &mut [Value], key: &KeyPair, other: &KeyPair, i: usize, kind: u8) {
        let r = &mut records[i];
        match kind {
            // a valid signature, by another key, over this record's digest
            0 => {
                let digest = digest_of(&r["body"]).unwrap();
                r["sig"] = json!(b64u_encode(&other.sign(&domain_input(DOMAIN, &digest))));
            }
            // the body changed, the hash and signature kept
            1 => r["body"]["data"]["n"] = json!(0),
            // a different prev, hashed and signed again by the chain's key
            2 => {
                let mut body = r["body"].clone();
                body["prev"] = json!(format!("sha256:{}", "0".repeat(64)));
                *r = seal(body, key).unwrap().0;
            }
            // not a record
            3 => *r = json!({"body": {}, "hash": 1}),
            // a signature only the chain's key could make, which satisfies the verification
            // equation and has an R of small order: strict verification refuses it, and so
            // must a batch
            5 => {
                let digest = digest_of(&r["body"]).unwrap();
                let sig = key.sign_with_identity_r(&domain_input(DOMAIN, &digest));
                r["sig"] = json!(b64u_encode(&sig));
            }
            // another key named
            _ => r["kid"] = json!(other.did()),
        }
    }

    fn expected(kind: u8, i: usize) -> (&'static str, String) {
        match kind {
            0 => ("ATTESTATION_SIGNATURE", format!("record {i}:")),
            1 => ("ATTESTATION_HASH", format!("record {i}:")),
            2 => ("CHAIN_ORDER", format!("record {i} ")),
            3 => ("ATTESTATION_MALFORMED", format!("record {i}:")),
            5 => ("ATTESTATION_SIGNATURE", format!("record {i}:")),
            _ => ("ATTESTATION_KEY", format!("record {i}:")),
        }
    }

    #[test]
    fn parallel_verification_reports_the_first_fault_as_the_sequential_one_does() {
        let (key, other) = (KeyPair::generate().unwrap(), KeyPair::generate().unwrap());
        let did = key.did().to_string();
        let good = chain(&key, 300);
        assert_eq!(verify_chain_in(&good, &did, None, MANY).map(|_| ()), Ok(()));
        assert_eq!(verify_chain_in(&good, &did, None, ONE).map(|_| ()), Ok(()));
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).unwrap();
        let seed = u64::from_le_bytes(seed);
        let mut rng = seed;
        let mut next = |n: usize| {
            // splitmix64: positions drawn from the logged seed, so a failure can be replayed
            rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            usize::try_from((z ^ (z >> 31)) % n as u64).unwrap()
        };
        for round in 0..48 {
            let kind = u8::try_from(round % 6).unwrap();
            let i = next(good.len());
            let mut records = good.clone();
            tamper(&mut records, &key, &other, i, kind);
            // Often a second fault of another kind later in the chain: the first still wins.
            // (Not after a wrong prev: every record is checked alone before the links are, so
            // a later bad record is reported before an earlier bad link, as it always was.)
            if round % 3 != 0 && kind != 2 && i + 1 < good.len() {
                let j = i + 1 + next(good.len() - i - 1);
                let second = (kind + 1 + u8::try_from(round % 4).unwrap()) % 6;
                if second != kind {
                    tamper(&mut records, &key, &other, j, second);
                }
            }
            let one = verify_chain_in(&records, &did, None, ONE).unwrap_err();
            let many = verify_chain_in(&records, &did, None, MANY).unwrap_err();
            let (code, at) = expected(kind, i);
            assert_eq!(many, one, "seed {seed}, round {round}, fault {kind} at {i}");
            assert_eq!(one.code(), code, "seed {seed}, round {round}: {one}");
            assert!(
                one.to_string().contains(&at),
                "seed {seed}, round {round}: {one}"
            );
            let avail = verify_chain_in(&records, &did, None, Workers::available()).unwrap_err();
            assert_eq!(avail, one, "seed {seed}, round {round}");
        }
    }

    #[test]
    fn checkpointed_chains_verify_the_same_in_parallel() {
        let issuer = crate::Issuer::generate().unwrap();
        let token = issuer
            .issue_passport(&crate::PassportRequest::new("agent", ["pay"]))
            .unwrap()
            .token;
        let engine = crate::Engine::builder()
            .policy_value(json!({"version": 1, "gates": {"pay": {"require": ["pay"]}}}))
            .trusted_issuer(issuer.did())
            .signing(crate::Signing::checkpoint())
            .build()
            .unwrap();
        let req = crate::Request::new("pay", json!({"amount": 5})).passport(&token);
        for n in 0..200 {
            assert!(engine.enforce(&req).unwrap().allowed);
            if n % 61 == 60 {
                engine.checkpoint().unwrap();
            }
        }
        let did = engine.signer_did().to_string();
        let covered = {
            engine.checkpoint().unwrap();
            engine
                .attestations(&crate::AttestationFilter::default())
                .unwrap()
        };
        assert!(covered.iter().any(is_unsigned));
        assert_eq!(
            verify_chain_in(&covered, &did, None, MANY).map(|_| ()),
            Ok(())
        );
        // without the last checkpoint the unsigned tail is uncovered
        let cut = &covered[..covered.len() - 1];
        let one = verify_chain_in(cut, &did, None, ONE).unwrap_err();
        assert_eq!(one.code(), "ATTESTATION_UNCOVERED");
        assert_eq!(verify_chain_in(cut, &did, None, MANY).unwrap_err(), one);
        // an unsigned record changed: its hash no longer matches, found at the same index
        let i = covered.iter().rposition(is_unsigned).unwrap();
        let mut changed = covered.clone();
        changed[i]["body"]["data"] = json!({"n": -1});
        let one = verify_chain_in(&changed, &did, None, ONE).unwrap_err();
        assert_eq!(one.code(), "ATTESTATION_HASH");
        assert!(one.to_string().contains(&format!("record {i}:")), "{one}");
        assert_eq!(
            verify_chain_in(&changed, &did, None, MANY).unwrap_err(),
            one
        );
    }

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
