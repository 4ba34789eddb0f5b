//! The `pii` constraint: personal data in the payload's strings, object keys and numbers.
//!
//! What is scanned: every string, every object key (a key is text the agent chose, like any
//! value), and every number, read as its exact decimal text (`4111111111111111`, `4.111111111111111e15`
//! and `"4111111111111111"` are the same card). Unicode decimal digits of any script (fullwidth
//! `４`, Arabic-Indic `٤`, Devanagari `४`, … — Unicode's `Nd`) are read as the ASCII digits they
//! stand for before matching, so `４１１１ １１１１ １１１１ １１１１` is a card.
//!
//! Detected kinds, each confirmed beyond its pattern where a checksum exists:
//! - `email`: `local@domain.tld`;
//! - `phone`: `+` and 8–15 digits (spaces, dots, dashes, parentheses between them), or NANP
//!   `NNN-NNN-NNNN` / `(NNN) NNN-NNNN`;
//! - `card`: 13–19 digits, spaces or dashes allowed between groups, Luhn-checked;
//! - `iban`: country code, check digits, 11–30 alphanumerics (spaced groups allowed), mod-97 checked;
//! - `ssn`: US `AAA-GG-SSSS`, not area 000, 666 or 9xx, nor group 00, nor serial 0000.
//!
//! A JSON number has no room for the `+` or separators the phone rules key on, so a number is
//! also a `phone` when it is a NANP number written as an integer: 10 digits `NXXNXXXXXX` or 11
//! digits `1NXXNXXXXXX` (area code and exchange not starting with 0 or 1). This can flag a
//! 10-digit numeric id or amount; leave `phone` out of `kinds` where that matters.
//!
//! In `redact` mode a finding in a string is replaced by `[REDACTED:<kind>]` in place; a number
//! holding one becomes the string of its redacted text (`"[REDACTED:card]"`); an object key holding
//! one is renamed to its redacted text (with `#2`, `#3`, … appended if that name is taken).
//!
//! Matches never overlap: cards, IBANs and SSNs are claimed first (they are checksummed or
//! strictly shaped), then e-mails, then phones. Dates (`2026-11-21`), order ids (`ORD-2026-1142`),
//! plain numbers that fail Luhn and version strings are not flagged (see the tests).

use std::collections::HashSet;
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
    /// Only what is under this pointer (the whole payload when absent).
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
    /// A JSON number that is a NANP phone number (see the module documentation).
    phone_number: Regex,
}

