//! [`Store`] for [`SqliteStore`]: each method one transaction (writes) or one read.

use std::sync::atomic::Ordering;

use rusqlite::types::Value as Sql;
use rusqlite::{params, params_from_iter, OptionalExtension};
use rust_decimal::Decimal;

use super::counters::window_of;

use super::counter_pages;
use super::{
    hold_from, idempotency_from, json_err, parse_decimal, SqliteStore, SWEEP_BATCH, SWEEP_EVERY,
    SWEEP_INTERVAL_MS,
};
use crate::error::{Error, Result};
use crate::store::{
    counters_by_pages, ApprovalRecord, ApprovalState, AttestationFilter, Commit, CommitOutcome,
    CounterFilter, CounterOp, CounterPosition, CounterState, DueHold, HoldOutcome, HoldRecord,
    HoldResolution, HoldState, IdempotencyRecord, Store, StoredRecord, COUNTER_BATCH,
};

pub(super) const RECORD_COLS: &str =
    "chain, seq, time_ms, kind, gate, agent_id, decision, evaluation_id, record";

pub(super) fn record_from(r: &rusqlite::Row<'_>) -> rusqlite::Result<(StoredRecordRow, String)> {
    record_from_offset(r, 0)
}

/// A record row whose [`RECORD_COLS`] start at column `at`.
pub(super) fn record_from_offset(
    r: &rusqlite::Row<'_>,
    at: usize,
) -> rusqlite::Result<(StoredRecordRow, String)> {
    Ok((
        StoredRecordRow {
            chain: r.get(at)?,
            seq: r.get(at + 1)?,
            time_ms: r.get(at + 2)?,
            kind: r.get(at + 3)?,
            gate: r.get(at + 4)?,
            agent_id: r.get(at + 5)?,
            decision: r.get(at + 6)?,
            evaluation_id: r.get(at + 7)?,
        },
        r.get(at + 8)?,
    ))
}

/// An API key from its row.
fn api_key_from(
    text: &str,
    revoked: Option<i64>,
    used: Option<i64>,
) -> Result<crate::apikey::StoredApiKey> {
    let mut key: crate::apikey::StoredApiKey =
        serde_json::from_str(text).map_err(|e| json_err("api key", e))?;
    key.record.revoked_at = revoked;
    key.record.last_used_at = used;
    Ok(key)
}

pub(super) struct StoredRecordRow {
    chain: String,
    seq: i64,
    time_ms: i64,
    kind: String,
    gate: Option<String>,
    agent_id: Option<String>,
    decision: Option<String>,
    evaluation_id: Option<String>,
}

impl StoredRecordRow {
    pub(super) fn seq(&self) -> i64 {
        self.seq
    }

    pub(super) fn time(&self) -> i64 {
        self.time_ms
    }

    pub(super) fn into_record(self, text: &str) -> Result<StoredRecord> {
        Ok(StoredRecord {
            chain: self.chain,
            seq: u64::try_from(self.seq).unwrap_or(0),
            time_ms: self.time_ms,
            kind: self.kind,
            gate: self.gate,
            agent_id: self.agent_id,
            decision: self.decision,
            evaluation_id: self.evaluation_id,
            record: crate::attestation::Record::from_stored(
                text,
                serde_json::from_str(text).map_err(|e| json_err("record", e))?,
            ),
            event: None,
        })
    }
}

