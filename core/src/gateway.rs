//! The MCP endpoint over Streamable HTTP, as a framework-free function: [`Gateway::handle`] turns
//! an [`HttpRequest`] (method, path, headers, body) into an [`HttpResponse`]. A host mounts it on
//! any HTTP server (the Python ASGI and Node `http` adapters are a few lines each).
//!
//! A `POST /mcp` goes through, in order:
//! 1. **Origin**: when [`GatewayConfig::allowed_origins`] is not empty, a request whose `Origin`
//!    header is present and not on the list is refused with 403 (DNS rebinding: a web page the
//!    user visits must not reach a local server).
//! 2. **Size**: a body over [`GatewayConfig::max_body_bytes`] is refused with 413.
//! 3. **Authentication** (a notification or a response is exempt: it does nothing here):
//!    `Authorization: Bearer <passport>` makes the caller the agent holding that passport, once
//!    the engine has verified it (signature, validity, trusted issuer, delegation, revocation);
//!    an API key (`pgk_…`, as the bearer or in `x-api-key`) makes the caller that key
//!    ([`Caller::Key`]: the tools of its scopes).
//!    No credential is allowed only with [`GatewayConfig::allow_anonymous`]. A missing or bad
//!    credential is a 401 whose `WWW-Authenticate` points at the protected-resource metadata.
//! 4. **Accept / Content-Type**: the client must accept `application/json` and
//!    `text/event-stream` (406 otherwise; a missing `Accept` accepts anything) and send
//!    `application/json` (415 otherwise).
//! 5. **JSON-RPC**: a batch is refused (`-32600`, HTTP 400), a parse error is `-32700` (HTTP 400);
//!    a notification or a response gets 202 with an empty body.
//! 6. **Session**: `initialize` opens a session (a random `Mcp-Session-Id`, returned in the
//!    response header) and keeps the client's name (`params.clientInfo.name`); a later request
//!    may carry the id (an id this gateway did not issue to the same credential, or has
//!    forgotten, is a 404: the client opens a new session). Sessions are kept in a bounded LRU
//!    map ([`GatewayConfig::max_sessions`]), at most [`MAX_SESSIONS_PER_CREDENTIAL`] per credential.
//! 7. **Trace**: `gateway: "passgate"`, `gateway_jsonrpc_id`, `gateway_request_id` (a sane
//!    `X-Request-Id`, else a generated one), `mcp_session_id` and `mcp_client_name` are merged
//!    into the `trace` of every tool call that takes one ([`crate::mcp::handle_with`]); the
//!    caller's own trace fields of those names are overwritten. The trace is recorded in the
//!    attestation and is not part of the idempotency fingerprint.
//!
//! `GET /.well-known/oauth-protected-resource` (RFC 9728) answers the metadata; `GET /mcp` is 405
//! (this server opens no SSE stream); `DELETE /mcp` with a session ends it (204).
//!
//! ```
//! use std::sync::Arc;
//! use passgate::gateway::{Gateway, GatewayConfig, HttpRequest};
//! use passgate::Engine;
//! let engine = Engine::builder().policy_json(r#"{"version": 1, "gates": {}}"#).build().unwrap();
//! let config = GatewayConfig { allow_anonymous: true, ..GatewayConfig::default() };
//! let gateway = Gateway::new(Arc::new(engine), config).unwrap();
//! let response = gateway.handle(&HttpRequest {
//!     method: "POST".into(),
//!     path: "/mcp".into(),
//!     headers: vec![("content-type".into(), "application/json".into())],
//!     body: br#"{"jsonrpc": "2.0", "id": 1, "method": "ping"}"#.to_vec(),
//! });
//! assert_eq!(response.status, 200);
//! assert_eq!(response.body, br#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
//! ```

use std::num::NonZeroUsize;
use std::sync::Arc;

use lru::LruCache;
use parking_lot::Mutex;
use serde_json::{json, Map, Value};

use crate::apikey;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::json::{self, Limits};
use crate::mcp::{self, Caller, Context};
use crate::passport::Issuer;

