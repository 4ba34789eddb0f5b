//! The answer to a request: the verdict, every check that led to it, and what is left.
//!
//! A [`Decision`] serialises to one JSON shape — the one every binding and the MCP tools return:
//! `decision`, `allowed`, `gate`, `agent_id`, `passport_id`, `mode`, `dry_run`, `evaluation_id`,
//! `policy_hash`, `checks`, `remaining`, `attestation`, `replayed`, `hold_id`, `approval_request`
//! and `redacted_payload` (`null` when unset). Checks are reported whether they passed or not, so a
//! denied agent learns everything it must change in one round trip.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use serde_json::Value;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    Escalate,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Escalate => "escalate",
        }
    }
}

/// One check: a constraint of the gate or of a caveat, or one of the engine's own checks
/// (`passport`, `permissions`, `gate`, `input_schema`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The constraint id.
    pub constraint: String,
    /// The constraint type (`max_value`, `spend_limit`, …) or the engine check's name.
    #[serde(rename = "type")]
    pub ty: String,
    pub passed: bool,
    pub message: String,
    /// What was seen (a decimal string for amounts and counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// The bound it was held to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// The stable error code, on the engine's own failed checks (`PASSPORT_EXPIRED`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// For cumulative checks that failed: the largest amount that would still be admitted now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_admissible: Option<String>,
}

impl Check {
    /// A passed or failed check with a message and nothing else.
    pub fn new(constraint: &str, ty: &str, passed: bool, message: impl Into<String>) -> Self {
        Check {
            constraint: constraint.to_string(),
            ty: ty.to_string(),
            passed,
            message: message.into(),
            observed: None,
            limit: None,
            code: None,
            max_admissible: None,
        }
    }

    /// Adds the observed value and the limit.
    pub fn with_values(mut self, observed: impl Into<String>, limit: impl Into<String>) -> Self {
        self.observed = Some(observed.into());
        self.limit = Some(limit.into());
        self
    }

    /// Adds an error code (engine checks).
    pub fn with_code(mut self, code: &str) -> Self {
        self.code = Some(code.to_string());
        self
    }
}

/// The decision for one request, as returned by `enforce` and `dry_run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: Verdict,
    pub allowed: bool,
    pub gate: String,
    pub agent_id: Option<String>,
    pub passport_id: Option<String>,
    /// `enforce` or `monitor`.
    pub mode: String,
    pub dry_run: bool,
    pub evaluation_id: String,
    pub policy_hash: Option<String>,
    pub checks: Vec<Check>,
    /// Per cumulative constraint id: what is left after this decision (decimal strings).
    pub remaining: BTreeMap<String, String>,
    /// The signed record of this decision (`None` for dry runs), shared with the store's copy.
    pub attestation: Option<Arc<Value>>,
    /// True when returned from the idempotency store instead of evaluated.
    pub replayed: bool,
    /// The reservation made by `enforce(hold = true)` when admitted: settle or release it.
    #[serde(default)]
    pub hold_id: Option<String>,
    /// On `escalate`: what a human must approve (`evaluation_id`, `fingerprint`, `reasons`, …).
    #[serde(default)]
    pub approval_request: Option<Value>,
    /// With a `pii` constraint in `redact` mode: the payload with personal data replaced by
    /// `[REDACTED:<kind>]` — what the host should pass on.
    #[serde(default)]
    pub redacted_payload: Option<Value>,
}

impl Decision {
    /// The failed checks.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The decision as a JSON value (the shape in the module docs).
    pub fn to_json(&self) -> Value {
        // Serialising these plain types cannot fail; fall back to null rather than panic.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
