//! MCP without a server: passgate's own tools and a transport-free JSON-RPC 2.0 handler that a
//! host mounts on stdio or HTTP.
//!
//! **Roles.** Every call is made by a [`Caller`]: the governed **agent** or the **operator**. An
//! agent sees and may call only the agent tools (`enforce_action`, `authorize_dry_run`,
//! `verify_passport`, `list_allowed_gates`, `list_my_evaluations`); an operator sees and may call
//! every tool (passports, policy, counters, holds, approvals, everyone's attestations). An agent
//! that calls an operator tool gets a `FORBIDDEN` error result saying it needs the operator role.
//! Never serve the operator role on the connection the agent uses: an agent holding
//! `reset_cumulative_state` resets its own caps, one holding `approve` approves its own escalation.
//!
//! [`tools`] is a role's catalogue (name, title, description, `inputSchema`, `annotations`,
//! `outputSchema` where the result is structured). [`handle`] answers one message
//! (`initialize`, `notifications/initialized`, `ping`, `tools/list`, `tools/call`) and returns the
//! response text, or `None` for a notification or a response. Tool arguments are the JSON seam's
//! snake_case arguments, validated against the tool's schema first. A tool answers with one text
//! item holding its JSON (and the same JSON as `structuredContent`). `enforce_action` and
//! `authorize_dry_run` answer allow, deny and escalate alike as a normal result (the evaluation
//! succeeded: read `decision`); `isError: true` is for a call that produced no answer — arguments
//! that fail the schema (`INVALID_ARGUMENT`, with the JSON path, so the model can correct them),
//! a role that may not call the tool (`FORBIDDEN`), an engine error — whose JSON is
//! `{"error": {"code", "message"}}`. JSON-RPC errors are for protocol faults only (a batch, an
//! unknown method or tool, a malformed message).
//!
//! ```
//! use passgate::{mcp, Engine};
//! let engine = Engine::builder().policy_json(r#"{"version": 1, "gates": {}}"#).build().unwrap();
//! let agent = mcp::Caller::agent(None);
//! let reply = mcp::handle(&engine, &agent, None, r#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#).unwrap();
//! assert_eq!(reply, r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
//! ```

use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::json::{self, Limits};
use crate::passport::Issuer;
use crate::seam;
use crate::store::AttestationFilter;

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

/// Which tools a caller may see and call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The governed agent: asks for decisions about its own actions, reads its own evaluations.
    Agent,
    /// The operator: every tool, including those that change what agents are granted.
    Operator,
}

impl Role {
    /// `"agent"` or `"operator"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Operator => "operator",
        }
    }

    /// Parses `"agent"` / `"operator"` (`INVALID_ARGUMENT` otherwise).
    pub fn parse(role: &str) -> Result<Role> {
        match role {
            "agent" => Ok(Role::Agent),
            "operator" => Ok(Role::Operator),
            other => Err(Error::InvalidArgument(format!(
                "role must be \"agent\" or \"operator\", not {other:?}"
            ))),
        }
    }
}

/// Who is calling, as the host's transport established it (never as the message claims).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The governed agent. `passport`: the passport its transport delivered (the stdio server's
    /// configured passport, an HTTP bearer), used when a call gives none. `client`: the host's
    /// key for an anonymous caller (e.g. its address), which an agent may not choose itself.
    Agent {
        passport: Option<String>,
        client: Option<String>,
    },
    /// The operator; `name` is recorded as the approver of what it approves or denies.
    Operator { name: String },
}

impl Caller {
    /// An agent, with the passport its transport delivered (if any).
    pub fn agent(passport: Option<String>) -> Caller {
        Caller::Agent {
            passport,
            client: None,
        }
    }

    /// The operator, named (1–256 characters) for the approvals it grants.
    pub fn operator(name: impl Into<String>) -> Caller {
        Caller::Operator { name: name.into() }
    }

    /// A caller from the bindings' plain arguments: `role` is `"agent"` (with `passport`) or
    /// `"operator"` (with `name`, default `"operator"`). A passport given to the operator role,
    /// or a name given to the agent role, is refused: it says the host mixed the two up.
    pub fn parse(role: &str, passport: Option<String>, name: Option<String>) -> Result<Caller> {
        match (Role::parse(role)?, passport, name) {
            (Role::Agent, passport, None) => Ok(Caller::agent(passport)),
            (Role::Operator, None, name) => {
                Ok(Caller::operator(name.unwrap_or_else(|| "operator".into())))
            }
            (Role::Agent, _, Some(_)) => Err(Error::InvalidArgument(
                "an operator name was given for the agent role".into(),
            )),
            (Role::Operator, Some(_), _) => Err(Error::InvalidArgument(
                "a passport was given for the operator role: the operator acts as itself".into(),
            )),
        }
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        match self {
            Caller::Agent { .. } => Role::Agent,
            Caller::Operator { .. } => Role::Operator,
        }
    }
}

