//! Passports: the signed credentials naming an agent and what it may do — the token format,
//! issuing by an [`Issuer`], delegating to sub-agents, and (in [`Verifier`]) verifying a token and
//! its chain of parents.
//!
//! A passport is a compact JWS (RFC 7515) signed with Ed25519 (`alg: "EdDSA"`, RFC 8037), so any
//! JOSE library can verify it with the issuer's [`Issuer::public_jwk`]:
//!
//! ```text
//! header  {"alg":"EdDSA","typ":"passport+jwt","kid":"did:key:z6Mk…"}      kid = the signer
//! claims  {"iss":"did:key:z6Mk…","sub":"agent-7","name":"Billing bot",
//!          "jti":"psp_…","iat":…,"nbf":…,"exp":…,"perms":["payments:send"],
//!          "cnf":{"jwk":{"kty":"OKP","crv":"Ed25519","x":"…"}},            the agent's own key
//!          "caveats":[{"type":"max_value",…}],                              optional
//!          "prf":"<parent token>"}                                          sub-agent passports only
//! ```
//!
//! Times are integer seconds since the epoch. `jti` is `psp_` followed by 26 characters of
//! lowercase RFC 4648 base32 (`a`–`z`, `2`–`7`): 130 random bits. Claims other than these are
//! refused, so a token made elsewhere cannot carry a restriction (`aud`, …) that passgate would
//! silently ignore.
//!
//! **Identity.** A delegating agent writes its child's claims itself — `sub`, `jti`, caveats — so
//! none of them names anybody. A chain speaks for its [`Principal`] (the trusted issuer and the
//! root passport's `sub`), which `scope: "agent"` counts; a delegated passport is known by an id
//! derived from its chain ([`delegated_passport_id`], `psd_…`), which decisions, revocation,
//! idempotency namespaces and passport counters use. Caveats are bounded
//! ([`MAX_CAVEATS_PER_PASSPORT`], [`MAX_CAVEATS_PER_CHAIN`]).
//!
//! ```
//! use passgate::passport::{Issuer, PassportRequest, Verifier, VerifierOptions};
//! let issuer = Issuer::generate()?;
//! let passport = issuer.issue_passport(&PassportRequest::new("agent-7", ["payments:send"]))?;
//! let verifier = Verifier::new([issuer.did().to_string()], VerifierOptions::default())?;
//! let now_ms = 1000 * passgate::passport::unix_now_secs()?;
//! let verified = verifier.verify(&passport.token, now_ms)?;
//! assert!(verified.has_permission("payments:send"));
//! # Ok::<(), passgate::Error>(())
//! ```

mod perm;
mod token;
pub(crate) use token::is_any_passport_id;
mod verify;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::{did_from_public, KeyPair};
use token::{check_caveat, check_token_size, encode_token, new_passport_id, parse_token, MAX_TIME};

pub use perm::{perm_covers, perm_matches, perms_cover, validate_permission};
pub use verify::{Link, Principal, Verified, Verifier, VerifierOptions, MAX_LEEWAY_SECS};

/// The only accepted JWS `alg`.
pub const ALGORITHM: &str = "EdDSA";
/// The JWS `typ` of a passport.
pub const TOKEN_TYPE: &str = "passport+jwt";
/// The deepest delegation: a root passport is at depth 0, its sub-agent's at 1, and so on.
pub const MAX_DELEGATION_DEPTH: usize = 8;
/// The default lifetime of a passport: 30 days.
pub const DEFAULT_EXPIRES_IN_SECS: i64 = 30 * 24 * 60 * 60;
/// The prefix of every passport id (`jti`).
pub const PASSPORT_ID_PREFIX: &str = "psp_";
/// The prefix of a delegated passport's id, which the engine derives from its chain (see
/// [`delegated_passport_id`]): never the `jti` its delegating agent chose.
pub const DELEGATED_ID_PREFIX: &str = "psd";
/// The most caveats one passport may declare.
pub const MAX_CAVEATS_PER_PASSPORT: usize = 32;
/// The most caveats a whole delegation chain may declare.
pub const MAX_CAVEATS_PER_CHAIN: usize = 64;

