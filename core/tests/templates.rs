//! Templates: built-ins with defaults and overrides, optional parts, user templates with params,
//! and every parameter and definition error with its JSON path.

// Test helpers outside #[test] functions may unwrap and panic too (clippy.toml covers only the
// tests themselves).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use passgate::{Check, CounterKind, Error, EvalCtx, Policy, Scope};
use serde_json::{json, Value};

fn invalid(doc: Value) -> (String, String) {
    match Policy::from_value(doc) {
        Err(Error::PolicyInvalid { path, message }) => (path, message),
        other => panic!("expected POLICY_INVALID, got {other:?}"),
    }
}

fn run(c: &passgate::Constraint, payload: &Value) -> Check {
    c.check(&EvalCtx { payload, now_ms: 0 }).unwrap()
}

fn apply(name: &str, params: Value) -> passgate::Result<Policy> {
    Policy::from_value(
        json!({"version": 1, "gates": {"g": {"templates": [{"name": name, "params": params}]}}}),
    )
}

#[test]
fn builtin_templates_with_defaults_and_overrides() {
    let names: Vec<String> = passgate::templates()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    for n in [
        "payments-conservative",
        "read-only",
        "rate-limited-api",
        "web-research",
    ] {
        assert!(names.iter().any(|x| x == n), "{n}");
    }
    let listed = passgate::templates();
    let pc = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "payments-conservative")
        .unwrap();
    assert_eq!(pc["params"]["daily_max"]["default"], json!(1000));
    assert!(pc["description"].as_str().is_some());

    // Defaults.
    let policy = apply("payments-conservative", json!({})).unwrap();
    let g = policy.gate("g").unwrap();
    let per_call = &g.constraints[0];
    assert_eq!(per_call.id, "payments-conservative/per-call");
    let c = run(per_call, &json!({"amount": 600}));
    assert_eq!((c.passed, c.limit.as_deref()), (false, Some("500")));
    assert_eq!(c.constraint, "payments-conservative/per-call");
    assert!(
        !run(&g.constraints[1], &json!({"amount": -5})).passed,
        "no negative amounts"
    );
    let daily = g.constraints[2].counter().unwrap();
    assert_eq!(
        (
            daily.max.to_string(),
            daily.window.as_ref().unwrap().label.as_str()
        ),
        ("1000".to_string(), "1d")
    );
    assert!(!run(&g.constraints[3], &json!({"currency": "GBP"})).passed);
    let burst = g.constraints[4].counter().unwrap();
    assert_eq!(
        (
            burst.max.to_string(),
            burst.window.as_ref().unwrap().sliding
        ),
        ("10".to_string(), true)
    );

    // Overrides, including the fields.
    let policy = apply(
        "payments-conservative",
        json!({"per_call_max": "250.50", "currencies": ["GBP"], "amount_field": "/value", "daily_max": 5000}),
    )
    .unwrap();
    let g = policy.gate("g").unwrap();
    let c = run(&g.constraints[0], &json!({"value": 250.51}));
    assert_eq!((c.passed, c.limit.as_deref()), (false, Some("250.5")));
    assert!(run(&g.constraints[3], &json!({"currency": "GBP"})).passed);
    assert_eq!(g.constraints[2].counter().unwrap().max.to_string(), "5000");
    assert_eq!(
        g.constraints[2]
            .counter()
            .unwrap()
            .amount
            .as_ref()
            .unwrap()
            .as_str(),
        "/value"
    );
    // The expanded source is what get_gate shows.
    assert_eq!(g.constraints[0].source["max"], json!("250.50"));
    assert_eq!(
        g.constraints[0].source["id"],
        json!("payments-conservative/per-call")
    );
}

