//! The transport-free MCP handler: protocol, catalogue, argument validation, tool results.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use passgate::mcp::{self, Caller, Role};
use passgate::{verify_chain, Engine, Issuer, PassportRequest};
use serde_json::{json, Value};

fn setup() -> (Engine, Issuer, String) {
    let issuer = Issuer::generate().unwrap();
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {"payments.send": {"require": ["pay"], "constraints": [
            {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}]}}}))
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    let token = issuer
        .issue_passport(&PassportRequest::new("agent", ["pay"]))
        .unwrap()
        .token;
    (engine, issuer, token)
}

fn operator() -> Caller {
    Caller::operator("ops@example.com")
}

fn agent() -> Caller {
    Caller::agent(None)
}

fn rpc_as(engine: &Engine, caller: &Caller, issuer: Option<&Issuer>, msg: Value) -> Value {
    serde_json::from_str(&mcp::handle(engine, caller, issuer, &msg.to_string()).unwrap()).unwrap()
}

/// As the operator (every tool).
fn rpc(engine: &Engine, issuer: Option<&Issuer>, msg: Value) -> Value {
    rpc_as(engine, &operator(), issuer, msg)
}

fn call(engine: &Engine, issuer: Option<&Issuer>, name: &str, args: Value) -> (bool, Value) {
    call_as(engine, &operator(), issuer, name, args)
}

fn call_as(
    engine: &Engine,
    caller: &Caller,
    issuer: Option<&Issuer>,
    name: &str,
    args: Value,
) -> (bool, Value) {
    let r = rpc_as(
        engine,
        caller,
        issuer,
        json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": args}}),
    );
    let result = &r["result"];
    assert!(r.get("error").is_none(), "{r}");
    let text = result["content"][0]["text"].as_str().unwrap();
    let body: Value = serde_json::from_str(text).unwrap();
    assert_eq!(result["content"][0]["type"], "text");
    (result["isError"].as_bool().unwrap(), body)
}

#[test]
fn initialize_negotiates_versions_and_notifications_get_no_answer() {
    let (e, ..) = setup();
    for v in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let r = rpc(
            &e,
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
        );
        assert_eq!(r["result"]["protocolVersion"], v);
        assert_eq!(r["result"]["serverInfo"]["name"], "passgate");
        assert!(r["result"]["capabilities"]["tools"].is_object());
    }
    let r = rpc(
        &e,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "1999-01-01"}}),
    );
    assert_eq!(r["result"]["protocolVersion"], mcp::PROTOCOL_VERSIONS[0]);
    assert!(mcp::handle(
        &e,
        &agent(),
        None,
        r#"{"jsonrpc": "2.0", "method": "notifications/initialized"}"#
    )
    .is_none());
    assert_eq!(
        rpc(
            &e,
            None,
            json!({"jsonrpc": "2.0", "id": "p", "method": "ping"})
        )["result"],
        json!({})
    );
}

