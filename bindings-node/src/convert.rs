//! JavaScript values to `serde_json::Value` and back, by hand (no napi `serde-json` feature: it
//! costs ~10 µs per payload; this walk a fraction of that).
//!
//! JS → JSON, what is accepted (anything else is refused with the context's error code — a
//! payload's is `PAYLOAD_INVALID` — and the JSON Pointer of the offending value):
//! - `null`, booleans, strings (a lone UTF-16 surrogate is refused, it has no UTF-8 form);
//! - numbers, read as their shortest round-trip decimal: `0.1` is `0.1`, `-0` is `0`, `1e21` is
//!   `1e21`; integers beyond 2^53 are whatever the JS number holds (JS has already rounded them);
//!   `NaN` and `±Infinity` are refused;
//! - `BigInt`s, exactly (up to 380 digits);
//! - arrays (no holes, no `undefined` items) and plain objects (prototype `Object.prototype` or
//!   `null`), own enumerable string keys only; a property whose value is `undefined` is absent,
//!   as in `JSON.stringify`;
//! - nothing else: functions, symbols, `Date`s, `Map`s, class instances, typed arrays and
//!   buffers are refused (convert them first, e.g. `date.toISOString()`).
//!
//! Nesting deeper than 64 levels, and input larger than the context's byte bound, is
//! `LIMIT_EXCEEDED` (a cyclic object is therefore refused, not looped on).
//!
//! JSON → JS: objects and arrays as plain objects and arrays, numbers as JS numbers (as
//! `JSON.parse` would read them), strings, booleans, `null`.

use napi::bindgen_prelude::{
    Array, BigInt, Env, FromNapiValue, JsObjectValue, JsValue, KeyCollectionMode, KeyConversion,
    KeyFilter, Null, Object, ToNapiValue, Unknown, ValueType,
};
use serde_json::{Map, Number, Value};

use crate::error::{self, Error, NapiResult, Result};

/// Deepest accepted nesting (as the core's JSON parser).
pub const MAX_DEPTH: usize = 64;
/// Largest exactly converted `BigInt`, in 64-bit words (≈ 385 decimal digits: within the core's
/// 400-digit bound for exact decimals).
const MAX_BIGINT_WORDS: usize = 20;

/// What a value is, so a refusal carries that context's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A request payload: `PAYLOAD_INVALID`, 1 MiB.
    Payload,
    /// A policy document: `POLICY_INVALID`, 8 MiB.
    Policy,
    /// Any other JSON argument (trace, caveats, attestation data, records): `INVALID_ARGUMENT`.
    Argument,
}

impl Kind {
    fn max_bytes(self) -> usize {
        match self {
            Kind::Policy => passgate::__private::json::Limits::POLICY.max_bytes,
            // Attestation records and chains are checked by the core; bound them like payloads,
            // with room for a list of records.
            Kind::Payload => passgate::__private::json::Limits::PAYLOAD.max_bytes,
            Kind::Argument => 64 << 20,
        }
    }
}

/// Why a walk stopped; the path is collected while unwinding (nothing is built on success).
enum Fault {
    Invalid(String),
    TooDeep,
    TooLarge(usize),
    Napi(napi::Error),
}

struct Failure {
    fault: Fault,
    /// Path segments, innermost first.
    rev_path: Vec<String>,
}

impl From<Fault> for Failure {
    fn from(fault: Fault) -> Self {
        Failure {
            fault,
            rev_path: Vec::new(),
        }
    }
}

impl From<napi::Error> for Failure {
    fn from(e: napi::Error) -> Self {
        Fault::Napi(e).into()
    }
}

fn at(seg: impl FnOnce() -> String) -> impl FnOnce(Failure) -> Failure {
    move |mut f| {
        f.rev_path.push(seg());
        f
    }
}

struct Walk {
    kind: Kind,
    size: usize,
    max: usize,
}

impl Walk {
    fn grow(&mut self, n: usize) -> std::result::Result<(), Failure> {
        self.size = self.size.saturating_add(n);
        if self.size > self.max {
            return Err(Fault::TooLarge(self.size).into());
        }
        Ok(())
    }

