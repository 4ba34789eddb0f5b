//! The SQLite store's consumption claims and settlements (see
//! [`crate::store::SettlementStore`]): tables `consumptions` and `settlements` (migration 11).

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::error::Result;
use crate::store::{SettlementStore, StatusSwap, StoredSettlement};

impl SettlementStore for SqliteStore {
    fn consumption_claim(&self, evaluation_id: &str, record_id: &str) -> Result<Option<String>> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO consumptions (evaluation_id, record_id) VALUES (?1, ?2)",
                )
                .and_then(|mut s| s.execute(params![evaluation_id, record_id]))
                .map_err(|e| self.err(e))?;
            if n == 1 {
                return Ok((true, None));
            }
            let held: Option<String> = tx
                .prepare_cached("SELECT record_id FROM consumptions WHERE evaluation_id = ?1")
                .and_then(|mut s| s.query_row(params![evaluation_id], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            Ok((false, Some(held.unwrap_or_default())))
        })
    }

    fn consumption_unclaim(&self, evaluation_id: &str, record_id: &str) -> Result<()> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "DELETE FROM consumptions WHERE evaluation_id = ?1 AND record_id = ?2",
                )
                .and_then(|mut s| s.execute(params![evaluation_id, record_id]))
                .map_err(|e| self.err(e))?;
            Ok((n == 1, ()))
        })
    }

    fn settlement_insert(&self, s: &StoredSettlement) -> Result<bool> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO settlements (id, status, document, records, created_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut st| {
                    st.execute(params![s.id, s.status, s.document, s.records, s.created_ms])
                })
                .map_err(|e| self.err(e))?;
            Ok((n == 1, n == 1))
        })
    }

    fn settlement_get(&self, id: &str) -> Result<Option<StoredSettlement>> {
        self.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT id, status, document, records, created_ms FROM settlements WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![id], |r| {
                    Ok(StoredSettlement {
                        id: r.get(0)?,
                        status: r.get(1)?,
                        document: r.get(2)?,
                        records: r.get(3)?,
                        created_ms: r.get(4)?,
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
        })
    }

    fn settlement_set_status(&self, id: &str, from: &str, to: &str) -> Result<StatusSwap> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached("UPDATE settlements SET status = ?3 WHERE id = ?1 AND status = ?2")
                .and_then(|mut s| s.execute(params![id, from, to]))
                .map_err(|e| self.err(e))?;
            if n == 1 {
                return Ok((true, StatusSwap::Swapped));
            }
            let current: Option<String> = tx
                .prepare_cached("SELECT status FROM settlements WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            Ok((
                false,
                current.map_or(StatusSwap::Unknown, StatusSwap::Current),
            ))
        })
    }
}
