//! The published JSON Schema of the policy document (`schema/policy.schema.json`), compiled once,
//! and the one way passgate turns JSON Schema validation errors into `POLICY_INVALID` errors with
//! the JSON path of the offending value.
//!
//! The schema's `$defs` are the single source of every constraint type's parameters: the policy
//! validator, the per-constraint validator used by [`crate::Constraint::compile`] and
//! [`crate::constraint_types`] all read them, so they cannot drift apart.
//!
//! User-supplied schemas (a gate's `input_schema`, template parameter schemas) are compiled with
//! [`compile_user_schema`]: the linear-time `regex` engine with a size limit for `pattern`, and no
//! retrieval of remote or file references.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{PatternOptions, Validator};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The policy document's JSON Schema, as published in `schema/policy.schema.json` (read through
/// the link `core/policy.schema.json`, so that the crate packaged alone, e.g. in the Python sdist,
/// still holds it).
pub const POLICY_SCHEMA: &str = include_str!("../policy.schema.json");

/// Compiled-size limit for regular expressions in policies and user schemas (1 MiB).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// How many validation errors are looked at to pick the most specific one.
const MAX_ERRORS_SCANNED: usize = 64;

/// Longest validation message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// The policy schema as a JSON value.
pub fn policy_schema() -> Result<&'static Value> {
    static DOC: OnceLock<Result<Value, String>> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(POLICY_SCHEMA).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| Error::Internal(format!("policy schema does not parse: {e}")))
}

/// One entry of the policy schema's `$defs`.
pub fn def(name: &str) -> Option<&'static Value> {
    policy_schema().ok()?.get("$defs")?.get(name)
}

/// `$defs[name]` as a schema that stands alone: the definition itself plus, under its own
/// `$defs`, every definition it refers to (transitively), so `#/$defs/...` references resolve.
pub fn standalone(name: &str) -> Option<Value> {
    let defs = policy_schema().ok()?.get("$defs")?.as_object()?;
    let root = defs.get(name)?;
    let mut needed = BTreeSet::new();
    let mut todo = Vec::new();
    collect_refs(root, &mut todo);
    while let Some(r) = todo.pop() {
        if needed.insert(r.clone()) {
            if let Some(d) = defs.get(&r) {
                collect_refs(d, &mut todo);
            }
        }
    }
    let mut out = root.as_object()?.clone();
    if !needed.is_empty() {
        let closure: Map<String, Value> = needed
            .into_iter()
            .filter_map(|n| defs.get(&n).map(|d| (n, d.clone())))
            .collect();
        out.insert("$defs".into(), Value::Object(closure));
    }
    Some(Value::Object(out))
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    if let Some(name) = x.as_str().and_then(|s| s.strip_prefix("#/$defs/")) {
                        out.push(name.to_string());
                    }
                } else {
                    collect_refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_refs(x, out)),
        _ => {}
    }
}

fn build(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .with_pattern_options(PatternOptions::regex().size_limit(REGEX_SIZE_LIMIT))
        .build(schema)
        .map_err(|e| truncate(&e.to_string()))
}

/// The validator of whole policy documents, built once.
pub(crate) fn policy_validator() -> Result<&'static Validator> {
    static V: OnceLock<Result<Validator, String>> = OnceLock::new();
    V.get_or_init(|| build(policy_schema().map_err(|e| e.to_string())?))
        .as_ref()
        .map_err(|e| Error::Internal(format!("policy schema does not compile: {e}")))
}

/// The validator of one constraint object (`$defs/constraint`), built once.
pub(crate) fn constraint_validator() -> Result<&'static Validator> {
    static V: OnceLock<Result<Validator, String>> = OnceLock::new();
    V.get_or_init(|| {
        let schema = standalone("constraint").ok_or("no $defs/constraint")?;
        build(&schema)
    })
    .as_ref()
    .map_err(|e| Error::Internal(format!("constraint schema does not compile: {e}")))
}

/// Compiles a schema written by a user (an `input_schema`, a template parameter): linear-time
/// regexes with a size limit, no remote references. The error is the compiler's message.
pub fn compile_user_schema(schema: &Value) -> Result<Validator, String> {
    build(schema)
}

