//! Policy edits (issue 17, item 1): every change of the policy — `set_policy`, `upsert_gate`,
//! `delete_gate`, `set_gate_constraints`, `set_anonymous_policy` — is validated first, swapped
//! in by compare-and-swap on `policy_hash` (`if_match`; stale: `POLICY_CONFLICT`) and attested as
//! `policy.changed` with a structured diff. The agent is the adversary: it never gets these
//! tools, and racing edits made on one policy hash leave exactly one change in the chain.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::{Arc, Barrier};

use passgate::apikey::Scope;
use passgate::mcp::{self, Caller, Role};
use passgate::store::AttestationFilter;
use passgate::{ops, verify_chain, Engine, Issuer, PassportRequest};
use serde_json::{json, Value};

fn policy() -> Value {
    json!({"version": 1, "gates": {
        "pay": {"require": ["pay"], "constraints": [
            {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}
        ]},
        "open": {}
    }, "anonymous": {"gates": []}})
}

struct World {
    engine: Engine,
    issuer: Issuer,
    token: String,
}

fn world() -> World {
    let issuer = Issuer::generate().unwrap();
    let engine = Engine::builder()
        .policy_value(policy())
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    let token = issuer
        .issue_passport(&PassportRequest::new("alice", ["pay", "web:fetch"]))
        .unwrap()
        .token;
    World {
        engine,
        issuer,
        token,
    }
}

fn call(e: &Engine, op: &str, args: Value) -> passgate::Result<Value> {
    ops::call(e, op, args)
}

fn hash(e: &Engine) -> String {
    call(e, "list_gates", json!({})).unwrap()["policy_hash"]
        .as_str()
        .unwrap()
        .to_string()
}

fn changes(e: &Engine) -> Vec<Value> {
    e.attestations(&AttestationFilter {
        kind: Some("policy.changed".into()),
        ..Default::default()
    })
    .unwrap()
}

fn all_records(e: &Engine) -> usize {
    e.attestations(&AttestationFilter::default()).unwrap().len()
}

fn decide(e: &Engine, gate: &str, token: Option<&str>, amount: i64) -> Value {
    call(
        e,
        "enforce",
        json!({"gate": gate, "passport": token, "payload": {"amount": amount}}),
    )
    .unwrap()
}

