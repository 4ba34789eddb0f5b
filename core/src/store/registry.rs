//! The registries a store keeps for the operator: passports (issued by an engine, or seen when
//! first verified) and the issuers trusted through the store.
//!
//! A store that keeps them answers [`super::Store::registry`] with a [`RegistryStore`]; the
//! three backends do (memory: maps; SQLite: tables `passports` and `issuers` of migration 5;
//! Redis: `{prefix}:passport:<id>` hashes indexed by the sorted set `{prefix}:passports`, and
//! the hash `{prefix}:issuers` with its generation counter `{prefix}:issuers:gen`).
//!
//! - **Passports are insert-if-absent**: the first record of an id wins and is never
//!   overwritten; a later registration of the same id returns the stored record
//!   ([`Registered::Existing`]) so the engine can compare token hashes and attest a conflict.
//!   A record holds the SHA-256 of its token, never the token or a key.
//! - **Issuers** are one record per did (trusted with an optional window, or untrusted: a
//!   deny-list entry that wins over the builder's and the policy's issuers); every change bumps
//!   a generation number, which an engine checks to pick up another engine's change.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;

/// Where a registered passport came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PassportSource {
    /// Issued by an engine of this store (`issue_passport`).
    Issued,
    /// Made elsewhere, registered when an engine first verified it.
    Seen,
}

/// A passport as the registry keeps it: its claims, never the token or a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PassportRecord {
    /// The passport id: the `jti` of a root passport, the chain-derived `psd_…` id of a
    /// delegated one.
    pub passport_id: String,
    /// The agent (`sub`).
    pub agent: String,
    /// The agent's display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its permissions (`perms`).
    pub perms: Vec<String>,
    /// The caveats it declares (its ancestors' are in their own records).
    #[serde(default)]
    pub caveats: Vec<Value>,
    /// The parent passport's id (none: a root passport).
    #[serde(default)]
    pub parent: Option<String>,
    /// Every ancestor's id, root first (empty for a root passport): revoking any of them revokes
    /// this passport.
    #[serde(default)]
    pub ancestors: Vec<String>,
    /// Who signed it (`iss`): the issuer's did for a root passport, the parent agent's key for a
    /// delegated one.
    pub issuer: String,
    /// `exp`, seconds since the epoch.
    pub exp: i64,
    /// `iat`, seconds since the epoch.
    pub issued_at: i64,
    /// The SHA-256 of the token, lowercase hex.
    pub token_hash: String,
    /// When it was registered, ms since the epoch.
    pub registered_at: i64,
    /// `issued` or `seen`.
    pub source: PassportSource,
}

/// What registering a passport found.
#[derive(Debug, Clone, PartialEq)]
pub enum Registered {
    /// It was not registered: now it is.
    Inserted,
    /// A record of that id was there first and stays as it was (compare its `token_hash`).
    Existing(Box<PassportRecord>),
}

/// Which passports a page lists (the store's part of the filter; status and permission are
/// judged by the engine).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassportFilter {
    /// Those of this agent (`sub`).
    pub agent: Option<String>,
    /// The children of this passport id.
    pub parent: Option<String>,
}

impl PassportFilter {
    /// Whether `r` passes.
    pub fn matches(&self, r: &PassportRecord) -> bool {
        self.agent.as_ref().is_none_or(|a| *a == r.agent)
            && self
                .parent
                .as_ref()
                .is_none_or(|p| r.parent.as_ref() == Some(p))
    }
}

/// An issuer's stored trust: trusted (with an optional validity window for the `iat` of the
/// passports it signs), or untrusted (a deny-list entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerRecord {
    /// The issuer's did:key.
    pub did: String,
    /// Trusted (`true`) or denied (`false`).
    pub trusted: bool,
    /// Passports it issued before this time (ms) are refused.
    #[serde(default)]
    pub not_before: Option<i64>,
    /// Passports it issued after this time (ms) are refused.
    #[serde(default)]
    pub not_after: Option<i64>,
    /// When this record was written (ms).
    pub changed_at: i64,
}

/// The registries of a store (see the module docs).
pub trait RegistryStore: Send + Sync {
    /// Stores `record` unless a record of its id exists (then returns that one, unchanged).
    fn passport_register(&self, record: &PassportRecord) -> Result<Registered>;

    /// The record of passport `id`.
    fn passport_get(&self, id: &str) -> Result<Option<PassportRecord>>;

    /// At most `limit` records matching `filter`, by passport id, strictly after `after`; and
    /// the id to resume after, `None` when the walk is over. A backend may end a page early
    /// (even empty) with a position to resume from, to bound the work of one call.
    fn passports_page(
        &self,
        filter: &PassportFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<PassportRecord>, Option<String>)>;

    /// Writes an issuer's record (replacing its previous one) and bumps the generation;
    /// returns the new generation.
    fn issuer_put(&self, record: &IssuerRecord) -> Result<u64>;

    /// The generation and every issuer record, by did.
    fn issuers(&self) -> Result<(u64, Vec<IssuerRecord>)>;

    /// The generation: it changes with every [`RegistryStore::issuer_put`].
    fn issuers_generation(&self) -> Result<u64>;

    /// Every revoked passport id, sorted (for a trust export).
    fn revoked_ids(&self) -> Result<Vec<String>>;
}
