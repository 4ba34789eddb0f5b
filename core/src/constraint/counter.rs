//! The compiled form of the cumulative constraints — `rate_limit`, `spend_limit`, `quota`,
//! `concurrency` — and
//! their windows, scopes and durations. Only compiled here: the engine evaluates them against the
//! state store.

use std::fmt;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::calendar::{Calendar, CalendarUnit, Zone};
use crate::error::{Error, Result};
use crate::json;
use crate::pointer::Pointer;

/// Longest accepted duration: 366 days, in milliseconds.
pub const MAX_DURATION_MS: i64 = 366 * 24 * 3600 * 1000;

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterKind {
    /// Requests per window (`rate_limit`).
    Rate,
    /// The sum of an amount per window (`spend_limit`).
    Spend,
    /// Requests ever (`quota`).
    Quota,
    /// Requests in flight: holds not yet settled or released (`concurrency`).
    Concurrency,
}

/// A cumulative constraint, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// What it counts.
    pub kind: CounterKind,
    /// The cap: a count (an integer) for rate and quota, an amount for spend.
    pub max: Decimal,
    /// The window; `None` for a quota.
    pub window: Option<Window>,
    /// Whose counter.
    pub scope: Scope,
    /// For spend: where the amount is (with `*`, the matches are summed).
    pub amount: Option<Pointer>,
    /// The decimal places `max` was written with: a decision's `remaining` keeps them (a cap of
    /// `1000.00` leaves `"600.00"`, not `"600"`).
    pub scale: u32,
}

/// A counting window.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Window {
    /// Length in milliseconds (0 for a calendar window, whose length varies).
    pub size_ms: i64,
    /// `sliding` (no interval of this length holds more than the cap) or `fixed` (aligned to the
    /// epoch, so a `1d` window is a UTC day).
    pub sliding: bool,
    /// The duration as written (`"1d"`), or a calendar window as `day (Europe/Berlin)`.
    pub label: String,
    /// `" per <label>"`, as a cumulative check's message ends: rendered once, here, and shared
    /// by every decision (not formatted per request).
    pub per: std::sync::Arc<str>,
    /// A calendar window (`"day"`, `"week"`, `"month"` in a time zone) instead of a duration.
    pub calendar: Option<Calendar>,
}

/// Whose counter a cumulative constraint advances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// One counter per agent (the default).
    Agent,
    /// One counter per passport.
    Passport,
    /// One counter per gate, shared by every caller.
    Gate,
    /// One counter per constraint id, shared by every gate declaring that id.
    Global,
    /// One counter per host-supplied client key (anonymous callers).
    Client,
    /// One counter per value at a pointer in the payload.
    Field(Pointer),
}

impl Scope {
    /// Parses `agent`, `passport`, `gate`, `global`, `client` or `field:/pointer` (no `*`).
    pub fn parse(s: &str) -> Result<Scope, String> {
        Ok(match s {
            "agent" => Scope::Agent,
            "passport" => Scope::Passport,
            "gate" => Scope::Gate,
            "global" => Scope::Global,
            "client" => Scope::Client,
            other => {
                let Some(p) = other.strip_prefix("field:") else {
                    return Err(format!(
                        "unknown scope {other:?} (agent, passport, gate, global, client or field:/pointer)"
                    ));
                };
                if !p.starts_with('/') {
                    return Err(format!("scope field {p:?} must start with \"/\""));
                }
                let ptr = Pointer::parse(p)?;
                if ptr.has_wildcard() {
                    return Err("a scope field cannot have a \"*\" segment".to_string());
                }
                Scope::Field(ptr)
            }
        })
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Agent => f.write_str("agent"),
            Scope::Passport => f.write_str("passport"),
            Scope::Gate => f.write_str("gate"),
            Scope::Global => f.write_str("global"),
            Scope::Client => f.write_str("client"),
            Scope::Field(p) => write!(f, "field:{p}"),
        }
    }
}

