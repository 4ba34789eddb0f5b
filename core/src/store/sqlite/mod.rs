//! `sqlite:///path/to/file.db` — the durable store for one machine: several processes (and threads)
//! share one file safely, and everything survives a crash or a restart.
//!
//! - **One transaction per step.** Every write runs in `BEGIN IMMEDIATE … COMMIT`: a commit's
//!   idempotency check, approval use, bound checks, counter updates, attestation, idempotency
//!   record, hold and approval request are one SQLite transaction, so after a crash (even
//!   `SIGKILL` mid-write) either all of it is in the file or none of it is.
//! - **WAL** journal; `synchronous=NORMAL` by default (a committed transaction survives a process
//!   crash; an OS crash or power loss may lose the last few), `?durability=full` for
//!   `synchronous=FULL` (survives those too, at an fsync per commit).
//! - **Waiting.** A writer waits for another process's transaction at most the busy timeout
//!   (`?busy_timeout_ms=`, default 5000); beyond it the call fails with `STORE_UNAVAILABLE` —
//!   never an allow. Threads of one process queue on an in-process lock first, so they do not
//!   spin against each other in SQLite's busy handler.
//! - **Connections**: a small pool (one connection per concurrent caller, kept for reuse); reads
//!   run on their own connection without blocking writers (WAL).
//! - **Schema** versioned with `PRAGMA user_version` ([`schema`]); a newer version is refused.
//! - **Exact**: decimals are stored as `TEXT`, summed as `rust_decimal` — never `REAL`.
//! - **Chains**: a record whose `seq` does not follow its chain's stored tail is refused
//!   ([`Error::ChainConflict`]; the engine then reads the tail back, and starts a new chain if the
//!   file lost records it had committed — a restored backup), so an engine never forks its chain.
//!
//! The URL's path is taken literally (no percent-decoding): `sqlite:///var/lib/pg.db` is the
//! absolute `/var/lib/pg.db`, `sqlite://pg.db` and `sqlite:pg.db` are relative.

mod catalogs;
mod counter_pages;
mod counters;
mod foreign;
mod registry;
mod retention;
mod schema;
mod settlements;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use rust_decimal::Decimal;

use counters::Counters;

use super::{ApprovalRecord, HoldRecord, HoldState, IdempotencyRecord, StoredRecord};
use crate::error::{Error, Result};

pub use schema::VERSION as SCHEMA_VERSION;

/// How often (in commits) expired idempotency records are swept.
const SWEEP_EVERY: u64 = 1024;
/// ... and at least this often (in the commits' time).
const SWEEP_INTERVAL_MS: i64 = 60_000;
/// The most expired idempotency records one commit deletes.
const SWEEP_BATCH: i64 = 256;

/// The SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    path: String,
    options: Options,
    idle: Mutex<Vec<Connection>>,
    /// Serialises this process's writers of the file, across every store of this process that
    /// opened it (other processes wait in SQLite's busy handler). Counts the writes.
    write_lock: Arc<Mutex<u64>>,
    /// The process that opened it.
    pid: u32,
    /// Set by `close()`: no connection is handed out or kept any more.
    closed: std::sync::atomic::AtomicBool,
    /// When (commit time, ms) the next idempotency sweep is due.
    next_sweep_ms: std::sync::atomic::AtomicI64,
    /// SQLite VM steps taken by counter listings and resets (a test probe).
    counter_steps: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Options {
    full: bool,
    busy_timeout: Duration,
}

pub(crate) fn db_err(path: &str, e: rusqlite::Error) -> Error {
    let busy = matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    );
    if busy {
        Error::StoreUnavailable(format!(
            "sqlite {path}: the database stayed locked by another writer past the busy timeout ({e})"
        ))
    } else {
        Error::StoreUnavailable(format!("sqlite {path}: {e}"))
    }
}

pub(crate) fn parse_decimal(s: &str) -> Result<Decimal> {
    Decimal::from_str_exact(s)
        .map_err(|e| Error::StoreUnavailable(format!("stored amount {s:?} unreadable: {e}")))
}

