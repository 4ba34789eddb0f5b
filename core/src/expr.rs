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
//! Expressions are three-valued ([`Truth`]): a test is **unknown** when the value is present but
//! cannot be read as the number the op needs — `lt`/`lte`/`gt`/`gte` on anything that is not an
//! exact decimal (`1e30` beyond the 96-bit range, 29+ fractional digits, `"5000 "`, `true`, an
//! object), or `eq`/`ne`/`in` on a number too long to write exactly. A host reading such a value
//! may well see a large amount, so unknown is never taken as false: `not` keeps it unknown and
//! `all` / `any` combine by Kleene logic (`all` is false if any item is false, else unknown if any
//! is; `any` is true if any item is true, else unknown if any is). A `condition` passes only when
//! its expression is true; an `approval` escalates unless its `when` is false. An absent field is
//! not unknown: it keeps the rules above.
//!
//! ```
//! use passgate::__private::expr::Expr;
//! use serde_json::json;
//!
//! let e = Expr::compile(&json!({"all": [
//!     {"field": "/amount", "op": "lt", "value": "100.50"},
//!     {"not": {"field": "/to", "op": "starts_with", "value": "acct_test"}}]}), "/expr").unwrap();
//! assert!(e.eval(&json!({"amount": 100.49, "to": "acct_live_1"})).is_true());
//! assert!(e.eval(&json!({"amount": 100.50, "to": "acct_live_1"})).is_false());
//! assert!(e.eval(&json!({"amount": "100 ", "to": "acct_live_1"})).is_unknown());
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

/// The value of an expression: true, false, or unknown (a value it needs cannot be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    /// Definitely true.
    True,
    /// Definitely false.
    False,
    /// Cannot be decided: a value is present but unreadable as the number a test needs.
    Unknown,
}

impl Truth {
    /// Whether it is definitely true (what a `condition` needs to pass).
    pub fn is_true(self) -> bool {
        self == Truth::True
    }

    /// Whether it is definitely false (what an `approval` needs not to escalate).
    pub fn is_false(self) -> bool {
        self == Truth::False
    }

    /// Whether it cannot be decided.
    pub fn is_unknown(self) -> bool {
        self == Truth::Unknown
    }
}

/// An evaluation with its reason: why it is false, or which value made it unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The expression holds.
    True,
    /// It does not, and why.
    False(String),
    /// It cannot be decided, and which value could not be read.
    Unknown(String),
}

impl Outcome {
    /// The bare truth value.
    pub fn truth(&self) -> Truth {
        match self {
            Outcome::True => Truth::True,
            Outcome::False(_) => Truth::False,
            Outcome::Unknown(_) => Truth::Unknown,
        }
    }
}