#[test]
fn optional_parts_of_templates() {
    let policy = apply("rate-limited-api", json!({})).unwrap();
    let ids: Vec<&str> = policy
        .gate("g")
        .unwrap()
        .constraints
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["rate-limited-api/per-minute"]);
    let policy = apply(
        "rate-limited-api",
        json!({"per_minute": 5, "quota": 100, "scope": "client"}),
    )
    .unwrap();
    let g = policy.gate("g").unwrap();
    let ids: Vec<&str> = g.constraints.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["rate-limited-api/per-minute", "rate-limited-api/quota"]
    );
    let q = g.constraints[1].counter().unwrap();
    assert_eq!(
        (q.kind, q.max.to_string(), q.scope.clone()),
        (CounterKind::Quota, "100".to_string(), Scope::Client)
    );

    let policy = apply("web-research", json!({})).unwrap();
    let g = policy.gate("g").unwrap();
    let all_pass = |u: &str| {
        let payload = json!({"url": u});
        g.constraints
            .iter()
            .filter_map(|c| {
                c.check(&EvalCtx {
                    payload: &payload,
                    now_ms: 0,
                })
            })
            .all(|c| c.passed)
    };
    assert!(all_pass("https://en.wikipedia.org/wiki/Rust"));
    assert!(all_pass("HTTP://example.com"));
    for bad in [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "http://localhost:8080/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/",
        "http://[::1]/",
        "http://0x7f000001/",
        "http://x@127.0.0.1/",
    ] {
        assert!(!all_pass(bad), "{bad}");
    }
    let policy = apply(
        "web-research",
        json!({"allowed_domains": ["wikipedia.org"]}),
    )
    .unwrap();
    let g = policy.gate("g").unwrap();
    assert_eq!(g.constraints.len(), 4);
    let payload = json!({"url": "https://example.com"});
    assert!(!run(&g.constraints[2], &payload).passed);

    let policy = apply(
        "read-only",
        json!({"field": "/method", "operations": ["GET", "HEAD"]}),
    )
    .unwrap();
    let c = &policy.gate("g").unwrap().constraints[0];
    assert!(run(c, &json!({"method": "GET"})).passed);
    assert!(!run(c, &json!({"method": "POST"})).passed);
    let policy = apply("read-only", json!({})).unwrap();
    assert!(
        run(
            &policy.gate("g").unwrap().constraints[0],
            &json!({"operation": "list"})
        )
        .passed
    );
}

