//! The one JSON parser for everything that enters from outside, canonical JSON, and exact numbers.
//!
//! [`parse`] rejects duplicate object keys at any depth (I-JSON, RFC 7493), bounds input size and
//! nesting depth, and keeps every number exactly as written (`serde_json` with
//! `arbitrary_precision`). It refuses an object with serde_json's private number key
//! ([`NUMBER_TOKEN`]) rather than read it as a number; [`check_bounds`] holds values built in
//! memory to the same rules. [`canonical`] is RFC 8785 (JCS), our own writer (`crate::jcs`,
//! checked against the published vectors and, differentially, against
//! `serde_json_canonicalizer`). Anything that is hashed is written by [`canonical_normalized`]:
//! JCS with each number as its exact decimal, so that `0.1` and `0.1000000000000000001` never
//! collide, and a number never collides with a string (`1` and `"1"` differ).

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Bounds applied to outside JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and objects.
    pub max_depth: usize,
}

impl Limits {
    /// Payloads, claims and attestations: 1 MiB, 64 levels.
    pub const PAYLOAD: Limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 64,
    };
    /// Policy documents: 8 MiB, 64 levels.
    pub const POLICY: Limits = Limits {
        max_bytes: 8 << 20,
        max_depth: 64,
    };
    /// Passport tokens (the whole compact JWS, `prf` chain included): 64 KiB.
    pub const TOKEN_BYTES: usize = 64 << 10;
}

/// Why outside JSON was refused, before it is given the error code of its context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Larger than [`Limits::max_bytes`].
    TooLarge { size: usize, max: usize },
    /// Nested deeper than [`Limits::max_depth`].
    TooDeep { max: usize },
    /// The same key twice in one object.
    DuplicateKey { path: String, key: String },
    /// An object key that serde_json reserves for its own number representation.
    ReservedKey { path: String },
    /// A number whose text is not a JSON number (only possible for values built in memory).
    BadNumber { path: String, text: String },
    /// Not JSON.
    Syntax(String),
}

impl JsonError {
    /// The same error one level down, under the member or item `seg`.
    fn under(self, seg: &str) -> JsonError {
        let prefix = |path: String| format!("/{}{path}", crate::pointer::escape(seg));
        match self {
            JsonError::ReservedKey { path } => JsonError::ReservedKey { path: prefix(path) },
            JsonError::BadNumber { path, text } => JsonError::BadNumber {
                path: prefix(path),
                text,
            },
            other => other,
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooLarge { size, max } => write!(f, "input of {size} bytes exceeds {max}"),
            JsonError::TooDeep { max } => write!(f, "nesting deeper than {max} levels"),
            JsonError::DuplicateKey { path, key } => {
                write!(
                    f,
                    "duplicate key {key:?} in the object at {}",
                    display_path(path)
                )
            }
            JsonError::ReservedKey { path } => write!(
                f,
                "the key {NUMBER_TOKEN:?} is reserved (in the object at {})",
                display_path(path)
            ),
            JsonError::BadNumber { path, text } => write!(
                f,
                "{:?} at {} is not a JSON number",
                crate::constraint::values::cut(text),
                display_path(path)
            ),
            JsonError::Syntax(m) => write!(f, "not valid JSON: {m}"),
        }
    }
}

fn display_path(p: &str) -> &str {
    if p.is_empty() {
        "/"
    } else {
        p
    }
}

/// What the JSON was, so a refusal carries that context's error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Policy,
    Payload,
    Passport,
    Attestation,
    Argument,
}

impl JsonError {
    /// The passgate error for this refusal in `ctx`: size and depth are always `LIMIT_EXCEEDED`.
    pub fn into_error(self, ctx: Context) -> Error {
        match self {
            JsonError::TooLarge { .. } | JsonError::TooDeep { .. } => {
                Error::LimitExceeded(self.to_string())
            }
            other => {
                let path = match &other {
                    JsonError::DuplicateKey { path, .. }
                    | JsonError::ReservedKey { path }
                    | JsonError::BadNumber { path, .. } => display_path(path).to_string(),
                    _ => "/".to_string(),
                };
                let msg = other.to_string();
                match ctx {
                    Context::Policy => Error::policy(path, msg),
                    Context::Payload => Error::payload(path, msg),
                    Context::Passport => Error::PassportMalformed(msg),
                    Context::Attestation => Error::AttestationMalformed(msg),
                    Context::Argument => Error::InvalidArgument(msg),
                }
            }
        }
    }
}