/// A compiled condition expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// True when every sub-expression is (false when one is false, else unknown when one is).
    All(Vec<Expr>),
    /// True when at least one sub-expression is (else unknown when one is, else false).
    Any(Vec<Expr>),
    /// True when the sub-expression is false (unknown stays unknown).
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

    /// Whether one (present) value satisfies the operator: `Err` (why) when the value cannot be
    /// read as the number the operator needs, so the answer is unknown.
    fn holds(&self, x: &Value) -> Result<bool, String> {
        let cmp =
            |f: fn(&Decimal, &Decimal) -> bool, d: &Decimal| json::to_decimal(x).map(|v| f(&v, d));
        // Equality needs a number's exact value; one too long to write exactly is unreadable.
        let exact = || match x {
            Value::Number(n) => json::normalize_number(n.as_str()).map(drop),
            _ => Ok(()),
        };
        Ok(match self {
            Op::Eq(v) => {
                exact()?;
                json_eq(x, v)
            }
            Op::Ne(v) => {
                exact()?;
                !json_eq(x, v)
            }
            Op::Lt(d) => cmp(|a, b| a < b, d)?,
            Op::Lte(d) => cmp(|a, b| a <= b, d)?,
            Op::Gt(d) => cmp(|a, b| a > b, d)?,
            Op::Gte(d) => cmp(|a, b| a >= b, d)?,
            Op::In(list) => {
                exact()?;
                list.iter().any(|v| json_eq(x, v))
            }
            Op::Contains(v) => match (x, v) {
                (Value::String(s), Value::String(sub)) => s.contains(sub.as_str()),
                (Value::Array(items), v) => items.iter().any(|i| json_eq(i, v)),
                _ => false,
            },
            Op::StartsWith(p) => x.as_str().is_some_and(|s| s.starts_with(p.as_str())),
            Op::Matches(re, _) => x.as_str().is_some_and(|s| re.is_match(s)),
            Op::Exists(_) => true,
        })
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

    /// Evaluates the expression against a payload (three-valued: see the module documentation).
    pub fn eval(&self, payload: &Value) -> Truth {
        self.explain(payload).truth()
    }

    /// Evaluates the expression and says why it is not true: for false, the first false item of
    /// an `all`, every item of an `any`; for unknown, the value that could not be read.
    pub fn explain(&self, payload: &Value) -> Outcome {
        match self {
            Expr::All(items) => {
                // False wins over unknown, so look at every item until a false one.
                let mut unknown: Option<String> = None;
                for e in items {
                    match e.explain(payload) {
                        Outcome::True => {}
                        Outcome::False(why) => return Outcome::False(why),
                        Outcome::Unknown(why) => {
                            unknown.get_or_insert(why);
                        }
                    }
                }
                unknown.map_or(Outcome::True, Outcome::Unknown)
            }
            Expr::Any(items) => {
                let (mut falses, mut unknowns) = (Vec::new(), Vec::new());
                for e in items {
                    match e.explain(payload) {
                        Outcome::True => return Outcome::True,
                        Outcome::False(why) => falses.push(why),
                        Outcome::Unknown(why) => unknowns.push(why),
                    }
                }
                if unknowns.is_empty() {
                    Outcome::False(format!("none of: {}", falses.join("; ")))
                } else {
                    Outcome::Unknown(unknowns.join("; "))
                }
            }
            Expr::Not(e) => match e.explain(payload) {
                Outcome::True => Outcome::False(format!("not ({e}) is false")),
                Outcome::False(_) => Outcome::True,
                unknown @ Outcome::Unknown(_) => unknown,
            },
            Expr::Test(t) => t.explain(payload),
        }
    }
}

impl Test {
    fn explain(&self, payload: &Value) -> Outcome {
        let field = &self.field;
        if let Op::Exists(want) = self.op {
            let found = field.matches(payload).next().is_some();
            return match (found, want) {
                (true, true) | (false, false) => Outcome::True,
                (false, true) => Outcome::False(format!("{field} is missing")),
                (true, false) => Outcome::False(format!("{field} exists")),
            };
        }
        if !field.has_wildcard() {
            return match field.resolve_one(payload) {
                None => Outcome::False(format!("{field} is missing")),
                Some(x) => self.judge(&field.to_string(), x),
            };
        }
        // Every match must hold: one false match makes the test false, else one unreadable
        // match makes it unknown. Paths are only built for the message.
        let (mut any, mut unknown) = (false, false);
        for x in field.matches(payload) {
            any = true;
            match self.op.holds(x) {
                Ok(true) => {}
                Ok(false) => return self.first_where(payload, |r| matches!(r, Ok(false))),
                Err(_) => unknown = true,
            }
        }
        if unknown {
            self.first_where(payload, |r| r.is_err())
        } else if any {
            Outcome::True
        } else {
            Outcome::False(format!("{field} is missing"))
        }
    }

    /// The outcome for the value `x` found at `at`.
    fn judge(&self, at: &str, x: &Value) -> Outcome {
        match self.op.holds(x) {
            Ok(true) => Outcome::True,
            Ok(false) => Outcome::False(format!("{at} is {}, not {}", show(x), self.op)),
            Err(why) => Outcome::Unknown(format!(
                "{at} is {}, which cannot be read as a number for {}: {why}",
                show(x),
                self.op
            )),
        }
    }

