//! The catalog document: what a gate offers, its prices and terms (see [`crate::commerce`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The largest amount (minor units), count or duration a catalog may hold: JavaScript's safe
/// integer range, so every language reads and canonicalizes a catalog identically.
pub const MAX_AMOUNT: u64 = (1 << 53) - 1;
/// The most offers a catalog may list.
pub const MAX_OFFERS: usize = 256;
/// The most tiers a tiered price may have.
pub const MAX_TIERS: usize = 32;
/// The longest gate name, permission, description or field pointer.
pub const MAX_TEXT: usize = 1024;

/// The trust a gate requires of its callers.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum TrustLevel {
    /// A verified passport.
    L1,
    /// A passport from a trusted issuer class.
    L2,
    /// Proof of possession of the passport's key on every request.
    L3,
}

impl TrustLevel {
    fn parse(s: &str) -> Option<TrustLevel> {
        match s {
            "L1" => Some(TrustLevel::L1),
            "L2" => Some(TrustLevel::L2),
            "L3" => Some(TrustLevel::L3),
            _ => None,
        }
    }
}

/// A price: integer minor units of an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Minor units (cents for USD), `0 ..= 2^53 − 1`.
    pub amount: u64,
    /// The ISO 4217 code: three uppercase letters.
    pub currency: String,
}

/// One tier of a tiered price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    /// The last unit this tier prices (`null`: every unit above the previous tier; only the
    /// last tier, which must be `null`).
    pub up_to: Option<u64>,
    /// The price of one unit in this tier, minor units.
    pub amount: u64,
}

/// How a call is priced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pricing {
    /// `price.amount` per call.
    PerCall,
    /// `price.amount` per `unit` units of the payload field at `field` (a JSON pointer).
    PerUnit {
        /// The JSON pointer of the quantity in the payload.
        field: String,
        /// How many units `price.amount` buys (`> 0`).
        unit: u64,
    },
    /// `price.amount` per call plus, for the quantity at `field`, each unit at its tier's
    /// amount (graduated).
    Tiered {
        /// The JSON pointer of the quantity in the payload.
        field: String,
        /// The tiers, `up_to` strictly increasing, the last `null`.
        tiers: Vec<Tier>,
    },
}

impl Pricing {
    /// The model's name (`per_call`, `per_unit`, `tiered`).
    pub fn model(&self) -> &'static str {
        match self {
            Pricing::PerCall => "per_call",
            Pricing::PerUnit { .. } => "per_unit",
            Pricing::Tiered { .. } => "tiered",
        }
    }
}

/// Service-level terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sla {
    /// Availability in basis points (`9990` = 99.90 %), `0 ..= 10000`.
    pub availability_bp: u64,
    /// The 95th-percentile latency promised, ms.
    pub p95_latency_ms: u64,
}

/// Rate terms: at most `max` calls per `window`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// The most calls per window (`> 0`).
    pub max: u64,
    /// The window: a positive integer and a unit, `s`, `m`, `h` or `d` (`"1h"`).
    pub window: String,
}

impl Rate {
    /// The window in seconds.
    pub fn window_secs(&self) -> u64 {
        window_secs(&self.window).unwrap_or(1)
    }
}

fn window_secs(s: &str) -> Option<u64> {
    let unit = match s.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let digits = s.get(..s.len() - 1)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(unit).filter(|&v| v <= MAX_AMOUNT)
}

/// A risk level.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// What a gate offers for one permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Offer {
    /// The permission this offer prices (unique in the catalog).
    pub permission: String,
    /// The price.
    pub price: Price,
    /// How a call is priced.
    pub pricing: Pricing,
    /// Service-level terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla: Option<Sla>,
    /// Rate terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Rate>,
    /// Calls priced above this (minor units) need a human approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_threshold: Option<u64>,
    /// The risk level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
}

