//! The one workload of passgate's benchmark suite, written once for every engine.
//!
//! Gate `payments.transfer`, five constraints: amount ≤ 500 per call; currency in {USD, EUR};
//! 09:00–17:00 UTC; ≤ 10 calls per minute per agent; ≤ 5,000 per day per agent. A passport with
//! four permissions, a ~300-byte payload. Cases: allow, deny on the amount, deny on the daily cap.
//!
//! passgate reads its state (the two counters) from a [`Store`]; the stateless peers (Cedar,
//! regorus) receive the same state in their context / input: `calls_last_minute`,
//! `spent_today` and `minute_of_day` (neither peer has a clock or counters of its own here).
//! [`SuppliedState`] is a `Store` that answers counter reads with the supplied usage, so passgate
//! can be fed exactly the state the peers are fed.
//!
//! Amounts are whole currency units (integers): Cedar has no decimal arithmetic beyond its
//! `decimal` extension's comparisons, so its policy compares `Long`s; passgate and Rego compare
//! the same integers.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::store::{
    ApprovalRecord, ApprovalState, AttestationFilter, Commit, CommitOutcome, CounterFilter,
    CounterOp, CounterState, DueHold, HoldOutcome, HoldRecord, HoldResolution, IdempotencyRecord,
    MemoryStore, Retention, Store, StoredRecord,
};
use passgate::{Engine, Issuer, PassportRequest, Request, Signing, VerifierOptions};
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Result type of this crate: setup errors as text (a bench stops on a broken setup).
pub type Res<T> = Result<T, String>;

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The suite's criterion settings: `samples` samples, `PASSGATE_BENCH_SECS` seconds of measurement
/// per bench (default `default_secs`), half a second of warm-up.
pub fn criterion_config(default_secs: f64, samples: usize) -> criterion::Criterion {
    let secs = std::env::var("PASSGATE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_secs);
    criterion::Criterion::default()
        .sample_size(samples)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs_f64(secs))
}

pub const GATE: &str = "payments.transfer";
pub const AGENT: &str = "agent-1";
pub const PERMISSIONS: [&str; 4] = ["payments:transfer", "payments:read", "web:fetch", "fs:read"];

/// 2026-11-20 10:00:30 UTC (a Friday), inside the 09:00–17:00 window: every engine stands here.
pub const NOW_MS: i64 = 1_795_168_830_000;
/// Minutes since midnight UTC at [`NOW_MS`].
pub const MINUTE_OF_DAY: i64 = 600;

/// The three verdict cases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    Allow,
    DenyAmount,
    DenyDaily,
}

impl Case {
    pub const ALL: [Case; 3] = [Case::Allow, Case::DenyAmount, Case::DenyDaily];

    pub fn name(self) -> &'static str {
        match self {
            Case::Allow => "allow",
            Case::DenyAmount => "deny-amount",
            Case::DenyDaily => "deny-daily-cap",
        }
    }

    /// The amount in the payload.
    pub fn amount(self) -> i64 {
        match self {
            Case::DenyAmount => 900,
            _ => 120,
        }
    }

    /// Calls in the current minute and sum spent today, before this call.
    pub fn state(self) -> (i64, i64) {
        match self {
            Case::DenyDaily => (3, 4950),
            _ => (3, 1000),
        }
    }

    /// The amounts of the calls that build [`Case::state`] in a real store, each with its time
    /// (ms before [`NOW_MS`]): the last three inside the current minute.
    pub fn history(self) -> Vec<(i64, i64)> {
        match self {
            Case::DenyDaily => {
                let mut h: Vec<(i64, i64)> =
                    (0..7).map(|i| (500, 3_600_000 - i * 61_000)).collect();
                h.extend([(500, 30_000), (500, 20_000), (450, 10_000)]);
                h
            }
            _ => vec![(400, 30_000), (300, 20_000), (300, 10_000)],
        }
    }

    pub fn expected_allow(self) -> bool {
        self == Case::Allow
    }
}

