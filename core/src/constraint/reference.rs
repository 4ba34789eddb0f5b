//! The eager evaluator the lazy one replaced (issue 20), kept for the differential test only.
//!
//! This is the stateless field and time-window checking code as it was before checks kept typed
//! parts and rendered their messages on read: every message, `observed` and `limit` formatted
//! as a `String` on every call. The test below runs both on random constraints and payloads and
//! requires identical checks — verdict, message, `observed`, `limit` — string for string.

use regex::Regex;
use rust_decimal::Decimal;
use serde_json::Value;

use super::domain::{host_of, DomainList};
use super::values::{json_eq, show, show_bare, show_list};
use super::{Constraint, Rule, TimeWindow};
use crate::json;
use crate::pointer::Pointer;

/// A check as the eager evaluator built it: every text a `String`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    pub(crate) constraint: String,
    pub(crate) ty: String,
    pub(crate) passed: bool,
    pub(crate) message: String,
    pub(crate) observed: Option<String>,
    pub(crate) limit: Option<String>,
}

impl Check {
    fn new(constraint: &str, ty: &str, passed: bool, message: impl Into<String>) -> Self {
        Check {
            constraint: constraint.to_string(),
            ty: ty.to_string(),
            passed,
            message: message.into(),
            observed: None,
            limit: None,
        }
    }

    fn with_values(mut self, observed: impl Into<String>, limit: impl Into<String>) -> Self {
        self.observed = Some(observed.into());
        self.limit = Some(limit.into());
        self
    }

    /// The lazy evaluator's check, every text rendered.
    pub(crate) fn of(c: &crate::decision::Check) -> Check {
        Check {
            constraint: c.constraint.to_string(),
            ty: c.ty.to_string(),
            passed: c.passed,
            message: c.message.to_string(),
            observed: c.observed.as_deref().map(str::to_string),
            limit: c.limit.as_deref().map(str::to_string),
        }
    }
}

/// The eager evaluator's check of `c` (field rules and time windows; `None` for the others).
pub(crate) fn eager_check(c: &Constraint, payload: &Value, now_ms: i64) -> Option<Check> {
    Some(match &c.rule {
        Rule::MaxValue { field, max } => bound(c, field, *max, true, payload),
        Rule::MinValue { field, min } => bound(c, field, *min, false, payload),
        Rule::AllowedValues { field, values: v } => values(c, field, v, true, payload),
        Rule::DeniedValues { field, values: v } => values(c, field, v, false, payload),
        Rule::Pattern {
            field,
            regex,
            source,
        } => pattern(c, field, regex, source, payload),
        Rule::AllowedDomains { field, domains: d } => domains(c, field, d, true, payload),
        Rule::DeniedDomains { field, domains: d } => domains(c, field, d, false, payload),
        Rule::MaxLength { field, max } => max_length(c, field, *max, payload),
        Rule::TimeWindow(w) => check_time(c, w, now_ms),
        _ => return None,
    })
}

fn check_time(c: &Constraint, w: &TimeWindow, now_ms: i64) -> Check {
    let ty = c.ty.as_str();
    match contains(w, now_ms) {
        None => Check::new(&c.id, ty, false, "the current time is out of range"),
        Some((inside, seen)) => {
            let (verb, passed) = if inside {
                ("inside", true)
            } else {
                ("outside", false)
            };
            let message = format!("time {seen} {verb} window {}", w.label());
            Check::new(&c.id, ty, passed, message).with_values(seen, w.label())
        }
    }
}