    fn value(&mut self, v: Unknown<'_>, depth: usize) -> std::result::Result<Value, Failure> {
        match v.get_type()? {
            ValueType::Null => {
                self.grow(4)?;
                Ok(Value::Null)
            }
            ValueType::Boolean => {
                self.grow(5)?;
                Ok(Value::Bool(bool::from_unknown(v)?))
            }
            ValueType::Number => {
                let n = number(f64::from_unknown(v)?)?;
                self.grow(n.as_str().len())?;
                Ok(Value::Number(n))
            }
            ValueType::String => {
                let s = self.string(v)?;
                Ok(Value::String(s))
            }
            ValueType::BigInt => {
                let n = bigint(&BigInt::from_unknown(v)?)?;
                self.grow(n.as_str().len())?;
                Ok(Value::Number(n))
            }
            ValueType::Object => {
                if depth >= MAX_DEPTH {
                    return Err(Fault::TooDeep.into());
                }
                let obj = Object::from_unknown(v)?;
                if obj.is_array()? {
                    self.array(&obj, depth)
                } else {
                    self.object(&obj, depth)
                }
            }
            ValueType::Undefined => Err(Fault::Invalid("undefined is not JSON".into()).into()),
            ValueType::Function => Err(Fault::Invalid("a function is not JSON".into()).into()),
            ValueType::Symbol => Err(Fault::Invalid("a symbol is not JSON".into()).into()),
            other => Err(Fault::Invalid(format!("a value of type {other} is not JSON")).into()),
        }
    }

    fn string(&mut self, v: Unknown<'_>) -> std::result::Result<String, Failure> {
        let s = String::from_unknown(v)?;
        self.grow(s.len() + 2)?;
        // napi replaces a lone surrogate by U+FFFD; tell a real U+FFFD from a replaced one.
        if s.contains('\u{FFFD}') {
            let units = napi::bindgen_prelude::Utf16String::from_unknown(v)?;
            if String::from_utf16(&units).is_err() {
                return Err(Fault::Invalid(
                    "a string with a lone UTF-16 surrogate has no UTF-8 form".into(),
                )
                .into());
            }
        }
        Ok(s)
    }

