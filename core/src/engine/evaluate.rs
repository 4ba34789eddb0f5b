//! Evaluation: who is asking, which gate, which permissions, every constraint; then, once the
//! store has said what is used, the cumulative checks, the verdict and `remaining`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::Value;

use super::request::{payload_of, Request};
use crate::approval;
use crate::constraint::pii::PiiMode;
use crate::constraint::values::whole_regex_within;
use crate::constraint::{Constraint, CounterKind, EvalCtx, Rule, Scope};
use crate::decision::{Check, Decision, Verdict};
use crate::error::{Error, Result};
use crate::expr::Outcome;
use crate::ids::random_id;
use crate::json;
use crate::passport::{Principal, Verified};
use crate::policy::{Mode, Policy};
use crate::store::{
    ApprovalRecord, ApprovalState, CounterKey, CounterOp, HeldOp, SettleRule, WindowKind,
};

/// A caveat compiled for one gate it applies to, with the id of the passport that declared it.
#[derive(Debug)]
pub(super) struct Caveat {
    pub(super) declared_by: String,
    pub(super) constraint: Constraint,
}

/// The longest regex a caveat may carry (in bytes of source). Caveats are written by agents (a
/// delegating agent chooses its child's): they get a far smaller regex budget than the operator's
/// policy.
pub const CAVEAT_REGEX_MAX_LEN: usize = 256;
/// The compiled-size budget of one caveat regex (the policy's is 1 MiB).
pub const CAVEAT_REGEX_SIZE_LIMIT: usize = 32 << 10;

/// Who is asking, once the passport has been looked at.
pub(super) enum Caller {
    Agent(Arc<Verified>),
    Anonymous,
    Refused(Check),
}

/// A counter constraint resolved for one request.
pub(super) struct Pending<'a> {
    pub(super) constraint: &'a Constraint,
    pub(super) kind: CounterKind,
    pub(super) label: String,
    pub(super) op: CounterOp,
    pub(super) settle: SettleRule,
    /// Whether `monitor` mode relaxes this counter: the gate's (or the anonymous section's) own
    /// constraints are relaxed; a passport's caveats never are.
    pub(super) relaxed: bool,
}

impl Pending<'_> {
    /// The operation the store performs. In `monitor` mode a relaxed counter still counts, but
    /// its bound is lifted (the store enforces every bound of a commit: a caveat's must hold).
    pub(super) fn store_op(&self, monitor: bool) -> CounterOp {
        let mut op = self.op.clone();
        if monitor && self.relaxed {
            op.max = Decimal::MAX;
        }
        op
    }

    pub(super) fn held(&self, monitor: bool) -> HeldOp {
        HeldOp {
            op: self.store_op(monitor),
            settle: self.settle.clone(),
        }
    }
}

/// An approval token presented with a request, as read before evaluation: its claims once its
/// signature verified with a trusted key (or why not), and the store's record of the approval it
/// names.
pub(super) struct Presented {
    pub(super) claims: std::result::Result<approval::Claims, String>,
    pub(super) record: Option<ApprovalRecord>,
}

/// What one evaluation looks at.
pub(super) struct Inputs<'a, 'r> {
    pub(super) policy: Option<&'a Policy>,
    pub(super) caller: &'r Caller,
    pub(super) caveats: &'a [Caveat],
    pub(super) req: &'r Request,
    pub(super) request_hash: String,
    pub(super) now: i64,
    pub(super) dry_run: bool,
    pub(super) presented: Option<&'r Presented>,
}

/// Where a request stands with the `approval` constraints that apply to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ApprovalNeed {
    /// No approval constraint holds.
    None,
    /// One holds and no valid approval was presented: escalate (if all else passes).
    Required,
    /// One holds and this approval (evaluation id, token id) covers it: use it up on admission.
    Granted(String, String),
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
    pub(super) request_hash: String,
    /// The host's key of an anonymous caller (part of the approval fingerprint).
    pub(super) client: Option<String>,
    pub(super) approval: ApprovalNeed,
    /// The ids (and descriptions) of the approval constraints that hold.
    pub(super) approval_reasons: Vec<Value>,
    /// Whom the passport speaks for (`None` for anonymous or refused callers).
    pub(super) principal: Option<Principal>,
    /// The ids of the passport's chain, root first (empty without a verified passport).
    pub(super) delegation: Vec<String>,
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
            &self.request_hash,
        )
    }
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

