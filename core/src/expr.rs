//! Condition expressions over a payload, as used by the `condition` constraint (and `approval`'s
//! `when`).
//!
//! A test is `{"field": "/p", "op": OP, "value": V}`; tests combine with `{"all": [...]}`,
//! `{"any": [...]}` and `{"not": {...}}`. Expressions are compiled once (pointers parsed, regexes
//! built, decimals read) and nest at most [`MAX_EXPR_DEPTH`] levels.
//!
//! | op | true when the value at `field` … |
//! |---|---|
//! | `eq`, `ne` | equals / does not equal `value` (numbers by exact value; a number never equals a string) |
//! | `lt`, `lte`, `gt`, `gte` | is a number (or decimal string) `<`, `≤`, `>`, `≥` `value`, compared exactly |
//! | `in` | equals one item of the array `value` |
//! | `contains` | is a string containing the string `value`, or an array with an item equal to `value` |
//! | `starts_with` | is a string starting with `value` |
//! | `matches` | is a string matched *as a whole* by the regex `value` (linear-time engine) |
//! | `exists` | is present (`value` true, the default) / absent (`value` false); `null` is present |
//!
//! A missing field makes every op but `exists` false. With a `*` in `field`, every match must
//! satisfy the op and zero matches count as missing (`exists` is true when anything matches).
//!
//! ```
//! use passgate::expr::Expr;
//! use serde_json::json;
//!
//! let e = Expr::compile(&json!({"all": [
//!     {"field": "/amount", "op": "lt", "value": "100.50"},
//!     {"not": {"field": "/to", "op": "starts_with", "value": "acct_test"}}]}), "/expr").unwrap();
//! assert!(e.eval(&json!({"amount": 100.49, "to": "acct_live_1"})));
//! assert!(!e.eval(&json!({"amount": 100.50, "to": "acct_live_1"})));
//! ```

use std::fmt;

use regex::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::constraint::values::{json_eq, show, show_list, whole_regex};
use crate::error::{Error, Result};
use crate::json;
use crate::pointer::Pointer;

/// Deepest accepted nesting of `all` / `any` / `not`.
pub const MAX_EXPR_DEPTH: usize = 32;

/// A compiled condition expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// True when every sub-expression is.
    All(Vec<Expr>),
    /// True when at least one sub-expression is.
    Any(Vec<Expr>),
    /// True when the sub-expression is false.
    Not(Box<Expr>),
    /// A test of the value at a field.
    Test(Test),
}

/// One `{"field", "op", "value"}` test.
#[derive(Debug, Clone)]
pub struct Test {
    /// Where the tested value is.
    pub field: Pointer,
    /// The operator and its operand.
    pub op: Op,
}

/// A test's operator with its compiled operand.
#[derive(Debug, Clone)]
pub enum Op {
    /// Equal (numbers by exact value).
    Eq(Value),
    /// Not equal.
    Ne(Value),
    /// Less than (exact decimals).
    Lt(Decimal),
    /// Less than or equal.
    Lte(Decimal),
    /// Greater than.
    Gt(Decimal),
    /// Greater than or equal.
    Gte(Decimal),
    /// Equal to one of the items.
    In(Vec<Value>),
    /// A substring of a string, or an item of an array.
    Contains(Value),
    /// A prefix of a string.
    StartsWith(String),
    /// A whole-string regex and its source.
    Matches(Regex, String),
    /// Present (`true`) or absent (`false`).
    Exists(bool),
}

