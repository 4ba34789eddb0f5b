//! Every engine of the benchmark gives the same verdict on every case — a benchmark whose peers
//! disagree would compare different work.

use passgate_benches::*;

#[test]
fn every_engine_agrees_on_every_case() {
    let (issuer, token) = passport().unwrap();
    let cedar = Cedar::new().unwrap();
    let mut interp = rego_interpreter().unwrap();
    let mut vm = rego_vm().unwrap();
    for case in Case::ALL {
        let want = case.expected_allow();
        let req = request(case, &token);

        let supplied = supplied_engine(case, &issuer).unwrap();
        let d = supplied.dry_run(&req).unwrap();
        assert_eq!(
            d.allowed, want,
            "passgate (supplied state), {case:?}: {d:?}"
        );
        // Enforcing against supplied state gives the same verdict (and counts nothing).
        assert_eq!(supplied.enforce(&req).unwrap().allowed, want, "{case:?}");

        let memory = memory_engine(case, &issuer, &token).unwrap();
        let d = memory.dry_run(&req).unwrap();
        assert_eq!(d.allowed, want, "passgate (memory store), {case:?}: {d:?}");
        let failed: Vec<String> = d.failed().map(|c| c.constraint.to_string()).collect();
        let expected_failed: Vec<&str> = match case {
            Case::Allow => vec![],
            Case::DenyAmount => vec!["per-call"],
            Case::DenyDaily => vec!["daily"],
        };
        assert_eq!(failed, expected_failed, "{case:?}");

        let creq = cedar.request(Cedar::context_json(case)).unwrap();
        assert_eq!(cedar.allowed(&creq), want, "cedar, {case:?}");

        let input = rego_input(case).unwrap();
        assert_eq!(
            rego_interpreter_allowed(&mut interp, input.clone()).unwrap(),
            want,
            "regorus interpreter, {case:?}"
        );
        assert_eq!(
            rego_vm_allowed(&mut vm, input).unwrap(),
            want,
            "regorus RVM, {case:?}"
        );
    }
}

/// Each constraint on its own flips every engine: outside the hours, a fourth currency, the
/// tenth call of the minute, a missing permission.
#[test]
fn every_engine_denies_each_constraint_alone() {
    let (issuer, token) = passport().unwrap();
    let cedar = Cedar::new().unwrap();
    let mut vm = rego_vm().unwrap();
    let mut interp = rego_interpreter().unwrap();

    // Variants of the allow case: (what changes, passgate setup, peer context tweak).
    type Tweak = fn(&mut serde_json::Value, &mut serde_json::Value, &mut serde_json::Value);
    let variants: [(&str, Tweak); 4] = [
        ("currency", |p, _, _| p["currency"] = "GBP".into()),
        ("hours", |_, st, _| st["minute_of_day"] = 1020.into()),
        ("burst", |_, st, _| st["calls_last_minute"] = 10.into()),
        ("permission", |_, _, perms| {
            *perms = serde_json::json!(["payments:read"])
        }),
    ];
    for (what, tweak) in variants {
        let mut p = payload(Case::Allow.amount());
        let mut st = state_json(Case::Allow);
        let mut perms = serde_json::json!(PERMISSIONS);
        tweak(&mut p, &mut st, &mut perms);

        // passgate: the same change through its own inputs.
        let calls = st["calls_last_minute"].as_i64().unwrap();
        let spent = st["spent_today"].as_i64().unwrap();
        let minute = st["minute_of_day"].as_i64().unwrap();
        let store = SuppliedState::new([("burst", calls), ("daily", spent)]);
        let (engine, clock) = engine(&Setup::new(std::sync::Arc::new(store)), &issuer).unwrap();
        clock.set_ms(NOW_MS + (minute - MINUTE_OF_DAY) * 60_000);
        let tok = if what == "permission" {
            let perms: Vec<String> = serde_json::from_value(perms.clone()).unwrap();
            issuer
                .issue_passport_at(
                    &passgate::PassportRequest::new(AGENT, perms),
                    ISSUED_AT_SECS,
                )
                .unwrap()
                .token
        } else {
            token.clone()
        };
        let d = engine
            .dry_run(&passgate::Request::new(GATE, p.clone()).passport(&tok))
            .unwrap();
        assert!(!d.allowed, "passgate allowed with {what} changed: {d:?}");

        let cedar_entities = cedar_policy::Entities::from_json_value(
            serde_json::json!([{"uid": {"type": "Agent", "id": AGENT},
                                "attrs": {"permissions": perms}, "parents": []}]),
            None,
        )
        .unwrap();
        let creq = cedar
            .request(serde_json::json!({"payload": p, "state": st}))
            .unwrap();
        let r = cedar
            .authorizer
            .is_authorized(&creq, &cedar.policies, &cedar_entities);
        assert_eq!(r.decision(), cedar_policy::Decision::Deny, "cedar, {what}");

        let input = regorus::Value::from_json_str(
            &serde_json::json!({"principal": {"id": AGENT, "permissions": perms},
                                "payload": p, "state": st})
            .to_string(),
        )
        .unwrap();
        assert!(
            !rego_vm_allowed(&mut vm, input.clone()).unwrap(),
            "rvm, {what}"
        );
        assert!(
            !rego_interpreter_allowed(&mut interp, input).unwrap(),
            "rego, {what}"
        );
    }
}
