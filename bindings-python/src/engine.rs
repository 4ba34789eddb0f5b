//! `Engine`: the core engine behind a frozen Python class, safe to share across threads.
//!
//! `enforce` and `dry_run` (the hot path) build the core `Request` directly from the Python
//! arguments (no JSON text). Every other method is glue around the one JSON entry point of the
//! core: it converts its arguments to the JSON object of the operation's snake_case argument
//! names, calls the operation by name with the GIL released, and converts the result. No rule is
//! written here: argument checks, TTL and day parsing, filters all live in the core, and their
//! errors come back with the argument's `.path`. An operation the core adds is reachable at once
//! through `Engine.__getattr__` (keyword arguments), before it gets a method of its own.

use passgate::__private::keys::KeyPair;
use passgate::clock::ManualClock;
use passgate::engine::Engine;
use passgate::{ops, seam, Error, Policy, Request};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple};
use serde_json::{Map, Value};
use std::sync::Arc;

use crate::convert::{argument_path, to_py, to_value, Ctx};
use crate::decision::{quote, PyDecision};
use crate::errors::{to_py_err, OrRaise};
use crate::passport::{PyIssuedPassport, PyIssuer};

static FSDECODE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The operations of the core's JSON entry point.
pub(crate) fn operation_names() -> &'static [&'static str] {
    ops::NAMES
}

/// A Python `str` argument as Rust text; anything else (or a lone surrogate) is an
/// `INVALID_ARGUMENT` at `/name`, never a `TypeError` or `UnicodeEncodeError`.
pub(crate) fn str_arg(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<String> {
    let py = obj.py();
    let why = match obj.cast::<PyString>() {
        Ok(s) => match s.to_cow() {
            Ok(t) => return Ok(t.into_owned()),
            Err(_) => "must be text without lone surrogates".to_string(),
        },
        Err(_) => format!(
            "must be a string, not {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "object".into(), |n| n.to_string())
        ),
    };
    Err(to_py_err(
        py,
        &Error::argument(argument_path(name, "/"), why),
    ))
}

/// An optional `str` argument (None: absent).
pub(crate) fn opt_str_arg(obj: Option<&Bound<'_, PyAny>>, name: &str) -> PyResult<Option<String>> {
    obj.filter(|o| !o.is_none())
        .map(|o| str_arg(o, name))
        .transpose()
}

/// The JSON arguments of one operation, built from Python values (None values are left out).
pub(crate) struct Args(Map<String, Value>);

impl Args {
    pub(crate) fn new() -> Self {
        Args(Map::new())
    }

    /// Adds argument `name`, converted from Python (errors at `/name/...`).
    pub(crate) fn py(
        mut self,
        name: &'static str,
        obj: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if let Some(o) = obj.filter(|o| !o.is_none()) {
            self.0
                .insert(name.into(), to_value(o, Ctx::Argument(name))?);
        }
        Ok(self)
    }

    /// Adds argument `name` as a JSON value (null: left out).
    pub(crate) fn json(mut self, name: &str, v: Value) -> Self {
        if !v.is_null() {
            self.0.insert(name.into(), v);
        }
        self
    }

    pub(crate) fn value(self) -> Value {
        Value::Object(self.0)
    }
}

/// A policy from a dict (the document), a str (JSON text when it starts with `{` or `[`, else a
/// path) or an `os.PathLike`, as the JSON value the core reads: the document, or the text or
/// path. Anything else is `POLICY_INVALID`.
fn policy_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.cast::<PyString>().is_ok() {
        return Ok(Value::String(str_arg(obj, "policy")?));
    }
    if obj.cast::<PyDict>().is_ok() {
        return to_value(obj, Ctx::Policy);
    }
    if obj.hasattr("__fspath__")? {
        let fsdecode = FSDECODE.get_or_try_init(py, || {
            py.import("os")?.getattr("fsdecode").map(Bound::unbind)
        })?;
        let path = str_arg(&fsdecode.bind(py).call1((obj,))?, "policy")?;
        // A path is always a path, even one whose name starts with `{`.
        let path = if path.trim_start().starts_with(['{', '[']) {
            format!("./{path}")
        } else {
            path
        };
        return Ok(Value::String(path));
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

/// A policy for the constructor (see [`policy_value`]).
fn load_policy(obj: &Bound<'_, PyAny>) -> PyResult<Policy> {
    let py = obj.py();
    let v = policy_value(obj)?;
    py.detach(|| seam::policy(&v)).or_raise(py)
}

/// A passport argument: a token string or an `IssuedPassport` (its token), as JSON.
fn passport_value(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Value> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(Value::Null);
    };
    if let Ok(p) = obj.cast::<PyIssuedPassport>() {
        return Ok(Value::String(p.get().inner.token.clone()));
    }
    to_value(obj, Ctx::Argument("passport"))
}

/// A passport argument for the hot path: the token, or None.
fn token_of(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if let Ok(p) = obj.cast::<PyIssuedPassport>() {
        return Ok(Some(p.get().inner.token.clone()));
    }
    str_arg(obj, "passport").map(Some)
}

/// An issuer argument: an `Issuer` (its secret) or the secret string, as JSON.
fn issuer_secret_value(obj: &Bound<'_, PyAny>, name: &'static str) -> PyResult<Value> {
    if let Ok(i) = obj.cast::<PyIssuer>() {
        return Ok(Value::String(i.get().inner.secret()));
    }
    to_value(obj, Ctx::Argument(name))
}

/// A trusted issuer argument: a did:key string or an `Issuer`.
fn did_of(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(i) = obj.cast::<PyIssuer>() {
        return Ok(i.get().inner.did().to_string());
    }
    str_arg(obj, "trusted_issuers")
}

/// A path argument (`str` or `os.PathLike`) as text.
fn path_value(obj: &Bound<'_, PyAny>, name: &'static str) -> PyResult<Value> {
    let py = obj.py();
    if obj.cast::<PyString>().is_err() && obj.hasattr("__fspath__")? {
        let fsdecode = FSDECODE.get_or_try_init(py, || {
            py.import("os")?.getattr("fsdecode").map(Bound::unbind)
        })?;
        return to_value(&fsdecode.bind(py).call1((obj,))?, Ctx::Argument(name));
    }
    to_value(obj, Ctx::Argument(name))
}

/// Field `key` of an operation's result object.
fn field(py: Python<'_>, op: &str, mut v: Value, key: &str) -> PyResult<Value> {
    v.as_object_mut()
        .and_then(|m| m.remove(key))
        .ok_or_else(|| Error::Internal(format!("{op}: the result has no {key:?}")))
        .or_raise(py)
}

/// Field `key` of an operation's result object, as an unsigned count.
fn count(py: Python<'_>, op: &str, v: Value, key: &str) -> PyResult<u64> {
    field(py, op, v, key)?
        .as_u64()
        .ok_or_else(|| Error::Internal(format!("{op}: {key:?} is not a count")))
        .or_raise(py)
}

/// The authorization engine: verifies passports, evaluates gates, counts in its store and signs
/// an attestation of every decision.
///
/// `policy` is a dict, a JSON string or a path (None: deny everything until `set_policy`).
/// `trusted_issuers` lists the did:keys (or `Issuer`s) whose passports it accepts, in addition to
/// the policy's `issuers`. `signing_key` (an `Issuer` or a secret string) signs attestations;
/// None makes a fresh key, whose did:key is `engine.signer_did`. `store` is a store URL
/// (`"memory:"`). `leeway_secs` is the clock leeway for passport times (default 60, at most
/// 3600). `clock`, for tests and simulations only, is a callable returning the time in
/// milliseconds since the epoch (an int); the engine reads it once at the start of each call.
/// `pop_leeway_secs` is how far a proof of possession's `ts` may be from the engine's clock
/// (default 60, 1 to 3600); `platform_fee_bps` the platform fee of consumption attestations, in
/// basis points (default 0, at most 10000).
///
/// One engine may be shared by many threads: calls release the GIL while they sign and count.
///
/// ```python
/// engine = Engine({"version": 1, "gates": {...}}, trusted_issuers=[issuer.did])
/// decision = engine.enforce("payments.send", passport.token, {"amount": 400})
/// ```
#[pyclass(frozen, module = "passgate", name = "Engine")]
pub(crate) struct PyEngine {
    inner: Arc<Engine>,
    /// The host's clock (`clock=`) and the core clock it is copied into at each call.
    clock: Option<(Py<PyAny>, ManualClock)>,
}

impl PyEngine {
    /// The core engine (for the MCP handler).
    pub(crate) fn engine(&self) -> &Engine {
        &self.inner
    }

    /// The core engine, shared (for the HTTP gateway).
    pub(crate) fn shared(&self) -> &Arc<Engine> {
        &self.inner
    }

    /// Reads the host's clock, if one was given, into the engine's (once per call).
    pub(crate) fn tick(&self, py: Python<'_>) -> PyResult<()> {
        let Some((read, clock)) = &self.clock else {
            return Ok(());
        };
        let now = read.bind(py).call0()?;
        let bad = |why: &str| {
            to_py_err(
                py,
                &Error::argument("/clock", format!("the clock returned {why}; it must return an int of milliseconds since the epoch")),
            )
        };
        if now.cast::<PyInt>().is_err() || now.is_instance_of::<pyo3::types::PyBool>() {
            let ty = now
                .get_type()
                .name()
                .map_or_else(|_| "object".into(), |n| n.to_string());
            return Err(bad(&format!("a {ty}")));
        }
        let ms: i64 = now.extract().map_err(|_| bad("an int out of range"))?;
        if ms < 0 {
            return Err(bad("a negative time"));
        }
        clock.set_ms(ms);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        py: Python<'_>,
        dry_run: bool,
        gate: &Bound<'_, PyAny>,
        passport: Option<&Bound<'_, PyAny>>,
        payload: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<&Bound<'_, PyAny>>,
        trace: Option<&Bound<'_, PyAny>>,
        hold: Option<&Bound<'_, PyAny>>,
        approval: Option<&Bound<'_, PyAny>>,
        client: Option<&Bound<'_, PyAny>>,
        session: (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
        (notify, pop): (Option<&Bound<'_, PyAny>>, Option<&Bound<'_, PyAny>>),
    ) -> PyResult<PyDecision> {
        let gate = str_arg(gate, "gate")?;
        let hold = match hold.filter(|h| !h.is_none()) {
            None => false,
            Some(h) => h
                .cast::<pyo3::types::PyBool>()
                .map(|b| b.is_true())
                .map_err(|_| to_py_err(py, &Error::argument("/hold", "must be True or False")))?,
        };
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
        req.idempotency_key = opt_str_arg(idempotency_key, "idempotency_key")?;
        let session_id = opt_str_arg(session.0, "mcp_session_id")?;
        let client_name = opt_str_arg(session.1, "mcp_client_name")?;
        req.trace = ops::trace_with_session(trace, session_id.as_deref(), client_name.as_deref())
            .or_raise(py)?;
        req.client = opt_str_arg(client, "client")?;
        req.hold = hold;
        req.approval = opt_str_arg(approval, "approval")?;
        req.notify = opt_str_arg(notify, "notify")?;
        req.pop = match pop {
            Some(p) if !p.is_none() => Some(to_value(p, Ctx::Argument("pop"))?),
            _ => None,
        };
        self.tick(py)?;
        self.decide(py, dry_run, &req)
    }

    /// Enforces (or dry-runs) `req` with the GIL released.
    fn decide(&self, py: Python<'_>, dry_run: bool, req: &Request) -> PyResult<PyDecision> {
        let engine = &self.inner;
        let d = py
            .detach(|| {
                if dry_run {
                    engine.dry_run(req)
                } else {
                    engine.enforce(req)
                }
            })
            .or_raise(py)?;
        Ok(PyDecision::new(d))
    }

    /// Runs operation `op` of the core's JSON entry point with the GIL released.
    pub(crate) fn op(&self, py: Python<'_>, op: &str, args: Value) -> PyResult<Value> {
        self.tick(py)?;
        let engine = &self.inner;
        py.detach(|| ops::call(engine, op, args)).or_raise(py)
    }

    /// [`Self::op`], the result converted to Python.
    fn op_py<'py>(&self, py: Python<'py>, op: &str, args: Value) -> PyResult<Bound<'py, PyAny>> {
        let v = self.op(py, op, args)?;
        to_py(py, &v)
    }

    /// [`Self::op`], field `key` of the result converted to Python.
    fn op_field<'py>(
        &self,
        py: Python<'py>,
        op: &str,
        args: Value,
        key: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let v = self.op(py, op, args)?;
        to_py(py, &field(py, op, v, key)?)
    }
}

