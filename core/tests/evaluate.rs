//! AgentNexus's `evaluate` and `get_evaluation`, and the MCP session arguments of the
//! evaluation operations: as operations, as MCP tools, and against an agent that chooses its
//! arguments.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use passgate::mcp::{self, Caller};
use passgate::{ops, Engine, Issuer, PassportRequest};
use serde_json::{json, Value};

struct World {
    engine: Engine,
    alice: String,
    bob: String,
}

fn world() -> World {
    let issuer = Issuer::generate().unwrap();
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": {
            "pay": {"require": ["pay"], "constraints": [
                {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 1000, "window": "1d"},
                {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 500}}
            ]}
        }, "anonymous": {"gates": ["search"], "constraints": [
            {"id": "per_client", "type": "rate_limit", "max": 1, "window": "1h", "scope": "client"}]}}))
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    let issue = |agent: &str| {
        issuer
            .issue_passport(&PassportRequest::new(agent, ["pay"]))
            .unwrap()
            .token
    };
    World {
        engine,
        alice: issue("alice"),
        bob: issue("bob"),
    }
}

fn record(engine: &Engine, evaluation_id: &Value) -> Value {
    ops::call(
        engine,
        "get_evaluation",
        json!({"evaluation_id": evaluation_id}),
    )
    .unwrap()["evaluation"]
        .clone()
}

fn call_as(engine: &Engine, caller: &Caller, name: &str, args: Value) -> (bool, Value) {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args}});
    let r = mcp::handle_value(engine, caller, None, msg).unwrap();
    let result = &r["result"];
    let text = result["content"][0]["text"].as_str().unwrap();
    (
        result["isError"].as_bool().unwrap(),
        serde_json::from_str(text).unwrap(),
    )
}

#[test]
fn session_arguments_land_in_the_trace_outside_the_fingerprint() {
    let w = world();
    let first = ops::call(
        &w.engine,
        "enforce",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 5}, "idempotency_key": "k",
               "mcp_session_id": "sess-1", "mcp_client_name": "Claude Desktop", "trace": {"request": 1}}),
    )
    .unwrap();
    let body = &record(&w.engine, &first["evaluation_id"])["body"];
    assert_eq!(body["trace"]["mcp_session_id"], "sess-1");
    assert_eq!(body["trace"]["mcp_client_name"], "Claude Desktop");
    assert_eq!(body["trace"]["request"], "1"); // trace numbers are recorded as decimal strings
                                               // Same key, another session and client: a retry (the stored decision), not a conflict.
    let again = ops::call(
        &w.engine,
        "enforce",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 5}, "idempotency_key": "k",
               "mcp_session_id": "sess-2", "mcp_client_name": "Cursor"}),
    )
    .unwrap();
    assert_eq!(again["evaluation_id"], first["evaluation_id"]);
    assert_eq!(again["replayed"], true, "{again}");
    // The same through evaluate.
    let third = ops::call(
        &w.engine,
        "evaluate",
        json!({"policy_name": "pay", "passport": w.alice, "payload_scope": {"amount": 5},
               "idempotency_key": "k", "mcp_session_id": "sess-3"}),
    )
    .unwrap();
    assert_eq!(third["evaluation_id"], first["evaluation_id"]);
    // A dry run takes them too.
    ops::call(
        &w.engine,
        "dry_run",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 5}, "mcp_session_id": "s"}),
    )
    .unwrap();
    // A trace value already set (as a host's gateway sets it) is kept.
    let d = ops::call(
        &w.engine,
        "enforce",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 1},
               "mcp_session_id": "claimed", "trace": {"mcp_session_id": "from-host"}}),
    )
    .unwrap();
    let body = &record(&w.engine, &d["evaluation_id"])["body"];
    assert_eq!(body["trace"]["mcp_session_id"], "from-host");
}

#[test]
fn session_arguments_are_short_printable_strings() {
    let w = world();
    for op in ["enforce", "dry_run", "evaluate"] {
        for (arg, bad) in [
            ("mcp_session_id", json!("x".repeat(257))),
            ("mcp_session_id", json!("")),
            ("mcp_client_name", json!("bell\u{7}")),
            ("mcp_client_name", json!("line\nbreak")),
            ("mcp_session_id", json!(42)),
        ] {
            let mut args = match op {
                "evaluate" => json!({"policy_name": "pay", "passport": w.alice}),
                _ => json!({"gate": "pay", "passport": w.alice}),
            };
            args[arg] = bad.clone();
            let e = ops::call(&w.engine, op, args).unwrap_err();
            let want = format!("/{arg}");
            assert_eq!(
                (e.code(), e.path()),
                ("INVALID_ARGUMENT", Some(want.as_str())),
                "{op} {arg}={bad}: {e}"
            );
        }
        let mut ok = match op {
            "evaluate" => json!({"policy_name": "pay", "passport": w.alice}),
            _ => json!({"gate": "pay", "passport": w.alice}),
        };
        ok["mcp_session_id"] = json!("é".repeat(256));
        ops::call(&w.engine, op, ok).unwrap();
    }
}

