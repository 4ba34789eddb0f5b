//! Deciding a request (`enforce`, `dry_run`): who is asking, which gate, which permissions, every
//! constraint; then, once the store has said what is used, the cumulative checks, the verdict and
//! `remaining`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::Value;

use super::approvals::{approval_check, ApprovalNeed, Presented};
use super::commit::replay;
use super::counters::{need_of, resolve_counter, slots, Pending, ScopeCtx};
use super::fold::Folded;
use super::request::{check_request, payload_of, request_hash, Request};
use super::{Engine, DEFAULT_HOLD_TTL_MS};
use crate::approval;
use crate::constraint::pii::PiiMode;
use crate::constraint::values::whole_regex_within;
use crate::constraint::{Constraint, CounterKind, EvalCtx, Rule};
use crate::decision::{Check, Decision, Render, Text, Verdict};
use crate::error::{CheckCode, Error, Result};
use crate::expr::Outcome;
use crate::ids::random_id_in;
use crate::passport::{Principal, Verified};
use crate::policy::{Mode, Policy};
use crate::store::CounterKey;

/// The longest regex a caveat may carry (in bytes of source). Caveats are written by agents (a
/// delegating agent chooses its child's): they get a far smaller regex budget than the operator's
/// policy.
pub const CAVEAT_REGEX_MAX_LEN: usize = 256;

/// The compiled-size budget of one caveat regex (the policy's is 1 MiB).
pub const CAVEAT_REGEX_SIZE_LIMIT: usize = 32 << 10;

/// A caveat compiled for one gate it applies to, with the id of the passport that declared it.
#[derive(Debug)]
pub(super) struct Caveat {
    pub(super) declared_by: String,
    pub(super) constraint: Constraint,
}

/// Who is asking, once the passport has been looked at.
pub(super) enum Caller {
    Agent(Arc<Verified>),
    Anonymous,
    Refused(Box<Check>),
}

/// What one evaluation looks at.
pub(super) struct Inputs<'a, 'r> {
    pub(super) policy: Option<&'a Policy>,
    pub(super) caller: &'r Caller,
    pub(super) caveats: &'a [Caveat],
    pub(super) req: &'r Request,
    /// `None` when nothing of this evaluation needs it (see `needs_request_hash`).
    pub(super) request_hash: Option<String>,
    pub(super) now: i64,
    pub(super) dry_run: bool,
    pub(super) presented: Option<&'r Presented>,
    /// The `catalog_pin` check, when the passport pins the gate's catalog.
    pub(super) pin: Option<Check>,
    /// The trust level and proof-of-possession checks (see [`crate::pop`]).
    pub(super) trust: super::trust::Trust,
    /// This process's id, found equal to the engine's at the start of this call
    /// ([`super::Engine::same_process`]): ids are drawn with it ([`crate::ids::random_id_in`]).
    pub(super) pid: u32,
}

/// An evaluation before anything is committed.
pub(super) struct Evaluation<'a> {
    pub(super) decision: Decision,
    /// Every check except the cumulative ones, in report order; cumulative checks are appended
    /// from `pending` once usage is known.
    pub(super) pending: Vec<Pending<'a>>,
    /// Whether everything but the counters passed.
    pub(super) stateless_ok: bool,
    /// Whether everything that `monitor` mode does not relax passed (identity, gate,
    /// permissions, the passport's caveats), counters of caveats aside.
    pub(super) strict_ok: bool,
    /// Whether an approval demanded by a passport's caveat (never relaxed) holds.
    pub(super) strict_approval: bool,
    /// Whether the caller was identified (a valid passport or an admitted anonymous caller);
    /// `monitor` mode never admits an unidentified caller.
    pub(super) identity_ok: bool,
    /// How many checks precede the cumulative ones.
    pub(super) base_checks: usize,
    /// `None` when nothing of this evaluation needs it (see `needs_request_hash`).
    pub(super) request_hash: Option<String>,
    /// The host's key of an anonymous caller (part of the approval fingerprint).
    pub(super) client: Option<String>,
    pub(super) approval: ApprovalNeed,
    /// The ids (and descriptions) of the approval constraints that hold.
    pub(super) approval_reasons: Vec<Value>,
    /// Whom the passport speaks for (`None` for anonymous or refused callers and in a dry run).
    pub(super) principal: Option<Principal>,
    /// The ids of the passport's chain, root first (empty without a verified passport or in a dry run).
    pub(super) delegation: Vec<String>,
    /// The run bundle this evaluation records, when its gate records one (see
    /// [`crate::bundle`]).
    pub(super) bundle: Option<crate::bundle::Recorded>,
    /// The proof-of-possession nonce the commit uses up: (store key, until when).
    pub(super) nonce: Option<(String, i64)>,
    /// `{nonce, ts, agent}` of the verified proof of possession, for the record.
    pub(super) pop: Option<Value>,
    /// The catalog terms an allowed decision applied (see `settlements.rs`), set before commit.
    pub(super) catalog: Option<Value>,
}

