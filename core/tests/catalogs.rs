//! Catalogs (issue 18 items 1–3): the catalog document and its typed errors, publication
//! (versioned, signed in its own domain, written once, attested), reads, the impact diff, pins
//! checked by `enforce` (and inherited, never changed, by delegates), discovery, the MCP roles,
//! and two engines sharing one SQLite file. The agent is the adversary: it holds a passport and
//! its key, mints sub-passports with claims of its choosing, and calls the tools it is given.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::Arc;

use passgate::__private::keys::b64u_encode;
use passgate::clock::ManualClock;
use passgate::mcp::{self, Role};
use passgate::{ops, Engine, Issuer, KeyPair};
use serde_json::{json, Value};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const HOUR: i64 = 3_600_000;

const POLICY: &str = r#"{"version": 1, "gates": {
    "llm": {"require": ["llm:complete"]},
    "search": {"require": ["search:query"]}
}, "anonymous": {"gates": ["search"]}}"#;

fn engine_on(url: &str, issuer: &Issuer, clock: &ManualClock) -> Engine {
    Engine::builder()
        .policy_json(POLICY)
        .trusted_issuers([issuer.did().to_string()])
        .store_url(url)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

fn call(e: &Engine, op: &str, args: Value) -> passgate::Result<Value> {
    ops::call(e, op, args)
}

fn err(r: passgate::Result<Value>) -> passgate::Error {
    r.map(|v| panic!("expected an error, got {v}")).unwrap_err()
}

fn catalog_v1() -> Value {
    json!({
        "gate": "llm", "description": "Completions", "trust_level": "L1",
        "offers": [
            {"permission": "llm:complete", "price": {"amount": 200, "currency": "USD"},
             "pricing": {"model": "per_unit", "field": "/tokens", "unit": 1000},
             "sla": {"availability_bp": 9990, "p95_latency_ms": 800},
             "rate": {"max": 100, "window": "1m"}, "approval_threshold": 50_000, "risk": "low"},
            {"permission": "llm:embed", "price": {"amount": 5, "currency": "USD"},
             "pricing": {"model": "per_call"}},
            {"permission": "llm:batch", "price": {"amount": 0, "currency": "USD"},
             "pricing": {"model": "tiered", "field": "/items", "tiers": [
                 {"up_to": 100, "amount": 10}, {"up_to": 1000, "amount": 8}, {"up_to": null, "amount": 5}
             ]}}
        ]
    })
}

fn publish(e: &Engine, catalog: Value, summary: &str) -> Value {
    call(
        e,
        "create_catalog",
        json!({"gate": catalog["gate"], "catalog": catalog}),
    )
    .unwrap();
    call(
        e,
        "publish_catalog",
        json!({"gate": "llm", "change_summary": summary}),
    )
    .unwrap()
}

fn world() -> (Engine, Issuer, ManualClock) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    (engine_on("memory:", &issuer, &clock), issuer, clock)
}

fn issue(e: &Engine, issuer: &Issuer, pins: Value) -> Value {
    call(
        e,
        "issue_passport",
        json!({"issuer_secret": issuer.secret(), "agent_id": "agent-1",
               "permissions": ["llm:*"], "pins": pins}),
    )
    .unwrap()
}

fn enforce(e: &Engine, token: &str) -> Value {
    call(
        e,
        "enforce",
        json!({"gate": "llm", "passport": token, "payload": {"tokens": 10}}),
    )
    .unwrap()
}

fn pin_check(d: &Value) -> Option<Value> {
    d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "catalog_pin")
        .cloned()
}

// ---- the document ----------------------------------------------------------------------------

#[test]
fn a_valid_catalog_is_drafted_in_normal_form_with_its_content_hash() {
    let (e, _, _) = world();
    let d = call(
        &e,
        "create_catalog",
        json!({"gate": "llm", "catalog": catalog_v1()}),
    )
    .unwrap();
    assert_eq!(d["next_version"], 1);
    assert_eq!(d["catalog"], catalog_v1());
    let h = d["content_hash"].as_str().unwrap();
    // sha256 of the RFC 8785 form: keys sorted, no whitespace (every value here is a string or
    // a small integer, so the canonical text is easy to state independently).
    let canonical = passgate::__private::json::canonical(&catalog_v1()).unwrap();
    assert!(canonical.starts_with(
        r#"{"description":"Completions","gate":"llm","offers":[{"approval_threshold":50000,"#
    ));
    use sha2::{Digest, Sha256};
    assert_eq!(
        h,
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        )
    );
    // Drafting changes no version.
    let l = call(&e, "list_catalog_versions", json!({"gate": "llm"})).unwrap();
    assert_eq!(l["versions"], json!([]));
    assert_eq!(l["has_draft"], true);
}

