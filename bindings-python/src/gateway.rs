//! `passgate._native.Gateway`: the core's HTTP gateway (`passgate::gateway`), for the ASGI adapter
//! (`passgate.gateway.asgi_app`). Thin: it converts the request and the response, and releases the
//! GIL while the core answers.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::engine::PyEngine;
use crate::errors::OrRaise;
use crate::passport::PyIssuer;

/// `(status, headers, body)`, as `Gateway.handle` returns it.
type Answer<'py> = (u16, Vec<(String, String)>, Bound<'py, PyBytes>);

/// The MCP endpoint over Streamable HTTP in front of an engine: `handle(method, path, headers,
/// body)` → `(status, headers, body)`. Admission (Origin allow-list, bearer passport or API key,
/// Accept / Content-Type), JSON-RPC framing (batches refused, 202 for notifications), sessions
/// and the gateway's trace fields are the core's. Configuration: `allowed_origins` (empty: no
/// check), `resource` (the endpoint's public URL), `authorization_servers`, `allow_anonymous`,
/// `mcp_path` (default "/mcp"), `max_body_bytes` (default 1 MiB), `max_sessions` (default
/// 10,000); `from_env=True` starts from the `PASSGATE_MCP_*` environment variables.
#[pyclass(frozen, module = "passgate", name = "Gateway")]
pub(crate) struct PyGateway {
    inner: passgate::gateway::Gateway,
}

#[pymethods]
impl PyGateway {
    #[new]
    #[pyo3(signature = (engine, *, issuer=None, allowed_origins=None, resource=None,
        authorization_servers=None, allow_anonymous=None, mcp_path=None, max_body_bytes=None,
        max_sessions=None, from_env=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        engine: &Bound<'_, PyEngine>,
        issuer: Option<&Bound<'_, PyIssuer>>,
        allowed_origins: Option<Vec<String>>,
        resource: Option<String>,
        authorization_servers: Option<Vec<String>>,
        allow_anonymous: Option<bool>,
        mcp_path: Option<String>,
        max_body_bytes: Option<usize>,
        max_sessions: Option<usize>,
        from_env: bool,
    ) -> PyResult<Self> {
        let mut config = if from_env {
            passgate::gateway::GatewayConfig::from_env()
        } else {
            passgate::gateway::GatewayConfig::default()
        };
        if let Some(v) = allowed_origins {
            config.allowed_origins = v;
        }
        if resource.is_some() {
            config.resource = resource;
        }
        if let Some(v) = authorization_servers {
            config.authorization_servers = v;
        }
        if let Some(v) = allow_anonymous {
            config.allow_anonymous = v;
        }
        if let Some(v) = mcp_path {
            config.mcp_path = v;
        }
        if let Some(v) = max_body_bytes {
            config.max_body_bytes = v;
        }
        if let Some(v) = max_sessions {
            config.max_sessions = v;
        }
        let engine = Arc::clone(engine.get().shared());
        let mut gateway = passgate::gateway::Gateway::new(engine, config).or_raise(py)?;
        if let Some(i) = issuer {
            gateway = gateway.issuer(i.get().inner.clone());
        }
        Ok(PyGateway { inner: gateway })
    }

    /// Answers one HTTP request: `method` ("POST", …), `path` ("/mcp"; a query string is
    /// ignored), `headers` (a list of `(name, value)` str pairs, repeated names repeated),
    /// `body` (bytes). Returns `(status, headers, body)` with lowercase header names. Never
    /// raises for a bad request (every fault is a status code); runs with the GIL released.
    fn handle<'py>(
        &self,
        py: Python<'py>,
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> PyResult<Answer<'py>> {
        let req = passgate::gateway::HttpRequest {
            method,
            path,
            headers,
            body,
        };
        let resp = py.detach(|| self.inner.handle(&req));
        Ok((resp.status, resp.headers, PyBytes::new(py, &resp.body)))
    }

    /// The largest request body accepted, in bytes.
    #[getter]
    fn max_body_bytes(&self) -> usize {
        self.inner.config().max_body_bytes
    }

    /// The number of MCP sessions remembered.
    #[getter]
    fn session_count(&self) -> usize {
        self.inner.session_count()
    }

    fn __repr__(&self) -> String {
        format!("Gateway(mcp_path={:?})", self.inner.config().mcp_path)
    }
}
