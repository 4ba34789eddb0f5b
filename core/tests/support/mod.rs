//! Helpers shared by the behaviour tests (each test file uses a subset).

#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use passgate::__private::json::{self, Limits};
use passgate::clock::ManualClock;
use passgate::{Check, Constraint, Engine, EvalCtx, Issuer};
use serde_json::Value;

/// 2026-01-01T00:00:00Z, a Thursday.
pub const T0: i64 = 1_767_225_600_000;

/// Parses JSON text with the strict parser, keeping numbers exactly as written.
pub fn p(text: &str) -> Value {
    json::parse(text, Limits::PAYLOAD).unwrap()
}

pub fn compile(doc: &str) -> Constraint {
    Constraint::compile(&p(doc), 0, "/c").unwrap()
}

/// The `POLICY_INVALID` path and message of compiling `doc`.
pub fn compile_err(doc: &str) -> (String, String) {
    match Constraint::compile(&p(doc), 0, "/c").unwrap_err() {
        passgate::Error::PolicyInvalid { path, message } => (path, message),
        other => panic!("expected POLICY_INVALID, got {other:?}"),
    }
}

pub fn check_at(doc: &str, payload: &str, now_ms: i64) -> Check {
    let payload = p(payload);
    compile(doc)
        .check(&EvalCtx {
            payload: &payload,
            now_ms,
        })
        .unwrap()
}

pub fn check(doc: &str, payload: &str) -> Check {
    check_at(doc, payload, 0)
}

/// An engine on `policy` trusting `issuer`, reading time from `clock`.
pub fn engine(policy: Value, issuer: &Issuer, clock: &ManualClock) -> Engine {
    Engine::builder()
        .policy_value(policy)
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}
