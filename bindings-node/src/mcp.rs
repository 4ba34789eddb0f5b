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
            _ => return Err(invalid("a client key was given for the operator role")),
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

/// One step of the MCP guard (`passgate::mcp::guard::call`): `inputs`, `trace`, `outcome`,
/// `error` or `internal`, its arguments a JSON object (snake_case keys), its result JSON.
#[napi(
    ts_args_type = "step: 'inputs' | 'trace' | 'outcome' | 'error' | 'internal', args: JsonObject",
    ts_return_type = "JsonValue"
)]
pub fn mcp_guard<'e>(env: &'e Env, step: Unknown<'_>, args: Unknown<'_>) -> Result<Unknown<'e>> {
    let go = || {
        let step = convert::js_string(step, "step")?;
        let args = convert::to_json(args, convert::Kind::Argument, "args")?;
        let out = passgate::mcp::guard::call(&step, &args).map_err(crate::error::core)?;
        convert::to_js(env, &out)
    };
    go().map_err(|e| crate::error::raise(env, e))
}
