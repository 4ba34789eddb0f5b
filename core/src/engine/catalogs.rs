//! Catalogs: drafted, published (signed, versioned, never changed), read, compared and
//! discovered (see [`crate::commerce`] and [`crate::store::CatalogStore`]).
//!
//! - `create_catalog` validates a catalog document (`CATALOG_INVALID` at the field's path) and
//!   keeps it as the gate's draft (replacing any earlier draft). Nothing is attested: a draft
//!   binds no one.
//! - `publish_catalog` signs the draft as version n + 1 (n: the gate's latest version; a
//!   catalog identical to version n is refused), writes it once (insert-if-absent by version:
//!   a concurrent publisher's version is never overwritten; the loser re-reads and takes the
//!   next number) and writes a `catalog.published` attestation `{gate, version, content_hash,
//!   document_hash, effective_at, change_summary}` on the engine's chain. The attestation
//!   follows the version's write (as `issuance` follows a passport's registration): a failure
//!   between the two leaves a published version without its attestation, never the reverse.
//! - `get_catalog(gate)` is the **current** version: the highest whose `effective_at` has come;
//!   `get_catalog(gate, version)` and `get_catalog_version` that version. Every stored
//!   document is verified (hash, signature against its own `kid`, content hash) when read, and
//!   cached once verified (a published version never changes).
//! - Pins: [`Engine::check_pin`] is the `catalog_pin` check of `enforce`.

use std::collections::HashMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};

use super::{Engine, Event};
use crate::commerce::{self, Catalog, Impact, Offer, Publication, Published, TrustLevel};
use crate::decision::Check;
use crate::error::{CheckCode, Error, Result};
use crate::passport::Pin;
use crate::store::{CatalogStore, CatalogStoreExt};

/// How many times `publish_catalog` retries when another publisher took its version number.
pub const PUBLISH_ATTEMPTS: usize = 8;

/// The most verified catalog versions an engine keeps in memory.
const CACHE_ENTRIES: usize = 1024;

/// How long a gate's catalog trust levels are cached (ms of the engine's clock).
pub const LEVEL_CACHE_MS: i64 = 1000;

/// Per gate: when its catalog versions were read, and each one's `(effective_at, trust_level)`.
pub(super) type LevelCache = HashMap<String, (i64, Vec<(i64, TrustLevel)>)>;

/// Verified published catalogs by (gate, version).
pub(super) type CatalogCache = HashMap<(String, u64), Arc<Published>>;

/// A catalog version as the catalog operations return it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CatalogView {
    /// The gate.
    pub gate: String,
    /// The version (`1, 2, …`).
    pub version: u64,
    /// `sha256:` and the hex SHA-256 of the RFC 8785 form of `catalog`: what a pin names.
    pub content_hash: String,
    /// From when its terms apply (ms since the epoch).
    pub effective_at: i64,
    /// When it was published (ms).
    pub published_at: i64,
    /// What changed, in words.
    pub change_summary: Option<String>,
    /// The signer's did:key.
    pub signer: String,
    /// The catalog.
    pub catalog: Catalog,
    /// The signed document: check it offline with `verify_catalog` and the signer's did.
    pub document: Value,
}

impl CatalogView {
    fn of(p: &Published) -> CatalogView {
        CatalogView {
            gate: p.catalog.gate.clone(),
            version: p.publication.version,
            content_hash: p.content_hash.clone(),
            effective_at: p.publication.effective_at,
            published_at: p.publication.published_at,
            change_summary: p.publication.change_summary.clone(),
            signer: p.signer.clone(),
            catalog: p.catalog.clone(),
            document: p.document.clone(),
        }
    }
}

/// A draft as `create_catalog` returns it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CatalogDraft {
    /// The gate.
    pub gate: String,
    /// The content hash the draft will have once published.
    pub content_hash: String,
    /// The catalog, in its normal form.
    pub catalog: Catalog,
    /// The version it will be published as (if no one publishes first).
    pub next_version: u64,
}

/// One version in `list_catalog_versions`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CatalogVersion {
    /// The version.
    pub version: u64,
    /// Its content hash.
    pub content_hash: String,
    /// From when its terms apply (ms).
    pub effective_at: i64,
    /// When it was published (ms).
    pub published_at: i64,
    /// What changed, in words.
    pub change_summary: Option<String>,
    /// Whether it is the current version (the highest whose `effective_at` has come).
    pub current: bool,
}

