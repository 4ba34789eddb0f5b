//! Run bundles (issue 17, item 5): a gate that records keeps each evaluation's payload (as
//! redacted), tool calls and artifacts in the store by evaluation id; the signed decision record
//! carries `bundle_hash`, so the bundle verifies against it and can be purged without breaking
//! the chain. The agent is the adversary: it chooses sizes — over a cap is a deny with its own
//! code, never a giant write — and it cannot read another principal's bundle.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use passgate::bundle::bundle_hash;
use passgate::{ops, verify_chain, Engine, Issuer, PassportRequest};
use serde_json::{json, Value};

fn engine(issuer: &Issuer, store: &str) -> Engine {
    Engine::builder()
        .policy_value(json!({"version": 1,
            "record": {"payload": true, "max_items": 3, "max_item_bytes": 2000, "max_total_bytes": 4000},
            "gates": {
                "pay": {"require": ["pay"],
                    "record": {"tool_calls": true, "artifacts": true},
                    "constraints": [{"id": "pii", "type": "pii", "mode": "redact", "kinds": ["email"]}]},
                "quiet": {"require": ["pay"], "record": {"payload": false}}
            }}))
        .trusted_issuer(issuer.did())
        .store_url(store)
        .build()
        .unwrap()
}

fn evaluate(e: &Engine, token: &str, payload: Value, calls: usize, note: &str) -> Value {
    let tool_calls: Vec<Value> = (0..calls)
        .map(|i| json!({"name": format!("tool{i}"), "arguments": {"note": note}}))
        .collect();
    ops::call(
        e,
        "evaluate",
        json!({"policy_name": "pay", "passport": token, "payload_scope": payload,
               "tool_calls": tool_calls, "artifacts": [{"name": "report.pdf", "size": 12}],
               "mcp_session_id": "s1"}),
    )
    .unwrap()
}

fn get(e: &Engine, id: &Value, passport: Option<&str>) -> passgate::Result<Value> {
    ops::call(
        e,
        "get_evaluation",
        json!({"evaluation_id": id, "passport": passport}),
    )
}

fn round_trip(store: &str) {
    let issuer = Issuer::generate().unwrap();
    let e = engine(&issuer, store);
    let token = issuer
        .issue_passport(&PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    let d = evaluate(
        &e,
        &token,
        json!({"to": "bob@example.com", "amount": 5}),
        2,
        "hi",
    );
    assert_eq!(d["decision"], "allow", "{d}");
    let got = get(&e, &d["evaluation_id"], Some(&token)).unwrap();
    assert_eq!(got["bundle_status"], "recorded");
    let bundle = &got["bundle"];
    // What was recorded: the redacted payload, the tool calls and artifacts.
    assert_eq!(bundle["evaluation_id"], d["evaluation_id"]);
    assert!(
        !bundle["payload"]["to"].as_str().unwrap().contains("bob@"),
        "{bundle}"
    );
    assert_eq!(bundle["payload"]["amount"], 5);
    assert_eq!(bundle["tool_calls"].as_array().unwrap().len(), 2);
    assert_eq!(bundle["artifacts"][0]["name"], "report.pdf");
    // The bundle verifies against the signed record, and the record keeps the tool calls out
    // of its trace (they are in the purgeable bundle); the session label stays.
    let record = &got["evaluation"];
    assert_eq!(
        record["body"]["bundle_hash"],
        json!(bundle_hash(bundle).unwrap())
    );
    let trace = &record["body"]["trace"];
    assert!(
        trace.get("tool_calls").is_none() && trace.get("artifacts").is_none(),
        "{trace}"
    );
    assert_eq!(trace["mcp_session_id"], "s1");
    assert!(!record.to_string().contains("bob@example.com"));

    // Purged: gone from the store, the record (and the chain) unchanged and verifying.
    let purged = ops::call(
        &e,
        "purge_bundle",
        json!({"evaluation_id": d["evaluation_id"]}),
    )
    .unwrap();
    assert_eq!(purged["purged"], true);
    assert_eq!(purged["attestation"]["body"]["kind"], "bundle.purged");
    let again = get(&e, &d["evaluation_id"], None).unwrap();
    assert_eq!(again["bundle_status"], "purged");
    assert!(again["bundle"].is_null());
    assert_eq!(again["evaluation"], got["evaluation"]);
    let chain = e.attestations(&Default::default()).unwrap();
    verify_chain(&chain, e.signer_did()).unwrap();
    let twice = ops::call(
        &e,
        "purge_bundle",
        json!({"evaluation_id": d["evaluation_id"]}),
    )
    .unwrap();
    assert_eq!(twice["purged"], false);
    assert_eq!(
        ops::call(&e, "purge_bundle", json!({"evaluation_id": "evl_nope"}))
            .unwrap_err()
            .code(),
        "EVALUATION_UNKNOWN"
    );
}

#[test]
fn a_bundle_round_trips_verifies_and_purges_on_memory() {
    round_trip("memory:");
}

#[test]
fn a_bundle_round_trips_verifies_and_purges_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    round_trip(&format!("sqlite://{}", dir.path().join("b.db").display()));
}

