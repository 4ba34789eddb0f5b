//! The JSON-in / JSON-out seam: the whole engine on `serde_json::Value`, with stable error codes.
//!
//! Python, Node and the MCP handler all go through here, so no binding re-implements a rule.
//! Arguments use snake_case keys; unknown keys are refused (`INVALID_ARGUMENT`), so a typo never
//! silently drops an option. [`call`] runs one operation:
//!
//! | operation | arguments | returns |
//! |---|---|---|
//! | `enforce`, `dry_run` | `gate`, `passport`?, `payload`?, `idempotency_key`?, `trace`?, `client`?, `hold`?, `approval`? | the decision |
//! | `verify_passport` | `passport` | its claims |
//! | `revoke_passport` | `passport_id` | `{revoked}` |
//! | `reissue` | `passport`, `issuer_secret`, `expires_in_days`? | an issued passport |
//! | `issue_passport` | `issuer_secret`, `agent_id`, `agent_name`?, `permissions`?, `expires_in_days`?, `caveats`?, `passport`? (parent: `issuer_secret` is then its agent key) | `{token, passport_id, agent_id, did, private_key, expires_at}` |
//! | `cumulative_state`, `reset_cumulative_state` | `namespace`?, `constraint`?, `scope`?, `gate`?, `agent_id`? | `{counters}`, `{reset}` |
//! | `cumulative_state_page` | the same, `cursor`?, `limit`? (1–10,000, default 100) | `{counters, next_cursor}` |
//! | `attestations`, `anonymous_log` | `chain`?, `gate`?, `agent_id`?, `decision`?, `evaluation_id`?, `kind`?, `since`?, `until`?, `limit`? | `{attestations}` |
//! | `record_attestation` | `kind`, `data`? | the record |
//! | `settle` | `hold_id`, `actual`? | `{hold_id, state, amounts, attestation}` |
//! | `release` | `hold_id` | `{hold_id, state, amounts, attestation}` |
//! | `expire_holds` | `limit`? (default: every due hold) | `{expired}` |
//! | `prune` | `limit`? (default: every due record) | `{pruned, chains, exported, closed, refused}` |
//! | `export_attestations` | `path`, `since`? | `{exported}` (JSONL written to `path`) |
//! | `verify_export` | `path`, `trusted_signers` | the audit report of the export file followed by this store |
//! | `approve` | `evaluation_id`, `approver`, `ttl`? (seconds or `"15m"`) | `{approval}` (the token) |
//! | `deny_approval` | `evaluation_id`, `approver`, `reason`? | the record |
//! | `allowed_gates` | `passport`? | `{gates}` |
//! | `set_policy` | `policy` | `{policy_hash}` |
//! | `list_gates`, `get_gate` | —, `gate` | `{gates}`, the gate |
//! | `constraint_types`, `templates` | — | the lists |
//! | `verify_attestation`, `verify_chain` | `record` / `records`, `did`? (default: this engine's) | `{valid}` |
//!
//! ```
//! use passgate::seam;
//! use serde_json::json;
//! let engine = seam::engine(&json!({"policy": {"version": 1, "gates": {}}})).unwrap();
//! let d = seam::call(&engine, "dry_run", &json!({"gate": "payments.send", "payload": {}})).unwrap();
//! assert_eq!(d["decision"], "deny");
//! ```

use serde_json::{json, Map, Value};

use crate::attestation;
use crate::constraint;
use crate::engine::{Engine, Request};
use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::KeyPair;
use crate::passport::{IssuedPassport, Issuer, PassportRequest};
use crate::policy::Policy;
use crate::store::{AttestationFilter, CounterFilter, CounterState, WindowKind};
use crate::template;