/// `list_catalog_versions`' result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CatalogVersions {
    /// The gate.
    pub gate: String,
    /// Every published version, ascending.
    pub versions: Vec<CatalogVersion>,
    /// Whether the gate has a draft.
    pub has_draft: bool,
}

/// `get_catalog_impact`'s result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CatalogImpact {
    /// The gate.
    pub gate: String,
    /// The old version.
    pub old: u64,
    /// The new version.
    pub new: u64,
    /// The old version's content hash.
    pub old_content_hash: String,
    /// The new version's content hash.
    pub new_content_hash: String,
    /// The diff.
    #[serde(flatten)]
    pub impact: Impact,
}

/// Which services `discover_services` lists: every field optional, all combined.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Only this gate.
    pub gate: Option<String>,
    /// Only gates offering a permission matched by this pattern (`payments:*`).
    pub permission: Option<String>,
    /// Only offers in this currency.
    pub currency: Option<String>,
    /// Only offers whose `price.amount` is at most this.
    pub max_amount: Option<u64>,
    /// Only gates requiring at most this trust level.
    pub max_trust_level: Option<TrustLevel>,
    /// Only gates open (`true`) or closed (`false`) to anonymous callers.
    pub anonymous: Option<bool>,
}

/// One service in `discover_services`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Service {
    /// The gate.
    pub gate: String,
    /// What it does.
    pub description: Option<String>,
    /// The trust level it requires.
    pub trust_level: TrustLevel,
    /// Whether the policy admits anonymous callers to it.
    pub anonymous: bool,
    /// Whether the policy in force defines the gate.
    pub defined: bool,
    /// The permissions the policy's gate requires (empty if it is not defined).
    pub requires: Vec<String>,
    /// The current catalog version.
    pub version: u64,
    /// Its content hash (pin it: `{gate, version, content_hash}`).
    pub content_hash: String,
    /// From when its terms apply (ms).
    pub effective_at: i64,
    /// The signer's did:key.
    pub signer: String,
    /// The offers (those the filter kept).
    pub offers: Vec<Offer>,
}

/// `discover_services`' result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Services {
    /// The services, by gate.
    pub services: Vec<Service>,
}

fn no_catalogs() -> Error {
    crate::store::no_catalogs()
}

fn check_gate(gate: &str) -> Result<()> {
    if gate.is_empty() || gate.len() > super::MAX_NAME_LEN {
        return Err(Error::argument(
            "/gate",
            format!("gate must be 1 to {} bytes", super::MAX_NAME_LEN),
        ));
    }
    Ok(())
}

fn parse_doc(what: &str, text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::StoreUnavailable(format!("stored {what} unreadable: {e}")))
}

impl Engine {
    fn catalog_store(&self) -> Result<&dyn CatalogStore> {
        self.store.catalogs().ok_or_else(no_catalogs)
    }

    /// Verifies a stored document (against its own signer: engines of a fleet may have
    /// different keys) and caches it.
    fn published(&self, gate: &str, version: u64, text: &str) -> Result<Arc<Published>> {
        if let Some(p) = self.catalog_cache.lock().get(&(gate.to_string(), version)) {
            return Ok(p.clone());
        }
        let doc = parse_doc("catalog", text)?;
        let kid = doc.get("kid").and_then(Value::as_str).unwrap_or_default();
        let p = commerce::verify_catalog(&doc, kid).map_err(|e| {
            Error::StoreUnavailable(format!(
                "stored catalog {gate:?} v{version} does not verify: {e}"
            ))
        })?;
        if p.catalog.gate != gate || p.publication.version != version {
            return Err(Error::StoreUnavailable(format!(
                "stored catalog {gate:?} v{version} names {:?} v{}",
                p.catalog.gate, p.publication.version
            )));
        }
        let p = Arc::new(p);
        let mut cache = self.catalog_cache.lock();
        if cache.len() >= CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert((gate.to_string(), version), p.clone());
        Ok(p)
    }

    /// [`Engine::published`], for the settlement module.
    pub(super) fn published_text(
        &self,
        gate: &str,
        version: u64,
        text: &str,
    ) -> Result<Arc<Published>> {
        self.published(gate, version, text)
    }

    /// Version `version` of `gate`'s catalog, verified (`CATALOG_UNKNOWN` if never published).
    pub(super) fn catalog_version_checked(
        &self,
        gate: &str,
        version: u64,
    ) -> Result<Arc<Published>> {
        self.version_of(gate, version)?.ok_or_else(|| {
            Error::CatalogUnknown(format!("gate {gate:?} has no catalog version {version}"))
        })
    }

