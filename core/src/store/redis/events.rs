//! The decision-events outbox on Redis: each event's JSON under `ev:<id>` (written by the script
//! that appends its record, `lib.lua`'s `append`), the unacknowledged ones in the sorted set
//! `evq` scored by their position (from the counter `evseq`). Acknowledging takes an id out of
//! `evq` and lets its JSON expire after [`ACKED_RETAIN_MS`] (a repeated ack within that time is
//! answered "already acknowledged"; later, as unknown).

use serde_json::Value;

use super::RedisStore;
use crate::error::Result;
use crate::store::{EventAck, OutboxEvent, StoredEvent, ACKED_RETAIN_MS};

/// Ids read per round trip while filtering by kind.
const BATCH: usize = 256;

impl RedisStore {
    pub(super) fn events_after(
        &self,
        after: u64,
        kinds: &[String],
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let queue = self.keys.k("evq");
        let mut out = Vec::new();
        let mut from = after;
        while out.len() < limit {
            let want = match kinds.is_empty() {
                true => limit - out.len(),
                false => BATCH,
            };
            let ids: Vec<(String, f64)> = self.ro(|c| {
                ::redis::cmd("ZRANGEBYSCORE")
                    .arg(&queue)
                    .arg(format!("({from}"))
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(want)
                    .query(c)
            })?;
            if ids.is_empty() {
                break;
            }
            let keys: Vec<String> = ids.iter().map(|(id, _)| self.keys.event(id)).collect();
            let texts: Vec<Option<String>> =
                self.ro(|c| ::redis::cmd("MGET").arg(&keys).query(c))?;
            let n = ids.len();
            for ((id, score), text) in ids.into_iter().zip(texts) {
                // Positions are integers below 2^53: exact in a double.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let position = score as u64;
                from = from.max(position);
                let Some(json) = text else { continue };
                let kind = serde_json::from_str::<Value>(&json)
                    .ok()
                    .and_then(|v| v.get("kind").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                if !kinds.is_empty() && !kinds.contains(&kind) {
                    continue;
                }
                if out.len() < limit {
                    out.push(StoredEvent {
                        position,
                        event: OutboxEvent { id, kind, json },
                    });
                }
            }
            if n < want {
                break;
            }
        }
        Ok(out)
    }

    pub(super) fn ack(&self, id: &str) -> Result<EventAck> {
        let queue = self.keys.k("evq");
        let key = self.keys.event(id);
        let removed: i64 = self.rw(|c| ::redis::cmd("ZREM").arg(&queue).arg(id).query(c))?;
        if removed > 0 {
            let _: i64 = self.rw(|c| {
                ::redis::cmd("PEXPIRE")
                    .arg(&key)
                    .arg(ACKED_RETAIN_MS)
                    .query(c)
            })?;
            return Ok(EventAck::Acked);
        }
        let exists: i64 = self.ro(|c| ::redis::cmd("EXISTS").arg(&key).query(c))?;
        Ok(match exists {
            0 => EventAck::Unknown,
            _ => EventAck::AlreadyAcked,
        })
    }
}
