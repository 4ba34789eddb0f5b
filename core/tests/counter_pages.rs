//! Issue 14, item 10 at the engine's surfaces: `Engine::cumulative_state_page`, the JSON seam's
//! `cumulative_state_page`, MCP `get_cumulative_state` (paged, operator only). Cursors are
//! opaque; anything a page did not return is `INVALID_ARGUMENT`, never a panic or a restart from
//! the first page.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::collections::BTreeSet;

use passgate::mcp::{self, Caller};
use passgate::store::CounterFilter;
use passgate::{seam, Engine, Issuer, PassportRequest};
use serde_json::{json, Value};

const POLICY: &str = r#"{"version": 1,
  "gates": {"pay": {"require": ["pay"], "constraints": [
     {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 1000, "window": "1d"},
     {"id": "per-to", "type": "rate_limit", "max": 100, "window": "1h", "scope": "field:/to"}]}},
  "anonymous": {"gates": ["catalog.read"],
    "constraints": [{"id": "rl", "type": "rate_limit", "max": 60, "window": "1m", "scope": "client"}]}}"#;

/// An engine with 25 anonymous client counters, two agents' `cap` counters on `pay` and two
/// `per-to` counters (one per `to` value, an agent-chosen string with a NUL in one).
fn setup() -> (Engine, Issuer) {
    let issuer = Issuer::generate().unwrap();
    let engine = Engine::builder()
        .policy_json(POLICY)
        .trusted_issuer(issuer.did())
        .build()
        .unwrap();
    for i in 0..25 {
        let d = seam::call(
            &engine,
            "enforce",
            &json!({"gate": "catalog.read", "client": format!("c{i:02}")}),
        )
        .unwrap();
        assert_eq!(d["decision"], "allow");
    }
    for agent in ["alice", "bob"] {
        let token = issuer
            .issue_passport(&PassportRequest::new(agent, ["pay"]))
            .unwrap()
            .token;
        for to in ["x", "y\u{0}z"] {
            let d = seam::call(
                &engine,
                "enforce",
                &json!({"gate": "pay", "passport": token, "payload": {"amount": 5, "to": to}}),
            )
            .unwrap();
            assert_eq!(d["decision"], "allow", "{d}");
        }
    }
    (engine, issuer)
}

fn all_pages(engine: &Engine, args: Value, limit: u64) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let mut a = args.clone();
        a["cursor"] = cursor;
        a["limit"] = json!(limit);
        let page = seam::call(engine, "cumulative_state_page", &a).unwrap();
        let counters = page["counters"].as_array().unwrap();
        assert!(counters.len() <= limit as usize);
        out.extend(counters.iter().cloned());
        match &page["next_cursor"] {
            Value::Null => return out,
            c => cursor = c.clone(),
        }
    }
}

