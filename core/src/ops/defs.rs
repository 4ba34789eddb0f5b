//! The operations, one argument struct each (see [`super`]). Field docs become the schema's
//! descriptions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::args::{
    AttestationFields, AttestationFilterArgs, CounterFilterArgs, Days, TraceLabel, Ttl, VerdictArg,
};
use super::{Effect, Op};
use crate::engine::{Engine, Request};
use crate::error::{Error, Result};
use crate::passport::{IssuedPassport, Issuer, PassportRequest};
use crate::store::{AttestationFilter, CounterState, WindowKind};

// ---------------------------------------------------------------------------------------------
// Decisions

/// A request to decide: the arguments of `enforce` and `dry_run`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestArgs {
    /// The gate, e.g. payments.send.
    #[schemars(length(min = 1))]
    pub gate: String,
    /// The agent's passport token (none: anonymous access).
    pub passport: Option<String>,
    /// The action's arguments (an object).
    pub payload: Option<Value>,
    /// Makes a retry return the first decision.
    pub idempotency_key: Option<String>,
    /// Host metadata (MCP session / request ids), recorded but not fingerprinted.
    pub trace: Option<Map<String, Value>>,
    /// The host's key for an anonymous caller.
    pub client: Option<String>,
    /// Reserve the amounts; the operator settles or releases the hold later.
    pub hold: Option<bool>,
    /// An approval token for a request that escalated.
    pub approval: Option<String>,
    /// The MCP session the request came in (recorded as `trace.mcp_session_id`, not
    /// fingerprinted).
    pub mcp_session_id: Option<TraceLabel>,
    /// The MCP client's name (recorded as `trace.mcp_client_name`, not fingerprinted).
    pub mcp_client_name: Option<TraceLabel>,
    /// Where the host should deliver this decision's event (an escalation; a deny if the
    /// policy records denies): an http(s) URL or a channel name of a-z, 0-9, '.', '_', '-'.
    /// Stored with the event, never called by passgate, not fingerprinted. Not for dry_run.
    #[schemars(length(min = 1, max = 512))]
    pub notify: Option<String>,
    /// A proof of possession of the passport's cnf key, {nonce, ts, sig}: required by gates at
    /// trust level L3, verified whenever present (see make_pop / makePop).
    #[schemars(with = "Option<crate::pop::Pop>")]
    pub pop: Option<Value>,
}

impl RequestArgs {
    /// The engine request.
    pub fn into_request(self) -> Request {
        let trace = with_session(self.trace, self.mcp_session_id, self.mcp_client_name);
        Request {
            gate: self.gate,
            passport: self.passport,
            payload: self.payload.unwrap_or(Value::Null),
            idempotency_key: self.idempotency_key,
            trace: trace.map(Value::Object),
            client: self.client,
            hold: self.hold.unwrap_or(false),
            approval: self.approval,
            notify: self.notify,
            pop: self.pop,
        }
    }
}

/// `trace` with the session labels `mcp_session_id` and `mcp_client_name` added, each checked
/// as a [`TraceLabel`] (`INVALID_ARGUMENT` at `/mcp_session_id`, `/mcp_client_name`), for the
/// bindings' typed `enforce` / `dry_run` that build their request without this layer. A value
/// already in the trace is kept. A trace that is not an object is returned as it is (the engine
/// refuses it) unless a label is to be added.
pub fn trace_with_session(
    trace: Option<Value>,
    session: Option<&str>,
    client_name: Option<&str>,
) -> Result<Option<Value>> {
    let label = |path: &str, v: Option<&str>| {
        v.map(|s| TraceLabel::new(s).map_err(|m| Error::argument(path, m)))
            .transpose()
    };
    let session = label("/mcp_session_id", session)?;
    let client_name = label("/mcp_client_name", client_name)?;
    match trace {
        None => Ok(with_session(None, session, client_name).map(Value::Object)),
        Some(Value::Object(m)) => {
            Ok(with_session(Some(m), session, client_name).map(Value::Object))
        }
        Some(other) if session.is_none() && client_name.is_none() => Ok(Some(other)),
        Some(_) => Err(Error::argument("/trace", "trace must be an object")),
    }
}

/// `trace` with `mcp_session_id` and `mcp_client_name` added. A value already in the trace is
/// kept: a host's gateway puts the session it established there, which the caller's argument
/// does not replace.
fn with_session(
    trace: Option<Map<String, Value>>,
    session: Option<TraceLabel>,
    client_name: Option<TraceLabel>,
) -> Option<Map<String, Value>> {
    if session.is_none() && client_name.is_none() {
        return trace;
    }
    let mut trace = trace.unwrap_or_default();
    for (key, label) in [
        ("mcp_session_id", session),
        ("mcp_client_name", client_name),
    ] {
        if let Some(TraceLabel(v)) = label {
            trace.entry(key).or_insert(Value::String(v));
        }
    }
    Some(trace)
}

/// The JSON Schema of a decision (the result of `enforce` and `dry_run`).
pub fn decision_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "decision": {"enum": ["allow", "deny", "escalate"]},
            "allowed": {"type": "boolean"},
            "gate": {"type": "string"},
            "evaluation_id": {"type": "string"},
            "checks": {"type": "array", "items": {"type": "object"}},
            "remaining": {"type": "object"},
            "approval_request": {"type": ["object", "null"]},
            "hold_id": {"type": ["string", "null"]}
        },
        "required": ["decision", "allowed", "gate", "evaluation_id", "checks"]
    })
}

/// `enforce`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Enforce(pub RequestArgs);

impl Op for Enforce {
    const NAME: &'static str = "enforce";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Decide whether the agent may perform an action now, count it if allowed, and sign the decision. Allow, deny and escalate are all normal results: read `decision`; a deny lists every failed check, an escalation carries the approval request.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        Ok(engine.enforce(&self.0.into_request())?.to_json())
    }
    fn output_schema() -> Option<Value> {
        Some(decision_schema())
    }
}

/// `dry_run`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct DryRun(pub RequestArgs);

impl Op for DryRun {
    const NAME: &'static str = "dry_run";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Evaluate the same question as enforce against the same state without changing anything (no counters, no attestation).";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        Ok(engine.dry_run(&self.0.into_request())?.to_json())
    }
    fn output_schema() -> Option<Value> {
        Some(decision_schema())
    }
}

/// `allowed_gates`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowedGates {
    /// A passport token (none: the gates open to anonymous callers).
    pub passport: Option<String>,
}

/// Gate names.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GateNames {
    /// The gates, sorted.
    pub gates: Vec<String>,
}

impl Op for AllowedGates {
    const NAME: &'static str = "allowed_gates";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The gates the passport could be admitted to now (its permissions cover the gate's, and no time window is closed).";
    type Output = GateNames;
    fn run(self, engine: &Engine) -> Result<GateNames> {
        Ok(GateNames {
            gates: engine.allowed_gates(self.passport.as_deref())?,
        })
    }
}

/// `list_my_evaluations`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMyEvaluations {
    /// The agent's passport token: the records of its principal (any delegation depth).
    #[schemars(length(min = 1))]
    pub passport: String,
    /// Decisions on this gate.
    pub gate: Option<String>,
    /// Decisions with this verdict.
    pub decision: Option<VerdictArg>,
    /// One evaluation.
    pub evaluation_id: Option<String>,
    /// At or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// At most this many, oldest first (default 100).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Decision records.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Evaluations {
    /// Signed decision records, oldest first.
    pub evaluations: Vec<Value>,
}