/// Parses a duration `^[1-9][0-9]*(s|m|h|d)$` of at most 366 days into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let ms = duration_grammar_ms(s).ok_or_else(|| {
        format!(
            "{s:?} is not a duration: use a duration like 30s, 15m, 1h, 1d (a positive whole \
             number, then s, m, h or d)"
        )
    })?;
    match i64::try_from(ms) {
        Ok(ms) if ms <= MAX_DURATION_MS => Ok(ms),
        _ => Err(format!("duration {s:?} is longer than 366d")),
    }
}

/// The one duration grammar, `^[1-9][0-9]*(s|m|h|d)$`, in milliseconds, unbounded (`i128`: no
/// overflow); `None` when `s` does not match it. Each use applies its own bound.
pub(crate) fn duration_grammar_ms(s: &str) -> Option<i128> {
    let unit_ms: i128 = match s.as_bytes().last() {
        Some(b's') => 1000,
        Some(b'm') => 60_000,
        Some(b'h') => 3_600_000,
        Some(b'd') => 86_400_000,
        _ => return None,
    };
    let digits = s.get(..s.len() - 1)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    i128::from(n).checked_mul(unit_ms)
}

/// Compiles the counter parameters of a constraint object at `path`.
pub(super) fn compile(kind: CounterKind, doc: &Value, path: &str) -> Result<Counter> {
    let max_v = doc
        .get("max")
        .ok_or_else(|| Error::policy(path, "\"max\" is required"))?;
    let max_path = format!("{path}/max");
    let max = json::to_decimal(max_v).map_err(|m| Error::policy(&max_path, m))?;
    if max.is_sign_negative() && !max.is_zero() {
        return Err(Error::policy(&max_path, "must not be negative"));
    }
    if kind != CounterKind::Spend && !max.fract().is_zero() {
        return Err(Error::policy(&max_path, "must be a whole number (a count)"));
    }
    let window = match (kind, doc.get("window")) {
        (CounterKind::Quota | CounterKind::Concurrency, None) => None,
        (CounterKind::Quota | CounterKind::Concurrency, Some(_)) => {
            return Err(Error::policy(
                format!("{path}/window"),
                "a quota or concurrency constraint has no window",
            ))
        }
        (_, None) => return Err(Error::policy(path, "\"window\" is required")),
        (_, Some(w)) => Some(window(w, doc.get("tz"), path)?),
    };
    let scope = match doc.get("scope") {
        None => Scope::Agent,
        Some(v) => {
            let s = v
                .as_str()
                .ok_or_else(|| Error::policy(format!("{path}/scope"), "must be a string"))?;
            Scope::parse(s).map_err(|m| Error::policy(format!("{path}/scope"), m))?
        }
    };
    let amount = match kind {
        CounterKind::Spend => {
            let f = doc
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::policy(path, "\"field\" is required"))?;
            Some(super::field_pointer(f, &format!("{path}/field"))?)
        }
        _ => None,
    };
    Ok(Counter {
        kind,
        scale: json::written_scale(max_v),
        max: max.normalize(),
        window,
        scope,
        amount,
    })
}

