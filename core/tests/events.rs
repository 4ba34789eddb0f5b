//! Decision events: the outbox written with its record, read (`events`) and acknowledged
//! (`ack_event`) on every backend, which kinds are recorded, `notify`, and in-process
//! subscribers.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

#[allow(dead_code)]
#[path = "stores/support.rs"]
mod stores;
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use passgate::clock::ManualClock;
use passgate::store::Store;
use passgate::{
    ops, verify_attestation, DecisionEvent, Engine, EventFilter, EventKind, Issuer,
    PassportRequest, Request, Verdict,
};
use serde_json::{json, Value};
use support::T0;

fn policy(events: Option<Value>) -> Value {
    let mut p = json!({"version": 1, "gates": {"payments.send": {"require": ["pay"], "constraints": [
        {"id": "per-call", "type": "max_value", "field": "/amount", "max": 10000},
        {"id": "big-payment", "type": "approval", "description": "payments over 1000 need a human",
         "when": {"field": "/amount", "op": "gt", "value": 1000}}
    ]}}});
    if let Some(e) = events {
        p["events"] = e;
    }
    p
}

struct F {
    engine: Engine,
    clock: ManualClock,
    issuer: Issuer,
    _guard: stores::Guard,
}

impl F {
    fn token(&self, agent: &str) -> String {
        self.issuer
            .issue_passport_at(&PassportRequest::new(agent, ["pay"]), T0 / 1000)
            .unwrap()
            .token
    }
}

fn fixture_on(store: (Arc<dyn Store>, stores::Guard), events: Option<Value>) -> F {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::builder()
        .policy_value(policy(events))
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .store(store.0)
        .build()
        .unwrap();
    F {
        engine,
        clock,
        issuer,
        _guard: store.1,
    }
}

fn fixture(events: Option<Value>) -> F {
    fixture_on(stores::memory(), events)
}

fn pay(token: &str, amount: i64) -> Request {
    Request::new("payments.send", json!({"amount": amount, "to": "acct_1"})).passport(token)
}

fn call(e: &Engine, op: &str, args: Value) -> passgate::Result<Value> {
    ops::call(e, op, args)
}

