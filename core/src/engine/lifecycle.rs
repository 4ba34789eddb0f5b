//! What happens after a decision: holds are settled, released or expire; escalated requests are
//! approved or denied. Every step is signed into the engine's chain, atomically with its effect.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{Engine, Event, DEFAULT_APPROVAL_TTL_MS, MAX_NAME_LEN};
use crate::approval;
use crate::constraint::{EvalCtx, Rule};
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::json;
use crate::store::{
    ApprovalState, AttestationFilter, DueHold, HoldOutcome, HoldRecord, HoldResolution, HoldState,
    SettleRule,
};

/// How often `enforce` looks for expired holds, at most.
const SWEEP_EVERY_MS: i64 = 1000;
/// The most due holds one `enforce` looks at (it expires them inline, before deciding): the
/// rest wait for the next sweep or for a host's background sweeper ([`Engine::expire_holds`]).
pub const INLINE_SWEEP_LIMIT: usize = 64;
/// How many due holds are fetched from the store at a time.
const SWEEP_BATCH: usize = 256;

impl Engine {
    /// Settles a hold: the counters keep the actual amounts. `actual` is a payload of the
    /// request's shape holding the real values (`{"amount": 42}`); `None`, or a field it lacks,
    /// keeps the reserved amount. Rate limits and quotas keep their count; `concurrency` gives its
    /// slot back. Returns `{hold_id, state, amounts, attestation}`.
    ///
    /// An actual amount above the reservation is recorded even when it takes its counter past the
    /// cap — the money is already spent, and a cap that refused to count it would only hide it:
    /// the `hold.settled` record's `data` and the result then carry `overrun`, a list with, per
    /// constraint passed, `constraint`, `cap`, `used_before` (the usage before this settle, the
    /// reservation included), `reserved` and `actual` (decimal strings). Later requests
    /// see the counter as it is (over its cap: denied until the window moves on). A settle without
    /// `overrun` stayed within every cap at the moment it was stored. (`HOLD_EXCEEDS` is no
    /// longer produced.)
    pub fn settle(&self, hold_id: &str, actual: Option<&Value>) -> Result<Value> {
        if let Some(a) = actual.filter(|a| !a.is_object()) {
            return Err(Error::argument(
                "/actual",
                format!(
                    "must be an object of the request's shape holding the real amounts \
                     (such as {{\"amount\": 42}}), not {}",
                    json::type_name(a)
                ),
            ));
        }
        let hold = self.open_hold(hold_id)?;
        if let Some(a) = actual {
            json::check_bounds(a, json::Limits::PAYLOAD)
                .map_err(|e| e.into_error(json::Context::Payload))?;
        }
        let mut amounts = Vec::with_capacity(hold.ops.len());
        for h in &hold.ops {
            amounts.push(match (&h.settle, actual) {
                (SettleRule::Keep, _) => h.op.amount,
                (SettleRule::Release, _) => Decimal::ZERO,
                (SettleRule::Actual { .. }, None) => h.op.amount,
                (SettleRule::Actual { field }, Some(a)) => {
                    actual_amount(field, a)?.unwrap_or(h.op.amount)
                }
            });
        }
        self.resolve_hold(&hold, HoldState::Settled, &amounts)
    }

    /// Releases a hold: every counter gives its reservation back.
    pub fn release(&self, hold_id: &str) -> Result<Value> {
        let hold = self.open_hold(hold_id)?;
        self.resolve_hold(
            &hold,
            HoldState::Released,
            &vec![Decimal::ZERO; hold.ops.len()],
        )
    }

