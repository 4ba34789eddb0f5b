//! Failures are errors, never allows: dead servers, locked databases, schemas from the future,
//! amounts a backend cannot keep exactly, malformed URLs.

use std::time::Duration;

use passgate::store::{self, SqliteStore};
use passgate::Request;
use serde_json::json;

use crate::engine_suite::engine;
use crate::support::RedisServer;

fn code<T: std::fmt::Debug>(r: passgate::Result<T>) -> &'static str {
    r.unwrap_err().code()
}

#[test]
fn store_urls() {
    assert!(store::open("memory:").is_ok());
    assert_eq!(code(store::open("ftp://x")), "INVALID_ARGUMENT");
    assert_eq!(code(store::open("sqlite://")), "INVALID_ARGUMENT");
    assert_eq!(
        code(store::open("sqlite:///tmp/x.db?durability=maybe")),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(store::open("redis://127.0.0.1:1/0?prefix={x}")),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(store::open("redis://127.0.0.1:1/0?timeout_ms=soon")),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(store::open("redis://127.0.0.1:1/0?allow_eviction=yes")),
        "INVALID_ARGUMENT"
    );
    let dir = tempfile::tempdir().unwrap();
    for url in [
        format!("sqlite://{}/a.db", dir.path().display()),
        format!(
            "sqlite:{}/b.db?durability=full&busy_timeout_ms=100",
            dir.path().display()
        ),
    ] {
        assert!(store::open(&url).is_ok(), "{url}");
    }
    assert_eq!(
        code(store::open(&format!(
            "sqlite://{}/no/such/dir/c.db",
            dir.path().display()
        ))),
        "STORE_UNAVAILABLE"
    );
}

#[test]
fn a_dead_redis_is_unavailable_never_an_allow() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_eq!(
        code(store::open(&format!(
            "redis://127.0.0.1:{port}/0?timeout_ms=200"
        ))),
        "STORE_UNAVAILABLE"
    );
    // A server that dies under a running engine.
    let mut server = RedisServer::start();
    let f = engine(store::open(&server.url("dead")).unwrap());
    let pay = Request::new("pay", json!({"amount": 1})).passport(&f.token);
    assert!(f.engine.enforce(&pay).unwrap().allowed);
    server.kill();
    for _ in 0..3 {
        assert_eq!(code(f.engine.enforce(&pay)), "STORE_UNAVAILABLE");
    }
    assert_eq!(
        code(f.engine.attestations(&Default::default())),
        "STORE_UNAVAILABLE"
    );
}

#[test]
fn a_locked_sqlite_database_is_unavailable_after_the_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/locked.db", dir.path().display());
    let f = engine(store::open(&format!("sqlite://{path}?busy_timeout_ms=150")).unwrap());
    let pay = Request::new("pay", json!({"amount": 1})).passport(&f.token);
    assert!(f.engine.enforce(&pay).unwrap().allowed);
    // Another process holds the write lock.
    let mut other = rusqlite::Connection::open(&path).unwrap();
    let tx = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let started = std::time::Instant::now();
    let e = f.engine.enforce(&pay).unwrap_err();
    assert_eq!(e.code(), "STORE_UNAVAILABLE");
    assert!(e.to_string().contains("locked"), "{e}");
    assert!(started.elapsed() >= Duration::from_millis(140));
    drop(tx);
    assert!(f.engine.enforce(&pay).unwrap().allowed, "and it recovers");
    let recs = f.engine.attestations(&Default::default()).unwrap();
    passgate::attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
    assert_eq!(recs.len(), 2);
}

