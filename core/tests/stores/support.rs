//! Test support: a private `redis-server` per test, store factories, record and op builders.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passgate::store::{
    CounterKey, CounterOp, MemoryStore, RedisStore, SqliteStore, Store, StoredRecord, WindowKind,
};
use rust_decimal::Decimal;
use serde_json::json;

pub const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
pub const DAY: i64 = 86_400_000;

/// A `redis-server` of this test's own on a free loopback port, in a temporary directory; killed
/// when dropped. `persistent` servers keep an append-only file (fsync on every write), so they
/// can be killed and restarted without losing acknowledged writes.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    /// Further `redis-server` arguments (after ours: a later setting wins).
    extra: Vec<String>,
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    l.local_addr().unwrap().port()
}

impl RedisServer {
    pub fn start() -> RedisServer {
        Self::launch(false)
    }

    pub fn start_persistent() -> RedisServer {
        Self::launch(true)
    }

    /// A non-persistent server with further arguments (`--maxmemory-policy allkeys-lru`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            persistent: false,
            extra: extra.iter().map(|a| a.to_string()).collect(),
        };
        server.spawn();
        server
    }

    fn launch(persistent: bool) -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let mut server = RedisServer {
            child: None,
            port: free_port(),
            dir,
            persistent,
            extra: Vec::new(),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--dir", self.dir.path().to_str().unwrap()])
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            // Redis's default, stated: the store refuses a server that may evict its keys.
            .args(["--maxmemory-policy", "noeviction"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if self.persistent {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.args(&self.extra);
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "these tests need their own redis-server and could not start one ({e}). \
                 Install it: `apt-get install -y redis-server` (`make test` and .ci/run do this)."
            )
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server on port {} did not answer PING within 10 s",
            self.port
        );
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    /// The URL of this server with its own key prefix.
    pub fn url(&self, prefix: &str) -> String {
        format!(
            "redis://127.0.0.1:{}/0?prefix={prefix}&timeout_ms=2000",
            self.port
        )
    }

    /// Kills the server with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// A raw command's reply, converted (for inspection: `KEYS`, `PEXPIRETIME`, `CONFIG GET`).
    pub fn query<T: redis::FromRedisValue>(&self, args: &[&str]) -> T {
        redis::from_redis_value(self.cmd(args)).unwrap()
    }

    /// A raw command (for SCRIPT FLUSH, inspection).
    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(format!("redis://127.0.0.1:{}/0", self.port)).unwrap();
        let mut c = client.get_connection().unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c).unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Something that must outlive a store (a server, a directory).
pub type Guard = Box<dyn std::any::Any>;

pub fn memory() -> (Arc<dyn Store>, Guard) {
    (Arc::new(MemoryStore::new()), Box::new(()))
}

pub fn sqlite() -> (Arc<dyn Store>, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/pg.db", dir.path().display());
    (Arc::new(SqliteStore::open(&url).unwrap()), Box::new(dir))
}

pub fn redis() -> (Arc<dyn Store>, Guard) {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url("t")).unwrap();
    (Arc::new(store), Box::new(server))
}

pub fn key(ns: &str, constraint: &str) -> CounterKey {
    CounterKey {
        namespace: ns.into(),
        constraint: constraint.into(),
        scope: "agent:a".into(),
    }
}

pub fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

pub fn op(constraint: &str, window: WindowKind, amount: &str, max: &str) -> CounterOp {
    CounterOp {
        key: key("gate:g", constraint),
        window,
        amount: d(amount),
        need: d(amount),
        max: d(max),
    }
}

pub fn fixed(size_ms: i64) -> WindowKind {
    WindowKind::Fixed { size_ms }
}

pub fn sliding(size_ms: i64) -> WindowKind {
    WindowKind::Sliding { size_ms }
}

/// Writes records of one chain with consecutive `seq`s.
pub struct Chain {
    pub id: String,
    next: AtomicUsize,
}

impl Chain {
    pub fn new(id: &str) -> Chain {
        Chain {
            id: id.into(),
            next: AtomicUsize::new(1),
        }
    }

    /// The next record, of kind `decision` at `time_ms`.
    pub fn record(
        &self,
        time_ms: i64,
        gate: Option<&str>,
        agent: Option<&str>,
        decision: &str,
    ) -> StoredRecord {
        let seq = self.next.fetch_add(1, Ordering::SeqCst) as u64;
        StoredRecord {
            chain: self.id.clone(),
            seq,
            time_ms,
            kind: "decision".into(),
            gate: gate.map(Into::into),
            agent_id: agent.map(Into::into),
            decision: Some(decision.into()),
            evaluation_id: Some(format!("evl_{}_{seq}", self.id)),
            record: json!({"body": {"chain": self.id, "seq": seq, "amount": "0.1", "n": 12345678901234567890u64}, "hash": format!("sha256:{seq}")}).into(),
            event: None,
        }
    }

    /// An event record of `kind`.
    pub fn event(&self, time_ms: i64, kind: &str) -> StoredRecord {
        let mut r = self.record(time_ms, None, None, "x");
        r.kind = kind.into();
        r.decision = None;
        r.evaluation_id = None;
        r
    }

    /// Forgets the last `seq` handed out (its write was refused).
    pub fn unwind(&self) {
        self.next.fetch_sub(1, Ordering::SeqCst);
    }
}