    /// Expires at most `limit` holds whose TTL has passed, oldest first, and returns how many it
    /// expired (`usize::MAX`: all that are due). An expired hold is **settled at its reserved
    /// amounts** — rate limits and quotas keep their count, spend keeps the reservation — and
    /// only `concurrency` slots are freed: a host that never settles never gets calls for free.
    /// `release` is the explicit "the action did not happen".
    ///
    /// `enforce` expires due holds too, but at most [`INLINE_SWEEP_LIMIT`] per call and once a
    /// second, so a backlog never lands on one request; a host with many holds (or little
    /// traffic) calls this from a timer — its background sweeper:
    ///
    /// ```
    /// # use passgate::{Engine, Issuer};
    /// # let engine = Engine::builder().policy_json(r#"{"version": 1, "gates": {}}"#).build().unwrap();
    /// // Every few seconds, on a thread or task of the host's:
    /// while engine.expire_holds(1000).unwrap() == 1000 {}
    /// ```
    ///
    /// A stored hold that cannot be read (a corrupt row) is skipped on its own — logged
    /// (`log::warn!`) and taken out of the open holds, its counters left at the reservation —
    /// and never stalls the sweep. So is a hold whose expiry fails for a reason of its own; a
    /// store failure stops the sweep with its error.
    pub fn expire_holds(&self, limit: usize) -> Result<usize> {
        self.sweep(limit).map(|(expired, _)| expired)
    }

    /// Looks at up to `limit` due holds; returns (expired, looked at).
    fn sweep(&self, limit: usize) -> Result<(usize, usize)> {
        let now = self.clock.now_ms();
        let (mut expired, mut seen) = (0, 0);
        while seen < limit {
            let batch = (limit - seen).min(SWEEP_BATCH);
            let due = self.store.holds_due(now, batch)?;
            let fetched = due.len();
            for d in due {
                seen += 1;
                let hold = match d {
                    DueHold::Hold(h) => h,
                    DueHold::Unreadable { id, reason } => {
                        self.skip_hold(&id, &reason)?;
                        continue;
                    }
                };
                let kept: Vec<Decimal> = hold
                    .ops
                    .iter()
                    .map(|h| match h.settle {
                        SettleRule::Release => Decimal::ZERO,
                        SettleRule::Keep | SettleRule::Actual { .. } => h.op.amount,
                    })
                    .collect();
                match self.resolve_hold(&hold, HoldState::Expired, &kept) {
                    Ok(_) => expired += 1,
                    // Another engine closed it meanwhile.
                    Err(Error::HoldClosed(_) | Error::HoldUnknown(_)) => {}
                    // The store failing (or a chain break found on the way) stops the sweep.
                    Err(e @ (Error::StoreUnavailable(_) | Error::ChainConflict { .. })) => {
                        return Err(e)
                    }
                    // Anything else is this hold's own problem: it must not stall the rest.
                    Err(e) => self.skip_hold(&hold.id, &e.to_string())?,
                }
            }
            if fetched < batch {
                break;
            }
        }
        Ok((expired, seen))
    }

    /// Takes a hold that cannot be expired out of the open holds, and says so.
    fn skip_hold(&self, id: &str, reason: &str) -> Result<()> {
        log::warn!(
            "passgate: hold {id} cannot be expired ({reason}); skipped and taken out of the open \
             holds, its counters left at the reservation"
        );
        self.store.hold_quarantine(id)?;
        Ok(())
    }

    /// Called by `enforce`: expires at most [`INLINE_SWEEP_LIMIT`] due holds, at most once a
    /// second.
    pub(super) fn expire_due(&self, now: i64) -> Result<()> {
        let next = self.next_sweep_ms.load(Ordering::Relaxed);
        if now < next
            || self
                .next_sweep_ms
                .compare_exchange(
                    next,
                    now.saturating_add(SWEEP_EVERY_MS),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return Ok(());
        }
        self.sweep(INLINE_SWEEP_LIMIT).map(|_| ())
    }

    fn open_hold(&self, hold_id: &str) -> Result<HoldRecord> {
        let hold = self
            .store
            .hold_get(hold_id)?
            .ok_or_else(|| Error::HoldUnknown(format!("no hold {hold_id:?}")))?;
        if hold.state != HoldState::Open {
            let how = match hold.state {
                HoldState::Expired => " (at its reserved amounts)",
                _ => "",
            };
            return Err(Error::HoldClosed(format!(
                "hold {hold_id} was already {}{how}",
                hold.state.as_str()
            )));
        }
        // Past its TTL but not yet swept: a late settle still records the actual amounts.
        Ok(hold)
    }