/// The id of a delegated passport: `psd_` and 26 base32 characters of
/// SHA-256(`passgate-passport-id-v1\n` ‖ parent id ‖ `\n` ‖ `iss` ‖ `\n` ‖ `jti`).
///
/// The delegating agent chooses its child's `jti` (and `sub`), so a bare `jti` is no identity: a
/// junior agent could name its child after a senior agent's passport and be judged, counted and
/// revoked as it. A child's `iss` is its parent's agent key and its parent id is derived the same
/// way up to the root (whose id is the `jti` its trusted issuer chose), so an agent can collide
/// only with its own delegates. Every piece of engine state keyed by a passport (revocation,
/// idempotency namespaces, `scope: "passport"` counters, caveat counters) uses this id.
pub fn delegated_passport_id(parent_id: &str, iss: &str, jti: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"passgate-passport-id-v1\n");
    for (i, part) in [parent_id, iss, jti].into_iter().enumerate() {
        if i > 0 {
            h.update(b"\n");
        }
        h.update(part.as_bytes());
    }
    crate::ids::id_from(DELEGATED_ID_PREFIX, &h.finalize())
}

/// The first explicit caveat `id` that `caveats` declare twice: two caveats of one passport with
/// one id would name one counter twice.
pub(crate) fn duplicate_caveat_id(caveats: &[Value]) -> Option<&str> {
    let mut seen = std::collections::HashSet::new();
    caveats
        .iter()
        .filter_map(|c| c.get("id").and_then(Value::as_str))
        .find(|id| !seen.insert(*id))
}

/// The id the engine knows the passport `token` by: its `jti` for a root passport, the
/// [`delegated_passport_id`] of its chain for a delegated one. Reads the `prf` chain without
/// verifying it (for issuance and display).
pub fn passport_id_of(token: &str) -> Result<String> {
    let ids = chain_ids_of(token)?;
    ids.last()
        .cloned()
        .ok_or_else(|| Error::Internal("empty delegation chain".to_string()))
}

/// The ids of `token`'s chain, root first, `token`'s own last (see [`passport_id_of`]). Reads
/// the `prf` chain without verifying it.
pub fn chain_ids_of(token: &str) -> Result<Vec<String>> {
    check_token_size(token)?;
    let mut links = Vec::new();
    let mut next = Some(token.to_string());
    while let Some(t) = next {
        if links.len() > MAX_DELEGATION_DEPTH {
            return Err(Error::DelegationWidens(format!(
                "delegation chain deeper than {MAX_DELEGATION_DEPTH} levels"
            )));
        }
        let claims = parse_token(&t)?.claims;
        next = claims.prf.clone();
        links.push((claims.iss, claims.jti));
    }
    let mut links = links.into_iter().rev();
    let Some((_, root)) = links.next() else {
        return Err(Error::Internal("empty delegation chain".to_string()));
    };
    let mut ids = vec![root];
    for (iss, jti) in links {
        let parent = ids.last().cloned().unwrap_or_default();
        ids.push(delegated_passport_id(&parent, &iss, &jti));
    }
    Ok(ids)
}

/// What to put in a new passport. `PassportRequest::new` fills in the defaults (no name, no
/// caveats, valid from now for [`DEFAULT_EXPIRES_IN_SECS`]).
///
/// ```
/// use passgate::passport::PassportRequest;
/// use serde_json::json;
/// let req = PassportRequest::new("agent-7", ["payments:send", "catalog:*"])
///     .with_name("Billing bot")
///     .with_expires_in_secs(3600)
///     .with_caveat(json!({"type": "max_value", "field": "/amount", "max": 100}));
/// assert_eq!(req.permissions.len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PassportRequest {
    /// The agent's id (`sub`); must not be empty.
    pub agent_id: String,
    /// The agent's display name (`name`).
    pub agent_name: Option<String>,
    /// Permission patterns (`perms`), e.g. `payments:send`, `payments:*`.
    pub permissions: Vec<String>,
    /// Lifetime in seconds from issuance; must be positive.
    pub expires_in_secs: i64,
    /// Constraint documents applying to every request made with this passport (and its
    /// descendants). Each must be a JSON object with a string `type`; the engine checks the rest.
    pub caveats: Vec<Value>,
    /// `nbf`, in seconds since the epoch; `None` is the time of issuance.
    pub not_before: Option<i64>,
    /// Catalog pins (`pins`): for each gate named, the catalog version (and its content hash)
    /// whose terms apply; a sub-passport inherits its ancestors' and may not change them.
    pub pins: Vec<Pin>,
}

