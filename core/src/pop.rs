//! Proof of possession (PoP) and trust levels: a stolen passport alone is useless at a gate that
//! asks the presenting agent to prove, on every request, that it holds the passport's `cnf` key.
//!
//! # Trust levels
//!
//! A gate's `trust_level` (policy field, default `L1`) says what it asks of a caller:
//!
//! - `L1`: a verified passport (the chain up to a trusted issuer), as every gate always did.
//! - `L2`: `L1`, and the chain's **root issuer is trusted at class `L2`**. An issuer's class is
//!   `L1` unless the policy's `issuer_levels` (`{"<did:key>": "L2"}`) or the builder
//!   ([`EngineBuilder::issuer_level`](crate::EngineBuilder::issuer_level)) raises it; the two
//!   are merged, the higher wins. The class says nothing of trust itself: an issuer with a
//!   class but not trusted (builder, policy `issuers`, `trust_issuer`) is still
//!   `ISSUER_UNTRUSTED`. A failed class is a `trust_level` check with code `TRUST_LEVEL`.
//! - `L3`: `L2` (L3 implies L2), and a valid proof of possession (`pop`) on the request.
//!
//! The **effective** level of a gate is the higher of the policy's `trust_level` and the
//! `trust_level` advertised by the gate's current published catalog (when the store keeps
//! catalogs): a catalog that promises callers L3 is never served at L1 by a laxer policy.
//! Anonymous callers are judged by the anonymous section alone (no passport, no key): a gate
//! above L1 does not admit them.
//!
//! # The proof
//!
//! A request may carry `pop: {nonce, ts, sig}`:
//! - `nonce`: 16 to 64 characters of `[A-Za-z0-9_-]`, chosen by the agent, used once;
//! - `ts`: milliseconds since the epoch, when the agent made the proof;
//! - `sig`: base64url (no padding) of the Ed25519 signature of
//!   `passgate/pop/v1\n` ‖ SHA-256(JCS(`{"gate", "request_hash", "nonce", "ts", "catalog_hash"}`))
//!   where `request_hash` is the engine's request hash (of the payload: [`request_hash`]; the
//!   `pop` field is never part of it) and `catalog_hash` the `content_hash` of the passport's
//!   catalog pin for the gate, or `null` without one.
//!
//! It is verified (`verify_strict`) against the **leaf** passport's `cnf` key: the agent that
//! presents the passport, never an ancestor. Its checks, in order, each a `pop` check that
//! fails the decision (a deny, never an exception): `POP_REQUIRED` (an L3 gate and no `pop`),
//! `POP_STALE` (`|now - ts|` over the engine's PoP leeway, default 60 s:
//! [`EngineBuilder::pop_leeway_secs`](crate::EngineBuilder::pop_leeway_secs)), `POP_INVALID`
//! (the signature does not verify over this gate, payload and pin), `POP_REPLAYED` (the nonce
//! was used already). A `pop` presented to a gate that does not require one is verified all the
//! same: a bad one denies, a good one is recorded. A malformed `pop` (not an object, a missing or
//! unknown field, a wrong type, a bad nonce alphabet or length, a `sig` that is not 64 bytes of
//! base64url) is `INVALID_ARGUMENT` at its path (`/pop/nonce`, ...): a request error.
//!
//! # Nonces
//!
//! A nonce is remembered by `(the leaf's cnf did, nonce)` — keyed by what the chain proves, so one
//! agent cannot burn another's nonces — until `ts + 2 × leeway`: any `ts` still acceptable then
//! cannot be replayed, and the store prunes it after. The nonce is inserted (insert-if-absent) in
//! the same store commit as the decision's counters and record: if it is already there, nothing of
//! the decision is committed and the engine commits a deny (`POP_REPLAYED`) instead — two
//! engines on one store, racing one nonce, admit one request. Every decided request burns its
//! nonce, a deny too (a denied request cannot be replayed later, when it would pass). A dry run
//! verifies the proof and checks that the nonce is unseen, and records nothing. An idempotent
//! retry (same `idempotency_key`) returns the first decision before any nonce is looked at.
//!
//! The decision's `pop` check and its attestation body (`pop: {nonce, ts}`) show an auditor that
//! the proof was verified.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::engine::Request;
use crate::error::{Error, Result};
use crate::keys::{b64u_decode, b64u_encode, KeyPair, PublicKey};

