//! The JSON of the MCP tool guard (`passgate.mcp.guard` in Python, `guard` of `passgate/mcp`
//! in Node), built here once so that the two guards answer byte for byte alike. A binding keeps
//! only the SDK glue: it reads the request's `_meta` and the guard's added arguments, calls
//! [`inputs`], decides with the engine, and answers with [`outcome`] (or [`error`]).
//!
//! A guarded call's passport comes from the host (a callback) or `_meta["passgate/passport"]`;
//! its approval token and idempotency key from `_meta` or from the arguments the guard adds to
//! the tool's schema (`passgate_approval`, `passgate_idempotency_key`) for clients that cannot
//! send `_meta`. Given both ways, they must agree. The attestation's `trace` records the MCP
//! request id and session id (never part of the request's fingerprint).

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};

/// `_meta` key of the agent's passport token.
pub const PASSPORT_META: &str = "passgate/passport";
/// `_meta` key of an approval token.
pub const APPROVAL_META: &str = "passgate/approval";
/// `_meta` key of an idempotency key.
pub const IDEMPOTENCY_META: &str = "passgate/idempotency_key";
/// The argument the guard adds for the approval token.
pub const APPROVAL_ARGUMENT: &str = "passgate_approval";
/// The argument the guard adds for the idempotency key.
pub const IDEMPOTENCY_ARGUMENT: &str = "passgate_idempotency_key";

/// What a guarded call carries besides the tool's own arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inputs {
    /// The passport token (none: anonymous).
    pub passport: Option<String>,
    /// The approval token.
    pub approval: Option<String>,
    /// The idempotency key.
    pub idempotency_key: Option<String>,
}

impl Inputs {
    /// As JSON: `{passport, approval, idempotency_key}` (absent ones `null`).
    pub fn to_json(&self) -> Value {
        json!({
            "passport": self.passport, "approval": self.approval,
            "idempotency_key": self.idempotency_key,
        })
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidArgument(message)
}

/// A string or nothing: `null` and `""` are absent.
fn string_of(v: Option<&Value>, what: &str, place: &str) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!("the {what} ({place}) must be a string"))),
    }
}

