//! The SQLite store's registries (see [`crate::store::RegistryStore`]): tables `passports`,
//! `issuers` and `issuers_generation` (migration 5).

use rusqlite::{params, OptionalExtension};

use super::{json_err, SqliteStore};
use crate::error::{Error, Result};
use crate::store::{IssuerRecord, PassportFilter, PassportRecord, Registered, RegistryStore};

fn to_text<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("{what} not serialisable: {e}")))
}

fn passport_from(text: &str) -> Result<PassportRecord> {
    serde_json::from_str(text).map_err(|e| json_err("passport", e))
}

impl RegistryStore for SqliteStore {
    fn passport_register(&self, record: &PassportRecord) -> Result<Registered> {
        let text = to_text("passport", record)?;
        let found: Option<String> = self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO passports (passport_id, agent, parent, record) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        record.passport_id,
                        record.agent,
                        record.parent,
                        text
                    ])
                })
                .map_err(|e| self.err(e))?;
            if n == 1 {
                return Ok((true, None));
            }
            let found = tx
                .prepare_cached("SELECT record FROM passports WHERE passport_id = ?1")
                .and_then(|mut s| {
                    s.query_row(params![record.passport_id], |r| r.get(0))
                        .optional()
                })
                .map_err(|e| self.err(e))?;
            Ok((false, found))
        })?;
        match found {
            None => Ok(Registered::Inserted),
            Some(t) => Ok(Registered::Existing(Box::new(passport_from(&t)?))),
        }
    }

    fn passport_get(&self, id: &str) -> Result<Option<PassportRecord>> {
        let text: Option<String> = self.with_conn(|conn| {
            conn.prepare_cached("SELECT record FROM passports WHERE passport_id = ?1")
                .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))
        })?;
        text.map(|t| passport_from(&t)).transpose()
    }

    fn passports_page(
        &self,
        filter: &PassportFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<PassportRecord>, Option<String>)> {
        let n = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
        let after = after.unwrap_or("");
        let texts: Vec<String> = self.with_conn(|conn| {
            let mut s = conn
                .prepare_cached(
                    "SELECT record FROM passports WHERE passport_id > ?1 \
                     AND (?2 IS NULL OR agent = ?2) AND (?3 IS NULL OR parent = ?3) \
                     ORDER BY passport_id LIMIT ?4",
                )
                .map_err(|e| self.err(e))?;
            let rows = s
                .query_map(params![after, filter.agent, filter.parent, n], |r| r.get(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                .map_err(|e| self.err(e))?;
            Ok(rows)
        })?;
        let mut out = texts
            .iter()
            .map(|t| passport_from(t))
            .collect::<Result<Vec<_>>>()?;
        let more = out.len() > limit;
        out.truncate(limit);
        let next = match more {
            true => out.last().map(|r| r.passport_id.clone()),
            false => None,
        };
        Ok((out, next))
    }

    fn issuer_put(&self, record: &IssuerRecord) -> Result<u64> {
        let text = to_text("issuer", record)?;
        self.write(|tx, _| {
            tx.prepare_cached("INSERT OR REPLACE INTO issuers (did, record) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![record.did, text]))
                .map_err(|e| self.err(e))?;
            let g: i64 = tx
                .prepare_cached(
                    "UPDATE issuers_generation SET generation = generation + 1 \
                     WHERE one = 1 RETURNING generation",
                )
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(|e| self.err(e))?;
            Ok((true, u64::try_from(g).unwrap_or(0)))
        })
    }

    fn issuers(&self) -> Result<(u64, Vec<IssuerRecord>)> {
        let (g, texts): (i64, Vec<String>) = self.with_conn(|conn| {
            let tx = conn.transaction().map_err(|e| self.err(e))?;
            let g = tx
                .prepare_cached("SELECT generation FROM issuers_generation WHERE one = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(|e| self.err(e))?;
            let texts = tx
                .prepare_cached("SELECT record FROM issuers ORDER BY did")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get(0))
                        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                })
                .map_err(|e| self.err(e))?;
            tx.commit().map_err(|e| self.err(e))?;
            Ok((g, texts))
        })?;
        let records = texts
            .iter()
            .map(|t| serde_json::from_str(t).map_err(|e| json_err("issuer", e)))
            .collect::<Result<Vec<IssuerRecord>>>()?;
        Ok((u64::try_from(g).unwrap_or(0), records))
    }

    fn issuers_generation(&self) -> Result<u64> {
        let g: i64 = self.with_conn(|conn| {
            conn.prepare_cached("SELECT generation FROM issuers_generation WHERE one = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(|e| self.err(e))
        })?;
        Ok(u64::try_from(g).unwrap_or(0))
    }

    fn revoked_ids(&self) -> Result<Vec<String>> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT passport_id FROM revoked ORDER BY passport_id")
                .and_then(|mut s| {
                    s.query_map([], |r| r.get(0))
                        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<String>>>())
                })
                .map_err(|e| self.err(e))
        })
    }
}