impl Op for ListMyEvaluations {
    const NAME: &'static str = "list_my_evaluations";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The signed decision records of the agent's own requests (its passport's principal), oldest first.";
    type Output = Evaluations;
    fn run(self, engine: &Engine) -> Result<Evaluations> {
        let principal = engine.principal_of(&self.passport)?;
        let filter = AttestationFilter {
            agent_id: Some(principal.agent_id.clone()),
            kind: Some("decision".into()),
            gate: self.gate,
            decision: self.decision.map(|d| d.as_str().to_string()),
            evaluation_id: self.evaluation_id,
            since_ms: self.since,
            ..AttestationFilter::default()
        };
        let limit = self.limit.map_or(100, |l| l as usize);
        let evaluations = engine
            .attestations(&filter)?
            .into_iter()
            .filter(|r| of_principal(r, &principal))
            .take(limit)
            .collect();
        Ok(Evaluations { evaluations })
    }
}

/// Whether decision record `r` is about a request of `principal` (itself or a delegate of it).
fn of_principal(r: &Value, principal: &crate::passport::Principal) -> bool {
    r.pointer("/body/principal").is_some_and(|p| {
        p.get("issuer").and_then(Value::as_str) == Some(principal.issuer.as_str())
            && p.get("agent_id").and_then(Value::as_str) == Some(principal.agent_id.as_str())
    })
}

/// One tool call of the agent's run, as `evaluate` records it in the trace.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolCallArg {
    /// The tool's name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Its arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

/// One artifact of the agent's run (a file, a document), as `evaluate` records it in the trace.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArtifactArg {
    /// Its name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Its media type, e.g. text/csv.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub media_type: Option<String>,
    /// The SHA-256 of its content, in lowercase hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9a-f]{64}$"))]
    pub sha256: Option<String>,
    /// Its size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// The most tool calls, and the most artifacts, one `evaluate` records.
pub const MAX_EVALUATE_ITEMS: usize = 64;

/// `evaluate`: AgentNexus's shape of `enforce` (and of `dry_run`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluate {
    /// The gate (AgentNexus's policy name), e.g. payments.send.
    #[schemars(length(min = 1))]
    pub policy_name: String,
    /// The action's arguments (an object): the gate's payload.
    pub payload_scope: Option<Value>,
    /// The agent's passport token (none: anonymous access).
    pub passport: Option<String>,
    /// The identity of an anonymous caller, set by the host (its client key: per-client limits
    /// count it). With a passport, or from an agent, it is only recorded, as
    /// `trace.claimed_agent_id`: an identity comes from a passport or from the host.
    #[schemars(length(min = 1, max = 256))]
    pub agent_id: Option<String>,
    /// Makes a retry return the first decision.
    pub idempotency_key: Option<String>,
    /// Evaluate without counting or recording anything (as `dry_run`); default false.
    pub dry_run: Option<bool>,
    /// The MCP session the request came in (recorded as `trace.mcp_session_id`).
    pub mcp_session_id: Option<TraceLabel>,
    /// The MCP client's name (recorded as `trace.mcp_client_name`).
    pub mcp_client_name: Option<TraceLabel>,
    /// The tool calls of the run being evaluated (recorded as `trace.tool_calls`; at most 64).
    #[schemars(length(max = 64))]
    pub tool_calls: Option<Vec<ToolCallArg>>,
    /// The artifacts of the run being evaluated (recorded as `trace.artifacts`; at most 64).
    #[schemars(length(max = 64))]
    pub artifacts: Option<Vec<ArtifactArg>>,
    /// Host metadata, recorded but not fingerprinted.
    pub trace: Option<Map<String, Value>>,
    /// Where the host should deliver this decision's event (an http(s) URL or a channel name;
    /// see enforce). Not with dry_run.
    #[schemars(length(min = 1, max = 512))]
    pub notify: Option<String>,
}

impl Evaluate {
    /// The `enforce` / `dry_run` arguments this names, and whether it is a dry run.
    pub fn into_request_args(self) -> Result<(RequestArgs, bool)> {
        let mut trace = self.trace.unwrap_or_default();
        if let Some(calls) = &self.tool_calls {
            trace.insert("tool_calls".into(), trace_value(calls)?);
        }
        if let Some(artifacts) = &self.artifacts {
            trace.insert("artifacts".into(), trace_value(artifacts)?);
        }
        let client = match (&self.passport, self.agent_id) {
            (None, agent_id) => agent_id,
            (Some(_), Some(claimed)) => {
                trace.insert("claimed_agent_id".into(), Value::String(claimed));
                None
            }
            (Some(_), None) => None,
        };
        let args = RequestArgs {
            gate: self.policy_name,
            passport: self.passport,
            payload: self.payload_scope,
            idempotency_key: self.idempotency_key,
            trace: (!trace.is_empty()).then_some(trace),
            client,
            hold: None,
            approval: None,
            mcp_session_id: self.mcp_session_id,
            mcp_client_name: self.mcp_client_name,
            notify: self.notify,
            pop: None,
        };
        Ok((args, self.dry_run.unwrap_or(false)))
    }
}

fn trace_value<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(format!("trace not serialisable: {e}")))
}

impl Op for Evaluate {
    const NAME: &'static str = "evaluate";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Decide whether the agent may perform an action now, with AgentNexus's argument names: enforce (or, with dry_run, a dry run) on gate policy_name with payload payload_scope. The run's tool calls and artifacts are recorded in the decision's trace. Returns the decision, as enforce does.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let (args, dry_run) = self.into_request_args()?;
        match dry_run {
            true => DryRun(args).run(engine),
            false => Enforce(args).run(engine),
        }
    }
    fn output_schema() -> Option<Value> {
        Some(decision_schema())
    }
}

/// `get_evaluation`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetEvaluation {
    /// The evaluation's id (a decision's `evaluation_id`).
    #[schemars(length(min = 1, max = 256))]
    pub evaluation_id: String,
    /// A passport token: answer only for an evaluation of its principal (any delegation
    /// depth), as `list_my_evaluations` does; none: any evaluation.
    pub passport: Option<String>,
}

/// One evaluation: its decision record and what happened to it since.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EvaluationRecord {
    /// The signed decision record.
    pub evaluation: Value,
    /// The lifecycle records about it (hold settled / released / expired, approval granted /
    /// denied, ...), oldest first.
    pub events: Vec<Value>,
    /// The run bundle — `{evaluation_id, gate, payload?, tool_calls?, artifacts?}`, verified
    /// against the record's `bundle_hash` — when the gate records one and it was not purged.
    pub bundle: Option<Value>,
    /// `recorded` (the bundle is here), `purged`, or `none` (the gate records no bundle).
    pub bundle_status: String,
}