#[test]
fn evaluate_is_enforce_with_agentnexus_names() {
    let w = world();
    let d = ops::call(
        &w.engine,
        "evaluate",
        json!({"policy_name": "pay", "passport": w.alice, "payload_scope": {"amount": 900},
               "tool_calls": [{"name": "bank.transfer", "arguments": {"to": "x"}}, {"name": "noop"}],
               "artifacts": [{"name": "invoice.pdf", "media_type": "application/pdf",
                              "sha256": "a".repeat(64), "size": 1234}]}),
    )
    .unwrap();
    // The same decision as enforce (900 > the approval threshold: an escalation).
    assert_eq!(d["decision"], "escalate", "{d}");
    assert_eq!(d["gate"], "pay");
    let direct = ops::call(
        &w.engine,
        "dry_run",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 900}}),
    )
    .unwrap();
    assert_eq!(direct["decision"], d["decision"]);
    let body = &record(&w.engine, &d["evaluation_id"])["body"];
    assert_eq!(
        body["trace"]["tool_calls"],
        json!([{"name": "bank.transfer", "arguments": {"to": "x"}}, {"name": "noop"}])
    );
    assert_eq!(body["trace"]["artifacts"][0]["size"], "1234");
    // dry_run: true counts nothing and records nothing.
    let before = ops::call(&w.engine, "cumulative_state", json!({"gate": "pay"})).unwrap();
    let dry = ops::call(
        &w.engine,
        "evaluate",
        json!({"policy_name": "pay", "passport": w.alice, "payload_scope": {"amount": 10}, "dry_run": true}),
    )
    .unwrap();
    assert_eq!(dry["decision"], "allow");
    let after = ops::call(&w.engine, "cumulative_state", json!({"gate": "pay"})).unwrap();
    assert_eq!(before, after);
    let e = ops::call(
        &w.engine,
        "get_evaluation",
        json!({"evaluation_id": dry["evaluation_id"]}),
    )
    .unwrap_err();
    assert_eq!(e.code(), "EVALUATION_UNKNOWN");
    // The output is a decision (the enforce schema).
    let spec = ops::spec("evaluate").unwrap();
    assert_eq!(
        spec.output_schema,
        ops::spec("enforce").unwrap().output_schema
    );
}

#[test]
fn evaluate_caps_tool_calls_and_artifacts_at_their_path() {
    let w = world();
    let call = |extra: Value| {
        let mut args = json!({"policy_name": "pay", "passport": w.alice});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        ops::call(&w.engine, "evaluate", args).unwrap_err()
    };
    let many: Vec<Value> = (0..65).map(|i| json!({"name": format!("t{i}")})).collect();
    let cases = [
        (json!({"tool_calls": many}), "/tool_calls"),
        (
            json!({"artifacts": (0..65).map(|i| json!({"name": format!("a{i}")})).collect::<Vec<_>>()}),
            "/artifacts",
        ),
        (
            json!({"tool_calls": [{"name": "ok"}, {"name": ""}]}),
            "/tool_calls/1/name",
        ),
        (
            json!({"tool_calls": [{"name": "x".repeat(257)}]}),
            "/tool_calls/0/name",
        ),
        (
            json!({"tool_calls": [{"name": "t", "args": {}}]}),
            "/tool_calls/0",
        ),
        (
            json!({"artifacts": [{"name": "f", "sha256": "XYZ"}]}),
            "/artifacts/0/sha256",
        ),
        (
            json!({"artifacts": [{"name": "f", "size": -1}]}),
            "/artifacts/0/size",
        ),
        (json!({"tool_calls": "all of them"}), "/tool_calls"),
        (json!({"gate": "pay"}), "/gate"),
    ];
    for (extra, path) in cases {
        let e = call(extra.clone());
        assert_eq!(
            (e.code(), e.path()),
            ("INVALID_ARGUMENT", Some(path)),
            "{extra}: {e}"
        );
    }
    // 64 of each is fine.
    let calls: Vec<Value> = (0..64).map(|i| json!({"name": format!("t{i}")})).collect();
    let artifacts: Vec<Value> = (0..64).map(|i| json!({"name": format!("a{i}")})).collect();
    ops::call(
        &w.engine,
        "evaluate",
        json!({"policy_name": "pay", "passport": w.alice, "tool_calls": calls, "artifacts": artifacts}),
    )
    .unwrap();
    // Arguments past the trace's bounds are refused, not recorded truncated.
    let big: Vec<Value> = (0..64)
        .map(|i| json!({"name": format!("t{i}"), "arguments": {"blob": "x".repeat(1000)}}))
        .collect();
    let e = ops::call(
        &w.engine,
        "evaluate",
        json!({"policy_name": "pay", "passport": w.alice, "tool_calls": big}),
    )
    .unwrap_err();
    assert_ne!(e.code(), "INTERNAL", "{e}");
}