/// A gate's catalog: the terms it offers (validated by [`Catalog::from_value`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The gate.
    pub gate: String,
    /// What the gate does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The trust the gate requires (`L1` passport, `L2` trusted issuer class, `L3` proof of
    /// possession).
    pub trust_level: TrustLevel,
    /// The offers, one per permission.
    pub offers: Vec<Offer>,
}

fn invalid(path: &str, message: impl Into<String>) -> Error {
    Error::catalog(path, message)
}

fn object<'a>(v: &'a Value, path: &str, what: &str) -> Result<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| invalid(path, format!("{what} must be an object, not {}", kind(v))))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn only(obj: &Map<String, Value>, path: &str, known: &[&str]) -> Result<()> {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            let hint = crate::suggest::closest(k, known.iter().copied())
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            return Err(invalid(
                &format!("{path}/{}", escape(k)),
                format!("unknown field {k:?}{hint}"),
            ));
        }
    }
    Ok(())
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn required<'a>(obj: &'a Map<String, Value>, path: &str, key: &str) -> Result<&'a Value> {
    match obj.get(key) {
        Some(v) if !v.is_null() => Ok(v),
        _ => Err(invalid(
            &format!("{path}/{key}"),
            format!("{key} is required"),
        )),
    }
}

fn optional<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An integer `0 ..= MAX_AMOUNT`: a float (even `1.0`) or a negative number is refused.
fn integer(v: &Value, path: &str, what: &str) -> Result<u64> {
    let Value::Number(n) = v else {
        return Err(invalid(
            path,
            format!("{what} must be an integer, not {}", kind(v)),
        ));
    };
    if n.is_f64() {
        return Err(invalid(
            path,
            format!("{what} must be an integer (minor units), not the float {n}"),
        ));
    }
    if n.as_i64().is_some_and(|i| i < 0) {
        return Err(invalid(path, format!("{what} must not be negative ({n})")));
    }
    match n.as_u64() {
        Some(u) if u <= MAX_AMOUNT => Ok(u),
        _ => Err(invalid(
            path,
            format!("{what} must be at most {MAX_AMOUNT} ({n})"),
        )),
    }
}

fn text(v: &Value, path: &str, what: &str) -> Result<String> {
    match v.as_str() {
        Some(s) if !s.is_empty() && s.chars().count() <= MAX_TEXT => Ok(s.to_string()),
        Some(_) => Err(invalid(
            path,
            format!("{what} must be 1 to {MAX_TEXT} characters"),
        )),
        None => Err(invalid(
            path,
            format!("{what} must be a string, not {}", kind(v)),
        )),
    }
}

fn pointer(v: &Value, path: &str) -> Result<String> {
    let s = text(v, path, "field")?;
    crate::pointer::Pointer::parse(&s)
        .map_err(|e| invalid(path, format!("field {s:?} is not a JSON pointer: {e}")))?;
    Ok(s)
}

impl Catalog {
    /// Validates a catalog document and reads it; anything wrong is `CATALOG_INVALID` at the
    /// JSON pointer of the offending field (`/offers/0/price/amount`): floats, negative
    /// amounts, unknown pricing models, unknown fields, duplicate permissions, tiers out of
    /// order.
    pub fn from_value(doc: &Value) -> Result<Catalog> {
        let obj = object(doc, "", "a catalog")?;
        only(obj, "", &["gate", "description", "trust_level", "offers"])?;
        let gate = text(required(obj, "", "gate")?, "/gate", "gate")?;
        let description = optional(obj, "description")
            .map(|v| text(v, "/description", "description"))
            .transpose()?;
        let tl = required(obj, "", "trust_level")?;
        let trust_level = tl.as_str().and_then(TrustLevel::parse).ok_or_else(|| {
            invalid(
                "/trust_level",
                format!("trust_level must be \"L1\", \"L2\" or \"L3\", not {tl}"),
            )
        })?;
        let list = required(obj, "", "offers")?
            .as_array()
            .ok_or_else(|| invalid("/offers", "offers must be an array"))?;
        if list.len() > MAX_OFFERS {
            return Err(invalid(
                "/offers",
                format!("at most {MAX_OFFERS} offers ({})", list.len()),
            ));
        }
        let mut offers: Vec<Offer> = Vec::with_capacity(list.len());
        for (i, o) in list.iter().enumerate() {
            let offer = offer(o, &format!("/offers/{i}"))?;
            if offers.iter().any(|x| x.permission == offer.permission) {
                return Err(invalid(
                    &format!("/offers/{i}/permission"),
                    format!("permission {:?} has two offers", offer.permission),
                ));
            }
            offers.push(offer);
        }
        Ok(Catalog {
            gate,
            description,
            trust_level,
            offers,
        })
    }