/// For each of `pending`, the index of its counter among the distinct counters of the request
/// (first appearance order). Two constraints may name one counter (a gate and the anonymous
/// section both declaring a `global` constraint with one id): the store must see it once, with
/// both amounts, or it loses or double-counts an update.
fn slots(pending: &[Pending<'_>]) -> Vec<usize> {
    let mut firsts: Vec<usize> = Vec::new();
    pending
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let same = |j: &usize| {
                pending
                    .get(*j)
                    .is_some_and(|q| q.op.key == p.op.key && q.op.window == p.op.window)
            };
            firsts.iter().position(same).unwrap_or_else(|| {
                firsts.push(i);
                firsts.len() - 1
            })
        })
        .collect()
}

/// What one pending op needs free in its counter: its amount, or its `need` when larger.
fn need_of(op: &CounterOp) -> Decimal {
    op.need.max(op.amount)
}

/// The store operations of `pending`, one per distinct counter (see [`slots`]): amounts and
/// needs summed, the strictest bound kept (see [`Pending::store_op`] for `monitor`).
pub(super) fn ops(pending: &[Pending<'_>], monitor: bool) -> Vec<CounterOp> {
    let mut out: Vec<CounterOp> = Vec::new();
    for (p, slot) in pending.iter().zip(slots(pending)) {
        let op = p.store_op(monitor);
        match out.get_mut(slot) {
            Some(m) => {
                m.need = need_of(m).saturating_add(need_of(&op));
                m.amount = m.amount.saturating_add(op.amount);
                m.max = m.max.min(op.max);
            }
            None => out.push(op),
        }
    }
    out
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
    } = inputs;
    let payload = payload_of(req);
    let (agent_id, passport_id) = match caller {
        Caller::Agent(v) => (Some(v.agent_id.clone()), Some(v.passport_id.clone())),
        _ => (None, None),
    };
    let gate = policy.and_then(|p| p.gate(&req.gate));
    let decision = Decision {
        decision: Verdict::Deny,
        allowed: false,
        gate: req.gate.clone(),
        agent_id,
        passport_id,
        mode: gate.map_or(Mode::Enforce, |g| g.mode).as_str().to_string(),
        dry_run,
        evaluation_id: random_id("evl")?,
        policy_hash: policy.map(|p| p.hash.clone()),
        checks: Vec::new(),
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
        principal: match caller {
            Caller::Agent(v) => Some(v.principal.clone()),
            _ => None,
        },
        delegation: match caller {
            Caller::Agent(v) => v.chain_ids().map(str::to_string).collect(),
            _ => Vec::new(),
        },
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
            .with_code("GATE_UNKNOWN"),
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
            checks.push(check.clone());
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
                .with_code("PASSPORT_MISSING"),
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
            format!(
                "passport {} of agent {:?} verified",
                v.passport_id, v.agent_id
            ),
        )),
    }
    // Which gate.
    match (gate, caller) {
        (Some(g), _) => checks.push(Check::new(
            "gate",
            "gate",
            true,
            format!("gate {:?}", g.name),
        )),
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
                .with_code("GATE_UNKNOWN"),
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
                format!("has {}", g.require.join(", ")),
            )
        } else {
            Check::new(
                "permissions",
                "permissions",
                false,
                format!("passport lacks {}", missing.join(", ")),
            )
            .with_code("PERMISSION_DENIED")
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
    // (constraint, counter namespace, whether it is a passport's caveat)
    let mut list: Vec<(&'a Constraint, String, bool)> = Vec::new();
    if let Some(g) = gate {
        let ns = format!("gate:{}", g.name);
        list.extend(g.constraints.iter().map(|c| (c, ns.clone(), false)));
    }
    if let (Some(a), Caller::Anonymous) = (anonymous_gate, caller) {
        list.extend(
            a.constraints
                .iter()
                .map(|c| (c, "anonymous".to_string(), false)),
        );
    }
    for cav in caveats {
        list.push((
            &cav.constraint,
            format!("passport:{}", cav.declared_by),
            true,
        ));
    }
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
            Rule::Counter(counter) => match resolve_counter(c, counter, &ns, &scope_ctx) {
                Ok(mut p) => {
                    p.relaxed = !caveat;
                    pending.push(p)
                }
                Err(msg) => {
                    strict_ok &= !caveat;
                    checks.push(Check::new(&c.id, c.ty.as_str(), false, msg))
                }
            },
            // An unreadable value escalates: unknown is never taken as "no approval needed".
            Rule::Approval(when) => match when.explain(payload) {
                Outcome::False(_) => {
                    checks.push(Check::new(&c.id, c.ty.as_str(), true, "no approval needed"))
                }
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
            .any(|c| !c.passed && c.code.as_deref() != Some("APPROVAL_REQUIRED"));
        strict_ok &= !(eval.strict_approval && refused);
        eval.decision.checks.extend(check);
    }
    let checks = &mut eval.decision.checks;
    // An approval that is merely required does not fail the request: it escalates it.
    eval.stateless_ok = checks
        .iter()
        .all(|c| c.passed || c.code.as_deref() == Some("APPROVAL_REQUIRED"));
    eval.strict_ok = strict_ok;
    eval.base_checks = checks.len();
    eval.identity_ok = true;
    eval.pending = pending;
    Ok(eval)
}

struct ScopeCtx<'r> {
    now_ms: i64,
    caller: &'r Caller,
    client: Option<&'r str>,
    gate: &'r str,
    payload: &'r Value,
    hold: bool,
}