/// The ~300-byte payload of a transfer of `amount`.
pub fn payload(amount: i64) -> Value {
    json!({
        "amount": amount,
        "currency": "USD",
        "to": "acct_9f2k3j4h",
        "memo": "invoice 2026-114 for cloud compute, October",
        "metadata": {"invoice": "INV-2026-114", "project": "research", "requested_by": AGENT,
                     "cost_center": "cc-4411", "approved": true},
        "reference": "ref_8d1c7e0a5b3f"
    })
}

/// The state every stateless engine is fed, as JSON.
pub fn state_json(case: Case) -> Value {
    let (calls, spent) = case.state();
    json!({"calls_last_minute": calls, "spent_today": spent, "minute_of_day": MINUTE_OF_DAY})
}

// ---------------------------------------------------------------- passgate

/// The constraints of the gate. `caps` = (calls per minute, spend per day).
pub fn constraints(caps: (i64, i64)) -> Value {
    json!([
        {"id": "per-call", "type": "max_value", "field": "/amount", "max": 500},
        {"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]},
        {"id": "hours", "type": "time_window", "start": "09:00", "end": "17:00", "tz": "UTC"},
        {"id": "burst", "type": "rate_limit", "max": caps.0, "window": "1m"},
        {"id": "daily", "type": "spend_limit", "field": "/amount", "max": caps.1, "window": "1d"}
    ])
}

/// The workload's caps.
pub const CAPS: (i64, i64) = (10, 5000);

/// The caps of a loop of allowed `enforce` calls (10^9 calls/min, 10^12/day): every iteration is
/// admitted and counted — the same work as [`CAPS`], which a loop would exhaust after 10 calls.
pub const RAISED_CAPS: (i64, i64) = (1_000_000_000, 1_000_000_000_000);

/// A policy with the transfer gate and `extra` other gates (`tool.N`, one constraint each).
pub fn policy(caps: (i64, i64), extra: usize) -> Value {
    let mut gates = serde_json::Map::new();
    for i in 0..extra {
        gates.insert(
            format!("tool.{i}"),
            json!({"require": [format!("tool:{i}")], "constraints": [
                {"id": "len", "type": "max_length", "field": "/q", "max": 100}]}),
        );
    }
    gates.insert(
        GATE.into(),
        json!({"require": ["payments:transfer"], "constraints": constraints(caps)}),
    );
    json!({"version": 1, "gates": gates})
}

/// Passports are issued a day before [`NOW_MS`] (valid for 30 days): the engines' clocks stand
/// at [`NOW_MS`], not at the system time.
pub const ISSUED_AT_SECS: i64 = NOW_MS / 1000 - 86_400;

/// An issuer and a passport with the four permissions.
pub fn passport() -> Res<(Issuer, String)> {
    let issuer = Issuer::generate().map_err(s)?;
    let p = issuer
        .issue_passport_at(
            &PassportRequest::new(AGENT, PERMISSIONS.map(String::from)),
            ISSUED_AT_SECS,
        )
        .map_err(s)?;
    Ok((issuer, p.token))
}

/// Options of an engine under test.
#[derive(Debug, Clone)]
pub struct Setup {
    pub caps: (i64, i64),
    pub extra_gates: usize,
    pub store: Arc<dyn Store>,
    /// Verified-passport cache size (0: every call verifies the passport's signature).
    pub cache_size: usize,
    /// How records are signed (each, or checkpointed heads).
    pub signing: Signing,
    /// How long the store keeps records (`None`: the engine's default for the store).
    pub retention: Option<Retention>,
}

impl Setup {
    pub fn new(store: Arc<dyn Store>) -> Setup {
        Setup {
            caps: CAPS,
            extra_gates: 0,
            store,
            cache_size: VerifierOptions::default().cache_size,
            signing: Signing::Each,
            retention: None,
        }
    }
}

/// An engine on a manual clock at [`NOW_MS`].
pub fn engine(setup: &Setup, issuer: &Issuer) -> Res<(Engine, ManualClock)> {
    let clock = ManualClock::new(NOW_MS);
    let opts = VerifierOptions {
        cache_size: setup.cache_size,
        ..VerifierOptions::default()
    };
    let mut builder = Engine::builder()
        .policy_value(policy(setup.caps, setup.extra_gates))
        .trusted_issuer(issuer.did())
        .store(setup.store.clone())
        .clock(Arc::new(clock.clone()))
        .verifier_options(opts)
        .signing(setup.signing);
    if let Some(retention) = setup.retention {
        builder = builder.retention(retention);
    }
    let engine = builder.build().map_err(s)?;
    Ok((engine, clock))
}

/// The request of `case`.
pub fn request(case: Case, token: &str) -> Request {
    Request::new(GATE, payload(case.amount())).passport(token)
}

/// passgate on its memory store, with the counters of `case` built by real enforced calls.
pub fn memory_engine(case: Case, issuer: &Issuer, token: &str) -> Res<Engine> {
    let (engine, clock) = engine(&Setup::new(Arc::new(MemoryStore::default())), issuer)?;
    for (amount, ago) in case.history() {
        clock.set_ms(NOW_MS - ago);
        let d = engine
            .enforce(&Request::new(GATE, payload(amount)).passport(token))
            .map_err(s)?;
        if !d.allowed {
            return Err(format!("history of {} denied at -{ago} ms", case.name()));
        }
    }
    clock.set_ms(NOW_MS);
    Ok(engine)
}

/// The bytes the floor signs: the serialized attestation record of an allowed `enforce` (memory
/// store, [`RAISED_CAPS`]) — the real size of what every signed decision hashes and signs.
pub fn attestation_record(issuer: &Issuer, token: &str) -> Res<Vec<u8>> {
    let setup = Setup {
        caps: RAISED_CAPS,
        ..Setup::new(Arc::new(MemoryStore::default()))
    };
    let (e, _clock) = engine(&setup, issuer)?;
    let d = e.enforce(&request(Case::Allow, token)).map_err(s)?;
    let record = d
        .attestation
        .ok_or("an allowed enforce returned no attestation")?;
    serde_json::to_vec(&record).map_err(s)
}

/// passgate fed the state of `case` the way the peers are: counter reads answer the supplied
/// usage (see [`SuppliedState`]).
pub fn supplied_engine(case: Case, issuer: &Issuer) -> Res<Engine> {
    let (calls, spent) = case.state();
    let store = SuppliedState::new([("burst", calls), ("daily", spent)]);
    Ok(engine(&Setup::new(Arc::new(store)), issuer)?.0)
}

/// Supplied usage by constraint id.
type Usage = HashMap<String, Decimal>;

/// A [`Store`] whose counter reads return supplied usage (by constraint id) and whose commits
/// count nothing: passgate fed its state in the request, like a stateless peer. Everything else
/// goes to an inner memory store.
#[derive(Debug, Default)]
pub struct SuppliedState {
    usage: Usage,
    inner: MemoryStore,
}

impl SuppliedState {
    pub fn new<'a>(usage: impl IntoIterator<Item = (&'a str, i64)>) -> SuppliedState {
        SuppliedState {
            usage: usage
                .into_iter()
                .map(|(k, v)| (k.to_string(), Decimal::from(v)))
                .collect::<HashMap<_, _>>(),
            inner: MemoryStore::default(),
        }
    }
}