impl Op for GetEvaluation {
    const NAME: &'static str = "get_evaluation";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "One evaluation by id: its signed decision record, the lifecycle records about it (holds settled, released or expired; approvals granted or denied), oldest first, and its run bundle (when its gate records one: see the policy's record setting; bundle_status says recorded, purged or none). A dry run records nothing and is not found. With a passport, only the passport's principal's evaluations are found.";
    type Output = EvaluationRecord;
    fn run(self, engine: &Engine) -> Result<EvaluationRecord> {
        // Read the principal first: a bad passport fails as itself, whatever the id.
        let principal = match &self.passport {
            Some(p) => Some(engine.principal_of(p)?),
            None => None,
        };
        let unknown =
            || Error::EvaluationUnknown(format!("no recorded evaluation {:?}", self.evaluation_id));
        let records = engine.attestations(&AttestationFilter {
            evaluation_id: Some(self.evaluation_id.clone()),
            ..AttestationFilter::default()
        })?;
        let is_decision =
            |r: &Value| r.pointer("/body/kind").and_then(Value::as_str) == Some("decision");
        let (decisions, events): (Vec<Value>, Vec<Value>) =
            records.into_iter().partition(|r| is_decision(r));
        let evaluation = decisions.into_iter().next().ok_or_else(unknown)?;
        if let Some(principal) = principal {
            // Another principal's evaluation is answered as an unknown one: its id says nothing.
            if !of_principal(&evaluation, &principal) {
                return Err(unknown());
            }
        }
        let (bundle, status) = engine.evaluation_bundle(&evaluation)?;
        Ok(EvaluationRecord {
            evaluation,
            events,
            bundle,
            bundle_status: status.to_string(),
        })
    }
}

/// `purge_bundle`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeBundle {
    /// The evaluation whose run bundle to delete.
    #[schemars(length(min = 1, max = 256))]
    pub evaluation_id: String,
}

/// What `purge_bundle` did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Purged {
    /// Whether a bundle was deleted.
    pub purged: bool,
    /// The signed `bundle.purged` record (null when nothing was purged).
    pub attestation: Option<Value>,
}

impl Op for PurgeBundle {
    const NAME: &'static str = "purge_bundle";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str = "Delete an evaluation's run bundle (privacy). Its decision record keeps the bundle_hash, so the chain still verifies; attested as bundle.purged.";
    type Output = Purged;
    fn run(self, engine: &Engine) -> Result<Purged> {
        let attestation = engine.purge_bundle(&self.evaluation_id)?;
        Ok(Purged {
            purged: attestation.is_some(),
            attestation,
        })
    }
}

/// `sessions`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sessions {
    /// Only this agent's (the principal's agent id).
    #[schemars(length(min = 1, max = 256))]
    pub agent: Option<String>,
    /// Sessions with a decision at or after this time (epoch ms).
    pub since: Option<i64>,
    /// Sessions with a decision before this time (epoch ms).
    pub until: Option<i64>,
    /// At most this many sessions (1–1,000; default 100).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<usize>,
}

/// The sessions listed.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionList {
    /// Most recently active first; one row per (session, principal).
    pub sessions: Vec<crate::engine::SessionSummary>,
}

impl Op for Sessions {
    const NAME: &'static str = "sessions";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List MCP sessions (trace.mcp_session_id, else trace.session_id) with a decision in a time window, most recent first: per session and principal, the agent, first and last time, decisions by verdict, spend by spend_limit constraint, open holds and pending approvals.";
    type Output = SessionList;
    fn run(self, engine: &Engine) -> Result<SessionList> {
        let q = crate::engine::SessionQuery {
            agent: self.agent,
            since_ms: self.since,
            until_ms: self.until,
            limit: self.limit.unwrap_or(100),
        };
        Ok(SessionList {
            sessions: engine.sessions(&q)?,
        })
    }
}

/// `session`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// The session id.
    #[schemars(length(min = 1, max = 256))]
    pub session_id: String,
    /// At most this many decisions, oldest first (1–10,000; default 1,000).
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<usize>,
}

/// One session.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionView {
    /// Its summaries, one per principal (empty: no decision has this session id).
    pub sessions: Vec<crate::engine::SessionSummary>,
    /// Its signed decision records, oldest first.
    pub decisions: Vec<Value>,
}

impl Op for Session {
    const NAME: &'static str = "session";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "One session's signed decision records in order, with its summary per principal (decisions by verdict, spend, open holds, pending approvals).";
    type Output = SessionView;
    fn run(self, engine: &Engine) -> Result<SessionView> {
        let (sessions, decisions) = engine.session(&self.session_id, self.limit.unwrap_or(1000))?;
        Ok(SessionView {
            sessions,
            decisions,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Passports

/// `verify_passport`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPassport {
    /// A passport token.
    #[schemars(length(min = 1))]
    pub passport: String,
}

impl Op for VerifyPassport {
    const NAME: &'static str = "verify_passport";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Verify a passport (signature, validity, trusted issuer, delegation chain, revocation) and return its claims.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.verify_passport(&self.passport)
    }
}

/// `revoke_passport`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokePassport {
    /// The passport's id (its `jti`).
    #[schemars(length(min = 1))]
    pub passport_id: String,
}

/// What was revoked.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Revoked {
    /// The passport id.
    pub revoked: String,
}

impl Op for RevokePassport {
    const NAME: &'static str = "revoke_passport";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str =
        "Revoke a passport by id; every passport delegated from it is revoked with it.";
    type Output = Revoked;
    fn run(self, engine: &Engine) -> Result<Revoked> {
        engine.revoke_passport(&self.passport_id)?;
        Ok(Revoked {
            revoked: self.passport_id,
        })
    }
}

/// `reissue`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Reissue {
    /// The passport to replace (a root passport).
    #[schemars(length(min = 1))]
    pub passport: String,
    /// The issuer's secret key.
    #[schemars(length(min = 1))]
    pub issuer_secret: String,
    /// The new passport's lifetime in days (default: the old one's).
    pub expires_in_days: Option<Days>,
    /// Catalog versions the agent accepts `[{gate, version}]`: the new passport is pinned to
    /// them (replacing its pins of those gates); its other pins are kept.
    #[schemars(length(max = 64))]
    pub accept_catalog: Option<Vec<AcceptCatalog>>,
}

/// A catalog version accepted on reissue.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptCatalog {
    /// The gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
    /// The published version whose terms the new passport is pinned to.
    #[schemars(range(min = 1))]
    pub version: u64,
}

impl Op for Reissue {
    const NAME: &'static str = "reissue";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Issue a fresh passport in place of a root passport (same agent, permissions, caveats and catalog pins) and revoke the old one. With accept_catalog, the new passport is pinned to those catalog versions instead (CATALOG_UNKNOWN if one is not published).";
    type Output = IssuedPassport;
    fn run(self, engine: &Engine) -> Result<IssuedPassport> {
        let issuer = Issuer::from_secret(&self.issuer_secret)?;
        let secs = self.expires_in_days.map(Days::secs);
        let accept: Vec<(String, u64)> = self
            .accept_catalog
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.gate, a.version))
            .collect();
        engine.reissue_accepting(&self.passport, &issuer, secs, &accept)
    }
}

/// `issue_passport`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssuePassport {
    /// The issuer's secret key; with `passport`, that passport's agent key.
    #[schemars(length(min = 1))]
    pub issuer_secret: String,
    /// The agent the passport names.
    #[schemars(length(min = 1))]
    pub agent_id: String,
    /// A display name.
    pub agent_name: Option<String>,
    /// `resource:action` permissions (`*` wildcards), e.g. payments:send.
    pub permissions: Option<Vec<String>>,
    /// Lifetime in days (default 30).
    pub expires_in_days: Option<Days>,
    /// Caveats (limits the holder cannot widen).
    pub caveats: Option<Vec<Map<String, Value>>>,
    /// A parent passport: issue a sub-agent passport delegated from it.
    pub passport: Option<String>,
    /// Catalog pins `[{gate, version, content_hash}]` (from get_catalog or discover_services):
    /// requests to each gate are made on that version's terms, and denied
    /// (CATALOG_PIN_MISMATCH) if this engine does not have it. A sub-passport inherits its
    /// parent's pins and may not change them.
    #[schemars(length(max = 64))]
    pub pins: Option<Vec<crate::passport::Pin>>,
}

