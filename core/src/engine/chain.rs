//! This engine's attestation chain: the tail it writes after, the event records it signs, and
//! what it does when the store turns out to hold less of the chain than it committed.

use serde_json::{json, Value};

use super::events::EventContext;
use super::{DecisionEvent, Engine, Event, EventKind};
use crate::attestation;
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::json::{self, Limits};
use crate::store::StoredRecord;

impl Engine {
    /// Locks this engine's chain tail for a write: first reads it back from the store if an
    /// earlier write ended in an error that left its outcome unknown, and writes a pending
    /// `chain.break` record as a new chain's first.
    pub(super) fn tail(&self) -> Result<parking_lot::MutexGuard<'_, attestation::Tail>> {
        self.same_process()?;
        self.tail_in_call()
    }

    /// [`Engine::tail`] for a call that has passed [`Engine::same_process`] already (a decision
    /// checks it once, at its start): `getpid` is a system call, ≈ 140 ns each on a VM.
    pub(super) fn tail_in_call(&self) -> Result<parking_lot::MutexGuard<'_, attestation::Tail>> {
        let mut tail = self.chain.lock();
        if tail.unsure {
            self.reconcile(&mut tail)?;
        }
        if let Some(data) = tail.pending_break.clone() {
            let now = self.clock.now_ms();
            let (stored, hash) =
                self.event_record(&tail, "chain.break", &data, Event::default(), now)?;
            let written = self.store.append(&stored);
            self.after_write(&mut tail, written)?;
            tail.advance(hash);
        }
        Ok(tail)
    }

    /// Passes a store write's result through. An error leaves the tail unsure (the write may or
    /// may not have been stored: the next writer reads the tail back); a chain conflict — the
    /// store's tail is not where this engine left it — is looked into at once, so the request that
    /// finds a store behind what this engine committed is the one that reports the break.
    pub(super) fn after_write<T>(&self, tail: &mut attestation::Tail, r: Result<T>) -> Result<T> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                tail.unsure = true;
                if matches!(e, Error::ChainConflict { .. }) {
                    self.reconcile(tail)?;
                }
                Err(e)
            }
        }
    }

    /// Reads this engine's chain tail back from the store. If the store still holds everything
    /// the engine committed, the tail follows it; if not (a flush, a failover without
    /// persistence, a restored backup), the engine never signs those sequence numbers again: it
    /// moves to a new chain whose first record, `chain.break`, names the old chain, the last seq
    /// and hash the engine committed and the store's tail, logs the break, and returns it as a
    /// `STORE_UNAVAILABLE` error (the next write proceeds on the new chain).
    fn reconcile(&self, tail: &mut attestation::Tail) -> Result<()> {
        let last = self.store.chain_tail(&tail.chain)?;
        let stored = match &last {
            Some(r) => {
                let (hash, prev) = r.record.link();
                let hash = hash.ok_or_else(|| {
                    Error::Internal(format!("record {} of {} has no hash", r.seq, r.chain))
                })?;
                Some((r.seq, hash, prev))
            }
            None => None,
        };
        if tail.holds(stored) {
            tail.resync(stored.map(|(seq, hash, _)| (seq, hash.to_string())));
            return Ok(());
        }
        let store_tail = stored.map(|(seq, hash, _)| json!({"seq": seq, "hash": hash}));
        let data = json!({
            "previous_chain": tail.chain, "last_seq": tail.seq, "last_hash": tail.prev,
            "store_tail": store_tail,
        });
        let (committed, hash) = (tail.seq, tail.prev.clone().unwrap_or_default());
        let old = tail.rebase(data)?;
        let found = stored.map_or("nothing".to_string(), |(seq, hash, _)| {
            format!("seq {seq} ({hash})")
        });
        let msg = format!(
            "chain {old} broken: this engine committed seq {committed} ({hash}) but the store's \
             tail of it is {found}; the store lost or changed records it had acknowledged (a \
             flush, a failover without persistence, a restored backup). Rather than sign those \
             sequence numbers again, the engine continues on a new chain {} whose first record \
             (chain.break) names the old one. Nothing of this call was stored",
            tail.chain
        );
        log::error!("passgate: {msg}");
        Err(Error::StoreUnavailable(msg))
    }

    /// Signs an event of `kind` into this engine's chain and appends it.
    pub(super) fn append_event(&self, kind: &str, data: &Value, about: Event<'_>) -> Result<Value> {
        self.append_event_with(kind, data, about, None)
            .map(|(record, _)| record)
    }

    /// [`Engine::append_event`], with the decision event the record causes (if its kind is
    /// recorded) written in the same step; returns the event for [`Engine::publish`], which the
    /// caller calls once it holds no lock.
    pub(super) fn append_event_with(
        &self,
        kind: &str,
        data: &Value,
        about: Event<'_>,
        event: Option<(EventKind, EventContext<'_>)>,
    ) -> Result<(Value, Option<DecisionEvent>)> {
        let now = self.clock.now_ms();
        let mut tail = self.tail()?;
        let (mut stored, hash) = self.event_record(&tail, kind, data, about, now)?;
        let event = match event {
            Some((k, cx)) => self.attach_event(k, &mut stored, cx)?,
            None => None,
        };
        let written = self.store.append(&stored);
        self.after_write(&mut tail, written)?;
        tail.advance(hash);
        Ok((stored.record.into_value(), event))
    }

    /// Builds and signs the next event record of the chain (the caller stores it and advances
    /// the tail it holds).
    pub(super) fn event_record(
        &self,
        tail: &attestation::Tail,
        kind: &str,
        data: &Value,
        about: Event<'_>,
        now: i64,
    ) -> Result<(StoredRecord, String)> {
        self.event_record_with(tail, kind, data, about, now, false)
    }

    /// [`Engine::event_record`]; with `exact`, `data` is recorded as given — for data passgate
    /// builds itself from integers within ±(2^53 − 1) and strings (a consumption record's
    /// amounts stay JSON integers) — instead of with every number as a decimal string.
    pub(super) fn event_record_with(
        &self,
        tail: &attestation::Tail,
        kind: &str,
        data: &Value,
        about: Event<'_>,
        now: i64,
        exact: bool,
    ) -> Result<(StoredRecord, String)> {
        json::check_bounds(data, Limits::PAYLOAD)
            .map_err(|e| e.into_error(json::Context::Argument))?;
        let mut body = attestation::event_body(tail, random_id("att")?, now, kind, &Value::Null)?;
        match (exact, body.as_object_mut()) {
            (true, Some(m)) => {
                m.insert("data".into(), data.clone());
            }
            (false, Some(m)) => {
                m.insert("data".into(), json::normalize_numbers(data)?);
            }
            (_, None) => return Err(Error::Internal("an event body is an object".into())),
        }
        let (seq, _) = tail.next();
        let (record, hash) = attestation::seal(body, &self.chain.key)?;
        let stored = StoredRecord {
            chain: tail.chain.clone(),
            seq,
            time_ms: now,
            kind: kind.to_string(),
            gate: about.gate.map(str::to_string),
            agent_id: about.agent_id.map(str::to_string),
            decision: None,
            evaluation_id: about.evaluation_id.map(str::to_string),
            record: attestation::Record::from_value(record),
            event: None,
        };
        Ok((stored, hash))
    }
}
