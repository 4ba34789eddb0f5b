//! The Redis store's consumption claims and settlements (see
//! [`crate::store::SettlementStore`]): the hash `{prefix}:consumptions` (evaluation id → the
//! consumption record id, written once with `HSETNX`), and one hash per settlement,
//! `{prefix}:stl:<id>` (`status`, `document`, `records`, `created`), created once (`HSETNX` on
//! `document` first) and whose status moves by compare-and-swap in one script.

use super::RedisStore;
use crate::error::Result;
use crate::store::{SettlementStore, StatusSwap, StoredSettlement};

/// Sets `status` to ARGV[2] if it is ARGV[1]: `{1}` swapped, `{0, current}` not, `{-1}` no key.
const SET_STATUS: &str = r#"
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {-1} end
if cur ~= ARGV[1] then return {0, cur} end
redis.call('HSET', KEYS[1], 'status', ARGV[2])
return {1}
"#;

/// Removes the claim KEYS[1][ARGV[1]] if it is ARGV[2].
const UNCLAIM: &str = r#"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1
"#;

/// Creates the settlement hash unless it exists: 1 created, 0 not.
const INSERT: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'document', ARGV[2], 'records', ARGV[3], 'created', ARGV[4])
return 1
"#;

impl RedisStore {
    fn settlement_key(&self, id: &str) -> String {
        self.keys.k(&format!("stl:{id}"))
    }
}

impl SettlementStore for RedisStore {
    fn consumption_claim(&self, evaluation_id: &str, record_id: &str) -> Result<Option<String>> {
        let k = self.keys.k("consumptions");
        let set: i64 = self.rw(|c| {
            ::redis::cmd("HSETNX")
                .arg(&k)
                .arg(evaluation_id)
                .arg(record_id)
                .query(c)
        })?;
        if set == 1 {
            return Ok(None);
        }
        let held: Option<String> =
            self.ro(|c| ::redis::cmd("HGET").arg(&k).arg(evaluation_id).query(c))?;
        Ok(Some(held.unwrap_or_default()))
    }

    fn consumption_unclaim(&self, evaluation_id: &str, record_id: &str) -> Result<()> {
        let k = self.keys.k("consumptions");
        let _: i64 = self.rw(|c| {
            ::redis::cmd("EVAL")
                .arg(UNCLAIM)
                .arg(1)
                .arg(&k)
                .arg(evaluation_id)
                .arg(record_id)
                .query(c)
        })?;
        Ok(())
    }

    fn settlement_insert(&self, s: &StoredSettlement) -> Result<bool> {
        let k = self.settlement_key(&s.id);
        let n: i64 = self.rw(|c| {
            ::redis::cmd("EVAL")
                .arg(INSERT)
                .arg(1)
                .arg(&k)
                .arg(&s.status)
                .arg(&s.document)
                .arg(&s.records)
                .arg(s.created_ms)
                .query(c)
        })?;
        Ok(n == 1)
    }

    fn settlement_get(&self, id: &str) -> Result<Option<StoredSettlement>> {
        let k = self.settlement_key(id);
        let (status, document, records, created): (
            Option<String>,
            Option<String>,
            Option<String>,
            Option<i64>,
        ) = self.ro(|c| {
            ::redis::cmd("HMGET")
                .arg(&k)
                .arg("status")
                .arg("document")
                .arg("records")
                .arg("created")
                .query(c)
        })?;
        Ok(match (status, document) {
            (Some(status), Some(document)) => Some(StoredSettlement {
                id: id.to_string(),
                status,
                document,
                records: records.unwrap_or_else(|| "[]".into()),
                created_ms: created.unwrap_or_default(),
            }),
            _ => None,
        })
    }

    fn settlement_set_status(&self, id: &str, from: &str, to: &str) -> Result<StatusSwap> {
        let k = self.settlement_key(id);
        let reply: Vec<::redis::Value> = self.rw(|c| {
            ::redis::cmd("EVAL")
                .arg(SET_STATUS)
                .arg(1)
                .arg(&k)
                .arg(from)
                .arg(to)
                .query(c)
        })?;
        let text = |v: &::redis::Value| match v {
            ::redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            ::redis::Value::SimpleString(s) => s.clone(),
            other => format!("{other:?}"),
        };
        Ok(match reply.as_slice() {
            [::redis::Value::Int(1)] => StatusSwap::Swapped,
            [::redis::Value::Int(0), cur] => StatusSwap::Current(text(cur)),
            _ => StatusSwap::Unknown,
        })
    }
}
