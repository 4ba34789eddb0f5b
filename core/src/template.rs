//! Templates: named, parameterised lists of constraints that gates apply by name.
//!
//! Built-in templates ship with passgate (see [`templates`]); a policy adds its own under
//! `templates`, and may not reuse a built-in's name. A template declares its parameters — each a
//! JSON Schema, with an optional `default`; one without a default is required — and its
//! constraints, in which:
//! - a string value that is exactly `"$name"` is replaced by the parameter's value, whatever its
//!   JSON type (`"max": "$daily_max"` becomes `"max": 1000`); `"$$x"` stands for the literal
//!   string `"$x"`;
//! - a constraint with `"$if": "name"` is kept only when that parameter is neither `null` nor
//!   `false` (optional parts, such as the quota of `rate-limited-api`).
//!
//! Applying a template validates the given parameters against their schemas (unknown and missing
//! ones are errors), substitutes, and compiles the constraints, whose ids become
//! `<template>/<id>` so they never collide with the gate's own.
//!
//! ```json
//! "templates": [ { "name": "payments-conservative", "params": { "daily_max": 1000 } } ]
//! ```

use std::collections::BTreeMap;
use std::sync::OnceLock;

use jsonschema::Validator;
use serde_json::{json, Map, Value};

use crate::constraint::Constraint;
use crate::error::{Error, Result};
use crate::json;
use crate::pointer::escape;
use crate::schema;

/// The built-in templates, as published.
const BUILTIN_TEMPLATES: &str = include_str!("builtin_templates.json");

/// A compiled template.
#[derive(Debug, Clone)]
pub struct Template {
    /// Its name.
    pub name: String,
    /// Its `description`, if any.
    pub description: Option<String>,
    /// Whether it ships with passgate.
    pub builtin: bool,
    params: Vec<Param>,
    constraints: Vec<Value>,
    /// Where it is defined (for errors in user templates).
    path: String,
}

#[derive(Debug, Clone)]
struct Param {
    name: String,
    schema: Value,
    validator: Validator,
    default: Option<Value>,
}

/// What a whole-value string stands for in a template.
enum Placeholder<'a> {
    Param(&'a str),
    Literal(&'a str),
}

fn placeholder(s: &str) -> Option<Placeholder<'_>> {
    let rest = s.strip_prefix('$')?;
    if rest.starts_with('$') {
        return Some(Placeholder::Literal(rest));
    }
    let mut chars = rest.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(Placeholder::Param(rest))
}