/// Another SQLite library in this process (Python's `sqlite3` next to passgate's bundled copy)
/// does not see passgate's locks, nor passgate its: its commit would overwrite passgate's. Its
/// write lock is a POSIX lock of this process on the `-shm` write byte, simulated here with
/// `fcntl(F_SETLK)` (what any SQLite copy does). While it is held, no decision is answered
/// (nothing admitted, nothing written); once released, passgate works and the chain is whole.
#[cfg(target_os = "linux")]
#[test]
fn a_foreign_sqlite_writer_in_this_process_never_loses_an_allow() {
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/foreign.db", dir.path().display());
    let f = engine(store::open(&format!("sqlite://{path}?busy_timeout_ms=100")).unwrap());
    let pay = Request::new("pay", json!({"amount": 1})).passport(&f.token);
    assert!(f.engine.enforce(&pay).unwrap().allowed);
    let shm = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("{path}-shm"))
        .unwrap();
    let lock = |ty: libc::c_int| {
        let l = libc::flock {
            l_type: ty as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: 120,
            l_len: 1,
            l_pid: 0,
        };
        fcntl(&shm, FcntlArg::F_SETLK(&l)).unwrap();
    };
    lock(libc::F_WRLCK);
    for _ in 0..5 {
        let e = f.engine.enforce(&pay).unwrap_err();
        assert_eq!(e.code(), "STORE_UNAVAILABLE");
        assert!(e.to_string().contains("another SQLite library"), "{e}");
    }
    lock(libc::F_UNLCK);
    // Closing any descriptor of the file would drop every POSIX lock this process holds on it,
    // SQLite's included: the test keeps it open, as passgate's probe does.
    std::mem::forget(shm);
    assert!(f.engine.enforce(&pay).unwrap().allowed, "and it recovers");
    let recs = f.engine.attestations(&Default::default()).unwrap();
    passgate::attestation::verify_chain(&recs, f.engine.signer_did()).unwrap();
    let decisions = recs
        .iter()
        .filter(|r| r["body"]["kind"] == "decision")
        .count();
    assert_eq!(decisions, 2, "only the two answered decisions were written");
}

/// Two stores of one process on one file share its in-process write lock: neither mistakes the
/// other's write lock for a foreign writer's, and both chains are whole.
#[test]
fn two_stores_of_one_process_share_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/shared.db", dir.path().display());
    let a = engine(store::open(&url).unwrap());
    let b = engine(store::open(&url).unwrap());
    std::thread::scope(|s| {
        for f in [&a, &b] {
            s.spawn(move || {
                let pay = Request::new("pay", json!({"amount": 1})).passport(&f.token);
                for _ in 0..50 {
                    f.engine.enforce(&pay).unwrap();
                }
            });
        }
    });
    for f in [&a, &b] {
        let head = f.engine.chain_head().unwrap();
        let mine = f
            .engine
            .attestations(&passgate::AttestationFilter {
                chain: head["body"]["chain"].as_str().map(str::to_string),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(mine.len(), 50);
        passgate::attestation::verify_chain(&mine, f.engine.signer_did()).unwrap();
    }
}

#[test]
fn a_newer_sqlite_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!("{}/future.db", dir.path().display());
    SqliteStore::open(&format!("sqlite://{path}")).unwrap();
    let c = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, passgate::store::sqlite::SCHEMA_VERSION);
    c.pragma_update(None, "user_version", v + 1).unwrap();
    let e = SqliteStore::open(&format!("sqlite://{path}")).unwrap_err();
    assert_eq!(e.code(), "STORE_UNAVAILABLE");
    assert!(e.to_string().contains("newer passgate"), "{e}");
}

#[test]
fn redis_refuses_what_it_cannot_keep_exactly() {
    let server = RedisServer::start();
    let f = engine(store::open(&server.url("exact")).unwrap());
    let pay = |a: &str| Request::new("pay", json!({"amount": a})).passport(&f.token);
    assert!(
        f.engine
            .enforce(&pay("0.000000000000000001"))
            .unwrap()
            .allowed
    );
    assert_eq!(
        code(f.engine.enforce(&pay("0.0000000000000000001"))),
        "PAYLOAD_INVALID"
    );
    // The memory and SQLite stores keep it.
    let dir = tempfile::tempdir().unwrap();
    let g = engine(store::open(&format!("sqlite://{}/x.db", dir.path().display())).unwrap());
    let pay = Request::new("pay", json!({"amount": "0.0000000000000000001"})).passport(&g.token);
    assert!(g.engine.enforce(&pay).unwrap().allowed);
}
