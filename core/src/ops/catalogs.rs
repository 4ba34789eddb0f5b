//! The catalog operations (issue 18 items 1–3): `create_catalog`, `publish_catalog`,
//! `get_catalog`, `get_catalog_version`, `list_catalog_versions`, `get_catalog_impact`,
//! `discover_services`, `verify_catalog` (see [`crate::commerce`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Effect, Op};
use crate::commerce::TrustLevel;
use crate::engine::{
    CatalogDraft, CatalogImpact, CatalogVersions, CatalogView, Engine, ServiceFilter, Services,
};
use crate::error::Result;

/// `create_catalog`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCatalog {
    /// The gate the catalog is for (the catalog's own `gate` must be the same).
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
    /// The catalog document: `{gate, description?, trust_level: L1|L2|L3, offers: [{permission,
    /// price: {amount (integer minor units), currency (ISO 4217)}, pricing: {model: per_call} |
    /// {model: per_unit, field, unit} | {model: tiered, field, tiers: [{up_to, amount}]}, sla?:
    /// {availability_bp, p95_latency_ms}, rate?: {max, window}, approval_threshold?, risk?:
    /// low|medium|high}]}` (schema: catalog.schema.json).
    pub catalog: Map<String, Value>,
}

impl Op for CreateCatalog {
    const NAME: &'static str = "create_catalog";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Validate a gate's catalog (prices in integer minor units, pricing model, SLA, rate terms, approval threshold, risk) and keep it as the gate's draft, replacing any earlier draft. A malformed catalog is CATALOG_INVALID at the field's path (a float or negative price, an unknown pricing model, ...). Publish it with publish_catalog.";
    type Output = CatalogDraft;
    fn run(self, engine: &Engine) -> Result<CatalogDraft> {
        engine.create_catalog(&self.gate, &Value::Object(self.catalog))
    }
}

/// `publish_catalog`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishCatalog {
    /// The gate whose draft is published.
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
    /// From when its terms apply, ms since the epoch (default: now; not before the previous
    /// version's).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub effective_at: Option<i64>,
    /// What changed, in words.
    #[schemars(length(max = 4096))]
    pub change_summary: Option<String>,
}

impl Op for PublishCatalog {
    const NAME: &'static str = "publish_catalog";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Publish a gate's draft catalog as its next version, irreversibly: signed by the engine (content_hash = SHA-256 of its RFC 8785 form; Ed25519 in the domain passgate/catalog/v1), written once, attested as catalog.published. A draft identical to the latest version is refused; no draft is CATALOG_UNKNOWN.";
    type Output = CatalogView;
    fn run(self, engine: &Engine) -> Result<CatalogView> {
        engine.publish_catalog(
            &self.gate,
            self.effective_at,
            self.change_summary.as_deref(),
        )
    }
}

/// `get_catalog`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCatalog {
    /// The gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
    /// A version (default: the current one, the highest already in effect).
    #[schemars(range(min = 1))]
    pub version: Option<u64>,
}

impl Op for GetCatalog {
    const NAME: &'static str = "get_catalog";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "A gate's published catalog: the current version (the highest already in effect), or the version asked for, with its content_hash (what a passport pin names) and the signed document (check it offline with verify_catalog). None: CATALOG_UNKNOWN.";
    type Output = CatalogView;
    fn run(self, engine: &Engine) -> Result<CatalogView> {
        engine.get_catalog(&self.gate, self.version)
    }
}

/// `get_catalog_version`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCatalogVersion {
    /// The gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
    /// The version.
    #[schemars(range(min = 1))]
    pub version: u64,
}

impl Op for GetCatalogVersion {
    const NAME: &'static str = "get_catalog_version";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "One published version of a gate's catalog, whether in effect or not (CATALOG_UNKNOWN if it was never published).";
    type Output = CatalogView;
    fn run(self, engine: &Engine) -> Result<CatalogView> {
        engine.get_catalog(&self.gate, Some(self.version))
    }
}

/// `list_catalog_versions`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListCatalogVersions {
    /// The gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
}

