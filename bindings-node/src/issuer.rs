//! Issuers and issued passports.

use napi::bindgen_prelude::{Env, Unknown};
use napi_derive::napi;

use crate::convert;
use crate::error::{CoreResult, Result};
use crate::options::Options;

/// An Ed25519 key pair that signs root passports. Engines trust issuers by their `did`.
///
/// ```js
/// const issuer = Issuer.generate()
/// const passport = issuer.issuePassport({ agentId: 'agent-007', permissions: ['payments:send'] })
/// ```
#[napi]
pub struct Issuer {
    pub(crate) inner: passgate::Issuer,
}

#[napi]
impl Issuer {
    /// An issuer with a fresh random key.
    #[napi(factory)]
    pub fn generate() -> Result<Issuer> {
        Ok(Issuer {
            inner: passgate::Issuer::generate().js()?,
        })
    }

    /// The issuer whose secret (base64url Ed25519 seed, as `issuer.secret`) is `secret`.
    #[napi(factory)]
    pub fn from_secret(secret: String) -> Result<Issuer> {
        Ok(Issuer {
            inner: passgate::Issuer::from_secret(&secret).js()?,
        })
    }

    /// The issuer's `did:key` (`did:key:z6Mk…`): what an engine lists in `trustedIssuers`.
    #[napi(getter)]
    pub fn did(&self) -> String {
        self.inner.did().to_string()
    }

    /// The issuer's public key as an RFC 8037 JWK (`{kty: 'OKP', crv: 'Ed25519', x}`), for
    /// verifying passports with any JOSE library.
    #[napi(getter, ts_return_type = "PublicJwk")]
    pub fn public_jwk<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        convert::to_js(env, &self.inner.public_jwk())
    }

    /// The issuer's secret (base64url Ed25519 seed). Treat it like a password.
    #[napi(getter)]
    pub fn secret(&self) -> String {
        self.inner.secret()
    }

    /// Issues a passport valid from now. The agent gets a fresh key pair whose private key is in
    /// the result, once (`privateKey`).
    #[napi(ts_args_type = "options: PassportOptions")]
    pub fn issue_passport(&self, env: &Env, options: Unknown<'_>) -> Result<IssuedPassport> {
        let go = || issue(options, "issuePassport", self.inner.secret(), None);
        go().map(|inner| IssuedPassport { inner })
            .map_err(|e| crate::error::raise(env, crate::engine::camel_path(e)))
    }
}

/// A freshly issued passport with the agent's key pair. `privateKey` is shown only here: the agent
/// keeps it to delegate (`issueSubPassport`).
#[napi]
pub struct IssuedPassport {
    pub(crate) inner: passgate::IssuedPassport,
}

#[napi]
impl IssuedPassport {
    /// A passport from its token and the agent's private key (as kept by the agent), to delegate
    /// from it later. Throws `KEY_INVALID` if the key is not the token's `cnf` key; the token's
    /// signature is not checked here.
    #[napi(factory)]
    pub fn from_token(token: String, private_key: String) -> Result<IssuedPassport> {
        Ok(IssuedPassport {
            inner: passgate::IssuedPassport::from_token(&token, &private_key).js()?,
        })
    }

    /// The compact JWS (`header.claims.signature`).
    #[napi(getter)]
    pub fn token(&self) -> String {
        self.inner.token.clone()
    }

    /// The passport id (`jti`, `psp_…`): what revocation names.
    #[napi(getter)]
    pub fn passport_id(&self) -> String {
        self.inner.passport_id.clone()
    }

    /// The agent id (`sub`).
    #[napi(getter)]
    pub fn agent_id(&self) -> String {
        self.inner.agent_id.clone()
    }

    /// The agent's own `did:key` (the key in `cnf`).
    #[napi(getter)]
    pub fn did(&self) -> String {
        self.inner.did.clone()
    }

    /// The agent's private key (base64url Ed25519 seed). Keep it secret.
    #[napi(getter)]
    pub fn private_key(&self) -> String {
        self.inner.private_key.clone()
    }

    /// `exp`, in seconds since the epoch.
    #[napi(getter)]
    pub fn expires_at(&self) -> i64 {
        self.inner.expires_at
    }

    /// Delegates: a passport for a sub-agent, signed with this passport's agent key. Never
    /// clamps: a permission this passport lacks, an expiry after its own or a chain too deep is
    /// `DELEGATION_WIDENS` (the default 30 days is usually too long: set `expiresInDays`).
    #[napi(ts_args_type = "options: PassportOptions")]
    pub fn issue_sub_passport(&self, env: &Env, options: Unknown<'_>) -> Result<IssuedPassport> {
        let go = || {
            issue(
                options,
                "issueSubPassport",
                self.inner.private_key.clone(),
                Some(self.inner.token.clone()),
            )
        };
        go().map(|inner| IssuedPassport { inner })
            .map_err(|e| crate::error::raise(env, crate::engine::camel_path(e)))
    }
}

const PASSPORT_OPTIONS: &[&str] = &[
    "agentId",
    "agentName",
    "permissions",
    "expiresInDays",
    "caveats",
];

/// Issues a passport from `{agentId, agentName, permissions, expiresInDays, caveats}` through the
/// core's `issue_passport` operation (days to seconds, bounds and all are the core's), signed by
/// `issuer_secret`; with `parent` (a token), a sub-agent passport, `issuer_secret` being its agent
/// key.
fn issue(
    options: Unknown<'_>,
    what: &'static str,
    issuer_secret: String,
    parent: Option<String>,
) -> Result<passgate::IssuedPassport> {
    // Unknown options are refused by name, as everywhere in the binding.
    Options::read(Some(options), what, PASSPORT_OPTIONS)?;
    let mut args: serde_json::Map<String, serde_json::Value> =
        crate::engine::options_object(what, Some(options))?
            .into_iter()
            .collect();
    args.insert("issuer_secret".into(), issuer_secret.into());
    if let Some(p) = parent {
        args.insert("passport".into(), p.into());
    }
    let op: passgate::ops::IssuePassport =
        passgate::ops::parse(serde_json::Value::Object(args)).js()?;
    op.issue().js()
}
