//! MCP without a server: passgate's own tools and a transport-free JSON-RPC 2.0 handler that a
//! host mounts on stdio or HTTP.
//!
//! [`tools`] is the catalogue (name, description, `inputSchema`). [`handle`] answers one message
//! (`initialize`, `notifications/initialized`, `ping`, `tools/list`, `tools/call`) and returns the
//! response text, or `None` for a notification. Tool arguments are the JSON seam's snake_case
//! arguments, validated against the tool's schema first (`-32602` with the JSON path on failure).
//! A tool answers with one text item holding its JSON (and the same JSON as
//! `structuredContent`); a deny, an escalation or an engine error is a result with
//! `isError: true` whose JSON carries the failed checks (with their constraint ids) or the error
//! `code`. JSON-RPC errors are for protocol faults only.
//!
//! ```
//! use passgate::{mcp, Engine};
//! let engine = Engine::builder().policy_json(r#"{"version": 1, "gates": {}}"#).build().unwrap();
//! let reply = mcp::handle(&engine, None, r#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#).unwrap();
//! assert_eq!(reply, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
//! ```

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::json::{self, Limits};
use crate::passport::Issuer;
use crate::seam;

/// Protocol versions this handler speaks, newest first. `initialize` echoes the client's version
/// when it is one of these, and answers with the newest otherwise (the client then decides).
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// JSON-RPC error codes.
pub mod codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
}

struct Tool {
    name: &'static str,
    description: &'static str,
    /// The seam operation it runs (`""`: handled here).
    op: &'static str,
    schema: fn() -> Value,
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn request_schema() -> Value {
    obj(
        json!({
            "gate": {"type": "string", "minLength": 1, "description": "The gate, e.g. payments.send"},
            "passport": {"type": "string", "description": "The agent's passport token (omit for anonymous access)"},
            "payload": {"type": "object", "description": "The action's arguments"},
            "idempotency_key": {"type": "string", "description": "Makes a retry return the first decision"},
            "trace": {"type": "object", "description": "Host metadata (MCP session / request ids), recorded but not fingerprinted"},
            "client": {"type": "string", "description": "The host's key for an anonymous caller"},
            "hold": {"type": "boolean", "description": "Reserve the amounts; settle or release the hold later"},
            "approval": {"type": "string", "description": "An approval token for a request that escalated"}
        }),
        &["gate"],
    )
}

fn counter_filter_schema() -> Value {
    obj(
        json!({
            "gate": {"type": "string"}, "agent_id": {"type": "string"}, "namespace": {"type": "string"},
            "constraint": {"type": "string"}, "scope": {"type": "string"}
        }),
        &[],
    )
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "enforce_action",
        description: "Decide whether an agent may perform an action now, count it if allowed, and sign the decision. A deny or escalation is returned as an error result listing every failed check.",
        op: "enforce",
        schema: request_schema,
    },
    Tool {
        name: "authorize_dry_run",
        description: "Evaluate the same question as enforce_action against the same state without changing anything (no counters, no attestation).",
        op: "dry_run",
        schema: request_schema,
    },
    Tool {
        name: "verify_passport",
        description: "Verify a passport (signature, validity, trusted issuer, delegation chain, revocation) and return its claims.",
        op: "verify_passport",
        schema: || obj(json!({"passport": {"type": "string", "minLength": 1}}), &["passport"]),
    },
    Tool {
        name: "issue_passport",
        description: "Issue a passport for an agent, signed by this server's issuer. The agent's private key is returned once.",
        op: "",
        schema: || {
            obj(
                json!({
                    "agent_id": {"type": "string", "minLength": 1}, "agent_name": {"type": "string"},
                    "permissions": {"type": "array", "items": {"type": "string"}},
                    "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650},
                    "caveats": {"type": "array", "items": {"type": "object"}}
                }),
                &["agent_id", "permissions"],
            )
        },
    },
    Tool {
        name: "revoke_passport",
        description: "Revoke a passport by id; every passport delegated from it is revoked with it.",
        op: "revoke_passport",
        schema: || obj(json!({"passport_id": {"type": "string", "minLength": 1}}), &["passport_id"]),
    },
    Tool {
        name: "list_gates",
        description: "List the gates of the current policy with their permissions and constraints.",
        op: "list_gates",
        schema: || obj(json!({}), &[]),
    },
    Tool {
        name: "get_gate",
        description: "Describe one gate of the current policy.",
        op: "get_gate",
        schema: || obj(json!({"gate": {"type": "string", "minLength": 1}}), &["gate"]),
    },
    Tool {
        name: "list_constraint_types",
        description: "List every constraint type with the JSON Schema of its parameters.",
        op: "constraint_types",
        schema: || obj(json!({}), &[]),
    },
    Tool {
        name: "list_constraint_templates",
        description: "List the built-in constraint templates and their parameters.",
        op: "templates",
        schema: || obj(json!({}), &[]),
    },
    Tool {
        name: "get_cumulative_state",
        description: "Read spend / rate / quota / concurrency counters, optionally filtered by gate, agent, constraint or scope.",
        op: "cumulative_state",
        schema: counter_filter_schema,
    },
    Tool {
        name: "reset_cumulative_state",
        description: "Delete counters matching a filter (recorded as an attestation).",
        op: "reset_cumulative_state",
        schema: counter_filter_schema,
    },
    Tool {
        name: "get_attestations",
        description: "Read signed decision records, oldest first, filtered by chain, gate, agent, decision, evaluation id, kind or time.",
        op: "attestations",
        schema: || {
            obj(
                json!({
                    "chain": {"type": "string"}, "gate": {"type": "string"}, "agent_id": {"type": "string"},
                    "decision": {"enum": ["allow", "deny", "escalate"]}, "evaluation_id": {"type": "string"},
                    "kind": {"type": "string"}, "since": {"type": "integer"}, "until": {"type": "integer"},
                    "limit": {"type": "integer", "minimum": 0}
                }),
                &[],
            )
        },
    },
    Tool {
        name: "verify_attestation",
        description: "Verify one attestation record's hash and signature (against this server's key unless did is given).",
        op: "verify_attestation",
        schema: || obj(json!({"record": {"type": "object"}, "did": {"type": "string"}}), &["record"]),
    },
    Tool {
        name: "settle_hold",
        description: "Settle a hold made by enforce_action with hold=true: keep the actual amounts (a payload of the request's shape).",
        op: "settle",
        schema: || obj(json!({"hold_id": {"type": "string", "minLength": 1}, "actual": {"type": "object"}}), &["hold_id"]),
    },
    Tool {
        name: "release_hold",
        description: "Release a hold: every counter gives its reservation back.",
        op: "release",
        schema: || obj(json!({"hold_id": {"type": "string", "minLength": 1}}), &["hold_id"]),
    },
    Tool {
        name: "approve",
        description: "Approve an escalated request by its evaluation id; returns a single-use approval token for exactly that request.",
        op: "approve",
        schema: || {
            obj(
                json!({
                    "evaluation_id": {"type": "string", "minLength": 1}, "approver": {"type": "string", "minLength": 1},
                    "ttl": {"description": "Token lifetime: seconds, or a duration such as \"15m\" (default 15m)", "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[1-9][0-9]*[smhd]$"}]}
                }),
                &["evaluation_id", "approver"],
            )
        },
    },
    Tool {
        name: "deny_approval",
        description: "Deny an escalated request by its evaluation id, with a reason.",
        op: "deny_approval",
        schema: || {
            obj(
                json!({"evaluation_id": {"type": "string", "minLength": 1}, "approver": {"type": "string", "minLength": 1}, "reason": {"type": "string"}}),
                &["evaluation_id", "approver"],
            )
        },
    },
];

