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
mod verify;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::{b64u_decode, b64u_encode, did_from_public, jwk_to_public, KeyPair};

pub use perm::{perm_covers, perm_matches, perms_cover, validate_permission};
pub use verify::{Link, Verified, Verifier, VerifierOptions};

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
/// Random base32 characters after [`PASSPORT_ID_PREFIX`].
const PASSPORT_ID_CHARS: usize = 26;
/// The latest accepted time claim, 9999-12-31T23:59:59Z: keeps all time arithmetic far from
/// overflow.
const MAX_TIME: i64 = 253_402_300_799;
/// Every claim a passport may carry.
const CLAIMS: [&str; 11] = [
    "iss", "sub", "name", "jti", "iat", "nbf", "exp", "perms", "cnf", "caveats", "prf",
];

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
/// agent keeps it to issue sub-agent passports ([`IssuedPassport::issue_sub_passport`]).
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedPassport {
    /// The compact JWS.
    pub token: String,
    /// The passport id (`jti`), `psp_…`: what revocation names.
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
        let parent = parse_token(&self.token)?.claims;
        if did_from_public(&parent.agent_key) != key.did() {
            return Err(Error::KeyInvalid(format!(
                "private_key is not the agent key of passport {} (its cnf key is {})",
                parent.jti,
                did_from_public(&parent.agent_key)
            )));
        }
        let depth = chain_depth(&self.token)? + 1;
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
        let times = Times::of(req, now_secs)?;
        if times.exp > parent.exp {
            return Err(Error::DelegationWidens(format!(
                "expiry {} is after the parent passport {}'s expiry {}",
                times.exp, parent.jti, parent.exp
            )));
        }
        sign_passport(&key, req, times, Some(&self.token))
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
fn check_request(req: &PassportRequest) -> Result<()> {
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
    for (i, c) in req.caveats.iter().enumerate() {
        check_caveat(c).map_err(|e| Error::InvalidArgument(format!("caveats[{i}]: {e}")))?;
        json::check_bounds(c, Limits::PAYLOAD).map_err(|e| e.into_error(Context::Argument))?;
    }
    Ok(())
}

/// A caveat is a constraint document: a JSON object with a string `type`. The engine validates
/// the rest against the constraint's schema.
fn check_caveat(c: &Value) -> Result<(), String> {
    if !c.is_object() {
        return Err(format!(
            "a caveat must be an object, found {}",
            json::type_name(c)
        ));
    }
    match c.get("type") {
        Some(Value::String(t)) if !t.is_empty() => Ok(()),
        _ => Err("a caveat needs a non-empty string \"type\"".to_string()),
    }
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

/// The compact JWS of `claims` signed by `signer`.
fn encode_token(signer: &KeyPair, claims: &Value) -> String {
    let header = json!({"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": signer.did()});
    let signing_input = format!(
        "{}.{}",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(claims.to_string().as_bytes())
    );
    let sig = signer.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64u_encode(&sig))
}

/// `psp_` + 26 random characters of lowercase base32.
fn new_passport_id() -> Result<String> {
    let mut random = [0u8; PASSPORT_ID_CHARS];
    getrandom::fill(&mut random)
        .map_err(|e| Error::Internal(format!("no randomness for a passport id: {e}")))?;
    let mut id = String::with_capacity(PASSPORT_ID_PREFIX.len() + PASSPORT_ID_CHARS);
    id.push_str(PASSPORT_ID_PREFIX);
    for b in random {
        // 256 is a multiple of 32, so the low five bits are uniform.
        let v = b & 31;
        id.push(char::from(if v < 26 { b'a' + v } else { b'2' + (v - 26) }));
    }
    Ok(id)
}

fn is_passport_id(s: &str) -> bool {
    s.strip_prefix(PASSPORT_ID_PREFIX).is_some_and(|rest| {
        rest.len() == PASSPORT_ID_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

fn check_token_size(token: &str) -> Result<()> {
    if token.len() > Limits::TOKEN_BYTES {
        return Err(Error::LimitExceeded(format!(
            "passport token of {} bytes exceeds {} bytes",
            token.len(),
            Limits::TOKEN_BYTES
        )));
    }
    Ok(())
}

/// The number of `prf` links above `token` (0 for a root), reading at most one link past
/// [`MAX_DELEGATION_DEPTH`].
fn chain_depth(token: &str) -> Result<usize> {
    let mut depth = 0;
    let mut prf = parse_token(token)?.claims.prf;
    while let Some(parent) = prf {
        depth += 1;
        if depth > MAX_DELEGATION_DEPTH {
            break;
        }
        prf = parse_token(&parent)?.claims.prf;
    }
    Ok(depth)
}

/// One token split and checked for form, its signature not yet verified.
struct Token<'a> {
    /// `header.claims`: the bytes the signature covers.
    signing_input: &'a str,
    signature: Vec<u8>,
    claims: Claims,
}

/// The typed claims of one token.
#[derive(Debug, Clone)]
struct Claims {
    iss: String,
    sub: String,
    name: Option<String>,
    jti: String,
    iat: i64,
    nbf: i64,
    exp: i64,
    perms: Vec<String>,
    agent_key: [u8; 32],
    caveats: Vec<Value>,
    prf: Option<String>,
    /// The claims as parsed.
    raw: Value,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::PassportMalformed(msg.into())
}

/// A possibly long, hostile string shortened for an error message.
fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}…", s.get(..end).unwrap_or_default()),
        None => format!("{s:?}"),
    }
}

