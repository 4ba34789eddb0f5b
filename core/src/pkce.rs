//! PKCE (RFC 7636, S256 only) and an in-memory authorization-code flow that mints a short-lived
//! passport with exactly the permissions a human consented to.
//!
//! A host that runs OAuth's authorization-code flow for an agent (the browser path: the user
//! consents on the host's page; the headless path: the host's own UI) keeps an
//! [`AuthorizationFlow`]: the agent's client makes a verifier ([`generate_verifier`]) and sends
//! its challenge ([`challenge_s256`]); on consent the host calls [`AuthorizationFlow::authorize`]
//! and redirects with the code; the client exchanges code and verifier
//! ([`AuthorizationFlow::exchange`]) for a passport signed by the flow's [`Issuer`].
//!
//! Codes are single-use and live 60 seconds; the first failed exchange of a code burns it (a
//! guessed verifier gets one try). Every failure of an exchange is `GRANT_INVALID` (OAuth's
//! `invalid_grant`), except a verifier that is not a verifier at all (`INVALID_ARGUMENT` at
//! `/code_verifier`).
//!
//! ```
//! use passgate::pkce::{self, AuthorizationFlow};
//! use passgate::Issuer;
//! let flow = AuthorizationFlow::new(Issuer::generate().unwrap());
//! let verifier = pkce::generate_verifier().unwrap();
//! let challenge = pkce::challenge_s256(&verifier).unwrap();
//! let code = flow
//!     .authorize("agent-7", &["payments:send".into()], &challenge, "S256",
//!                "https://host.example/cb", "my-agent")
//!     .unwrap();
//! let passport = flow.exchange(&code, &verifier, "https://host.example/cb", "my-agent").unwrap();
//! assert_eq!(passport.agent_id, "agent-7");
//! // Single use.
//! let again = flow.exchange(&code, &verifier, "https://host.example/cb", "my-agent");
//! assert_eq!(again.unwrap_err().code(), "GRANT_INVALID");
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};
use crate::passport::{IssuedPassport, Issuer, PassportRequest};

/// The shortest verifier RFC 7636 allows.
pub const VERIFIER_MIN: usize = 43;
/// The longest verifier RFC 7636 allows.
pub const VERIFIER_MAX: usize = 128;
/// How long a code may wait for its exchange, in milliseconds.
pub const CODE_TTL_MS: i64 = 60_000;
/// The default lifetime of a passport the flow mints, in seconds (15 minutes).
pub const DEFAULT_PASSPORT_TTL_SECS: i64 = 900;
/// The longest lifetime a flow may give its passports, in seconds (one day).
pub const MAX_PASSPORT_TTL_SECS: i64 = 86_400;
/// The default bound on codes waiting for their exchange.
pub const DEFAULT_MAX_PENDING: usize = 1024;

const MAX_FIELD: usize = 256;
const MAX_REDIRECT_URI: usize = 2048;
const MAX_PERMISSIONS: usize = 256;

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn check_verifier(verifier: &str) -> Result<()> {
    let n = verifier.len();
    if !(VERIFIER_MIN..=VERIFIER_MAX).contains(&n) {
        return Err(Error::argument(
            "/code_verifier",
            format!("a code verifier is {VERIFIER_MIN} to {VERIFIER_MAX} characters, not {n}"),
        ));
    }
    if let Some(c) = verifier.bytes().find(|c| !unreserved(*c)) {
        return Err(Error::argument(
            "/code_verifier",
            format!(
                "a code verifier uses only A-Z a-z 0-9 - . _ ~ (found {:?})",
                char::from(c)
            ),
        ));
    }
    Ok(())
}

/// A fresh verifier: 43 characters of the unreserved set (32 random bytes, base64url).
pub fn generate_verifier() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 challenge of `verifier`: base64url (no padding) of its SHA-256. A malformed
/// verifier (length, characters) is `INVALID_ARGUMENT` at `/code_verifier`.
pub fn challenge_s256(verifier: &str) -> Result<String> {
    check_verifier(verifier)?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())))
}

/// Whether `verifier`'s S256 challenge is `challenge`, compared in constant time. A malformed
/// verifier is `INVALID_ARGUMENT` at `/code_verifier`.
pub fn verify_s256(verifier: &str, challenge: &str) -> Result<bool> {
    let expected = challenge_s256(verifier)?;
    Ok(constant_time_eq(expected.as_bytes(), challenge.as_bytes()))
}

/// Equal bytes, in a time that depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[derive(Debug)]
struct Pending {
    agent_id: String,
    permissions: Vec<String>,
    challenge: String,
    redirect_uri: String,
    client_id: String,
    expires_ms: i64,
}