fn json_err(what: &str, e: serde_json::Error) -> Error {
    Error::StoreUnavailable(format!("stored {what} unreadable: {e}"))
}

impl SqliteStore {
    /// Opens (creating if needed) the store at `url` (`sqlite:///path/file.db?durability=full`).
    pub fn open(url: &str) -> Result<SqliteStore> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| Error::InvalidArgument(format!("not a sqlite URL: {url:?}")))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "store URL {url:?} names no file (sqlite:///path/to/file.db)"
            )));
        }
        let mut options = Options {
            full: false,
            busy_timeout: Duration::from_millis(5000),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("durability", "full") => options.full = true,
                ("durability", "normal") => options.full = false,
                ("busy_timeout_ms", ms) => {
                    let ms = ms.parse::<u64>().map_err(|_| {
                        Error::InvalidArgument(format!("store URL {url:?}: busy_timeout_ms {ms:?}"))
                    })?;
                    options.busy_timeout = Duration::from_millis(ms);
                }
                (k, v) => {
                    return Err(Error::InvalidArgument(format!(
                        "store URL {url:?}: unknown option {k}={v} \
                         (durability=normal|full, busy_timeout_ms=N)"
                    )))
                }
            }
        }
        let store = SqliteStore {
            path: path.to_string(),
            options,
            idle: Mutex::new(Vec::new()),
            write_lock: Arc::new(Mutex::new(0)),
            pid: std::process::id(),
            closed: std::sync::atomic::AtomicBool::new(false),
            next_sweep_ms: std::sync::atomic::AtomicI64::new(i64::MIN),
            counter_steps: std::sync::atomic::AtomicU64::new(0),
        };
        let mut conn = store.connect()?;
        schema::migrate(&mut conn, &store.path)?;
        store.idle.lock().push(conn);
        let write_lock = shared_write_lock(&store.path)?;
        Ok(SqliteStore {
            write_lock,
            ..store
        })
    }

    /// Closes the pooled connections (see [`Store::close`]).
    pub fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Release);
        self.idle.lock().clear();
    }

    /// SQLite virtual machine steps taken by counter listings and resets so far (a test probe:
    /// a walk filtered by namespace or scope steps only through that index range).
    #[doc(hidden)]
    pub fn counter_steps(&self) -> u64 {
        self.counter_steps
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `EXPLAIN QUERY PLAN` of the query one page of `filter` runs (its detail lines), for the
    /// tests that check every counter filter with a namespace or a scope is served by an index.
    #[doc(hidden)]
    pub fn explain_counters_page(
        &self,
        filter: &super::CounterFilter,
        after: Option<&super::CounterPosition>,
    ) -> Result<Vec<String>> {
        self.with_conn(|conn| counter_pages::explain(conn, filter, after).map_err(|e| self.err(e)))
    }

    /// The file this store writes.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn connect(&self) -> Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(|e| self.err(e))?;
        conn.busy_timeout(self.options.busy_timeout)
            .map_err(|e| self.err(e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::StoreUnavailable(format!(
                "sqlite {}: could not switch to WAL (journal_mode is {mode})",
                self.path
            )));
        }
        let sync = if self.options.full { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(|e| self.err(e))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(conn)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        db_err(&self.path, e)
    }

    /// Runs `f` on a pooled connection.
    fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        // SQLite connections must not cross a fork(): the child builds its own store.
        if std::process::id() != self.pid {
            return Err(Error::ProcessForked(format!(
                "sqlite {}: this store was opened in process {}, not in this forked child",
                self.path, self.pid
            )));
        }
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(Error::StoreUnavailable(format!(
                "sqlite {}: the store was closed",
                self.path
            )));
        }
        let pooled = self.idle.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&mut conn);
        // A connection left inside a transaction (an error mid-way) is not reused, nor one
        // that outlived a close().
        if conn.is_autocommit() && !self.closed.load(std::sync::atomic::Ordering::Acquire) {
            let mut idle = self.idle.lock();
            if idle.len() < 16 {
                idle.push(conn);
            }
        }
        out
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction; commits if it returns `Ok((true, _))`, rolls
    /// back otherwise.
    ///
    /// Around it, the foreign-writer check ([`foreign`]): a write lock on the file held by
    /// another SQLite library *in this process* is invisible to ours, and its commit would
    /// overwrite ours. Seen before `BEGIN`, nothing is written; seen after `COMMIT`, the commit's
    /// outcome is reported as unknown. Either way the call fails (`STORE_UNAVAILABLE`): no
    /// decision that may be lost is answered.
    fn write<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>, u64) -> Result<(bool, T)>,
    ) -> Result<T> {
        // One deadline bounds the whole wait: this process's queue, a foreign writer, and
        // SQLite's busy handler (the k-th of k waiting threads waits one timeout, not k).
        let deadline = Instant::now() + self.options.busy_timeout;
        let Some(mut writes) = self.write_lock.try_lock_until(deadline) else {
            return Err(Error::StoreUnavailable(format!(
                "sqlite {}: the database stayed locked by this process's other writers past the \
                 busy timeout ({} ms)",
                self.path,
                self.options.busy_timeout.as_millis()
            )));
        };
        *writes = writes.wrapping_add(1);
        let n = *writes;
        self.wait_for_no_foreign_writer(deadline)?;
        let out = self.with_conn(|conn| {
            let left = deadline.saturating_duration_since(Instant::now());
            conn.busy_timeout(left.max(Duration::from_millis(1)))
                .map_err(|e| self.err(e))?;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| self.err(e))?;
            let (keep, out) = f(&tx, n)?;
            if keep {
                tx.commit().map_err(|e| self.err(e))?;
            } else {
                tx.rollback().map_err(|e| self.err(e))?;
            }
            Ok(out)
        })?;
        self.check_no_foreign_writer(
            "it began writing during this commit, whose outcome is therefore unknown",
        )?;
        Ok(out)
    }

    /// Waits (until `deadline`) for a write lock held by another connection of this process
    /// that passgate does not own to be released, as SQLite's busy handler would for one it can
    /// see; then fails as locked.
    fn wait_for_no_foreign_writer(&self, deadline: Instant) -> Result<()> {
        let mut pause = Duration::from_millis(1);
        loop {
            match self.check_no_foreign_writer("nothing was written, the database is locked") {
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(
                        pause.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    /// Fails if a connection of this process that passgate does not own holds the WAL write
    /// lock (passgate's own writers of this file, in every store of this process, are excluded
    /// by `write_lock`, which the caller holds).
    fn check_no_foreign_writer(&self, consequence: &str) -> Result<()> {
        match foreign::wal_writer_in_this_process(&self.path) {
            Ok(false) => Ok(()),
            Ok(true) => Err(Error::StoreUnavailable(format!(
                "sqlite {}: another SQLite library in this process (e.g. Python's sqlite3 \
                 module) holds the database's write lock; passgate cannot see its locks and its \
                 commit would overwrite passgate's: {consequence}. Do not write passgate's \
                 file with another SQLite library",
                self.path
            ))),
            Err(e) => Err(Error::StoreUnavailable(format!(
                "sqlite {}: could not check the write lock ({e})",
                self.path
            ))),
        }
    }

    fn counters_in<'t, 'c>(&'t self, tx: &'t rusqlite::Transaction<'c>) -> Counters<'t, 'c> {
        Counters {
            tx,
            path: &self.path,
        }
    }

    /// Appends `r` after checking it continues its chain.
    fn append_in(&self, tx: &rusqlite::Transaction<'_>, r: &StoredRecord) -> Result<()> {
        let last: Option<i64> = tx
            .prepare_cached("SELECT MAX(seq) FROM records WHERE chain = ?1")
            .and_then(|mut s| s.query_row(params![r.chain], |row| row.get(0)))
            .map_err(|e| self.err(e))?;
        let last = u64::try_from(last.unwrap_or(0)).unwrap_or(0);
        if r.seq != last + 1 {
            return Err(Error::ChainConflict {
                chain: r.chain.clone(),
                seq: r.seq,
                tail: last,
            });
        }
        let seq = i64::try_from(r.seq).map_err(|_| Error::Internal("seq too large".into()))?;
        tx.prepare_cached(
            "INSERT INTO records (chain, seq, time_ms, kind, gate, agent_id, decision, \
             evaluation_id, record, session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .and_then(|mut s| {
            s.execute(params![
                r.chain,
                seq,
                r.time_ms,
                r.kind,
                r.gate,
                r.agent_id,
                r.decision,
                r.evaluation_id,
                r.record.as_str(),
                crate::store::session_of(r)
            ])
        })
        .map_err(|e| self.err(e))?;
        if let Some(e) = &r.event {
            tx.prepare_cached("INSERT INTO events (id, kind, event) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![e.id, e.kind, e.json]))
                .map_err(|e| self.err(e))?;
        }
        Ok(())
    }

    fn approval_in(&self, tx: &Connection, evaluation_id: &str) -> Result<Option<ApprovalRecord>> {
        let text: Option<String> = tx
            .prepare_cached("SELECT record FROM approvals WHERE evaluation_id = ?1")
            .and_then(|mut s| s.query_row(params![evaluation_id], |r| r.get(0)).optional())
            .map_err(|e| self.err(e))?;
        text.map(|t| serde_json::from_str(&t).map_err(|e| json_err("approval", e)))
            .transpose()
    }

    fn put_approval(&self, tx: &Connection, a: &ApprovalRecord) -> Result<()> {
        let text = serde_json::to_string(a).map_err(|e| Error::Internal(e.to_string()))?;
        let done = crate::store::memory::approval_done_before(a);
        tx.prepare_cached(
            "INSERT OR REPLACE INTO approvals (evaluation_id, record, done_ms) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut s| s.execute(params![a.evaluation_id, text, done]))
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn hold_in(&self, conn: &Connection, id: &str) -> Result<Option<HoldRecord>> {
        let row: Option<(String, String)> = conn
            .prepare_cached("SELECT record, state FROM holds WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row(params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.err(e))?;
        row.map(|(text, state)| hold_from(&text, &state))
            .transpose()
    }
}

/// The in-process write lock of the database file at `path`, shared by every store of this
/// process that opened it (by canonical path): while one is held, no passgate connection of this
/// process writes the file, so a write lock the foreign-writer probe sees is someone else's.
fn shared_write_lock(path: &str) -> Result<Arc<Mutex<u64>>> {
    static LOCKS: OnceLock<Mutex<HashMap<std::path::PathBuf, Weak<Mutex<u64>>>>> = OnceLock::new();
    let key = std::fs::canonicalize(path)
        .map_err(|e| Error::StoreUnavailable(format!("sqlite {path}: {e}")))?;
    let mut locks = LOCKS.get_or_init(|| Mutex::new(HashMap::new())).lock();
    locks.retain(|_, l| l.strong_count() > 0);
    if let Some(lock) = locks.get(&key).and_then(Weak::upgrade) {
        return Ok(lock);
    }
    let lock = Arc::new(Mutex::new(0));
    locks.insert(key, Arc::downgrade(&lock));
    Ok(lock)
}

fn hold_from(text: &str, state: &str) -> Result<HoldRecord> {
    let mut h: HoldRecord = serde_json::from_str(text).map_err(|e| json_err("hold", e))?;
    h.state = HoldState::from_stored(state)?;
    Ok(h)
}

fn idempotency_from(
    namespace: &str,
    key: &str,
    fingerprint: String,
    decision: &str,
    expires_ms: i64,
) -> Result<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        namespace: namespace.to_string(),
        key: key.to_string(),
        fingerprint,
        decision: serde_json::from_str(decision).map_err(|e| json_err("decision", e))?,
        expires_ms,
    })
}

mod store_impl;
