//! Committing a decision: the counters it advances, its hold, the approval it uses or asks for,
//! its idempotency record and its signed attestation, in one atomic store commit (retried on
//! fresh state when a concurrent writer got there first).

use serde_json::{json, Value};

use super::approvals::{unusable, ApprovalNeed};
use super::counters::ops;
use super::decide::{finish, Caller, Evaluation};
use super::events::{session_of, EventContext};
use super::fold::Folded;
use super::request::Request;
use super::{DecisionEvent, EventKind};
use super::{Engine, IDEMPOTENCY_TTL_MS};
use crate::attestation;
use crate::decision::{Check, Decision, Verdict};
use crate::error::{CheckCode, Error, Result};
use crate::ids::random_id_in;
use crate::json;
use crate::policy::Mode;
use crate::store::{
    Commit, CommitOutcome, HoldRecord, HoldState, IdempotencyRecord, NonceClaim, StoredRecord,
    UseApproval,
};

impl Engine {
    /// Signs and commits. If a concurrent writer moved the counters between our read and our
    /// commit (or used the approval this request presents), the store refuses the commit and
    /// nothing changes: decide again on the fresh state (a few times at most, then deny) and
    /// record what was really decided.
    pub(super) fn commit(
        &self,
        eval: Evaluation<'_>,
        req: &Request,
        idem: Option<IdempotencyRecord>,
        now: i64,
        hold_ttl_ms: i64,
        folded: Folded,
    ) -> Result<Option<Decision>> {
        let Some((decision, event)) =
            self.commit_locked(eval, req, idem, now, hold_ttl_ms, folded)?
        else {
            return Ok(None);
        };
        // After the commit, outside the chain's lock.
        self.publish(event);
        Ok(Some(decision))
    }

