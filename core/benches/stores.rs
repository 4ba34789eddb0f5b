//! Decisions per second on each store — memory, SQLite (WAL, `synchronous=NORMAL` and `FULL`),
//! Redis — with one thread and eight, next to each backend's floor measured in the same run:
//! a bare SQLite `BEGIN IMMEDIATE; UPDATE; COMMIT`, an `EVALSHA` of a trivial script (from this
//! client, and from `redis-benchmark`). Starts its own `redis-server` on a free loopback port.
//!
//! `cargo bench -p passgate --bench stores` (`make bench-stores`); `PASSGATE_BENCH_SECS` sets the
//! time per measurement (default 2).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a bench may stop on a broken setup

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use passgate::store::Store;
use passgate::{Engine, Issuer, PassportRequest, Request};
use serde_json::json;

fn secs() -> Duration {
    // `cargo test --all-targets` runs benches without `--bench`: a quick smoke run then.
    if !std::env::args().any(|a| a == "--bench") {
        return Duration::from_millis(20);
    }
    let s = std::env::var("PASSGATE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(s)
}

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server(dir: &std::path::Path) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .args(["--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server (apt-get install redis-server)");
    let server = Server(child, port);
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    for _ in 0..500 {
        if client.get_connection().is_ok() {
            return server;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server did not start");
}

/// Runs `f(thread)` on `threads` threads for the measurement time; returns calls per second.
fn rate<'a>(threads: usize, f: impl Fn(usize) -> Box<dyn FnMut() + Send + 'a> + Sync) -> f64 {
    let d = secs();
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mut call = f(t);
                s.spawn(move || {
                    for _ in 0..50 {
                        call(); // warm up
                    }
                    let (start, mut n) = (Instant::now(), 0u64);
                    while start.elapsed() < d {
                        call();
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    counts.iter().sum::<u64>() as f64 / d.as_secs_f64()
}

fn policy() -> serde_json::Value {
    json!({"version": 1, "gates": {"payments.transfer": {"require": ["pay"], "constraints": [
        {"id": "per-call", "type": "max_value", "field": "/amount", "max": 500},
        {"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]},
        {"id": "burst", "type": "rate_limit", "max": 1_000_000_000, "window": "1m"},
        {"id": "daily", "type": "spend_limit", "field": "/amount", "max": "1000000000000", "window": "1d"}
    ]}}})
}

struct Setup {
    issuer: Issuer,
    token: String,
}

fn engine(store: Arc<dyn Store>, s: &Setup) -> Engine {
    Engine::builder()
        .policy_value(policy())
        .trusted_issuer(s.issuer.did())
        .store(store)
        .build()
        .unwrap()
}

fn decide(engine: &Engine, token: &str) {
    let req = Request::new(
        "payments.transfer",
        json!({"amount": "12.34", "currency": "USD", "to": "acct_9f2k"}),
    )
    .passport(token);
    assert!(engine.enforce(&req).unwrap().allowed);
}

/// The store alone, one thread: (reads of 2 counters, commits of 2 counters + a 2 KB record) per
/// second.
fn store_ops(url: &str) -> [f64; 2] {
    use passgate::store::{Commit, CounterKey, CounterOp, StoredRecord, WindowKind};
    let store = passgate::store::open(url).unwrap();
    let op = |c: &str, w| CounterOp {
        key: CounterKey {
            namespace: "gate:g".into(),
            constraint: c.into(),
            scope: "agent:a".into(),
        },
        window: w,
        amount: "12.34".parse().unwrap(),
        need: "12.34".parse().unwrap(),
        max: "1000000000000".parse().unwrap(),
    };
    let ops = [
        op(
            "daily",
            WindowKind::Fixed {
                size_ms: 86_400_000,
            },
        ),
        op("burst", WindowKind::Fixed { size_ms: 60_000 }),
    ];
    let now = passgate::clock::Clock::now_ms(&passgate::clock::SystemClock);
    let reads = rate(1, |_| {
        let (store, ops) = (store.clone(), ops.clone());
        Box::new(move || {
            store.read(&ops, now).unwrap();
        })
    });
    let body = json!({"body": {"checks": "x".repeat(2000)}, "hash": "sha256:0"});
    let commits = rate(1, |t| {
        let (store, ops, body) = (store.clone(), ops.clone(), body.clone());
        let mut seq = 0;
        Box::new(move || {
            seq += 1;
            let record = StoredRecord {
                chain: format!("chn_bench_{t}_{now}"),
                seq,
                time_ms: now,
                kind: "decision".into(),
                gate: Some("g".into()),
                agent_id: Some("a".into()),
                decision: Some("allow".into()),
                evaluation_id: Some(format!("evl_{seq}")),
                record: body.clone().into(),
                event: None,
            };
            let c = Commit {
                now_ms: now,
                counters: &ops,
                enforce_bounds: true,
                record: &record,
                idempotency: None,
                hold: None,
                approval_request: None,
                use_approval: None,
                nonce: None,
                guard: None,
                expect_usage: None,
            };
            store.commit(&c).unwrap();
        })
    });
    [reads, commits]
}

/// (1 thread, 8 threads sharing one engine, 8 threads with an engine each) decisions per second.
fn decisions(url: &str, s: &Setup) -> [f64; 3] {
    let store = passgate::store::open(url).unwrap();
    let one = engine(store.clone(), s);
    let single = rate(1, |_| {
        let (e, t) = (&one, s.token.clone());
        Box::new(move || decide(e, &t))
    });
    let shared = Arc::new(engine(store.clone(), s));
    let eight_shared = rate(8, |_| {
        let (e, t) = (shared.clone(), s.token.clone());
        Box::new(move || decide(&e, &t))
    });
    let eight_own = rate(8, |_| {
        let (e, t) = (engine(store.clone(), s), s.token.clone());
        Box::new(move || decide(&e, &t))
    });
    [single, eight_shared, eight_own]
}

static BUSY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn sqlite_floor(path: &str, full: bool, threads: usize) -> f64 {
    let init = rusqlite::Connection::open(path).unwrap();
    init.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT); INSERT OR IGNORE INTO t VALUES (1, '0');").unwrap();
    rate(threads, |_| {
        let mut c = rusqlite::Connection::open(path).unwrap();
        c.busy_timeout(Duration::from_secs(5)).unwrap();
        c.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })
            .unwrap();
        let mut n = 0u64;
        Box::new(move || {
            n += 1;
            // Threads of one process contend in SQLite's busy handler here (the store queues
            // them on a mutex instead): a wait past the timeout is counted, not fatal.
            let run = |c: &mut rusqlite::Connection| -> rusqlite::Result<()> {
                let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                tx.execute("UPDATE t SET v = ?1 WHERE id = 1", [n.to_string()])?;
                tx.commit()
            };
            if run(&mut c).is_err() {
                BUSY.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    })
}

fn redis_floor(port: u16, threads: usize) -> f64 {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return 1")
        .query(&mut client.get_connection().unwrap())
        .unwrap();
    rate(threads, |_| {
        let mut c = client.get_connection().unwrap();
        let sha = sha.clone();
        Box::new(move || {
            let _: i64 = redis::cmd("EVALSHA")
                .arg(&sha)
                .arg(0)
                .query(&mut c)
                .unwrap();
        })
    })
}

/// Commands the server ran per decision of one warm engine (`INFO commandstats`, reset after
/// the warm-up): the round trips a decision costs, by command (and as a JSON map).
fn redis_round_trips(port: u16, s: &Setup) -> (f64, String, serde_json::Value) {
    const N: u32 = 500;
    let url = format!("redis://127.0.0.1:{port}/1");
    let e = engine(passgate::store::open(&url).unwrap(), s);
    for _ in 0..50 {
        decide(&e, &s.token);
    }
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut c = client.get_connection().unwrap();
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    for _ in 0..N {
        decide(&e, &s.token);
    }
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    // "cmdstat_evalsha:calls=1000,usec=...": the INFO call itself is not counted yet.
    let mut total = 0u64;
    let mut by: Vec<String> = Vec::new();
    let mut map = serde_json::Map::new();
    for line in info.lines().filter_map(|l| l.strip_prefix("cmdstat_")) {
        let (name, rest) = line.split_once(':').unwrap_or((line, ""));
        let calls: u64 = rest
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if name.starts_with("config") || calls == 0 {
            continue;
        }
        total += calls;
        by.push(format!("{name} {:.2}", calls as f64 / f64::from(N)));
        map.insert(name.to_string(), json!(calls as f64 / f64::from(N)));
    }
    (total as f64 / f64::from(N), by.join(", "), map.into())
}

fn redis_benchmark(port: u16, clients: usize) -> Option<f64> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return 1")
        .query(&mut client.get_connection().unwrap())
        .unwrap();
    let out = Command::new("redis-benchmark")
        .args([
            "-p",
            &port.to_string(),
            "-c",
            &clients.to_string(),
            "-n",
            "100000",
            "-q",
            "EVALSHA",
            &sha,
            "0",
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "EVALSHA ...: 81234.57 requests per second, p50=..."
    let tail = text
        .rsplit(':')
        .find(|p| p.contains("requests per second"))?;
    tail.split_whitespace().next()?.parse().ok()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // a test runner asking for a list: nothing to list
    }
    let dir = tempfile::tempdir().unwrap();
    let issuer = Issuer::generate().unwrap();
    let token = issuer
        .issue_passport(&PassportRequest::new("agent-1", ["pay"]))
        .unwrap()
        .token;
    let s = Setup { issuer, token };
    let server = redis_server(dir.path());
    let db = |name: &str| format!("{}/{name}.db", dir.path().display());
    println!(
        "decisions per second ({:?} per measurement; 2-core machine)",
        secs()
    );
    println!(
        "{:<34} {:>10} {:>16} {:>16}",
        "store", "1 thread", "8 thr, 1 engine", "8 thr, 8 engines"
    );
    let row = |name: &str, r: [f64; 3]| {
        println!("{name:<34} {:>10.0} {:>16.0} {:>16.0}", r[0], r[1], r[2])
    };
    // `PASSGATE_BENCH_ONLY=redis` (a substring of the row name) runs only the matching rows.
    let only = std::env::var("PASSGATE_BENCH_ONLY").unwrap_or_default();
    let stores = [
        ("memory:", "memory:".to_string()),
        (
            "sqlite (synchronous=NORMAL)",
            format!("sqlite://{}", db("normal")),
        ),
        (
            "sqlite (durability=full)",
            format!("sqlite://{}?durability=full", db("full")),
        ),
        (
            "redis (loopback)",
            format!("redis://127.0.0.1:{}/0", server.1),
        ),
    ];
    // `make bench` reads the numbers from `$PASSGATE_BENCH_OUT/stores.json` (full runs only).
    let mut out = serde_json::Map::new();
    let mut rows = serde_json::Map::new();
    for (name, url) in stores.iter().filter(|(n, _)| n.contains(only.as_str())) {
        let r = decisions(url, &s);
        row(name, r);
        rows.insert(name.to_string(), json!(r));
    }
    out.insert("decisions".into(), rows.into());
    println!();
    println!("the store alone, 1 thread (operations per second)");
    println!("{:<34} {:>10} {:>10}", "store", "read", "commit");
    for (name, url) in stores.iter().filter(|(n, _)| n.contains(only.as_str())) {
        let [r, c] = store_ops(url);
        println!("{name:<34} {r:>10.0} {c:>10.0}");
    }
    if "redis (loopback)".contains(only.as_str()) {
        let (per, by, map) = redis_round_trips(server.1, &s);
        out.insert("redis_commands_per_decision".into(), json!(per));
        out.insert("redis_commands_by_name".into(), map);
        println!();
        // INFO commandstats counts the commands a script runs as well as the client's: the
        // round trips are the client's top-level commands (EVALSHA here), the rest ran inside
        // the script on the server.
        println!(
            "redis commands per decision (1 warm engine; INFO commandstats, which also counts \
             the commands run inside a script): {per:.2} ({by})"
        );
    }
    if !only.is_empty() {
        return;
    }
    println!();
    println!("floors (operations per second)");
    println!("{:<52} {:>10} {:>10}", "", "1 thread", "8 threads");
    let mut floors = serde_json::Map::new();
    let mut floor = |name: &str, a: f64, b: f64| {
        println!("{name:<52} {a:>10.0} {b:>10.0}");
        floors.insert(name.to_string(), json!([a, b]));
    };
    floor(
        "sqlite BEGIN IMMEDIATE; UPDATE; COMMIT (NORMAL)",
        sqlite_floor(&db("floor"), false, 1),
        sqlite_floor(&db("floor"), false, 8),
    );
    floor(
        "sqlite BEGIN IMMEDIATE; UPDATE; COMMIT (FULL)",
        sqlite_floor(&db("floor_full"), true, 1),
        sqlite_floor(&db("floor_full"), true, 8),
    );
    let busy = BUSY.load(std::sync::atomic::Ordering::Relaxed);
    println!("  (sqlite floors, 8 threads on 8 connections: {busy} transactions timed out in the busy handler)");
    floor(
        "redis EVALSHA 'return 1' (this client)",
        redis_floor(server.1, 1),
        redis_floor(server.1, 8),
    );
    match (redis_benchmark(server.1, 1), redis_benchmark(server.1, 8)) {
        (Some(a), Some(b)) => floor("redis-benchmark EVALSHA 'return 1' (-c 1 / -c 8)", a, b),
        _ => println!("redis-benchmark not available"),
    }
    out.insert("floors".into(), floors.into());
    out.insert("secs_per_measurement".into(), json!(secs().as_secs_f64()));
    if let Ok(dir) = std::env::var("PASSGATE_BENCH_OUT") {
        let path = std::path::Path::new(&dir).join("stores.json");
        std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
        println!("wrote {}", path.display());
    }
}
