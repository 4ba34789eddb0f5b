//! The catalogs a store keeps (see [`crate::commerce`]): per gate, one draft and the published
//! versions `1, 2, …`.
//!
//! A published version is **written once**: [`CatalogStore::catalog_insert`] stores it only if
//! no version of that number exists (memory: under one lock; SQLite: `INSERT OR IGNORE` on the
//! primary key `(gate, version)` of table `catalogs`, migration 9; Redis: `HSETNX` on the hash
//! `{prefix}:catalog:<gate>`), so two engines publishing at once can never both get version n:
//! the loser re-reads and publishes n + 1. Nothing ever replaces or deletes a published version.
//! A draft (`catalog_drafts` / `{prefix}:catalog_drafts`) is replaced by each `create_catalog`.
//! Documents are JSON text: a published one is the signed document, checked by the engine (and
//! by anyone, offline) on every read.

use crate::error::{Error, Result};

/// The catalogs of a store (see the module docs).
pub trait CatalogStore: Send + Sync {
    /// Replaces the draft of `gate` with `doc` (JSON text).
    fn catalog_draft_put(&self, gate: &str, doc: &str) -> Result<()>;

    /// The draft of `gate`, if any.
    fn catalog_draft_get(&self, gate: &str) -> Result<Option<String>>;

    /// Stores version `version` of `gate`'s catalog (the signed document as JSON text) unless a
    /// document of that version exists; whether it stored it.
    fn catalog_insert(&self, gate: &str, version: u64, doc: &str) -> Result<bool>;

    /// Version `version` of `gate`'s catalog.
    fn catalog_get(&self, gate: &str, version: u64) -> Result<Option<String>>;

    /// Every published version of `gate`'s catalog, ascending by version.
    fn catalog_versions(&self, gate: &str) -> Result<Vec<(u64, String)>>;

    /// The gates with at least one published catalog, sorted.
    fn catalog_gates(&self) -> Result<Vec<String>>;
}

/// The error of a store that keeps no catalogs.
pub(crate) fn no_catalogs() -> Error {
    Error::StoreUnavailable("this store keeps no catalogs".into())
}

/// What every [`CatalogStore`] can answer from its methods.
pub trait CatalogStoreExt {
    /// The highest published version of `gate` (`0`: none).
    fn catalog_latest_version(&self, gate: &str) -> Result<u64>;
}

impl<T: CatalogStore + ?Sized> CatalogStoreExt for T {
    fn catalog_latest_version(&self, gate: &str) -> Result<u64> {
        Ok(self.catalog_versions(gate)?.last().map_or(0, |(v, _)| *v))
    }
}
