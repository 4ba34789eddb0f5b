//! Retention on SQLite: keyset paging, the records due, pruning a chain prefix with its
//! checkpoint (one transaction), and closed holds and approvals dropped in bounded batches.
//! Pruning runs only when the engine's `prune()` is called (outside the decision path).

use std::sync::Arc;

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, OptionalExtension};

use super::store_impl::{push_filter, RECORD_COLS};
use super::{json_err, SqliteStore};
use crate::error::{Error, Result};
use crate::store::{AttestationFilter, Checkpoint, Retention, StoredRecord};

impl SqliteStore {
    /// One page after append number `after`: `g > ?` on the index of the filter's field (or the
    /// rowid itself), in `g` order — never an offset scan.
    pub(super) fn page(
        &self,
        filter: &AttestationFilter,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, Option<u64>)> {
        let mut sql = format!("SELECT g, {RECORD_COLS} FROM records WHERE g > ?1");
        let mut args: Vec<Sql> = vec![Sql::Integer(i64::try_from(after).unwrap_or(i64::MAX))];
        push_filter(&mut sql, &mut args, filter);
        // One more than asked: whether there is a next page.
        let want = limit.saturating_add(1);
        args.push(Sql::Integer(i64::try_from(want).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY g LIMIT ?{}", args.len()));
        let mut rows = self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params_from_iter(args), |r| {
                    let g: i64 = r.get(0)?;
                    let (row, text) = record_from_at(r)?;
                    Ok((g, row, text))
                })
                .map_err(|e| self.err(e))?;
            rows.map(|r| {
                let (g, row, text) = r.map_err(|e| self.err(e))?;
                Ok((g, row.into_record(&text)?))
            })
            .collect::<Result<Vec<_>>>()
        })?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match (more, rows.last()) {
            (true, Some((g, _))) => Some(u64::try_from(*g).unwrap_or(0)),
            _ => None,
        };
        Ok((rows.into_iter().map(|(_, r)| r).collect(), next))
    }

    /// The records due under `retention`, oldest first (see [`crate::store::Store::prune_due`]).
    pub(super) fn due(
        &self,
        retention: &Retention,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        if retention.keeps_all() || limit == 0 {
            return Ok(Vec::new());
        }
        let cutoff = retention.cutoff_ms(now_ms);
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(|e| self.err(e))?;
            let excess: u64 = match retention.max_records {
                Some(max) => {
                    let n: i64 = tx
                        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
                        .map_err(|e| self.err(e))?;
                    u64::try_from(n).unwrap_or(0).saturating_sub(max)
                }
                None => 0,
            };
            // Oldest first, each with its chain's newest seq (kept whatever its age).
            let sql = format!(
                "SELECT g, {RECORD_COLS}, \
                 (SELECT MAX(seq) FROM records t WHERE t.chain = records.chain) \
                 FROM records WHERE g > ?1 ORDER BY g LIMIT ?2"
            );
            let mut out = Vec::new();
            let mut after = 0i64;
            let page = i64::try_from(limit.clamp(1, 1024)).unwrap_or(1024);
            'scan: loop {
                let mut stmt = tx.prepare_cached(&sql).map_err(|e| self.err(e))?;
                let rows = stmt
                    .query_map(params![after, page], |r| {
                        let g: i64 = r.get(0)?;
                        let (row, text) = record_from_at(r)?;
                        let tail: i64 = r.get(10)?;
                        Ok((g, row, text, tail))
                    })
                    .map_err(|e| self.err(e))?;
                let mut fetched = 0;
                for row in rows {
                    let (g, row, text, tail) = row.map_err(|e| self.err(e))?;
                    fetched += 1;
                    after = g;
                    if out.len() >= limit {
                        break 'scan;
                    }
                    if row.seq() == tail {
                        continue;
                    }
                    let by_count = u64::try_from(out.len()).unwrap_or(u64::MAX) < excess;
                    if !(by_count || cutoff.is_some_and(|c| row.time() < c)) {
                        break 'scan;
                    }
                    out.push(row.into_record(&text)?);
                }
                if fetched < page {
                    break;
                }
            }
            drop(tx);
            Ok(out)
        })
    }

    /// Deletes a chain's prefix and stores its checkpoint, in one transaction.
    pub(super) fn prune_chain(&self, cp: &Checkpoint) -> Result<usize> {
        let through = i64::try_from(cp.seq).map_err(|_| Error::Internal("seq too large".into()))?;
        let text = cp.record.to_string();
        self.write(|tx, _| {
            let stored: Option<i64> = tx
                .prepare_cached("SELECT seq FROM checkpoints WHERE chain = ?1")
                .and_then(|mut s| s.query_row(params![cp.chain], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            if stored.is_some_and(|s| s >= through) {
                return Ok((false, 0));
            }
            let tail: Option<i64> = tx
                .prepare_cached("SELECT MAX(seq) FROM records WHERE chain = ?1")
                .and_then(|mut s| s.query_row(params![cp.chain], |r| r.get(0)))
                .map_err(|e| self.err(e))?;
            if tail.is_none_or(|t| t <= through) {
                return Err(Error::InvalidArgument(format!(
                    "chain {}: a checkpoint at seq {} would prune the chain's newest record",
                    cp.chain, cp.seq
                )));
            }
            // A pruned decision's run bundle goes with it.
            tx.prepare_cached(
                "DELETE FROM bundles WHERE evaluation_id IN (SELECT evaluation_id FROM records \
                 WHERE chain = ?1 AND seq <= ?2 AND kind = 'decision' \
                 AND evaluation_id IS NOT NULL)",
            )
            .and_then(|mut s| s.execute(params![cp.chain, through]))
            .map_err(|e| self.err(e))?;
            let n = tx
                .prepare_cached("DELETE FROM records WHERE chain = ?1 AND seq <= ?2")
                .and_then(|mut s| s.execute(params![cp.chain, through]))
                .map_err(|e| self.err(e))?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO checkpoints (chain, seq, record) VALUES (?1, ?2, ?3)",
            )
            .and_then(|mut s| s.execute(params![cp.chain, through, text]))
            .map_err(|e| self.err(e))?;
            Ok((true, n))
        })
    }

    /// The checkpoint of `chain`, or of every chain.
    pub(super) fn checkpoints_of(&self, chain: Option<&str>) -> Result<Vec<Checkpoint>> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT chain, seq, record FROM checkpoints \
                     WHERE ?1 IS NULL OR chain = ?1 ORDER BY chain",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params![chain], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })
                .map_err(|e| self.err(e))?;
            rows.map(|r| {
                let (chain, seq, text) = r.map_err(|e| self.err(e))?;
                Ok(Checkpoint {
                    chain,
                    seq: u64::try_from(seq).unwrap_or(0),
                    record: Arc::new(
                        serde_json::from_str(&text).map_err(|e| json_err("checkpoint", e))?,
                    ),
                })
            })
            .collect()
        })
    }

    /// Closed holds and approvals that stopped mattering before `before_ms`, at most `limit`.
    pub(super) fn prune_closed_rows(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(|tx, _| {
            let holds = tx
                .prepare_cached(
                    "DELETE FROM holds WHERE id IN (SELECT id FROM holds \
                     WHERE state IN ('settled', 'released', 'expired') AND expires_ms < ?1 \
                     LIMIT ?2)",
                )
                .and_then(|mut s| s.execute(params![before_ms, limit]))
                .map_err(|e| self.err(e))?;
            let left = limit.saturating_sub(i64::try_from(holds).unwrap_or(0));
            let approvals = tx
                .prepare_cached(
                    "DELETE FROM approvals WHERE evaluation_id IN (SELECT evaluation_id \
                     FROM approvals WHERE done_ms IS NOT NULL AND done_ms < ?1 LIMIT ?2)",
                )
                .and_then(|mut s| s.execute(params![before_ms, left]))
                .map_err(|e| self.err(e))?;
            let left = left.saturating_sub(i64::try_from(approvals).unwrap_or(0));
            // Decision events acknowledged before `before_ms` (a later ack of one: EVENT_UNKNOWN).
            let events = tx
                .prepare_cached(
                    "DELETE FROM events WHERE pos IN (SELECT pos FROM events \
                     WHERE acked_ms IS NOT NULL AND acked_ms < ?1 LIMIT ?2)",
                )
                .and_then(|mut s| s.execute(params![before_ms, left]))
                .map_err(|e| self.err(e))?;
            Ok((true, holds + approvals + events))
        })
    }
}

/// A record row whose columns start at index 1 (index 0 is `g`).
fn record_from_at(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(super::store_impl::StoredRecordRow, String)> {
    super::store_impl::record_from_offset(r, 1)
}
