//! The SQLite store's catalogs (see [`crate::store::CatalogStore`]): tables `catalogs` and
//! `catalog_drafts` (migration 9).

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::error::Result;
use crate::store::CatalogStore;

fn version_i64(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

impl CatalogStore for SqliteStore {
    fn catalog_draft_put(&self, gate: &str, doc: &str) -> Result<()> {
        self.write(|tx, _| {
            tx.prepare_cached(
                "INSERT INTO catalog_drafts (gate, doc) VALUES (?1, ?2) \
                 ON CONFLICT (gate) DO UPDATE SET doc = excluded.doc",
            )
            .and_then(|mut s| s.execute(params![gate, doc]))
            .map_err(|e| self.err(e))?;
            Ok((true, ()))
        })
    }

    fn catalog_draft_get(&self, gate: &str) -> Result<Option<String>> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT doc FROM catalog_drafts WHERE gate = ?1")
                .and_then(|mut s| s.query_row(params![gate], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))
        })
    }

    fn catalog_insert(&self, gate: &str, version: u64, doc: &str) -> Result<bool> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO catalogs (gate, version, doc) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![gate, version_i64(version), doc]))
                .map_err(|e| self.err(e))?;
            Ok((n == 1, n == 1))
        })
    }

    fn catalog_get(&self, gate: &str, version: u64) -> Result<Option<String>> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT doc FROM catalogs WHERE gate = ?1 AND version = ?2")
                .and_then(|mut s| {
                    s.query_row(params![gate, version_i64(version)], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| self.err(e))
        })
    }

    fn catalog_versions(&self, gate: &str) -> Result<Vec<(u64, String)>> {
        self.with_conn(|conn| {
            let mut s = conn
                .prepare_cached(
                    "SELECT version, doc FROM catalogs WHERE gate = ?1 ORDER BY version",
                )
                .map_err(|e| self.err(e))?;
            let rows = s
                .query_map(params![gate], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (v, d) = row.map_err(|e| self.err(e))?;
                out.push((u64::try_from(v).unwrap_or_default(), d));
            }
            Ok(out)
        })
    }

    fn catalog_gates(&self) -> Result<Vec<String>> {
        self.with_conn(|conn| {
            let mut s = conn
                .prepare_cached("SELECT DISTINCT gate FROM catalogs ORDER BY gate")
                .map_err(|e| self.err(e))?;
            let rows = s
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row.map_err(|e| self.err(e))?);
            }
            Ok(out)
        })
    }
}
