//! `get_catalog_impact`: a pure, typed diff of two catalogs of one gate.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{json, Value};

use super::catalog::{Catalog, Offer, Pricing};

/// What changed between two versions, per permission (or for the whole gate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A permission is offered that was not.
    PermissionAdded,
    /// A permission is no longer offered (breaking).
    PermissionRemoved,
    /// A price went up (breaking): the amount, a tier's amount, or fewer units per amount.
    PriceIncrease,
    /// A price went down.
    PriceDecrease,
    /// The currency changed (breaking).
    CurrencyChanged,
    /// The pricing model, its field or its tier boundaries changed (breaking).
    PricingChanged,
    /// Lower availability, higher p95 latency, or SLA terms dropped (breaking).
    SlaDegraded,
    /// Better SLA terms, or SLA terms added.
    SlaImproved,
    /// A lower rate, a lower approval threshold, or either added (breaking).
    ConstraintTightened,
    /// A higher rate, a higher approval threshold, or either dropped.
    ConstraintRelaxed,
    /// A higher trust level required (breaking).
    TrustLevelRaised,
    /// A lower trust level required.
    TrustLevelLowered,
    /// The risk level changed.
    RiskChanged,
    /// The description changed.
    DescriptionChanged,
}

impl ChangeKind {
    /// Whether a caller on the old terms would be worse off on the new ones.
    pub fn breaking(self) -> bool {
        matches!(
            self,
            ChangeKind::PermissionRemoved
                | ChangeKind::PriceIncrease
                | ChangeKind::CurrencyChanged
                | ChangeKind::PricingChanged
                | ChangeKind::SlaDegraded
                | ChangeKind::ConstraintTightened
                | ChangeKind::TrustLevelRaised
        )
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Change {
    /// What changed.
    pub kind: ChangeKind,
    /// The permission (none: the gate as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
    /// The JSON path of the term in the new catalog's offer (or the old one's, if removed).
    pub field: String,
    /// The old value (`null`: none).
    pub old: Value,
    /// The new value (`null`: none).
    pub new: Value,
    /// Whether it is a breaking change.
    pub breaking: bool,
}

/// The diff of two catalogs.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Impact {
    /// Whether any change is breaking.
    pub has_breaking_changes: bool,
    /// The changes: the gate's first, then per permission in the new catalog's order, then the
    /// removed permissions.
    pub changes: Vec<Change>,
}

struct Diff {
    changes: Vec<Change>,
}

impl Diff {
    fn push(
        &mut self,
        kind: ChangeKind,
        permission: Option<&str>,
        field: &str,
        old: Value,
        new: Value,
    ) {
        self.changes.push(Change {
            kind,
            permission: permission.map(str::to_string),
            field: field.to_string(),
            old,
            new,
            breaking: kind.breaking(),
        });
    }
}

fn to_json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The typed diff from `old` to `new`.
pub fn impact(old: &Catalog, new: &Catalog) -> Impact {
    let mut d = Diff {
        changes: Vec::new(),
    };
    if new.trust_level > old.trust_level {
        d.push(
            ChangeKind::TrustLevelRaised,
            None,
            "/trust_level",
            to_json(&old.trust_level),
            to_json(&new.trust_level),
        );
    } else if new.trust_level < old.trust_level {
        d.push(
            ChangeKind::TrustLevelLowered,
            None,
            "/trust_level",
            to_json(&old.trust_level),
            to_json(&new.trust_level),
        );
    }
    if old.description != new.description {
        d.push(
            ChangeKind::DescriptionChanged,
            None,
            "/description",
            to_json(&old.description),
            to_json(&new.description),
        );
    }
    for (i, n) in new.offers.iter().enumerate() {
        let base = format!("/offers/{i}");
        match old.offer(&n.permission) {
            None => d.push(
                ChangeKind::PermissionAdded,
                Some(&n.permission),
                &base,
                Value::Null,
                to_json(n),
            ),
            Some(o) => offer_diff(&mut d, o, n, &base),
        }
    }
    for (i, o) in old.offers.iter().enumerate() {
        if new.offer(&o.permission).is_none() {
            d.push(
                ChangeKind::PermissionRemoved,
                Some(&o.permission),
                &format!("/offers/{i}"),
                to_json(o),
                Value::Null,
            );
        }
    }
    Impact {
        has_breaking_changes: d.changes.iter().any(|c| c.breaking),
        changes: d.changes,
    }
}

fn price_kind(up: bool) -> ChangeKind {
    if up {
        ChangeKind::PriceIncrease
    } else {
        ChangeKind::PriceDecrease
    }
}

fn offer_diff(d: &mut Diff, o: &Offer, n: &Offer, base: &str) {
    let perm = Some(n.permission.as_str());
    if o.price.currency != n.price.currency {
        d.push(
            ChangeKind::CurrencyChanged,
            perm,
            &format!("{base}/price/currency"),
            json!(o.price.currency),
            json!(n.price.currency),
        );
    }
    match (&o.pricing, &n.pricing) {
        (
            Pricing::PerUnit {
                field: fo,
                unit: uo,
            },
            Pricing::PerUnit {
                field: fn_,
                unit: un,
            },
        ) if fo == fn_ => {
            // amount / unit, compared exactly: a_n · u_o against a_o · u_n.
            let lhs = u128::from(n.price.amount) * u128::from(*uo);
            let rhs = u128::from(o.price.amount) * u128::from(*un);
            if lhs != rhs {
                d.push(
                    price_kind(lhs > rhs),
                    perm,
                    &format!("{base}/price/amount"),
                    json!({"amount": o.price.amount, "unit": uo}),
                    json!({"amount": n.price.amount, "unit": un}),
                );
            }
        }
        (Pricing::PerCall, Pricing::PerCall) => amount_diff(d, o, n, base),
        (
            Pricing::Tiered {
                field: fo,
                tiers: to,
            },
            Pricing::Tiered {
                field: fn_,
                tiers: tn,
            },
        ) if fo == fn_
            && to.len() == tn.len()
            && to.iter().zip(tn).all(|(a, b)| a.up_to == b.up_to) =>
        {
            amount_diff(d, o, n, base);
            for (j, (a, b)) in to.iter().zip(tn).enumerate() {
                if a.amount != b.amount {
                    d.push(
                        price_kind(b.amount > a.amount),
                        perm,
                        &format!("{base}/pricing/tiers/{j}/amount"),
                        json!(a.amount),
                        json!(b.amount),
                    );
                }
            }
        }
        (po, pn) => {
            if po != pn {
                d.push(
                    ChangeKind::PricingChanged,
                    perm,
                    &format!("{base}/pricing"),
                    to_json(po),
                    to_json(pn),
                );
            }
            amount_diff(d, o, n, base);
        }
    }
    match (&o.sla, &n.sla) {
        (Some(a), Some(b)) => {
            let worse =
                b.availability_bp < a.availability_bp || b.p95_latency_ms > a.p95_latency_ms;
            let better =
                b.availability_bp > a.availability_bp || b.p95_latency_ms < a.p95_latency_ms;
            if worse {
                d.push(
                    ChangeKind::SlaDegraded,
                    perm,
                    &format!("{base}/sla"),
                    to_json(a),
                    to_json(b),
                );
            } else if better {
                d.push(
                    ChangeKind::SlaImproved,
                    perm,
                    &format!("{base}/sla"),
                    to_json(a),
                    to_json(b),
                );
            }
        }
        (Some(a), None) => d.push(
            ChangeKind::SlaDegraded,
            perm,
            &format!("{base}/sla"),
            to_json(a),
            Value::Null,
        ),
        (None, Some(b)) => d.push(
            ChangeKind::SlaImproved,
            perm,
            &format!("{base}/sla"),
            Value::Null,
            to_json(b),
        ),
        (None, None) => {}
    }
    match (&o.rate, &n.rate) {
        (Some(a), Some(b)) => {
            // max / window, compared exactly.
            let lhs = u128::from(b.max) * u128::from(a.window_secs());
            let rhs = u128::from(a.max) * u128::from(b.window_secs());
            if lhs < rhs {
                d.push(
                    ChangeKind::ConstraintTightened,
                    perm,
                    &format!("{base}/rate"),
                    to_json(a),
                    to_json(b),
                );
            } else if lhs > rhs {
                d.push(
                    ChangeKind::ConstraintRelaxed,
                    perm,
                    &format!("{base}/rate"),
                    to_json(a),
                    to_json(b),
                );
            }
        }
        (None, Some(b)) => d.push(
            ChangeKind::ConstraintTightened,
            perm,
            &format!("{base}/rate"),
            Value::Null,
            to_json(b),
        ),
        (Some(a), None) => d.push(
            ChangeKind::ConstraintRelaxed,
            perm,
            &format!("{base}/rate"),
            to_json(a),
            Value::Null,
        ),
        (None, None) => {}
    }
    let at = format!("{base}/approval_threshold");
    match (o.approval_threshold, n.approval_threshold) {
        (Some(a), Some(b)) if b < a => d.push(
            ChangeKind::ConstraintTightened,
            perm,
            &at,
            json!(a),
            json!(b),
        ),
        (Some(a), Some(b)) if b > a => {
            d.push(ChangeKind::ConstraintRelaxed, perm, &at, json!(a), json!(b))
        }
        (None, Some(b)) => d.push(
            ChangeKind::ConstraintTightened,
            perm,
            &at,
            Value::Null,
            json!(b),
        ),
        (Some(a), None) => d.push(
            ChangeKind::ConstraintRelaxed,
            perm,
            &at,
            json!(a),
            Value::Null,
        ),
        _ => {}
    }
    if o.risk != n.risk {
        d.push(
            ChangeKind::RiskChanged,
            perm,
            &format!("{base}/risk"),
            to_json(&o.risk),
            to_json(&n.risk),
        );
    }
}

fn amount_diff(d: &mut Diff, o: &Offer, n: &Offer, base: &str) {
    if o.price.amount != n.price.amount {
        d.push(
            price_kind(n.price.amount > o.price.amount),
            Some(&n.permission),
            &format!("{base}/price/amount"),
            json!(o.price.amount),
            json!(n.price.amount),
        );
    }
}
