//! API keys (issue 16): creating, listing, revoking and authenticating them, and what a key may
//! do over MCP — written as the attacks of a caller holding (or guessing) a key.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::Arc;

use passgate::apikey::{self, Scope};
use passgate::clock::ManualClock;
use passgate::mcp::{self, Caller};
use passgate::store::AttestationFilter;
use passgate::{ops, Engine, Issuer, PassportRequest};
use serde_json::{json, Value};

const T0: i64 = 1_767_225_600_000;

fn policy() -> Value {
    json!({"version": 1,
        "gates": {"payments.send": {"require": ["pay"], "constraints": [
            {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}]}},
        "anonymous": {"gates": ["status.read"], "constraints": [
            {"id": "anon", "type": "rate_limit", "max": 1, "window": "1m", "scope": "client"}]}})
}

fn setup() -> (Engine, Issuer, ManualClock) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::builder()
        .policy_value(policy())
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    (engine, issuer, clock)
}

fn key_caller(engine: &Engine, scopes: &[Scope]) -> (Caller, String, String) {
    let created = engine.create_api_key("test key", scopes, None).unwrap();
    let principal = engine.authenticate_api_key(&created.secret).unwrap();
    (Caller::Key(principal), created.key.id, created.secret)
}

fn call(engine: &Engine, caller: &Caller, tool: &str, args: Value) -> Value {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": tool, "arguments": args}});
    let reply: Value =
        serde_json::from_str(&mcp::handle(engine, caller, None, &msg.to_string()).unwrap())
            .unwrap();
    reply["result"].clone()
}

fn error_of(result: &Value) -> (String, String) {
    assert_eq!(result["isError"], true, "{result}");
    let e: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
    (
        e["error"]["code"].as_str().unwrap().to_string(),
        e["error"]["message"].as_str().unwrap().to_string(),
    )
}