/// The window at `{constraint}/window`; `tz` is the constraint's own `tz` (for `"window": "day"`).
fn window(v: &Value, tz: Option<&Value>, constraint: &str) -> Result<Window> {
    let path = &format!("{constraint}/window");
    let tz_path = format!("{constraint}/tz");
    let is_calendar = match v {
        Value::String(s) => CalendarUnit::parse(s).is_some(),
        Value::Object(o) => o.get("kind").and_then(Value::as_str) == Some("calendar"),
        _ => false,
    };
    if is_calendar {
        return calendar_window(v, tz, path, &tz_path);
    }
    if tz.is_some() {
        return Err(Error::policy(
            tz_path,
            "\"tz\" applies only to a calendar window (\"day\", \"week\" or \"month\")",
        ));
    }
    let (size, sliding, size_path) = match v {
        Value::String(s) => (s.as_str(), false, path.to_string()),
        Value::Object(o) => {
            let size = o
                .get("size")
                .and_then(Value::as_str)
                .ok_or_else(|| Error::policy(path, "\"size\" is required (a duration)"))?;
            let sliding = match o.get("kind").map(|k| k.as_str()) {
                None | Some(Some("fixed")) => false,
                Some(Some("sliding")) => true,
                _ => {
                    return Err(Error::policy(
                        format!("{path}/kind"),
                        "must be \"fixed\", \"sliding\" or \"calendar\"",
                    ))
                }
            };
            (size, sliding, format!("{path}/size"))
        }
        _ => {
            return Err(Error::policy(
                path,
                "must be a duration, a calendar unit (\"day\", \"week\", \"month\") or \
                 {\"size\", \"kind\"}",
            ))
        }
    };
    let size_ms = parse_duration_ms(size).map_err(|m| {
        Error::policy(
            size_path,
            format!("{m}, or a calendar unit (day, week or month)"),
        )
    })?;
    Ok(Window {
        size_ms,
        sliding,
        label: size.to_string(),
        per: format!(" per {size}").into(),
        calendar: None,
    })
}

/// A calendar window: `"day"` (with the constraint's optional `tz`) or
/// `{"kind": "calendar", "unit": "day", "tz": "Europe/Berlin"}` (the form `cumulative_state`
/// shows). The zone defaults to UTC.
fn calendar_window(
    v: &Value,
    outer_tz: Option<&Value>,
    path: &str,
    outer_tz_path: &str,
) -> Result<Window> {
    let (unit, tz, tz_path) = match v {
        Value::Object(o) => {
            if outer_tz.is_some() {
                return Err(Error::policy(
                    outer_tz_path,
                    "the window object carries its own \"tz\"",
                ));
            }
            if let Some(k) = o
                .keys()
                .find(|k| !matches!(k.as_str(), "kind" | "unit" | "tz"))
            {
                return Err(Error::policy(
                    format!("{path}/{}", crate::pointer::escape(k)),
                    "unknown field of a calendar window (kind, unit, tz)",
                ));
            }
            let unit = o
                .get("unit")
                .ok_or_else(|| Error::policy(path, "\"unit\" is required (day, week or month)"))?;
            (unit, o.get("tz"), format!("{path}/tz"))
        }
        other => (other, outer_tz, outer_tz_path.to_string()),
    };
    let unit = unit.as_str().and_then(CalendarUnit::parse).ok_or_else(|| {
        let at = if v.is_object() {
            format!("{path}/unit")
        } else {
            path.to_string()
        };
        Error::policy(at, "must be \"day\", \"week\" or \"month\"")
    })?;
    let tz = match tz {
        None => Zone::UTC,
        Some(t) => t
            .as_str()
            .ok_or_else(|| Error::policy(&tz_path, "must be a string (an IANA time zone)"))?
            .parse()
            .map_err(|m: String| Error::policy(&tz_path, m))?,
    };
    let calendar = Calendar { unit, tz };
    Ok(Window {
        size_ms: 0,
        sliding: false,
        label: calendar.to_string(),
        per: format!(" per {calendar}").into(),
        calendar: Some(calendar),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("30s"), Ok(30_000));
        assert_eq!(parse_duration_ms("1d"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("366d"), Ok(MAX_DURATION_MS));
        for bad in [
            "0s",
            "01m",
            "1w",
            "d",
            "",
            "1.5h",
            "-1s",
            "367d",
            "99999999999999999999d",
        ] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes() {
        assert_eq!(Scope::parse("client"), Ok(Scope::Client));
        assert_eq!(Scope::parse("field:/to").unwrap().to_string(), "field:/to");
        assert!(Scope::parse("field:to").is_err());
        assert!(Scope::parse("field:/a/*").is_err());
        assert!(Scope::parse("team").is_err());
    }
}
