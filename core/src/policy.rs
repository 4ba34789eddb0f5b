//! The policy document: loading, validation against `schema/policy.schema.json`, and compilation
//! into [`Gate`]s ready to evaluate.
//!
//! A policy is one JSON document (`version`, `issuers`, `templates`, `gates`, `anonymous`,
//! `hold_ttl`). Loading it parses it with the strict parser, validates it against the published
//! schema (errors carry the JSON path of the offending value, e.g.
//! `/gates/payments.send/constraints/2/max`), expands templates and compiles every constraint.
//! Every failure is `POLICY_INVALID` (oversized or over-deep input is `LIMIT_EXCEEDED`).
//!
//! The *policy hash* is `sha256:` + the SHA-256 of the RFC 8785 canonical form of the document
//! with every number normalised to its exact decimal string: it ignores key order and whitespace
//! and changes whenever any value does.
//!
//! ```
//! use passgate::Policy;
//! let p = Policy::parse(r#"{"version": 1, "gates": {"web.fetch": {"require": ["web:fetch"],
//!     "constraints": [{"type": "allowed_domains", "field": "/url", "domains": ["example.com"]}]}}}"#)
//!     .unwrap();
//! assert_eq!(p.gate("web.fetch").unwrap().constraints[0].id, "allowed_domains#0");
//! ```

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::sync::Arc;

use jsonschema::Validator;
use serde_json::{json, Value};

use crate::commerce::TrustLevel;
use crate::constraint::{parse_duration_ms, Constraint};
use crate::decision::{Check, Text};
use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::pointer::escape;
use crate::schema;
use crate::template::Templates;

/// Time-to-live of an unsettled hold when the policy sets none: 15 minutes.
pub const DEFAULT_HOLD_TTL_MS: i64 = 15 * 60 * 1000;

/// A loaded, compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The document as given.
    pub doc: Value,
    /// `sha256:<hex>` of the canonical, number-normalised document.
    pub hash: String,
    /// The format version (1).
    pub version: u64,
    /// Issuers this policy trusts (did:key).
    pub issuers: Vec<String>,
    /// The gates by name.
    pub gates: BTreeMap<String, Gate>,
    /// What may be done without a passport.
    pub anonymous: Option<Anonymous>,
    /// Default hold time-to-live, in milliseconds.
    pub hold_ttl_ms: i64,
    /// The decision events recorded (`events.kinds`; default
    /// [`EventKind::DEFAULT`](crate::engine::EventKind::DEFAULT)).
    pub event_kinds: Vec<crate::engine::EventKind>,
    /// Issuer trust classes (`issuer_levels`: did:key → `L1` / `L2`), see [`crate::pop`].
    pub issuer_levels: BTreeMap<String, TrustLevel>,
    /// `hash`, shared into every decision without a copy.
    pub(crate) hash_text: Text,
}

/// A compiled gate.
#[derive(Debug, Clone)]
pub struct Gate {
    /// The gate's name (its key under `gates`).
    pub name: String,
    /// Its `description`, if any.
    pub description: Option<String>,
    /// Permissions a passport must hold.
    pub require: Vec<String>,
    /// Enforce (default) or monitor.
    pub mode: Mode,
    /// The compiled `input_schema`, if any.
    pub input_schema: Option<Validator>,
    /// Template constraints first (in the order the templates are applied), then the gate's own.
    pub constraints: Vec<Constraint>,
    /// The gate's hold time-to-live, if it sets one (see [`Policy::hold_ttl_for`]).
    pub hold_ttl_ms: Option<i64>,
    /// What the gate records of each evaluation (the policy's `record` with the gate's over it;
    /// `None`: nothing), see [`crate::bundle`].
    pub record: Option<crate::bundle::RecordSpec>,
    /// What the gate asks of a caller (`trust_level`, default `L1`): see [`crate::pop`].
    pub trust_level: TrustLevel,
    input_schema_doc: Option<Value>,
    hold_ttl_label: Option<String>,
    /// The passed `gate` and `permissions` checks' messages, rendered at compile time.
    shown: GateShown,
}