    fn resolve_hold(
        &self,
        hold: &HoldRecord,
        state: HoldState,
        amounts: &[Decimal],
    ) -> Result<Value> {
        let now = self.clock.now_ms();
        let per_constraint: serde_json::Map<String, Value> = hold
            .ops
            .iter()
            .zip(amounts)
            .map(|(h, a)| {
                (
                    h.op.key.constraint.clone(),
                    json!(a.normalize().to_string()),
                )
            })
            .collect();
        let kind = format!("hold.{}", state.as_str());
        let about = Event {
            gate: Some(&hold.gate),
            agent_id: hold.agent_id.as_deref(),
            evaluation_id: Some(&hold.evaluation_id),
        };
        let mut tail = self.tail()?;
        // An amount above its reservation may pass its cap: the usage now says whether this
        // settle is an overrun (recorded, flagged) or fits (checked again by the store).
        let grows = hold.ops.iter().zip(amounts).any(|(h, a)| *a > h.op.amount);
        let mut usage = match grows {
            true => {
                let ops: Vec<_> = hold.ops.iter().map(|h| h.op.clone()).collect();
                Some(self.store.read(&ops, now)?)
            }
            false => None,
        };
        for _ in 0..2 {
            let overrun = match &usage {
                Some(u) => overrun(hold, amounts, u)?,
                None => Vec::new(),
            };
            let mut data = json!({
                "hold_id": hold.id, "evaluation_id": hold.evaluation_id, "gate": hold.gate,
                "agent_id": hold.agent_id, "passport_id": hold.passport_id,
                "amounts": per_constraint,
            });
            if let (false, Some(m)) = (overrun.is_empty(), data.as_object_mut()) {
                m.insert("overrun".into(), json!(overrun));
            }
            let (stored, hash) = self.event_record(&tail, &kind, &data, about, now)?;
            let outcome = self.store.hold_resolve(&HoldResolution {
                hold_id: &hold.id,
                now_ms: now,
                state,
                amounts,
                // A predicted overrun is recorded whatever the bounds; a settle predicted to fit
                // is refused by the store if a concurrent writer made it pass a cap since.
                enforce_bounds: overrun.is_empty(),
                record: &stored,
            });
            match self.after_write(&mut tail, outcome)? {
                HoldOutcome::Resolved => {
                    tail.advance(hash);
                    let mut out = json!({
                        "hold_id": hold.id, "state": state.as_str(), "amounts": per_constraint,
                        "attestation": stored.record,
                    });
                    if let (false, Some(m)) = (overrun.is_empty(), out.as_object_mut()) {
                        m.insert("overrun".into(), json!(overrun));
                    }
                    return Ok(out);
                }
                HoldOutcome::Unknown => {
                    return Err(Error::HoldUnknown(format!("no hold {:?}", hold.id)))
                }
                HoldOutcome::NotOpen(s) => {
                    return Err(Error::HoldClosed(format!(
                        "hold {} was already {}",
                        hold.id,
                        s.as_str()
                    )))
                }
                // Pushed over a cap since the read: record it as the overrun it now is.
                HoldOutcome::Rejected { usage: fresh } => usage = Some(fresh),
            }
        }
        Err(Error::Internal(format!(
            "hold {}: the store refused a settle recorded as an overrun",
            hold.id
        )))
    }

