//! Loading policies: the DESIGN.md example, every `POLICY_INVALID` path, the anonymous section,
//! input schemas, the policy hash and gate descriptions. Templates are in `templates.rs`.

// Test helpers outside #[test] functions may unwrap and panic too (clippy.toml covers only the
// tests themselves).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use passgate::__private::json::{self, Limits};
use passgate::{Check, CounterKind, Error, EvalCtx, Mode, Policy, Scope};
use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/cases/policies")
        .join(name)
}

fn design_example() -> Policy {
    Policy::load(fixture("design-example.json").to_str().unwrap()).unwrap()
}

/// Parses text exactly (numbers kept as written).
fn p(text: &str) -> Value {
    json::parse(text, Limits::POLICY).unwrap()
}

/// The `POLICY_INVALID` path and message of a policy document.
fn invalid(doc: Value) -> (String, String) {
    match Policy::from_value(doc) {
        Err(Error::PolicyInvalid { path, message }) => (path, message),
        Err(other) => panic!("expected POLICY_INVALID, got {other:?}"),
        Ok(_) => panic!("expected POLICY_INVALID, the policy loaded"),
    }
}

fn path_of(doc: Value) -> String {
    invalid(doc).0
}

/// A policy with one gate `g` holding `constraints`.
fn gate_with(constraints: Value) -> Value {
    json!({"version": 1, "gates": {"g": {"constraints": constraints}}})
}

// ---------------------------------------------------------------------------------------------

#[test]
fn design_example_loads_and_compiles() {
    let policy = design_example();
    assert_eq!(policy.version, 1);
    assert!(policy.hash.starts_with("sha256:") && policy.hash.len() == 7 + 64);
    assert_eq!(policy.hold_ttl_ms, 15 * 60 * 1000);
    assert!(policy.issuers.is_empty());

    let g = policy.gate("payments.send").unwrap();
    assert_eq!(g.name, "payments.send");
    assert_eq!(
        g.description.as_deref(),
        Some("Send money to a counterparty")
    );
    assert_eq!(g.require, ["payments:send"]);
    assert_eq!(g.mode, Mode::Enforce);
    assert_eq!(g.hold_ttl_ms, None);
    let ids: Vec<&str> = g.constraints.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "payments-conservative/per-call",
            "payments-conservative/non-negative",
            "payments-conservative/daily-spend",
            "payments-conservative/currency",
            "payments-conservative/burst",
            "per-call",
            "currency",
            "daily-spend",
            "burst",
        ]
    );
    let daily = g.constraints[7].counter().unwrap();
    assert_eq!(daily.kind, CounterKind::Spend);
    assert_eq!(daily.max.to_string(), "1000");
    assert_eq!(daily.scope, Scope::Agent);
    let tpl_daily = g.constraints[2].counter().unwrap();
    assert_eq!(tpl_daily.max.to_string(), "1000");

    let payload = json!({"amount": 600, "currency": "GBP"});
    let checks: Vec<Check> = g
        .constraints
        .iter()
        .filter_map(|c| {
            c.check(&EvalCtx {
                payload: &payload,
                now_ms: 0,
            })
        })
        .collect();
    assert_eq!(
        checks.len(),
        5,
        "three stateless template constraints and two of the gate's"
    );
    assert!(checks
        .iter()
        .all(|c| !c.passed || c.constraint.ends_with("non-negative")));

    assert!(policy.gate("catalog.read").is_none());
    let anon = policy.anonymous.as_ref().unwrap();
    assert_eq!(anon.gates, ["catalog.read"]);
    assert_eq!(anon.constraints[0].id, "rate_limit#0");
    assert_eq!(anon.constraints[0].counter().unwrap().scope, Scope::Client);

    // The user template is compiled even though no gate applies it.
    assert_eq!(
        policy.doc["templates"]["my-template"]["params"]["max"]["type"],
        "number"
    );
}