#[test]
fn bad_catalogs_are_catalog_invalid_naming_the_field() {
    let (e, _, _) = world();
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!(12.5), "/offers/0/price/amount", "float"),
        (json!(1.0), "/offers/0/price/amount", "float"),
        (json!(-1), "/offers/0/price/amount", "negative"),
        (json!("100"), "/offers/0/price/amount", "integer"),
        (
            json!(9_007_199_254_740_992_u64),
            "/offers/0/price/amount",
            "at most",
        ),
    ];
    for (amount, path, word) in cases {
        let mut c = catalog_v1();
        c["offers"][0]["price"]["amount"] = amount.clone();
        let x = err(call(
            &e,
            "create_catalog",
            json!({"gate": "llm", "catalog": c}),
        ));
        assert_eq!(
            (x.code(), x.path()),
            ("CATALOG_INVALID", Some(path)),
            "{amount}: {x}"
        );
        assert!(x.to_string().contains(word), "{amount}: {x}");
    }
    type Edit = Box<dyn Fn(&mut Value)>;
    let mutations: Vec<(&str, Edit)> = vec![
        (
            "/offers/1/pricing/model",
            Box::new(|c| c["offers"][1]["pricing"] = json!({"model": "auction"})),
        ),
        (
            "/offers/1/pricing/model",
            Box::new(|c| c["offers"][1]["pricing"] = json!({})),
        ),
        (
            "/offers/1/pricing/field",
            Box::new(|c| c["offers"][1]["pricing"]["field"] = json!("/x")),
        ),
        (
            "/offers/0/pricing/unit",
            Box::new(|c| c["offers"][0]["pricing"]["unit"] = json!(0)),
        ),
        (
            "/offers/0/pricing/field",
            Box::new(|c| c["offers"][0]["pricing"]["field"] = json!("tokens")),
        ),
        (
            "/offers/0/price/currency",
            Box::new(|c| c["offers"][0]["price"]["currency"] = json!("usd")),
        ),
        (
            "/offers/0/price/currency",
            Box::new(|c| c["offers"][0]["price"]["currency"] = json!("USDT")),
        ),
        (
            "/offers/0/sla/availability_bp",
            Box::new(|c| c["offers"][0]["sla"]["availability_bp"] = json!(10001)),
        ),
        (
            "/offers/0/sla/p95_latency_ms",
            Box::new(|c| c["offers"][0]["sla"]["p95_latency_ms"] = json!(0.5)),
        ),
        (
            "/offers/0/rate/window",
            Box::new(|c| c["offers"][0]["rate"]["window"] = json!("1 minute")),
        ),
        (
            "/offers/0/rate/max",
            Box::new(|c| c["offers"][0]["rate"]["max"] = json!(0)),
        ),
        (
            "/offers/0/approval_threshold",
            Box::new(|c| c["offers"][0]["approval_threshold"] = json!(-5)),
        ),
        (
            "/offers/0/risk",
            Box::new(|c| c["offers"][0]["risk"] = json!("extreme")),
        ),
        (
            "/offers/0/prize",
            Box::new(|c| c["offers"][0]["prize"] = json!(1)),
        ),
        ("/trust_level", Box::new(|c| c["trust_level"] = json!("L4"))),
        ("/offers", Box::new(|c| c["offers"] = json!({}))),
        (
            "/offers/1/permission",
            Box::new(|c| c["offers"][1]["permission"] = json!("llm:complete")),
        ),
        (
            "/offers/2/pricing/tiers/1/up_to",
            Box::new(|c| c["offers"][2]["pricing"]["tiers"][1]["up_to"] = json!(100)),
        ),
        (
            "/offers/2/pricing/tiers/2/up_to",
            Box::new(|c| c["offers"][2]["pricing"]["tiers"][2]["up_to"] = json!(5000)),
        ),
        (
            "/offers/2/pricing/tiers/0/up_to",
            Box::new(|c| c["offers"][2]["pricing"]["tiers"][0]["up_to"] = Value::Null),
        ),
        (
            "/offers/2/pricing/tiers/0/amount",
            Box::new(|c| c["offers"][2]["pricing"]["tiers"][0]["amount"] = json!(0.1)),
        ),
        (
            "/offers/2/pricing/tiers",
            Box::new(|c| c["offers"][2]["pricing"]["tiers"] = json!([])),
        ),
        ("/gate", Box::new(|c| c["gate"] = json!("search"))),
    ];
    for (path, edit) in mutations {
        let mut c = catalog_v1();
        edit(&mut c);
        let x = err(call(
            &e,
            "create_catalog",
            json!({"gate": "llm", "catalog": c}),
        ));
        assert_eq!((x.code(), x.path()), ("CATALOG_INVALID", Some(path)), "{x}");
    }
    // A typo gets a hint.
    let mut c = catalog_v1();
    c["offers"][0]["approval_treshold"] = json!(1);
    let x = err(call(
        &e,
        "create_catalog",
        json!({"gate": "llm", "catalog": c}),
    ));
    assert!(
        x.to_string()
            .contains("did you mean \"approval_threshold\""),
        "{x}"
    );
    // Nothing bad was drafted.
    let l = call(&e, "list_catalog_versions", json!({"gate": "llm"})).unwrap();
    assert_eq!(l["has_draft"], false);
}

#[test]
fn the_published_schema_agrees_with_the_engine_on_samples() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/catalog.schema.json"
    ))
    .unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&catalog_v1()));
    let mut bad = catalog_v1();
    bad["offers"][0]["price"]["amount"] = json!(-1);
    assert!(!v.is_valid(&bad));
    bad = catalog_v1();
    bad["offers"][1]["pricing"] = json!({"model": "auction"});
    assert!(!v.is_valid(&bad));
    bad = catalog_v1();
    bad["offers"][0]["price"]["amount"] = json!(1.5);
    assert!(!v.is_valid(&bad));
    for f in [
        "bindings-python/python/passgate/catalog.schema.json",
        "bindings-node/catalog.schema.json",
    ] {
        let copy =
            std::fs::read_to_string(format!("{}/../{f}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert_eq!(
            copy, text,
            "{f} is a copy of schema/catalog.schema.json (make copies)"
        );
    }
}

