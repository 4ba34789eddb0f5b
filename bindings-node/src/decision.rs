//! Decisions as plain JS objects, built directly (no serde round trip).
//!
//! The decision's own keys are camelCase (`evaluationId`, `dryRun`, `policyHash`, …); checks,
//! `remaining` (keyed by constraint id) and the attestation record pass through unchanged.

use std::collections::BTreeMap;

use napi::bindgen_prelude::{Env, JsObjectValue, Null, Object};
use passgate::{Check, Decision};
use serde::Serialize;
use serde_json::Value;

use crate::convert;
use crate::error::{NapiResult, Result};

/// A core decision as a JS object. The destructuring is exhaustive on purpose: a field added to
/// the core's `Decision` fails this build instead of silently missing from JavaScript.
pub fn to_js<'e>(env: &'e Env, d: &Decision) -> Result<Object<'e>> {
    let Decision {
        decision,
        allowed,
        gate,
        agent_id,
        passport_id,
        mode,
        dry_run,
        evaluation_id,
        policy_hash,
        checks,
        remaining,
        attestation,
        replayed,
        hold_id,
        approval_request,
        redacted_payload,
    } = d;
    let mut o = Object::new(env).napi()?;
    o.set_named_property("decision", decision.as_str()).napi()?;
    o.set_named_property("allowed", *allowed).napi()?;
    o.set_named_property("gate", gate.as_str()).napi()?;
    o.set_named_property("agentId", agent_id.as_deref())
        .napi()?;
    o.set_named_property("passportId", passport_id.as_deref())
        .napi()?;
    o.set_named_property("mode", mode.as_str()).napi()?;
    o.set_named_property("dryRun", *dry_run).napi()?;
    o.set_named_property("evaluationId", evaluation_id.as_str())
        .napi()?;
    o.set_named_property("policyHash", policy_hash.as_deref())
        .napi()?;
    let mut arr = convert::array(env, checks.len())?;
    for (i, c) in checks.iter().enumerate() {
        arr.set(u32::try_from(i).unwrap_or(u32::MAX), check_to_js(env, c)?)
            .napi()?;
    }
    o.set_named_property("checks", arr).napi()?;
    let mut rem = Object::new(env).napi()?;
    for (k, v) in remaining {
        rem.set_named_property(k, v.as_str()).napi()?;
    }
    o.set_named_property("remaining", rem).napi()?;
    match attestation {
        Some(a) => o.set_named_property("attestation", convert::to_js(env, a)?),
        None => o.set_named_property("attestation", Null),
    }
    .napi()?;
    o.set_named_property("replayed", *replayed).napi()?;
    o.set_named_property("holdId", hold_id.as_deref()).napi()?;
    for (k, v) in [
        ("approvalRequest", approval_request),
        ("redactedPayload", redacted_payload),
    ] {
        match v {
            Some(v) => o.set_named_property(k, convert::to_js(env, v)?),
            None => o.set_named_property(k, Null),
        }
        .napi()?;
    }
    Ok(o)
}

fn check_to_js<'e>(env: &'e Env, c: &Check) -> Result<Object<'e>> {
    let Check {
        constraint,
        ty,
        passed,
        message,
        observed,
        limit,
        code,
        max_admissible,
    } = c;
    let mut o = Object::new(env).napi()?;
    o.set_named_property("constraint", constraint.as_str())
        .napi()?;
    o.set_named_property("type", ty.as_str()).napi()?;
    o.set_named_property("passed", *passed).napi()?;
    o.set_named_property("message", message.as_str()).napi()?;
    for (k, v) in [
        ("observed", observed),
        ("limit", limit),
        ("code", code),
        ("max_admissible", max_admissible),
    ] {
        if let Some(v) = v {
            o.set_named_property(k, v.as_str()).napi()?;
        }
    }
    Ok(o)
}

/// The decision as JSON text with the same keys, in the same order, as [`to_js`] builds: what
/// passgate.js hands to `JSON.parse`, which builds objects much faster than property-by-property
/// napi calls (benches/node/conversion.mjs).
pub fn to_text(d: &Decision) -> Result<String> {
    let Decision {
        decision,
        allowed,
        gate,
        agent_id,
        passport_id,
        mode,
        dry_run,
        evaluation_id,
        policy_hash,
        checks,
        remaining,
        attestation,
        replayed,
        hold_id,
        approval_request,
        redacted_payload,
    } = d;
    let view = View {
        decision: decision.as_str(),
        allowed: *allowed,
        gate,
        agent_id: agent_id.as_deref(),
        passport_id: passport_id.as_deref(),
        mode,
        dry_run: *dry_run,
        evaluation_id,
        policy_hash: policy_hash.as_deref(),
        checks,
        remaining,
        attestation: attestation.as_deref(),
        replayed: *replayed,
        hold_id: hold_id.as_deref(),
        approval_request: approval_request.as_ref(),
        redacted_payload: redacted_payload.as_ref(),
    };
    serde_json::to_string(&view).map_err(|e| crate::error::invalid(format!("decision: {e}")))
}

/// [`to_text`]'s shape.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    decision: &'a str,
    allowed: bool,
    gate: &'a str,
    agent_id: Option<&'a str>,
    passport_id: Option<&'a str>,
    mode: &'a str,
    dry_run: bool,
    evaluation_id: &'a str,
    policy_hash: Option<&'a str>,
    checks: &'a [Check],
    remaining: &'a BTreeMap<String, String>,
    attestation: Option<&'a Value>,
    replayed: bool,
    hold_id: Option<&'a str>,
    approval_request: Option<&'a Value>,
    redacted_payload: Option<&'a Value>,
}