/// The check of the approval constraints that hold for a request, and what it needs.
fn approval_check(
    approvals: &[(&Constraint, Option<String>)],
    presented: Option<&Presented>,
    eval: &Evaluation<'_>,
    now: i64,
) -> (ApprovalNeed, Vec<Check>) {
    let ids: Vec<&str> = approvals.iter().map(|(c, _)| c.id.as_str()).collect();
    let (first, ty) = (ids.first().copied().unwrap_or("approval"), "approval");
    let fail = |code: &str, why: String| {
        (
            ApprovalNeed::None,
            vec![Check::new(first, ty, false, why).with_code(code)],
        )
    };
    let Some(p) = presented else {
        let checks = approvals
            .iter()
            .map(|(c, unknown)| {
                let why = match (unknown, &c.description) {
                    (Some(u), Some(d)) => format!("{d} (its condition cannot be decided: {u})"),
                    (Some(u), None) => format!("its condition cannot be decided: {u}"),
                    (None, Some(d)) => d.clone(),
                    (None, None) => "its condition holds".into(),
                };
                let why = crate::schema::truncate(&format!("needs a human approval: {why}"));
                Check::new(&c.id, ty, false, why).with_code("APPROVAL_REQUIRED")
            })
            .collect();
        return (ApprovalNeed::Required, checks);
    };
    let claims = match &p.claims {
        Ok(c) => c,
        Err(why) => return fail("APPROVAL_INVALID", why.clone()),
    };
    let Some(record) = &p.record else {
        return fail("APPROVAL_INVALID", "no such approval was granted".into());
    };
    // The token is only a signed pointer: what it admits is the store's record, and the token
    // must say exactly what the record says.
    if claims.evaluation_id != record.evaluation_id
        || claims.fingerprint != record.fingerprint
        || claims.gate != record.gate
        || claims.passport_id != record.passport_id
    {
        return fail(
            "APPROVAL_INVALID",
            "the approval token does not match the approval it names".into(),
        );
    }
    let d = &eval.decision;
    if record.gate != d.gate {
        return fail(
            "APPROVAL_GATE_MISMATCH",
            format!("the approval is for gate {:?}, not this one", record.gate),
        );
    }
    if record.passport_id != d.passport_id {
        return fail(
            "APPROVAL_PASSPORT_MISMATCH",
            "the approval is for another passport".into(),
        );
    }
    if eval.fingerprint().ok().as_ref() != Some(&record.fingerprint) {
        return fail(
            "APPROVAL_PAYLOAD_MISMATCH",
            "the approval is for another payload".into(),
        );
    }
    if claims.exp_ms <= now {
        return fail(
            "APPROVAL_EXPIRED",
            format!("the approval expired at {}", claims.exp_ms),
        );
    }
    match &record.state {
        ApprovalState::Approved { token_id, .. } if *token_id == claims.jti => {
            let message = format!(
                "approved by {:?} ({})",
                claims.approver, claims.evaluation_id
            );
            let checks = ids
                .iter()
                .map(|id| Check::new(id, ty, true, message.clone()))
                .collect();
            (
                ApprovalNeed::Granted(claims.evaluation_id.clone(), claims.jti.clone()),
                checks,
            )
        }
        ApprovalState::Used { .. } => fail("APPROVAL_USED", "the approval was already used".into()),
        ApprovalState::Denied { approver, reason } => fail(
            "APPROVAL_DENIED",
            format!("{approver:?} denied the approval: {reason}"),
        ),
        _ => fail("APPROVAL_INVALID", "no such approval was granted".into()),
    }
}