#[test]
fn protocol_faults_are_json_rpc_errors() {
    let (e, ..) = setup();
    let code = |text: &str| -> i64 {
        serde_json::from_str::<Value>(&mcp::handle(&e, &agent(), None, text).unwrap()).unwrap()
            ["error"]["code"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(code("{not json"), -32700);
    assert_eq!(
        code(r#"{"jsonrpc": "2.0", "id": 1, "id": 2, "method": "ping"}"#),
        -32700,
        "duplicate keys are refused by the one parser"
    );
    assert_eq!(
        code(r#"{"jsonrpc": "1.0", "id": 1, "method": "ping"}"#),
        -32600
    );
    assert_eq!(code(r#"[]"#), -32600);
    assert_eq!(
        code(r#"{"jsonrpc": "2.0", "id": 1, "method": "resources/list"}"#),
        -32601
    );
    assert_eq!(
        code(r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "nope"}}"#),
        -32602
    );
    // Arguments that fail a tool's schema are a tool error result (MCP 2025-11-25), naming the
    // JSON path, so the model can correct its call.
    let (err, r) = call_as(
        &e,
        &agent(),
        None,
        "enforce_action",
        json!({"gate": "g", "hold": "yes"}),
    );
    assert!(err);
    assert_eq!(r["error"]["code"], "INVALID_ARGUMENT");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("at /hold"),
        "{r}"
    );
    assert_eq!(r["error"]["path"], "/hold", "{r}");
    // A payload that is not an object is the payload's fault, as on every surface.
    let (err, r) = call_as(
        &e,
        &agent(),
        None,
        "enforce_action",
        json!({"gate": "g", "payload": []}),
    );
    assert!(err);
    assert_eq!(r["error"]["code"], "PAYLOAD_INVALID", "{r}");
    // A typo is named with what was meant.
    let (err, r) = call_as(
        &e,
        &agent(),
        None,
        "enforce_action",
        json!({"gate": "g", "paylaod": {}}),
    );
    assert!(err);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean \"payload\""),
        "{r}"
    );
    // A batch is refused whole (a host checking each message could be bypassed by one), empty
    // or not, and nothing in it runs.
    for batch in [
        json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "ping"}]),
        json!([{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "revoke_passport", "arguments": {"passport_id": "psp_x"}}}]),
        json!([]),
    ] {
        let r = rpc(&e, None, batch);
        assert_eq!(r["error"]["code"], -32600, "{r}");
    }
    assert!(e
        .attestations(&passgate::AttestationFilter {
            kind: Some("revocation".into()),
            ..Default::default()
        })
        .unwrap()
        .is_empty());
    // A response sent by a client is not answered.
    assert_eq!(
        mcp::handle(
            &e,
            &agent(),
            None,
            r#"{"jsonrpc": "2.0", "id": 7, "result": {}}"#
        ),
        None
    );
}

#[test]
fn the_catalogue_lists_every_tool_with_a_schema() {
    let (e, ..) = setup();
    let r = rpc(
        &e,
        None,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    let names: Vec<&str> = r["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for t in [
        "enforce_action",
        "authorize_dry_run",
        "verify_passport",
        "issue_passport",
        "revoke_passport",
        "list_gates",
        "get_gate",
        "list_constraint_types",
        "list_constraint_templates",
        "get_cumulative_state",
        "reset_cumulative_state",
        "get_attestations",
        "verify_attestation",
        "settle_hold",
        "release_hold",
        "approve",
        "deny_approval",
    ] {
        assert!(names.contains(&t), "{t}");
    }
    for t in r["result"]["tools"].as_array().unwrap() {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().unwrap().len() > 20);
        assert!(t["title"].as_str().is_some_and(|s| !s.is_empty()), "{t}");
        for hint in ["readOnlyHint", "destructiveHint", "idempotentHint"] {
            assert!(t["annotations"][hint].is_boolean(), "{t}: {hint}");
        }
    }
    let annotations = |name: &str| {
        r["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["annotations"]
            .clone()
    };
    assert_eq!(annotations("authorize_dry_run")["readOnlyHint"], true);
    assert_eq!(annotations("enforce_action")["readOnlyHint"], false);
    assert_eq!(
        annotations("reset_cumulative_state")["destructiveHint"],
        true
    );
}

#[test]
fn tools_decide_explain_and_attest() {
    let (e, issuer, token) = setup();
    let (err, d) = call(
        &e,
        None,
        "enforce_action",
        json!({"gate": "payments.send", "passport": token, "payload": {"amount": 60}, "trace": {"mcp_request_id": 7}}),
    );
    assert!(!err);
    assert_eq!(d["decision"], "allow");
    let (err, d) = call(
        &e,
        None,
        "enforce_action",
        json!({"gate": "payments.send", "passport": token, "payload": {"amount": 60}}),
    );
    assert!(!err, "a deny is an answer, not an error result");
    assert_eq!(d["decision"], "deny");
    let failed: Vec<&Value> = d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .collect();
    assert_eq!(failed[0]["constraint"], "cap");
    let (err, d) = call(
        &e,
        None,
        "authorize_dry_run",
        json!({"gate": "payments.send", "passport": token, "payload": {"amount": 40}}),
    );
    assert!(!err && d["dry_run"] == true);
    let (err, d) = call(&e, None, "verify_passport", json!({"passport": "x.y.z"}));
    assert!(err);
    assert_eq!(d["error"]["code"], "PASSPORT_MALFORMED");
    let (_, s) = call(
        &e,
        None,
        "get_cumulative_state",
        json!({"gate": "payments.send"}),
    );
    assert_eq!(s["counters"][0]["used"], "60");
    let (_, a) = call(&e, None, "get_attestations", json!({}));
    let records = a["attestations"].as_array().unwrap();
    assert_eq!(records.len(), 2);
    verify_chain(records, e.signer_did()).unwrap();
    let (err, v) = call(
        &e,
        None,
        "verify_attestation",
        json!({"record": records[0]}),
    );
    assert!(!err && v["valid"] == true);
    // Issuing needs an issuer key on the server.
    let (err, r) = call(
        &e,
        None,
        "issue_passport",
        json!({"agent_id": "x", "permissions": ["pay"]}),
    );
    assert!(err);
    assert_eq!(r["error"]["code"], "INVALID_ARGUMENT");
    let (err, p) = call(
        &e,
        Some(&issuer),
        "issue_passport",
        json!({"agent_id": "x", "permissions": ["pay"], "expires_in_days": 1}),
    );
    assert!(!err);
    let (err, _) = call(
        &e,
        None,
        "revoke_passport",
        json!({"passport_id": p["passport_id"]}),
    );
    assert!(!err);
    let (err, d) = call(
        &e,
        None,
        "enforce_action",
        json!({"gate": "payments.send", "passport": p["token"], "payload": {"amount": 1}}),
    );
    assert!(!err);
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["checks"][0]["code"], "PASSPORT_REVOKED");
}

