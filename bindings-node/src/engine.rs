//! The engine: `enforce` / `dryRun` (the hot path: a typed request read by hand, the decision as
//! JSON text for passgate.js's `JSON.parse`), and every other operation as a thin call into the
//! core's one JSON entry point (`call`): each method only names its arguments (camelCase in,
//! the core's snake_case names out) and shapes the result.

use std::sync::Arc;

use napi::bindgen_prelude::{
    AsyncTask, ClassInstance, Env, FromNapiValue, Function, FunctionRef, ToNapiValue, Unknown,
    ValueType,
};
use napi::ScopedTask;
use napi_derive::napi;
use passgate::clock::ManualClock;
use passgate::Request;
use serde_json::{Map, Value};

use crate::convert::{self, Kind};
use crate::decision;
use crate::error::{self, raise, CoreResult, NapiResult, Result};
use crate::issuer::{IssuedPassport, Issuer};
use crate::options::{self, Options};

const ENGINE_OPTIONS: &[&str] = &[
    "policy",
    "trustedIssuers",
    "signingKey",
    "store",
    "leewaySecs",
    "clock",
    "popLeewaySecs",
    "platformFeeBps",
    "signing",
    "checkpointEvery",
    "checkpointIntervalMs",
];

const REQUEST_OPTIONS: &[&str] = &[
    "gate",
    "passport",
    "payload",
    "idempotencyKey",
    "trace",
    "client",
    "hold",
    "approval",
    "mcpSessionId",
    "mcpClientName",
    "notify",
    "pop",
];

/// The authorization engine: verifies passports, evaluates gates, counts in its store, signs an
/// attestation of every decision. One engine serves any number of concurrent calls.
///
/// ```js
/// const engine = new Engine({ policy, trustedIssuers: [issuer.did] })
/// const d = engine.enforce({ gate: 'payments.send', passport: p.token, payload: { amount: 400 } })
/// ```
#[napi]
pub struct Engine {
    pub(crate) inner: Arc<passgate::Engine>,
    clock: Option<HostClock>,
}

/// `new Engine({clock})`: the host's function, read once at the start of every call (on the JS
/// thread) into the manual clock the core engine reads.
struct HostClock {
    read: FunctionRef<(), f64>,
    time: ManualClock,
}

impl HostClock {
    fn tick(&self, env: &Env) -> Result<()> {
        let f = self.read.borrow_back(env).napi()?;
        let now = match f.call(()) {
            Ok(n) => n,
            // Not a number: refused below.
            Err(e) if e.status == napi::Status::NumberExpected => f64::NAN,
            // The clock threw: its exception is what the caller sees.
            Err(e) => return Err(error::rethrow(env, e)),
        };
        self.time.set_ms(clock_ms(now)?);
        Ok(())
    }
}

/// A clock reading: finite milliseconds since the epoch within ±2^53 (a fraction is dropped).
fn clock_ms(now: f64) -> Result<i64> {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    if !now.is_finite() || now.abs() > SAFE {
        return Err(error::argument(
            "/clock",
            "clock must return milliseconds since the epoch (a finite number, like Date.now())",
        ));
    }
    Ok(now.floor() as i64)
}

/// Reads a request. `payload_json`, when given, is the payload as JSON text (passgate.js's fast
/// route: `JSON.stringify` of a payload it has checked to be plain data); it is parsed by the
/// core's strict parser and `request.payload` is not read.
pub(crate) fn read_request(
    request: Unknown<'_>,
    what: &'static str,
    payload_json: Option<Unknown<'_>>,
) -> Result<Request> {
    let payload_json = match payload_json {
        None => None,
        Some(t) => match t.get_type().napi()? {
            ValueType::Undefined | ValueType::Null => None,
            _ => Some(convert::js_string(t, "payloadJson")?),
        },
    };
    let o = Options::read(Some(request), what, REQUEST_OPTIONS)?;
    let gate = o.req_str("gate")?;
    let passport = o.token("passport")?;
    let payload = match payload_json {
        Some(text) => {
            passgate::seam::parse(&text, passgate::__private::json::Context::Payload).js()?
        }
        None => o.json("payload", Kind::Payload)?.unwrap_or(Value::Null),
    };
    Ok(Request {
        gate,
        passport,
        payload,
        idempotency_key: o.str("idempotencyKey")?,
        trace: passgate::ops::trace_with_session(
            o.json("trace", Kind::Argument)?,
            o.str("mcpSessionId")?.as_deref(),
            o.str("mcpClientName")?.as_deref(),
        )
        .js()?,
        client: o.str("client")?,
        hold: o.bool("hold")?.unwrap_or(false),
        approval: o.str("approval")?,
        notify: o.str("notify")?,
        pop: o.json("pop", Kind::Argument)?,
    })
}

/// Reads the request of passgate.js's plain route: a request whose only own enumerable keys are
/// `gate`, `passport` and `payload`. The gate and the passport are read by JavaScript and given
/// here as they are; the payload as JSON text, as in [`read_request`]. The same request read by
/// [`read_request`] gives the same `Request`, or the same error.
pub(crate) fn read_plain_request(
    what: &'static str,
    gate: Unknown<'_>,
    passport: Option<Unknown<'_>>,
    payload_json: Unknown<'_>,
) -> Result<Request> {
    let gate = match gate.get_type().napi()? {
        ValueType::String => convert::js_string(gate, "gate")?,
        ValueType::Undefined | ValueType::Null => {
            return Err(crate::options::wrong(what, "gate", "given"))
        }
        _ => return Err(crate::options::wrong(what, "gate", "a string")),
    };
    let passport =
        match passport {
            None => None,
            Some(v) => match v.get_type().napi()? {
                ValueType::Undefined | ValueType::Null => None,
                _ => Some(crate::options::token(v).ok_or_else(|| {
                    crate::options::wrong(what, "passport", crate::options::TOKEN)
                })?),
            },
        };
    let text = convert::js_string(payload_json, "payloadJson")?;
    let payload = passgate::seam::parse(&text, passgate::__private::json::Context::Payload).js()?;
    let mut r = Request::new(gate, payload);
    r.passport = passport;
    Ok(r)
}

/// How a decision crosses back to JavaScript.
#[derive(Clone, Copy)]
pub(crate) enum Form {
    /// One JSON object ([`decision::to_text`]): `enforceText` / `dryRunText`.
    Text,
    /// Small fields and heavy fields apart ([`decision::to_parts`]): passgate.js's lazy decision.
    Parts,
}

fn decide(engine: &passgate::Engine, r: &Request, dry_run: bool, form: Form) -> Result<String> {
    let d = if dry_run {
        engine.dry_run(r)
    } else {
        engine.enforce(r)
    };
    let d = d.js()?;
    match form {
        Form::Text => decision::to_text(&d),
        Form::Parts => decision::to_parts(&d),
    }
}

/// `enforceTextAsync` / `dryRunTextAsync`: the evaluation (and any store I/O) runs on the libuv
/// pool; resolves with the decision as JSON text.
pub struct Decide {
    engine: Arc<passgate::Engine>,
    /// The request, or why it could not be read (the promise rejects with it).
    request: Option<Result<Request>>,
    dry_run: bool,
    form: Form,
}