#[test]
fn an_anonymous_evaluation_counts_the_hosts_agent_id_as_its_client() {
    let w = world();
    let go = |agent: &str| {
        ops::call(
            &w.engine,
            "evaluate",
            json!({"policy_name": "search", "agent_id": agent}),
        )
        .unwrap()["decision"]
            .clone()
    };
    assert_eq!(go("host-a"), "allow");
    assert_eq!(go("host-a"), "deny");
    assert_eq!(go("host-b"), "allow");
    // With a passport, agent_id names no one: it is recorded as a claim.
    let d = ops::call(
        &w.engine,
        "evaluate",
        json!({"policy_name": "pay", "passport": w.alice, "agent_id": "mallory", "payload_scope": {"amount": 1}}),
    )
    .unwrap();
    let body = &record(&w.engine, &d["evaluation_id"])["body"];
    assert_eq!(body["trace"]["claimed_agent_id"], "mallory");
    assert_eq!(body["principal"]["agent_id"], "alice");
}

/// The attack: an anonymous agent picks a fresh agent_id per call to get a fresh per-client
/// allowance. From the agent role agent_id is only recorded; the host's client key counts.
#[test]
fn an_agent_rotating_agent_id_gets_no_fresh_allowance() {
    let w = world();
    let host_keyed = Caller::Agent {
        passport: None,
        client: Some("10.0.0.7".into()),
    };
    let (err, d) = call_as(
        &w.engine,
        &host_keyed,
        "evaluate",
        json!({"policy_name": "search", "agent_id": "fresh-1"}),
    );
    assert!(!err, "{d}");
    assert_eq!(d["decision"], "allow");
    let body = &record(&w.engine, &d["evaluation_id"])["body"];
    assert_eq!(body["trace"]["claimed_agent_id"], "fresh-1");
    assert_eq!(body["client"], "10.0.0.7", "{body}");
    for i in 2..5 {
        let (err, d) = call_as(
            &w.engine,
            &host_keyed,
            "evaluate",
            json!({"policy_name": "search", "agent_id": format!("fresh-{i}")}),
        );
        assert!(!err, "{d}");
        assert_eq!(d["decision"], "deny", "fresh-{i}: {d}");
    }
    // Without a host key the claim is no client either: the call is anonymous without one.
    let bare = Caller::agent(None);
    let (_, d) = call_as(
        &w.engine,
        &bare,
        "evaluate",
        json!({"policy_name": "search", "agent_id": "10.0.0.8"}),
    );
    assert_eq!(
        d["decision"], "deny",
        "no client key, no per-client allowance: {d}"
    );
    let body = &record(&w.engine, &d["evaluation_id"])["body"];
    assert!(body["client"].is_null(), "{body}");
    assert_eq!(body["trace"]["claimed_agent_id"], "10.0.0.8");
    // Nor can it set client directly.
    let (err, r) = call_as(
        &w.engine,
        &host_keyed,
        "evaluate",
        json!({"policy_name": "search", "client": "fresh"}),
    );
    assert!(err);
    assert_eq!(r["error"]["code"], "FORBIDDEN");
}