/// Validates `instance` and, when it is invalid, returns a `POLICY_INVALID` error at
/// `base` + the instance path of the most specific (deepest) error.
pub(crate) fn check(validator: &Validator, instance: &Value, base: &str) -> Result<()> {
    match first_error(validator, instance) {
        None => Ok(()),
        Some((path, message)) => Err(Error::policy(join(base, &path), message)),
    }
}

/// The most specific validation error, if any: its instance path (RFC 6901, `""` for the root)
/// and message. Deeper paths win; at one depth an unknown key, then the first reported.
pub fn first_error(validator: &Validator, instance: &Value) -> Option<(String, String)> {
    let mut best: Option<(usize, String, String)> = None;
    for err in validator.iter_errors(instance).take(MAX_ERRORS_SCANNED) {
        let path = err.instance_path().as_str().to_string();
        // Deeper first; at one depth an unknown key outranks the rest (a misspelt required
        // key is reported as the typo, with what was meant).
        let unknown = matches!(err.kind(), ValidationErrorKind::AdditionalProperties { .. });
        let rank = path.matches('/').count() * 2 + usize::from(unknown);
        if best.as_ref().is_none_or(|(d, _, _)| rank > *d) {
            best = Some((rank, path, message(&err)));
        }
    }
    best.map(|(_, p, m)| (p, m))
}

/// A readable message: enums list every option (the crate's own message cuts the list short).
fn message(err: &jsonschema::ValidationError<'_>) -> String {
    if let ValidationErrorKind::AdditionalProperties { unexpected } = err.kind() {
        let named: Vec<String> = unexpected
            .iter()
            .map(
                |k| match crate::suggest::closest(k, known_keys().iter().map(String::as_str)) {
                    Some(s) => format!("{k:?} (did you mean {s:?}?)"),
                    None => format!("{k:?}"),
                },
            )
            .collect();
        return truncate(&format!("unknown key {}", named.join(", ")));
    }
    if let ValidationErrorKind::Enum { options } = err.kind() {
        if let Some(list) = options.as_array() {
            let names: Vec<String> = list.iter().map(Value::to_string).collect();
            return truncate(&format!(
                "{} is not one of {}",
                err.instance(),
                names.join(", ")
            ));
        }
    }
    truncate(&err.to_string())
}

/// Every property name the policy schema defines, anywhere (the vocabulary of "did you mean").
fn known_keys() -> &'static [String] {
    static KEYS: OnceLock<Vec<String>> = OnceLock::new();
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(props)) = m.get("properties") {
                    out.extend(props.keys().cloned());
                }
                m.values().for_each(|x| walk(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    KEYS.get_or_init(|| {
        let mut out = Vec::new();
        if let Ok(doc) = policy_schema() {
            walk(doc, &mut out);
        }
        out.sort();
        out.dedup();
        out
    })
}

/// `base` followed by `rest` (both JSON pointers); the root is written `/`.
pub(crate) fn join(base: &str, rest: &str) -> String {
    let s = format!("{base}{rest}");
    if s.is_empty() {
        "/".to_string()
    } else {
        s
    }
}

/// Cuts `s` to a readable length.
pub(crate) fn truncate(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_compiles_once() {
        assert!(policy_validator().is_ok());
        assert!(constraint_validator().is_ok());
        assert!(policy_validator()
            .unwrap()
            .is_valid(&json!({"version": 1, "gates": {}})));
    }

    #[test]
    fn standalone_carries_its_references() {
        let s = standalone("condition").unwrap();
        let defs = s["$defs"].as_object().unwrap();
        assert!(defs.contains_key("expr") && defs.contains_key("expr_leaf"));
        assert!(defs.contains_key("field") && !defs.contains_key("window"));
        let v = compile_user_schema(&s).unwrap();
        assert!(v.is_valid(&json!({"type": "condition", "expr": {"all": [
            {"field": "/a", "op": "eq", "value": 1}, {"not": {"field": "/b", "op": "exists"}}]}})));
        assert!(!v.is_valid(&json!({"type": "condition", "expr": {"field": "a", "op": "eq"}})));
    }

    #[test]
    fn deepest_error_wins() {
        let v = policy_validator().unwrap();
        let doc = json!({"version": 1, "gates": {"a/b": {"constraints": [
            {"type": "max_value", "field": "amount", "max": 1}]}}});
        let (path, _) = first_error(v, &doc).unwrap();
        assert_eq!(path, "/gates/a~1b/constraints/0/field");
    }
}