    fn array(&mut self, arr: &Object<'_>, depth: usize) -> std::result::Result<Value, Failure> {
        let len = arr.get_array_length()?;
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        self.grow(n.saturating_add(2))?;
        let mut out = Vec::with_capacity(n.min(4096));
        for i in 0..len {
            let item: Unknown<'_> = arr.get_element(i)?;
            let v = self.value(item, depth + 1).map_err(at(|| i.to_string()))?;
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn object(&mut self, obj: &Object<'_>, depth: usize) -> std::result::Result<Value, Failure> {
        if !is_plain(obj)? {
            return Err(Fault::Invalid(format!(
                "{} is not a plain object (convert it to JSON data first)",
                describe(obj)
            ))
            .into());
        }
        let keys = obj.get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        )?;
        let len = keys.get_array_length()?;
        self.grow(2)?;
        let mut out = Map::new();
        for i in 0..len {
            let key: Unknown<'_> = keys.get_element(i)?;
            if key.get_type()? != ValueType::String {
                continue; // symbol keys are not data (as in JSON.stringify)
            }
            let name = self.string(key)?;
            self.grow(2)?;
            let item: Unknown<'_> = obj.get_property_unchecked(key)?;
            if item.get_type()? == ValueType::Undefined {
                continue; // absent, as in JSON.stringify
            }
            let v = self.value(item, depth + 1).map_err(at(|| escape(&name)))?;
            out.insert(name, v);
        }
        Ok(Value::Object(out))
    }
}

/// Prototype `Object.prototype` (whose own prototype is `null`) or `null`: a literal, `JSON.parse`
/// output or `Object.create(null)`. Class instances, `Date`s, `Map`s, boxed primitives have a
/// prototype of their own in between.
fn is_plain(obj: &Object<'_>) -> napi::Result<bool> {
    let proto = obj.get_prototype()?;
    if proto.get_type()? == ValueType::Null {
        return Ok(true);
    }
    let proto = Object::from_unknown(proto)?;
    Ok(proto.get_prototype()?.get_type()? == ValueType::Null)
}

fn describe(obj: &Object<'_>) -> String {
    if obj.is_date().unwrap_or(false) {
        return "a Date".into();
    }
    if obj.is_buffer().unwrap_or(false) || obj.is_typedarray().unwrap_or(false) {
        return "a typed array or Buffer".into();
    }
    let name = obj
        .get_prototype()
        .ok()
        .and_then(|p| Object::from_unknown(p).ok())
        .and_then(|p| p.get_named_property::<Unknown<'_>>("constructor").ok())
        .and_then(|c| Object::from_unknown(c).ok())
        .and_then(|c| c.get_named_property::<Unknown<'_>>("name").ok())
        .and_then(|n| String::from_unknown(n).ok())
        .filter(|n| !n.is_empty() && n.len() <= 64);
    match name {
        Some(n) => format!("an instance of {n}"),
        None => "an object with a custom prototype".into(),
    }
}

fn escape(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

/// A JS number as JSON: safe integers as integers, other finite numbers as their shortest
/// round-trip decimal (ryu, as the core's parser), non-finite refused.
fn number(x: f64) -> std::result::Result<Number, Failure> {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    if !x.is_finite() {
        return Err(Fault::Invalid(format!("{x} is not a JSON number")).into());
    }
    if x.fract() == 0.0 && x.abs() <= SAFE {
        // Exact: |x| ≤ 2^53 − 1 and integral (this also turns -0 into 0).
        return Ok(Number::from(x as i64));
    }
    Number::from_f64(x).ok_or_else(|| Fault::Invalid(format!("{x} is not a JSON number")).into())
}

/// A `BigInt` as an exact decimal JSON number.
fn bigint(b: &BigInt) -> std::result::Result<Number, Failure> {
    let mut words: Vec<u64> = b.words.clone();
    while words.last() == Some(&0) {
        words.pop();
    }
    if words.len() > MAX_BIGINT_WORDS {
        return Err(Fault::Invalid(format!(
            "a BigInt of {} bits is too large to represent exactly",
            words.len() * 64
        ))
        .into());
    }
    let digits = words_to_decimal(words);
    let lit = if b.sign_bit && digits != "0" {
        format!("-{digits}")
    } else {
        digits
    };
    lit.parse::<Number>()
        .map_err(|e| Fault::Invalid(format!("BigInt {lit}: {e}")).into())
}

/// Little-endian base-2^64 words to decimal digits, by repeated division by 10^19.
fn words_to_decimal(mut words: Vec<u64>) -> String {
    const CHUNK: u128 = 10_000_000_000_000_000_000;
    let mut chunks: Vec<u64> = Vec::new();
    while !words.is_empty() {
        let mut rem: u128 = 0;
        for w in words.iter_mut().rev() {
            let cur = (rem << 64) | u128::from(*w);
            // cur < CHUNK * 2^64, so the quotient fits a u64.
            *w = u64::try_from(cur / CHUNK).unwrap_or(u64::MAX);
            rem = cur % CHUNK;
        }
        chunks.push(u64::try_from(rem).unwrap_or(0));
        while words.last() == Some(&0) {
            words.pop();
        }
    }
    let mut out = String::new();
    let mut it = chunks.iter().rev();
    match it.next() {
        Some(first) => out.push_str(&first.to_string()),
        None => out.push('0'),
    }
    for c in it {
        out.push_str(&format!("{c:019}"));
    }
    out
}

/// Converts a JS value to JSON in `kind`'s context; `what` names it in messages (`payload`,
/// `trace`, `caveats`).
pub fn to_json(v: Unknown<'_>, kind: Kind, what: &str) -> Result<Value> {
    let mut walk = Walk {
        kind,
        size: 0,
        max: kind.max_bytes(),
    };
    walk.value(v, 0).map_err(|f| failure(f, walk.kind, what))
}

fn failure(f: Failure, kind: Kind, what: &str) -> Error {
    let mut path = String::new();
    for seg in f.rev_path.iter().rev() {
        path.push('/');
        path.push_str(seg);
    }
    if path.is_empty() {
        path.push('/');
    }
    let msg = match f.fault {
        Fault::Napi(e) => return error::napi(e),
        Fault::TooDeep => {
            return error::core(passgate::Error::LimitExceeded(format!(
                "{what}: nesting deeper than {MAX_DEPTH} levels at {path}"
            )))
        }
        Fault::TooLarge(size) => {
            return error::core(passgate::Error::LimitExceeded(format!(
                "{what}: more than {} bytes as JSON (at least {size})",
                kind.max_bytes()
            )))
        }
        Fault::Invalid(m) => m,
    };
    error::core(match kind {
        Kind::Payload => passgate::Error::payload(path, msg),
        Kind::Policy => passgate::Error::policy(path, msg),
        Kind::Argument => passgate::Error::InvalidArgument(format!("{what} at {path}: {msg}")),
    })
}

/// Converts JSON to a JS value.
pub fn to_js<'e>(env: &'e Env, v: &Value) -> Result<Unknown<'e>> {
    to_js_depth(env, v, 0)
}

fn to_js_depth<'e>(env: &'e Env, v: &Value, depth: usize) -> Result<Unknown<'e>> {
    // Values built by the core are bounded; this guards the stack all the same.
    if depth > 2 * MAX_DEPTH {
        return Err(error::core(passgate::Error::LimitExceeded(
            "result nested too deeply".into(),
        )));
    }
    match v {
        Value::Null => Null.into_unknown(env).napi(),
        Value::Bool(b) => b.into_unknown(env).napi(),
        Value::Number(n) => number_to_js(env, n),
        Value::String(s) => s.as_str().into_unknown(env).napi(),
        Value::Array(a) => {
            let mut arr = array(env, a.len())?;
            for (i, x) in a.iter().enumerate() {
                let item = to_js_depth(env, x, depth + 1)?;
                arr.set(u32::try_from(i).unwrap_or(u32::MAX), item).napi()?;
            }
            Ok(arr.to_unknown())
        }
        Value::Object(m) => Ok(object_to_js(env, m, depth, |k| k.into())?.to_unknown()),
    }
}