impl Op {
    /// The operator's name in the policy (`eq`, `starts_with`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Eq(_) => "eq",
            Op::Ne(_) => "ne",
            Op::Lt(_) => "lt",
            Op::Lte(_) => "lte",
            Op::Gt(_) => "gt",
            Op::Gte(_) => "gte",
            Op::In(_) => "in",
            Op::Contains(_) => "contains",
            Op::StartsWith(_) => "starts_with",
            Op::Matches(..) => "matches",
            Op::Exists(_) => "exists",
        }
    }

    /// Whether one (present) value satisfies the operator.
    fn holds(&self, x: &Value) -> bool {
        let cmp = |f: fn(&Decimal, &Decimal) -> bool, d: &Decimal| {
            json::to_decimal(x).is_ok_and(|v| f(&v, d))
        };
        match self {
            Op::Eq(v) => json_eq(x, v),
            Op::Ne(v) => !json_eq(x, v),
            Op::Lt(d) => cmp(|a, b| a < b, d),
            Op::Lte(d) => cmp(|a, b| a <= b, d),
            Op::Gt(d) => cmp(|a, b| a > b, d),
            Op::Gte(d) => cmp(|a, b| a >= b, d),
            Op::In(list) => list.iter().any(|v| json_eq(x, v)),
            Op::Contains(v) => match (x, v) {
                (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
                (Value::Array(items), v) => items.iter().any(|i| json_eq(i, v)),
                _ => false,
            },
            Op::StartsWith(p) => x.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Op::Matches(re, _) => x.as_str().is_some_and(|s| re.is_match(s)),
            Op::Exists(_) => true,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match self {
            Op::Eq(v) | Op::Ne(v) | Op::Contains(v) => write!(f, "{name} {}", show(v)),
            Op::Lt(d) | Op::Lte(d) | Op::Gt(d) | Op::Gte(d) => write!(f, "{name} {d}"),
            Op::In(list) => write!(f, "{name} {}", show_list(list)),
            Op::StartsWith(s) | Op::Matches(_, s) => {
                write!(f, "{name} {}", show(&Value::String(s.clone())))
            }
            Op::Exists(true) => f.write_str("exists"),
            Op::Exists(false) => f.write_str("does not exist"),
        }
    }
}

impl Expr {
    /// Compiles an expression document found at `path` (for errors).
    pub fn compile(doc: &Value, path: &str) -> Result<Expr> {
        compile_at(doc, path, 1)
    }

    /// Evaluates the expression against a payload.
    pub fn eval(&self, payload: &Value) -> bool {
        self.explain(payload).is_ok()
    }

    /// Evaluates the expression; when it is false, says why (the first failing test of an `all`,
    /// every failing test of an `any`).
    pub fn explain(&self, payload: &Value) -> Result<(), String> {
        match self {
            Expr::All(items) => items.iter().try_for_each(|e| e.explain(payload)),
            Expr::Any(items) => {
                let mut why = Vec::new();
                for e in items {
                    match e.explain(payload) {
                        Ok(()) => return Ok(()),
                        Err(w) => why.push(w),
                    }
                }
                Err(format!("none of: {}", why.join("; ")))
            }
            Expr::Not(e) => match e.explain(payload) {
                Ok(()) => Err(format!("not ({e}) is false")),
                Err(_) => Ok(()),
            },
            Expr::Test(t) => t.explain(payload),
        }
    }
}

impl Test {
    fn explain(&self, payload: &Value) -> Result<(), String> {
        let field = &self.field;
        if let Op::Exists(want) = self.op {
            let found = field.matches(payload).next().is_some();
            return match (found, want) {
                (true, true) | (false, false) => Ok(()),
                (false, true) => Err(format!("{field} is missing")),
                (true, false) => Err(format!("{field} exists")),
            };
        }
        if !field.has_wildcard() {
            return match field.resolve_one(payload) {
                None => Err(format!("{field} is missing")),
                Some(x) if self.op.holds(x) => Ok(()),
                Some(x) => Err(format!("{field} is {}, not {}", show(x), self.op)),
            };
        }
        let mut any = false;
        for x in field.matches(payload) {
            any = true;
            if !self.op.holds(x) {
                let at = field
                    .resolve_paths(payload)
                    .into_iter()
                    .find(|(_, v)| !self.op.holds(v))
                    .map_or_else(|| field.to_string(), |(p, _)| p);
                return Err(format!("{at} is {}, not {}", show(x), self.op));
            }
        }
        if any {
            Ok(())
        } else {
            Err(format!("{field} is missing"))
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, name: &str, items: &[Expr]| {
            write!(f, "{name}(")?;
            for (i, e) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{e}")?;
            }
            f.write_str(")")
        };
        match self {
            Expr::All(items) => list(f, "all", items),
            Expr::Any(items) => list(f, "any", items),
            Expr::Not(e) => write!(f, "not({e})"),
            Expr::Test(t) => write!(f, "{} {}", t.field, t.op),
        }
    }
}

fn compile_at(doc: &Value, path: &str, depth: usize) -> Result<Expr> {
    if depth > MAX_EXPR_DEPTH {
        return Err(Error::policy(
            path,
            format!("expression nested deeper than {MAX_EXPR_DEPTH} levels"),
        ));
    }
    let obj = doc
        .as_object()
        .ok_or_else(|| Error::policy(path, "an expression must be an object"))?;
    for key in ["all", "any", "not"] {
        let Some(inner) = obj.get(key) else { continue };
        let here = format!("{path}/{key}");
        if obj.len() != 1 {
            return Err(Error::policy(
                path,
                format!("{key:?} must be the only key of its object"),
            ));
        }
        if key == "not" {
            return Ok(Expr::Not(Box::new(compile_at(inner, &here, depth + 1)?)));
        }
        let items = inner
            .as_array()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| Error::policy(&here, "must be a non-empty array of expressions"))?;
        let compiled = items
            .iter()
            .enumerate()
            .map(|(i, e)| compile_at(e, &format!("{here}/{i}"), depth + 1))
            .collect::<Result<Vec<_>>>()?;
        return Ok(if key == "all" {
            Expr::All(compiled)
        } else {
            Expr::Any(compiled)
        });
    }
    compile_test(obj, path).map(Expr::Test)
}