fn contains(w: &TimeWindow, now_ms: i64) -> Option<(bool, String)> {
    use chrono::{DateTime, Datelike, Timelike};
    let local = DateTime::from_timestamp_millis(now_ms)?.with_timezone(&w.tz);
    let minute = u16::try_from(local.hour() * 60 + local.minute()).ok()?;
    let day = local.weekday().num_days_from_monday();
    let on = |d: u32| w.days & (1 << d) != 0;
    let inside = if w.start_min < w.end_min {
        on(day) && w.start_min <= minute && minute < w.end_min
    } else {
        let yesterday = (day + 6) % 7;
        (on(day) && minute >= w.start_min) || (on(yesterday) && minute < w.end_min)
    };
    Some((inside, local.format("%Y-%m-%d %a %H:%M").to_string()))
}

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::constraint::EvalCtx;

    /// Payload values: numbers as written (exact decimals, exponents, huge), strings equal or
    /// near to listed ones, URLs and addresses, long and non-ASCII strings, other types.
    const VALUES: &[&str] = &[
        "5",
        "500",
        "500.00",
        "500.0000000001",
        "1e2",
        "-0",
        "-3.5",
        "0.1",
        "12345678901234567890.123",
        "1e400",
        "\"USD\"",
        "\"EUR\"",
        "\"usd\"",
        "\"x\\\"y\"",
        "\"https://pay.example.org/x\"",
        "\"a@example.com\"",
        "\"evil.com\"",
        "\"not a url\"",
        "\"ÄÖÜ ünïcödé\"",
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
        "true",
        "null",
        "[1, 2, 3]",
        "[\"USD\"]",
        "{\"k\": 1}",
        "1",
        "1.0",
        "2.5",
    ];

    fn constraint_doc(kind: usize, field: &str, p: (usize, usize, usize)) -> String {
        let bounds = [
            "500",
            "0.1",
            "-3",
            "1e2",
            "10.50",
            "0",
            "99999999999999999999",
        ];
        let lists = [
            "[\"USD\", \"EUR\"]",
            "[1, 2.5, true, null]",
            "[\"x\\\"y\", \"ÄÖÜ ünïcödé\", 1.0]",
            "[\"USD\"]",
        ];
        let patterns = ["[A-Z]{3}", ".*", "a+", "[0-9]+", "(USD|EUR)"];
        let domains = ["[\"example.com\"]", "[\"pay.example.org\", \"evil.com\"]"];
        let zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"];
        let times = [
            ("09:00", "17:00"),
            ("22:00", "06:00"),
            ("00:00", "24:00"),
            ("12:30", "12:31"),
        ];
        let (a, b, c) = p;
        match kind {
            0 => format!(
                r#"{{"type": "max_value", "field": "{field}", "max": {}}}"#,
                bounds[a % 7]
            ),
            1 => format!(
                r#"{{"type": "min_value", "field": "{field}", "min": {}}}"#,
                bounds[a % 7]
            ),
            2 => format!(
                r#"{{"type": "allowed_values", "field": "{field}", "values": {}}}"#,
                lists[a % 4]
            ),
            3 => format!(
                r#"{{"type": "denied_values", "field": "{field}", "values": {}}}"#,
                lists[a % 4]
            ),
            4 => format!(
                r#"{{"type": "pattern", "field": "{field}", "regex": "{}"}}"#,
                patterns[a % 5]
            ),
            5 => format!(
                r#"{{"type": "allowed_domains", "field": "{field}", "domains": {}}}"#,
                domains[a % 2]
            ),
            6 => format!(
                r#"{{"type": "denied_domains", "field": "{field}", "domains": {}}}"#,
                domains[a % 2]
            ),
            7 => format!(
                r#"{{"type": "max_length", "field": "{field}", "max": {}}}"#,
                [0, 1, 3, 100][a % 4]
            ),
            _ => {
                let (start, end) = times[a % 4];
                let days = ["", r#", "days": ["mon", "tue", "sat"]"#][b % 2];
                format!(
                    r#"{{"id": "hours", "type": "time_window", "start": "{start}", "end": "{end}", "tz": "{}"{days}}}"#,
                    zones[c % 4]
                )
            }
        }
    }

    fn payload(shape: usize, v: &[usize]) -> String {
        let at = |i: usize| VALUES[v[i] % VALUES.len()];
        match shape {
            0 => format!(r#"{{"a": {}}}"#, at(0)),
            1 => "{}".to_string(),
            2 => format!(
                r#"{{"items": [{{"a": {}}}, {{"a": {}}}, {{"a": {}}}]}}"#,
                at(0),
                at(1),
                at(2)
            ),
            3 => format!(r#"{{"items": [{{"a": {}}}, {{"b": 1}}]}}"#, at(1)),
            4 => r#"{"items": []}"#.to_string(),
            _ => format!(r#"{{"a": {}, "items": [{{"a": {}}}]}}"#, at(2), at(0)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// The lazy evaluator's checks equal the eager one's, text for text, on random
        /// constraints, payloads and times.
        #[test]
        fn lazy_checks_equal_the_eager_ones(
            kind in 0usize..9,
            field in 0usize..3,
            p in (0usize..8, 0usize..8, 0usize..8),
            shape in 0usize..6,
            v in proptest::collection::vec(0usize..64, 3),
            now_ms in prop_oneof![
                Just(i64::MAX),
                Just(i64::MIN),
                0i64..4_000_000_000_000,
            ],
        ) {
            let field = ["/a", "/items/*/a", "/"][field];
            let doc = json::parse(&constraint_doc(kind, field, p), json::Limits::POLICY).unwrap();
            let Ok(c) = Constraint::compile(&doc, 0, "/c") else {
                // A combination the schema refuses (e.g. a pattern on the root) is refused by
                // both: there is nothing to compare.
                return Ok(());
            };
            let payload = json::parse(&payload(shape, &v), json::Limits::PAYLOAD).unwrap();
            let lazy = c.check(&EvalCtx { payload: &payload, now_ms }).unwrap();
            let eager = eager_check(&c, &payload, now_ms).unwrap();
            prop_assert_eq!(Check::of(&lazy), eager.clone());
            // Read twice, and through serde: the same text each time.
            prop_assert_eq!(Check::of(&lazy), eager.clone());
            let json = serde_json::to_value(&lazy).unwrap();
            prop_assert_eq!(json["message"].as_str(), Some(eager.message.as_str()));
            prop_assert_eq!(json["observed"].as_str(), eager.observed.as_deref());
            prop_assert_eq!(json["limit"].as_str(), eager.limit.as_deref());
        }
    }
}