    fn version_of(&self, gate: &str, version: u64) -> Result<Option<Arc<Published>>> {
        match self.catalog_store()?.catalog_get(gate, version)? {
            None => Ok(None),
            Some(text) => self.published(gate, version, &text).map(Some),
        }
    }

    fn all_versions(&self, gate: &str) -> Result<Vec<Arc<Published>>> {
        self.catalog_store()?
            .catalog_versions(gate)?
            .iter()
            .map(|(v, text)| self.published(gate, *v, text))
            .collect()
    }

    fn current_of(all: &[Arc<Published>], now: i64) -> Option<&Arc<Published>> {
        all.iter().rev().find(|p| p.publication.effective_at <= now)
    }

    /// The trust level advertised by `gate`'s current published catalog (`None`: the store
    /// keeps no catalogs, or the gate has none in effect). The versions' `(effective_at,
    /// trust_level)` are cached per gate for [`LEVEL_CACHE_MS`] (of the engine's clock; dropped
    /// at once when this engine publishes): a version another engine publishes is enforced
    /// within that time, and no decision reads the store for it in between.
    pub(super) fn catalog_trust_level(&self, gate: &str, now: i64) -> Result<Option<TrustLevel>> {
        if self.store.catalogs().is_none() {
            return Ok(None);
        }
        let cached = self
            .catalog_levels
            .lock()
            .get(gate)
            .filter(|(at, _)| now >= *at && now < at.saturating_add(LEVEL_CACHE_MS))
            .map(|(_, levels)| levels.clone());
        let levels = match cached {
            Some(l) => l,
            None => {
                let levels: Vec<(i64, TrustLevel)> = self
                    .all_versions(gate)?
                    .iter()
                    .map(|p| (p.publication.effective_at, p.catalog.trust_level))
                    .collect();
                let mut cache = self.catalog_levels.lock();
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
                cache.insert(gate.to_string(), (now, levels.clone()));
                levels
            }
        };
        Ok(levels
            .iter()
            .rev()
            .find(|(effective_at, _)| *effective_at <= now)
            .map(|(_, l)| *l))
    }

    /// The content hash of version `version` of `gate`'s catalog (`CATALOG_UNKNOWN` if it was
    /// never published).
    pub(super) fn catalog_hash(&self, gate: &str, version: u64) -> Result<String> {
        self.version_of(gate, version)?
            .map(|p| p.content_hash.clone())
            .ok_or_else(|| {
                Error::CatalogUnknown(format!("gate {gate:?} has no catalog version {version}"))
            })
    }

    /// Validates `catalog` and keeps it as `gate`'s draft (see the module docs).
    pub fn create_catalog(&self, gate: &str, catalog: &Value) -> Result<CatalogDraft> {
        self.same_process()?;
        check_gate(gate)?;
        crate::json::check_bounds(catalog, crate::json::Limits::POLICY)
            .map_err(|e| e.into_error(crate::json::Context::Argument))?;
        let c = Catalog::from_value(catalog)?;
        if c.gate != gate {
            return Err(Error::catalog(
                "/gate",
                format!("the catalog is for gate {:?}, not {gate:?}", c.gate),
            ));
        }
        let store = self.catalog_store()?;
        let text = serde_json::to_string(&c.to_value()?)
            .map_err(|e| Error::Internal(format!("catalog: {e}")))?;
        store.catalog_draft_put(gate, &text)?;
        let next_version = store.catalog_latest_version(gate)? + 1;
        Ok(CatalogDraft {
            gate: gate.to_string(),
            content_hash: c.content_hash()?,
            catalog: c,
            next_version,
        })
    }