/// An authorization-code flow with PKCE (S256), in memory: codes are single-use, expire after
/// [`CODE_TTL_MS`], and at most a bounded number wait at once. Exchanging a code mints a
/// passport signed by the flow's issuer with exactly the consented permissions and a short
/// lifetime ([`DEFAULT_PASSPORT_TTL_SECS`] unless set).
pub struct AuthorizationFlow {
    issuer: Issuer,
    clock: Arc<dyn Clock>,
    passport_ttl_secs: i64,
    max_pending: usize,
    pending: Mutex<HashMap<String, Pending>>,
}

impl std::fmt::Debug for AuthorizationFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the pending codes: each one is a bearer of a passport for a minute.
        f.debug_struct("AuthorizationFlow")
            .field("issuer", &self.issuer.did())
            .field("passport_ttl_secs", &self.passport_ttl_secs)
            .field("pending", &self.pending.lock().len())
            .finish_non_exhaustive()
    }
}

impl AuthorizationFlow {
    /// A flow minting passports signed by `issuer`, on the system clock.
    pub fn new(issuer: Issuer) -> AuthorizationFlow {
        AuthorizationFlow {
            issuer,
            clock: Arc::new(SystemClock),
            passport_ttl_secs: DEFAULT_PASSPORT_TTL_SECS,
            max_pending: DEFAULT_MAX_PENDING,
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Reads time from `clock` (for tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> AuthorizationFlow {
        self.clock = clock;
        self
    }

    /// Minted passports live `secs` seconds (1 to [`MAX_PASSPORT_TTL_SECS`]).
    pub fn with_passport_ttl_secs(mut self, secs: i64) -> Result<AuthorizationFlow> {
        if !(1..=MAX_PASSPORT_TTL_SECS).contains(&secs) {
            return Err(Error::argument(
                "/passport_ttl",
                format!("use 1 to {MAX_PASSPORT_TTL_SECS} seconds, not {secs}"),
            ));
        }
        self.passport_ttl_secs = secs;
        Ok(self)
    }

    /// At most `n` (at least 1) codes wait for their exchange at once.
    pub fn with_max_pending(mut self, n: usize) -> AuthorizationFlow {
        self.max_pending = n.max(1);
        self
    }

    /// The issuer's `did:key`, for the engines that will trust the minted passports.
    pub fn issuer_did(&self) -> &str {
        self.issuer.did()
    }

    /// The number of codes waiting for their exchange (expired ones included until swept).
    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }

    /// Records the user's consent: `agent_id` may have `permissions`, for the client `client_id`
    /// that will come back to `redirect_uri` with the verifier of `code_challenge`. `method`
    /// must be `"S256"`. Returns the code to send in the redirect.
    pub fn authorize(
        &self,
        agent_id: &str,
        permissions: &[String],
        code_challenge: &str,
        method: &str,
        redirect_uri: &str,
        client_id: &str,
    ) -> Result<String> {
        if method != "S256" {
            return Err(Error::argument(
                "/code_challenge_method",
                format!("only S256 is accepted, not {method:?}"),
            ));
        }
        let challenge_ok = code_challenge.len() == 43
            && code_challenge
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
        if !challenge_ok {
            return Err(Error::argument(
                "/code_challenge",
                "an S256 code challenge is 43 characters of base64url (no padding)",
            ));
        }
        check_field("/client_id", client_id, MAX_FIELD)?;
        check_field("/redirect_uri", redirect_uri, MAX_REDIRECT_URI)?;
        if url::Url::parse(redirect_uri).is_err() {
            return Err(Error::argument(
                "/redirect_uri",
                "the redirect URI must be an absolute URI",
            ));
        }
        check_field("/agent_id", agent_id, MAX_FIELD)?;
        if permissions.len() > MAX_PERMISSIONS {
            return Err(Error::argument(
                "/permissions",
                format!("at most {MAX_PERMISSIONS} permissions"),
            ));
        }
        // The passport's own rules (permission syntax), checked now rather than at the exchange.
        crate::passport::check_request(&self.request(agent_id, permissions))?;
        let now = self.clock.now_ms();
        let mut pending = self.pending.lock();
        if pending.len() >= self.max_pending {
            pending.retain(|_, p| p.expires_ms > now);
        }
        if pending.len() >= self.max_pending {
            return Err(Error::LimitExceeded(format!(
                "{} authorization codes are waiting for their exchange",
                pending.len()
            )));
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
        let code = format!("pgc_{}", URL_SAFE_NO_PAD.encode(bytes));
        pending.insert(
            code.clone(),
            Pending {
                agent_id: agent_id.to_string(),
                permissions: permissions.to_vec(),
                challenge: code_challenge.to_string(),
                redirect_uri: redirect_uri.to_string(),
                client_id: client_id.to_string(),
                expires_ms: now.saturating_add(CODE_TTL_MS),
            },
        );
        Ok(code)
    }

    /// Exchanges `code` and the verifier of its challenge for a passport. The code is spent by
    /// this call whatever its outcome. An unknown, used or expired code, another client or
    /// redirect URI, or a verifier that does not match the challenge: `GRANT_INVALID`.
    pub fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
        client_id: &str,
    ) -> Result<IssuedPassport> {
        let now = self.clock.now_ms();
        let grant = self.pending.lock().remove(code);
        let Some(grant) = grant else {
            return Err(Error::GrantInvalid(
                "unknown authorization code (never issued, already used, or burnt by a failed exchange)"
                    .into(),
            ));
        };
        if now >= grant.expires_ms {
            return Err(Error::GrantInvalid("the authorization code expired".into()));
        }
        if !constant_time_eq(grant.client_id.as_bytes(), client_id.as_bytes()) {
            return Err(Error::GrantInvalid(
                "the authorization code was issued to another client".into(),
            ));
        }
        if !constant_time_eq(grant.redirect_uri.as_bytes(), redirect_uri.as_bytes()) {
            return Err(Error::GrantInvalid(
                "the redirect URI differs from the authorization request's".into(),
            ));
        }
        if !verify_s256(code_verifier, &grant.challenge)? {
            return Err(Error::GrantInvalid(
                "the code verifier does not match the code challenge".into(),
            ));
        }
        let req = self.request(&grant.agent_id, &grant.permissions);
        self.issuer.issue_passport_at(&req, now.div_euclid(1000))
    }

    fn request(&self, agent_id: &str, permissions: &[String]) -> PassportRequest {
        let mut req = PassportRequest::new(agent_id, permissions.iter().cloned());
        req.expires_in_secs = self.passport_ttl_secs;
        req
    }
}

fn check_field(path: &str, v: &str, max: usize) -> Result<()> {
    let n = v.chars().count();
    if n == 0 || n > max || v.chars().any(char::is_control) {
        return Err(Error::argument(
            path,
            format!("use 1 to {max} printable characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    const URI: &str = "https://host.example/callback";

    fn flow() -> (AuthorizationFlow, ManualClock) {
        let clock = ManualClock::new(1_700_000_000_000);
        let flow =
            AuthorizationFlow::new(Issuer::generate().unwrap()).with_clock(Arc::new(clock.clone()));
        (flow, clock)
    }

    fn code(flow: &AuthorizationFlow, verifier: &str) -> String {
        let c = challenge_s256(verifier).unwrap();
        flow.authorize("agent-1", &["pay:send".into()], &c, "S256", URI, "cli")
            .unwrap()
    }

    #[test]
    fn rfc_7636_appendix_b_vector() {
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(challenge_s256(v).unwrap(), c);
        assert!(verify_s256(v, c).unwrap());
        assert!(!verify_s256(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN").unwrap());
        assert!(!verify_s256(v, "short").unwrap());
    }

    #[test]
    fn verifiers_are_well_formed_and_malformed_ones_are_typed_errors() {
        let v = generate_verifier().unwrap();
        assert_eq!(v.len(), 43);
        assert!(v.bytes().all(unreserved));
        assert_ne!(v, generate_verifier().unwrap());
        for bad in [
            "short".to_string(),
            "a".repeat(129),
            format!("{}+", "a".repeat(42)),
            format!("{} ", "a".repeat(43)),
        ] {
            let e = challenge_s256(&bad).unwrap_err();
            assert_eq!(
                (e.code(), e.path()),
                ("INVALID_ARGUMENT", Some("/code_verifier")),
                "{bad:?}"
            );
            assert_eq!(
                verify_s256(&bad, "x").unwrap_err().code(),
                "INVALID_ARGUMENT"
            );
        }
        assert!(challenge_s256(&"~".repeat(128)).is_ok());
    }

    #[test]
    fn a_code_mints_the_consented_passport_once() {
        let (flow, _) = flow();
        let v = generate_verifier().unwrap();
        let c = code(&flow, &v);
        let p = flow.exchange(&c, &v, URI, "cli").unwrap();
        assert_eq!(p.agent_id, "agent-1");
        assert_eq!(p.expires_at, 1_700_000_000 + DEFAULT_PASSPORT_TTL_SECS);
        let e = flow.exchange(&c, &v, URI, "cli").unwrap_err();
        assert_eq!(e.code(), "GRANT_INVALID");
        assert_eq!(flow.pending(), 0);
    }

    #[test]
    fn a_failed_exchange_burns_the_code() {
        let (flow, clock) = flow();
        let v = generate_verifier().unwrap();
        let other = generate_verifier().unwrap();
        // Wrong verifier, then the right one: the code is gone.
        let c = code(&flow, &v);
        assert_eq!(
            flow.exchange(&c, &other, URI, "cli").unwrap_err().code(),
            "GRANT_INVALID"
        );
        assert_eq!(
            flow.exchange(&c, &v, URI, "cli").unwrap_err().code(),
            "GRANT_INVALID"
        );
        // Another redirect URI.
        let c = code(&flow, &v);
        let e = flow
            .exchange(&c, &v, "https://evil.example/cb", "cli")
            .unwrap_err();
        assert_eq!(e.code(), "GRANT_INVALID");
        assert_eq!(
            flow.exchange(&c, &v, URI, "cli").unwrap_err().code(),
            "GRANT_INVALID"
        );
        // Another client.
        let c = code(&flow, &v);
        assert_eq!(
            flow.exchange(&c, &v, URI, "other").unwrap_err().code(),
            "GRANT_INVALID"
        );
        assert_eq!(
            flow.exchange(&c, &v, URI, "cli").unwrap_err().code(),
            "GRANT_INVALID"
        );
        // A malformed verifier: a typed argument error, and the code is burnt too.
        let c = code(&flow, &v);
        let e = flow.exchange(&c, "nope", URI, "cli").unwrap_err();
        assert_eq!(
            (e.code(), e.path()),
            ("INVALID_ARGUMENT", Some("/code_verifier"))
        );
        assert_eq!(
            flow.exchange(&c, &v, URI, "cli").unwrap_err().code(),
            "GRANT_INVALID"
        );
        // Expired: 60 s after authorize.
        let c = code(&flow, &v);
        clock.advance_ms(CODE_TTL_MS);
        assert_eq!(
            flow.exchange(&c, &v, URI, "cli").unwrap_err().code(),
            "GRANT_INVALID"
        );
        // One millisecond before expiry is still fine.
        let c = code(&flow, &v);
        clock.advance_ms(CODE_TTL_MS - 1);
        assert!(flow.exchange(&c, &v, URI, "cli").is_ok());
        assert_eq!(flow.pending(), 0);
    }

    #[test]
    fn authorize_checks_its_arguments() {
        let (flow, _) = flow();
        let c = challenge_s256(&generate_verifier().unwrap()).unwrap();
        let perms = vec!["pay:send".to_string()];
        let e = flow
            .authorize("a", &perms, &c, "plain", URI, "cli")
            .unwrap_err();
        assert_eq!(e.path(), Some("/code_challenge_method"));
        let e = flow
            .authorize("a", &perms, "abc", "S256", URI, "cli")
            .unwrap_err();
        assert_eq!(e.path(), Some("/code_challenge"));
        let e = flow
            .authorize("a", &perms, &c, "S256", "not a uri", "cli")
            .unwrap_err();
        assert_eq!(e.path(), Some("/redirect_uri"));
        let e = flow
            .authorize("", &perms, &c, "S256", URI, "cli")
            .unwrap_err();
        assert_eq!(e.path(), Some("/agent_id"));
        let e = flow
            .authorize("a", &perms, &c, "S256", URI, "")
            .unwrap_err();
        assert_eq!(e.path(), Some("/client_id"));
        assert_eq!(
            AuthorizationFlow::new(Issuer::generate().unwrap())
                .with_passport_ttl_secs(0)
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    fn pending_codes_are_bounded_and_expired_ones_make_room() {
        let (flow, clock) = flow();
        let flow = flow.with_max_pending(2);
        let v = generate_verifier().unwrap();
        code(&flow, &v);
        code(&flow, &v);
        let c = challenge_s256(&v).unwrap();
        let e = flow
            .authorize("a", &[], &c, "S256", URI, "cli")
            .unwrap_err();
        assert_eq!(e.code(), "LIMIT_EXCEEDED");
        clock.advance_ms(CODE_TTL_MS);
        assert!(flow.authorize("a", &[], &c, "S256", URI, "cli").is_ok());
        assert_eq!(flow.pending(), 1);
    }
}