type R<T> = passgate::Result<T>;

impl Store for SuppliedState {
    fn nonce_seen(&self, _: &str, _: i64) -> R<bool> {
        Ok(false)
    }
    fn read(&self, counters: &[CounterOp], _now_ms: i64) -> R<Vec<Decimal>> {
        Ok(counters
            .iter()
            .map(|c| {
                self.usage
                    .get(&*c.key.constraint)
                    .copied()
                    .unwrap_or(Decimal::ZERO)
            })
            .collect())
    }
    fn commit(&self, commit: &Commit<'_>) -> R<CommitOutcome> {
        // Counts nothing: keeps the record only.
        self.inner.append(commit.record)?;
        Ok(CommitOutcome::Committed)
    }
    fn append(&self, record: &StoredRecord) -> R<()> {
        self.inner.append(record)
    }
    fn idempotency_get(&self, ns: &str, key: &str, now: i64) -> R<Option<IdempotencyRecord>> {
        self.inner.idempotency_get(ns, key, now)
    }
    fn revoke(&self, passport_id: &str, now_ms: i64) -> R<()> {
        self.inner.revoke(passport_id, now_ms)
    }
    fn first_revoked(&self, ids: &[&str]) -> R<Option<String>> {
        self.inner.first_revoked(ids)
    }
    fn attestations(&self, filter: &AttestationFilter) -> R<Vec<StoredRecord>> {
        self.inner.attestations(filter)
    }
    fn counters(&self, filter: &CounterFilter, now_ms: i64) -> R<Vec<CounterState>> {
        self.inner.counters(filter, now_ms)
    }
    fn reset_counters(&self, filter: &CounterFilter) -> R<usize> {
        self.inner.reset_counters(filter)
    }
    fn hold_get(&self, id: &str) -> R<Option<HoldRecord>> {
        self.inner.hold_get(id)
    }
    fn hold_resolve(&self, r: &HoldResolution<'_>) -> R<HoldOutcome> {
        self.inner.hold_resolve(r)
    }
    fn holds_due(&self, now_ms: i64, limit: usize) -> R<Vec<DueHold>> {
        self.inner.holds_due(now_ms, limit)
    }
    fn hold_quarantine(&self, id: &str) -> R<bool> {
        self.inner.hold_quarantine(id)
    }
    fn approval_get(&self, evaluation_id: &str) -> R<Option<ApprovalRecord>> {
        self.inner.approval_get(evaluation_id)
    }
    fn approval_resolve(
        &self,
        evaluation_id: &str,
        to: &ApprovalState,
        record: &StoredRecord,
    ) -> R<Option<ApprovalState>> {
        self.inner.approval_resolve(evaluation_id, to, record)
    }
}