/// The approval or idempotency key: from `_meta[key]` or the added argument; both given and
/// different is `INVALID_ARGUMENT`.
fn pick(
    meta: Option<&Map<String, Value>>,
    key: &str,
    given: Option<&Value>,
) -> Result<Option<String>> {
    let (what, argument) = if key == APPROVAL_META {
        ("approval", APPROVAL_ARGUMENT)
    } else {
        ("idempotency key", IDEMPOTENCY_ARGUMENT)
    };
    let from_meta = string_of(
        meta.and_then(|m| m.get(key)),
        what,
        &format!("_meta[\"{key}\"]"),
    )?;
    let given = string_of(given, what, &format!("argument {argument}"))?;
    match (from_meta, given) {
        (Some(a), Some(b)) if a != b => Err(invalid(format!(
            "the {what} is given twice, differently: in _meta[\"{key}\"] and as the argument {argument}"
        ))),
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

/// The inputs of a guarded call from the request's `_meta` (any JSON; not an object counts as
/// none), the passport the host's callback gave (`None`: read `_meta`), and the values of the
/// guard's added arguments.
pub fn inputs(
    meta: &Value,
    passport: Option<&Value>,
    approval_argument: Option<&Value>,
    idempotency_argument: Option<&Value>,
) -> Result<Inputs> {
    let meta = meta.as_object();
    let passport = match passport {
        Some(p) => string_of(Some(p), "passport", "the passport callback's result")?,
        None => string_of(
            meta.and_then(|m| m.get(PASSPORT_META)),
            "passport",
            &format!("_meta[\"{PASSPORT_META}\"]"),
        )?,
    };
    Ok(Inputs {
        passport,
        approval: pick(meta, APPROVAL_META, approval_argument)?,
        idempotency_key: pick(meta, IDEMPOTENCY_META, idempotency_argument)?,
    })
}

/// What the attestation records of the MCP call: the JSON-RPC request id (a string or number)
/// and the transport's session id (`Mcp-Session-Id`), or `None` if neither is known.
pub fn trace(request_id: Option<&Value>, session_id: Option<&str>) -> Option<Value> {
    let mut t = Map::new();
    if let Some(id @ (Value::String(_) | Value::Number(_))) = request_id {
        t.insert("mcp_request_id".into(), id.clone());
    }
    if let Some(s) = session_id {
        t.insert("mcp_session_id".into(), Value::String(s.to_string()));
    }
    (!t.is_empty()).then_some(Value::Object(t))
}

/// What the guard answers for a decision (its wire JSON): `None` when the tool may run (an
/// allow, not replayed); otherwise the JSON of the tool error result's text: the refusal of a
/// deny or escalation (`{decision, gate, evaluation_id, checks: the failed ones,
/// approval_request?}`), or for a replayed allow an `IDEMPOTENCY_CONFLICT` error (the first
/// call with that key ran the tool; a key runs it at most once).
pub fn outcome(decision: &Value, idempotency_key: Option<&str>) -> Option<Value> {
    let allowed = decision.get("decision").and_then(Value::as_str) == Some("allow")
        && decision.get("allowed").and_then(Value::as_bool) == Some(true);
    let evaluation_id = decision
        .get("evaluation_id")
        .cloned()
        .unwrap_or(Value::Null);
    if allowed {
        if decision.get("replayed").and_then(Value::as_bool) != Some(true) {
            return None;
        }
        let key = serde_json::to_string(&idempotency_key).unwrap_or_default();
        let id = evaluation_id.as_str().unwrap_or_default();
        return Some(error(
            "IDEMPOTENCY_CONFLICT",
            &format!(
                "idempotency key {key} already admitted evaluation {id}: a key runs the tool at \
                 most once; use a new key for a new call"
            ),
        ));
    }
    let failed: Vec<Value> = decision
        .get("checks")
        .and_then(Value::as_array)
        .map(|c| {
            c.iter()
                .filter(|c| c.get("passed").and_then(Value::as_bool) == Some(false))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut out = Map::new();
    out.insert(
        "decision".into(),
        decision.get("decision").cloned().unwrap_or(Value::Null),
    );
    out.insert(
        "gate".into(),
        decision.get("gate").cloned().unwrap_or(Value::Null),
    );
    out.insert("evaluation_id".into(), evaluation_id);
    out.insert("checks".into(), Value::Array(failed));
    if let Some(a) = decision.get("approval_request").filter(|a| !a.is_null()) {
        out.insert("approval_request".into(), a.clone());
    }
    Some(Value::Object(out))
}

/// The error JSON of a guard failure: `{error: {code, message}}`.
pub fn error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// The error JSON of a failure that is not passgate's own (a host callback threw): `INTERNAL`,
/// naming only the failure's type (its text may hold what a client must not see).
pub fn internal(type_name: &str) -> Value {
    error(
        "INTERNAL",
        &format!("the guard failed before a decision ({type_name})"),
    )
}

/// One step of the guard by name, JSON in and out: the bindings' one entry point here.
///
/// | step | arguments | returns |
/// |---|---|---|
/// | `inputs` | `{meta?, passport?, approval?, idempotency_key?}` (`passport` only when the host's callback gave one) | `{passport, approval, idempotency_key}`, or `{error}` to answer with |
/// | `trace` | `{request_id?, session_id?}` | the trace, or `null` |
/// | `outcome` | `{decision, idempotency_key?}` | `null` (run the tool) or the error result's JSON |
/// | `error` | `{code, message, path?}` | `{error: {code, message, path?}}` |
/// | `internal` | `{type}` | `{error: {code: "INTERNAL", message}}` |
pub fn call(step: &str, args: &Value) -> Result<Value> {
    let get = |k: &str| args.get(k).filter(|v| !v.is_null());
    let text = |k: &str| -> Result<&str> {
        get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("guard {step}: {k} must be a string")))
    };
    match step {
        "inputs" => {
            let given = args.as_object().is_some_and(|m| m.contains_key("passport"));
            let passport = given.then(|| args.get("passport").unwrap_or(&Value::Null));
            let meta = get("meta").unwrap_or(&Value::Null);
            // A refused input is answered as the guard answers any error: its JSON.
            Ok(
                match inputs(meta, passport, get("approval"), get("idempotency_key")) {
                    Ok(i) => i.to_json(),
                    Err(Error::InvalidArgument(m)) => error("INVALID_ARGUMENT", &m),
                    Err(e) => error(e.code(), &e.to_string()),
                },
            )
        }
        "trace" => Ok(
            trace(get("request_id"), get("session_id").and_then(Value::as_str))
                .unwrap_or(Value::Null),
        ),
        "outcome" => {
            let decision = get("decision")
                .ok_or_else(|| invalid("guard outcome: decision is required".into()))?;
            let key = get("idempotency_key").and_then(Value::as_str);
            Ok(outcome(decision, key).unwrap_or(Value::Null))
        }
        "error" => {
            let mut e = error(text("code")?, text("message")?);
            if let (Some(path), Some(Value::Object(inner))) =
                (get("path").and_then(Value::as_str), e.get_mut("error"))
            {
                inner.insert("path".into(), Value::String(path.to_string()));
            }
            Ok(e)
        }
        "internal" => Ok(internal(text("type")?)),
        other => Err(invalid(format!(
            "unknown guard step {other:?} (expected inputs, trace, outcome, error or internal)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_agree_between_meta_and_arguments() {
        let meta = json!({"passgate/passport": "tok", "passgate/approval": "a1"});
        let i = inputs(&meta, None, Some(&json!("a1")), Some(&json!("k"))).unwrap();
        assert_eq!(i.passport.as_deref(), Some("tok"));
        assert_eq!(i.approval.as_deref(), Some("a1"));
        assert_eq!(i.idempotency_key.as_deref(), Some("k"));
        let e = inputs(&meta, None, Some(&json!("a2")), None).unwrap_err();
        assert!(e.to_string().contains("given twice, differently"), "{e}");
        let e = inputs(&json!({"passgate/idempotency_key": 5}), None, None, None).unwrap_err();
        assert!(
            e.to_string().contains(
                "the idempotency key (_meta[\"passgate/idempotency_key\"]) must be a string"
            ),
            "{e}"
        );
        let e = inputs(&json!(null), None, Some(&json!(1)), None).unwrap_err();
        assert!(e
            .to_string()
            .contains("(argument passgate_approval) must be a string"));
        // "" is absent; a host callback's passport wins over _meta.
        let i = inputs(&meta, Some(&json!("host")), Some(&json!("")), None).unwrap();
        assert_eq!(i.passport.as_deref(), Some("host"));
        assert_eq!(i.approval.as_deref(), Some("a1"));
    }

    #[test]
    fn outcomes_run_refuse_or_refuse_a_replay() {
        let allow = json!({"decision": "allow", "allowed": true, "gate": "g", "evaluation_id": "ev1", "checks": []});
        assert_eq!(outcome(&allow, None), None);
        let mut replay = allow.clone();
        replay["replayed"] = json!(true);
        let r = outcome(&replay, Some("k")).unwrap();
        assert_eq!(r["error"]["code"], "IDEMPOTENCY_CONFLICT");
        assert!(r["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("idempotency key \"k\" already admitted evaluation ev1"));
        let deny = json!({"decision": "deny", "allowed": false, "gate": "g", "evaluation_id": "ev2",
            "checks": [{"passed": true, "constraint": "a"}, {"passed": false, "constraint": "b"}], "approval_request": null});
        assert_eq!(
            outcome(&deny, None).unwrap(),
            json!({"decision": "deny", "gate": "g", "evaluation_id": "ev2", "checks": [{"passed": false, "constraint": "b"}]})
        );
        assert_eq!(
            trace(Some(&json!(7)), Some("s")),
            Some(json!({"mcp_request_id": 7, "mcp_session_id": "s"}))
        );
        assert_eq!(trace(Some(&json!(true)), None), None);
    }
}