impl<'t> ScopedTask<'t> for Decide {
    type Output = Result<String>;
    type JsValue = Unknown<'t>;

    fn compute(&mut self) -> napi::Result<Result<String>> {
        Ok(match self.request.take() {
            Some(Ok(r)) => decide(&self.engine, &r, self.dry_run, self.form),
            Some(Err(e)) => Err(e),
            None => Err(error::core(passgate::Error::Internal(
                "task ran twice".into(),
            ))),
        })
    }

    fn resolve(&mut self, env: &'t Env, output: Result<String>) -> napi::Result<Unknown<'t>> {
        output
            .and_then(|t| t.into_unknown(env).napi())
            .map_err(|e| error::to_status_error(env, e))
    }
}

/// One argument of an operation: how to read the JS value into the core's JSON.
enum Arg<'a> {
    /// Any JSON value (strings with a lone surrogate refused).
    Json(Option<Unknown<'a>>),
    /// A payload-shaped value (`PAYLOAD_INVALID`, 1 MiB).
    Payload(Option<Unknown<'a>>),
    /// A policy document (`POLICY_INVALID`, 8 MiB) or a string (JSON text or a path).
    Policy(Option<Unknown<'a>>),
    /// A passport: an `IssuedPassport` (its token) or anything else as JSON.
    Token(Option<Unknown<'a>>),
    /// An issuer: an `Issuer` (its secret) or anything else as JSON.
    Secret(Option<Unknown<'a>>),
    /// An options object whose camelCase keys are the operation's arguments.
    Options(Option<Unknown<'a>>),
}

/// `undefined` and `null` are an absent argument.
fn present(v: Option<Unknown<'_>>) -> Result<Option<Unknown<'_>>> {
    match v {
        None => Ok(None),
        Some(v) => match v.get_type().napi()? {
            ValueType::Undefined | ValueType::Null => Ok(None),
            _ => Ok(Some(v)),
        },
    }
}

/// The core's argument object from the JS arguments of operation `op`. An error names a
/// positional argument as JavaScript does (`/holdId`), an option as it was given.
fn args(op: &str, list: Vec<(&str, Arg<'_>)>) -> Result<Value> {
    let mut out = Map::new();
    for (name, arg) in list {
        if let Arg::Options(v) = arg {
            for (k, x) in options_object(op, v)? {
                out.insert(k, x);
            }
            continue;
        }
        positional(&mut out, name, arg).map_err(camel_path)?;
    }
    Ok(Value::Object(out))
}

/// One positional argument into the core's argument object.
fn positional(out: &mut Map<String, Value>, name: &str, arg: Arg<'_>) -> Result<()> {
    match arg {
        Arg::Json(v) => {
            if let Some(v) = present(v)? {
                out.insert(name.into(), convert::to_json(v, Kind::Argument, name)?);
            }
        }
        Arg::Payload(v) => {
            if let Some(v) = present(v)? {
                out.insert(name.into(), convert::to_json(v, Kind::Payload, name)?);
            }
        }
        Arg::Policy(v) => {
            if let Some(v) = present(v)? {
                let kind = match v.get_type().napi()? {
                    ValueType::Object => Kind::Policy,
                    _ => Kind::Argument,
                };
                out.insert(name.into(), convert::to_json(v, kind, name)?);
            }
        }
        Arg::Token(v) => {
            if let Some(v) = present(v)? {
                let token = match ClassInstance::<IssuedPassport>::from_unknown(v) {
                    Ok(p) if v.get_type().napi()? == ValueType::Object => {
                        Value::String(p.inner.token.clone())
                    }
                    _ => convert::to_json(v, Kind::Argument, name)?,
                };
                out.insert(name.into(), token);
            }
        }
        Arg::Secret(v) => {
            if let Some(v) = present(v)? {
                let secret = match ClassInstance::<Issuer>::from_unknown(v) {
                    Ok(i) if v.get_type().napi()? == ValueType::Object => {
                        Value::String(i.inner.secret())
                    }
                    _ => convert::to_json(v, Kind::Argument, name)?,
                };
                out.insert(name.into(), secret);
            }
        }
        Arg::Options(_) => {}
    }
    Ok(())
}

/// The own enumerable entries of an options object (`undefined` / `null`: none), keys
/// snake_cased, values as JSON.
pub(crate) fn options_object(op: &str, v: Option<Unknown<'_>>) -> Result<Vec<(String, Value)>> {
    entries(op, v, true)
}

/// The own enumerable entries of an argument object as the core's JSON: keys snake_cased from
/// camelCase (`rename`) or taken as they are, values converted (an `IssuedPassport` as its token,
/// a `payload` or `actual` as a payload, anything else as JSON).
fn entries(op: &str, v: Option<Unknown<'_>>, rename: bool) -> Result<Vec<(String, Value)>> {
    let Some(v) = v else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (name, value) in crate::options::object_entries(op, v)? {
        let name = if rename {
            convert::snake(&name, op)?
        } else {
            name
        };
        let kind = match name.as_str() {
            "payload" | "actual" => Kind::Payload,
            _ => Kind::Argument,
        };
        // A passport given as an `IssuedPassport`: its token.
        let json = match ClassInstance::<IssuedPassport>::from_unknown(value) {
            Ok(p) if value.get_type().napi()? == ValueType::Object => {
                Value::String(p.inner.token.clone())
            }
            _ => convert::to_json(value, kind, &name)?,
        };
        out.push((name, json));
    }
    Ok(out)
}

/// How a method shapes the core's result.
#[derive(Clone, Copy)]
enum Shape {
    /// As the core returned it (claims, records, reports).
    AsIs,
    /// The top-level keys camelCased (`hold_id` → `holdId`); values as returned.
    Camel,
    /// The one value under this key (`{gates: [...]}` → `[...]`).
    Field(&'static str),
    /// The one value under this key, every key in it camelCased at any depth (counters).
    FieldDeep(&'static str),
    /// The top-level keys camelCased, and those of each object in the array under this key
    /// (a page of passports: their caveats stay as written).
    CamelItems(&'static str),
}

fn shape(v: Value, s: Shape) -> Value {
    match (s, v) {
        (Shape::AsIs, v) => v,
        (Shape::Camel, Value::Object(m)) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (convert::camel(&k).into_owned(), x))
                .collect(),
        ),
        (Shape::Field(k), Value::Object(mut m)) => m.remove(k).unwrap_or(Value::Null),
        (Shape::FieldDeep(k), Value::Object(mut m)) => {
            convert::camel_deep(m.remove(k).unwrap_or(Value::Null))
        }
        (Shape::CamelItems(k), Value::Object(mut m)) => {
            if let Some(Value::Array(items)) = m.get_mut(k) {
                for item in items.iter_mut() {
                    *item = shape(std::mem::take(item), Shape::Camel);
                }
            }
            shape(Value::Object(m), Shape::Camel)
        }
        (_, v) => v,
    }
}

/// An argument error's path with its first segment (the argument's name) camelCased: `/hold_id`
/// → `/holdId`. Payload and policy paths are paths into data, and stay as they are.
pub(crate) fn camel_path(mut e: error::Error) -> error::Error {
    if e.status.code == "INVALID_ARGUMENT" {
        if let Some(p) = e.status.path.take() {
            let (first, rest) = match p.get(1..).and_then(|r| r.find('/')) {
                Some(i) => p.split_at(i + 1),
                None => (p.as_str(), ""),
            };
            e.status.path = Some(format!("{}{rest}", convert::camel(first)));
        }
    }
    e
}

/// A count in a result (`{expired: 3}`), as a JS number.
fn count(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

impl Engine {
    /// Reads the host clock, if any: once per call, at its start, on the JS thread.
    pub(crate) fn tick(&self, env: &Env) -> Result<()> {
        match &self.clock {
            Some(c) => c.tick(env),
            None => Ok(()),
        }
    }

    /// Runs operation `op` with `args` through the core's one entry point; errors are thrown
    /// with `.code` and `.path` (an argument's path names it as JavaScript does: `/holdId`).
    fn run(&self, env: &Env, op: &str, list: Vec<(&str, Arg<'_>)>) -> Result<Value> {
        // Errors reading the JS arguments name them as given; the core's name its arguments.
        let a = args(op, list).map_err(|e| raise(env, e))?;
        let go = || {
            self.tick(env)?;
            passgate::ops::call(&self.inner, op, a).js()
        };
        go().map_err(|e| raise(env, camel_path(e)))
    }

    /// [`run`](Engine::run), the result shaped for JavaScript.
    fn op<'e>(
        &self,
        env: &'e Env,
        op: &str,
        list: Vec<(&str, Arg<'_>)>,
        s: Shape,
    ) -> Result<Unknown<'e>> {
        let v = self.run(env, op, list)?;
        convert::to_js(env, &shape(v, s)).map_err(|e| raise(env, e))
    }

    fn text(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
        what: &'static str,
        dry_run: bool,
        form: Form,
    ) -> Result<String> {
        let go = || {
            let r = read_request(request, what, payload_json)?;
            self.tick(env)?;
            decide(&self.inner, &r, dry_run, form)
        };
        go().map_err(|e| raise(env, e))
    }

    /// [`Self::text`] in parts, for a request read by [`read_plain_request`].
    fn plain(
        &self,
        env: &Env,
        (gate, passport, payload_json): (Unknown<'_>, Option<Unknown<'_>>, Unknown<'_>),
        what: &'static str,
        dry_run: bool,
    ) -> Result<String> {
        let go = || {
            let r = read_plain_request(what, gate, passport, payload_json)?;
            self.tick(env)?;
            decide(&self.inner, &r, dry_run, Form::Parts)
        };
        go().map_err(|e| raise(env, e))
    }

    fn task(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
        what: &'static str,
        dry_run: bool,
        form: Form,
    ) -> Result<AsyncTask<Decide>> {
        self.task_of(
            env,
            read_request(request, what, payload_json),
            dry_run,
            form,
        )
    }

    /// The task deciding `request` (read, or why it could not be).
    fn task_of(
        &self,
        env: &Env,
        request: Result<Request>,
        dry_run: bool,
        form: Form,
    ) -> Result<AsyncTask<Decide>> {
        // A JavaScript exception (a throwing getter or clock) is already pending: it is thrown
        // (passgate.js turns it into a rejection); any other error rejects the promise.
        let request = match request.and_then(|r| self.tick(env).map(|()| r)) {
            Err(e) if e.status.js_exception => return Err(e),
            other => other,
        };
        Ok(AsyncTask::new(Decide {
            engine: self.inner.clone(),
            request: Some(request),
            dry_run,
            form,
        }))
    }
}

#[napi]
impl Engine {
    /// A new engine. `policy` is a policy object, a JSON string or a path to a JSON file;
    /// `trustedIssuers` lists issuer did:keys (or `Issuer`s); `signingKey` (an `Issuer` or its
    /// secret) signs attestations — a fresh key when absent, see `signerDid`; `store` is a store
    /// URL (`memory:`, the default). `clock` (for tests and simulations) is a function returning
    /// the current time in milliseconds since the epoch, like `Date.now`: the engine reads it
    /// once at the start of every call and uses that time for the whole call.
    #[napi(constructor, ts_args_type = "options?: EngineOptions")]
    pub fn new(env: Env, options: Option<Unknown<'_>>) -> Result<Self> {
        Self::build(&env, options).map_err(|e| raise(&env, e))
    }

    /// The did:key this engine signs attestations with (pass it to `verifyChain`).
    #[napi(getter)]
    pub fn signer_did(&self) -> String {
        self.inner.signer_did().to_string()
    }

    /// This engine's attestation chain id.
    #[napi(getter)]
    pub fn chain_id(&self) -> String {
        self.inner.chain_id()
    }

    /// Closes the engine's store now (SQLite connections and file handles) instead of when the
    /// garbage collector frees the engine: every later call that touches the store throws
    /// `STORE_UNAVAILABLE`. Closing twice is harmless.
    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }

    /// Runs the core operation `op` (one of `operations()`) with `args` (an object with the
    /// operation's snake_case argument names) and returns its JSON result as the core shapes it
    /// (snake_case keys). Every typed method is this call with its arguments named; passgate.js
    /// gives each operation without one a camelCase method over it.
    #[napi(
        ts_args_type = "op: string, args?: JsonObject | null",
        ts_return_type = "JsonValue"
    )]
    pub fn call<'e>(
        &self,
        env: &'e Env,
        op: Unknown<'_>,
        args: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        let go = || -> Result<(String, Value)> {
            let op = convert::js_string(op, "op")?;
            let a: Map<String, Value> = entries(&op, args, false)?.into_iter().collect();
            Ok((op, Value::Object(a)))
        };
        let (op, a) = go().map_err(|e| raise(env, e))?;
        self.tick(env).map_err(|e| raise(env, e))?;
        let v = passgate::ops::call(&self.inner, &op, a)
            .js()
            .map_err(|e| raise(env, e))?;
        convert::to_js(env, &v).map_err(|e| raise(env, e))
    }

    /// `enforce` (passgate.js), returning the decision as JSON text: decides a request, counts
    /// it if admitted, and signs the decision. `payloadJson`, when given, is the payload as JSON
    /// text and replaces `request.payload` (parsed by the core's strict parser).
    #[napi(ts_args_type = "request: EnforceRequest, payloadJson?: string | null")]
    pub fn enforce_text(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<String> {
        self.text(env, request, payload_json, "enforce", false, Form::Text)
    }

    /// `dryRun` (passgate.js), returning the decision as JSON text (see `enforceText`).
    #[napi(ts_args_type = "request: EnforceRequest, payloadJson?: string | null")]
    pub fn dry_run_text(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<String> {
        self.text(env, request, payload_json, "dryRun", true, Form::Text)
    }

    /// `enforceText` on the libuv thread pool: the event loop is free while the store works.
    /// Argument errors reject the promise; an exception thrown by a getter while the request is
    /// read is thrown (`enforceAsync` turns it into a rejection).
    #[napi(
        ts_args_type = "request: EnforceRequest, payloadJson?: string | null",
        ts_return_type = "Promise<string>"
    )]
    pub fn enforce_text_async(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<Decide>> {
        self.task(
            env,
            request,
            payload_json,
            "enforceAsync",
            false,
            Form::Text,
        )
    }

    /// `dryRunText` on the libuv thread pool.
    #[napi(
        ts_args_type = "request: EnforceRequest, payloadJson?: string | null",
        ts_return_type = "Promise<string>"
    )]
    pub fn dry_run_text_async(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<Decide>> {
        self.task(env, request, payload_json, "dryRunAsync", true, Form::Text)
    }

    /// `enforce` (passgate.js), returning the decision in two parts for its lazy decision: the
    /// small fields and, apart, the heavy ones (checks, remaining, attestation, approval request,
    /// redacted payload) that JavaScript parses only when one is first read. The text is two
    /// compact JSON arrays joined by `\n`; passgate.js rebuilds the decision with `enforceText`'s
    /// keys, order and values. Arguments as `enforceText`.
    #[napi(ts_args_type = "request: EnforceRequest, payloadJson?: string | null")]
    pub fn enforce_parts(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<String> {
        self.text(env, request, payload_json, "enforce", false, Form::Parts)
    }

    /// `dryRun` (passgate.js), returning the decision in two parts (see `enforceParts`).
    #[napi(ts_args_type = "request: EnforceRequest, payloadJson?: string | null")]
    pub fn dry_run_parts(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<String> {
        self.text(env, request, payload_json, "dryRun", true, Form::Parts)
    }

    /// `enforceParts` for passgate.js's plain route, a request of only `gate`, `passport` and a
    /// plain-data `payload`: the gate, the passport and the payload's JSON text as arguments, no
    /// request object to read. Checked as `enforceParts` checks them, with the same errors.
    #[napi(
        ts_args_type = "gate: string, passport: string | IssuedPassport | null | undefined, payloadJson: string"
    )]
    pub fn enforce_parts_plain(
        &self,
        env: &Env,
        gate: Unknown<'_>,
        passport: Option<Unknown<'_>>,
        payload_json: Unknown<'_>,
    ) -> Result<String> {
        self.plain(env, (gate, passport, payload_json), "enforce", false)
    }

    /// `dryRunParts` for passgate.js's plain route (see `enforcePartsPlain`).
    #[napi(
        ts_args_type = "gate: string, passport: string | IssuedPassport | null | undefined, payloadJson: string"
    )]
    pub fn dry_run_parts_plain(
        &self,
        env: &Env,
        gate: Unknown<'_>,
        passport: Option<Unknown<'_>>,
        payload_json: Unknown<'_>,
    ) -> Result<String> {
        self.plain(env, (gate, passport, payload_json), "dryRun", true)
    }

    /// `enforcePartsPlain` on the libuv thread pool (errors as `enforcePartsAsync`).
    #[napi(
        ts_args_type = "gate: string, passport: string | IssuedPassport | null | undefined, payloadJson: string",
        ts_return_type = "Promise<string>"
    )]
    pub fn enforce_parts_plain_async(
        &self,
        env: &Env,
        gate: Unknown<'_>,
        passport: Option<Unknown<'_>>,
        payload_json: Unknown<'_>,
    ) -> Result<AsyncTask<Decide>> {
        let r = read_plain_request("enforceAsync", gate, passport, payload_json);
        self.task_of(env, r, false, Form::Parts)
    }

    /// `dryRunPartsPlain` on the libuv thread pool.
    #[napi(
        ts_args_type = "gate: string, passport: string | IssuedPassport | null | undefined, payloadJson: string",
        ts_return_type = "Promise<string>"
    )]
    pub fn dry_run_parts_plain_async(
        &self,
        env: &Env,
        gate: Unknown<'_>,
        passport: Option<Unknown<'_>>,
        payload_json: Unknown<'_>,
    ) -> Result<AsyncTask<Decide>> {
        let r = read_plain_request("dryRunAsync", gate, passport, payload_json);
        self.task_of(env, r, true, Form::Parts)
    }

    /// `enforceParts` on the libuv thread pool (errors as `enforceTextAsync`).
    #[napi(
        ts_args_type = "request: EnforceRequest, payloadJson?: string | null",
        ts_return_type = "Promise<string>"
    )]
    pub fn enforce_parts_async(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<Decide>> {
        self.task(
            env,
            request,
            payload_json,
            "enforceAsync",
            false,
            Form::Parts,
        )
    }

    /// `dryRunParts` on the libuv thread pool.
    #[napi(
        ts_args_type = "request: EnforceRequest, payloadJson?: string | null",
        ts_return_type = "Promise<string>"
    )]
    pub fn dry_run_parts_async(
        &self,
        env: &Env,
        request: Unknown<'_>,
        payload_json: Option<Unknown<'_>>,
    ) -> Result<AsyncTask<Decide>> {
        self.task(env, request, payload_json, "dryRunAsync", true, Form::Parts)
    }

    /// Verifies a passport (signature, times, issuer, delegation chain, revocation) and returns
    /// its claims. Throws with the reason's code (`PASSPORT_EXPIRED`, `ISSUER_UNTRUSTED`, …).
    #[napi(
        ts_args_type = "passport: string | IssuedPassport",
        ts_return_type = "PassportClaims"
    )]
    pub fn verify_passport<'e>(
        &self,
        env: &'e Env,
        passport: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "verify_passport",
            vec![("passport", Arg::Token(passport))],
            Shape::AsIs,
        )
    }

    /// A signed statement of where this engine's chain ends now (`{body: {kind: 'chain.head',
    /// chain, seq, hash, time}, hash, sig, kid}`). Keep a recent one: `verifyChain(records, did,
    /// head)` then detects records cut from the chain's end.
    #[napi(ts_return_type = "ChainHead")]
    pub fn chain_head<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        self.op(env, "chain_head", vec![], Shape::AsIs)
    }

    /// Revokes a passport id and, with it, every passport delegated from it. Writes an
    /// attestation of kind `revocation`.
    #[napi(ts_args_type = "passportId: string")]
    pub fn revoke_passport(&self, env: &Env, passport_id: Option<Unknown<'_>>) -> Result<()> {
        self.run(
            env,
            "revoke_passport",
            vec![("passport_id", Arg::Json(passport_id))],
        )?;
        Ok(())
    }

    /// Issues a new passport for the agent of `passport` (same permissions, name, caveats and
    /// catalog pins; a fresh agent key), signed by `issuerSecret` (an `Issuer` or its secret), and
    /// revokes the old one. `acceptCatalog` pins it to those published catalog versions instead.
    #[napi(
        ts_args_type = "passport: string | IssuedPassport, issuerSecret: Issuer | string, expiresInDays?: number | null, acceptCatalog?: { gate: string; version: number }[] | null"
    )]
    pub fn reissue(
        &self,
        env: &Env,
        passport: Option<Unknown<'_>>,
        issuer: Option<Unknown<'_>>,
        expires_in_days: Option<Unknown<'_>>,
        accept_catalog: Option<Unknown<'_>>,
    ) -> Result<IssuedPassport> {
        let v = self.run(
            env,
            "reissue",
            vec![
                ("passport", Arg::Token(passport)),
                ("issuer_secret", Arg::Secret(issuer)),
                ("expires_in_days", Arg::Json(expires_in_days)),
                ("accept_catalog", Arg::Json(accept_catalog)),
            ],
        )?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        passgate::IssuedPassport::from_token(field("token"), field("private_key"))
            .js()
            .map(|inner| IssuedPassport { inner })
            .map_err(|e| raise(env, e))
    }

    /// The counters matching `filter` (`{gate, agentId, constraint, scope, namespace}`), with
    /// their current usage.
    #[napi(
        ts_args_type = "filter?: CounterFilter | null",
        ts_return_type = "CounterState[]"
    )]
    pub fn cumulative_state<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "cumulative_state",
            vec![("filter", Arg::Options(filter))],
            Shape::FieldDeep("counters"),
        )
    }

    /// One page of the counters matching `filter` (as for `cumulativeState`), in a stable
    /// order: at most `page.limit` (1–10,000, default 100) counters from `page.cursor` (absent:
    /// the first page). Returns `{counters, nextCursor}`; pass `nextCursor` back for the next
    /// page (`null` after the last; a page may be short and still have one). A cursor no page
    /// returned throws `INVALID_ARGUMENT`.
    #[napi(
        ts_args_type = "filter?: CounterFilter | null, page?: { cursor?: string | null; limit?: number } | null",
        ts_return_type = "{ counters: CounterState[]; nextCursor: string | null }"
    )]
    pub fn cumulative_state_page<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
        page: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        let v = self.run(
            env,
            "cumulative_state_page",
            vec![
                ("filter", Arg::Options(filter)),
                ("page", Arg::Options(page)),
            ],
        )?;
        convert::to_js(env, &convert::camel_deep(v)).map_err(|e| raise(env, e))
    }

    /// Deletes the counters matching `filter` (all of them without one), records that it did,
    /// and returns how many were deleted.
    #[napi(ts_args_type = "filter?: CounterFilter | null")]
    pub fn reset_cumulative_state(&self, env: &Env, filter: Option<Unknown<'_>>) -> Result<f64> {
        let v = self.run(
            env,
            "reset_cumulative_state",
            vec![("filter", Arg::Options(filter))],
        )?;
        Ok(count(&v, "reset"))
    }

    /// The attestation records in this engine's store (every chain), oldest first, filtered by
    /// `{chain, gate, agentId, decision, evaluationId, kind, since, until, limit}` (times in epoch
    /// milliseconds). Records are returned exactly as signed.
    #[napi(
        ts_args_type = "filter?: AttestationFilter | null",
        ts_return_type = "AttestationRecord[]"
    )]
    pub fn attestations<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "attestations",
            vec![("filter", Arg::Options(filter))],
            Shape::Field("attestations"),
        )
    }

    /// One page of the attestation records (every chain), oldest first: `filter` as for
    /// `attestations`, at most `page.limit` (1–10,000, default 100) records from `page.cursor`
    /// (absent: the first page). Returns `{records, nextCursor}`; pass `nextCursor` back for
    /// the next page (`null` after the last).
    #[napi(
        ts_args_type = "filter?: Omit<AttestationFilter, 'limit'> | null, page?: { cursor?: string | null; limit?: number } | null",
        ts_return_type = "{ records: AttestationRecord[]; nextCursor: string | null }"
    )]
    pub fn attestations_page<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
        page: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "attestations_page",
            vec![
                ("filter", Arg::Options(filter)),
                ("page", Arg::Options(page)),
            ],
            Shape::Camel,
        )
    }

    /// Verifies every chain of the store, each against its own signer, which must be one of
    /// `trustedSigners` (did:key): after restarts, each engine without a configured signing key
    /// wrote a chain with a new key. Returns `{records, chains: [{chain, signer, records,
    /// first_seq, last_seq}]}`; throws (`ATTESTATION_*`, `CHAIN_*`) on the first record that does
    /// not verify or a chain signed by an untrusted key.
    #[napi(
        ts_args_type = "trustedSigners: string[]",
        ts_return_type = "{ records: number; chains: Array<{ chain: string; signer: string; records: number; first_seq: number; last_seq: number }> }"
    )]
    pub fn verify_store<'e>(
        &self,
        env: &'e Env,
        trusted_signers: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "verify_store",
            vec![("trusted_signers", Arg::Json(trusted_signers))],
            Shape::AsIs,
        )
    }

    /// Appends a host event (`kind`, any JSON `data`) to this engine's chain; returns the record.
    #[napi(
        ts_args_type = "kind: string, data?: JsonValue",
        ts_return_type = "AttestationRecord"
    )]
    pub fn record_attestation<'e>(
        &self,
        env: &'e Env,
        kind: Option<Unknown<'_>>,
        data: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "record_attestation",
            vec![("kind", Arg::Json(kind)), ("data", Arg::Json(data))],
            Shape::AsIs,
        )
    }

    /// Replaces the policy (an object, a JSON string or a path) atomically; counters and chains
    /// live on. Returns the new policy hash. With `ifMatch` (a policy hash), only if that is
    /// still the policy in force (else `POLICY_CONFLICT`). Attested as `policy.changed`.
    #[napi(ts_args_type = "policy: PolicyDocument | string, ifMatch?: string | null")]
    pub fn set_policy(
        &self,
        env: &Env,
        policy: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<String> {
        let v = self.run(
            env,
            "set_policy",
            vec![
                ("policy", Arg::Policy(policy)),
                ("if_match", Arg::Json(if_match)),
            ],
        )?;
        Ok(v.get("policy_hash")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Adds gate `gate` with `definition` (as the policy's `gates` section holds it) or replaces
    /// the gate of that name; with `ifMatch`, only if that policy hash is still in force (else
    /// `POLICY_CONFLICT`). An invalid definition throws `POLICY_INVALID` at its path in the
    /// document and changes nothing. Attested as `policy.changed`.
    #[napi(
        ts_args_type = "gate: string, definition: JsonObject, ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn upsert_gate<'e>(
        &self,
        env: &'e Env,
        gate: Option<Unknown<'_>>,
        definition: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "upsert_gate",
            vec![
                ("gate", Arg::Json(gate)),
                ("definition", Arg::Json(definition)),
                ("if_match", Arg::Json(if_match)),
            ],
            Shape::Camel,
        )
    }

    /// Removes gate `gate` (`GATE_UNKNOWN` if it is not defined); `ifMatch` as `upsertGate`.
    #[napi(
        ts_args_type = "gate: string, ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn delete_gate<'e>(
        &self,
        env: &'e Env,
        gate: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "delete_gate",
            vec![("gate", Arg::Json(gate)), ("if_match", Arg::Json(if_match))],
            Shape::Camel,
        )
    }

    /// Replaces the constraints of gate `gate` (`GATE_UNKNOWN` if it is not defined); `ifMatch`
    /// as `upsertGate`.
    #[napi(
        ts_args_type = "gate: string, constraints: ConstraintDocument[], ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn set_gate_constraints<'e>(
        &self,
        env: &'e Env,
        gate: Option<Unknown<'_>>,
        constraints: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "set_gate_constraints",
            vec![
                ("gate", Arg::Json(gate)),
                ("constraints", Arg::Json(constraints)),
                ("if_match", Arg::Json(if_match)),
            ],
            Shape::Camel,
        )
    }

    /// Replaces the policy's `anonymous` section (`{gates, constraints}`); `ifMatch` as
    /// `upsertGate`.
    #[napi(
        ts_args_type = "anonymous: { gates?: string[]; constraints?: ConstraintDocument[] }, ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn set_anonymous_policy<'e>(
        &self,
        env: &'e Env,
        anonymous: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "set_anonymous_policy",
            vec![
                ("anonymous", Arg::Json(anonymous)),
                ("if_match", Arg::Json(if_match)),
            ],
            Shape::Camel,
        )
    }

    /// Adds gate `gate` (`definition` as for `upsertGate`); a gate of that name already defined
    /// throws `POLICY_CONFLICT` and changes nothing.
    #[napi(
        ts_args_type = "gate: string, definition: JsonObject, ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn create_gate<'e>(
        &self,
        env: &'e Env,
        gate: Option<Unknown<'_>>,
        definition: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "create_gate",
            vec![
                ("gate", Arg::Json(gate)),
                ("definition", Arg::Json(definition)),
                ("if_match", Arg::Json(if_match)),
            ],
            Shape::Camel,
        )
    }

    /// Replaces gate `gate` with `definition`; a gate that is not defined throws
    /// `GATE_UNKNOWN`. `ifMatch` as `upsertGate`.
    #[napi(
        ts_args_type = "gate: string, definition: JsonObject, ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn update_gate<'e>(
        &self,
        env: &'e Env,
        gate: Option<Unknown<'_>>,
        definition: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "update_gate",
            vec![
                ("gate", Arg::Json(gate)),
                ("definition", Arg::Json(definition)),
                ("if_match", Arg::Json(if_match)),
            ],
            Shape::Camel,
        )
    }

    /// Applies constraint template `template` (built in or the policy's own) to gate `gate`
    /// with `params`; applying it again replaces its parameters. `ifMatch` as `upsertGate`.
    #[napi(
        ts_args_type = "gate: string, template: string, params?: JsonObject | null, ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn apply_template<'e>(
        &self,
        env: &'e Env,
        gate: Option<Unknown<'_>>,
        template: Option<Unknown<'_>>,
        params: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "apply_template",
            vec![
                ("gate", Arg::Json(gate)),
                ("template", Arg::Json(template)),
                ("params", Arg::Json(params)),
                ("if_match", Arg::Json(if_match)),
            ],
            Shape::Camel,
        )
    }

    /// Adds the policy's own template `template` (`definition`: `{description, params,
    /// constraints}`) or replaces it; gates applying it follow. `ifMatch` as `upsertGate`.
    #[napi(
        ts_args_type = "template: string, definition: JsonObject, ifMatch?: string | null",
        ts_return_type = "PolicyChange"
    )]
    pub fn upsert_template<'e>(
        &self,
        env: &'e Env,
        template: Option<Unknown<'_>>,
        definition: Option<Unknown<'_>>,
        if_match: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "upsert_template",
            vec![
                ("template", Arg::Json(template)),
                ("definition", Arg::Json(definition)),
                ("if_match", Arg::Json(if_match)),
            ],
            Shape::Camel,
        )
    }

    /// What a request to gate `gate` is judged by: `{gate, constraints, caveats}` — its own and
    /// its templates' constraints, and with `passport` the caveats of its chain that apply
    /// (`{declared_by, constraint}`; null without a passport).
    #[napi(
        ts_args_type = "gate: string, passport?: string | IssuedPassport | null",
        ts_return_type = "{ gate: string; constraints: ConstraintDocument[]; caveats: { declared_by: string; constraint: ConstraintDocument }[] | null }"
    )]
    pub fn get_constraints<'e>(
        &self,
        env: &'e Env,
        gate: Option<Unknown<'_>>,
        passport: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "get_constraints",
            vec![
                ("gate", Arg::Json(gate)),
                ("passport", Arg::Token(passport)),
            ],
            Shape::AsIs,
        )
    }

    /// The policy's `anonymous` section and its hash: `{anonymous, policyHash}`.
    #[napi(
        ts_return_type = "{ anonymous: { gates?: string[]; constraints?: ConstraintDocument[] } | null; policyHash: string | null }"
    )]
    pub fn anonymous_policy<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        self.op(env, "anonymous_policy", vec![], Shape::Camel)
    }

    /// Deletes the run bundle of evaluation `evaluationId` (privacy); its decision record keeps
    /// the `bundle_hash`, so the chain still verifies. `{purged, attestation}` (the signed
    /// `bundle.purged` record, or null when there was nothing to purge).
    #[napi(
        ts_args_type = "evaluationId: string",
        ts_return_type = "{ purged: boolean; attestation: AttestationRecord | null }"
    )]
    pub fn purge_bundle<'e>(
        &self,
        env: &'e Env,
        evaluation_id: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "purge_bundle",
            vec![("evaluation_id", Arg::Json(evaluation_id))],
            Shape::Camel,
        )
    }

    /// The gates of the current policy, by name: `{name, description, require, mode,
    /// constraints, …}` as the policy compiled them.
    #[napi(ts_return_type = "GateInfo[]")]
    pub fn list_gates<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        self.op(env, "list_gates", vec![], Shape::Field("gates"))
    }

    /// One gate of the current policy; throws `GATE_UNKNOWN` if the policy does not define it.
    #[napi(ts_args_type = "gate: string", ts_return_type = "GateInfo")]
    pub fn get_gate<'e>(&self, env: &'e Env, gate: Option<Unknown<'_>>) -> Result<Unknown<'e>> {
        self.op(
            env,
            "get_gate",
            vec![("gate", Arg::Json(gate))],
            Shape::AsIs,
        )
    }

    /// Creates an API key `{name, scopes, expiresIn?}` (`expiresIn`: seconds or a duration such
    /// as `"90d"`; none: it never expires). Returns its metadata and its `secret`
    /// (`pgk_<id>_<random>`), shown this once: only its SHA-256 is stored. Writes an attestation
    /// of kind `api_key.created`.
    #[napi(
        ts_args_type = "options: { name: string; scopes: ApiKeyScope[]; expiresIn?: number | string | null }",
        ts_return_type = "CreatedApiKey"
    )]
    pub fn create_api_key<'e>(
        &self,
        env: &'e Env,
        options: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "create_api_key",
            vec![("options", Arg::Options(options))],
            Shape::Camel,
        )
    }

    /// Every API key's metadata, oldest first (never a secret or its hash).
    #[napi(ts_return_type = "ApiKeyInfo[]")]
    pub fn list_api_keys<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        self.op(env, "list_api_keys", vec![], Shape::FieldDeep("keys"))
    }

    /// Revokes the API key `id`: it stops authenticating at once; returns its metadata. Revoking
    /// a revoked key changes nothing; an unknown id throws `API_KEY_UNKNOWN`. Writes an
    /// attestation of kind `api_key.revoked`.
    #[napi(ts_args_type = "id: string", ts_return_type = "ApiKeyInfo")]
    pub fn revoke_api_key<'e>(&self, env: &'e Env, id: Option<Unknown<'_>>) -> Result<Unknown<'e>> {
        self.op(
            env,
            "revoke_api_key",
            vec![("id", Arg::Json(id))],
            Shape::Camel,
        )
    }

    /// The registered passport `passportId` (issued by an engine of this store, or seen when
    /// first verified) with its live `status` (`active`, `expired`, `revoked`,
    /// `revoked_ancestor`). Never the token or a key: its `tokenHash`. An id never registered
    /// throws `PASSPORT_UNKNOWN`.
    #[napi(ts_args_type = "passportId: string", ts_return_type = "PassportInfo")]
    pub fn get_passport<'e>(
        &self,
        env: &'e Env,
        passport_id: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "get_passport",
            vec![("passport_id", Arg::Json(passport_id))],
            Shape::Camel,
        )
    }

    /// One page of registered passports by id, filtered by `agent`, `parent`, `status` and
    /// `permission` (those whose permissions cover it): `{passports, nextCursor}`; pass
    /// `nextCursor` as `cursor` for the next page (null: no more). `limit` 1–1000 (default 100).
    #[napi(
        ts_args_type = "options?: { agent?: string; parent?: string; status?: PassportStatus; permission?: string; cursor?: string | null; limit?: number }",
        ts_return_type = "PassportPage"
    )]
    pub fn list_passports<'e>(
        &self,
        env: &'e Env,
        options: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "list_passports",
            vec![("options", Arg::Options(options))],
            Shape::CamelItems("passports"),
        )
    }

    /// The trusted issuers: `did`, `publicJwk`, `source` (`builder`, `policy` or `store`) and,
    /// for those trusted through the store, `notBefore`, `notAfter` and `trustedAt`.
    #[napi(ts_return_type = "IssuerInfo[]")]
    pub fn list_issuers<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        self.op(env, "list_issuers", vec![], Shape::FieldDeep("issuers"))
    }

    /// Trusts issuer `did` through the store (every engine sharing it honours it from its next
    /// decision), optionally only for passports whose root `iat` lies in `[notBefore,
    /// notAfter]` (epoch ms). Lifts an untrust. Attested as `issuer.trusted`.
    #[napi(
        ts_args_type = "did: string, options?: { notBefore?: number | null; notAfter?: number | null }",
        ts_return_type = "IssuerInfo"
    )]
    pub fn trust_issuer<'e>(
        &self,
        env: &'e Env,
        did: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "trust_issuer",
            vec![("did", Arg::Json(did)), ("options", Arg::Options(options))],
            Shape::Camel,
        )
    }

    /// Stops trusting issuer `did` on every engine sharing the store: a deny entry that wins
    /// over the builder's and the policy's issuers. Attested as `issuer.untrusted`. Returns
    /// `{did, was}` (where it was trusted from, or null).
    #[napi(
        ts_args_type = "did: string",
        ts_return_type = "{ did: string; was: IssuerSource | null }"
    )]
    pub fn untrust_issuer<'e>(
        &self,
        env: &'e Env,
        did: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "untrust_issuer",
            vec![("did", Arg::Json(did))],
            Shape::Camel,
        )
    }

    /// The trusted issuers (with their windows) and every revoked passport id, signed by this
    /// engine's key, for `importTrust` on another engine.
    #[napi(ts_return_type = "TrustDocument")]
    pub fn export_trust<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        self.op(env, "export_trust", vec![], Shape::AsIs)
    }

    /// Verifies `document` (from `exportTrust`) against `signer` (the did you expect; the
    /// document's own claim is not trusted) and merges it. A document that does not verify
    /// throws an `AttestationError` and imports nothing. Attested as `trust.imported`.
    #[napi(
        ts_args_type = "document: TrustDocument, signer: string",
        ts_return_type = "{ issuers: string[]; revoked: number; skipped: string[] }"
    )]
    pub fn import_trust<'e>(
        &self,
        env: &'e Env,
        document: Option<Unknown<'_>>,
        signer: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "import_trust",
            vec![
                ("document", Arg::Json(document)),
                ("signer", Arg::Json(signer)),
            ],
            Shape::Camel,
        )
    }

    /// Who the API key `secret` is, compared in constant time; a missing, malformed, unknown,
    /// revoked or expired key throws `UNAUTHENTICATED`.
    #[napi(ts_args_type = "secret: string", ts_return_type = "ApiKeyPrincipal")]
    pub fn authenticate_api_key<'e>(
        &self,
        env: &'e Env,
        secret: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "authenticate_api_key",
            vec![("secret", Arg::Json(secret))],
            Shape::Camel,
        )
    }

    /// Settles a hold: `actual` is a payload of the request's shape holding the real amounts
    /// (`{amount: 42}`); without it the reserved amounts are kept. `consume` (`{outcome,
    /// quantity?, delivered?, latency_ms?, permission?, pop?}`) also issues the call's
    /// consumption attestation (`consumption` in the result, or `consumptionError`).
    #[napi(
        ts_args_type = "holdId: string, actual?: JsonObject | null, consume?: JsonObject | null",
        ts_return_type = "HoldResult"
    )]
    pub fn settle<'e>(
        &self,
        env: &'e Env,
        hold_id: Option<Unknown<'_>>,
        actual: Option<Unknown<'_>>,
        consume: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "settle",
            vec![
                ("hold_id", Arg::Json(hold_id)),
                ("actual", Arg::Payload(actual)),
                ("consume", Arg::Json(consume)),
            ],
            Shape::Camel,
        )
    }

    /// Releases a hold: the counters give the reservation back.
    #[napi(ts_args_type = "holdId: string", ts_return_type = "HoldResult")]
    pub fn release<'e>(&self, env: &'e Env, hold_id: Option<Unknown<'_>>) -> Result<Unknown<'e>> {
        self.op(
            env,
            "release",
            vec![("hold_id", Arg::Json(hold_id))],
            Shape::Camel,
        )
    }

    /// Expires at most `limit` holds past their TTL (all that are due without it), settling each
    /// at its reserved amounts (only `concurrency` slots are freed); returns how many it expired.
    /// `enforce` expires at most 64 per call, once a second: call this from a timer (a background
    /// sweeper) when holds may go unsettled. A stored hold that cannot be read is skipped and never
    /// stalls the sweep.
    #[napi(ts_args_type = "limit?: number | null")]
    pub fn expire_holds(&self, env: &Env, limit: Option<Unknown<'_>>) -> Result<f64> {
        let v = self.run(env, "expire_holds", vec![("limit", Arg::Json(limit))])?;
        Ok(count(&v, "expired"))
    }

    /// Prunes at most `limit` attestation records due under the store's retention (all that are
    /// due without it), each chain's behind a checkpoint this engine signs, exporting them first
    /// to the store URL's `retention_export` file if set; also drops closed holds and approvals
    /// that can no longer matter. Returns how many records it pruned. SQLite and Redis stores are
    /// pruned only by this call: call it from a timer (like `expireHolds`).
    #[napi(ts_args_type = "limit?: number | null")]
    pub fn prune(&self, env: &Env, limit: Option<Unknown<'_>>) -> Result<f64> {
        let v = self.run(env, "prune", vec![("limit", Arg::Json(limit))])?;
        Ok(count(&v, "pruned"))
    }

    /// Writes the store's attestation records to the file `path` as JSONL (one record per line
    /// exactly as stored, each chain oldest first; `since`: epoch ms), with a chain's checkpoint
    /// line before its first record when that record follows one, so the file verifies offline.
    /// Returns the number of records written.
    #[napi(ts_args_type = "path: string, options?: { since?: number | null } | null")]
    pub fn export_attestations(
        &self,
        env: &Env,
        path: Option<Unknown<'_>>,
        options: Option<Unknown<'_>>,
    ) -> Result<f64> {
        let v = self.run(
            env,
            "export_attestations",
            vec![
                ("path", Arg::Json(path)),
                ("options", Arg::Options(options)),
            ],
        )?;
        Ok(count(&v, "exported"))
    }

    /// Verifies an export file (from `exportAttestations` or a `retention_export` sink) followed
    /// by what this store still holds: every record's hash and signature (signers among
    /// `trustedSigners`), each chain continuous from seq 1 or a trusted checkpoint. Returns
    /// `{records, duplicates, chains}`; throws (`ATTESTATION_*`, `CHAIN_*`) otherwise.
    #[napi(
        ts_args_type = "path: string, trustedSigners: string[]",
        ts_return_type = "{ records: number; duplicates: number; chains: Array<{ chain: string; signer: string; records: number; first_seq: number; last_seq: number }> }"
    )]
    pub fn verify_export<'e>(
        &self,
        env: &'e Env,
        path: Option<Unknown<'_>>,
        trusted_signers: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "verify_export",
            vec![
                ("path", Arg::Json(path)),
                ("trusted_signers", Arg::Json(trusted_signers)),
            ],
            Shape::AsIs,
        )
    }

    /// Approves the escalated evaluation `evaluationId` as `approver`; returns the approval token
    /// the agent retries with (it admits exactly that request, once, before `ttl`: seconds, or a
    /// duration such as `"15m"`).
    #[napi(ts_args_type = "evaluationId: string, approver: string, ttl?: number | string | null")]
    pub fn approve(
        &self,
        env: &Env,
        evaluation_id: Option<Unknown<'_>>,
        approver: Option<Unknown<'_>>,
        ttl: Option<Unknown<'_>>,
    ) -> Result<String> {
        let v = self.run(
            env,
            "approve",
            vec![
                ("evaluation_id", Arg::Json(evaluation_id)),
                ("approver", Arg::Json(approver)),
                ("ttl", Arg::Json(ttl)),
            ],
        )?;
        Ok(v.get("approval")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string())
    }

    /// Denies the escalated evaluation `evaluationId`, recording who and why.
    #[napi(
        ts_args_type = "evaluationId: string, approver: string, reason?: string | null",
        ts_return_type = "JsonObject"
    )]
    pub fn deny_approval<'e>(
        &self,
        env: &'e Env,
        evaluation_id: Option<Unknown<'_>>,
        approver: Option<Unknown<'_>>,
        reason: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "deny_approval",
            vec![
                ("evaluation_id", Arg::Json(evaluation_id)),
                ("approver", Arg::Json(approver)),
                ("reason", Arg::Json(reason)),
            ],
            Shape::Camel,
        )
    }

    /// The gates `passport` may call under the current policy (without one: the gates open to
    /// anonymous callers).
    #[napi(
        ts_args_type = "passport?: string | IssuedPassport | null",
        ts_return_type = "string[]"
    )]
    pub fn allowed_gates<'e>(
        &self,
        env: &'e Env,
        passport: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "allowed_gates",
            vec![("passport", Arg::Token(passport))],
            Shape::Field("gates"),
        )
    }

    /// The log of anonymous (passport-less) decisions, filtered as `attestations`.
    #[napi(
        ts_args_type = "filter?: AttestationFilter | null",
        ts_return_type = "AttestationRecord[]"
    )]
    pub fn anonymous_log<'e>(
        &self,
        env: &'e Env,
        filter: Option<Unknown<'_>>,
    ) -> Result<Unknown<'e>> {
        self.op(
            env,
            "anonymous_log",
            vec![("filter", Arg::Options(filter))],
            Shape::Field("attestations"),
        )
    }
}

