//! A request to the engine, and the bounds every request is held to before it is evaluated.

use serde_json::Value;

use super::MAX_NAME_LEN;
use crate::error::{Error, Result};
use crate::json::{self, Limits};

/// One question to the engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// The gate, e.g. `payments.send`.
    pub gate: String,
    /// The passport token; `None` for anonymous callers.
    pub passport: Option<String>,
    /// The action's arguments (an object; `Null` counts as `{}`).
    pub payload: Value,
    /// Makes a retry return the first decision instead of counting twice.
    pub idempotency_key: Option<String>,
    /// Host metadata (MCP session / client / request ids), recorded, never fingerprinted.
    pub trace: Option<Value>,
    /// The host's key for an anonymous caller (an address, an API key id), for `scope: client`.
    pub client: Option<String>,
    /// Reserve the request's amounts instead of counting them for good: the decision carries a
    /// `hold_id` to settle (with the actual amounts) or release.
    pub hold: bool,
    /// An approval token from `Engine::approve`, for a request that escalated before.
    pub approval: Option<String>,
    /// Where the host should deliver this decision's event, if it causes one: an http(s) URL or
    /// a channel name ([`check_notify`](super::check_notify)). Stored with the event, never
    /// fingerprinted, never called by the core.
    pub notify: Option<String>,
    /// A proof of possession of the passport's `cnf` key (`{nonce, ts, sig}`, see
    /// [`crate::pop`]); checked strictly (`INVALID_ARGUMENT` at `/pop/...`). Never part of the
    /// request hash.
    pub pop: Option<Value>,
}

impl Request {
    /// A request for `gate` with `payload`, without a passport yet.
    pub fn new(gate: impl Into<String>, payload: Value) -> Self {
        Request {
            gate: gate.into(),
            payload,
            ..Default::default()
        }
    }

    /// Sets the passport token.
    pub fn passport(mut self, token: impl Into<String>) -> Self {
        self.passport = Some(token.into());
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the trace metadata.
    pub fn trace(mut self, trace: Value) -> Self {
        self.trace = Some(trace);
        self
    }

    /// Sets the client key.
    pub fn client(mut self, client: impl Into<String>) -> Self {
        self.client = Some(client.into());
        self
    }

    /// Asks for a hold (a reservation to settle or release later).
    pub fn hold(mut self, hold: bool) -> Self {
        self.hold = hold;
        self
    }

    /// Presents an approval token.
    pub fn approval(mut self, token: impl Into<String>) -> Self {
        self.approval = Some(token.into());
        self
    }

    /// Attaches a proof of possession (see [`crate::pop::sign`]).
    pub fn pop(mut self, pop: &crate::pop::Pop) -> Self {
        self.pop = Some(pop.to_value());
        self
    }

    /// Sets where the host should deliver this decision's event.
    pub fn notify(mut self, target: impl Into<String>) -> Self {
        self.notify = Some(target.into());
        self
    }
}

/// Whether `v` is a valid name (a gate, an idempotency or client key, a passport id, an
/// approver, an event kind): 1 to [`MAX_NAME_LEN`] bytes.
pub(crate) fn name_ok(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_NAME_LEN
}

/// The name rule ([`name_ok`]) for the argument `what`: `INVALID_ARGUMENT` "`what` must be 1 to
/// 256 characters" when `v` breaks it.
pub(crate) fn check_name(what: &str, v: &str) -> Result<()> {
    if name_ok(v) {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "{what} must be 1 to {MAX_NAME_LEN} characters"
    )))
}

pub(super) fn check_request(req: &Request) -> Result<()> {
    check_name("gate", &req.gate)?;
    if let Some(k) = &req.idempotency_key {
        check_name("idempotency_key", k)?;
    }
    if let Some(c) = &req.client {
        check_name("client", c)?;
    }
    if let Some(n) = &req.notify {
        super::check_notify(n)?;
    }
    if let Some(p) = &req.pop {
        crate::pop::Pop::from_value(p)?;
    }
    if req
        .passport
        .as_deref()
        .is_some_and(|t| t.len() > Limits::TOKEN_BYTES)
    {
        return Err(Error::LimitExceeded(format!(
            "passport token over {} bytes",
            Limits::TOKEN_BYTES
        )));
    }
    match &req.payload {
        Value::Object(_) | Value::Null => {}
        other => {
            return Err(Error::payload(
                "/",
                format!("payload must be an object, not {}", json::type_name(other)),
            ))
        }
    }
    json::check_bounds(&req.payload, Limits::PAYLOAD)
        .map_err(|e| e.into_error(json::Context::Payload))?;
    if let Some(t) = &req.trace {
        if !t.is_object() {
            return Err(Error::InvalidArgument("trace must be an object".into()));
        }
        json::check_bounds(
            t,
            Limits {
                max_bytes: 16 << 10,
                max_depth: 8,
            },
        )
        .map_err(|e| e.into_error(json::Context::Argument))?;
    }
    Ok(())
}

/// The payload, with `Null` read as `{}` (no copy).
pub(super) fn payload_of(req: &Request) -> &Value {
    static EMPTY: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    match &req.payload {
        Value::Null => EMPTY.get_or_init(|| Value::Object(Default::default())),
        v => v,
    }
}

/// `request_hash`: SHA-256 of the payload's canonical JSON with numbers normalised. Computed once
/// per request; the idempotency and approval fingerprints are built on it.
pub(crate) fn request_hash(req: &Request) -> Result<String> {
    json::sha256_canonical_normalized(payload_of(req))
}