impl Op for IssuePassport {
    const NAME: &'static str = "issue_passport";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Issue a passport for an agent, signed by the issuer (or, with a parent passport and its agent key, a sub-agent passport). The agent's private key is returned once. The passport is recorded in the registry (never its key; see get_passport) and attested (issuance).";
    type Output = IssuedPassport;
    fn run(self, engine: &Engine) -> Result<IssuedPassport> {
        let (req, signer) = self.request()?;
        match signer {
            Signer::Issuer(issuer) => engine.issue_passport(&issuer, &req),
            Signer::Parent(parent) => engine.issue_sub_passport(&parent, &req),
        }
    }
}

/// Who signs a passport being issued.
enum Signer {
    Issuer(Issuer),
    Parent(IssuedPassport),
}

impl IssuePassport {
    fn request(self) -> Result<(PassportRequest, Signer)> {
        let mut req = PassportRequest::new(self.agent_id, self.permissions.unwrap_or_default());
        req.agent_name = self.agent_name;
        if let Some(d) = self.expires_in_days {
            req.expires_in_secs = d.secs();
        }
        if let Some(c) = self.caveats {
            req.caveats = c.into_iter().map(Value::Object).collect();
        }
        req.pins = self.pins.unwrap_or_default();
        let signer = match self.passport {
            None => Signer::Issuer(Issuer::from_secret(&self.issuer_secret)?),
            Some(parent) => {
                Signer::Parent(IssuedPassport::from_token(&parent, &self.issuer_secret)?)
            }
        };
        Ok((req, signer))
    }

    /// Issues it without an engine (the issuer's key signs, at the system clock): nothing is
    /// recorded. [`Op::run`] issues through an engine, which records and attests it.
    pub fn issue(self) -> Result<IssuedPassport> {
        let mut req = PassportRequest::new(self.agent_id, self.permissions.unwrap_or_default());
        req.agent_name = self.agent_name;
        if let Some(d) = self.expires_in_days {
            req.expires_in_secs = d.secs();
        }
        if let Some(c) = self.caveats {
            req.caveats = c.into_iter().map(Value::Object).collect();
        }
        match self.passport {
            None => Issuer::from_secret(&self.issuer_secret)?.issue_passport(&req),
            Some(parent) => {
                IssuedPassport::from_token(&parent, &self.issuer_secret)?.issue_sub_passport(&req)
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The passport registry and the issuers

/// `get_passport`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetPassport {
    /// The passport's id (psp_… or psd_…).
    #[schemars(length(min = 1, max = 64))]
    pub passport_id: String,
}

impl Op for GetPassport {
    const NAME: &'static str = "get_passport";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "One registered passport by id (issued by an engine of this store, or seen when first verified): agent, name, permissions, caveats, parent and ancestors, issuer, expiry, issued time, token hash (never the token or a key), source (issued or seen) and its live status: active, expired, revoked or revoked_ancestor. An id never registered is PASSPORT_UNKNOWN.";
    type Output = crate::engine::PassportView;
    fn run(self, engine: &Engine) -> Result<Self::Output> {
        engine.get_passport(&self.passport_id)
    }
}

/// `list_passports`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListPassports {
    /// The passports of this agent (its `sub`).
    #[schemars(length(min = 1, max = 256))]
    pub agent: Option<String>,
    /// The children of this passport id.
    #[schemars(length(min = 1, max = 64))]
    pub parent: Option<String>,
    /// Those with this status now.
    pub status: Option<crate::engine::PassportStatus>,
    /// Those whose permissions cover this permission, as delegation judges it: payments:*
    /// covers payments:send and payments:*; payments:send covers only payments:send.
    #[schemars(length(min = 1, max = 256))]
    pub permission: Option<String>,
    /// The `next_cursor` of the previous page (none: the first page).
    #[schemars(length(min = 1, max = 128))]
    pub cursor: Option<String>,
    /// At most this many (default 100).
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// A page of passports.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PassportPage {
    /// The passports of this page, by id, each with its live status.
    pub passports: Vec<crate::engine::PassportView>,
    /// The cursor of the next page (null: no more). A filtered page may hold fewer than limit
    /// and still have a next page.
    pub next_cursor: Option<String>,
}

impl Op for ListPassports {
    const NAME: &'static str = "list_passports";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List registered passports by id, filtered by agent, parent, status (active, expired, revoked, revoked_ancestor) and permission (those whose permissions cover it), one page at a time: at most limit (default 100, at most 1000); pass next_cursor as cursor for the next page (null: no more).";
    type Output = PassportPage;
    fn run(self, engine: &Engine) -> Result<PassportPage> {
        let query = crate::engine::PassportQuery {
            agent: self.agent,
            parent: self.parent,
            status: self.status,
            permission: self.permission,
        };
        let limit = self.limit.map_or(100, |l| l as usize);
        let (passports, next_cursor) =
            engine.list_passports(&query, self.cursor.as_deref(), limit)?;
        Ok(PassportPage {
            passports,
            next_cursor,
        })
    }
}

/// `list_issuers`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListIssuers {}

/// The trusted issuers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IssuerList {
    /// Each trusted issuer, by did.
    pub issuers: Vec<crate::engine::IssuerView>,
}

impl Op for ListIssuers {
    const NAME: &'static str = "list_issuers";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List the trusted issuers: did, public JWK, source (builder, policy or store) and, for those trusted through the store, their window (not_before, not_after: the root iat of their passports must lie in it) and when they were trusted.";
    type Output = IssuerList;
    fn run(self, engine: &Engine) -> Result<IssuerList> {
        Ok(IssuerList {
            issuers: engine.list_issuers()?,
        })
    }
}

/// `trust_issuer`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrustIssuer {
    /// The issuer's did:key.
    #[schemars(length(min = 1, max = 256))]
    pub did: String,
    /// Refuse its passports issued (root iat) before this time (ms since the epoch).
    pub not_before: Option<i64>,
    /// Refuse its passports issued (root iat) after this time (ms since the epoch).
    pub not_after: Option<i64>,
}

impl Op for TrustIssuer {
    const NAME: &'static str = "trust_issuer";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Trust an issuer through the store (every engine sharing it honours it from its next decision), optionally only for passports it issued within [not_before, not_after] (ms): rotate keys with overlapping windows. Trusting again replaces the window and lifts an untrust. Attested (issuer.trusted).";
    type Output = crate::engine::IssuerView;
    fn run(self, engine: &Engine) -> Result<Self::Output> {
        engine.trust_issuer(&self.did, self.not_before, self.not_after)
    }
}

/// `untrust_issuer`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UntrustIssuer {
    /// The issuer's did:key.
    #[schemars(length(min = 1, max = 256))]
    pub did: String,
}

impl Op for UntrustIssuer {
    const NAME: &'static str = "untrust_issuer";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str = "Stop trusting an issuer on every engine sharing the store: a deny entry that wins over the builder's and the policy's issuers (trust_issuer lifts it). Its passports are refused from the next decision. Attested (issuer.untrusted).";
    type Output = crate::engine::Untrusted;
    fn run(self, engine: &Engine) -> Result<Self::Output> {
        engine.untrust_issuer(&self.did)
    }
}

/// `export_trust`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportTrust {}

impl Op for ExportTrust {
    const NAME: &'static str = "export_trust";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Export the trusted issuers (with their windows) and every revoked passport id as a document signed by this engine's key ({body: {issuers, revoked, exported_at, signer}, hash, sig, kid}), for import_trust on another engine.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.export_trust()
    }
}