    /// The catalog as JSON (its normal form: absent optional terms left out).
    pub fn to_value(&self) -> Result<Value> {
        serde_json::to_value(self).map_err(|e| Error::Internal(format!("catalog: {e}")))
    }

    /// `sha256:<hex>` of the RFC 8785 canonical form of [`Catalog::to_value`]: what a pin
    /// names.
    pub fn content_hash(&self) -> Result<String> {
        use sha2::{Digest, Sha256};
        let canonical = crate::json::canonical(&self.to_value()?)?;
        Ok(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        ))
    }

    /// The offer for `permission`.
    pub fn offer(&self, permission: &str) -> Option<&Offer> {
        self.offers.iter().find(|o| o.permission == permission)
    }
}

fn offer(v: &Value, path: &str) -> Result<Offer> {
    let obj = object(v, path, "an offer")?;
    only(
        obj,
        path,
        &[
            "permission",
            "price",
            "pricing",
            "sla",
            "rate",
            "approval_threshold",
            "risk",
        ],
    )?;
    let permission = text(
        required(obj, path, "permission")?,
        &format!("{path}/permission"),
        "permission",
    )?;
    let price = {
        let p = format!("{path}/price");
        let o = object(required(obj, path, "price")?, &p, "price")?;
        only(o, &p, &["amount", "currency"])?;
        let amount = integer(required(o, &p, "amount")?, &format!("{p}/amount"), "amount")?;
        let cp = format!("{p}/currency");
        let c = required(o, &p, "currency")?;
        let currency = c
            .as_str()
            .filter(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()))
            .ok_or_else(|| {
                invalid(
                    &cp,
                    format!("currency must be an ISO 4217 code (three uppercase letters), not {c}"),
                )
            })?;
        Price {
            amount,
            currency: currency.to_string(),
        }
    };
    let pricing = pricing(required(obj, path, "pricing")?, &format!("{path}/pricing"))?;
    let sla = optional(obj, "sla")
        .map(|v| {
            let p = format!("{path}/sla");
            let o = object(v, &p, "sla")?;
            only(o, &p, &["availability_bp", "p95_latency_ms"])?;
            let ap = format!("{p}/availability_bp");
            let availability_bp =
                integer(required(o, &p, "availability_bp")?, &ap, "availability_bp")?;
            if availability_bp > 10_000 {
                return Err(invalid(
                    &ap,
                    format!("availability_bp is basis points, at most 10000 ({availability_bp})"),
                ));
            }
            let p95_latency_ms = integer(
                required(o, &p, "p95_latency_ms")?,
                &format!("{p}/p95_latency_ms"),
                "p95_latency_ms",
            )?;
            Ok(Sla {
                availability_bp,
                p95_latency_ms,
            })
        })
        .transpose()?;
    let rate = optional(obj, "rate")
        .map(|v| {
            let p = format!("{path}/rate");
            let o = object(v, &p, "rate")?;
            only(o, &p, &["max", "window"])?;
            let mp = format!("{p}/max");
            let max = integer(required(o, &p, "max")?, &mp, "max")?;
            if max == 0 {
                return Err(invalid(&mp, "max must be at least 1"));
            }
            let wp = format!("{p}/window");
            let w = required(o, &p, "window")?;
            let window = w
                .as_str()
                .filter(|s| window_secs(s).is_some())
                .ok_or_else(|| {
                    invalid(
                        &wp,
                        format!(
                            "window must be a positive integer and s, m, h or d (\"1h\"), not {w}"
                        ),
                    )
                })?
                .to_string();
            Ok(Rate { max, window })
        })
        .transpose()?;
    let approval_threshold = optional(obj, "approval_threshold")
        .map(|v| {
            integer(
                v,
                &format!("{path}/approval_threshold"),
                "approval_threshold",
            )
        })
        .transpose()?;
    let risk = optional(obj, "risk")
        .map(|v| match v.as_str() {
            Some("low") => Ok(Risk::Low),
            Some("medium") => Ok(Risk::Medium),
            Some("high") => Ok(Risk::High),
            _ => Err(invalid(
                &format!("{path}/risk"),
                format!("risk must be \"low\", \"medium\" or \"high\", not {v}"),
            )),
        })
        .transpose()?;
    Ok(Offer {
        permission,
        price,
        pricing,
        sla,
        rate,
        approval_threshold,
        risk,
    })
}