impl Evaluation<'_> {
    /// The fingerprint an approval of this request is bound to: computed only when an approval
    /// is asked for or presented, not on every evaluation.
    pub(super) fn fingerprint(&self) -> Result<String> {
        let d = &self.decision;
        approval::fingerprint(
            &d.gate,
            d.passport_id.as_deref(),
            self.client.as_deref(),
            self.request_hash()?,
        )
    }

    /// The request hash; an `Internal` error if this evaluation was judged not to need it.
    pub(super) fn request_hash(&self) -> Result<&str> {
        hashed(&self.request_hash)
    }
}

fn hashed(hash: &Option<String>) -> Result<&str> {
    hash.as_deref()
        .ok_or_else(|| Error::Internal("request hash not computed".into()))
}

/// Whether deciding `req` needs its request hash: every enforced (signed) decision, an
/// idempotency key, a proof of possession, a presented approval, and any gate, anonymous section
/// or caveat with an approval constraint (an escalation's fingerprint is built on it).
fn needs_request_hash(
    policy: Option<&Policy>,
    req: &Request,
    caveats: &[Caveat],
    dry_run: bool,
) -> bool {
    let approval = |c: &Constraint| matches!(c.rule, Rule::Approval(_));
    !dry_run
        || req.idempotency_key.is_some()
        || req.pop.is_some()
        || req.approval.is_some()
        || caveats.iter().any(|c| approval(&c.constraint))
        || policy.is_some_and(|p| {
            p.gate(&req.gate)
                .is_some_and(|g| g.constraints.iter().any(approval))
                || p.anonymous
                    .as_ref()
                    .is_some_and(|a| a.constraints.iter().any(approval))
        })
}

impl Engine {
    /// Decides `req`, counts it if admitted, and signs the decision.
    ///
    /// Raises only for malformed arguments, oversized input, `IDEMPOTENCY_CONFLICT` and store
    /// failures: everything else — an unknown gate, a bad passport, a failed constraint — is a
    /// `deny` decision that says why.
    ///
    /// # Chain breaks
    ///
    /// If the store turns out to hold less of this engine's chain than the engine committed (a
    /// Redis flush or a restart without persistence, a restored older SQLite file), the engine
    /// never signs those sequence numbers again: it moves to a new chain ([`Engine::chain_id`])
    /// whose first record, of kind `chain.break`, carries `data` naming the `previous_chain`, the
    /// `last_seq` and `last_hash` the engine committed there and the `store_tail` it found
    /// (`{seq, hash}` or `null`). The call that finds it fails with `STORE_UNAVAILABLE` (nothing of
    /// it was stored; its message says the chain broke) and the break is logged (`log::error!`);
    /// the next call proceeds on the new chain, which verifies on its own.
    pub fn enforce(&self, req: &Request) -> Result<Decision> {
        self.run(req, false)
    }

    /// Evaluates `req` against the same state as [`Engine::enforce`] would, changing nothing:
    /// no counter, no attestation, no idempotency key.
    /// A request with a `notify` is refused (`INVALID_ARGUMENT` at `/notify`): a dry run records
    /// nothing, so there is no event to deliver.
    pub fn dry_run(&self, req: &Request) -> Result<Decision> {
        if req.notify.is_some() {
            return Err(Error::argument(
                "/notify",
                "a dry run records nothing and causes no event: notify is for enforce and evaluate",
            ));
        }
        self.run(req, true)
    }

    fn run(&self, req: &Request, dry_run: bool) -> Result<Decision> {
        // Reads folded into the commit (see `fold`); if the state they stand for moved, the
        // request is decided again on fresh reads (no guard then: it cannot be stale).
        let fold = !dry_run && req.idempotency_key.is_none() && self.store.checks_guard();
        match self.run_once(req, dry_run, fold)? {
            Some(d) => Ok(d),
            None => self
                .run_once(req, dry_run, false)?
                .ok_or_else(|| Error::Internal("a commit without a guard was stale".into())),
        }
    }

