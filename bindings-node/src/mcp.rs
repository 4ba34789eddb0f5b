//! MCP: passgate's tool catalogue and its transport-free JSON-RPC handler (`passgate::mcp`), for
//! `passgate/mcp` (mcp.js) to mount on any transport. `mcpHandleAsync` answers on the libuv pool,
//! like `enforceAsync`: a `tools/call` may touch the store.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, ClassInstance, Env, FromNapiValue, Unknown};
use napi::{Task, ValueType};
use napi_derive::napi;

use crate::convert;
use crate::engine::Engine;
use crate::error::{invalid, NapiResult, Result};
use crate::options;

/// passgate's own MCP tools for a role (`'agent'`, the default: the agent tools only;
/// `'operator'`: every tool): `[{name, title, description, inputSchema, annotations, outputSchema?}]`.
#[napi(
    ts_args_type = "role?: 'agent' | 'operator'",
    ts_return_type = "McpTool[]"
)]
pub fn mcp_tools(env: &Env, role: Option<String>) -> Result<Unknown<'_>> {
    let role = passgate::mcp::Role::parse(role.as_deref().unwrap_or("agent"))
        .map_err(crate::error::core)?;
    convert::to_js(env, &passgate::mcp::tools(role))
}

/// Who calls [`mcp_handle`]: the role and what the host's transport established for it.
#[napi(object)]
pub struct McpCaller {
    /// `'agent'` (the default) or `'operator'`.
    pub role: Option<String>,
    /// Agent: the passport this connection was given (used when a call gives none).
    pub passport: Option<String>,
    /// Agent: the host's key for an anonymous caller (the agent cannot choose it).
    pub client: Option<String>,
    /// Operator: its name, recorded as the approver (default `'operator'`).
    pub operator: Option<String>,
}

fn caller(c: Option<McpCaller>) -> Result<passgate::mcp::Caller> {
    let c = c.unwrap_or(McpCaller {
        role: None,
        passport: None,
        client: None,
        operator: None,
    });
    let mut caller =
        passgate::mcp::Caller::parse(c.role.as_deref().unwrap_or("agent"), c.passport, c.operator)
            .map_err(crate::error::core)?;
    if let Some(key) = c.client {
        match &mut caller {
            passgate::mcp::Caller::Agent { client, .. } => *client = Some(key),
            passgate::mcp::Caller::Operator { .. } => {
                return Err(invalid("a client key was given for the operator role"))
            }
        }
    }
    Ok(caller)
}

/// Answers one JSON-RPC 2.0 message as text: `initialize`, `ping`, `tools/list`, `tools/call`
/// on passgate's tools, as `caller` may see and call them. Returns `null` when there is nothing
/// to answer (a notification, a response). `issuer` (an `Issuer` or its secret), if given, lets
/// the operator's `issue_passport` issue. A bad message is not thrown: protocol faults are
/// JSON-RPC errors, refusals and engine errors are `isError: true` tool results. Throws
/// (`INVALID_ARGUMENT`) only when the arguments are not an `Engine`, a string, an issuer and a
/// caller.
#[napi(
    ts_args_type = "engine: Engine, message: string, issuer?: Issuer | string | null, caller?: McpCaller | null"
)]
pub fn mcp_handle(
    env: &Env,
    engine: Unknown<'_>,
    message: Unknown<'_>,
    issuer: Option<Unknown<'_>>,
    caller_: Option<McpCaller>,
) -> Result<Option<String>> {
    let (engine, message, issuer) = read(env, engine, message, issuer, "mcpHandle")?;
    let caller = caller(caller_)?;
    Ok(passgate::mcp::handle(
        &engine,
        &caller,
        issuer.as_ref(),
        &message,
    ))
}