impl SqliteStore {
    /// Whether `g` no longer holds (inside the commit's transaction): a passport of it revoked,
    /// or the issuers' generation or the policy version moved.
    fn guard_broken(
        &self,
        tx: &rusqlite::Transaction<'_>,
        g: &crate::store::Guard<'_>,
    ) -> Result<bool> {
        if let Some(want) = g.policy_version {
            let v: Option<i64> = tx
                .prepare_cached("SELECT version FROM policy WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            if u64::try_from(v.unwrap_or(0)).unwrap_or(0) != want {
                return Ok(true);
            }
        }
        if let Some(want) = g.issuers_generation {
            let v: Option<i64> = tx
                .prepare_cached("SELECT generation FROM issuers_generation WHERE one = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            if u64::try_from(v.unwrap_or(0)).unwrap_or(0) != want {
                return Ok(true);
            }
        }
        let mut stmt = tx
            .prepare_cached("SELECT 1 FROM revoked WHERE passport_id = ?1")
            .map_err(|e| self.err(e))?;
        for id in g.not_revoked {
            if stmt.exists(params![id]).map_err(|e| self.err(e))? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Store for SqliteStore {
    fn checks_guard(&self) -> bool {
        true
    }

    fn registry(&self) -> Option<&dyn crate::store::RegistryStore> {
        Some(self)
    }

    fn catalogs(&self) -> Option<&dyn crate::store::CatalogStore> {
        Some(self)
    }

    fn settlements(&self) -> Option<&dyn crate::store::SettlementStore> {
        Some(self)
    }

    fn persistent(&self) -> bool {
        true
    }

    fn close(&self) {
        SqliteStore::close(self);
    }

    fn read(&self, counters: &[CounterOp], now_ms: i64) -> Result<Vec<Decimal>> {
        crate::store::check_times(counters, now_ms)?;
        self.with_conn(|conn| {
            // A deferred transaction: one consistent snapshot for every counter.
            let tx = conn.transaction().map_err(|e| self.err(e))?;
            let c = self.counters_in(&tx);
            let usage = counters
                .iter()
                .map(|op| c.usage_of(op, now_ms))
                .collect::<Result<Vec<_>>>()?;
            tx.rollback().map_err(|e| self.err(e))?;
            Ok(usage)
        })
    }

    fn nonce_seen(&self, key: &str, now_ms: i64) -> Result<bool> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT 1 FROM pop_nonces WHERE key = ?1 AND expires_ms > ?2")
                .and_then(|mut s| s.exists(params![key, now_ms]))
                .map_err(|e| self.err(e))
        })
    }

