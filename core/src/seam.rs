//! The JSON-in / JSON-out seam: building an engine and its inputs from JSON, and running
//! operations by name ([`call`], which is [`crate::ops::call`]: the operations, their arguments
//! and results are defined there, each once).
//!
//! ```
//! use passgate::seam;
//! use serde_json::json;
//! let engine = seam::engine(&json!({"policy": {"version": 1, "gates": {}}})).unwrap();
//! let d = seam::call(&engine, "dry_run", &json!({"gate": "payments.send", "payload": {}})).unwrap();
//! assert_eq!(d["decision"], "deny");
//! ```

use serde_json::Value;

use crate::engine::{Engine, Request};
use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::KeyPair;
use crate::ops;
use crate::policy::Policy;
use crate::store::AttestationFilter;

/// Every operation [`call`] accepts ([`crate::ops::NAMES`]).
pub const OPERATIONS: &[&str] = ops::NAMES;

/// A [`Request`] from the arguments of `enforce`: `{gate, passport, payload, idempotency_key,
/// trace, client, hold, approval}`.
pub fn request(v: &Value) -> Result<Request> {
    Ok(ops::parse::<ops::Enforce>(v.clone())?.0.into_request())
}

/// A policy from a JSON value: an object is the document, a string is JSON text or a path.
pub fn policy(v: &Value) -> Result<Policy> {
    match v {
        Value::String(s) => Policy::load(s),
        Value::Object(_) => Policy::from_value(v.clone()),
        other => Err(Error::policy(
            "/",
            format!(
                "a policy must be an object or a string, not {}",
                json::type_name(other)
            ),
        )),
    }
}

/// The options of an engine built from JSON ([`engine`]).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EngineConfig {
    policy: Option<Value>,
    trusted_issuers: Option<Vec<String>>,
    signing_key: Option<String>,
    store: Option<String>,
    leeway_secs: Option<i64>,
    /// `"each"` (default) or `"checkpoint"`.
    signing: Option<String>,
    checkpoint_every: Option<u64>,
    checkpoint_interval_ms: Option<u64>,
}

/// An engine from `{policy, trusted_issuers, signing_key, store, leeway_secs, signing,
/// checkpoint_every, checkpoint_interval_ms}`.
pub fn engine(config: &Value) -> Result<Engine> {
    let config: EngineConfig = match config {
        Value::Null => EngineConfig::default(),
        v => serde_json::from_value(v.clone())
            .map_err(|e| Error::InvalidArgument(format!("engine options: {e}")))?,
    };
    let mut b = Engine::builder();
    if let Some(p) = config.policy.as_ref().filter(|p| !p.is_null()) {
        b = b.policy(policy(p)?);
    }
    b = b.trusted_issuers(config.trusted_issuers.unwrap_or_default());
    if let Some(secret) = config.signing_key {
        b = b.signing_key(KeyPair::from_secret(&secret)?);
    }
    if let Some(url) = config.store {
        b = b.store_url(&url);
    }
    if let Some(l) = config.leeway_secs {
        b = b.leeway_secs(l);
    }
    if config.signing.is_some()
        || config.checkpoint_every.is_some()
        || config.checkpoint_interval_ms.is_some()
    {
        b = b.signing(crate::engine::Signing::parse(
            config.signing.as_deref().unwrap_or("each"),
            config.checkpoint_every,
            config.checkpoint_interval_ms,
        )?);
    }
    b.build()
}

/// An attestation filter from the arguments of `attestations`: `{chain, gate, agent_id,
/// decision, evaluation_id, kind, since, until, limit}`.
pub fn attestation_filter(v: &Value) -> Result<AttestationFilter> {
    Ok(ops::parse::<ops::Attestations>(v.clone())?.0.filter())
}

/// Parses outside JSON text with the one strict parser (for bindings that receive strings).
pub fn parse(text: &str, ctx: Context) -> Result<Value> {
    let limits = if ctx == Context::Policy {
        Limits::POLICY
    } else {
        Limits::PAYLOAD
    };
    json::parse_in(text, limits, ctx)
}

/// Runs operation `op` (one of [`OPERATIONS`]) with `args` on `engine`.
pub fn call(engine: &Engine, op: &str, args: &Value) -> Result<Value> {
    ops::call(engine, op, args.clone())
}

/// Issues a passport from the arguments of `issue_passport` (`{issuer_secret, agent_id,
/// agent_name, permissions, expires_in_days, caveats, passport}`): with `passport` (a parent
/// token) and `issuer_secret` being that passport's agent key, a sub-agent passport.
pub fn issue_passport(args: &Value) -> Result<Value> {
    let issued = ops::parse::<ops::IssuePassport>(args.clone())?.issue()?;
    serde_json::to_value(issued).map_err(|e| Error::Internal(e.to_string()))
}