/// `mcpHandle` on the libuv thread pool: the event loop is free while the store works.
#[napi(
    ts_args_type = "engine: Engine, message: string, issuer?: Issuer | string | null, caller?: McpCaller | null",
    ts_return_type = "Promise<string | null>"
)]
pub fn mcp_handle_async(
    env: &Env,
    engine: Unknown<'_>,
    message: Unknown<'_>,
    issuer: Option<Unknown<'_>>,
    caller_: Option<McpCaller>,
) -> Result<AsyncTask<Handle>> {
    let (engine, message, issuer) = read(env, engine, message, issuer, "mcpHandleAsync")?;
    let caller = caller(caller_)?;
    Ok(AsyncTask::new(Handle {
        engine,
        issuer,
        caller,
        message,
    }))
}

type Args = (Arc<passgate::Engine>, String, Option<passgate::Issuer>);

fn read(
    env: &Env,
    engine: Unknown<'_>,
    message: Unknown<'_>,
    issuer: Option<Unknown<'_>>,
    what: &str,
) -> Result<Args> {
    let engine = ClassInstance::<Engine>::from_unknown(engine)
        .map_err(|_| invalid(format!("{what}: engine must be an Engine")))?;
    if message.get_type().napi()? != ValueType::String {
        return Err(invalid(format!("{what}: message must be a JSON string")));
    }
    let message = crate::convert::js_string(message, "message")?;
    // The engine's host clock, if any, is read once per call like every engine method's.
    engine.tick(env)?;
    let engine = engine.inner.clone();
    let issuer = match issuer {
        None => None,
        Some(i) => match i.get_type().napi()? {
            ValueType::Undefined | ValueType::Null => None,
            _ => Some(options::issuer(i)?),
        },
    };
    Ok((engine, message, issuer))
}

/// The task behind `mcpHandleAsync`.
pub struct Handle {
    engine: Arc<passgate::Engine>,
    issuer: Option<passgate::Issuer>,
    caller: passgate::mcp::Caller,
    message: String,
}

impl Task for Handle {
    type Output = Option<String>;
    type JsValue = Option<String>;

    fn compute(&mut self) -> napi::Result<Option<String>> {
        Ok(passgate::mcp::handle(
            &self.engine,
            &self.caller,
            self.issuer.as_ref(),
            &self.message,
        ))
    }

    fn resolve(&mut self, _env: Env, output: Option<String>) -> napi::Result<Option<String>> {
        Ok(output)
    }
}

// ---- The guard's JSON (`guard` in mcp.js), built by the core (`passgate::mcp::guard`) so the
// ---- Python and Node guards answer alike: mcp.js keeps only the SDK glue.

/// A JS value as JSON; `undefined` is absent, `null` is JSON `null`.
fn given(v: Unknown<'_>, name: &str) -> Result<Option<serde_json::Value>> {
    match v.get_type().napi()? {
        ValueType::Undefined => Ok(None),
        _ => convert::to_json(v, convert::Kind::Argument, name).map(Some),
    }
}

/// The inputs of a guarded call: `meta` (the request's `_meta`: its `passgate/*` keys), the
/// guard's added arguments, and — when the host gave a passport callback — its result
/// (`undefined`: no callback, read `_meta`). Returns `{passport, approval, idempotency_key}`;
/// throws `INVALID_ARGUMENT` when one is not a string or the two routes disagree.
#[napi(
    ts_args_type = "meta: JsonValue | undefined, approvalArgument: unknown, idempotencyArgument: unknown, callbackPassport?: unknown",
    ts_return_type = "{ passport: string | null; approval: string | null; idempotency_key: string | null }"
)]
pub fn mcp_guard_inputs<'e>(
    env: &'e Env,
    meta: Unknown<'_>,
    approval_argument: Unknown<'_>,
    idempotency_argument: Unknown<'_>,
    callback_passport: Unknown<'_>,
) -> Result<Unknown<'e>> {
    let go = || {
        let meta = given(meta, "meta")?.unwrap_or(serde_json::Value::Null);
        let approval = given(approval_argument, "approval")?;
        let key = given(idempotency_argument, "idempotency_key")?;
        let passport = given(callback_passport, "passport")?;
        let inputs =
            passgate::mcp::guard::inputs(&meta, passport.as_ref(), approval.as_ref(), key.as_ref())
                .map_err(|e| {
                    // The guard's error JSON carries what was wrong, without the code's prefix.
                    let message = match &e {
                        passgate::Error::InvalidArgument(m) => m.clone(),
                        other => other.detail(),
                    };
                    let mut out = crate::error::core(e);
                    out.reason = message;
                    out
                })?;
        convert::to_js(env, &inputs.to_json())
    };
    go().map_err(|e| crate::error::raise(env, e))
}