/// An object whose keys are renamed by `rename` (decisions: `evaluation_id` → `evaluationId`).
pub fn object_to_js<'e>(
    env: &'e Env,
    m: &Map<String, Value>,
    depth: usize,
    rename: impl Fn(&str) -> std::borrow::Cow<'_, str>,
) -> Result<Object<'e>> {
    let mut obj = Object::new(env).napi()?;
    for (k, x) in m {
        let item = to_js_depth(env, x, depth + 1)?;
        obj.set_named_property(&rename(k), item).napi()?;
    }
    Ok(obj)
}

/// A new array of `len` items.
pub fn array(env: &Env, len: usize) -> Result<Array<'_>> {
    env.create_array(u32::try_from(len).unwrap_or(u32::MAX))
        .napi()
}

fn number_to_js<'e>(env: &'e Env, n: &Number) -> Result<Unknown<'e>> {
    const SAFE: i64 = (1 << 53) - 1;
    if let Some(i) = n.as_i64().filter(|i| (-SAFE..=SAFE).contains(i)) {
        return i.into_unknown(env).napi();
    }
    match n.as_f64() {
        Some(f) => f.into_unknown(env).napi(),
        // Beyond the double range: keep the digits rather than invent a value.
        None => n.as_str().into_unknown(env).napi(),
    }
}

/// `snake_case` → `camelCase` (the decision's own keys and option names).
pub fn camel(k: &str) -> std::borrow::Cow<'_, str> {
    if !k.contains('_') {
        return k.into();
    }
    let mut out = String::with_capacity(k.len());
    let mut upper = false;
    for c in k.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigint_digits() {
        assert_eq!(words_to_decimal(vec![]), "0");
        assert_eq!(words_to_decimal(vec![42]), "42");
        assert_eq!(words_to_decimal(vec![u64::MAX]), u64::MAX.to_string());
        assert_eq!(words_to_decimal(vec![0, 1]), "18446744073709551616");
        assert_eq!(
            words_to_decimal(vec![u64::MAX, u64::MAX]),
            u128::MAX.to_string()
        );
        assert_eq!(
            words_to_decimal(vec![0, 0, 1]),
            "340282366920938463463374607431768211456"
        );
    }

    #[test]
    fn numbers() {
        let s = |x: f64| {
            number(x)
                .ok()
                .map(|n| passgate::__private::json::normalize_number(n.as_str()).unwrap())
        };
        assert_eq!(s(0.1).as_deref(), Some("0.1"));
        assert_eq!(s(-0.0).as_deref(), Some("0"));
        assert_eq!(s(120.0).as_deref(), Some("120"));
        assert_eq!(s(1e21).as_deref(), Some("1000000000000000000000"));
        assert_eq!(s(2f64.powi(53)).as_deref(), Some("9007199254740992"));
        assert_eq!(s(2f64.powi(60)).as_deref(), Some("1152921504606847000"));
        assert!(s(f64::NAN).is_none());
        assert!(s(f64::INFINITY).is_none());
    }

    #[test]
    fn camel_case() {
        assert_eq!(camel("evaluation_id"), "evaluationId");
        assert_eq!(camel("dry_run"), "dryRun");
        assert_eq!(camel("gate"), "gate");
    }
}
