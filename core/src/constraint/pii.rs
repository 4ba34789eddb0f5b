//! The `pii` constraint: personal data in the payload's strings.
//!
//! Detected kinds, each confirmed beyond its pattern where a checksum exists:
//! - `email`: `local@domain.tld`;
//! - `phone`: `+` and 8–15 digits (spaces, dots, dashes, parentheses between them), or NANP
//!   `NNN-NNN-NNNN` / `(NNN) NNN-NNNN`;
//! - `card`: 13–19 digits, spaces or dashes allowed between groups, Luhn-checked;
//! - `iban`: country code, check digits, 11–30 alphanumerics (spaced groups allowed), mod-97 checked;
//! - `ssn`: US `AAA-GG-SSSS`, not area 000, 666 or 9xx, nor group 00, nor serial 0000.
//!
//! Matches never overlap: cards, IBANs and SSNs are claimed first (they are checksummed or
//! strictly shaped), then e-mails, then phones. Dates (`2026-11-21`), order ids (`ORD-2026-1142`),
//! plain numbers that fail Luhn and version strings are not flagged (see the tests).

use std::sync::OnceLock;

use regex::Regex;
use serde_json::Value;

use crate::pointer::Pointer;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Phone,
    Card,
    Iban,
    Ssn,
}

impl PiiKind {
    /// Every kind.
    pub const ALL: [PiiKind; 5] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Card,
        PiiKind::Iban,
        PiiKind::Ssn,
    ];

    /// Its name in policies (`email`, …) and in `[REDACTED:<kind>]`.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Phone => "phone",
            PiiKind::Card => "card",
            PiiKind::Iban => "iban",
            PiiKind::Ssn => "ssn",
        }
    }

    /// The kind with this name.
    pub fn parse(s: &str) -> Option<PiiKind> {
        PiiKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// What a `pii` constraint does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PiiMode {
    /// The check fails.
    Block,
    /// The check passes and the decision carries a redacted payload.
    Redact,
    /// The check passes and reports what it found.
    LogOnly,
}

/// A compiled `pii` constraint.
#[derive(Debug, Clone)]
pub struct PiiRule {
    pub mode: PiiMode,
    /// Only strings under this pointer (all strings of the payload when absent).
    pub field: Option<Pointer>,
    /// The kinds looked for.
    pub kinds: Vec<PiiKind>,
}

/// One match in a string: its kind and byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

struct Patterns {
    card: Regex,
    iban: Regex,
    ssn: Regex,
    email: Regex,
    phone_intl: Regex,
    phone_nanp: Regex,
}

