//! Consumption pricing and settlement statements (issue 18, items 5–6).
//!
//! **Pricing** ([`price`]) is exact integer arithmetic on minor units, from the offer of the
//! catalog version a decision applied:
//! - `per_call`: `price.amount`;
//! - `per_unit {field, unit}`: ⌊`price.amount` × `quantity` / `unit`⌋ (pro rata, rounded down:
//!   never more than the stated rate);
//! - `tiered {field, tiers}`: `price.amount` plus, graduated, each unit of `quantity` at the
//!   amount of the tier it falls in (tier *i* covers the units above tier *i − 1*'s `up_to` up to
//!   its own; the last, `up_to: null`, every unit above);
//! - outcome `success`: that full price; `error` and `timeout`: 0; `partial`: ⌊full × `delivered`
//!   / `quantity`⌋ (`delivered` ≤ `quantity`, `quantity` ≥ 1);
//! - the platform fee: ⌊price × `fee_bps` / 10 000⌋, and `net` = price − fee.
//!
//! Intermediates are `u128`; a price above 2^53 − 1 (the largest integer every language reads
//! exactly) is `CONSUMPTION_INVALID`, never a wrapped or rounded number.
//!
//! **A settlement statement** is a signed document of the catalog's sealed shape in its own domain
//! ([`SETTLEMENT_DOMAIN`]): `{"body": {v, kind: "settlement", settlement_id, period: {from, to},
//! payer, payee, totals: {<currency>: {gross, fee, net, count}}, count, merkle_root, status:
//! "draft", generated_at, signer}, "hash", "sig", "kid"}`. `merkle_root` is the RFC 9162 Merkle
//! tree hash of the included consumption record ids (`body.id`), sorted (byte order): leaf =
//! SHA-256(0x00 ‖ id), node = SHA-256(0x01 ‖ left ‖ right), the empty tree SHA-256(""), as
//! `sha256:<hex>`. [`verify_settlement`] checks a statement with only the did and, given the
//! included consumption records, recomputes the root and the totals from them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::catalog::{Offer, Pricing, MAX_AMOUNT};
use crate::attestation;
use crate::error::{Error, Result};
use crate::keys::{KeyPair, PublicKey};

/// The bytes every settlement statement signature starts with.
pub const SETTLEMENT_DOMAIN: &[u8] = b"passgate/settlement/v1\n";

/// The settlement statement format version (`body.v`).
pub const SETTLEMENT_VERSION: u64 = 1;

/// The most basis points a fee may take (100 %).
pub const MAX_FEE_BPS: u64 = 10_000;

/// How a consumed call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Delivered in full: the full price.
    Success,
    /// Failed: nothing is owed.
    Error,
    /// Timed out: nothing is owed.
    Timeout,
    /// Delivered in part: ⌊full × delivered / quantity⌋.
    Partial,
}

impl Outcome {
    /// As a record spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Partial => "partial",
        }
    }

    /// Parses a record's spelling.
    pub fn parse(s: &str) -> Option<Outcome> {
        match s {
            "success" => Some(Outcome::Success),
            "error" => Some(Outcome::Error),
            "timeout" => Some(Outcome::Timeout),
            "partial" => Some(Outcome::Partial),
            _ => None,
        }
    }
}

/// A computed price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    /// What the call costs (minor units).
    pub amount: u64,
    /// The platform's fee.
    pub fee: u64,
    /// What the payee receives: `amount − fee`.
    pub net: u64,
}

fn invalid(m: impl Into<String>) -> Error {
    Error::ConsumptionInvalid(m.into())
}

fn fits(v: u128, what: &str) -> Result<u64> {
    u64::try_from(v)
        .ok()
        .filter(|&v| v <= MAX_AMOUNT)
        .ok_or_else(|| invalid(format!("{what} would be {v}, above 2^53 − 1: overflow")))
}

