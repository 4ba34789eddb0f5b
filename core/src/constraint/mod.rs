//! Constraints: typed rules attached to gates, templates, the anonymous section and passport
//! caveats.
//!
//! A constraint object is validated against the policy schema's definition of its type and
//! compiled **once**, when the policy (or passport) is loaded: pointers parsed, regexes built,
//! decimals read, time zones resolved, domain lists normalised. Evaluation then only reads the
//! payload.
//!
//! Stateless types are checked here by [`Constraint::check`]. The cumulative ones (`rate_limit`,
//! `spend_limit`, `quota`, `concurrency`) compile to a [`Counter`] that the engine evaluates
//! against the state store; `approval` compiles to an [`Expr`] the engine evaluates last (it turns
//! an allow into an escalation); `pii` is checked here and redacted by the engine.
//!
//! Semantics shared by every type with a `field`: a field absent from the payload fails the
//! check; with a `*` segment every match must pass and zero matches count as absent; a value of
//! the wrong type (a string that is not a decimal for `max_value`, a number for `pattern`) fails
//! with a message saying so. `pattern` (and the `matches` op) must match the *whole* string.

mod counter;
mod domain;
mod field;
pub mod pii;
#[cfg(test)]
mod reference;
mod time;
pub(crate) mod values;

use std::fmt;
use std::sync::Arc;

use regex::Regex;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

pub(crate) use counter::duration_grammar_ms;
pub use counter::{parse_duration_ms, Counter, CounterKind, Scope, Window, MAX_DURATION_MS};
pub use domain::{host_of, DomainList, HostName};
pub use time::TimeWindow;

use crate::decision::{Check, Render, Text};
use crate::error::{Error, Result};
use crate::expr::{Expr, Outcome};
use crate::json;
use crate::pointer::Pointer;
use crate::schema;

/// The built-in constraint types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConstraintType {
    /// `max_value`: a number at most a bound.
    MaxValue,
    /// `min_value`: a number at least a bound.
    MinValue,
    /// `allowed_values`: a value in a set.
    AllowedValues,
    /// `denied_values`: a value not in a set.
    DeniedValues,
    /// `pattern`: a string matching a regex as a whole.
    Pattern,
    /// `allowed_domains`: a URL / e-mail host within listed domains.
    AllowedDomains,
    /// `denied_domains`: a URL / e-mail host outside listed domains.
    DeniedDomains,
    /// `max_length`: a string or array no longer than a bound.
    MaxLength,
    /// `time_window`: the current time inside a weekly window.
    TimeWindow,
    /// `condition`: an expression over the payload holds.
    Condition,
    /// `rate_limit`: requests per window (counter).
    RateLimit,
    /// `spend_limit`: summed amounts per window (counter).
    SpendLimit,
    /// `quota`: requests ever (counter).
    Quota,
    /// `concurrency`: requests in flight (holds not yet settled or released).
    Concurrency,
    /// `pii`: personal data in the payload.
    Pii,
    /// `approval`: escalate to a human when a condition holds.
    Approval,
}

impl ConstraintType {
    /// Every type, in the order the README's constraint table lists them.
    pub const ALL: [ConstraintType; 16] = [
        ConstraintType::MaxValue,
        ConstraintType::MinValue,
        ConstraintType::AllowedValues,
        ConstraintType::DeniedValues,
        ConstraintType::Pattern,
        ConstraintType::AllowedDomains,
        ConstraintType::DeniedDomains,
        ConstraintType::MaxLength,
        ConstraintType::TimeWindow,
        ConstraintType::Condition,
        ConstraintType::RateLimit,
        ConstraintType::SpendLimit,
        ConstraintType::Quota,
        ConstraintType::Concurrency,
        ConstraintType::Pii,
        ConstraintType::Approval,
    ];

    /// The snake_case name used in policies (`max_value`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConstraintType::MaxValue => "max_value",
            ConstraintType::MinValue => "min_value",
            ConstraintType::AllowedValues => "allowed_values",
            ConstraintType::DeniedValues => "denied_values",
            ConstraintType::Pattern => "pattern",
            ConstraintType::AllowedDomains => "allowed_domains",
            ConstraintType::DeniedDomains => "denied_domains",
            ConstraintType::MaxLength => "max_length",
            ConstraintType::TimeWindow => "time_window",
            ConstraintType::Condition => "condition",
            ConstraintType::RateLimit => "rate_limit",
            ConstraintType::SpendLimit => "spend_limit",
            ConstraintType::Quota => "quota",
            ConstraintType::Concurrency => "concurrency",
            ConstraintType::Pii => "pii",
            ConstraintType::Approval => "approval",
        }
    }

    /// The type with this name.
    pub fn parse(name: &str) -> Option<ConstraintType> {
        ConstraintType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether the type keeps state in the store (counters, holds).
    pub fn is_stateful(self) -> bool {
        matches!(
            self,
            ConstraintType::RateLimit
                | ConstraintType::SpendLimit
                | ConstraintType::Quota
                | ConstraintType::Concurrency
        )
    }
}

