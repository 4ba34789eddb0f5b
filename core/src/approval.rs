//! Approval tokens: what `Engine::approve` hands a human-facing host, and what the agent presents
//! on its retry.
//!
//! A token is `pga1.<base64url(claims)>.<base64url(sig)>` where `claims` is the RFC 8785 JSON of
//! `{v, jti, evaluation_id, fingerprint, gate, passport_id, approver, iat, exp, kid}` (times in
//! epoch ms; the anonymous caller's `client` is bound through `fingerprint`) and `sig` is Ed25519,
//! by the approving engine's key (`kid`), over `passgate-approval-v1\n` followed by the SHA-256
//! of the claims.
//!
//! A token is valid only if **all** of these hold (the engine checks them; the agent holding the
//! token is the adversary, and it can read the attestation log):
//! - it is at most [`MAX_TOKEN_BYTES`] long (checked before anything is decoded);
//! - its `kid` is a key the engine trusts for approvals — its own signing key, or the key the
//!   store's approval record names as the approving engine's — and the signature verifies with it
//!   (a token signed with any other key, the agent's own included, proves nothing);
//! - its claims equal the store's approval record (fingerprint, gate, passport), and the request
//!   presenting it has that same fingerprint (gate, passport, client, payload);
//! - the record is `approved` with this token's `jti`, not expired; admitting the request marks
//!   it `used` in the same atomic commit, which checks the token id and the fingerprint again.
//!
//! The log never holds a token id in clear (`approval.granted` records its SHA-256).

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::{b64u_decode, b64u_encode, KeyPair, PublicKey};

/// The bytes every approval signature starts with.
pub const DOMAIN: &[u8] = b"passgate-approval-v1\n";
/// The longest approval token read; a longer one is refused before it is decoded.
pub const MAX_TOKEN_BYTES: usize = 4096;
const PREFIX: &str = "pga1";

/// The fields an approval binds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub jti: String,
    pub evaluation_id: String,
    pub fingerprint: String,
    pub gate: String,
    pub passport_id: Option<String>,
    pub approver: String,
    pub iat_ms: i64,
    pub exp_ms: i64,
    pub kid: String,
}

fn signing_input(canonical: &str) -> Vec<u8> {
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(&Sha256::digest(canonical.as_bytes()));
    msg
}

/// Signs `claims` (their `kid` must be `key`'s did) into a token.
pub fn sign(claims: &Claims, key: &KeyPair) -> Result<String> {
    let body = json!({
        "v": 1, "jti": claims.jti, "evaluation_id": claims.evaluation_id,
        "fingerprint": claims.fingerprint, "gate": claims.gate, "passport_id": claims.passport_id,
        "approver": claims.approver, "iat": claims.iat_ms, "exp": claims.exp_ms, "kid": key.did(),
    });
    let canonical = json::canonical(&body)?;
    let sig = key.sign(&signing_input(&canonical));
    Ok(format!(
        "{PREFIX}.{}.{}",
        b64u_encode(canonical.as_bytes()),
        b64u_encode(&sig)
    ))
}

/// A token read but not yet verified: its claims, and what its signature covers.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub claims: Claims,
    canonical: String,
    sig: Vec<u8>,
}

impl Decoded {
    /// Checks the signature against the key `trusted` (a did:key): the token's `kid` must be it.
    /// A token whose `kid` is any other key fails, whatever its signature.
    pub fn verify_by(&self, trusted: &str) -> Result<()> {
        if self.claims.kid != trusted {
            return Err(Error::InvalidArgument(
                "approval token: signed by a key this engine does not trust for approvals"
                    .to_string(),
            ));
        }
        PublicKey::from_did(trusted)?
            .verify_strict(&signing_input(&self.canonical), &self.sig)
            .map_err(|e| Error::InvalidArgument(format!("approval token: signature: {e}")))
    }
}

/// Reads `token` and verifies its signature by one of `trusted` (did:keys). Validity against the
/// store, the request and the clock is the engine's business. Errors are `INVALID_ARGUMENT`.
pub fn verify(token: &str, trusted: &[&str]) -> Result<Claims> {
    let d = decode(token)?;
    let key = trusted
        .iter()
        .find(|k| **k == d.claims.kid)
        .copied()
        .unwrap_or_default();
    d.verify_by(key)?;
    Ok(d.claims)
}