#[test]
fn pages_return_what_the_full_listing_returns() {
    let (engine, _) = setup();
    for args in [
        json!({}),
        json!({"namespace": "anonymous"}),
        json!({"gate": "pay"}),
        json!({"gate": "pay", "constraint": "per-to"}),
        json!({"agent_id": "alice"}),
        json!({"gate": "pay", "agent_id": "bob"}),
        json!({"scope": "client:c07"}),
    ] {
        let full = seam::call(&engine, "cumulative_state", &args).unwrap();
        let full = full["counters"].as_array().unwrap().clone();
        assert!(!full.is_empty(), "{args}");
        for limit in [1, 3, 100] {
            assert_eq!(
                all_pages(&engine, args.clone(), limit),
                full,
                "{args} by {limit}"
            );
        }
    }
    // The default page is 100; the first of 29 counters come in one page.
    let page = seam::call(&engine, "cumulative_state_page", &json!({})).unwrap();
    assert_eq!(page["counters"].as_array().unwrap().len(), 25 + 2 + 2);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[test]
fn an_agent_filter_pages_across_every_trusted_issuer() {
    // Two trusted issuers: `agent_id` names one counter scope per issuer, walked in turn.
    let (engine, issuer) = setup();
    let other = Issuer::generate().unwrap();
    let engine2 = Engine::builder()
        .policy_json(POLICY)
        .trusted_issuer(issuer.did())
        .trusted_issuer(other.did())
        .build()
        .unwrap();
    drop(engine);
    for iss in [&issuer, &other] {
        let token = iss
            .issue_passport(&PassportRequest::new("carol", ["pay"]))
            .unwrap()
            .token;
        for _ in 0..2 {
            let d = seam::call(
                &engine2,
                "enforce",
                &json!({"gate": "pay", "passport": token, "payload": {"amount": 1, "to": "q"}}),
            )
            .unwrap();
            assert_eq!(d["decision"], "allow");
        }
    }
    let full = seam::call(&engine2, "cumulative_state", &json!({"agent_id": "carol"})).unwrap();
    let full = full["counters"].as_array().unwrap().clone();
    assert_eq!(full.len(), 2, "carol's `cap` counter under each issuer");
    for limit in [1, 2, 5] {
        assert_eq!(
            all_pages(&engine2, json!({"agent_id": "carol"}), limit),
            full
        );
    }
}

#[test]
fn cursors_that_no_page_returned_are_invalid_arguments() {
    let (engine, _) = setup();
    let f = CounterFilter::default();
    let (first, next) = engine.cumulative_state_page(&f, None, 2).unwrap();
    assert_eq!(first.len(), 2);
    let next = next.unwrap();
    assert!(next.starts_with("k1.0."), "{next}");
    let bad = [
        "",
        "k1.",
        "k1.x",
        "k1.-1",
        "k1.+1",
        "k1.0.",
        "k1.0.!!.a.b.0",
        "k1.0.YQ.YQ.YQ",
        "k1.0.YQ.YQ.YQ.9",
        "k1.0.YQ.YQ.YQ.1123",
        "k1.0.YQ.YQ.YQ.0.extra",
        "k1.0.YQ=.YQ.YQ.0",
        "k1.0._w.YQ.YQ.0", // not UTF-8
        "k1.99999999999999999999999999",
        "c1.5",
        "k2.0",
        &next[1..],
        &format!("{next}.0"),
    ];
    for c in bad {
        let e = engine.cumulative_state_page(&f, Some(c), 10).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{c:?}");
        let e = seam::call(&engine, "cumulative_state_page", &json!({"cursor": c})).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{c:?}");
    }
    for limit in [0, 10_001] {
        let e = engine.cumulative_state_page(&f, None, limit).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
    }
    for args in [
        json!({"cursor": 5}),
        json!({"limit": -1}),
        json!({"limit": "5"}),
        json!({"limit": 0}),
        json!({"nope": 1}),
    ] {
        let e = seam::call(&engine, "cumulative_state_page", &args).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{args}");
    }
    // A cursor past the last filter (the trusted issuers changed) is the end, not an error.
    let (page, next) = engine.cumulative_state_page(&f, Some("k1.7"), 10).unwrap();
    assert!(page.is_empty() && next.is_none());
    // A well-formed position is a place in the order, whatever filter it came from.
    let (rest, _) = engine
        .cumulative_state_page(&f, Some(&next_of(&engine)), 100)
        .unwrap();
    assert!(rest.len() < 29);
}

fn next_of(engine: &Engine) -> String {
    engine
        .cumulative_state_page(&CounterFilter::default(), None, 5)
        .unwrap()
        .1
        .unwrap()
}

#[test]
fn mcp_get_cumulative_state_pages_for_the_operator_only() {
    let (engine, _) = setup();
    let call = |caller: &Caller, args: Value| -> Value {
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_cumulative_state", "arguments": args}});
        serde_json::from_str(&mcp::handle(&engine, caller, None, &msg.to_string()).unwrap())
            .unwrap()
    };
    let body = |r: &Value| -> (bool, Value) {
        let text = r["result"]["content"][0]["text"].as_str().unwrap();
        (
            r["result"]["isError"].as_bool().unwrap(),
            serde_json::from_str(text).unwrap(),
        )
    };
    let op = Caller::operator("ops@example.com");
    let mut seen = BTreeSet::new();
    let mut cursor = Value::Null;
    loop {
        let (err, page) = body(&call(&op, json!({"limit": 4, "cursor": cursor})));
        assert!(!err, "{page}");
        for c in page["counters"].as_array().unwrap() {
            assert!(seen.insert(c.to_string()), "twice: {c}");
        }
        match page["next_cursor"].clone() {
            Value::Null => break,
            c => cursor = c,
        }
    }
    assert_eq!(seen.len(), 29);
    let (err, e) = body(&call(&op, json!({"cursor": "k1.0.garbage"})));
    assert!(err);
    assert_eq!(e["error"]["code"], "INVALID_ARGUMENT");
    let (err, _) = body(&call(&op, json!({"limit": 0})));
    assert!(err, "limit below 1 fails the schema");
    // The agent role has no counter access, paged or not.
    let r = call(&Caller::agent(None), json!({"limit": 1}));
    let refused = r.get("error").is_some() || r["result"]["isError"] == true;
    assert!(refused, "{r}");
    let tools = mcp::tools(mcp::Role::Agent);
    assert!(!tools.to_string().contains("cumulative_state"));
}