/// A catalog pin: the passport's requests to `gate` are made on the terms of catalog `version`,
/// whose content hash is `content_hash` (see [`crate::commerce`]).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// The gate.
    pub gate: String,
    /// The catalog version, `≥ 1`.
    pub version: u64,
    /// The version's `content_hash` (`sha256:` and 64 lowercase hex digits).
    pub content_hash: String,
}

/// The most pins a passport may carry.
pub const MAX_PINS: usize = 64;

/// Checks a list of pins (at most [`MAX_PINS`], one per gate, well-formed).
pub(crate) fn check_pins(pins: &[Pin]) -> std::result::Result<(), String> {
    if pins.len() > MAX_PINS {
        return Err(format!("at most {MAX_PINS} pins, got {}", pins.len()));
    }
    for (i, p) in pins.iter().enumerate() {
        if p.gate.is_empty() || p.gate.len() > 256 {
            return Err(format!("pins[{i}].gate must be 1 to 256 bytes"));
        }
        if p.version == 0 || p.version > crate::commerce::MAX_AMOUNT {
            return Err(format!("pins[{i}].version must be a positive integer"));
        }
        let hex = p.content_hash.strip_prefix("sha256:").unwrap_or("");
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(format!(
                "pins[{i}].content_hash must be sha256: and 64 lowercase hex digits"
            ));
        }
        if pins.iter().take(i).any(|q| q.gate == p.gate) {
            return Err(format!("pins[{i}]: gate {:?} is pinned twice", p.gate));
        }
    }
    Ok(())
}

/// The pins of a chain, root first: the first pin of each gate; a later link pinning a gate
/// already pinned to other terms is `DELEGATION_WIDENS`.
pub(crate) fn merge_pins<'a>(
    links: impl IntoIterator<Item = (&'a str, &'a [Pin])>,
) -> Result<Vec<Pin>> {
    let mut out: Vec<Pin> = Vec::new();
    for (id, pins) in links {
        for p in pins {
            match out.iter().find(|q| q.gate == p.gate) {
                None => out.push(p.clone()),
                Some(q) if q == p => {}
                Some(q) => {
                    return Err(Error::DelegationWidens(format!(
                        "passport {id} pins gate {:?} to catalog v{} ({}), but an ancestor \
                         pinned it to v{} ({}): a delegate may not change its parent's pin",
                        p.gate, p.version, p.content_hash, q.version, q.content_hash
                    )))
                }
            }
        }
    }
    Ok(out)
}

impl PassportRequest {
    /// A request for `agent_id` with `permissions` and the defaults.
    pub fn new<P: Into<String>>(
        agent_id: impl Into<String>,
        permissions: impl IntoIterator<Item = P>,
    ) -> PassportRequest {
        PassportRequest {
            agent_id: agent_id.into(),
            agent_name: None,
            permissions: permissions.into_iter().map(Into::into).collect(),
            expires_in_secs: DEFAULT_EXPIRES_IN_SECS,
            caveats: Vec::new(),
            not_before: None,
            pins: Vec::new(),
        }
    }

    /// Sets the agent's display name.
    pub fn with_name(mut self, name: impl Into<String>) -> PassportRequest {
        self.agent_name = Some(name.into());
        self
    }

    /// Sets the lifetime in seconds.
    pub fn with_expires_in_secs(mut self, secs: i64) -> PassportRequest {
        self.expires_in_secs = secs;
        self
    }

    /// Adds a caveat.
    pub fn with_caveat(mut self, caveat: Value) -> PassportRequest {
        self.caveats.push(caveat);
        self
    }

    /// Adds a catalog pin.
    pub fn with_pin(mut self, pin: Pin) -> PassportRequest {
        self.pins.push(pin);
        self
    }

    /// Sets `nbf`, in seconds since the epoch.
    pub fn with_not_before(mut self, secs: i64) -> PassportRequest {
        self.not_before = Some(secs);
        self
    }
}

/// A key pair that signs root passports. Engines trust issuers by their `did:key`.
#[derive(Debug, Clone)]
pub struct Issuer {
    key: KeyPair,
}