const AGENT_TOOLS: [&str; 9] = [
    "enforce_action",
    "authorize_dry_run",
    "evaluate",
    "get_evaluation",
    "verify_passport",
    "list_allowed_gates",
    "list_my_evaluations",
    "discover_services",
    "get_catalog",
];

fn names(list: &Value) -> Vec<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_agent_lists_only_agent_tools() {
    let (e, ..) = setup();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let mut seen = names(&rpc_as(&e, &agent(), None, list.clone()));
    seen.sort();
    let mut want: Vec<String> = AGENT_TOOLS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(seen, want);
    // The static catalogues agree with tools/list.
    assert_eq!(
        mcp::tools(Role::Agent).as_array().unwrap().len(),
        AGENT_TOOLS.len()
    );
    let operator_names = names(&rpc(&e, None, list));
    assert_eq!(
        operator_names.len(),
        mcp::tools(Role::Operator).as_array().unwrap().len()
    );
    for t in mcp::operator_tool_names() {
        assert!(operator_names.iter().any(|n| n == t));
        assert!(!AGENT_TOOLS.contains(&t));
    }
}

/// The review's attack: past its daily cap, the agent calls reset_cumulative_state (and every
/// other operator tool) on its own connection. Each is refused as FORBIDDEN, naming the role,
/// and nothing changes: the next payment is still denied.
#[test]
fn an_agent_cannot_call_operator_tools() {
    let (e, issuer, token) = setup();
    let me = Caller::agent(Some(token.clone()));
    let pay = |amount: u32| {
        call_as(
            &e,
            &me,
            None,
            "enforce_action",
            json!({"gate": "payments.send", "payload": {"amount": amount}}),
        )
        .1["decision"]
            .clone()
    };
    assert_eq!(pay(100), "allow");
    assert_eq!(pay(1), "deny");
    let before = e.attestations(&Default::default()).unwrap().len();
    let attempts = [
        ("reset_cumulative_state", json!({})),
        ("reset_cumulative_state", json!({"agent_id": "agent"})),
        (
            "issue_passport",
            json!({"agent_id": "agent", "permissions": ["*"]}),
        ),
        ("revoke_passport", json!({"passport_id": "psp_other"})),
        ("approve", json!({"evaluation_id": "ev_x"})),
        (
            "deny_approval",
            json!({"evaluation_id": "ev_x", "reason": "no"}),
        ),
        ("settle_hold", json!({"hold_id": "hld_x"})),
        ("release_hold", json!({"hold_id": "hld_x"})),
        ("get_attestations", json!({})),
        ("get_cumulative_state", json!({})),
        ("list_gates", json!({})),
        ("get_gate", json!({"gate": "payments.send"})),
        ("verify_attestation", json!({"record": {}})),
        ("list_constraint_types", json!({})),
        ("list_constraint_templates", json!({})),
    ];
    for (tool, args) in attempts {
        let (err, r) = call_as(&e, &me, Some(&issuer), tool, args);
        assert!(err, "{tool}: {r}");
        assert_eq!(r["error"]["code"], "FORBIDDEN", "{tool}: {r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("operator"),
            "{r}"
        );
    }
    // Even with malformed arguments the answer is the role, not a schema hint.
    let (_, r) = call_as(&e, &me, None, "approve", json!({"nope": 1}));
    assert_eq!(r["error"]["code"], "FORBIDDEN");
    assert_eq!(pay(1), "deny", "the cap still holds");
    // Only the two denied/allowed decisions above were attested after `before` (the final one).
    assert_eq!(
        e.attestations(&Default::default()).unwrap().len(),
        before + 1
    );
}