fn resolve_counter<'a>(
    c: &'a Constraint,
    counter: &crate::constraint::Counter,
    namespace: &str,
    s: &ScopeCtx<'_>,
) -> std::result::Result<Pending<'a>, String> {
    let caveat = namespace.starts_with("passport:");
    let agent = match s.caller {
        Caller::Agent(v) => Some(v),
        _ => None,
    };
    let client = || {
        s.client
            .map(|c| format!("client:{c}"))
            .ok_or_else(|| "no client key was given for this anonymous caller".to_string())
    };
    let (namespace, scope) = match &counter.scope {
        Scope::Global if !caveat => ("global".to_string(), String::new()),
        Scope::Gate if caveat => (namespace.to_string(), format!("gate:{}", s.gate)),
        Scope::Global | Scope::Gate => (namespace.to_string(), String::new()),
        // A caveat's counter belongs to the passport that declared it (so sub-agents share it).
        Scope::Agent | Scope::Passport if caveat => (namespace.to_string(), String::new()),
        // The principal (trusted issuer + root agent), never the leaf's self-chosen `sub`.
        Scope::Agent => (
            namespace.to_string(),
            match agent {
                Some(v) => agent_scope(&v.principal.key()),
                None => client()?,
            },
        ),
        Scope::Passport => (
            namespace.to_string(),
            match agent {
                Some(v) => format!("passport:{}", v.passport_id),
                None => client()?,
            },
        ),
        Scope::Client => (namespace.to_string(), client()?),
        Scope::Field(p) => {
            let values = p.resolve(s.payload);
            let [v] = values.as_slice() else {
                return Err(format!(
                    "scope field {} must name exactly one value",
                    p.as_str()
                ));
            };
            let v = json::canonical_scope_key(v).map_err(|e| e.to_string())?;
            (namespace.to_string(), format!("field:{}={v}", p.as_str()))
        }
    };
    let (amount, need, settle) = match (&counter.kind, &counter.amount) {
        (CounterKind::Spend, Some(field)) => {
            let values = field.resolve(s.payload);
            if values.is_empty() {
                return Err(format!("field {} is missing", field.as_str()));
            }
            let mut sum = Decimal::ZERO;
            for v in values {
                let d = json::to_decimal(v).map_err(|m| format!("{}: {m}", field.as_str()))?;
                if d.is_sign_negative() && !d.is_zero() {
                    return Err(format!(
                        "{}: a spend amount cannot be negative ({d})",
                        field.as_str()
                    ));
                }
                sum = sum
                    .checked_add(d)
                    .ok_or_else(|| format!("{}: sum overflows", field.as_str()))?;
            }
            (
                sum,
                sum,
                SettleRule::Actual {
                    field: field.as_str().to_string(),
                },
            )
        }
        // A slot in flight is taken by a hold and given back when it settles; a request without
        // a hold takes none but still needs one free.
        (CounterKind::Concurrency, _) => (
            if s.hold { Decimal::ONE } else { Decimal::ZERO },
            Decimal::ONE,
            SettleRule::Release,
        ),
        _ => (Decimal::ONE, Decimal::ONE, SettleRule::Keep),
    };
    let window = match &counter.window {
        None => WindowKind::Forever,
        Some(w) => match w.calendar {
            Some(cal) => WindowKind::Calendar {
                unit: cal.unit,
                tz: cal.tz,
            },
            None if w.sliding => WindowKind::Sliding { size_ms: w.size_ms },
            None => WindowKind::Fixed { size_ms: w.size_ms },
        },
    };
    // Fail closed on a clock a calendar cannot place (outside years 1–9999).
    window.check_time(s.now_ms).map_err(|e| e.to_string())?;
    let label = counter
        .window
        .as_ref()
        .map_or(String::new(), |w| format!(" per {}", w.label));
    Ok(Pending {
        constraint: c,
        kind: counter.kind,
        label,
        op: CounterOp {
            key: CounterKey {
                namespace,
                constraint: c.id.clone(),
                scope,
            },
            window,
            amount,
            need,
            max: counter.max,
        },
        settle,
        relaxed: false,
    })
}