impl Issuer {
    /// An issuer with a fresh random key.
    pub fn generate() -> Result<Issuer> {
        Ok(Issuer {
            key: KeyPair::generate()?,
        })
    }

    /// The issuer whose secret is `secret` (see [`KeyPair::from_secret`]).
    pub fn from_secret(secret: &str) -> Result<Issuer> {
        Ok(Issuer {
            key: KeyPair::from_secret(secret)?,
        })
    }

    /// The issuer signing with `key`.
    pub fn from_key(key: KeyPair) -> Issuer {
        Issuer { key }
    }

    /// The issuer's `did:key`: what an engine lists among its trusted issuers.
    pub fn did(&self) -> &str {
        self.key.did()
    }

    /// The issuer's public key as an RFC 8037 JWK, for verifying passports with any JOSE library.
    pub fn public_jwk(&self) -> Value {
        self.key.public_jwk()
    }

    /// The issuer's secret (base64url seed). Treat it like a password.
    pub fn secret(&self) -> String {
        self.key.secret()
    }

    /// The issuer's key pair.
    pub fn key(&self) -> &KeyPair {
        &self.key
    }

    /// Issues a passport valid from now (the system clock). The agent gets a fresh key pair, whose
    /// private key is returned once, in [`IssuedPassport::private_key`].
    pub fn issue_passport(&self, req: &PassportRequest) -> Result<IssuedPassport> {
        self.issue_passport_at(req, unix_now_secs()?)
    }

    /// [`Issuer::issue_passport`] at `now_secs` (seconds since the epoch) instead of the clock.
    pub fn issue_passport_at(
        &self,
        req: &PassportRequest,
        now_secs: i64,
    ) -> Result<IssuedPassport> {
        check_request(req)?;
        let times = Times::of(req, now_secs)?;
        sign_passport(&self.key, req, times, None)
    }
}

/// A freshly issued passport, with the agent's key pair. `private_key` is shown only here: the
/// agent keeps it to issue sub-agent passports ([`IssuedPassport::issue_sub_passport`]). Its
/// JSON (what `issue_passport` returns) has these six fields.
#[derive(Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct IssuedPassport {
    /// The compact JWS.
    pub token: String,
    /// The passport id, what decisions and revocation name: the `jti` (`psp_…`) of a root
    /// passport; for a sub-agent passport the id derived from its chain (`psd_…`, see
    /// [`delegated_passport_id`]).
    pub passport_id: String,
    /// The agent id (`sub`).
    pub agent_id: String,
    /// The agent's `did:key` (the key in `cnf`).
    pub did: String,
    /// The agent's secret: base64url of its 32-byte Ed25519 seed.
    pub private_key: String,
    /// `exp`, in seconds since the epoch.
    pub expires_at: i64,
}

