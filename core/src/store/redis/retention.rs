//! Retention on Redis: keyset paging by append number on the record indexes, the records due
//! (from `{p}:x:all`, oldest first), and pruning a chain prefix with its checkpoint in one
//! bounded script (`prune.lua`), which also drops every index entry of the records it deletes.

use std::collections::HashMap;
use std::sync::Arc;

use super::scripts::Call;
use super::{bad_reply, record_from, RedisStore};
use crate::error::{Error, Result};
use crate::store::{AttestationFilter, Checkpoint, Retention, StoredRecord};

/// Index entries fetched per round trip.
const PAGE: usize = 512;
/// The most records one `prune_prefix` call deletes (one script).
pub const MAX_PRUNE: u64 = 4096;

impl RedisStore {
    /// The index a filter is answered from (the most selective field it names), or every record.
    fn page_index(&self, filter: &AttestationFilter) -> String {
        self.filter_index(filter)
            .unwrap_or_else(|| self.keys.k("x:all"))
    }

    /// The most selective index the filter names (`None`: it names none; every other field is
    /// checked on the records themselves).
    pub(super) fn filter_index(&self, filter: &AttestationFilter) -> Option<String> {
        let k = &self.keys;
        [
            ("eval", &filter.evaluation_id),
            ("chain", &filter.chain),
            ("agent", &filter.agent_id),
            ("gate", &filter.gate),
            ("decision", &filter.decision),
            ("kind", &filter.kind),
        ]
        .into_iter()
        .find_map(|(f, v)| v.as_ref().map(|v| k.index(f, v)))
        .or_else(|| filter.anonymous_only.then(|| k.k("x:anon")))
    }

    /// Up to `count` append numbers of `index` after `after`, in order.
    fn gs_after(&self, index: &str, after: u64, count: usize) -> Result<Vec<u64>> {
        let gs: Vec<String> = self.ro(|c| {
            ::redis::cmd("ZRANGE")
                .arg(index)
                .arg(format!("({after}"))
                .arg("+inf")
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(count)
                .query(c)
        })?;
        gs.iter()
            .map(|g| {
                g.parse::<u64>()
                    .map_err(|_| Error::StoreUnavailable(format!("index {index}: member {g:?}")))
            })
            .collect()
    }

    /// The records at `gs` with their numbers (missing ones skipped).
    fn records_with_g(&self, gs: &[u64]) -> Result<Vec<(u64, StoredRecord)>> {
        if gs.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<Option<String>> =
            self.ro(|c| ::redis::cmd("HMGET").arg(self.keys.k("r")).arg(gs).query(c))?;
        gs.iter()
            .zip(texts)
            .filter_map(|(g, t)| t.map(|t| record_from(&t).map(|r| (*g, r))))
            .collect()
    }

    /// One keyset page (see [`crate::store::Store::attestations_page`]).
    pub(super) fn page(
        &self,
        filter: &AttestationFilter,
        mut after: u64,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, Option<u64>)> {
        let index = self.page_index(filter);
        let mut out = Vec::new();
        let mut last = 0;
        loop {
            let gs = self.gs_after(&index, after, PAGE)?;
            let Some(end) = gs.last().copied() else {
                return Ok((out, None));
            };
            for (g, r) in self.records_with_g(&gs)? {
                if !filter.matches(&r) {
                    continue;
                }
                if out.len() == limit {
                    // One more matches: there is a next page.
                    return Ok((out, Some(last)));
                }
                last = g;
                out.push(r);
            }
            after = end;
        }
    }

