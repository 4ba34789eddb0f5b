//! The operation contract: every operation of `passgate::ops` is reachable by name with the
//! arguments its schema names, returns what its output schema says, is the same through the
//! seam, and is an MCP tool (or listed in `mcp::NOT_TOOLS` with a reason) whose input schema
//! is the operation's. A new operation without a sample call below fails this test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::collections::{BTreeSet, HashMap};

use passgate::mcp::{self, Caller};
use passgate::{ops, seam, Engine, Issuer, KeyPair};
use serde_json::{json, Value};

const POLICY: &str = r#"{"version": 1, "gates": {
  "pay": {"require": ["pay"], "constraints": [
    {"id": "daily", "type": "spend_limit", "field": "/amount", "max": 5000, "window": "1d"},
    {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 1000}}
  ]},
  "open": {}
}, "anonymous": {"gates": ["open"]}}"#;

struct World {
    engine: Engine,
    vars: HashMap<&'static str, Value>,
    dir: tempfile::TempDir,
}

fn world() -> World {
    let issuer = Issuer::generate().unwrap();
    let key = KeyPair::generate().unwrap();
    let engine = seam::engine(&json!({
        "policy": serde_json::from_str::<Value>(POLICY).unwrap(),
        "trusted_issuers": [issuer.did()],
        "signing_key": key.secret(),
    }))
    .unwrap();
    let issue = |agent: &str| {
        seam::issue_passport(
            &json!({"issuer_secret": issuer.secret(), "agent_id": agent, "permissions": ["pay"]}),
        )
        .unwrap()
    };
    let alice = issue("alice");
    let carol = issue("carol");
    let victim = issue("victim");
    let enforce = |amount: i64, hold: bool| {
        ops::call(
            &engine,
            "enforce",
            json!({"gate": "pay", "passport": alice["token"], "payload": {"amount": amount}, "hold": hold}),
        )
        .unwrap()
    };
    let hold1 = enforce(10, true)["hold_id"].clone();
    let hold2 = enforce(20, true)["hold_id"].clone();
    let esc1 = enforce(2000, false)["evaluation_id"].clone();
    let esc2 = enforce(3000, false)["evaluation_id"].clone();
    let records = ops::call(&engine, "attestations", json!({"chain": engine.chain_id()})).unwrap()
        ["attestations"]
        .clone();
    let api_key = ops::call(
        &engine,
        "create_api_key",
        json!({"name": "ci", "scopes": ["decide"]}),
    )
    .unwrap();
    let events = ops::call(&engine, "events", json!({})).unwrap();
    ops::call(
        &engine,
        "create_catalog",
        json!({"gate": "pay", "catalog": catalog(100)}),
    )
    .unwrap();
    let published = ops::call(&engine, "publish_catalog", json!({"gate": "pay"})).unwrap();
    // Calls under the catalog's terms: one consumed and settled, one left to consume.
    let consumed = enforce(5, false)["evaluation_id"].clone();
    let to_consume = enforce(6, false)["evaluation_id"].clone();
    let hold3 = enforce(7, true)["hold_id"].clone();
    ops::call(
        &engine,
        "issue_consumption_attestation",
        json!({"evaluation_id": consumed, "outcome": "success"}),
    )
    .unwrap();
    let settlement = ops::call(
        &engine,
        "generate_settlement",
        json!({"from": 0, "to": 4_000_000_000_000i64}),
    )
    .unwrap();
    let bundle = ops::call(
        &engine,
        "export_settlement",
        json!({"settlement_id": settlement["settlement_id"]}),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("export.jsonl");
    let mut vars = HashMap::new();
    vars.insert("$to_consume", to_consume);
    vars.insert("$hold3", hold3);
    vars.insert("$settlement", settlement["settlement_id"].clone());
    vars.insert("$settlement_doc", bundle["settlement"].clone());
    vars.insert("$settlement_records", bundle["consumptions"].clone());
    vars.insert("$issuer_did", json!(issuer.did()));
    vars.insert("$event_id", events["events"][0]["id"].clone());
    vars.insert("$catalog2", catalog(120));
    vars.insert("$catalog_doc", published["document"].clone());
    vars.insert("$catalog_hash", published["content_hash"].clone());
    vars.insert("$event_cursor", events["cursor"].clone());
    vars.insert("$token", alice["token"].clone());
    vars.insert("$carol", carol["token"].clone());
    vars.insert("$victim_id", victim["passport_id"].clone());
    vars.insert("$secret", json!(issuer.secret()));
    vars.insert("$agent_secret", alice["private_key"].clone());
    vars.insert("$signer", json!(engine.signer_did()));
    vars.insert("$hold1", hold1);
    vars.insert("$hold2", hold2);
    vars.insert("$esc1", esc1);
    vars.insert("$esc2", esc2);
    ops::call(&engine, "checkpoint", json!({})).unwrap();
    vars.insert(
        "$proof",
        ops::call(&engine, "inclusion_proof", json!({"seq": 1})).unwrap(),
    );
    vars.insert("$record", records[0].clone());
    vars.insert("$records", records);
    vars.insert("$export", json!(export.to_str().unwrap()));
    vars.insert("$key_secret", api_key["secret"].clone());
    vars.insert("$key_id", api_key["id"].clone());
    vars.insert("$policy", serde_json::from_str(POLICY).unwrap());
    // A template's placeholder, kept as it is.
    vars.insert("$max", json!("$max"));
    vars.insert("$alice_id", alice["passport_id"].clone());
    vars.insert("$other_did", json!(Issuer::generate().unwrap().did()));
    vars.insert(
        "$trust_doc",
        ops::call(&engine, "export_trust", json!({})).unwrap(),
    );
    World { engine, vars, dir }
}

fn catalog(amount: u64) -> Value {
    json!({"gate": "pay", "trust_level": "L1", "offers": [{"permission": "pay", "price": {"amount": amount, "currency": "USD"}, "pricing": {"model": "per_call"}}]})
}

fn fill(v: &Value, vars: &HashMap<&'static str, Value>) -> Value {
    match v {
        Value::String(s) if s.starts_with('$') => vars
            .get(s.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no {s}")),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, vars)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, x)| (k.clone(), fill(x, vars))).collect())
        }
        other => other.clone(),
    }
}

/// One sample call per operation, in an order that state allows (export before verify_export,
/// revocations and reissue last).
fn samples() -> Vec<(&'static str, Value)> {
    vec![
        (
            "enforce",
            json!({"gate": "pay", "passport": "$token", "payload": {"amount": 5}, "idempotency_key": "k1", "trace": {"mcp_session_id": "s"}, "notify": "https://hooks.example.com/pg"}),
        ),
        ("dry_run", json!({"gate": "open", "client": "10.0.0.1"})),
        (
            "evaluate",
            json!({"policy_name": "pay", "passport": "$token", "payload_scope": {"amount": 5}, "mcp_session_id": "s", "mcp_client_name": "c", "tool_calls": [{"name": "t"}], "artifacts": [{"name": "a"}]}),
        ),
        (
            "get_evaluation",
            json!({"evaluation_id": "$esc1", "passport": "$token"}),
        ),
        ("verify_passport", json!({"passport": "$token"})),
        ("allowed_gates", json!({"passport": "$token"})),
        (
            "list_my_evaluations",
            json!({"passport": "$token", "gate": "pay", "decision": "allow", "limit": 5}),
        ),
        (
            "cumulative_state",
            json!({"gate": "pay", "agent_id": "alice"}),
        ),
        ("cumulative_state_page", json!({"gate": "pay", "limit": 2})),
        (
            "attestations",
            json!({"gate": "pay", "decision": "allow", "limit": 3}),
        ),
        ("attestations_page", json!({"kind": "decision", "limit": 2})),
        ("anonymous_log", json!({})),
        (
            "record_attestation",
            json!({"kind": "tool.result", "data": {"ok": true}}),
        ),
        ("chain_head", json!({})),
        (
            "verify_attestation",
            json!({"record": "$record", "did": "$signer"}),
        ),
        ("verify_chain", json!({"records": "$records"})),
        ("checkpoint", json!({})),
        ("inclusion_proof", json!({"seq": 1})),
        ("consistency_proof", json!({"old_size": 1, "new_size": 2})),
        (
            "verify_inclusion_proof",
            json!({"record": "$record", "proof": "$proof", "did": "$signer"}),
        ),
        ("verify_store", json!({"trusted_signers": ["$signer"]})),
        ("export_attestations", json!({"path": "$export"})),
        (
            "verify_export",
            json!({"path": "$export", "trusted_signers": ["$signer"]}),
        ),
        ("prune", json!({"limit": 10})),
        ("set_policy", json!({"policy": "$policy"})),
        (
            "upsert_gate",
            json!({"gate": "extra", "definition": {"require": ["pay"]}}),
        ),
        (
            "set_gate_constraints",
            json!({"gate": "extra", "constraints": [{"type": "rate_limit", "max": 5, "window": "1h"}]}),
        ),
        (
            "create_gate",
            json!({"gate": "extra2", "definition": {"require": ["pay"]}}),
        ),
        (
            "update_gate",
            json!({"gate": "extra2", "definition": {"require": ["pay"], "mode": "monitor"}}),
        ),
        (
            "upsert_template",
            json!({"template": "small", "definition": {"params": {"max": {"type": "number"}}, "constraints": [{"id": "cap", "type": "max_value", "field": "/amount", "max": "$max"}]}}),
        ),
        (
            "apply_template",
            json!({"gate": "extra", "template": "small", "params": {"max": 10}}),
        ),
        (
            "get_constraints",
            json!({"gate": "pay", "passport": "$token"}),
        ),
        ("delete_gate", json!({"gate": "extra"})),
        (
            "set_anonymous_policy",
            json!({"anonymous": {"gates": ["open"]}}),
        ),
        ("anonymous_policy", json!({})),
        ("list_gates", json!({})),
        ("get_gate", json!({"gate": "pay"})),
        ("constraint_types", json!({})),
        ("templates", json!({})),
        (
            "settle",
            json!({"hold_id": "$hold1", "actual": {"amount": 8}}),
        ),
        (
            "settle",
            json!({"hold_id": "$hold3", "actual": {"amount": 7}, "consume": {"outcome": "partial", "quantity": 4, "delivered": 1, "latency_ms": 12, "permission": "pay", "pop": {"proof": "p"}}}),
        ),
        ("release", json!({"hold_id": "$hold2"})),
        ("expire_holds", json!({"limit": 100})),
        ("purge_bundle", json!({"evaluation_id": "$esc1"})),
        ("sessions", json!({"since": 0, "limit": 10})),
        ("session", json!({"session_id": "s1", "limit": 10})),
        (
            "approve",
            json!({"evaluation_id": "$esc1", "approver": "ops@example.com", "ttl": "10m"}),
        ),
        (
            "deny_approval",
            json!({"evaluation_id": "$esc2", "approver": "ops@example.com", "reason": "no"}),
        ),
        (
            "issue_passport",
            json!({"issuer_secret": "$agent_secret", "passport": "$token", "agent_id": "alice/sub", "permissions": ["pay"], "expires_in_days": 1}),
        ),
        ("get_passport", json!({"passport_id": "$alice_id"})),
        (
            "list_passports",
            json!({"agent": "alice", "status": "active", "permission": "pay", "limit": 10}),
        ),
        ("list_issuers", json!({})),
        (
            "trust_issuer",
            json!({"did": "$other_did", "not_before": 0, "not_after": 4_000_000_000_000i64}),
        ),
        ("untrust_issuer", json!({"did": "$other_did"})),
        ("export_trust", json!({})),
        (
            "import_trust",
            json!({"document": "$trust_doc", "signer": "$signer"}),
        ),
        (
            "reset_cumulative_state",
            json!({"gate": "pay", "agent_id": "carol"}),
        ),
        ("revoke_passport", json!({"passport_id": "$victim_id"})),
        (
            "create_api_key",
            json!({"name": "ops", "scopes": ["admin:counters", "approve"], "expires_in": "1d"}),
        ),
        ("list_api_keys", json!({})),
        ("authenticate_api_key", json!({"secret": "$key_secret"})),
        ("revoke_api_key", json!({"id": "$key_id"})),
        (
            "events",
            json!({"since": "$event_cursor", "kinds": ["escalation", "deny"], "limit": 10}),
        ),
        ("ack_event", json!({"id": "$event_id"})),
        (
            "create_catalog",
            json!({"gate": "pay", "catalog": "$catalog2"}),
        ),
        (
            "publish_catalog",
            json!({"gate": "pay", "effective_at": 4_000_000_000_000i64, "change_summary": "price up"}),
        ),
        ("get_catalog", json!({"gate": "pay"})),
        ("get_catalog_version", json!({"gate": "pay", "version": 1})),
        ("list_catalog_versions", json!({"gate": "pay"})),
        (
            "get_catalog_impact",
            json!({"gate": "pay", "old": 1, "new": 1}),
        ),
        (
            "discover_services",
            json!({"filter": {"permission": "pay", "currency": "USD", "max_amount": 1000, "max_trust_level": "L2", "anonymous": false}}),
        ),
        (
            "verify_catalog",
            json!({"document": "$catalog_doc", "did": "$signer"}),
        ),
        (
            "reissue",
            json!({"passport": "$carol", "issuer_secret": "$secret", "expires_in_days": 30, "accept_catalog": [{"gate": "pay", "version": 1}]}),
        ),
        (
            "issue_consumption_attestation",
            json!({"evaluation_id": "$to_consume", "outcome": "partial", "quantity": 3, "delivered": 2, "latency_ms": 30, "permission": "pay", "pop": {"proof": "x"}}),
        ),
        (
            "generate_settlement",
            json!({"from": 0, "to": 4_000_000_000_000i64, "payer": {"issuer": "$issuer_did", "agent_id": "alice"}, "payee": "$signer"}),
        ),
        ("get_settlement", json!({"settlement_id": "$settlement"})),
        (
            "update_settlement_status",
            json!({"settlement_id": "$settlement", "status": "issued", "reason": "sent"}),
        ),
        ("export_settlement", json!({"settlement_id": "$settlement"})),
        (
            "verify_settlement",
            json!({"document": "$settlement_doc", "did": "$signer", "consumptions": "$settlement_records"}),
        ),
        (
            "get_billing_summary",
            json!({"filter": {"gate": "pay", "payer": {"issuer": "$issuer_did", "agent_id": "alice"}, "payee": "$signer", "from": 0, "to": 4_000_000_000_000i64}}),
        ),
        (
            "get_sla_compliance",
            json!({"gate": "pay", "from": 0, "to": 4_000_000_000_000i64, "permission": "pay"}),
        ),
    ]
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[test]
fn every_operation_runs_from_its_sample_and_matches_its_output_schema() {
    let w = world();
    let samples = samples();
    let sampled: Vec<&str> = samples.iter().map(|(n, _)| *n).collect();
    let mut missing: Vec<&str> = ops::NAMES
        .iter()
        .copied()
        .filter(|n| !sampled.contains(n))
        .collect();
    missing.sort_unstable();
    assert!(
        missing.is_empty(),
        "operations with no sample call here: {missing:?}"
    );
    for (name, args) in samples {
        let args = fill(&args, &w.vars);
        let spec = ops::spec(name).unwrap();
        // The sample uses only arguments the schema names.
        for k in keys(&args) {
            assert!(
                spec.arguments().contains(&k.as_str()),
                "{name}: {k} is not in its schema"
            );
        }
        let out = ops::call(&w.engine, name, args).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(schema) = &spec.output_schema {
            let v = jsonschema::validator_for(schema).unwrap();
            let errors: Vec<String> = v.iter_errors(&out).map(|e| e.to_string()).collect();
            assert!(
                errors.is_empty(),
                "{name}: result {out} fails its output schema: {errors:?}"
            );
        }
    }
    drop(w.dir);
}

#[test]
fn the_seam_is_the_operation_layer() {
    let w = world();
    for name in [
        "list_gates",
        "constraint_types",
        "allowed_gates",
        "cumulative_state",
    ] {
        let args = json!({});
        assert_eq!(
            seam::call(&w.engine, name, &args).unwrap(),
            ops::call(&w.engine, name, args).unwrap()
        );
    }
    assert_eq!(seam::OPERATIONS, ops::NAMES);
}

#[test]
fn every_operation_is_an_mcp_tool_with_its_schema_or_says_why_not() {
    let tools = mcp::tool_operations();
    let listed = mcp::tools(mcp::Role::Operator);
    for name in ops::NAMES {
        let as_tool: Vec<&str> = tools
            .iter()
            .filter(|(_, op)| op == name)
            .map(|(t, _)| *t)
            .collect();
        let excluded = mcp::NOT_TOOLS
            .iter()
            .any(|(op, why)| op == name && !why.is_empty());
        assert!(
            as_tool.is_empty() || !excluded,
            "{name}: both a tool and excluded"
        );
        assert!(
            !as_tool.is_empty() || excluded,
            "{name}: neither an MCP tool nor in NOT_TOOLS"
        );
        let spec = ops::spec(name).unwrap();
        for tool in as_tool {
            let t = listed
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["name"] == tool)
                .unwrap();
            assert_eq!(t["description"], spec.description, "{tool}");
            // The tool's arguments are the operation's (less what the server supplies).
            for k in keys(&t["inputSchema"]["properties"]) {
                assert!(spec.arguments().contains(&k.as_str()), "{tool}: {k}");
                assert_eq!(
                    t["inputSchema"]["properties"][&k]["type"],
                    spec.input_schema["properties"][&k]["type"],
                    "{tool}: {k}"
                );
            }
            assert_eq!(t.get("outputSchema"), spec.output_schema.as_ref(), "{tool}");
        }
    }
    for (op, _) in mcp::NOT_TOOLS {
        assert!(
            ops::NAMES.contains(op),
            "NOT_TOOLS names {op}, not an operation"
        );
    }
}

#[test]
fn reading_tools_answer_as_their_operation_does() {
    let w = world();
    let operator = Caller::operator("ops");
    for (name, args) in samples() {
        let spec = ops::spec(name).unwrap();
        if spec.effect != ops::Effect::Reads || name == "chain_head" {
            continue;
        }
        let Some((tool, _)) = mcp::tool_operations()
            .into_iter()
            .find(|(_, op)| *op == name)
        else {
            continue;
        };
        let args = fill(&args, &w.vars);
        let direct = ops::call(&w.engine, name, args.clone()).unwrap();
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": args}});
        let reply = mcp::handle_value(&w.engine, &operator, None, msg).unwrap();
        let result = &reply["result"];
        assert_eq!(result["isError"], false, "{tool}: {reply}");
        let structured = &result["structuredContent"];
        if direct.is_object() {
            assert_eq!(keys(structured), keys(&direct), "{tool}");
        }
    }
}

#[test]
fn argument_errors_name_the_argument_with_a_path() {
    let w = world();
    let e = |op: &str, args: Value| ops::call(&w.engine, op, args).unwrap_err();
    let err = e(
        "approve",
        json!({"evaluation_id": "x", "approver": "a", "ttl": "1 day"}),
    );
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("30s, 15m, 1h, 1d"), "{err}");
    let err = e(
        "issue_passport",
        json!({"issuer_secret": "s", "agent_id": "a", "expires_in_days": 4000}),
    );
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/expires_in_days"))
    );
    let err = e("settle", json!({"hold_id": "h", "actual": 42}));
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/actual"))
    );
    let err = e("settle", json!({}));
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    assert!(err.to_string().contains("hold_id is required"), "{err}");
    let err = e("get_gate", json!({"gaet": "pay"}));
    assert_eq!(err.path(), Some("/gaet"));
    assert!(err.to_string().contains("did you mean \"gate\""), "{err}");
    let err = e("list_gates", json!([]));
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    let err = e("cumulative_state_page", json!({"limit": 0}));
    assert_eq!(err.path(), Some("/limit"));
    let err = e("attestations", json!({"decision": "maybe"}));
    assert_eq!(err.path(), Some("/decision"));
    let err = e("no_such_op", json!({}));
    assert_eq!(err.code(), "INVALID_ARGUMENT");
    let err = e("list_gate", json!({}));
    assert!(
        err.to_string().contains("did you mean \"list_gates\""),
        "{err}"
    );
    // null is an absent argument.
    ops::call(&w.engine, "expire_holds", json!({"limit": null})).unwrap();
}