    /// One decision; `None` if its commit found the folded state stale (nothing stored).
    fn run_once(&self, req: &Request, dry_run: bool, fold: bool) -> Result<Option<Decision>> {
        let mut folded = Folded {
            on: fold,
            ..Folded::default()
        };
        self.same_process()?;
        check_request(req)?;
        let now = self.clock.now_ms();
        if !dry_run {
            self.expire_due(now)?;
        }
        let policy = self.policy_for(&mut folded)?;
        let mut caller = self.caller(req, now, dry_run, &mut folded)?;
        // Caveats are agent-written: compiled only for the gate asked for, and only once the
        // passport holds the gate's permissions (an unknown gate or a missing permission is a
        // deny that needs none of them). A caveat that does not compile is a deny.
        let caveats = match &caller {
            Caller::Agent(v) if permitted(policy.as_deref(), v, &req.gate) => {
                match self.caveats_for(v, &req.gate) {
                    Ok(c) => c,
                    Err(e @ Error::PassportMalformed(_)) => {
                        caller = Caller::Refused(Box::new(
                            Check::new("passport", "passport", false, e.to_string())
                                .with_code(e.code()),
                        ));
                        Arc::new(Vec::new())
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => Arc::new(Vec::new()),
        };
        // The request hash binds a signed record, an idempotency key, a proof of possession and
        // an approval; a dry run that needs none of them does not canonicalise the payload.
        let hash = match needs_request_hash(policy.as_deref(), req, &caveats, dry_run) {
            true => Some(request_hash(req)?),
            false => None,
        };
        let idem = match (&req.idempotency_key, dry_run) {
            (Some(key), false) => Some(self.idempotency(req, &caller, key, hashed(&hash)?, now)?),
            _ => None,
        };
        if let Some(rec) = &idem {
            if let Some(stored) = self.store.idempotency_get(&rec.namespace, &rec.key, now)? {
                return replay(stored, rec).map(Some);
            }
        }
        let presented = match &req.approval {
            Some(token) => Some(self.presented(token)?),
            None => None,
        };
        let pin = match &caller {
            Caller::Agent(v) => match v.pin_for(&req.gate) {
                Some(p) => Some(self.check_pin(p)?),
                None => None,
            },
            _ => None,
        };
        let trust = self.trust(
            policy.as_deref(),
            &caller,
            req,
            hash.as_deref(),
            now,
            dry_run,
        )?;
        let mut eval = evaluate(Inputs {
            policy: policy.as_deref(),
            caller: &caller,
            caveats: &caveats,
            req,
            request_hash: hash,
            now,
            dry_run,
            presented: presented.as_ref(),
            pin,
            trust,
            pid: self.pid,
        })?;
        record_bundle(&mut eval, policy.as_deref(), req)?;
        self.finish_usage(&mut eval, now, &mut folded)?;
        if dry_run {
            // Nothing was stored: the approval request says so, and `approve` would not find
            // its evaluation id (enforce the request to create one).
            if let Some(Value::Object(r)) = eval.decision.approval_request.as_mut() {
                r.insert("dry_run".into(), Value::Bool(true));
            }
            return Ok(Some(eval.decision));
        }
        let ttl = policy
            .as_deref()
            .map_or(DEFAULT_HOLD_TTL_MS, |p| p.hold_ttl_for(&req.gate));
        eval.catalog = self.applied_terms(&caller, &req.gate, eval.decision.allowed, now)?;
        let decided = self.commit(eval, req, idem, now, ttl, folded);
        if decided.as_ref().is_ok_and(Option::is_some) {
            self.prune_inline();
        }
        decided
    }

    fn caller(
        &self,
        req: &Request,
        now: i64,
        dry_run: bool,
        folded: &mut Folded,
    ) -> Result<Caller> {
        let Some(token) = &req.passport else {
            return Ok(Caller::Anonymous);
        };
        // A dry run changes nothing: not even the passport registry.
        match self.verify_for(token, now, !dry_run, folded) {
            Ok(v) => Ok(Caller::Agent(v)),
            // Store failures are errors, never a deny or an allow.
            Err(e @ Error::StoreUnavailable(_)) => Err(e),
            Err(e @ Error::LimitExceeded(_)) => Err(e),
            Err(e) => Ok(Caller::Refused(Box::new(
                Check::new("passport", "passport", false, e.to_string()).with_code(e.code()),
            ))),
        }
    }

    /// The caveats of `v`'s chain that apply to `gate`, compiled (and cached by the exact token
    /// and gate, bounded in bytes).
    fn caveats_for(&self, v: &Verified, gate: &str) -> Result<Arc<Vec<Caveat>>> {
        if v.chain.iter().all(|l| l.caveats.is_empty()) {
            // One shared empty list, not an allocation per request.
            static NONE: std::sync::OnceLock<Arc<Vec<Caveat>>> = std::sync::OnceLock::new();
            return Ok(NONE.get_or_init(|| Arc::new(Vec::new())).clone());
        }
        let key = (v.token_hash, gate.to_string());
        if let Some(c) = self.caveats.lock().get(&key) {
            return Ok(c);
        }
        let mut out = Vec::new();
        let mut weight = 256;
        for link in &v.chain {
            for (i, doc) in link.caveats.iter().enumerate() {
                if let Some(c) = compile_caveat(&link.passport_id, doc, i, gate)? {
                    // A compiled constraint: a few times its document, regexes up to their budget.
                    let text = doc.to_string();
                    weight += 4 * text.len() + 1024;
                    if c.constraint.ty == crate::constraint::ConstraintType::Pattern
                        || text.contains("\"matches\"")
                    {
                        weight += 2 * CAVEAT_REGEX_SIZE_LIMIT;
                    }
                    out.push(c);
                }
            }
        }
        let out = Arc::new(out);
        self.caveats.lock().put(key, out.clone(), weight);
        Ok(out)
    }

    /// The constraints a request to `gate` is judged by: `{gate, constraints, caveats}` — the
    /// gate's own and its templates' (expanded), and with `passport`, the caveats of its chain
    /// that apply to `gate` (`{declared_by, constraint}`). An unknown gate is `GATE_UNKNOWN`; a
    /// passport that does not verify is its error.
    pub fn constraints_of(&self, gate: &str, passport: Option<&str>) -> Result<Value> {
        let policy = self.current_policy()?;
        let g = policy
            .as_ref()
            .and_then(|p| p.gate(gate))
            .ok_or_else(|| Error::GateUnknown(format!("{gate:?} is not defined by the policy")))?;
        let constraints: Vec<Value> = g.constraints.iter().map(|c| c.source.clone()).collect();
        let caveats = match passport {
            None => Value::Null,
            Some(token) => {
                let v = self.verify(token, self.clock.now_ms())?;
                let list = self.caveats_for(&v, gate)?;
                Value::Array(
                    list.iter()
                        .map(|c| {
                            serde_json::json!({
                                "declared_by": c.declared_by,
                                "constraint": c.constraint.source,
                            })
                        })
                        .collect(),
                )
            }
        };
        Ok(serde_json::json!({"gate": gate, "constraints": constraints, "caveats": caveats}))
    }

    /// The gates this passport (or, with `None`, an anonymous caller) could be admitted to now:
    /// its permissions cover the gate's, and every constraint that does not look at the payload
    /// (time windows, of the gate and of the passport's caveats) passes. For filtering an MCP
    /// `tools/list` per agent. An invalid passport is an error (its code says why).
    pub fn allowed_gates(&self, passport: Option<&str>) -> Result<Vec<String>> {
        let Some(policy) = self.current_policy()? else {
            return Ok(Vec::new());
        };
        let now = self.clock.now_ms();
        let empty = Value::Object(Default::default());
        let ctx = EvalCtx {
            payload: &empty,
            now_ms: now,
        };
        let open_now = |cs: &mut dyn Iterator<Item = &crate::constraint::Constraint>| {
            cs.filter(|c| matches!(c.rule, Rule::TimeWindow(_)))
                .all(|c| c.check(&ctx).is_none_or(|k| k.passed))
        };
        let Some(token) = passport else {
            let Some(anon) = &policy.anonymous else {
                return Ok(Vec::new());
            };
            let mut names: Vec<String> = anon
                .gates
                .iter()
                .filter(|g| {
                    open_now(&mut anon.constraints.iter())
                        && policy
                            .gate(g)
                            .is_none_or(|gate| open_now(&mut gate.constraints.iter()))
                })
                .cloned()
                .collect();
            names.sort();
            names.dedup();
            return Ok(names);
        };
        let verified = self.verify(token, now)?;
        let mut names = Vec::new();
        for g in policy.gates.values() {
            if !g.require.iter().all(|r| verified.has_permission(r))
                || !open_now(&mut g.constraints.iter())
            {
                continue;
            }
            // Only the caveats' time windows matter here: compile those alone.
            let mut windows = Vec::new();
            for link in &verified.chain {
                for (i, doc) in link.caveats.iter().enumerate() {
                    if doc.get("type").and_then(Value::as_str) != Some("time_window") {
                        continue;
                    }
                    if let Some(c) = compile_caveat(&link.passport_id, doc, i, &g.name)? {
                        windows.push(c.constraint);
                    }
                }
            }
            if open_now(&mut windows.iter()) {
                names.push(g.name.clone());
            }
        }
        Ok(names)
    }
}

/// Whether `v` may enter `gate` at all: the gate exists and the passport holds its permissions.
/// Nothing agent-written (caveats) is compiled for a request that fails this.
fn permitted(policy: Option<&Policy>, v: &Verified, gate: &str) -> bool {
    policy
        .and_then(|p| p.gate(gate))
        .is_some_and(|g| g.require.iter().all(|r| v.has_permission(r)))
}

/// Compiles one caveat if it applies to `gate` (`None` when it does not). A caveat may carry
/// `gates` (names, or prefixes ending in `*`) limiting the gates it applies to; by default it
/// applies to every request made with the passport. Its regexes are held to the caveat budget
/// ([`CAVEAT_REGEX_MAX_LEN`], [`CAVEAT_REGEX_SIZE_LIMIT`]) before anything is compiled. Every
/// failure is `PASSPORT_MALFORMED`.
pub(super) fn compile_caveat(
    declared_by: &str,
    doc: &Value,
    index: usize,
    gate: &str,
) -> Result<Option<Caveat>> {
    let malformed =
        |m: &str| Error::PassportMalformed(format!("caveat {index} of {declared_by}: {m}"));
    let applies = match doc.get("gates") {
        None => true,
        Some(Value::Array(a)) => {
            let mut applies = false;
            for g in a {
                let g = g
                    .as_str()
                    .ok_or_else(|| malformed("gates must be strings"))?;
                applies |= gate_matches(g, gate);
            }
            applies
        }
        Some(_) => return Err(malformed("gates must be an array")),
    };
    if !applies {
        return Ok(None);
    }
    check_caveat_regexes(doc).map_err(|m| malformed(&m))?;
    let mut doc = doc.clone();
    if let Some(o) = doc.as_object_mut() {
        o.remove("gates");
    }
    let constraint = Constraint::compile(&doc, index, &format!("/caveats/{index}"))
        .map_err(|e| malformed(&e.to_string()))?;
    Ok(Some(Caveat {
        declared_by: declared_by.to_string(),
        constraint,
    }))
}

/// Holds every regex of a caveat document (a `pattern`'s `regex`, a `matches` operand anywhere
/// in an expression) to the caveat budget, so an agent-written caveat cannot make the engine
/// compile a large automaton.
fn check_caveat_regexes(doc: &Value) -> std::result::Result<(), String> {
    let mut sources: Vec<&str> = Vec::new();
    if doc.get("type").and_then(Value::as_str) == Some("pattern") {
        if let Some(r) = doc.get("regex").and_then(Value::as_str) {
            sources.push(r);
        }
    }
    let mut stack = vec![doc];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(o) => {
                if o.get("op").and_then(Value::as_str) == Some("matches") {
                    if let Some(r) = o.get("value").and_then(Value::as_str) {
                        sources.push(r);
                    }
                }
                stack.extend(o.values());
            }
            Value::Array(a) => stack.extend(a),
            _ => {}
        }
    }
    for r in sources {
        if r.len() > CAVEAT_REGEX_MAX_LEN {
            return Err(format!(
                "a caveat regex may be at most {CAVEAT_REGEX_MAX_LEN} bytes, this one is {}",
                r.len()
            ));
        }
        whole_regex_within(r, CAVEAT_REGEX_SIZE_LIMIT)
            .map_err(|m| format!("caveat regex over its budget or invalid: {m}"))?;
    }
    Ok(())
}

fn gate_matches(pattern: &str, gate: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => gate.starts_with(prefix),
        None => pattern == gate,
    }
}