/// The catalogue of passgate's tools: `[{name, description, inputSchema}]`.
pub fn tools() -> Value {
    Value::Array(
        TOOLS
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "inputSchema": (t.schema)()}))
            .collect(),
    )
}

fn validators() -> &'static [(String, Option<jsonschema::Validator>)] {
    static V: OnceLock<Vec<(String, Option<jsonschema::Validator>)>> = OnceLock::new();
    V.get_or_init(|| {
        TOOLS
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    jsonschema::validator_for(&(t.schema)()).ok(),
                )
            })
            .collect()
    })
}

/// Handles one JSON-RPC message and returns the response text, or `None` when there is nothing to
/// answer (notifications, and responses a client sends back). A batch (a JSON array) is refused
/// with `-32600` whatever the negotiated version: MCP 2025-06-18 removed batches, and a host that
/// inspects each message it forwards could be bypassed by one. `issuer`, if given, lets
/// `issue_passport` issue.
pub fn handle(engine: &Engine, issuer: Option<&Issuer>, message: &str) -> Option<String> {
    let reply = match json::parse(message, Limits::PAYLOAD) {
        Ok(v) => handle_value(engine, issuer, v),
        Err(e) => Some(error(
            Value::Null,
            codes::PARSE_ERROR,
            &format!("parse error: {e}"),
        )),
    };
    reply.map(|r| r.to_string())
}

