//! The server-side Lua scripts and how they are called: `EVALSHA`, and on `NOSCRIPT` (a `SCRIPT
//! FLUSH`, a restart, a failover to a replica that never saw the script) `SCRIPT LOAD` and again,
//! falling back to `EVAL` with the source if the cache is flushed once more in between.
//!
//! Every script is `lua/lib.lua` (exact decimal arithmetic, counter windows, chain append)
//! followed by its own file. Arguments are pushed in the order the script reads them (`arg()` /
//! `key()` cursors in `lib.lua`); [`Call`] builds them.

use ::redis::{Connection, ErrorKind, RedisResult, ServerErrorKind};
use rust_decimal::Decimal;

use super::{scaled, Keys, GRACE_MS};
use crate::error::Result;
use crate::store::{CounterOp, StoredRecord, WindowKind, MAX_SLIDING_LOG};

const LIB: &str = include_str!("lua/lib.lua");

/// One script: its source (library included) and SHA-1.
#[derive(Debug)]
pub struct Script {
    pub name: &'static str,
    src: String,
    sha: String,
}

impl Script {
    fn new(name: &'static str, body: &str) -> Script {
        // The one sliding-log bound of every store, from its Rust constant.
        let src = format!("local MAX_SLIDING_LOG = {MAX_SLIDING_LOG}\n{LIB}\n{body}");
        let sha = ::redis::Script::new(&src).get_hash().to_string();
        Script { name, src, sha }
    }
}

/// Every script passgate runs.
#[derive(Debug)]
pub struct Scripts {
    pub reserve: Script,
    pub hold: Script,
    pub approval: Script,
    pub append: Script,
    pub read: Script,
    pub counter_page: Script,
    pub counter_delete: Script,
    pub prune: Script,
    pub apikey: Script,
    pub policy: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            reserve: Script::new("reserve", include_str!("lua/reserve.lua")),
            hold: Script::new("hold", include_str!("lua/hold.lua")),
            approval: Script::new("approval", include_str!("lua/approval.lua")),
            append: Script::new("append", include_str!("lua/append.lua")),
            read: Script::new("read", include_str!("lua/read.lua")),
            counter_page: Script::new("ctrpage", include_str!("lua/ctrpage.lua")),
            counter_delete: Script::new("ctrdel", include_str!("lua/ctrdel.lua")),
            prune: Script::new("prune", include_str!("lua/prune.lua")),
            apikey: Script::new("apikey", include_str!("lua/apikey.lua")),
            policy: Script::new("policy", include_str!("lua/policy.lua")),
        }
    }
}

fn no_script(e: &::redis::RedisError) -> bool {
    e.kind() == ErrorKind::Server(ServerErrorKind::NoScript)
}

/// Runs `script` with `call`'s keys and arguments; returns the script's reply (a list of strings).
pub fn eval(conn: &mut Connection, script: &Script, call: &Call) -> RedisResult<Vec<String>> {
    let run = |conn: &mut Connection, verb: &str, what: &str| {
        ::redis::cmd(verb)
            .arg(what)
            .arg(call.keys.len())
            .arg(&call.keys)
            .arg(&call.args)
            .query::<Vec<String>>(conn)
    };
    match run(conn, "EVALSHA", &script.sha) {
        Err(e) if no_script(&e) => {
            let _: String = ::redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(&script.src)
                .query(conn)?;
            match run(conn, "EVALSHA", &script.sha) {
                Err(e) if no_script(&e) => run(conn, "EVAL", &script.src),
                other => other,
            }
        }
        other => other,
    }
}

/// A script call's keys and arguments, in the order the script reads them.
#[derive(Debug, Default)]
pub struct Call {
    pub keys: Vec<String>,
    pub args: Vec<String>,
}

impl Call {
    pub fn key(&mut self, k: String) -> &mut Self {
        self.keys.push(k);
        self
    }

    pub fn arg(&mut self, a: impl ToString) -> &mut Self {
        self.args.push(a.to_string());
        self
    }

    /// One counter op (`read_op` in `lib.lua`). `hold_expires_ms` keeps the counter alive until a
    /// hold on it can no longer be resolved.
    pub fn op(
        &mut self,
        keys: &Keys,
        op: &CounterOp,
        amount: Decimal,
        now_ms: i64,
        hold_expires_ms: Option<i64>,
    ) -> Result<&mut Self> {
        let id = keys.counter_id(op);
        let (kind, cur_start, from, ttl) = match op.window {
            WindowKind::Forever => ("F", String::new(), String::new(), 0),
            WindowKind::Fixed { size_ms } => {
                let start = op.window.fixed_start(now_ms).unwrap_or(now_ms);
                let end = start.saturating_add(size_ms);
                (
                    "X",
                    start.to_string(),
                    String::new(),
                    end.saturating_sub(now_ms),
                )
            }
            WindowKind::Sliding { size_ms } => (
                "S",
                String::new(),
                now_ms.saturating_sub(size_ms).to_string(),
                size_ms,
            ),
            // A calendar window is a fixed window ('X') to the scripts: its bounds are computed
            // here, as a fixed window's are.
            WindowKind::Calendar { .. } => {
                op.window.check_time(now_ms)?;
                let (start, end) = op.window.bounds(now_ms).unwrap_or((now_ms, now_ms));
                (
                    "X",
                    start.to_string(),
                    String::new(),
                    end.saturating_sub(now_ms),
                )
            }
        };
        let ttl = match (ttl, hold_expires_ms) {
            (0, _) => 0,
            (t, Some(h)) => t.max(h.saturating_sub(now_ms)).saturating_add(GRACE_MS),
            (t, None) => t.saturating_add(GRACE_MS),
        };
        self.key(keys.counter(&id)).key(keys.log(&id));
        self.arg(kind)
            .arg(scaled(amount)?)
            .arg(scaled(op.need)?)
            .arg(scaled(op.max)?)
            .arg(cur_start)
            .arg(from)
            .arg(ttl);
        Ok(self)
    }

    /// The counter's identity, stored with it on creation (`reserve.lua`), and its members in
    /// the counter indexes (`counter_index.rs`), added on creation. A calendar window's `size`
    /// is its [`calendar_id`](crate::calendar::calendar_id).
    pub fn op_identity(&mut self, op: &CounterOp) -> &mut Self {
        let size = match op.window {
            WindowKind::Forever => 0,
            WindowKind::Fixed { size_ms } | WindowKind::Sliding { size_ms } => size_ms,
            WindowKind::Calendar { unit, tz } => crate::calendar::calendar_id(unit, tz),
        };
        self.arg(&op.key.namespace)
            .arg(&op.key.constraint)
            .arg(&op.key.scope)
            .arg(size)
            .arg(super::counter_index::ns_member(&op.key, op.window))
            .arg(super::counter_index::scope_member(&op.key, op.window))
    }

    /// A record to append (`read_record` in `lib.lua`) with the index keys it is filed under.
    pub fn record(&mut self, keys: &Keys, r: &StoredRecord) -> Result<&mut Self> {
        let json = super::record_json(r)?;
        let index = keys.record_index(r);
        self.arg(&r.chain).arg(r.seq).arg(json).arg(index.len());
        for k in index {
            self.key(k);
        }
        // Its decision event, written by `append` in the same script (`events.rs`).
        match &r.event {
            Some(e) => {
                self.arg(&e.id).arg(&e.kind).arg(&e.json);
                self.key(keys.event(&e.id))
                    .key(keys.k("evq"))
                    .key(keys.k("evseq"));
            }
            None => {
                self.arg("").arg("").arg("");
            }
        }
        Ok(self)
    }
}