#[test]
fn get_evaluation_returns_the_record_and_its_lifecycle() {
    let w = world();
    let held = ops::call(
        &w.engine,
        "enforce",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 50}, "hold": true}),
    )
    .unwrap();
    ops::call(
        &w.engine,
        "settle",
        json!({"hold_id": held["hold_id"], "actual": {"amount": 40}}),
    )
    .unwrap();
    let got = ops::call(
        &w.engine,
        "get_evaluation",
        json!({"evaluation_id": held["evaluation_id"]}),
    )
    .unwrap();
    assert_eq!(
        got["evaluation"]["body"]["evaluation_id"],
        held["evaluation_id"]
    );
    assert_eq!(got["evaluation"]["body"]["kind"], "decision");
    let kinds: Vec<&str> = got["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["hold.settled"]);
    assert!(got["bundle"].is_null());
    // An escalation, then its approval.
    let esc = ops::call(
        &w.engine,
        "enforce",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 600}}),
    )
    .unwrap();
    ops::call(
        &w.engine,
        "approve",
        json!({"evaluation_id": esc["evaluation_id"], "approver": "ops"}),
    )
    .unwrap();
    let got = ops::call(
        &w.engine,
        "get_evaluation",
        json!({"evaluation_id": esc["evaluation_id"]}),
    )
    .unwrap();
    assert_eq!(
        got["events"][0]["body"]["kind"], "approval.granted",
        "{got}"
    );
    // Unknown ids.
    for id in ["evl_nope", "x"] {
        let e = ops::call(&w.engine, "get_evaluation", json!({"evaluation_id": id})).unwrap_err();
        assert_eq!(e.code(), "EVALUATION_UNKNOWN");
    }
    let e = ops::call(&w.engine, "get_evaluation", json!({"evaluation_id": ""})).unwrap_err();
    assert_eq!(
        (e.code(), e.path()),
        ("INVALID_ARGUMENT", Some("/evaluation_id"))
    );
}

/// The attack: agent B asks for agent A's evaluation by id. It gets what an unknown id gets.
#[test]
fn an_agent_reads_only_its_own_evaluations() {
    let w = world();
    let a = ops::call(
        &w.engine,
        "enforce",
        json!({"gate": "pay", "passport": w.alice, "payload": {"amount": 5}}),
    )
    .unwrap();
    let alice = Caller::agent(Some(w.alice.clone()));
    let bob = Caller::agent(Some(w.bob.clone()));
    let (err, mine) = call_as(
        &w.engine,
        &alice,
        "get_evaluation",
        json!({"evaluation_id": a["evaluation_id"]}),
    );
    assert!(!err, "{mine}");
    assert_eq!(
        mine["evaluation"]["body"]["evaluation_id"],
        a["evaluation_id"]
    );
    let id = a["evaluation_id"].as_str().unwrap();
    let unknown = "evl_00000000000000000000000000";
    let (err, theirs) = call_as(
        &w.engine,
        &bob,
        "get_evaluation",
        json!({"evaluation_id": id}),
    );
    assert!(err);
    let (err2, none) = call_as(
        &w.engine,
        &bob,
        "get_evaluation",
        json!({"evaluation_id": unknown}),
    );
    assert!(err2);
    assert_eq!(theirs["error"]["code"], "EVALUATION_UNKNOWN");
    assert_eq!(
        theirs.to_string().replace(id, "ID"),
        none.to_string().replace(unknown, "ID")
    );
    // Passing no passport does not widen it: the connection's is used. Without one: refused.
    let (err, r) = call_as(
        &w.engine,
        &Caller::agent(None),
        "get_evaluation",
        json!({"evaluation_id": id}),
    );
    assert!(err);
    assert_eq!(r["error"]["code"], "INVALID_ARGUMENT");
    let (err, _) = call_as(
        &w.engine,
        &bob,
        "get_evaluation",
        json!({"evaluation_id": id, "passport": null}),
    );
    assert!(err);
    // The operator reads any.
    let (err, _) = call_as(
        &w.engine,
        &Caller::operator("ops"),
        "get_evaluation",
        json!({"evaluation_id": id}),
    );
    assert!(!err);
}

#[test]
fn the_agent_catalogue_has_evaluate_and_get_evaluation() {
    let tools = mcp::tools(mcp::Role::Agent);
    let find = |n: &str| {
        tools
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .cloned()
            .unwrap()
    };
    let ev = find("evaluate");
    assert_eq!(ev["annotations"]["readOnlyHint"], false);
    assert_eq!(ev["inputSchema"]["required"], json!(["policy_name"]));
    assert!(ev["inputSchema"]["properties"]["passport"]["description"]
        .as_str()
        .unwrap()
        .contains("default: the one this connection was given"));
    let get = find("get_evaluation");
    assert_eq!(get["annotations"]["readOnlyHint"], true);
    assert!(get["description"].as_str().unwrap().contains("bundle"));
}