    fn commit(&self, c: &Commit<'_>) -> Result<CommitOutcome> {
        crate::store::distinct_counters(c.counters)?;
        crate::store::check_times(c.counters, c.now_ms)?;
        self.write(|tx, n| {
            if let Some(g) = &c.guard {
                if self.guard_broken(tx, g)? {
                    return Ok((false, CommitOutcome::Stale));
                }
            }
            if let Some(idem) = c.idempotency {
                let found: Option<(String, String, i64)> = tx
                    .prepare_cached(
                        "SELECT fingerprint, decision, expires_ms FROM idempotency \
                         WHERE namespace = ?1 AND key = ?2",
                    )
                    .and_then(|mut s| {
                        s.query_row(params![idem.namespace, idem.key], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .optional()
                    })
                    .map_err(|e| self.err(e))?;
                if let Some((fp, decision, expires_ms)) = found {
                    if expires_ms > c.now_ms {
                        let rec =
                            idempotency_from(&idem.namespace, &idem.key, fp, &decision, expires_ms)?;
                        return Ok((false, CommitOutcome::Replay(rec)));
                    }
                }
            }
            if let Some(nc) = c.nonce {
                let seen: Option<i64> = tx
                    .prepare_cached("SELECT expires_ms FROM pop_nonces WHERE key = ?1")
                    .and_then(|mut s| s.query_row(params![nc.key], |r| r.get(0)).optional())
                    .map_err(|e| self.err(e))?;
                if seen.is_some_and(|t| t > c.now_ms) {
                    return Ok((false, CommitOutcome::NonceReplayed));
                }
            }
            let mut approval = None;
            if let Some(u) = c.use_approval {
                let found = self.approval_in(tx, u.evaluation_id)?;
                if !found.as_ref().is_some_and(|a| u.usable(a, c.now_ms)) {
                    let state = found.map_or("unknown", |a| a.state.name()).to_string();
                    return Ok((false, CommitOutcome::ApprovalUnavailable { state }));
                }
                approval = found;
            }
            let counters = self.counters_in(tx);
            if c.enforce_bounds || c.expect_usage.is_some() {
                let usage = c
                    .counters
                    .iter()
                    .map(|op| counters.usage_of(op, c.now_ms))
                    .collect::<Result<Vec<_>>>()?;
                let over =
                    c.enforce_bounds && c.counters.iter().zip(&usage).any(|(op, u)| !op.fits(*u));
                if over || c.expect_usage.is_some_and(|e| e != usage.as_slice()) {
                    return Ok((false, CommitOutcome::Rejected { usage }));
                }
            }
            for op in c.counters {
                counters.add(op, c.now_ms)?;
            }
            self.append_in(tx, c.record)?;
            if let Some(idem) = c.idempotency {
                let decision = idem.decision.to_string();
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO idempotency \
                     (namespace, key, fingerprint, decision, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        idem.namespace,
                        idem.key,
                        idem.fingerprint,
                        decision,
                        idem.expires_ms
                    ])
                })
                .map_err(|e| self.err(e))?;
            }
            if let Some(nc) = c.nonce {
                // An expired entry under the key is replaced; then up to one batch of expired
                // nonces goes (the index on expires_ms keeps it cheap).
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO pop_nonces (key, expires_ms) VALUES (?1, ?2)",
                )
                .and_then(|mut s| s.execute(params![nc.key, nc.expires_ms]))
                .map_err(|e| self.err(e))?;
                tx.prepare_cached(
                    "DELETE FROM pop_nonces WHERE key IN \
                     (SELECT key FROM pop_nonces WHERE expires_ms <= ?1 LIMIT ?2)",
                )
                .and_then(|mut s| s.execute(params![c.now_ms, SWEEP_BATCH]))
                .map_err(|e| self.err(e))?;
            }
            if let Some(h) = c.hold {
                let text = serde_json::to_string(h).map_err(|e| Error::Internal(e.to_string()))?;
                tx.prepare_cached(
                    "INSERT INTO holds (id, state, expires_ms, record) VALUES (?1, 'open', ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![h.id, h.expires_ms, text]))
                .map_err(|e| self.err(e))?;
            }
            if let Some(a) = c.approval_request {
                self.put_approval(tx, a)?;
            }
            if let (Some(mut a), Some(u)) = (approval, c.use_approval) {
                a.state = ApprovalState::Used {
                    token_id: u.token_id.to_string(),
                };
                self.put_approval(tx, &a)?;
            }
            // Expired idempotency records go in bounded batches, at least once a minute of the
            // commits' time and every SWEEP_EVERY commits, whichever comes first: a process that
            // writes little still sweeps, and no commit deletes more than one batch.
            if n % SWEEP_EVERY == 0 || c.now_ms >= self.next_sweep_ms.load(Ordering::Relaxed) {
                self.next_sweep_ms
                    .store(c.now_ms.saturating_add(SWEEP_INTERVAL_MS), Ordering::Relaxed);
                tx.prepare_cached(
                    "DELETE FROM idempotency WHERE (namespace, key) IN \
                     (SELECT namespace, key FROM idempotency WHERE expires_ms <= ?1 LIMIT ?2)",
                )
                .and_then(|mut s| s.execute(params![c.now_ms, SWEEP_BATCH]))
                .map_err(|e| self.err(e))?;
            }
            Ok((true, CommitOutcome::Committed))
        })
    }

    fn append(&self, record: &StoredRecord) -> Result<()> {
        self.write(|tx, _| self.append_in(tx, record).map(|()| (true, ())))
    }

    fn idempotency_get(
        &self,
        namespace: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<IdempotencyRecord>> {
        self.with_conn(|conn| {
            let found: Option<(String, String, i64)> = conn
                .prepare_cached(
                    "SELECT fingerprint, decision, expires_ms FROM idempotency \
                     WHERE namespace = ?1 AND key = ?2 AND expires_ms > ?3",
                )
                .and_then(|mut s| {
                    s.query_row(params![namespace, key, now_ms], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()
                })
                .map_err(|e| self.err(e))?;
            found
                .map(|(fp, d, exp)| idempotency_from(namespace, key, fp, &d, exp))
                .transpose()
        })
    }

    fn revoke(&self, passport_id: &str, now_ms: i64) -> Result<()> {
        self.write(|tx, _| {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO revoked (passport_id, time_ms) VALUES (?1, ?2)",
            )
            .and_then(|mut s| s.execute(params![passport_id, now_ms]))
            .map_err(|e| self.err(e))?;
            Ok((true, ()))
        })
    }

    fn bundle_put(&self, evaluation_id: &str, bundle: &str) -> Result<()> {
        self.write(|tx, _| {
            tx.prepare_cached(
                "INSERT INTO bundles (evaluation_id, bundle) VALUES (?1, ?2) \
                 ON CONFLICT (evaluation_id) DO UPDATE SET bundle = ?2",
            )
            .and_then(|mut s| s.execute(params![evaluation_id, bundle]))
            .map_err(|e| self.err(e))?;
            Ok((true, ()))
        })
    }

    fn bundle_get(&self, evaluation_id: &str) -> Result<Option<String>> {
        self.with_conn(|conn| {
            conn.prepare_cached("SELECT bundle FROM bundles WHERE evaluation_id = ?1")
                .and_then(|mut s| s.query_row(params![evaluation_id], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))
        })
    }

    fn bundle_delete(&self, evaluation_id: &str) -> Result<bool> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached("DELETE FROM bundles WHERE evaluation_id = ?1")
                .and_then(|mut s| s.execute(params![evaluation_id]))
                .map_err(|e| self.err(e))?;
            Ok((true, n > 0))
        })
    }

    fn policy_version(&self) -> Result<u64> {
        let v: Option<i64> = self.with_conn(|conn| {
            conn.prepare_cached("SELECT version FROM policy WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))
        })?;
        Ok(v.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    fn policy_get(&self) -> Result<Option<crate::store::StoredPolicy>> {
        let row: Option<(i64, String, String)> = self.with_conn(|conn| {
            conn.prepare_cached("SELECT version, hash, doc FROM policy WHERE id = 1")
                .and_then(|mut s| {
                    s.query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()
                })
                .map_err(|e| self.err(e))
        })?;
        Ok(row.map(|(version, hash, doc)| crate::store::StoredPolicy {
            version: u64::try_from(version).unwrap_or(0),
            hash,
            doc,
        }))
    }

    fn policy_swap(
        &self,
        expected: u64,
        policy: &crate::store::StoredPolicy,
        record: &StoredRecord,
    ) -> Result<bool> {
        let version = i64::try_from(policy.version)
            .map_err(|_| Error::Internal("policy version too large".into()))?;
        self.write(|tx, _| {
            let current: Option<i64> = tx
                .prepare_cached("SELECT version FROM policy WHERE id = 1")
                .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            if current.map_or(0, |v| u64::try_from(v).unwrap_or(0)) != expected {
                return Ok((false, false));
            }
            self.append_in(tx, record)?;
            tx.prepare_cached(
                "INSERT INTO policy (id, version, hash, doc) VALUES (1, ?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET version = ?1, hash = ?2, doc = ?3",
            )
            .and_then(|mut s| s.execute(params![version, policy.hash, policy.doc]))
            .map_err(|e| self.err(e))?;
            Ok((true, true))
        })
    }

    fn api_key_create(&self, key: &crate::apikey::StoredApiKey) -> Result<bool> {
        let mut meta = key.clone();
        meta.record.revoked_at = None;
        meta.record.last_used_at = None;
        let text = serde_json::to_string(&meta).map_err(|e| json_err("api key", e))?;
        self.write(|tx, _| {
            let n = tx
                .prepare_cached("INSERT OR IGNORE INTO api_keys (id, record) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![key.record.id, text]))
                .map_err(|e| self.err(e))?;
            Ok((n == 1, n == 1))
        })
    }

    fn api_key_get(&self, id: &str) -> Result<Option<crate::apikey::StoredApiKey>> {
        let row: Option<(String, Option<i64>, Option<i64>)> = self.with_conn(|conn| {
            conn.prepare_cached("SELECT record, revoked_ms, used_ms FROM api_keys WHERE id = ?1")
                .and_then(|mut s| {
                    s.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .optional()
                })
                .map_err(|e| self.err(e))
        })?;
        row.map(|(text, revoked, used)| api_key_from(&text, revoked, used))
            .transpose()
    }

    fn api_keys(&self) -> Result<Vec<crate::apikey::StoredApiKey>> {
        let rows: Vec<(String, Option<i64>, Option<i64>)> = self.with_conn(|conn| {
            let mut s = conn
                .prepare_cached("SELECT record, revoked_ms, used_ms FROM api_keys ORDER BY id")
                .map_err(|e| self.err(e))?;
            let rows = s
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(|e| self.err(e))?;
            Ok(rows)
        })?;
        rows.into_iter()
            .map(|(text, revoked, used)| api_key_from(&text, revoked, used))
            .collect()
    }

    fn api_key_revoke(&self, id: &str, now_ms: i64) -> Result<Option<i64>> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "UPDATE api_keys SET revoked_ms = COALESCE(revoked_ms, ?2) WHERE id = ?1",
                )
                .and_then(|mut s| s.execute(params![id, now_ms]))
                .map_err(|e| self.err(e))?;
            if n == 0 {
                return Ok((false, None));
            }
            let at: Option<i64> = tx
                .prepare_cached("SELECT revoked_ms FROM api_keys WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![id], |r| r.get(0)))
                .map_err(|e| self.err(e))?;
            Ok((true, at))
        })
    }

    fn api_key_touch(&self, id: &str, now_ms: i64) -> Result<()> {
        self.write(|tx, _| {
            tx.prepare_cached(
                "UPDATE api_keys SET used_ms = MAX(COALESCE(used_ms, ?2), ?2) WHERE id = ?1",
            )
            .and_then(|mut s| s.execute(params![id, now_ms]))
            .map_err(|e| self.err(e))?;
            Ok((true, ()))
        })
    }

    fn events_page(
        &self,
        after: u64,
        kinds: &[String],
        limit: usize,
    ) -> Result<Vec<crate::store::StoredEvent>> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut sql = "SELECT pos, id, kind, event FROM events WHERE acked_ms IS NULL AND pos > ?"
            .to_string();
        let mut args: Vec<Sql> = vec![Sql::Integer(after)];
        if !kinds.is_empty() {
            sql.push_str(" AND kind IN (");
            sql.push_str(&vec!["?"; kinds.len()].join(", "));
            sql.push(')');
            args.extend(kinds.iter().map(|k| Sql::Text(k.clone())));
        }
        sql.push_str(" ORDER BY pos LIMIT ?");
        args.push(Sql::Integer(limit));
        self.with_conn(|conn| {
            conn.prepare_cached(&sql)
                .and_then(|mut st| {
                    st.query_map(params_from_iter(args), |r| {
                        Ok(crate::store::StoredEvent {
                            position: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                            event: crate::store::OutboxEvent {
                                id: r.get(1)?,
                                kind: r.get(2)?,
                                json: r.get(3)?,
                            },
                        })
                    })
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                })
                .map_err(|e| self.err(e))
        })
    }

    fn event_ack(&self, id: &str, now_ms: i64) -> Result<crate::store::EventAck> {
        use crate::store::EventAck;
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "UPDATE events SET acked_ms = ?2 WHERE id = ?1 AND acked_ms IS NULL",
                )
                .and_then(|mut s| s.execute(params![id, now_ms]))
                .map_err(|e| self.err(e))?;
            if n > 0 {
                return Ok((true, EventAck::Acked));
            }
            let found: Option<i64> = tx
                .prepare_cached("SELECT pos FROM events WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
                .map_err(|e| self.err(e))?;
            Ok((
                false,
                match found {
                    Some(_) => EventAck::AlreadyAcked,
                    None => EventAck::Unknown,
                },
            ))
        })
    }

    fn first_revoked(&self, ids: &[&str]) -> Result<Option<String>> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached("SELECT 1 FROM revoked WHERE passport_id = ?1")
                .map_err(|e| self.err(e))?;
            for id in ids {
                let hit = stmt
                    .query_row(params![id], |_| Ok(()))
                    .optional()
                    .map_err(|e| self.err(e))?;
                if hit.is_some() {
                    return Ok(Some(id.to_string()));
                }
            }
            Ok(None)
        })
    }

    fn attestations(&self, filter: &AttestationFilter) -> Result<Vec<StoredRecord>> {
        let mut sql = format!("SELECT {RECORD_COLS} FROM records WHERE 1 = 1");
        let mut args: Vec<Sql> = Vec::new();
        push_filter(&mut sql, &mut args, filter);
        sql.push_str(" ORDER BY g");
        if let Some(limit) = filter.limit {
            args.push(Sql::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params_from_iter(args), record_from)
                .map_err(|e| self.err(e))?;
            rows.map(|r| {
                let (row, text) = r.map_err(|e| self.err(e))?;
                row.into_record(&text)
            })
            .collect()
        })
    }

    fn session_records(&self, session_id: &str, limit: usize) -> Result<Vec<StoredRecord>> {
        let sql =
            format!("SELECT {RECORD_COLS} FROM records WHERE session_id = ?1 ORDER BY g LIMIT ?2");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(params![session_id, limit], record_from)
                .map_err(|e| self.err(e))?;
            rows.map(|r| {
                let (row, text) = r.map_err(|e| self.err(e))?;
                row.into_record(&text)
            })
            .collect()
        })
    }

    fn session_ids(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT session_id FROM records WHERE session_id IS NOT NULL \
                     AND time_ms >= ?1 AND time_ms < ?2 \
                     GROUP BY session_id ORDER BY MAX(g) DESC LIMIT ?3",
                )
                .map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(
                    params![
                        since_ms.unwrap_or(i64::MIN),
                        until_ms.unwrap_or(i64::MAX),
                        limit
                    ],
                    |r| r.get::<_, String>(0),
                )
                .map_err(|e| self.err(e))?;
            rows.map(|r| r.map_err(|e| self.err(e))).collect()
        })
    }

    fn attestations_page(
        &self,
        filter: &AttestationFilter,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, Option<u64>)> {
        self.page(filter, after, limit)
    }

    fn prune_due(
        &self,
        retention: &crate::store::Retention,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.due(retention, now_ms, limit)
    }

    fn prune_prefix(&self, checkpoint: &crate::store::Checkpoint) -> Result<usize> {
        self.prune_chain(checkpoint)
    }

    fn checkpoint(&self, chain: &str) -> Result<Option<crate::store::Checkpoint>> {
        self.checkpoints_of(Some(chain)).map(|mut v| v.pop())
    }

    fn checkpoints(&self) -> Result<Vec<crate::store::Checkpoint>> {
        self.checkpoints_of(None)
    }

    fn prune_closed(&self, before_ms: i64, limit: usize) -> Result<usize> {
        self.prune_closed_rows(before_ms, limit)
    }

    fn sliding_log_len(
        &self,
        key: &crate::store::CounterKey,
        window: crate::store::WindowKind,
    ) -> Result<Option<usize>> {
        let (kind, size) = super::counters::window_cols(window);
        if !matches!(window, crate::store::WindowKind::Sliding { .. }) {
            return Ok(None);
        }
        self.with_conn(|conn| {
            let n: Option<i64> = conn
                .prepare_cached(
                    "SELECT (SELECT COUNT(*) FROM counter_log WHERE counter = c.id) FROM counters c \
                     WHERE namespace = ?1 AND constraint_id = ?2 AND scope = ?3 AND kind = ?4 \
                     AND size_ms = ?5",
                )
                .and_then(|mut s| {
                    s.query_row(
                        params![key.namespace, key.constraint, key.scope, kind, size],
                        |r| r.get(0),
                    )
                    .optional()
                })
                .map_err(|e| self.err(e))?;
            Ok(n.map(|n| usize::try_from(n).unwrap_or(0)))
        })
    }

    fn chain_tail(&self, chain: &str) -> Result<Option<StoredRecord>> {
        self.with_conn(|conn| {
            let sql = format!(
                "SELECT {RECORD_COLS} FROM records WHERE chain = ?1 ORDER BY seq DESC LIMIT 1"
            );
            let found = conn
                .prepare_cached(&sql)
                .and_then(|mut s| s.query_row(params![chain], record_from).optional())
                .map_err(|e| self.err(e))?;
            found.map(|(row, text)| row.into_record(&text)).transpose()
        })
    }

    fn counters(&self, filter: &CounterFilter, now_ms: i64) -> Result<Vec<CounterState>> {
        counters_by_pages(self, filter, now_ms)
    }

    fn counters_page(
        &self,
        filter: &CounterFilter,
        after: Option<&CounterPosition>,
        limit: usize,
        now_ms: i64,
    ) -> Result<(Vec<CounterState>, Option<CounterPosition>)> {
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(|e| self.err(e))?;
            let (rows, steps) =
                counter_pages::run_page(&tx, filter, after, limit.saturating_add(1))
                    .map_err(|e| self.err(e))?;
            self.counter_steps.fetch_add(steps, Ordering::Relaxed);
            let more = rows.len() > limit;
            let c = self.counters_in(&tx);
            let mut out = Vec::with_capacity(rows.len().min(limit));
            for (id, key, kind, size, start, total) in rows.into_iter().take(limit) {
                let window = window_of(kind, size)?;
                let row = super::counters::Row {
                    id,
                    start,
                    total: parse_decimal(&total)?,
                };
                out.push(CounterState {
                    used: c.usage(Some(&row), window, now_ms)?,
                    key,
                    window,
                    window_start_ms: window.fixed_start(now_ms),
                });
            }
            tx.rollback().map_err(|e| self.err(e))?;
            let next = match more {
                true => out.last().map(CounterPosition::of),
                false => None,
            };
            Ok((out, next))
        })
    }

    fn reset_counters(&self, filter: &CounterFilter) -> Result<usize> {
        // Bounded batches, one transaction each (decisions interleave between them): each walks
        // on from where the last stopped, over the filter's index range only.
        let mut after: Option<CounterPosition> = None;
        let mut total = 0usize;
        loop {
            let (n, last) = self.write(|tx, _| {
                let (rows, steps) =
                    counter_pages::run_page(tx, filter, after.as_ref(), COUNTER_BATCH)
                        .map_err(|e| self.err(e))?;
                self.counter_steps.fetch_add(steps, Ordering::Relaxed);
                let mut last = None;
                for (id, key, kind, size, ..) in &rows {
                    tx.prepare_cached("DELETE FROM counter_log WHERE counter = ?1")
                        .and_then(|mut s| s.execute(params![id]))
                        .and_then(|_| tx.prepare_cached("DELETE FROM counters WHERE id = ?1"))
                        .and_then(|mut s| s.execute(params![id]))
                        .map_err(|e| self.err(e))?;
                    last = Some(CounterPosition {
                        key: key.clone(),
                        window: window_of(*kind, *size)?,
                    });
                }
                Ok((true, (rows.len(), last)))
            })?;
            total += n;
            match last {
                Some(p) if n == COUNTER_BATCH => after = Some(p),
                _ => return Ok(total),
            }
        }
    }

    fn hold_get(&self, id: &str) -> Result<Option<HoldRecord>> {
        self.with_conn(|conn| self.hold_in(conn, id))
    }

    fn hold_resolve(&self, r: &HoldResolution<'_>) -> Result<HoldOutcome> {
        self.write(|tx, _| {
            let Some(hold) = self.hold_in(tx, r.hold_id)? else {
                return Ok((false, HoldOutcome::Unknown));
            };
            if hold.state != HoldState::Open {
                return Ok((false, HoldOutcome::NotOpen(hold.state)));
            }
            if r.amounts.len() != hold.ops.len() {
                return Err(Error::Internal(format!(
                    "hold {} has {} counters, {} amounts given",
                    hold.id,
                    hold.ops.len(),
                    r.amounts.len()
                )));
            }
            for h in &hold.ops {
                h.op.window.check_time(r.now_ms)?;
            }
            let counters = self.counters_in(tx);
            let usage = hold
                .ops
                .iter()
                .map(|h| counters.usage_of(&h.op, r.now_ms))
                .collect::<Result<Vec<_>>>()?;
            let mut deltas = Vec::with_capacity(hold.ops.len());
            for ((h, new), used) in hold.ops.iter().zip(r.amounts).zip(&usage) {
                let delta = new
                    .checked_sub(h.op.amount)
                    .ok_or_else(|| Error::payload("/", "settled amount out of range"))?;
                let total = used.checked_add(delta);
                if delta > Decimal::ZERO && total.is_none_or(|t| t > h.op.max) {
                    if r.enforce_bounds {
                        return Ok((false, HoldOutcome::Rejected { usage }));
                    }
                    if total.is_none() {
                        return Err(Error::payload("/", "counter total would overflow"));
                    }
                }
                deltas.push(delta);
            }
            for (h, delta) in hold.ops.iter().zip(deltas) {
                counters.adjust(&h.op, hold.created_ms, delta, r.now_ms)?;
            }
            tx.prepare_cached("UPDATE holds SET state = ?2 WHERE id = ?1")
                .and_then(|mut s| s.execute(params![hold.id, r.state.as_str()]))
                .map_err(|e| self.err(e))?;
            self.append_in(tx, r.record)?;
            Ok((true, HoldOutcome::Resolved))
        })
    }

    fn holds_due(&self, now_ms: i64, limit: usize) -> Result<Vec<DueHold>> {
        self.with_conn(|conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, record, state FROM holds WHERE state = 'open' AND expires_ms <= ?1 \
                     ORDER BY expires_ms, id LIMIT ?2",
                )
                .map_err(|e| self.err(e))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            // Columns are read as raw values: a row whose record is not text (or not a hold) is
            // reported in its place, never an error for the whole batch.
            let rows = stmt
                .query_map(params![now_ms, limit], |r| {
                    Ok((
                        r.get::<_, Sql>(0)?,
                        r.get::<_, Sql>(1)?,
                        r.get::<_, Sql>(2)?,
                    ))
                })
                .map_err(|e| self.err(e))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, record, state) = row.map_err(|e| self.err(e))?;
                let id = match id {
                    Sql::Text(t) => t,
                    other => format!("{other:?}"),
                };
                let read = match (record, state) {
                    (Sql::Text(record), Sql::Text(state)) => hold_from(&record, &state),
                    _ => Err(Error::StoreUnavailable("stored hold is not text".into())),
                };
                out.push(match read {
                    Ok(h) if h.id == id => DueHold::Hold(h),
                    Ok(h) => DueHold::Unreadable {
                        reason: format!("row {id:?} holds the record of hold {:?}", h.id),
                        id,
                    },
                    Err(e) => DueHold::Unreadable {
                        id,
                        reason: e.to_string(),
                    },
                });
            }
            Ok(out)
        })
    }

    fn hold_quarantine(&self, id: &str) -> Result<bool> {
        self.write(|tx, _| {
            let n = tx
                .prepare_cached(
                    "UPDATE holds SET state = 'unreadable' WHERE id = ?1 AND state = 'open'",
                )
                .and_then(|mut s| s.execute(params![id]))
                .map_err(|e| self.err(e))?;
            Ok((true, n > 0))
        })
    }

    fn approval_get(&self, evaluation_id: &str) -> Result<Option<ApprovalRecord>> {
        self.with_conn(|conn| self.approval_in(conn, evaluation_id))
    }

    fn approval_resolve(
        &self,
        evaluation_id: &str,
        to: &ApprovalState,
        record: &StoredRecord,
    ) -> Result<Option<ApprovalState>> {
        self.write(|tx, _| {
            let Some(mut a) = self.approval_in(tx, evaluation_id)? else {
                return Ok((false, None));
            };
            let found = a.state.clone();
            if found != ApprovalState::Pending {
                return Ok((false, Some(found)));
            }
            a.state = to.clone();
            self.put_approval(tx, &a)?;
            self.append_in(tx, record)?;
            Ok((true, Some(found)))
        })
    }
}

/// Appends `filter`'s conditions (its `limit` aside) to `sql` as `AND …` terms.
pub(super) fn push_filter(sql: &mut String, args: &mut Vec<Sql>, filter: &AttestationFilter) {
    let text_filters = [
        ("chain", &filter.chain),
        ("gate", &filter.gate),
        ("agent_id", &filter.agent_id),
        ("decision", &filter.decision),
        ("evaluation_id", &filter.evaluation_id),
        ("kind", &filter.kind),
    ];
    for (col, value) in text_filters {
        if let Some(v) = value {
            args.push(Sql::Text(v.clone()));
            sql.push_str(&format!(" AND {col} = ?{}", args.len()));
        }
    }
    if let Some(since) = filter.since_ms {
        args.push(Sql::Integer(since));
        sql.push_str(&format!(" AND time_ms >= ?{}", args.len()));
    }
    if let Some(until) = filter.until_ms {
        args.push(Sql::Integer(until));
        sql.push_str(&format!(" AND time_ms < ?{}", args.len()));
    }
    if filter.anonymous_only {
        sql.push_str(" AND kind = 'decision' AND agent_id IS NULL");
    }
}