fn listed(engine: &Engine, caller: &Caller) -> Vec<String> {
    let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let reply: Value =
        serde_json::from_str(&mcp::handle(engine, caller, None, &msg.to_string()).unwrap())
            .unwrap();
    reply["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

fn unauthenticated(engine: &Engine, secret: &str) -> String {
    let e = engine.authenticate_api_key(secret).unwrap_err();
    assert_eq!(e.code(), "UNAUTHENTICATED", "{secret:?}: {e}");
    assert_eq!(e.family(), passgate::error::Family::Passport);
    e.to_string()
}

#[test]
fn a_created_key_authenticates_as_itself_and_its_secret_is_shown_once() {
    let (engine, _, _) = setup();
    let created = engine
        .create_api_key("ci", &[Scope::Decide, Scope::ReadAttestations], None)
        .unwrap();
    assert!(apikey::looks_like_api_key(&created.secret));
    assert!(created
        .secret
        .starts_with(&format!("pgk_{}_", created.key.id)));
    let p = engine.authenticate_api_key(&created.secret).unwrap();
    assert_eq!(p.id, created.key.id);
    assert_eq!(p.name, "ci");
    assert_eq!(p.scopes, vec![Scope::Decide, Scope::ReadAttestations]);
    // The ops layer: same shape, the secret in the creation's answer only.
    let made = ops::call(
        &engine,
        "create_api_key",
        json!({"name": "ops", "scopes": ["admin:keys"], "expires_in": "30d"}),
    )
    .unwrap();
    assert!(made["secret"].as_str().unwrap().starts_with("pgk_"));
    assert_eq!(made["scopes"], json!(["admin:keys"]));
    assert_eq!(made["expires_at"], json!(T0 + 30 * 86_400_000));
    let list = ops::call(&engine, "list_api_keys", json!({})).unwrap();
    let text = list.to_string();
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    assert!(!text.contains("secret"), "{text}");
    assert!(!text.contains(&created.secret[4..]), "{text}");
    assert!(
        !text.contains(&passgate_sha256(&created.secret)),
        "the hash is not listed"
    );
}

fn passgate_sha256(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn revoked_and_expired_keys_fail_and_revoking_is_idempotent() {
    let (engine, _, clock) = setup();
    let a = engine.create_api_key("a", &[Scope::Decide], None).unwrap();
    let first = engine.revoke_api_key(&a.key.id).unwrap();
    assert_eq!(first.revoked_at, Some(T0));
    clock.advance_ms(5_000);
    assert_eq!(
        engine.revoke_api_key(&a.key.id).unwrap().revoked_at,
        Some(T0)
    );
    assert!(unauthenticated(&engine, &a.secret).contains("revoked"));
    let e = engine.revoke_api_key("nosuchkey123").unwrap_err();
    assert_eq!(e.code(), "API_KEY_UNKNOWN");

    let b = engine
        .create_api_key("b", &[Scope::Decide], Some(60_000))
        .unwrap();
    engine.authenticate_api_key(&b.secret).unwrap();
    clock.advance_ms(60_000);
    assert!(unauthenticated(&engine, &b.secret).contains("expired"));

    // Attested: created and revoked once each, never with the secret or its hash.
    let records = engine.attestations(&AttestationFilter::default()).unwrap();
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        vec!["api_key.created", "api_key.revoked", "api_key.created"]
    );
    let text = serde_json::to_string(&records).unwrap();
    for s in [&a.secret, &b.secret] {
        assert!(!text.contains(&s[4..]));
        assert!(!text.contains(&passgate_sha256(s)));
    }
    assert_eq!(records[0]["body"]["data"]["scopes"], json!(["decide"]));
    // A host may not write these kinds itself.
    assert!(engine
        .record_attestation("api_key.revoked", &json!({"id": a.key.id}))
        .is_err());
}

#[test]
fn forged_and_wrong_secrets_are_unauthenticated_never_a_panic() {
    let (engine, _, _) = setup();
    let real = engine
        .create_api_key("real", &[Scope::Decide], None)
        .unwrap();
    // The right id with another random part.
    // The random part follows `pgk_`, the 12-character id and `_` (base64url: it may hold `_`).
    let (prefix, random) = real.secret.split_at("pgk_".len() + 12);
    let random = random.strip_prefix('_').unwrap();
    assert_eq!(random.len(), 43);
    let flipped: String = random
        .chars()
        .map(|c| if c == 'A' { 'B' } else { 'A' })
        .collect();
    let wrong = format!("{prefix}_{flipped}");
    assert!(unauthenticated(&engine, &wrong).contains("unknown, or a wrong secret"));
    let long = "x".repeat(100_000);
    for forged in [
        "",
        "pgk_",
        "pgk_\u{0}",
        "pgk_é_é",
        "pgk__",
        &format!("{}x", real.secret),
        &real.secret[..real.secret.len() - 1],
        &real.secret.to_uppercase(),
        &format!("pgk_{}", long),
        &format!("pgk_{}_{}", real.key.id, "é".repeat(43)),
        "pgk_aaaaaaaaaaaa_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "Bearer pgk_x",
    ] {
        let msg = unauthenticated(&engine, forged);
        assert!(!msg.contains(&real.secret[20..]), "{msg}");
    }
    // Through the ops layer too.
    let e = ops::call(
        &engine,
        "authenticate_api_key",
        json!({"secret": "pgk_1_2"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), "UNAUTHENTICATED");
}

#[test]
fn bad_names_and_scopes_are_typed_errors() {
    let (engine, _, _) = setup();
    for (args, path) in [
        (json!({"name": "", "scopes": ["decide"]}), "/name"),
        (
            json!({"name": "x".repeat(129), "scopes": ["decide"]}),
            "/name",
        ),
        (json!({"name": "k", "scopes": []}), "/scopes"),
        (json!({"name": "k", "scopes": ["root"]}), "/scopes/0"),
        (
            json!({"name": "k", "scopes": ["decide", "decide"]}),
            "/scopes/1",
        ),
        (
            json!({"name": "k", "scopes": ["decide"], "expires_in": 0}),
            "/expires_in",
        ),
        (
            json!({"name": "k", "scopes": ["decide"], "secret": "pgk_mine"}),
            "/secret",
        ),
    ] {
        let e = ops::call(&engine, "create_api_key", args.clone()).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{args}: {e}");
        assert_eq!(e.path(), Some(path), "{args}: {e}");
    }
    assert!(engine.list_api_keys().unwrap().is_empty());
    let e = engine
        .create_api_key("k", &[Scope::Decide], Some(-1))
        .unwrap_err();
    assert_eq!(e.path(), Some("/expires_in"));
}

#[test]
fn last_used_is_written_at_most_once_a_minute() {
    let (engine, _, clock) = setup();
    let k = engine.create_api_key("k", &[Scope::Decide], None).unwrap();
    let used = |engine: &Engine| engine.list_api_keys().unwrap()[0].last_used_at;
    assert_eq!(used(&engine), None);
    engine.authenticate_api_key(&k.secret).unwrap();
    assert_eq!(used(&engine), Some(T0));
    clock.advance_ms(59_999);
    engine.authenticate_api_key(&k.secret).unwrap();
    assert_eq!(used(&engine), Some(T0), "not a write per call");
    clock.advance_ms(1);
    engine.authenticate_api_key(&k.secret).unwrap();
    assert_eq!(used(&engine), Some(T0 + 60_000));
}

#[test]
fn a_decide_key_sees_and_calls_only_the_agent_tools() {
    let (engine, issuer, _) = setup();
    let (caller, _, _) = key_caller(&engine, &[Scope::Decide]);
    let mut seen = listed(&engine, &caller);
    seen.sort();
    let mut agent_tools: Vec<String> = listed(&engine, &Caller::agent(None));
    agent_tools.sort();
    assert_eq!(seen, agent_tools);
    for tool in mcp::operator_tool_names() {
        let result = call(&engine, &caller, tool, json!({}));
        let (code, msg) = error_of(&result);
        assert_eq!(code, "FORBIDDEN", "{tool}");
        assert!(
            msg.contains(mcp::scope_of_tool(tool).as_str()),
            "{tool}: {msg}"
        );
    }
    // Its own API: it cannot mint itself a wider key.
    let (code, msg) = error_of(&call(
        &engine,
        &caller,
        "create_api_key",
        json!({"name": "mine", "scopes": ["admin:keys"]}),
    ));
    assert_eq!(code, "FORBIDDEN");
    assert!(msg.contains("admin:keys"), "{msg}");
    assert!(engine.list_api_keys().unwrap().len() == 1);
    // It may still decide with a passport it holds.
    let token = issuer
        .issue_passport_at(&PassportRequest::new("agent", ["pay"]), T0 / 1000)
        .unwrap()
        .token;
    let r = call(
        &engine,
        &caller,
        "enforce_action",
        json!({"gate": "payments.send", "passport": token, "payload": {"amount": 5}}),
    );
    assert_eq!(r["structuredContent"]["decision"], "allow", "{r}");
    // get_evaluation: its passport's own evaluations only, never the whole log.
    let id = r["structuredContent"]["evaluation_id"].clone();
    let (code, _) = error_of(&call(
        &engine,
        &caller,
        "get_evaluation",
        json!({"evaluation_id": id}),
    ));
    assert_eq!(code, "INVALID_ARGUMENT");
    let mine = call(
        &engine,
        &caller,
        "get_evaluation",
        json!({"evaluation_id": id, "passport": token}),
    );
    assert_eq!(mine["isError"], false, "{mine}");
    let other = issuer
        .issue_passport_at(&PassportRequest::new("other", ["pay"]), T0 / 1000)
        .unwrap()
        .token;
    let (code, _) = error_of(&call(
        &engine,
        &caller,
        "get_evaluation",
        json!({"evaluation_id": id, "passport": other}),
    ));
    assert_eq!(code, "EVALUATION_UNKNOWN");
    // A log reader reads any evaluation.
    let (reader, _, _) = key_caller(&engine, &[Scope::ReadAttestations]);
    let any = call(
        &engine,
        &reader,
        "get_evaluation",
        json!({"evaluation_id": id}),
    );
    assert_eq!(any["isError"], false, "{any}");
}

#[test]
fn a_read_attestations_key_cannot_reset_counters_or_prune() {
    let (engine, _, _) = setup();
    let (caller, _, _) = key_caller(&engine, &[Scope::ReadAttestations]);
    let r = call(&engine, &caller, "get_attestations", json!({}));
    assert_eq!(r["isError"], false, "{r}");
    for (tool, scope) in [
        ("reset_cumulative_state", "admin:counters"),
        ("prune", "admin:counters"),
        ("approve", "approve"),
        ("issue_passport", "admin:passports"),
        ("enforce_action", "decide"),
    ] {
        let (code, msg) = error_of(&call(&engine, &caller, tool, json!({})));
        assert_eq!(code, "FORBIDDEN", "{tool}");
        assert!(msg.contains(scope), "{tool}: {msg}");
    }
    let seen = listed(&engine, &caller);
    assert!(seen.contains(&"get_attestations".to_string()));
    assert!(!seen.contains(&"reset_cumulative_state".to_string()));
    // Its tools are those of its scope, and get_evaluation (any evaluation, for a log reader).
    assert!(seen
        .iter()
        .all(|t| t == "get_evaluation" || mcp::scope_of_tool(t) == Scope::ReadAttestations));
    assert!(seen.contains(&"get_evaluation".to_string()));
}

#[test]
fn a_key_caller_may_not_choose_its_client_and_is_limited_per_key() {
    let (engine, _, _) = setup();
    let (a, a_id, _) = key_caller(&engine, &[Scope::Decide]);
    let (b, b_id, _) = key_caller(&engine, &[Scope::Decide]);
    // The attack: a fresh client per call for a fresh per-client allowance.
    let (code, _) = error_of(&call(
        &engine,
        &a,
        "enforce_action",
        json!({"gate": "status.read", "client": "fresh-1"}),
    ));
    assert_eq!(code, "FORBIDDEN");
    // Anonymous: client key:<id>, so the rate limit (1 a minute per client) is per key.
    let decide = |c: &Caller, trace: Value| {
        call(
            &engine,
            c,
            "enforce_action",
            json!({"gate": "status.read", "trace": trace}),
        )["structuredContent"]["decision"]
            .clone()
    };
    assert_eq!(decide(&a, json!({"api_key_id": "someone-else"})), "allow");
    assert_eq!(decide(&a, json!({})), "deny");
    assert_eq!(decide(&b, json!({})), "allow");
    let records = engine.attestations(&AttestationFilter::default()).unwrap();
    let decisions: Vec<&Value> = records
        .iter()
        .map(|r| &r["body"])
        .filter(|b| b["kind"] == "decision")
        .collect();
    assert_eq!(decisions.len(), 3);
    for (body, id) in decisions.iter().zip([&a_id, &a_id, &b_id]) {
        assert_eq!(body["client"], json!(format!("key:{id}")));
        assert_eq!(body["trace"]["api_key_id"], json!(id), "set by the server");
    }
}

/// The same attack through `evaluate`'s `agent_id` (AgentNexus's anonymous identity): a key's
/// evaluations count as `key:<id>` whatever agent id it claims; the claim is only recorded.
#[test]
fn a_key_caller_gets_no_fresh_allowance_from_evaluate_agent_ids() {
    let (engine, _, _) = setup();
    let (a, a_id, _) = key_caller(&engine, &[Scope::Decide]);
    let decide = |agent: &str| {
        call(
            &engine,
            &a,
            "evaluate",
            json!({"policy_name": "status.read", "agent_id": agent}),
        )["structuredContent"]["decision"]
            .clone()
    };
    assert_eq!(decide("fresh-1"), "allow");
    assert_eq!(decide("fresh-2"), "deny");
    let records = engine.attestations(&AttestationFilter::default()).unwrap();
    let last = records
        .iter()
        .rev()
        .find(|r| r["body"]["kind"] == "decision")
        .unwrap();
    assert_eq!(last["body"]["client"], json!(format!("key:{a_id}")));
    assert_eq!(last["body"]["trace"]["claimed_agent_id"], "fresh-2");
}

#[test]
fn an_approve_key_approves_as_key_name() {
    let (engine, _, _) = setup();
    let created = engine
        .create_api_key("pager", &[Scope::Approve], None)
        .unwrap();
    let p = engine.authenticate_api_key(&created.secret).unwrap();
    let caller = Caller::Key(p);
    // No such escalation: the approver default is still filled in before the engine answers.
    let r = call(
        &engine,
        &caller,
        "approve",
        json!({"evaluation_id": "evl_x"}),
    );
    let (code, _) = error_of(&r);
    assert_ne!(code, "INVALID_ARGUMENT", "the approver was supplied: {r}");
    assert_ne!(code, "FORBIDDEN", "{r}");
}

#[test]
fn a_key_with_every_scope_sees_every_tool() {
    let (engine, _, _) = setup();
    let (caller, _, _) = key_caller(&engine, &Scope::ALL);
    let mut seen = listed(&engine, &caller);
    seen.sort();
    let mut all: Vec<String> = mcp::tool_operations()
        .into_iter()
        .map(|(t, _)| t.to_string())
        .collect();
    all.sort();
    assert_eq!(seen, all);
}

#[test]
fn every_key_operation_is_reachable_by_name_and_authenticate_is_not_a_tool() {
    assert!(mcp::NOT_TOOLS
        .iter()
        .any(|(op, _)| *op == "authenticate_api_key"));
    assert!(!mcp::tool_operations()
        .iter()
        .any(|(_, op)| *op == "authenticate_api_key"));
    for op in ["create_api_key", "list_api_keys", "revoke_api_key"] {
        assert!(mcp::tool_operations().iter().any(|(t, _)| *t == op), "{op}");
        assert_eq!(mcp::scope_of_tool(op), Scope::AdminKeys);
    }
}

/// The README's scope table is what a key may call: every tool once, under the scope that opens
/// it (`get_evaluation` under both `decide`, with a passport, and `read:attestations`).
#[test]
fn the_readme_scope_table_is_the_catalogue() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("### API keys").nth(1).unwrap();
    let section = section.split("\n### ").next().unwrap();
    let mut listed: Vec<(String, String)> = Vec::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let scope = cells[1].trim_matches('`').to_string();
        for tool in cells[2].split(", ") {
            let name = tool.split('`').nth(1).unwrap().to_string();
            listed.push((scope.clone(), name));
        }
    }
    let mut tools: Vec<&str> = mcp::tool_operations().iter().map(|(t, _)| *t).collect();
    tools.sort_unstable();
    let mut named: Vec<&str> = listed.iter().map(|(_, t)| t.as_str()).collect();
    named.sort_unstable();
    named.dedup();
    assert_eq!(named, tools, "every tool is in the table");
    for (scope, tool) in &listed {
        let scope = Scope::parse(scope).unwrap();
        let principal = apikey::ApiKeyPrincipal {
            id: "k".into(),
            name: "k".into(),
            scopes: vec![scope],
        };
        assert!(
            Caller::Key(principal).may_call(tool),
            "{scope} opens {tool}"
        );
    }
}