/// The other half of the review's attack: the agent approves its own escalation. It cannot
/// call approve; an operator naming the agent as approver is refused too (the engine's floor);
/// the operator's approval admits the retry once.
#[test]
fn an_agent_cannot_approve_its_own_escalation() {
    let issuer = Issuer::generate().unwrap();
    let e = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {"payments.send": {"require": ["pay"], "constraints": [
            {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 50}}]}}}))
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    let token = issuer
        .issue_passport(&PassportRequest::new("bot-7", ["pay"]))
        .unwrap()
        .token;
    let me = Caller::agent(Some(token));
    let req = json!({"gate": "payments.send", "payload": {"amount": 80}});
    let (err, d) = call_as(&e, &me, None, "enforce_action", req.clone());
    assert!(!err, "an escalation is an answer: {d}");
    assert_eq!(d["decision"], "escalate");
    let ev = d["evaluation_id"].as_str().unwrap().to_string();
    let (_, r) = call_as(&e, &me, None, "approve", json!({"evaluation_id": ev}));
    assert_eq!(r["error"]["code"], "FORBIDDEN");
    for name in ["bot-7", &format!("bot-7@{}", issuer.did())] {
        let (err, r) = call(
            &e,
            None,
            "approve",
            json!({"evaluation_id": ev, "approver": name}),
        );
        assert!(err);
        assert_eq!(r["error"]["code"], "FORBIDDEN", "{name}: {r}");
        assert_eq!(
            e.approve(&ev, name, None).unwrap_err().code(),
            "FORBIDDEN",
            "the engine refuses it whatever the host"
        );
    }
    // The operator approves (as itself: its name is the approver).
    let (err, t) = call(&e, None, "approve", json!({"evaluation_id": ev}));
    assert!(!err, "{t}");
    let approval = t["approval"].as_str().unwrap().to_string();
    let granted = e
        .attestations(&passgate::AttestationFilter {
            kind: Some("approval.granted".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        granted[0]["body"]["data"]["approver"], "ops@example.com",
        "{granted:?}"
    );
    let mut retry = req;
    retry["approval"] = json!(approval);
    let (_, d) = call_as(&e, &me, None, "enforce_action", retry.clone());
    assert_eq!(d["decision"], "allow", "{d}");
    let (_, d) = call_as(&e, &me, None, "enforce_action", retry);
    assert_ne!(d["decision"], "allow", "single use: {d}");
}

/// The connection's passport is used when a call gives none; the agent reads its own
/// evaluations and gates, never another agent's.
#[test]
fn an_agent_sees_its_own_gates_and_evaluations() {
    let (e, issuer, token) = setup();
    let other = issuer
        .issue_passport(&PassportRequest::new("other", ["pay"]))
        .unwrap()
        .token;
    let me = Caller::agent(Some(token));
    let them = Caller::agent(Some(other));
    for who in [&me, &them, &me] {
        let (_, d) = call_as(
            &e,
            who,
            None,
            "enforce_action",
            json!({"gate": "payments.send", "payload": {"amount": 1}}),
        );
        assert_eq!(d["decision"], "allow");
    }
    let (err, mine) = call_as(&e, &me, None, "list_my_evaluations", json!({}));
    assert!(!err, "{mine}");
    let mine = mine["evaluations"].as_array().unwrap().clone();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|r| r["body"]["agent_id"] == "agent"));
    let (_, limited) = call_as(&e, &me, None, "list_my_evaluations", json!({"limit": 1}));
    assert_eq!(limited["evaluations"].as_array().unwrap().len(), 1);
    // Without a passport (none on the connection, none given) there is nothing to list.
    let (err, r) = call_as(&e, &agent(), None, "list_my_evaluations", json!({}));
    assert!(err);
    assert_eq!(r["error"]["code"], "INVALID_ARGUMENT");
    let (err, g) = call_as(&e, &me, None, "list_allowed_gates", json!({}));
    assert!(!err);
    assert_eq!(g["gates"], json!(["payments.send"]));
    let (_, g) = call_as(&e, &agent(), None, "list_allowed_gates", json!({}));
    assert_eq!(g["gates"], json!([]));
}