/// `import_trust`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportTrust {
    /// A document from export_trust.
    pub document: Map<String, Value>,
    /// The did:key expected to have signed it (the document's own claim is not trusted).
    #[schemars(length(min = 1, max = 256))]
    pub signer: String,
}

impl Op for ImportTrust {
    const NAME: &'static str = "import_trust";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Verify a trust document from export_trust against the signer you expect, then merge it: its issuers trusted with their windows (except those this store untrusted: skipped), its revocations revoked. A document that does not verify imports nothing (ATTESTATION_*). Attested (trust.imported).";
    type Output = crate::engine::TrustImport;
    fn run(self, engine: &Engine) -> Result<Self::Output> {
        engine.import_trust(&Value::Object(self.document), &self.signer)
    }
}

// ---------------------------------------------------------------------------------------------
// Counters

/// A counter's state.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CounterJson {
    /// `gate:<gate>` or a shared namespace.
    pub namespace: String,
    /// The constraint's name.
    pub constraint: String,
    /// Whose counter (an agent's, a client's, `global`).
    pub scope: String,
    /// The window (`null`: forever): `{kind: fixed|sliding, size_ms}` or `{kind: calendar, unit, tz}`.
    pub window: Option<Value>,
    /// The amount used in the current window (an exact decimal string).
    pub used: String,
    /// When the current window started (ms), if it has a start.
    pub window_start: Option<i64>,
    /// When the current window ends (ms): fixed and calendar windows.
    pub window_end: Option<i64>,
}

impl From<&CounterState> for CounterJson {
    fn from(c: &CounterState) -> CounterJson {
        let window = match c.window {
            WindowKind::Forever => None,
            WindowKind::Fixed { size_ms } => Some(json!({"kind": "fixed", "size_ms": size_ms})),
            WindowKind::Sliding { size_ms } => Some(json!({"kind": "sliding", "size_ms": size_ms})),
            WindowKind::Calendar { unit, tz } => {
                Some(json!({"kind": "calendar", "unit": unit.as_str(), "tz": tz.name()}))
            }
        };
        CounterJson {
            namespace: c.key.namespace.to_string(),
            constraint: c.key.constraint.to_string(),
            scope: c.key.scope.to_string(),
            window,
            used: crate::decimal::normalized(c.used).to_string(),
            window_start: c.window_start_ms,
            window_end: c
                .window_start_ms
                .and_then(|start| c.window.bounds(start))
                .map(|(_, end)| end),
        }
    }
}

/// Counters.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Counters {
    /// The counters.
    pub counters: Vec<CounterJson>,
}

/// `cumulative_state`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct CumulativeState(pub CounterFilterArgs);

impl Op for CumulativeState {
    const NAME: &'static str = "cumulative_state";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Read spend / rate / quota / concurrency counters, optionally filtered by gate, agent, constraint or scope (every match; see cumulative_state_page to page).";
    type Output = Counters;
    fn run(self, engine: &Engine) -> Result<Counters> {
        let mut counters = Vec::new();
        for f in self.0.filters(engine) {
            counters.extend(engine.cumulative_state(&f)?.iter().map(CounterJson::from));
        }
        Ok(Counters { counters })
    }
}

/// `cumulative_state_page`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CumulativeStatePage {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub filter: CounterFilterArgs,
    /// The `next_cursor` of the previous page (none: the first page).
    pub cursor: Option<String>,
    /// At most this many counters (default 100).
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<u32>,
}

/// A page of counters.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CounterPage {
    /// The counters of this page.
    pub counters: Vec<CounterJson>,
    /// The cursor of the next page (null: no more).
    pub next_cursor: Option<String>,
}

impl Op for CumulativeStatePage {
    const NAME: &'static str = "cumulative_state_page";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Read spend / rate / quota / concurrency counters, optionally filtered by gate, agent, constraint or scope, one page at a time: at most `limit` (default 100) per call; pass the returned `next_cursor` as `cursor` for the next page (null: no more).";
    type Output = CounterPage;
    fn run(self, engine: &Engine) -> Result<CounterPage> {
        let filters = self.filter.filters(engine);
        let limit = self.limit.map_or(100, |l| l as usize);
        let (page, next) =
            engine.cumulative_state_page_of(&filters, self.cursor.as_deref(), limit)?;
        Ok(CounterPage {
            counters: page.iter().map(CounterJson::from).collect(),
            next_cursor: next,
        })
    }
}

/// `reset_cumulative_state`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct ResetCumulativeState(pub CounterFilterArgs);

/// How many counters were reset.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Reset {
    /// Counters deleted.
    pub reset: usize,
}

impl Op for ResetCumulativeState {
    const NAME: &'static str = "reset_cumulative_state";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str = "Delete counters matching a filter (recorded as an attestation). Gives spent caps back: operator only.";
    type Output = Reset;
    fn run(self, engine: &Engine) -> Result<Reset> {
        let mut reset = 0;
        for f in self.0.filters(engine) {
            reset += engine.reset_cumulative_state(&f)?;
        }
        Ok(Reset { reset })
    }
}

// ---------------------------------------------------------------------------------------------
// Attestations

/// Attestation records.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Records {
    /// Signed records, oldest first.
    pub attestations: Vec<Value>,
}

/// `attestations`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Attestations(pub AttestationFilterArgs);

impl Op for Attestations {
    const NAME: &'static str = "attestations";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Read signed records of every agent, oldest first, filtered by chain, gate, agent, decision, evaluation id, kind or time.";
    type Output = Records;
    fn run(self, engine: &Engine) -> Result<Records> {
        Ok(Records {
            attestations: engine.attestations(&self.0.filter())?,
        })
    }
}

/// `anonymous_log`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct AnonymousLog(pub AttestationFilterArgs);

impl Op for AnonymousLog {
    const NAME: &'static str = "anonymous_log";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "Read the decisions on requests made without a passport, oldest first (same filters as attestations).";
    type Output = Records;
    fn run(self, engine: &Engine) -> Result<Records> {
        Ok(Records {
            attestations: engine.anonymous_log(&self.0.filter())?,
        })
    }
}

/// `attestations_page`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AttestationsPage {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub fields: AttestationFields,
    /// The `next_cursor` of the previous page (none: the first page).
    pub cursor: Option<String>,
    /// At most this many records (default 100).
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<u32>,
}

/// A page of records.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordPage {
    /// Signed records, oldest first.
    pub records: Vec<Value>,
    /// The cursor of the next page (null: no more).
    pub next_cursor: Option<String>,
}

impl Op for AttestationsPage {
    const NAME: &'static str = "attestations_page";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Read signed records one page at a time (filters as attestations): pass the returned `next_cursor` as `cursor` for the next page (null: no more).";
    type Output = RecordPage;
    fn run(self, engine: &Engine) -> Result<RecordPage> {
        let filter = self.fields.filter(None);
        let limit = self.limit.map_or(100, |l| l as usize);
        let (records, next_cursor) =
            engine.attestations_page(&filter, self.cursor.as_deref(), limit)?;
        Ok(RecordPage {
            records,
            next_cursor,
        })
    }
}

/// `record_attestation`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordAttestation {
    /// The record's kind (the host's own, e.g. `tool.result`).
    #[schemars(length(min = 1))]
    pub kind: String,
    /// Its data.
    pub data: Option<Value>,
}