impl fmt::Debug for IssuedPassport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedPassport")
            .field("passport_id", &self.passport_id)
            .field("agent_id", &self.agent_id)
            .field("did", &self.did)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl IssuedPassport {
    /// An issued passport from its token and the agent's secret (as kept by the agent), to
    /// delegate from it later. The secret must be the key named by the token's `cnf`
    /// (`KEY_INVALID` otherwise); the token's signature is not checked here.
    pub fn from_token(token: &str, private_key: &str) -> Result<IssuedPassport> {
        check_token_size(token)?;
        let claims = parse_token(token)?.claims;
        let key = KeyPair::from_secret(private_key)?;
        let did = did_from_public(&claims.agent_key);
        if did != key.did() {
            return Err(Error::KeyInvalid(format!(
                "private_key is not the agent key of passport {} (its cnf key is {did})",
                claims.jti
            )));
        }
        Ok(IssuedPassport {
            token: token.to_string(),
            passport_id: passport_id_of(token)?,
            agent_id: claims.sub,
            did,
            private_key: private_key.to_string(),
            expires_at: claims.exp,
        })
    }

    /// Delegates: issues a passport for a sub-agent, signed with this passport's agent key, with
    /// this token as its `prf`. Never clamps: a permission this passport does not cover, an expiry
    /// after this passport's, or a chain deeper than [`MAX_DELEGATION_DEPTH`] is
    /// `DELEGATION_WIDENS`. (The default lifetime of 30 days is therefore usually too long for a
    /// sub-agent: set [`PassportRequest::expires_in_secs`].) The child's claims hold only what was
    /// asked; its ancestors' caveats apply through `prf` at verification.
    pub fn issue_sub_passport(&self, req: &PassportRequest) -> Result<IssuedPassport> {
        self.issue_sub_passport_at(req, unix_now_secs()?)
    }

    /// [`IssuedPassport::issue_sub_passport`] at `now_secs` instead of the clock.
    pub fn issue_sub_passport_at(
        &self,
        req: &PassportRequest,
        now_secs: i64,
    ) -> Result<IssuedPassport> {
        check_request(req)?;
        let key = KeyPair::from_secret(&self.private_key)?;
        check_token_size(&self.token)?;
        let parent = parse_token(&self.token)?.claims;
        if did_from_public(&parent.agent_key) != key.did() {
            return Err(Error::KeyInvalid(format!(
                "private_key is not the agent key of passport {} (its cnf key is {})",
                parent.jti,
                did_from_public(&parent.agent_key)
            )));
        }
        let depth = depth_of(parent.prf.as_deref())? + 1;
        if depth > MAX_DELEGATION_DEPTH {
            return Err(Error::DelegationWidens(format!(
                "a sub-agent passport of {} would be at delegation depth {depth}, beyond the \
                 maximum of {MAX_DELEGATION_DEPTH}",
                parent.jti
            )));
        }
        if let Some(p) = perms_cover(&parent.perms, &req.permissions) {
            return Err(Error::DelegationWidens(format!(
                "permission {p:?} is not covered by the parent passport {}'s {:?}",
                parent.jti, parent.perms
            )));
        }
        // The chain's pins, the parent's own last: the child may repeat one, never change one.
        let mut chain_pins: Vec<(String, Vec<Pin>)> = Vec::new();
        let mut next = Some(self.token.clone());
        while let Some(t) = next {
            let c = parse_token(&t)?.claims;
            next = c.prf.clone();
            chain_pins.push((c.jti, c.pins));
        }
        chain_pins.reverse();
        chain_pins.push(("(the new passport)".to_string(), req.pins.clone()));
        merge_pins(chain_pins.iter().map(|(id, p)| (id.as_str(), p.as_slice())))?;
        let times = Times::of(req, now_secs)?;
        if times.exp > parent.exp {
            return Err(Error::DelegationWidens(format!(
                "expiry {} is after the parent passport {}'s expiry {}",
                times.exp, parent.jti, parent.exp
            )));
        }
        let mut issued = sign_passport(&key, req, times, Some(&self.token))?;
        issued.passport_id = passport_id_of(&issued.token)?;
        Ok(issued)
    }
}

/// The claims of `token` after checking its form (three parts, header, claim types), **without**
/// verifying its signature, trust or times. For tooling and display only; authorize with
/// [`Verifier::verify`].
pub fn decode_unverified(token: &str) -> Result<Value> {
    check_token_size(token)?;
    Ok(parse_token(token)?.claims.raw)
}

/// The system clock in whole seconds since the epoch.
pub fn unix_now_secs() -> Result<i64> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|e| Error::Internal(format!("system clock before 1970: {e}")))?;
    i64::try_from(since.as_secs()).map_err(|e| Error::Internal(format!("system clock: {e}")))
}

/// `iat`, `nbf` and `exp` of a passport being issued.
#[derive(Debug, Clone, Copy)]
struct Times {
    iat: i64,
    nbf: i64,
    exp: i64,
}

impl Times {
    fn of(req: &PassportRequest, now: i64) -> Result<Times> {
        let in_range = |t: i64| (0..=MAX_TIME).contains(&t);
        let nbf = req.not_before.unwrap_or(now);
        let exp = now.checked_add(req.expires_in_secs).unwrap_or(i64::MAX);
        if !in_range(now) || !in_range(nbf) || !in_range(exp) {
            return Err(Error::InvalidArgument(format!(
                "issuance time, not_before and expiry must lie within 0..={MAX_TIME} seconds \
                 since the epoch"
            )));
        }
        if nbf >= exp {
            return Err(Error::InvalidArgument(format!(
                "not_before {nbf} is not before the expiry {exp}"
            )));
        }
        Ok(Times { iat: now, nbf, exp })
    }
}