    /// Publishes `gate`'s draft as its next version (see the module docs). `effective_at`
    /// (ms, default now) may not be before the previous version's.
    pub fn publish_catalog(
        &self,
        gate: &str,
        effective_at: Option<i64>,
        change_summary: Option<&str>,
    ) -> Result<CatalogView> {
        self.same_process()?;
        check_gate(gate)?;
        let store = self.catalog_store()?;
        let draft = store.catalog_draft_get(gate)?.ok_or_else(|| {
            Error::CatalogUnknown(format!(
                "gate {gate:?} has no draft catalog (create_catalog first)"
            ))
        })?;
        let catalog = Catalog::from_value(&parse_doc("draft catalog", &draft)?)
            .map_err(|e| Error::StoreUnavailable(format!("stored draft of {gate:?}: {e}")))?;
        let content_hash = catalog.content_hash()?;
        let now = self.clock.now_ms();
        let effective_at = effective_at.unwrap_or(now);
        if !(0..=crate::attestation::MAX_SAFE_INTEGER).contains(&effective_at) {
            return Err(Error::argument(
                "/effective_at",
                "effective_at must be ms since the epoch",
            ));
        }
        for _ in 0..PUBLISH_ATTEMPTS {
            let all = self.all_versions(gate)?;
            if let Some(last) = all.last() {
                if last.content_hash == content_hash {
                    return Err(Error::argument(
                        "/gate",
                        format!(
                            "the draft of {gate:?} is version {} already ({content_hash}): nothing to publish",
                            last.publication.version
                        ),
                    ));
                }
                if effective_at < last.publication.effective_at {
                    return Err(Error::argument(
                        "/effective_at",
                        format!(
                            "effective_at {effective_at} is before version {}'s ({})",
                            last.publication.version, last.publication.effective_at
                        ),
                    ));
                }
            }
            let version = all.last().map_or(1, |p| p.publication.version + 1);
            let publication = Publication {
                version,
                effective_at,
                published_at: now,
                change_summary: change_summary.map(str::to_string),
            };
            let document = commerce::seal_catalog(&catalog, &publication, &self.chain.key)?;
            let text = serde_json::to_string(&document)
                .map_err(|e| Error::Internal(format!("catalog: {e}")))?;
            if !store.catalog_insert(gate, version, &text)? {
                continue;
            }
            self.catalog_levels.lock().remove(gate);
            self.forget_terms(gate);
            let published = self.published(gate, version, &text)?;
            let data = json!({
                "gate": gate, "version": version, "content_hash": content_hash,
                "document_hash": document.get("hash"), "effective_at": effective_at,
                "change_summary": change_summary,
            });
            let about = Event {
                gate: Some(gate),
                ..Event::default()
            };
            self.append_event("catalog.published", &data, about)?;
            return Ok(CatalogView::of(&published));
        }
        Err(Error::StoreUnavailable(format!(
            "publishing {gate:?}: other publishers took {PUBLISH_ATTEMPTS} version numbers in a row; retry"
        )))
    }

    /// `gate`'s catalog: version `version`, or the current one (the highest already effective).
    /// `CATALOG_UNKNOWN` when there is none.
    pub fn get_catalog(&self, gate: &str, version: Option<u64>) -> Result<CatalogView> {
        self.same_process()?;
        check_gate(gate)?;
        if let Some(v) = version {
            return self
                .version_of(gate, v)?
                .map(|p| CatalogView::of(&p))
                .ok_or_else(|| {
                    Error::CatalogUnknown(format!("gate {gate:?} has no catalog version {v}"))
                });
        }
        let all = self.all_versions(gate)?;
        let now = self.clock.now_ms();
        match Self::current_of(&all, now) {
            Some(p) => Ok(CatalogView::of(p)),
            None if all.is_empty() => Err(Error::CatalogUnknown(format!(
                "gate {gate:?} has no published catalog"
            ))),
            None => Err(Error::CatalogUnknown(format!(
                "gate {gate:?} has no catalog in effect yet (version 1 takes effect at {} ms)",
                all.first().map_or(0, |p| p.publication.effective_at)
            ))),
        }
    }

    /// Every published version of `gate`'s catalog.
    pub fn list_catalog_versions(&self, gate: &str) -> Result<CatalogVersions> {
        self.same_process()?;
        check_gate(gate)?;
        let all = self.all_versions(gate)?;
        let now = self.clock.now_ms();
        let current = Self::current_of(&all, now).map(|p| p.publication.version);
        let has_draft = self.catalog_store()?.catalog_draft_get(gate)?.is_some();
        Ok(CatalogVersions {
            gate: gate.to_string(),
            versions: all
                .iter()
                .map(|p| CatalogVersion {
                    version: p.publication.version,
                    content_hash: p.content_hash.clone(),
                    effective_at: p.publication.effective_at,
                    published_at: p.publication.published_at,
                    change_summary: p.publication.change_summary.clone(),
                    current: Some(p.publication.version) == current,
                })
                .collect(),
            has_draft,
        })
    }

