//! MCP without a server: passgate's own tools and a transport-free JSON-RPC 2.0 handler that a
//! host mounts on stdio or HTTP.
//!
//! **Roles.** Every call is made by a [`Caller`]: the governed **agent** or the **operator**. An
//! agent sees and may call only the agent tools (`enforce_action`, `authorize_dry_run`,
//! `evaluate`, `get_evaluation`, `verify_passport`, `list_allowed_gates`,
//! `list_my_evaluations`, and the read-only `discover_services` and `get_catalog`); an operator
//! sees and may call every tool (passports, policy, counters, holds, approvals, everyone's attestations). An agent
//! that calls an operator tool gets a `FORBIDDEN` error result saying it needs the operator role.
//! Never serve the operator role on the connection the agent uses: an agent holding
//! `reset_cumulative_state` resets its own caps, one holding `approve` approves its own escalation.
//!
//! **API keys.** A [`Caller::Key`] (a host or tool holding an API key: [`crate::apikey`]) sees
//! and may call exactly the tools whose scope ([`scope_of_tool`]) it holds; any other is a
//! `FORBIDDEN` result naming the missing scope. Its evaluations without a passport are anonymous
//! with `client` = `key:<id>` (so the policy's client-scoped limits apply per key; the key may
//! not choose `client` itself), every evaluation it makes carries `trace.api_key_id` (set by the
//! server, whatever the caller sends), and what it approves or denies defaults to the approver
//! `key:<name>`.
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

use std::borrow::Cow;
use std::sync::OnceLock;

use serde_json::{json, Map, Value};

use crate::apikey::{ApiKeyPrincipal, Scope};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::json::{self, Limits};
use crate::ops;

pub mod guard;
use crate::passport::Issuer;

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
    /// A holder of an API key, as [`Engine::authenticate_api_key`] established it: it may call
    /// the tools of its scopes ([`scope_of_tool`]).
    Key(ApiKeyPrincipal),
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

    /// The caller's role. A key holding only `decide` is an agent; any other key acts for the
    /// operator (within its scopes: [`Caller::may_call`]).
    pub fn role(&self) -> Role {
        match self {
            Caller::Agent { .. } => Role::Agent,
            Caller::Operator { .. } => Role::Operator,
            Caller::Key(k) if k.scopes.iter().all(|s| *s == Scope::Decide) => Role::Agent,
            Caller::Key(_) => Role::Operator,
        }
    }

    /// Whether this caller may see and call tool `name`: an agent its tools, the operator every
    /// tool, a key the tools of its scopes. An unknown tool is nobody's.
    pub fn may_call(&self, name: &str) -> bool {
        let Some(tool) = all_tools().iter().find(|t| t.name == name) else {
            return false;
        };
        self.may_call_tool(tool)
    }

    fn may_call_tool(&self, tool: &Tool) -> bool {
        match self {
            // An agent's own evaluation (with a passport), or any one for a reader of the log.
            Caller::Key(k) if tool.name == "get_evaluation" => {
                k.has(Scope::Decide) || k.has(Scope::ReadAttestations)
            }
            Caller::Key(k) => mapped_scope(tool.name).is_some_and(|s| k.has(s)),
            other => tool.callable_by(other.role()),
        }
    }
}

/// The scope an API key needs to call tool `name` (see [`Caller::Key`]). A name that is not a
/// tool needs `admin:keys`, the widest scope: an unmapped tool fails closed.
pub fn scope_of_tool(name: &str) -> Scope {
    mapped_scope(name).unwrap_or(Scope::AdminKeys)
}