// ---------------------------------------------------------------- Cedar

/// The Cedar policy: all five constraints, the state in the context. Amounts are `Long`s.
pub const CEDAR_POLICY: &str = r#"
permit (
  principal,
  action == Action::"payments.transfer",
  resource == Gate::"payments.transfer"
)
when {
  principal.permissions.contains("payments:transfer") &&
  context.payload.amount <= 500 &&
  ["USD", "EUR"].contains(context.payload.currency) &&
  context.state.minute_of_day >= 540 &&
  context.state.minute_of_day < 1020 &&
  context.state.calls_last_minute + 1 <= 10 &&
  context.state.spent_today + context.payload.amount <= 5000
};
"#;

/// Cedar, pre-parsed: policy set, entities (the agent with its four permissions), the request's
/// fixed parts.
pub struct Cedar {
    pub authorizer: cedar_policy::Authorizer,
    pub policies: cedar_policy::PolicySet,
    pub entities: cedar_policy::Entities,
    pub principal: cedar_policy::EntityUid,
    pub action: cedar_policy::EntityUid,
    pub resource: cedar_policy::EntityUid,
}

impl Cedar {
    pub fn new() -> Res<Cedar> {
        let entities = cedar_policy::Entities::from_json_value(
            json!([{"uid": {"type": "Agent", "id": AGENT},
                    "attrs": {"permissions": PERMISSIONS}, "parents": []}]),
            None,
        )
        .map_err(s)?;
        Ok(Cedar {
            authorizer: cedar_policy::Authorizer::new(),
            policies: cedar_policy::PolicySet::from_str(CEDAR_POLICY).map_err(s)?,
            entities,
            principal: uid(r#"Agent::"agent-1""#)?,
            action: uid(r#"Action::"payments.transfer""#)?,
            resource: uid(r#"Gate::"payments.transfer""#)?,
        })
    }

    /// The context JSON of `case`: the payload and the state.
    pub fn context_json(case: Case) -> Value {
        json!({"payload": payload(case.amount()), "state": state_json(case)})
    }

    /// A request built from the context JSON.
    pub fn request(&self, context: Value) -> Res<cedar_policy::Request> {
        let ctx = cedar_policy::Context::from_json_value(context, None).map_err(s)?;
        cedar_policy::Request::new(
            self.principal.clone(),
            self.action.clone(),
            self.resource.clone(),
            ctx,
            None,
        )
        .map_err(s)
    }

    pub fn allowed(&self, req: &cedar_policy::Request) -> bool {
        let r = self
            .authorizer
            .is_authorized(req, &self.policies, &self.entities);
        r.decision() == cedar_policy::Decision::Allow
    }
}

fn uid(text: &str) -> Res<cedar_policy::EntityUid> {
    cedar_policy::EntityUid::from_str(text).map_err(s)
}

// ---------------------------------------------------------------- regorus

/// The Rego policy: all five constraints, the state in the input.
pub const REGO_POLICY: &str = r#"
package passgate

default allow := false

allow if {
  "payments:transfer" in input.principal.permissions
  input.payload.amount <= 500
  input.payload.currency in {"USD", "EUR"}
  input.state.minute_of_day >= 540
  input.state.minute_of_day < 1020
  input.state.calls_last_minute + 1 <= 10
  input.state.spent_today + input.payload.amount <= 5000
}
"#;

pub const REGO_RULE: &str = "data.passgate.allow";

/// The Rego input of `case`.
pub fn rego_input_json(case: Case) -> Value {
    json!({"principal": {"id": AGENT, "permissions": PERMISSIONS},
           "payload": payload(case.amount()), "state": state_json(case)})
}

/// The input as a regorus value (parsed once; the benches clone it, which is a reference count).
pub fn rego_input(case: Case) -> Res<regorus::Value> {
    regorus::Value::from_json_str(&rego_input_json(case).to_string()).map_err(s)
}

/// regorus's tree-walking interpreter, policy added once.
pub fn rego_interpreter() -> Res<regorus::Engine> {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("passgate.rego".into(), REGO_POLICY.into())
        .map_err(s)?;
    Ok(engine)
}

pub fn rego_interpreter_allowed(engine: &mut regorus::Engine, input: regorus::Value) -> Res<bool> {
    engine.set_input(input);
    let v = engine.eval_rule(REGO_RULE.into()).map_err(s)?;
    Ok(v == regorus::Value::from(true))
}

/// regorus's RVM: the policy compiled to a program, loaded once into a VM.
pub fn rego_vm() -> Res<regorus::rvm::vm::RegoVM> {
    let mut engine = rego_interpreter()?;
    let rule: regorus::Rc<str> = REGO_RULE.into();
    let compiled = engine.compile_with_entrypoint(&rule).map_err(s)?;
    let program =
        regorus::languages::rego::compiler::Compiler::compile_from_policy(&compiled, &[REGO_RULE])
            .map_err(s)?;
    let mut vm = regorus::rvm::vm::RegoVM::new();
    vm.load_program(program);
    Ok(vm)
}

pub fn rego_vm_allowed(vm: &mut regorus::rvm::vm::RegoVM, input: regorus::Value) -> Res<bool> {
    vm.set_input(input);
    let v = vm.execute().map_err(s)?;
    Ok(v == regorus::Value::from(true))
}

// ---------------------------------------------------------------- heavy setups

/// `full` under `cargo bench` (criterion passes `--bench`), `quick` in test mode: heavy setups
/// shrink so `cargo test --all-targets` runs the code path quickly.
pub fn size(full: usize, quick: usize) -> usize {
    if std::env::args().any(|a| a == "--bench") {
        full
    } else {
        quick
    }
}