/// The owner of the sessions anonymous callers open.
const ANONYMOUS: &str = "anonymous";

/// The metadata document's path (RFC 9728).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// Longest client name kept per session, in characters.
const MAX_CLIENT_NAME: usize = 256;
/// Longest `X-Request-Id` taken as is.
const MAX_REQUEST_ID: usize = 128;
/// Sessions one credential keeps open (its least recently used is forgotten first): one agent
/// opening sessions in a loop must not push everyone else's out of the shared map. Anonymous
/// callers share one credential and are bounded by `max_sessions` only.
pub const MAX_SESSIONS_PER_CREDENTIAL: usize = 64;

/// How the gateway admits requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Origins (`scheme://host[:port]`) a browser request may come from; empty: no check. A
    /// request with no `Origin` header (not a browser) is not checked.
    pub allowed_origins: Vec<String>,
    /// The public URL of the MCP endpoint (e.g. `https://mcp.example.com/mcp`), the `resource`
    /// of the protected-resource metadata; none: derived from the request's `Host`.
    pub resource: Option<String>,
    /// The authorization servers that issue bearers for this resource (metadata only).
    pub authorization_servers: Vec<String>,
    /// Whether a request with no credential is served, as an anonymous agent.
    pub allow_anonymous: bool,
    /// The path of the MCP endpoint (default `/mcp`).
    pub mcp_path: String,
    /// Largest request body, in bytes (default 1 MiB); larger is 413.
    pub max_body_bytes: usize,
    /// Sessions remembered (least recently used forgotten first; default 10,000).
    pub max_sessions: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            allowed_origins: Vec::new(),
            resource: None,
            authorization_servers: Vec::new(),
            allow_anonymous: false,
            mcp_path: "/mcp".into(),
            max_body_bytes: 1 << 20,
            max_sessions: 10_000,
        }
    }
}

impl GatewayConfig {
    /// The defaults, with `PASSGATE_MCP_ALLOWED_ORIGINS` (comma-separated origins; empty: no
    /// check), `PASSGATE_MCP_RESOURCE` (the endpoint's public URL),
    /// `PASSGATE_MCP_AUTHORIZATION_SERVERS` (comma-separated URLs) and
    /// `PASSGATE_MCP_ALLOW_ANONYMOUS` (`1`/`true`) read from the environment.
    pub fn from_env() -> GatewayConfig {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let list = |name: &str| {
            var(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default()
        };
        GatewayConfig {
            allowed_origins: list("PASSGATE_MCP_ALLOWED_ORIGINS"),
            resource: var("PASSGATE_MCP_RESOURCE"),
            authorization_servers: list("PASSGATE_MCP_AUTHORIZATION_SERVERS"),
            allow_anonymous: var("PASSGATE_MCP_ALLOW_ANONYMOUS")
                .is_some_and(|v| matches!(v.trim(), "1" | "true" | "yes")),
            ..GatewayConfig::default()
        }
    }
}

/// An HTTP request as the host's server received it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `DELETE`, … (any case).
    pub method: String,
    /// The request target's path (a query string is ignored).
    pub path: String,
    /// Header names (any case) and values, repeated names as repeated entries.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The response to write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body (empty for 202 and 204).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The value of the first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_in(&self.headers, name)
    }
}

fn header_in<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// One session: who opened it and the client's name.
struct Session {
    /// A hash of the credential that opened it (a session is not another caller's).
    owner: String,
    client_name: Option<String>,
}

