//! The Redis store's registries (see [`crate::store::RegistryStore`]): a passport is the hash
//! `{prefix}:passport:<id>` (field `doc`: its record as JSON), indexed by the sorted set
//! `{prefix}:passports` (score 0, ordered by id); issuers are the hash `{prefix}:issuers` (did →
//! record) with the counter `{prefix}:issuers:gen`.

use super::RedisStore;
use crate::error::{Error, Result};
use crate::store::{IssuerRecord, PassportFilter, PassportRecord, Registered, RegistryStore};

/// The most index entries one page looks at (a filtered page may end early).
const SCAN: usize = 10_000;

fn to_text<T: serde::Serialize>(what: &str, v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::Internal(format!("{what} not serialisable: {e}")))
}

fn from_text<T: serde::de::DeserializeOwned>(what: &str, t: &str) -> Result<T> {
    serde_json::from_str(t)
        .map_err(|e| Error::StoreUnavailable(format!("stored {what} unreadable: {e}")))
}

impl RedisStore {
    fn passport_key(&self, id: &str) -> String {
        self.keys.k(&format!("passport:{id}"))
    }
}

impl RegistryStore for RedisStore {
    fn passport_register(&self, record: &PassportRecord) -> Result<Registered> {
        let text = to_text("passport", record)?;
        let k = self.passport_key(&record.passport_id);
        let index = self.keys.k("passports");
        // One transaction: set if absent, index (idempotent), read back what is stored.
        let (set, _, stored): (i64, i64, Option<String>) = self.rw(|c| {
            ::redis::pipe()
                .atomic()
                .cmd("HSETNX")
                .arg(&k)
                .arg("doc")
                .arg(&text)
                .cmd("ZADD")
                .arg(&index)
                .arg(0)
                .arg(&record.passport_id)
                .cmd("HGET")
                .arg(&k)
                .arg("doc")
                .query(c)
        })?;
        if set == 1 {
            return Ok(Registered::Inserted);
        }
        let stored = stored.ok_or_else(|| {
            Error::StoreUnavailable(format!("passport {} vanished", record.passport_id))
        })?;
        Ok(Registered::Existing(Box::new(from_text(
            "passport", &stored,
        )?)))
    }

    fn passport_get(&self, id: &str) -> Result<Option<PassportRecord>> {
        let k = self.passport_key(id);
        let text: Option<String> = self.ro(|c| ::redis::cmd("HGET").arg(&k).arg("doc").query(c))?;
        text.map(|t| from_text("passport", &t)).transpose()
    }

    fn passports_page(
        &self,
        filter: &PassportFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<PassportRecord>, Option<String>)> {
        let index = self.keys.k("passports");
        let batch = limit.clamp(100, 1000);
        let mut from = after.map_or("-".to_string(), |a| format!("({a}"));
        let mut out = Vec::new();
        let mut scanned = 0usize;
        loop {
            let ids: Vec<String> = self.ro(|c| {
                ::redis::cmd("ZRANGEBYLEX")
                    .arg(&index)
                    .arg(&from)
                    .arg("+")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(batch)
                    .query(c)
            })?;
            if ids.is_empty() {
                return Ok((out, None));
            }
            let keys: Vec<String> = ids.iter().map(|id| self.passport_key(id)).collect();
            let docs: Vec<Option<String>> = self.ro(|c| {
                let mut p = ::redis::pipe();
                for k in &keys {
                    p.cmd("HGET").arg(k).arg("doc");
                }
                p.query(c)
            })?;
            let full = ids.len() == batch;
            for (id, doc) in ids.iter().zip(docs) {
                if out.len() >= limit || scanned >= SCAN {
                    // Resume after the last id looked at.
                    return Ok((out, from.strip_prefix('(').map(str::to_string)));
                }
                scanned += 1;
                from = format!("({id}");
                let Some(doc) = doc else { continue };
                let r: PassportRecord = from_text("passport", &doc)?;
                if filter.matches(&r) {
                    out.push(r);
                }
            }
            if !full {
                return Ok((out, None));
            }
        }
    }

    fn issuer_put(&self, record: &IssuerRecord) -> Result<u64> {
        let text = to_text("issuer", record)?;
        let (hash, gen) = (self.keys.k("issuers"), self.keys.k("issuers:gen"));
        let (_, g): (i64, i64) = self.rw(|c| {
            ::redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(&hash)
                .arg(&record.did)
                .arg(&text)
                .cmd("INCR")
                .arg(&gen)
                .query(c)
        })?;
        Ok(u64::try_from(g).unwrap_or(0))
    }

    fn issuers(&self) -> Result<(u64, Vec<IssuerRecord>)> {
        let (hash, gen) = (self.keys.k("issuers"), self.keys.k("issuers:gen"));
        let (g, all): (Option<i64>, std::collections::BTreeMap<String, String>) = self.ro(|c| {
            ::redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(&gen)
                .cmd("HGETALL")
                .arg(&hash)
                .query(c)
        })?;
        let records = all
            .values()
            .map(|t| from_text("issuer", t))
            .collect::<Result<Vec<IssuerRecord>>>()?;
        Ok((u64::try_from(g.unwrap_or(0)).unwrap_or(0), records))
    }

    fn issuers_generation(&self) -> Result<u64> {
        let gen = self.keys.k("issuers:gen");
        let g: Option<i64> = self.ro(|c| ::redis::cmd("GET").arg(&gen).query(c))?;
        Ok(u64::try_from(g.unwrap_or(0)).unwrap_or(0))
    }

    fn revoked_ids(&self) -> Result<Vec<String>> {
        let k = self.keys.k("revoked");
        let mut ids: Vec<String> = self.ro(|c| ::redis::cmd("SMEMBERS").arg(&k).query(c))?;
        ids.sort();
        Ok(ids)
    }
}