/// Every operation [`call`] accepts.
pub const OPERATIONS: &[&str] = &[
    "enforce",
    "dry_run",
    "verify_passport",
    "revoke_passport",
    "reissue",
    "issue_passport",
    "cumulative_state",
    "cumulative_state_page",
    "reset_cumulative_state",
    "attestations",
    "record_attestation",
    "set_policy",
    "list_gates",
    "get_gate",
    "constraint_types",
    "templates",
    "verify_attestation",
    "verify_chain",
    "settle",
    "release",
    "expire_holds",
    "prune",
    "export_attestations",
    "verify_export",
    "approve",
    "deny_approval",
    "allowed_gates",
    "anonymous_log",
];

/// Reads an argument object, refusing unknown keys.
struct Args<'a> {
    op: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Args<'a> {
    fn new(op: &'a str, v: &'a Value, allowed: &[&str]) -> Result<Self> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        let map = match v {
            Value::Object(m) => m,
            Value::Null => EMPTY.get_or_init(Map::new),
            other => {
                return Err(Error::InvalidArgument(format!(
                    "{op}: arguments must be an object, not {}",
                    json::type_name(other)
                )))
            }
        };
        if let Some(k) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::InvalidArgument(format!(
                "{op}: unknown argument {k:?} (expected one of: {})",
                allowed.join(", ")
            )));
        }
        Ok(Args { op, map })
    }

    fn get(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn wrong(&self, k: &str, what: &str) -> Error {
        Error::InvalidArgument(format!("{}: {k} must be {what}", self.op))
    }

    fn str(&self, k: &str) -> Result<Option<&'a str>> {
        self.get(k)
            .map(|v| v.as_str().ok_or_else(|| self.wrong(k, "a string")))
            .transpose()
    }

    fn req_str(&self, k: &str) -> Result<&'a str> {
        self.str(k)?.ok_or_else(|| self.wrong(k, "given"))
    }

    fn int(&self, k: &str) -> Result<Option<i64>> {
        self.get(k)
            .map(|v| v.as_i64().ok_or_else(|| self.wrong(k, "an integer")))
            .transpose()
    }

    fn bool(&self, k: &str) -> Result<Option<bool>> {
        self.get(k)
            .map(|v| v.as_bool().ok_or_else(|| self.wrong(k, "a boolean")))
            .transpose()
    }

    fn strings(&self, k: &str) -> Result<Option<Vec<String>>> {
        self.get(k)
            .map(|v| {
                v.as_array()
                    .and_then(|a| a.iter().map(|s| s.as_str().map(str::to_string)).collect())
                    .ok_or_else(|| self.wrong(k, "an array of strings"))
            })
            .transpose()
    }
}

const REQUEST_KEYS: &[&str] = &[
    "gate",
    "passport",
    "payload",
    "idempotency_key",
    "trace",
    "client",
    "hold",
    "approval",
];

/// A [`Request`] from `{gate, passport, payload, idempotency_key, trace, client}`.
pub fn request(v: &Value) -> Result<Request> {
    let a = Args::new("request", v, REQUEST_KEYS)?;
    let trace = match a.get("trace") {
        Some(t) if t.is_object() => Some(t.clone()),
        Some(_) => return Err(a.wrong("trace", "an object")),
        None => None,
    };
    Ok(Request {
        gate: a.req_str("gate")?.to_string(),
        passport: a.str("passport")?.map(str::to_string),
        payload: a.get("payload").cloned().unwrap_or(Value::Null),
        idempotency_key: a.str("idempotency_key")?.map(str::to_string),
        trace,
        client: a.str("client")?.map(str::to_string),
        hold: a.bool("hold")?.unwrap_or(false),
        approval: a.str("approval")?.map(str::to_string),
    })
}

/// A policy from a JSON value: an object is the document, a string is JSON text or a path.
pub fn policy(v: &Value) -> Result<Policy> {
    match v {
        Value::String(s) => Policy::load(s),
        Value::Object(_) => Policy::from_value(v.clone()),
        other => Err(Error::policy(
            "/",
            format!(
                "a policy must be an object or a string, not {}",
                json::type_name(other)
            ),
        )),
    }
}

