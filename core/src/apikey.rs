//! API keys: long-lived credentials for hosts and operators' tools, each limited to a set of
//! [`Scope`]s (which MCP tools it may call: [`crate::mcp::scope_of_tool`]).
//!
//! A key's secret is `pgk_<id>_<random>`: `id` is 12 random base32 characters (the key's public
//! id, which lists, attestations and traces name), `random` is 32 bytes from the operating
//! system's generator in unpadded base64url (43 characters). The secret is returned once, by
//! [`Engine::create_api_key`](crate::Engine::create_api_key); the store keeps only its SHA-256,
//! compared in constant time by [`Engine::authenticate_api_key`](crate::Engine::authenticate_api_key).
//! A missing, malformed, unknown, revoked or expired key is `UNAUTHENTICATED`, with a message
//! that never repeats the secret.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// What a secret starts with.
pub const PREFIX: &str = "pgk_";

/// Length of a key id (base32 characters).
pub const ID_LEN: usize = 12;

/// Length of the random part of a secret (unpadded base64url of 32 bytes).
pub const RANDOM_LEN: usize = 43;

/// Longest key name.
pub const MAX_NAME_LEN: usize = 128;

/// How often at most a key's `last_used_at` is written (so authenticating is not a write per
/// call).
pub const LAST_USED_EVERY_MS: i64 = 60_000;

/// What an API key may do: each MCP tool needs exactly one scope.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum Scope {
    /// The agent's tools: enforce, dry-run, evaluate, verify its passport, its gates and
    /// evaluations.
    #[serde(rename = "decide")]
    Decide,
    /// Reading and verifying attestations, chains and the store.
    #[serde(rename = "read:attestations")]
    ReadAttestations,
    /// Issuing, revoking and verifying passports (operator side).
    #[serde(rename = "admin:passports")]
    AdminPassports,
    /// Gates, constraint types and templates.
    #[serde(rename = "admin:policy")]
    AdminPolicy,
    /// Counters and holds (reading, resetting, settling, releasing, expiring), host records
    /// (`record_attestation`), and pruning.
    #[serde(rename = "admin:counters")]
    AdminCounters,
    /// Approving and denying escalated requests.
    #[serde(rename = "approve")]
    Approve,
    /// Creating, listing and revoking API keys.
    #[serde(rename = "admin:keys")]
    AdminKeys,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 7] = [
        Scope::Decide,
        Scope::ReadAttestations,
        Scope::AdminPassports,
        Scope::AdminPolicy,
        Scope::AdminCounters,
        Scope::Approve,
        Scope::AdminKeys,
    ];

    /// Its name: `"decide"`, `"read:attestations"`, `"admin:passports"`, `"admin:policy"`,
    /// `"admin:counters"`, `"approve"`, `"admin:keys"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Decide => "decide",
            Scope::ReadAttestations => "read:attestations",
            Scope::AdminPassports => "admin:passports",
            Scope::AdminPolicy => "admin:policy",
            Scope::AdminCounters => "admin:counters",
            Scope::Approve => "approve",
            Scope::AdminKeys => "admin:keys",
        }
    }

    /// Parses a scope name (`INVALID_ARGUMENT` naming the known ones otherwise).
    pub fn parse(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
                Error::argument(
                    "/scopes",
                    format!("unknown scope {s:?} (known: {})", known.join(", ")),
                )
            })
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who an authenticated API key is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ApiKeyPrincipal {
    /// The key's id (the `<id>` of `pgk_<id>_…`).
    pub id: String,
    /// The key's name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
}

impl ApiKeyPrincipal {
    /// Whether the key holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// An API key's metadata, as listed (never its secret, nor the secret's hash). Times are Unix
/// milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKeyRecord {
    /// The key's id.
    pub id: String,
    /// Its name (1–128 characters).
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// When it was created.
    pub created_at: i64,
    /// When it stops authenticating, if ever.
    pub expires_at: Option<i64>,
    /// When it last authenticated (written at most once a minute), if ever.
    pub last_used_at: Option<i64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// A key as a store keeps it: its metadata and the SHA-256 (hex) of its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredApiKey {
    /// Its metadata.
    #[serde(flatten)]
    pub record: ApiKeyRecord,
    /// SHA-256 of the whole secret, lowercase hex.
    pub secret_sha256: String,
}

/// Whether `s` looks like an API key secret (starts with `pgk_`), as opposed to a passport: a
/// gateway tells the two bearers apart with it. It says nothing about validity.
pub fn looks_like_api_key(s: &str) -> bool {
    s.starts_with(PREFIX)
}

/// A fresh `(id, secret)`.
pub(crate) fn new_secret() -> Result<(String, String)> {
    let mut id_bytes = [0u8; ID_LEN];
    let mut random = [0u8; 32];
    getrandom::fill(&mut id_bytes)
        .and_then(|()| getrandom::fill(&mut random))
        .map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    let id = crate::ids::id_from("", &id_bytes);
    let id = id.trim_start_matches('_').to_string();
    let secret = format!("{PREFIX}{id}_{}", URL_SAFE_NO_PAD.encode(random));
    Ok((id, secret))
}

/// The id a secret names, if it has the shape of one (`pgk_`, 12 base32 characters, `_`, 43
/// base64url characters); `None` for anything else, whatever its bytes.
pub(crate) fn id_of(secret: &str) -> Option<&str> {
    let rest = secret.strip_prefix(PREFIX)?;
    let (id, random) = rest.split_once('_')?;
    let id_ok = id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b));
    let random_ok = random.len() == RANDOM_LEN
        && random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && random_ok).then_some(id)
}

/// SHA-256 of a secret, lowercase hex.
pub(crate) fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether two byte strings are equal, in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    std::hint::black_box(diff) == 0
}

/// Checks a key's name and scopes: name 1–128 characters (no control characters), scopes
/// non-empty and without duplicates.
pub(crate) fn check_new(name: &str, scopes: &[Scope]) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(Error::argument(
            "/name",
            format!("a key name is 1 to {MAX_NAME_LEN} characters without control characters"),
        ));
    }
    if scopes.is_empty() {
        return Err(Error::argument("/scopes", "a key needs at least one scope"));
    }
    for (i, s) in scopes.iter().enumerate() {
        if scopes.iter().take(i).any(|t| t == s) {
            return Err(Error::argument(
                format!("/scopes/{i}"),
                format!("scope {s} is listed twice"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_documented_shape_and_parse_back() {
        let (id, secret) = new_secret().unwrap();
        assert_eq!(id.len(), ID_LEN);
        assert_eq!(secret.len(), PREFIX.len() + ID_LEN + 1 + RANDOM_LEN);
        assert_eq!(id_of(&secret), Some(id.as_str()));
        assert!(looks_like_api_key(&secret));
        let (id2, secret2) = new_secret().unwrap();
        assert_ne!((id, secret), (id2, secret2));
    }

    #[test]
    fn malformed_secrets_have_no_id() {
        for s in [
            "",
            "pgk_",
            "pgk__",
            "pgk_abc_def",
            "pgk_abcdefghijkl_",
            "pgk_ABCDEFGHIJKL_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "pgk_abcdefghijkl_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "pgk_abcdefghijkl_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=",
            "pgk_abcdefghijkl_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaé",
            "pgk_abcdéfghijk_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(id_of(s), None, "{s:?}");
        }
    }

    #[test]
    fn scopes_round_trip_by_name() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(Scope::parse("root").unwrap_err().code(), "INVALID_ARGUMENT");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