/// Splits and checks a token: three base64url parts; the header (`alg` first, then `typ`, `kid`);
/// the claims and their types; `kid` equal to `iss`. The caller checks the size first.
fn parse_token(token: &str) -> Result<Token<'_>> {
    let shape = || malformed("a passport is three base64url parts separated by dots");
    let (signing_input, sig_part) = token.rsplit_once('.').ok_or_else(shape)?;
    let (header_part, claims_part) = signing_input.split_once('.').ok_or_else(shape)?;
    if claims_part.contains('.') {
        return Err(shape());
    }
    let header = decode_part(header_part, "header")?;
    let kid = check_header(&header)?;
    let claims = Claims::from_value(decode_part(claims_part, "claims")?)?;
    if kid != claims.iss {
        return Err(malformed(format!(
            "header kid {} differs from the iss claim {}",
            clip(&kid),
            clip(&claims.iss)
        )));
    }
    let signature =
        b64u_decode(sig_part).map_err(|e| malformed(format!("signature is not base64url: {e}")))?;
    Ok(Token {
        signing_input,
        signature,
        claims,
    })
}

/// One base64url part decoded and parsed by the strict JSON parser.
fn decode_part(part: &str, what: &str) -> Result<Value> {
    let bytes =
        b64u_decode(part).map_err(|e| malformed(format!("{what} is not base64url: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| malformed(format!("{what} is not UTF-8")))?;
    json::parse_in(&text, Limits::PAYLOAD, Context::Passport).map_err(|e| match e {
        Error::PassportMalformed(m) => malformed(format!("{what}: {m}")),
        other => other,
    })
}

/// Checks the JWS header and returns its `kid`. `alg` is checked before anything else: any value
/// but `EdDSA` (`none`, `HS256`, `ES256`, missing…) is `PASSPORT_ALGORITHM`.
fn check_header(header: &Value) -> Result<String> {
    let obj = header
        .as_object()
        .ok_or_else(|| malformed("header is not a JSON object"))?;
    match obj.get("alg") {
        Some(Value::String(alg)) if alg == ALGORITHM => {}
        Some(Value::String(alg)) => return Err(Error::PassportAlgorithm(clip(alg))),
        Some(other) => {
            return Err(Error::PassportAlgorithm(format!(
                "alg is {}",
                json::type_name(other)
            )))
        }
        None => return Err(Error::PassportAlgorithm("no alg in the header".to_string())),
    }
    match obj.get("typ") {
        Some(Value::String(typ)) if typ == TOKEN_TYPE => {}
        _ => return Err(malformed(format!("header typ must be {TOKEN_TYPE:?}"))),
    }
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "typ" | "kid"))
    {
        return Err(malformed(format!(
            "unexpected header parameter {}",
            clip(k)
        )));
    }
    match obj.get("kid") {
        Some(Value::String(kid)) => Ok(kid.clone()),
        _ => Err(malformed("header kid must be the signer's did:key")),
    }
}

impl Claims {
    fn from_value(raw: Value) -> Result<Claims> {
        let obj = raw
            .as_object()
            .ok_or_else(|| malformed("claims are not a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !CLAIMS.contains(&k.as_str())) {
            return Err(malformed(format!("unknown claim {}", clip(k))));
        }
        let string = |name: &str| match obj.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(other) => Err(malformed(format!(
                "claim {name} must be a non-empty string, found {}",
                json::type_name(other)
            ))),
            None => Err(malformed(format!("claim {name} is missing"))),
        };
        let optional_string = |name: &str| match obj.get(name) {
            None => Ok(None),
            Some(_) => string(name).map(Some),
        };
        let time = |name: &str| match obj.get(name) {
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|t| (0..=MAX_TIME).contains(t))
                .ok_or_else(|| {
                    malformed(format!(
                        "claim {name} must be an integer number of seconds in 0..={MAX_TIME}, \
                         found {}",
                        clip(n.as_str())
                    ))
                }),
            Some(other) => Err(malformed(format!(
                "claim {name} must be an integer, found {}",
                json::type_name(other)
            ))),
            None => Err(malformed(format!("claim {name} is missing"))),
        };
        let array = |name: &str, required: bool| match obj.get(name) {
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(other) => Err(malformed(format!(
                "claim {name} must be an array, found {}",
                json::type_name(other)
            ))),
            None if required => Err(malformed(format!("claim {name} is missing"))),
            None => Ok([].as_slice()),
        };

        let iss = string("iss")?;
        crate::keys::public_from_did(&iss).map_err(|e| malformed(format!("claim iss: {e}")))?;
        let sub = string("sub")?;
        let name = optional_string("name")?;
        let jti = string("jti")?;
        if !is_passport_id(&jti) {
            return Err(malformed(format!(
                "claim jti must be {PASSPORT_ID_PREFIX} followed by {PASSPORT_ID_CHARS} \
                 lowercase base32 characters, found {}",
                clip(&jti)
            )));
        }
        let iat = time("iat")?;
        let nbf = time("nbf")?;
        let exp = time("exp")?;
        let perms = array("perms", true)?
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                Value::String(p) => validate_permission(p)
                    .map(|()| p.clone())
                    .map_err(|e| malformed(format!("claim perms[{i}]: {e}"))),
                other => Err(malformed(format!(
                    "claim perms[{i}] must be a string, found {}",
                    json::type_name(other)
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let agent_key = match obj.get("cnf").and_then(Value::as_object) {
            Some(cnf) if cnf.len() == 1 => cnf
                .get("jwk")
                .ok_or_else(|| malformed("claim cnf must hold only a jwk"))
                .and_then(|jwk| {
                    jwk_to_public(jwk).map_err(|e| malformed(format!("claim cnf.jwk: {e}")))
                })?,
            _ => {
                return Err(malformed(
                    "claim cnf must be {\"jwk\": <the agent's public JWK>}",
                ))
            }
        };
        let caveats = array("caveats", false)?
            .iter()
            .enumerate()
            .map(|(i, c)| {
                check_caveat(c)
                    .map(|()| c.clone())
                    .map_err(|e| malformed(format!("claim caveats[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let prf = optional_string("prf")?;
        Ok(Claims {
            iss,
            sub,
            name,
            jti,
            iat,
            nbf,
            exp,
            perms,
            agent_key,
            caveats,
            prf,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passport_ids_are_well_formed_and_distinct() {
        let a = new_passport_id().unwrap();
        let b = new_passport_id().unwrap();
        assert!(is_passport_id(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 30);
        for bad in [
            "psp_",
            "psp_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "psp_abcdefghijklmnopqrstuvw1",
            "x",
        ] {
            assert!(!is_passport_id(bad), "{bad}");
        }
    }

    #[test]
    fn clip_shortens_on_a_char_boundary() {
        let long = "é".repeat(100);
        let c = clip(&long);
        assert!(c.chars().count() < 70);
        assert_eq!(clip("ab"), "\"ab\"");
    }

    #[test]
    fn chain_depth_counts_links() {
        let issuer = Issuer::generate().unwrap();
        let root = issuer
            .issue_passport_at(&PassportRequest::new("a", ["x:*"]), 1000)
            .unwrap();
        assert_eq!(chain_depth(&root.token).unwrap(), 0);
        let child = root
            .issue_sub_passport_at(
                &PassportRequest::new("b", ["x:y"]).with_expires_in_secs(10),
                1000,
            )
            .unwrap();
        assert_eq!(chain_depth(&child.token).unwrap(), 1);
    }
}