/// The full price of `quantity` units under `offer` (see the module docs).
pub fn full_price(offer: &Offer, quantity: u64) -> Result<u64> {
    let amount = u128::from(offer.price.amount);
    let q = u128::from(quantity);
    let total = match &offer.pricing {
        Pricing::PerCall => amount,
        Pricing::PerUnit { unit, .. } => amount
            .checked_mul(q)
            .map(|v| v / u128::from((*unit).max(1)))
            .ok_or_else(|| invalid("the price overflows"))?,
        Pricing::Tiered { tiers, .. } => {
            let mut total = amount;
            let mut below: u64 = 0;
            for t in tiers {
                if quantity <= below {
                    break;
                }
                let top = t.up_to.map_or(quantity, |u| u.min(quantity));
                let units = u128::from(top.saturating_sub(below));
                total = units
                    .checked_mul(u128::from(t.amount))
                    .and_then(|v| v.checked_add(total))
                    .ok_or_else(|| invalid("the price overflows"))?;
                below = top;
            }
            total
        }
    };
    fits(total, "the price")
}

/// The price of a consumed call: the full price by outcome, then the fee (see the module docs).
/// `delivered` is required for `partial` (at most `quantity`, which must be at least 1).
pub fn price(
    offer: &Offer,
    outcome: Outcome,
    quantity: u64,
    delivered: Option<u64>,
    fee_bps: u64,
) -> Result<Priced> {
    if fee_bps > MAX_FEE_BPS {
        return Err(invalid(format!(
            "fee_bps must be at most {MAX_FEE_BPS} ({fee_bps})"
        )));
    }
    let full = full_price(offer, quantity)?;
    let amount = match outcome {
        Outcome::Success => full,
        Outcome::Error | Outcome::Timeout => 0,
        Outcome::Partial => {
            let d = delivered.ok_or_else(|| invalid("/delivered is required for partial"))?;
            if quantity == 0 || d > quantity {
                return Err(invalid(format!(
                    "/delivered must be at most /quantity, which must be at least 1 \
                     (delivered {d} of {quantity})"
                )));
            }
            fits(
                u128::from(full) * u128::from(d) / u128::from(quantity),
                "the price",
            )?
        }
    };
    let fee = fee_of(amount, fee_bps)?;
    Ok(Priced {
        amount,
        fee,
        net: amount - fee,
    })
}

/// ⌊`amount` × `fee_bps` / 10 000⌋.
pub fn fee_of(amount: u64, fee_bps: u64) -> Result<u64> {
    fits(
        u128::from(amount) * u128::from(fee_bps.min(MAX_FEE_BPS)) / u128::from(MAX_FEE_BPS),
        "the fee",
    )
}

/// RFC 9162 Merkle tree hash of `ids` (sorted here, byte order), `sha256:<hex>`.
pub fn merkle_root(ids: &[String]) -> String {
    let mut sorted: Vec<&[u8]> = ids.iter().map(|s| s.as_bytes()).collect();
    sorted.sort_unstable();
    let leaves: Vec<[u8; 32]> = sorted
        .iter()
        .map(|id| {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(id);
            h.finalize().into()
        })
        .collect();
    let root: [u8; 32] = match leaves.is_empty() {
        true => Sha256::digest([]).into(),
        false => mth(&leaves),
    };
    crate::merkle::to_tagged(&root)
}

fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [] => Sha256::digest([]).into(),
        [one] => *one,
        _ => {
            // k: the largest power of two below n.
            let n = leaves.len();
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (l, r) = leaves.split_at(k);
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(mth(l));
            h.update(mth(r));
            h.finalize().into()
        }
    }
}

/// Per-currency totals of a settlement or billing summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Totals {
    /// The sum of the prices.
    pub gross: u64,
    /// The sum of the fees.
    pub fee: u64,
    /// The sum of the nets.
    pub net: u64,
    /// How many consumption records.
    pub count: u64,
}

impl Totals {
    /// Adds one record's amounts (checked: a sum above 2^53 − 1 is `CONSUMPTION_INVALID`).
    pub fn add(&mut self, gross: u64, fee: u64, net: u64) -> Result<()> {
        let add = |a: u64, b: u64| {
            a.checked_add(b)
                .filter(|&v| v <= MAX_AMOUNT)
                .ok_or_else(|| invalid("the totals exceed 2^53 − 1: settle a shorter period"))
        };
        self.gross = add(self.gross, gross)?;
        self.fee = add(self.fee, fee)?;
        self.net = add(self.net, net)?;
        self.count = add(self.count, 1)?;
        Ok(())
    }
}