/// The bytes every PoP signature starts with (`passgate/pop/v1` and a newline).
pub const POP_DOMAIN: &[u8] = b"passgate/pop/v1\n";

/// The shortest nonce.
pub const NONCE_MIN: usize = 16;
/// The longest nonce.
pub const NONCE_MAX: usize = 64;
/// The default PoP leeway, in seconds.
pub const DEFAULT_POP_LEEWAY_SECS: i64 = 60;
/// The largest PoP leeway an engine accepts (an hour).
pub const MAX_POP_LEEWAY_SECS: i64 = 3600;

/// A proof of possession, as a request carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pop {
    /// 16 to 64 characters of `[A-Za-z0-9_-]`, used once.
    #[schemars(length(min = 16, max = 64), regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub nonce: String,
    /// When the proof was made, in milliseconds since the epoch.
    pub ts: i64,
    /// Base64url (no padding) of the Ed25519 signature (see the module documentation).
    #[schemars(length(min = 86, max = 86))]
    pub sig: String,
}

impl Pop {
    /// Reads a `pop` value strictly: `INVALID_ARGUMENT` at `/pop/<field>` naming what is wrong.
    pub fn from_value(v: &Value) -> Result<Pop> {
        let obj = v.as_object().ok_or_else(|| {
            Error::argument(
                "/pop",
                format!(
                    "pop must be an object {{nonce, ts, sig}}, not {}",
                    crate::json::type_name(v)
                ),
            )
        })?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "nonce" | "ts" | "sig"))
        {
            let shown: String = k.chars().take(64).collect();
            return Err(Error::argument(
                format!("/pop/{}", crate::pointer::escape(&shown)),
                format!("unknown field {shown:?} (pop holds nonce, ts and sig)"),
            ));
        }
        let field = |name: &str| {
            obj.get(name).ok_or_else(|| {
                Error::argument(format!("/pop/{name}"), format!("{name} is required"))
            })
        };
        let nonce = match field("nonce")? {
            Value::String(s) => s.clone(),
            other => {
                return Err(Error::argument(
                    "/pop/nonce",
                    format!(
                        "nonce must be a string, not {}",
                        crate::json::type_name(other)
                    ),
                ))
            }
        };
        check_nonce(&nonce)?;
        let ts = field("ts")?;
        let ts = ts
            .as_i64()
            .filter(|t| *t >= 0 && ts.to_string().bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                Error::argument(
                    "/pop/ts",
                    "ts must be a whole number of milliseconds since the epoch (0 to 2^63-1)",
                )
            })?;
        let sig = match field("sig")? {
            Value::String(s) => s.clone(),
            other => {
                return Err(Error::argument(
                    "/pop/sig",
                    format!(
                        "sig must be a string, not {}",
                        crate::json::type_name(other)
                    ),
                ))
            }
        };
        sig_bytes(&sig)?;
        Ok(Pop { nonce, ts, sig })
    }

    /// As JSON: `{"nonce", "ts", "sig"}`.
    pub fn to_value(&self) -> Value {
        json!({"nonce": self.nonce, "ts": self.ts, "sig": self.sig})
    }
}

/// `INVALID_ARGUMENT` at `/pop/nonce` unless `nonce` is 16 to 64 characters of `[A-Za-z0-9_-]`.
pub fn check_nonce(nonce: &str) -> Result<()> {
    if !(NONCE_MIN..=NONCE_MAX).contains(&nonce.len()) {
        return Err(Error::argument(
            "/pop/nonce",
            format!(
                "nonce must be {NONCE_MIN} to {NONCE_MAX} characters, got {}",
                nonce.len()
            ),
        ));
    }
    if !nonce
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::argument(
            "/pop/nonce",
            "nonce must be characters of A-Z, a-z, 0-9, '_' and '-'",
        ));
    }
    Ok(())
}

