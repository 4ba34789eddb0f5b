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

/// passgate's own MCP tools: `[{name, description, inputSchema}]`.
#[napi(ts_return_type = "McpTool[]")]
pub fn mcp_tools(env: &Env) -> Result<Unknown<'_>> {
    convert::to_js(env, &passgate::mcp::tools())
}

/// Answers one JSON-RPC 2.0 message (or batch) as text: `initialize`, `ping`, `tools/list`,
/// `tools/call` on passgate's tools. Returns `null` when there is nothing to answer (a
/// notification). `issuer` (an `Issuer` or its secret), if given, lets `issue_passport` issue;
/// without it that tool answers with an error result. A bad message is not thrown: protocol
/// faults are JSON-RPC errors, engine errors and denies are `isError: true` tool results. Throws
/// (`INVALID_ARGUMENT`) only when the arguments are not an `Engine`, a string and an issuer.
#[napi(ts_args_type = "engine: Engine, message: string, issuer?: Issuer | string | null")]
pub fn mcp_handle(
    engine: Unknown<'_>,
    message: Unknown<'_>,
    issuer: Option<Unknown<'_>>,
) -> Result<Option<String>> {
    let (engine, message, issuer) = read(engine, message, issuer, "mcpHandle")?;
    Ok(passgate::mcp::handle(&engine, issuer.as_ref(), &message))
}

/// `mcpHandle` on the libuv thread pool: the event loop is free while the store works.
#[napi(
    ts_args_type = "engine: Engine, message: string, issuer?: Issuer | string | null",
    ts_return_type = "Promise<string | null>"
)]
pub fn mcp_handle_async(
    engine: Unknown<'_>,
    message: Unknown<'_>,
    issuer: Option<Unknown<'_>>,
) -> Result<AsyncTask<Handle>> {
    let (engine, message, issuer) = read(engine, message, issuer, "mcpHandleAsync")?;
    Ok(AsyncTask::new(Handle {
        engine,
        issuer,
        message,
    }))
}

type Args = (Arc<passgate::Engine>, String, Option<passgate::Issuer>);

fn read(
    engine: Unknown<'_>,
    message: Unknown<'_>,
    issuer: Option<Unknown<'_>>,
    what: &str,
) -> Result<Args> {
    let engine = ClassInstance::<Engine>::from_unknown(engine)
        .map_err(|_| invalid(format!("{what}: engine must be an Engine")))?
        .inner
        .clone();
    if message.get_type().napi()? != ValueType::String {
        return Err(invalid(format!("{what}: message must be a JSON string")));
    }
    let message = String::from_unknown(message).napi()?;
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
    message: String,
}

impl Task for Handle {
    type Output = Option<String>;
    type JsValue = Option<String>;

    fn compute(&mut self) -> napi::Result<Option<String>> {
        Ok(passgate::mcp::handle(
            &self.engine,
            self.issuer.as_ref(),
            &self.message,
        ))
    }

    fn resolve(&mut self, _env: Env, output: Option<String>) -> napi::Result<Option<String>> {
        Ok(output)
    }
}