fn pricing(v: &Value, path: &str) -> Result<Pricing> {
    let obj = object(v, path, "pricing")?;
    let mp = format!("{path}/model");
    let model = required(obj, path, "model")?;
    match model.as_str() {
        Some("per_call") => {
            only(obj, path, &["model"])?;
            Ok(Pricing::PerCall)
        }
        Some("per_unit") => {
            only(obj, path, &["model", "field", "unit"])?;
            let field = pointer(required(obj, path, "field")?, &format!("{path}/field"))?;
            let up = format!("{path}/unit");
            let unit = integer(required(obj, path, "unit")?, &up, "unit")?;
            if unit == 0 {
                return Err(invalid(&up, "unit must be at least 1"));
            }
            Ok(Pricing::PerUnit { field, unit })
        }
        Some("tiered") => {
            only(obj, path, &["model", "field", "tiers"])?;
            let field = pointer(required(obj, path, "field")?, &format!("{path}/field"))?;
            let tp = format!("{path}/tiers");
            let list = required(obj, path, "tiers")?
                .as_array()
                .ok_or_else(|| invalid(&tp, "tiers must be an array"))?;
            if list.is_empty() || list.len() > MAX_TIERS {
                return Err(invalid(
                    &tp,
                    format!("1 to {MAX_TIERS} tiers ({})", list.len()),
                ));
            }
            let mut tiers: Vec<Tier> = Vec::with_capacity(list.len());
            let last = list.len() - 1;
            for (i, t) in list.iter().enumerate() {
                let p = format!("{tp}/{i}");
                let o = object(t, &p, "a tier")?;
                only(o, &p, &["up_to", "amount"])?;
                let amount = integer(required(o, &p, "amount")?, &format!("{p}/amount"), "amount")?;
                let upp = format!("{p}/up_to");
                let up_to = optional(o, "up_to")
                    .map(|v| integer(v, &upp, "up_to"))
                    .transpose()?;
                match (up_to, i == last) {
                    (Some(_), true) => {
                        return Err(invalid(
                            &upp,
                            "the last tier's up_to must be null (every unit above)",
                        ))
                    }
                    (None, false) => {
                        return Err(invalid(&upp, "only the last tier may have up_to null"))
                    }
                    (Some(u), false) => {
                        let prev = tiers.last().and_then(|t| t.up_to);
                        if u == 0 || prev.is_some_and(|p| u <= p) {
                            return Err(invalid(
                                &upp,
                                "up_to must be positive and strictly increasing",
                            ));
                        }
                    }
                    (None, true) => {}
                }
                tiers.push(Tier { up_to, amount });
            }
            Ok(Pricing::Tiered { field, tiers })
        }
        _ => Err(invalid(
            &mp,
            format!("unknown pricing model {model} (per_call, per_unit or tiered)"),
        )),
    }
}