/// A gate's check messages that do not depend on the request.
#[derive(Debug, Clone)]
pub(crate) struct GateShown {
    /// The gate's name, shared into every decision without a copy.
    pub(crate) name: Text,
    /// `gate "payments.transfer"`.
    pub(crate) gate: Text,
    /// `has payments:transfer, …`.
    pub(crate) permissions: Text,
    /// The namespace of the gate's counters (`gate:payments.transfer`), spelled once here rather
    /// than per counter per request.
    pub(crate) counters: crate::store::KeyPart,
}

/// Whether a gate's decisions are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Deny when a check fails (the default).
    Enforce,
    /// Decide and record, but always allow (for rollout).
    Monitor,
}

impl Mode {
    /// `"enforce"` or `"monitor"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// The `anonymous` section: gates open to callers without a passport, and the constraints that
/// judge every such request.
#[derive(Debug, Clone)]
pub struct Anonymous {
    /// Gates open to anonymous callers (they need not be defined under `gates`).
    pub gates: Vec<String>,
    /// Constraints judging every anonymous request.
    pub constraints: Vec<Constraint>,
}

impl Policy {
    /// Validates `doc` against the policy schema and compiles it.
    pub fn from_value(doc: Value) -> Result<Policy> {
        json::check_bounds(&doc, Limits::POLICY).map_err(|e| e.into_error(Context::Policy))?;
        schema::check(schema::policy_validator()?, &doc, "")?;
        let version = match doc.get("version").map(json::to_decimal) {
            Some(Ok(v)) if v == rust_decimal::Decimal::ONE => 1,
            _ => return Err(Error::policy("/version", "version must be 1")),
        };
        let issuers = strings(doc.get("issuers"), "/issuers")?;
        let templates = Templates::from_policy(doc.get("templates"))?;
        let mut gates = BTreeMap::new();
        if let Some(section) = doc.get("gates") {
            let obj = section
                .as_object()
                .ok_or_else(|| Error::policy("/gates", "must be an object"))?;
            for (name, g) in obj {
                gates.insert(
                    name.clone(),
                    Gate::compile(name, g, &templates, doc.get("record"))?,
                );
            }
        }
        let anonymous = doc.get("anonymous").map(compile_anonymous).transpose()?;
        let hold_ttl_ms = match doc.get("hold_ttl") {
            None => DEFAULT_HOLD_TTL_MS,
            Some(v) => duration(v, "/hold_ttl")?,
        };
        let event_kinds = crate::engine::EventKind::from_policy(doc.get("events"))?;
        let mut issuer_levels = BTreeMap::new();
        if let Some(Value::Object(m)) = doc.get("issuer_levels") {
            for (did, level) in m {
                let path = format!("/issuer_levels/{}", escape(did));
                crate::keys::public_from_did(did)
                    .map_err(|e| Error::policy(path.clone(), e.to_string()))?;
                issuer_levels.insert(did.clone(), trust_level(Some(level), &path)?);
            }
        }
        let canonical = json::canonical_normalized(&doc).map_err(|e| match e {
            Error::PayloadInvalid { path, message } => Error::policy(path, message),
            other => other,
        })?;
        let hash = json::sha256_tagged(canonical.as_bytes());
        Ok(Policy {
            hash_text: Text::shared(Arc::from(hash.as_str())),
            hash,
            doc,
            version,
            issuers,
            gates,
            anonymous,
            hold_ttl_ms,
            event_kinds,
            issuer_levels,
        })
    }

    /// Parses a policy from JSON text with the strict parser (duplicate keys, size and depth
    /// bounds, exact numbers), then [`Policy::from_value`].
    pub fn parse(text: &str) -> Result<Policy> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        Policy::from_value(json::parse_in(text, Limits::POLICY, Context::Policy)?)
    }