impl fmt::Display for ConstraintType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A compiled constraint.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// Its id: as written, or `<type>#<index>`; `<template>/<id>` when it came from a template.
    pub id: String,
    /// Its type.
    pub ty: ConstraintType,
    /// Its `description`, if any.
    pub description: Option<String>,
    /// What it checks, compiled.
    pub rule: Rule,
    /// The constraint object it was compiled from, with its `id` filled in (first key).
    pub source: Value,
    /// Its texts for checks, rendered once at compile time (see [`Shown`]).
    pub(crate) shown: Shown,
}

/// What a constraint's checks show that does not depend on the request, rendered once when the
/// constraint is compiled and shared (no copy) by every check it makes.
#[derive(Debug, Clone)]
pub(crate) struct Shown {
    /// The id.
    pub(crate) id: Text,
    /// The id as a counter key's part: the same shared string.
    pub(crate) key: crate::store::KeyPart,
    /// The field's name in messages (`amount` for `/amount`).
    pub(crate) label: Arc<str>,
    /// The bound, list or pattern a check reports as its `limit`.
    pub(crate) limit: Option<Text>,
    /// For `allowed_values` / `denied_values`: each listed string's renderings (quoted, bare),
    /// for messages about a payload string equal to it (`None` for other values).
    pub(crate) listed: Vec<Option<(Arc<str>, Arc<str>)>>,
}

impl Shown {
    fn of(id: &str, rule: &Rule) -> Shown {
        let shared = |s: String| Some(Text::shared(Arc::from(s)));
        let (field, limit, listed) = match rule {
            Rule::MaxValue { field, max: b } | Rule::MinValue { field, min: b } => {
                (Some(field), shared(b.to_string()), Vec::new())
            }
            Rule::AllowedValues { field, values } | Rule::DeniedValues { field, values } => {
                let listed = values
                    .iter()
                    .map(|v| match v {
                        Value::String(_) => {
                            Some((Arc::from(values::show(v)), Arc::from(values::show_bare(v))))
                        }
                        _ => None,
                    })
                    .collect();
                (Some(field), shared(values::show_list(values)), listed)
            }
            Rule::Pattern { field, source, .. } => {
                (Some(field), shared(source.clone()), Vec::new())
            }
            Rule::AllowedDomains { field, domains } | Rule::DeniedDomains { field, domains } => {
                let shown: Vec<Value> = domains
                    .entries()
                    .iter()
                    .map(|h| Value::String(h.to_string()))
                    .collect();
                (Some(field), shared(values::show_list(&shown)), Vec::new())
            }
            Rule::MaxLength { field, max } => (Some(field), shared(max.to_string()), Vec::new()),
            Rule::TimeWindow(w) => (None, shared(w.label().to_string()), Vec::new()),
            _ => (None, None, Vec::new()),
        };
        let key: Arc<str> = Arc::from(id);
        Shown {
            id: Text::shared(key.clone()),
            key: key.into(),
            label: Arc::from(field.map_or("", |f| field::label(f.as_str()))),
            limit,
            listed,
        }
    }
}