/// What a tool does to the world (MCP tool annotations).
#[derive(Clone, Copy)]
struct Hints {
    read_only: bool,
    destructive: bool,
    idempotent: bool,
}

/// Reads only.
const READS: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
};
/// Adds state (a counted decision, a passport, a hold resolution); repeating adds again.
const ADDS: Hints = Hints {
    read_only: false,
    destructive: false,
    idempotent: false,
};
/// Takes something away (revocation, reset, release).
const REMOVES: Hints = Hints {
    read_only: false,
    destructive: true,
    idempotent: false,
};

struct Tool {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    /// The seam operation it runs (`""`: handled here).
    op: &'static str,
    /// The least role that may call it.
    role: Role,
    hints: Hints,
    schema: fn() -> Value,
    output: Option<fn() -> Value>,
}

fn obj(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
}

fn passport_arg() -> Value {
    json!({"type": "string", "minLength": 1, "description": "A passport token (default: the one this connection was given)"})
}

fn request_schema() -> Value {
    obj(
        json!({
            "gate": {"type": "string", "minLength": 1, "description": "The gate, e.g. payments.send"},
            "passport": {"type": "string", "description": "The agent's passport token (default: the one this connection was given; none: anonymous access)"},
            "payload": {"type": "object", "description": "The action's arguments"},
            "idempotency_key": {"type": "string", "description": "Makes a retry return the first decision"},
            "trace": {"type": "object", "description": "Host metadata (MCP session / request ids), recorded but not fingerprinted"},
            "client": {"type": "string", "description": "The host's key for an anonymous caller"},
            "hold": {"type": "boolean", "description": "Reserve the amounts; the operator settles or releases the hold later"},
            "approval": {"type": "string", "description": "An approval token for a request that escalated"}
        }),
        &["gate"],
    )
}

