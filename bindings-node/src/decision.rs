//! Decisions as JSON text for `JSON.parse` (which builds objects much faster than
//! property-by-property napi calls, benches/node/conversion.mjs).
//!
//! The decision's own keys are camelCase (`evaluationId`, `dryRun`, `policyHash`, …); checks,
//! `remaining` (keyed by constraint id) and the attestation record pass through unchanged.

use std::collections::BTreeMap;

use passgate::{Check, Decision, Text};
use serde::Serialize;
use serde_json::Value;

use crate::error::Result;

/// The decision as JSON text: what `enforce` / `dryRun` (passgate.js) hand to `JSON.parse`. The
/// destructuring is exhaustive on purpose: a field added to the core's `Decision` fails this
/// build instead of silently missing from JavaScript.
///
/// The attestation record is spliced in as the canonical text it already is (not parsed, not
/// re-serialised): the members before it are written as one object whose closing `}` is replaced
/// by `,"attestation":<record>`, and the members after it as another whose opening `{` is
/// replaced by `,`. Both halves always have members (no field is skipped), so the joins are exact.
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
    let head = Head {
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
    };
    let tail = Tail {
        replayed: *replayed,
        hold_id: hold_id.as_deref(),
        approval_request: approval_request.as_ref(),
        redacted_payload: redacted_payload.as_ref(),
    };
    let fail = |e: serde_json::Error| crate::error::invalid(format!("decision: {e}"));
    let mut out = Vec::with_capacity(4096);
    serde_json::to_writer(&mut out, &head).map_err(fail)?;
    out.pop(); // the head's closing `}`
    out.extend_from_slice(b",\"attestation\":");
    match attestation {
        Some(r) => out.extend_from_slice(r.as_str().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    let at = out.len();
    serde_json::to_writer(&mut out, &tail).map_err(fail)?;
    if let Some(open) = out.get_mut(at) {
        *open = b','; // the tail's opening `{`
    }
    String::from_utf8(out).map_err(|e| crate::error::invalid(format!("decision: {e}")))
}

/// [`to_text`]'s members before `attestation`, in the decision's key order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Head<'a> {
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
    remaining: &'a BTreeMap<Text, Text>,
}

/// [`to_text`]'s members after `attestation`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Tail<'a> {
    replayed: bool,
    hold_id: Option<&'a str>,
    approval_request: Option<&'a Value>,
    redacted_payload: Option<&'a Value>,
}

/// The decision in two parts for passgate.js's lazy decision, joined by one `\n` (compact JSON
/// never holds a raw newline: serde_json escapes control characters in strings, so the first
/// `\n` is the separator whatever the strings hold):
///
/// 1. the small fixed fields as a JSON array, parsed at once: `[decision, allowed, gate, agentId,
///    passportId, mode, dryRun, evaluationId, policyHash, replayed, holdId]`;
/// 2. the heavy fields as a JSON array, parsed only when one of them is first read:
///    `[checks, remaining, attestation, approvalRequest, redactedPayload]`.
///
/// passgate.js builds from them an object with the keys, order and values of [`to_text`]'s.
pub fn to_parts(d: &Decision) -> Result<String> {
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
    let small = (
        decision.as_str(),
        *allowed,
        gate,
        agent_id.as_deref(),
        passport_id.as_deref(),
        mode,
        *dry_run,
        evaluation_id,
        policy_hash.as_deref(),
        *replayed,
        hold_id.as_deref(),
    );
    let fail = |e: serde_json::Error| crate::error::invalid(format!("decision: {e}"));
    let mut out = Vec::with_capacity(4096);
    serde_json::to_writer(&mut out, &small).map_err(fail)?;
    // `[checks, remaining, attestation, approvalRequest, redactedPayload]`, the record spliced in
    // as the compact JSON text it already is (no raw newline either): not parsed, not
    // re-serialised.
    out.extend_from_slice(b"\n[");
    serde_json::to_writer(&mut out, checks).map_err(fail)?;
    out.push(b',');
    serde_json::to_writer(&mut out, remaining).map_err(fail)?;
    out.push(b',');
    match attestation {
        Some(r) => out.extend_from_slice(r.as_str().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.push(b',');
    serde_json::to_writer(&mut out, approval_request).map_err(fail)?;
    out.push(b',');
    serde_json::to_writer(&mut out, redacted_payload).map_err(fail)?;
    out.push(b']');
    String::from_utf8(out).map_err(|e| crate::error::invalid(format!("decision: {e}")))
}