    fn commit_locked(
        &self,
        mut eval: Evaluation<'_>,
        req: &Request,
        mut idem: Option<IdempotencyRecord>,
        now: i64,
        hold_ttl_ms: i64,
        mut folded: Folded,
    ) -> Result<Option<(Decision, Option<DecisionEvent>)>> {
        const ATTEMPTS: usize = 4;
        // Folded reads (see `fold`): checked by the store; a cached usage that moved is one
        // more attempt, not contention.
        let expect = folded.usage.take();
        let attempts = ATTEMPTS + usize::from(expect.is_some());
        let delegation = eval.delegation.clone();
        let ids: Vec<&str> = delegation.iter().map(String::as_str).collect();
        let guard = folded.guard(&ids);
        let monitor = eval.decision.mode == Mode::Monitor.as_str();
        // The run bundle is stored first: a decision record naming a bundle_hash always has
        // its bundle (until purged). A commit that then fails leaves a bundle no record names.
        if let Some(b) = &eval.bundle {
            self.store
                .bundle_put(&eval.decision.evaluation_id, &b.text)?;
        }
        // `run_once` checked the process at the start of this call.
        let mut tail = self.tail_in_call()?;
        for attempt in 1..=attempts {
            let admitted = eval.decision.allowed;
            let counters = if admitted {
                ops(&eval.pending, monitor)
            } else {
                Vec::new()
            };
            let hold = match admitted && req.hold {
                true => Some(HoldRecord {
                    id: random_id_in("hld", self.pid)?,
                    evaluation_id: eval.decision.evaluation_id.clone(),
                    gate: eval.decision.gate.to_string(),
                    agent_id: eval.decision.agent_id.as_deref().map(str::to_string),
                    passport_id: eval.decision.passport_id.as_deref().map(str::to_string),
                    created_ms: now,
                    expires_ms: now.saturating_add(hold_ttl_ms),
                    ops: eval.pending.iter().map(|p| p.held(monitor)).collect(),
                    state: HoldState::Open,
                }),
                false => None,
            };
            eval.decision.hold_id = hold.as_ref().map(|h| h.id.clone());
            let approval_request = self.approval_request(&mut eval, now);
            let use_approval = match (&eval.approval, admitted) {
                (ApprovalNeed::Granted(e, t), true) => {
                    Some((e.clone(), t.clone(), eval.fingerprint()?))
                }
                _ => None,
            };
            let (mut record, hash) = self.seal_decision(&mut eval, req, &tail, now)?;
            let kind = match eval.decision.decision {
                Verdict::Escalate => Some(EventKind::Escalation),
                Verdict::Deny => Some(EventKind::Deny),
                Verdict::Allow => None,
            };
            let event = match kind {
                Some(kind) => {
                    let cx = EventContext {
                        session_id: session_of(req.trace.as_ref()),
                        notify: req.notify.as_deref(),
                        outcome: None,
                        kinds: None,
                    };
                    self.attach_event(kind, &mut record, cx)?
                }
                None => None,
            };
            if let Some(i) = idem.as_mut() {
                i.decision = eval.decision.to_json();
            }
            let outcome = self.after_write(
                &mut tail,
                self.store.commit(&Commit {
                    now_ms: now,
                    counters: &counters,
                    // Monitor mode lifts only its relaxed counters' bounds (see `ops`).
                    enforce_bounds: true,
                    record: &record,
                    idempotency: idem.as_ref(),
                    hold: hold.as_ref(),
                    approval_request: approval_request.as_ref(),
                    use_approval: use_approval.as_ref().map(|(e, t, f)| UseApproval {
                        evaluation_id: e,
                        token_id: t,
                        fingerprint: f,
                    }),
                    nonce: eval.nonce.as_ref().map(|(key, until)| NonceClaim {
                        key,
                        expires_ms: *until,
                    }),
                    guard,
                    expect_usage: match (attempt, &expect) {
                        (1, Some(u)) if admitted && u.len() == counters.len() => Some(u.as_slice()),
                        _ => None,
                    },
                }),
            )?;
            let usage = match (outcome, &idem) {
                (CommitOutcome::Committed, _) => {
                    tail.advance(hash);
                    self.after_decision(&mut tail, now);
                    if let Some(basis) = folded.basis.as_ref().filter(|_| admitted) {
                        self.usage_cache.put(&counters, basis, true, now);
                    }
                    return Ok(Some((eval.decision, event)));
                }
                (CommitOutcome::Stale, _) => return Ok(None),
                (CommitOutcome::Replay(stored), Some(rec)) => {
                    return Ok(Some((replay(stored, rec)?, None)))
                }
                (CommitOutcome::Replay(_), None) => {
                    return Err(Error::Internal(
                        "store replayed a request without a key".into(),
                    ))
                }
                (CommitOutcome::Rejected { usage }, _) => usage,
                (CommitOutcome::NonceReplayed, _) => {
                    // Another request (of any engine on this store) used the nonce first: this
                    // one is a deny, committed without its nonce, counting nothing.
                    let nonce = eval
                        .pop
                        .as_ref()
                        .and_then(|p| p.get("nonce"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    for c in eval.decision.checks.iter_mut().filter(|c| c.ty == "pop") {
                        *c = super::trust::replayed(&nonce);
                    }
                    eval.nonce = None;
                    eval.pop = None;
                    eval.stateless_ok = false;
                    eval.strict_ok = false;
                    eval.identity_ok = false;
                    self.store.read(&ops(&eval.pending, false), now)?
                }
                (CommitOutcome::ApprovalUnavailable { state }, _) => {
                    // Someone used (or revoked) the approval first: this request is refused.
                    // The token matched the approval when it was checked.
                    let (code, why) = unusable(&state, true);
                    for c in eval
                        .decision
                        .checks
                        .iter_mut()
                        .filter(|c| c.ty == "approval")
                    {
                        *c = Check::new(c.constraint.clone(), "approval", false, why)
                            .with_code(code.as_str());
                    }
                    eval.approval = ApprovalNeed::None;
                    eval.stateless_ok = false;
                    self.store.read(&ops(&eval.pending, false), now)?
                }
            };
            if folded.on {
                folded.basis = Some(usage.clone());
            }
            eval.decision.checks.truncate(eval.base_checks);
            eval.decision.remaining.clear();
            finish(&mut eval, &usage);
            if attempt + 1 == attempts && eval.decision.allowed {
                // Still contended: give up on admitting rather than loop — and say so. This deny
                // is about the moment, not the request: it is recorded but not kept under the
                // idempotency key, so a retry with the same key decides afresh.
                eval.decision.allowed = false;
                eval.decision.decision = Verdict::Deny;
                eval.decision.checks.push(
                    Check::new(
                        "contention",
                        "store",
                        false,
                        "concurrent writers kept moving the counters; retry",
                    )
                    .with_code(CheckCode::Contention.as_str()),
                );
                idem = None;
            }
        }
        Err(Error::Internal("commit did not settle".into()))
    }

    fn seal_decision(
        &self,
        eval: &mut Evaluation<'_>,
        req: &Request,
        tail: &attestation::Tail,
        now: i64,
    ) -> Result<(StoredRecord, String)> {
        let (seq, _) = tail.next();
        let id = random_id_in("att", self.pid)?;
        let facts = attestation::DecisionFacts {
            decision: &eval.decision,
            principal: eval.principal.as_ref(),
            delegation: &eval.delegation,
            client: req.client.as_deref(),
            request_hash: eval.request_hash()?,
            counted: eval.pending.iter().map(|p| &p.op).collect(),
            trace: match &eval.bundle {
                Some(b) => b.trace.as_ref(),
                None => req.trace.as_ref(),
            },
            bundle_hash: eval.bundle.as_ref().map(|b| b.hash.as_str()),
            pop: eval.pop.as_ref(),
            catalog: eval.catalog.as_ref(),
        };
        let sealing = match self.signing {
            super::Signing::Each => attestation::Sealing::Each(&self.chain.key),
            super::Signing::Checkpoint { .. } => attestation::Sealing::Unsigned {
                did: self.chain.key.did(),
            },
        };
        let (record, hash) = attestation::seal_decision(tail, &id, now, &facts, sealing)?;
        eval.decision.attestation = Some(record.clone());
        let d = &eval.decision;
        Ok((
            StoredRecord {
                chain: tail.chain.clone(),
                seq,
                time_ms: now,
                kind: "decision".into(),
                gate: Some(d.gate.to_string()),
                // Filed under the principal: what a delegate does, its agent did.
                agent_id: eval.principal.as_ref().map(|p| p.agent_id.clone()),
                decision: Some(d.decision.as_str().into()),
                evaluation_id: Some(d.evaluation_id.clone()),
                record,
                event: None,
            },
            hash,
        ))
    }

    pub(super) fn idempotency(
        &self,
        req: &Request,
        caller: &Caller,
        key: &str,
        request_hash: &str,
        now: i64,
    ) -> Result<IdempotencyRecord> {
        let (namespace, passport_id) = match caller {
            Caller::Agent(v) => (
                format!("passport:{}", v.passport_id),
                Some(v.passport_id.as_str()),
            ),
            _ => match req.client.as_deref() {
                Some(client) => (format!("client:{client}"), None),
                // Without a client, every anonymous caller would share one namespace: one could
                // replay another's decisions (or block its keys).
                None => {
                    return Err(Error::InvalidArgument(
                        "an idempotency_key without a passport needs a client: anonymous \
                         callers' keys are namespaced by client"
                            .into(),
                    ))
                }
            },
        };
        let fingerprint = json::sha256_tagged(
            json::canonical_normalized(&json!({
                "gate": req.gate,
                "passport_id": passport_id,
                "passport": if passport_id.is_none() { req.passport.as_deref().map(|t| json::sha256_tagged(t.as_bytes())) } else { None },
                "client": req.client,
                "hold": req.hold,
                "request_hash": request_hash,
            }))?
            .as_bytes(),
        );
        Ok(IdempotencyRecord {
            namespace,
            key: key.to_string(),
            fingerprint,
            decision: Value::Null,
            expires_ms: now.saturating_add(IDEMPOTENCY_TTL_MS),
        })
    }
}

pub(super) fn replay(stored: IdempotencyRecord, rec: &IdempotencyRecord) -> Result<Decision> {
    if stored.fingerprint != rec.fingerprint {
        return Err(Error::IdempotencyConflict(format!(
            "key {:?} was first used for a different request (gate, passport, client or payload differ)",
            rec.key
        )));
    }
    let mut d: Decision = serde_json::from_value(stored.decision)
        .map_err(|e| Error::Internal(format!("stored decision unreadable: {e}")))?;
    d.replayed = true;
    Ok(d)
}