fn sig_bytes(sig: &str) -> Result<[u8; 64]> {
    if sig.len() != 86 {
        return Err(Error::argument(
            "/pop/sig",
            format!(
                "sig must be the 86 base64url characters of an Ed25519 signature, got {} characters",
                sig.len()
            ),
        ));
    }
    let bytes = b64u_decode(sig).map_err(|_| {
        Error::argument(
            "/pop/sig",
            "sig must be base64url without padding (an Ed25519 signature: 86 characters)",
        )
    })?;
    bytes.as_slice().try_into().map_err(|_| {
        Error::argument(
            "/pop/sig",
            format!(
                "sig decodes to {} bytes, not the 64 of an Ed25519 signature",
                bytes.len()
            ),
        )
    })
}

/// The bytes a PoP signs: [`POP_DOMAIN`] ‖ SHA-256(JCS(`{gate, request_hash, nonce, ts,
/// catalog_hash}`)).
pub fn message(
    gate: &str,
    request_hash: &str,
    nonce: &str,
    ts: i64,
    catalog_hash: Option<&str>,
) -> Result<Vec<u8>> {
    let doc = json!({
        "gate": gate,
        "request_hash": request_hash,
        "nonce": nonce,
        "ts": ts,
        "catalog_hash": catalog_hash,
    });
    let canonical = crate::json::canonical(&doc)?;
    let mut msg = POP_DOMAIN.to_vec();
    msg.extend_from_slice(&Sha256::digest(canonical.as_bytes()));
    Ok(msg)
}

/// A fresh random nonce (32 characters of base64url).
pub fn random_nonce() -> Result<String> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Internal(format!("no randomness for a nonce: {e}")))?;
    Ok(b64u_encode(&bytes))
}

/// Makes the proof of possession for `req` (its gate and payload; its `pop` is ignored) with the
/// agent's key — the key named by the `cnf` of the passport the request presents. `catalog_hash`
/// is the `content_hash` of the passport's catalog pin for the gate (`None` without one); `nonce`
/// defaults to a fresh random one, `ts` to now (the system clock).
///
/// ```
/// # use passgate::{KeyPair, Request};
/// let agent = KeyPair::generate()?;
/// let req = Request::new("payments.send", serde_json::json!({"amount": 5}));
/// let pop = passgate::pop::sign(&agent, &req, None, None, None)?;
/// assert_eq!(pop.sig.len(), 86);
/// # Ok::<(), passgate::Error>(())
/// ```
pub fn sign(
    agent_key: &KeyPair,
    req: &Request,
    catalog_hash: Option<&str>,
    nonce: Option<String>,
    ts: Option<i64>,
) -> Result<Pop> {
    crate::engine::check_name("gate", &req.gate)?;
    let nonce = match nonce {
        Some(n) => n,
        None => random_nonce()?,
    };
    check_nonce(&nonce)?;
    let ts = match ts {
        Some(t) if t >= 0 => t,
        Some(_) => return Err(Error::argument("/pop/ts", "ts must not be negative")),
        None => crate::clock::Clock::now_ms(&crate::clock::SystemClock),
    };
    let hash = crate::engine::request_hash(req)?;
    let msg = message(&req.gate, &hash, &nonce, ts, catalog_hash)?;
    Ok(Pop {
        nonce,
        ts,
        sig: b64u_encode(&agent_key.sign(&msg)),
    })
}

/// Why a proof does not hold (each a `pop` check code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    Stale(String),
    Invalid(String),
}

