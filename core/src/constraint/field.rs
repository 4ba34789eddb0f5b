//! The stateless checks of a value at a `field`: `max_value`, `min_value`, `allowed_values`,
//! `denied_values`, `pattern`, `allowed_domains`, `denied_domains`, `max_length`.
//!
//! All share one rule: a field absent from the payload fails; with a `*`, every match must pass
//! and zero matches count as absent; a value of the wrong type fails with a message saying so.

use regex::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

use super::domain::{host_of, DomainList};
use super::values::{json_eq, show, show_bare, show_list};
use super::Constraint;
use crate::decision::Check;
use crate::json;
use crate::pointer::Pointer;

/// One value passed: what was seen, how it ranks among matches (the largest is reported for a
/// wildcard), and the rest of the message after the field's name.
struct Pass {
    observed: String,
    rank: Option<Decimal>,
    text: String,
}

/// One value failed: what was seen and the rest of the message after the field's name.
struct Fail {
    observed: Option<String>,
    text: String,
}

fn label(p: &str) -> &str {
    match p.strip_prefix('/') {
        Some(l) => l,
        None if p.is_empty() => "payload",
        None => p,
    }
}

fn check(
    c: &Constraint,
    passed: bool,
    message: String,
    observed: Option<String>,
    limit: &str,
) -> Check {
    let mut k = Check::new(&c.id, c.ty.as_str(), passed, message);
    k.observed = observed;
    k.limit = Some(limit.to_string());
    k
}

/// Runs `test` on every value at `field` and folds the results into one check.
fn each(
    c: &Constraint,
    field: &Pointer,
    payload: &Value,
    limit: &str,
    test: impl Fn(&Value) -> Result<Pass, Fail>,
) -> Check {
    let missing = || check(c, false, format!("field {field} is missing"), None, limit);
    if !field.has_wildcard() {
        let Some(v) = field.resolve_one(payload) else {
            return missing();
        };
        let name = label(field.as_str());
        return match test(v) {
            Ok(p) => check(
                c,
                true,
                format!("{name}{}", p.text),
                Some(p.observed),
                limit,
            ),
            Err(f) => check(c, false, format!("{name}{}", f.text), f.observed, limit),
        };
    }
    let matches = field.resolve_paths(payload);
    let count = matches.len();
    let mut best: Option<(String, Pass)> = None;
    for (path, v) in matches {
        match test(v) {
            Err(f) => {
                return check(
                    c,
                    false,
                    format!("{}{}", label(&path), f.text),
                    f.observed,
                    limit,
                )
            }
            Ok(p) => {
                let better = match (&best, p.rank) {
                    (None, _) => true,
                    (Some((_, b)), Some(r)) => b.rank.is_some_and(|br| r > br),
                    _ => false,
                };
                if better {
                    best = Some((path, p));
                }
            }
        }
    }
    match best {
        None => missing(),
        Some((path, p)) => check(
            c,
            true,
            format!(
                "all {count} values of {} pass ({}{})",
                label(field.as_str()),
                label(&path),
                p.text
            ),
            Some(p.observed),
            limit,
        ),
    }
}

fn not_decimal(v: &Value, why: String) -> Fail {
    Fail {
        observed: Some(show_bare(v)),
        text: format!(": {why}"),
    }
}

/// `max_value` (`upper`) or `min_value` (not `upper`).
pub(super) fn bound(
    c: &Constraint,
    field: &Pointer,
    bound: Decimal,
    upper: bool,
    payload: &Value,
) -> Check {
    let limit = bound.to_string();
    each(c, field, payload, &limit, |v| {
        let d = json::to_decimal(v).map_err(|m| not_decimal(v, m))?;
        let observed = d.normalize().to_string();
        let ok = if upper { d <= bound } else { d >= bound };
        let text = match (upper, ok) {
            (true, true) => format!(" {observed} within max {bound}"),
            (true, false) => format!(" {observed} exceeds max {bound}"),
            (false, true) => format!(" {observed} at least min {bound}"),
            (false, false) => format!(" {observed} is below min {bound}"),
        };
        if ok {
            Ok(Pass {
                observed,
                rank: Some(if upper { d } else { -d }),
                text,
            })
        } else {
            Err(Fail {
                observed: Some(observed),
                text,
            })
        }
    })
}