#[test]
fn load_from_text_file_and_failures() {
    let text = std::fs::read_to_string(fixture("design-example.json")).unwrap();
    let from_text = Policy::load(&format!("  \n{text}")).unwrap();
    assert_eq!(from_text.hash, design_example().hash);
    assert_eq!(Policy::parse(&text).unwrap().hash, from_text.hash);
    assert_eq!(
        Policy::load(r#"{"version": 1, "gates": {}}"#)
            .unwrap()
            .gates
            .len(),
        0
    );
    assert!(Policy::load(r#"{"version": 1}"#).unwrap().gates.is_empty());

    let code = |r: passgate::Result<Policy>| r.unwrap_err().code();
    assert_eq!(code(Policy::load("/no/such/policy.json")), "POLICY_INVALID");
    assert_eq!(code(Policy::load("")), "POLICY_INVALID");
    assert_eq!(code(Policy::load("not json at all")), "POLICY_INVALID");
    assert_eq!(code(Policy::load(r#"{"version": 1,"#)), "POLICY_INVALID");
    assert_eq!(code(Policy::load("[1, 2]")), "POLICY_INVALID");
    assert_eq!(code(Policy::parse("")), "POLICY_INVALID");
    assert_eq!(code(Policy::parse("null")), "POLICY_INVALID");
    let dup = Policy::parse(r#"{"version": 1, "gates": {"g": {}, "g": {}}}"#).unwrap_err();
    assert_eq!(
        dup,
        Error::policy("/gates", r#"duplicate key "g" in the object at /gates"#)
    );
    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(code(Policy::parse(&deep)), "LIMIT_EXCEEDED");

    let dir = std::env::temp_dir().join(format!("passgate-policy-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_utf8 = dir.join("latin1.json");
    std::fs::write(&bad_utf8, b"{\"version\": 1, \"description\": \"caf\xe9\"}").unwrap();
    let e = Policy::load(bad_utf8.to_str().unwrap()).unwrap_err();
    assert_eq!(e.code(), "POLICY_INVALID");
    assert!(e.to_string().contains("not UTF-8"), "{e}");
    // A mistake inside a policy file names the file, with the JSON path.
    let typo = dir.join("typo.json");
    std::fs::write(
        &typo,
        r#"{"version": 1, "gates": {"g": {"requrie": ["x"]}}}"#,
    )
    .unwrap();
    let e = Policy::load(typo.to_str().unwrap()).unwrap_err();
    assert_eq!((e.code(), e.path()), ("POLICY_INVALID", Some("/gates/g")));
    assert!(e.to_string().contains("typo.json"), "{e}");
    assert!(
        e.to_string()
            .contains(r#"unknown key "requrie" (did you mean "require"?)"#),
        "{e}"
    );
    let e = Policy::parse(
        r#"{"version": 1, "gates": {"g": {"constraints": [{"id": "c", "type": "max_value", "feild": "/a", "max": 1}]}}}"#,
    )
    .unwrap_err();
    assert!(e.to_string().contains("did you mean \"field\""), "{e}");
    let bom = dir.join("bom.json");
    std::fs::write(&bom, "\u{feff}{\"version\": 1}").unwrap();
    assert!(Policy::load(bom.to_str().unwrap()).is_ok());
    assert_eq!(code(Policy::load(dir.to_str().unwrap())), "POLICY_INVALID");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn document_level_errors() {
    assert_eq!(path_of(json!({"version": 2, "gates": {}})), "/version");
    assert_eq!(path_of(json!({"version": "1", "gates": {}})), "/version");
    assert_eq!(path_of(json!({"gates": {}})), "/");
    assert_eq!(path_of(json!({"version": 1, "gatez": {}})), "/");
    assert_eq!(path_of(json!([])), "/");
    assert_eq!(path_of(json!({"version": 1, "gates": []})), "/gates");
    assert_eq!(
        path_of(json!({"version": 1, "issuers": ["did:web:x"]})),
        "/issuers/0"
    );
    assert_eq!(
        path_of(json!({"version": 1, "hold_ttl": "15"})),
        "/hold_ttl"
    );
    assert_eq!(
        path_of(json!({"version": 1, "hold_ttl": "400d"})),
        "/hold_ttl"
    );
    assert_eq!(path_of(json!({"version": 1, "gates": {"": {}}})), "/gates");
    assert_eq!(
        path_of(json!({"version": 1, "gates": {"g": {"mode": "audit"}}})),
        "/gates/g/mode"
    );
    assert_eq!(
        path_of(json!({"version": 1, "gates": {"g": {"require": [""]}}})),
        "/gates/g/require/0"
    );
    assert_eq!(
        path_of(json!({"version": 1, "gates": {"g": {"hold_ttl": "1w"}}})),
        "/gates/g/hold_ttl"
    );
    assert_eq!(
        path_of(json!({"version": 1, "gates": {"g": {"colour": "red"}}})),
        "/gates/g"
    );
    assert_eq!(
        path_of(json!({"version": 1, "anonymous": {"gates": "x"}})),
        "/anonymous/gates"
    );
    assert!(Policy::from_value(json!({"version": 1.0, "gates": {}})).is_ok());
    assert!(Policy::from_value(
        json!({"$schema": "https://passgate.dev/schema/policy.schema.json", "version": 1})
    )
    .is_ok());
}

#[test]
fn constraint_errors_carry_exact_paths() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!([{"type": "max_valu", "field": "/a", "max": 1}]),
            "/gates/g/constraints/0/type",
        ),
        (
            json!([{"type": "max_value", "field": "a", "max": 1}]),
            "/gates/g/constraints/0/field",
        ),
        (
            json!([{"type": "max_value", "field": "/a", "max": 1}, {"type": "max_value", "field": "/a", "max": "1,000"}]),
            "/gates/g/constraints/1/max",
        ),
        (
            json!([{"type": "max_value", "field": "/a"}]),
            "/gates/g/constraints/0",
        ),
        (
            json!([{"type": "pattern", "field": "/a", "regex": "(unclosed"}]),
            "/gates/g/constraints/0/regex",
        ),
        (
            json!([{"type": "pattern", "field": "/a", "regex": "(\\w{100}){100}"}]),
            "/gates/g/constraints/0/regex",
        ),
        (
            json!([{"type": "time_window", "tz": "Europe/Atlantis"}]),
            "/gates/g/constraints/0/tz",
        ),
        (
            json!([{"type": "rate_limit", "max": 10, "window": "1 minute"}]),
            "/gates/g/constraints/0/window",
        ),
        (
            json!([{"type": "rate_limit", "max": 10, "window": {"size": "1m", "kind": "rolling"}}]),
            "/gates/g/constraints/0/window/kind",
        ),
        (
            json!([{"type": "rate_limit", "max": 10.5, "window": "1m"}]),
            "/gates/g/constraints/0/max",
        ),
        (
            json!([{"type": "quota", "max": 1, "scope": "everyone"}]),
            "/gates/g/constraints/0/scope",
        ),
        (
            json!([{"type": "max_length", "field": "/a", "max": 1.5}]),
            "/gates/g/constraints/0/max",
        ),
        (
            json!([{"type": "condition", "expr": {"all": [{"field": "/a", "op": "eq", "value": 1}, {"field": "/b", "op": "between", "value": 1}]}}]),
            "/gates/g/constraints/0/expr/all/1/op",
        ),
        (
            json!([{"type": "allowed_domains", "field": "/u", "domains": ["ok.com", "https://x.com"]}]),
            "/gates/g/constraints/0/domains/1",
        ),
        (
            json!([{"type": "pii", "mode": "block", "kinds": ["email", "dna"]}]),
            "/gates/g/constraints/0/kinds/1",
        ),
        (
            json!([{"type": "concurrency", "max": -1}]),
            "/gates/g/constraints/0/max",
        ),
        (
            json!([{"type": "approval", "when": {"field": "a", "op": "exists"}}]),
            "/gates/g/constraints/0/when/field",
        ),
        (
            json!([{"id": "", "type": "quota", "max": 1}]),
            "/gates/g/constraints/0/id",
        ),
        (
            json!([{"id": "a", "type": "quota", "max": 1}, {"id": "a", "type": "quota", "max": 2}]),
            "/gates/g/constraints/1/id",
        ),
        (
            json!([{"type": "quota", "max": 1}, {"id": "quota#0", "type": "quota", "max": 2}]),
            "/gates/g/constraints/1/id",
        ),
    ];
    for (constraints, want) in cases {
        let (path, msg) = invalid(gate_with(constraints.clone()));
        assert_eq!(path, want, "{constraints}: {msg}");
    }
    // 1e400 needs the exact parser: json! would turn it into a float.
    let doc = p(
        r#"{"version": 1, "gates": {"g": {"constraints": [{"type": "max_value", "field": "/a", "max": 1e400}]}}}"#,
    );
    assert_eq!(path_of(doc), "/gates/g/constraints/0/max");
    let (_, msg) = invalid(gate_with(
        json!([{"type": "max_valu", "field": "/a", "max": 1}]),
    ));
    assert!(
        msg.starts_with(r#""max_valu" is not one of "max_value", "min_value","#),
        "{msg}"
    );
    assert!(msg.ends_with(r#""pii", "approval""#), "{msg}");
    let (_, msg) = invalid(gate_with(
        json!([{"type": "quota", "max": 1, "scope": "everyone"}]),
    ));
    assert!(
        msg.contains(r#""agent", "passport", "gate", "global", "client""#),
        "{msg}"
    );
    let (_, msg) = invalid(gate_with(
        json!([{"id": "a", "type": "quota", "max": 1}, {"id": "a", "type": "quota", "max": 2}]),
    ));
    assert_eq!(msg, r#"duplicate constraint id "a""#);
}

#[test]
fn gate_names_are_escaped_in_paths() {
    let doc = json!({"version": 1, "gates": {"fs/write~x": {"constraints": [{"type": "max_value", "field": "/a", "max": "x"}]}}});
    assert_eq!(path_of(doc), "/gates/fs~1write~0x/constraints/0/max");
    let doc = json!({"version": 1, "gates": {"a/b": {"constraints": [{"type": "quota", "max": 1}, {"type": "quota", "max": 1, "id": "quota#0"}]}}});
    assert_eq!(path_of(doc), "/gates/a~1b/constraints/1/id");
}

#[test]
fn anonymous_section() {
    let doc = json!({"version": 1, "anonymous": {"gates": ["a", "b"], "constraints": [
        {"type": "rate_limit", "max": 60, "window": "1m", "scope": "client"},
        {"type": "max_value", "field": "/n", "max": 3}]}});
    let policy = Policy::from_value(doc).unwrap();
    let anon = policy.anonymous.unwrap();
    assert_eq!(anon.gates, ["a", "b"]);
    assert_eq!(anon.constraints[1].id, "max_value#1");
    let doc = json!({"version": 1, "anonymous": {"constraints": [
        {"id": "x", "type": "quota", "max": 1}, {"id": "x", "type": "quota", "max": 1}]}});
    assert_eq!(path_of(doc), "/anonymous/constraints/1/id");
    let doc = json!({"version": 1, "anonymous": {"constraints": [{"type": "rate_limit", "max": 1.5, "window": "1m"}]}});
    assert_eq!(path_of(doc), "/anonymous/constraints/0/max");
    assert_eq!(
        path_of(json!({"version": 1, "anonymous": {"gates": ["a", "a"]}})),
        "/anonymous/gates"
    );
}

#[test]
fn input_schema() {
    let policy = design_example();
    let g = policy.gate("payments.send").unwrap();
    let ok = g
        .validate_input(&json!({"amount": 1, "currency": "USD"}))
        .unwrap();
    assert!(ok.passed);
    assert_eq!(
        (ok.constraint.as_str(), ok.ty.as_str()),
        ("input_schema", "input_schema")
    );
    let bad = g.validate_input(&json!({"amount": 1})).unwrap();
    assert!(!bad.passed);
    assert!(bad.message.contains("currency"), "{}", bad.message);
    let bad = g.validate_input(&json!([1])).unwrap();
    assert!(!bad.passed);

    let doc = json!({"version": 1, "gates": {"g": {"input_schema": {"type": "object", "properties": {
        "to": {"type": "string", "pattern": "^acct_"}, "items": {"type": "array", "items": {"type": "integer"}}}}}}});
    let policy = Policy::from_value(doc).unwrap();
    let g = policy.gate("g").unwrap();
    let bad = g.validate_input(&json!({"items": [1, "two"]})).unwrap();
    assert!(
        bad.message.starts_with("payload invalid at /items/1: "),
        "{}",
        bad.message
    );
    assert!(!g.validate_input(&json!({"to": "x"})).unwrap().passed);
    assert!(g.validate_input(&json!({"to": "acct_1"})).unwrap().passed);

    let no_schema = Policy::from_value(json!({"version": 1, "gates": {"g": {}}})).unwrap();
    assert!(no_schema
        .gate("g")
        .unwrap()
        .validate_input(&json!({}))
        .is_none());

    for bad_schema in [
        json!({"type": 5}),
        json!({"type": "object", "pattern": "("}),
        json!({"$ref": "https://example.com/remote.json"}),
        json!({"minimum": "zero"}),
    ] {
        let doc = json!({"version": 1, "gates": {"g": {"input_schema": bad_schema}}});
        let (path, msg) = invalid(doc);
        assert_eq!(path, "/gates/g/input_schema", "{msg}");
    }
    assert_eq!(
        path_of(json!({"version": 1, "gates": {"g": {"input_schema": true}}})),
        "/gates/g/input_schema"
    );
}

// ---------------------------------------------------------------------------------------------
// hash, description, hold ttl

#[test]
fn policy_hash_is_canonical_and_exact() {
    let a = Policy::parse(r#"{"version": 1, "gates": {"g": {"require": ["x:y"], "constraints": [{"type": "max_value", "field": "/a", "max": 1000}]}}}"#).unwrap();
    let b = Policy::parse(
        "{\n  \"gates\" : { \"g\" : { \"constraints\" : [ { \"max\" : 1000, \"field\" : \"/a\", \"type\" : \"max_value\" } ], \"require\": [\"x:y\"] } },\n  \"version\" : 1\n}",
    )
    .unwrap();
    assert_eq!(a.hash, b.hash);
    let c = Policy::parse(r#"{"version": 1, "gates": {"g": {"require": ["x:y"], "constraints": [{"type": "max_value", "field": "/a", "max": 1000.0000000000000000001}]}}}"#).unwrap();
    assert_ne!(a.hash, c.hash);
    let d = Policy::parse(r#"{"version": 1, "gates": {"g": {"require": ["x:y"], "constraints": [{"type": "max_value", "field": "/a", "max": 1E3}]}}}"#).unwrap();
    assert_eq!(a.hash, d.hash, "the same exact value written differently");
    let e = Policy::parse(r#"{"version": 1, "gates": {"g": {"require": ["x:z"], "constraints": [{"type": "max_value", "field": "/a", "max": 1000}]}}}"#).unwrap();
    assert_ne!(a.hash, e.hash);
    // The hash is over the normalised canonical form.
    let expected = json::sha256_tagged(json::canonical_normalized(&a.doc).unwrap().as_bytes());
    assert_eq!(a.hash, expected);
}

#[test]
fn gate_descriptions() {
    let policy = design_example();
    let g = policy.gate("payments.send").unwrap().to_json();
    assert_eq!(g["name"], "payments.send");
    assert_eq!(g["description"], "Send money to a counterparty");
    assert_eq!(g["require"], json!(["payments:send"]));
    assert_eq!(g["mode"], "enforce");
    assert_eq!(
        g["input_schema"],
        json!({"type": "object", "required": ["amount", "currency"]})
    );
    let cs = g["constraints"].as_array().unwrap();
    assert_eq!(cs.len(), 9);
    assert_eq!(cs[0]["id"], "payments-conservative/per-call");
    assert_eq!(cs[0]["max"], json!(500));
    assert_eq!(cs[2]["max"], json!(1000), "template parameter substituted");
    assert_eq!(
        cs[5],
        json!({"id": "per-call", "type": "max_value", "field": "/amount", "max": 500})
    );

    let doc = json!({"version": 1, "hold_ttl": "5m", "gates": {
        "m": {"mode": "monitor", "hold_ttl": "30s"}, "e": {}}});
    let policy = Policy::from_value(doc).unwrap();
    let m = policy.gate("m").unwrap();
    assert_eq!(m.mode, Mode::Monitor);
    assert_eq!(m.mode.as_str(), "monitor");
    assert_eq!(m.to_json()["hold_ttl"], "30s");
    assert_eq!(m.to_json()["description"], Value::Null);
    assert_eq!(policy.hold_ttl_ms, 300_000);
    assert_eq!(policy.hold_ttl_for("m"), 30_000);
    assert_eq!(policy.hold_ttl_for("e"), 300_000);
    assert_eq!(policy.hold_ttl_for("nope"), 300_000);
}

#[test]
fn schema_file_is_the_one_compiled_in() {
    let on_disk = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schema/policy.schema.json"),
    )
    .unwrap();
    assert_eq!(on_disk, passgate::schema::POLICY_SCHEMA);
    let schema: Value = serde_json::from_str(&on_disk).unwrap();
    let in_enum: Vec<&str> = schema["$defs"]["constraint_type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let rust: Vec<&str> = passgate::ConstraintType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(in_enum, rust);
    for t in rust {
        assert!(schema["$defs"][t].is_object(), "{t}");
    }
    // The example validates against the published schema with an independent validator.
    let v = jsonschema::validator_for(&schema).unwrap();
    let example: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("design-example.json")).unwrap())
            .unwrap();
    assert!(v.is_valid(&example));
}

#[test]
fn compiled_policies_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<passgate::Constraint>();
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(Value::from),
            Just(p("1e400")),
            Just(p("0.5")),
            prop::sample::select(vec![
                "/a",
                "a",
                "/a/*",
                "1m",
                "1d",
                "0s",
                "sliding",
                "fixed",
                "agent",
                "field:/a",
                "09:00",
                "24:00",
                "UTC",
                "Europe/Paris",
                "mon",
                "(",
                "[a-z]+",
                "example.com",
                "*.x",
                "eq",
                "exists",
                "in",
                "$max",
                "",
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "field", "op", "value", "all", "any", "not", "size", "kind"
                    ]),
                    inner,
                    0..3
                )
                .prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                )),
            ]
        })
    }

    fn arb_constraint() -> impl Strategy<Value = Value> {
        let ty = prop::sample::select(
            passgate::ConstraintType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>(),
        );
        let keys = prop::sample::select(vec![
            "id", "field", "max", "min", "values", "regex", "domains", "days", "start", "end",
            "tz", "expr", "window", "scope", "mode", "kinds", "when",
        ]);
        (ty, prop::collection::btree_map(keys, arb_value(), 0..5)).prop_map(|(ty, params)| {
            let mut m: serde_json::Map<String, Value> = params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            m.insert("type".into(), Value::from(ty));
            Value::Object(m)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn loading_never_panics(constraints in prop::collection::vec(arb_constraint(), 0..4),
                                params in prop::collection::btree_map("[a-z_]{1,12}", arb_value(), 0..3)) {
            let params: serde_json::Map<String, Value> = params.into_iter().collect();
            let doc = json!({"version": 1, "gates": {"g": {
                "constraints": constraints,
                "templates": [{"name": "payments-conservative", "params": params}]}}});
            if let Err(e) = Policy::from_value(doc) {
                prop_assert_eq!(e.code(), "POLICY_INVALID");
            }
        }

        #[test]
        fn parsing_never_panics(text in ".{0,200}") {
            let _ = Policy::parse(&text);
            let _ = Policy::load(&format!("{{{text}"));
        }
    }
}