fn patterns() -> Option<&'static Patterns> {
    static P: OnceLock<Option<Patterns>> = OnceLock::new();
    P.get_or_init(|| {
        Some(Patterns {
            // Digits are ASCII: other scripts' digits are mapped to them first (`ascii_digits`).
            card: Regex::new(r"\b[0-9](?:[ -]?[0-9]){12,18}\b").ok()?,
            iban: Regex::new(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b").ok()?,
            ssn: Regex::new(r"\b([0-9]{3})-([0-9]{2})-([0-9]{4})\b").ok()?,
            email: Regex::new(
                r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b",
            )
            .ok()?,
            phone_intl: Regex::new(r"\+[0-9](?:[ .()-]{0,2}[0-9]){7,14}\b").ok()?,
            phone_nanp: Regex::new(r"(?:\b[0-9]{3}-|\([0-9]{3}\) ?)[0-9]{3}-[0-9]{4}\b").ok()?,
            phone_number: Regex::new(r"^1?[2-9][0-9]{2}[2-9][0-9]{6}$").ok()?,
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

/// The first code point of each run of ten Unicode decimal digits (`Nd`, 0 to 9), sorted: the
/// table of the `regex` crate's `\d` (Unicode 16.0).
const DIGIT_ZEROS: [u32; 76] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x10D40, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0,
    0x11650, 0x116C0, 0x116D0, 0x116DA, 0x11730, 0x118E0, 0x11950, 0x11BF0, 0x11C50, 0x11D50,
    0x11DA0, 0x11F50, 0x16130, 0x16A60, 0x16AC0, 0x16B50, 0x16D70, 0x1CCF0, 0x1D7CE, 0x1D7D8,
    0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E5F1, 0x1E950, 0x1FBF0,
];

/// The ASCII digit a Unicode decimal digit stands for (`None` for anything else, ASCII included).
fn unicode_digit(c: char) -> Option<char> {
    let cp = u32::from(c);
    if cp < 0x660 {
        return None;
    }
    let i = DIGIT_ZEROS.partition_point(|&z| z <= cp).checked_sub(1)?;
    let zero = DIGIT_ZEROS.get(i)?;
    let value = cp - zero;
    if value < 10 {
        char::from_digit(value, 10)
    } else {
        None
    }
}

/// `text` with every non-ASCII decimal digit replaced by its ASCII digit, and for each byte
/// offset of the result (one past the end included) the offset in `text`; `None` when `text`
/// has no such digit.
fn ascii_digits(text: &str) -> Option<(String, Vec<usize>)> {
    if text.is_ascii() || !text.chars().any(|c| unicode_digit(c).is_some()) {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut offsets = Vec::with_capacity(text.len() + 1);
    for (at, c) in text.char_indices() {
        let d = unicode_digit(c).unwrap_or(c);
        offsets.extend(std::iter::repeat_n(at, d.len_utf8()));
        out.push(d);
    }
    offsets.push(text.len());
    Some((out, offsets))
}

/// Finds the personal data of `kinds` in `text`: non-overlapping, in order, as byte ranges of
/// `text`. Digits of any script count as digits.
pub fn scan(text: &str, kinds: &[PiiKind]) -> Vec<Finding> {
    let Some((ascii, offsets)) = ascii_digits(text) else {
        return scan_ascii_digits(text, kinds);
    };
    let at = |i: usize| offsets.get(i).copied().unwrap_or(text.len());
    scan_ascii_digits(&ascii, kinds)
        .into_iter()
        .map(|f| Finding {
            kind: f.kind,
            start: at(f.start),
            end: at(f.end),
        })
        .collect()
}

/// The personal data in a JSON number: its exact decimal text (the literal when it has none) and
/// what is found in it, the NANP rule for numbers included.
pub fn scan_number(literal: &str, kinds: &[PiiKind]) -> (String, Vec<Finding>) {
    let text = crate::json::normalize_number(literal).unwrap_or_else(|_| literal.to_string());
    let mut found = scan(&text, kinds);
    if found.is_empty()
        && kinds.contains(&PiiKind::Phone)
        && patterns().is_some_and(|p| p.phone_number.is_match(&text))
    {
        found.push(Finding {
            kind: PiiKind::Phone,
            start: 0,
            end: text.len(),
        });
    }
    (text, found)
}

fn scan_ascii_digits(text: &str, kinds: &[PiiKind]) -> Vec<Finding> {
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
    /// Every finding in the payload's strings, keys and numbers (under `field` if set):
    /// (pointer, finding). A finding in a key is reported at the member's pointer; its range is
    /// in the key's text. A finding in a number has its range in the number's decimal text.
    pub fn findings(&self, payload: &Value) -> Vec<(String, Finding)> {
        let mut out = Vec::new();
        let roots: Vec<(String, &Value)> = match &self.field {
            Some(f) => f.resolve_paths(payload),
            None => vec![(String::new(), payload)],
        };
        for (path, v) in roots {
            walk(v, &mut path.clone(), &mut |p, s| {
                let found = match s {
                    Text::Str(s) => scan(s, &self.kinds),
                    Text::Number(n) => scan_number(n, &self.kinds).1,
                };
                out.extend(found.into_iter().map(|f| (p.to_string(), f)));
            });
        }
        out
    }

    /// The payload with every finding redacted (see the module documentation).
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

/// Text the scanner reads: a string or object key, or a number's literal.
enum Text<'a> {
    Str(&'a str),
    Number(&'a str),
}

fn walk(v: &Value, path: &mut String, f: &mut dyn FnMut(&str, Text<'_>)) {
    match v {
        Value::String(s) => f(path, Text::Str(s)),
        Value::Number(n) => f(path, Text::Number(n.as_str())),
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
                f(path, Text::Str(k));
                walk(x, path, f);
                path.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) => {}
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
        Value::Number(n) => {
            let (text, found) = scan_number(n.as_str(), kinds);
            if !found.is_empty() {
                *v = Value::String(redact_str(&text, &found));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_value(x, kinds)),
        Value::Object(o) => {
            let renamed: Vec<Option<String>> = o
                .keys()
                .map(|k| {
                    let found = scan(k, kinds);
                    (!found.is_empty()).then(|| redact_str(k, &found))
                })
                .collect();
            if renamed.iter().all(Option::is_none) {
                o.values_mut().for_each(|x| redact_value(x, kinds));
                return;
            }
            // Keys that stay are taken first, so a renamed key never replaces another member.
            let mut taken: HashSet<String> = o
                .keys()
                .zip(&renamed)
                .filter(|(_, r)| r.is_none())
                .map(|(k, _)| k.clone())
                .collect();
            let members = std::mem::take(o);
            for ((k, mut x), new) in members.into_iter().zip(renamed) {
                redact_value(&mut x, kinds);
                let key = match new {
                    None => k,
                    Some(name) => {
                        let name = free_name(&taken, name);
                        taken.insert(name.clone());
                        name
                    }
                };
                o.insert(key, x);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// `name`, or `name#2`, `name#3`, … : the first not `taken`.
fn free_name(taken: &HashSet<String>, name: String) -> String {
    if !taken.contains(&name) {
        return name;
    }
    (2usize..)
        .map(|i| format!("{name}#{i}"))
        .find(|n| !taken.contains(n))
        .unwrap_or(name)
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
    fn digits_of_every_script_are_digits() {
        // Fullwidth, Arabic-Indic, Extended Arabic-Indic, Devanagari, mathematical bold.
        for card in [
            "４１１１ １１１１ １１１１ １１１１",
            "٤١١١١١١١١١١١١١١١",
            "۴۱۱۱-۱۱۱۱-۱۱۱۱-۱۱۱۱",
            "४१११११११११११११११",
            "4111 ١١١١ 1111 ١١١١",
            "\u{1d7d2}\u{1d7cf}\u{1d7cf}\u{1d7cf}111111111111",
        ] {
            assert_eq!(kinds_in(card), ["card"], "{card}");
        }
        assert_eq!(kinds_in("ssn ١٢٣-٤٥-٦٧٨٩"), ["ssn"]);
        assert_eq!(kinds_in("call +٤٤ ٢٠ ٧٩٤٦ ٠٩٥٨"), ["phone"]);
        assert!(
            kinds_in("٤١١١١١١١١١١١١١١٢").is_empty(),
            "Luhn still checked"
        );
        // Redaction cuts the original text at the right (multi-byte) places.
        let s = "pay ４１１１ １１１１ １１１１ １１１１ now";
        assert_eq!(
            redact_str(s, &scan(s, &PiiKind::ALL)),
            "pay [REDACTED:card] now"
        );
        assert_eq!(unicode_digit('٣'), Some('3'));
        assert_eq!(unicode_digit('\u{116da}'), Some('0'));
        assert_eq!(unicode_digit('3'), None);
        assert_eq!(unicode_digit('Ⅻ'), None);
        assert_eq!(unicode_digit('²'), None);
    }

    #[test]
    fn numbers_are_scanned_as_their_decimal_text() {
        let kinds = |lit: &str| -> Vec<&str> {
            scan_number(lit, &PiiKind::ALL)
                .1
                .iter()
                .map(|f| f.kind.as_str())
                .collect()
        };
        assert_eq!(kinds("4111111111111111"), ["card"]);
        assert_eq!(kinds("4.111111111111111e15"), ["card"]);
        assert_eq!(kinds("4111111111111111.0"), ["card"]);
        assert_eq!(kinds("4155552671"), ["phone"]);
        assert_eq!(kinds("14155552671"), ["phone"]);
        for not in [
            "4111111111111112",
            "1767225600",
            "1767225600000",
            "150",
            "2000000000",
            "0.5",
        ] {
            assert!(kinds(not).is_empty(), "{not}");
        }
    }

    #[test]
    fn redacts_keys_and_numbers() {
        let rule = PiiRule {
            mode: PiiMode::Redact,
            field: None,
            kinds: PiiKind::ALL.to_vec(),
        };
        let payload = crate::json::parse(
            r#"{"jane@example.com": {"card": 4111111111111111, "n": 7},
                "bob@example.com": "x", "[REDACTED:email]": "kept", "ok": [4155552671, 12]}"#,
            crate::json::Limits::PAYLOAD,
        )
        .unwrap();
        let found: Vec<(String, &str)> = rule
            .findings(&payload)
            .iter()
            .map(|(p, f)| (p.clone(), f.kind.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("/jane@example.com".to_string(), "email"),
                ("/jane@example.com/card".to_string(), "card"),
                ("/bob@example.com".to_string(), "email"),
                ("/ok/0".to_string(), "phone"),
            ]
        );
        assert_eq!(
            rule.redact(&payload).to_string(),
            r#"{"[REDACTED:email]#2":{"card":"[REDACTED:card]","n":7},"[REDACTED:email]#3":"x","[REDACTED:email]":"kept","ok":["[REDACTED:phone]",12]}"#
        );
    }

    #[test]
    fn iban_check() {
        assert!(iban_ok("GB82WEST12345698765432"));
        assert!(iban_ok("FR1420041010050500013M02606"));
        assert!(!iban_ok("GB82WEST12345698765433"));
    }
}