/// Everything up to the counters: caller, gate, permissions, input schema, stateless
/// constraints; and the counter operations this request would perform.
pub(super) fn evaluate<'a>(inputs: Inputs<'a, '_>) -> Result<Evaluation<'a>> {
    let Inputs {
        policy,
        caller,
        caveats,
        req,
        request_hash,
        now,
        dry_run,
        presented,
        pin,
        trust,
        pid,
    } = inputs;
    let payload = payload_of(req);
    // The ids, the gate's name, its mode and the policy's hash are shared, not copied.
    let (agent_id, passport_id) = match caller {
        Caller::Agent(v) => (Some(v.ids.0.clone()), Some(v.ids.1.clone())),
        _ => (None, None),
    };
    let gate = policy.and_then(|p| p.gate(&req.gate));
    let decision = Decision {
        decision: Verdict::Deny,
        allowed: false,
        gate: match gate {
            Some(g) => g.shown().name.clone(),
            None => Text::from(req.gate.clone()),
        },
        agent_id,
        passport_id,
        mode: Text::from(gate.map_or(Mode::Enforce, |g| g.mode).as_str()),
        dry_run,
        evaluation_id: random_id_in("evl", pid)?,
        policy_hash: policy.map(|p| p.hash_text.clone()),
        // The engine's own checks, the gate's constraints and the caveats, without regrowing.
        checks: Vec::with_capacity(5 + gate.map_or(0, |g| g.constraints.len()) + caveats.len()),
        remaining: BTreeMap::new(),
        attestation: None,
        replayed: false,
        hold_id: None,
        approval_request: None,
        redacted_payload: None,
    };
    let mut eval = Evaluation {
        decision,
        pending: Vec::new(),
        stateless_ok: false,
        strict_ok: false,
        strict_approval: false,
        identity_ok: false,
        base_checks: 0,
        request_hash,
        client: req.client.clone(),
        approval: ApprovalNeed::None,
        approval_reasons: Vec::new(),
        // Both are for the signed record only: a dry run writes none.
        principal: match caller {
            Caller::Agent(v) if !dry_run => Some(v.principal.clone()),
            _ => None,
        },
        delegation: match caller {
            Caller::Agent(v) if !dry_run => v.chain_ids().map(str::to_string).collect(),
            _ => Vec::new(),
        },
        bundle: None,
        nonce: trust.nonce,
        pop: trust.record,
        catalog: None,
    };
    let checks = &mut eval.decision.checks;

    let Some(policy) = policy else {
        checks.push(
            Check::new(
                "gate",
                "gate",
                false,
                "no policy is loaded: everything is denied",
            )
            .with_code(CheckCode::GateUnknown.as_str()),
        );
        return Ok(eval);
    };
    let anonymous_gate = policy
        .anonymous
        .as_ref()
        .filter(|a| a.gates.contains(&req.gate));
    // Who: the passport, or the anonymous section.
    match caller {
        Caller::Refused(check) => {
            checks.push((**check).clone());
            return Ok(eval);
        }
        Caller::Anonymous if anonymous_gate.is_none() => {
            checks.push(
                Check::new(
                    "passport",
                    "passport",
                    false,
                    format!(
                        "no passport presented, and gate {:?} is not open to anonymous callers",
                        req.gate
                    ),
                )
                .with_code(CheckCode::PassportMissing.as_str()),
            );
            return Ok(eval);
        }
        Caller::Anonymous => checks.push(Check::new(
            "passport",
            "passport",
            true,
            "anonymous caller admitted by the policy's anonymous section",
        )),
        Caller::Agent(v) => checks.push(Check::new(
            "passport",
            "passport",
            true,
            Text::lazy(PassportVerified(v.clone())),
        )),
    }
    // The catalog pin: a request on terms this engine does not have is denied.
    if let Some(check) = pin {
        let passed = check.passed;
        checks.push(check);
        if !passed {
            return Ok(eval);
        }
    }
    // The trust level and the proof of possession: failing them is never relaxed.
    let trusted = trust.checks.iter().all(|c| c.passed);
    checks.extend(trust.checks);
    if !trusted {
        eval.nonce = None;
        eval.pop = None;
        return Ok(eval);
    }
    // Which gate.
    match (gate, caller) {
        (Some(g), _) => checks.push(Check::new("gate", "gate", true, g.shown().gate.clone())),
        (None, Caller::Anonymous) => checks.push(Check::new(
            "gate",
            "gate",
            true,
            format!("gate {:?} judged by the anonymous section alone", req.gate),
        )),
        (None, _) => {
            checks.push(
                Check::new(
                    "gate",
                    "gate",
                    false,
                    format!("gate {:?} is not defined by the policy", req.gate),
                )
                .with_code(CheckCode::GateUnknown.as_str()),
            );
            return Ok(eval);
        }
    }
    // Permissions.
    if let (Some(g), Caller::Agent(v)) = (gate, caller) {
        let missing: Vec<&str> = g
            .require
            .iter()
            .filter(|r| !v.has_permission(r))
            .map(String::as_str)
            .collect();
        checks.push(if missing.is_empty() {
            Check::new(
                "permissions",
                "permissions",
                true,
                g.shown().permissions.clone(),
            )
        } else {
            Check::new(
                "permissions",
                "permissions",
                false,
                format!("passport lacks {}", missing.join(", ")),
            )
            .with_code(CheckCode::PermissionDenied.as_str())
        });
    }
    if let Some(check) = gate.and_then(|g| g.validate_input(payload)) {
        checks.push(check);
    }
    // Constraints: the gate's (or the anonymous section's), then the passport's caveats.
    let ctx = EvalCtx {
        payload,
        now_ms: now,
    };
    let scope_ctx = ScopeCtx {
        now_ms: now,
        caller,
        client: req.client.as_deref(),
        gate: &req.gate,
        payload,
        hold: req.hold,
    };
    // (constraint, whose counter namespace, whether it is a passport's caveat); the namespace
    // is spelled out only for a counter. Iterated, not collected.
    let of_gate = gate.into_iter().flat_map(|g| {
        let ns = Namespace::Gate(&g.shown().counters);
        g.constraints.iter().map(move |c| (c, ns, false))
    });
    let anonymous = match (anonymous_gate, caller) {
        (Some(a), Caller::Anonymous) => Some(a),
        _ => None,
    };
    let of_anonymous = anonymous.into_iter().flat_map(|a| {
        a.constraints
            .iter()
            .map(|c| (c, Namespace::Anonymous, false))
    });
    let of_caveats = caveats
        .iter()
        .map(|cav| (&cav.constraint, Namespace::Passport(&cav.declared_by), true));
    let list = of_gate.chain(of_anonymous).chain(of_caveats);
    // Identity, gate and permissions are never relaxed.
    let mut strict_ok = checks.iter().all(|c| c.passed);
    let mut pending = Vec::new();
    let mut redacted: Option<Value> = None;
    // Each approval whose `when` is not definitely false, with the reason when it is unknown.
    let mut approvals: Vec<(&Constraint, Option<String>)> = Vec::new();
    for (c, ns, caveat) in list {
        if let Some(check) = c.check(&ctx) {
            if let Rule::Pii(rule) = &c.rule {
                if rule.mode == PiiMode::Redact {
                    redacted = Some(rule.redact(redacted.as_ref().unwrap_or(payload)));
                }
            }
            strict_ok &= check.passed || !caveat;
            checks.push(check);
            continue;
        }
        match &c.rule {
            Rule::Counter(counter) => {
                match resolve_counter(c, counter, ns.key(), caveat, &scope_ctx) {
                    Ok(mut p) => {
                        p.relaxed = !caveat;
                        pending.push(p)
                    }
                    Err(msg) => {
                        strict_ok &= !caveat;
                        checks.push(Check::new(c.shown.id.clone(), c.ty.as_str(), false, msg))
                    }
                }
            }
            // An unreadable value escalates: unknown is never taken as "no approval needed".
            Rule::Approval(when) => match when.explain(payload) {
                Outcome::False(_) => checks.push(Check::new(
                    c.shown.id.clone(),
                    c.ty.as_str(),
                    true,
                    "no approval needed",
                )),
                outcome => {
                    eval.strict_approval |= caveat;
                    let why = match outcome {
                        Outcome::Unknown(why) => Some(why),
                        _ => None,
                    };
                    approvals.push((c, why))
                }
            },
            _ => {}
        }
    }
    eval.decision.redacted_payload = redacted;
    if !approvals.is_empty() {
        let (need, check) = approval_check(&approvals, presented, &eval, now);
        eval.approval_reasons = approvals
            .iter()
            .map(|(c, _)| serde_json::json!({"constraint": c.id, "description": c.description}))
            .collect();
        eval.approval = need;
        // A caveat's approval is never relaxed: a bad token for it fails in monitor mode too.
        let refused = check
            .iter()
            .any(|c| !c.passed && c.code.as_deref() != Some(CheckCode::ApprovalRequired.as_str()));
        strict_ok &= !(eval.strict_approval && refused);
        eval.decision.checks.extend(check);
    }
    let checks = &mut eval.decision.checks;
    // An approval that is merely required does not fail the request: it escalates it.
    eval.stateless_ok = checks
        .iter()
        .all(|c| c.passed || c.code.as_deref() == Some(CheckCode::ApprovalRequired.as_str()));
    eval.strict_ok = strict_ok;
    eval.base_checks = checks.len();
    eval.identity_ok = true;
    eval.pending = pending;
    Ok(eval)
}

