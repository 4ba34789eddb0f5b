//! Worker processes: this test binary run again with `PASSGATE_STORE_WORKER` set to a JSON spec
//! (see `worker_process` in `main.rs`). Workers print `PGW <json>` lines on stdout.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::store::Store;
use passgate::{Engine, Issuer, PassportRequest, Request};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::T0;

/// The fixed time every spend worker decides at (mid-day: no window boundary is near).
pub const NOW: i64 = T0 + 12 * 3600 * 1000;
pub const ENV: &str = "PASSGATE_STORE_WORKER";

pub fn spend_policy(cap: &str) -> Value {
    json!({"version": 1, "gates": {"spend": {"require": ["pay"], "constraints": [
        {"id": "cap", "type": "spend_limit", "field": "/amount", "max": cap, "window": "1d", "scope": "gate"},
        {"id": "calls", "type": "rate_limit", "max": 100_000_000, "window": {"size": "1h", "kind": "sliding"}, "scope": "gate"}
    ]}}})
}

pub fn engine_on(store: Arc<dyn Store>, issuer_did: &str, cap: &str) -> Engine {
    Engine::builder()
        .policy_value(spend_policy(cap))
        .trusted_issuer(issuer_did)
        .clock(Arc::new(ManualClock::new(NOW)))
        .store(store)
        .build()
        .unwrap()
}

/// A small deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// 0.01 ..= 100.00, in cents.
    pub fn amount(&mut self) -> Decimal {
        Decimal::new((self.next() % 10_000 + 1) as i64, 2)
    }
}

/// What one worker (all its threads) saw.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub admitted: Decimal,
    pub allowed: u64,
    pub denied: u64,
    pub errors: u64,
    pub max_amount: Decimal,
    pub samples: Vec<String>,
}