/// An engine from `{policy, trusted_issuers, signing_key, store, leeway_secs}`.
pub fn engine(config: &Value) -> Result<Engine> {
    let a = Args::new(
        "engine",
        config,
        &[
            "policy",
            "trusted_issuers",
            "signing_key",
            "store",
            "leeway_secs",
        ],
    )?;
    let mut b = Engine::builder();
    if let Some(p) = a.get("policy") {
        b = b.policy(policy(p)?);
    }
    b = b.trusted_issuers(a.strings("trusted_issuers")?.unwrap_or_default());
    if let Some(secret) = a.str("signing_key")? {
        b = b.signing_key(KeyPair::from_secret(secret)?);
    }
    if let Some(url) = a.str("store")? {
        b = b.store_url(url);
    }
    if let Some(l) = a.int("leeway_secs")? {
        b = b.leeway_secs(l);
    }
    b.build()
}

/// The arguments of `issue_passport`.
const ISSUE_KEYS: &[&str] = &[
    "agent_id",
    "agent_name",
    "permissions",
    "expires_in_days",
    "caveats",
    "issuer_secret",
    "passport",
];

/// A passport request from `{agent_id, agent_name, permissions, expires_in_days, caveats}`.
pub fn passport_request(a: &Value) -> Result<PassportRequest> {
    let a = Args::new("issue_passport", a, ISSUE_KEYS)?;
    let mut req = PassportRequest::new(
        a.req_str("agent_id")?.to_string(),
        a.strings("permissions")?.unwrap_or_default(),
    );
    req.agent_name = a.str("agent_name")?.map(str::to_string);
    if let Some(days) = a.int("expires_in_days")? {
        req.expires_in_secs = days
            .checked_mul(86_400)
            .ok_or_else(|| a.wrong("expires_in_days", "a sensible number of days"))?;
    }
    if let Some(c) = a.get("caveats") {
        req.caveats = c
            .as_array()
            .cloned()
            .ok_or_else(|| a.wrong("caveats", "an array"))?;
    }
    Ok(req)
}

/// An issued passport as JSON (the agent's private key is in it: shown once).
pub fn issued(p: &IssuedPassport) -> Value {
    json!({
        "token": p.token, "passport_id": p.passport_id, "agent_id": p.agent_id,
        "did": p.did, "private_key": p.private_key, "expires_at": p.expires_at,
    })
}

/// The counter filters of `{namespace, constraint, scope, gate, agent_id}`: `agent_id` names the
/// agent's counters under every trusted issuer (see [`Engine::agent_scopes`]).
fn counter_filters(engine: &Engine, a: &Args<'_>) -> Result<Vec<CounterFilter>> {
    let mut f = CounterFilter {
        namespace: a.str("namespace")?.map(str::to_string),
        constraint: a.str("constraint")?.map(str::to_string),
        scope: a.str("scope")?.map(str::to_string),
    };
    if let Some(g) = a.str("gate")? {
        f.namespace = Some(format!("gate:{g}"));
    }
    Ok(engine.agent_filters(f, a.str("agent_id")?))
}

const COUNTER_KEYS: &[&str] = &["namespace", "constraint", "scope", "gate", "agent_id"];

/// A counter's state as JSON.
pub fn counter_json(c: &CounterState) -> Value {
    let window = match c.window {
        WindowKind::Forever => Value::Null,
        WindowKind::Fixed { size_ms } => json!({"kind": "fixed", "size_ms": size_ms}),
        WindowKind::Sliding { size_ms } => json!({"kind": "sliding", "size_ms": size_ms}),
        WindowKind::Calendar { unit, tz } => {
            json!({"kind": "calendar", "unit": unit.as_str(), "tz": tz.name()})
        }
    };
    // When the current window ends (the counter resets): fixed and calendar windows.
    let window_end = c
        .window_start_ms
        .and_then(|start| c.window.bounds(start))
        .map(|(_, end)| end);
    json!({
        "namespace": c.key.namespace, "constraint": c.key.constraint, "scope": c.key.scope,
        "window": window, "used": c.used.normalize().to_string(), "window_start": c.window_start_ms,
        "window_end": window_end,
    })
}