impl Op for RecordAttestation {
    const NAME: &'static str = "record_attestation";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str =
        "Append a signed record of the host's own to this engine's chain.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.record_attestation(&self.kind, &self.data.unwrap_or(Value::Null))
    }
}

/// `chain_head`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChainHead {}

impl Op for ChainHead {
    const NAME: &'static str = "chain_head";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "A signed statement of where this engine's chain ends now (chain, seq, hash): a verifier that keeps a recent head detects records cut from the end of the chain.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.chain_head()
    }
}

/// `verify_attestation`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyAttestation {
    /// The record.
    pub record: Map<String, Value>,
    /// The signer's did:key (default: this engine's).
    pub did: Option<String>,
}

/// A verification's outcome.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Valid {
    /// Always true (a failure is an error).
    pub valid: bool,
}

impl Op for VerifyAttestation {
    const NAME: &'static str = "verify_attestation";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Verify one attestation record's hash and signature (against this engine's key unless did is given).";
    type Output = Valid;
    fn run(self, engine: &Engine) -> Result<Valid> {
        let did = self.did.as_deref().unwrap_or(engine.signer_did());
        crate::attestation::verify_attestation(&Value::Object(self.record), did)?;
        Ok(Valid { valid: true })
    }
}

/// `verify_chain`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyChain {
    /// The records of one chain, in order.
    pub records: Vec<Value>,
    /// The signer's did:key (default: this engine's).
    pub did: Option<String>,
}

/// A verified chain.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ValidChain {
    /// Always true (a failure is an error).
    pub valid: bool,
    /// How many records.
    pub records: usize,
}

impl Op for VerifyChain {
    const NAME: &'static str = "verify_chain";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Verify a chain of records: each hash and signature, and every link from the genesis (or a checkpoint).";
    type Output = ValidChain;
    fn run(self, engine: &Engine) -> Result<ValidChain> {
        let did = self.did.as_deref().unwrap_or(engine.signer_did());
        crate::attestation::verify_chain(&self.records, did)?;
        Ok(ValidChain {
            valid: true,
            records: self.records.len(),
        })
    }
}

/// `verify_store`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyStore {
    /// The did:keys whose records and checkpoints are trusted.
    pub trusted_signers: Vec<String>,
}

impl Op for VerifyStore {
    const NAME: &'static str = "verify_store";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "Audit every chain in the store (links, signatures, checkpoints) and report each.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.verify_store(&self.trusted_signers)
    }
}

/// `export_attestations`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportAttestations {
    /// The file to write (JSON Lines; created or truncated).
    #[schemars(length(min = 1))]
    pub path: String,
    /// Records at or after this time (ms since the epoch).
    pub since: Option<i64>,
}

/// How many records were exported.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Exported {
    /// Records written.
    pub exported: u64,
}

impl Op for ExportAttestations {
    const NAME: &'static str = "export_attestations";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Write the store's records to a JSON Lines file (a checkpoint line before a chain's first record), for archives and verify_export.";
    type Output = Exported;
    fn run(self, engine: &Engine) -> Result<Exported> {
        let file = std::fs::File::create(&self.path)
            .map_err(|e| Error::argument("/path", format!("path {:?}: {e}", self.path)))?;
        let mut out = std::io::BufWriter::new(file);
        let exported = engine.export_attestations(self.since, &mut out)?;
        Ok(Exported { exported })
    }
}

/// `verify_export`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyExport {
    /// The JSON Lines file written by export_attestations.
    #[schemars(length(min = 1))]
    pub path: String,
    /// The did:keys whose records and checkpoints are trusted.
    pub trusted_signers: Vec<String>,
}

impl Op for VerifyExport {
    const NAME: &'static str = "verify_export";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "Audit an export file followed by this store, as one history per chain.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let file = std::fs::File::open(&self.path)
            .map_err(|e| Error::argument("/path", format!("path {:?}: {e}", self.path)))?;
        engine.verify_export(&mut std::io::BufReader::new(file), &self.trusted_signers)
    }
}

/// `prune`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Prune {
    /// At most this many records (default: every due record).
    pub limit: Option<u64>,
}

/// A chain pruning refused.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Refused {
    /// The chain.
    pub chain: String,
    /// Why (an error code).
    pub code: String,
    /// What was found.
    pub message: String,
}

/// What pruning did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Pruned {
    /// Records deleted (each chain's behind a signed checkpoint).
    pub pruned: usize,
    /// Chains a checkpoint was stored for.
    pub chains: usize,
    /// Records appended to the export sink first.
    pub exported: usize,
    /// Closed holds and approvals deleted.
    pub closed: usize,
    /// Chains not pruned because their oldest records do not link up.
    pub refused: Vec<Refused>,
}

impl Op for Prune {
    const NAME: &'static str = "prune";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str = "Delete records past the retention (behind signed checkpoints, exported first if configured), and closed holds and approvals.";
    type Output = Pruned;
    fn run(self, engine: &Engine) -> Result<Pruned> {
        let limit = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        let r = engine.prune(limit)?;
        Ok(Pruned {
            pruned: r.records,
            chains: r.chains,
            exported: r.exported,
            closed: r.closed,
            refused: r
                .refused
                .into_iter()
                .map(|(chain, code, message)| Refused {
                    chain,
                    code,
                    message,
                })
                .collect(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Policy

/// `set_policy`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPolicy {
    /// The policy document, or its JSON text, or a path to a JSON file.
    pub policy: Value,
    /// The policy_hash this change was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: replace whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

/// The policy now in force, after a change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PolicyHash {
    /// Its hash (recorded in every decision; the next edit's if_match).
    pub policy_hash: String,
    /// The hash of the policy the change was made on (null: there was none).
    pub previous_hash: Option<String>,
    /// The signed policy.changed record: {old_hash, new_hash, operation, diff}. Null when the
    /// change left the policy as it was (nothing was written).
    pub attestation: Option<Value>,
}

impl From<crate::engine::PolicyChange> for PolicyHash {
    fn from(c: crate::engine::PolicyChange) -> PolicyHash {
        PolicyHash {
            policy_hash: c.policy_hash,
            previous_hash: c.previous_hash,
            attestation: c.attestation,
        }
    }
}

impl Op for SetPolicy {
    const NAME: &'static str = "set_policy";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Replace the policy (validated and compiled first: a bad policy changes nothing), if if_match is still the policy in force; attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        let p = crate::seam::policy(&self.policy)?;
        Ok(engine.replace_policy(p, self.if_match.as_deref())?.into())
    }
}

/// `upsert_gate`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertGate {
    /// The gate's name, e.g. payments.send.
    #[schemars(length(min = 1, max = 128))]
    pub gate: String,
    /// The gate as the policy's gates section holds it: {description, require, mode,
    /// input_schema, templates, constraints, hold_ttl}.
    pub definition: Map<String, Value>,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for UpsertGate {
    const NAME: &'static str = "upsert_gate";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Add a gate to the policy, or replace the gate of that name. The new policy is validated first (POLICY_INVALID at the path in the document, e.g. /gates/pay/constraints/0/max: nothing changes) and swapped in only if if_match is still the policy in force (else POLICY_CONFLICT); attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        let definition = Value::Object(self.definition);
        Ok(engine
            .upsert_gate(&self.gate, definition, self.if_match.as_deref())?
            .into())
    }
}

/// `create_gate`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGate {
    /// The new gate's name, e.g. payments.send.
    #[schemars(length(min = 1, max = 128))]
    pub gate: String,
    /// The gate as the policy's gates section holds it: {description, require, mode,
    /// input_schema, templates, constraints, hold_ttl}.
    pub definition: Map<String, Value>,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for CreateGate {
    const NAME: &'static str = "create_gate";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Add a new gate to the policy (a gate of that name already defined is POLICY_CONFLICT). Validated first (POLICY_INVALID at the path: nothing changes), swapped in only if if_match is still the policy in force; attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        let definition = Value::Object(self.definition);
        Ok(engine
            .create_gate(&self.gate, definition, self.if_match.as_deref())?
            .into())
    }
}

/// `update_gate`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGate {
    /// The gate's name.
    #[schemars(length(min = 1, max = 128))]
    pub gate: String,
    /// The gate's new definition, as the policy's gates section holds it.
    pub definition: Map<String, Value>,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for UpdateGate {
    const NAME: &'static str = "update_gate";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Replace a gate of the policy (GATE_UNKNOWN if it is not defined). Validated first (POLICY_INVALID at the path: nothing changes), swapped in only if if_match is still the policy in force (else POLICY_CONFLICT); attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        let definition = Value::Object(self.definition);
        Ok(engine
            .update_gate(&self.gate, definition, self.if_match.as_deref())?
            .into())
    }
}

