//! The SQLite schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! Migration `n` moves a database from version `n − 1` to `n`; they run in order inside one
//! `BEGIN IMMEDIATE` transaction when a store is opened, so several processes opening one file at
//! once migrate it exactly once. A database written by a newer passgate (a version this code does
//! not know) is refused rather than guessed at.
//!
//! Decimals (counter totals, log amounts) are `TEXT` holding exact decimal strings — never `REAL`.

use rusqlite::{Connection, TransactionBehavior};

use super::db_err;
use crate::error::{Error, Result};

/// Migration 1: everything.
const V1: &str = "
CREATE TABLE counters (
    id            INTEGER PRIMARY KEY,
    namespace     TEXT    NOT NULL,
    constraint_id TEXT    NOT NULL,
    scope         TEXT    NOT NULL,
    kind          INTEGER NOT NULL,   -- 0 forever, 1 fixed, 2 sliding (WindowKind's order)
    size_ms       INTEGER NOT NULL,   -- 0 for forever
    start_ms      INTEGER,            -- fixed: the window `total` counts
    total         TEXT    NOT NULL,   -- exact decimal; sliding: the sum of the log
    UNIQUE (namespace, constraint_id, scope, kind, size_ms)
);
-- Sliding windows: every admitted amount (and every hold adjustment) with its time.
CREATE TABLE counter_log (
    id      INTEGER PRIMARY KEY,
    counter INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    amount  TEXT    NOT NULL
);
CREATE INDEX counter_log_by_time ON counter_log (counter, time_ms);
-- Attestation records in append order (`g`), every chain together.
CREATE TABLE records (
    g             INTEGER PRIMARY KEY AUTOINCREMENT,
    chain         TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    time_ms       INTEGER NOT NULL,
    kind          TEXT    NOT NULL,
    gate          TEXT,
    agent_id      TEXT,
    decision      TEXT,
    evaluation_id TEXT,
    record        TEXT    NOT NULL,
    UNIQUE (chain, seq)
);
-- Fetching one evaluation's record is a point lookup; the other filters (gate, agent, decision,
-- time) scan in append order: each further index would cost every commit a page write.
CREATE INDEX records_by_evaluation ON records (evaluation_id) WHERE evaluation_id IS NOT NULL;
CREATE TABLE revoked (
    passport_id TEXT PRIMARY KEY,
    time_ms     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE idempotency (
    namespace   TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    decision    TEXT    NOT NULL,
    expires_ms  INTEGER NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_by_expiry ON idempotency (expires_ms);
CREATE TABLE holds (
    id         TEXT    PRIMARY KEY,
    state      TEXT    NOT NULL,
    expires_ms INTEGER NOT NULL,
    record     TEXT    NOT NULL        -- the HoldRecord as JSON (its state is the column's)
);
CREATE INDEX holds_open ON holds (expires_ms, id) WHERE state = 'open';
CREATE TABLE approvals (
    evaluation_id TEXT PRIMARY KEY,
    record        TEXT NOT NULL        -- the ApprovalRecord as JSON, state included
);
";

/// Migration 2: counters by scope (then namespace, constraint, window), so listing or resetting
/// one scope's counters (an agent's) walks only those; the `UNIQUE` index of `counters` already
/// serves namespace filters. (`counters` paging: `counter_pages.rs`.)
const V2_COUNTERS_BY_SCOPE: &str = "
CREATE INDEX counters_by_scope ON counters (scope, namespace, constraint_id, kind, size_ms);
";

/// Migration 3: retention. Keyset paging by chain, gate, agent and time from indexes (each
/// holds the rowid `g`, so `field = ? AND g > ?` is one index range in append order); the
/// newest checkpoint of each pruned chain; closed holds and approvals found by expiry for pruning.
const V3_RETENTION: &str = "
CREATE INDEX records_by_chain ON records (chain);
CREATE INDEX records_by_gate ON records (gate) WHERE gate IS NOT NULL;
CREATE INDEX records_by_agent ON records (agent_id) WHERE agent_id IS NOT NULL;
CREATE INDEX records_by_time ON records (time_ms);
CREATE TABLE checkpoints (
    chain  TEXT    PRIMARY KEY,
    seq    INTEGER NOT NULL,           -- the last record pruned
    record TEXT    NOT NULL            -- the signed checkpoint
) WITHOUT ROWID;
-- When an approval stops mattering (its request and any token expired); NULL for rows written
-- before this migration, which are never pruned.
ALTER TABLE approvals ADD COLUMN done_ms INTEGER;
CREATE INDEX approvals_done ON approvals (done_ms) WHERE done_ms IS NOT NULL;
CREATE INDEX holds_closed ON holds (expires_ms)
    WHERE state IN ('settled', 'released', 'expired');
";

/// Migration 4: API keys. `record` is the key's metadata and the SHA-256 of its secret as JSON
/// (never the secret); when it was revoked and last used are columns, written without reading
/// the record back (a revocation is never overwritten by a concurrent `last_used` update).
const V4_API_KEYS: &str = "
CREATE TABLE api_keys (
    id         TEXT    PRIMARY KEY,
    record     TEXT    NOT NULL,
    revoked_ms INTEGER,
    used_ms    INTEGER
) WITHOUT ROWID;
";

/// Migration 5: the policy document a fleet shares (`policy_source=store`): one row, replaced
/// by compare-and-swap on `version` in the transaction that appends its `policy.changed` record;
/// and run bundles by evaluation id (their hash is in the decision record).
const V5_POLICY: &str = "
CREATE TABLE policy (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    hash    TEXT    NOT NULL,
    doc     TEXT    NOT NULL
);
CREATE TABLE bundles (
    evaluation_id TEXT PRIMARY KEY,
    bundle        TEXT NOT NULL
) WITHOUT ROWID;
";

/// Migration 6: the passport registry (insert-if-absent by id; `record` is the
/// [`PassportRecord`](crate::store::PassportRecord) as JSON, never a token) and the issuers
/// trusted or denied through the store, with the generation every issuer change bumps.
const V6_PASSPORTS: &str = "
CREATE TABLE passports (
    passport_id TEXT PRIMARY KEY,
    agent       TEXT NOT NULL,
    parent      TEXT,
    record      TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX passports_by_agent ON passports (agent, passport_id);
CREATE INDEX passports_by_parent ON passports (parent, passport_id) WHERE parent IS NOT NULL;
CREATE TABLE issuers (
    did    TEXT PRIMARY KEY,
    record TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE issuers_generation (
    one        INTEGER PRIMARY KEY CHECK (one = 1),
    generation INTEGER NOT NULL
);
INSERT INTO issuers_generation (one, generation) VALUES (1, 0);
";

/// Migration 7: the decision-events outbox. `pos` is the store's event position (the listing
/// order and cursor); `event` the whole event as JSON; `acked_ms` set once acknowledged. The
/// partial indexes list the unacknowledged events in order without visiting acknowledged ones,
/// and the acknowledged ones by age for `prune_closed`.
const V7_EVENTS: &str = "
CREATE TABLE events (
    pos      INTEGER PRIMARY KEY AUTOINCREMENT,
    id       TEXT    NOT NULL UNIQUE,
    kind     TEXT    NOT NULL,
    event    TEXT    NOT NULL,
    acked_ms INTEGER
);
CREATE INDEX events_pending ON events (pos) WHERE acked_ms IS NULL;
CREATE INDEX events_acked ON events (acked_ms) WHERE acked_ms IS NOT NULL;
";

/// Migration 8: decision records by session ([`crate::store::session_of`]): a column written
/// with the record and a partial index in append order, so a session's decisions are one index
/// range. Records written before it have no session.
const V8_SESSIONS: &str = "
ALTER TABLE records ADD COLUMN session_id TEXT;
CREATE INDEX records_by_session ON records (session_id, g) WHERE session_id IS NOT NULL;
";

/// Migration 9: catalogs (see [`crate::store::CatalogStore`]): each published version of a
/// gate's catalog (the signed document as JSON, written once: never replaced or deleted), and
/// one draft per gate.
const V9_CATALOGS: &str = "
CREATE TABLE catalogs (
    gate    TEXT    NOT NULL,
    version INTEGER NOT NULL,
    doc     TEXT    NOT NULL,
    PRIMARY KEY (gate, version)
) WITHOUT ROWID;
CREATE TABLE catalog_drafts (
    gate TEXT PRIMARY KEY,
    doc  TEXT NOT NULL
) WITHOUT ROWID;
";

/// Migration 10: proof-of-possession nonces (see [`crate::pop`]), each until it expires;
/// inserted in the decision's own commit transaction, pruned in bounded batches.
const V10_POP_NONCES: &str = "
CREATE TABLE pop_nonces (
    key        TEXT    PRIMARY KEY,
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX pop_nonces_by_expiry ON pop_nonces (expires_ms);
";

/// Migration 11: consumption claims and settlements (see [`crate::store::SettlementStore`]):
/// `consumptions` holds, per evaluation, the id of its one consumption record; `settlements`
/// each signed statement (written once), the consumption records it includes and its status
/// (moved by compare-and-swap). `IF NOT EXISTS`: kept from when
/// migrations 10 and 11 were written apart (harmless on a database at version 10).
const V11_SETTLEMENTS: &str = "
CREATE TABLE IF NOT EXISTS consumptions (
    evaluation_id TEXT PRIMARY KEY,
    record_id     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS settlements (
    id         TEXT    PRIMARY KEY,
    status     TEXT    NOT NULL,
    document   TEXT    NOT NULL,
    records    TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Every migration, in order: `MIGRATIONS[n - 1]` takes version `n − 1` to `n`.
const MIGRATIONS: &[&str] = &[
    V1,
    V2_COUNTERS_BY_SCOPE,
    V3_RETENTION,
    V4_API_KEYS,
    V5_POLICY,
    V6_PASSPORTS,
    V7_EVENTS,
    V8_SESSIONS,
    V9_CATALOGS,
    V10_POP_NONCES,
    V11_SETTLEMENTS,
];

/// The schema version this code writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`VERSION`], or refuses one that is newer.
pub fn migrate(conn: &mut Connection, path: &str) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| db_err(path, e))?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| db_err(path, e))?;
    if found > VERSION {
        return Err(Error::StoreUnavailable(format!(
            "sqlite {path}: schema version {found} was written by a newer passgate \
             (this one knows up to {VERSION}); refusing to open it"
        )));
    }
    if found == VERSION {
        return Ok(());
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(found).unwrap_or(0))
    {
        tx.execute_batch(sql).map_err(|e| {
            Error::StoreUnavailable(format!("sqlite {path}: migration {} failed: {e}", i + 1))
        })?;
    }
    tx.pragma_update(None, "user_version", VERSION)
        .map_err(|e| db_err(path, e))?;
    tx.commit().map_err(|e| db_err(path, e))
}