/// An attestation filter from `{chain, gate, agent_id, decision, evaluation_id, kind, since, until, limit}`.
pub fn attestation_filter(v: &Value) -> Result<AttestationFilter> {
    let keys = [
        "chain",
        "gate",
        "agent_id",
        "decision",
        "evaluation_id",
        "kind",
        "since",
        "until",
        "limit",
    ];
    let a = Args::new("attestations", v, &keys)?;
    let s = |k| a.str(k).map(|o| o.map(str::to_string));
    Ok(AttestationFilter {
        chain: s("chain")?,
        gate: s("gate")?,
        agent_id: s("agent_id")?,
        decision: s("decision")?,
        evaluation_id: s("evaluation_id")?,
        kind: s("kind")?,
        since_ms: a.int("since")?,
        until_ms: a.int("until")?,
        limit: a
            .int("limit")?
            .map(|l| usize::try_from(l).map_err(|_| a.wrong("limit", "a non-negative integer")))
            .transpose()?,
        anonymous_only: false,
    })
}

/// Parses outside JSON text with the one strict parser (for bindings that receive strings).
pub fn parse(text: &str, ctx: Context) -> Result<Value> {
    let limits = if ctx == Context::Policy {
        Limits::POLICY
    } else {
        Limits::PAYLOAD
    };
    json::parse_in(text, limits, ctx)
}