/// The MCP endpoint over Streamable HTTP (see the [module](self) documentation).
pub struct Gateway {
    engine: Arc<Engine>,
    config: GatewayConfig,
    issuer: Option<Issuer>,
    sessions: Mutex<LruCache<String, Session>>,
    origins: Vec<String>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Who a request's credential says it is, or why it is refused.
enum Auth {
    Caller(Caller, String),
    /// 401: `(error code for WWW-Authenticate, message)`.
    Refused(Option<&'static str>, String),
}

impl Gateway {
    /// A gateway in front of `engine`. The configured origins and URLs must be well-formed
    /// (`INVALID_ARGUMENT` otherwise), and `max_sessions` and `max_body_bytes` positive.
    pub fn new(engine: Arc<Engine>, config: GatewayConfig) -> Result<Gateway> {
        let mut origins = Vec::with_capacity(config.allowed_origins.len());
        for o in &config.allowed_origins {
            origins.push(normalize_origin(o).ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "allowed origin {o:?} is not an origin (scheme://host[:port])"
                ))
            })?);
        }
        for u in config.resource.iter().chain(&config.authorization_servers) {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {}
                _ => {
                    return Err(Error::InvalidArgument(format!(
                        "{u:?} is not an http(s) URL"
                    )))
                }
            }
        }
        if !config.mcp_path.starts_with('/') {
            return Err(Error::InvalidArgument(format!(
                "the MCP path {:?} must start with /",
                config.mcp_path
            )));
        }
        let cap = NonZeroUsize::new(config.max_sessions)
            .ok_or_else(|| Error::InvalidArgument("max_sessions must be positive".into()))?;
        if config.max_body_bytes == 0 {
            return Err(Error::InvalidArgument(
                "max_body_bytes must be positive".into(),
            ));
        }
        Ok(Gateway {
            engine,
            config,
            issuer: None,
            sessions: Mutex::new(LruCache::new(cap)),
            origins,
        })
    }

    /// Lets the operator's `issue_passport` issue with this key.
    pub fn issuer(mut self, issuer: Issuer) -> Gateway {
        self.issuer = Some(issuer);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &GatewayConfig {
        &self.config
    }

    /// The number of sessions remembered.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    /// Answers one HTTP request (never panics; every fault is a status code).
    pub fn handle(&self, req: &HttpRequest) -> HttpResponse {
        let path = req.path.split(['?', '#']).next().unwrap_or("");
        let method = req.method.to_ascii_uppercase();
        if let Some(refusal) = self.check_origin(req) {
            return refusal;
        }
        if path == METADATA_PATH
            || path
                .strip_prefix(METADATA_PATH)
                .is_some_and(|rest| rest == self.config.mcp_path)
        {
            return match method.as_str() {
                "GET" | "HEAD" => json_response(200, &self.metadata(req)),
                _ => method_not_allowed("GET"),
            };
        }
        if path != self.config.mcp_path {
            return rpc_error(404, -32000, &format!("not found: {path}"));
        }
        match method.as_str() {
            "POST" => self.post(req),
            "GET" | "DELETE" => {
                let caller = match self.authenticate(req) {
                    Auth::Caller(_, owner) => owner,
                    Auth::Refused(code, msg) => return self.unauthorized(req, code, &msg),
                };
                if method == "GET" {
                    return method_not_allowed("POST, DELETE");
                }
                self.delete(req, &caller)
            }
            _ => method_not_allowed("POST, DELETE"),
        }
    }

    fn check_origin(&self, req: &HttpRequest) -> Option<HttpResponse> {
        if self.origins.is_empty() {
            return None;
        }
        let mut given = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("origin"));
        let first = given.next()?;
        let allowed = given.next().is_none()
            && normalize_origin(&first.1).is_some_and(|o| self.origins.contains(&o));
        (!allowed).then(|| rpc_error(403, -32000, "origin not allowed"))
    }

    fn post(&self, req: &HttpRequest) -> HttpResponse {
        if req.body.len() > self.config.max_body_bytes {
            return rpc_error(
                413,
                -32000,
                &format!("request body over {} bytes", self.config.max_body_bytes),
            );
        }
        let parsed = std::str::from_utf8(&req.body)
            .map_err(|_| "the body is not UTF-8".to_string())
            .and_then(|t| {
                json::parse(
                    t,
                    Limits {
                        max_bytes: self.config.max_body_bytes,
                        ..Limits::PAYLOAD
                    },
                )
                .map_err(|e| e.to_string())
            });
        // A notification or a response does nothing here: no credential needed.
        let inert = match &parsed {
            Ok(Value::Object(m)) => {
                !m.contains_key("id")
                    || (!m.contains_key("method")
                        && (m.contains_key("result") || m.contains_key("error")))
            }
            _ => false,
        };
        let (caller, owner) = if inert {
            (Caller::agent(None), String::new())
        } else {
            match self.authenticate(req) {
                Auth::Caller(c, owner) => (c, owner),
                Auth::Refused(code, msg) => return self.unauthorized(req, code, &msg),
            }
        };
        if let Some(refusal) = check_accept(req) {
            return refusal;
        }
        let content_type = header_in(&req.headers, "content-type").map(media_type);
        if content_type.as_deref() != Some("application/json") {
            return rpc_error(415, -32000, "Content-Type must be application/json");
        }
        let message = match parsed {
            Ok(m) => m,
            Err(e) => return rpc_error(400, mcp::codes::PARSE_ERROR, &format!("parse error: {e}")),
        };
        if message.is_array() {
            return rpc_error(
                400,
                mcp::codes::INVALID_REQUEST,
                "JSON-RPC batches are not accepted: send one message at a time",
            );
        }
        if inert {
            return HttpResponse {
                status: 202,
                headers: Vec::new(),
                body: Vec::new(),
            };
        }
        let Value::Object(m) = &message else {
            return rpc_error(
                400,
                mcp::codes::INVALID_REQUEST,
                "a request must be an object",
            );
        };
        let method = m.get("method").and_then(Value::as_str).unwrap_or("");
        let jsonrpc_id = m.get("id").cloned().unwrap_or(Value::Null);
        let request_id = request_id(req);
        let mut headers = vec![("x-request-id".to_string(), request_id.clone())];
        let mut trace = Map::new();
        trace.insert("gateway".into(), Value::String("passgate".into()));
        trace.insert("gateway_jsonrpc_id".into(), jsonrpc_id);
        trace.insert("gateway_request_id".into(), Value::String(request_id));
        if method == "initialize" {
            let name = m
                .get("params")
                .and_then(|p| p.get("clientInfo"))
                .and_then(|c| c.get("name"))
                .and_then(Value::as_str)
                .map(client_name);
            let id = match random_id("mcs") {
                Ok(id) => id,
                Err(e) => return rpc_error(500, mcp::codes::INTERNAL_ERROR, &e.to_string()),
            };
            let mut sessions = self.sessions.lock();
            if owner != ANONYMOUS {
                // Least recently used first.
                let mine: Vec<String> = sessions
                    .iter()
                    .rev()
                    .filter(|(_, s)| s.owner == owner)
                    .map(|(k, _)| k.clone())
                    .collect();
                let over = (mine.len() + 1).saturating_sub(MAX_SESSIONS_PER_CREDENTIAL);
                for k in mine.iter().take(over) {
                    sessions.pop(k);
                }
            }
            sessions.put(
                id.clone(),
                Session {
                    owner,
                    client_name: name,
                },
            );
            drop(sessions);
            headers.push(("mcp-session-id".into(), id));
        } else if let Some(sid) = header_in(&req.headers, "mcp-session-id") {
            let name = {
                let mut sessions = self.sessions.lock();
                match sessions.get(sid) {
                    Some(s) if s.owner == owner => s.client_name.clone(),
                    _ => {
                        return rpc_error(
                            404,
                            -32001,
                            "session not found: send initialize to open a new one",
                        )
                    }
                }
            };
            trace.insert("mcp_session_id".into(), Value::String(sid.to_string()));
            if let Some(n) = name {
                trace.insert("mcp_client_name".into(), Value::String(n));
            }
            headers.push(("mcp-session-id".into(), sid.to_string()));
        }
        let context = Context { trace };
        let reply = mcp::handle_value_with(
            &self.engine,
            &caller,
            self.issuer.as_ref(),
            message,
            &context,
        );
        match reply {
            Some(r) => {
                let mut resp = json_response(200, &r);
                resp.headers.extend(headers);
                resp
            }
            None => HttpResponse {
                status: 202,
                headers,
                body: Vec::new(),
            },
        }
    }

    fn delete(&self, req: &HttpRequest, owner: &str) -> HttpResponse {
        let Some(sid) = header_in(&req.headers, "mcp-session-id") else {
            return rpc_error(400, -32000, "DELETE needs an Mcp-Session-Id header");
        };
        let mut sessions = self.sessions.lock();
        match sessions.peek(sid) {
            Some(s) if s.owner == owner => {
                sessions.pop(sid);
                HttpResponse {
                    status: 204,
                    headers: Vec::new(),
                    body: Vec::new(),
                }
            }
            _ => rpc_error(404, -32001, "session not found"),
        }
    }

    /// The request's caller, and a hash of its credential (the owner of the sessions it opens).
    fn authenticate(&self, req: &HttpRequest) -> Auth {
        let mut auth = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        let mut keys = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-api-key"));
        let bearer = match (auth.next(), auth.next()) {
            (None, _) => None,
            (Some((_, v)), None) => match v.trim().split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    let token = token.trim();
                    if token.is_empty() {
                        return Auth::Refused(Some("invalid_request"), "empty bearer token".into());
                    }
                    Some(token)
                }
                _ => {
                    return Auth::Refused(
                        Some("invalid_request"),
                        "Authorization must be \"Bearer <token>\"".into(),
                    )
                }
            },
            (Some(_), Some(_)) => {
                return Auth::Refused(
                    Some("invalid_request"),
                    "more than one Authorization header".into(),
                )
            }
        };
        let key = match (keys.next(), keys.next()) {
            (None, _) => None,
            (Some((_, v)), None) => Some(v.trim()),
            (Some(_), Some(_)) => {
                return Auth::Refused(
                    Some("invalid_request"),
                    "more than one x-api-key header".into(),
                )
            }
        };
        let token = match (bearer, key) {
            (Some(_), Some(_)) => {
                return Auth::Refused(
                    Some("invalid_request"),
                    "give either Authorization or x-api-key, not both".into(),
                )
            }
            (None, None) => {
                return if self.config.allow_anonymous {
                    Auth::Caller(Caller::agent(None), ANONYMOUS.into())
                } else {
                    Auth::Refused(None, "this endpoint needs a bearer token".into())
                };
            }
            (Some(t), None) => t,
            (None, Some(k)) if apikey::looks_like_api_key(k) => k,
            (None, Some(_)) => {
                return Auth::Refused(
                    Some("invalid_token"),
                    "x-api-key is not an API key (pgk_…)".into(),
                )
            }
        };
        if apikey::looks_like_api_key(token) {
            return match self.engine.authenticate_api_key(token) {
                Ok(principal) => {
                    let owner = format!("key:{}", principal.id);
                    Auth::Caller(Caller::Key(principal), owner)
                }
                Err(e) => Auth::Refused(
                    Some("invalid_token"),
                    format!("the API key is not valid: {e} ({})", e.code()),
                ),
            };
        }
        let owner = json::sha256_tagged(token.as_bytes());
        match self.engine.verify_passport(token) {
            Ok(_) => Auth::Caller(Caller::agent(Some(token.to_string())), owner),
            Err(e) => Auth::Refused(
                Some("invalid_token"),
                format!("the bearer is not a valid passport: {} ({})", e, e.code()),
            ),
        }
    }

    fn unauthorized(&self, req: &HttpRequest, code: Option<&str>, msg: &str) -> HttpResponse {
        let mut challenge = "Bearer".to_string();
        let mut params = Vec::new();
        if let Some(origin) = self.resource_origin(req) {
            params.push(format!("resource_metadata=\"{origin}{METADATA_PATH}\""));
        }
        if let Some(code) = code {
            params.push(format!("error=\"{code}\""));
            let desc: String = msg
                .chars()
                .filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\')
                .take(200)
                .collect();
            params.push(format!("error_description=\"{desc}\""));
        }
        if !params.is_empty() {
            challenge.push(' ');
            challenge.push_str(&params.join(", "));
        }
        let mut resp = rpc_error(401, -32001, msg);
        resp.headers.push(("www-authenticate".into(), challenge));
        resp
    }

    /// The resource URL: configured, or `http://<Host><mcp path>`.
    fn resource(&self, req: &HttpRequest) -> Option<String> {
        if let Some(r) = &self.config.resource {
            return Some(r.clone());
        }
        let host = header_in(&req.headers, "host")?;
        let sane = !host.is_empty()
            && host.len() <= 255
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        sane.then(|| format!("http://{host}{}", self.config.mcp_path))
    }

    fn resource_origin(&self, req: &HttpRequest) -> Option<String> {
        let r = self.resource(req)?;
        let u = url::Url::parse(&r).ok()?;
        Some(u.origin().ascii_serialization()).filter(|o| o != "null")
    }

    /// The protected-resource metadata (RFC 9728).
    fn metadata(&self, req: &HttpRequest) -> Value {
        let mut m = json!({
            "bearer_methods_supported": ["header"],
            "scopes_supported": SCOPES,
            "resource_name": "passgate MCP",
        });
        if let (Some(r), Value::Object(o)) = (self.resource(req), &mut m) {
            o.insert("resource".into(), Value::String(r));
        }
        if let Value::Object(o) = &mut m {
            o.insert(
                "authorization_servers".into(),
                json!(self.config.authorization_servers),
            );
        }
        m
    }
}

