//! Approvals: escalated requests, the approval tokens presented with a request, and approving or
//! denying a request. Every step is signed into the engine's chain, atomically with its effect.

use serde_json::{json, Value};

use super::decide::Evaluation;
use super::request::check_name;
use super::{Engine, Event, APPROVAL_REQUEST_TTL_MS, DEFAULT_APPROVAL_TTL_MS};
use crate::approval;
use crate::constraint::Constraint;
use crate::decision::Check;
use crate::error::{CheckCode, Error, Result};
use crate::ids::random_id;
use crate::store::{ApprovalRecord, ApprovalState};

/// An approval token presented with a request, as read before evaluation: its claims once its
/// signature verified with a trusted key (or why not), and the store's record of the approval it
/// names.
pub(super) struct Presented {
    pub(super) claims: std::result::Result<approval::Claims, String>,
    pub(super) record: Option<ApprovalRecord>,
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

impl Engine {
    /// Reads a presented approval token and the store's record of the approval it names; the
    /// token's signature must verify with a key this engine trusts for approvals: its own, or
    /// the approving engine's key that the record names (engines sharing a store).
    pub(super) fn presented(&self, token: &str) -> Result<Presented> {
        let refused = |e: Error| Presented {
            claims: Err(e.to_string()),
            record: None,
        };
        let decoded = match approval::decode(token) {
            Ok(d) => d,
            Err(e) => return Ok(refused(e)),
        };
        let record = self.store.approval_get(&decoded.claims.evaluation_id)?;
        let recorded_key = match record.as_ref().map(|r| &r.state) {
            Some(ApprovalState::Approved { key, .. }) if !key.is_empty() => Some(key.as_str()),
            _ => None,
        };
        let own = self.signer_did();
        let trusted = match recorded_key {
            Some(k) if k == decoded.claims.kid => k,
            _ => own,
        };
        if let Err(e) = decoded.verify_by(trusted) {
            return Ok(refused(e));
        }
        Ok(Presented {
            claims: Ok(decoded.claims),
            record,
        })
    }

    /// For an `escalate` decision: the approval record to store, with its expiry written into the
    /// decision's `approval_request`.
    pub(super) fn approval_request(
        &self,
        eval: &mut Evaluation<'_>,
        now: i64,
    ) -> Option<ApprovalRecord> {
        let request = eval.decision.approval_request.as_mut()?;
        let expires_ms = now.saturating_add(APPROVAL_REQUEST_TTL_MS);
        request["expires_at"] = json!(expires_ms);
        let d = &eval.decision;
        Some(ApprovalRecord {
            evaluation_id: d.evaluation_id.clone(),
            fingerprint: eval.fingerprint().ok()?,
            gate: d.gate.to_string(),
            agent_id: d.agent_id.as_deref().map(str::to_string),
            passport_id: d.passport_id.as_deref().map(str::to_string),
            created_ms: now,
            expires_ms,
            state: ApprovalState::Pending,
        })
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
        let (mut stored, hash) = self.event_record(&tail, kind, data, about, now)?;
        let cx = super::events::EventContext {
            outcome: Some(match to {
                ApprovalState::Denied { .. } => "denied",
                _ => "approved",
            }),
            ..Default::default()
        };
        let event = self.attach_event(super::EventKind::ApprovalResolved, &mut stored, cx)?;
        let found = self
            .store
            .approval_resolve(&request.evaluation_id, to, &stored);
        match self.after_write(&mut tail, found)? {
            Some(ApprovalState::Pending) => {
                tail.advance(hash);
                drop(tail);
                self.publish(event);
                Ok(stored.record.into_value())
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
}

/// The check of the approval constraints that hold for a request, and what it needs.
pub(super) fn approval_check(
    approvals: &[(&Constraint, Option<String>)],
    presented: Option<&Presented>,
    eval: &Evaluation<'_>,
    now: i64,
) -> (ApprovalNeed, Vec<Check>) {
    let ids: Vec<&str> = approvals.iter().map(|(c, _)| c.id.as_str()).collect();
    let (first, ty) = (ids.first().copied().unwrap_or("approval"), "approval");
    let fail = |code: CheckCode, why: String| {
        (
            ApprovalNeed::None,
            vec![Check::new(first.to_string(), ty, false, why).with_code(code.as_str())],
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
                Check::new(c.shown.id.clone(), ty, false, why)
                    .with_code(CheckCode::ApprovalRequired.as_str())
            })
            .collect();
        return (ApprovalNeed::Required, checks);
    };
    let claims = match &p.claims {
        Ok(c) => c,
        Err(why) => return fail(CheckCode::ApprovalInvalid, why.clone()),
    };
    let Some(record) = &p.record else {
        return fail(
            CheckCode::ApprovalInvalid,
            "no such approval was granted".into(),
        );
    };
    // The token is only a signed pointer: what it admits is the store's record, and the token
    // must say exactly what the record says.
    if claims.evaluation_id != record.evaluation_id
        || claims.fingerprint != record.fingerprint
        || claims.gate != record.gate
        || claims.passport_id != record.passport_id
    {
        return fail(
            CheckCode::ApprovalInvalid,
            "the approval token does not match the approval it names".into(),
        );
    }
    let d = &eval.decision;
    if record.gate != d.gate {
        return fail(
            CheckCode::ApprovalGateMismatch,
            format!("the approval is for gate {:?}, not this one", record.gate),
        );
    }
    if record.passport_id.as_deref() != d.passport_id.as_deref() {
        return fail(
            CheckCode::ApprovalPassportMismatch,
            "the approval is for another passport".into(),
        );
    }
    if eval.fingerprint().ok().as_ref() != Some(&record.fingerprint) {
        return fail(
            CheckCode::ApprovalPayloadMismatch,
            "the approval is for another payload".into(),
        );
    }
    if claims.exp_ms <= now {
        return fail(
            CheckCode::ApprovalExpired,
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
                .map(|id| Check::new(id.to_string(), ty, true, message.clone()))
                .collect();
            (
                ApprovalNeed::Granted(claims.evaluation_id.clone(), claims.jti.clone()),
                checks,
            )
        }
        ApprovalState::Denied { approver, reason } => fail(
            CheckCode::ApprovalDenied,
            format!("{approver:?} denied the approval: {reason}"),
        ),
        other => {
            let (code, why) = unusable(other.name(), false);
            fail(code, why.into())
        }
    }
}

/// Why an approval in `state` (an [`ApprovalState::name`]) cannot admit the request that
/// presents it: the check code and message. `approved` means expired when the token presented is
/// the approval's (`token_matches`: the store refused it at commit), and a token that is not its
/// own otherwise; `pending` (never approved) and anything else are `APPROVAL_INVALID`.
pub(super) fn unusable(state: &str, token_matches: bool) -> (CheckCode, &'static str) {
    match state {
        "used" => (CheckCode::ApprovalUsed, "the approval was already used"),
        "denied" => (CheckCode::ApprovalDenied, "the approval was denied"),
        "approved" if token_matches => (CheckCode::ApprovalExpired, "the approval expired"),
        _ => (CheckCode::ApprovalInvalid, "no such approval was granted"),
    }
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