/// Runs operation `op` (one of [`OPERATIONS`]) with `args` on `engine`.
pub fn call(engine: &Engine, op: &str, args: &Value) -> Result<Value> {
    match op {
        "enforce" => Ok(engine.enforce(&request(args)?)?.to_json()),
        "dry_run" => Ok(engine.dry_run(&request(args)?)?.to_json()),
        "verify_passport" => {
            let a = Args::new(op, args, &["passport"])?;
            engine.verify_passport(a.req_str("passport")?)
        }
        "revoke_passport" => {
            let a = Args::new(op, args, &["passport_id"])?;
            let id = a.req_str("passport_id")?;
            engine.revoke_passport(id)?;
            Ok(json!({ "revoked": id }))
        }
        "reissue" => {
            let a = Args::new(op, args, &["passport", "issuer_secret", "expires_in_days"])?;
            let issuer = Issuer::from_secret(a.req_str("issuer_secret")?)?;
            let secs = a.int("expires_in_days")?.map(|d| d.saturating_mul(86_400));
            Ok(issued(&engine.reissue(
                a.req_str("passport")?,
                &issuer,
                secs,
            )?))
        }
        "issue_passport" => issue_passport(args),
        "cumulative_state" => {
            let a = Args::new(op, args, COUNTER_KEYS)?;
            let mut counters = Vec::new();
            for f in counter_filters(engine, &a)? {
                counters.extend(engine.cumulative_state(&f)?.iter().map(counter_json));
            }
            Ok(json!({ "counters": counters }))
        }
        "cumulative_state_page" => {
            let keys: Vec<&str> = COUNTER_KEYS
                .iter()
                .copied()
                .chain(["cursor", "limit"])
                .collect();
            let a = Args::new(op, args, &keys)?;
            let limit = match a.get("limit") {
                None => 100,
                Some(v) => v
                    .as_u64()
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or_else(|| a.wrong("limit", "a positive integer"))?,
            };
            let filters = counter_filters(engine, &a)?;
            let (page, next) =
                engine.cumulative_state_page_of(&filters, a.str("cursor")?, limit)?;
            let counters: Vec<Value> = page.iter().map(counter_json).collect();
            Ok(json!({ "counters": counters, "next_cursor": next }))
        }
        "reset_cumulative_state" => {
            let a = Args::new(op, args, COUNTER_KEYS)?;
            let mut reset = 0;
            for f in counter_filters(engine, &a)? {
                reset += engine.reset_cumulative_state(&f)?;
            }
            Ok(json!({ "reset": reset }))
        }
        "attestations" => {
            Ok(json!({ "attestations": engine.attestations(&attestation_filter(args)?)? }))
        }
        "attestations_page" => {
            // The filter's keys, plus `cursor` and `limit` (the page size, default 100).
            let mut filter = args.as_object().cloned().unwrap_or_default();
            let cursor = filter.remove("cursor");
            let limit = filter.remove("limit");
            let filter = attestation_filter(&Value::Object(filter))?;
            let cursor = match &cursor {
                None | Some(Value::Null) => None,
                Some(Value::String(c)) => Some(c.as_str()),
                Some(_) => return Err(Error::InvalidArgument("cursor must be a string".into())),
            };
            let limit = match &limit {
                None | Some(Value::Null) => 100,
                Some(v) => v
                    .as_u64()
                    .and_then(|l| usize::try_from(l).ok())
                    .ok_or_else(|| {
                        Error::InvalidArgument("limit must be a positive integer".into())
                    })?,
            };
            let (records, next) = engine.attestations_page(&filter, cursor, limit)?;
            Ok(json!({ "records": records, "next_cursor": next }))
        }
        "verify_store" => {
            let a = Args::new(op, args, &["trusted_signers"])?;
            let trusted = a
                .strings("trusted_signers")?
                .ok_or_else(|| a.wrong("trusted_signers", "a list of did:key"))?;
            engine.verify_store(&trusted)
        }
        "record_attestation" => {
            let a = Args::new(op, args, &["kind", "data"])?;
            let data = a.get("data").cloned().unwrap_or(Value::Null);
            engine.record_attestation(a.req_str("kind")?, &data)
        }
        "set_policy" => {
            let a = Args::new(op, args, &["policy"])?;
            let p = policy(a.get("policy").ok_or_else(|| a.wrong("policy", "given"))?)?;
            let hash = p.hash.clone();
            engine.set_policy(p)?;
            Ok(json!({ "policy_hash": hash }))
        }
        "list_gates" => {
            Args::new(op, args, &[])?;
            let gates: Vec<Value> = engine.policy().map_or_else(Vec::new, |p| {
                let mut names: Vec<&String> = p.gates.keys().collect();
                names.sort();
                names
                    .into_iter()
                    .filter_map(|n| p.gate(n))
                    .map(|g| g.to_json())
                    .collect()
            });
            Ok(json!({ "gates": gates }))
        }
        "get_gate" => {
            let a = Args::new(op, args, &["gate"])?;
            let name = a.req_str("gate")?;
            engine
                .policy()
                .and_then(|p| p.gate(name).map(|g| g.to_json()))
                .ok_or_else(|| Error::GateUnknown(format!("{name:?} is not defined by the policy")))
        }
        "constraint_types" => Ok(constraint::constraint_types()),
        "templates" => Ok(template::templates()),
        "verify_attestation" => {
            let a = Args::new(op, args, &["record", "did"])?;
            let record = a.get("record").ok_or_else(|| a.wrong("record", "given"))?;
            attestation::verify_attestation(record, a.str("did")?.unwrap_or(engine.signer_did()))?;
            Ok(json!({ "valid": true }))
        }
        "verify_chain" => {
            let a = Args::new(op, args, &["records", "did"])?;
            let records = a
                .get("records")
                .and_then(Value::as_array)
                .ok_or_else(|| a.wrong("records", "an array"))?;
            attestation::verify_chain(records, a.str("did")?.unwrap_or(engine.signer_did()))?;
            Ok(json!({ "valid": true, "records": records.len() }))
        }
        "settle" => {
            let a = Args::new(op, args, &["hold_id", "actual"])?;
            engine.settle(a.req_str("hold_id")?, a.get("actual"))
        }
        "release" => {
            let a = Args::new(op, args, &["hold_id"])?;
            engine.release(a.req_str("hold_id")?)
        }
        "expire_holds" => {
            let a = Args::new(op, args, &["limit"])?;
            let limit = match a.get("limit") {
                None => usize::MAX,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| a.wrong("limit", "a non-negative integer"))?,
            };
            Ok(json!({ "expired": engine.expire_holds(limit)? }))
        }
        "prune" => {
            let a = Args::new(op, args, &["limit"])?;
            let limit = match a.get("limit") {
                None => usize::MAX,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| a.wrong("limit", "a non-negative integer"))?,
            };
            let r = engine.prune(limit)?;
            let refused: Vec<Value> = r
                .refused
                .iter()
                .map(|(chain, code, message)| json!({"chain": chain, "code": code, "message": message}))
                .collect();
            Ok(json!({
                "pruned": r.records, "chains": r.chains, "exported": r.exported,
                "closed": r.closed, "refused": refused,
            }))
        }
        "export_attestations" => {
            let a = Args::new(op, args, &["path", "since"])?;
            let path = a.req_str("path")?;
            let file = std::fs::File::create(path)
                .map_err(|e| Error::InvalidArgument(format!("path {path:?}: {e}")))?;
            let mut out = std::io::BufWriter::new(file);
            let n = engine.export_attestations(a.int("since")?, &mut out)?;
            Ok(json!({ "exported": n }))
        }
        "verify_export" => {
            let a = Args::new(op, args, &["path", "trusted_signers"])?;
            let path = a.req_str("path")?;
            let trusted = a
                .strings("trusted_signers")?
                .ok_or_else(|| a.wrong("trusted_signers", "a list of did:key"))?;
            let file = std::fs::File::open(path)
                .map_err(|e| Error::InvalidArgument(format!("path {path:?}: {e}")))?;
            engine.verify_export(&mut std::io::BufReader::new(file), &trusted)
        }
        "approve" => {
            let a = Args::new(op, args, &["evaluation_id", "approver", "ttl"])?;
            // `ttl`: seconds, or a duration such as "15m".
            let ttl = match a.get("ttl") {
                None => None,
                Some(Value::String(d)) => {
                    Some(crate::constraint::parse_duration_ms(d).map_err(|m| a.wrong("ttl", &m))?)
                }
                Some(v) => Some(
                    v.as_i64()
                        .filter(|s| *s > 0)
                        .ok_or_else(|| {
                            a.wrong("ttl", "positive seconds or a duration like \"15m\"")
                        })?
                        .saturating_mul(1000),
                ),
            };
            let token = engine.approve(a.req_str("evaluation_id")?, a.req_str("approver")?, ttl)?;
            Ok(json!({ "approval": token }))
        }
        "deny_approval" => {
            let a = Args::new(op, args, &["evaluation_id", "approver", "reason"])?;
            let reason = a.str("reason")?.unwrap_or_default();
            engine.deny_approval(a.req_str("evaluation_id")?, a.req_str("approver")?, reason)
        }
        "allowed_gates" => {
            let a = Args::new(op, args, &["passport"])?;
            Ok(json!({ "gates": engine.allowed_gates(a.str("passport")?)? }))
        }
        "anonymous_log" => {
            Ok(json!({ "attestations": engine.anonymous_log(&attestation_filter(args)?)? }))
        }
        other => Err(Error::InvalidArgument(format!(
            "unknown operation {other:?} (expected one of: {})",
            OPERATIONS.join(", ")
        ))),
    }
}

/// Issues a passport from `{issuer_secret, agent_id, agent_name, permissions, expires_in_days,
/// caveats}`; with `passport` (a parent token) and `issuer_secret` being that passport's agent
/// key, issues a sub-agent passport.
pub fn issue_passport(args: &Value) -> Result<Value> {
    let a = Args::new("issue_passport", args, ISSUE_KEYS)?;
    let secret = a.req_str("issuer_secret")?;
    let req = passport_request(args)?;
    let issued_passport = match a.str("passport")? {
        None => Issuer::from_secret(secret)?.issue_passport(&req)?,
        Some(parent) => IssuedPassport::from_token(parent, secret)?.issue_sub_passport(&req)?,
    };
    Ok(issued(&issued_passport))
}