#[test]
fn template_parameter_errors() {
    assert_eq!(
        err_path(apply("payments-conservative", json!({"daily_max": "lots"}))),
        "/gates/g/templates/0/params/daily_max"
    );
    assert_eq!(
        err_path(apply("payments-conservative", json!({"daily_max": -1}))),
        "/gates/g/templates/0/params/daily_max"
    );
    assert_eq!(
        err_path(apply(
            "payments-conservative",
            json!({"currencies": ["usd"]})
        )),
        "/gates/g/templates/0/params/currencies/0"
    );
    assert_eq!(
        err_path(apply("payments-conservative", json!({"dailymax": 1}))),
        "/gates/g/templates/0/params/dailymax"
    );
    assert_eq!(
        err_path(apply("payments-conservative", json!([1]))),
        "/gates/g/templates/0/params"
    );
    assert_eq!(
        err_path(apply("no-such-template", json!({}))),
        "/gates/g/templates/0/name"
    );
    let e = apply("payments-conservative", json!({"dailymax": 1})).unwrap_err();
    assert!(
        e.to_string().contains("known: per_call_max, daily_max"),
        "{e}"
    );

    // The same template twice collides on its ids.
    let doc = json!({"version": 1, "gates": {"g": {"templates": [{"name": "read-only"}, {"name": "read-only"}]}}});
    let (path, msg) = invalid(doc);
    assert_eq!(path, "/gates/g/templates/1");
    assert_eq!(msg, r#"duplicate constraint id "read-only/read-only""#);
}

fn err_path(r: passgate::Result<Policy>) -> String {
    match r {
        Err(Error::PolicyInvalid { path, .. }) => path,
        other => panic!("expected POLICY_INVALID, got {other:?}"),
    }
}

fn with_user_template(template: Value, use_params: Option<Value>) -> passgate::Result<Policy> {
    let mut use_doc = json!({"name": "mine"});
    if let Some(p) = use_params {
        use_doc["params"] = p;
    }
    Policy::from_value(
        json!({"version": 1, "templates": {"mine": template}, "gates": {"g": {"templates": [use_doc]}}}),
    )
}

#[test]
fn user_templates() {
    let t = json!({"description": "caps", "params": {
            "max": {"type": "number"},
            "currencies": {"type": "array", "default": ["USD"]},
            "note": {"type": "string", "default": "$not-a-placeholder"}},
        "constraints": [
            {"type": "max_value", "field": "/amount", "max": "$max", "description": "$note"},
            {"id": "cur", "type": "allowed_values", "field": "/currency", "values": "$currencies"},
            {"id": "lit", "type": "denied_values", "field": "/tag", "values": ["$$max"]}]});
    let policy = with_user_template(t.clone(), Some(json!({"max": 100}))).unwrap();
    let g = policy.gate("g").unwrap();
    assert_eq!(g.constraints[0].id, "mine/max_value#0");
    assert_eq!(g.constraints[1].id, "mine/cur");
    // Parameter values are inserted as they are; "$$" in the template stands for a literal "$".
    assert_eq!(
        g.constraints[0].description.as_deref(),
        Some("$not-a-placeholder")
    );
    assert_eq!(g.constraints[2].source["values"], json!(["$max"]));
    assert!(!run(&g.constraints[0], &json!({"amount": 101})).passed);
    assert!(run(&g.constraints[1], &json!({"currency": "USD"})).passed);

    // Missing required parameter.
    assert_eq!(
        err_path(with_user_template(t.clone(), None)),
        "/gates/g/templates/0"
    );
    assert_eq!(
        err_path(with_user_template(
            t.clone(),
            Some(json!({"currencies": []}))
        )),
        "/gates/g/templates/0/params"
    );
    // Wrong type for the parameter's schema.
    assert_eq!(
        err_path(with_user_template(t.clone(), Some(json!({"max": "100"})))),
        "/gates/g/templates/0/params/max"
    );
    // Unknown parameter.
    assert_eq!(
        err_path(with_user_template(t, Some(json!({"max": 1, "min": 0})))),
        "/gates/g/templates/0/params/min"
    );

    // A loose parameter schema lets a bad value through to the constraint: reported at the
    // template's constraint, naming where it was applied.
    let loose = json!({"params": {"max": {}}, "constraints": [{"type": "max_value", "field": "/a", "max": "$max"}]});
    let e = with_user_template(loose, Some(json!({"max": "ten"}))).unwrap_err();
    let Error::PolicyInvalid { path, message } = e else {
        panic!()
    };
    assert_eq!(path, "/templates/mine/constraints/0/max");
    assert!(
        message.ends_with("(template mine applied at /gates/g/templates/0)"),
        "{message}"
    );

    // Definition errors, found at load even when unused.
    let unused = |t: Value| {
        err_path(Policy::from_value(
            json!({"version": 1, "templates": {"mine": t}}),
        ))
    };
    assert_eq!(
        unused(
            json!({"params": {}, "constraints": [{"type": "max_value", "field": "/a", "max": "$max"}]})
        ),
        "/templates/mine/constraints/0/max"
    );
    assert_eq!(
        unused(json!({"params": {"max": {"type": "integer", "default": 1.5}}, "constraints": []})),
        "/templates/mine/params/max/default"
    );
    assert_eq!(
        unused(json!({"params": {"max": {"type": 7}}, "constraints": []})),
        "/templates/mine/params/max"
    );
    assert_eq!(
        unused(
            json!({"params": {"x": {"default": null}}, "constraints": [{"$if": "y", "type": "quota", "max": 1}]})
        ),
        "/templates/mine/constraints/0/$if"
    );
    assert_eq!(
        unused(json!({"constraints": [{"type": "nope"}]})),
        "/templates/mine/constraints/0/type"
    );
    assert_eq!(
        unused(json!({"params": {"bad-name": {}}, "constraints": []})),
        "/templates/mine/params"
    );
    assert_eq!(
        unused(json!({"constraints": [], "extra": 1})),
        "/templates/mine"
    );

    // Shadowing a built-in.
    let doc = json!({"version": 1, "templates": {"read-only": {"constraints": []}}});
    let (path, msg) = invalid(doc);
    assert_eq!(path, "/templates/read-only");
    assert!(msg.contains("built-in"), "{msg}");

    // A user template's ids never collide with the gate's own.
    let doc = json!({"version": 1,
        "templates": {"mine": {"constraints": [{"id": "cap", "type": "max_value", "field": "/a", "max": 1}]}},
        "gates": {"g": {"templates": [{"name": "mine"}], "constraints": [{"id": "cap", "type": "max_value", "field": "/a", "max": 2}]}}});
    let policy = Policy::from_value(doc).unwrap();
    let ids: Vec<&str> = policy
        .gate("g")
        .unwrap()
        .constraints
        .iter()
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(ids, ["mine/cap", "cap"]);
}