fn decision_output() -> Value {
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

fn counter_filter_schema() -> Value {
    obj(
        json!({
            "gate": {"type": "string"}, "agent_id": {"type": "string"}, "namespace": {"type": "string"},
            "constraint": {"type": "string"}, "scope": {"type": "string"}
        }),
        &[],
    )
}

fn counter_page_schema() -> Value {
    obj(
        json!({
            "gate": {"type": "string"}, "agent_id": {"type": "string"}, "namespace": {"type": "string"},
            "constraint": {"type": "string"}, "scope": {"type": "string"},
            "cursor": {"type": ["string", "null"]},
            "limit": {"type": "integer", "minimum": 1, "maximum": crate::engine::MAX_PAGE}
        }),
        &[],
    )
}

const TOOLS: &[Tool] = &[
    Tool {
        name: "enforce_action",
        title: "Enforce an action",
        description: "Decide whether the agent may perform an action now, count it if allowed, and sign the decision. Allow, deny and escalate are all normal results: read `decision`; a deny lists every failed check, an escalation carries the approval request.",
        op: "enforce",
        role: Role::Agent,
        hints: ADDS,
        schema: request_schema,
        output: Some(decision_output),
    },
    Tool {
        name: "authorize_dry_run",
        title: "Dry-run an action",
        description: "Evaluate the same question as enforce_action against the same state without changing anything (no counters, no attestation).",
        op: "dry_run",
        role: Role::Agent,
        hints: READS,
        schema: request_schema,
        output: Some(decision_output),
    },
    Tool {
        name: "verify_passport",
        title: "Verify a passport",
        description: "Verify a passport (signature, validity, trusted issuer, delegation chain, revocation) and return its claims.",
        op: "verify_passport",
        role: Role::Agent,
        hints: READS,
        schema: || obj(json!({"passport": passport_arg()}), &[]),
        output: None,
    },
    Tool {
        name: "list_allowed_gates",
        title: "List my allowed gates",
        description: "The gates the agent's passport could be admitted to now (its permissions cover the gate's, and no time window is closed).",
        op: "allowed_gates",
        role: Role::Agent,
        hints: READS,
        schema: || obj(json!({"passport": passport_arg()}), &[]),
        output: Some(|| json!({"type": "object", "properties": {"gates": {"type": "array", "items": {"type": "string"}}}, "required": ["gates"]})),
    },
    Tool {
        name: "list_my_evaluations",
        title: "List my evaluations",
        description: "The signed decision records of the agent's own requests (its passport's principal), oldest first.",
        op: "",
        role: Role::Agent,
        hints: READS,
        schema: || {
            obj(
                json!({
                    "passport": passport_arg(), "gate": {"type": "string"},
                    "decision": {"enum": ["allow", "deny", "escalate"]}, "evaluation_id": {"type": "string"},
                    "since": {"type": "integer"}, "limit": {"type": "integer", "minimum": 1, "maximum": 1000}
                }),
                &[],
            )
        },
        output: Some(|| json!({"type": "object", "properties": {"evaluations": {"type": "array", "items": {"type": "object"}}}, "required": ["evaluations"]})),
    },
    Tool {
        name: "issue_passport",
        title: "Issue a passport",
        description: "Issue a passport for an agent, signed by this server's issuer. The agent's private key is returned once.",
        op: "",
        role: Role::Operator,
        hints: ADDS,
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
        output: None,
    },
    Tool {
        name: "revoke_passport",
        title: "Revoke a passport",
        description: "Revoke a passport by id; every passport delegated from it is revoked with it.",
        op: "revoke_passport",
        role: Role::Operator,
        hints: Hints { idempotent: true, ..REMOVES },
        schema: || obj(json!({"passport_id": {"type": "string", "minLength": 1}}), &["passport_id"]),
        output: None,
    },
    Tool {
        name: "list_gates",
        title: "List gates",
        description: "List the gates of the current policy with their permissions and constraints.",
        op: "list_gates",
        role: Role::Operator,
        hints: READS,
        schema: || obj(json!({}), &[]),
        output: None,
    },
    Tool {
        name: "get_gate",
        title: "Describe a gate",
        description: "Describe one gate of the current policy.",
        op: "get_gate",
        role: Role::Operator,
        hints: READS,
        schema: || obj(json!({"gate": {"type": "string", "minLength": 1}}), &["gate"]),
        output: None,
    },
    Tool {
        name: "list_constraint_types",
        title: "List constraint types",
        description: "List every constraint type with the JSON Schema of its parameters.",
        op: "constraint_types",
        role: Role::Operator,
        hints: READS,
        schema: || obj(json!({}), &[]),
        output: None,
    },
    Tool {
        name: "list_constraint_templates",
        title: "List constraint templates",
        description: "List the built-in constraint templates and their parameters.",
        op: "templates",
        role: Role::Operator,
        hints: READS,
        schema: || obj(json!({}), &[]),
        output: None,
    },
    Tool {
        name: "get_cumulative_state",
        title: "Read counters",
        description: "Read spend / rate / quota / concurrency counters, optionally filtered by gate, agent, constraint or scope, one page at a time: at most `limit` (default 100) per call; pass the returned `next_cursor` as `cursor` for the next page (null: no more).",
        op: "cumulative_state_page",
        role: Role::Operator,
        hints: READS,
        schema: counter_page_schema,
        output: None,
    },
    Tool {
        name: "reset_cumulative_state",
        title: "Reset counters",
        description: "Delete counters matching a filter (recorded as an attestation). Gives spent caps back: operator only.",
        op: "reset_cumulative_state",
        role: Role::Operator,
        hints: REMOVES,
        schema: counter_filter_schema,
        output: None,
    },
    Tool {
        name: "get_attestations",
        title: "Read attestations",
        description: "Read signed decision records of every agent, oldest first, filtered by chain, gate, agent, decision, evaluation id, kind or time.",
        op: "attestations",
        role: Role::Operator,
        hints: READS,
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
        output: Some(|| json!({"type": "object", "properties": {"attestations": {"type": "array", "items": {"type": "object"}}}, "required": ["attestations"]})),
    },
    Tool {
        name: "verify_attestation",
        title: "Verify an attestation",
        description: "Verify one attestation record's hash and signature (against this server's key unless did is given).",
        op: "verify_attestation",
        role: Role::Operator,
        hints: READS,
        schema: || obj(json!({"record": {"type": "object"}, "did": {"type": "string"}}), &["record"]),
        output: None,
    },
    Tool {
        name: "settle_hold",
        title: "Settle a hold",
        description: "Settle a hold made by enforce_action with hold=true: keep the actual amounts (a payload of the request's shape).",
        op: "settle",
        role: Role::Operator,
        hints: ADDS,
        schema: || obj(json!({"hold_id": {"type": "string", "minLength": 1}, "actual": {"type": "object"}}), &["hold_id"]),
        output: None,
    },
    Tool {
        name: "release_hold",
        title: "Release a hold",
        description: "Release a hold: the action did not happen, every counter gives its reservation back.",
        op: "release",
        role: Role::Operator,
        hints: REMOVES,
        schema: || obj(json!({"hold_id": {"type": "string", "minLength": 1}}), &["hold_id"]),
        output: None,
    },
    Tool {
        name: "approve",
        title: "Approve an escalation",
        description: "Approve an escalated request by its evaluation id; returns a single-use approval token for exactly that request. The approver is this operator (or the name given); never the requesting agent.",
        op: "approve",
        role: Role::Operator,
        hints: ADDS,
        schema: || {
            obj(
                json!({
                    "evaluation_id": {"type": "string", "minLength": 1},
                    "approver": {"type": "string", "minLength": 1, "description": "Who approves (default: this operator's name)"},
                    "ttl": {"description": "Token lifetime: seconds, or a duration such as \"15m\" (default 15m)", "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^[1-9][0-9]*[smhd]$"}]}
                }),
                &["evaluation_id"],
            )
        },
        output: None,
    },
    Tool {
        name: "deny_approval",
        title: "Deny an escalation",
        description: "Deny an escalated request by its evaluation id, with a reason.",
        op: "deny_approval",
        role: Role::Operator,
        hints: ADDS,
        schema: || {
            obj(
                json!({"evaluation_id": {"type": "string", "minLength": 1}, "approver": {"type": "string", "minLength": 1}, "reason": {"type": "string"}}),
                &["evaluation_id"],
            )
        },
        output: None,
    },
];

