//! Option objects (`{gate, passport, payload, …}`): read by own enumerable key, so an unknown or
//! misspelt option (`idempotency_key` for `idempotencyKey`) is refused (`INVALID_ARGUMENT`) instead
//! of silently dropped — the same rule as the core's JSON seam.

use napi::bindgen_prelude::{
    ClassInstance, FromNapiValue, JsObjectValue, JsValue, KeyCollectionMode, KeyConversion,
    KeyFilter, Object, Unknown, ValueType,
};
use serde_json::Value;

use crate::convert::{self, Kind};
use crate::error::{invalid, NapiResult, Result};
use crate::issuer::{IssuedPassport, Issuer};

/// The own enumerable string-keyed entries of an options object `v` whose values are present
/// (not `undefined` / `null`); `undefined` / `null` itself is no options, anything but an object
/// (an array too) is `INVALID_ARGUMENT` naming the call `what`. Keys with lone surrogates are
/// refused, as every string passgate reads.
pub(crate) fn object_entries<'e>(what: &str, v: Unknown<'e>) -> Result<Vec<(String, Unknown<'e>)>> {
    let obj = match v.get_type().napi()? {
        ValueType::Undefined | ValueType::Null => return Ok(Vec::new()),
        ValueType::Object => Object::from_unknown(v).napi()?,
        other => {
            return Err(invalid(format!(
                "{what}: options must be an object, not {other}"
            )))
        }
    };
    if obj.is_array().napi()? {
        return Err(invalid(format!(
            "{what}: options must be an object, not an array"
        )));
    }
    let keys = obj
        .get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        )
        .napi()?;
    let mut out = Vec::new();
    for i in 0..keys.get_array_length().napi()? {
        let key: Unknown<'e> = keys.get_element(i).napi()?;
        if key.get_type().napi()? != ValueType::String {
            continue;
        }
        let name = convert::js_string(key, "option")?;
        let value: Unknown<'e> = obj.get_property_unchecked(key).napi()?;
        if !matches!(
            value.get_type().napi()?,
            ValueType::Undefined | ValueType::Null
        ) {
            out.push((name, value));
        }
    }
    Ok(out)
}

/// `INVALID_ARGUMENT` at `/name`: option `name` of the call `call` is not `what`.
pub(crate) fn wrong(call: &str, name: &str, what: &str) -> crate::error::Error {
    crate::error::argument(format!("/{name}"), format!("{call}: {name} must be {what}"))
}

/// The present (not `undefined` / `null`) options of one call.
pub struct Options<'e> {
    what: &'static str,
    entries: Vec<(String, Unknown<'e>)>,
}

impl<'e> Options<'e> {
    /// Reads `v` (an object, or `undefined` / `null` for none) for the call `what`, refusing any
    /// option not in `allowed`.
    pub fn read(v: Option<Unknown<'e>>, what: &'static str, allowed: &[&str]) -> Result<Self> {
        let Some(v) = v else {
            return Ok(Options {
                what,
                entries: Vec::new(),
            });
        };
        let entries = object_entries(what, v)?;
        if let Some((name, _)) = entries.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
            return Err(crate::error::argument(
                format!("/{name}"),
                format!(
                    "{what}: unknown option {name:?} (expected one of: {})",
                    allowed.join(", ")
                ),
            ));
        }
        Ok(Options { what, entries })
    }

    /// The option `name`, if present.
    pub fn get(&self, name: &str) -> Option<Unknown<'e>> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
    }

    fn wrong(&self, name: &str, what: &str) -> crate::error::Error {
        wrong(self.what, name, what)
    }

    /// A string option.
    pub fn str(&self, name: &str) -> Result<Option<String>> {
        self.get(name)
            .map(|v| match v.get_type().napi()? {
                ValueType::String => convert::js_string(v, name),
                _ => Err(self.wrong(name, "a string")),
            })
            .transpose()
    }

    /// A required string option.
    pub fn req_str(&self, name: &str) -> Result<String> {
        self.str(name)?.ok_or_else(|| self.wrong(name, "given"))
    }

    /// A boolean option.
    pub fn bool(&self, name: &str) -> Result<Option<bool>> {
        self.get(name)
            .map(|v| match v.get_type().napi()? {
                ValueType::Boolean => bool::from_unknown(v).napi(),
                _ => Err(self.wrong(name, "a boolean")),
            })
            .transpose()
    }

    /// An integer option (a JS number with no fractional part, within ±2^53).
    pub fn int(&self, name: &str) -> Result<Option<i64>> {
        self.get(name)
            .map(|v| integer(v).ok_or_else(|| self.wrong(name, "an integer")))
            .transpose()
    }

    /// A JSON option, converted in `kind`'s context.
    pub fn json(&self, name: &str, kind: Kind) -> Result<Option<Value>> {
        self.get(name)
            .map(|v| convert::to_json(v, kind, name))
            .transpose()
    }

    /// A passport option: a token string or an `IssuedPassport`.
    pub fn token(&self, name: &str) -> Result<Option<String>> {
        self.get(name)
            .map(|v| token(v).ok_or_else(|| self.wrong(name, TOKEN)))
            .transpose()
    }
}

