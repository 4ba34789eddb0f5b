//! Decision events: what a host must hear about (an escalation a human must see, an approval's
//! outcome, a hold that expired, a policy change, and — opt-in — denies).
//!
//! Each event rides on the signed record that causes it and is written to the store's outbox in
//! the same atomic step (module `store::events`), so an event exists exactly when its record
//! does; its `attestation` is that record, which a receiver verifies with the engine's did:key.
//! Hosts read the outbox with [`Engine::events`] and acknowledge with [`Engine::ack_event`] (a
//! worker delivering webhooks at least once: `examples/python/webhook_worker.py`), or register
//! in-process callbacks with [`Engine::subscribe`], called after each commit. The core makes no
//! network call: a request's `notify` (a URL or a channel name) is only stored with its events.
//!
//! Which kinds are recorded is the policy's `events: {kinds: [...]}`; by default every kind but
//! `deny` ([`EventKind::DEFAULT`]). Subscribers see exactly the events the outbox records.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::RwLock;
use serde::Serialize;
use serde_json::Value;

use super::Engine;
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::store::{EventAck, OutboxEvent, StoredRecord};

/// The kinds of decision events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A decision that needs a human: `escalate` (an approval request is pending).
    Escalation,
    /// A denied request (opt-in: denies can be many).
    Deny,
    /// A hold that was never settled nor released, expired by a sweep.
    HoldExpired,
    /// An escalated request approved or denied by a human.
    ApprovalResolved,
    /// A change of the policy (`set_policy`, `upsert_gate`, ...).
    PolicyChanged,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 5] = [
        EventKind::Escalation,
        EventKind::Deny,
        EventKind::HoldExpired,
        EventKind::ApprovalResolved,
        EventKind::PolicyChanged,
    ];

    /// The kinds recorded when the policy does not say: every kind but `deny`.
    pub const DEFAULT: [EventKind; 4] = [
        EventKind::Escalation,
        EventKind::HoldExpired,
        EventKind::ApprovalResolved,
        EventKind::PolicyChanged,
    ];

    /// As events and the policy spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Escalation => "escalation",
            EventKind::Deny => "deny",
            EventKind::HoldExpired => "hold.expired",
            EventKind::ApprovalResolved => "approval.resolved",
            EventKind::PolicyChanged => "policy.changed",
        }
    }

    /// A kind by its name.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The policy's `events` section (already checked by the schema): its `kinds`, or
    /// [`EventKind::DEFAULT`].
    pub(crate) fn from_policy(section: Option<&Value>) -> Result<Vec<EventKind>> {
        let Some(kinds) = section.and_then(|s| s.get("kinds")) else {
            return Ok(EventKind::DEFAULT.to_vec());
        };
        let list = kinds
            .as_array()
            .ok_or_else(|| Error::policy("/events/kinds", "must be an array"))?;
        list.iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .and_then(EventKind::parse)
                    .ok_or_else(|| Error::policy(format!("/events/kinds/{i}"), "not an event kind"))
            })
            .collect()
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest `notify` target, in bytes.
pub const MAX_NOTIFY_LEN: usize = 512;

/// Checks a request's `notify`: 1 to 512 bytes, an `http://` or `https://` URL (printable ASCII,
/// no spaces) or a channel name (`[a-z0-9._-]`). `INVALID_ARGUMENT` at `/notify` otherwise.
pub fn check_notify(target: &str) -> Result<()> {
    let bad = |m: &str| Err(Error::argument("/notify", m));
    if target.is_empty() || target.len() > MAX_NOTIFY_LEN {
        return bad(&format!(
            "use 1 to {MAX_NOTIFY_LEN} bytes, not {}",
            target.len()
        ));
    }
    let lower = target.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    {
        if rest.is_empty() || !target.bytes().all(|b| b.is_ascii_graphic()) {
            return bad("a URL must have a host and only printable ASCII without spaces");
        }
        return Ok(());
    }
    if target
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Ok(());
    }
    bad("use an http(s) URL or a channel name of a-z, 0-9, '.', '_' and '-'")
}

/// A decision event, as the outbox stores it and subscribers receive it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionEvent {
    /// Unique (`evt_…`): a receiver deduplicates deliveries on it.
    pub id: String,
    /// `escalation`, `deny`, `hold.expired`, `approval.resolved` or `policy.changed`.
    pub kind: String,
    /// When (ms since the epoch): the record's time.
    pub time: i64,
    /// The evaluation it is about, if any.
    pub evaluation_id: Option<String>,
    /// The gate, if any.
    pub gate: Option<String>,
    /// The agent (the principal's agent id), if any.
    pub agent: Option<String>,
    /// The session of the decision (`trace.mcp_session_id`, else `trace.session_id`), if any.
    pub session_id: Option<String>,
    /// Where the host should deliver it (the request's `notify`), if given.
    pub notify: Option<String>,
    /// `approval.resolved`: `approved` or `denied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The signed record that caused it (verify it with the engine's did:key).
    pub attestation: crate::attestation::Record,
}