impl Tool {
    fn callable_by(&self, role: Role) -> bool {
        self.role == Role::Agent || role == Role::Operator
    }

    fn describe(&self) -> Value {
        let mut t = json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": (self.schema)(),
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.hints.read_only,
                "destructiveHint": self.hints.destructive,
                "idempotentHint": self.hints.idempotent,
                "openWorldHint": false,
            },
        });
        if let (Some(output), Value::Object(m)) = (self.output, &mut t) {
            m.insert("outputSchema".into(), output());
        }
        t
    }
}

/// The tools `role` may call, as `tools/list` describes them: `[{name, title, description,
/// inputSchema, annotations, outputSchema?}]`. The agent's catalogue holds only agent tools.
pub fn tools(role: Role) -> Value {
    Value::Array(
        TOOLS
            .iter()
            .filter(|t| t.callable_by(role))
            .map(Tool::describe)
            .collect(),
    )
}

/// The names of the tools only the operator may call (for hosts that list tools themselves).
pub fn operator_tool_names() -> Vec<&'static str> {
    TOOLS
        .iter()
        .filter(|t| t.role == Role::Operator)
        .map(|t| t.name)
        .collect()
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

/// Handles one JSON-RPC message from `caller` and returns the response text, or `None` when
/// there is nothing to answer (notifications, and responses a client sends back). A batch (a
/// JSON array) is refused with `-32600` whatever the negotiated version: MCP 2025-06-18 removed
/// batches, and a host that inspects each message it forwards could be bypassed by one.
/// `issuer`, if given, lets the operator's `issue_passport` issue.
pub fn handle(
    engine: &Engine,
    caller: &Caller,
    issuer: Option<&Issuer>,
    message: &str,
) -> Option<String> {
    let reply = match json::parse(message, Limits::PAYLOAD) {
        Ok(v) => handle_value(engine, caller, issuer, v),
        Err(e) => Some(error(
            Value::Null,
            codes::PARSE_ERROR,
            &format!("parse error: {e}"),
        )),
    };
    reply.map(|r| r.to_string())
}

/// [`handle`] on a parsed message.
pub fn handle_value(
    engine: &Engine,
    caller: &Caller,
    issuer: Option<&Issuer>,
    message: Value,
) -> Option<Value> {
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
        m => handle_one(engine, caller, issuer, m),
    }
}

fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn handle_one(
    engine: &Engine,
    caller: &Caller,
    issuer: Option<&Issuer>,
    message: Value,
) -> Option<Value> {
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
            let instructions = match caller.role() {
                Role::Agent => "passgate authorizes your actions: call enforce_action before acting, with the gate and the payload (your passport is this connection's unless you pass one). A deny lists the failed checks; an escalation waits for a human operator's approval token.",
                Role::Operator => "passgate operator tools: passports, policy, counters, holds, approvals and every agent's attestations. Never hand this connection to an agent.",
            };
            reply(json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}},
                "serverInfo": {"name": "passgate", "title": "passgate", "version": env!("CARGO_PKG_VERSION")},
                "instructions": instructions
            }))
        }
        "ping" => reply(json!({})),
        "tools/list" => reply(json!({"tools": tools(caller.role())})),
        "tools/call" => match call_tool(engine, caller, issuer, &params) {
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
    caller: &Caller,
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
    if !tool.callable_by(caller.role()) {
        return Ok(tool_result(
            Err(Error::Forbidden(format!(
                "{name} is an operator tool and this connection serves the {} role: an operator calls it on its own connection",
                caller.role().as_str()
            ))),
        ));
    }
    let mut args = match params.get("arguments") {
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
            // A tool result, not a protocol error: the model reads it and corrects its call.
            return Ok(tool_result(Err(Error::InvalidArgument(format!(
                "invalid arguments for {name} at {path}: {e}"
            )))));
        }
    }
    if let (Caller::Agent { passport, client }, Value::Object(a)) = (caller, &mut args) {
        // The anonymous caller's key is the host's to set: an agent choosing it would get a
        // fresh per-client allowance on every call.
        if a.contains_key("client") {
            return Ok(tool_result(Err(Error::Forbidden(
                "client is set by the host for an anonymous caller, not by the agent".into(),
            ))));
        }
        let takes_passport = (tool.schema)().pointer("/properties/passport").is_some();
        if let (Some(p), true, false) = (passport, takes_passport, a.contains_key("passport")) {
            a.insert("passport".into(), Value::String(p.clone()));
        }
        let anonymous = !a.contains_key("passport");
        if let (Some(c), true, true) = (client, anonymous, matches!(tool.op, "enforce" | "dry_run"))
        {
            a.insert("client".into(), Value::String(c.clone()));
        }
    }
    if let (Caller::Operator { name: operator }, Value::Object(a)) = (caller, &mut args) {
        if matches!(tool.op, "approve" | "deny_approval") && !a.contains_key("approver") {
            a.insert("approver".into(), Value::String(operator.clone()));
        }
    }
    let outcome = match (tool.name, issuer) {
        ("issue_passport", Some(issuer)) => {
            if let Value::Object(o) = &mut args {
                o.insert("issuer_secret".into(), Value::String(issuer.secret()));
            }
            seam::issue_passport(&args)
        }
        ("issue_passport", None) => Err(Error::InvalidArgument(
            "this server has no issuer key: it issues no passports".into(),
        )),
        ("list_my_evaluations", _) => my_evaluations(engine, &args),
        _ => seam::call(engine, tool.op, &args),
    };
    Ok(tool_result(outcome))
}

/// The decisions made for the passport's principal (whoever holds a passport of that root, any
/// delegation depth), oldest first.
fn my_evaluations(engine: &Engine, args: &Value) -> Result<Value> {
    let token = args
        .get("passport")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            Error::InvalidArgument(
                "list_my_evaluations needs a passport (none was given, and this connection has none)"
                    .into(),
            )
        })?;
    let principal = engine.principal_of(token)?;
    let s = |k: &str| args.get(k).and_then(Value::as_str).map(str::to_string);
    let filter = AttestationFilter {
        agent_id: Some(principal.agent_id.clone()),
        kind: Some("decision".into()),
        gate: s("gate"),
        decision: s("decision"),
        evaluation_id: s("evaluation_id"),
        since_ms: args.get("since").and_then(Value::as_i64),
        ..AttestationFilter::default()
    };
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .map_or(100, |l| l.min(1000) as usize);
    let mine = |r: &Value| {
        r.pointer("/body/principal").is_some_and(|p| {
            p.get("issuer").and_then(Value::as_str) == Some(principal.issuer.as_str())
                && p.get("agent_id").and_then(Value::as_str) == Some(principal.agent_id.as_str())
        })
    };
    let evaluations: Vec<Value> = engine
        .attestations(&filter)?
        .into_iter()
        .filter(|r| mine(r))
        .take(limit)
        .collect();
    Ok(json!({ "evaluations": evaluations }))
}

/// A tool result: one text item with the JSON, and `structuredContent` when the call answered.
/// `isError` only when it did not (an error before or instead of an answer); a deny or an
/// escalation is an answer.
fn tool_result(outcome: Result<Value>) -> Value {
    match outcome {
        Ok(value) => {
            let structured = if value.is_object() {
                value.clone()
            } else {
                json!({"result": value})
            };
            json!({
                "content": [{"type": "text", "text": value.to_string()}],
                "structuredContent": structured,
                "isError": false,
            })
        }
        Err(e) => {
            // No structuredContent: a client checks it against the tool's outputSchema.
            let value = json!({"error": {"code": e.code(), "message": e.to_string()}});
            json!({
                "content": [{"type": "text", "text": value.to_string()}],
                "isError": true,
            })
        }
    }
}
