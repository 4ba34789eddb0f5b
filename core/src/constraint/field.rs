//! The stateless checks of a value at a `field`: `max_value`, `min_value`, `allowed_values`,
//! `denied_values`, `pattern`, `allowed_domains`, `denied_domains`, `max_length`.
//!
//! All share one rule: a field absent from the payload fails; with a `*`, every match must pass
//! and zero matches count as absent; a value of the wrong type fails with a message saying so.
//!
//! Nothing is formatted while checking: a check keeps what it saw as typed parts ([`Tail`],
//! decimals, the constraint's texts rendered at compile time) and its message is rendered only
//! when read (see [`Text`]). The strings are exactly those of the eager evaluator this replaced
//! (`reference.rs`, compared by the differential test there).

use std::sync::Arc;

use regex::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

use super::domain::{host_of, DomainList};
use super::values::{json_eq, show, show_bare};
use super::Constraint;
use crate::decision::{Check, Render, Text};
use crate::json;
use crate::pointer::Pointer;

/// One value passed: what was seen, how it ranks among matches (the largest is reported for a
/// wildcard), and the rest of the message after the field's name.
struct Pass {
    observed: Text,
    rank: Option<Decimal>,
    tail: Tail,
}

/// One value failed: what was seen and the rest of the message after the field's name.
struct Fail {
    observed: Option<Text>,
    tail: Tail,
}

/// The rest of a message after the field's name, kept as its parts.
enum Tail {
    /// Already a string (the rare paths: failures of type, parse errors, domains).
    Text(String),
    Static(&'static str),
    /// ` 5 within max 500` and its three siblings.
    Bound {
        observed: Decimal,
        bound: Decimal,
        upper: bool,
        ok: bool,
    },
    /// ` length 3 within max 100` / ` … exceeds max …`.
    Length {
        len: u64,
        max: u64,
        ok: bool,
    },
    /// ` "USD" in allowed values` (`shown` rendered at compile time or for this value), then `after`.
    Shown {
        shown: Arc<str>,
        after: &'static str,
    },
}

impl Tail {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = match self {
            Tail::Text(s) => {
                out.push_str(s);
                Ok(())
            }
            Tail::Static(s) => {
                out.push_str(s);
                Ok(())
            }
            Tail::Bound {
                observed,
                bound,
                upper,
                ok,
            } => {
                let observed = observed.normalize();
                match (upper, ok) {
                    (true, true) => write!(out, " {observed} within max {bound}"),
                    (true, false) => write!(out, " {observed} exceeds max {bound}"),
                    (false, true) => write!(out, " {observed} at least min {bound}"),
                    (false, false) => write!(out, " {observed} is below min {bound}"),
                }
            }
            Tail::Length { len, max, ok: true } => write!(out, " length {len} within max {max}"),
            Tail::Length {
                len,
                max,
                ok: false,
            } => write!(out, " length {len} exceeds max {max}"),
            Tail::Shown { shown, after } => {
                out.push(' ');
                out.push_str(shown);
                out.push_str(after);
                Ok(())
            }
        };
    }
}

/// Who a message is about.
enum Head {
    /// The field's name (rendered at compile time).
    Field(Arc<str>),
    /// One match of a wildcard field.
    Path(String),
    /// Every match of a wildcard field passed: `all 3 values of items/*/n pass (items/2/n …)`.
    All {
        count: usize,
        field: Arc<str>,
        path: String,
    },
}

/// A check's message: its head, then its tail.
struct Message {
    head: Head,
    tail: Tail,
}

impl Render for Message {
    fn render(&self, out: &mut String) {
        match &self.head {
            Head::Field(name) => out.push_str(name),
            Head::Path(path) => out.push_str(label(path)),
            Head::All { count, field, path } => {
                out.push_str("all ");
                out.push_str(&count.to_string());
                out.push_str(" values of ");
                out.push_str(field);
                out.push_str(" pass (");
                out.push_str(label(path));
            }
        }
        self.tail.render(out);
        if let Head::All { .. } = self.head {
            out.push(')');
        }
    }
}

/// A payload value shown bare (for `observed`), rendered when read.
struct Bare(Value);

impl Render for Bare {
    fn render(&self, out: &mut String) {
        out.push_str(&show_bare(&self.0));
    }
}

/// A field's name in messages: the pointer without its leading `/` (`payload` for the root).
pub(super) fn label(p: &str) -> &str {
    match p.strip_prefix('/') {
        Some(l) => l,
        None if p.is_empty() => "payload",
        None => p,
    }
}

fn check(c: &Constraint, passed: bool, message: Text, observed: Option<Text>) -> Check {
    let mut k = Check::new(c.shown.id.clone(), c.ty.as_str(), passed, message);
    k.observed = observed;
    k.limit = Some(c.shown.limit.clone().unwrap_or_default());
    k
}