/// What a constraint checks, with its parameters compiled.
#[derive(Debug, Clone)]
pub enum Rule {
    /// The number at `field` is at most `max`.
    MaxValue {
        /// Where the number is.
        field: Pointer,
        /// The bound (normalised).
        max: Decimal,
    },
    /// The number at `field` is at least `min`.
    MinValue {
        /// Where the number is.
        field: Pointer,
        /// The bound (normalised).
        min: Decimal,
    },
    /// The value at `field` equals one of `values`.
    AllowedValues {
        /// Where the value is.
        field: Pointer,
        /// The accepted values.
        values: Vec<Value>,
    },
    /// The value at `field` equals none of `values`.
    DeniedValues {
        /// Where the value is.
        field: Pointer,
        /// The refused values.
        values: Vec<Value>,
    },
    /// The string at `field` matches `regex` as a whole.
    Pattern {
        /// Where the string is.
        field: Pointer,
        /// The pattern, anchored: `^(?:source)$`.
        regex: Regex,
        /// The pattern as written.
        source: String,
    },
    /// The host at `field` is within `domains`.
    AllowedDomains {
        /// Where the URL, e-mail address or host is.
        field: Pointer,
        /// The accepted domains (subdomains included).
        domains: DomainList,
    },
    /// The host at `field` is within none of `domains`.
    DeniedDomains {
        /// Where the URL, e-mail address or host is.
        field: Pointer,
        /// The refused domains (subdomains included).
        domains: DomainList,
    },
    /// The string or array at `field` has at most `max` elements.
    MaxLength {
        /// Where the string or array is.
        field: Pointer,
        /// The bound.
        max: u64,
    },
    /// The current time is inside the window.
    TimeWindow(TimeWindow),
    /// The expression holds.
    Condition(Expr),
    /// A cumulative constraint, evaluated by the engine against the store.
    Counter(Counter),
    /// Personal data in the payload's strings, keys and numbers.
    Pii(pii::PiiRule),
    /// When the expression holds, the request needs a human approval (evaluated by the engine).
    Approval(Expr),
}

/// What a stateless check looks at.
#[derive(Debug, Clone, Copy)]
pub struct EvalCtx<'a> {
    /// The request's payload.
    pub payload: &'a Value,
    /// The current time, epoch milliseconds.
    pub now_ms: i64,
}

impl Constraint {
    /// Validates and compiles one constraint object. `index` is its position in its list (for the
    /// default id `<type>#<index>`), `path` the JSON path of the object, for errors.
    pub fn compile(doc: &Value, index: usize, path: &str) -> Result<Constraint> {
        // Documents built in memory (caveats, bindings) get the parser's bounds too.
        json::check_bounds(doc, json::Limits::POLICY)
            .map_err(|e| e.into_error(json::Context::Policy))?;
        schema::check(schema::constraint_validator()?, doc, path)?;
        let obj = doc
            .as_object()
            .ok_or_else(|| Error::policy(path, "a constraint must be an object"))?;
        let type_path = format!("{path}/type");
        let name = obj
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::policy(path, "a constraint needs a string \"type\""))?;
        let ty = ConstraintType::parse(name).ok_or_else(|| {
            Error::policy(&type_path, format!("unknown constraint type {name:?}"))
        })?;
        let id = match obj.get("id") {
            None => format!("{ty}#{index}"),
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => {
                return Err(Error::policy(
                    format!("{path}/id"),
                    "must be a non-empty string",
                ))
            }
        };
        let description = obj
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string);
        let rule = compile_rule(ty, doc, path)?;
        let mut source = Map::with_capacity(obj.len() + 1);
        source.insert("id".into(), Value::String(id.clone()));
        for (k, v) in obj {
            if k != "id" {
                source.insert(k.clone(), v.clone());
            }
        }
        Ok(Constraint {
            shown: Shown::of(&id, &rule),
            id,
            ty,
            description,
            rule,
            source: Value::Object(source),
        })
    }

    /// Stateless evaluation. `None` for counters: the engine evaluates those against the store.
    pub fn check(&self, ctx: &EvalCtx) -> Option<Check> {
        let payload = ctx.payload;
        Some(match &self.rule {
            Rule::MaxValue { field, max } => field::bound(self, field, *max, true, payload),
            Rule::MinValue { field, min } => field::bound(self, field, *min, false, payload),
            Rule::AllowedValues { field, values } => {
                field::values(self, field, values, true, payload)
            }
            Rule::DeniedValues { field, values } => {
                field::values(self, field, values, false, payload)
            }
            Rule::Pattern {
                field,
                regex,
                source,
            } => field::pattern(self, field, regex, source, payload),
            Rule::AllowedDomains { field, domains } => {
                field::domains(self, field, domains, true, payload)
            }
            Rule::DeniedDomains { field, domains } => {
                field::domains(self, field, domains, false, payload)
            }
            Rule::MaxLength { field, max } => field::max_length(self, field, *max, payload),
            Rule::TimeWindow(w) => self.check_time(w, ctx.now_ms),
            // Only a definitely true expression passes: an unreadable value fails the check.
            Rule::Condition(e) => match e.explain(payload) {
                Outcome::True => Check::new(
                    self.shown.id.clone(),
                    self.ty.as_str(),
                    true,
                    "condition holds",
                ),
                Outcome::False(why) => Check::new(
                    self.shown.id.clone(),
                    self.ty.as_str(),
                    false,
                    schema::truncate(&format!("condition not met: {why}")),
                ),
                Outcome::Unknown(why) => Check::new(
                    self.shown.id.clone(),
                    self.ty.as_str(),
                    false,
                    schema::truncate(&format!("condition cannot be decided: {why}")),
                ),
            },
            Rule::Pii(rule) => self.check_pii(rule, payload),
            Rule::Counter(_) | Rule::Approval(_) => return None,
        })
    }

    /// The counter, for cumulative constraints.
    pub fn counter(&self) -> Option<&Counter> {
        match &self.rule {
            Rule::Counter(c) => Some(c),
            _ => None,
        }
    }

    fn check_pii(&self, rule: &pii::PiiRule, payload: &Value) -> Check {
        let ty = self.ty.as_str();
        let found = rule.findings(payload);
        if found.is_empty() {
            return Check::new(self.shown.id.clone(), ty, true, "no personal data found")
                .with_values("0", "0");
        }
        let mut kinds: Vec<&str> = found.iter().map(|(_, f)| f.kind.as_str()).collect();
        kinds.sort_unstable();
        kinds.dedup();
        let mut at: Vec<&str> = found
            .iter()
            .map(|(p, _)| if p.is_empty() { "/" } else { p.as_str() })
            .collect();
        at.dedup();
        let what = format!("{} at {}", kinds.join(", "), at.join(", "));
        let (passed, message) = match rule.mode {
            pii::PiiMode::Block => (false, format!("personal data found: {what}")),
            pii::PiiMode::Redact => (true, format!("personal data redacted: {what}")),
            pii::PiiMode::LogOnly => (true, format!("personal data found (logged only): {what}")),
        };
        Check::new(
            self.shown.id.clone(),
            ty,
            passed,
            schema::truncate(&message),
        )
        .with_values(found.len().to_string(), "0")
    }

    fn check_time(&self, w: &TimeWindow, now_ms: i64) -> Check {
        let ty = self.ty.as_str();
        let id = self.shown.id.clone();
        match w.local_time(now_ms) {
            None => Check::new(id, ty, false, "the current time is out of range"),
            Some((inside, local)) => {
                let label = self.shown.limit.clone().unwrap_or_default();
                let message = Text::lazy(TimeMessage {
                    local,
                    inside,
                    label: label.clone(),
                });
                Check::new(id, ty, inside, message).with_values(Text::lazy(TimeSeen(local)), label)
            }
        }
    }
}