/// One consumption record's facts, read from its body (`data`) and checked for consistency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    /// The record id (`body.id`).
    pub id: String,
    /// When it was recorded (ms).
    pub time: i64,
    /// The evaluation it consumes.
    pub evaluation_id: String,
    /// The gate.
    pub gate: String,
    /// The payer: `{issuer, agent_id}`.
    pub payer: Value,
    /// The payee's did.
    pub payee: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Its latency, ms.
    pub latency_ms: Option<u64>,
    /// The currency.
    pub currency: String,
    /// Price, fee, net.
    pub priced: Priced,
}

/// Reads a consumption record (kind `consumption`), checking that its amounts add up (`fee` =
/// ⌊amount × fee_bps / 10 000⌋, `net` = amount − fee); `CONSUMPTION_INVALID` naming the record
/// otherwise. Does not check its signature (see [`crate::verify_attestation`]).
pub fn read_consumption(record: &Value) -> Result<Consumed> {
    let body = record.get("body").unwrap_or(&Value::Null);
    let id = body
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let bad = |m: &str| invalid(format!("consumption record {id:?}: {m}"));
    if body.get("kind").and_then(Value::as_str) != Some("consumption") {
        return Err(bad("not a consumption record"));
    }
    let d = body.get("data").ok_or_else(|| bad("no data"))?;
    let s = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_string);
    let u = |k: &str| d.get(k).and_then(Value::as_u64);
    let amount = d
        .pointer("/price/amount")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("no price.amount"))?;
    let currency = d
        .pointer("/price/currency")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no price.currency"))?
        .to_string();
    let (Some(fee_bps), Some(fee), Some(net)) = (u("fee_bps"), u("fee"), u("net")) else {
        return Err(bad("fee_bps, fee and net must be integers"));
    };
    if fee_bps > MAX_FEE_BPS
        || fee_of(amount, fee_bps)? != fee
        || amount.checked_sub(fee) != Some(net)
    {
        return Err(bad("its fee and net do not add up to its price"));
    }
    let outcome = s("outcome")
        .and_then(|o| Outcome::parse(&o))
        .ok_or_else(|| bad("outcome must be success, error, timeout or partial"))?;
    if matches!(outcome, Outcome::Error | Outcome::Timeout) && amount != 0 {
        return Err(bad("an error or a timeout costs nothing"));
    }
    Ok(Consumed {
        time: body
            .get("time")
            .and_then(Value::as_i64)
            .ok_or_else(|| bad("no time"))?,
        evaluation_id: s("evaluation_id").ok_or_else(|| bad("no evaluation_id"))?,
        gate: s("gate").ok_or_else(|| bad("no gate"))?,
        payer: d.get("payer").cloned().unwrap_or(Value::Null),
        payee: s("payee").ok_or_else(|| bad("no payee"))?,
        outcome,
        latency_ms: u("latency_ms"),
        currency,
        priced: Priced { amount, fee, net },
        id,
    })
}

/// What a settlement covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// `stl_…`.
    pub settlement_id: String,
    /// From (inclusive, ms).
    pub from: i64,
    /// To (exclusive, ms).
    pub to: i64,
    /// Only this payer (`{issuer, agent_id}`), or every payer.
    pub payer: Option<Value>,
    /// Only this payee (did), or every payee.
    pub payee: Option<String>,
    /// When it was generated (ms).
    pub generated_at: i64,
}

/// Totals by currency and the Merkle root of `records` (consumption records, already read).
pub fn aggregate(records: &[Consumed]) -> Result<(BTreeMap<String, Totals>, String)> {
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    for r in records {
        totals.entry(r.currency.clone()).or_default().add(
            r.priced.amount,
            r.priced.fee,
            r.priced.net,
        )?;
    }
    let ids: Vec<String> = records.iter().map(|r| r.id.clone()).collect();
    Ok((totals, merkle_root(&ids)))
}