impl Tally {
    pub fn add(&mut self, o: &Tally) {
        self.admitted += o.admitted;
        self.allowed += o.allowed;
        self.denied += o.denied;
        self.errors += o.errors;
        self.max_amount = self.max_amount.max(o.max_amount);
        self.samples.extend(o.samples.iter().take(3).cloned());
    }
    pub fn to_json(&self) -> Value {
        json!({"admitted": self.admitted.to_string(), "allowed": self.allowed, "denied": self.denied,
               "errors": self.errors, "max_amount": self.max_amount.to_string(), "samples": self.samples})
    }
    pub fn from_json(v: &Value) -> Tally {
        Tally {
            admitted: v["admitted"].as_str().unwrap().parse().unwrap(),
            allowed: v["allowed"].as_u64().unwrap(),
            denied: v["denied"].as_u64().unwrap(),
            errors: v["errors"].as_u64().unwrap(),
            max_amount: v["max_amount"].as_str().unwrap().parse().unwrap(),
            samples: v["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect(),
        }
    }
}

/// `threads` threads, each with its own engine (its own chain) on `store`, each making `calls`
/// requests of random amounts against the shared cap.
pub fn spend(
    store: Arc<dyn Store>,
    issuer: &Issuer,
    cap: &str,
    threads: usize,
    calls: usize,
    seed: u64,
) -> Tally {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let issuer_did = issuer.did().to_string();
            let req = PassportRequest::new(format!("agent-{seed}-{t}"), ["pay"])
                .with_expires_in_secs(365 * 86400);
            let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
            let cap = cap.to_string();
            std::thread::spawn(move || {
                let engine = engine_on(store, &issuer_did, &cap);
                let mut rng = Rng::new(seed * 1000 + t as u64);
                let mut tally = Tally::default();
                for _ in 0..calls {
                    let amount = rng.amount();
                    tally.max_amount = tally.max_amount.max(amount);
                    let r = Request::new("spend", json!({"amount": amount.to_string()}))
                        .passport(&token);
                    match engine.enforce(&r) {
                        Ok(d) if d.allowed => {
                            tally.allowed += 1;
                            tally.admitted += amount;
                        }
                        Ok(_) => tally.denied += 1,
                        Err(e) => {
                            tally.errors += 1;
                            if tally.samples.len() < 3 {
                                tally.samples.push(format!("{}: {e}", e.code()));
                            }
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for h in handles {
        all.add(&h.join().unwrap());
    }
    all
}

/// The policy of the skew runs: a rate, a daily spend and a quota on one gate, holds of 1 s.
pub fn skew_policy() -> Value {
    json!({"version": 1, "hold_ttl": "1s", "gates": {"skew": {"require": ["pay"], "constraints": [
        {"id": "rate", "type": "rate_limit", "max": SKEW_RATE, "window": "1m", "scope": "gate"},
        {"id": "spend", "type": "spend_limit", "field": "/amount", "max": SKEW_SPEND, "window": "1d", "scope": "gate"},
        {"id": "quota", "type": "quota", "max": SKEW_QUOTA, "scope": "gate"}
    ]}}})
}

pub const SKEW_RATE: u64 = 10;
pub const SKEW_SPEND: u64 = 70;
pub const SKEW_QUOTA: u64 = 25;

/// `threads` engines on `store` whose clocks straddle `boundary` (a day boundary, so minute, hour
/// and day windows all turn there): even ones at `boundary - skew`, odd ones at
/// `boundary + skew`, each moving 1 ms per call. Every other request takes a hold that is never
/// settled; each engine expires due holds as it goes (holds live 1 s). Returns the tally; the
/// caller checks the caps across everything.
pub fn skew(
    store: Arc<dyn Store>,
    issuer: &Issuer,
    threads: usize,
    calls: usize,
    seed: u64,
    boundary: i64,
    skew_ms: i64,
) -> Tally {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            let issuer_did = issuer.did().to_string();
            let req = PassportRequest::new(format!("agent-{seed}-{t}"), ["pay"])
                .with_expires_in_secs(365 * 86400);
            let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
            std::thread::spawn(move || {
                let start = match (t as u64 + seed) % 2 {
                    0 => boundary - skew_ms,
                    _ => boundary + skew_ms,
                };
                let clock = ManualClock::new(start);
                let engine = Engine::builder()
                    .policy_value(skew_policy())
                    .trusted_issuer(&issuer_did)
                    .clock(Arc::new(clock.clone()))
                    .store(store)
                    .build()
                    .unwrap();
                let mut tally = Tally {
                    max_amount: Decimal::from(9),
                    ..Tally::default()
                };
                let mut rng = Rng::new(seed * 1000 + t as u64);
                for i in 0..calls {
                    let amount = Decimal::from(rng.next() % 9 + 1);
                    let r = Request::new("skew", json!({"amount": amount.to_string()}))
                        .passport(&token)
                        .hold(i % 2 == 0);
                    match engine.enforce(&r) {
                        Ok(d) if d.allowed => {
                            tally.allowed += 1;
                            tally.admitted += amount;
                        }
                        Ok(_) => tally.denied += 1,
                        Err(e) => {
                            tally.errors += 1;
                            if tally.samples.len() < 3 {
                                tally.samples.push(format!("{}: {e}", e.code()));
                            }
                        }
                    }
                    clock.advance_ms(1);
                    if i % 50 == 49 {
                        // Past every hold's TTL: the reservations expire, unsettled.
                        clock.advance_ms(1_000);
                        if let Err(e) = engine.expire_holds(1_000) {
                            tally.errors += 1;
                            tally.samples.push(format!("expire_holds: {e}"));
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for h in handles {
        all.add(&h.join().unwrap());
    }
    all
}

pub fn spawn(spec: &Value) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "worker_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(ENV, spec.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    (child, out)
}

/// The next `PGW` line of a worker, parsed (`None` at end of output).
pub fn next_line(out: &mut BufReader<ChildStdout>) -> Option<Value> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            return None;
        }
        // libtest prints "test worker_process ... " with no newline before the first line.
        if let Some(at) = line.find("PGW ") {
            return Some(serde_json::from_str(line[at + 4..].trim_end()).unwrap());
        }
    }
}

fn say(v: Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "PGW {v}").unwrap();
    out.flush().unwrap();
}

/// The worker side: runs the spec's mode.
pub fn run(spec: &Value) {
    let url = spec["url"].as_str().unwrap();
    let issuer = Issuer::from_secret(spec["issuer"].as_str().unwrap()).unwrap();
    let store = passgate::store::open(url).unwrap();
    match spec["mode"].as_str().unwrap() {
        "spend" => {
            let n = |k: &str| spec[k].as_u64().unwrap() as usize;
            let tally = spend(
                store,
                &issuer,
                spec["cap"].as_str().unwrap(),
                n("threads"),
                n("calls"),
                n("seed") as u64,
            );
            say(tally.to_json());
        }
        "skew" => {
            let n = |k: &str| spec[k].as_u64().unwrap();
            let tally = skew(
                store,
                &issuer,
                n("threads") as usize,
                n("calls") as usize,
                n("seed"),
                spec["boundary"].as_i64().unwrap(),
                spec["skew_ms"].as_i64().unwrap(),
            );
            say(tally.to_json());
        }
        "crash" => crate::crash::writer(store, &issuer, spec["seed"].as_u64().unwrap(), say),
        "crash_ckpt" => {
            crate::checkpoint_crash::writer(store, &issuer, spec["seed"].as_u64().unwrap(), say)
        }
        "restart" => crate::restart::first_life(store, &issuer, spec, say),
        other => panic!("unknown worker mode {other}"),
    }
}