/// `time 2024-01-06 Sat 10:00 inside window …`, rendered when read.
struct TimeMessage {
    local: time::LocalTime,
    inside: bool,
    label: Text,
}

impl Render for TimeMessage {
    fn render(&self, out: &mut String) {
        let verb = if self.inside { "inside" } else { "outside" };
        out.push_str("time ");
        time::write_local(out, &self.local);
        out.push(' ');
        out.push_str(verb);
        out.push_str(" window ");
        out.push_str(&self.label);
    }
}

/// The local time a window saw (`2024-01-06 Sat 10:00`), rendered when read.
struct TimeSeen(time::LocalTime);

impl Render for TimeSeen {
    fn render(&self, out: &mut String) {
        time::write_local(out, &self.0);
    }
}

/// A payload pointer from a policy: must start with `/`.
pub(crate) fn field_pointer(s: &str, path: &str) -> Result<Pointer> {
    if !s.starts_with('/') {
        return Err(Error::policy(
            path,
            format!("field {s:?} must be a JSON pointer starting with \"/\""),
        ));
    }
    Pointer::parse(s).map_err(|m| Error::policy(path, m))
}

fn compile_rule(ty: ConstraintType, doc: &Value, path: &str) -> Result<Rule> {
    let field_path = format!("{path}/field");
    let field = || -> Result<Pointer> {
        let s = doc
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::policy(path, "\"field\" is required"))?;
        field_pointer(s, &field_path)
    };
    let param = |name: &str| -> Result<&Value> {
        doc.get(name)
            .ok_or_else(|| Error::policy(path, format!("{name:?} is required")))
    };
    let decimal = |name: &str| -> Result<Decimal> {
        json::to_decimal(param(name)?)
            .map(|d| d.normalize())
            .map_err(|m| Error::policy(format!("{path}/{name}"), m))
    };
    let list = |name: &str| -> Result<Vec<Value>> {
        param(name)?
            .as_array()
            .cloned()
            .ok_or_else(|| Error::policy(format!("{path}/{name}"), "must be an array"))
    };
    let domains = || -> Result<DomainList> {
        DomainList::compile(&list("domains")?)
            .map_err(|(i, m)| Error::policy(format!("{path}/domains/{i}"), m))
    };
    Ok(match ty {
        ConstraintType::MaxValue => Rule::MaxValue {
            field: field()?,
            max: decimal("max")?,
        },
        ConstraintType::MinValue => Rule::MinValue {
            field: field()?,
            min: decimal("min")?,
        },
        ConstraintType::AllowedValues => Rule::AllowedValues {
            field: field()?,
            values: list("values")?,
        },
        ConstraintType::DeniedValues => Rule::DeniedValues {
            field: field()?,
            values: list("values")?,
        },
        ConstraintType::Pattern => {
            let source = param("regex")?
                .as_str()
                .ok_or_else(|| Error::policy(format!("{path}/regex"), "must be a string"))?
                .to_string();
            let regex = values::whole_regex(&source)
                .map_err(|m| Error::policy(format!("{path}/regex"), m))?;
            Rule::Pattern {
                field: field()?,
                regex,
                source,
            }
        }
        ConstraintType::AllowedDomains => Rule::AllowedDomains {
            field: field()?,
            domains: domains()?,
        },
        ConstraintType::DeniedDomains => Rule::DeniedDomains {
            field: field()?,
            domains: domains()?,
        },
        ConstraintType::MaxLength => {
            let max = decimal("max")?;
            let max = u64::try_from(max)
                .ok()
                .filter(|_| max.fract().is_zero())
                .ok_or_else(|| {
                    Error::policy(format!("{path}/max"), "must be a non-negative integer")
                })?;
            Rule::MaxLength {
                field: field()?,
                max,
            }
        }
        ConstraintType::TimeWindow => Rule::TimeWindow(TimeWindow::compile(doc, path)?),
        ConstraintType::Condition => {
            Rule::Condition(Expr::compile(param("expr")?, &format!("{path}/expr"))?)
        }
        ConstraintType::RateLimit => Rule::Counter(counter::compile(CounterKind::Rate, doc, path)?),
        ConstraintType::SpendLimit => {
            Rule::Counter(counter::compile(CounterKind::Spend, doc, path)?)
        }
        ConstraintType::Quota => Rule::Counter(counter::compile(CounterKind::Quota, doc, path)?),
        ConstraintType::Concurrency => {
            Rule::Counter(counter::compile(CounterKind::Concurrency, doc, path)?)
        }
        ConstraintType::Approval => {
            Rule::Approval(Expr::compile(param("when")?, &format!("{path}/when"))?)
        }
        ConstraintType::Pii => {
            let mode = match param("mode")?.as_str() {
                Some("block") => pii::PiiMode::Block,
                Some("redact") => pii::PiiMode::Redact,
                Some("log_only") => pii::PiiMode::LogOnly,
                _ => {
                    return Err(Error::policy(
                        format!("{path}/mode"),
                        "must be block, redact or log_only",
                    ))
                }
            };
            let field = match doc.get("field") {
                None => None,
                Some(_) => Some(field()?),
            };
            let kinds = match doc.get("kinds") {
                None => pii::PiiKind::ALL.to_vec(),
                Some(_) => list("kinds")?
                    .iter()
                    .enumerate()
                    .map(|(i, k)| {
                        k.as_str().and_then(pii::PiiKind::parse).ok_or_else(|| {
                            Error::policy(
                                format!("{path}/kinds/{i}"),
                                "must be email, phone, card, iban or ssn",
                            )
                        })
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            Rule::Pii(pii::PiiRule { mode, field, kinds })
        }
    })
}

/// Every constraint type: `[{"type", "description", "stateful", "params"}]`, where
/// `params` is the JSON Schema of the constraint object (from the published policy schema).
pub fn constraint_types() -> Value {
    let types = ConstraintType::ALL.iter().map(|t| {
        let mut params = schema::standalone(t.as_str()).unwrap_or(Value::Null);
        let description = params.get("description").cloned().unwrap_or(Value::Null);
        if let Value::Object(m) = &mut params {
            let mut with_schema = Map::with_capacity(m.len() + 1);
            with_schema.insert(
                "$schema".into(),
                Value::from("https://json-schema.org/draft/2020-12/schema"),
            );
            with_schema.append(m);
            *m = with_schema;
        }
        json!({
            "type": t.as_str(),
            "description": description,
            "stateful": t.is_stateful(),
            "params": params,
        })
    });
    Value::Array(types.collect())
}