/// Verifies `pop` for the request to `gate` with hash `request_hash`, by the agent `agent_did`
/// (the leaf's `cnf`), at `now_ms` with `leeway_ms`.
pub(crate) fn verify(
    pop: &Pop,
    agent_did: &str,
    gate: &str,
    request_hash: &str,
    catalog_hash: Option<&str>,
    now_ms: i64,
    leeway_ms: i64,
) -> std::result::Result<(), Failure> {
    let skew = now_ms.saturating_sub(pop.ts).saturating_abs();
    if skew > leeway_ms {
        return Err(Failure::Stale(format!(
            "pop ts {} is {} ms from the engine's clock, more than the {} ms leeway",
            pop.ts, skew, leeway_ms
        )));
    }
    let sig = sig_bytes(&pop.sig).map_err(|e| Failure::Invalid(e.to_string()))?;
    let key = PublicKey::from_did(agent_did).map_err(|e| Failure::Invalid(e.to_string()))?;
    let msg = message(gate, request_hash, &pop.nonce, pop.ts, catalog_hash)
        .map_err(|e| Failure::Invalid(e.to_string()))?;
    key.verify_strict(&msg, &sig).map_err(|_| {
        Failure::Invalid(format!(
            "pop signature does not verify under the passport's cnf key {agent_did} for this \
             gate, payload and catalog pin"
        ))
    })
}

/// The store key of a nonce: the agent's did and the nonce (a did:key holds no space).
pub(crate) fn nonce_key(agent_did: &str, nonce: &str) -> String {
    format!("{agent_did} {nonce}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_any_change_fails() {
        let k = KeyPair::generate().unwrap();
        let req = Request::new("g", json!({"a": 1}));
        let pop = sign(&k, &req, None, Some("n".repeat(16)), Some(1000)).unwrap();
        let h = crate::engine::request_hash(&req).unwrap();
        assert!(verify(&pop, k.did(), "g", &h, None, 1000, 60_000).is_ok());
        assert!(verify(&pop, k.did(), "h", &h, None, 1000, 60_000).is_err());
        assert!(verify(&pop, k.did(), "g", &h, Some("sha256:00"), 1000, 60_000).is_err());
        assert!(matches!(
            verify(&pop, k.did(), "g", &h, None, 70_000, 60_000),
            Err(Failure::Stale(_))
        ));
    }

    #[test]
    fn malformed_pops_name_their_field() {
        let good = json!({"nonce": "a".repeat(16), "ts": 1, "sig": "A".repeat(86)});
        assert!(Pop::from_value(&good).is_ok());
        for (v, path) in [
            (json!("x"), "/pop"),
            (json!({"nonce": "a".repeat(16), "ts": 1}), "/pop/sig"),
            (
                json!({"nonce": "short", "ts": 1, "sig": "A".repeat(86)}),
                "/pop/nonce",
            ),
            (
                json!({"nonce": "a b".repeat(8), "ts": 1, "sig": "A".repeat(86)}),
                "/pop/nonce",
            ),
            (
                json!({"nonce": 5, "ts": 1, "sig": "A".repeat(86)}),
                "/pop/nonce",
            ),
            (
                json!({"nonce": "a".repeat(16), "ts": "1", "sig": "A".repeat(86)}),
                "/pop/ts",
            ),
            (
                json!({"nonce": "a".repeat(16), "ts": -1, "sig": "A".repeat(86)}),
                "/pop/ts",
            ),
            (
                json!({"nonce": "a".repeat(16), "ts": 1.5, "sig": "A".repeat(86)}),
                "/pop/ts",
            ),
            (
                json!({"nonce": "a".repeat(16), "ts": 1, "sig": "A".repeat(85)}),
                "/pop/sig",
            ),
            (
                json!({"nonce": "a".repeat(16), "ts": 1, "sig": "A".repeat(84)}),
                "/pop/sig",
            ),
            (
                json!({"nonce": "a".repeat(16), "ts": 1, "sig": "A".repeat(86), "x": 1}),
                "/pop/x",
            ),
        ] {
            let e = Pop::from_value(&v).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{v}");
            assert_eq!(e.path(), Some(path), "{v}");
        }
    }
}
