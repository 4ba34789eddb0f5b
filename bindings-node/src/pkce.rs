//! `passgate/pkce`: PKCE (S256) helpers and the authorization-code flow of `passgate::pkce`,
//! thinly: every rule is the core's.

use napi::bindgen_prelude::{Env, Unknown};
use napi_derive::napi;

use crate::error::{raise, CoreResult, Result};
use crate::issuer::IssuedPassport;
use crate::options::{self, Options};

/// A fresh code verifier: 43 characters of RFC 7636's unreserved set.
#[napi]
pub fn pkce_generate_verifier() -> Result<String> {
    passgate::pkce::generate_verifier().js()
}

/// The S256 code challenge of `verifier` (base64url of its SHA-256). A malformed verifier throws
/// `INVALID_ARGUMENT` (path `/code_verifier`).
#[napi]
pub fn pkce_challenge_s256(env: Env, verifier: String) -> Result<String> {
    passgate::pkce::challenge_s256(&verifier)
        .js()
        .map_err(|e| raise(&env, e))
}

/// Whether `challenge` is the S256 challenge of `verifier` (compared in constant time).
#[napi]
pub fn pkce_verify_s256(env: Env, verifier: String, challenge: String) -> Result<bool> {
    passgate::pkce::verify_s256(&verifier, &challenge)
        .js()
        .map_err(|e| raise(&env, e))
}

/// An authorization-code flow with PKCE (S256), in memory, minting passports signed by `issuer`
/// with exactly the consented permissions, valid `passportTtl` seconds (default 900). Codes are
/// single-use, live 60 seconds, and are burnt by the first failed exchange.
#[napi]
pub struct AuthorizationFlow {
    inner: passgate::pkce::AuthorizationFlow,
}

#[napi]
impl AuthorizationFlow {
    /// A flow whose passports `issuer` (an `Issuer` or its secret) signs.
    #[napi(
        constructor,
        ts_args_type = "issuer: Issuer | string, options?: { passportTtl?: number | null } | null"
    )]
    pub fn new(env: Env, issuer: Unknown<'_>, options: Option<Unknown<'_>>) -> Result<Self> {
        let build = || -> Result<Self> {
            let o = Options::read(options, "AuthorizationFlow", &["passportTtl"])?;
            let mut flow = passgate::pkce::AuthorizationFlow::new(options::issuer(issuer)?);
            if let Some(secs) = o.int("passportTtl")? {
                flow = flow.with_passport_ttl_secs(secs).js()?;
            }
            Ok(AuthorizationFlow { inner: flow })
        };
        build().map_err(|e| raise(&env, e))
    }

    /// The issuer's `did:key` (what the engine trusts).
    #[napi(getter)]
    pub fn issuer_did(&self) -> String {
        self.inner.issuer_did().to_string()
    }

    /// Records the user's consent and returns the code for the redirect.
    /// `codeChallengeMethod` must be `"S256"`.
    #[napi(
        ts_args_type = "options: { agentId: string; permissions: string[]; codeChallenge: string; codeChallengeMethod: 'S256'; redirectUri: string; clientId: string }"
    )]
    pub fn authorize(&self, env: Env, options: Unknown<'_>) -> Result<String> {
        let go = || -> Result<String> {
            let o = Options::read(
                Some(options),
                "authorize",
                &[
                    "agentId",
                    "permissions",
                    "codeChallenge",
                    "codeChallengeMethod",
                    "redirectUri",
                    "clientId",
                ],
            )?;
            let permissions: Vec<String> =
                match o.json("permissions", crate::convert::Kind::Argument)? {
                    Some(v) => serde_json::from_value(v).map_err(|_| {
                        crate::error::core(passgate::Error::argument(
                            "/permissions",
                            "permissions must be an array of strings",
                        ))
                    })?,
                    None => Vec::new(),
                };
            self.inner
                .authorize(
                    &o.req_str("agentId")?,
                    &permissions,
                    &o.req_str("codeChallenge")?,
                    &o.req_str("codeChallengeMethod")?,
                    &o.req_str("redirectUri")?,
                    &o.req_str("clientId")?,
                )
                .js()
        };
        go().map_err(|e| raise(&env, e))
    }

    /// Exchanges a code and its verifier for an `IssuedPassport`. Any failure (an unknown, used
    /// or expired code, another redirect URI or client, a wrong verifier) throws `GRANT_INVALID`,
    /// and the code is burnt.
    #[napi(
        ts_args_type = "options: { code: string; codeVerifier: string; redirectUri: string; clientId: string }"
    )]
    pub fn exchange(&self, env: Env, options: Unknown<'_>) -> Result<IssuedPassport> {
        let go = || -> Result<IssuedPassport> {
            let o = Options::read(
                Some(options),
                "exchange",
                &["code", "codeVerifier", "redirectUri", "clientId"],
            )?;
            let inner = self
                .inner
                .exchange(
                    &o.req_str("code")?,
                    &o.req_str("codeVerifier")?,
                    &o.req_str("redirectUri")?,
                    &o.req_str("clientId")?,
                )
                .js()?;
            Ok(IssuedPassport { inner })
        };
        go().map_err(|e| raise(&env, e))
    }
}