/// The SHA-256 of a token id, as the log records it (`sha256:<hex>`).
pub fn token_id_hash(jti: &str) -> String {
    json::sha256_tagged(jti.as_bytes())
}

/// Reads a token's claims **without** verifying its signature (see [`Decoded::verify_by`]).
/// Bounded: a token over [`MAX_TOKEN_BYTES`] is refused before decoding.
pub fn decode(token: &str) -> Result<Decoded> {
    let bad = |m: &str| Error::InvalidArgument(format!("approval token: {m}"));
    if token.len() > MAX_TOKEN_BYTES {
        return Err(bad(&format!("longer than {MAX_TOKEN_BYTES} bytes")));
    }
    let mut parts = token.split('.');
    let (Some(PREFIX), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a passgate approval token"));
    };
    let body = b64u_decode(body).map_err(|e| bad(&e))?;
    let sig = b64u_decode(sig).map_err(|e| bad(&e))?;
    let text = std::str::from_utf8(&body).map_err(|_| bad("claims are not UTF-8"))?;
    let v = json::parse_in(text, Limits::PAYLOAD, Context::Argument)?;
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(&format!("claim {k} missing")))
    };
    let n = |k: &str| {
        v.get(k)
            .and_then(Value::as_i64)
            .ok_or_else(|| bad(&format!("claim {k} missing")))
    };
    let claims = Claims {
        jti: s("jti")?,
        evaluation_id: s("evaluation_id")?,
        fingerprint: s("fingerprint")?,
        gate: s("gate")?,
        passport_id: v
            .get("passport_id")
            .and_then(Value::as_str)
            .map(str::to_string),
        approver: s("approver")?,
        iat_ms: n("iat")?,
        exp_ms: n("exp")?,
        kid: s("kid")?,
    };
    // The signature is over the canonical form: a re-serialised token does not verify.
    if json::canonical(&v)? != text {
        return Err(bad("claims are not in canonical form"));
    }
    Ok(Decoded {
        claims,
        canonical: text.to_string(),
        sig,
    })
}

/// The request fingerprint an approval is bound to: gate, passport id, client and the request's
/// `request_hash` (SHA-256 of the canonical payload, numbers normalised), so the payload is
/// canonicalised once per request, not once per fingerprint.
pub fn fingerprint(
    gate: &str,
    passport_id: Option<&str>,
    client: Option<&str>,
    request_hash: &str,
) -> Result<String> {
    let canonical = json::canonical(&json!({
        "gate": gate, "passport_id": passport_id, "client": client, "request_hash": request_hash,
    }))?;
    Ok(json::sha256_tagged(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(key: &KeyPair) -> Claims {
        Claims {
            jti: "apr_x".into(),
            evaluation_id: "evl_x".into(),
            fingerprint: "sha256:00".into(),
            gate: "g".into(),
            passport_id: Some("psp_x".into()),
            approver: "alice".into(),
            iat_ms: 1,
            exp_ms: 2,
            kid: key.did().into(),
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let key = KeyPair::generate().unwrap();
        let t = sign(&claims(&key), &key).unwrap();
        assert_eq!(verify(&t, &[key.did()]).unwrap(), claims(&key));
        // Signed by a key nobody trusts: refused, however well-formed.
        let other = KeyPair::generate().unwrap();
        assert!(verify(&t, &[other.did()]).is_err());
        let own = sign(&claims(&other), &other).unwrap();
        assert!(verify(&own, &[key.did()]).is_err());
        assert!(decode(&"x".repeat(MAX_TOKEN_BYTES + 1)).is_err());
        let (head, sig) = t.rsplit_once('.').unwrap();
        let body =
            String::from_utf8(b64u_decode(head.split('.').nth(1).unwrap()).unwrap()).unwrap();
        let forged = format!(
            "pga1.{}.{sig}",
            b64u_encode(body.replace("alice", "mallo").as_bytes())
        );
        assert!(verify(&forged, &[key.did()]).is_err());
        assert!(verify("pga1.x", &[key.did()]).is_err());
    }
}