#[test]
fn upsert_gate_swaps_on_a_matching_hash_and_attests_the_change() {
    let w = world();
    let e = &w.engine;
    let h0 = hash(e);
    assert!(h0.starts_with("sha256:"));
    let fetch = json!({"require": ["web:fetch"], "constraints": [
        {"id": "sites", "type": "allowed_domains", "field": "/url", "domains": ["example.com"]}]});
    let r = call(
        e,
        "upsert_gate",
        json!({"gate": "web.fetch", "definition": fetch, "if_match": h0}),
    )
    .unwrap();
    let h1 = r["policy_hash"].as_str().unwrap().to_string();
    assert_ne!(h1, h0);
    assert_eq!(r["previous_hash"], json!(h0));
    assert_eq!(hash(e), h1);
    assert_eq!(e.policy().unwrap().hash, h1);

    // The attestation: {old_hash, new_hash, operation, diff}, signed by the engine, in its chain.
    let record = &r["attestation"];
    assert_eq!(record["body"]["kind"], "policy.changed");
    let data = &record["body"]["data"];
    assert_eq!(data["old_hash"], json!(h0));
    assert_eq!(data["new_hash"], json!(h1));
    assert_eq!(data["operation"], "upsert_gate");
    assert_eq!(
        data["diff"],
        json!({"gates_added": ["web.fetch"], "gates_removed": [], "gates_changed": [],
            "other": [], "truncated": false})
    );
    passgate::verify_attestation(record, e.signer_did()).unwrap();
    assert_eq!(changes(e), vec![record.clone()]);
    // Filterable by the gate it changed.
    let by_gate = e
        .attestations(&AttestationFilter {
            gate: Some("web.fetch".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_gate, vec![record.clone()]);

    // The new gate is enforced at once, and its decisions carry the new hash.
    let allowed = call(
        e,
        "enforce",
        json!({"gate": "web.fetch", "passport": w.token, "payload": {"url": "https://example.com/a"}}),
    )
    .unwrap();
    assert_eq!(allowed["decision"], "allow", "{allowed}");
    assert_eq!(allowed["policy_hash"], json!(h1));
    let denied = call(
        e,
        "enforce",
        json!({"gate": "web.fetch", "passport": w.token, "payload": {"url": "https://evil.example.org/"}}),
    )
    .unwrap();
    assert_eq!(denied["decision"], "deny");

    // Changing an existing gate: the diff names the paths inside the gate.
    let tighter = json!({"require": ["pay"], "constraints": [
        {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 10, "window": "1d"}]});
    let r = call(
        e,
        "upsert_gate",
        json!({"gate": "pay", "definition": tighter, "if_match": h1}),
    )
    .unwrap();
    let diff = &r["attestation"]["body"]["data"]["diff"];
    assert_eq!(
        diff["gates_changed"],
        json!([{"gate": "pay", "paths": ["/constraints/0/max"]}])
    );
    assert_eq!(decide(e, "pay", Some(&w.token), 50)["decision"], "deny");
    assert_eq!(decide(e, "pay", Some(&w.token), 5)["decision"], "allow");

    // The chain holds every change and verifies.
    let chain = e
        .attestations(&AttestationFilter {
            chain: Some(e.chain_id()),
            ..Default::default()
        })
        .unwrap();
    verify_chain(&chain, e.signer_did()).unwrap();
    assert_eq!(changes(e).len(), 2);
}

#[test]
fn a_stale_if_match_is_a_conflict_and_changes_nothing() {
    let w = world();
    let e = &w.engine;
    let h0 = hash(e);
    call(
        e,
        "upsert_gate",
        json!({"gate": "a", "definition": {}, "if_match": h0}),
    )
    .unwrap();
    let h1 = hash(e);
    let before = all_records(e);
    // Every edit made on h0 is now refused, whatever it does.
    let stale = [
        ("upsert_gate", json!({"gate": "b", "definition": {}})),
        ("delete_gate", json!({"gate": "pay"})),
        (
            "set_gate_constraints",
            json!({"gate": "pay", "constraints": []}),
        ),
        (
            "set_anonymous_policy",
            json!({"anonymous": {"gates": ["pay"]}}),
        ),
        ("set_policy", json!({"policy": policy()})),
    ];
    for (op, mut args) in stale {
        args["if_match"] = json!(h0);
        let err = call(e, op, args).unwrap_err();
        assert_eq!(err.code(), "POLICY_CONFLICT", "{op}: {err}");
        assert_eq!(err.family(), passgate::Family::Input);
        assert!(err.to_string().contains(&h1), "{err}");
    }
    assert_eq!(hash(e), h1);
    assert_eq!(all_records(e), before, "a refused edit writes nothing");
    assert!(e.policy().unwrap().gate("b").is_none());
    // Without if_match the edit applies to whatever is in force.
    call(e, "upsert_gate", json!({"gate": "b", "definition": {}})).unwrap();
    assert!(e.policy().unwrap().gate("b").is_some());
}

#[test]
fn an_invalid_definition_is_policy_invalid_at_its_path_and_changes_nothing() {
    let w = world();
    let e = &w.engine;
    let h0 = hash(e);
    let before = all_records(e);
    let bad = [
        (
            json!({"gate": "pay", "definition": {"constraints": [
                {"id": "cap", "type": "spend_limit", "field": "/amount", "max": "lots", "window": "1d"}]}}),
            "/gates/pay/constraints/0/max",
        ),
        (
            json!({"gate": "pay", "definition": {"mode": "lenient"}}),
            "/gates/pay/mode",
        ),
        (
            json!({"gate": "pay", "definition": {"require": ["pay"], "constraints": [
                {"type": "no_such_type"}]}}),
            "/gates/pay/constraints/0",
        ),
        (
            json!({"gate": "new", "definition": {"unknown_member": 1}}),
            "/gates/new",
        ),
    ];
    for (args, path) in bad {
        let err = call(e, "upsert_gate", args.clone()).unwrap_err();
        assert_eq!(err.code(), "POLICY_INVALID", "{args}: {err}");
        assert!(
            err.path().unwrap().starts_with(path),
            "{args}: {:?} is not under {path}",
            err.path()
        );
    }
    let err = call(
        e,
        "set_gate_constraints",
        json!({"gate": "pay", "constraints": [{"type": "rate_limit", "max": -1, "window": "1h"}]}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "POLICY_INVALID", "{err}");
    assert!(err.path().unwrap().starts_with("/gates/pay/constraints/0"));
    let err = call(
        e,
        "set_anonymous_policy",
        json!({"anonymous": {"gates": ["open", "open"]}}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "POLICY_INVALID", "{err}");
    assert!(err.path().unwrap().starts_with("/anonymous"), "{err}");
    let err = call(e, "set_policy", json!({"policy": {"version": 2}})).unwrap_err();
    assert_eq!(err.code(), "POLICY_INVALID");
    // The arguments' own shape is checked before any policy is built.
    let err = call(e, "upsert_gate", json!({"gate": "pay", "definition": []})).unwrap_err();
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/definition"))
    );
    let err = call(e, "upsert_gate", json!({"gate": "", "definition": {}})).unwrap_err();
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/gate"))
    );
    assert_eq!(hash(e), h0, "nothing changed");
    assert_eq!(all_records(e), before, "nothing was written");
    assert_eq!(decide(e, "pay", Some(&w.token), 50)["decision"], "allow");
}

#[test]
fn delete_gate_and_set_gate_constraints_need_the_gate() {
    let w = world();
    let e = &w.engine;
    for (op, args) in [
        ("delete_gate", json!({"gate": "nope"})),
        (
            "set_gate_constraints",
            json!({"gate": "nope", "constraints": []}),
        ),
    ] {
        let err = call(e, op, args).unwrap_err();
        assert_eq!(err.code(), "GATE_UNKNOWN", "{op}");
    }
    assert!(changes(e).is_empty());

    // Loosening the cap: the constraints are replaced, the rest of the gate stays.
    let r = call(
        e,
        "set_gate_constraints",
        json!({"gate": "pay", "if_match": hash(e), "constraints": [
            {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 1000, "window": "1d"},
            {"id": "rate", "type": "rate_limit", "max": 100, "window": "1h"}]}),
    )
    .unwrap();
    let data = &r["attestation"]["body"]["data"];
    assert_eq!(data["operation"], "set_gate_constraints");
    assert_eq!(
        data["diff"]["gates_changed"],
        json!([{"gate": "pay", "paths": ["/constraints/0/max", "/constraints/1"]}])
    );
    assert_eq!(e.policy().unwrap().gate("pay").unwrap().require, ["pay"]);
    assert_eq!(decide(e, "pay", Some(&w.token), 500)["decision"], "allow");

    // Deleting the gate: decisions on it are denied (an unknown gate), counters are kept.
    let r = call(
        e,
        "delete_gate",
        json!({"gate": "pay", "if_match": r["policy_hash"]}),
    )
    .unwrap();
    let data = &r["attestation"]["body"]["data"];
    assert_eq!(data["operation"], "delete_gate");
    assert_eq!(data["diff"]["gates_removed"], json!(["pay"]));
    let d = decide(e, "pay", Some(&w.token), 1);
    assert_eq!(d["decision"], "deny");
    assert!(e.policy().unwrap().gate("pay").is_none());
    let err = call(e, "get_gate", json!({"gate": "pay"})).unwrap_err();
    assert_eq!(err.code(), "GATE_UNKNOWN");
    assert_eq!(changes(e).len(), 2);
}

#[test]
fn set_anonymous_policy_opens_and_closes_gates_to_callers_without_a_passport() {
    let w = world();
    let e = &w.engine;
    let anon = || decide(e, "open", None, 1)["decision"].clone();
    assert_eq!(anon(), "deny");
    let r = call(
        e,
        "set_anonymous_policy",
        json!({"anonymous": {"gates": ["open"], "constraints": [
            {"id": "slow", "type": "rate_limit", "max": 1, "window": "1h", "scope": "client"}]}}),
    )
    .unwrap();
    let data = &r["attestation"]["body"]["data"];
    assert_eq!(data["operation"], "set_anonymous_policy");
    assert_eq!(
        data["diff"]["other"],
        json!(["/anonymous/constraints", "/anonymous/gates/0"])
    );
    let first = call(e, "enforce", json!({"gate": "open", "client": "10.0.0.1"})).unwrap();
    assert_eq!(first["decision"], "allow", "{first}");
    let second = call(e, "enforce", json!({"gate": "open", "client": "10.0.0.1"})).unwrap();
    assert_eq!(
        second["decision"], "deny",
        "the new anonymous constraint holds"
    );
    call(
        e,
        "set_anonymous_policy",
        json!({"anonymous": {"gates": []}, "if_match": r["policy_hash"]}),
    )
    .unwrap();
    assert_eq!(anon(), "deny");
}

#[test]
fn set_policy_is_a_compare_and_swap_and_attested() {
    let w = world();
    let e = &w.engine;
    let h0 = hash(e);
    // The same document again: nothing changes, nothing is written.
    let before = all_records(e);
    let same = call(e, "set_policy", json!({"policy": policy(), "if_match": h0})).unwrap();
    assert_eq!(same["policy_hash"], json!(h0));
    assert_eq!(same["previous_hash"], json!(h0));
    assert_eq!(same["attestation"], Value::Null);
    assert_eq!(all_records(e), before);

    let mut next = policy();
    next["gates"]["pay"]["constraints"][0]["max"] = json!(7);
    next["issuers"] = json!([w.issuer.did()]);
    let r = call(e, "set_policy", json!({"policy": next, "if_match": h0})).unwrap();
    let data = &r["attestation"]["body"]["data"];
    assert_eq!(data["operation"], "set_policy");
    assert_eq!(data["old_hash"], json!(h0));
    assert_eq!(data["new_hash"], r["policy_hash"]);
    assert_eq!(
        data["diff"],
        json!({"gates_added": [], "gates_removed": [], "other": ["/issuers"],
            "gates_changed": [{"gate": "pay", "paths": ["/constraints/0/max"]}], "truncated": false})
    );
    // The Rust API writes the same attestation.
    e.set_policy(passgate::Policy::from_value(policy()).unwrap())
        .unwrap();
    let all = changes(e);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["body"]["data"]["operation"], "set_policy");
    assert_eq!(all[1]["body"]["data"]["new_hash"], json!(h0));
    let stale = e.replace_policy(
        passgate::Policy::from_value(json!({"version": 1})).unwrap(),
        Some(r["policy_hash"].as_str().unwrap()),
    );
    assert_eq!(stale.unwrap_err().code(), "POLICY_CONFLICT");
}

#[test]
fn an_engine_without_a_policy_is_edited_from_an_empty_one() {
    let e = Engine::builder().build().unwrap();
    assert_eq!(
        call(&e, "list_gates", json!({})).unwrap(),
        json!({"gates": []})
    );
    // No policy: any if_match is stale.
    let err = call(
        &e,
        "upsert_gate",
        json!({"gate": "g", "definition": {}, "if_match": "sha256:abc"}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "POLICY_CONFLICT");
    let r = call(&e, "upsert_gate", json!({"gate": "g", "definition": {}})).unwrap();
    assert_eq!(r["previous_hash"], Value::Null);
    let data = &r["attestation"]["body"]["data"];
    assert_eq!(data["old_hash"], Value::Null);
    assert_eq!(data["diff"]["gates_added"], json!(["g"]));
    assert_eq!(data["diff"]["other"], json!(["/version"]));
    assert_eq!(
        e.policy().unwrap().doc,
        json!({"version": 1, "gates": {"g": {}}})
    );
}

/// Many operators (or one replaying agent-driven retries) race with the same `if_match`: exactly
/// one edit wins, every other gets `POLICY_CONFLICT`, and the chain holds exactly one change.
#[test]
fn concurrent_edits_on_one_hash_exactly_one_wins() {
    const N: usize = 8;
    for round in 0..5 {
        let w = world();
        let e = Arc::new(w.engine);
        let h0 = hash(&e);
        let barrier = Arc::new(Barrier::new(N));
        let threads: Vec<_> = (0..N)
            .map(|i| {
                let (e, barrier, h0) = (Arc::clone(&e), Arc::clone(&barrier), h0.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    // Half add a gate, half tighten pay: every one made on h0.
                    let args = if i % 2 == 0 {
                        json!({"gate": format!("g{i}"), "definition": {}, "if_match": h0})
                    } else {
                        json!({"gate": "pay", "if_match": h0, "constraints": [
                            {"type": "rate_limit", "max": i, "window": "1h"}]})
                    };
                    let op = if i % 2 == 0 {
                        "upsert_gate"
                    } else {
                        "set_gate_constraints"
                    };
                    (i, ops::call(&e, op, args))
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let wins: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
        assert_eq!(wins.len(), 1, "round {round}: {results:?}");
        for (i, r) in &results {
            if let Err(err) = r {
                assert_eq!(
                    err.code(),
                    "POLICY_CONFLICT",
                    "round {round}, thread {i}: {err}"
                );
            }
        }
        let (winner, won) = wins[0];
        let won = won.as_ref().unwrap();
        assert_eq!(won["previous_hash"], json!(h0));
        assert_eq!(hash(&e), won["policy_hash"].as_str().unwrap());
        let all = changes(&e);
        assert_eq!(all.len(), 1, "round {round}: exactly one policy.changed");
        assert_eq!(all[0], won["attestation"]);
        // The policy in force is the winner's.
        let p = e.policy().unwrap();
        if winner % 2 == 0 {
            assert!(p.gate(&format!("g{winner}")).is_some());
        } else {
            assert_eq!(
                p.doc["gates"]["pay"]["constraints"][0]["max"],
                json!(winner)
            );
        }
    }
}

const EDIT_TOOLS: [&str; 11] = [
    "upsert_gate",
    "delete_gate",
    "set_gate_constraints",
    "set_anonymous_policy",
    "create_gate",
    "update_gate",
    "apply_template",
    "upsert_template",
    // The seed's names of the same tools.
    "set_constraints",
    "apply_constraint_template",
    "create_constraint_template",
];

fn tool_names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn mcp_call(e: &Engine, caller: &Caller, name: &str, args: Value) -> (bool, Value) {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": name, "arguments": args}});
    let r: Value =
        serde_json::from_str(&mcp::handle(e, caller, None, &msg.to_string()).unwrap()).unwrap();
    let result = &r["result"];
    assert!(result.is_object(), "{name}: {r}");
    let body: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    (result["isError"].as_bool().unwrap(), body)
}

/// The agent is the adversary: its catalogue is unchanged and holds no edit tool; it cannot
/// call one (with its passport, with an agent-only key), and nothing changes when it tries.
#[test]
fn agents_never_get_the_edit_tools() {
    let w = world();
    let e = &w.engine;
    assert_eq!(
        tool_names(&mcp::tools(Role::Agent)),
        [
            "enforce_action",
            "authorize_dry_run",
            "verify_passport",
            "list_allowed_gates",
            "list_my_evaluations",
            "evaluate",
            "get_evaluation",
            "discover_services",
            "get_catalog",
        ],
        "the agent's catalogue: the decision tools and the read-only catalog tools"
    );
    let operator = tool_names(&mcp::tools(Role::Operator));
    let operator_only = mcp::operator_tool_names();
    for t in EDIT_TOOLS {
        assert!(operator.iter().any(|n| n == t), "{t}");
        assert!(operator_only.contains(&t), "{t}");
        assert_eq!(mcp::scope_of_tool(t), Scope::AdminPolicy, "{t}");
    }
    assert!(!operator.iter().any(|n| n == "set_policy"));

    let h0 = hash(e);
    let agent = Caller::agent(Some(w.token.clone()));
    let key_for = |name: &str, scopes: &[Scope]| {
        let secret = e.create_api_key(name, scopes, None).unwrap().secret;
        Caller::Key(e.authenticate_api_key(&secret).unwrap())
    };
    let bot = key_for("bot", &[Scope::Decide]);
    let reader = key_for("reader", &[Scope::ReadAttestations, Scope::AdminCounters]);
    let before = all_records(e);
    let attacks = [
        (
            "upsert_gate",
            json!({"gate": "pay", "definition": {}, "if_match": h0}),
        ),
        ("delete_gate", json!({"gate": "pay"})),
        (
            "set_gate_constraints",
            json!({"gate": "pay", "constraints": []}),
        ),
        (
            "set_anonymous_policy",
            json!({"anonymous": {"gates": ["pay"]}}),
        ),
        ("update_gate", json!({"gate": "pay", "definition": {}})),
        ("create_gate", json!({"gate": "mine", "definition": {}})),
        (
            "apply_constraint_template",
            json!({"gate": "pay", "template": "payments-conservative", "params": {"daily_max": 1000000}}),
        ),
        (
            "create_constraint_template",
            json!({"template": "t", "definition": {"params": {}, "constraints": []}}),
        ),
        ("set_constraints", json!({"gate": "pay", "constraints": []})),
    ];
    for caller in [&agent, &bot, &reader, &Caller::operator("ops")] {
        // Nobody replaces the whole policy through MCP.
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "set_policy", "arguments": {"policy": {"version": 1}}}});
        let r: Value =
            serde_json::from_str(&mcp::handle(e, caller, None, &msg.to_string()).unwrap()).unwrap();
        assert_eq!(r["error"]["code"], -32602, "{r}");
    }
    for caller in [&agent, &bot, &reader] {
        assert!(!tool_names(&mcp::tools_for(caller))
            .iter()
            .any(|n| EDIT_TOOLS.contains(&n.as_str())));
        for (tool, args) in &attacks {
            let (is_error, body) = mcp_call(e, caller, tool, args.clone());
            assert!(is_error, "{tool}: {body}");
            assert_eq!(body["error"]["code"], "FORBIDDEN", "{tool}: {body}");
        }
    }
    assert_eq!(hash(e), h0);
    assert_eq!(all_records(e), before, "no attack wrote anything");
    assert_eq!(decide(e, "pay", Some(&w.token), 500)["decision"], "deny");

    // An admin:policy key, and the operator, can.
    let admin = key_for("policy-admin", &[Scope::AdminPolicy]);
    let (is_error, body) = mcp_call(
        e,
        &admin,
        "upsert_gate",
        json!({"gate": "web.fetch", "definition": {"require": ["web:fetch"]}, "if_match": h0}),
    );
    assert!(!is_error, "{body}");
    assert_eq!(body["previous_hash"], json!(h0));
    let (is_error, body) = mcp_call(
        e,
        &Caller::operator("ops"),
        "delete_gate",
        json!({"gate": "web.fetch", "if_match": h0}),
    );
    assert!(is_error);
    assert_eq!(body["error"]["code"], "POLICY_CONFLICT", "{body}");
}

/// Sizes the caller chooses: a change of thousands of gates with the longest names is attested
/// with a bounded diff (`truncated`), never refused for the size of its record.
#[test]
fn a_huge_change_is_attested_with_a_bounded_diff() {
    let w = world();
    let e = &w.engine;
    let mut big = policy();
    for i in 0..3000 {
        let name = format!("{i:0>128}");
        big["gates"][name] = json!({"require": ["pay"], "description": "x".repeat(100)});
    }
    let r = call(e, "set_policy", json!({"policy": big})).unwrap();
    let diff = &r["attestation"]["body"]["data"]["diff"];
    assert_eq!(diff["truncated"], true);
    let listed = diff["gates_added"].as_array().unwrap().len();
    assert_eq!(listed, passgate::MAX_DIFF_PATHS);
    assert_eq!(e.policy().unwrap().gates.len(), 3002);
    // And back: every gate removed, the diff as bounded.
    let r = call(
        e,
        "set_policy",
        json!({"policy": policy(), "if_match": r["policy_hash"]}),
    )
    .unwrap();
    let diff = &r["attestation"]["body"]["data"]["diff"];
    assert_eq!(diff["truncated"], true);
    assert_eq!(
        diff["gates_removed"].as_array().unwrap().len(),
        passgate::MAX_DIFF_PATHS
    );
    assert_eq!(changes(e).len(), 2);
}

/// `create_gate` refuses a gate that exists and `update_gate` one that does not; both are
/// compare-and-swap edits attested with the operation's name.
#[test]
fn create_and_update_gate_each_refuse_the_other_case() {
    let w = world();
    let e = &w.engine;
    let h0 = hash(e);
    let dup = call(e, "create_gate", json!({"gate": "pay", "definition": {}})).unwrap_err();
    assert_eq!(dup.code(), "POLICY_CONFLICT");
    let missing = call(e, "update_gate", json!({"gate": "nope", "definition": {}})).unwrap_err();
    assert_eq!(missing.code(), "GATE_UNKNOWN");
    assert_eq!(hash(e), h0, "nothing changed");
    let c = call(
        e,
        "create_gate",
        json!({"gate": "fetch", "definition": {"require": ["web:fetch"]}, "if_match": h0}),
    )
    .unwrap();
    let u = call(
        e,
        "update_gate",
        json!({"gate": "fetch", "definition": {"require": ["web:fetch"], "mode": "monitor"},
               "if_match": c["policy_hash"]}),
    )
    .unwrap();
    let ops: Vec<Value> = changes(e)
        .iter()
        .map(|r| r["body"]["data"]["operation"].clone())
        .collect();
    assert_eq!(ops, [json!("create_gate"), json!("update_gate")]);
    assert_eq!(
        changes(e)[1]["body"]["data"]["diff"]["gates_changed"],
        json!([{"gate": "fetch", "paths": ["/mode"]}])
    );
    assert_eq!(u["previous_hash"], c["policy_hash"]);
}

/// Templates: the policy's own are listed with the built-ins; applying one to a gate compiles
/// its constraints into the gate (ids `<template>/<id>`), applying it again replaces its
/// parameters, and an edit of the template re-compiles every gate applying it. Bad parameters
/// and unknown templates are `POLICY_INVALID` and change nothing.
#[test]
fn templates_are_upserted_applied_and_listed() {
    let w = world();
    let e = &w.engine;
    let def = json!({"description": "a per-request cap",
        "params": {"max": {"type": "number"}},
        "constraints": [{"id": "cap", "type": "max_value", "field": "/amount", "max": "$max"}]});
    call(
        e,
        "upsert_template",
        json!({"template": "per-request", "definition": def}),
    )
    .unwrap();
    assert_eq!(decide(e, "open", Some(&w.token), 11)["decision"], "allow");
    let listed = call(e, "templates", json!({})).unwrap();
    let mine: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["builtin"] == false)
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["name"], "per-request");
    assert!(listed
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["builtin"] == true));

    call(
        e,
        "apply_template",
        json!({"gate": "open", "template": "per-request", "params": {"max": 10}}),
    )
    .unwrap();
    assert_eq!(decide(e, "open", Some(&w.token), 11)["decision"], "deny");
    let ids: Vec<Value> = call(e, "get_constraints", json!({"gate": "open"})).unwrap()
        ["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].clone())
        .collect();
    assert_eq!(ids, [json!("per-request/cap")]);
    // Applied again: its parameters replaced, not a second copy.
    call(
        e,
        "apply_template",
        json!({"gate": "open", "template": "per-request", "params": {"max": 20}}),
    )
    .unwrap();
    assert_eq!(decide(e, "open", Some(&w.token), 11)["decision"], "allow");
    let gate = call(e, "get_gate", json!({"gate": "open"})).unwrap();
    assert_eq!(gate["constraints"].as_array().unwrap().len(), 1, "{gate}");
    // The template edited: every gate applying it follows.
    let mut tighter = def.clone();
    tighter["constraints"][0]["max"] = json!(5);
    call(
        e,
        "upsert_template",
        json!({"template": "per-request", "definition": tighter}),
    )
    .unwrap();
    assert_eq!(decide(e, "open", Some(&w.token), 6)["decision"], "deny");

    let h = hash(e);
    let before = changes(e).len();
    for (args, path) in [
        (
            json!({"gate": "open", "template": "per-request", "params": {"max": "ten"}}),
            "/gates/open/templates/0/params/max",
        ),
        (
            json!({"gate": "open", "template": "per-request", "params": {"max": 1, "extra": 2}}),
            "/gates/open/templates/0/params/extra",
        ),
        (
            json!({"gate": "open", "template": "no-such"}),
            "/gates/open/templates/1",
        ),
    ] {
        let err = call(e, "apply_template", args.clone()).unwrap_err();
        assert_eq!(err.code(), "POLICY_INVALID", "{args}: {err}");
        assert!(err.to_string().contains(path), "{args}: {err}");
    }
    let err = call(
        e,
        "apply_template",
        json!({"gate": "nope", "template": "per-request", "params": {"max": 1}}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "GATE_UNKNOWN");
    // A built-in's name cannot be taken over.
    let err = call(
        e,
        "upsert_template",
        json!({"template": "payments-conservative", "definition": def}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "POLICY_INVALID");
    assert_eq!(hash(e), h);
    assert_eq!(changes(e).len(), before, "no failed edit was attested");
}

/// `get_constraints` with a passport lists the caveats of its whole chain that apply to the
/// gate, each with the passport that declared it — what a sub-agent is really judged by. A
/// passport that does not verify is its own error, never a list.
#[test]
fn get_constraints_lists_a_passports_inherited_caveats() {
    let w = world();
    let e = &w.engine;
    let mut root = PassportRequest::new("alice", ["pay"]);
    root.caveats = vec![json!({"id": "small", "type": "max_value", "field": "/amount", "max": 50})];
    let issued = w.issuer.issue_passport(&root).unwrap();
    let mut sub = PassportRequest::new("alice/sub", ["pay"]);
    sub.caveats = vec![json!({"id": "tiny", "type": "max_value", "field": "/amount", "max": 5})];
    let child = issued.issue_sub_passport(&sub).unwrap();
    let got = call(
        e,
        "get_constraints",
        json!({"gate": "pay", "passport": child.token}),
    )
    .unwrap();
    assert_eq!(got["constraints"][0]["id"], "cap");
    let caveats = got["caveats"].as_array().unwrap();
    let declared: Vec<(&str, &str)> = caveats
        .iter()
        .map(|c| {
            (
                c["declared_by"].as_str().unwrap(),
                c["constraint"]["id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        declared,
        [
            (issued.passport_id.as_str(), "small"),
            (child.passport_id.as_str(), "tiny")
        ]
    );
    let without = call(e, "get_constraints", json!({"gate": "pay"})).unwrap();
    assert_eq!(without["caveats"], Value::Null);
    let forged = format!("{}x", child.token);
    assert!(call(
        e,
        "get_constraints",
        json!({"gate": "pay", "passport": forged})
    )
    .is_err());
    assert_eq!(
        call(e, "get_constraints", json!({"gate": "nope"}))
            .unwrap_err()
            .code(),
        "GATE_UNKNOWN"
    );
}