impl DecisionEvent {
    /// As JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// What an event is about, besides its record (decision events: the request's session and
/// notify target).
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct EventContext<'a> {
    pub session_id: Option<&'a str>,
    pub notify: Option<&'a str>,
    pub outcome: Option<&'a str>,
    /// The kinds recorded, when not the policy in force's (a policy change: the new policy's).
    pub kinds: Option<&'a [EventKind]>,
}

/// Which events a subscriber receives: every field optional, all combined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only these kinds (`None`: every kind recorded).
    pub kinds: Option<Vec<EventKind>>,
    /// Only events of this session.
    pub session_id: Option<String>,
}

impl EventFilter {
    /// Whether `e` passes.
    pub fn matches(&self, e: &DecisionEvent) -> bool {
        self.kinds
            .as_ref()
            .is_none_or(|ks| ks.iter().any(|k| k.as_str() == e.kind))
            && self
                .session_id
                .as_ref()
                .is_none_or(|s| e.session_id.as_deref() == Some(s.as_str()))
    }
}

/// A subscriber's callback.
pub type EventCallback = Box<dyn Fn(&DecisionEvent) + Send + Sync>;

/// A registered callback, shared with the list it is called from.
type SharedCallback = Arc<dyn Fn(&DecisionEvent) + Send + Sync>;

struct Subscriber {
    id: u64,
    filter: EventFilter,
    callback: SharedCallback,
}

/// The in-process subscribers of an engine.
#[derive(Default)]
pub(super) struct Subscribers {
    next: AtomicU64,
    list: Arc<RwLock<Vec<Subscriber>>>,
}

impl std::fmt::Debug for Subscribers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscribers")
            .field("count", &self.list.read().len())
            .finish()
    }
}

/// A subscription ([`Engine::subscribe`]): dropping it (or [`Subscription::close`]) unsubscribes.
#[must_use = "dropping a Subscription unsubscribes at once"]
pub struct Subscription {
    id: u64,
    list: Weak<RwLock<Vec<Subscriber>>>,
}