impl Template {
    /// Compiles a template document found at `path`.
    pub(crate) fn from_doc(name: &str, doc: &Value, path: &str, builtin: bool) -> Result<Template> {
        let obj = doc
            .as_object()
            .ok_or_else(|| Error::policy(path, "a template must be an object"))?;
        let mut params = Vec::new();
        if let Some(p) = obj.get("params") {
            let p = p
                .as_object()
                .ok_or_else(|| Error::policy(format!("{path}/params"), "must be an object"))?;
            for (pname, pschema) in p {
                let ppath = format!("{path}/params/{}", escape(pname));
                let validator = schema::compile_user_schema(pschema)
                    .map_err(|m| Error::policy(&ppath, format!("invalid parameter schema: {m}")))?;
                let default = pschema.get("default").cloned();
                if let Some(d) = &default {
                    if let Some((at, m)) = schema::first_error(&validator, d) {
                        return Err(Error::policy(format!("{ppath}/default{at}"), m));
                    }
                }
                params.push(Param {
                    name: pname.clone(),
                    schema: pschema.clone(),
                    validator,
                    default,
                });
            }
        }
        let constraints = obj
            .get("constraints")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| Error::policy(path, "a template needs a \"constraints\" array"))?;
        let t = Template {
            name: name.to_string(),
            description: obj
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            builtin,
            params,
            constraints,
            path: path.to_string(),
        };
        for (i, c) in t.constraints.iter().enumerate() {
            let cpath = format!("{path}/constraints/{i}");
            if !c.is_object() {
                return Err(Error::policy(&cpath, "a constraint must be an object"));
            }
            if let Some(cond) = c.get("$if") {
                let known = cond.as_str().is_some_and(|p| t.param(p).is_some());
                if !known {
                    return Err(Error::policy(
                        format!("{cpath}/$if"),
                        "must name a parameter of the template",
                    ));
                }
            }
            t.check_placeholders(c, &mut cpath.clone())?;
        }
        Ok(t)
    }

    fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    fn check_placeholders(&self, v: &Value, path: &mut String) -> Result<()> {
        match v {
            Value::String(s) => match placeholder(s) {
                Some(Placeholder::Param(p)) if self.param(p).is_none() => Err(Error::policy(
                    path.as_str(),
                    format!("\"${p}\" names no parameter of template {}", self.name),
                )),
                _ => Ok(()),
            },
            Value::Array(a) => a.iter().enumerate().try_for_each(|(i, x)| {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let r = self.check_placeholders(x, path);
                path.truncate(len);
                r
            }),
            Value::Object(m) => m.iter().try_for_each(|(k, x)| {
                let len = path.len();
                path.push('/');
                path.push_str(&escape(k));
                let r = self.check_placeholders(x, path);
                path.truncate(len);
                r
            }),
            _ => Ok(()),
        }
    }

    /// The parameter values to use: the given ones, validated, and the defaults.
    fn bind<'a>(
        &'a self,
        given: Option<&'a Value>,
        use_path: &str,
    ) -> Result<BTreeMap<&'a str, &'a Value>> {
        let params_path = format!("{use_path}/params");
        let given = match given {
            None => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(Error::policy(&params_path, "must be an object")),
        };
        for (k, v) in given.into_iter().flatten() {
            let ppath = format!("{params_path}/{}", escape(k));
            let Some(p) = self.param(k) else {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::policy(
                    ppath,
                    format!(
                        "unknown parameter {k:?} of template {} (known: {})",
                        self.name,
                        known.join(", ")
                    ),
                ));
            };
            if let Some((at, m)) = schema::first_error(&p.validator, v) {
                return Err(Error::policy(format!("{ppath}{at}"), m));
            }
        }
        let mut bound = BTreeMap::new();
        for p in &self.params {
            let v = given
                .and_then(|m| m.get(&p.name))
                .or(p.default.as_ref())
                .ok_or_else(|| {
                    let at = if given.is_some() {
                        params_path.as_str()
                    } else {
                        use_path
                    };
                    Error::policy(
                        at,
                        format!(
                            "missing required parameter {:?} of template {}",
                            p.name, self.name
                        ),
                    )
                })?;
            bound.insert(p.name.as_str(), v);
        }
        Ok(bound)
    }

    /// Applies the template with `params` (the `params` of a `{"name", "params"}` object at
    /// `use_path`) and compiles the resulting constraints.
    pub(crate) fn expand(&self, params: Option<&Value>, use_path: &str) -> Result<Vec<Constraint>> {
        let values = self.bind(params, use_path)?;
        let mut out = Vec::with_capacity(self.constraints.len());
        for (i, c) in self.constraints.iter().enumerate() {
            let Some(obj) = c.as_object() else { continue };
            if let Some(cond) = obj.get("$if").and_then(Value::as_str) {
                if matches!(
                    values.get(cond),
                    None | Some(Value::Null | Value::Bool(false))
                ) {
                    continue;
                }
            }
            let mut doc = Map::with_capacity(obj.len());
            for (k, v) in obj {
                if k != "$if" {
                    doc.insert(k.clone(), substitute(v, &values));
                }
            }
            let local_id = match doc.get("id").and_then(Value::as_str) {
                Some(id) => id.to_string(),
                None => {
                    let ty = doc
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("constraint");
                    format!("{ty}#{i}")
                }
            };
            let id = format!("{}/{local_id}", self.name);
            doc.insert("id".into(), Value::String(id.clone()));
            let doc = Value::Object(doc);
            let compiled = if self.builtin {
                Constraint::compile(&doc, i, "").map_err(|e| match e {
                    Error::PolicyInvalid { path, message } => Error::policy(
                        use_path,
                        format!(
                            "template {}, constraint {id} at {path}: {message}",
                            self.name
                        ),
                    ),
                    other => other,
                })
            } else {
                let cpath = format!("{}/constraints/{i}", self.path);
                Constraint::compile(&doc, i, &cpath).map_err(|e| match e {
                    Error::PolicyInvalid { path, message } => Error::policy(
                        path,
                        format!("{message} (template {} applied at {use_path})", self.name),
                    ),
                    other => other,
                })
            }?;
            out.push(compiled);
        }
        Ok(out)
    }

    /// The template as listed by [`templates`]: name, description, params, constraints.
    pub fn to_json(&self) -> Value {
        let params: Map<String, Value> = self
            .params
            .iter()
            .map(|p| (p.name.clone(), p.schema.clone()))
            .collect();
        json!({
            "name": self.name,
            "description": self.description,
            "builtin": self.builtin,
            "params": params,
            "constraints": self.constraints,
        })
    }
}

