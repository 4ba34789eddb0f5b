//! The decision-events operations: `events` and `ack_event` (see [`crate::engine::EventKind`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Effect, Op};
use crate::engine::{Engine, EventKind, EventPage};
use crate::error::Result;

/// A decision event's kind, as filters name it.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
pub enum EventKindArg {
    /// A decision needing a human (an approval request is pending).
    #[serde(rename = "escalation")]
    Escalation,
    /// A denied request (recorded only if the policy's `events.kinds` lists it).
    #[serde(rename = "deny")]
    Deny,
    /// A hold that expired unsettled.
    #[serde(rename = "hold.expired")]
    HoldExpired,
    /// An escalated request approved or denied.
    #[serde(rename = "approval.resolved")]
    ApprovalResolved,
    /// A change of the policy.
    #[serde(rename = "policy.changed")]
    PolicyChanged,
}

impl From<EventKindArg> for EventKind {
    fn from(k: EventKindArg) -> EventKind {
        match k {
            EventKindArg::Escalation => EventKind::Escalation,
            EventKindArg::Deny => EventKind::Deny,
            EventKindArg::HoldExpired => EventKind::HoldExpired,
            EventKindArg::ApprovalResolved => EventKind::ApprovalResolved,
            EventKindArg::PolicyChanged => EventKind::PolicyChanged,
        }
    }
}

/// `events`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Events {
    /// A `cursor` an earlier page returned: only events after it (none: from the first
    /// unacknowledged).
    #[schemars(length(min = 1, max = 32))]
    pub since: Option<String>,
    /// Only events of these kinds (none: every kind).
    #[schemars(length(max = 5))]
    pub kinds: Option<Vec<EventKindArg>>,
    /// At most this many (default 100, at most 1000).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u64>,
}

impl Op for Events {
    const NAME: &'static str = "events";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Unacknowledged decision events (escalations, approval outcomes, hold expiries, policy changes and, if the policy records them, denies), oldest first, after a cursor: each with its signed attestation and the request's notify target. Deliver each, then ack_event it; pass the returned cursor as since for the next page.";
    type Output = EventPage;
    fn run(self, engine: &Engine) -> Result<EventPage> {
        let kinds: Option<Vec<EventKind>> = self
            .kinds
            .map(|ks| ks.into_iter().map(EventKind::from).collect());
        let limit = self.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        engine.events(self.since.as_deref(), kinds.as_deref(), limit)
    }
}

/// `ack_event`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckEvent {
    /// The event's id (`evt_…`).
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
}

/// What acknowledging did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Acked {
    /// The event's id.
    pub id: String,
    /// Whether this call acknowledged it (`false`: it had been acknowledged before).
    pub acked: bool,
}

impl Op for AckEvent {
    const NAME: &'static str = "ack_event";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str = "Acknowledge a decision event once it is delivered: it leaves the list events returns. Acknowledging twice is harmless (acked: false); an id no event has is EVENT_UNKNOWN.";
    type Output = Acked;
    fn run(self, engine: &Engine) -> Result<Acked> {
        let acked = engine.ack_event(&self.id)?;
        Ok(Acked { id: self.id, acked })
    }
}
