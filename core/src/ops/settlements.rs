//! The consumption and settlement operations (issue 18 items 5–6):
//! `issue_consumption_attestation`, `generate_settlement`, `get_settlement`,
//! `update_settlement_status`, `export_settlement`, `verify_settlement`, `get_billing_summary`,
//! `get_sla_compliance` (see [`crate::engine`]'s settlements and [`crate::commerce::settlement`]).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{Effect, Op};
use crate::commerce::{Outcome, VerifiedSettlement};
use crate::engine::{
    BillingFilter, BillingSummary, ConsumeTerms, Engine, Payer, SettlementBundle, SettlementView,
    SlaCompliance,
};
use crate::error::Result;

/// `issue_consumption_attestation`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueConsumptionAttestation {
    /// The evaluation consumed (an allowed decision's `evaluation_id`).
    #[schemars(length(min = 1, max = 256))]
    pub evaluation_id: Option<String>,
    /// Or the hold whose evaluation was consumed.
    #[schemars(length(min = 1, max = 256))]
    pub hold_id: Option<String>,
    /// How the call ended: success, error, timeout or partial.
    pub outcome: Outcome,
    /// Units consumed (requested, for partial): required for per_unit and tiered pricing;
    /// default 1 for per_call.
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub quantity: Option<u64>,
    /// Units delivered, for partial (at most quantity).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub delivered: Option<u64>,
    /// How long the call took, ms.
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub latency_ms: Option<u64>,
    /// The offer priced (default: the one the decision recorded, or the catalog's only offer).
    #[schemars(length(min = 1, max = 1024))]
    pub permission: Option<String>,
    /// A proof of possession or delivery kept with the record (opaque JSON).
    pub pop: Option<Value>,
}

impl Op for IssueConsumptionAttestation {
    const NAME: &'static str = "issue_consumption_attestation";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Record what an allowed call consumed: a signed, chained consumption record priced with exact integer math from the catalog version its decision applied (success = full price, error/timeout = 0, partial = floor(full * delivered / quantity)), with the platform fee (basis points) and net, linked to its decision's hash. One per evaluation (CONSUMPTION_EXISTS); a denied evaluation or one without catalog terms is CONSUMPTION_INVALID.";
    type Output = Value;
    fn run(self, engine: &Engine) -> Result<Value> {
        let terms = ConsumeTerms {
            outcome: self.outcome,
            quantity: self.quantity,
            delivered: self.delivered,
            latency_ms: self.latency_ms,
            permission: self.permission,
            pop: self.pop,
        };
        engine.issue_consumption_attestation(
            self.evaluation_id.as_deref(),
            self.hold_id.as_deref(),
            &terms,
        )
    }
}

/// `generate_settlement`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateSettlement {
    /// The period's start, ms (inclusive).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub from: i64,
    /// The period's end, ms (exclusive).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub to: i64,
    /// Only this payer's records: `{issuer, agent_id}`.
    pub payer: Option<Payer>,
    /// Only this payee's records (the catalog signer's did).
    #[schemars(length(min = 1, max = 256))]
    pub payee: Option<String>,
}

impl Op for GenerateSettlement {
    const NAME: &'static str = "generate_settlement";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Settle a period: re-verify every consumption record in it (hash, signature, its chain), add them up exactly per currency (gross, fee, net, count) and sign a statement (domain passgate/settlement/v1) with the RFC 9162 Merkle root of the included record ids, status draft. A record that does not verify is an error naming it.";
    type Output = SettlementView;
    fn run(self, engine: &Engine) -> Result<SettlementView> {
        engine.generate_settlement(
            self.from,
            self.to,
            self.payer.as_ref(),
            self.payee.as_deref(),
        )
    }
}

/// `get_settlement`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSettlement {
    /// The settlement's id (`stl_…`).
    #[schemars(length(min = 1, max = 256))]
    pub settlement_id: String,
}

impl Op for GetSettlement {
    const NAME: &'static str = "get_settlement";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str =
        "A settlement: its signed statement, current status and totals (SETTLEMENT_UNKNOWN if none).";
    type Output = SettlementView;
    fn run(self, engine: &Engine) -> Result<SettlementView> {
        engine.get_settlement(&self.settlement_id)
    }
}

/// `export_settlement`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportSettlement {
    /// The settlement's id.
    #[schemars(length(min = 1, max = 256))]
    pub settlement_id: String,
}