fn lazy(head: Head, tail: Tail) -> Text {
    Text::lazy(Message { head, tail })
}

/// Runs `test` on every value at `field` and folds the results into one check.
fn each(
    c: &Constraint,
    field: &Pointer,
    payload: &Value,
    test: impl Fn(&Value) -> Result<Pass, Fail>,
) -> Check {
    let missing = || check(c, false, format!("field {field} is missing").into(), None);
    if !field.has_wildcard() {
        let Some(v) = field.resolve_one(payload) else {
            return missing();
        };
        let name = Head::Field(c.shown.label.clone());
        return match test(v) {
            Ok(p) => check(c, true, lazy(name, p.tail), Some(p.observed)),
            Err(f) => check(c, false, lazy(name, f.tail), f.observed),
        };
    }
    let matches = field.resolve_paths(payload);
    let count = matches.len();
    let mut best: Option<(String, Pass)> = None;
    for (path, v) in matches {
        match test(v) {
            Err(f) => return check(c, false, lazy(Head::Path(path), f.tail), f.observed),
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
        Some((path, p)) => {
            let head = Head::All {
                count,
                field: c.shown.label.clone(),
                path,
            };
            check(c, true, lazy(head, p.tail), Some(p.observed))
        }
    }
}

fn not_decimal(v: &Value, why: String) -> Fail {
    Fail {
        observed: Some(show_bare(v).into()),
        tail: Tail::Text(format!(": {why}")),
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
    each(c, field, payload, |v| {
        let d = json::to_decimal(v).map_err(|m| not_decimal(v, m))?;
        let ok = if upper { d <= bound } else { d >= bound };
        let tail = Tail::Bound {
            observed: d,
            bound,
            upper,
            ok,
        };
        let observed = Text::normalized(d);
        if ok {
            Ok(Pass {
                observed,
                rank: Some(if upper { d } else { -d }),
                tail,
            })
        } else {
            Err(Fail {
                observed: Some(observed),
                tail,
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
    each(c, field, payload, |v| {
        let listed = values.iter().position(|x| json_eq(v, x));
        match (allow, listed) {
            (true, Some(i)) => Ok(match c.shown.listed.get(i) {
                // A string equal to a listed string: shown as the list's, rendered at compile.
                Some(Some((quoted, bare))) if v.is_string() => Pass {
                    observed: Text::shared(bare.clone()),
                    rank: None,
                    tail: Tail::Shown {
                        shown: quoted.clone(),
                        after: " in allowed values",
                    },
                },
                _ => pass(v, " in allowed values"),
            }),
            (false, None) => Ok(pass(v, " not denied")),
            (true, None) => Err(fail(
                v,
                format!(
                    " {} not in {}",
                    show(v),
                    c.shown.limit.as_deref().unwrap_or("")
                ),
            )),
            (false, Some(_)) => Err(fail(v, format!(" {} is denied", show(v)))),
        }
    })
}

/// A value passed: shown (quoted) in the message and bare as `observed`, both when read.
fn pass(v: &Value, after: &'static str) -> Pass {
    Pass {
        observed: Text::lazy(Bare(v.clone())),
        rank: None,
        tail: Tail::Shown {
            shown: Arc::from(show(v)),
            after,
        },
    }
}

fn fail(v: &Value, text: String) -> Fail {
    Fail {
        observed: Some(show_bare(v).into()),
        tail: Tail::Text(text),
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
    each(c, field, payload, |v| {
        let s = v.as_str().ok_or_else(|| wrong_type(v, "a string"))?;
        if regex.is_match(s) {
            Ok(Pass {
                observed: Text::lazy(Bare(v.clone())),
                rank: None,
                tail: Tail::Static(" matches the pattern"),
            })
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
    each(c, field, payload, |v| {
        let s = v.as_str().ok_or_else(|| wrong_type(v, "a string"))?;
        let host = host_of(s).map_err(|e| fail(v, format!(": {} {e}", show(v))))?;
        let observed = Text::from(host.to_string());
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
                tail: Tail::Text(text),
            }),
            Err(text) => Err(Fail {
                observed: Some(observed),
                tail: Tail::Text(text),
            }),
        }
    })
}

/// `max_length`: characters (Unicode scalar values) of a string, items of an array.
pub(super) fn max_length(c: &Constraint, field: &Pointer, max: u64, payload: &Value) -> Check {
    each(c, field, payload, |v| {
        let len = match v {
            Value::String(s) => s.chars().count(),
            Value::Array(a) => a.len(),
            other => return Err(wrong_type(other, "a string or an array")),
        } as u64;
        let ok = len <= max;
        let tail = Tail::Length { len, max, ok };
        let observed = Text::normalized(Decimal::from(len));
        if ok {
            Ok(Pass {
                observed,
                rank: Some(Decimal::from(len)),
                tail,
            })
        } else {
            Err(Fail {
                observed: Some(observed),
                tail,
            })
        }
    })
}
