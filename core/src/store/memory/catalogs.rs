//! The memory store's catalogs (see [`crate::store::CatalogStore`]).

use std::collections::BTreeMap;

use parking_lot::Mutex;

use super::MemoryStore;
use crate::error::Result;
use crate::store::CatalogStore;

/// Drafts by gate; published documents by (gate, version).
#[derive(Debug, Default)]
pub(super) struct MemCatalogs {
    drafts: Mutex<BTreeMap<String, String>>,
    published: Mutex<BTreeMap<(String, u64), String>>,
}

impl CatalogStore for MemoryStore {
    fn catalog_draft_put(&self, gate: &str, doc: &str) -> Result<()> {
        self.catalogs
            .drafts
            .lock()
            .insert(gate.to_string(), doc.to_string());
        Ok(())
    }

    fn catalog_draft_get(&self, gate: &str) -> Result<Option<String>> {
        Ok(self.catalogs.drafts.lock().get(gate).cloned())
    }

    fn catalog_insert(&self, gate: &str, version: u64, doc: &str) -> Result<bool> {
        let mut map = self.catalogs.published.lock();
        let key = (gate.to_string(), version);
        if map.contains_key(&key) {
            return Ok(false);
        }
        map.insert(key, doc.to_string());
        Ok(true)
    }

    fn catalog_get(&self, gate: &str, version: u64) -> Result<Option<String>> {
        let key = (gate.to_string(), version);
        Ok(self.catalogs.published.lock().get(&key).cloned())
    }

    fn catalog_versions(&self, gate: &str) -> Result<Vec<(u64, String)>> {
        let map = self.catalogs.published.lock();
        let from = (gate.to_string(), 0u64);
        Ok(map
            .range(from..)
            .take_while(|((g, _), _)| g == gate)
            .map(|((_, v), d)| (*v, d.clone()))
            .collect())
    }

    fn catalog_gates(&self) -> Result<Vec<String>> {
        let map = self.catalogs.published.lock();
        let mut gates: Vec<String> = map.keys().map(|(g, _)| g.clone()).collect();
        gates.dedup();
        Ok(gates)
    }
}
