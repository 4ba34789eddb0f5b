//! The Redis store's catalogs (see [`crate::store::CatalogStore`]): the published versions of a
//! gate are the hash `{prefix}:catalog:<gate>` (version → signed document, written once with
//! `HSETNX`), the gates having one the set `{prefix}:catalogs`, and the drafts the hash
//! `{prefix}:catalog_drafts` (gate → document).

use super::RedisStore;
use crate::error::Result;
use crate::store::CatalogStore;

impl RedisStore {
    fn catalog_key(&self, gate: &str) -> String {
        self.keys.k(&format!("catalog:{gate}"))
    }
}

impl CatalogStore for RedisStore {
    fn catalog_draft_put(&self, gate: &str, doc: &str) -> Result<()> {
        let k = self.keys.k("catalog_drafts");
        let _: i64 = self.rw(|c| ::redis::cmd("HSET").arg(&k).arg(gate).arg(doc).query(c))?;
        Ok(())
    }

    fn catalog_draft_get(&self, gate: &str) -> Result<Option<String>> {
        let k = self.keys.k("catalog_drafts");
        self.ro(|c| ::redis::cmd("HGET").arg(&k).arg(gate).query(c))
    }

    fn catalog_insert(&self, gate: &str, version: u64, doc: &str) -> Result<bool> {
        let (k, index) = (self.catalog_key(gate), self.keys.k("catalogs"));
        let (set, _): (i64, i64) = self.rw(|c| {
            ::redis::pipe()
                .atomic()
                .cmd("HSETNX")
                .arg(&k)
                .arg(version)
                .arg(doc)
                .cmd("SADD")
                .arg(&index)
                .arg(gate)
                .query(c)
        })?;
        Ok(set == 1)
    }

    fn catalog_get(&self, gate: &str, version: u64) -> Result<Option<String>> {
        let k = self.catalog_key(gate);
        self.ro(|c| ::redis::cmd("HGET").arg(&k).arg(version).query(c))
    }

    fn catalog_versions(&self, gate: &str) -> Result<Vec<(u64, String)>> {
        let k = self.catalog_key(gate);
        let all: Vec<(String, String)> = self.ro(|c| ::redis::cmd("HGETALL").arg(&k).query(c))?;
        let mut out: Vec<(u64, String)> = all
            .into_iter()
            .filter_map(|(v, d)| v.parse::<u64>().ok().map(|v| (v, d)))
            .collect();
        out.sort_by_key(|(v, _)| *v);
        Ok(out)
    }

    fn catalog_gates(&self) -> Result<Vec<String>> {
        let index = self.keys.k("catalogs");
        let mut gates: Vec<String> = self.ro(|c| ::redis::cmd("SMEMBERS").arg(&index).query(c))?;
        gates.sort();
        Ok(gates)
    }
}
