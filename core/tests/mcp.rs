//! The transport-free MCP handler: protocol, catalogue, argument validation, tool results.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use passgate::{mcp, verify_chain, Engine, Issuer, PassportRequest};
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

fn rpc(engine: &Engine, issuer: Option<&Issuer>, msg: Value) -> Value {
    serde_json::from_str(&mcp::handle(engine, issuer, &msg.to_string()).unwrap()).unwrap()
}

fn call(engine: &Engine, issuer: Option<&Issuer>, name: &str, args: Value) -> (bool, Value) {
    let r = rpc(
        engine,
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
        serde_json::from_str::<Value>(&mcp::handle(&e, None, text).unwrap()).unwrap()["error"]
            ["code"]
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
    let r: Value = serde_json::from_str(&mcp::handle(&e, None, r#"{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "enforce_action", "arguments": {"gate": "g", "payload": []}}}"#).unwrap()).unwrap();
    assert_eq!(r["error"]["code"], -32602);
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at /payload"),
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
        mcp::handle(&e, None, r#"{"jsonrpc": "2.0", "id": 7, "result": {}}"#),
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
    }
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
    assert!(err, "a deny is an error result");
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
    assert!(err);
    assert_eq!(d["checks"][0]["code"], "PASSPORT_REVOKED");
}