fn kinds(page: &Value) -> Vec<String> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The whole life on one backend: an escalation (with its notify and session) is an event whose
/// attestation verifies with the engine's did:key; allows and (by default) denies are not; the
/// approval's outcome is one; acknowledging is idempotent, an unknown id is EVENT_UNKNOWN, and
/// `since` pages after a cursor.
fn life_on(store: (Arc<dyn Store>, stores::Guard)) {
    let f = fixture_on(store, None);
    let alice = f.token("alice");
    assert_eq!(
        f.engine.enforce(&pay(&alice, 10)).unwrap().decision,
        Verdict::Allow
    );
    assert_eq!(
        f.engine.enforce(&pay(&alice, 20_000)).unwrap().decision,
        Verdict::Deny
    );
    let esc = f
        .engine
        .enforce(
            &pay(&alice, 2000)
                .notify("https://hooks.example.com/pg?x=1")
                .trace(json!({"mcp_session_id": "sess-1"})),
        )
        .unwrap();
    assert_eq!(esc.decision, Verdict::Escalate);
    let page = call(&f.engine, "events", json!({})).unwrap();
    assert_eq!(kinds(&page), ["escalation"], "{page}");
    let e = &page["events"][0];
    assert!(e["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(e["evaluation_id"], json!(esc.evaluation_id));
    assert_eq!(e["gate"], "payments.send");
    assert_eq!(e["agent"], "alice");
    assert_eq!(e["session_id"], "sess-1");
    assert_eq!(e["notify"], "https://hooks.example.com/pg?x=1");
    assert_eq!(e["time"], json!(T0));
    verify_attestation(&e["attestation"], f.engine.signer_did()).unwrap();
    assert_eq!(e["attestation"]["body"]["decision"], "escalate");
    assert_eq!(
        e["attestation"]["body"]["evaluation_id"],
        json!(esc.evaluation_id)
    );
    let first_cursor = page["cursor"].as_str().unwrap().to_string();

    // The approval's outcome.
    f.clock.advance_ms(1000);
    f.engine
        .deny_approval(&esc.evaluation_id, "cfo@example.com", "no")
        .unwrap();
    let page = call(&f.engine, "events", json!({})).unwrap();
    assert_eq!(kinds(&page), ["escalation", "approval.resolved"]);
    let resolved = &page["events"][1];
    assert_eq!(resolved["outcome"], "denied");
    assert_eq!(resolved["evaluation_id"], json!(esc.evaluation_id));
    assert_eq!(resolved["notify"], Value::Null);
    verify_attestation(&resolved["attestation"], f.engine.signer_did()).unwrap();
    assert_eq!(
        resolved["attestation"]["body"]["kind"], "approval.denied",
        "{resolved}"
    );
    // After the first cursor: only the second; filtered by kind.
    let after = call(&f.engine, "events", json!({"since": first_cursor})).unwrap();
    assert_eq!(kinds(&after), ["approval.resolved"]);
    let only = call(&f.engine, "events", json!({"kinds": ["approval.resolved"]})).unwrap();
    assert_eq!(kinds(&only), ["approval.resolved"]);
    let one = call(&f.engine, "events", json!({"limit": 1})).unwrap();
    assert_eq!(kinds(&one), ["escalation"]);
    assert_eq!(one["cursor"], json!(first_cursor));

    // Acknowledged: gone from the list; again: harmless; unknown: typed.
    let id = page["events"][0]["id"].as_str().unwrap();
    assert_eq!(
        call(&f.engine, "ack_event", json!({"id": id})).unwrap(),
        json!({"id": id, "acked": true})
    );
    assert_eq!(
        call(&f.engine, "ack_event", json!({"id": id})).unwrap(),
        json!({"id": id, "acked": false})
    );
    assert_eq!(
        call(&f.engine, "ack_event", json!({"id": "evt_nope"}))
            .unwrap_err()
            .code(),
        "EVENT_UNKNOWN"
    );
    let page = call(&f.engine, "events", json!({})).unwrap();
    assert_eq!(kinds(&page), ["approval.resolved"]);
    let id2 = page["events"][0]["id"].as_str().unwrap();
    assert!(f.engine.ack_event(id2).unwrap());
    let empty = call(&f.engine, "events", json!({})).unwrap();
    assert_eq!(empty, json!({"events": [], "cursor": null}));
}

#[test]
fn the_life_of_events_on_memory() {
    life_on(stores::memory());
}

#[test]
fn the_life_of_events_on_sqlite() {
    life_on(stores::sqlite());
}

#[test]
fn the_life_of_events_on_redis() {
    life_on(stores::redis());
}

/// Two engines sharing a store share one outbox: events of both, in commit order, each
/// acknowledged once for the fleet.
fn shared_on(url: &str) {
    let issuer = Issuer::generate().unwrap();
    let build = || {
        Engine::builder()
            .policy_value(policy(None))
            .trusted_issuer(issuer.did())
            .store_url(url)
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let t = issuer
        .issue_passport(&PassportRequest::new("alice", ["pay"]))
        .unwrap()
        .token;
    a.enforce(&pay(&t, 2000)).unwrap();
    b.enforce(&pay(&t, 3000)).unwrap();
    a.enforce(&pay(&t, 4000)).unwrap();
    let from_b = b.events(None, None, None).unwrap();
    assert_eq!(from_b.events.len(), 3);
    let signers: Vec<bool> = from_b
        .events
        .iter()
        .map(|e| verify_attestation(&e["attestation"], a.signer_did()).is_ok())
        .collect();
    assert_eq!(signers, [true, false, true]);
    let id = from_b.events[1]["id"].as_str().unwrap();
    assert!(a.ack_event(id).unwrap());
    assert!(!b.ack_event(id).unwrap());
    assert_eq!(a.events(None, None, None).unwrap().events.len(), 2);
}

#[test]
fn engines_sharing_sqlite_share_one_outbox() {
    let dir = tempfile::tempdir().unwrap();
    shared_on(&format!("sqlite://{}/pg.db", dir.path().display()));
}

#[test]
fn engines_sharing_redis_share_one_outbox() {
    let server = stores::RedisServer::start();
    shared_on(&server.url("ev"));
}

/// Denies are opt-in; the policy's list is what is recorded (here: denies only).
#[test]
fn the_policy_chooses_the_kinds_recorded() {
    let f = fixture(Some(json!({"kinds": ["deny"]})));
    let t = f.token("alice");
    f.engine.enforce(&pay(&t, 2000)).unwrap(); // escalation: not recorded
    let d = f.engine.enforce(&pay(&t, 20_000)).unwrap();
    assert_eq!(d.decision, Verdict::Deny);
    let page = f.engine.events(None, None, None).unwrap();
    assert_eq!(kinds(&serde_json::to_value(&page).unwrap()), ["deny"]);
    assert_eq!(page.events[0]["evaluation_id"], json!(d.evaluation_id));
    // An unknown kind is a policy error.
    let e = Engine::builder()
        .policy_value(policy(Some(json!({"kinds": ["everything"]}))))
        .build()
        .unwrap_err();
    assert_eq!(e.code(), "POLICY_INVALID");
    // An empty list records nothing.
    let f = fixture(Some(json!({"kinds": []})));
    let t = f.token("alice");
    f.engine.enforce(&pay(&t, 2000)).unwrap();
    assert!(f.engine.events(None, None, None).unwrap().events.is_empty());
}

/// Policy changes and expired holds are events (by default); a settled hold is not.
#[test]
fn policy_changes_and_hold_expiries_are_events() {
    let f = fixture(None);
    let change = f
        .engine
        .upsert_gate("reads", json!({"constraints": []}), None)
        .unwrap();
    let t = f.token("alice");
    let d = f.engine.enforce(&pay(&t, 10).hold(true)).unwrap();
    let d2 = f.engine.enforce(&pay(&t, 20).hold(true)).unwrap();
    f.engine
        .settle(d2.hold_id.as_deref().unwrap(), None)
        .unwrap();
    f.clock.advance_ms(24 * 3600 * 1000);
    assert_eq!(f.engine.expire_holds(100).unwrap(), 1);
    let page = f.engine.events(None, None, None).unwrap();
    let v = serde_json::to_value(&page).unwrap();
    assert_eq!(kinds(&v), ["policy.changed", "hold.expired"]);
    assert_eq!(page.events[0]["gate"], "reads");
    assert_eq!(
        page.events[0]["attestation"],
        change.attestation.clone().unwrap()
    );
    assert_eq!(page.events[1]["evaluation_id"], json!(d.evaluation_id));
    assert_eq!(
        page.events[1]["attestation"]["body"]["kind"],
        "hold.expired"
    );
    // A change that turns policy.changed off is not recorded as an event.
    let mut doc = f.engine.policy().unwrap().doc.clone();
    doc["events"] = json!({"kinds": ["escalation"]});
    f.engine
        .replace_policy(passgate::Policy::from_value(doc).unwrap(), None)
        .unwrap();
    assert_eq!(f.engine.events(None, None, None).unwrap().events.len(), 2);
}

/// `notify`: a bounded URL or channel name; not for dry runs; not part of the idempotency
/// fingerprint (a retry with another notify replays the first decision and adds no event).
#[test]
fn notify_is_checked_and_not_fingerprinted() {
    let f = fixture(None);
    let t = f.token("alice");
    for bad in [
        "",
        "ftp://x",
        "https://",
        "https://a b",
        "Channel",
        "ops/alerts",
        "https://ex.com/\u{7}",
    ] {
        let e = f.engine.enforce(&pay(&t, 2000).notify(bad)).unwrap_err();
        assert_eq!(
            (e.code(), e.path()),
            ("INVALID_ARGUMENT", Some("/notify")),
            "{bad:?}"
        );
    }
    let long = format!("https://ex.com/{}", "a".repeat(500));
    let e = f.engine.enforce(&pay(&t, 2000).notify(&long)).unwrap_err();
    assert_eq!(e.path(), Some("/notify"));
    // Through the operation layer, the schema's bound first.
    let e = call(
        &f.engine,
        "enforce",
        json!({"gate": "payments.send", "passport": t, "payload": {"amount": 1}, "notify": long}),
    )
    .unwrap_err();
    assert_eq!(e.path(), Some("/notify"));
    for good in [
        "ops-alerts.eu_1",
        "http://127.0.0.1:9/x",
        "HTTPS://Ex.com/A?b=C",
    ] {
        f.engine.enforce(&pay(&t, 10).notify(good)).unwrap();
    }
    let e = f.engine.dry_run(&pay(&t, 2000).notify("ops")).unwrap_err();
    assert_eq!(e.path(), Some("/notify"));
    let e = call(
        &f.engine,
        "evaluate",
        json!({"policy_name": "payments.send", "passport": t, "payload_scope": {"amount": 1},
               "dry_run": true, "notify": "ops"}),
    )
    .unwrap_err();
    assert_eq!(e.path(), Some("/notify"));
    // evaluate carries notify to its event.
    let d = call(
        &f.engine,
        "evaluate",
        json!({"policy_name": "payments.send", "passport": t, "payload_scope": {"amount": 5000},
               "notify": "finance", "mcp_session_id": "s-9"}),
    )
    .unwrap();
    assert_eq!(d["decision"], "escalate");
    let r1 = f
        .engine
        .enforce(&pay(&t, 3000).idempotency_key("k1").notify("ops"))
        .unwrap();
    let r2 = f
        .engine
        .enforce(
            &pay(&t, 3000)
                .idempotency_key("k1")
                .notify("https://evil.example/x"),
        )
        .unwrap();
    assert!(r2.replayed);
    assert_eq!(r1.evaluation_id, r2.evaluation_id);
    let page = f.engine.events(None, None, None).unwrap();
    let notifies: Vec<&Value> = page.events.iter().map(|e| &e["notify"]).collect();
    assert_eq!(notifies, [&json!("finance"), &json!("ops")]);
    assert_eq!(page.events[0]["session_id"], "s-9");
}

/// Bad arguments of `events` / `ack_event` are typed errors.
#[test]
fn events_arguments_are_checked() {
    let f = fixture(None);
    for (args, path) in [
        (json!({"limit": 0}), "/limit"),
        (json!({"limit": 1001}), "/limit"),
        (json!({"since": "abc"}), "/since"),
        (json!({"kinds": ["nope"]}), "/kinds/0"),
        (json!({"kind": ["deny"]}), "/kind"),
    ] {
        let e = call(&f.engine, "events", args.clone()).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{args}");
        assert_eq!(e.path(), Some(path), "{args}: {e}");
    }
    let e = call(&f.engine, "ack_event", json!({})).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    let e = call(&f.engine, "ack_event", json!({"id": "x".repeat(300)})).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
}

/// Subscribers: called after the commit with the event the outbox holds, filtered by kind and
/// session; a callback may call the engine (no lock is held); a panicking one is caught and the
/// others still run; dropping the subscription unsubscribes.
#[test]
fn subscribers_hear_each_committed_event() {
    let f = fixture(None);
    let t = f.token("alice");
    let engine = Arc::new(f.engine);
    let seen: Arc<Mutex<Vec<DecisionEvent>>> = Arc::default();
    let s = Arc::clone(&seen);
    let inner = Arc::downgrade(&engine);
    let all = engine.subscribe(
        EventFilter::default(),
        Box::new(move |e| {
            // Re-entrant: the outbox already holds the event when the callback runs.
            let page = inner.upgrade().unwrap().events(None, None, None).unwrap();
            assert!(page.events.iter().any(|x| x["id"] == json!(e.id)));
            s.lock().unwrap().push(e.clone());
        }),
    );
    let boom = engine.subscribe(
        EventFilter::default(),
        Box::new(|_| panic!("a subscriber's bug")),
    );
    let sess_hits = Arc::new(AtomicUsize::new(0));
    let h = Arc::clone(&sess_hits);
    let by_session = engine.subscribe(
        EventFilter {
            kinds: Some(vec![EventKind::Escalation]),
            session_id: Some("s-2".into()),
        },
        Box::new(move |_| {
            h.fetch_add(1, Ordering::SeqCst);
        }),
    );
    engine
        .enforce(&pay(&t, 2000).trace(json!({"session_id": "s-1"})))
        .unwrap();
    let d = engine
        .enforce(&pay(&t, 2500).trace(json!({"session_id": "s-2"})))
        .unwrap();
    engine.enforce(&pay(&t, 10)).unwrap(); // no event
    engine.approve(&d.evaluation_id, "cfo", None).unwrap();
    assert_eq!(sess_hits.load(Ordering::SeqCst), 1);
    {
        let got = seen.lock().unwrap();
        let kinds: Vec<&str> = got.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["escalation", "escalation", "approval.resolved"]);
        assert_eq!(got[2].outcome.as_deref(), Some("approved"));
        let stored = engine.events(None, None, None).unwrap();
        let as_json: Vec<Value> = got.iter().map(DecisionEvent::to_json).collect();
        assert_eq!(
            as_json, stored.events,
            "subscribers see the outbox's events"
        );
    }
    drop(all);
    boom.close();
    boom.close();
    drop(by_session);
    engine.enforce(&pay(&t, 2600)).unwrap();
    assert_eq!(seen.lock().unwrap().len(), 3);
    // The engine still works after the panics.
    assert_eq!(
        engine.enforce(&pay(&t, 1)).unwrap().decision,
        Verdict::Allow
    );
}

/// The agent is the adversary: the outbox tools are operator tools (the agent catalogue is
/// unchanged and an agent calling them is FORBIDDEN), and an agent's notify lands only on its
/// own decision's event.
#[test]
fn agents_never_reach_the_outbox() {
    use passgate::mcp::{handle_value, Caller};
    let f = fixture(None);
    let t = f.token("mallory");
    let list = |caller: &Caller| {
        let r = handle_value(
            &f.engine,
            caller,
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .unwrap();
        r["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let agent = Caller::agent(Some(t.clone()));
    let names = list(&agent);
    assert!(
        !names.iter().any(|n| n == "events" || n == "ack_event"),
        "{names:?}"
    );
    let op = list(&Caller::operator("ops"));
    assert!(op.iter().any(|n| n == "events") && op.iter().any(|n| n == "ack_event"));
    for tool in ["events", "ack_event"] {
        let r = handle_value(
            &f.engine,
            &agent,
            None,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": tool, "arguments": {"id": "evt_x"}}}),
        )
        .unwrap();
        assert_eq!(r["result"]["isError"], true, "{r}");
        assert!(r.to_string().contains("FORBIDDEN"), "{r}");
    }
    assert_eq!(
        passgate::mcp::scope_of_tool("events").as_str(),
        "read:attestations"
    );
    assert_eq!(
        passgate::mcp::scope_of_tool("ack_event").as_str(),
        "read:attestations"
    );
}

/// Acknowledged events are forgotten by `prune_closed` once old enough (memory, SQLite; Redis
/// lets them expire after 7 days): acknowledging one then is EVENT_UNKNOWN; pending ones stay.
fn acked_events_are_pruned_on(store: (Arc<dyn Store>, stores::Guard)) {
    let backend = Arc::clone(&store.0);
    let f = fixture_on(store, None);
    let t = f.token("alice");
    f.engine.enforce(&pay(&t, 2000)).unwrap();
    f.engine.enforce(&pay(&t, 3000)).unwrap();
    let page = f.engine.events(None, None, None).unwrap();
    let (first, second) = (
        page.events[0]["id"].as_str().unwrap().to_string(),
        page.events[1]["id"].as_str().unwrap().to_string(),
    );
    assert!(f.engine.ack_event(&first).unwrap());
    assert_eq!(
        backend.prune_closed(T0, 100).unwrap(),
        0,
        "not older than the bound"
    );
    assert!(!f.engine.ack_event(&first).unwrap());
    assert_eq!(backend.prune_closed(T0 + 1, 100).unwrap(), 1);
    assert_eq!(
        f.engine.ack_event(&first).unwrap_err().code(),
        "EVENT_UNKNOWN"
    );
    let left = f.engine.events(None, None, None).unwrap();
    assert_eq!(left.events.len(), 1);
    assert_eq!(left.events[0]["id"], json!(second));
}

#[test]
fn acked_events_are_pruned_on_memory() {
    acked_events_are_pruned_on(stores::memory());
}

#[test]
fn acked_events_are_pruned_on_sqlite() {
    acked_events_are_pruned_on(stores::sqlite());
}