/// What the attestation records of an MCP call: `{mcp_request_id?, mcp_session_id?}`, or
/// `null` when neither is known.
#[napi(
    ts_args_type = "requestId: unknown, sessionId: unknown",
    ts_return_type = "JsonObject | null"
)]
pub fn mcp_guard_trace<'e>(
    env: &'e Env,
    request_id: Unknown<'_>,
    session_id: Unknown<'_>,
) -> Result<Unknown<'e>> {
    let id = match request_id.get_type().napi()? {
        ValueType::String | ValueType::Number => given(request_id, "requestId")?,
        _ => None,
    };
    let session = match session_id.get_type().napi()? {
        ValueType::String => Some(convert::js_string(session_id, "sessionId")?),
        _ => None,
    };
    let trace = passgate::mcp::guard::trace(id.as_ref(), session.as_deref());
    convert::to_js(env, &trace.unwrap_or(serde_json::Value::Null))
}

/// What the guard answers for `decision`: `null` when the tool may run; otherwise the JSON of
/// the tool error result (a deny's or escalation's refusal, or a replayed allow's
/// `IDEMPOTENCY_CONFLICT` error).
#[napi(
    ts_args_type = "decision: Decision, idempotencyKey?: string | null",
    ts_return_type = "JsonObject | null"
)]
pub fn mcp_guard_outcome<'e>(
    env: &'e Env,
    decision: Unknown<'_>,
    idempotency_key: Option<Unknown<'_>>,
) -> Result<Unknown<'e>> {
    let go = || {
        // The decision's own keys back to its wire JSON's (`evaluationId` -> `evaluation_id`).
        let wire = match convert::to_json(decision, convert::Kind::Argument, "decision")? {
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.into_iter()
                    .map(|(k, v)| Ok((convert::snake(&k, "decision")?, v)))
                    .collect::<Result<_>>()?,
            ),
            _ => return Err(invalid("decision must be a decision object")),
        };
        let key = match idempotency_key {
            Some(k) if k.get_type().napi()? == ValueType::String => {
                Some(convert::js_string(k, "idempotencyKey")?)
            }
            _ => None,
        };
        let out = passgate::mcp::guard::outcome(&wire, key.as_deref());
        convert::to_js(env, &out.unwrap_or(serde_json::Value::Null))
    };
    go().map_err(|e| crate::error::raise(env, e))
}

/// The error JSON of a guard failure: `{error: {code, message}}`; with no `code`, the
/// `INTERNAL` error of a failure that is not passgate's own, naming only `message` (its type).
#[napi(
    ts_args_type = "code: string | null, message: string",
    ts_return_type = "{ error: { code: string; message: string } }"
)]
pub fn mcp_guard_error<'e>(
    env: &'e Env,
    code: Option<Unknown<'_>>,
    message: Unknown<'_>,
) -> Result<Unknown<'e>> {
    let go = || {
        let message = convert::js_string(message, "message")?;
        let v = match code {
            Some(c) => passgate::mcp::guard::error(&convert::js_string(c, "code")?, &message),
            None => passgate::mcp::guard::internal(&message),
        };
        convert::to_js(env, &v)
    };
    go().map_err(|e| crate::error::raise(env, e))
}