/// `anonymous_policy`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnonymousPolicy {}

impl Op for AnonymousPolicy {
    const NAME: &'static str = "anonymous_policy";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The policy's anonymous section: the gates open without a passport and the constraints judging every such request (null: none), with the policy_hash an edit passes as if_match.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let policy = engine.current_policy()?;
        Ok(serde_json::json!({
            "anonymous": policy.as_ref().and_then(|p| p.doc.get("anonymous")).cloned(),
            "policy_hash": policy.as_ref().map(|p| p.hash.clone()),
        }))
    }
}

/// `delete_gate`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteGate {
    /// The gate's name.
    #[schemars(length(min = 1, max = 128))]
    pub gate: String,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for DeleteGate {
    const NAME: &'static str = "delete_gate";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str = "Remove a gate from the policy (GATE_UNKNOWN if it is not defined), if if_match is still the policy in force (else POLICY_CONFLICT); its counters are kept. Attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        Ok(engine
            .delete_gate(&self.gate, self.if_match.as_deref())?
            .into())
    }
}

/// `set_gate_constraints`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetGateConstraints {
    /// The gate's name (it must be defined).
    #[schemars(length(min = 1, max = 128))]
    pub gate: String,
    /// The gate's new constraints (each as in the policy: {type, id, ...}); they replace its
    /// constraints, its templates stay.
    pub constraints: Vec<Map<String, Value>>,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for SetGateConstraints {
    const NAME: &'static str = "set_gate_constraints";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Replace the constraints of a gate (GATE_UNKNOWN if it is not defined). Validated first (POLICY_INVALID at the path in the document: nothing changes), swapped in only if if_match is still the policy in force (else POLICY_CONFLICT); attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        let constraints = self.constraints.into_iter().map(Value::Object).collect();
        Ok(engine
            .set_gate_constraints(&self.gate, constraints, self.if_match.as_deref())?
            .into())
    }
}

/// `set_anonymous_policy`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAnonymousPolicy {
    /// The policy's new anonymous section: {gates: the gates open without a passport,
    /// constraints: judging every anonymous request}. {"gates": []} closes every gate to
    /// anonymous callers.
    pub anonymous: Map<String, Value>,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for SetAnonymousPolicy {
    const NAME: &'static str = "set_anonymous_policy";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Replace what callers without a passport may do (the policy's anonymous section). Validated first (POLICY_INVALID: nothing changes), swapped in only if if_match is still the policy in force (else POLICY_CONFLICT); attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        let anonymous = Value::Object(self.anonymous);
        Ok(engine
            .set_anonymous_policy(anonymous, self.if_match.as_deref())?
            .into())
    }
}

/// `list_gates`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListGates {}

/// Gates.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Gates {
    /// The gates, sorted by name.
    pub gates: Vec<Value>,
    /// The hash of the policy in force (absent: none is set): an edit's if_match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
}

impl Op for ListGates {
    const NAME: &'static str = "list_gates";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "List the gates of the current policy with their permissions and constraints, and the policy_hash an edit passes as if_match.";
    type Output = Gates;
    fn run(self, engine: &Engine) -> Result<Gates> {
        let policy = engine.current_policy()?;
        let policy_hash = policy.as_ref().map(|p| p.hash.clone());
        let gates = policy.map_or_else(Vec::new, |p| {
            let mut names: Vec<&String> = p.gates.keys().collect();
            names.sort();
            names
                .into_iter()
                .filter_map(|n| p.gate(n))
                .map(|g| g.to_json())
                .collect()
        });
        Ok(Gates { gates, policy_hash })
    }
}

/// `get_gate`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetGate {
    /// The gate's name.
    #[schemars(length(min = 1))]
    pub gate: String,
}

impl Op for GetGate {
    const NAME: &'static str = "get_gate";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Describe one gate of the current policy.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let name = self.gate;
        engine
            .current_policy()?
            .and_then(|p| p.gate(&name).map(|g| g.to_json()))
            .ok_or_else(|| Error::GateUnknown(format!("{name:?} is not defined by the policy")))
    }
}

/// `constraint_types`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConstraintTypes {}

impl Op for ConstraintTypes {
    const NAME: &'static str = "constraint_types";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "List every constraint type with the JSON Schema of its parameters.";
    type Output = Value;
    fn run(self, _engine: &Engine) -> Result<Value> {
        Ok(crate::constraint::constraint_types())
    }
}

/// `templates`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Templates {}

impl Op for Templates {
    const NAME: &'static str = "templates";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "List the constraint templates a gate can apply: the built-in ones and the policy's own (builtin: false), each with its parameters' schemas and its constraints.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let policy = engine.current_policy()?;
        crate::template::templates_with(policy.as_ref().and_then(|p| p.doc.get("templates")))
    }
}

/// `apply_template`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyTemplate {
    /// The gate to apply it to.
    #[schemars(length(min = 1, max = 128))]
    pub gate: String,
    /// The template's name (built in, or the policy's own).
    #[schemars(length(min = 1, max = 128))]
    pub template: String,
    /// Its parameters (those without a default are required).
    pub params: Option<Map<String, Value>>,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for ApplyTemplate {
    const NAME: &'static str = "apply_template";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Apply a constraint template to a gate with parameters (applying it again replaces its parameters). Validated first (POLICY_INVALID at the path: nothing changes), swapped in only if if_match is still the policy in force (else POLICY_CONFLICT); attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        Ok(engine
            .apply_template(
                &self.gate,
                &self.template,
                self.params,
                self.if_match.as_deref(),
            )?
            .into())
    }
}

/// `upsert_template`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertTemplate {
    /// The template's name (not a built-in's).
    #[schemars(length(min = 1, max = 128))]
    pub template: String,
    /// The template as the policy's templates section holds it: {description, params: {name:
    /// JSON Schema with an optional default}, constraints: [...with "$param" placeholders]}.
    pub definition: Map<String, Value>,
    /// The policy_hash this edit was made on: if another policy is in force by now, nothing
    /// changes (POLICY_CONFLICT). Absent: edit whatever is in force.
    #[schemars(length(min = 1))]
    pub if_match: Option<String>,
}