/// Parses outside JSON strictly: no duplicate keys, bounded size and depth, exact numbers.
///
/// ```
/// use passgate::__private::json::{parse, Limits};
/// assert!(parse(r#"{"qty": 1, "qty": -1}"#, Limits::PAYLOAD).is_err());
/// let v = parse("[18446744073709551617]", Limits::PAYLOAD).unwrap();
/// assert_eq!(v.to_string(), "[18446744073709551617]");
/// ```
pub fn parse(text: &str, limits: Limits) -> Result<Value, JsonError> {
    if text.len() > limits.max_bytes {
        return Err(JsonError::TooLarge {
            size: text.len(),
            max: limits.max_bytes,
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let seed = Strict {
        depth: 0,
        max_depth: limits.max_depth,
        path: String::new(),
    };
    let value = seed.deserialize(&mut de).map_err(|e| classify(e, limits))?;
    de.end().map_err(|e| classify(e, limits))?;
    Ok(value)
}

/// Parses in `ctx`, mapping refusals to that context's error code.
pub fn parse_in(text: &str, limits: Limits, ctx: Context) -> Result<Value> {
    parse(text, limits).map_err(|e| e.into_error(ctx))
}

// Our visitor reports depth and duplicate keys through serde's custom-error channel with these
// markers; everything else is a syntax error from serde_json itself.
const TOO_DEEP: &str = "\u{0}passgate:too-deep";
const DUP: &str = "\u{0}passgate:dup\u{0}";
const RESERVED: &str = "\u{0}passgate:reserved\u{0}";
/// The key under which serde_json's `arbitrary_precision` passes a number to a visitor (as a
/// one-entry map). An object with this key is refused wherever it comes from: serde_json itself
/// would read `{"$serde_json::private::Number": "7"}` back as the number 7.
pub const NUMBER_TOKEN: &str = "$serde_json::private::Number";

fn classify(e: serde_json::Error, limits: Limits) -> JsonError {
    let msg = e.to_string();
    if msg.starts_with(TOO_DEEP) || msg.starts_with("recursion limit exceeded") {
        return JsonError::TooDeep {
            max: limits.max_depth,
        };
    }
    if let Some(rest) = msg.strip_prefix(RESERVED) {
        let path = rest.rsplit_once(" at line ").map_or(rest, |(p, _)| p);
        return JsonError::ReservedKey {
            path: path.to_string(),
        };
    }
    if let Some(rest) = msg.strip_prefix(DUP) {
        // rest = "<path>\0<key> at line .. column .."
        let (path, key) = rest.split_once('\u{0}').unwrap_or(("", rest));
        let key = key.rsplit_once(" at line ").map_or(key, |(k, _)| k);
        return JsonError::DuplicateKey {
            path: path.to_string(),
            key: key.to_string(),
        };
    }
    JsonError::Syntax(msg)
}

struct Strict {
    depth: usize,
    max_depth: usize,
    path: String,
}

impl Strict {
    fn child(&self, seg: &str) -> Strict {
        let mut path = String::with_capacity(self.path.len() + seg.len() + 1);
        path.push_str(&self.path);
        path.push('/');
        path.push_str(&seg.replace('~', "~0").replace('/', "~1"));
        Strict {
            depth: self.depth + 1,
            max_depth: self.max_depth,
            path,
        }
    }
}

impl Strict {
    fn enter<E: serde::de::Error>(&self, v: Value) -> Result<Value, E> {
        if self.depth >= self.max_depth {
            return Err(E::custom(TOO_DEEP));
        }
        Ok(v)
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if self.depth >= self.max_depth {
            return Err(serde::de::Error::custom(TOO_DEEP));
        }
        let mut out = Vec::new();
        let mut i = 0usize;
        while let Some(v) = seq.next_element_seed(self.child(&i.to_string()))? {
            out.push(v);
            i += 1;
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let Some(first) = map.next_key::<String>()? else {
            return self.enter(Value::Object(out));
        };
        // serde_json's `arbitrary_precision` hands a number to visitors as a one-entry map under
        // this private key, holding the literal exactly as written. A user object with that key
        // looks the same here, but its value arrives through `visit_str` / `visit_borrowed_str`
        // (serde_json's string paths), while the real literal is an owned `String` handed to
        // `visit_string`: only that is a number, and only if its text is JSON number grammar.
        if first == NUMBER_TOKEN {
            let lit = map.next_value_seed(NumberLiteral(&self.path))?;
            return Ok(Value::Number(Number::from_string_unchecked(lit)));
        }
        if self.depth >= self.max_depth {
            return Err(serde::de::Error::custom(TOO_DEEP));
        }
        let v = map.next_value_seed(self.child(&first))?;
        out.insert(first, v);
        while let Some(key) = map.next_key::<String>()? {
            if key == NUMBER_TOKEN {
                return Err(serde::de::Error::custom(format!("{RESERVED}{}", self.path)));
            }
            if out.contains_key(&key) {
                return Err(serde::de::Error::custom(format!(
                    "{DUP}{}\u{0}{key}",
                    self.path
                )));
            }
            let v = map.next_value_seed(self.child(&key))?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// The value under [`NUMBER_TOKEN`]: the number literal serde_json hands over, or a refusal of a
/// user object with that key (whose value is anything else).
struct NumberLiteral<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for NumberLiteral<'_> {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NumberLiteral<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        if is_number_literal(&v) {
            Ok(v)
        } else {
            Err(E::custom(format!("{RESERVED}{}", self.0)))
        }
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<String, E> {
        Err(E::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_borrowed_str<E: serde::de::Error>(self, _: &'de str) -> Result<String, E> {
        Err(E::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<String, E> {
        Err(E::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<String, E> {
        Err(E::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<String, E> {
        Err(E::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<String, E> {
        Err(E::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<String, E> {
        Err(E::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(serde::de::Error::custom(format!("{RESERVED}{}", self.0)))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<String, A::Error> {
        Err(serde::de::Error::custom(format!("{RESERVED}{}", self.0)))
    }
}

/// Whether `s` is a JSON number (RFC 8259): `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
pub fn is_number_literal(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(i) => b.split_at(i),
        None => (b, ""),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit());
    let (int, frac) = match mant.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mant, None),
    };
    let int_ok = digits(int) && (int == "0" || !int.starts_with('0'));
    let frac_ok = frac.is_none_or(digits);
    let exp_ok = match exp.get(1..) {
        None => true,
        Some(e) => digits(e.strip_prefix(['+', '-']).unwrap_or(e)),
    };
    int_ok && frac_ok && exp_ok
}

/// Checks a value built in memory (by a binding) against the same bounds as [`parse`]: depth, and
/// a size measured as the length of its compact serialisation; and what [`parse`] could never
/// produce: a number whose text is not a JSON number, an object with the key [`NUMBER_TOKEN`].
pub fn check_bounds(v: &Value, limits: Limits) -> Result<(), JsonError> {
    fn walk(v: &Value, depth: usize, limits: Limits, size: &mut usize) -> Result<(), JsonError> {
        *size += match v {
            Value::Null => 4,
            Value::Bool(_) => 5,
            Value::Number(n) => n.as_str().len(),
            Value::String(s) => s.len() + 2,
            Value::Array(a) => 2 + a.len(),
            Value::Object(o) => 2 + o.keys().map(|k| k.len() + 4).sum::<usize>(),
        };
        if *size > limits.max_bytes {
            return Err(JsonError::TooLarge {
                size: *size,
                max: limits.max_bytes,
            });
        }
        match v {
            Value::Array(_) | Value::Object(_) if depth >= limits.max_depth => {
                Err(JsonError::TooDeep {
                    max: limits.max_depth,
                })
            }
            Value::Number(n) if !is_number_literal(n.as_str()) => Err(JsonError::BadNumber {
                path: String::new(),
                text: n.as_str().to_string(),
            }),
            Value::Array(a) => a.iter().enumerate().try_for_each(|(i, x)| {
                walk(x, depth + 1, limits, size).map_err(|e| e.under(&i.to_string()))
            }),
            Value::Object(o) => {
                if o.contains_key(NUMBER_TOKEN) {
                    return Err(JsonError::ReservedKey {
                        path: String::new(),
                    });
                }
                o.iter()
                    .try_for_each(|(k, x)| walk(x, depth + 1, limits, size).map_err(|e| e.under(k)))
            }
            _ => Ok(()),
        }
    }
    let mut size = 0;
    walk(v, 0, limits, &mut size)
}

/// RFC 8785 canonical JSON of `v`. Fails only for numbers outside the IEEE double range.
pub fn canonical(v: &Value) -> Result<String> {
    let mut out = Vec::with_capacity(256);
    crate::jcs::write(v, &mut out)
        .map_err(|e| Error::payload("/", format!("cannot canonicalize: {e}")))?;
    // The writer copies `str`s and emits ASCII around them, so this never fails.
    String::from_utf8(out).map_err(|e| Error::Internal(format!("canonical JSON: {e}")))
}

/// A copy of `v` with every number replaced by its exact, normalised decimal *string* (see
/// [`normalize_number`]): what attestation bodies hold (`data`, `trace`), so that no float is in a
/// signed record and every language canonicalizes it identically. Not a hash form: a number and
/// its string become one.
pub fn normalize_numbers(v: &Value) -> Result<Value> {
    map_numbers(v, &mut Value::String)
}

/// A copy of `v` with every number rewritten as its exact, normalised decimal (still a number):
/// `1.50` → `1.5`, `1E3` → `1000`. [`canonical_literal`] of it is [`canonical_normalized`].
pub fn exact_numbers(v: &Value) -> Result<Value> {
    map_numbers(v, &mut |n| Value::Number(Number::from_string_unchecked(n)))
}

fn map_numbers(v: &Value, f: &mut dyn FnMut(String) -> Value) -> Result<Value> {
    fn go(v: &Value, path: &mut String, f: &mut dyn FnMut(String) -> Value) -> Result<Value> {
        Ok(match v {
            Value::Number(n) => {
                f(normalize_number(n.as_str())
                    .map_err(|m| Error::payload(display_path(path), m))?)
            }
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for (i, x) in a.iter().enumerate() {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&i.to_string());
                    out.push(go(x, path, f)?);
                    path.truncate(len);
                }
                Value::Array(out)
            }
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    let len = path.len();
                    path.push('/');
                    path.push_str(&crate::pointer::escape(k));
                    out.insert(k.clone(), go(x, path, f)?);
                    path.truncate(len);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
    go(v, &mut String::new(), f)
}

/// The form every hash is taken over (`request_hash`, idempotency and approval fingerprints, the
/// policy hash): RFC 8785 structure (sorted members, JCS strings) with each number written as its
/// exact normalised decimal, bare. `1`, `1.0` and `1e0` hash alike; `1` and `"1"` do not.
/// Fails (naming the JSON path) for a number that has no exact decimal form within
/// [`MAX_DECIMAL_DIGITS`].
pub fn canonical_normalized(v: &Value) -> Result<String> {
    let mut out = Vec::with_capacity(256);
    if crate::jcs::write_normalized(v, &mut out).is_err() {
        // A number without an exact decimal form: take the slow path, which names its JSON path.
        exact_numbers(v)?;
        return Err(Error::payload("/", "cannot canonicalize"));
    }
    String::from_utf8(out).map_err(|e| Error::Internal(format!("canonical JSON: {e}")))
}

/// [`sha256_tagged`] of [`canonical_normalized`]`(v)`, written into a buffer this thread keeps
/// (a request's hash: its canonical text is hashed, never kept).
pub fn sha256_canonical_normalized(v: &Value) -> Result<String> {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    /// A buffer grown past this (a large payload) is not kept for the next request.
    const KEEP: usize = 64 * 1024;
    let mut out = BUF.with(|b| b.take());
    out.clear();
    let written = crate::jcs::write_normalized(v, &mut out);
    let hash = written.map(|()| sha256_tagged(&out));
    if out.capacity() <= KEEP {
        BUF.with(|b| b.replace(out));
    }
    match hash {
        Ok(h) => Ok(h),
        // The slow path names the number's JSON path, as `canonical_normalized` does.
        Err(_) => canonical_normalized(v).map(|t| sha256_tagged(t.as_bytes())),
    }
}

/// JCS with number literals copied as written (each must be JSON number text): the second pass
/// of `canonical_literal(&exact_numbers(v)?)`, which equals [`canonical_normalized`]`(v)`.
pub fn canonical_literal(v: &Value) -> Result<String> {
    let mut out = Vec::with_capacity(256);
    crate::jcs::write_literal(v, &mut out)
        .map_err(|e| Error::payload("/", format!("cannot canonicalize: {e}")))?;
    String::from_utf8(out).map_err(|e| Error::Internal(format!("canonical JSON: {e}")))
}

/// JCS with each number as the JSON string of its exact decimal: the key of a `field:` counter
/// scope, where the number `1` and the string `"1"` (and `1.0`) must name one counter — an agent
/// alternating between them must not get two budgets.
pub fn canonical_scope_key(v: &Value) -> Result<String> {
    let mut out = Vec::with_capacity(64);
    if crate::jcs::write_decimal_strings(v, &mut out).is_err() {
        normalize_numbers(v)?;
        return Err(Error::payload("/", "cannot canonicalize"));
    }
    String::from_utf8(out).map_err(|e| Error::Internal(format!("canonical JSON: {e}")))
}

/// `"sha256:<hex>"` of `bytes`.
pub fn sha256_tagged(bytes: &[u8]) -> String {
    crate::merkle::to_tagged(&Sha256::digest(bytes).into())
}

/// The longest decimal string [`normalize_number`] produces: beyond it a number is refused.
pub const MAX_DECIMAL_DIGITS: usize = 400;

/// The exact decimal form of a JSON number literal: no exponent, no leading zeros, no trailing
/// fractional zeros, `-0` as `0`. `1E3` → `"1000"`, `4.50` → `"4.5"`, `2e-3` → `"0.002"`.
/// Numbers needing more than [`MAX_DECIMAL_DIGITS`] digits are refused rather than rounded.
pub fn normalize_number(lit: &str) -> Result<String, String> {
    let bad = || format!("{lit:?} is not a decimal number");
    // Only JSON number text (no `007`, `1.`, `+1`): the same grammar for numbers and for
    // decimal strings.
    if !is_number_literal(lit) {
        return Err(bad());
    }
    let (neg, rest) = match lit.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, lit),
    };
    // The common case, a plain integer (a literal has no leading zeros): itself, `-0` as `0` —
    // what the general path below writes for it, without its copies.
    if rest.bytes().all(|b| b.is_ascii_digit()) && rest.len() < MAX_DECIMAL_DIGITS {
        return Ok(if rest == "0" {
            "0".to_string()
        } else {
            lit.to_string()
        });
    }
    let (mant, exp) = match rest.find(['e', 'E']) {
        Some(i) => {
            let (m, e) = rest.split_at(i);
            let e = e.get(1..).ok_or_else(bad)?;
            let e = e.strip_prefix('+').unwrap_or(e);
            if e.is_empty() || e.trim_start_matches('-').is_empty() {
                return Err(bad());
            }
            // Exponents beyond this cannot produce a representable result anyway.
            let e: i64 = match e.parse::<i64>() {
                Ok(v) if v.unsigned_abs() <= 100_000 => v,
                _ => {
                    return Err(format!(
                        "{lit:?} is too large or too small to represent exactly"
                    ))
                }
            };
            (m, e)
        }
        None => (rest, 0),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // digits * 10^(exp - frac.len())
    let mut digits: String = format!("{int}{frac}");
    let mut point: i64 = int.len() as i64 + exp; // position of the decimal point within digits
    let lead = digits.len() - digits.trim_start_matches('0').len();
    digits.drain(..lead);
    point -= lead as i64;
    let trimmed = digits.trim_end_matches('0').len();
    digits.truncate(trimmed);
    if digits.is_empty() {
        return Ok("0".to_string());
    }
    let width = if point <= 0 {
        digits.len() as i64 - point + 2
    } else {
        point.max(digits.len() as i64) + 1
    };
    if width > MAX_DECIMAL_DIGITS as i64 {
        return Err(format!(
            "{lit:?} needs more than {MAX_DECIMAL_DIGITS} digits to write exactly"
        ));
    }
    let mut out = String::with_capacity(width as usize + 1);
    if neg {
        out.push('-');
    }
    if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else if point as usize >= digits.len() {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
    } else {
        let (a, b) = digits.split_at(point as usize);
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    }
    Ok(out)
}

/// The exact decimal value of a JSON number or decimal string (`"1000.00"`), for amounts and
/// bounds. Fails (never rounds) when the value does not fit a 96-bit decimal with ≤ 28 fractional
/// digits.
pub fn to_decimal(v: &Value) -> Result<Decimal, String> {
    let lit = match v {
        Value::Number(n) => n.as_str(),
        Value::String(s) => {
            let t = s.as_str();
            // A decimal string is a JSON number literal; nothing else (no spaces, no "1_000").
            let ok = !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
            if !ok {
                return Err(format!("{t:?} is not a decimal number"));
            }
            t
        }
        other => return Err(format!("expected a number, found {}", type_name(other))),
    };
    // A plain integer (most amounts) is its own normal form (`-0` aside): parsed as it is,
    // without `normalize_number`'s copy. The same decimal and the same errors as below.
    let digits = lit.strip_prefix('-').unwrap_or(lit);
    let plain = !digits.is_empty()
        && digits.len() < MAX_DECIMAL_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit())
        && is_number_literal(lit);
    let norm = match plain {
        true if digits == "0" => std::borrow::Cow::Borrowed("0"),
        true => std::borrow::Cow::Borrowed(lit),
        false => std::borrow::Cow::Owned(normalize_number(lit)?),
    };
    Decimal::from_str_exact(&norm).map_err(|_| {
        format!("{lit} cannot be represented exactly (at most 28 decimal places and 96 bits)")
    })
}

/// The JSON type name of `v`, for messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The decimal places a number was written with (`1000.00` → 2, `1.5e1` → 0, `25e-3` → 3): the
/// precision a result derived from it keeps. 0 for anything not a number literal.
pub fn written_scale(v: &Value) -> u32 {
    let lit = match v {
        Value::Number(n) => n.as_str(),
        Value::String(s) => s.as_str(),
        _ => return 0,
    };
    let (mantissa, exp) = match lit.find(['e', 'E']) {
        Some(i) => (lit.get(..i).unwrap_or(""), lit.get(i + 1..).unwrap_or("0")),
        None => (lit, "0"),
    };
    let frac = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i64);
    let exp: i64 = exp.parse().unwrap_or(0);
    u32::try_from((frac - exp).clamp(0, 28)).unwrap_or(0)
}

/// A JSON number holding `d` exactly (for values produced by passgate itself).
pub fn decimal_number(d: Decimal) -> Value {
    Value::Number(Number::from_string_unchecked(
        crate::decimal::normalized(d).to_string(),
    ))
}

#[cfg(test)]
mod tests {

    proptest::proptest! {
        /// A plain integer takes the short path; it must say what the general path says of the
        /// same number written with a fraction (`5` and `5.0`), errors included.
        #[test]
        fn integers_normalise_as_the_general_path_does(
            neg in proptest::bool::ANY,
            digits in proptest::string::string_regex("(0|[1-9][0-9]{0,30}|[1-9][0-9]{397,400})").unwrap(),
        ) {
            let lit = if neg { format!("-{digits}") } else { digits };
            proptest::prop_assert_eq!(normalize_number(&lit), normalize_number(&format!("{lit}.0"))
                .map_err(|_| format!("{lit:?} needs more than {MAX_DECIMAL_DIGITS} digits to write exactly")));
        }
    }

    use super::*;

    #[test]
    fn duplicate_keys_rejected_at_depth_with_path() {
        let e = parse(r#"{"a":[{"b":1,"b":2}]}"#, Limits::PAYLOAD).unwrap_err();
        assert_eq!(
            e,
            JsonError::DuplicateKey {
                path: "/a/0".into(),
                key: "b".into()
            }
        );
    }

    #[test]
    fn the_private_number_key_is_refused_not_read_as_a_number() {
        for text in [
            r#"{"$serde_json::private::Number": "007"}"#,
            r#"{"$serde_json::private::Number": "7"}"#,
            r#"{"$serde_json::private::Number": 7}"#,
            r#"{"$serde_json::private::Number": {"a": 1}}"#,
            r#"{"$serde_json::private::Numbe\u0072": "7"}"#,
            r#"{"a": 1, "$serde_json::private::Number": "7"}"#,
        ] {
            let e = parse(text, Limits::PAYLOAD).unwrap_err();
            assert_eq!(e, JsonError::ReservedKey { path: "".into() }, "{text}");
        }
        let e = parse(
            r#"{"x": [1, {"$serde_json::private::Number": "1e5"}]}"#,
            Limits::PAYLOAD,
        )
        .unwrap_err();
        assert_eq!(
            e,
            JsonError::ReservedKey {
                path: "/x/1".into()
            }
        );
        assert_eq!(e.into_error(Context::Payload).code(), "PAYLOAD_INVALID");
        // Real numbers still take the token's path.
        let v = parse(
            r#"{"n": [-0.5e-3, 0, 12345678901234567890123]}"#,
            Limits::PAYLOAD,
        )
        .unwrap();
        assert_eq!(
            v.to_string(),
            r#"{"n":[-0.5e-3,0,12345678901234567890123]}"#
        );
    }

    #[test]
    fn number_grammar() {
        for ok in [
            "0", "-0", "1", "10", "1.5", "0.0", "1e5", "1E+5", "-1.25e-7", "0e0",
        ] {
            assert!(is_number_literal(ok), "{ok}");
        }
        for bad in [
            "", "-", "007", "01", "1.", ".5", "+1", "1e", "1e+", "0x1", "1_000", " 1", "1 ", "NaN",
            "Infinity", "--1", "1.2.3", "1e5e5",
        ] {
            assert!(!is_number_literal(bad), "{bad}");
            assert!(normalize_number(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn built_values_get_the_parser_rules() {
        let bad = Value::Object(Map::from_iter([(
            "a".to_string(),
            Value::Array(vec![Value::Number(Number::from_string_unchecked(
                "007".into(),
            ))]),
        )]));
        assert_eq!(
            check_bounds(&bad, Limits::PAYLOAD).unwrap_err(),
            JsonError::BadNumber {
                path: "/a/0".into(),
                text: "007".into()
            }
        );
        assert!(canonical(&bad).is_err());
        assert!(canonical_normalized(&bad).is_err());
        assert_eq!(
            sha256_canonical_normalized(&bad).unwrap_err().to_string(),
            canonical_normalized(&bad).unwrap_err().to_string()
        );
        let reserved = serde_json::json!({"a/b": {"$serde_json::private::Number": "7"}});
        assert_eq!(
            check_bounds(&reserved, Limits::PAYLOAD).unwrap_err(),
            JsonError::ReservedKey {
                path: "/a~1b".into()
            }
        );
    }

    #[test]
    fn numbers_stay_exact() {
        let v = parse(r#"{"n": 0.1000000000000000001}"#, Limits::PAYLOAD).unwrap();
        assert_eq!(
            v["n"].as_number().unwrap().as_str(),
            "0.1000000000000000001"
        );
    }

    #[test]
    fn depth_and_size_bounded() {
        let deep = "[".repeat(100_000);
        assert_eq!(
            parse(&deep, Limits::PAYLOAD).unwrap_err(),
            JsonError::TooDeep { max: 64 }
        );
        let big = format!("\"{}\"", "x".repeat(2 << 20));
        assert!(matches!(
            parse(&big, Limits::PAYLOAD),
            Err(JsonError::TooLarge { .. })
        ));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(&ok, Limits::PAYLOAD).is_ok());
        let no = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert!(parse(&no, Limits::PAYLOAD).is_err());
    }

    #[test]
    fn normalizes_numbers() {
        for (a, b) in [
            ("1E3", "1000"),
            ("4.50", "4.5"),
            ("2e-3", "0.002"),
            ("-0", "0"),
            ("-0.0e5", "0"),
            ("0.1000000000000000001", "0.1000000000000000001"),
            ("333333333.33333329", "333333333.33333329"),
            ("1e+2", "100"),
            ("-12.345e1", "-123.45"),
            ("100", "100"),
        ] {
            assert_eq!(normalize_number(a).unwrap(), b, "{a}");
        }
        assert!(normalize_number("1e400").is_err());
        assert!(normalize_number("1e-400").is_err());
        assert!(normalize_number("1e99999999999").is_err());
    }

    #[test]
    fn decimals_exact_or_refused() {
        assert_eq!(
            to_decimal(&Value::String("1000.00".into())).unwrap(),
            Decimal::from(1000)
        );
        let v = parse(
            "[0.1, 1e400, 79228162514264337593543950336]",
            Limits::PAYLOAD,
        )
        .unwrap();
        assert_eq!(to_decimal(&v[0]).unwrap().to_string(), "0.1");
        assert!(to_decimal(&v[1]).is_err());
        assert!(to_decimal(&v[2]).is_err());
        assert!(to_decimal(&Value::String("1 000".into())).is_err());
        assert!(to_decimal(&Value::Bool(true)).is_err());
    }

    /// The request hash written into the thread's buffer is the hash of the canonical text, a
    /// large value before or after a small one included (the buffer is cleared, and one over
    /// its cap is not kept).
    #[test]
    fn hash_of_canonical_text_through_the_thread_buffer() {
        let big = "x".repeat(100 * 1024);
        let values = [
            serde_json::json!({"b": 1.50, "a": [1e2, "é", {"z": null, "y": true}]}),
            serde_json::json!({"big": big}),
            serde_json::json!({"a": 1}),
            serde_json::json!({"s": "y".repeat(2000)}),
            serde_json::json!([]),
            serde_json::json!({"a": 1}),
        ];
        for v in &values {
            let text = canonical_normalized(v).unwrap();
            assert_eq!(
                sha256_canonical_normalized(v).unwrap(),
                sha256_tagged(text.as_bytes())
            );
        }
    }

    /// `to_decimal`'s plain-integer path gives the decimal (scale included) and the error the
    /// normalising path gives.
    #[test]
    fn to_decimal_plain_integers_as_normalised() {
        let long = "9".repeat(MAX_DECIMAL_DIGITS);
        let lits = [
            "0",
            "-0",
            "1",
            "-1",
            "10",
            "007",
            "-007",
            "00",
            "",
            "-",
            "--1",
            "+1",
            "1.50",
            "1e3",
            "-0.0",
            "12345678901234567890123456789",
            "79228162514264337593543950335",
            "79228162514264337593543950336",
            "-79228162514264337593543950335",
            "1 ",
            " 1",
            long.as_str(),
        ];
        for lit in lits {
            let slow = normalize_number(lit).and_then(|n| {
                Decimal::from_str_exact(&n).map_err(|_| {
                    format!(
                        "{lit} cannot be represented exactly (at most 28 decimal places and 96 \
                         bits)"
                    )
                })
            });
            let as_string = to_decimal(&Value::String(lit.to_string()));
            if !lit.is_empty() && lit.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                assert_eq!(as_string, slow, "{lit:?}");
            }
            if let Ok(d) = &slow {
                let got = as_string.as_ref().unwrap();
                assert_eq!((got.scale(), got.to_string()), (d.scale(), d.to_string()));
                let n = Value::Number(Number::from_string_unchecked(lit.to_string()));
                assert_eq!(to_decimal(&n).map(|d| d.to_string()), Ok(d.to_string()));
            }
        }
    }
}