impl Engine {
    fn build(env: &Env, options: Option<Unknown<'_>>) -> Result<Self> {
        let o = Options::read(options, "Engine", ENGINE_OPTIONS)?;
        let mut b = passgate::Engine::builder();
        if let Some(p) = o.get("policy") {
            b = b.policy(load_policy(p)?);
        }
        if let Some(t) = o.get("trustedIssuers") {
            b = b.trusted_issuers(options::dids(t)?);
        }
        if let Some(k) = o.get("signingKey") {
            b = b.signing_key(options::issuer(k)?.key().clone());
        }
        if let Some(url) = o.str("store")? {
            b = b.store_url(&url);
        }
        if let Some(l) = o.int("leewaySecs")? {
            b = b.leeway_secs(l);
        }
        if let Some(l) = o.int("popLeewaySecs")? {
            b = b.pop_leeway_secs(l);
        }
        if let Some(f) = o.int("platformFeeBps")? {
            b = b.platform_fee_bps(u64::try_from(f).map_err(|_| {
                error::argument(
                    "/platformFeeBps",
                    "Engine: platformFeeBps must be an integer from 0 to 10000",
                )
            })?);
        }
        let signing = o.str("signing")?;
        let count = |name: &str| -> Result<Option<u64>> {
            o.int(name)?
                .map(|v| {
                    u64::try_from(v).map_err(|_| {
                        error::argument(
                            format!("/{name}"),
                            format!("Engine: {name} must be a non-negative integer"),
                        )
                    })
                })
                .transpose()
        };
        let every = count("checkpointEvery")?;
        let interval_ms = count("checkpointIntervalMs")?;
        if signing.is_some() || every.is_some() || interval_ms.is_some() {
            b = b.signing(
                passgate::Signing::parse(signing.as_deref().unwrap_or("each"), every, interval_ms)
                    .js()?,
            );
        }
        let clock = match o.get("clock") {
            None => None,
            Some(f) => {
                if f.get_type().napi()? != ValueType::Function {
                    return Err(error::argument(
                        "/clock",
                        "Engine: clock must be a function returning milliseconds since the epoch",
                    ));
                }
                let f = Function::<(), f64>::from_unknown(f).napi()?;
                let host = HostClock {
                    read: f.create_ref().napi()?,
                    time: ManualClock::new(0),
                };
                host.tick(env)?;
                b = b.clock(Arc::new(host.time.clone()));
                Some(host)
            }
        };
        Ok(Engine {
            inner: Arc::new(b.build().js()?),
            clock,
        })
    }
}

fn load_policy(v: Unknown<'_>) -> Result<passgate::Policy> {
    match v.get_type().napi()? {
        ValueType::String => {
            let s = convert::js_string(v, "policy")?;
            passgate::Policy::load(&s).js()
        }
        ValueType::Object => {
            let doc = convert::to_json(v, Kind::Policy, "policy")?;
            passgate::seam::policy(&doc).js()
        }
        other => Err(error::core(passgate::Error::policy(
            "/",
            format!("a policy must be an object or a string, not {other}"),
        ))),
    }
}