    /// The outcome at the first match of a wildcard field whose result `pick`s.
    fn first_where(
        &self,
        payload: &Value,
        pick: impl Fn(&Result<bool, String>) -> bool,
    ) -> Outcome {
        self.field
            .resolve_paths(payload)
            .into_iter()
            .find(|(_, v)| pick(&self.op.holds(v)))
            .map_or_else(
                || Outcome::Unknown(format!("{} cannot be read", self.field)),
                |(p, v)| self.judge(&p, v),
            )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse, Limits};

    fn expr(doc: &str) -> Expr {
        Expr::compile(&parse(doc, Limits::POLICY).unwrap(), "/e").unwrap()
    }

    fn truth(doc: &str, payload: &str) -> Truth {
        expr(doc).eval(&parse(payload, Limits::PAYLOAD).unwrap())
    }

    const GT: &str = r#"{"field": "/a", "op": "gt", "value": 1000}"#;

    #[test]
    fn unreadable_numbers_are_unknown_not_false() {
        for a in [
            "1e30",
            "79228162514264337593543950336",
            "0.00000000000000000000000000001",
            r#""5000 ""#,
            r#"" 5000""#,
            r#""5,000""#,
            "true",
            "null",
            "[5000]",
            r#"{"v": 5000}"#,
        ] {
            let pay = format!(r#"{{"a": {a}}}"#);
            assert_eq!(truth(GT, &pay), Truth::Unknown, "{a}");
            let not = format!(r#"{{"not": {GT}}}"#);
            assert_eq!(truth(&not, &pay), Truth::Unknown, "not {a}");
        }
        assert_eq!(truth(GT, r#"{"a": "5000"}"#), Truth::True);
        assert_eq!(truth(GT, r#"{"a": 5}"#), Truth::False);
        // Absent is not unknown.
        assert_eq!(truth(GT, "{}"), Truth::False);
        assert_eq!(truth(&format!(r#"{{"not": {GT}}}"#), "{}"), Truth::True);
    }

    #[test]
    fn kleene_all_and_any() {
        let t = r#"{"field": "/t", "op": "exists"}"#;
        let f = r#"{"field": "/f", "op": "exists"}"#;
        let pay = r#"{"t": 1, "a": "1e999 "}"#;
        let all = |x: &str, y: &str| truth(&format!(r#"{{"all": [{x}, {y}]}}"#), pay);
        let any = |x: &str, y: &str| truth(&format!(r#"{{"any": [{x}, {y}]}}"#), pay);
        assert_eq!(all(GT, t), Truth::Unknown);
        assert_eq!(all(GT, f), Truth::False);
        assert_eq!(all(f, GT), Truth::False);
        assert_eq!(any(GT, t), Truth::True);
        assert_eq!(any(GT, f), Truth::Unknown);
        assert_eq!(any(f, f), Truth::False);
    }

    #[test]
    fn wildcards_false_beats_unknown() {
        let w = r#"{"field": "/a/*", "op": "lt", "value": 10}"#;
        assert_eq!(truth(w, r#"{"a": [1, "x", 2]}"#), Truth::Unknown);
        assert_eq!(truth(w, r#"{"a": [1, "x", 20]}"#), Truth::False);
        assert_eq!(truth(w, r#"{"a": [1, 2]}"#), Truth::True);
        let e = expr(w);
        let out = e.explain(&parse(r#"{"a": [1, "9 "]}"#, Limits::PAYLOAD).unwrap());
        assert_eq!(
            out,
            Outcome::Unknown(
                r#"/a/1 is "9 ", which cannot be read as a number for lt 10: "9 " is not a decimal number"#
                    .into()
            )
        );
    }

    #[test]
    fn equality_on_a_number_too_long_to_write_is_unknown() {
        let ne = r#"{"field": "/a", "op": "ne", "value": 0}"#;
        assert_eq!(truth(ne, r#"{"a": 1e-500}"#), Truth::Unknown);
        assert_eq!(truth(ne, r#"{"a": 1e-5}"#), Truth::True);
        assert_eq!(truth(ne, r#"{"a": "x"}"#), Truth::True);
    }
}