/// When the gate records run bundles: builds this evaluation's bundle, or — over a cap — fails
/// the request with a `record` check (`RECORD_LIMIT`), never relaxed by monitor mode.
fn record_bundle(eval: &mut Evaluation<'_>, policy: Option<&Policy>, req: &Request) -> Result<()> {
    let Some(spec) = policy
        .and_then(|p| p.gate(&req.gate))
        .and_then(|g| g.record)
    else {
        return Ok(());
    };
    let d = &eval.decision;
    let payload = d.redacted_payload.as_ref().unwrap_or(payload_of(req));
    match spec.bundle(&d.evaluation_id, &d.gate, payload, req.trace.as_ref()) {
        Ok((bundle, trace)) => {
            eval.bundle = Some(crate::bundle::Recorded::new(&bundle, trace)?);
        }
        Err(why) => {
            eval.decision.checks.push(
                Check::new("record", "record", false, why)
                    .with_code(CheckCode::RecordLimit.as_str()),
            );
            eval.stateless_ok = false;
            eval.strict_ok = false;
            eval.base_checks = eval.decision.checks.len();
        }
    }
    Ok(())
}

#[cfg(test)]
fn fmt(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Adds the cumulative checks for `usage`, then the verdict and `remaining`.
/// Whose counters a constraint's counters are.
#[derive(Clone, Copy)]
enum Namespace<'a> {
    /// A gate's, spelled already (`gate:<name>`).
    Gate(&'a crate::store::KeyPart),
    Anonymous,
    /// A caveat's: the passport that declared it.
    Passport(&'a str),
}

impl Namespace<'_> {
    fn key(self) -> crate::store::KeyPart {
        match self {
            Namespace::Gate(spelled) => spelled.clone(),
            Namespace::Anonymous => CounterKey::shared(CounterKey::ANONYMOUS),
            Namespace::Passport(p) => CounterKey::passport(p).into(),
        }
    }
}

/// `passport … of agent "…" verified`, rendered when read.
struct PassportVerified(Arc<Verified>);

impl Render for PassportVerified {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let v = &self.0;
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "passport {} of agent {:?} verified",
            v.passport_id, v.agent_id
        );
    }
}

