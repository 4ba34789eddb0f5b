//! Comparing and showing JSON values the way constraints need: numbers by exact decimal value,
//! short renderings for check messages, and whole-string regexes.

use regex::{Regex, RegexBuilder};
use serde_json::Value;

use crate::json;
use crate::schema::REGEX_SIZE_LIMIT;

/// Longest rendering of a payload value in a message or `observed`, in characters.
const MAX_SHOWN_CHARS: usize = 80;

/// JSON equality where two numbers are equal when their exact decimal values are (`1` equals
/// `1.0` and `1e0`), objects ignore key order, and a number never equals a string.
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x.as_str() == y.as_str()
                || match (
                    json::normalize_number(x.as_str()),
                    json::normalize_number(y.as_str()),
                ) {
                    (Ok(p), Ok(q)) => p == q,
                    _ => false,
                }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| json_eq(p, q)))
        }
        _ => a == b,
    }
}

/// A short rendering of a payload value for messages: strings JSON-quoted, numbers in their exact
/// normalised form, everything cut to a readable length.
pub fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            cut(&json::normalize_number(n.as_str()).unwrap_or_else(|_| n.to_string()))
        }
        Value::String(s) => cut(&Value::String(s.clone()).to_string()),
        other => cut(&other.to_string()),
    }
}

/// Like [`show`], but a string is given bare (for `observed`).
pub fn show_bare(v: &Value) -> String {
    match v {
        Value::String(s) => cut(s),
        other => show(other),
    }
}

/// A list of policy values for messages: `[USD, EUR]`.
pub fn show_list(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(show_bare).collect();
    cut(&format!("[{}]", items.join(", ")))
}

/// Cuts `s` to [`MAX_SHOWN_CHARS`] characters, marking the cut.
pub fn cut(s: &str) -> String {
    if s.chars().count() <= MAX_SHOWN_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_SHOWN_CHARS).collect();
    out.push('…');
    out
}

/// Compiles `pattern` so that it must match a *whole* string (`^(?:pattern)$`), with the
/// linear-time `regex` engine and a compiled-size limit. The pattern is first compiled on its
/// own, so that a pattern like `a)|(b` cannot escape the anchors.
pub fn whole_regex(pattern: &str) -> Result<Regex, String> {
    whole_regex_within(pattern, REGEX_SIZE_LIMIT)
}

/// [`whole_regex`] with a compiled-size budget of `limit` bytes (agent-written caveats get a far
/// smaller one than the operator's policy).
pub fn whole_regex_within(pattern: &str, limit: usize) -> Result<Regex, String> {
    let build = |p: &str| {
        RegexBuilder::new(p)
            .size_limit(limit)
            .dfa_size_limit(limit)
            .build()
            .map_err(|e| match e {
                regex::Error::CompiledTooBig(limit) => {
                    format!("regex too large (compiled size over {limit} bytes)")
                }
                other => format!("invalid regex: {}", cut_lines(&other.to_string())),
            })
    };
    build(pattern)?;
    build(&format!("^(?:{pattern})$"))
}

/// The regex crate's multi-line error on one line.
fn cut_lines(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn num(s: &str) -> Value {
        json::parse(s, json::Limits::PAYLOAD).unwrap()
    }

    #[test]
    fn numbers_equal_by_value() {
        assert!(json_eq(&num("1"), &num("1.0")));
        assert!(json_eq(&num("100"), &num("1e2")));
        assert!(!json_eq(&num("1"), &json!("1")));
        assert!(!json_eq(&num("0.1"), &num("0.1000000000000000001")));
        assert!(json_eq(&num(r#"{"a":[1,2]}"#), &num(r#"{"a":[1.0,2e0]}"#)));
    }

    #[test]
    fn whole_match_only() {
        let r = whole_regex("[a-z]+").unwrap();
        assert!(r.is_match("abc"));
        assert!(!r.is_match("abc1"));
        assert!(whole_regex("a)|(b").is_err());
        assert!(whole_regex("(").is_err());
        assert!(whole_regex("a{1000}{1000}")
            .unwrap_err()
            .contains("too large"));
    }
}
