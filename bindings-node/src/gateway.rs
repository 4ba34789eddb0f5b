//! `Gateway`: the core's HTTP gateway (`passgate::gateway`) for `passgate/gateway` (gateway.js),
//! which adapts it to Node's `http` and Express. Thin: the request and the response are copied
//! across, and `handle` answers on the libuv pool (a `tools/call` may touch the store).

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, ClassInstance, Env, FromNapiValue, Unknown};
use napi::Task;
use napi_derive::napi;

use crate::engine::Engine;
use crate::error::{invalid, raise, NapiResult, Result};
use crate::options;

/// How a [`Gateway`] admits requests (every field optional).
#[napi(object)]
pub struct GatewayOptions {
    /// Origins a browser request may come from (`scheme://host[:port]`); empty: no check.
    pub allowed_origins: Option<Vec<String>>,
    /// The public URL of the MCP endpoint (the protected-resource metadata's `resource`).
    pub resource: Option<String>,
    /// The authorization servers that issue bearers for this resource.
    pub authorization_servers: Option<Vec<String>>,
    /// Whether a request with no credential is served, as an anonymous agent (default false).
    pub allow_anonymous: Option<bool>,
    /// The MCP endpoint's path (default `/mcp`).
    pub mcp_path: Option<String>,
    /// Largest request body in bytes (default 1 MiB).
    pub max_body_bytes: Option<u32>,
    /// Sessions remembered (default 10,000).
    pub max_sessions: Option<u32>,
    /// Start from the `PASSGATE_MCP_*` environment variables.
    pub from_env: Option<bool>,
}

/// The response to write: status, headers as `[name, value]` pairs (lowercase names), body.
#[napi(object)]
pub struct GatewayResponse {
    /// The status code.
    pub status: u32,
    /// `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    /// The body (empty for 202 and 204).
    #[napi(ts_type = "Uint8Array")]
    pub body: Buffer,
}

/// passgate's MCP endpoint over Streamable HTTP in front of an engine (see `passgate/gateway`).
#[napi]
pub struct Gateway {
    inner: Arc<passgate::gateway::Gateway>,
}

#[napi]
impl Gateway {
    /// A gateway in front of `engine`; `issuer` (an `Issuer` or its secret), if given, lets the
    /// operator's `issue_passport` issue. Throws `INVALID_ARGUMENT` for a malformed origin or URL.
    #[napi(
        constructor,
        ts_args_type = "engine: Engine, options?: GatewayOptions | null, issuer?: Issuer | string | null"
    )]
    pub fn new(
        env: Env,
        engine: Unknown<'_>,
        options: Option<GatewayOptions>,
        issuer: Option<Unknown<'_>>,
    ) -> Result<Self> {
        Self::build(engine, options, issuer).map_err(|e| raise(&env, e))
    }

    /// Answers one HTTP request on the libuv pool: `method`, `path` (a query string is
    /// ignored), `headers` as `[name, value]` pairs, `body` (a Buffer). Never rejects for a bad
    /// request: every fault is a status code.
    #[napi(
        ts_args_type = "method: string, path: string, headers: [string, string][], body: Uint8Array",
        ts_return_type = "Promise<GatewayResponse>"
    )]
    pub fn handle(
        &self,
        method: String,
        path: String,
        headers: Vec<Vec<String>>,
        body: Buffer,
    ) -> Result<AsyncTask<Handle>> {
        let mut pairs = Vec::with_capacity(headers.len());
        for h in headers {
            let mut it = h.into_iter();
            match (it.next(), it.next(), it.next()) {
                (Some(k), Some(v), None) => pairs.push((k, v)),
                _ => return Err(invalid("headers must be [name, value] pairs")),
            }
        }
        Ok(AsyncTask::new(Handle {
            gateway: Arc::clone(&self.inner),
            request: Some(passgate::gateway::HttpRequest {
                method,
                path,
                headers: pairs,
                body: body.to_vec(),
            }),
        }))
    }

    /// The largest request body accepted, in bytes.
    #[napi(getter)]
    pub fn max_body_bytes(&self) -> u32 {
        u32::try_from(self.inner.config().max_body_bytes).unwrap_or(u32::MAX)
    }

    /// The MCP endpoint's path (`/mcp` by default).
    #[napi(getter)]
    pub fn mcp_path(&self) -> String {
        self.inner.config().mcp_path.clone()
    }

    /// The number of MCP sessions remembered.
    #[napi(getter)]
    pub fn session_count(&self) -> u32 {
        u32::try_from(self.inner.session_count()).unwrap_or(u32::MAX)
    }
}

impl Gateway {
    fn build(
        engine: Unknown<'_>,
        options: Option<GatewayOptions>,
        issuer: Option<Unknown<'_>>,
    ) -> Result<Self> {
        let engine = ClassInstance::<Engine>::from_unknown(engine)
            .map_err(|_| invalid("Gateway: engine must be an Engine"))?;
        let engine = engine.inner.clone();
        let o = options.unwrap_or(GatewayOptions {
            allowed_origins: None,
            resource: None,
            authorization_servers: None,
            allow_anonymous: None,
            mcp_path: None,
            max_body_bytes: None,
            max_sessions: None,
            from_env: None,
        });
        let mut config = if o.from_env.unwrap_or(false) {
            passgate::gateway::GatewayConfig::from_env()
        } else {
            passgate::gateway::GatewayConfig::default()
        };
        if let Some(v) = o.allowed_origins {
            config.allowed_origins = v;
        }
        if o.resource.is_some() {
            config.resource = o.resource;
        }
        if let Some(v) = o.authorization_servers {
            config.authorization_servers = v;
        }
        if let Some(v) = o.allow_anonymous {
            config.allow_anonymous = v;
        }
        if let Some(v) = o.mcp_path {
            config.mcp_path = v;
        }
        if let Some(v) = o.max_body_bytes {
            config.max_body_bytes = v as usize;
        }
        if let Some(v) = o.max_sessions {
            config.max_sessions = v as usize;
        }
        let mut gateway =
            passgate::gateway::Gateway::new(engine, config).map_err(crate::error::core)?;
        if let Some(i) = issuer {
            if !matches!(
                i.get_type().napi()?,
                napi::ValueType::Undefined | napi::ValueType::Null
            ) {
                gateway = gateway.issuer(options::issuer(i)?);
            }
        }
        Ok(Gateway {
            inner: Arc::new(gateway),
        })
    }
}

/// The task behind `Gateway.handle`.
pub struct Handle {
    gateway: Arc<passgate::gateway::Gateway>,
    request: Option<passgate::gateway::HttpRequest>,
}

impl Task for Handle {
    type Output = passgate::gateway::HttpResponse;
    type JsValue = GatewayResponse;

    fn compute(&mut self) -> napi::Result<passgate::gateway::HttpResponse> {
        let req = self.request.take().unwrap_or_default();
        Ok(self.gateway.handle(&req))
    }

    fn resolve(
        &mut self,
        _env: Env,
        out: passgate::gateway::HttpResponse,
    ) -> napi::Result<GatewayResponse> {
        Ok(GatewayResponse {
            status: u32::from(out.status),
            headers: out.headers.into_iter().map(|(k, v)| vec![k, v]).collect(),
            body: out.body.into(),
        })
    }
}