    /// The records due under `retention`, oldest first.
    pub(super) fn due(
        &self,
        retention: &Retention,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        if retention.keeps_all() || limit == 0 {
            return Ok(Vec::new());
        }
        let k = &self.keys;
        let excess = match retention.max_records {
            Some(max) => {
                let n: u64 = self.ro(|c| ::redis::cmd("HLEN").arg(k.k("r")).query(c))?;
                n.saturating_sub(max)
            }
            None => 0,
        };
        let cutoff = retention.cutoff_ms(now_ms);
        let mut tails: HashMap<String, u64> = HashMap::new();
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let gs = self.gs_after(&k.k("x:all"), after, PAGE.min(limit.saturating_add(64)))?;
            let Some(end) = gs.last().copied() else {
                return Ok(out);
            };
            let page = self.records_with_g(&gs)?;
            let unknown: Vec<&str> = page
                .iter()
                .map(|(_, r)| r.chain.as_str())
                .filter(|c| !tails.contains_key(*c))
                .collect();
            if !unknown.is_empty() {
                let seqs: Vec<Option<u64>> = self.ro(|c| {
                    ::redis::cmd("HMGET")
                        .arg(k.k("tails"))
                        .arg(&unknown)
                        .query(c)
                })?;
                let found: Vec<(String, u64)> = unknown
                    .iter()
                    .zip(seqs)
                    .map(|(c, s)| (c.to_string(), s.unwrap_or(0)))
                    .collect();
                tails.extend(found);
            }
            for (_, r) in page {
                if out.len() >= limit {
                    return Ok(out);
                }
                if tails.get(&r.chain) == Some(&r.seq) {
                    continue;
                }
                let by_count = u64::try_from(out.len()).unwrap_or(u64::MAX) < excess;
                if !(by_count || cutoff.is_some_and(|c| r.time_ms < c)) {
                    return Ok(out);
                }
                out.push(r);
            }
            after = end;
        }
    }

    /// Deletes a chain's prefix through the checkpoint's seq and stores the checkpoint: one
    /// script, given the records' numbers and index keys (read first; the script checks they are
    /// still the chain's first records).
    pub(super) fn prune_chain(&self, cp: &Checkpoint) -> Result<usize> {
        let k = &self.keys;
        let stored: Option<u64> = self.ro(|c| {
            ::redis::cmd("HGET")
                .arg(k.k("ckseq"))
                .arg(&cp.chain)
                .query(c)
        })?;
        let stored = stored.unwrap_or(0);
        if cp.seq <= stored {
            return Ok(0);
        }
        let want = cp.seq - stored;
        if want > MAX_PRUNE {
            return Err(Error::InvalidArgument(format!(
                "chain {}: pruning {want} records at once; at most {MAX_PRUNE} per call",
                cp.chain
            )));
        }
        let chainix = k.index("chain", &cp.chain);
        let gs: Vec<u64> = self.ro(|c| {
            ::redis::cmd("ZRANGE")
                .arg(&chainix)
                .arg(0)
                .arg(want - 1)
                .query(c)
        })?;
        let records = self.records_with_g(&gs)?;
        // Exactly the records after the stored checkpoint, through the new one, in order.
        let contiguous = records.len() == gs.len()
            && records
                .iter()
                .zip(stored + 1..)
                .all(|((_, r), seq)| r.chain == cp.chain && r.seq == seq)
            && records.last().is_some_and(|(_, r)| r.seq == cp.seq);
        if !contiguous {
            return Err(Error::StoreUnavailable(format!(
                "redis {}: chain {}: the records after checkpoint seq {stored} are not seq \
                 {}..={} in order; not pruned",
                self.addr,
                cp.chain,
                stored + 1,
                cp.seq
            )));
        }
        let mut call = Call::default();
        call.key(k.k("r"))
            .key(k.k("tails"))
            .key(k.k("ck"))
            .key(k.k("ckseq"))
            .key(chainix)
            .key(k.k("b"));
        call.arg(&cp.chain)
            .arg(cp.seq)
            .arg(cp.record.to_string())
            .arg(records.len());
        for (g, r) in &records {
            let index = k.record_index(r);
            call.arg(g).arg(index.len());
            for ix in index {
                call.key(ix);
            }
            // A pruned decision's run bundle goes with it ('' : none to delete).
            let bundle = match r.kind.as_str() {
                "decision" => r.evaluation_id.as_deref().unwrap_or(""),
                _ => "",
            };
            call.arg(bundle);
        }
        let reply = self.script(&self.scripts.prune, &call, true)?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(records.len()),
            Some("stale") => Ok(0),
            Some("tail") => Err(Error::InvalidArgument(format!(
                "chain {}: a checkpoint at seq {} would prune the chain's newest record",
                cp.chain, cp.seq
            ))),
            Some("moved") => Err(Error::StoreUnavailable(format!(
                "redis {}: chain {}: its first records changed while pruning; not pruned",
                self.addr, cp.chain
            ))),
            _ => Err(bad_reply("prune", &reply)),
        }
    }

    /// The checkpoint of `chain`, or of every chain.
    pub(super) fn checkpoints_of(&self, chain: Option<&str>) -> Result<Vec<Checkpoint>> {
        let k = self.keys.k("ck");
        let rows: Vec<(String, String)> = match chain {
            Some(c) => {
                let v: Option<String> =
                    self.ro(|conn| ::redis::cmd("HGET").arg(&k).arg(c).query(conn))?;
                v.map(|v| vec![(c.to_string(), v)]).unwrap_or_default()
            }
            None => {
                let all: HashMap<String, String> =
                    self.ro(|conn| ::redis::cmd("HGETALL").arg(&k).query(conn))?;
                let mut all: Vec<(String, String)> = all.into_iter().collect();
                all.sort();
                all
            }
        };
        rows.into_iter()
            .map(|(chain, text)| {
                let record: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    Error::StoreUnavailable(format!("stored checkpoint unreadable: {e}"))
                })?;
                let seq = record
                    .pointer("/body/seq")
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| {
                        Error::StoreUnavailable(format!("checkpoint of {chain} has no seq"))
                    })?;
                Ok(Checkpoint {
                    chain,
                    seq,
                    record: Arc::new(record),
                })
            })
            .collect()
    }
}