    /// Approves an escalated request: writes an attestation and returns a signed approval token
    /// that admits exactly that request (same gate, passport, client and payload), once, within
    /// `ttl_ms` (default 15 minutes).
    pub fn approve(
        &self,
        evaluation_id: &str,
        approver: &str,
        ttl_ms: Option<i64>,
    ) -> Result<String> {
        check_name("approver", approver)?;
        let ttl = ttl_ms.unwrap_or(DEFAULT_APPROVAL_TTL_MS);
        if ttl <= 0 {
            return Err(Error::InvalidArgument("ttl must be positive".into()));
        }
        let now = self.clock.now_ms();
        let request = self.pending_approval(evaluation_id, now)?;
        not_the_requester(&request, approver)?;
        let claims = approval::Claims {
            jti: random_id("apr")?,
            evaluation_id: evaluation_id.to_string(),
            fingerprint: request.fingerprint.clone(),
            gate: request.gate.clone(),
            passport_id: request.passport_id.clone(),
            approver: approver.to_string(),
            iat_ms: now,
            exp_ms: now.saturating_add(ttl),
            kid: self.chain.key.did().to_string(),
        };
        let token = approval::sign(&claims, &self.chain.key)?;
        // The log is readable by agents: it names the token by its hash, never its id.
        let data = json!({
            "evaluation_id": evaluation_id, "approver": approver,
            "token_hash": approval::token_id_hash(&claims.jti),
            "expires_at": claims.exp_ms, "fingerprint": claims.fingerprint,
            "passport_id": claims.passport_id, "key": claims.kid,
        });
        let to = ApprovalState::Approved {
            token_id: claims.jti.clone(),
            approver: approver.to_string(),
            expires_ms: claims.exp_ms,
            key: claims.kid.clone(),
        };
        self.resolve_approval(&request, "approval.granted", &data, &to, now)?;
        Ok(token)
    }

    /// Denies an escalated request, with a reason; writes an attestation.
    pub fn deny_approval(
        &self,
        evaluation_id: &str,
        approver: &str,
        reason: &str,
    ) -> Result<Value> {
        check_name("approver", approver)?;
        if reason.len() > 4096 {
            return Err(Error::InvalidArgument(
                "reason must be at most 4096 bytes".into(),
            ));
        }
        let now = self.clock.now_ms();
        let request = self.pending_approval(evaluation_id, now)?;
        not_the_requester(&request, approver)?;
        let data =
            json!({ "evaluation_id": evaluation_id, "approver": approver, "reason": reason });
        let to = ApprovalState::Denied {
            approver: approver.to_string(),
            reason: reason.to_string(),
        };
        self.resolve_approval(&request, "approval.denied", &data, &to, now)
    }

    fn pending_approval(
        &self,
        evaluation_id: &str,
        now: i64,
    ) -> Result<crate::store::ApprovalRecord> {
        let request = self.store.approval_get(evaluation_id)?.ok_or_else(|| {
            Error::ApprovalUnknown(format!("no escalated request {evaluation_id:?}"))
        })?;
        if request.state != ApprovalState::Pending {
            return Err(Error::ApprovalClosed(format!(
                "request {evaluation_id} was already {}",
                request.state.name()
            )));
        }
        if request.expires_ms <= now {
            return Err(Error::ApprovalClosed(format!(
                "request {evaluation_id} can no longer be approved (expired)"
            )));
        }
        Ok(request)
    }

    fn resolve_approval(
        &self,
        request: &crate::store::ApprovalRecord,
        kind: &str,
        data: &Value,
        to: &ApprovalState,
        now: i64,
    ) -> Result<Value> {
        let about = Event {
            gate: Some(&request.gate),
            agent_id: request.agent_id.as_deref(),
            evaluation_id: Some(&request.evaluation_id),
        };
        let mut tail = self.tail()?;
        let (stored, hash) = self.event_record(&tail, kind, data, about, now)?;
        let found = self
            .store
            .approval_resolve(&request.evaluation_id, to, &stored);
        match self.after_write(&mut tail, found)? {
            Some(ApprovalState::Pending) => {
                tail.advance(hash);
                Ok(Arc::unwrap_or_clone(stored.record))
            }
            Some(other) => Err(Error::ApprovalClosed(format!(
                "request {} was already {}",
                request.evaluation_id,
                other.name()
            ))),
            None => Err(Error::ApprovalUnknown(format!(
                "no escalated request {:?}",
                request.evaluation_id
            ))),
        }
    }