impl Op for ExportSettlement {
    const NAME: &'static str = "export_settlement";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "A settlement with the consumption records it includes: {settlement, status, consumptions}, the bundle `passgate settlement verify FILE --did DID` and verify_settlement check offline.";
    type Output = SettlementBundle;
    fn run(self, engine: &Engine) -> Result<SettlementBundle> {
        engine.export_settlement(&self.settlement_id)
    }
}

/// A settlement status.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementStatus {
    /// Generated, not yet sent.
    Draft,
    /// Sent to the payer.
    Issued,
    /// Contested by the payer.
    Disputed,
    /// Paid (final).
    Paid,
    /// Cancelled (final).
    Void,
}

impl SettlementStatus {
    fn as_str(self) -> &'static str {
        match self {
            SettlementStatus::Draft => "draft",
            SettlementStatus::Issued => "issued",
            SettlementStatus::Disputed => "disputed",
            SettlementStatus::Paid => "paid",
            SettlementStatus::Void => "void",
        }
    }
}

/// `update_settlement_status`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettlementStatus {
    /// The settlement's id.
    #[schemars(length(min = 1, max = 256))]
    pub settlement_id: String,
    /// The new status.
    pub status: SettlementStatus,
    /// Why, in words (recorded).
    #[schemars(length(max = 4096))]
    pub reason: Option<String>,
}

impl Op for UpdateSettlementStatus {
    const NAME: &'static str = "update_settlement_status";
    const EFFECT: Effect = Effect::Adds;
    const DESCRIPTION: &'static str = "Move a settlement through its state machine: draft -> issued | void, issued -> disputed | paid | void, disputed -> paid | void; paid and void are final. Any other move is SETTLEMENT_TRANSITION (naming from and to). Each change is a compare-and-swap, attested as settlement.status.";
    type Output = SettlementView;
    fn run(self, engine: &Engine) -> Result<SettlementView> {
        engine.update_settlement_status(
            &self.settlement_id,
            self.status.as_str(),
            self.reason.as_deref(),
        )
    }
}

/// `verify_settlement`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifySettlement {
    /// The signed statement (a settlement's `document`).
    pub document: Value,
    /// The signer's did:key.
    #[schemars(length(min = 1, max = 256))]
    pub did: String,
    /// The consumption records it includes: the Merkle root and totals are recomputed from them.
    pub consumptions: Option<Vec<Value>>,
}

impl Op for VerifySettlement {
    const NAME: &'static str = "verify_settlement";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Verify a settlement statement offline against its signer's did; with the consumption records it includes, recompute the Merkle root and the totals from them. Any changed byte is an ATTESTATION_* error.";
    type Output = VerifiedSettlement;
    fn run(self, _engine: &Engine) -> Result<VerifiedSettlement> {
        crate::commerce::verify_settlement(&self.document, &self.did, self.consumptions.as_deref())
    }
}

/// `get_billing_summary`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetBillingSummary {
    /// Which records: `{gate?, payer?: {issuer, agent_id}, payee?, from?, to?}` (ms).
    pub filter: Option<BillingFilter>,
}

impl Op for GetBillingSummary {
    const NAME: &'static str = "get_billing_summary";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "Totals per currency (gross, fee, net, count) and counts by outcome of the consumption records matching a filter (gate, payer, payee, period). Read only.";
    type Output = BillingSummary;
    fn run(self, engine: &Engine) -> Result<BillingSummary> {
        engine.get_billing_summary(&self.filter.unwrap_or_default())
    }
}

/// `get_sla_compliance`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetSlaCompliance {
    /// The gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: String,
    /// The period's start, ms (inclusive).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub from: i64,
    /// The period's end, ms (exclusive).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub to: i64,
    /// The offer whose SLA is compared (default: the first offer with one).
    #[schemars(length(min = 1, max = 1024))]
    pub permission: Option<String>,
}

impl Op for GetSlaCompliance {
    const NAME: &'static str = "get_sla_compliance";
    const EFFECT: Effect = Effect::Reads;
    const DESCRIPTION: &'static str = "A gate's SLA compliance over a period from its consumption records: counts by outcome, success_bps = floor(10000 * success / (success + error + timeout)), the nearest-rank p95 latency, against the current catalog's SLA (met). Read only.";
    type Output = SlaCompliance;
    fn run(self, engine: &Engine) -> Result<SlaCompliance> {
        engine.get_sla_compliance(&self.gate, self.from, self.to, self.permission.as_deref())
    }
}