/// The API-key scopes, as the metadata's `scopes_supported`.
const SCOPES: &[&str] = &[
    "decide",
    "read:attestations",
    "admin:passports",
    "admin:policy",
    "admin:counters",
    "approve",
    "admin:keys",
];

/// `scheme://host[:port]`, lowercase, default port dropped; `None` if not an http(s) origin.
fn normalize_origin(o: &str) -> Option<String> {
    let u = url::Url::parse(o.trim()).ok()?;
    if !matches!(u.scheme(), "http" | "https")
        || u.host().is_none()
        || !u.username().is_empty()
        || u.password().is_some()
        || !matches!(u.path(), "" | "/")
        || u.query().is_some()
        || u.fragment().is_some()
    {
        return None;
    }
    Some(u.origin().ascii_serialization())
}

/// The media type of a `Content-Type` value, lowercase, without parameters.
fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// 406 unless `Accept` (when present) allows both `application/json` and `text/event-stream`.
fn check_accept(req: &HttpRequest) -> Option<HttpResponse> {
    let values: Vec<&str> = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("accept"))
        .map(|(_, v)| v.as_str())
        .collect();
    if values.is_empty() {
        return None;
    }
    let ranges: Vec<(String, bool)> = values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|r| {
            let mut parts = r.split(';');
            let ty = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (ty, !refused)
        })
        .collect();
    let allows = |ty: &str| {
        let (major, _) = ty.split_once('/').unwrap_or((ty, ""));
        let wildcard = format!("{major}/*");
        ranges
            .iter()
            .any(|(r, ok)| *ok && (r == ty || *r == wildcard || r == "*/*"))
    };
    (!(allows("application/json") && allows("text/event-stream"))).then(|| {
        rpc_error(
            406,
            -32000,
            "Accept must allow application/json and text/event-stream",
        )
    })
}

/// The client name kept: at most 256 characters, no control characters.
fn client_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .take(MAX_CLIENT_NAME)
        .collect()
}

/// A sane `X-Request-Id` (1–128 printable ASCII characters), or a generated one.
fn request_id(req: &HttpRequest) -> String {
    header_in(&req.headers, "x-request-id")
        .map(str::trim)
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_REQUEST_ID
                && v.chars().all(|c| (' '..='~').contains(&c))
        })
        .map(String::from)
        .or_else(|| random_id("req").ok())
        .unwrap_or_else(|| "req_unavailable".into())
}

fn json_response(status: u16, body: &Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn rpc_error(status: u16, code: i64, message: &str) -> HttpResponse {
    json_response(
        status,
        &json!({"jsonrpc": "2.0", "id": null, "error": {"code": code, "message": message}}),
    )
}

fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut resp = rpc_error(405, -32000, "method not allowed");
    resp.headers.push(("allow".into(), allow.into()));
    resp
}