    /// Loads a policy from `arg`: JSON text when it starts (after whitespace) with `{` or `[`,
    /// otherwise the path of a file holding it. A file that cannot be read or is not UTF-8 is
    /// `POLICY_INVALID`.
    pub fn load(arg: &str) -> Result<Policy> {
        let t = arg.trim_start();
        if t.starts_with('{') || t.starts_with('[') {
            return Policy::parse(arg);
        }
        let cannot =
            |e: std::io::Error| Error::policy("/", format!("cannot read policy file {arg:?}: {e}"));
        let file = std::fs::File::open(arg).map_err(cannot)?;
        let max = Limits::POLICY.max_bytes;
        let mut bytes = Vec::new();
        file.take(max as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
        if bytes.len() > max {
            return Err(Error::LimitExceeded(format!(
                "policy file {arg:?} is larger than {max} bytes"
            )));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::policy(
                "/",
                format!(
                    "policy file {arg:?} is not UTF-8 (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        // A mistake in the file is reported with the file's name: a host loading several
        // policies needs to know which one to open.
        Policy::parse(&text).map_err(|e| match e {
            Error::PolicyInvalid { path, message } => Error::PolicyInvalid {
                path,
                message: format!("{message} (in policy file {arg:?})"),
            },
            Error::LimitExceeded(m) => {
                Error::LimitExceeded(format!("{m} (in policy file {arg:?})"))
            }
            other => other,
        })
    }

    /// The gate of that name.
    pub fn gate(&self, name: &str) -> Option<&Gate> {
        self.gates.get(name)
    }

    /// The hold time-to-live for a gate: its own, else the policy's.
    pub fn hold_ttl_for(&self, gate: &str) -> i64 {
        self.gate(gate)
            .and_then(|g| g.hold_ttl_ms)
            .unwrap_or(self.hold_ttl_ms)
    }
}

impl Gate {
    fn compile(
        name: &str,
        doc: &Value,
        templates: &Templates,
        record: Option<&Value>,
    ) -> Result<Gate> {
        let path = format!("/gates/{}", escape(name));
        let description = doc
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        let require = strings(doc.get("require"), &format!("{path}/require"))?;
        let mode = match doc.get("mode").and_then(Value::as_str) {
            None | Some("enforce") => Mode::Enforce,
            Some("monitor") => Mode::Monitor,
            Some(other) => {
                return Err(Error::policy(
                    format!("{path}/mode"),
                    format!("unknown mode {other:?}"),
                ))
            }
        };
        let input_schema_doc = doc.get("input_schema").cloned();
        let input_schema = input_schema_doc
            .as_ref()
            .map(|s| {
                schema::compile_user_schema(s).map_err(|m| {
                    Error::policy(
                        format!("{path}/input_schema"),
                        format!("invalid input_schema: {m}"),
                    )
                })
            })
            .transpose()?;
        let (hold_ttl_ms, hold_ttl_label) = match doc.get("hold_ttl") {
            None => (None, None),
            Some(v) => (
                Some(duration(v, &format!("{path}/hold_ttl"))?),
                v.as_str().map(str::to_string),
            ),
        };
        let mut compiled: Vec<(Constraint, String)> = Vec::new();
        for (i, t) in items(doc.get("templates")).iter().enumerate() {
            let use_path = format!("{path}/templates/{i}");
            for c in templates.apply(t, &use_path)? {
                compiled.push((c, use_path.clone()));
            }
        }
        for (i, c) in items(doc.get("constraints")).iter().enumerate() {
            let cpath = format!("{path}/constraints/{i}");
            let id_path = if c.get("id").is_some() {
                format!("{cpath}/id")
            } else {
                cpath.clone()
            };
            compiled.push((Constraint::compile(c, i, &cpath)?, id_path));
        }
        let constraints = unique_ids(compiled)?;
        let record = crate::bundle::RecordSpec::compile(record, doc.get("record"))?;
        let trust_level = trust_level(doc.get("trust_level"), &format!("{path}/trust_level"))?;
        let shown = GateShown {
            name: Text::shared(Arc::from(name)),
            gate: Text::shared(Arc::from(format!("gate {name:?}"))),
            permissions: Text::shared(Arc::from(format!("has {}", require.join(", ")))),
            counters: crate::store::CounterKey::gate(name).into(),
        };
        Ok(Gate {
            name: name.to_string(),
            description,
            require,
            mode,
            input_schema,
            constraints,
            hold_ttl_ms,
            record,
            trust_level,
            input_schema_doc,
            hold_ttl_label,
            shown,
        })
    }

    /// The passed `gate` and `permissions` checks' messages.
    pub(crate) fn shown(&self) -> &GateShown {
        &self.shown
    }

    /// Checks the payload against the gate's `input_schema`: `None` when the gate has none, else
    /// a check (id and type `input_schema`) whose message names the first failing location.
    pub fn validate_input(&self, payload: &Value) -> Option<Check> {
        let v = self.input_schema.as_ref()?;
        if v.is_valid(payload) {
            return Some(Check::new(
                "input_schema",
                "input_schema",
                true,
                "payload matches input_schema",
            ));
        }
        let message = match v.validate(payload) {
            Err(e) => {
                let at = schema::join("", e.instance_path().as_str());
                schema::truncate(&format!("payload invalid at {at}: {e}"))
            }
            Ok(()) => "payload does not match input_schema".to_string(),
        };
        Some(Check::new("input_schema", "input_schema", false, message))
    }

    /// The gate as described by `list_gates` / `get_gate`: name, description, require, mode,
    /// input_schema, hold_ttl, and its constraints (after template expansion, with their ids).
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "name": self.name,
            "description": self.description,
            "require": self.require,
            "mode": self.mode.as_str(),
            "constraints": self.constraints.iter().map(|c| c.source.clone()).collect::<Vec<_>>(),
        });
        if let Value::Object(m) = &mut v {
            if let Some(s) = &self.input_schema_doc {
                m.insert("input_schema".into(), s.clone());
            }
            if let Some(t) = &self.hold_ttl_label {
                m.insert("hold_ttl".into(), Value::String(t.clone()));
            }
            if let Some(r) = &self.record {
                m.insert("record".into(), r.to_json());
            }
            if self.trust_level != TrustLevel::L1 {
                m.insert(
                    "trust_level".into(),
                    serde_json::to_value(self.trust_level).unwrap_or(Value::Null),
                );
            }
        }
        v
    }
}

/// A `trust_level` value (`None`: `L1`).
fn trust_level(v: Option<&Value>, path: &str) -> Result<TrustLevel> {
    match v.and_then(Value::as_str) {
        None if v.is_none() => Ok(TrustLevel::L1),
        Some("L1") => Ok(TrustLevel::L1),
        Some("L2") => Ok(TrustLevel::L2),
        Some("L3") => Ok(TrustLevel::L3),
        _ => Err(Error::policy(
            path,
            format!(
                "trust_level must be \"L1\", \"L2\" or \"L3\", not {}",
                v.map_or_else(String::new, Value::to_string)
            ),
        )),
    }
}

fn compile_anonymous(doc: &Value) -> Result<Anonymous> {
    let gates = strings(doc.get("gates"), "/anonymous/gates")?;
    let mut compiled = Vec::new();
    for (i, c) in items(doc.get("constraints")).iter().enumerate() {
        let cpath = format!("/anonymous/constraints/{i}");
        let id_path = if c.get("id").is_some() {
            format!("{cpath}/id")
        } else {
            cpath.clone()
        };
        compiled.push((Constraint::compile(c, i, &cpath)?, id_path));
    }
    Ok(Anonymous {
        gates,
        constraints: unique_ids(compiled)?,
    })
}

/// Refuses two constraints with one id (reported at the second one's path).
fn unique_ids(list: Vec<(Constraint, String)>) -> Result<Vec<Constraint>> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for (c, path) in list {
        if !seen.insert(c.id.clone()) {
            return Err(Error::policy(
                path,
                format!("duplicate constraint id {:?}", c.id),
            ));
        }
        out.push(c);
    }
    Ok(out)
}

fn items(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn strings(v: Option<&Value>, path: &str) -> Result<Vec<String>> {
    items(v)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::policy(format!("{path}/{i}"), "must be a string"))
        })
        .collect()
}

fn duration(v: &Value, path: &str) -> Result<i64> {
    let s = v
        .as_str()
        .ok_or_else(|| Error::policy(path, "must be a duration string"))?;
    parse_duration_ms(s).map_err(|m| Error::policy(path, m))
}
