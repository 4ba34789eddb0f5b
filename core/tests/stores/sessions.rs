//! Sessions (issue 17, item 4): the decisions of an MCP session, grouped from the store's
//! session index and summarised per principal. The agent is the adversary: naming another
//! session's id in its own trace gives it a row of its own, never a place in the other's; and
//! the session tools are the operator's.

use passgate::mcp::{self, Caller, Context, Role};
use passgate::{ops, Engine, Issuer, PassportRequest};
use serde_json::{json, Map, Value};

use crate::support::RedisServer;

fn engine(store: &str, issuer: &Issuer) -> Engine {
    Engine::builder()
        .policy_value(json!({"version": 1, "gates": {
            "pay": {"require": ["pay"], "constraints": [
                {"id": "daily", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"},
                {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 50}}
            ]}
        }}))
        .trusted_issuer(issuer.did())
        .store_url(store)
        .build()
        .unwrap()
}

fn tool(e: &Engine, caller: &Caller, session: &str, name: &str, args: Value) -> Value {
    let mut trace = Map::new();
    trace.insert("mcp_session_id".into(), json!(session));
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": name, "arguments": args}});
    let out = mcp::handle_with(e, caller, None, &msg.to_string(), &Context { trace }).unwrap();
    let r: Value = serde_json::from_str(&out).unwrap();
    serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap()
}

fn twenty_decisions_are_listed_with_their_aggregates(store: &str) {
    let issuer = Issuer::generate().unwrap();
    let e = engine(store, &issuer);
    let token = issuer
        .issue_passport(&PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    let agent = Caller::agent(Some(token.clone()));
    // 20 decisions in session s-1: 3 escalations over 50 (one approved later), 12 allowed
    // spends of 5 (2 of them holds, one settled), then 5 denies over the daily cap.
    let mut verdicts = Vec::new();
    let mut holds = Vec::new();
    let mut escalations = Vec::new();
    for _ in 0..3 {
        let d = tool(
            &e,
            &agent,
            "s-1",
            "enforce_action",
            json!({"gate": "pay", "payload": {"amount": 60}}),
        );
        escalations.push(d["evaluation_id"].clone());
        verdicts.push(d["decision"].as_str().unwrap().to_string());
    }
    for i in 0..12 {
        let d = tool(
            &e,
            &agent,
            "s-1",
            "enforce_action",
            json!({"gate": "pay", "payload": {"amount": 5}, "hold": i < 2}),
        );
        if let Some(h) = d["hold_id"].as_str() {
            holds.push(h.to_string());
        }
        verdicts.push(d["decision"].as_str().unwrap().to_string());
    }
    for _ in 0..5 {
        let d = tool(
            &e,
            &agent,
            "s-1",
            "enforce_action",
            json!({"gate": "pay", "payload": {"amount": 45}}),
        );
        verdicts.push(d["decision"].as_str().unwrap().to_string());
    }
    assert_eq!(verdicts.len(), 20);
    let count = |v: &str| verdicts.iter().filter(|x| *x == v).count() as u64;
    assert_eq!(
        (count("allow"), count("deny"), count("escalate")),
        (12, 5, 3),
        "{verdicts:?}"
    );
    ops::call(&e, "settle", json!({"hold_id": holds[0]})).unwrap();
    ops::call(
        &e,
        "approve",
        json!({"evaluation_id": escalations[0], "approver": "ops"}),
    )
    .unwrap();
    // Another session of the same agent, and an attacker naming s-1 in its own trace.
    tool(
        &e,
        &agent,
        "s-2",
        "enforce_action",
        json!({"gate": "pay", "payload": {"amount": 1}}),
    );
    let mallory = issuer
        .issue_passport(&PassportRequest::new("mallory", ["pay"]))
        .unwrap()
        .token;
    ops::call(
        &e,
        "enforce",
        json!({"gate": "pay", "passport": mallory,
        "payload": {"amount": 1}, "trace": {"mcp_session_id": "s-1"}}),
    )
    .unwrap();

    let listed = ops::call(&e, "sessions", json!({})).unwrap();
    let rows = listed["sessions"].as_array().unwrap();
    let alice = rows
        .iter()
        .find(|s| s["session_id"] == "s-1" && s["agent"] == "alice")
        .unwrap();
    assert_eq!(
        alice["decisions"],
        json!({"allow": 12, "deny": 5, "escalate": 3})
    );
    assert_eq!(alice["spend"], json!({"daily": "60"}));
    assert_eq!(alice["open_holds"], 1, "one hold settled, one open");
    assert_eq!(alice["pending_approvals"], 2, "one of three approved");
    assert!(alice["first_time"].as_i64() <= alice["last_time"].as_i64());
    let intruder = rows
        .iter()
        .find(|s| s["session_id"] == "s-1" && s["agent"] == "mallory")
        .unwrap();
    assert_eq!(intruder["decisions"], json!({"allow": 1}));
    assert!(rows.iter().any(|s| s["session_id"] == "s-2"));
    let only = ops::call(&e, "sessions", json!({"agent": "mallory"})).unwrap();
    assert_eq!(only["sessions"].as_array().unwrap().len(), 1);

    // One session: its decisions in order, as signed.
    let one = ops::call(&e, "session", json!({"session_id": "s-1"})).unwrap();
    let decisions = one["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 21);
    let got: Vec<&str> = decisions[..20]
        .iter()
        .map(|d| d["body"]["decision"].as_str().unwrap())
        .collect();
    assert_eq!(got, verdicts);
    assert_eq!(one["sessions"].as_array().unwrap().len(), 2);
    let limited = ops::call(&e, "session", json!({"session_id": "s-1", "limit": 3})).unwrap();
    assert_eq!(limited["decisions"].as_array().unwrap().len(), 3);
    let none = ops::call(&e, "session", json!({"session_id": "nope"})).unwrap();
    assert_eq!(none, json!({"sessions": [], "decisions": []}));
}

#[test]
fn a_session_of_twenty_decisions_on_memory() {
    twenty_decisions_are_listed_with_their_aggregates("memory:");
}

#[test]
fn a_session_of_twenty_decisions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    twenty_decisions_are_listed_with_their_aggregates(&format!(
        "sqlite://{}",
        dir.path().join("s.db").display()
    ));
}

#[test]
fn a_session_of_twenty_decisions_on_redis() {
    let server = RedisServer::start();
    twenty_decisions_are_listed_with_their_aggregates(&server.url("sessions"));
}

/// The session tools are the operator's (`read:attestations` for a key), never the agent's.
#[test]
fn the_session_tools_are_never_the_agents() {
    let agent_tools = mcp::tools(Role::Agent).to_string();
    for t in ["sessions", "session"] {
        assert!(!agent_tools.contains(&format!("\"{t}\"")), "{t}");
        assert!(mcp::operator_tool_names().contains(&t), "{t}");
        assert_eq!(
            mcp::scope_of_tool(t),
            passgate::apikey::Scope::ReadAttestations
        );
    }
}
