//! `redis://host:port/db` — the shared store for a fleet of processes and machines.
//!
//! # Atomicity
//!
//! Every step that changes state is **one server-side Lua script** (`lua/*.lua`), which Redis
//! runs without interleaving any other command: a reservation (`reserve.lua`) checks the
//! idempotency key, the approval it uses, every counter's bound, and only then advances every
//! counter and appends the attestation, the idempotency record, the hold and the approval request.
//! Scripts check everything before their first write (a Lua error does not roll back writes
//! already made). Settling / releasing / expiring a hold (`hold.lua`) and resolving an approval
//! (`approval.lua`) are scripts too. Nothing is read-then-written from the client.
//!
//! # Exact amounts
//!
//! Lua numbers are doubles, so amounts never travel as Lua numbers: they are fixed-point integers
//! scaled by 10^18, written as decimal strings, and `lib.lua` adds and compares them digit-limb by
//! digit-limb. Supported: amounts and caps with **at most 18 decimal places** (any `rust_decimal`
//! magnitude); anything finer is refused with `PAYLOAD_INVALID`, never rounded. A counter total
//! that would not read back into a `rust_decimal` is refused as an overflow (`PAYLOAD_INVALID`),
//! like the memory store's.
//!
//! # Key layout
//!
//! Every key starts with one hash tag, `{<prefix>}` (`?prefix=`, default `pg`): all of a
//! deployment's keys live in one hash slot. That is what makes a request atomic on Redis Cluster
//! as well: a request touches several counters (its gate's, `global` ones shared across gates, its
//! passport's caveats, the anonymous section's) plus its chain, idempotency, hold and approval
//! keys, and one script may only touch keys of one slot. The price is that one deployment is served
//! by one shard; run independent deployments under different prefixes to spread them. (This client
//! speaks to one node — a primary; the layout is what a cluster client would need.)
//!
//! Every key a script touches is passed to it in `KEYS` — no script builds a key name from the
//! prefix — as Redis Cluster requires to route a script (and as its cross-slot checks assume).
//! No script walks an index either: listing and resetting counters page through sorted indexes
//! from the client, one bounded script per batch (`counter_index.rs`).
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{p}:c:<id>` | hash | a counter: `ns con scope kind size start sum n` (`id` = SHA-256 of its identity) |
//! | `{p}:l:<id>` | zset | a sliding counter's log: members `<n>:<amount>`, scored by time; one member per millisecond, at most `MAX_SLIDING_LOG` (the oldest merge: store docs, "Windows") |
//! | `{p}:cx:ns`, `{p}:cx:sc` | zset | counter indexes (namespace-first, scope-first), for paged listing and reset (see `counter_index.rs`) |
//! | `{p}:r` | hash | every attestation record by global append number `g` |
//! | `{p}:rseq` | string | the last `g` |
//! | `{p}:tails` | hash | each chain's last `seq` |
//! | `{p}:x:<field>:<value>` | zset | record index (`chain`, `gate`, `agent`, `decision`, `eval`, `kind`, `anon`, `session`) |
//! | `{p}:x:all` | zset | every record by `g` (records written since retention support): paging and pruning in append order |
//! | `{p}:ck`, `{p}:ckseq` | hash | each pruned chain's newest checkpoint (JSON), and its `seq` |
//! | `{p}:i:<sha>` | hash | an idempotency record (`exp`, `json`), with a TTL |
//! | `{p}:h:<hold id>` | hash | a hold (`rec`, `state`); `{p}:holds` zset of open holds by expiry; `{p}:holds:unreadable` set of the ids of open holds whose key could not be read (taken out of `{p}:holds`) |
//! | `{p}:a:<evaluation id>` | hash | an approval request (`rec`, `state`, `sname`, `token`, `texp`) |
//! | `{p}:revoked` | set | revoked passport ids |
//! | `{p}:k` | hash | API keys by id: metadata and the SHA-256 of the secret as JSON (never the secret), written once (`HSETNX`) |
//! | `{p}:passport:<id>` | hash | a registered passport (`doc`: its record as JSON, never the token), written once (`HSETNX`) |
//! | `{p}:passports` | zset | every registered passport id (score 0: ordered by id), for paged listing |
//! | `{p}:issuers`, `{p}:issuers:gen` | hash, string | issuers trusted or untrusted through the store (did → record as JSON), and the generation every change bumps (`registry.rs`) |
//! | `{p}:krev`, `{p}:kused` | hash | when each API key was revoked (first time stays) and last authenticated (`apikey.lua`) |
//! | `{p}:b` | hash | run bundles (JSON) by evaluation id; the decision record holds each one's hash |
//! | `{p}:policy` | hash | the policy a fleet shares (`policy_source=store`): `version`, `hash`, `doc`, replaced by compare-and-swap on `version` with its record (`policy.lua`) |
//! | `{p}:ev:<event id>` | string | a decision event's JSON (`events.rs`), written with its record; kept while unacknowledged, then 7 days |
//! | `{p}:catalog:<gate>` | hash | a gate's published catalogs: version → signed document (JSON), each written once (`HSETNX`, `catalogs.rs`) |
//! | `{p}:catalogs` | set | the gates with a published catalog |
//! | `{p}:catalog_drafts` | hash | each gate's draft catalog (gate → JSON) |
//! | `{p}:consumptions` | hash | evaluation id → its consumption record id, written once (`HSETNX`, `settlements.rs`) |
//! | `{p}:stl:<id>` | hash | a settlement: `status` (moved by compare-and-swap), `document` (the signed statement), `records` (its consumption records, JSON), `created` |
//! | `{p}:evq`, `{p}:evseq` | zset, string | the unacknowledged events' ids by position, and the last position |
//!
//! A calendar window (a local day, week or month) is a fixed window to the scripts (`kind` `X`): Rust
//! computes its bounds ([`WindowKind::bounds`](crate::store::WindowKind::bounds)) and passes the
//! current start, as for any fixed window (listing too); its stored `size` and its index token
//! carry its [`calendar_id`](crate::calendar::calendar_id).
//!
//! Windowed counters expire: a fixed window's key lives until its window ends, a sliding one
//! until its newest entry leaves the window — each extended to outlive any open hold on it, plus
//! a minute's grace for clock skew between engines. A sliding counter and its log always carry one
//! expiry (every write sets the log's to the counter's), and a counter whose log is gone reports
//! no usage: its sum is only ever the sum of its log's entries. An expired counter is simply gone
//! (the memory and SQLite stores keep it listed with usage 0). Idempotency records expire with their TTL;
//! closed holds and resolved approvals are kept 7 days; revocations forever; attestations as long
//! as the engine's retention says (forever by default). Pruning (`prune.lua`, run from the engine's
//! `prune()`, never on the decision path) deletes a chain's oldest records with every index entry
//! they are filed under — the one `x:eval:<id>` key per evaluation goes with its record — and
//! stores the chain's checkpoint, in one script of at most one batch of records.
//!
//! # Eviction
//!
//! A Redis that evicts keys under memory pressure would silently drop counters (reopening spent
//! caps), holds and chain tails: `volatile-*` policies evict exactly the keys with a TTL, which
//! windowed counters all have. [`RedisStore::open`] therefore reads the server's
//! `maxmemory-policy` (`CONFIG GET`, or `INFO memory` where `CONFIG` is disabled or renamed, as
//! on managed services) and refuses with `STORE_UNAVAILABLE` unless it is `noeviction` — or the
//! URL says `?allow_eviction=1`, the operator's explicit acceptance of that risk. A server whose
//! policy cannot be read at all is refused the same way (the message says so): confirm the
//! provider's setting is `noeviction` and pass `allow_eviction=1`. The check runs when the
//! store is opened; keep the setting in the server's configuration so a restart keeps it. With
//! `noeviction`, a full server refuses writes: passgate then reports `STORE_UNAVAILABLE`, never an
//! allow.
//!
//! # Consistency, and what a failover can lose
//!
//! On one Redis primary every step is linearizable, and a cap is never passed. Redis replication
//! is **asynchronous**: a primary that fails after acknowledging a script but before its replica
//! received it loses that write on failover — the promoted replica has not counted it (an
//! admitted request could be admitted again, so up to that window of spend can pass the cap) and
//! has no record of it. Likewise, a server restarted without persistence starts empty. For hard
//! caps run the primary with `appendonly yes` and `appendfsync always` (every acknowledged script
//! is on disk before the reply; a restart then loses nothing), and use `WAIT` / `min-replicas-*`
//! settings at the server for replicas. A dead or unreachable server is `STORE_UNAVAILABLE` — never
//! an allow. A script whose reply is lost (timeout, dropped connection) may have run: the request
//! is reported as an error, its counters may have advanced (over-counting, never under-), and the
//! engine reads its chain's tail back before its next write.
//!
//! # Connections
//!
//! Needs Redis 6.2 or later (`SMISMEMBER`, `ZRANGE … BYSCORE`); tested with 7.0.
//! A small pool of synchronous connections (`?pool=`, default 16 idle), each with connect,
//! read and write timeouts (`?timeout_ms=`, default 5000). A connection that fails is dropped along
//! with every idle one (after a server restart they are all dead); the next call reconnects.
//! Reads that fail on a dropped connection are retried once on a fresh one; writes never are.

mod catalogs;
mod counter_index;
mod events;
mod registry;
mod retention;
mod scripts;
mod settlements;
mod store_impl;

use std::time::Duration;

use ::redis::{Client, Connection, RedisError};
use parking_lot::Mutex;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use scripts::Scripts;

use super::{CounterOp, StoredRecord};
use crate::error::{Error, Result};

/// Decimal places kept exactly (amounts are integers scaled by 10^SCALE).
pub const SCALE: u32 = 18;
/// Slack added to every TTL, for clock skew between engines.
const GRACE_MS: i64 = 60_000;
/// How long a closed hold or a resolved approval is kept.
const RETAIN_MS: i64 = 7 * 24 * 3600 * 1000;

/// The Redis store.
pub struct RedisStore {
    client: Client,
    keys: Keys,
    scripts: Scripts,
    timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<Connection>>,
    /// Where the server is, for messages (no password).
    addr: String,
    /// Counter index entries read by listings and resets (a test probe).
    visited: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("addr", &self.addr)
            .field("prefix", &self.keys.p)
            .field("idle", &self.idle.lock().len())
            .finish_non_exhaustive()
    }
}

/// Key names (see the module docs).
#[derive(Debug, Clone)]
pub struct Keys {
    p: String,
}

impl Keys {
    fn new(prefix: &str) -> Keys {
        Keys {
            p: format!("{{{prefix}}}"),
        }
    }
    fn k(&self, what: &str) -> String {
        format!("{}:{what}", self.p)
    }
    fn counter_id(&self, op: &CounterOp) -> String {
        Self::counter_id_of(&op.key, op.window)
    }
    fn counter_id_of(key: &super::CounterKey, window: super::WindowKind) -> String {
        let ident = serde_json::json!([key.namespace, key.constraint, key.scope, window]);
        hex::encode(Sha256::digest(ident.to_string().as_bytes()))
    }
    fn counter(&self, id: &str) -> String {
        self.k(&format!("c:{id}"))
    }
    fn log(&self, id: &str) -> String {
        self.k(&format!("l:{id}"))
    }
    fn idempotency(&self, namespace: &str, key: &str) -> String {
        let ident = serde_json::json!([namespace, key]).to_string();
        self.k(&format!(
            "i:{}",
            hex::encode(Sha256::digest(ident.as_bytes()))
        ))
    }
    fn hold(&self, id: &str) -> String {
        self.k(&format!("h:{id}"))
    }
    /// A proof-of-possession nonce (a string holding its expiry, with a TTL).
    fn nonce(&self, key: &str) -> String {
        self.k(&format!(
            "pop:{}",
            hex::encode(Sha256::digest(key.as_bytes()))
        ))
    }
    fn approval(&self, evaluation_id: &str) -> String {
        self.k(&format!("a:{evaluation_id}"))
    }
    /// A decision event's JSON (`events.rs`).
    fn event(&self, id: &str) -> String {
        self.k(&format!("ev:{id}"))
    }
    fn index(&self, field: &str, value: &str) -> String {
        self.k(&format!("x:{field}:{value}"))
    }
    /// The indexes a record is filed under.
    fn record_index(&self, r: &StoredRecord) -> Vec<String> {
        let mut out = vec![
            self.index("chain", &r.chain),
            self.index("kind", &r.kind),
            self.k("x:all"),
        ];
        let optional = [
            ("gate", &r.gate),
            ("agent", &r.agent_id),
            ("decision", &r.decision),
            ("eval", &r.evaluation_id),
        ];
        for (field, v) in optional {
            if let Some(v) = v {
                out.push(self.index(field, v));
            }
        }
        if r.kind == "decision" && r.agent_id.is_none() {
            out.push(self.k("x:anon"));
        }
        if let Some(s) = crate::store::session_of(r) {
            out.push(self.index("session", s));
        }
        out
    }
}

/// `d` as an integer string scaled by 10^18; more than 18 decimal places is refused.
pub fn scaled(d: Decimal) -> Result<String> {
    let d = d.normalize();
    let places = d.scale();
    if places > SCALE {
        return Err(Error::payload(
            "/",
            format!("amount {d} has more than {SCALE} decimal places, which the redis store cannot keep exactly"),
        ));
    }
    let m = d.mantissa();
    if m == 0 {
        return Ok("0".into());
    }
    let pad = usize::try_from(SCALE - places).unwrap_or(0);
    Ok(format!("{m}{}", "0".repeat(pad)))
}

/// The decimal of a scaled integer string.
pub fn unscaled(s: &str) -> Result<Decimal> {
    let bad = || {
        Error::payload(
            "/",
            format!("counter total {s} cannot be represented exactly (overflow)"),
        )
    };
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::StoreUnavailable(format!(
            "stored amount {s:?} unreadable"
        )));
    }
    let scale = usize::try_from(SCALE).unwrap_or(18);
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    let frac = frac.trim_end_matches('0');
    let text = match (neg, frac.is_empty()) {
        (false, true) => int.to_string(),
        (false, false) => format!("{int}.{frac}"),
        (true, true) => format!("-{int}"),
        (true, false) => format!("-{int}.{frac}"),
    };
    Decimal::from_str_exact(&text).map_err(|_| bad())
}

/// A stored record, as kept in `{p}:r`: its indexed fields, then the record itself.
#[derive(Deserialize)]
struct RecordRow {
    chain: String,
    seq: u64,
    time_ms: i64,
    kind: String,
    gate: Option<String>,
    agent_id: Option<String>,
    decision: Option<String>,
    evaluation_id: Option<String>,
    record: crate::attestation::Record,
}

/// [`RecordRow`]'s fields but the record, as written.
#[derive(Serialize)]
struct RowFields<'a> {
    chain: &'a str,
    seq: u64,
    time_ms: i64,
    kind: &'a str,
    gate: Option<&'a str>,
    agent_id: Option<&'a str>,
    decision: Option<&'a str>,
    evaluation_id: Option<&'a str>,
}

/// The row's JSON: the fields, then `"record"` with the record's own text spliced in (it is
/// JSON already; nothing is parsed or re-serialised).
fn record_json(r: &StoredRecord) -> Result<String> {
    let fields = RowFields {
        chain: &r.chain,
        seq: r.seq,
        time_ms: r.time_ms,
        kind: &r.kind,
        gate: r.gate.as_deref(),
        agent_id: r.agent_id.as_deref(),
        decision: r.decision.as_deref(),
        evaluation_id: r.evaluation_id.as_deref(),
    };
    let mut text = serde_json::to_string(&fields).map_err(|e| Error::Internal(e.to_string()))?;
    // `{…}` of a struct with fields: reopen it for one more member.
    text.pop();
    text.push_str(",\"record\":");
    text.push_str(r.record.as_str());
    text.push('}');
    Ok(text)
}

fn record_from(text: &str) -> Result<StoredRecord> {
    let row: RecordRow = serde_json::from_str(text)
        .map_err(|e| Error::StoreUnavailable(format!("stored record unreadable: {e}")))?;
    Ok(StoredRecord {
        chain: row.chain,
        seq: row.seq,
        time_ms: row.time_ms,
        kind: row.kind,
        gate: row.gate,
        agent_id: row.agent_id,
        decision: row.decision,
        evaluation_id: row.evaluation_id,
        record: row.record,
        event: None,
    })
}

impl RedisStore {
    /// Connects to `redis://[:password@]host:port/db[?prefix=pg&timeout_ms=5000&pool=16]`. The
    /// server must answer now: a dead server is `STORE_UNAVAILABLE`, and so is one whose
    /// `maxmemory-policy` is not `noeviction` (or cannot be read) unless the URL has
    /// `allow_eviction=1` (see the module docs, "Eviction").
    pub fn open(url: &str) -> Result<RedisStore> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut prefix = "pg".to_string();
        let mut timeout = Duration::from_millis(5000);
        let mut max_idle = 16;
        let mut allow_eviction = false;
        let mut passthrough = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let num = |v: &str| {
                v.parse::<u64>().map_err(|_| {
                    Error::InvalidArgument(format!("store URL: {k}={v} is not a number"))
                })
            };
            match k {
                "prefix" => {
                    if v.is_empty() || v.contains(['{', '}']) {
                        return Err(Error::InvalidArgument(format!(
                            "store URL: prefix {v:?} must be non-empty, without braces"
                        )));
                    }
                    prefix = v.to_string();
                }
                "timeout_ms" => timeout = Duration::from_millis(num(v)?.max(1)),
                "pool" => max_idle = usize::try_from(num(v)?).unwrap_or(16),
                "allow_eviction" => {
                    allow_eviction = match v {
                        "1" => true,
                        "0" => false,
                        _ => {
                            return Err(Error::InvalidArgument(format!(
                                "store URL: allow_eviction={v} (0 or 1)"
                            )))
                        }
                    }
                }
                _ => passthrough.push(pair),
            }
        }
        let conn_url = match passthrough.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", passthrough.join("&")),
        };
        let info = ::redis::IntoConnectionInfo::into_connection_info(conn_url.as_str())
            .map_err(|e| Error::InvalidArgument(format!("store URL: {e}")))?;
        // One request, one reply: never let Nagle's algorithm hold a request back.
        let info =
            info.set_tcp_settings(::redis::io::tcp::TcpSettings::default().set_nodelay(true));
        let client =
            Client::open(info).map_err(|e| Error::InvalidArgument(format!("store URL: {e}")))?;
        let info = client.get_connection_info();
        let addr = format!("{}/{}", info.addr(), info.redis_settings().db());
        let store = RedisStore {
            client,
            keys: Keys::new(&prefix),
            scripts: Scripts::new(),
            timeout,
            max_idle,
            idle: Mutex::new(Vec::new()),
            addr,
            visited: std::sync::atomic::AtomicU64::new(0),
        };
        store.ro(|c| ::redis::cmd("PING").query::<String>(c))?;
        store.check_eviction(allow_eviction)?;
        store.migrate_counter_index()?;
        Ok(store)
    }

    /// Refuses a server that may evict keys (see the module docs, "Eviction") unless the URL says
    /// `allow_eviction=1`.
    fn check_eviction(&self, allow: bool) -> Result<()> {
        let policy = self.eviction_policy()?;
        match policy.as_deref() {
            Some("noeviction") => Ok(()),
            _ if allow => Ok(()),
            Some(p) => Err(Error::StoreUnavailable(format!(
                "redis {}: maxmemory-policy is {p}: under memory pressure the server would evict \
                 passgate's keys (counters, holds, chain tails), silently reopening spent caps. \
                 Set `maxmemory-policy noeviction` on the server, or add ?allow_eviction=1 to the \
                 store URL to accept that risk",
                self.addr
            ))),
            None => Err(Error::StoreUnavailable(format!(
                "redis {}: cannot read the server's maxmemory-policy (CONFIG GET and INFO are \
                 refused, as on some managed Redis services); passgate needs \
                 `maxmemory-policy noeviction`. Make sure the server is configured so, then add \
                 ?allow_eviction=1 to the store URL to open it without this check",
                self.addr
            ))),
        }
    }

    /// The server's `maxmemory-policy`: from `CONFIG GET`, else from `INFO memory` (managed
    /// services often disable or rename `CONFIG`); `None` if neither answers.
    fn eviction_policy(&self) -> Result<Option<String>> {
        let mut conn = self.connect()?;
        let config: ::redis::RedisResult<Vec<String>> = ::redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query(&mut conn);
        match config {
            Ok(pair) => {
                if let Some(p) = pair.get(1) {
                    self.put(conn);
                    return Ok(Some(p.clone()));
                }
            }
            Err(e) if broken(&e) => return Err(self.unavailable(&e)),
            Err(_) => {}
        }
        let info: ::redis::RedisResult<String> =
            ::redis::cmd("INFO").arg("memory").query(&mut conn);
        match info {
            Ok(text) => {
                self.put(conn);
                Ok(text.lines().find_map(|l| {
                    l.strip_prefix("maxmemory_policy:")
                        .map(|p| p.trim().to_string())
                }))
            }
            Err(e) if broken(&e) => Err(self.unavailable(&e)),
            Err(_) => {
                self.put(conn);
                Ok(None)
            }
        }
    }

    /// Counter index entries read by listings and resets so far (a test probe: a walk filtered
    /// by namespace or scope reads only that index range).
    #[doc(hidden)]
    pub fn counters_visited(&self) -> u64 {
        self.visited.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The hash tag every key of this store starts with (`{pg}`).
    pub fn key_prefix(&self) -> &str {
        &self.keys.p
    }

    fn connect(&self) -> Result<Connection> {
        let conn = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| self.unavailable(&e))?;
        conn.set_read_timeout(Some(self.timeout))
            .and_then(|()| conn.set_write_timeout(Some(self.timeout)))
            .map_err(|e| self.unavailable(&e))?;
        Ok(conn)
    }

    fn unavailable(&self, e: &RedisError) -> Error {
        Error::StoreUnavailable(format!("redis {}: {e}", self.addr))
    }

    /// Runs `f` on a pooled connection; `retry`: once more on a fresh connection if the pooled one
    /// turned out dead (for reads only: a write may have been applied before its reply was lost).
    fn run<T>(
        &self,
        retry: bool,
        mut f: impl FnMut(&mut Connection) -> ::redis::RedisResult<T>,
    ) -> Result<T> {
        let pooled = self.idle.lock().pop();
        let was_pooled = pooled.is_some();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        match f(&mut conn) {
            Ok(v) => {
                self.put(conn);
                Ok(v)
            }
            Err(e) if broken(&e) => {
                // Probably a restarted or failed-over server: every idle connection is dead too.
                self.idle.lock().clear();
                if retry && was_pooled {
                    let mut fresh = self.connect()?;
                    let v = f(&mut fresh).map_err(|e| self.unavailable(&e))?;
                    self.put(fresh);
                    return Ok(v);
                }
                Err(self.unavailable(&e))
            }
            Err(e) => {
                self.put(conn);
                Err(self.unavailable(&e))
            }
        }
    }

    fn ro<T>(&self, f: impl FnMut(&mut Connection) -> ::redis::RedisResult<T>) -> Result<T> {
        self.run(true, f)
    }

    fn rw<T>(&self, f: impl FnMut(&mut Connection) -> ::redis::RedisResult<T>) -> Result<T> {
        self.run(false, f)
    }

    fn put(&self, conn: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < self.max_idle {
            idle.push(conn);
        }
    }
}