impl Op for ListCatalogVersions {
    const NAME: &'static str = "list_catalog_versions";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Every published version of a gate's catalog (version, content_hash, effective_at, published_at, change_summary, which one is current) and whether it has a draft.";
    type Output = CatalogVersions;
    fn run(self, engine: &Engine) -> Result<CatalogVersions> {
        engine.list_catalog_versions(&self.gate)
    }
}

/// `get_catalog_impact`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCatalogImpact {
    /// The gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
    /// The old version (the terms accepted so far).
    #[schemars(range(min = 1))]
    pub old: u64,
    /// The new version.
    #[schemars(range(min = 1))]
    pub new: u64,
}

impl Op for GetCatalogImpact {
    const NAME: &'static str = "get_catalog_impact";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The typed diff between two versions of a gate's catalog: each change (price_increase, price_decrease, permission_added, permission_removed, currency_changed, pricing_changed, sla_degraded, sla_improved, constraint_tightened, constraint_relaxed, trust_level_raised, ...) with its path, old and new values and whether it is breaking, and has_breaking_changes. What an agent reads before accepting new terms.";
    type Output = CatalogImpact;
    fn run(self, engine: &Engine) -> Result<CatalogImpact> {
        engine.get_catalog_impact(&self.gate, self.old, self.new)
    }
}

/// What `discover_services` keeps.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverFilter {
    /// Only this gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: Option<String>,
    /// Only offers whose permission this pattern matches (`payments:*`).
    #[schemars(length(min = 1, max = 256))]
    pub permission: Option<String>,
    /// Only offers in this currency (ISO 4217).
    #[schemars(length(min = 3, max = 3))]
    pub currency: Option<String>,
    /// Only offers whose price amount (minor units) is at most this.
    #[schemars(range(max = 9_007_199_254_740_991_u64))]
    pub max_amount: Option<u64>,
    /// Only gates requiring at most this trust level.
    pub max_trust_level: Option<TrustLevel>,
    /// Only gates open (true) or closed (false) to anonymous callers.
    pub anonymous: Option<bool>,
}

/// `discover_services`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverServices {
    /// What to keep (default: every service).
    pub filter: Option<DiscoverFilter>,
}

impl Op for DiscoverServices {
    const NAME: &'static str = "discover_services";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The services published here: per gate with a catalog in effect, its description, the trust level it requires, whether anonymous callers are admitted, the permissions the policy requires, the current catalog version and content_hash (to pin), and its offers with prices. Filter by gate, permission pattern, currency, max price, max trust level, anonymous access.";
    type Output = Services;
    fn run(self, engine: &Engine) -> Result<Services> {
        let f = self.filter.unwrap_or_default();
        engine.discover_services(&ServiceFilter {
            gate: f.gate,
            permission: f.permission,
            currency: f.currency,
            max_amount: f.max_amount,
            max_trust_level: f.max_trust_level,
            anonymous: f.anonymous,
        })
    }
}

/// `verify_catalog`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCatalog {
    /// The signed catalog document (`document` of get_catalog).
    pub document: Map<String, Value>,
    /// The signer's did:key (default: this engine's).
    #[schemars(length(min = 1, max = 256))]
    pub did: Option<String>,
}

/// A verified catalog document.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidCatalog {
    /// Always true (a failure is an error).
    pub valid: bool,
    /// The gate.
    pub gate: String,
    /// The version.
    pub version: u64,
    /// The content hash, recomputed.
    pub content_hash: String,
}

impl Op for VerifyCatalog {
    const NAME: &'static str = "verify_catalog";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Verify a signed catalog document offline: its hash, its Ed25519 signature (domain passgate/catalog/v1) against the did given (default: this engine's), and that its content_hash is its catalog's. A failure is ATTESTATION_KEY, ATTESTATION_HASH, ATTESTATION_SIGNATURE or ATTESTATION_MALFORMED.";
    type Output = ValidCatalog;
    fn run(self, engine: &Engine) -> Result<ValidCatalog> {
        let did = self.did.as_deref().unwrap_or(engine.signer_did());
        let p = crate::commerce::verify_catalog(&Value::Object(self.document), did)?;
        Ok(ValidCatalog {
            valid: true,
            gate: p.catalog.gate,
            version: p.publication.version,
            content_hash: p.content_hash,
        })
    }
}