/// A JS number that is an exact integer.
pub fn integer(v: Unknown<'_>) -> Option<i64> {
    if v.get_type().ok()? != ValueType::Number {
        return None;
    }
    let x = f64::from_unknown(v).ok()?;
    const SAFE: f64 = 9_007_199_254_740_991.0;
    (x.fract() == 0.0 && x.abs() <= SAFE).then_some(x as i64)
}

/// What a passport option must be.
pub(crate) const TOKEN: &str = "a token string or an IssuedPassport";

/// A passport token from a string or an `IssuedPassport`.
pub fn token(v: Unknown<'_>) -> Option<String> {
    match v.get_type().ok()? {
        ValueType::String => convert::js_string(v, "passport").ok(),
        ValueType::Object => ClassInstance::<IssuedPassport>::from_unknown(v)
            .ok()
            .map(|p| p.inner.token.clone()),
        _ => None,
    }
}

/// An agent's key pair from an `IssuedPassport` (its `privateKey`) or the secret string.
pub fn agent_key(v: Unknown<'_>) -> Result<passgate::KeyPair> {
    let secret = match v.get_type().napi()? {
        ValueType::String => String::from_unknown(v).napi()?,
        ValueType::Object => ClassInstance::<IssuedPassport>::from_unknown(v)
            .map(|p| p.inner.private_key.clone())
            .map_err(|_| {
                invalid("agentKey: expected an IssuedPassport or the agent's secret string")
            })?,
        _ => {
            return Err(invalid(
                "agentKey: expected an IssuedPassport or the agent's secret string",
            ))
        }
    };
    passgate::KeyPair::from_secret(&secret).map_err(crate::error::core)
}

/// An issuer from an `Issuer` or a secret string.
pub fn issuer(v: Unknown<'_>) -> Result<passgate::Issuer> {
    match v.get_type().napi()? {
        ValueType::String => {
            let secret = String::from_unknown(v).napi()?;
            passgate::Issuer::from_secret(&secret).map_err(crate::error::core)
        }
        ValueType::Object => ClassInstance::<Issuer>::from_unknown(v)
            .map(|i| i.inner.clone())
            .map_err(|_| invalid("expected an Issuer or an issuer secret string")),
        _ => Err(invalid("expected an Issuer or an issuer secret string")),
    }
}

/// Trusted issuers: did:key strings or `Issuer`s.
pub fn dids(v: Unknown<'_>) -> Result<Vec<String>> {
    let bad = || invalid("engine: trustedIssuers must be an array of did:key strings or Issuers");
    let obj = Object::from_unknown(v).map_err(|_| bad())?;
    if !obj.is_array().napi()? {
        return Err(bad());
    }
    let len = obj.get_array_length().napi()?;
    let mut out = Vec::new();
    for i in 0..len {
        let item: Unknown<'_> = obj.get_element(i).napi()?;
        match item.get_type().napi()? {
            ValueType::String => out.push(String::from_unknown(item).napi()?),
            ValueType::Object => out.push(
                ClassInstance::<Issuer>::from_unknown(item)
                    .map_err(|_| bad())?
                    .inner
                    .did()
                    .to_string(),
            ),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}