/// The argument checks shared by issuance and delegation.
pub(crate) fn check_request(req: &PassportRequest) -> Result<()> {
    if req.agent_id.is_empty() {
        return Err(Error::InvalidArgument(
            "agent_id must not be empty".to_string(),
        ));
    }
    for (i, p) in req.permissions.iter().enumerate() {
        validate_permission(p)
            .map_err(|e| Error::InvalidArgument(format!("permissions[{i}]: {e}")))?;
    }
    if req.expires_in_secs <= 0 {
        return Err(Error::InvalidArgument(format!(
            "expires_in_secs must be positive, got {}",
            req.expires_in_secs
        )));
    }
    if req.caveats.len() > MAX_CAVEATS_PER_PASSPORT {
        return Err(Error::InvalidArgument(format!(
            "a passport may declare at most {MAX_CAVEATS_PER_PASSPORT} caveats, got {}",
            req.caveats.len()
        )));
    }
    if let Some(id) = duplicate_caveat_id(&req.caveats) {
        return Err(Error::InvalidArgument(format!(
            "caveat id {id:?} is declared twice"
        )));
    }
    for (i, c) in req.caveats.iter().enumerate() {
        check_caveat(c).map_err(|e| Error::InvalidArgument(format!("caveats[{i}]: {e}")))?;
        json::check_bounds(c, Limits::PAYLOAD).map_err(|e| e.into_error(Context::Argument))?;
    }
    check_pins(&req.pins).map_err(Error::InvalidArgument)?;
    Ok(())
}

/// Builds, signs and encodes a passport for a fresh agent key.
fn sign_passport(
    signer: &KeyPair,
    req: &PassportRequest,
    times: Times,
    prf: Option<&str>,
) -> Result<IssuedPassport> {
    let agent = KeyPair::generate()?;
    let passport_id = new_passport_id()?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(signer.did()));
    claims.insert("sub".into(), json!(req.agent_id));
    if let Some(name) = &req.agent_name {
        claims.insert("name".into(), json!(name));
    }
    claims.insert("jti".into(), json!(passport_id));
    claims.insert("iat".into(), json!(times.iat));
    claims.insert("nbf".into(), json!(times.nbf));
    claims.insert("exp".into(), json!(times.exp));
    claims.insert("perms".into(), json!(req.permissions));
    claims.insert("cnf".into(), json!({"jwk": agent.public_jwk()}));
    if !req.caveats.is_empty() {
        claims.insert("caveats".into(), json!(req.caveats));
    }
    if !req.pins.is_empty() {
        claims.insert("pins".into(), json!(req.pins));
    }
    if let Some(prf) = prf {
        claims.insert("prf".into(), json!(prf));
    }
    let token = encode_token(signer, &Value::Object(claims));
    check_token_size(&token)?;
    Ok(IssuedPassport {
        token,
        passport_id,
        agent_id: req.agent_id.clone(),
        did: agent.did().to_string(),
        private_key: agent.secret(),
        expires_at: times.exp,
    })
}

/// The delegation depth of a passport whose parent token is `prf` (0 for a root), counting at
/// most one link past [`MAX_DELEGATION_DEPTH`].
fn depth_of(prf: Option<&str>) -> Result<usize> {
    let mut depth = 0;
    let mut next = prf.map(str::to_string);
    while let Some(parent) = next {
        depth += 1;
        if depth > MAX_DELEGATION_DEPTH {
            break;
        }
        next = parse_token(&parent)?.claims.prf;
    }
    Ok(depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_links() {
        let issuer = Issuer::generate().unwrap();
        let root = issuer
            .issue_passport_at(&PassportRequest::new("a", ["x:*"]), 1000)
            .unwrap();
        assert_eq!(depth_of(None).unwrap(), 0);
        assert_eq!(depth_of(Some(&root.token)).unwrap(), 1);
        let child = root
            .issue_sub_passport_at(
                &PassportRequest::new("b", ["x:y"]).with_expires_in_secs(10),
                1000,
            )
            .unwrap();
        assert_eq!(depth_of(Some(&child.token)).unwrap(), 2);
    }
}