/// A cumulative check's message (`spend 120 + 80 within 1000 per day`), rendered when read.
struct CounterMessage {
    kind: CounterKind,
    passed: bool,
    used: Decimal,
    amount: Decimal,
    /// What the counter would hold (`None`: it would overflow).
    total: Option<Decimal>,
    max: Decimal,
    label: Arc<str>,
}

impl Render for CounterMessage {
    fn render(&self, out: &mut String) {
        use crate::decimal::normalized;
        use std::fmt::Write;
        let (max, label) = (normalized(self.max), &self.label);
        let (u, a) = (normalized(self.used), normalized(self.amount));
        let total = self.total.map(normalized);
        let observed = total.as_ref().map_or("overflow", |t| t.as_str());
        // Writing to a String cannot fail.
        let _ = match (self.kind, self.passed) {
            (CounterKind::Spend, true) => write!(out, "spend {u} + {a} within {max}{label}"),
            (CounterKind::Spend, false) => write!(out, "spend {u} + {a} would exceed {max}{label}"),
            (CounterKind::Rate, true) => write!(out, "request {observed} of {max}{label}"),
            (CounterKind::Rate, false) => {
                write!(out, "request {observed} would exceed {max}{label}")
            }
            (CounterKind::Quota, true) => write!(out, "request {observed} of quota {max}"),
            (CounterKind::Quota, false) => {
                write!(out, "request {observed} would exceed quota {max}")
            }
            (CounterKind::Concurrency, true) => {
                write!(out, "{u} of {max} in flight, a slot is free")
            }
            (CounterKind::Concurrency, false) => {
                write!(out, "{u} of {max} in flight, no slot is free")
            }
        };
    }
}