// ---- publication -----------------------------------------------------------------------------

#[test]
fn publishing_signs_versions_once_and_attests_them() {
    let (e, _, clock) = world();
    let v1 = publish(&e, catalog_v1(), "launch");
    assert_eq!(
        (v1["version"].as_u64(), v1["gate"].as_str()),
        (Some(1), Some("llm"))
    );
    assert_eq!(v1["effective_at"], T0);
    assert_eq!(v1["signer"], e.signer_did());
    // The document verifies offline with the did alone, and its content hash is recomputed.
    let ok = call(
        &e,
        "verify_catalog",
        json!({"document": v1["document"], "did": e.signer_did()}),
    )
    .unwrap();
    assert_eq!(
        ok,
        json!({"valid": true, "gate": "llm", "version": 1, "content_hash": v1["content_hash"]})
    );
    // Publishing the same draft again is refused: nothing changed.
    let x = err(call(&e, "publish_catalog", json!({"gate": "llm"})));
    assert_eq!(x.code(), "INVALID_ARGUMENT");
    // No draft at all: CATALOG_UNKNOWN.
    let x = err(call(&e, "publish_catalog", json!({"gate": "search"})));
    assert_eq!(x.code(), "CATALOG_UNKNOWN");
    clock.set_ms(T0 + HOUR);
    let mut c2 = catalog_v1();
    c2["offers"][0]["price"]["amount"] = json!(300);
    let v2 = publish(&e, c2, "price up");
    assert_eq!(v2["version"], 2);
    assert_ne!(v2["content_hash"], v1["content_hash"]);
    // v1 is unchanged, and still readable.
    let again = call(
        &e,
        "get_catalog_version",
        json!({"gate": "llm", "version": 1}),
    )
    .unwrap();
    assert_eq!(again["document"], v1["document"]);
    assert_eq!(
        call(&e, "get_catalog", json!({"gate": "llm"})).unwrap()["version"],
        2
    );
    let x = err(call(
        &e,
        "get_catalog_version",
        json!({"gate": "llm", "version": 3}),
    ));
    assert_eq!(x.code(), "CATALOG_UNKNOWN");
    // Each publication is attested, on the engine's verifiable chain.
    let recs = call(&e, "attestations", json!({"kind": "catalog.published"})).unwrap();
    let recs = recs["attestations"].as_array().unwrap().clone();
    assert_eq!(recs.len(), 2);
    let data = &recs[1]["body"]["data"];
    assert_eq!(data["version"], "2");
    assert_eq!(data["content_hash"], v2["content_hash"]);
    assert_eq!(data["document_hash"], v2["document"]["hash"]);
    assert_eq!(data["change_summary"], "price up");
    for r in &recs {
        passgate::verify_attestation(r, e.signer_did()).unwrap();
    }
    let l = call(&e, "list_catalog_versions", json!({"gate": "llm"})).unwrap();
    let current: Vec<bool> = l["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["current"].as_bool().unwrap())
        .collect();
    assert_eq!(current, [false, true]);
}

#[test]
fn a_future_version_is_not_current_until_it_takes_effect() {
    let (e, _, clock) = world();
    publish(&e, catalog_v1(), "v1");
    let mut c2 = catalog_v1();
    c2["offers"][1]["price"]["amount"] = json!(6);
    call(&e, "create_catalog", json!({"gate": "llm", "catalog": c2})).unwrap();
    let v2 = call(
        &e,
        "publish_catalog",
        json!({"gate": "llm", "effective_at": T0 + 2 * HOUR}),
    )
    .unwrap();
    assert_eq!(v2["version"], 2);
    assert_eq!(
        call(&e, "get_catalog", json!({"gate": "llm"})).unwrap()["version"],
        1
    );
    clock.set_ms(T0 + 2 * HOUR);
    assert_eq!(
        call(&e, "get_catalog", json!({"gate": "llm"})).unwrap()["version"],
        2
    );
    // A version may not take effect before the one it follows.
    let mut c3 = catalog_v1();
    c3["offers"][1]["price"]["amount"] = json!(7);
    call(&e, "create_catalog", json!({"gate": "llm", "catalog": c3})).unwrap();
    let x = err(call(
        &e,
        "publish_catalog",
        json!({"gate": "llm", "effective_at": T0}),
    ));
    assert_eq!(
        (x.code(), x.path()),
        ("INVALID_ARGUMENT", Some("/effective_at"))
    );
}

#[test]
fn any_changed_byte_of_a_published_catalog_is_detected() {
    let (e, _, _) = world();
    let v1 = publish(&e, catalog_v1(), "launch");
    let doc = v1["document"].clone();
    let did = e.signer_did().to_string();
    let verify = |d: &Value, did: &str| {
        passgate::commerce::verify_catalog(d, did)
            .map(|_| ())
            .map_err(|e| e.code().to_string())
    };
    assert_eq!(verify(&doc, &did), Ok(()));
    // Every string and number in the body, changed.
    let mut edits: Vec<Value> = Vec::new();
    let mut a = doc.clone();
    a["body"]["catalog"]["offers"][0]["price"]["amount"] = json!(199);
    edits.push(a);
    let mut a = doc.clone();
    a["body"]["version"] = json!(2);
    edits.push(a);
    let mut a = doc.clone();
    a["body"]["effective_at"] = json!(T0 - 1);
    edits.push(a);
    let mut a = doc.clone();
    a["body"]["catalog"]["offers"][0]["pricing"]["unit"] = json!(10_000);
    edits.push(a);
    let mut a = doc.clone();
    a["body"]["change_summary"] = json!("nothing to see");
    edits.push(a);
    for a in &edits {
        assert_eq!(verify(a, &did), Err("ATTESTATION_HASH".into()), "{a}");
    }
    // Re-hashing a changed body does not help: the signature fails.
    let mut a = doc.clone();
    a["body"]["catalog"]["offers"][0]["price"]["amount"] = json!(1);
    let body = a["body"].clone();
    let canonical = passgate::__private::json::canonical(&body).unwrap();
    use sha2::{Digest, Sha256};
    a["hash"] = json!(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    ));
    assert_eq!(
        verify(&a, &did),
        Err("ATTESTATION_SIGNATURE".into()),
        "re-hashed, not re-signed"
    );
    a["body"]["content_hash"] = json!(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(
            passgate::__private::json::canonical(&a["body"]["catalog"])
                .unwrap()
                .as_bytes()
        ))
    ));
    let canonical = passgate::__private::json::canonical(&a["body"]).unwrap();
    a["hash"] = json!(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    ));
    assert_eq!(verify(&a, &did), Err("ATTESTATION_SIGNATURE".into()));
    // Another signer, or a document re-signed by someone else, is refused.
    let other = KeyPair::generate().unwrap();
    assert_eq!(verify(&doc, other.did()), Err("ATTESTATION_KEY".into()));
    // A catalog is not an attestation, and an attestation not a catalog (separate domains).
    assert!(passgate::verify_attestation(&doc, &did).is_err());
    let rec = call(&e, "attestations", json!({"kind": "catalog.published"})).unwrap()
        ["attestations"][0]
        .clone();
    assert!(verify(&rec, &did).is_err());
    // The op, with a changed signature byte.
    let mut a = doc.clone();
    let sig = a["sig"].as_str().unwrap().to_string();
    let rest = sig.get(1..).unwrap();
    let flipped = match sig.strip_prefix('A') {
        Some(rest) => format!("B{rest}"),
        None => format!("A{rest}"),
    };
    a["sig"] = json!(flipped);
    let x = err(call(&e, "verify_catalog", json!({"document": a})));
    assert_eq!(x.code(), "ATTESTATION_SIGNATURE");
}