/// Signs a settlement statement over `records` (see the module docs).
pub fn seal_settlement(st: &Statement, records: &[Consumed], key: &KeyPair) -> Result<Value> {
    let (totals, root) = aggregate(records)?;
    let body = json!({
        "v": SETTLEMENT_VERSION, "kind": "settlement", "settlement_id": st.settlement_id,
        "period": {"from": st.from, "to": st.to}, "payer": st.payer, "payee": st.payee,
        "totals": totals, "count": records.len(), "merkle_root": root, "status": "draft",
        "generated_at": st.generated_at, "signer": key.did(),
    });
    Ok(attestation::seal_in(SETTLEMENT_DOMAIN, body, key)?.0)
}

/// A verified settlement statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct VerifiedSettlement {
    /// Its id.
    pub settlement_id: String,
    /// Totals per currency.
    pub totals: BTreeMap<String, Totals>,
    /// How many consumption records it includes.
    pub count: u64,
    /// The Merkle root of their ids.
    pub merkle_root: String,
    /// Whether the included records were given and recomputed to the stated root and totals.
    pub records_checked: bool,
}

/// Verifies a settlement statement signed by `did`: its hash and signature in
/// [`SETTLEMENT_DOMAIN`] (`ATTESTATION_KEY`, `ATTESTATION_HASH`, `ATTESTATION_SIGNATURE`) and its
/// shape (`ATTESTATION_MALFORMED`). Given `records` (the included consumption records), each must
/// verify as an attestation signed by `did`, be a consumption record of the statement's period,
/// payer and payee, appear once, and add up (`CONSUMPTION_INVALID`); the Merkle root and the
/// totals recomputed from them must be the stated ones (`ATTESTATION_HASH`). Needs nothing but
/// the documents and the did.
pub fn verify_settlement(
    document: &Value,
    did: &str,
    records: Option<&[Value]>,
) -> Result<VerifiedSettlement> {
    let key = PublicKey::from_did(did)?;
    attestation::verify_in(SETTLEMENT_DOMAIN, document, did, &key)?;
    let malformed = |m: &str| Error::AttestationMalformed(format!("settlement: {m}"));
    let body = document
        .get("body")
        .and_then(Value::as_object)
        .ok_or_else(|| malformed("no body"))?;
    if body.get("kind").and_then(Value::as_str) != Some("settlement")
        || body.get("v").and_then(Value::as_u64) != Some(SETTLEMENT_VERSION)
    {
        return Err(malformed("not a settlement (kind \"settlement\", v 1)"));
    }
    if body.get("signer").and_then(Value::as_str) != Some(did) {
        return Err(malformed("signer is not the signing key"));
    }
    let totals: BTreeMap<String, Totals> =
        serde_json::from_value(body.get("totals").cloned().unwrap_or(Value::Null))
            .map_err(|e| malformed(&format!("totals: {e}")))?;
    let count = body
        .get("count")
        .and_then(Value::as_u64)
        .ok_or_else(|| malformed("count must be an integer"))?;
    let root = body
        .get("merkle_root")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no merkle_root"))?
        .to_string();
    let id = body
        .get("settlement_id")
        .and_then(Value::as_str)
        .ok_or_else(|| malformed("no settlement_id"))?
        .to_string();
    let per = body.get("period");
    let from = per.and_then(|p| p.get("from")).and_then(Value::as_i64);
    let to = per.and_then(|p| p.get("to")).and_then(Value::as_i64);
    let (Some(from), Some(to)) = (from, to) else {
        return Err(malformed("period must be {from, to} in ms"));
    };
    let mut checked = false;
    if let Some(records) = records {
        let mut read = Vec::with_capacity(records.len());
        let mut seen = std::collections::HashSet::new();
        for (i, r) in records.iter().enumerate() {
            attestation::verify_attestation(r, did).map_err(|e| at(e, i))?;
            let c = read_consumption(r)?;
            let bad = |m: &str| invalid(format!("consumption record {i} ({}): {m}", c.id));
            if c.time < from || c.time >= to {
                return Err(bad("outside the settlement's period"));
            }
            if body
                .get("payer")
                .is_some_and(|p| !p.is_null() && *p != c.payer)
            {
                return Err(bad("of another payer"));
            }
            if body
                .get("payee")
                .and_then(Value::as_str)
                .is_some_and(|p| p != c.payee)
            {
                return Err(bad("of another payee"));
            }
            if !seen.insert(c.id.clone()) {
                return Err(bad("included twice"));
            }
            read.push(c);
        }
        let (t, r) = aggregate(&read)?;
        if r != root || read.len() as u64 != count {
            return Err(Error::AttestationHash(format!(
                "settlement {id}: the {} records given have the Merkle root {r}, the statement \
                 says {root} over {count}",
                read.len()
            )));
        }
        if t != totals {
            return Err(Error::AttestationHash(format!(
                "settlement {id}: the records given do not add up to the stated totals"
            )));
        }
        checked = true;
    }
    Ok(VerifiedSettlement {
        settlement_id: id,
        totals,
        count,
        merkle_root: root,
        records_checked: checked,
    })
}