pub(super) fn finish(eval: &mut Evaluation<'_>, usage: &[Decimal]) {
    let mut all_ok = eval.stateless_ok;
    let mut strict_ok = eval.strict_ok;
    // Each counter's usage, by pending op; its check goes straight into the decision (nothing is
    // pushed there between the two loops below, so the order is the pending ops').
    let mut useds: smallvec::SmallVec<[Decimal; 8]> = smallvec::SmallVec::new();
    // Usage is per distinct counter; a counter two constraints share must hold both amounts.
    let slots = slots(&eval.pending);
    // Per counter: (what must be free, what the request adds).
    let mut totals: smallvec::SmallVec<[(Decimal, Decimal); 8]> = smallvec::SmallVec::new();
    for (p, &slot) in eval.pending.iter().zip(&slots) {
        let (need, amount) = (need_of(&p.op), p.op.amount);
        match totals.get_mut(slot) {
            Some((n, a)) => (*n, *a) = (n.saturating_add(need), a.saturating_add(amount)),
            None => totals.push((need, amount)),
        }
    }
    let total_of = |slot: usize| totals.get(slot).copied().unwrap_or_default();
    for (p, &slot) in eval.pending.iter().zip(&slots) {
        let used = usage.get(slot).copied().unwrap_or(Decimal::ZERO);
        let need = total_of(slot).0;
        let total = used.checked_add(need);
        let passed = total.is_some_and(|t| t <= p.op.max);
        all_ok &= passed;
        strict_ok &= passed || p.relaxed;
        let message = Text::lazy(CounterMessage {
            kind: p.kind,
            passed,
            used,
            amount: p.op.amount,
            total,
            max: p.op.max,
            label: p.label.clone(),
        });
        let observed = total.map_or_else(|| Text::from("overflow"), Text::normalized);
        let mut check = Check::new(
            p.constraint.shown.id.clone(),
            p.constraint.ty.as_str(),
            passed,
            message,
        )
        .with_values(observed, Text::normalized(p.op.max));
        if !passed {
            check.max_admissible = Some(Text::normalized((p.op.max - used).max(Decimal::ZERO)));
        }
        eval.decision.checks.push(check);
        useds.push(used);
    }
    let monitor = eval.decision.mode == Mode::Monitor.as_str();
    let needs_approval = eval.approval == ApprovalNeed::Required;
    // Monitor mode relaxes the gate's own constraints only: identity, permissions and the
    // passport's caveats (set by its issuer or a parent agent) are still enforced.
    let allowed = (all_ok && !needs_approval)
        || (monitor && eval.identity_ok && strict_ok && !(needs_approval && eval.strict_approval));
    for ((&used, p), &slot) in useds.iter().zip(&eval.pending).zip(&slots) {
        let after = if allowed {
            used.saturating_add(total_of(slot).1)
        } else {
            used
        };
        let mut left = (p.op.max - after).max(Decimal::ZERO).normalize();
        if let Some(c) = p.constraint.counter() {
            // The policy's own precision: a cap of 1000.00 leaves "600.00".
            if left.scale() < c.scale {
                left.rescale(c.scale);
            }
        }
        // Typed until read: a dry run that nobody asks for `remaining` formats nothing.
        eval.decision
            .remaining
            .entry(p.constraint.shown.id.clone())
            // A caveat and a gate constraint may share an id: report the tighter.
            .and_modify(|v| {
                // Every value here was inserted just above, as a decimal: compared, not parsed.
                if v.as_decimal().is_some_and(|old| old > left) {
                    *v = Text::decimal(left);
                }
            })
            .or_insert_with(|| Text::decimal(left));
    }
    eval.decision.allowed = allowed;
    eval.decision.decision = match (allowed, all_ok && needs_approval) {
        (true, _) => Verdict::Allow,
        (false, true) => Verdict::Escalate,
        (false, false) => Verdict::Deny,
    };
    eval.decision.approval_request = (eval.decision.decision == Verdict::Escalate).then(|| {
        let d = &eval.decision;
        serde_json::json!({
            "evaluation_id": d.evaluation_id, "fingerprint": eval.fingerprint().ok(), "gate": d.gate,
            "agent_id": d.agent_id, "passport_id": d.passport_id, "reasons": eval.approval_reasons,
        })
    });
}