/// `allowed_values` (`allow`) or `denied_values` (not `allow`).
pub(super) fn values(
    c: &Constraint,
    field: &Pointer,
    values: &[Value],
    allow: bool,
    payload: &Value,
) -> Check {
    let limit = show_list(values);
    each(c, field, payload, &limit, |v| {
        let listed = values.iter().any(|x| json_eq(v, x));
        let shown = show(v);
        match (allow, listed) {
            (true, true) => Ok(pass(v, format!(" {shown} in allowed values"))),
            (false, false) => Ok(pass(v, format!(" {shown} not denied"))),
            (true, false) => Err(fail(v, format!(" {shown} not in {limit}"))),
            (false, true) => Err(fail(v, format!(" {shown} is denied"))),
        }
    })
}

fn pass(v: &Value, text: String) -> Pass {
    Pass {
        observed: show_bare(v),
        rank: None,
        text,
    }
}

fn fail(v: &Value, text: String) -> Fail {
    Fail {
        observed: Some(show_bare(v)),
        text,
    }
}

fn wrong_type(v: &Value, expected: &str) -> Fail {
    fail(
        v,
        format!(": expected {expected}, found {}", json::type_name(v)),
    )
}

/// `pattern`: the string must match the whole-string regex.
pub(super) fn pattern(
    c: &Constraint,
    field: &Pointer,
    regex: &Regex,
    source: &str,
    payload: &Value,
) -> Check {
    each(c, field, payload, source, |v| {
        let s = v.as_str().ok_or_else(|| wrong_type(v, "a string"))?;
        if regex.is_match(s) {
            Ok(pass(v, " matches the pattern".to_string()))
        } else {
            Err(fail(v, format!(" {} does not match {source}", show(v))))
        }
    })
}

/// `allowed_domains` (`allow`) or `denied_domains` (not `allow`).
pub(super) fn domains(
    c: &Constraint,
    field: &Pointer,
    list: &DomainList,
    allow: bool,
    payload: &Value,
) -> Check {
    let shown: Vec<Value> = list
        .entries()
        .iter()
        .map(|h| Value::String(h.to_string()))
        .collect();
    let limit = show_list(&shown);
    each(c, field, payload, &limit, |v| {
        let s = v.as_str().ok_or_else(|| wrong_type(v, "a string"))?;
        let host = host_of(s).map_err(|e| fail(v, format!(": {} {e}", show(v))))?;
        let observed = host.to_string();
        let text = match (allow, list.matching(&host)) {
            (true, Some(d)) => Ok(format!(" host {host} allowed (within {d})")),
            (true, None) => Err(format!(" host {host} not in allowed domains")),
            (false, None) => Ok(format!(" host {host} not denied")),
            (false, Some(d)) => Err(format!(" host {host} is denied (within {d})")),
        };
        match text {
            Ok(text) => Ok(Pass {
                observed,
                rank: None,
                text,
            }),
            Err(text) => Err(Fail {
                observed: Some(observed),
                text,
            }),
        }
    })
}

/// `max_length`: characters (Unicode scalar values) of a string, items of an array.
pub(super) fn max_length(c: &Constraint, field: &Pointer, max: u64, payload: &Value) -> Check {
    let limit = max.to_string();
    each(c, field, payload, &limit, |v| {
        let len = match v {
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.len(),
            other => return Err(wrong_type(other, "a string or an array")),
        } as u64;
        let observed = len.to_string();
        if len <= max {
            Ok(Pass {
                observed,
                rank: Some(Decimal::from(len)),
                text: format!(" length {len} within max {max}"),
            })
        } else {
            Err(Fail {
                observed: Some(observed),
                text: format!(" length {len} exceeds max {max}"),
            })
        }
    })
}