impl Subscription {
    /// Unsubscribes now (as dropping it does). Closing twice is harmless.
    pub fn close(&self) {
        if let Some(list) = self.list.upgrade() {
            list.write().retain(|s| s.id != self.id);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.close();
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
}

/// One page of unacknowledged events ([`Engine::events`]).
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct EventPage {
    /// The events, oldest first (each as its JSON: id, kind, time, evaluation_id, gate, agent,
    /// session_id, notify, attestation).
    pub events: Vec<Value>,
    /// The position of the last event returned: pass it as `since` for the next page (`null`:
    /// none returned; keep the `since` you had).
    pub cursor: Option<String>,
}

/// The default page of [`Engine::events`].
pub const DEFAULT_EVENTS_LIMIT: usize = 100;
/// The largest page of [`Engine::events`].
pub const MAX_EVENTS_LIMIT: usize = 1000;

impl Engine {
    /// The outbox event `stored` causes, if its kind is recorded by the policy in force.
    pub(super) fn outbox_event(
        &self,
        kind: EventKind,
        stored: &StoredRecord,
        cx: EventContext<'_>,
    ) -> Result<Option<(OutboxEvent, DecisionEvent)>> {
        let recorded = match (cx.kinds, self.policy()) {
            (Some(kinds), _) => kinds.contains(&kind),
            (None, Some(p)) => p.event_kinds.contains(&kind),
            (None, None) => EventKind::DEFAULT.contains(&kind),
        };
        if !recorded {
            return Ok(None);
        }
        let event = DecisionEvent {
            id: random_id("evt")?,
            kind: kind.as_str().to_string(),
            time: stored.time_ms,
            evaluation_id: stored.evaluation_id.clone(),
            gate: stored.gate.clone(),
            agent: stored.agent_id.clone(),
            session_id: cx.session_id.map(str::to_string),
            notify: cx.notify.map(str::to_string),
            outcome: cx.outcome.map(str::to_string),
            attestation: stored.record.clone(),
        };
        let json = serde_json::to_string(&event)
            .map_err(|e| Error::Internal(format!("event not serialisable: {e}")))?;
        let outbox = OutboxEvent {
            id: event.id.clone(),
            kind: event.kind.clone(),
            json,
        };
        Ok(Some((outbox, event)))
    }

    /// Attaches the event of `kind` (if recorded) to `stored`; returns it, for [`Engine::publish`]
    /// after the commit.
    pub(super) fn attach_event(
        &self,
        kind: EventKind,
        stored: &mut StoredRecord,
        cx: EventContext<'_>,
    ) -> Result<Option<DecisionEvent>> {
        match self.outbox_event(kind, stored, cx)? {
            Some((outbox, event)) => {
                stored.event = Some(outbox);
                Ok(Some(event))
            }
            None => {
                stored.event = None;
                Ok(None)
            }
        }
    }

    /// Calls the subscribers whose filter `event` passes — after its commit, outside every lock
    /// of the engine (the list is copied first). A callback that panics is caught and logged;
    /// the others are still called.
    pub(super) fn publish(&self, event: Option<DecisionEvent>) {
        let Some(event) = event else { return };
        let callbacks: Vec<SharedCallback> = self
            .subscribers
            .list
            .read()
            .iter()
            .filter(|s| s.filter.matches(&event))
            .map(|s| Arc::clone(&s.callback))
            .collect();
        for cb in callbacks {
            let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&event)));
            if called.is_err() {
                log::error!(
                    "passgate: an event subscriber panicked on event {} ({}); ignored",
                    event.id,
                    event.kind
                );
            }
        }
    }

    /// Calls `callback` with every decision event this engine commits that passes `filter`,
    /// after the commit, outside the engine's locks, on the thread that made the decision. A
    /// panicking callback is caught (and logged): it never fails the decision nor poisons the
    /// engine. Events committed by other engines on a shared store are not seen here: read
    /// them with [`Engine::events`]. Dropping the returned [`Subscription`] unsubscribes.
    pub fn subscribe(&self, filter: EventFilter, callback: EventCallback) -> Subscription {
        let id = self.subscribers.next.fetch_add(1, Ordering::Relaxed);
        self.subscribers.list.write().push(Subscriber {
            id,
            filter,
            callback: Arc::from(callback),
        });
        Subscription {
            id,
            list: Arc::downgrade(&self.subscribers.list),
        }
    }

    /// Unacknowledged events after `since` (a `cursor` an earlier page returned; none: from the
    /// first), oldest first, only of `kinds` (none or empty: every kind), at most `limit`
    /// (default 100, at most 1000).
    pub fn events(
        &self,
        since: Option<&str>,
        kinds: Option<&[EventKind]>,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        let after = match since {
            None => 0,
            Some(s) => s.parse::<u64>().map_err(|_| {
                Error::argument("/since", format!("{s:?} is not a cursor `events` returned"))
            })?,
        };
        let limit = limit.unwrap_or(DEFAULT_EVENTS_LIMIT);
        if !(1..=MAX_EVENTS_LIMIT).contains(&limit) {
            return Err(Error::argument(
                "/limit",
                format!("use 1 to {MAX_EVENTS_LIMIT}, not {limit}"),
            ));
        }
        let kinds: Vec<String> = kinds
            .unwrap_or_default()
            .iter()
            .map(|k| k.as_str().to_string())
            .collect();
        let page = self.store.events_page(after, &kinds, limit)?;
        let cursor = page.last().map(|e| e.position.to_string());
        let events = page
            .into_iter()
            .map(|e| {
                serde_json::from_str(&e.event.json).map_err(|err| {
                    Error::StoreUnavailable(format!(
                        "stored event {} unreadable: {err}",
                        e.event.id
                    ))
                })
            })
            .collect::<Result<Vec<Value>>>()?;
        Ok(EventPage { events, cursor })
    }

    /// Acknowledges event `id`: it leaves the unacknowledged list. Idempotent: returns whether
    /// this call acknowledged it (`false`: it was already). `EVENT_UNKNOWN` for an id no event
    /// has.
    pub fn ack_event(&self, id: &str) -> Result<bool> {
        super::request::check_name("id", id)?;
        match self.store.event_ack(id, self.clock.now_ms())? {
            EventAck::Acked => Ok(true),
            EventAck::AlreadyAcked => Ok(false),
            EventAck::Unknown => Err(Error::EventUnknown(format!("no event {id:?}"))),
        }
    }
}

/// The session of a decision's trace: `mcp_session_id`, else `session_id` (strings only).
pub(super) fn session_of(trace: Option<&Value>) -> Option<&str> {
    let t = trace?;
    ["mcp_session_id", "session_id"]
        .iter()
        .find_map(|k| t.get(*k).and_then(Value::as_str))
}