fn compile_test(obj: &serde_json::Map<String, Value>, path: &str) -> Result<Test> {
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "field" | "op" | "value"))
    {
        return Err(Error::policy(
            path,
            format!("unknown key {k:?} (a test has field, op and value)"),
        ));
    }
    let field_path = format!("{path}/field");
    let field = obj
        .get("field")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::policy(&field_path, "a test needs a string \"field\""))?;
    let field = crate::constraint::field_pointer(field, &field_path)?;
    let op_name = obj
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::policy(format!("{path}/op"), "a test needs a string \"op\""))?;
    let value_path = format!("{path}/value");
    let value = obj.get("value");
    let need =
        || value.ok_or_else(|| Error::policy(path, format!("op {op_name:?} needs a \"value\"")));
    let decimal = || -> Result<Decimal> {
        json::to_decimal(need()?)
            .map(|d| d.normalize())
            .map_err(|m| Error::policy(&value_path, m))
    };
    let string = || -> Result<String> {
        need()?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::policy(&value_path, "must be a string"))
    };
    let op = match op_name {
        "eq" => Op::Eq(need()?.clone()),
        "ne" => Op::Ne(need()?.clone()),
        "lt" => Op::Lt(decimal()?),
        "lte" => Op::Lte(decimal()?),
        "gt" => Op::Gt(decimal()?),
        "gte" => Op::Gte(decimal()?),
        "in" => Op::In(
            need()?
                .as_array()
                .cloned()
                .ok_or_else(|| Error::policy(&value_path, "op \"in\" needs an array"))?,
        ),
        "contains" => Op::Contains(need()?.clone()),
        "starts_with" => Op::StartsWith(string()?),
        "matches" => {
            let src = string()?;
            let re = whole_regex(&src).map_err(|m| Error::policy(&value_path, m))?;
            Op::Matches(re, src)
        }
        "exists" => Op::Exists(match value {
            None => true,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(Error::policy(&value_path, "must be a boolean")),
        }),
        other => {
            return Err(Error::policy(
                format!("{path}/op"),
                format!("unknown op {other:?}"),
            ))
        }
    };
    Ok(Test { field, op })
}