fn substitute(v: &Value, values: &BTreeMap<&str, &Value>) -> Value {
    match v {
        Value::String(s) => match placeholder(s) {
            Some(Placeholder::Param(p)) => values.get(p).map_or(Value::Null, |x| (*x).clone()),
            Some(Placeholder::Literal(l)) => Value::String(l.to_string()),
            None => v.clone(),
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, values)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn builtins() -> Result<&'static BTreeMap<String, Template>> {
    static B: OnceLock<Result<BTreeMap<String, Template>, String>> = OnceLock::new();
    B.get_or_init(|| {
        let doc =
            json::parse(BUILTIN_TEMPLATES, json::Limits::POLICY).map_err(|e| e.to_string())?;
        let obj = doc.as_object().ok_or("not an object")?;
        obj.iter()
            .map(|(name, t)| {
                Template::from_doc(name, t, &format!("/{name}"), true)
                    .map(|t| (name.clone(), t))
                    .map_err(|e| e.to_string())
            })
            .collect()
    })
    .as_ref()
    .map_err(|e| Error::Internal(format!("built-in templates: {e}")))
}

/// The built-in templates: `[{"name", "description", "params", "constraints"}]`, by name.
pub fn templates() -> Value {
    match builtins() {
        Ok(b) => Value::Array(b.values().map(Template::to_json).collect()),
        Err(_) => Value::Array(Vec::new()),
    }
}

/// Every template a policy with `templates` section `section` can apply: the built-ins, then
/// its own, each with `builtin: true|false`.
pub fn templates_with(section: Option<&Value>) -> Result<Value> {
    let mut out = Vec::new();
    for t in builtins()?.values() {
        out.push(t.to_json());
    }
    for t in Templates::from_policy(section)?.user.values() {
        out.push(t.to_json());
    }
    Ok(Value::Array(out))
}

/// The templates a policy can apply: the built-ins and its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Templates {
    user: BTreeMap<String, Template>,
}

impl Templates {
    /// Compiles the policy's `templates` section (at `/templates`).
    pub(crate) fn from_policy(section: Option<&Value>) -> Result<Templates> {
        let builtin = builtins()?;
        let mut user = BTreeMap::new();
        let Some(section) = section else {
            return Ok(Templates { user });
        };
        let obj = section
            .as_object()
            .ok_or_else(|| Error::policy("/templates", "must be an object"))?;
        for (name, doc) in obj {
            let path = format!("/templates/{}", escape(name));
            if builtin.contains_key(name) {
                return Err(Error::policy(
                    path,
                    format!("template {name:?} has the name of a built-in template"),
                ));
            }
            user.insert(name.clone(), Template::from_doc(name, doc, &path, false)?);
        }
        Ok(Templates { user })
    }

    /// The template of that name, built-in or the policy's own.
    pub(crate) fn get(&self, name: &str) -> Option<&Template> {
        builtins()
            .ok()
            .and_then(|b| b.get(name))
            .or_else(|| self.user.get(name))
    }

    /// Applies one `{"name", "params"}` object found at `use_path`.
    pub(crate) fn apply(&self, use_doc: &Value, use_path: &str) -> Result<Vec<Constraint>> {
        let name = use_doc
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::policy(use_path, "a template use needs a \"name\""))?;
        let t = self.get(name).ok_or_else(|| {
            Error::policy(
                format!("{use_path}/name"),
                format!("unknown template {name:?}"),
            )
        })?;
        t.expand(use_doc.get("params"), use_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_templates_and_expand_with_defaults() {
        let b = builtins().unwrap();
        assert!(b.len() >= 4);
        let v = schema::compile_user_schema(&schema::standalone("template").unwrap()).unwrap();
        let doc: Value = serde_json::from_str(BUILTIN_TEMPLATES).unwrap();
        for (name, t) in b {
            assert!(v.is_valid(&doc[name]), "{name}");
            let cs = t.expand(None, "/x").unwrap();
            assert!(!cs.is_empty(), "{name}");
            assert!(cs.iter().all(|c| c.id.starts_with(&format!("{name}/"))));
        }
    }

    #[test]
    fn placeholders() {
        assert!(matches!(
            placeholder("$max"),
            Some(Placeholder::Param("max"))
        ));
        assert!(matches!(
            placeholder("$$max"),
            Some(Placeholder::Literal("$max"))
        ));
        assert!(placeholder("$5").is_none());
        assert!(placeholder("max").is_none());
        assert!(placeholder("$").is_none());
    }
}
