//! Commerce: what a gate offers and at what price, as signed, versioned catalogs that the other
//! party can check offline (issue 18, items 1–3).
//!
//! - **The catalog document** ([`Catalog`]): `{gate, description?, trust_level, offers: [{permission,
//!   price: {amount, currency}, pricing, sla?, rate?, approval_threshold?, risk?}]}`, amounts in
//!   integer minor units. Its JSON Schema is `schema/catalog.schema.json`; [`Catalog::from_value`]
//!   is the rule, failing with `CATALOG_INVALID` at the JSON pointer of the offending field.
//! - **A published catalog** is a signed document, the shape of an attestation record but in a
//!   domain of its own: `{"body": {v, kind: "catalog", gate, version, catalog, content_hash,
//!   effective_at, published_at, change_summary, signer}, "hash", "sig", "kid"}`, where
//!   `content_hash` is `sha256:` + hex SHA-256 of the RFC 8785 form of `catalog`, `hash` the
//!   same of `body`, and `sig` the Ed25519 signature of [`CATALOG_DOMAIN`] ‖ SHA-256(JCS(body)) by
//!   the engine's key (`kid`, a did:key). A catalog can never pass for an attestation or a
//!   trust export, nor the reverse. [`verify_catalog`] checks one with only the did.
//! - **Impact** ([`impact()`]): a typed diff of two catalogs with `has_breaking_changes`.
//! - **Consumption and settlements** ([`settlement`]): exact pricing of a consumed call from the
//!   catalog terms its decision applied, and signed settlement statements (domain
//!   `passgate/settlement/v1`) with a Merkle root of the included consumption records.

mod catalog;
mod impact;
pub mod settlement;

use serde_json::{json, Value};

use crate::attestation;
use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};

pub use catalog::{
    Catalog, Offer, Price, Pricing, Rate, Risk, Sla, Tier, TrustLevel, MAX_AMOUNT, MAX_OFFERS,
    MAX_TEXT, MAX_TIERS,
};
pub use impact::{impact, Change, ChangeKind, Impact};
pub use settlement::{
    merkle_root, verify_settlement, Outcome, Totals, VerifiedSettlement, SETTLEMENT_DOMAIN,
};

/// The bytes every catalog signature starts with (`passgate/catalog/v1` and a newline).
pub const CATALOG_DOMAIN: &[u8] = b"passgate/catalog/v1\n";

/// The published-catalog format version (`body.v`).
pub const CATALOG_VERSION: u64 = 1;

/// What a published catalog states besides the catalog itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// The version, `1, 2, …` per gate.
    pub version: u64,
    /// From when its terms apply (ms since the epoch).
    pub effective_at: i64,
    /// When it was published (ms).
    pub published_at: i64,
    /// What changed, in words.
    pub change_summary: Option<String>,
}

/// Signs `catalog` as version `p.version` with `key`: the published document (see the module
/// docs).
pub fn seal_catalog(catalog: &Catalog, p: &Publication, key: &KeyPair) -> Result<Value> {
    let body = json!({
        "v": CATALOG_VERSION, "kind": "catalog", "gate": catalog.gate, "version": p.version,
        "catalog": catalog.to_value()?, "content_hash": catalog.content_hash()?,
        "effective_at": p.effective_at, "published_at": p.published_at,
        "change_summary": p.change_summary, "signer": key.did(),
    });
    Ok(attestation::seal_in(CATALOG_DOMAIN, body, key)?.0)
}

/// A published catalog, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The catalog.
    pub catalog: Catalog,
    /// Its publication.
    pub publication: Publication,
    /// Its `content_hash`.
    pub content_hash: String,
    /// The signer's did.
    pub signer: String,
    /// The whole signed document.
    pub document: Value,
}

/// Verifies a published catalog against `did` (the signer the caller expects; the document's
/// own `kid` is not trusted): the record's hash and signature in [`CATALOG_DOMAIN`]
/// (`ATTESTATION_KEY`, `ATTESTATION_HASH`, `ATTESTATION_SIGNATURE`), the body's shape
/// (`ATTESTATION_MALFORMED`), and that `content_hash` is the catalog's (`ATTESTATION_HASH`).
/// Needs nothing but the document and the did.
pub fn verify_catalog(document: &Value, did: &str) -> Result<Published> {
    let key = PublicKey::from_did(did)?;
    attestation::verify_in(CATALOG_DOMAIN, document, did, &key)?;
    let malformed = |m: &str| Error::AttestationMalformed(format!("catalog document: {m}"));
    let body = document
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("no body"))?;
    if body.get("kind").and_then(Value::as_str) != Some("catalog")
        || body.get("v").and_then(Value::as_u64) != Some(CATALOG_VERSION)
    {
        return Err(malformed("not a catalog (kind \"catalog\", v 1)"));
    }
    let catalog = Catalog::from_value(body.get("catalog").unwrap_or(&Value::Null))
        .map_err(|e| malformed(&format!("catalog: {e}")))?;
    let content_hash = catalog.content_hash()?;
    let stated = body.get("content_hash").and_then(Value::as_str);
    if stated != Some(content_hash.as_str()) {
        return Err(Error::AttestationHash(format!(
            "the catalog hashes to {content_hash}, the document says {}",
            stated.unwrap_or("nothing")
        )));
    }
    if body.get("gate").and_then(Value::as_str) != Some(catalog.gate.as_str()) {
        return Err(malformed("gate is not the catalog's"));
    }
    let int = |k: &str| body.get(k).and_then(Value::as_i64);
    let version = body
        .get("version")
        .and_then(Value::as_u64)
        .filter(|&v| v >= 1)
        .ok_or_else(|| malformed("version must be a positive integer"))?;
    let (Some(effective_at), Some(published_at)) = (int("effective_at"), int("published_at"))
    else {
        return Err(malformed("effective_at and published_at must be integers"));
    };
    let change_summary = match body.get("change_summary") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("change_summary must be a string or null")),
    };
    if body.get("signer").and_then(Value::as_str) != Some(did) {
        return Err(malformed("signer is not the signing key"));
    }
    Ok(Published {
        catalog,
        publication: Publication {
            version,
            effective_at,
            published_at,
            change_summary,
        },
        content_hash,
        signer: did.to_string(),
        document: document.clone(),
    })
}