/// Every tool's scope (a unit test checks that each tool of [`tool_operations`] has one).
fn mapped_scope(name: &str) -> Option<Scope> {
    // An operator checking any passport against a gate: not a decide key's (the agent's) tool.
    if name == "check_gate" {
        return Some(Scope::AdminPolicy);
    }
    Some(match aliased(name) {
        "enforce_action"
        | "authorize_dry_run"
        | "evaluate"
        | "verify_passport"
        | "list_allowed_gates"
        | "list_my_evaluations"
        | "get_evaluation"
        | "discover_services"
        | "get_catalog" => Scope::Decide,
        "issue_passport" | "revoke_passport" | "reissue_passport" | "get_passport"
        | "list_passports" | "list_issuers" | "trust_issuer" | "untrust_issuer"
        | "export_trust" | "import_trust" => Scope::AdminPassports,
        "list_gates"
        | "get_gate"
        | "list_constraint_types"
        | "list_constraint_templates"
        | "upsert_gate"
        | "create_gate"
        | "update_gate"
        | "delete_gate"
        | "set_gate_constraints"
        | "get_constraints"
        | "apply_template"
        | "upsert_template"
        | "set_anonymous_policy"
        | "get_anonymous_policy"
        | "create_catalog"
        | "publish_catalog" => Scope::AdminPolicy,
        // Pruning deletes records: not for a read-only attestation key.
        "get_cumulative_state"
        | "reset_cumulative_state"
        | "settle_hold"
        | "release_hold"
        | "expire_holds"
        | "purge_bundle"
        | "prune"
        | "issue_consumption_attestation"
        | "generate_settlement"
        | "update_settlement_status" => Scope::AdminCounters,
        "approve" | "deny_approval" => Scope::Approve,
        // A webhook worker reads the outbox and acknowledges what it delivered: acknowledging
        // changes nothing a decision depends on (no counter, record or policy), so it rides on
        // the read scope rather than forcing the worker's key to hold `admin:counters` (which
        // could reset budgets and settle holds).
        "get_attestations"
        | "verify_attestation"
        | "chain_head"
        | "verify_store"
        | "get_anonymous_log"
        | "get_enforcement_attestation"
        | "events"
        | "ack_event"
        | "sessions"
        | "session"
        | "get_catalog_version"
        | "list_catalog_versions"
        | "get_catalog_impact"
        | "verify_catalog"
        | "get_settlement"
        | "export_settlement"
        | "verify_settlement"
        | "get_billing_summary"
        | "get_sla_compliance" => Scope::ReadAttestations,
        // Host records are written into the engine's chain: an attestation reader may not.
        "record_attestation" => Scope::AdminCounters,
        "create_api_key" | "list_api_keys" | "revoke_api_key" => Scope::AdminKeys,
        _ => return None,
    })
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

#[derive(Clone)]
struct Tool {
    name: &'static str,
    title: Cow<'static, str>,
    /// The operation it runs ([`crate::ops`]): its description, arguments and schemas.
    op: &'static str,
    /// The least role that may call it.
    role: Role,
    hints: Hints,
    /// Arguments the connection supplies when the caller leaves them out (shown as optional).
    defaults: &'static [(&'static str, &'static str)],
    /// Arguments the server supplies itself (not shown; refused from the caller).
    hidden: &'static [&'static str],
}

/// How each supplied argument is described in the tool's schema.
const PASSPORT_DEFAULT: (&str, &str) = ("passport", "default: the one this connection was given");
const APPROVER_DEFAULT: (&str, &str) = ("approver", "default: this operator's name");

