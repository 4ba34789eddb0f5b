//! Consumption attestations, settlements, billing and SLA compliance (issue 18 items 5–6): the
//! catalog terms a decision applies, exact pricing, one consumption per allowed evaluation,
//! settlement statements re-verified and signed in their own domain with a Merkle root, the
//! status state machine, offline verification, and the agent as the adversary (it cannot mint a
//! consumption record, nor forge one that verifies, nor slip a tampered one into a settlement).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::Arc;

use passgate::clock::ManualClock;
use passgate::commerce::settlement::{merkle_root, read_consumption};
use passgate::commerce::verify_settlement;
use passgate::mcp::{self, Role};
use passgate::{ops, Engine, Issuer};
use proptest::prelude::*;
use serde_json::{json, Value};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const HOUR: i64 = 3_600_000;

const POLICY: &str = r#"{"version": 1, "gates": {
    "llm": {"require": ["llm:complete"]},
    "calc": {"require": ["calc:run"], "constraints": [
        {"id": "cap", "type": "max_value", "field": "/n", "max": 100}]},
    "plain": {"require": ["plain:run"]}
}}"#;

fn engine_on(url: &str, issuer: &Issuer, clock: &ManualClock, fee_bps: u64) -> Engine {
    Engine::builder()
        .policy_json(POLICY)
        .trusted_issuers([issuer.did().to_string()])
        .store_url(url)
        .clock(Arc::new(clock.clone()))
        .platform_fee_bps(fee_bps)
        .build()
        .unwrap()
}

fn call(e: &Engine, op: &str, args: Value) -> passgate::Result<Value> {
    ops::call(e, op, args)
}

fn err(r: passgate::Result<Value>) -> passgate::Error {
    r.map(|v| panic!("expected an error, got {v}")).unwrap_err()
}

fn llm_catalog(amount: u64) -> Value {
    json!({
        "gate": "llm", "trust_level": "L1",
        "offers": [
            {"permission": "llm:complete", "price": {"amount": amount, "currency": "USD"},
             "pricing": {"model": "per_unit", "field": "/tokens", "unit": 1000},
             "sla": {"availability_bp": 9000, "p95_latency_ms": 800}}
        ]
    })
}

fn calc_catalog() -> Value {
    json!({
        "gate": "calc", "trust_level": "L1",
        "offers": [
            {"permission": "calc:run", "price": {"amount": 250, "currency": "EUR"},
             "pricing": {"model": "per_call"}},
            {"permission": "calc:bulk", "price": {"amount": 100, "currency": "EUR"},
             "pricing": {"model": "tiered", "field": "/n", "tiers": [
                 {"up_to": 10, "amount": 5}, {"up_to": null, "amount": 2}]}}
        ]
    })
}

fn publish(e: &Engine, catalog: Value) -> Value {
    let gate = catalog["gate"].clone();
    call(
        e,
        "create_catalog",
        json!({"gate": gate, "catalog": catalog}),
    )
    .unwrap();
    call(e, "publish_catalog", json!({"gate": gate})).unwrap()
}

struct World {
    e: Engine,
    issuer: Issuer,
    clock: ManualClock,
    token: String,
}

fn world_on(url: &str, fee_bps: u64) -> World {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let e = engine_on(url, &issuer, &clock, fee_bps);
    publish(&e, llm_catalog(300));
    publish(&e, calc_catalog());
    let token = passport(&e, &issuer, "agent-1", json!(null));
    World {
        e,
        issuer,
        clock,
        token,
    }
}

fn world(fee_bps: u64) -> World {
    world_on("memory:", fee_bps)
}

