//! Approval tokens: what `Engine::approve` hands a human-facing host, and what the agent presents
//! on its retry.
//!
//! A token is `pga1.<base64url(claims)>.<base64url(sig)>` where `claims` is the RFC 8785 JSON of
//! `{v, jti, evaluation_id, fingerprint, gate, passport_id, client, approver, iat, exp, kid}` (times
//! in epoch ms) and `sig` is Ed25519, by the approving engine's key (`kid`), over
//! `passgate-approval-v1\n` followed by the SHA-256 of the claims. The signature makes the token
//! tamper-evident and attributable; the store's approval record (by `evaluation_id`, naming the
//! token's `jti`) is what makes it valid, and single-use: admitting the request marks it used in
//! the same atomic commit.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::{b64u_decode, b64u_encode, KeyPair, PublicKey};

/// The bytes every approval signature starts with.
pub const DOMAIN: &[u8] = b"passgate-approval-v1\n";
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

/// Reads a token and checks its signature against its own `kid` (validity against the store, the
/// request and the clock is the engine's business). Errors are `INVALID_ARGUMENT` with the reason.
pub fn verify(token: &str) -> Result<Claims> {
    let bad = |m: &str| Error::InvalidArgument(format!("approval token: {m}"));
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
    PublicKey::from_did(&claims.kid)?
        .verify_strict(&signing_input(text), &sig)
        .map_err(|e| bad(&format!("signature: {e}")))?;
    Ok(claims)
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
        assert_eq!(verify(&t).unwrap(), claims(&key));
        let (head, sig) = t.rsplit_once('.').unwrap();
        let body =
            String::from_utf8(b64u_decode(head.split('.').nth(1).unwrap()).unwrap()).unwrap();
        let forged = format!(
            "pga1.{}.{sig}",
            b64u_encode(body.replace("alice", "mallo").as_bytes())
        );
        assert!(verify(&forged).is_err());
        assert!(verify("pga1.x").is_err());
    }
}