#[cfg(test)]
mod differential {
    //! The lazy cumulative-check message against the eager formatting it replaced (issue 20).

    use proptest::prelude::*;
    use rust_decimal::Decimal;

    use super::{fmt, CounterMessage, Render};
    use crate::constraint::CounterKind;

    /// The eager evaluator's message, as it was written before (kept here for this test only).
    fn eager(m: &CounterMessage) -> String {
        let observed = m.total.map_or_else(|| "overflow".to_string(), fmt);
        let (max, label, u, a) = (fmt(m.max), &m.label, fmt(m.used), fmt(m.amount));
        match (m.kind, m.passed) {
            (CounterKind::Spend, true) => format!("spend {u} + {a} within {max}{label}"),
            (CounterKind::Spend, false) => format!("spend {u} + {a} would exceed {max}{label}"),
            (CounterKind::Rate, true) => format!("request {observed} of {max}{label}"),
            (CounterKind::Rate, false) => format!("request {observed} would exceed {max}{label}"),
            (CounterKind::Quota, true) => format!("request {observed} of quota {max}"),
            (CounterKind::Quota, false) => format!("request {observed} would exceed quota {max}"),
            (CounterKind::Concurrency, true) => format!("{u} of {max} in flight, a slot is free"),
            (CounterKind::Concurrency, false) => format!("{u} of {max} in flight, no slot is free"),
        }
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        (any::<i64>(), 0u32..12).prop_map(|(n, scale)| Decimal::new(n, scale))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn counter_messages_equal_the_eager_ones(
            kind in 0usize..4,
            passed in any::<bool>(),
            used in decimal(),
            amount in decimal(),
            total in proptest::option::of(decimal()),
            max in decimal(),
            label in prop_oneof![Just(""), Just(" per agent"), Just(" per day (UTC)")],
        ) {
            let kind = [
                CounterKind::Spend,
                CounterKind::Rate,
                CounterKind::Quota,
                CounterKind::Concurrency,
            ][kind];
            let m = CounterMessage { kind, passed, used, amount, total, max, label: label.into() };
            let mut lazy = String::new();
            m.render(&mut lazy);
            prop_assert_eq!(lazy, eager(&m));
        }
    }
}
