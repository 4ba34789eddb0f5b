//! `Engine`: the core engine behind a frozen Python class, safe to share across threads.
//!
//! `enforce` and `dry_run` build the core `Request` directly from the Python arguments (no JSON
//! text); every call that signs or touches the store runs with the GIL released. Operations the
//! core offers only on its JSON seam go through `passgate::seam::call` by name, so they work as
//! soon as the core implements them.

use passgate::__private::keys::KeyPair;
use passgate::engine::Engine;
use passgate::{seam, Error, Policy, Request};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString};
use serde_json::{json, Map, Value};

use crate::convert::{to_py, to_value, Ctx};
use crate::decision::{quote, PyDecision};
use crate::errors::{to_py_err, OrRaise};
use crate::passport::{lifetime_secs, PyIssuedPassport, PyIssuer};

static FSDECODE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// A policy from a dict (the document), a str (JSON text when it starts with `{` or `[`, else a
/// path) or an `os.PathLike`. Every failure is `POLICY_INVALID` (`LIMIT_EXCEEDED` when too big).
fn load_policy(obj: &Bound<'_, PyAny>) -> PyResult<Policy> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        let text = s.to_cow()?;
        return py.detach(|| Policy::load(&text)).or_raise(py);
    }
    if obj.cast::<PyDict>().is_ok() {
        let doc = to_value(obj, Ctx::Policy)?;
        return py.detach(|| Policy::from_value(doc)).or_raise(py);
    }
    if obj.hasattr("__fspath__")? {
        let fsdecode = FSDECODE.get_or_try_init(py, || {
            py.import("os")?.getattr("fsdecode").map(Bound::unbind)
        })?;
        let path: String = fsdecode.bind(py).call1((obj,))?.extract()?;
        // A path is always a path, even one whose name starts with `{`.
        let path = if path.trim_start().starts_with(['{', '[']) {
            format!("./{path}")
        } else {
            path
        };
        return py.detach(|| Policy::load(&path)).or_raise(py);
    }
    let ty = obj.get_type().name()?.to_string();
    Err(to_py_err(
        py,
        &Error::policy(
            "/",
            format!("a policy must be a dict, a JSON string or a path, not {ty}"),
        ),
    ))
}

/// A passport argument: a token string or an `IssuedPassport`.
fn token_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if let Ok(p) = obj.cast::<PyIssuedPassport>() {
        return Ok(Some(p.get().inner.token.clone()));
    }
    Ok(Some(obj.extract()?))
}

/// A required passport argument.
fn required_token(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    token_of(Some(obj))?.ok_or_else(|| {
        to_py_err(
            py,
            &Error::InvalidArgument("a passport token (or IssuedPassport) is required".into()),
        )
    })
}

/// A trusted issuer argument: a did:key string or an `Issuer`.
fn did_of(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(i) = obj.cast::<PyIssuer>() {
        return Ok(i.get().inner.did().to_string());
    }
    obj.extract()
}

/// Keyword arguments as a JSON object of their non-None values.
fn args_of(kwargs: Option<&Bound<'_, PyDict>>, name: &'static str) -> PyResult<Value> {
    match kwargs {
        Some(k) => to_value(k.as_any(), Ctx::Argument(name)),
        None => Ok(Value::Object(Map::new())),
    }
}

/// The one value of a single-key wrapper object (`{"counters": [...]}` → `[...]`) when it is of
/// the expected kind; otherwise `v` itself.
fn unwrap_single(v: Value, want: fn(&Value) -> bool) -> Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.values().all(want) => {
            m.into_iter().next().map_or(Value::Null, |(_, x)| x)
        }
        other => other,
    }
}

/// The authorization engine: verifies passports, evaluates gates, counts in its store and signs
/// an attestation of every decision.
///
/// `policy` is a dict, a JSON string or a path (None: deny everything until `set_policy`).
/// `trusted_issuers` lists the did:keys (or `Issuer`s) whose passports it accepts, in addition to
/// the policy's `issuers`. `signing_key` (an `Issuer` or a secret string) signs attestations;
/// None makes a fresh key, whose did:key is `engine.signer_did`. `store` is a store URL
/// (`"memory:"`). `leeway_secs` is the clock leeway for passport times (default 60).
///
/// One engine may be shared by many threads: calls release the GIL while they sign and count.
///
/// ```python
/// engine = Engine({"version": 1, "gates": {...}}, trusted_issuers=[issuer.did])
/// decision = engine.enforce("payments.send", passport.token, {"amount": 400})
/// ```
#[pyclass(frozen, module = "passgate", name = "Engine")]
pub(crate) struct PyEngine {
    inner: Engine,
}

