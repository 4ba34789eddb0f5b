//! Decisions as plain JS objects, built directly (no serde round trip).
//!
//! The decision's own keys are camelCase (`evaluationId`, `dryRun`, `policyHash`, …); checks,
//! `remaining` (keyed by constraint id) and the attestation record pass through unchanged.

use napi::bindgen_prelude::{Env, JsObjectValue, Null, Object};
use passgate::{Check, Decision};
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

/// A decision that came through the JSON seam (holds, approvals): its top-level keys camelCased,
/// everything below unchanged.
pub fn value_to_js<'e>(env: &'e Env, v: &Value) -> Result<Object<'e>> {
    match v {
        Value::Object(m) => convert::object_to_js(env, m, 0, convert::camel),
        other => {
            let mut o = Object::new(env).napi()?;
            o.set_named_property("value", convert::to_js(env, other)?)
                .napi()?;
            Ok(o)
        }
    }
}