/// The agent chooses the sizes: too many tool calls, one too large, or all together too large
/// is a deny with a `record` check coded `RECORD_LIMIT` (dry run too), and nothing is stored
/// for it but the decision record (no bundle_hash).
#[test]
fn over_a_cap_is_a_record_limit_deny_and_records_no_bundle() {
    let issuer = Issuer::generate().unwrap();
    let e = engine(&issuer, "memory:");
    let token = issuer
        .issue_passport(&PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    let big = "x".repeat(2500);
    let mid = "y".repeat(1400);
    for (calls, note, why) in [
        (4, "s", "max_items"),
        (1, big.as_str(), "max_item_bytes"),
        (3, mid.as_str(), "max_total_bytes"),
    ] {
        let d = evaluate(&e, &token, json!({"amount": 1}), calls, note);
        assert_eq!(d["decision"], "deny", "{why}: {d}");
        let failed: Vec<&Value> = d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["passed"] == false)
            .collect();
        assert_eq!(failed.len(), 1, "{d}");
        assert_eq!(failed[0]["code"], "RECORD_LIMIT");
        assert!(failed[0]["message"].as_str().unwrap().contains(why), "{d}");
        let got = get(&e, &d["evaluation_id"], None).unwrap();
        assert_eq!(got["bundle_status"], "none");
        assert!(got["evaluation"]["body"].get("bundle_hash").is_none());
    }
    let dry = ops::call(
        &e,
        "dry_run",
        json!({"gate": "pay", "passport": token, "payload": {"amount": 1},
               "trace": {"tool_calls": [1, 2, 3, 4]}}),
    )
    .unwrap();
    assert_eq!(dry["decision"], "deny");
}

/// A gate that records nothing keeps the trace as it was; another principal cannot read a
/// bundle (its evaluation is unknown to it); a store copy altered after the fact is refused,
/// never returned as the recorded bundle.
#[test]
fn bundles_are_private_to_their_principal_and_tamper_evident() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.db");
    let issuer = Issuer::generate().unwrap();
    let e = engine(&issuer, &format!("sqlite://{}", db.display()));
    let alice = issuer
        .issue_passport(&PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    let mallory = issuer
        .issue_passport(&PassportRequest::new("mallory", ["pay"]))
        .unwrap()
        .token;
    let d = evaluate(&e, &alice, json!({"amount": 7}), 1, "secret plan");
    let err = get(&e, &d["evaluation_id"], Some(&mallory)).unwrap_err();
    assert_eq!(err.code(), "EVALUATION_UNKNOWN");

    let quiet = ops::call(
        &e,
        "enforce",
        json!({"gate": "quiet", "passport": alice, "payload": {"amount": 1},
               "trace": {"tool_calls": [{"name": "t"}]}}),
    )
    .unwrap();
    let got = get(&e, &quiet["evaluation_id"], None).unwrap();
    // `quiet` turns the policy's payload off and records nothing else: no bundle, and the
    // trace is the record's as before.
    assert_eq!(got["bundle_status"], "none");
    assert_eq!(
        got["evaluation"]["body"]["trace"]["tool_calls"][0]["name"],
        "t"
    );

    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE bundles SET bundle = replace(bundle, 'secret plan', 'nothing here')",
        [],
    )
    .unwrap();
    let err = get(&e, &d["evaluation_id"], None).unwrap_err();
    assert_eq!(err.code(), "INTERNAL");
    assert!(err.to_string().contains("altered"), "{err}");
}