/// A core operation with no method of its own, reached through `Engine.__getattr__`: call it with
/// the operation's arguments as keywords; it returns the operation's JSON result as Python data.
#[pyclass(frozen, module = "passgate", name = "Operation")]
pub(crate) struct PyOperation {
    engine: Py<PyEngine>,
    name: &'static str,
}

#[pymethods]
impl PyOperation {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !args.is_empty() {
            return Err(to_py_err(
                py,
                &Error::argument("/", format!("{}: pass the arguments by keyword", self.name)),
            ));
        }
        // The keywords are the operation's arguments object; an `IssuedPassport` stands for
        // its token.
        let args = PyDict::new(py);
        if let Some(k) = kwargs {
            for (key, v) in k.iter() {
                if v.is_none() {
                    continue;
                }
                match v.cast::<PyIssuedPassport>() {
                    Ok(p) => args.set_item(key, p.get().inner.token.as_str())?,
                    Err(_) => args.set_item(key, v)?,
                }
            }
        }
        let args = to_value(args.as_any(), Ctx::Arguments)?;
        self.engine.get().op_py(py, self.name, args)
    }
    fn __repr__(&self) -> String {
        format!("<passgate operation {}>", quote(self.name))
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (policy=None, *, trusted_issuers=None, signing_key=None, store=None, leeway_secs=None, clock=None, pop_leeway_secs=None, platform_fee_bps=None, signing=None, checkpoint_every=None, checkpoint_interval_ms=None))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments, each optional
    fn new(
        py: Python<'_>,
        policy: Option<&Bound<'_, PyAny>>,
        trusted_issuers: Option<&Bound<'_, PyAny>>,
        signing_key: Option<&Bound<'_, PyAny>>,
        store: Option<&Bound<'_, PyAny>>,
        leeway_secs: Option<&Bound<'_, PyAny>>,
        clock: Option<&Bound<'_, PyAny>>,
        pop_leeway_secs: Option<&Bound<'_, PyAny>>,
        platform_fee_bps: Option<&Bound<'_, PyAny>>,
        signing: Option<&Bound<'_, PyAny>>,
        checkpoint_every: Option<&Bound<'_, PyAny>>,
        checkpoint_interval_ms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut b = Engine::builder();
        let signing = opt_str_arg(signing, "signing")?;
        let count = |v: Option<&Bound<'_, PyAny>>, name: &'static str| -> PyResult<Option<u64>> {
            match v.filter(|v| !v.is_none()) {
                None => Ok(None),
                Some(v) => to_value(v, Ctx::Argument(name))?
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| {
                        Error::argument(format!("/{name}"), "must be a non-negative integer")
                    })
                    .or_raise(py),
            }
        };
        let every = count(checkpoint_every, "checkpoint_every")?;
        let interval_ms = count(checkpoint_interval_ms, "checkpoint_interval_ms")?;
        if signing.is_some() || every.is_some() || interval_ms.is_some() {
            b = b.signing(
                passgate::Signing::parse(signing.as_deref().unwrap_or("each"), every, interval_ms)
                    .or_raise(py)?,
            );
        }
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
                Err(_) => KeyPair::from_secret(&str_arg(k, "signing_key")?).or_raise(py)?,
            };
            b = b.signing_key(key);
        }
        let store = opt_str_arg(store, "store")?;
        b = b.store_url(store.as_deref().unwrap_or("memory:"));
        if let Some(l) = leeway_secs.filter(|l| !l.is_none()) {
            let secs = to_value(l, Ctx::Argument("leeway_secs"))?
                .as_i64()
                .ok_or_else(|| {
                    Error::argument("/leeway_secs", "must be an integer number of seconds")
                })
                .or_raise(py)?;
            b = b.leeway_secs(secs);
        }
        if let Some(l) = pop_leeway_secs.filter(|l| !l.is_none()) {
            let secs = to_value(l, Ctx::Argument("pop_leeway_secs"))?
                .as_i64()
                .ok_or_else(|| {
                    Error::argument("/pop_leeway_secs", "must be an integer number of seconds")
                })
                .or_raise(py)?;
            b = b.pop_leeway_secs(secs);
        }
        if let Some(f) = platform_fee_bps.filter(|f| !f.is_none()) {
            let bps = to_value(f, Ctx::Argument("platform_fee_bps"))?
                .as_u64()
                .ok_or_else(|| {
                    Error::argument("/platform_fee_bps", "must be an integer from 0 to 10000")
                })
                .or_raise(py)?;
            b = b.platform_fee_bps(bps);
        }
        let clock = match clock.filter(|c| !c.is_none()) {
            None => None,
            Some(read) => {
                if !read.is_callable() {
                    return Err(to_py_err(
                        py,
                        &Error::argument(
                            "/clock",
                            "must be a callable returning epoch milliseconds",
                        ),
                    ));
                }
                let manual = ManualClock::new(0);
                b = b.clock(Arc::new(manual.clone()));
                Some((read.clone().unbind(), manual))
            }
        };
        let engine = PyEngine {
            inner: Arc::new(py.detach(|| b.build()).or_raise(py)?),
            clock,
        };
        Ok(engine)
    }

    /// Decides a request, counts it if admitted, and signs the decision into the audit chain.
    ///
    /// `passport` is a token (or an `IssuedPassport`), None for an anonymous caller judged by the
    /// policy's `anonymous` section; `payload` the action's arguments (a dict; numbers may be
    /// int, float, Decimal or decimal strings). `idempotency_key` makes a retry return the first
    /// decision (`replayed=True`) instead of counting twice; `trace` is host metadata recorded in
    /// the attestation; `client` the host's key for an anonymous caller (`scope: "client"`).
    /// `hold=True` reserves the amounts until `settle` / `release`; `approval` is a token from
    /// `approve` for an escalated request. `notify` (an http(s) URL or a channel name) is stored
    /// with the decision's event, if it causes one, for the host's webhook worker (passgate never
    /// calls it).
    ///
    /// Returns a `Decision`. A deny is a decision, not an exception: this raises only for
    /// malformed arguments (`InputError`), an `IdempotencyConflictError` or a `StoreError`.
    #[pyo3(signature = (gate, passport=None, payload=None, *, idempotency_key=None, trace=None, hold=None, approval=None, client=None, mcp_session_id=None, mcp_client_name=None, notify=None, pop=None))]
    #[allow(clippy::too_many_arguments)]
    fn enforce(
        &self,
        py: Python<'_>,
        gate: &Bound<'_, PyAny>,
        passport: Option<&Bound<'_, PyAny>>,
        payload: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<&Bound<'_, PyAny>>,
        trace: Option<&Bound<'_, PyAny>>,
        hold: Option<&Bound<'_, PyAny>>,
        approval: Option<&Bound<'_, PyAny>>,
        client: Option<&Bound<'_, PyAny>>,
        mcp_session_id: Option<&Bound<'_, PyAny>>,
        mcp_client_name: Option<&Bound<'_, PyAny>>,
        notify: Option<&Bound<'_, PyAny>>,
        pop: Option<&Bound<'_, PyAny>>,
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
            (mcp_session_id, mcp_client_name),
            (notify, pop),
        )
    }

    /// Evaluates a request exactly as `enforce` would, against the same state, and changes
    /// nothing: no counter, no attestation, no idempotency key. Same arguments as `enforce`.
    /// A `notify` is refused (`InputError` at `/notify`): a dry run records nothing, so there is
    /// no event to deliver.
    #[pyo3(signature = (gate, passport=None, payload=None, *, idempotency_key=None, trace=None, hold=None, approval=None, client=None, mcp_session_id=None, mcp_client_name=None, notify=None, pop=None))]
    #[allow(clippy::too_many_arguments)]
    fn dry_run(
        &self,
        py: Python<'_>,
        gate: &Bound<'_, PyAny>,
        passport: Option<&Bound<'_, PyAny>>,
        payload: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<&Bound<'_, PyAny>>,
        trace: Option<&Bound<'_, PyAny>>,
        hold: Option<&Bound<'_, PyAny>>,
        approval: Option<&Bound<'_, PyAny>>,
        client: Option<&Bound<'_, PyAny>>,
        mcp_session_id: Option<&Bound<'_, PyAny>>,
        mcp_client_name: Option<&Bound<'_, PyAny>>,
        notify: Option<&Bound<'_, PyAny>>,
        pop: Option<&Bound<'_, PyAny>>,
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
            (mcp_session_id, mcp_client_name),
            (notify, pop),
        )
    }

    /// Calls `callback(event)` with each decision event this engine commits (an escalation, an
    /// approval's outcome, an expired hold, a policy change; denies if the policy records them),
    /// after the commit, with the GIL, on the thread that decided. Only `kinds` (a list of kind
    /// names) and only events of `session_id` when given. An exception the callback raises is
    /// logged (logger `passgate.events`), never raised into the deciding call. Returns a
    /// `Subscription`: `close()` it (or use it as a context manager) to stop.
    #[pyo3(signature = (callback, kinds=None, session_id=None))]
    fn subscribe(
        &self,
        py: Python<'_>,
        callback: Py<PyAny>,
        kinds: Option<Vec<String>>,
        session_id: Option<String>,
    ) -> PyResult<crate::events::PySubscription> {
        crate::events::subscribe(py, &self.inner, callback, kinds, session_id)
    }

    /// Verifies a passport (signature, times, issuer, delegation chain, revocation) and returns
    /// its claims as a dict; raises `PassportError` with the reason's code otherwise. `passport`
    /// is a token or an `IssuedPassport`.
    fn verify_passport<'py>(
        &self,
        py: Python<'py>,
        passport: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().json("passport", passport_value(Some(passport))?);
        self.op_py(py, "verify_passport", args.value())
    }

    /// A signed statement of where this engine's chain ends now (`{"body": {"kind":
    /// "chain.head", "chain", "seq", "hash", "time"}, "hash", "sig", "kid"}`). Keep a recent one:
    /// `verify_chain(records, did, head=head)` then detects records cut from the chain's end.
    fn chain_head<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_py(py, "chain_head", Args::new().value())
    }

    /// Checkpointed signing: writes a signed tree head (a `checkpoint` record covering every
    /// record of this engine's chain so far) unless the chain's last record is one, and returns
    /// the newest head. Engines built with `signing="checkpoint"` also write one every
    /// `checkpoint_every` records / `checkpoint_interval_ms` ms after a decision.
    fn checkpoint<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_py(py, "checkpoint", Args::new().value())
    }

    /// The RFC 9162 inclusion proof of a decision (`evaluation_id`) or of a record of this
    /// engine's chain (`seq`) against a signed checkpoint (`tree_size`, default the newest):
    /// `{"seq", "leaf_index", "leaf_hash", "tree_size", "proof": ["sha256:…"], "head"}`. Raises
    /// `InputError` with code `CHECKPOINT_PENDING` until a checkpoint covers the record.
    #[pyo3(signature = (evaluation_id=None, *, seq=None, tree_size=None))]
    fn inclusion_proof<'py>(
        &self,
        py: Python<'py>,
        evaluation_id: Option<&Bound<'py, PyAny>>,
        seq: Option<&Bound<'py, PyAny>>,
        tree_size: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("evaluation_id", evaluation_id)?
            .py("seq", seq)?
            .py("tree_size", tree_size)?;
        self.op_py(py, "inclusion_proof", args.value())
    }

    /// The RFC 9162 consistency proof between this engine's chain at `old_size` and at
    /// `new_size` records: `{"old_size", "new_size", "proof": ["sha256:…"]}`.
    fn consistency_proof<'py>(
        &self,
        py: Python<'py>,
        old_size: &Bound<'py, PyAny>,
        new_size: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("old_size", Some(old_size))?
            .py("new_size", Some(new_size))?;
        self.op_py(py, "consistency_proof", args.value())
    }

    /// Verifies `record` against `proof` (from `inclusion_proof`) and `did` (default: this
    /// engine's signer). Returns `{"valid": True}` or raises `AttestationError`.
    #[pyo3(signature = (record, proof, did=None))]
    fn verify_inclusion_proof<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        proof: &Bound<'py, PyAny>,
        did: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .json("record", to_value(record, Ctx::Attestation)?)
            .json("proof", to_value(proof, Ctx::Attestation)?)
            .py("did", did)?;
        self.op_py(py, "verify_inclusion_proof", args.value())
    }

    /// Revokes a passport by id (`psp_...`, as `IssuedPassport.passport_id`); every passport
    /// delegated from it is revoked with it. Writes an attestation of kind `revocation`. An id of
    /// the right form that this engine has not seen is revoked ahead of use (an engine does not
    /// know every passport an issuer signed); a malformed id raises `InputError`.
    fn revoke_passport(&self, py: Python<'_>, passport_id: &Bound<'_, PyAny>) -> PyResult<()> {
        let args = Args::new().py("passport_id", Some(passport_id))?;
        self.op(py, "revoke_passport", args.value())?;
        Ok(())
    }

    /// Issues a new passport for the agent of `passport` (same permissions, name and caveats, a
    /// fresh agent key), signed by `issuer` (an `Issuer` or its secret; the operation's
    /// `issuer_secret`), and revokes the old one. `expires_in_days`: a whole number of days.
    /// Its catalog pins are kept; `accept_catalog` (`[{"gate", "version"}]`) pins it to those
    /// published versions instead.
    #[pyo3(signature = (passport, issuer, expires_in_days=None, *, accept_catalog=None))]
    fn reissue(
        &self,
        py: Python<'_>,
        passport: &Bound<'_, PyAny>,
        issuer: &Bound<'_, PyAny>,
        expires_in_days: Option<&Bound<'_, PyAny>>,
        accept_catalog: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyIssuedPassport> {
        let args = Args::new()
            .json("passport", passport_value(Some(passport))?)
            .json("issuer_secret", issuer_secret_value(issuer, "issuer")?)
            .py("expires_in_days", expires_in_days)?
            .py("accept_catalog", accept_catalog)?;
        let v = self.op(py, "reissue", args.value())?;
        PyIssuedPassport::from_json(py, &v)
    }

    /// Issues a passport signed by `issuer_secret` (an `Issuer` or its secret) for `agent_id`
    /// with `permissions`, valid for `expires_in_days` (whole days); with `passport` (a parent
    /// token), `issuer_secret` is that passport's agent key and this delegates. As
    /// `Issuer.issue_passport` / `IssuedPassport.issue_sub_passport`, at the engine's clock, and
    /// recorded in the passport registry (`get_passport`; never the key) and attested
    /// (`issuance`).
    /// `pins`: catalog pins `[{"gate", "version", "content_hash"}]` (from `get_catalog` or
    /// `discover_services`): requests to each gate are made on that version's terms.
    #[pyo3(signature = (issuer_secret, agent_id, *, agent_name=None, permissions=None, expires_in_days=None, caveats=None, passport=None, pins=None))]
    #[allow(clippy::too_many_arguments)]
    fn issue_passport(
        &self,
        py: Python<'_>,
        issuer_secret: &Bound<'_, PyAny>,
        agent_id: &Bound<'_, PyAny>,
        agent_name: Option<&Bound<'_, PyAny>>,
        permissions: Option<&Bound<'_, PyAny>>,
        expires_in_days: Option<&Bound<'_, PyAny>>,
        caveats: Option<&Bound<'_, PyAny>>,
        passport: Option<&Bound<'_, PyAny>>,
        pins: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyIssuedPassport> {
        let args = Args::new()
            .json(
                "issuer_secret",
                issuer_secret_value(issuer_secret, "issuer_secret")?,
            )
            .py("agent_id", Some(agent_id))?
            .py("agent_name", agent_name)?
            .py("permissions", permissions)?
            .py("expires_in_days", expires_in_days)?
            .py("caveats", caveats)?
            .json("passport", passport_value(passport)?)
            .py("pins", pins)?;
        let v = self.op(py, "issue_passport", args.value())?;
        PyIssuedPassport::from_json(py, &v)
    }

    /// The counters matching the filter (`gate`, `agent_id`, `constraint`, `scope`,
    /// `namespace`), as dicts with their current usage (`used`, a decimal string).
    #[pyo3(signature = (*, namespace=None, constraint=None, scope=None, gate=None, agent_id=None))]
    fn cumulative_state<'py>(
        &self,
        py: Python<'py>,
        namespace: Option<&Bound<'py, PyAny>>,
        constraint: Option<&Bound<'py, PyAny>>,
        scope: Option<&Bound<'py, PyAny>>,
        gate: Option<&Bound<'py, PyAny>>,
        agent_id: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = counter_args(namespace, constraint, scope, gate, agent_id)?;
        self.op_field(py, "cumulative_state", args.value(), "counters")
    }

    /// One page of the counters matching the filter (`gate`, `agent_id`, `constraint`,
    /// `scope`, `namespace`): at most `limit` (1–10,000; default 100) counters from `cursor`
    /// (None: the first page), in a stable order. Returns `{"counters": [...], "next_cursor":
    /// str | None}`; pass `next_cursor` back for the next page (None after the last; a page may
    /// be short and still have one). A cursor no page returned raises `InputError`.
    #[pyo3(signature = (*, cursor=None, limit=None, gate=None, agent_id=None, namespace=None, constraint=None, scope=None))]
    #[allow(clippy::too_many_arguments)]
    fn cumulative_state_page<'py>(
        &self,
        py: Python<'py>,
        cursor: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
        gate: Option<&Bound<'py, PyAny>>,
        agent_id: Option<&Bound<'py, PyAny>>,
        namespace: Option<&Bound<'py, PyAny>>,
        constraint: Option<&Bound<'py, PyAny>>,
        scope: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = counter_args(namespace, constraint, scope, gate, agent_id)?
            .py("cursor", cursor)?
            .py("limit", limit)?;
        self.op_py(py, "cumulative_state_page", args.value())
    }

    /// Deletes the counters matching the filter (same keywords as `cumulative_state`; none
    /// deletes all), records an attestation of kind `reset`, and returns how many were deleted.
    #[pyo3(signature = (*, namespace=None, constraint=None, scope=None, gate=None, agent_id=None))]
    fn reset_cumulative_state(
        &self,
        py: Python<'_>,
        namespace: Option<&Bound<'_, PyAny>>,
        constraint: Option<&Bound<'_, PyAny>>,
        scope: Option<&Bound<'_, PyAny>>,
        gate: Option<&Bound<'_, PyAny>>,
        agent_id: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        let args = counter_args(namespace, constraint, scope, gate, agent_id)?;
        let v = self.op(py, "reset_cumulative_state", args.value())?;
        count(py, "reset_cumulative_state", v, "reset")
    }

    /// Attestation records in this engine's store (every chain), oldest first, as dicts. Filters:
    /// `chain`, `gate`, `agent_id`, `decision`, `evaluation_id`, `kind`, `since` / `until`
    /// (epoch milliseconds), `limit`.
    #[pyo3(signature = (*, chain=None, gate=None, agent_id=None, decision=None, evaluation_id=None, kind=None, since=None, until=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn attestations<'py>(
        &self,
        py: Python<'py>,
        chain: Option<&Bound<'py, PyAny>>,
        gate: Option<&Bound<'py, PyAny>>,
        agent_id: Option<&Bound<'py, PyAny>>,
        decision: Option<&Bound<'py, PyAny>>,
        evaluation_id: Option<&Bound<'py, PyAny>>,
        kind: Option<&Bound<'py, PyAny>>,
        since: Option<&Bound<'py, PyAny>>,
        until: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = attestation_args(
            chain,
            gate,
            agent_id,
            decision,
            evaluation_id,
            kind,
            since,
            until,
        )?
        .py("limit", limit)?;
        self.op_field(py, "attestations", args.value(), "attestations")
    }

    /// One page of the attestation records (every chain), oldest first: the same filters as
    /// `attestations`, at most `limit` (1–10,000; default 100) records from `cursor` (None: the
    /// first page). Returns `{"records": [...], "next_cursor": str | None}`; pass `next_cursor`
    /// back for the next page (None after the last).
    #[pyo3(signature = (*, cursor=None, limit=None, chain=None, gate=None, agent_id=None, decision=None, evaluation_id=None, kind=None, since=None, until=None))]
    #[allow(clippy::too_many_arguments)]
    fn attestations_page<'py>(
        &self,
        py: Python<'py>,
        cursor: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
        chain: Option<&Bound<'py, PyAny>>,
        gate: Option<&Bound<'py, PyAny>>,
        agent_id: Option<&Bound<'py, PyAny>>,
        decision: Option<&Bound<'py, PyAny>>,
        evaluation_id: Option<&Bound<'py, PyAny>>,
        kind: Option<&Bound<'py, PyAny>>,
        since: Option<&Bound<'py, PyAny>>,
        until: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = attestation_args(
            chain,
            gate,
            agent_id,
            decision,
            evaluation_id,
            kind,
            since,
            until,
        )?
        .py("cursor", cursor)?
        .py("limit", limit)?;
        self.op_py(py, "attestations_page", args.value())
    }

    /// Verifies every chain of the store, each against its own signer, which must be one of
    /// `trusted_signers` (did:key strings): after restarts each engine without a configured
    /// signing key wrote a chain with a new key. Returns `{"records": n, "chains": [{"chain",
    /// "signer", "records", "first_seq", "last_seq"}]}`; raises `AttestationError` on the first
    /// record that does not verify or a chain signed by an untrusted key.
    fn verify_store<'py>(
        &self,
        py: Python<'py>,
        trusted_signers: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("trusted_signers", Some(trusted_signers))?;
        self.op_py(py, "verify_store", args.value())
    }

    /// Appends a host event (`kind`, any name but `"decision"`; `data`, JSON-like) to this
    /// engine's chain and returns the signed record.
    #[pyo3(signature = (kind, data=None))]
    fn record_attestation<'py>(
        &self,
        py: Python<'py>,
        kind: &Bound<'py, PyAny>,
        data: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("kind", Some(kind))?.py("data", data)?;
        self.op_py(py, "record_attestation", args.value())
    }

    /// Replaces the policy (a dict, a JSON string or a path) and returns the new policy's hash
    /// (`sha256:...`). Counters and the audit chain live on; trusted issuers become the
    /// constructor's plus the new policy's. With `if_match` (a `policy_hash`), only if that is
    /// still the policy in force (else `InputError`, `POLICY_CONFLICT`). Attested as
    /// `policy.changed`.
    #[pyo3(signature = (policy, if_match=None))]
    fn set_policy(
        &self,
        py: Python<'_>,
        policy: &Bound<'_, PyAny>,
        if_match: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let args = Args::new()
            .json("policy", policy_value(policy)?)
            .py("if_match", if_match)?;
        let v = self.op(py, "set_policy", args.value())?;
        match field(py, "set_policy", v, "policy_hash")? {
            Value::String(h) => Ok(h),
            _ => Err(Error::Internal("set_policy: no policy hash".into())).or_raise(py),
        }
    }

    /// Adds gate `gate` (`definition`: the dict the policy's `gates` section holds) or replaces
    /// the gate of that name; with `if_match`, only if that `policy_hash` is still in force
    /// (else `InputError`, `POLICY_CONFLICT`). An invalid definition raises `PolicyError` at its
    /// path in the document and changes nothing. Returns `{"policy_hash", "previous_hash",
    /// "attestation"}` (the signed `policy.changed` record).
    #[pyo3(signature = (gate, definition, if_match=None))]
    fn upsert_gate<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        definition: &Bound<'py, PyAny>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("definition", Some(definition))?
            .py("if_match", if_match)?;
        self.op_py(py, "upsert_gate", args.value())
    }

    /// Removes gate `gate` (`InputError`, `GATE_UNKNOWN`, if it is not defined); with
    /// `if_match`, as `upsert_gate`. Returns `{"policy_hash", "previous_hash", "attestation"}`.
    #[pyo3(signature = (gate, if_match=None))]
    fn delete_gate<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("if_match", if_match)?;
        self.op_py(py, "delete_gate", args.value())
    }

    /// Replaces the constraints of gate `gate` (a list of constraint dicts); with `if_match`,
    /// as `upsert_gate`. Returns `{"policy_hash", "previous_hash", "attestation"}`.
    #[pyo3(signature = (gate, constraints, if_match=None))]
    fn set_gate_constraints<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        constraints: &Bound<'py, PyAny>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("constraints", Some(constraints))?
            .py("if_match", if_match)?;
        self.op_py(py, "set_gate_constraints", args.value())
    }

    /// Replaces the policy's `anonymous` section (`{"gates": [...], "constraints": [...]}`);
    /// with `if_match`, as `upsert_gate`. Returns `{"policy_hash", "previous_hash",
    /// "attestation"}`.
    #[pyo3(signature = (anonymous, if_match=None))]
    fn set_anonymous_policy<'py>(
        &self,
        py: Python<'py>,
        anonymous: &Bound<'py, PyAny>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("anonymous", Some(anonymous))?
            .py("if_match", if_match)?;
        self.op_py(py, "set_anonymous_policy", args.value())
    }

    /// Adds gate `gate` (`definition` as for `upsert_gate`); a gate of that name already defined
    /// raises `InputError` (`POLICY_CONFLICT`) and changes nothing. Returns `{"policy_hash",
    /// "previous_hash", "attestation"}`.
    #[pyo3(signature = (gate, definition, if_match=None))]
    fn create_gate<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        definition: &Bound<'py, PyAny>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("definition", Some(definition))?
            .py("if_match", if_match)?;
        self.op_py(py, "create_gate", args.value())
    }

    /// Replaces gate `gate` with `definition`; a gate that is not defined raises `InputError`
    /// (`GATE_UNKNOWN`). `if_match` and the result as `upsert_gate`.
    #[pyo3(signature = (gate, definition, if_match=None))]
    fn update_gate<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        definition: &Bound<'py, PyAny>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("definition", Some(definition))?
            .py("if_match", if_match)?;
        self.op_py(py, "update_gate", args.value())
    }

    /// Applies constraint template `template` (built in or the policy's own) to gate `gate` with
    /// `params`; applying it again replaces its parameters. Bad parameters raise `PolicyError`
    /// at their path. `if_match` and the result as `upsert_gate`.
    #[pyo3(signature = (gate, template, params=None, if_match=None))]
    fn apply_template<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        template: &Bound<'py, PyAny>,
        params: Option<&Bound<'py, PyAny>>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("template", Some(template))?
            .py("params", params)?
            .py("if_match", if_match)?;
        self.op_py(py, "apply_template", args.value())
    }

    /// Adds the policy's own template `template` (`definition`: `{"description", "params",
    /// "constraints"}` as the policy's `templates` section holds it) or replaces it; gates
    /// applying it follow. `if_match` and the result as `upsert_gate`.
    #[pyo3(signature = (template, definition, if_match=None))]
    fn upsert_template<'py>(
        &self,
        py: Python<'py>,
        template: &Bound<'py, PyAny>,
        definition: &Bound<'py, PyAny>,
        if_match: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("template", Some(template))?
            .py("definition", Some(definition))?
            .py("if_match", if_match)?;
        self.op_py(py, "upsert_template", args.value())
    }

    /// What a request to gate `gate` is judged by: `{"gate", "constraints", "caveats"}` — its
    /// own and its templates' constraints, and with `passport` the caveats of its chain that
    /// apply (`{"declared_by", "constraint"}`; None without a passport).
    #[pyo3(signature = (gate, passport=None))]
    fn get_constraints<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        passport: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .json("passport", passport_value(passport)?);
        self.op_py(py, "get_constraints", args.value())
    }

    /// The policy's `anonymous` section and its `policy_hash`: `{"anonymous", "policy_hash"}`.
    fn anonymous_policy<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_py(py, "anonymous_policy", Args::new().value())
    }

    /// MCP sessions (`trace.mcp_session_id`, else `trace.session_id`) with a decision in the
    /// window (`since` / `until`: epoch ms), most recent first: one dict per (session,
    /// principal) with `decisions` by verdict, `spend` by `spend_limit` constraint, `open_holds`
    /// and `pending_approvals`.
    #[pyo3(signature = (*, agent=None, since=None, until=None, limit=None))]
    fn sessions<'py>(
        &self,
        py: Python<'py>,
        agent: Option<&Bound<'py, PyAny>>,
        since: Option<&Bound<'py, PyAny>>,
        until: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("agent", agent)?
            .py("since", since)?
            .py("until", until)?
            .py("limit", limit)?;
        self.op_field(py, "sessions", args.value(), "sessions")
    }

    /// One session: `{"sessions": [summary per principal], "decisions": [signed decision
    /// records, oldest first]}` (at most `limit` decisions, default 1000).
    #[pyo3(signature = (session_id, *, limit=None))]
    fn session<'py>(
        &self,
        py: Python<'py>,
        session_id: &Bound<'py, PyAny>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("session_id", Some(session_id))?
            .py("limit", limit)?;
        self.op_py(py, "session", args.value())
    }

    /// Deletes the run bundle of evaluation `evaluation_id` (privacy); its decision record keeps
    /// the `bundle_hash`, so the chain still verifies. Returns `{"purged", "attestation"}` (the
    /// signed `bundle.purged` record, or None when there was nothing to purge).
    fn purge_bundle<'py>(
        &self,
        py: Python<'py>,
        evaluation_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("evaluation_id", Some(evaluation_id))?;
        self.op_py(py, "purge_bundle", args.value())
    }

    /// The policy's gates, by name, as dicts (what an MCP `list_gates` tool shows).
    fn list_gates<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_field(py, "list_gates", Args::new().value(), "gates")
    }

    /// One gate of the policy as a dict; `InputError` (`GATE_UNKNOWN`) if it is not defined.
    fn get_gate<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("gate", Some(gate))?;
        self.op_py(py, "get_gate", args.value())
    }

    /// The built-in constraint types (as the module function `constraint_types()`).
    fn constraint_types<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_py(py, "constraint_types", Args::new().value())
    }

    /// Creates an API key named `name` with `scopes` (any of "decide", "read:attestations",
    /// "admin:passports", "admin:policy", "admin:counters", "approve", "admin:keys") that
    /// expires after `expires_in` (seconds or a duration such as `"90d"`; none: never). Returns
    /// its metadata and its `secret` (`pgk_<id>_<random>`), shown this once: only its SHA-256 is
    /// stored. Writes an attestation of kind `api_key.created`.
    #[pyo3(signature = (name, scopes, *, expires_in=None))]
    fn create_api_key<'py>(
        &self,
        py: Python<'py>,
        name: &Bound<'py, PyAny>,
        scopes: &Bound<'py, PyAny>,
        expires_in: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("name", Some(name))?
            .py("scopes", Some(scopes))?
            .py("expires_in", expires_in)?;
        self.op_py(py, "create_api_key", args.value())
    }

    /// Unacknowledged decision events, oldest first: `{"events": [...], "cursor": str | None}`.
    /// Each event is a dict (`id`, `kind`, `time`, `evaluation_id`, `gate`, `agent`,
    /// `session_id`, `notify`, `attestation`). `since` is a `cursor` an earlier page returned;
    /// `kinds` a list of kind names; `limit` 1 to 1000 (default 100).
    #[pyo3(signature = (*, since=None, kinds=None, limit=None))]
    fn events<'py>(
        &self,
        py: Python<'py>,
        since: Option<&Bound<'py, PyAny>>,
        kinds: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("since", since)?
            .py("kinds", kinds)?
            .py("limit", limit)?;
        self.op_py(py, "events", args.value())
    }

    /// Acknowledges event `id` once it is delivered: it leaves `events`. Returns True if this
    /// call acknowledged it, False if it already was; an unknown id raises `InputError`
    /// (`EVENT_UNKNOWN`).
    fn ack_event(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let args = Args::new().py("id", Some(id))?;
        let out = self.op(py, "ack_event", args.value())?;
        Ok(out.get("acked").and_then(Value::as_bool).unwrap_or(false))
    }

    /// Every API key's metadata (id, name, scopes, created / expiry / last use / revocation
    /// times in epoch milliseconds), oldest first: never a secret or its hash.
    fn list_api_keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_field(py, "list_api_keys", Args::new().value(), "keys")
    }

    /// Revokes the API key `id`: it stops authenticating at once. Returns its metadata.
    /// Revoking a revoked key changes nothing; an unknown id raises `InputError`
    /// (`API_KEY_UNKNOWN`). Writes an attestation of kind `api_key.revoked`.
    fn revoke_api_key<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("id", Some(id))?;
        self.op_py(py, "revoke_api_key", args.value())
    }

    /// Who the API key `secret` is (`{"id", "name", "scopes"}`), compared in constant time.
    /// A missing, malformed, unknown, revoked or expired key raises `PassportError`
    /// (`UNAUTHENTICATED`).
    fn authenticate_api_key<'py>(
        &self,
        py: Python<'py>,
        secret: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("secret", Some(secret))?;
        self.op_py(py, "authenticate_api_key", args.value())
    }

    /// The registered passport `passport_id` (issued by an engine of this store, or seen when
    /// first verified) with its live `status` ("active", "expired", "revoked",
    /// "revoked_ancestor"): agent, name, perms, caveats, parent, ancestors, issuer, exp,
    /// issued_at, token_hash (never the token or a key), registered_at, source ("issued" or
    /// "seen"). An id never registered raises `InputError` (`PASSPORT_UNKNOWN`).
    fn get_passport<'py>(
        &self,
        py: Python<'py>,
        passport_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("passport_id", Some(passport_id))?;
        self.op_py(py, "get_passport", args.value())
    }

    /// One page of registered passports by id, filtered by `agent`, `parent`, `status` and
    /// `permission` (those whose permissions cover it): `{"passports": [...], "next_cursor"}`;
    /// pass `next_cursor` as `cursor` for the next page (None: no more). `limit` 1–1000
    /// (default 100).
    #[pyo3(signature = (*, agent=None, parent=None, status=None, permission=None, cursor=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn list_passports<'py>(
        &self,
        py: Python<'py>,
        agent: Option<&Bound<'py, PyAny>>,
        parent: Option<&Bound<'py, PyAny>>,
        status: Option<&Bound<'py, PyAny>>,
        permission: Option<&Bound<'py, PyAny>>,
        cursor: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("agent", agent)?
            .py("parent", parent)?
            .py("status", status)?
            .py("permission", permission)?
            .py("cursor", cursor)?
            .py("limit", limit)?;
        self.op_py(py, "list_passports", args.value())
    }

    /// The trusted issuers: a list of `{"did", "public_jwk", "source", "not_before",
    /// "not_after", "trusted_at"}` (source "builder", "policy" or "store"; the window and time
    /// only for those trusted through the store).
    fn list_issuers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_field(py, "list_issuers", Args::new().value(), "issuers")
    }

    /// Trusts issuer `did` through the store (every engine sharing it honours it from its next
    /// decision), optionally only for passports whose root `iat` lies in `[not_before,
    /// not_after]` (epoch ms). Lifts an untrust. Writes an `issuer.trusted` attestation.
    /// Returns the issuer as `list_issuers` lists it.
    #[pyo3(signature = (did, *, not_before=None, not_after=None))]
    fn trust_issuer<'py>(
        &self,
        py: Python<'py>,
        did: &Bound<'py, PyAny>,
        not_before: Option<&Bound<'py, PyAny>>,
        not_after: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("did", Some(did))?
            .py("not_before", not_before)?
            .py("not_after", not_after)?;
        self.op_py(py, "trust_issuer", args.value())
    }

    /// Stops trusting issuer `did` on every engine sharing the store: a deny entry that wins
    /// over the builder's and the policy's issuers. Writes an `issuer.untrusted` attestation.
    /// Returns `{"did", "was"}` (where it was trusted from, or None).
    fn untrust_issuer<'py>(
        &self,
        py: Python<'py>,
        did: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("did", Some(did))?;
        self.op_py(py, "untrust_issuer", args.value())
    }

    /// Validates `catalog` (a dict: `{gate, description?, trust_level, offers: [...]}`, prices
    /// in integer minor units) and keeps it as `gate`'s draft. A malformed catalog raises
    /// `InputError` (`CATALOG_INVALID`, `.path` the field). Returns `{"gate", "content_hash",
    /// "catalog", "next_version"}`.
    fn create_catalog<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        catalog: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("catalog", Some(catalog))?;
        self.op_py(py, "create_catalog", args.value())
    }

    /// Publishes `gate`'s draft as its next version: signed, written once, attested
    /// (`catalog.published`). `effective_at` in epoch ms (default now). Returns the version
    /// (`version`, `content_hash`, `catalog`, `document`, ...).
    #[pyo3(signature = (gate, *, effective_at=None, change_summary=None))]
    fn publish_catalog<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        effective_at: Option<&Bound<'py, PyAny>>,
        change_summary: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("effective_at", effective_at)?
            .py("change_summary", change_summary)?;
        self.op_py(py, "publish_catalog", args.value())
    }

    /// `gate`'s current catalog (the highest version in effect), or `version`. None published:
    /// `InputError` (`CATALOG_UNKNOWN`).
    #[pyo3(signature = (gate, version=None))]
    fn get_catalog<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        version: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("gate", Some(gate))?.py("version", version)?;
        self.op_py(py, "get_catalog", args.value())
    }

    /// Version `version` of `gate`'s catalog, in effect or not.
    fn get_catalog_version<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        version: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("version", Some(version))?;
        self.op_py(py, "get_catalog_version", args.value())
    }

    /// Every published version of `gate`'s catalog: `{"gate", "versions", "has_draft"}`.
    fn list_catalog_versions<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("gate", Some(gate))?;
        self.op_py(py, "list_catalog_versions", args.value())
    }

    /// The typed diff from version `old` to `new` of `gate`'s catalog: `{"changes": [{"kind",
    /// "permission", "field", "old", "new", "breaking"}], "has_breaking_changes", ...}`.
    fn get_catalog_impact<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        old: &Bound<'py, PyAny>,
        new: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("old", Some(old))?
            .py("new", Some(new))?;
        self.op_py(py, "get_catalog_impact", args.value())
    }

    /// The services with a catalog in effect: `{"services": [...]}`. `filter`: a dict of
    /// `gate`, `permission`, `currency`, `max_amount`, `max_trust_level`, `anonymous`.
    #[pyo3(signature = (filter=None))]
    fn discover_services<'py>(
        &self,
        py: Python<'py>,
        filter: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("filter", filter)?;
        self.op_py(py, "discover_services", args.value())
    }

    /// Verifies a signed catalog `document` (from `get_catalog`) against `did` (default: this
    /// engine's signer): `{"valid": True, "gate", "version", "content_hash"}`, or raises
    /// `AttestationError`.
    #[pyo3(signature = (document, did=None))]
    fn verify_catalog<'py>(
        &self,
        py: Python<'py>,
        document: &Bound<'py, PyAny>,
        did: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .json("document", to_value(document, Ctx::Attestation)?)
            .py("did", did)?;
        self.op_py(py, "verify_catalog", args.value())
    }

    /// The trusted issuers (with their windows) and every revoked passport id as a document
    /// signed by this engine's key, for `import_trust` on another engine.
    fn export_trust<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_py(py, "export_trust", Args::new().value())
    }

    /// Verifies `document` (from `export_trust`) against `signer` (the did you expect; the
    /// document's own claim is not trusted) and merges it: `{"issuers", "revoked", "skipped"}`.
    /// A document that does not verify raises `AttestationError` and imports nothing.
    fn import_trust<'py>(
        &self,
        py: Python<'py>,
        document: &Bound<'py, PyAny>,
        signer: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("document", Some(document))?
            .py("signer", Some(signer))?;
        self.op_py(py, "import_trust", args.value())
    }

    /// The built-in templates (as the module function `templates()`).
    fn templates<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.op_py(py, "templates", Args::new().value())
    }

    /// Verifies one attestation record against `did` (default: this engine's signer). Returns
    /// `{"valid": True}` or raises `AttestationError`.
    #[pyo3(signature = (record, did=None))]
    fn verify_attestation<'py>(
        &self,
        py: Python<'py>,
        record: &Bound<'py, PyAny>,
        did: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .json("record", to_value(record, Ctx::Attestation)?)
            .py("did", did)?;
        self.op_py(py, "verify_attestation", args.value())
    }

    /// Verifies one chain's records against `did` (default: this engine's signer). Returns
    /// `{"valid": True, "records": n}` or raises `AttestationError`.
    #[pyo3(signature = (records, did=None))]
    fn verify_chain<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        did: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .json("records", to_value(records, Ctx::Attestation)?)
            .py("did", did)?;
        self.op_py(py, "verify_chain", args.value())
    }

    /// Settles a hold from `enforce(..., hold=True)`: `actual` is a payload of the request's
    /// shape holding the real amounts (`{"amount": 42}`, a dict); None keeps the reserved ones.
    /// `consume` (`{"outcome", "quantity"?, "delivered"?, "latency_ms"?, "permission"?,
    /// "pop"?}`) also issues the call's consumption attestation (`consumption` in the result, or
    /// `consumption_error`).
    #[pyo3(signature = (hold_id, actual=None, *, consume=None))]
    fn settle<'py>(
        &self,
        py: Python<'py>,
        hold_id: &Bound<'py, PyAny>,
        actual: Option<&Bound<'py, PyAny>>,
        consume: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let actual = match actual {
            Some(a) if !a.is_none() => to_value(a, Ctx::Payload)?,
            _ => Value::Null,
        };
        let args = Args::new()
            .py("hold_id", Some(hold_id))?
            .json("actual", actual)
            .py("consume", consume)?;
        self.op_py(py, "settle", args.value())
    }

    /// Records what an allowed call consumed (`evaluation_id`, or the evaluation of `hold_id`):
    /// a signed, chained `consumption` record priced exactly from the catalog terms its decision
    /// applied. `outcome`: `"success"`, `"error"`, `"timeout"` or `"partial"`. Returns the
    /// record. Twice: `InputError` (`CONSUMPTION_EXISTS`); a denied evaluation or one without
    /// catalog terms: `InputError` (`CONSUMPTION_INVALID`).
    #[pyo3(signature = (evaluation_id=None, *, hold_id=None, outcome, quantity=None, delivered=None, latency_ms=None, permission=None, pop=None))]
    #[allow(clippy::too_many_arguments)]
    fn issue_consumption_attestation<'py>(
        &self,
        py: Python<'py>,
        evaluation_id: Option<&Bound<'py, PyAny>>,
        hold_id: Option<&Bound<'py, PyAny>>,
        outcome: &Bound<'py, PyAny>,
        quantity: Option<&Bound<'py, PyAny>>,
        delivered: Option<&Bound<'py, PyAny>>,
        latency_ms: Option<&Bound<'py, PyAny>>,
        permission: Option<&Bound<'py, PyAny>>,
        pop: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("evaluation_id", evaluation_id)?
            .py("hold_id", hold_id)?
            .py("outcome", Some(outcome))?
            .py("quantity", quantity)?
            .py("delivered", delivered)?
            .py("latency_ms", latency_ms)?
            .py("permission", permission)?
            .py("pop", pop)?;
        self.op_py(py, "issue_consumption_attestation", args.value())
    }

    /// Settles the period `[from_ms, to_ms)`: re-verifies every consumption record in it, totals
    /// them per currency and signs a statement (status `draft`). `payer`: `{"issuer",
    /// "agent_id"}`; `payee`: a did.
    #[pyo3(signature = (from_ms, to_ms, *, payer=None, payee=None))]
    fn generate_settlement<'py>(
        &self,
        py: Python<'py>,
        from_ms: &Bound<'py, PyAny>,
        to_ms: &Bound<'py, PyAny>,
        payer: Option<&Bound<'py, PyAny>>,
        payee: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("from", Some(from_ms))?
            .py("to", Some(to_ms))?
            .py("payer", payer)?
            .py("payee", payee)?;
        self.op_py(py, "generate_settlement", args.value())
    }

    /// A settlement: `{"settlement_id", "status", "document", "totals", "count",
    /// "generated_at"}`. None: `InputError` (`SETTLEMENT_UNKNOWN`).
    fn get_settlement<'py>(
        &self,
        py: Python<'py>,
        settlement_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("settlement_id", Some(settlement_id))?;
        self.op_py(py, "get_settlement", args.value())
    }

    /// Moves a settlement to `status` (draft → issued → disputed → paid / void); any other move
    /// raises `InputError` (`SETTLEMENT_TRANSITION`).
    #[pyo3(signature = (settlement_id, status, *, reason=None))]
    fn update_settlement_status<'py>(
        &self,
        py: Python<'py>,
        settlement_id: &Bound<'py, PyAny>,
        status: &Bound<'py, PyAny>,
        reason: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("settlement_id", Some(settlement_id))?
            .py("status", Some(status))?
            .py("reason", reason)?;
        self.op_py(py, "update_settlement_status", args.value())
    }

    /// A settlement with its consumption records: `{"settlement", "status", "consumptions"}`.
    fn export_settlement<'py>(
        &self,
        py: Python<'py>,
        settlement_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("settlement_id", Some(settlement_id))?;
        self.op_py(py, "export_settlement", args.value())
    }

    /// Verifies a settlement statement against `did` and, with `consumptions`, recomputes its
    /// Merkle root and totals; raises `AttestationError` (or `InputError`) when it does not.
    #[pyo3(signature = (document, did, consumptions=None))]
    fn verify_settlement<'py>(
        &self,
        py: Python<'py>,
        document: &Bound<'py, PyAny>,
        did: &Bound<'py, PyAny>,
        consumptions: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let records = match consumptions {
            Some(c) if !c.is_none() => to_value(c, Ctx::Attestation)?,
            _ => Value::Null,
        };
        let args = Args::new()
            .json("document", to_value(document, Ctx::Attestation)?)
            .py("did", Some(did))?
            .json("consumptions", records);
        self.op_py(py, "verify_settlement", args.value())
    }

    /// Totals per currency and counts by outcome of the consumption records matching `filter`
    /// (`gate`, `payer`, `payee`, `from`, `to`).
    #[pyo3(signature = (filter=None))]
    fn get_billing_summary<'py>(
        &self,
        py: Python<'py>,
        filter: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("filter", filter)?;
        self.op_py(py, "get_billing_summary", args.value())
    }

    /// `gate`'s SLA compliance over `[from_ms, to_ms)` against its catalog's SLA.
    #[pyo3(signature = (gate, from_ms, to_ms, *, permission=None))]
    fn get_sla_compliance<'py>(
        &self,
        py: Python<'py>,
        gate: &Bound<'py, PyAny>,
        from_ms: &Bound<'py, PyAny>,
        to_ms: &Bound<'py, PyAny>,
        permission: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("gate", Some(gate))?
            .py("from", Some(from_ms))?
            .py("to", Some(to_ms))?
            .py("permission", permission)?;
        self.op_py(py, "get_sla_compliance", args.value())
    }

    /// Releases a hold: its reservation is given back to the counters.
    fn release<'py>(
        &self,
        py: Python<'py>,
        hold_id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().py("hold_id", Some(hold_id))?;
        self.op_py(py, "release", args.value())
    }

    /// Expires at most `limit` holds past their TTL (all that are due with `None`), settling each
    /// at its reserved amounts (only `concurrency` slots are freed); returns how many it expired.
    /// `enforce` expires at most 64 per call, once a second: call this from a timer (a background
    /// sweeper) when holds may go unsettled. A stored hold that cannot be read is skipped (logged)
    /// and never stalls the sweep.
    #[pyo3(signature = (limit=None))]
    fn expire_holds(&self, py: Python<'_>, limit: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let v = self.op(py, "expire_holds", Args::new().py("limit", limit)?.value())?;
        count(py, "expire_holds", v, "expired")
    }

    /// Prunes at most `limit` attestation records due under the store's retention (all that are
    /// due with `None`), each chain's behind a checkpoint this engine signs, exporting them first
    /// to the store URL's `retention_export` file if set; also drops closed holds and approvals
    /// that can no longer matter. Returns how many records it pruned. SQLite and Redis stores are
    /// pruned only by this call: call it from a timer (like `expire_holds`).
    #[pyo3(signature = (limit=None))]
    fn prune(&self, py: Python<'_>, limit: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        let v = self.op(py, "prune", Args::new().py("limit", limit)?.value())?;
        count(py, "prune", v, "pruned")
    }

    /// Writes the store's attestation records as JSONL (one record per line exactly as stored,
    /// each chain oldest first; `since`: epoch ms) to `path` — a path, or (in Python only) a
    /// text file object (anything with `write(str)`) — with a chain's checkpoint line before its
    /// first record when that record follows one, so the export verifies offline. Returns the
    /// number of records written.
    #[pyo3(signature = (path, since=None))]
    fn export_attestations(
        &self,
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        since: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<u64> {
        if path.cast::<PyString>().is_ok() || path.hasattr("__fspath__")? {
            let args = Args::new()
                .json("path", path_value(path, "path")?)
                .py("since", since)?;
            let v = self.op(py, "export_attestations", args.value())?;
            return count(py, "export_attestations", v, "exported");
        }
        // A file object: the core writes into memory, the text is handed to `write`.
        let since = match since.filter(|s| !s.is_none()) {
            None => None,
            Some(s) => Some(
                to_value(s, Ctx::Argument("since"))?
                    .as_i64()
                    .ok_or_else(|| Error::argument("/since", "must be an integer (epoch ms)"))
                    .or_raise(py)?,
            ),
        };
        self.tick(py)?;
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
        path.call_method1("write", (text,))?;
        Ok(n)
    }

    /// Verifies an export file (from `export_attestations` or a `retention_export` sink)
    /// followed by what this store still holds: every record's hash and signature (signers among
    /// `trusted_signers`), each chain continuous from seq 1 or a trusted checkpoint. Returns
    /// `{"records", "duplicates", "chains"}`; raises `AttestationError` otherwise.
    fn verify_export<'py>(
        &self,
        py: Python<'py>,
        path: &Bound<'py, PyAny>,
        trusted_signers: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .json("path", path_value(path, "path")?)
            .py("trusted_signers", Some(trusted_signers))?;
        self.op_py(py, "verify_export", args.value())
    }

    /// Approves an escalated request by its `evaluation_id`, as `approver`; writes an attestation
    /// and returns the approval token the agent retries with (`enforce(..., approval=token)`).
    /// `ttl` bounds the token's life: seconds (an int) or a duration such as `"15m"`.
    #[pyo3(signature = (evaluation_id, approver, ttl=None))]
    fn approve(
        &self,
        py: Python<'_>,
        evaluation_id: &Bound<'_, PyAny>,
        approver: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<String> {
        let args = Args::new()
            .py("evaluation_id", Some(evaluation_id))?
            .py("approver", Some(approver))?
            .py("ttl", ttl)?;
        let v = self.op(py, "approve", args.value())?;
        match field(py, "approve", v, "approval")? {
            Value::String(token) => Ok(token),
            _ => Err(Error::Internal("approve: no token".into())).or_raise(py),
        }
    }

    /// Denies an escalated request by its `evaluation_id`, as `approver`, for `reason`; writes an
    /// attestation and returns it.
    #[pyo3(signature = (evaluation_id, approver, reason=None))]
    fn deny_approval<'py>(
        &self,
        py: Python<'py>,
        evaluation_id: &Bound<'py, PyAny>,
        approver: &Bound<'py, PyAny>,
        reason: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("evaluation_id", Some(evaluation_id))?
            .py("approver", Some(approver))?
            .py("reason", reason)?;
        self.op_py(py, "deny_approval", args.value())
    }

    /// The gates this passport (a token or an `IssuedPassport`; None: an anonymous caller) may
    /// call under the policy.
    #[pyo3(signature = (passport=None))]
    fn allowed_gates<'py>(
        &self,
        py: Python<'py>,
        passport: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new().json("passport", passport_value(passport)?);
        self.op_field(py, "allowed_gates", args.value(), "gates")
    }

    /// The decisions taken for anonymous callers, as attestation dicts, with the filters of
    /// `attestations`.
    #[pyo3(signature = (*, chain=None, gate=None, agent_id=None, decision=None, evaluation_id=None, kind=None, since=None, until=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn anonymous_log<'py>(
        &self,
        py: Python<'py>,
        chain: Option<&Bound<'py, PyAny>>,
        gate: Option<&Bound<'py, PyAny>>,
        agent_id: Option<&Bound<'py, PyAny>>,
        decision: Option<&Bound<'py, PyAny>>,
        evaluation_id: Option<&Bound<'py, PyAny>>,
        kind: Option<&Bound<'py, PyAny>>,
        since: Option<&Bound<'py, PyAny>>,
        until: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = attestation_args(
            chain,
            gate,
            agent_id,
            decision,
            evaluation_id,
            kind,
            since,
            until,
        )?
        .py("limit", limit)?;
        self.op_field(py, "anonymous_log", args.value(), "attestations")
    }

    /// The signed decision records of the agent's own requests (its passport's principal, a
    /// token or an `IssuedPassport`), oldest first: filters `gate`, `decision`,
    /// `evaluation_id`, `since` (epoch ms), `limit` (1–1,000, default 100).
    #[pyo3(signature = (passport, *, gate=None, decision=None, evaluation_id=None, since=None, limit=None))]
    #[allow(clippy::too_many_arguments)]
    fn list_my_evaluations<'py>(
        &self,
        py: Python<'py>,
        passport: &Bound<'py, PyAny>,
        gate: Option<&Bound<'py, PyAny>>,
        decision: Option<&Bound<'py, PyAny>>,
        evaluation_id: Option<&Bound<'py, PyAny>>,
        since: Option<&Bound<'py, PyAny>>,
        limit: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .json("passport", passport_value(Some(passport))?)
            .py("gate", gate)?
            .py("decision", decision)?
            .py("evaluation_id", evaluation_id)?
            .py("since", since)?
            .py("limit", limit)?;
        self.op_field(py, "list_my_evaluations", args.value(), "evaluations")
    }

    /// AgentNexus's `evaluate`: `enforce` (or with `dry_run=True`, `dry_run`) on gate
    /// `policy_name` with payload `payload_scope`. `agent_id` is an anonymous caller's client key
    /// (with a passport it is only recorded, as `trace.claimed_agent_id`); `tool_calls` (dicts
    /// `{name, arguments?}`) and `artifacts` (dicts `{name, media_type?, sha256?, size?}`), at
    /// most 64 each, are recorded in the trace. Returns a `Decision`.
    #[pyo3(signature = (policy_name, *, payload_scope=None, passport=None, agent_id=None, idempotency_key=None, dry_run=None, mcp_session_id=None, mcp_client_name=None, tool_calls=None, artifacts=None, trace=None, notify=None))]
    #[allow(clippy::too_many_arguments)]
    fn evaluate(
        &self,
        py: Python<'_>,
        policy_name: &Bound<'_, PyAny>,
        payload_scope: Option<&Bound<'_, PyAny>>,
        passport: Option<&Bound<'_, PyAny>>,
        agent_id: Option<&Bound<'_, PyAny>>,
        idempotency_key: Option<&Bound<'_, PyAny>>,
        dry_run: Option<&Bound<'_, PyAny>>,
        mcp_session_id: Option<&Bound<'_, PyAny>>,
        mcp_client_name: Option<&Bound<'_, PyAny>>,
        tool_calls: Option<&Bound<'_, PyAny>>,
        artifacts: Option<&Bound<'_, PyAny>>,
        trace: Option<&Bound<'_, PyAny>>,
        notify: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyDecision> {
        let payload = match payload_scope.filter(|p| !p.is_none()) {
            Some(p) => to_value(p, Ctx::Payload)?,
            None => Value::Null,
        };
        let args = Args::new()
            .py("policy_name", Some(policy_name))?
            .json("payload_scope", payload)
            .json("passport", passport_value(passport)?)
            .py("agent_id", agent_id)?
            .py("idempotency_key", idempotency_key)?
            .py("dry_run", dry_run)?
            .py("mcp_session_id", mcp_session_id)?
            .py("mcp_client_name", mcp_client_name)?
            .py("tool_calls", tool_calls)?
            .py("artifacts", artifacts)?
            .py("trace", trace)?
            .py("notify", notify)?
            .value();
        let (args, dry_run) = ops::parse::<ops::Evaluate>(args)
            .and_then(ops::Evaluate::into_request_args)
            .or_raise(py)?;
        self.tick(py)?;
        self.decide(py, dry_run, &args.into_request())
    }

    /// One evaluation by id: `{"evaluation": <its signed decision record>, "events": [<the
    /// lifecycle records about it, oldest first>], "bundle": None}`. With `passport`, only an
    /// evaluation of that passport's principal is found. Raises `InputError` with code
    /// `EVALUATION_UNKNOWN` otherwise.
    #[pyo3(signature = (evaluation_id, *, passport=None))]
    fn get_evaluation<'py>(
        &self,
        py: Python<'py>,
        evaluation_id: &Bound<'py, PyAny>,
        passport: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let args = Args::new()
            .py("evaluation_id", Some(evaluation_id))?
            .json("passport", passport_value(passport)?);
        self.op_py(py, "get_evaluation", args.value())
    }

    /// `enforce` on a worker thread of the running event loop's default executor, with the GIL
    /// released while it decides: an awaitable of the `Decision` (an error is raised when
    /// awaited). Same arguments as `enforce`.
    #[pyo3(signature = (*args, **kwargs))]
    fn enforce_async<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        in_executor(slf, "enforce", args, kwargs)
    }

    /// `dry_run` on a worker thread (see `enforce_async`).
    #[pyo3(signature = (*args, **kwargs))]
    fn dry_run_async<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        in_executor(slf, "dry_run", args, kwargs)
    }

    /// `settle` on a worker thread (see `enforce_async`).
    #[pyo3(signature = (*args, **kwargs))]
    fn settle_async<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        in_executor(slf, "settle", args, kwargs)
    }

    /// `release` on a worker thread (see `enforce_async`).
    #[pyo3(signature = (*args, **kwargs))]
    fn release_async<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        in_executor(slf, "release", args, kwargs)
    }

    /// `approve` on a worker thread (see `enforce_async`).
    #[pyo3(signature = (*args, **kwargs))]
    fn approve_async<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        in_executor(slf, "approve", args, kwargs)
    }

    /// A core operation that has no method of its own yet, by name (see `_native.operations()`):
    /// a callable taking the operation's arguments as keywords and returning its JSON result.
    fn __getattr__(slf: &Bound<'_, Self>, name: &str) -> PyResult<PyOperation> {
        operation(slf, name)
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

    /// `sha256:...` of the policy in force, or None without one (with `policy_source=store`,
    /// read from the store).
    #[getter]
    fn policy_hash(&self, py: Python<'_>) -> PyResult<Option<String>> {
        let policy = self
            .inner
            .current_policy()
            .map_err(|e| crate::errors::to_py_err(py, &e))?;
        Ok(policy.map(|p| p.hash.clone()))
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

/// Operation `name` of `engine` as a callable (for `Engine.__getattr__`); `AttributeError` for a
/// name that is no operation.
pub(crate) fn operation(engine: &Bound<'_, PyEngine>, name: &str) -> PyResult<PyOperation> {
    match operation_names().iter().find(|n| **n == name) {
        Some(op) => Ok(PyOperation {
            engine: engine.clone().unbind(),
            name: op,
        }),
        None => Err(pyo3::exceptions::PyAttributeError::new_err(format!(
            "'Engine' object has no attribute {}",
            quote(name)
        ))),
    }
}

static PARTIAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `asyncio.get_running_loop().run_in_executor(None, partial(engine.<method>, *args, **kwargs))`:
/// the method runs on the loop's default thread pool (it releases the GIL while it works). Called
/// outside a running loop, raises asyncio's `RuntimeError`.
fn in_executor<'py>(
    slf: &Bound<'py, PyEngine>,
    method: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = slf.py();
    let partial = PARTIAL.get_or_try_init(py, || {
        py.import("functools")?
            .getattr("partial")
            .map(Bound::unbind)
    })?;
    let running = RUNNING_LOOP.get_or_try_init(py, || {
        py.import("asyncio")?
            .getattr("get_running_loop")
            .map(Bound::unbind)
    })?;
    let event_loop = running.bind(py).call0()?;
    let mut all = vec![slf.getattr(method)?];
    all.extend(args.iter());
    let job = partial.bind(py).call(PyTuple::new(py, all)?, kwargs)?;
    event_loop.call_method1("run_in_executor", (py.None(), job))
}

/// The counter filter arguments.
fn counter_args(
    namespace: Option<&Bound<'_, PyAny>>,
    constraint: Option<&Bound<'_, PyAny>>,
    scope: Option<&Bound<'_, PyAny>>,
    gate: Option<&Bound<'_, PyAny>>,
    agent_id: Option<&Bound<'_, PyAny>>,
) -> PyResult<Args> {
    Args::new()
        .py("namespace", namespace)?
        .py("constraint", constraint)?
        .py("scope", scope)?
        .py("gate", gate)?
        .py("agent_id", agent_id)
}

/// The attestation filter arguments (without `limit`).
#[allow(clippy::too_many_arguments)]
fn attestation_args(
    chain: Option<&Bound<'_, PyAny>>,
    gate: Option<&Bound<'_, PyAny>>,
    agent_id: Option<&Bound<'_, PyAny>>,
    decision: Option<&Bound<'_, PyAny>>,
    evaluation_id: Option<&Bound<'_, PyAny>>,
    kind: Option<&Bound<'_, PyAny>>,
    since: Option<&Bound<'_, PyAny>>,
    until: Option<&Bound<'_, PyAny>>,
) -> PyResult<Args> {
    Args::new()
        .py("chain", chain)?
        .py("gate", gate)?
        .py("agent_id", agent_id)?
        .py("decision", decision)?
        .py("evaluation_id", evaluation_id)?
        .py("kind", kind)?
        .py("since", since)?
        .py("until", until)
}
