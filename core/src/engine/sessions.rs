//! Sessions ("monitor OS Gate sessions"): the decisions of one MCP session (or host session),
//! grouped from the store's session index ([`crate::store::session_of`]: `trace.mcp_session_id`,
//! which the MCP transport and the gateway set over the caller's, else `trace.session_id`).
//!
//! A session is listed per (session id, principal): a caller that names another's session id in
//! its trace gets a row of its own and never changes the other's aggregates. The live view is
//! [`Engine::subscribe`] with an [`EventFilter`](super::EventFilter) on the session id.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::Engine;
use crate::error::Result;
use crate::store::{ApprovalState, HoldState, StoredRecord};

/// The most decisions of one session read for its summary or its listing.
pub const MAX_SESSION_DECISIONS: usize = 10_000;

/// The most sessions one `sessions` call lists.
pub const MAX_SESSIONS: usize = 1000;

/// One session of one principal, summarised.
#[derive(Debug, Clone, Serialize, JsonSchema, PartialEq)]
pub struct SessionSummary {
    /// The session id.
    pub session_id: String,
    /// The principal's agent id (`null`: anonymous callers).
    pub agent: Option<String>,
    /// The anonymous callers' client key, when the principal is anonymous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The first decision's time (ms).
    pub first_time: i64,
    /// The last decision's time (ms).
    pub last_time: i64,
    /// Decisions by verdict: `{allow, deny, escalate}`.
    pub decisions: BTreeMap<String, u64>,
    /// What admitted requests added to `spend_limit` counters, by constraint id (exact decimal
    /// strings).
    pub spend: BTreeMap<String, String>,
    /// Holds reserved in the session that are still open.
    pub open_holds: u64,
    /// Escalations in the session still waiting for a human.
    pub pending_approvals: u64,
    /// Whether the session has more decisions than were read ([`MAX_SESSION_DECISIONS`]).
    pub truncated: bool,
}

/// Which sessions `sessions` lists.
#[derive(Debug, Clone, Default)]
pub struct SessionQuery {
    /// Only this principal's (agent id).
    pub agent: Option<String>,
    /// Sessions with a decision at or after this time (ms).
    pub since_ms: Option<i64>,
    /// Sessions with a decision before this time (ms).
    pub until_ms: Option<i64>,
    /// At most this many session ids (each may give one row per principal).
    pub limit: usize,
}

fn principal_of(r: &StoredRecord) -> (Option<String>, Option<String>) {
    let body = r.record.get("body");
    let agent = body
        .and_then(|b| b.pointer("/principal/agent_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let client = match agent {
        Some(_) => None,
        None => body
            .and_then(|b| b.get("client"))
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    (agent, client)
}

impl Engine {
    /// The sessions active in the query's window, most recent first, each summarised per
    /// principal.
    pub fn sessions(&self, q: &SessionQuery) -> Result<Vec<SessionSummary>> {
        let limit = q.limit.clamp(1, MAX_SESSIONS);
        let ids = self.store.session_ids(q.since_ms, q.until_ms, limit)?;
        let mut out = Vec::new();
        for id in ids {
            for s in self.session_summaries(&id)? {
                if q.agent.as_ref().is_none_or(|a| s.agent.as_ref() == Some(a)) {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// One session: its summaries (one per principal) and its decision records in order (at
    /// most `limit`).
    pub fn session(
        &self,
        session_id: &str,
        limit: usize,
    ) -> Result<(Vec<SessionSummary>, Vec<Value>)> {
        let records = self
            .store
            .session_records(session_id, limit.clamp(1, MAX_SESSION_DECISIONS))?;
        let summaries = self.summarise(session_id, &records, false)?;
        Ok((
            summaries,
            records.into_iter().map(|r| r.record.into_value()).collect(),
        ))
    }

    fn session_summaries(&self, session_id: &str) -> Result<Vec<SessionSummary>> {
        let mut records = self
            .store
            .session_records(session_id, MAX_SESSION_DECISIONS + 1)?;
        let truncated = records.len() > MAX_SESSION_DECISIONS;
        records.truncate(MAX_SESSION_DECISIONS);
        self.summarise(session_id, &records, truncated)
    }

    fn summarise(
        &self,
        session_id: &str,
        records: &[StoredRecord],
        truncated: bool,
    ) -> Result<Vec<SessionSummary>> {
        let mut by: BTreeMap<(Option<String>, Option<String>), SessionSummary> = BTreeMap::new();
        let mut spend: BTreeMap<(Option<String>, Option<String>), BTreeMap<String, Decimal>> =
            BTreeMap::new();
        let now = self.clock.now_ms();
        for r in records {
            let who = principal_of(r);
            let s = by.entry(who.clone()).or_insert_with(|| SessionSummary {
                session_id: session_id.to_string(),
                agent: who.0.clone(),
                client: who.1.clone(),
                first_time: r.time_ms,
                last_time: r.time_ms,
                decisions: BTreeMap::new(),
                spend: BTreeMap::new(),
                open_holds: 0,
                pending_approvals: 0,
                truncated,
            });
            s.first_time = s.first_time.min(r.time_ms);
            s.last_time = s.last_time.max(r.time_ms);
            let verdict = r.decision.clone().unwrap_or_default();
            *s.decisions.entry(verdict.clone()).or_default() += 1;
            let body = r.record.get("body");
            // Spend: what an admitted request counted against its spend_limit constraints.
            let checks = body.and_then(|b| b.get("checks")).and_then(Value::as_array);
            let spend_ids: Vec<&str> = checks
                .into_iter()
                .flatten()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("spend_limit"))
                .filter_map(|c| c.get("constraint").and_then(Value::as_str))
                .collect();
            let counted = body
                .and_then(|b| b.get("counted"))
                .and_then(Value::as_array);
            for c in counted.into_iter().flatten() {
                let id = c
                    .get("constraint")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !spend_ids.contains(&id) {
                    continue;
                }
                let amount = c
                    .get("amount")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse::<Decimal>().ok())
                    .unwrap_or_default();
                let total = spend
                    .entry(who.clone())
                    .or_default()
                    .entry(id.to_string())
                    .or_default();
                *total = total.saturating_add(amount);
            }
            if let Some(h) = body.and_then(|b| b.get("hold_id")).and_then(Value::as_str) {
                if let Some(hold) = self.store.hold_get(h)? {
                    if hold.state == HoldState::Open && hold.expires_ms > now {
                        s.open_holds += 1;
                    }
                }
            }
            if verdict == "escalate" {
                if let Some(e) = &r.evaluation_id {
                    if let Some(a) = self.store.approval_get(e)? {
                        if a.state == ApprovalState::Pending && a.expires_ms > now {
                            s.pending_approvals += 1;
                        }
                    }
                }
            }
        }
        for (who, totals) in spend {
            if let Some(s) = by.get_mut(&who) {
                s.spend = totals
                    .into_iter()
                    .map(|(k, v)| (k, crate::decimal::normalized(v).to_string()))
                    .collect();
            }
        }
        let mut out: Vec<SessionSummary> = by.into_values().collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.last_time));
        Ok(out)
    }
}