/// [`handle`] on a parsed message.
pub fn handle_value(engine: &Engine, issuer: Option<&Issuer>, message: Value) -> Option<Value> {
    match message {
        Value::Array(_) => Some(error(
            Value::Null,
            codes::INVALID_REQUEST,
            "JSON-RPC batches are not accepted: send one message at a time",
        )),
        // A response (to a request this server never sends) is not answered.
        Value::Object(m)
            if !m.contains_key("method")
                && (m.contains_key("result") || m.contains_key("error")) =>
        {
            None
        }
        m => handle_one(engine, issuer, m),
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn handle_one(engine: &Engine, issuer: Option<&Issuer>, message: Value) -> Option<Value> {
    let Value::Object(m) = message else {
        return Some(error(
            Value::Null,
            codes::INVALID_REQUEST,
            "a request must be an object",
        ));
    };
    let id = m.get("id").cloned();
    let valid_id = matches!(&id, None | Some(Value::String(_) | Value::Number(_)));
    let method = m.get("method").and_then(Value::as_str);
    let (Some(method), true, Some("2.0")) =
        (method, valid_id, m.get("jsonrpc").and_then(Value::as_str))
    else {
        return Some(error(
            id.unwrap_or(Value::Null),
            codes::INVALID_REQUEST,
            "invalid JSON-RPC 2.0 request",
        ));
    };
    let params = m.get("params").cloned().unwrap_or(Value::Null);
    // Notifications (no id) get no answer, whatever they are.
    let id = id?;
    let reply = |result: Value| Some(json!({"jsonrpc": "2.0", "id": id, "result": result}));
    match method {
        "initialize" => {
            let asked = params.get("protocolVersion").and_then(Value::as_str);
            let newest = PROTOCOL_VERSIONS.first().copied().unwrap_or("2025-06-18");
            let version = asked
                .filter(|v| PROTOCOL_VERSIONS.contains(v))
                .unwrap_or(newest);
            reply(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "passgate", "version": env!("CARGO_PKG_VERSION")},
                "instructions": "passgate authorizes agent actions: call enforce_action before acting, with the agent's passport, the gate and the payload."
            }))
        }
        "ping" => reply(json!({})),
        "tools/list" => reply(json!({"tools": tools()})),
        "tools/call" => match call_tool(engine, issuer, &params) {
            Ok(result) => reply(result),
            Err((code, msg)) => Some(error(id, code, &msg)),
        },
        other => Some(error(
            id,
            codes::METHOD_NOT_FOUND,
            &format!("method not found: {other}"),
        )),
    }
}

fn call_tool(
    engine: &Engine,
    issuer: Option<&Issuer>,
    params: &Value,
) -> std::result::Result<Value, (i64, String)> {
    let invalid = |m: String| (codes::INVALID_PARAMS, m);
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("tools/call needs a tool name".into()))?;
    let tool = TOOLS
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| invalid(format!("unknown tool: {name}")))?;
    let args = match params.get("arguments") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(a) => a.clone(),
    };
    if let Some((_, Some(v))) = validators().iter().find(|(n, _)| n == name) {
        if let Some(e) = v.iter_errors(&args).next() {
            let path = e.instance_path().to_string();
            let path = if path.is_empty() {
                "/".to_string()
            } else {
                path
            };
            return Err(invalid(format!(
                "invalid arguments for {name} at {path}: {e}"
            )));
        }
    }
    let outcome = match (tool.name, issuer) {
        ("issue_passport", Some(issuer)) => {
            let mut a = args;
            if let Value::Object(o) = &mut a {
                o.insert("issuer_secret".into(), Value::String(issuer.secret()));
            }
            seam::issue_passport(&a)
        }
        ("issue_passport", None) => Err(Error::InvalidArgument(
            "this server has no issuer key: it issues no passports".into(),
        )),
        _ => seam::call(engine, tool.op, &args),
    };
    Ok(tool_result(tool.op, outcome))
}

/// A tool result: one text item with the JSON, `structuredContent`, and `isError` for a deny,
/// an escalation or an error.
fn tool_result(op: &str, outcome: Result<Value>) -> Value {
    let (value, is_error) = match outcome {
        Ok(v) => {
            let refused =
                matches!(op, "enforce" | "dry_run") && v.get("allowed") != Some(&Value::Bool(true));
            (v, refused)
        }
        Err(e) => (
            json!({"error": {"code": e.code(), "message": e.to_string()}}),
            true,
        ),
    };
    let structured = if value.is_object() {
        value.clone()
    } else {
        json!({"result": value})
    };
    json!({
        "content": [{"type": "text", "text": value.to_string()}],
        "structuredContent": structured,
        "isError": is_error,
    })
}