// ---- impact ----------------------------------------------------------------------------------

#[test]
fn impact_is_a_typed_diff_with_breaking_changes_flagged() {
    let (e, _, clock) = world();
    publish(&e, catalog_v1(), "v1");
    clock.set_ms(T0 + 1);
    let mut c2 = catalog_v1();
    c2["offers"][0]["pricing"]["unit"] = json!(500); // same amount for fewer tokens: up
    c2["offers"][0]["sla"] = json!({"availability_bp": 9900, "p95_latency_ms": 800});
    c2["offers"][0]["rate"] = json!({"max": 60, "window": "1m"});
    c2["offers"][1]["price"]["amount"] = json!(4);
    c2["offers"].as_array_mut().unwrap().remove(2);
    c2["offers"].as_array_mut().unwrap().push(json!({"permission": "llm:image", "price": {"amount": 40, "currency": "USD"}, "pricing": {"model": "per_call"}}));
    publish(&e, c2, "v2");
    let i = call(
        &e,
        "get_catalog_impact",
        json!({"gate": "llm", "old": 1, "new": 2}),
    )
    .unwrap();
    assert_eq!(i["has_breaking_changes"], true);
    let kinds: Vec<(String, String, bool)> = i["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["permission"].as_str().unwrap_or("").to_string(),
                c["breaking"].as_bool().unwrap(),
            )
        })
        .collect();
    let k = |a: &str, p: &str, b: bool| (a.to_string(), p.to_string(), b);
    assert_eq!(
        kinds,
        vec![
            k("price_increase", "llm:complete", true),
            k("sla_degraded", "llm:complete", true),
            k("constraint_tightened", "llm:complete", true),
            k("price_decrease", "llm:embed", false),
            k("permission_added", "llm:image", false),
            k("permission_removed", "llm:batch", true),
        ]
    );
    // The reverse diff: only the removal of llm:image... and the re-added batch, price back up.
    let r = call(
        &e,
        "get_catalog_impact",
        json!({"gate": "llm", "old": 2, "new": 1}),
    )
    .unwrap();
    assert!(r["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["kind"] == "sla_improved"));
    // A version compared with itself: nothing.
    let same = call(
        &e,
        "get_catalog_impact",
        json!({"gate": "llm", "old": 1, "new": 1}),
    )
    .unwrap();
    assert_eq!(
        (
            same["has_breaking_changes"].clone(),
            same["changes"].clone()
        ),
        (json!(false), json!([]))
    );
    let x = err(call(
        &e,
        "get_catalog_impact",
        json!({"gate": "llm", "old": 1, "new": 9}),
    ));
    assert_eq!(x.code(), "CATALOG_UNKNOWN");
}

#[test]
fn only_price_decreases_and_relaxations_are_not_breaking() {
    let (e, _, clock) = world();
    publish(&e, catalog_v1(), "v1");
    clock.set_ms(T0 + 1);
    let mut c2 = catalog_v1();
    c2["offers"][2]["pricing"]["tiers"][1]["amount"] = json!(7);
    c2["offers"][0]["approval_threshold"] = json!(60_000);
    c2["offers"][0].as_object_mut().unwrap().remove("rate");
    c2["trust_level"] = json!("L1");
    publish(&e, c2, "cheaper");
    let i = call(
        &e,
        "get_catalog_impact",
        json!({"gate": "llm", "old": 1, "new": 2}),
    )
    .unwrap();
    assert_eq!(i["has_breaking_changes"], false, "{i}");
    assert_eq!(i["changes"].as_array().unwrap().len(), 3, "{i}");
    clock.set_ms(T0 + 2);
    let mut c3 = catalog_v1();
    c3["trust_level"] = json!("L3");
    c3["offers"][0]["price"]["currency"] = json!("EUR");
    publish(&e, c3, "stricter");
    let i = call(
        &e,
        "get_catalog_impact",
        json!({"gate": "llm", "old": 1, "new": 3}),
    )
    .unwrap();
    let kinds: Vec<&str> = i["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["trust_level_raised", "currency_changed"]);
    assert_eq!(i["has_breaking_changes"], true);
}

// ---- pins ------------------------------------------------------------------------------------

#[test]
fn a_pinned_passport_keeps_its_terms_and_a_wrong_pin_is_denied() {
    let (e, issuer, clock) = world();
    let v1 = publish(&e, catalog_v1(), "v1");
    let pin = json!({"gate": "llm", "version": 1, "content_hash": v1["content_hash"]});
    let p = issue(&e, &issuer, json!([pin]));
    let d = enforce(&e, p["token"].as_str().unwrap());
    assert_eq!(d["decision"], "allow", "{d}");
    let c = pin_check(&d).unwrap();
    assert_eq!(
        (c["passed"].clone(), c["observed"].clone()),
        (json!(true), v1["content_hash"].clone())
    );
    assert!(c["limit"].as_str().unwrap().starts_with("v1 "));
    // v2 raises the price: the pinned passport still runs on v1.
    clock.set_ms(T0 + HOUR);
    let mut c2 = catalog_v1();
    c2["offers"][0]["price"]["amount"] = json!(900);
    publish(&e, c2, "v2");
    let d = enforce(&e, p["token"].as_str().unwrap());
    assert_eq!(d["decision"], "allow");
    assert!(pin_check(&d).unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("v1"));
    // The decision's attestation records the pin.
    let rec = call(
        &e,
        "get_evaluation",
        json!({"evaluation_id": d["evaluation_id"]}),
    )
    .unwrap();
    assert!(rec.to_string().contains("catalog_pin"), "{rec}");
    // A pin naming a hash that is not that version's: denied, typed.
    let wrong = json!({"gate": "llm", "version": 2, "content_hash": v1["content_hash"]});
    let p2 = issue(&e, &issuer, json!([wrong]));
    let d = enforce(&e, p2["token"].as_str().unwrap());
    assert_eq!(d["decision"], "deny");
    let c = pin_check(&d).unwrap();
    assert_eq!(c["code"], "CATALOG_PIN_MISMATCH");
    // A version never published: denied, typed.
    let ghost = json!({"gate": "llm", "version": 7, "content_hash": v1["content_hash"]});
    let p3 = issue(&e, &issuer, json!([ghost]));
    let d = enforce(&e, p3["token"].as_str().unwrap());
    assert_eq!(pin_check(&d).unwrap()["code"], "CATALOG_PIN_MISMATCH");
    assert_eq!(d["decision"], "deny");
    // An unpinned passport is judged without a catalog_pin check; a pin for another gate is
    // not this gate's business.
    let free = issue(&e, &issuer, json!([]));
    assert!(pin_check(&enforce(&e, free["token"].as_str().unwrap())).is_none());
    let other = issue(
        &e,
        &issuer,
        json!([{"gate": "search", "version": 1, "content_hash": v1["content_hash"]}]),
    );
    assert_eq!(
        enforce(&e, other["token"].as_str().unwrap())["decision"],
        "allow"
    );
}

#[test]
fn malformed_pins_are_refused_at_issuance() {
    let (e, issuer, _) = world();
    let h = format!("sha256:{}", "a".repeat(64));
    for pins in [
        json!([{"gate": "llm", "version": 0, "content_hash": h}]),
        json!([{"gate": "llm", "version": 1, "content_hash": "sha256:XYZ"}]),
        json!([{"gate": "llm", "version": 1, "content_hash": h}, {"gate": "llm", "version": 2, "content_hash": h}]),
        json!([{"gate": "llm", "version": 1, "content_hash": h, "price": 0}]),
        json!([{"gate": "llm", "version": 1.5, "content_hash": h}]),
    ] {
        let x = err(call(
            &e,
            "issue_passport",
            json!({"issuer_secret": issuer.secret(), "agent_id": "a", "permissions": ["llm:*"], "pins": pins}),
        ));
        assert_eq!(x.code(), "INVALID_ARGUMENT", "{pins}: {x}");
    }
}

/// A sub-passport the agent signs itself with claims of its choosing.
fn mint_child(parent: &Value, extra: Value) -> String {
    let key = KeyPair::from_secret(parent["private_key"].as_str().unwrap()).unwrap();
    let child = KeyPair::generate().unwrap();
    let now = T0 / 1000;
    let mut claims = json!({
        "iss": key.did(), "sub": "sub-agent", "jti": "psp_bbbbbbbbbbbbbbbbbbbbbbbbbb", "iat": now, "nbf": now,
        "exp": now + 3600, "perms": ["llm:complete"], "cnf": {"jwk": child.public_jwk()}, "prf": parent["token"],
    });
    for (k, v) in extra.as_object().unwrap() {
        claims[k] = v.clone();
    }
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": key.did()});
    let input = format!(
        "{}.{}",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(claims.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64u_encode(&sig))
}

#[test]
fn a_delegate_inherits_its_parents_pin_and_cannot_change_it() {
    let (e, issuer, clock) = world();
    let v1 = publish(&e, catalog_v1(), "v1");
    clock.set_ms(T0 + 1);
    let mut c2 = catalog_v1();
    c2["offers"][0]["price"]["amount"] = json!(1);
    let v2 = publish(&e, c2, "v2 cheaper");
    let pin1 = json!({"gate": "llm", "version": 1, "content_hash": v1["content_hash"]});
    let pin2 = json!({"gate": "llm", "version": 2, "content_hash": v2["content_hash"]});
    let parent = issue(&e, &issuer, json!([pin1]));
    // Through the operation: a child with no pins inherits v1.
    let child = call(&e, "issue_passport", json!({"issuer_secret": parent["private_key"], "passport": parent["token"], "agent_id": "sub", "permissions": ["llm:complete"], "expires_in_days": 1})).unwrap();
    let d = enforce(&e, child["token"].as_str().unwrap());
    assert_eq!(d["decision"], "allow");
    assert!(pin_check(&d).unwrap()["limit"]
        .as_str()
        .unwrap()
        .starts_with("v1 "));
    // Repeating the parent's pin is fine; changing it is DELEGATION_WIDENS.
    call(&e, "issue_passport", json!({"issuer_secret": parent["private_key"], "passport": parent["token"], "agent_id": "sub", "permissions": ["llm:complete"], "expires_in_days": 1, "pins": [pin1]})).unwrap();
    let x = err(call(
        &e,
        "issue_passport",
        json!({"issuer_secret": parent["private_key"], "passport": parent["token"], "agent_id": "sub", "permissions": ["llm:complete"], "expires_in_days": 1, "pins": [pin2]}),
    ));
    assert_eq!(x.code(), "DELEGATION_WIDENS", "{x}");
    // The agent signs such a child itself: verification refuses it (a deny, never v2's terms).
    let forged = mint_child(&parent, json!({"pins": [pin2]}));
    let d = enforce(&e, &forged);
    assert_eq!(d["decision"], "deny");
    assert_eq!(d["checks"][0]["code"], "DELEGATION_WIDENS", "{d}");
    // A malformed pins claim is a malformed passport.
    let forged = mint_child(&parent, json!({"pins": {"gate": "llm"}}));
    assert_eq!(
        enforce(&e, &forged)["checks"][0]["code"],
        "PASSPORT_MALFORMED"
    );
    // An unpinned parent's child may pin (it narrows what it accepts).
    let free = issue(&e, &issuer, json!([]));
    let pinned_child = mint_child(&free, json!({"pins": [pin2]}));
    let d = enforce(&e, &pinned_child);
    assert_eq!(d["decision"], "allow", "{d}");
    assert!(pin_check(&d).unwrap()["limit"]
        .as_str()
        .unwrap()
        .starts_with("v2 "));
}

// ---- discovery -------------------------------------------------------------------------------

#[test]
fn discovery_lists_current_catalogs_with_the_policys_view_and_filters() {
    let (e, _, _) = world();
    assert_eq!(
        call(&e, "discover_services", json!({})).unwrap(),
        json!({"services": []})
    );
    publish(&e, catalog_v1(), "v1");
    let search = json!({"gate": "search", "trust_level": "L2", "offers": [
        {"permission": "search:query", "price": {"amount": 1, "currency": "EUR"}, "pricing": {"model": "per_call"}}]});
    call(
        &e,
        "create_catalog",
        json!({"gate": "search", "catalog": search}),
    )
    .unwrap();
    call(&e, "publish_catalog", json!({"gate": "search"})).unwrap();
    let all = call(&e, "discover_services", json!({})).unwrap();
    let s = all["services"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(
        (
            s[0]["gate"].clone(),
            s[0]["anonymous"].clone(),
            s[0]["requires"].clone()
        ),
        (json!("llm"), json!(false), json!(["llm:complete"]))
    );
    assert_eq!(
        (
            s[1]["gate"].clone(),
            s[1]["anonymous"].clone(),
            s[1]["trust_level"].clone()
        ),
        (json!("search"), json!(true), json!("L2"))
    );
    assert_eq!(s[0]["offers"].as_array().unwrap().len(), 3);
    assert_eq!(s[0]["version"], 1);
    let gates = |f: Value| -> Vec<String> {
        call(&e, "discover_services", json!({"filter": f})).unwrap()["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["gate"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(gates(json!({"anonymous": true})), ["search"]);
    assert_eq!(gates(json!({"max_trust_level": "L1"})), ["llm"]);
    assert_eq!(gates(json!({"currency": "EUR"})), ["search"]);
    assert_eq!(
        gates(json!({"permission": "llm:*", "max_amount": 10})),
        ["llm"]
    );
    assert_eq!(gates(json!({"max_amount": 0})), ["llm"]);
    assert!(gates(json!({"permission": "video:*"})).is_empty());
    let narrowed = call(
        &e,
        "discover_services",
        json!({"filter": {"gate": "llm", "max_amount": 5}}),
    )
    .unwrap();
    let perms: Vec<&str> = narrowed["services"][0]["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["permission"].as_str().unwrap())
        .collect();
    assert_eq!(perms, ["llm:embed", "llm:batch"]);
    let x = err(call(
        &e,
        "discover_services",
        json!({"filter": {"max_trust_level": "L9"}}),
    ));
    assert_eq!(x.code(), "INVALID_ARGUMENT");
}

// ---- MCP -------------------------------------------------------------------------------------

#[test]
fn agents_read_catalogs_over_mcp_but_never_publish() {
    let (e, _, _) = world();
    publish(&e, catalog_v1(), "v1");
    let agent = mcp::Caller::agent(None);
    let tools: Vec<String> = mcp::tools(Role::Agent)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    for t in ["discover_services", "get_catalog"] {
        assert!(tools.contains(&t.to_string()), "{t}");
    }
    for t in [
        "create_catalog",
        "publish_catalog",
        "get_catalog_impact",
        "list_catalog_versions",
    ] {
        assert!(!tools.contains(&t.to_string()), "{t}");
    }
    let ask = |caller: &mcp::Caller, name: &str, args: Value| -> Value {
        let msg = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": args}});
        let reply = mcp::handle(&e, caller, None, &msg.to_string()).unwrap();
        serde_json::from_str(&reply).unwrap()
    };
    let r = ask(&agent, "get_catalog", json!({"gate": "llm"}));
    assert_eq!(r["result"]["structuredContent"]["version"], 1, "{r}");
    let r = ask(&agent, "discover_services", json!({}));
    assert_eq!(
        r["result"]["structuredContent"]["services"][0]["gate"], "llm",
        "{r}"
    );
    let r = ask(
        &agent,
        "create_catalog",
        json!({"gate": "llm", "catalog": catalog_v1()}),
    );
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(r.to_string().contains("FORBIDDEN"), "{r}");
    let r = ask(&agent, "publish_catalog", json!({"gate": "llm"}));
    assert!(r.to_string().contains("FORBIDDEN"), "{r}");
    assert_eq!(
        call(&e, "list_catalog_versions", json!({"gate": "llm"})).unwrap()["versions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

// ---- stores ----------------------------------------------------------------------------------

#[test]
fn two_engines_on_one_sqlite_file_share_catalogs_and_never_share_a_version() {
    let dir =
        std::env::temp_dir().join(format!("pg-catalogs-{}-{}.db", std::process::id(), line!()));
    let _ = std::fs::remove_file(&dir);
    let url = format!("sqlite://{}", dir.display());
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let a = engine_on(&url, &issuer, &clock);
    let b = engine_on(&url, &issuer, &clock);
    let v1 = publish(&a, catalog_v1(), "by a");
    // b reads and verifies a's document (signed by a's key).
    let got = call(&b, "get_catalog", json!({"gate": "llm"})).unwrap();
    assert_eq!(got["document"], v1["document"]);
    assert_eq!(got["signer"], a.signer_did());
    // b publishes next: version 2, whoever drafted.
    clock.set_ms(T0 + 1);
    let mut c2 = catalog_v1();
    c2["offers"][1]["price"]["amount"] = json!(9);
    let v2 = publish(&b, c2, "by b");
    assert_eq!(v2["version"], 2);
    let vs = call(&a, "list_catalog_versions", json!({"gate": "llm"})).unwrap();
    assert_eq!(vs["versions"].as_array().unwrap().len(), 2);
    // A pin to b's v2 holds on a.
    let p = issue(
        &a,
        &issuer,
        json!([{"gate": "llm", "version": 2, "content_hash": v2["content_hash"]}]),
    );
    assert_eq!(
        enforce(&a, p["token"].as_str().unwrap())["decision"],
        "allow"
    );
    // Reopened: still there.
    drop((a, b));
    let c = engine_on(&url, &issuer, &clock);
    assert_eq!(
        call(&c, "get_catalog", json!({"gate": "llm", "version": 1})).unwrap()["document"],
        v1["document"]
    );
    let _ = std::fs::remove_file(&dir);
}

#[test]
fn a_version_once_written_is_never_overwritten() {
    for url in [
        "memory:".to_string(),
        format!(
            "sqlite://{}",
            std::env::temp_dir()
                .join(format!("pg-cat-once-{}.db", std::process::id()))
                .display()
        ),
    ] {
        let store = passgate::store::open(&url).unwrap();
        let cs = store.catalogs().unwrap();
        assert!(cs.catalog_insert("g", 1, "first").unwrap());
        assert!(!cs.catalog_insert("g", 1, "second").unwrap());
        assert_eq!(cs.catalog_get("g", 1).unwrap().as_deref(), Some("first"));
        assert!(cs.catalog_insert("g", 2, "two").unwrap());
        assert!(cs.catalog_insert("g2", 1, "other").unwrap());
        assert_eq!(
            cs.catalog_versions("g").unwrap(),
            vec![(1, "first".to_string()), (2, "two".to_string())]
        );
        assert_eq!(cs.catalog_gates().unwrap(), ["g", "g2"]);
        cs.catalog_draft_put("g", "d1").unwrap();
        cs.catalog_draft_put("g", "d2").unwrap();
        assert_eq!(cs.catalog_draft_get("g").unwrap().as_deref(), Some("d2"));
        assert_eq!(cs.catalog_draft_get("nope").unwrap(), None);
        if let Some(path) = url.strip_prefix("sqlite://") {
            drop(store);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[test]
fn a_tampered_stored_catalog_fails_reads_and_pins_never_allows() {
    let (e, issuer, _) = world();
    let v1 = publish(&e, catalog_v1(), "v1");
    let issuer2 = Issuer::generate().unwrap();
    let _ = issuer2;
    // Write a forged version 2 straight into the store (someone with store access).
    let mut forged = v1["document"].clone();
    forged["body"]["version"] = json!(2);
    e.store()
        .catalogs()
        .unwrap()
        .catalog_insert("llm", 2, &forged.to_string())
        .unwrap();
    let x = err(call(
        &e,
        "get_catalog_version",
        json!({"gate": "llm", "version": 2}),
    ));
    assert_eq!(x.code(), "STORE_UNAVAILABLE", "{x}");
    let p = issue(
        &e,
        &issuer,
        json!([{"gate": "llm", "version": 2, "content_hash": v1["content_hash"]}]),
    );
    let r = call(
        &e,
        "enforce",
        json!({"gate": "llm", "passport": p["token"], "payload": {"tokens": 1}}),
    );
    assert_eq!(err(r).code(), "STORE_UNAVAILABLE");
}

#[test]
fn reissue_keeps_pins_unless_new_terms_are_accepted() {
    let (e, issuer, clock) = world();
    let v1 = publish(&e, catalog_v1(), "v1");
    clock.set_ms(T0 + 1);
    let mut c2 = catalog_v1();
    c2["offers"][0]["price"]["amount"] = json!(900);
    let v2 = publish(&e, c2, "v2");
    let pin1 = json!({"gate": "llm", "version": 1, "content_hash": v1["content_hash"]});
    let other = json!({"gate": "search", "version": 3, "content_hash": v1["content_hash"]});
    let p = issue(&e, &issuer, json!([pin1, other]));
    // A plain reissue keeps the old terms: never a silent move to v2.
    let r = call(
        &e,
        "reissue",
        json!({"passport": p["token"], "issuer_secret": issuer.secret()}),
    )
    .unwrap();
    let d = enforce(&e, r["token"].as_str().unwrap());
    assert!(
        pin_check(&d).unwrap()["limit"]
            .as_str()
            .unwrap()
            .starts_with("v1 "),
        "{d}"
    );
    let claims = passgate::passport::decode_unverified(r["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["pins"], json!([pin1, other]));
    // Accepting v2 (after reading its impact) moves that gate's pin; the other pin stays.
    let r2 = call(&e, "reissue", json!({"passport": r["token"], "issuer_secret": issuer.secret(), "accept_catalog": [{"gate": "llm", "version": 2}]})).unwrap();
    let claims = passgate::passport::decode_unverified(r2["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        claims["pins"],
        json!([other, {"gate": "llm", "version": 2, "content_hash": v2["content_hash"]}])
    );
    let d = enforce(&e, r2["token"].as_str().unwrap());
    assert!(
        pin_check(&d).unwrap()["limit"]
            .as_str()
            .unwrap()
            .starts_with("v2 "),
        "{d}"
    );
    // A version never published: CATALOG_UNKNOWN, nothing reissued (the old one still works).
    let x = err(call(
        &e,
        "reissue",
        json!({"passport": r2["token"], "issuer_secret": issuer.secret(), "accept_catalog": [{"gate": "llm", "version": 9}]}),
    ));
    assert_eq!(x.code(), "CATALOG_UNKNOWN");
    assert_eq!(
        enforce(&e, r2["token"].as_str().unwrap())["decision"],
        "allow"
    );
}

mod byte_flips {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// One published document (as compact JSON text) and its signer.
    fn published() -> &'static (String, String) {
        static DOC: OnceLock<(String, String)> = OnceLock::new();
        DOC.get_or_init(|| {
            let (e, _, _) = world();
            let v1 = publish(&e, catalog_v1(), "launch");
            (v1["document"].to_string(), e.signer_did().to_string())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Any changed byte of a published catalog is detected: the text no longer parses, or
        /// parses to the same document (nothing changed), or `verify_catalog` refuses it.
        #[test]
        fn any_changed_byte_is_detected(pos in any::<prop::sample::Index>(), byte in 0x20u8..0x7f) {
            let (text, did) = published();
            let mut bytes = text.clone().into_bytes();
            let i = pos.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let Ok(changed) = String::from_utf8(bytes) else { return Ok(()) };
            let Ok(doc) = serde_json::from_str::<Value>(&changed) else { return Ok(()) };
            let original: Value = serde_json::from_str(text).unwrap();
            prop_assume!(doc != original);
            prop_assert!(passgate::commerce::verify_catalog(&doc, did).is_err(), "accepted: {changed}");
        }
    }
}
