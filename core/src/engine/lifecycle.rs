//! What happens after a decision that asked for a hold: the hold is settled, released or
//! expires. Every step is signed into the engine's chain, atomically with its effect.

use std::sync::atomic::Ordering;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::counters::sum_amounts;
use super::{Engine, Event};
use crate::error::{Error, Result};
use crate::json;
use crate::store::{DueHold, HoldOutcome, HoldRecord, HoldResolution, HoldState, SettleRule};

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

    /// [`Engine::settle`], then (with `consume`) the hold's consumption attestation
    /// ([`Engine::issue_consumption_attestation`] for the hold's evaluation; `quantity` defaults
    /// to the offer's field in `actual`). The result carries the record as `consumption`; a
    /// consumption that fails once the hold is settled does not undo the settle: the result
    /// carries `consumption_error: {code, message}` instead (issue it again with
    /// `issue_consumption_attestation(hold_id=…)`). Terms that cannot be valid are refused
    /// before anything is settled.
    pub fn settle_consuming(
        &self,
        hold_id: &str,
        actual: Option<&Value>,
        consume: Option<&super::ConsumeTerms>,
    ) -> Result<Value> {
        if let Some(c) = consume {
            if c.outcome == crate::commerce::Outcome::Partial && c.delivered.is_none() {
                return Err(Error::ConsumptionInvalid(
                    "/consume/delivered is required for partial".into(),
                ));
            }
            if let Some(p) = &c.pop {
                json::check_bounds(p, json::Limits::PAYLOAD)
                    .map_err(|e| e.into_error(json::Context::Argument))?;
            }
        }
        let mut out = self.settle(hold_id, actual)?;
        if let (Some(c), Some(m)) = (consume, out.as_object_mut()) {
            match self.consume(None, Some(hold_id), c, actual) {
                Ok(record) => {
                    m.insert("consumption".into(), record);
                }
                Err(e) => {
                    m.insert(
                        "consumption_error".into(),
                        json!({"code": e.code(), "message": e.to_string()}),
                    );
                }
            }
        }
        Ok(out)
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
                    h.op.key.constraint.to_string(),
                    json!(crate::decimal::normalized(*a).to_string()),
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
            let (mut stored, hash) = self.event_record(&tail, &kind, &data, about, now)?;
            let event = match state {
                HoldState::Expired => self.attach_event(
                    super::EventKind::HoldExpired,
                    &mut stored,
                    Default::default(),
                )?,
                _ => None,
            };
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
                    drop(tail);
                    self.publish(event);
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
            let s = |d: &Decimal| crate::decimal::normalized(*d).to_string();
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
    let sum = sum_amounts(values, "an actual amount").map_err(|m| Error::payload(field, m))?;
    Ok(Some(sum))
}