fn at(e: Error, i: usize) -> Error {
    match e {
        Error::AttestationHash(m) => Error::AttestationHash(format!("consumption record {i}: {m}")),
        Error::AttestationSignature(m) => {
            Error::AttestationSignature(format!("consumption record {i}: {m}"))
        }
        Error::AttestationKey(m) => Error::AttestationKey(format!("consumption record {i}: {m}")),
        Error::AttestationMalformed(m) => {
            Error::AttestationMalformed(format!("consumption record {i}: {m}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::{Price, Tier};

    fn offer(pricing: Pricing, amount: u64) -> Offer {
        Offer {
            permission: "x:y".into(),
            price: Price {
                amount,
                currency: "USD".into(),
            },
            pricing,
            sla: None,
            rate: None,
            approval_threshold: None,
            risk: None,
        }
    }

    #[test]
    fn prices_are_exact() {
        let per_call = offer(Pricing::PerCall, 250);
        assert_eq!(full_price(&per_call, 7).unwrap(), 250);
        let per_unit = offer(
            Pricing::PerUnit {
                field: "/n".into(),
                unit: 1000,
            },
            3,
        );
        assert_eq!(full_price(&per_unit, 2500).unwrap(), 7);
        let tiered = offer(
            Pricing::Tiered {
                field: "/n".into(),
                tiers: vec![
                    Tier {
                        up_to: Some(10),
                        amount: 5,
                    },
                    Tier {
                        up_to: None,
                        amount: 2,
                    },
                ],
            },
            100,
        );
        assert_eq!(full_price(&tiered, 0).unwrap(), 100);
        assert_eq!(full_price(&tiered, 4).unwrap(), 120);
        assert_eq!(full_price(&tiered, 15).unwrap(), 100 + 50 + 10);
        let p = price(&per_call, Outcome::Partial, 3, Some(2), 250).unwrap();
        assert_eq!((p.amount, p.fee, p.net), (166, 4, 162));
        assert_eq!(
            price(&per_call, Outcome::Timeout, 1, None, 0)
                .unwrap()
                .amount,
            0
        );
        let huge = offer(
            Pricing::PerUnit {
                field: "/n".into(),
                unit: 1,
            },
            MAX_AMOUNT,
        );
        assert_eq!(
            full_price(&huge, MAX_AMOUNT).unwrap_err().code(),
            "CONSUMPTION_INVALID"
        );
    }

    #[test]
    fn merkle_root_follows_rfc_9162() {
        let leaf = |s: &str| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update([0u8]);
            h.update(s.as_bytes());
            h.finalize().into()
        };
        let node = |l: [u8; 32], r: [u8; 32]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update([1u8]);
            h.update(l);
            h.update(r);
            h.finalize().into()
        };
        let ids: Vec<String> = ["c", "a", "b"].iter().map(|s| s.to_string()).collect();
        let want = node(node(leaf("a"), leaf("b")), leaf("c"));
        assert_eq!(merkle_root(&ids), format!("sha256:{}", hex::encode(want)));
        assert_eq!(
            merkle_root(&[]),
            format!("sha256:{}", hex::encode(Sha256::digest([])))
        );
        assert_eq!(
            merkle_root(&["a".to_string()]),
            format!("sha256:{}", hex::encode(leaf("a")))
        );
    }
}