/// The scope value of `scope: "agent"` counters for a principal key ([`Principal::key`]).
///
/// [`Principal::key`]: crate::passport::Principal::key
pub fn agent_scope(principal_key: &str) -> String {
    format!("agent:{principal_key}")
}

fn fmt(d: Decimal) -> String {
    d.normalize().to_string()
}

/// Adds the cumulative checks for `usage`, then the verdict and `remaining`.
pub(super) fn finish(eval: &mut Evaluation<'_>, usage: &[Decimal]) {
    let mut all_ok = eval.stateless_ok;
    let mut strict_ok = eval.strict_ok;
    let mut results = Vec::with_capacity(eval.pending.len());
    // Usage is per distinct counter; a counter two constraints share must hold both amounts.
    let slots = slots(&eval.pending);
    // Per counter: (what must be free, what the request adds).
    let mut totals: Vec<(Decimal, Decimal)> = Vec::new();
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
        let observed = total.map_or_else(|| "overflow".to_string(), fmt);
        let (max, label, u, a) = (fmt(p.op.max), &p.label, fmt(used), fmt(p.op.amount));
        let message = match (p.kind, passed) {
            (CounterKind::Spend, true) => format!("spend {u} + {a} within {max}{label}"),
            (CounterKind::Spend, false) => format!("spend {u} + {a} would exceed {max}{label}"),
            (CounterKind::Rate, true) => format!("request {observed} of {max}{label}"),
            (CounterKind::Rate, false) => format!("request {observed} would exceed {max}{label}"),
            (CounterKind::Quota, true) => format!("request {observed} of quota {max}"),
            (CounterKind::Quota, false) => format!("request {observed} would exceed quota {max}"),
            (CounterKind::Concurrency, true) => format!("{u} of {max} in flight, a slot is free"),
            (CounterKind::Concurrency, false) => format!("{u} of {max} in flight, no slot is free"),
        };
        let mut check = Check::new(&p.constraint.id, p.constraint.ty.as_str(), passed, message)
            .with_values(observed, max);
        if !passed {
            check.max_admissible = Some(fmt((p.op.max - used).max(Decimal::ZERO)));
        }
        results.push((check, used));
    }
    let monitor = eval.decision.mode == Mode::Monitor.as_str();
    let needs_approval = eval.approval == ApprovalNeed::Required;
    // Monitor mode relaxes the gate's own constraints only: identity, permissions and the
    // passport's caveats (set by its issuer or a parent agent) are still enforced.
    let allowed = (all_ok && !needs_approval)
        || (monitor && eval.identity_ok && strict_ok && !(needs_approval && eval.strict_approval));
    for (((check, used), p), &slot) in results.into_iter().zip(&eval.pending).zip(&slots) {
        let after = if allowed {
            used.saturating_add(total_of(slot).1)
        } else {
            used
        };
        let left = (p.op.max - after).max(Decimal::ZERO);
        eval.decision
            .remaining
            .entry(p.constraint.id.clone())
            // A caveat and a gate constraint may share an id: report the tighter.
            .and_modify(|v| {
                if v.parse::<Decimal>().is_ok_and(|old| old > left) {
                    *v = fmt(left);
                }
            })
            .or_insert_with(|| fmt(left));
        eval.decision.checks.push(check);
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