/// Whether the connection is unusable after `e` (as opposed to a command error).
fn broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_timeout() || e.is_unrecoverable_error()
}

/// An unexpected script reply.
fn bad_reply(script: &str, reply: &[String]) -> Error {
    Error::StoreUnavailable(format!("redis script {script}: unexpected reply {reply:?}"))
}

/// The reply `{'chain', last}`: this record does not follow its chain's stored tail.
fn chain_conflict(r: &StoredRecord, last: &str) -> Error {
    match last.parse::<u64>() {
        Ok(tail) => Error::ChainConflict {
            chain: r.chain.clone(),
            seq: r.seq,
            tail,
        },
        Err(_) => Error::StoreUnavailable(format!(
            "chain {}: record seq {} does not follow the stored tail {last:?}",
            r.chain, r.seq
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_round_trips_and_refuses_what_it_cannot_keep() {
        for s in [
            "0",
            "1",
            "-1",
            "0.1",
            "123.456",
            "0.000000000000000001",
            "-42.5",
            "79228162514264337593543950335",
        ] {
            let d: Decimal = s.parse().unwrap();
            assert_eq!(unscaled(&scaled(d).unwrap()).unwrap(), d, "{s}");
        }
        assert_eq!(
            scaled("1.5".parse().unwrap()).unwrap(),
            "1500000000000000000"
        );
        assert_eq!(
            scaled("0.10".parse().unwrap()).unwrap(),
            "100000000000000000"
        );
        let fine: Decimal = "0.0000000000000000001".parse().unwrap();
        assert_eq!(scaled(fine).unwrap_err().code(), "PAYLOAD_INVALID");
        let huge = format!("{}{}", "9".repeat(40), "0".repeat(18));
        assert_eq!(unscaled(&huge).unwrap_err().code(), "PAYLOAD_INVALID");
    }
}
