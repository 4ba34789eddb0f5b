//! `Decision`: the core decision, held as is and converted to Python field by field on access.

use std::sync::OnceLock;

use passgate::Decision;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;

use crate::convert::to_py;

/// The answer to a request, from `Engine.enforce` or `Engine.dry_run`.
///
/// Attributes are named as the keys of the decision JSON: `decision` (`"allow"`, `"deny"` or
/// `"escalate"`), `allowed`, `gate`, `agent_id`, `passport_id`, `mode`, `dry_run`,
/// `evaluation_id`, `policy_hash`, `checks` (every check, passed or not, as dicts), `remaining`
/// (per cumulative constraint id, what is left, as decimal strings), `attestation` (the signed
/// record, or None for a dry run), `replayed`, `hold_id`, `approval_request` and
/// `redacted_payload`. `to_dict()` gives the whole decision as plain Python data.
///
/// Decisions compare equal by value (their JSON) and hash consistently; they pickle as their
/// JSON. `bool(decision)` is `decision.allowed`, so `if engine.enforce(...):` admits exactly what the
/// engine admitted. Prefer spelling out `.allowed` in code that others read.
#[pyclass(frozen, module = "passgate", name = "Decision")]
pub(crate) struct PyDecision {
    inner: Decision,
    /// The decision's JSON, made once, on the first access that needs it.
    json: OnceLock<Value>,
}

impl PyDecision {
    pub(crate) fn new(inner: Decision) -> Self {
        PyDecision {
            inner,
            json: OnceLock::new(),
        }
    }

    fn json(&self) -> &Value {
        self.json.get_or_init(|| self.inner.to_json())
    }

    /// A key of the decision JSON (for fields newer than this binding's typed view), or None.
    fn field<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
        match self.json().get(key) {
            Some(v) => to_py(py, v),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

#[pymethods]
impl PyDecision {
    /// `"allow"`, `"deny"` or `"escalate"`.
    #[getter]
    fn decision(&self) -> &'static str {
        self.inner.decision.as_str()
    }

    /// True when the request was admitted (always true in `monitor` mode).
    #[getter]
    fn allowed(&self) -> bool {
        self.inner.allowed
    }

    /// The gate asked about.
    #[getter]
    fn gate(&self) -> &str {
        &self.inner.gate
    }

    /// The agent (`sub` of the passport), or None for an anonymous or refused caller.
    #[getter]
    fn agent_id(&self) -> Option<&str> {
        self.inner.agent_id.as_deref()
    }

    /// The passport id (`psp_...`), or None.
    #[getter]
    fn passport_id(&self) -> Option<&str> {
        self.inner.passport_id.as_deref()
    }

    /// `"enforce"` or `"monitor"`.
    #[getter]
    fn mode(&self) -> &str {
        &self.inner.mode
    }

    /// True for a decision from `dry_run` (nothing was counted or recorded).
    #[getter]
    fn dry_run(&self) -> bool {
        self.inner.dry_run
    }

    /// This evaluation's id (`evl_...`).
    #[getter]
    fn evaluation_id(&self) -> &str {
        &self.inner.evaluation_id
    }

    /// `sha256:...` of the policy that decided, or None without a policy.
    #[getter]
    fn policy_hash(&self) -> Option<&str> {
        self.inner.policy_hash.as_deref()
    }

    /// Every check, passed or failed: dicts with `constraint`, `type`, `passed`, `message`, and
    /// where they apply `observed`, `limit`, `code`, `max_admissible`.
    #[getter]
    fn checks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "checks")
    }

    /// Per cumulative constraint id, what is left after this decision (decimal strings).
    #[getter]
    fn remaining<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.inner.remaining {
            d.set_item(k.as_str(), v.as_str())?;
        }
        Ok(d)
    }

    /// The signed attestation record (`{"body", "hash", "sig", "kid"}`), None for a dry run.
    #[getter]
    fn attestation<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match &self.inner.attestation {
            Some(v) => to_py(py, v),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// True when this is the stored decision of an earlier request with the same idempotency key.
    #[getter]
    fn replayed(&self) -> bool {
        self.inner.replayed
    }

    /// The hold id of an `enforce(..., hold=True)` that was admitted, else None.
    #[getter]
    fn hold_id<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "hold_id")
    }

    /// For an `escalate` decision: what a human must approve (a dict), else None.
    #[getter]
    fn approval_request<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "approval_request")
    }

    /// The payload with personal data redacted, when a `pii` constraint in `redact` mode found
    /// some, else None. Numbers come back as `int`, `float` where exact, else `decimal.Decimal`.
    #[getter]
    fn redacted_payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.field(py, "redacted_payload")
    }

    /// The failed checks (the reasons for a deny), as dicts.
    fn failed<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        if let Some(Value::Array(checks)) = self.json().get("checks") {
            for c in checks {
                if c.get("passed") == Some(&Value::Bool(false)) {
                    out.append(to_py(py, c)?)?;
                }
            }
        }
        Ok(out)
    }

    /// The whole decision as plain Python data (the decision JSON's shape).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.json())
    }

    /// The decision as JSON text (exact: decimals stay strings).
    fn to_json(&self) -> String {
        self.json().to_string()
    }

    fn __bool__(&self) -> bool {
        self.inner.allowed
    }

    /// Two decisions are equal when their decision JSON is (every field, the attestation
    /// included): a decision and its pickled copy, or a replay and the stored decision it returns,
    /// compare by value. Anything else is not equal.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyDecision>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    /// Consistent with `==`: equal decisions have the same evaluation id, verdict and flags.
    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let d = &self.inner;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&d.evaluation_id, d.decision.as_str(), d.dry_run, d.replayed).hash(&mut h);
        h.finish()
    }

    /// Pickles as its decision JSON (`passgate._native._decision_from_json(text)`). An unpickled
    /// decision is data, not proof that the engine decided so: verify its `attestation`.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let f = py
            .import("passgate._native")?
            .getattr("_decision_from_json")?;
        Ok((f, (self.json().to_string(),)))
    }

    fn __repr__(&self) -> String {
        let d = &self.inner;
        let failed: Vec<String> = d.failed().map(|c| quote(&c.constraint)).collect();
        let remaining: Vec<String> = d
            .remaining
            .iter()
            .map(|(k, v)| format!("{}: {}", quote(k), quote(v)))
            .collect();
        format!(
            "Decision(decision={}, gate={}, agent_id={}, failed=[{}], remaining={{{}}}{}{})",
            quote(d.decision.as_str()),
            quote(&d.gate),
            d.agent_id
                .as_deref()
                .map_or_else(|| "None".to_string(), quote),
            failed.join(", "),
            remaining.join(", "),
            if d.dry_run { ", dry_run=True" } else { "" },
            if d.replayed { ", replayed=True" } else { "" },
        )
    }
}

/// A decision from its JSON text (what `Decision.__reduce__` pickles); `INVALID_ARGUMENT` if the
/// text is not a decision.
#[pyfunction]
pub(crate) fn _decision_from_json(py: Python<'_>, text: &str) -> PyResult<PyDecision> {
    let d: Decision = serde_json::from_str(text)
        .map_err(|e| passgate::Error::argument("/", format!("not a decision: {e}")))
        .map_err(|e| crate::errors::to_py_err(py, &e))?;
    Ok(PyDecision::new(d))
}

/// `s` as a Python string literal in single quotes.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}