    /// The gates this passport (or, with `None`, an anonymous caller) could be admitted to now:
    /// its permissions cover the gate's, and every constraint that does not look at the payload
    /// (time windows, of the gate and of the passport's caveats) passes. For filtering an MCP
    /// `tools/list` per agent. An invalid passport is an error (its code says why).
    pub fn allowed_gates(&self, passport: Option<&str>) -> Result<Vec<String>> {
        let Some(policy) = self.policy() else {
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
                    if let Some(c) = super::compile_caveat(&link.passport_id, doc, i, &g.name)? {
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

    /// Decisions on requests made without a passport, oldest first (`filter` narrows further).
    pub fn anonymous_log(&self, filter: &AttestationFilter) -> Result<Vec<Value>> {
        let f = AttestationFilter {
            anonymous_only: true,
            ..filter.clone()
        };
        self.attestations(&f)
    }
}

fn check_name(what: &str, v: &str) -> Result<()> {
    if v.is_empty() || v.len() > MAX_NAME_LEN {
        return Err(Error::InvalidArgument(format!(
            "{what} must be 1 to {MAX_NAME_LEN} characters"
        )));
    }
    Ok(())
}

/// The ops of `hold` whose final amount (`amounts`) would take their counter past its cap from
/// `usage`: per op, the constraint, the cap, the usage before the settle, the reservation and the
/// actual amount (decimal strings; the decision's `counted` names each counter). Empty when
/// everything fits.
fn overrun(hold: &HoldRecord, amounts: &[Decimal], usage: &[Decimal]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for ((h, actual), used) in hold.ops.iter().zip(amounts).zip(usage) {
        let at = match &h.settle {
            SettleRule::Actual { field } => field.as_str(),
            _ => "/",
        };
        let delta = actual
            .checked_sub(h.op.amount)
            .ok_or_else(|| Error::payload(at, "settled amount out of range"))?;
        if delta <= Decimal::ZERO {
            continue;
        }
        let total = used
            .checked_add(delta)
            .ok_or_else(|| Error::payload(at, "the settled amount would overflow its counter"))?;
        if total > h.op.max {
            let s = |d: &Decimal| d.normalize().to_string();
            out.push(json!({
                "constraint": h.op.key.constraint, "cap": s(&h.op.max), "used_before": s(used),
                "reserved": s(&h.op.amount), "actual": s(actual),
            }));
        }
    }
    Ok(out)
}

/// The actual amount at `field` of a settlement payload (`None` when absent).
fn actual_amount(field: &str, actual: &Value) -> Result<Option<Decimal>> {
    let ptr = crate::pointer::Pointer::parse(field).map_err(|m| Error::payload(field, m))?;
    let values = ptr.resolve(actual);
    if values.is_empty() {
        return Ok(None);
    }
    let mut sum = Decimal::ZERO;
    for v in values {
        let d = json::to_decimal(v).map_err(|m| Error::payload(field, m))?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(Error::payload(
                field,
                format!("an actual amount cannot be negative ({d})"),
            ));
        }
        sum = sum
            .checked_add(d)
            .ok_or_else(|| Error::payload(field, "sum overflows"))?;
    }
    Ok(Some(sum))
}

/// An escalated request is never resolved by the principal that made it: the approver's name
/// may not be the requesting agent's id (`sub` of its root passport), alone or as
/// `<agent id>@<issuer did>`. Hosts authenticate approvers (the MCP operator role); this is the
/// engine's own floor under that.
fn not_the_requester(request: &crate::store::ApprovalRecord, approver: &str) -> Result<()> {
    let Some(agent) = request.agent_id.as_deref() else {
        return Ok(());
    };
    let is_agent = approver == agent
        || approver
            .strip_prefix(agent)
            .is_some_and(|rest| rest.starts_with("@did:"));
    if is_agent {
        return Err(Error::Forbidden(format!(
            "request {} was made by agent {agent:?}: it cannot be approved or denied by that agent",
            request.evaluation_id
        )));
    }
    Ok(())
}