const TOOLS: &[Tool] = &[
    Tool {
        name: "enforce_action",
        title: Cow::Borrowed("Enforce an action"),
        op: "enforce",
        role: Role::Agent,
        hints: ADDS,
        defaults: &[PASSPORT_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "authorize_dry_run",
        title: Cow::Borrowed("Dry-run an action"),
        op: "dry_run",
        role: Role::Agent,
        hints: READS,
        defaults: &[PASSPORT_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "verify_passport",
        title: Cow::Borrowed("Verify a passport"),
        op: "verify_passport",
        role: Role::Agent,
        hints: READS,
        defaults: &[PASSPORT_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "list_allowed_gates",
        title: Cow::Borrowed("List my allowed gates"),
        op: "allowed_gates",
        role: Role::Agent,
        hints: READS,
        defaults: &[PASSPORT_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "list_my_evaluations",
        title: Cow::Borrowed("List my evaluations"),
        op: "list_my_evaluations",
        role: Role::Agent,
        hints: READS,
        defaults: &[PASSPORT_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "evaluate",
        title: Cow::Borrowed("Evaluate an action (AgentNexus)"),
        op: "evaluate",
        role: Role::Agent,
        hints: ADDS,
        defaults: &[PASSPORT_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "get_evaluation",
        title: Cow::Borrowed("Get an evaluation"),
        op: "get_evaluation",
        role: Role::Agent,
        hints: READS,
        defaults: &[PASSPORT_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "discover_services",
        title: Cow::Borrowed("Discover services"),
        op: "discover_services",
        role: Role::Agent,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "get_catalog",
        title: Cow::Borrowed("Get a gate's catalog"),
        op: "get_catalog",
        role: Role::Agent,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "issue_passport",
        title: Cow::Borrowed("Issue a passport"),
        op: "issue_passport",
        role: Role::Operator,
        hints: ADDS,
        defaults: &[],
        hidden: &["issuer_secret", "passport"],
    },
    Tool {
        name: "revoke_passport",
        title: Cow::Borrowed("Revoke a passport"),
        op: "revoke_passport",
        role: Role::Operator,
        hints: Hints {
            idempotent: true,
            ..REMOVES
        },
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "list_gates",
        title: Cow::Borrowed("List gates"),
        op: "list_gates",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "get_gate",
        title: Cow::Borrowed("Describe a gate"),
        op: "get_gate",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "list_constraint_types",
        title: Cow::Borrowed("List constraint types"),
        op: "constraint_types",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "list_constraint_templates",
        title: Cow::Borrowed("List constraint templates"),
        op: "templates",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "get_cumulative_state",
        title: Cow::Borrowed("Read counters"),
        op: "cumulative_state_page",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "reset_cumulative_state",
        title: Cow::Borrowed("Reset counters"),
        op: "reset_cumulative_state",
        role: Role::Operator,
        hints: REMOVES,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "get_attestations",
        title: Cow::Borrowed("Read attestations"),
        op: "attestations",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "verify_attestation",
        title: Cow::Borrowed("Verify an attestation"),
        op: "verify_attestation",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "settle_hold",
        title: Cow::Borrowed("Settle a hold"),
        op: "settle",
        role: Role::Operator,
        hints: ADDS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "release_hold",
        title: Cow::Borrowed("Release a hold"),
        op: "release",
        role: Role::Operator,
        hints: REMOVES,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "approve",
        title: Cow::Borrowed("Approve an escalation"),
        op: "approve",
        role: Role::Operator,
        hints: ADDS,
        defaults: &[APPROVER_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "deny_approval",
        title: Cow::Borrowed("Deny an escalation"),
        op: "deny_approval",
        role: Role::Operator,
        hints: ADDS,
        defaults: &[APPROVER_DEFAULT],
        hidden: &[],
    },
    Tool {
        name: "reissue_passport",
        title: Cow::Borrowed("Reissue a passport"),
        op: "reissue",
        role: Role::Operator,
        hints: ADDS,
        defaults: &[],
        hidden: &["issuer_secret"],
    },
    Tool {
        name: "get_anonymous_policy",
        title: Cow::Borrowed("Read the anonymous policy"),
        op: "anonymous_policy",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "get_anonymous_log",
        title: Cow::Borrowed("Read anonymous decisions"),
        op: "anonymous_log",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
    Tool {
        name: "get_enforcement_attestation",
        title: Cow::Borrowed("Get an evaluation's attestation"),
        op: "get_evaluation",
        role: Role::Operator,
        hints: READS,
        defaults: &[],
        hidden: &[],
    },
];

/// Tools under a second name — the names of the seed's (Modei's) tool list, so a client written
/// for it finds its tools: `(alias, tool)`. An alias is the tool's twin (same operation,
/// arguments and scope), for the operator only.
const ALIASES: &[(&str, &str)] = &[
    ("create_passport", "issue_passport"),
    ("check_gate", "authorize_dry_run"),
    ("set_constraints", "set_gate_constraints"),
    ("apply_constraint_template", "apply_template"),
    ("create_constraint_template", "upsert_template"),
    ("get_enforcement_attestations", "get_attestations"),
    ("verify_enforcement_attestation", "verify_attestation"),
];

impl Tool {
    fn callable_by(&self, role: Role) -> bool {
        self.role == Role::Agent || role == Role::Operator
    }

    fn spec(&self) -> Option<&'static ops::Spec> {
        ops::spec(self.op)
    }

    /// The operation's input schema as this tool shows it: hidden arguments removed, supplied
    /// ones optional and saying so.
    fn input_schema(&self) -> Value {
        let mut schema = self
            .spec()
            .map_or_else(|| json!({"type": "object"}), |s| s.input_schema.clone());
        if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            for h in self.hidden {
                props.remove(*h);
            }
            for (name, note) in self.defaults {
                if let Some(Value::Object(p)) = props.get_mut(*name) {
                    let d = p.get("description").and_then(Value::as_str).unwrap_or("");
                    let d = format!("{} ({note})", d.trim_end_matches('.'));
                    p.insert("description".into(), Value::String(d));
                }
            }
        }
        if let Some(Value::Array(req)) = schema.get_mut("required") {
            req.retain(|r| {
                let r = r.as_str().unwrap_or("");
                !self.hidden.contains(&r) && !self.defaults.iter().any(|(n, _)| *n == r)
            });
        }
        schema
    }

    fn describe(&self) -> Value {
        let description = self.spec().map_or("", |s| s.description);
        let mut t = json!({
            "name": self.name,
            "title": self.title,
            "description": description,
            "inputSchema": self.input_schema(),
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.hints.read_only,
                "destructiveHint": self.hints.destructive,
                "idempotentHint": self.hints.idempotent,
                "openWorldHint": false,
            },
        });
        if let (Some(output), Value::Object(m)) =
            (self.spec().and_then(|s| s.output_schema.as_ref()), &mut t)
        {
            m.insert("outputSchema".into(), output.clone());
        }
        t
    }

    /// Whether the caller may pass `arg`.
    fn takes(&self, arg: &str) -> bool {
        self.spec().is_some_and(|s| s.arguments().contains(&arg)) && !self.hidden.contains(&arg)
    }
}

/// Every tool: those of [`TOOLS`] (named and shaped for agents and operators), then one for each
/// operation neither there nor in [`NOT_TOOLS`], for the operator, named as the operation: a
/// new operation is a tool with no edit here.
fn all_tools() -> &'static [Tool] {
    static ALL: OnceLock<Vec<Tool>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<Tool> = TOOLS.to_vec();
        for spec in ops::specs() {
            let listed = TOOLS.iter().any(|t| t.op == spec.name)
                || NOT_TOOLS.iter().any(|(op, _)| *op == spec.name);
            if listed {
                continue;
            }
            let mut title = spec.name.replace('_', " ");
            if let Some(first) = title.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            all.push(Tool {
                name: spec.name,
                title: Cow::Owned(title),
                op: spec.name,
                role: Role::Operator,
                hints: match spec.effect {
                    ops::Effect::Reads => READS,
                    ops::Effect::Adds => ADDS,
                    ops::Effect::Removes => REMOVES,
                },
                defaults: &[],
                hidden: &[],
            });
        }
        for (alias, name) in ALIASES {
            if let Some(tool) = all.iter().find(|t| t.name == *name).cloned() {
                all.push(Tool {
                    name: alias,
                    role: Role::Operator,
                    ..tool
                });
            }
        }
        all
    })
}

/// The tool `alias` is a second name of (see [`ALIASES`]), or `alias` itself.
fn aliased(alias: &str) -> &str {
    ALIASES
        .iter()
        .find(|(a, _)| *a == alias)
        .map_or(alias, |(_, name)| name)
}

/// The tools `role` may call, as `tools/list` describes them: `[{name, title, description,
/// inputSchema, annotations, outputSchema?}]`. The agent's catalogue holds only agent tools.
pub fn tools(role: Role) -> Value {
    Value::Array(
        all_tools()
            .iter()
            .filter(|t| t.callable_by(role))
            .map(Tool::describe)
            .collect(),
    )
}

/// The tools `caller` may call, as `tools/list` describes them (for a key: its scopes' tools).
pub fn tools_for(caller: &Caller) -> Value {
    Value::Array(
        all_tools()
            .iter()
            .filter(|t| caller.may_call_tool(t))
            .map(Tool::describe)
            .collect(),
    )
}

/// The names of the tools only the operator may call (for hosts that list tools themselves).
pub fn operator_tool_names() -> Vec<&'static str> {
    all_tools()
        .iter()
        .filter(|t| t.role == Role::Operator)
        .map(|t| t.name)
        .collect()
}

/// The operation each tool runs: `(tool name, operation name)`.
pub fn tool_operations() -> Vec<(&'static str, &'static str)> {
    all_tools().iter().map(|t| (t.name, t.op)).collect()
}

/// Operations no MCP tool offers, and why. A tool reads and writes only through the engine (never
/// the server's files) and takes no secret key as an argument; the operator edits the policy
/// part by part (`upsert_gate`, ...: compare-and-swap, attested), never replaces it whole.
pub const NOT_TOOLS: &[(&str, &str)] = &[
    ("export_attestations", "writes a file on the server"),
    ("verify_export", "reads a file on the server"),
    (
        "set_policy",
        "a policy reaches the server by deployment, not by a tool call",
    ),
    (
        "cumulative_state",
        "offered page by page as get_cumulative_state",
    ),
    (
        "attestations_page",
        "get_attestations takes a limit and a time range",
    ),
    (
        "verify_chain",
        "verify_attestation checks a record; verify_store audits chains",
    ),
    (
        "checkpoint",
        "checkpointed signing is the host's: heads are written after decisions and by the host",
    ),
    (
        "inclusion_proof",
        "a chain read for auditors, like verify_chain: the host hands proofs to verifiers",
    ),
    (
        "consistency_proof",
        "a chain read for auditors, like verify_chain: the host hands proofs to verifiers",
    ),
    (
        "verify_inclusion_proof",
        "verified offline by the auditor (verify_inclusion_proof in every binding)",
    ),
    (
        "authenticate_api_key",
        "the host authenticates a key before the call (Caller::Key); a model has no use for it, \
         and a tool answering whether a guessed secret is valid would be an oracle",
    ),
];

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
    handle_with(engine, caller, issuer, message, &Context::default())
}

/// What the host's transport knows about a message beyond the message itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Context {
    /// Trace fields (e.g. the HTTP gateway's session and request ids) merged into the `trace`
    /// argument of every tool whose operation takes one. They win over the caller's own trace
    /// fields of the same name: the caller cannot forge what its transport recorded. The trace is
    /// recorded, never fingerprinted, so a retry through another session still replays.
    pub trace: Map<String, Value>,
}