impl PyEngine {
    /// The core engine (for the MCP handler).
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        py: Python<'_>,
        dry_run: bool,
        gate: String,
        passport: Option<&Bound<'_, PyAny>>,
        payload: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<String>,
        trace: Option<&Bound<'_, PyAny>>,
        hold: bool,
        approval: Option<String>,
        client: Option<String>,
    ) -> PyResult<PyDecision> {
        let passport = token_of(passport)?;
        let payload = match payload {
            Some(p) if !p.is_none() => to_value(p, Ctx::Payload)?,
            _ => Value::Null,
        };
        let trace = match trace {
            Some(t) if !t.is_none() => Some(to_value(t, Ctx::Argument("trace"))?),
            _ => None,
        };
        let mut req = Request::new(gate, payload);
        req.passport = passport;
        req.idempotency_key = idempotency_key;
        req.trace = trace;
        req.client = client;
        req.hold = hold;
        req.approval = approval;
        let engine = &self.inner;
        let d = py
            .detach(|| {
                if dry_run {
                    engine.dry_run(&req)
                } else {
                    engine.enforce(&req)
                }
            })
            .or_raise(py)?;
        Ok(PyDecision::new(d))
    }

    /// Runs a seam operation with the GIL released.
    fn seam(&self, py: Python<'_>, op: &str, args: Value) -> PyResult<Value> {
        let engine = &self.inner;
        py.detach(|| seam::call(engine, op, &args)).or_raise(py)
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (policy=None, *, trusted_issuers=None, signing_key=None, store="memory:", leeway_secs=None))]
    fn new(
        py: Python<'_>,
        policy: Option<&Bound<'_, PyAny>>,
        trusted_issuers: Option<&Bound<'_, PyAny>>,
        signing_key: Option<&Bound<'_, PyAny>>,
        store: &str,
        leeway_secs: Option<i64>,
    ) -> PyResult<Self> {
        let mut b = Engine::builder();
        if let Some(p) = policy.filter(|p| !p.is_none()) {
            b = b.policy(load_policy(p)?);
        }
        if let Some(list) = trusted_issuers.filter(|t| !t.is_none()) {
            if list.cast::<PyString>().is_ok() {
                return Err(to_py_err(
                    py,
                    &Error::InvalidArgument(
                        "trusted_issuers must be a list of did:key strings, not one string".into(),
                    ),
                ));
            }
            for item in list.try_iter()? {
                b = b.trusted_issuer(did_of(&item?)?);
            }
        }
        if let Some(k) = signing_key.filter(|k| !k.is_none()) {
            let key = match k.cast::<PyIssuer>() {
                Ok(i) => i.get().inner.key().clone(),
                Err(_) => KeyPair::from_secret(&k.extract::<String>()?).or_raise(py)?,
            };
            b = b.signing_key(key);
        }
        b = b.store_url(store);
        if let Some(l) = leeway_secs {
            b = b.leeway_secs(l);
        }
        Ok(PyEngine {
            inner: py.detach(|| b.build()).or_raise(py)?,
        })
    }

    /// Decides a request, counts it if admitted, and signs the decision into the audit chain.
    ///
    /// `passport` is a token (or an `IssuedPassport`), None for an anonymous caller judged by the
    /// policy's `anonymous` section; `payload` the action's arguments (a dict; numbers may be
    /// int, float, Decimal or decimal strings). `idempotency_key` makes a retry return the first
    /// decision (`replayed=True`) instead of counting twice; `trace` is host metadata recorded in
    /// the attestation; `client` the host's key for an anonymous caller (`scope: "client"`).
    /// `hold=True` reserves the amounts until `settle` / `release`; `approval` is a token from
    /// `approve` for an escalated request.
    ///
    /// Returns a `Decision`. A deny is a decision, not an exception: this raises only for
    /// malformed arguments (`InputError`), an `IdempotencyConflict` or a `StoreError`.
    #[pyo3(signature = (gate, passport=None, payload=None, *, idempotency_key=None, trace=None, hold=false, approval=None, client=None))]
    #[allow(clippy::too_many_arguments)]
    fn enforce(
        &self,
        py: Python<'_>,
        gate: String,
        passport: Option<&Bound<'_, PyAny>>,
        payload: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<String>,
        trace: Option<&Bound<'_, PyAny>>,
        hold: bool,
        approval: Option<String>,
        client: Option<String>,
    ) -> PyResult<PyDecision> {
        self.run(
            py,
            false,
            gate,
            passport,
            payload,
            idempotency_key,
            trace,
            hold,
            approval,
            client,
        )
    }

    /// Evaluates a request exactly as `enforce` would, against the same state, and changes
    /// nothing: no counter, no attestation, no idempotency key. Same arguments as `enforce`.
    #[pyo3(signature = (gate, passport=None, payload=None, *, idempotency_key=None, trace=None, hold=false, approval=None, client=None))]
    #[allow(clippy::too_many_arguments)]
    fn dry_run(
        &self,
        py: Python<'_>,
        gate: String,
        passport: Option<&Bound<'_, PyAny>>,
        payload: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<String>,
        trace: Option<&Bound<'_, PyAny>>,
        hold: bool,
        approval: Option<String>,
        client: Option<String>,
    ) -> PyResult<PyDecision> {
        self.run(
            py,
            true,
            gate,
            passport,
            payload,
            idempotency_key,
            trace,
            hold,
            approval,
            client,
        )
    }

    /// Verifies a passport (signature, times, issuer, delegation chain, revocation) and returns
    /// its claims as a dict; raises `PassportError` with the reason's code otherwise.
    fn verify_passport<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let token = required_token(py, token)?;
        let engine = &self.inner;
        let claims = py.detach(|| engine.verify_passport(&token)).or_raise(py)?;
        to_py(py, &claims)
    }

    /// A signed statement of where this engine's chain ends now (`{"body": {"kind":
    /// "chain.head", "chain", "seq", "hash", "time"}, "hash", "sig", "kid"}`). Keep a recent one:
    /// `verify_chain(records, did, head=head)` then detects records cut from the chain's end.
    fn chain_head<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let engine = &self.inner;
        let head = py.detach(|| engine.chain_head()).or_raise(py)?;
        to_py(py, &head)
    }

    /// Revokes a passport by id; every passport delegated from it is revoked with it. Writes an
    /// attestation of kind `revocation`.
    fn revoke_passport(&self, py: Python<'_>, passport_id: &str) -> PyResult<()> {
        let engine = &self.inner;
        py.detach(|| engine.revoke_passport(passport_id))
            .or_raise(py)
    }

    /// Issues a new passport for the agent of `token` (same permissions, name and caveats, a
    /// fresh agent key), signed by `issuer` (an `Issuer` or its secret), and revokes the old one.
    #[pyo3(signature = (token, issuer, expires_in_days=None))]
    fn reissue(
        &self,
        py: Python<'_>,
        token: &Bound<'_, PyAny>,
        issuer: &Bound<'_, PyAny>,
        expires_in_days: Option<f64>,
    ) -> PyResult<PyIssuedPassport> {
        let token = required_token(py, token)?;
        let issuer = match issuer.cast::<PyIssuer>() {
            Ok(i) => i.get().inner.clone(),
            Err(_) => passgate::Issuer::from_secret(&issuer.extract::<String>()?).or_raise(py)?,
        };
        let secs = expires_in_days.map(|d| lifetime_secs(py, d)).transpose()?;
        let engine = &self.inner;
        let issued = py
            .detach(|| engine.reissue(&token, &issuer, secs))
            .or_raise(py)?;
        Ok(PyIssuedPassport::new(issued))
    }

    /// The counters matching the filter (`gate=`, `agent_id=`, `constraint=`, `scope=`,
    /// `namespace=`), as dicts with their current usage (`used`, a decimal string).
    #[pyo3(signature = (**filter))]
    fn cumulative_state<'py>(
        &self,
        py: Python<'py>,
        filter: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = self.seam(py, "cumulative_state", args_of(filter, "filter")?)?;
        to_py(py, &unwrap_single(v, Value::is_array))
    }

    /// One page of the counters matching the filter (`gate=`, `agent_id=`, `constraint=`,
    /// `scope=`, `namespace=`): at most `limit` (1–10,000) counters from `cursor` (None: the
    /// first page), in a stable order. Returns `{"counters": [...], "next_cursor": str | None}`;
    /// pass `next_cursor` back for the next page (None after the last; a page may be short and
    /// still have one). A cursor no page returned raises `InputError` (`INVALID_ARGUMENT`).
    #[pyo3(signature = (*, cursor=None, limit=100, gate=None, agent_id=None, namespace=None, constraint=None, scope=None))]
    #[allow(clippy::too_many_arguments)]
    fn cumulative_state_page<'py>(
        &self,
        py: Python<'py>,
        cursor: Option<String>,
        limit: u64,
        gate: Option<String>,
        agent_id: Option<String>,
        namespace: Option<String>,
        constraint: Option<String>,
        scope: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = json!({
            "gate": gate, "agent_id": agent_id, "namespace": namespace,
            "constraint": constraint, "scope": scope, "cursor": cursor, "limit": limit,
        });
        let v = self.seam(py, "cumulative_state_page", args)?;
        to_py(py, &v)
    }

    /// Deletes the counters matching the filter (same keywords as `cumulative_state`; none
    /// deletes all), records an attestation of kind `reset`, and returns how many were deleted.
    #[pyo3(signature = (**filter))]
    fn reset_cumulative_state(
        &self,
        py: Python<'_>,
        filter: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<u64> {
        let v = self.seam(py, "reset_cumulative_state", args_of(filter, "filter")?)?;
        unwrap_single(v, Value::is_u64)
            .as_u64()
            .ok_or_else(|| Error::Internal("reset_cumulative_state: no count".into()))
            .or_raise(py)
    }

    /// Attestation records in this engine's store (every chain), oldest first, as dicts. Filters:
    /// `chain`, `gate`, `agent_id`, `decision`, `evaluation_id`, `kind`, `since` / `until`
    /// (epoch milliseconds), `limit`.
    #[pyo3(signature = (*, chain=None, gate=None, agent_id=None, decision=None, evaluation_id=None, kind=None, since=None, until=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn attestations<'py>(
        &self,
        py: Python<'py>,
        chain: Option<String>,
        gate: Option<String>,
        agent_id: Option<String>,
        decision: Option<String>,
        evaluation_id: Option<String>,
        kind: Option<String>,
        since: Option<i64>,
        until: Option<i64>,
        limit: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let filter = json!({
            "chain": chain, "gate": gate, "agent_id": agent_id, "decision": decision,
            "evaluation_id": evaluation_id, "kind": kind, "since": since, "until": until,
            "limit": limit,
        });
        let filter = seam::attestation_filter(&filter).or_raise(py)?;
        let engine = &self.inner;
        let records = py.detach(|| engine.attestations(&filter)).or_raise(py)?;
        to_py(py, &Value::Array(records))
    }

    /// One page of the attestation records (every chain), oldest first: the same filters as
    /// `attestations`, at most `limit` (1–10,000) records from `cursor` (None: the first page).
    /// Returns `{"records": [...], "next_cursor": str | None}`; pass `next_cursor` back for the
    /// next page (None after the last).
    #[pyo3(signature = (*, cursor=None, limit=100, chain=None, gate=None, agent_id=None, decision=None, evaluation_id=None, kind=None, since=None, until=None))]
    #[allow(clippy::too_many_arguments)]
    fn attestations_page<'py>(
        &self,
        py: Python<'py>,
        cursor: Option<String>,
        limit: u64,
        chain: Option<String>,
        gate: Option<String>,
        agent_id: Option<String>,
        decision: Option<String>,
        evaluation_id: Option<String>,
        kind: Option<String>,
        since: Option<i64>,
        until: Option<i64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = json!({
            "chain": chain, "gate": gate, "agent_id": agent_id, "decision": decision,
            "evaluation_id": evaluation_id, "kind": kind, "since": since, "until": until,
            "cursor": cursor, "limit": limit,
        });
        let v = self.seam(py, "attestations_page", args)?;
        to_py(py, &v)
    }

    /// Verifies every chain of the store, each against its own signer, which must be one of
    /// `trusted_signers` (did:key strings): after restarts each engine without a configured
    /// signing key wrote a chain with a new key. Returns `{"records": n, "chains": [{"chain",
    /// "signer", "records", "first_seq", "last_seq"}]}`; raises `AttestationError` on the first
    /// record that does not verify or a chain signed by an untrusted key.
    fn verify_store<'py>(
        &self,
        py: Python<'py>,
        trusted_signers: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = self.seam(
            py,
            "verify_store",
            json!({ "trusted_signers": trusted_signers }),
        )?;
        to_py(py, &v)
    }

    /// Appends a host event (`kind`, any name but `"decision"`; `data`, JSON-like) to this
    /// engine's chain and returns the signed record.
    #[pyo3(signature = (kind, data=None))]
    fn record_attestation<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let data = match data {
            Some(d) if !d.is_none() => to_value(d, Ctx::Argument("data"))?,
            _ => Value::Null,
        };
        let engine = &self.inner;
        let record = py
            .detach(|| engine.record_attestation(kind, &data))
            .or_raise(py)?;
        to_py(py, &record)
    }

    /// Replaces the policy (a dict, a JSON string or a path). Counters and the audit chain live
    /// on; trusted issuers become the constructor's plus the new policy's.
    fn set_policy(&self, py: Python<'_>, policy: &Bound<'_, PyAny>) -> PyResult<()> {
        let policy = load_policy(policy)?;
        let engine = &self.inner;
        py.detach(|| engine.set_policy(policy)).or_raise(py)
    }

    /// The policy's gates, by name, as dicts (what an MCP `list_gates` tool shows).
    fn list_gates<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.seam(py, "list_gates", Value::Null)?;
        to_py(py, &unwrap_single(v, Value::is_array))
    }

    /// One gate of the policy as a dict; `InputError` (`GATE_UNKNOWN`) if it is not defined.
    fn get_gate<'py>(&self, py: Python<'py>, gate: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = self.seam(py, "get_gate", json!({ "gate": gate }))?;
        to_py(py, &v)
    }

    /// Settles a hold from `enforce(..., hold=True)`: `actual` is a payload of the request's
    /// shape holding the real amounts (`{"amount": 42}`); None keeps the reserved ones.
    #[pyo3(signature = (hold_id, actual=None))]
    fn settle<'py>(
        &self,
        py: Python<'py>,
        hold_id: &str,
        actual: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let actual = match actual {
            Some(a) if !a.is_none() => to_value(a, Ctx::Payload)?,
            _ => Value::Null,
        };
        let v = self.seam(
            py,
            "settle",
            json!({ "hold_id": hold_id, "actual": actual }),
        )?;
        to_py(py, &v)
    }

    /// Releases a hold: its reservation is given back to the counters.
    fn release<'py>(&self, py: Python<'py>, hold_id: &str) -> PyResult<Bound<'py, PyAny>> {
        let v = self.seam(py, "release", json!({ "hold_id": hold_id }))?;
        to_py(py, &v)
    }

    /// Expires at most `limit` holds past their TTL (all that are due with `None`), settling each
    /// at its reserved amounts (only `concurrency` slots are freed); returns how many it expired.
    /// `enforce` expires at most 64 per call, once a second: call this from a timer (a background
    /// sweeper) when holds may go unsettled. A stored hold that cannot be read is skipped (logged)
    /// and never stalls the sweep.
    #[pyo3(signature = (limit=None))]
    fn expire_holds(&self, py: Python<'_>, limit: Option<u64>) -> PyResult<u64> {
        let v = self.seam(py, "expire_holds", json!({ "limit": limit }))?;
        unwrap_single(v, Value::is_u64)
            .as_u64()
            .ok_or_else(|| Error::Internal("expire_holds: no count".into()))
            .or_raise(py)
    }

    /// Prunes at most `limit` attestation records due under the store's retention (all that are
    /// due with `None`), each chain's behind a checkpoint this engine signs, exporting them first
    /// to the store URL's `retention_export` file if set; also drops closed holds and approvals
    /// that can no longer matter. Returns how many records it pruned. SQLite and Redis stores are
    /// pruned only by this call: call it from a timer (like `expire_holds`).
    #[pyo3(signature = (limit=None))]
    fn prune(&self, py: Python<'_>, limit: Option<u64>) -> PyResult<u64> {
        let v = self.seam(py, "prune", json!({ "limit": limit }))?;
        v.get("pruned")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::Internal("prune: no count".into()))
            .or_raise(py)
    }

    /// Writes the store's attestation records as JSONL (one record per line exactly as stored,
    /// each chain oldest first; `since`: epoch ms) to `path_or_file` — a path, or a text file
    /// object (anything with `write(str)`) — with a chain's checkpoint line before its first
    /// record when that record follows one, so the export verifies offline. Returns the number of
    /// records written.
    #[pyo3(signature = (path_or_file, since=None))]
    fn export_attestations(
        &self,
        py: Python<'_>,
        path_or_file: &Bound<'_, PyAny>,
        since: Option<i64>,
    ) -> PyResult<u64> {
        if let Ok(path) = path_or_file.extract::<std::path::PathBuf>() {
            let path = path.to_string_lossy().into_owned();
            let v = self.seam(
                py,
                "export_attestations",
                json!({ "path": path, "since": since }),
            )?;
            return v
                .get("exported")
                .and_then(Value::as_u64)
                .ok_or_else(|| Error::Internal("export: no count".into()))
                .or_raise(py);
        }
        let engine = &self.inner;
        let (n, bytes) = py
            .detach(|| {
                let mut out = Vec::new();
                engine
                    .export_attestations(since, &mut out)
                    .map(|n| (n, out))
            })
            .or_raise(py)?;
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::Internal(format!("export: {e}")))
            .or_raise(py)?;
        path_or_file.call_method1("write", (text,))?;
        Ok(n)
    }

    /// Verifies an export file (from `export_attestations` or a `retention_export` sink)
    /// followed by what this store still holds: every record's hash and signature (signers among
    /// `trusted_signers`), each chain continuous from seq 1 or a trusted checkpoint. Returns
    /// `{"records", "duplicates", "chains"}`; raises `AttestationError` otherwise.
    fn verify_export<'py>(
        &self,
        py: Python<'py>,
        path: std::path::PathBuf,
        trusted_signers: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let path = path.to_string_lossy().into_owned();
        let v = self.seam(
            py,
            "verify_export",
            json!({ "path": path, "trusted_signers": trusted_signers }),
        )?;
        to_py(py, &v)
    }

    /// Approves an escalated request by its `evaluation_id`, as `approver`; writes an attestation
    /// and returns the approval token the agent retries with (`enforce(..., approval=token)`).
    /// `ttl` bounds the token's life (a duration such as `"15m"`, or seconds).
    #[pyo3(signature = (evaluation_id, approver, ttl=None))]
    fn approve(
        &self,
        py: Python<'_>,
        evaluation_id: &str,
        approver: &str,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let ttl = match ttl {
            Some(t) if !t.is_none() => to_value(t, Ctx::Argument("ttl"))?,
            _ => Value::Null,
        };
        let v = self.seam(
            py,
            "approve",
            json!({ "evaluation_id": evaluation_id, "approver": approver, "ttl": ttl }),
        )?;
        match unwrap_single(v, Value::is_string) {
            Value::String(token) => Ok(token),
            _ => Err(Error::Internal("approve: no token".into())).or_raise(py),
        }
    }

    /// Denies an escalated request by its `evaluation_id`, as `approver`, for `reason`; writes an
    /// attestation.
    fn deny_approval<'py>(
        &self,
        py: Python<'py>,
        evaluation_id: &str,
        approver: &str,
        reason: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = self.seam(
            py,
            "deny_approval",
            json!({ "evaluation_id": evaluation_id, "approver": approver, "reason": reason }),
        )?;
        to_py(py, &v)
    }

    /// The gates this passport (a token or an `IssuedPassport`) may call under the policy.
    fn allowed_gates<'py>(
        &self,
        py: Python<'py>,
        passport: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let token = required_token(py, passport)?;
        let v = self.seam(py, "allowed_gates", json!({ "passport": token }))?;
        to_py(py, &unwrap_single(v, Value::is_array))
    }

    /// The decisions taken for anonymous callers, as dicts.
    fn anonymous_log<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let v = self.seam(py, "anonymous_log", Value::Null)?;
        to_py(py, &unwrap_single(v, Value::is_array))
    }

    /// Closes the engine's store now (SQLite connections and file handles): every later call
    /// that touches the store raises `StoreError`. Closing twice is harmless. `with Engine(...)
    /// as engine:` closes on exit.
    fn close(&self, py: Python<'_>) {
        let engine = self.engine();
        py.detach(|| engine.close());
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.close(py);
        false
    }

    /// The did:key attestations are signed with: what `verify_chain` checks against.
    #[getter]
    fn signer_did(&self) -> &str {
        self.inner.signer_did()
    }

    /// This engine's own chain id (each engine writes one chain; it moves to a new one, starting
    /// with a `chain.break` record, if its store loses records it had acknowledged).
    #[getter]
    fn chain_id(&self) -> String {
        self.inner.chain_id()
    }

    /// `sha256:...` of the current policy, or None without one.
    #[getter]
    fn policy_hash(&self) -> Option<String> {
        self.inner.policy().map(|p| p.hash.clone())
    }

    fn __repr__(&self) -> String {
        let gates = self.inner.policy().map_or(0, |p| p.gates.len());
        format!(
            "Engine(signer_did={}, policy_hash={}, gates={gates})",
            quote(self.inner.signer_did()),
            self.inner
                .policy()
                .map_or_else(|| "None".to_string(), |p| quote(&p.hash)),
        )
    }
}