/// An anonymous agent cannot pick its own `client` key (a fresh per-client allowance on every
/// call); the host's key for it is used.
#[test]
fn an_agent_cannot_choose_its_client_key() {
    let e = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {}, "anonymous": {"gates": ["search"], "constraints": [
            {"id": "per_client", "type": "rate_limit", "max": 1, "window": "1h", "scope": "client"}]}}))
        .build()
        .unwrap();
    let (err, r) = call_as(
        &e,
        &agent(),
        None,
        "enforce_action",
        json!({"gate": "search", "client": "fresh-1"}),
    );
    assert!(err);
    assert_eq!(r["error"]["code"], "FORBIDDEN");
    let host_keyed = Caller::Agent {
        passport: None,
        client: Some("10.0.0.7".into()),
    };
    let go = || {
        call_as(
            &e,
            &host_keyed,
            None,
            "enforce_action",
            json!({"gate": "search"}),
        )
        .1
    };
    assert_eq!(go()["decision"], "allow", "{}", go());
    assert_eq!(go()["decision"], "deny");
}

#[test]
fn callers_parse_from_plain_arguments() {
    assert_eq!(
        Caller::parse("agent", Some("t".into()), None).unwrap(),
        Caller::agent(Some("t".into()))
    );
    assert_eq!(
        Caller::parse("operator", None, None).unwrap(),
        Caller::operator("operator")
    );
    for (role, passport, name) in [
        ("root", None, None),
        ("operator", Some("t".to_string()), None),
        ("agent", None, Some("ops".to_string())),
    ] {
        assert_eq!(
            Caller::parse(role, passport, name).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }
}

/// The agent's read: a `null` passport (or client) is an absent one. It does not turn a call on a
/// connection with a passport into an anonymous call without the host's client key.
#[test]
fn a_null_passport_from_the_agent_is_the_connections_passport() {
    let (e, _, token) = setup();
    let connection = Caller::agent(Some(token));
    let (err, d) = call_as(
        &e,
        &connection,
        None,
        "enforce_action",
        json!({"gate": "payments.send", "payload": {"amount": 5}, "passport": null}),
    );
    assert!(!err, "{d}");
    assert_eq!(d["decision"], "allow", "{d}");
    assert_eq!(d["agent_id"], "agent", "{d}");
    let (err, d) = call_as(
        &e,
        &connection,
        None,
        "authorize_dry_run",
        json!({"gate": "payments.send", "payload": {"amount": 5}, "client": null}),
    );
    assert!(!err, "{d}");
    assert_eq!(d["agent_id"], "agent", "{d}");
}

/// The seed's (Modei's) tool names outside commerce, so a client written for its tool list finds
/// its tools. The registry's (`get_passport`, `list_passports`, `list_issuers`) are checked by
/// their own tests.
const SEED_TOOLS: &[&str] = &[
    "create_gate",
    "get_gate",
    "list_gates",
    "update_gate",
    "delete_gate",
    "check_gate",
    "set_constraints",
    "get_constraints",
    "list_constraint_types",
    "list_constraint_templates",
    "apply_constraint_template",
    "create_constraint_template",
    "set_anonymous_policy",
    "get_anonymous_policy",
    "get_anonymous_log",
    "create_passport",
    "reissue_passport",
    "record_attestation",
    "get_enforcement_attestation",
    "get_enforcement_attestations",
    "verify_enforcement_attestation",
];

/// Every seed tool is in the operator's catalogue (never the agent's), and a second name runs
/// the same operation as the first: `create_passport` issues with the server's issuer key (not
/// an argument), `check_gate` answers as a dry run, `get_enforcement_attestation` returns the
/// evaluation's signed record, `reissue_passport` replaces a passport and revokes the old one.
#[test]
fn the_seed_tool_names_are_operator_tools_that_work() {
    let (engine, issuer, token) = setup();
    let operator_tools: Vec<String> = mcp::tools(Role::Operator)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    let agent_tools = mcp::tools(Role::Agent).to_string();
    for t in SEED_TOOLS {
        assert!(operator_tools.iter().any(|n| n == t), "{t} is not listed");
        assert!(
            !agent_tools.contains(&format!("\"{t}\"")),
            "{t} is an agent tool"
        );
        assert!(mcp::operator_tool_names().contains(t), "{t}");
    }
    // A second name has its first's schema.
    let schema = |name: &str| {
        mcp::tools(Role::Operator)
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()["inputSchema"]
            .clone()
    };
    assert_eq!(schema("create_passport"), schema("issue_passport"));
    assert_eq!(schema("set_constraints"), schema("set_gate_constraints"));

    let (err, issued) = call(
        &engine,
        Some(&issuer),
        "create_passport",
        json!({"agent_id": "bob", "permissions": ["pay"]}),
    );
    assert!(!err, "{issued}");
    let (err, body) = call(
        &engine,
        Some(&issuer),
        "create_passport",
        json!({"agent_id": "bob", "issuer_secret": issuer.secret()}),
    );
    assert!(err && body["error"]["code"] == "INVALID_ARGUMENT", "{body}");
    let (err, checked) = call(
        &engine,
        None,
        "check_gate",
        json!({"gate": "payments.send", "passport": issued["token"], "payload": {"amount": 500}}),
    );
    assert!(!err, "{checked}");
    assert_eq!(checked["decision"], "deny");
    let (_, decided) = call_as(
        &engine,
        &Caller::agent(Some(token.clone())),
        None,
        "enforce_action",
        json!({"gate": "payments.send", "payload": {"amount": 5}}),
    );
    let (err, att) = call(
        &engine,
        None,
        "get_enforcement_attestation",
        json!({"evaluation_id": decided["evaluation_id"]}),
    );
    assert!(!err, "{att}");
    assert_eq!(
        att["evaluation"]["body"]["evaluation_id"], decided["evaluation_id"],
        "{att}"
    );
    let (err, reissued) = call(
        &engine,
        Some(&issuer),
        "reissue_passport",
        json!({"passport": issued["token"]}),
    );
    assert!(!err, "{reissued}");
    let (err, verified) = call(
        &engine,
        None,
        "verify_passport",
        json!({"passport": issued["token"]}),
    );
    assert!(err, "{verified}");
    assert_eq!(verified["error"]["code"], "PASSPORT_REVOKED");
    let (err, anon) = call(&engine, None, "get_anonymous_policy", json!({}));
    assert!(!err && anon["anonymous"].is_null(), "{anon}");
}