/// [`handle`] with the transport's [`Context`].
pub fn handle_with(
    engine: &Engine,
    caller: &Caller,
    issuer: Option<&Issuer>,
    message: &str,
    context: &Context,
) -> Option<String> {
    let reply = match json::parse(message, Limits::PAYLOAD) {
        Ok(v) => handle_value_with(engine, caller, issuer, v, context),
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
    handle_value_with(engine, caller, issuer, message, &Context::default())
}

/// [`handle_with`] on a parsed message.
pub fn handle_value_with(
    engine: &Engine,
    caller: &Caller,
    issuer: Option<&Issuer>,
    message: Value,
    context: &Context,
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
        m => handle_one(engine, caller, issuer, m, context),
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
    context: &Context,
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
        "tools/list" => reply(json!({"tools": tools_for(caller)})),
        "tools/call" => match call_tool(engine, caller, issuer, &params, context) {
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
    context: &Context,
) -> std::result::Result<Value, (i64, String)> {
    let invalid = |m: String| (codes::INVALID_PARAMS, m);
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("tools/call needs a tool name".into()))?;
    let tool = all_tools()
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| invalid(format!("unknown tool: {name}")))?;
    if let (Caller::Key(key), false) = (caller, caller.may_call_tool(tool)) {
        let held: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
        return Ok(tool_result(Err(Error::Forbidden(format!(
            "{name} needs the scope {} and API key {} holds only {}",
            scope_of_tool(name),
            key.id,
            held.join(", ")
        )))));
    }
    if !caller.may_call_tool(tool) {
        return Ok(tool_result(
            Err(Error::Forbidden(format!(
                "{name} is an operator tool and this connection serves the {} role: an operator calls it on its own connection",
                caller.role().as_str()
            ))),
        ));
    }
    let mut args = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(other) => {
            return Ok(tool_result(Err(Error::argument(
                "",
                format!(
                    "{name}: the arguments must be an object, not {}",
                    json::type_name(other)
                ),
            ))))
        }
    };
    // `null` is an absent argument (as for every operation), and is so before the rules below:
    // an agent sending `passport: null` gets the connection's passport, not an anonymous call.
    args.retain(|_, v| !v.is_null());
    // Arguments the server supplies are not the caller's to give.
    if let Some(h) = tool.hidden.iter().find(|h| args.contains_key(**h)) {
        return Ok(tool_result(Err(Error::argument(
            format!("/{h}"),
            format!("{name}: unknown argument {h:?} (this server supplies it)"),
        ))));
    }
    if let Caller::Agent { passport, client } = caller {
        // The anonymous caller's key is the host's to set: an agent choosing it would get a
        // fresh per-client allowance on every call.
        if args.contains_key("client") {
            return Ok(tool_result(Err(Error::Forbidden(
                "client is set by the host for an anonymous caller, not by the agent".into(),
            ))));
        }
        if let (Some(p), true, false) = (
            passport,
            tool.takes("passport"),
            args.contains_key("passport"),
        ) {
            args.insert("passport".into(), Value::String(p.clone()));
        }
        // `evaluate`'s agent_id is an anonymous caller's client key when the host gives it; an
        // agent's is only recorded (`trace.claimed_agent_id`), never an identity to count.
        if tool.op == "evaluate" {
            claim_agent_id(&mut args);
        }
        let anonymous = !args.contains_key("passport");
        if let (Some(c), true) = (client, anonymous) {
            if tool.takes("client") {
                args.insert("client".into(), Value::String(c.clone()));
            } else if tool.op == "evaluate" {
                args.insert("agent_id".into(), Value::String(c.clone()));
            }
        }
        // An agent reads only its own evaluations: without a passport it has none.
        if tool.op == "get_evaluation" && anonymous {
            return Ok(tool_result(Err(Error::InvalidArgument(
                "get_evaluation needs a passport (none was given, and this connection has none)"
                    .into(),
            ))));
        }
    }
    // The transport's trace fields, over the caller's (a trace that is not an object is left
    // for the schema to refuse).
    if !context.trace.is_empty() && tool.takes("trace") {
        match args.get_mut("trace") {
            Some(Value::Object(trace)) => {
                for (k, v) in &context.trace {
                    trace.insert(k.clone(), v.clone());
                }
            }
            Some(_) => {}
            None => {
                args.insert("trace".into(), Value::Object(context.trace.clone()));
            }
        }
    }
    if let Caller::Operator { name: operator } = caller {
        if tool.takes("approver") && !args.contains_key("approver") {
            args.insert("approver".into(), Value::String(operator.clone()));
        }
    }
    if let Caller::Key(key) = caller {
        // `client` is the key's own (`key:<id>`): a key choosing it would get a fresh
        // per-client allowance on every call.
        if args.contains_key("client") {
            return Ok(tool_result(Err(Error::Forbidden(format!(
                "client is set by the server for an API key caller (key:{}), not by the caller",
                key.id
            )))));
        }
        if tool.takes("client") && !args.contains_key("passport") {
            args.insert("client".into(), Value::String(format!("key:{}", key.id)));
        }
        // `evaluate`'s agent_id is its anonymous client key: the key's own, the claim recorded.
        if tool.op == "evaluate" {
            claim_agent_id(&mut args);
            if !args.contains_key("passport") {
                args.insert("agent_id".into(), Value::String(format!("key:{}", key.id)));
            }
        }
        if tool.takes("trace") {
            let mut trace = match args.remove("trace") {
                Some(Value::Object(t)) => t,
                Some(other) => {
                    return Ok(tool_result(Err(Error::argument(
                        "/trace",
                        format!("trace must be an object, not {}", json::type_name(&other)),
                    ))))
                }
                None => Map::new(),
            };
            trace.insert("api_key_id".into(), Value::String(key.id.clone()));
            args.insert("trace".into(), Value::Object(trace));
        }
        if tool.takes("approver") && !args.contains_key("approver") {
            args.insert(
                "approver".into(),
                Value::String(format!("key:{}", key.name)),
            );
        }
    }
    let signs = tool.hidden.contains(&"issuer_secret");
    let outcome = match (tool.name, issuer) {
        (_, Some(issuer)) if signs => {
            args.insert("issuer_secret".into(), Value::String(issuer.secret()));
            ops::call(engine, tool.op, Value::Object(args))
        }
        (_, None) if signs => Err(Error::InvalidArgument(
            "this server has no issuer key: it issues no passports".into(),
        )),
        ("list_my_evaluations", _) if !args.contains_key("passport") => {
            Err(Error::InvalidArgument(
                "list_my_evaluations needs a passport (none was given, and this connection has none)"
                    .into(),
            ))
        }
        // A decide-only key reads its principal's evaluations, as an agent does: with a passport.
        ("get_evaluation", _)
            if !args.contains_key("passport")
                && matches!(caller, Caller::Key(k) if !k.has(Scope::ReadAttestations)) =>
        {
            Err(Error::InvalidArgument(
                "get_evaluation needs a passport for an API key without read:attestations".into(),
            ))
        }
        _ => ops::call(engine, tool.op, Value::Object(args)),
    };
    Ok(tool_result(outcome))
}

