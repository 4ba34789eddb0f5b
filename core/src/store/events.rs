//! The decision-events outbox: what a store keeps of it, and the shapes it passes.
//!
//! An event rides on the record that causes it ([`StoredRecord::event`](super::StoredRecord)):
//! every backend writes it in the same atomic step as the record (SQLite: the same transaction;
//! Redis: the same script; memory: under the same lock), so an event exists exactly when its
//! record does. Each event gets the store's next **position** (monotonic per store, shared by
//! every engine on it): [`Store::events_page`](super::Store::events_page) lists unacknowledged
//! events after a position, oldest first; [`Store::event_ack`](super::Store::event_ack) takes
//! one out of that list (idempotently).

/// An event to write with its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Its id (`evt_…`, unique; a receiver deduplicates deliveries on it).
    pub id: String,
    /// Its kind (`escalation`, `deny`, `hold.expired`, `approval.resolved`, `policy.changed`).
    pub kind: String,
    /// The whole event as JSON text (id, kind, time, …, attestation).
    pub json: String,
}

/// An unacknowledged event as a store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its position: the store's append number of events (monotonic), the listing's cursor.
    pub position: u64,
    /// The event.
    pub event: OutboxEvent,
}

/// What acknowledging an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventAck {
    /// It was pending; it is now acknowledged.
    Acked,
    /// It was acknowledged before (nothing changed).
    AlreadyAcked,
    /// No such event.
    Unknown,
}

/// The error of a store that keeps no events (wrappers, test doubles).
pub(crate) fn no_events() -> crate::error::Error {
    crate::error::Error::StoreUnavailable("this store keeps no decision events".into())
}

/// How long a backend that forgets acknowledged events by expiry (Redis) keeps one after its
/// acknowledgement, so that a repeated `ack_event` still finds it (7 days).
pub const ACKED_RETAIN_MS: i64 = 7 * 24 * 3600 * 1000;
