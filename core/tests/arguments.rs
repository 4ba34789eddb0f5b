//! Argument rules of the typed engine API that every binding relies on (so none restates them):
//! a settle's `actual` is an object, a revoked id has the form of a passport id, the passport
//! clock leeway is bounded, and a duration error shows the format by example.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

mod support;

use support::T0;

use passgate::clock::ManualClock;
use passgate::{seam, Engine, Issuer, PassportRequest, Request, MAX_LEEWAY_SECS};
use serde_json::json;

fn engine() -> (Engine, String) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let policy = json!({"version": 1, "gates": {
        "llm.call": {"require": ["llm"], "constraints": [
            {"id": "budget", "type": "spend_limit", "field": "/cost", "max": 100, "window": "1d"}]}
    }});
    let engine = support::engine(policy, &issuer, &clock);
    let req = PassportRequest::new("agent", ["llm"]).with_expires_in_secs(86400);
    let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    (engine, token)
}

#[test]
fn a_settle_with_an_actual_that_is_not_an_object_is_refused_and_the_hold_stays_open() {
    let (engine, token) = engine();
    let d = engine
        .enforce(
            &Request::new("llm.call", json!({"cost": 60}))
                .passport(&token)
                .hold(true),
        )
        .unwrap();
    let hold = d.hold_id.expect("a hold");
    // The agent (or a host bug) passes a bare number: never read as "keep the reservation".
    for bad in [json!(42), json!("42"), json!([42]), json!(true)] {
        let e = engine.settle(&hold, Some(&bad)).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad}");
        assert_eq!(e.path(), Some("/actual"), "{bad}");
    }
    // Still open: it settles at the real amount afterwards.
    let r = engine.settle(&hold, Some(&json!({"cost": 10}))).unwrap();
    assert_eq!(r["state"], "settled", "{r}");
}

#[test]
fn revoking_a_malformed_passport_id_is_refused_and_records_nothing() {
    let (engine, _) = engine();
    for bad in [
        "psp_typo",
        "",
        "psp_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        "agent-7",
        "psd_x",
        "psx_abcdefghijklmnopqrstuvwxyz",
    ] {
        let e = engine.revoke_passport(bad).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad:?}");
        assert_eq!(e.path(), Some("/passport_id"), "{bad:?}");
    }
    let e = seam::call(
        &engine,
        "revoke_passport",
        &json!({"passport_id": "psp_typo"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    // A well-formed id the engine has not seen is revoked ahead of use (an engine does not know
    // every passport its issuers signed).
    engine
        .revoke_passport("psp_abcdefghijklmnopqrstuvwxyz")
        .unwrap();
    let kinds: Vec<String> = engine
        .attestations(&passgate::AttestationFilter::default())
        .unwrap()
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["revocation"]);
}

#[test]
fn the_passport_clock_leeway_is_bounded_at_build() {
    for bad in [-1, MAX_LEEWAY_SECS + 1, i64::MAX] {
        let e = Engine::builder().leeway_secs(bad).build().err().unwrap();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad}");
        assert_eq!(e.path(), Some("/leeway_secs"), "{bad}");
    }
    for ok in [0, 60, MAX_LEEWAY_SECS] {
        Engine::builder().leeway_secs(ok).build().unwrap();
    }
}

#[test]
fn a_duration_error_shows_the_format_by_example() {
    let (engine, _) = engine();
    let e = seam::call(
        &engine,
        "approve",
        &json!({"evaluation_id": "evl_x", "approver": "ops", "ttl": "1 day"}),
    )
    .unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(
        e.to_string().contains("a duration like 30s, 15m, 1h, 1d"),
        "{e}"
    );
}

#[test]
fn errors_in_a_policy_file_name_the_file_and_keep_the_json_path() {
    let dir = std::env::temp_dir().join(format!("passgate-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad-policy.json");
    std::fs::write(
        &file,
        r#"{"version": 1, "gates": {"g": {"constraints": [{"type": "max_value"}]}}}"#,
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let e = passgate::Policy::load(path).err().unwrap();
    assert_eq!(e.code(), "POLICY_INVALID");
    assert_eq!(e.path(), Some("/gates/g/constraints/0"));
    assert!(e.to_string().contains("bad-policy.json"), "{e}");
    std::fs::write(&file, r#"{"version": 1, "gates": "#).unwrap();
    let e = passgate::Policy::load(path).err().unwrap();
    assert!(e.to_string().contains("bad-policy.json"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