impl Op for UpsertTemplate {
    const NAME: &'static str = "upsert_template";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Add a constraint template to the policy, or replace the policy's template of that name (gates applying it are compiled with the new definition). Validated first (POLICY_INVALID: nothing changes), swapped in only if if_match is still the policy in force (else POLICY_CONFLICT); attested as policy.changed with a diff.";
    type Output = PolicyHash;
    fn run(self, engine: &Engine) -> Result<PolicyHash> {
        let definition = Value::Object(self.definition);
        Ok(engine
            .upsert_template(&self.template, definition, self.if_match.as_deref())?
            .into())
    }
}

/// `get_constraints`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetConstraints {
    /// The gate.
    #[schemars(length(min = 1, max = 128))]
    pub gate: String,
    /// A passport: its chain's caveats that apply to this gate are listed too.
    #[schemars(length(min = 1))]
    pub passport: Option<String>,
}

impl Op for GetConstraints {
    const NAME: &'static str = "get_constraints";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "The constraints a request to a gate is judged by: the gate's own and its templates' (expanded, ids <template>/<id>), and, given a passport, the caveats of its chain that apply to the gate (each with the passport that declared it).";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.constraints_of(&self.gate, self.passport.as_deref())
    }
}

// ---------------------------------------------------------------------------------------------
// Holds and approvals

/// `settle`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settle {
    /// The hold's id (a decision's `hold_id`).
    #[schemars(length(min = 1))]
    pub hold_id: String,
    /// The actual amounts: a payload of the request's shape (default: the reserved amounts).
    pub actual: Option<Map<String, Value>>,
    /// Also issue the hold's consumption attestation with these terms (`{outcome, quantity?,
    /// delivered?, latency_ms?, permission?, pop?}`; `quantity` defaults to the offer's field in
    /// `actual`): the result carries it as `consumption` (or `consumption_error`).
    pub consume: Option<crate::engine::ConsumeTerms>,
}

impl Op for Settle {
    const NAME: &'static str = "settle";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Settle a hold made by enforce with hold=true: keep the actual amounts (a payload of the request's shape). With consume, also issue the call's consumption attestation (priced from the catalog terms its decision applied).";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let actual = self.actual.map(Value::Object);
        engine.settle_consuming(&self.hold_id, actual.as_ref(), self.consume.as_ref())
    }
}

/// `release`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The hold's id.
    #[schemars(length(min = 1))]
    pub hold_id: String,
}

impl Op for Release {
    const NAME: &'static str = "release";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str =
        "Release a hold: the action did not happen, every counter gives its reservation back.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.release(&self.hold_id)
    }
}

/// `expire_holds`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpireHolds {
    /// At most this many holds (default: every due hold).
    pub limit: Option<u64>,
}

/// How many holds expired.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Expired {
    /// Holds expired (their reservations stay counted).
    pub expired: usize,
}

impl Op for ExpireHolds {
    const NAME: &'static str = "expire_holds";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str =
        "Expire the holds past their deadline (their reservations stay counted).";
    type Output = Expired;
    fn run(self, engine: &Engine) -> Result<Expired> {
        let limit = self
            .limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        Ok(Expired {
            expired: engine.expire_holds(limit)?,
        })
    }
}

/// `approve`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    /// The escalated request's evaluation id.
    #[schemars(length(min = 1))]
    pub evaluation_id: String,
    /// Who approves (never the requesting agent).
    #[schemars(length(min = 1))]
    pub approver: String,
    /// The token's lifetime (default 15m).
    pub ttl: Option<Ttl>,
}

/// An approval token.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Approval {
    /// The single-use token admitting exactly that request.
    pub approval: String,
}

impl Op for Approve {
    const NAME: &'static str = "approve";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Approve an escalated request by its evaluation id; returns a single-use approval token for exactly that request. The approver is never the requesting agent.";
    type Output = Approval;
    fn run(self, engine: &Engine) -> Result<Approval> {
        let ttl = self.ttl.map(Ttl::ms);
        Ok(Approval {
            approval: engine.approve(&self.evaluation_id, &self.approver, ttl)?,
        })
    }
}

/// `deny_approval`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyApproval {
    /// The escalated request's evaluation id.
    #[schemars(length(min = 1))]
    pub evaluation_id: String,
    /// Who denies.
    #[schemars(length(min = 1))]
    pub approver: String,
    /// Why (at most 4096 bytes).
    pub reason: Option<String>,
}

impl Op for DenyApproval {
    const NAME: &'static str = "deny_approval";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str =
        "Deny an escalated request by its evaluation id, with a reason.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        engine.deny_approval(
            &self.evaluation_id,
            &self.approver,
            self.reason.as_deref().unwrap_or_default(),
        )
    }
}

// The page bound of the schema attributes above is the engine's.
const _: () = assert!(crate::engine::MAX_PAGE == 10_000);

// ---------------------------------------------------------------------------------------------
// API keys

/// `create_api_key`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// The key's name (1–128 characters), e.g. the host or tool it is for.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// What it may do (at least one, none twice): decide, read:attestations, admin:passports,
    /// admin:policy, admin:counters, approve, admin:keys.
    #[schemars(length(min = 1))]
    pub scopes: Vec<crate::apikey::Scope>,
    /// Its lifetime (default: it never expires).
    pub expires_in: Option<Ttl>,
}

impl Op for CreateApiKey {
    const NAME: &'static str = "create_api_key";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Create an API key with a name and scopes (and optionally a lifetime). Returns its metadata and its secret: the secret is shown this once and cannot be retrieved again (only its SHA-256 is stored).";
    type Output = crate::engine::CreatedApiKey;
    fn run(self, engine: &Engine) -> Result<Self::Output> {
        let expires = self.expires_in.map(Ttl::ms);
        engine.create_api_key(&self.name, &self.scopes, expires)
    }
}

/// `list_api_keys`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListApiKeys {}

/// API keys' metadata.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeys {
    /// Every key, oldest first (never a secret or its hash).
    pub keys: Vec<crate::apikey::ApiKeyRecord>,
}

impl Op for ListApiKeys {
    const NAME: &'static str = "list_api_keys";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "List API keys: id, name, scopes, created, expiry, last use and revocation times (never a secret).";
    type Output = ApiKeys;
    fn run(self, engine: &Engine) -> Result<ApiKeys> {
        Ok(ApiKeys {
            keys: engine.list_api_keys()?,
        })
    }
}

/// `revoke_api_key`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeApiKey {
    /// The key's id (the `<id>` of `pgk_<id>_…`, as listed).
    #[schemars(length(min = 1))]
    pub id: String,
}

impl Op for RevokeApiKey {
    const NAME: &'static str = "revoke_api_key";
    const EFFECT: Effect = Effect::Removes;
    const DESCRIPTION: &'static str = "Revoke an API key by id: it stops authenticating at once. Revoking a revoked key changes nothing; an unknown id is API_KEY_UNKNOWN.";
    type Output = crate::apikey::ApiKeyRecord;
    fn run(self, engine: &Engine) -> Result<Self::Output> {
        engine.revoke_api_key(&self.id)
    }
}

/// `authenticate_api_key`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateApiKey {
    /// The key's secret (`pgk_<id>_<random>`).
    pub secret: String,
}

impl Op for AuthenticateApiKey {
    const NAME: &'static str = "authenticate_api_key";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Who an API key is (id, name, scopes); UNAUTHENTICATED for a missing, malformed, unknown, revoked or expired key.";
    type Output = crate::apikey::ApiKeyPrincipal;
    fn run(self, engine: &Engine) -> Result<Self::Output> {
        engine.authenticate_api_key(&self.secret)
    }
}