fn passport(e: &Engine, issuer: &Issuer, agent: &str, pins: Value) -> String {
    call(
        e,
        "issue_passport",
        json!({"issuer_secret": issuer.secret(), "agent_id": agent,
               "permissions": ["llm:*", "calc:run", "plain:run"], "pins": pins}),
    )
    .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn enforce(e: &Engine, token: &str, gate: &str, payload: Value) -> Value {
    call(
        e,
        "enforce",
        json!({"gate": gate, "passport": token, "payload": payload}),
    )
    .unwrap()
}

fn decision_record(e: &Engine, evaluation_id: &str) -> Value {
    let all = e
        .attestations(&passgate::AttestationFilter {
            evaluation_id: Some(evaluation_id.into()),
            kind: Some("decision".into()),
            ..Default::default()
        })
        .unwrap();
    all[0].clone()
}

fn consume(e: &Engine, evaluation_id: &Value, extra: Value) -> passgate::Result<Value> {
    let mut args = json!({"evaluation_id": evaluation_id, "outcome": "success"});
    for (k, v) in extra.as_object().unwrap() {
        args[k] = v.clone();
    }
    call(e, "issue_consumption_attestation", args)
}

// ---- the terms a decision applies -----------------------------------------------------------

#[test]
fn an_allowed_decision_records_the_catalog_terms_it_applied_and_a_denied_one_none() {
    let w = world(0);
    let d = enforce(&w.e, &w.token, "llm", json!({"tokens": 10}));
    assert_eq!(d["decision"], "allow");
    let rec = decision_record(&w.e, d["evaluation_id"].as_str().unwrap());
    let v1 = w.e.get_catalog("llm", None).unwrap();
    assert_eq!(
        rec["body"]["catalog"],
        json!({"version": 1, "content_hash": v1.content_hash, "permission": "llm:complete"})
    );
    let denied = enforce(&w.e, &w.token, "calc", json!({"n": 1000}));
    assert_eq!(denied["decision"], "deny");
    let rec = decision_record(&w.e, denied["evaluation_id"].as_str().unwrap());
    assert!(rec["body"].get("catalog").is_none());
    // A gate without a catalog applies none.
    let d = enforce(&w.e, &w.token, "plain", json!({}));
    let rec = decision_record(&w.e, d["evaluation_id"].as_str().unwrap());
    assert!(rec["body"].get("catalog").is_none());
}

#[test]
fn a_pinned_passport_keeps_its_terms_after_a_new_version_and_others_get_the_new_price() {
    let w = world(0);
    let v1 = w.e.get_catalog("llm", None).unwrap();
    let pinned = passport(
        &w.e,
        &w.issuer,
        "pinned",
        json!([{"gate": "llm", "version": 1, "content_hash": v1.content_hash}]),
    );
    publish(&w.e, llm_catalog(900));
    w.clock.advance_ms(1);
    let old = enforce(&w.e, &pinned, "llm", json!({"tokens": 2000}));
    let new = enforce(&w.e, &w.token, "llm", json!({"tokens": 2000}));
    let a = consume(&w.e, &old["evaluation_id"], json!({"quantity": 2000})).unwrap();
    let b = consume(&w.e, &new["evaluation_id"], json!({"quantity": 2000})).unwrap();
    assert_eq!(a["body"]["data"]["catalog"]["version"], 1);
    assert_eq!(
        a["body"]["data"]["price"],
        json!({"amount": 600, "currency": "USD"})
    );
    assert_eq!(b["body"]["data"]["catalog"]["version"], 2);
    assert_eq!(
        b["body"]["data"]["price"],
        json!({"amount": 1800, "currency": "USD"})
    );
}

// ---- consumption attestations ---------------------------------------------------------------

#[test]
fn a_consumption_is_priced_exactly_signed_chained_and_linked_to_its_decision() {
    let w = world(250);
    let d = enforce(&w.e, &w.token, "calc", json!({"n": 3}));
    let rec = consume(&w.e, &d["evaluation_id"], json!({"latency_ms": 42})).unwrap();
    passgate::verify_attestation(&rec, w.e.signer_did()).unwrap();
    let data = &rec["body"]["data"];
    assert_eq!(rec["body"]["kind"], "consumption");
    let decision = decision_record(&w.e, d["evaluation_id"].as_str().unwrap());
    assert_eq!(data["decision_hash"], decision["hash"]);
    assert_eq!(data["price"], json!({"amount": 250, "currency": "EUR"}));
    assert_eq!(
        (
            data["fee_bps"].as_u64(),
            data["fee"].as_u64(),
            data["net"].as_u64()
        ),
        (Some(250), Some(6), Some(244))
    );
    assert_eq!(
        data["payer"],
        json!({"issuer": w.issuer.did(), "agent_id": "agent-1"})
    );
    assert_eq!(data["payee"], w.e.signer_did());
    assert_eq!(data["permission"], "calc:run");
    assert_eq!(data["quantity"], 1);
    // On the engine's chain, after the decision.
    let chain =
        w.e.attestations(&passgate::AttestationFilter {
            chain: Some(w.e.chain_id()),
            ..Default::default()
        })
        .unwrap();
    passgate::verify_chain(&chain, w.e.signer_did()).unwrap();
    assert_eq!(chain.last().unwrap(), &rec);
}

#[test]
fn outcomes_and_pricing_models_price_as_documented() {
    let w = world(0);
    let price = |gate: &str, payload: Value, extra: Value| -> Value {
        let d = enforce(&w.e, &w.token, gate, payload);
        consume(&w.e, &d["evaluation_id"], extra).unwrap()["body"]["data"]["price"]["amount"]
            .clone()
    };
    // per_unit: floor(300 × 2500 / 1000) = 750.
    assert_eq!(
        price("llm", json!({"tokens": 1}), json!({"quantity": 2500})),
        750
    );
    // error and timeout cost nothing.
    assert_eq!(
        price(
            "llm",
            json!({}),
            json!({"quantity": 2500, "outcome": "error"})
        ),
        0
    );
    assert_eq!(
        price(
            "llm",
            json!({}),
            json!({"quantity": 2500, "outcome": "timeout"})
        ),
        0
    );
    // partial: floor(750 × 1 / 3) = 250.
    assert_eq!(
        price(
            "llm",
            json!({}),
            json!({"quantity": 2500, "outcome": "partial", "delivered": 833})
        ),
        json!(249)
    );
    // tiered: 100 + 10 × 5 + 5 × 2 = 160.
    assert_eq!(
        price(
            "calc",
            json!({"n": 1}),
            json!({"permission": "calc:bulk", "quantity": 15})
        ),
        160
    );
    // per_unit without a quantity, partial without delivered, delivered above quantity.
    let d = enforce(&w.e, &w.token, "llm", json!({}));
    let x = err(consume(&w.e, &d["evaluation_id"], json!({})));
    assert_eq!(x.code(), "CONSUMPTION_INVALID");
    assert!(x.to_string().contains("/quantity"), "{x}");
    let x = err(consume(
        &w.e,
        &d["evaluation_id"],
        json!({"quantity": 3, "outcome": "partial"}),
    ));
    assert!(x.to_string().contains("/delivered"), "{x}");
    let x = err(consume(
        &w.e,
        &d["evaluation_id"],
        json!({"quantity": 3, "outcome": "partial", "delivered": 4}),
    ));
    assert_eq!(x.code(), "CONSUMPTION_INVALID");
    // An offer the catalog does not have.
    let x = err(consume(
        &w.e,
        &d["evaluation_id"],
        json!({"quantity": 3, "permission": "llm:nope"}),
    ));
    assert!(x.to_string().contains("/permission"), "{x}");
    // Failed attempts consumed nothing: the evaluation can still be consumed once.
    consume(&w.e, &d["evaluation_id"], json!({"quantity": 3})).unwrap();
}

#[test]
fn an_overflowing_price_is_a_typed_error_never_a_wrapped_number() {
    let w = world(0);
    publish(&w.e, llm_catalog((1u64 << 53) - 1));
    w.clock.advance_ms(1);
    let d = enforce(&w.e, &w.token, "llm", json!({}));
    let x = err(consume(
        &w.e,
        &d["evaluation_id"],
        json!({"quantity": (1u64 << 53) - 1}),
    ));
    assert_eq!(x.code(), "CONSUMPTION_INVALID");
    assert!(x.to_string().contains("overflow"), "{x}");
}

#[test]
fn one_consumption_per_allowed_evaluation() {
    let w = world(0);
    let d = enforce(&w.e, &w.token, "calc", json!({"n": 1}));
    consume(&w.e, &d["evaluation_id"], json!({})).unwrap();
    let x = err(consume(&w.e, &d["evaluation_id"], json!({})));
    assert_eq!(x.code(), "CONSUMPTION_EXISTS");
    let denied = enforce(&w.e, &w.token, "calc", json!({"n": 101}));
    let x = err(consume(&w.e, &denied["evaluation_id"], json!({})));
    assert_eq!(x.code(), "CONSUMPTION_INVALID");
    assert!(x.to_string().contains("deny"), "{x}");
    let x = err(consume(&w.e, &json!("evl_nope"), json!({})));
    assert_eq!(x.code(), "EVALUATION_UNKNOWN");
    let x = err(call(
        &w.e,
        "issue_consumption_attestation",
        json!({"outcome": "success"}),
    ));
    assert_eq!(
        (x.code(), x.path()),
        ("INVALID_ARGUMENT", Some("/evaluation_id"))
    );
    let x = err(call(
        &w.e,
        "issue_consumption_attestation",
        json!({"evaluation_id": "e", "outcome": "great"}),
    ));
    assert_eq!(x.code(), "INVALID_ARGUMENT");
    // A gate without a catalog: nothing to price.
    let d = enforce(&w.e, &w.token, "plain", json!({}));
    let x = err(consume(&w.e, &d["evaluation_id"], json!({})));
    assert_eq!(x.code(), "CONSUMPTION_INVALID");
}

#[test]
fn settling_a_hold_with_consume_issues_its_consumption_from_the_actual_payload() {
    let w = world(0);
    let d = call(
        &w.e,
        "enforce",
        json!({"gate": "llm", "passport": w.token, "payload": {"tokens": 5000}, "hold": true}),
    )
    .unwrap();
    let hold = d["hold_id"].as_str().unwrap();
    let out = call(&w.e, "settle", json!({"hold_id": hold, "actual": {"tokens": 2500}, "consume": {"outcome": "success", "latency_ms": 120}})).unwrap();
    assert_eq!(out["state"], "settled");
    let c = &out["consumption"]["body"]["data"];
    assert_eq!(
        (c["quantity"].as_u64(), c["hold_id"].as_str()),
        (Some(2500), Some(hold))
    );
    assert_eq!(c["price"]["amount"], 750);
    // By hold id again: the evaluation is consumed.
    let x = err(call(
        &w.e,
        "issue_consumption_attestation",
        json!({"hold_id": hold, "outcome": "success", "quantity": 1}),
    ));
    assert_eq!(x.code(), "CONSUMPTION_EXISTS");
    // A consumption that fails after the settle is reported beside it, not instead of it.
    let d = call(
        &w.e,
        "enforce",
        json!({"gate": "llm", "passport": w.token, "payload": {"tokens": 5}, "hold": true}),
    )
    .unwrap();
    let out = call(
        &w.e,
        "settle",
        json!({"hold_id": d["hold_id"], "actual": {}, "consume": {"outcome": "success"}}),
    )
    .unwrap();
    assert_eq!(out["state"], "settled");
    assert_eq!(out["consumption_error"]["code"], "CONSUMPTION_INVALID");
}

// ---- settlements ------------------------------------------------------------------------------

fn consumed_world(fee_bps: u64) -> (World, Vec<Value>) {
    let w = world(fee_bps);
    let other = passport(&w.e, &w.issuer, "agent-2", json!(null));
    let mut recs = Vec::new();
    for (i, tok) in [&w.token, &other, &w.token].iter().enumerate() {
        let d = enforce(&w.e, tok, "llm", json!({}));
        recs.push(
            consume(
                &w.e,
                &d["evaluation_id"],
                json!({"quantity": 1000 * (i as u64 + 1), "latency_ms": 100 * (i as u64 + 1)}),
            )
            .unwrap(),
        );
        let d = enforce(&w.e, tok, "calc", json!({"n": 1}));
        recs.push(consume(&w.e, &d["evaluation_id"], json!({})).unwrap());
        w.clock.advance_ms(1000);
    }
    (w, recs)
}

#[test]
fn a_settlement_totals_the_period_exactly_and_verifies_offline_with_its_records() {
    let (w, recs) = consumed_world(100);
    let s = call(
        &w.e,
        "generate_settlement",
        json!({"from": T0, "to": T0 + HOUR}),
    )
    .unwrap();
    assert_eq!(s["status"], "draft");
    assert_eq!(s["count"], 6);
    assert_eq!(
        s["totals"]["USD"],
        json!({"gross": 300 + 600 + 900, "fee": 3 + 6 + 9, "net": 297 + 594 + 891, "count": 3})
    );
    assert_eq!(
        s["totals"]["EUR"],
        json!({"gross": 750, "fee": 6, "net": 744, "count": 3})
    );
    let ids: Vec<String> = recs
        .iter()
        .map(|r| r["body"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(s["document"]["body"]["merkle_root"], merkle_root(&ids));
    let bundle = call(
        &w.e,
        "export_settlement",
        json!({"settlement_id": s["settlement_id"]}),
    )
    .unwrap();
    assert_eq!(bundle["consumptions"].as_array().unwrap().len(), 6);
    let v = verify_settlement(
        &bundle["settlement"],
        w.e.signer_did(),
        Some(bundle["consumptions"].as_array().unwrap()),
    )
    .unwrap();
    assert!(v.records_checked);
    // A settlement of one payer.
    let s2 = call(&w.e, "generate_settlement", json!({"from": T0, "to": T0 + HOUR, "payer": {"issuer": w.issuer.did(), "agent_id": "agent-2"}})).unwrap();
    assert_eq!(s2["count"], 2);
    // A period with nothing.
    let s3 = call(
        &w.e,
        "generate_settlement",
        json!({"from": T0 + HOUR, "to": T0 + 2 * HOUR}),
    )
    .unwrap();
    assert_eq!(
        (s3["count"].as_u64(), s3["totals"].clone()),
        (Some(0), json!({}))
    );
    // Generated and attested.
    let gen =
        w.e.attestations(&passgate::AttestationFilter {
            kind: Some("settlement.generated".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(gen.len(), 3);
    let x = err(call(
        &w.e,
        "generate_settlement",
        json!({"from": T0, "to": T0}),
    ));
    assert_eq!(x.code(), "INVALID_ARGUMENT");
}

#[test]
fn any_changed_byte_of_a_settlement_or_an_included_record_is_detected() {
    let (w, _) = consumed_world(0);
    let s = call(
        &w.e,
        "generate_settlement",
        json!({"from": T0, "to": T0 + HOUR}),
    )
    .unwrap();
    let bundle = call(
        &w.e,
        "export_settlement",
        json!({"settlement_id": s["settlement_id"]}),
    )
    .unwrap();
    let recs = bundle["consumptions"].as_array().unwrap().clone();
    let did = w.e.signer_did();
    // A changed total, a changed amount in a record, a dropped record, an extra one, another key.
    let mut doc = bundle["settlement"].clone();
    doc["body"]["totals"]["USD"]["gross"] = json!(1);
    assert_eq!(
        verify_settlement(&doc, did, None).unwrap_err().code(),
        "ATTESTATION_HASH"
    );
    let mut bad = recs.clone();
    bad[0]["body"]["data"]["price"]["amount"] = json!(1);
    assert_eq!(
        verify_settlement(&bundle["settlement"], did, Some(&bad))
            .unwrap_err()
            .code(),
        "ATTESTATION_HASH"
    );
    let short = &recs[1..];
    assert_eq!(
        verify_settlement(&bundle["settlement"], did, Some(short))
            .unwrap_err()
            .code(),
        "ATTESTATION_HASH"
    );
    let mut dup = recs.clone();
    dup.push(recs[0].clone());
    assert_eq!(
        verify_settlement(&bundle["settlement"], did, Some(&dup))
            .unwrap_err()
            .code(),
        "CONSUMPTION_INVALID"
    );
    let stranger = Issuer::generate().unwrap();
    assert_eq!(
        verify_settlement(&bundle["settlement"], stranger.did(), None)
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
    // A settlement cannot pass for an attestation record, nor a record for a settlement.
    assert!(passgate::verify_attestation(&bundle["settlement"], did).is_err());
    assert!(verify_settlement(&recs[0], did, None).is_err());
}

#[test]
fn the_status_moves_only_through_the_state_machine_and_each_move_is_attested() {
    let (w, _) = consumed_world(0);
    let s = call(
        &w.e,
        "generate_settlement",
        json!({"from": T0, "to": T0 + HOUR}),
    )
    .unwrap();
    let id = s["settlement_id"].clone();
    let up = |to: &str| {
        call(
            &w.e,
            "update_settlement_status",
            json!({"settlement_id": id, "status": to}),
        )
    };
    let x = err(up("paid"));
    assert_eq!(x.code(), "SETTLEMENT_TRANSITION");
    assert!(x.to_string().contains("draft -> paid"), "{x}");
    assert_eq!(up("issued").unwrap()["status"], "issued");
    assert_eq!(up("disputed").unwrap()["status"], "disputed");
    assert_eq!(up("paid").unwrap()["status"], "paid");
    for to in ["void", "issued", "draft", "disputed", "paid"] {
        let x = err(up(to));
        assert_eq!(x.code(), "SETTLEMENT_TRANSITION", "{to}");
        assert!(x.to_string().contains(&format!("paid -> {to}")), "{x}");
    }
    let x = err(up("lost"));
    assert_eq!((x.code(), x.path()), ("INVALID_ARGUMENT", Some("/status")));
    let moves =
        w.e.attestations(&passgate::AttestationFilter {
            kind: Some("settlement.status".into()),
            ..Default::default()
        })
        .unwrap();
    let seen: Vec<(Value, Value)> = moves
        .iter()
        .map(|r| {
            (
                r["body"]["data"]["from"].clone(),
                r["body"]["data"]["to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (json!("draft"), json!("issued")),
            (json!("issued"), json!("disputed")),
            (json!("disputed"), json!("paid"))
        ]
    );
    assert_eq!(
        call(&w.e, "get_settlement", json!({"settlement_id": id})).unwrap()["status"],
        "paid"
    );
    let x = err(call(
        &w.e,
        "get_settlement",
        json!({"settlement_id": "stl_nope"}),
    ));
    assert_eq!(x.code(), "SETTLEMENT_UNKNOWN");
    let x = err(call(
        &w.e,
        "update_settlement_status",
        json!({"settlement_id": "stl_nope", "status": "void"}),
    ));
    assert_eq!(x.code(), "SETTLEMENT_UNKNOWN");
}

#[test]
fn concurrent_transitions_from_one_status_never_both_happen() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:///{}", dir.path().join("s.db").display());
    let w = world_on(&url, 0);
    let d = enforce(&w.e, &w.token, "calc", json!({"n": 1}));
    consume(&w.e, &d["evaluation_id"], json!({})).unwrap();
    let s = w.e.generate_settlement(T0, T0 + HOUR, None, None).unwrap();
    w.e.update_settlement_status(&s.settlement_id, "issued", None)
        .unwrap();
    let other = engine_on(&url, &w.issuer, &w.clock, 0);
    let results: Vec<_> = std::thread::scope(|sc| {
        let a = sc.spawn(|| w.e.update_settlement_status(&s.settlement_id, "paid", None));
        let b = sc.spawn(|| other.update_settlement_status(&s.settlement_id, "void", None));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let x = results.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(x.code(), "SETTLEMENT_TRANSITION");
}

#[test]
fn a_tampered_consumption_record_in_the_store_fails_the_settlement_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let url = format!("sqlite:///{}", path.display());
    let w = world_on(&url, 0);
    let d = enforce(&w.e, &w.token, "calc", json!({"n": 1}));
    let rec = consume(&w.e, &d["evaluation_id"], json!({})).unwrap();
    let id = rec["body"]["id"].as_str().unwrap().to_string();
    let c = rusqlite::Connection::open(&path).unwrap();
    let text: String = c
        .query_row(
            "SELECT record FROM records WHERE kind = 'consumption'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let forged = text.replace("\"amount\":250", "\"amount\":25");
    assert_ne!(forged, text);
    c.execute(
        "UPDATE records SET record = ?1 WHERE kind = 'consumption'",
        [&forged],
    )
    .unwrap();
    drop(c);
    let x =
        w.e.generate_settlement(T0, T0 + HOUR, None, None)
            .unwrap_err();
    assert_eq!(x.code(), "CONSUMPTION_INVALID");
    assert!(
        x.to_string().contains(&id) && x.to_string().contains("ATTESTATION_HASH"),
        "{x}"
    );
}

// ---- the agent as the adversary -------------------------------------------------------------

#[test]
fn an_agent_cannot_mint_or_forge_a_consumption_record() {
    let w = world(0);
    // Not an agent tool.
    let agent_tools = mcp::tools(Role::Agent).to_string();
    for t in [
        "issue_consumption_attestation",
        "generate_settlement",
        "update_settlement_status",
        "get_billing_summary",
    ] {
        assert!(!agent_tools.contains(t), "{t} offered to the agent");
    }
    // Nor a host record.
    for kind in ["consumption", "settlement.status", "settlement.generated"] {
        let x = w.e.record_attestation(kind, &json!({})).unwrap_err();
        assert_eq!(x.code(), "INVALID_ARGUMENT", "{kind}");
    }
    // A record signed with the agent's own key does not verify as the engine's, and a
    // settlement given it fails.
    let d = enforce(&w.e, &w.token, "calc", json!({"n": 1}));
    let real = consume(&w.e, &d["evaluation_id"], json!({})).unwrap();
    let agent_key = passgate::KeyPair::generate().unwrap();
    let (forged, _) = passgate::attestation::seal(real["body"].clone(), &agent_key).unwrap();
    assert_eq!(
        passgate::verify_attestation(&forged, w.e.signer_did())
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
    let s = w.e.generate_settlement(T0, T0 + HOUR, None, None).unwrap();
    assert_eq!(
        verify_settlement(&s.document, w.e.signer_did(), Some(&[forged]))
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
}

// ---- billing and SLA -------------------------------------------------------------------------

#[test]
fn billing_summary_and_sla_compliance_aggregate_the_records() {
    let (w, _) = consumed_world(0);
    let all = call(&w.e, "get_billing_summary", json!({})).unwrap();
    assert_eq!(all["count"], 6);
    assert_eq!(all["totals"]["USD"]["gross"], 1800);
    let one = call(&w.e, "get_billing_summary", json!({"filter": {"gate": "calc", "payer": {"issuer": w.issuer.did(), "agent_id": "agent-1"}}})).unwrap();
    assert_eq!(
        (
            one["count"].as_u64(),
            one["totals"]["EUR"]["gross"].as_u64()
        ),
        (Some(2), Some(500))
    );
    // Add failures: 3 success, 1 error, 1 timeout on llm -> 6000 bps, below the 9000 promised.
    for outcome in ["error", "timeout"] {
        let d = enforce(&w.e, &w.token, "llm", json!({}));
        consume(
            &w.e,
            &d["evaluation_id"],
            json!({"quantity": 1, "outcome": outcome, "latency_ms": 2000}),
        )
        .unwrap();
    }
    let sla = call(
        &w.e,
        "get_sla_compliance",
        json!({"gate": "llm", "from": T0, "to": T0 + HOUR}),
    )
    .unwrap();
    assert_eq!(
        sla["outcomes"],
        json!({"success": 3, "error": 1, "timeout": 1, "partial": 0})
    );
    assert_eq!(sla["success_bps"], 6000);
    // Latencies 100, 200, 300, 2000, 2000: nearest rank ceil(0.95 × 5) = 5 -> 2000.
    assert_eq!(sla["p95_latency_ms"], 2000);
    assert_eq!(
        sla["sla"],
        json!({"availability_bp": 9000, "p95_latency_ms": 800})
    );
    assert_eq!(sla["met"], false);
    // Only the first three (100, 200, 300 ms): rank ceil(0.95 × 3) = 3 -> 300.
    let calm = call(
        &w.e,
        "get_sla_compliance",
        json!({"gate": "llm", "from": T0, "to": T0 + 2500}),
    )
    .unwrap();
    assert_eq!(
        (
            calm["success_bps"].as_u64(),
            calm["p95_latency_ms"].as_u64(),
            calm["met"].as_bool()
        ),
        (Some(10_000), Some(300), Some(true))
    );
    let none = call(
        &w.e,
        "get_sla_compliance",
        json!({"gate": "calc", "from": T0, "to": T0 + HOUR}),
    )
    .unwrap();
    assert_eq!(none["met"], Value::Null, "the calc catalog states no SLA");
}

#[test]
fn a_platform_fee_above_100_percent_is_refused() {
    let x = Engine::builder()
        .platform_fee_bps(10_001)
        .build()
        .unwrap_err();
    assert_eq!(
        (x.code(), x.path()),
        ("INVALID_ARGUMENT", Some("/platform_fee_bps"))
    );
}

// ---- properties -----------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Settlement totals equal the sum of the included consumption records, for random
    /// sequences of outcomes, quantities and fees.
    #[test]
    fn settlement_totals_are_the_sum_of_the_records(
        fee in 0u64..=10_000,
        calls in proptest::collection::vec((0u8..4, 0u64..5_000_000, 0u64..100), 0..12),
    ) {
        let w = world(fee);
        let mut want: std::collections::BTreeMap<String, (u64, u64, u64, u64)> = Default::default();
        for (o, q, pct) in calls {
            let outcome = ["success", "error", "timeout", "partial"][o as usize];
            let (gate, extra) = match q % 2 {
                0 => ("llm", json!({"quantity": q.max(1), "outcome": outcome, "delivered": q.max(1) * pct / 100})),
                _ => ("calc", json!({"quantity": q.max(1), "outcome": outcome, "delivered": q.max(1) * pct / 100})),
            };
            let d = enforce(&w.e, &w.token, gate, json!({"n": 1}));
            let rec = consume(&w.e, &d["evaluation_id"], extra).unwrap();
            let c = read_consumption(&rec).unwrap();
            let e = want.entry(c.currency.clone()).or_default();
            *e = (e.0 + c.priced.amount, e.1 + c.priced.fee, e.2 + c.priced.net, e.3 + 1);
        }
        let s = w.e.generate_settlement(T0, T0 + HOUR, None, None).unwrap();
        let got: std::collections::BTreeMap<String, (u64, u64, u64, u64)> = s.totals.iter()
            .map(|(k, t)| (k.clone(), (t.gross, t.fee, t.net, t.count))).collect();
        prop_assert_eq!(got, want);
        let b = w.e.export_settlement(&s.settlement_id).unwrap();
        prop_assert!(verify_settlement(&b.settlement, w.e.signer_did(), Some(&b.consumptions)).is_ok());
    }

    /// Any changed byte of a settlement statement or of an included consumption record is
    /// detected by offline verification.
    #[test]
    fn any_flipped_byte_is_detected(pick in 0usize..2, at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let w = world(0);
        let d = enforce(&w.e, &w.token, "calc", json!({"n": 1}));
        consume(&w.e, &d["evaluation_id"], json!({})).unwrap();
        let s = w.e.generate_settlement(T0, T0 + HOUR, None, None).unwrap();
        let b = w.e.export_settlement(&s.settlement_id).unwrap();
        let did = w.e.signer_did().to_string();
        let target = if pick == 0 { b.settlement.clone() } else { b.consumptions[0].clone() };
        let mut bytes = serde_json::to_vec(&target).unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let Ok(changed) = serde_json::from_slice::<Value>(&bytes) else { return Ok(()); };
        if changed == target { return Ok(()); }
        let r = if pick == 0 {
            verify_settlement(&changed, &did, Some(&b.consumptions))
        } else {
            verify_settlement(&b.settlement, &did, Some(&[changed]))
        };
        prop_assert!(r.is_err());
    }
}