/// Moves a caller's `agent_id` (of `evaluate`) into `trace.claimed_agent_id`: recorded, never an
/// identity that counters count (a caller choosing a fresh one per call would get a fresh
/// allowance each time).
fn claim_agent_id(args: &mut Map<String, Value>) {
    if let Some(claimed) = args.remove("agent_id") {
        if let Value::Object(t) = args.entry("trace").or_insert_with(|| json!({})) {
            t.insert("claimed_agent_id".into(), claimed);
        }
    }
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
            let mut value = json!({"error": {"code": e.code(), "message": e.to_string()}});
            // Where the error is (a policy, payload or argument path), for the model to fix.
            if let (Some(path), Some(Value::Object(inner))) = (e.path(), value.get_mut("error")) {
                inner.insert("path".into(), Value::String(path.to_string()));
            }
            json!({
                "content": [{"type": "text", "text": value.to_string()}],
                "isError": true,
            })
        }
    }
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    /// Every tool has a scope: a tool added later without one fails here (and, unmapped, needs
    /// `admin:keys`, so it fails closed meanwhile).
    #[test]
    fn every_tool_maps_to_a_scope() {
        let unmapped: Vec<&str> = tool_operations()
            .into_iter()
            .map(|(tool, _)| tool)
            .filter(|t| mapped_scope(t).is_none())
            .collect();
        assert!(unmapped.is_empty(), "tools without a scope: {unmapped:?}");
        assert_eq!(scope_of_tool("no_such_tool"), Scope::AdminKeys);
    }

    /// The agent's tools are exactly the `decide` ones.
    #[test]
    fn the_decide_scope_is_the_agent_catalogue() {
        for (tool, _) in tool_operations() {
            let agent = Caller::agent(None).may_call(tool);
            assert_eq!(agent, scope_of_tool(tool) == Scope::Decide, "{tool}");
        }
    }
}