    /// The typed diff from version `old` to version `new` of `gate`'s catalog.
    pub fn get_catalog_impact(&self, gate: &str, old: u64, new: u64) -> Result<CatalogImpact> {
        self.same_process()?;
        check_gate(gate)?;
        let get = |v: u64, path: &str| {
            self.version_of(gate, v)?.ok_or_else(|| {
                Error::CatalogUnknown(format!("gate {gate:?} has no catalog version {v} ({path})"))
            })
        };
        let (o, n) = (get(old, "old")?, get(new, "new")?);
        Ok(CatalogImpact {
            gate: gate.to_string(),
            old,
            new,
            old_content_hash: o.content_hash.clone(),
            new_content_hash: n.content_hash.clone(),
            impact: commerce::impact(&o.catalog, &n.catalog),
        })
    }

    /// The services the catalogs registered with this engine's store offer (current versions),
    /// with the policy's view of each gate.
    pub fn discover_services(&self, filter: &ServiceFilter) -> Result<Services> {
        self.same_process()?;
        let store = self.catalog_store()?;
        let gates = match &filter.gate {
            Some(g) => vec![g.clone()],
            None => store.catalog_gates()?,
        };
        let policy = self.policy();
        let now = self.clock.now_ms();
        let mut services = Vec::new();
        for gate in gates {
            let all = self.all_versions(&gate)?;
            let Some(p) = Self::current_of(&all, now) else {
                continue;
            };
            let anonymous = policy
                .as_deref()
                .and_then(|p| p.anonymous.as_ref())
                .is_some_and(|a| a.gates.contains(&gate));
            if filter.anonymous.is_some_and(|want| want != anonymous) {
                continue;
            }
            if filter
                .max_trust_level
                .is_some_and(|m| p.catalog.trust_level > m)
            {
                continue;
            }
            let defined = policy.as_deref().and_then(|p| p.gate(&gate));
            let offers: Vec<Offer> = p
                .catalog
                .offers
                .iter()
                .filter(|o| {
                    filter
                        .permission
                        .as_ref()
                        .is_none_or(|pat| crate::passport::perm_matches(pat, &o.permission))
                        && filter
                            .currency
                            .as_ref()
                            .is_none_or(|c| *c == o.price.currency)
                        && filter.max_amount.is_none_or(|m| o.price.amount <= m)
                })
                .cloned()
                .collect();
            let narrowed = filter.permission.is_some()
                || filter.currency.is_some()
                || filter.max_amount.is_some();
            if narrowed && offers.is_empty() {
                continue;
            }
            services.push(Service {
                gate: gate.clone(),
                description: p.catalog.description.clone(),
                trust_level: p.catalog.trust_level,
                anonymous,
                defined: defined.is_some(),
                requires: defined.map(|g| g.require.clone()).unwrap_or_default(),
                version: p.publication.version,
                content_hash: p.content_hash.clone(),
                effective_at: p.publication.effective_at,
                signer: p.signer.clone(),
                offers,
            });
        }
        Ok(Services { services })
    }

    /// The `catalog_pin` check of a request to `gate` by a passport pinning it: passed when
    /// the pinned version is published with the pinned content hash (its terms apply), failed
    /// with `CATALOG_PIN_MISMATCH` otherwise. `None` when the passport pins nothing for `gate`.
    pub(super) fn check_pin(&self, pin: &Pin) -> Result<Check> {
        let found = match self.store.catalogs() {
            None => None,
            Some(store) => match store.catalog_get(&pin.gate, pin.version)? {
                None => None,
                Some(text) => Some(self.published(&pin.gate, pin.version, &text)?),
            },
        };
        let check = |passed: bool, msg: String| {
            let mut c = Check::new("catalog_pin", "catalog_pin", passed, msg);
            c.observed = found.as_ref().map(|p| p.content_hash.clone().into());
            c.limit = Some(format!("v{} {}", pin.version, pin.content_hash).into());
            c
        };
        Ok(match &found {
            Some(p) if p.content_hash == pin.content_hash => check(
                true,
                format!(
                    "pinned to catalog v{} of {:?} ({})",
                    pin.version, pin.gate, pin.content_hash
                ),
            ),
            Some(p) => check(
                false,
                format!(
                    "the passport pins catalog v{} of {:?} as {}, but that version is {}",
                    pin.version, pin.gate, pin.content_hash, p.content_hash
                ),
            )
            .with_code(CheckCode::CatalogPinMismatch.as_str()),
            None => check(
                false,
                format!(
                    "the passport pins catalog v{} of {:?}, which is not published here",
                    pin.version, pin.gate
                ),
            )
            .with_code(CheckCode::CatalogPinMismatch.as_str()),
        })
    }
}