fn patterns() -> Option<&'static Patterns> {
    static P: OnceLock<Option<Patterns>> = OnceLock::new();
    P.get_or_init(|| {
        Some(Patterns {
            card: Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").ok()?,
            iban: Regex::new(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b").ok()?,
            ssn: Regex::new(r"\b(\d{3})-(\d{2})-(\d{4})\b").ok()?,
            email: Regex::new(
                r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
            )
            .ok()?,
            phone_intl: Regex::new(r"\+\d(?:[ .()-]{0,2}\d){7,14}\b").ok()?,
            phone_nanp: Regex::new(r"(?:\b\d{3}-|\(\d{3}\) ?)\d{3}-\d{4}\b").ok()?,
        })
    })
    .as_ref()
}

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn checksum used by payment cards.
pub fn luhn_ok(ds: &[u32]) -> bool {
    let sum: u32 = ds
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 {
                    d * 2 - 9
                } else {
                    d * 2
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// The ISO 13616 mod-97 check of an IBAN (spaces removed, upper case).
pub fn iban_ok(compact: &str) -> bool {
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        // Letters count as two digits (A = 10 … Z = 35).
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn ssn_ok(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Finds the personal data of `kinds` in `text`: non-overlapping, in order.
pub fn scan(text: &str, kinds: &[PiiKind]) -> Vec<Finding> {
    let Some(p) = patterns() else {
        return Vec::new();
    };
    let want = |k| kinds.contains(&k);
    let mut found: Vec<Finding> = Vec::new();
    let mut claim = |kind, start, end| {
        if !found.iter().any(|f| start < f.end && f.start < end) {
            found.push(Finding { kind, start, end });
        }
    };
    if want(PiiKind::Card) {
        for m in p.card.find_iter(text) {
            let ds = digits(m.as_str());
            if (13..=19).contains(&ds.len()) && luhn_ok(&ds) {
                claim(PiiKind::Card, m.start(), m.end());
            }
        }
    }
    if want(PiiKind::Iban) {
        for m in p.iban.find_iter(text) {
            if iban_ok(&m.as_str().replace(' ', "")) {
                claim(PiiKind::Iban, m.start(), m.end());
            }
        }
    }
    if want(PiiKind::Ssn) {
        for c in p.ssn.captures_iter(text) {
            let (Some(m), Some(a), Some(g), Some(s)) = (c.get(0), c.get(1), c.get(2), c.get(3))
            else {
                continue;
            };
            if ssn_ok(a.as_str(), g.as_str(), s.as_str()) {
                claim(PiiKind::Ssn, m.start(), m.end());
            }
        }
    }
    if want(PiiKind::Email) {
        for m in p.email.find_iter(text) {
            claim(PiiKind::Email, m.start(), m.end());
        }
    }
    if want(PiiKind::Phone) {
        for m in p.phone_intl.find_iter(text) {
            if (8..=15).contains(&digits(m.as_str()).len()) {
                claim(PiiKind::Phone, m.start(), m.end());
            }
        }
        for m in p.phone_nanp.find_iter(text) {
            claim(PiiKind::Phone, m.start(), m.end());
        }
    }
    found.sort_by_key(|f| f.start);
    found
}

/// `text` with each finding replaced by `[REDACTED:<kind>]`.
pub fn redact_str(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        out.push_str(text.get(at..f.start).unwrap_or_default());
        out.push_str("[REDACTED:");
        out.push_str(f.kind.as_str());
        out.push(']');
        at = f.end;
    }
    out.push_str(text.get(at..).unwrap_or_default());
    out
}

impl PiiRule {
    /// Every finding in the payload's strings (under `field` if set): (pointer, finding).
    pub fn findings(&self, payload: &Value) -> Vec<(String, Finding)> {
        let mut out = Vec::new();
        let roots: Vec<(String, &Value)> = match &self.field {
            Some(f) => f.resolve_paths(payload),
            None => vec![(String::new(), payload)],
        };
        for (path, v) in roots {
            walk(v, &mut path.clone(), &mut |p, s| {
                out.extend(scan(s, &self.kinds).into_iter().map(|f| (p.to_string(), f)));
            });
        }
        out
    }

    /// The payload with every finding redacted.
    pub fn redact(&self, payload: &Value) -> Value {
        let mut out = payload.clone();
        let paths: Vec<String> = match &self.field {
            Some(f) => f
                .resolve_paths(payload)
                .into_iter()
                .map(|(p, _)| p)
                .collect(),
            None => vec![String::new()],
        };
        for path in paths {
            if let Some(v) = out.pointer_mut(&path) {
                redact_value(v, &self.kinds);
            }
        }
        out
    }
}

fn walk(v: &Value, path: &mut String, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(path, s),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                walk(x, path, f);
                path.truncate(len);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let len = path.len();
                path.push('/');
                path.push_str(&crate::pointer::escape(k));
                walk(x, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

fn redact_value(v: &mut Value, kinds: &[PiiKind]) {
    match v {
        Value::String(s) => {
            let found = scan(s, kinds);
            if !found.is_empty() {
                *s = redact_str(s, &found);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, kinds)),
        Value::Object(o) => o.values_mut().for_each(|x| redact_value(x, kinds)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_in(s: &str) -> Vec<&'static str> {
        scan(s, &PiiKind::ALL)
            .iter()
            .map(|f| f.kind.as_str())
            .collect()
    }

    #[test]
    fn detects_each_kind() {
        assert_eq!(
            kinds_in("write to jane.doe+x@example.co.uk today"),
            ["email"]
        );
        assert_eq!(kinds_in("call +44 20 7946 0958"), ["phone"]);
        assert_eq!(
            kinds_in("call 415-555-2671 or (415) 555-2671"),
            ["phone", "phone"]
        );
        assert_eq!(kinds_in("card 4111 1111 1111 1111"), ["card"]);
        assert_eq!(kinds_in("card 4111-1111-1111-1111"), ["card"]);
        assert_eq!(kinds_in("card 4111111111111111"), ["card"]);
        assert_eq!(kinds_in("iban GB82 WEST 1234 5698 7654 32"), ["iban"]);
        assert_eq!(kinds_in("iban DE89370400440532013000"), ["iban"]);
        assert_eq!(kinds_in("ssn 123-45-6789"), ["ssn"]);
    }

    #[test]
    fn checksums_and_rules_reject_lookalikes() {
        assert!(
            kinds_in("card 4111 1111 1111 1112").is_empty(),
            "Luhn fails"
        );
        assert!(
            kinds_in("iban GB82 WEST 1234 5698 7654 33").is_empty(),
            "mod-97 fails"
        );
        assert!(
            kinds_in("ssn 000-45-6789, 666-45-6789, 912-45-6789, 123-00-6789, 123-45-0000")
                .is_empty()
        );
    }

    #[test]
    fn redacts_in_place() {
        let s = "pay jane@example.com with 4111 1111 1111 1111.";
        assert_eq!(
            redact_str(s, &scan(s, &PiiKind::ALL)),
            "pay [REDACTED:email] with [REDACTED:card]."
        );
    }

    #[test]
    fn iban_check() {
        assert!(iban_ok("GB82WEST12345698765432"));
        assert!(iban_ok("FR1420041010050500013M02606"));
        assert!(!iban_ok("GB82WEST12345698765433"));
    }
}
