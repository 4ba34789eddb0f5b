//! Consumption attestations, settlements, billing and SLA compliance (issue 18, items 5–6; see
//! [`crate::commerce::settlement`] for pricing and the statement format).
//!
//! - **The terms a decision applied.** An allowed decision on a gate that has a catalog records
//!   `catalog: {version, content_hash, permission}` in its body: the passport's pin for the gate
//!   if it has one (the `catalog_pin` check has passed), else the current published version (the
//!   highest already in effect); `permission` is the first offer, in catalog order, whose
//!   permission the passport holds (absent when none). A version another engine publishes
//!   applies to this engine's decisions within [`TERMS_TTL_MS`]; this engine's own publications
//!   at once.
//! - **`issue_consumption_attestation`** writes a record of kind `consumption` on the engine's
//!   chain whose `data` is `{evaluation_id, hold_id, decision_hash, gate, permission, payer
//!   {issuer, agent_id} | null, payee (the catalog signer's did), catalog {version,
//!   content_hash}, outcome, quantity, delivered, latency_ms, price {amount, currency}, fee_bps,
//!   fee, net, pop}`, priced from the version the decision recorded. Only an `allow` decision
//!   can be consumed (`CONSUMPTION_INVALID`), once (`CONSUMPTION_EXISTS`, never idempotent: the
//!   first record stands; fetch it with `attestations(kind="consumption", evaluation_id=…)`).
//!   `settle(hold, actual, consume)` issues it after the settle, `quantity` defaulting to the
//!   offer's field in `actual`.
//! - **`generate_settlement`** re-verifies every consumption record of the period (its hash and
//!   signature by this engine's signer, and every chain it belongs to, from seq 1 or its
//!   checkpoint), checks that each adds up, and signs a statement (status `draft`), stored with
//!   the records it includes and attested (`settlement.generated`). A record that fails is an
//!   error naming it, never skipped.
//! - **Status**: `draft → issued | void`, `issued → disputed | paid | void`, `disputed → paid |
//!   void`; `paid` and `void` are final. Anything else is `SETTLEMENT_TRANSITION`. Each change is
//!   a compare-and-swap in the store followed by a `settlement.status` record `{settlement_id,
//!   from, to, reason, document_hash}`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::decide::Caller;
use super::{Engine, Event};
use crate::commerce::settlement::{self, Consumed, Outcome, Statement, Totals};
use crate::commerce::{Offer, Pricing, Published, Sla, MAX_AMOUNT};
use crate::error::{Error, Result};
use crate::ids::random_id;
use crate::store::{AttestationFilter, SettlementStore, StatusSwap, StoredSettlement};

/// How long an engine reuses a gate's list of published catalog versions when recording the
/// terms a decision applied (its own publications replace it at once).
pub const TERMS_TTL_MS: i64 = 1000;

/// The most consumption records one settlement includes.
pub const MAX_SETTLEMENT_RECORDS: usize = 100_000;

/// Published versions of a gate's catalog, as last read: (read at, versions).
pub(super) type TermsCache = HashMap<String, (i64, Arc<Vec<Arc<Published>>>)>;

/// What a consumed call was (the arguments of `issue_consumption_attestation` but the
/// evaluation).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumeTerms {
    /// How the call ended: `success` (full price), `error` / `timeout` (0), `partial`
    /// (⌊full × delivered / quantity⌋).
    pub outcome: Outcome,
    /// Units consumed (requested, for `partial`): for `per_unit` and `tiered` pricing; default 1
    /// for `per_call`, or (through `settle`) the offer's field in `actual`.
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub quantity: Option<u64>,
    /// Units delivered, for `partial` (at most `quantity`).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub delivered: Option<u64>,
    /// How long the call took, ms (for SLA compliance).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub latency_ms: Option<u64>,
    /// The offer priced (default: the permission the decision recorded, or the catalog's only
    /// offer).
    #[schemars(length(min = 1, max = 1024))]
    pub permission: Option<String>,
    /// A proof of possession or delivery to keep with the record (opaque JSON, bounded).
    pub pop: Option<Value>,
}

/// A settlement as the settlement operations return it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SettlementView {
    /// `stl_…`.
    pub settlement_id: String,
    /// `draft`, `issued`, `disputed`, `paid` or `void`.
    pub status: String,
    /// The signed statement (its `body.status` is `draft`, the status it was signed in; the
    /// current status is `status`, each change attested as `settlement.status`). Check it offline
    /// with `verify_settlement`.
    pub document: Value,
    /// Totals per currency.
    pub totals: BTreeMap<String, Totals>,
    /// How many consumption records it includes.
    pub count: u64,
    /// When it was generated (ms).
    pub generated_at: i64,
}

/// `export_settlement`'s result: the bundle `passgate settlement verify` reads.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SettlementBundle {
    /// The signed statement.
    pub settlement: Value,
    /// Its current status.
    pub status: String,
    /// The consumption records it includes, as signed.
    pub consumptions: Vec<Value>,
}

/// Which consumption records a billing summary reads: every field optional, all combined.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingFilter {
    /// Only this gate.
    #[schemars(length(min = 1, max = 256))]
    pub gate: Option<String>,
    /// Only this payer: `{issuer, agent_id}`.
    pub payer: Option<Payer>,
    /// Only this payee (did).
    #[schemars(length(min = 1, max = 256))]
    pub payee: Option<String>,
    /// From (inclusive, ms).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub from: Option<i64>,
    /// To (exclusive, ms).
    #[schemars(range(min = 0, max = 9_007_199_254_740_991_i64))]
    pub to: Option<i64>,
}

/// A payer: the principal of a passport chain.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Payer {
    /// The trusted issuer's did.
    #[schemars(length(min = 1, max = 256))]
    pub issuer: String,
    /// The root passport's agent id.
    #[schemars(length(min = 1, max = 256))]
    pub agent_id: String,
}

impl Payer {
    fn to_value(&self) -> Value {
        json!({"issuer": self.issuer, "agent_id": self.agent_id})
    }
}

/// Counts by outcome.
#[derive(Debug, Clone, Default, Serialize, JsonSchema)]
pub struct OutcomeCounts {
    /// `success`.
    pub success: u64,
    /// `error`.
    pub error: u64,
    /// `timeout`.
    pub timeout: u64,
    /// `partial`.
    pub partial: u64,
}

impl OutcomeCounts {
    fn add(&mut self, o: Outcome) {
        let c = match o {
            Outcome::Success => &mut self.success,
            Outcome::Error => &mut self.error,
            Outcome::Timeout => &mut self.timeout,
            Outcome::Partial => &mut self.partial,
        };
        *c = c.saturating_add(1);
    }
}

/// `get_billing_summary`'s result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BillingSummary {
    /// Totals per currency.
    pub totals: BTreeMap<String, Totals>,
    /// Records by outcome.
    pub outcomes: OutcomeCounts,
    /// How many records.
    pub count: u64,
}

/// `get_sla_compliance`'s result.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SlaCompliance {
    /// The gate.
    pub gate: String,
    /// From (inclusive, ms).
    pub from: i64,
    /// To (exclusive, ms).
    pub to: i64,
    /// Records by outcome.
    pub outcomes: OutcomeCounts,
    /// ⌊10 000 × success / (success + error + timeout)⌋ (`partial` is in neither); `null` with
    /// none of those.
    pub success_bps: Option<u64>,
    /// The nearest-rank 95th percentile of the recorded latencies (the ⌈0.95 n⌉-th smallest);
    /// `null` with none.
    pub p95_latency_ms: Option<u64>,
    /// How many records carried a latency.
    pub latency_samples: u64,
    /// The catalog version whose SLA is compared (the current one).
    pub catalog_version: Option<u64>,
    /// The SLA compared: the offer's for `permission`, else the first offer's that has one.
    pub sla: Option<Sla>,
    /// Whether `success_bps ≥ availability_bp` and `p95_latency_ms ≤ p95_latency_ms` (a
    /// measure without data meets its term); `null` when the catalog states no SLA.
    pub met: Option<bool>,
}

fn no_store() -> Error {
    crate::store::no_settlements()
}

/// The allowed status changes (see the module docs).
pub fn transition_allowed(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("draft", "issued")
            | ("draft", "void")
            | ("issued", "disputed")
            | ("issued", "paid")
            | ("issued", "void")
            | ("disputed", "paid")
            | ("disputed", "void")
    )
}

/// The statuses a settlement can be in.
pub const STATUSES: [&str; 5] = ["draft", "issued", "disputed", "paid", "void"];

fn quantity_in(payload: &Value, field: &str) -> Result<Option<u64>> {
    let Some(v) = payload.pointer(field) else {
        return Ok(None);
    };
    let q = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    };
    q.filter(|&q| q <= MAX_AMOUNT).map(Some).ok_or_else(|| {
        Error::ConsumptionInvalid(format!(
            "the quantity at {field} must be an integer from 0 to 2^53 − 1, not {v}"
        ))
    })
}

fn period(from: i64, to: i64) -> Result<()> {
    if from < 0 || to <= from || to > crate::attestation::MAX_SAFE_INTEGER {
        return Err(Error::argument(
            "/to",
            format!("the period must be from < to, ms since the epoch ({from}, {to})"),
        ));
    }
    Ok(())
}

impl Engine {
    fn settlement_store(&self) -> Result<&dyn SettlementStore> {
        self.store.settlements().ok_or_else(no_store)
    }

    /// The published versions of `gate`'s catalog, read at most every [`TERMS_TTL_MS`].
    fn terms_versions(&self, gate: &str, now: i64) -> Result<Arc<Vec<Arc<Published>>>> {
        if let Some((at, v)) = self.terms_cache.lock().get(gate) {
            if now >= *at && now - *at < TERMS_TTL_MS {
                return Ok(v.clone());
            }
        }
        let all = match self.store.catalogs() {
            None => Vec::new(),
            Some(store) => store
                .catalog_versions(gate)?
                .iter()
                .map(|(v, text)| self.published_text(gate, *v, text))
                .collect::<Result<_>>()?,
        };
        let all = Arc::new(all);
        let mut cache = self.terms_cache.lock();
        if cache.len() >= 1024 {
            cache.clear();
        }
        cache.insert(gate.to_string(), (now, all.clone()));
        Ok(all)
    }

    /// Forgets the cached versions of `gate` (after this engine published one).
    pub(super) fn forget_terms(&self, gate: &str) {
        self.terms_cache.lock().remove(gate);
    }

    /// The catalog terms an allowed decision applies (see the module docs): `None` for a
    /// denied or anonymous request, or a gate without a catalog in effect.
    pub(super) fn applied_terms(
        &self,
        caller: &Caller,
        gate: &str,
        allowed: bool,
        now: i64,
    ) -> Result<Option<Value>> {
        let Caller::Agent(v) = caller else {
            return Ok(None);
        };
        if !allowed {
            return Ok(None);
        }
        let all = self.terms_versions(gate, now)?;
        let chosen = match v.pin_for(gate) {
            Some(pin) => all.iter().find(|p| {
                p.publication.version == pin.version && p.content_hash == pin.content_hash
            }),
            None => all.iter().rev().find(|p| p.publication.effective_at <= now),
        };
        Ok(chosen.map(|p| {
            let permission = p
                .catalog
                .offers
                .iter()
                .find(|o| v.has_permission(&o.permission))
                .map(|o| o.permission.clone());
            json!({
                "version": p.publication.version, "content_hash": p.content_hash,
                "permission": permission,
            })
        }))
    }

    /// Issues the consumption attestation of an allowed evaluation (`evaluation_id`, or the
    /// evaluation of `hold_id`): see the module docs. Returns the signed record.
    pub fn issue_consumption_attestation(
        &self,
        evaluation_id: Option<&str>,
        hold_id: Option<&str>,
        terms: &ConsumeTerms,
    ) -> Result<Value> {
        self.consume(evaluation_id, hold_id, terms, None)
    }

    pub(super) fn consume(
        &self,
        evaluation_id: Option<&str>,
        hold_id: Option<&str>,
        terms: &ConsumeTerms,
        actual: Option<&Value>,
    ) -> Result<Value> {
        self.same_process()?;
        let store = self.settlement_store()?;
        let (evaluation_id, hold_id) = match (evaluation_id, hold_id) {
            (Some(e), None) => (e.to_string(), None),
            (None, Some(h)) => {
                let hold = self
                    .store
                    .hold_get(h)?
                    .ok_or_else(|| Error::HoldUnknown(format!("no hold {h:?}")))?;
                (hold.evaluation_id, Some(h.to_string()))
            }
            (Some(e), Some(h)) => {
                let hold = self
                    .store
                    .hold_get(h)?
                    .ok_or_else(|| Error::HoldUnknown(format!("no hold {h:?}")))?;
                if hold.evaluation_id != e {
                    return Err(Error::argument(
                        "/hold_id",
                        format!(
                            "hold {h} belongs to evaluation {}, not {e}",
                            hold.evaluation_id
                        ),
                    ));
                }
                (e.to_string(), Some(h.to_string()))
            }
            (None, None) => {
                return Err(Error::argument(
                    "/evaluation_id",
                    "give the evaluation_id (or the hold_id) of the call consumed",
                ))
            }
        };
        let decision = self
            .store
            .attestations(&AttestationFilter {
                evaluation_id: Some(evaluation_id.clone()),
                kind: Some("decision".into()),
                limit: Some(1),
                ..AttestationFilter::default()
            })?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::EvaluationUnknown(format!("no decision record of {evaluation_id:?}"))
            })?;
        let record = decision.record.value();
        let kid = record
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        crate::attestation::verify_integrity(record, kid).map_err(|e| {
            Error::StoreUnavailable(format!(
                "the stored decision record of {evaluation_id} does not verify: {e}"
            ))
        })?;
        let body = record.get("body").unwrap_or(&Value::Null);
        let verdict = body.get("decision").and_then(Value::as_str).unwrap_or("?");
        if verdict != "allow" {
            return Err(Error::ConsumptionInvalid(format!(
                "evaluation {evaluation_id} was decided {verdict:?}: only an allowed call can be \
                 consumed"
            )));
        }
        let applied = body
            .get("catalog")
            .filter(|c| !c.is_null())
            .ok_or_else(|| {
                Error::ConsumptionInvalid(format!(
                "evaluation {evaluation_id} applied no catalog terms (its gate had no catalog in \
                 effect, or the caller was anonymous)"
            ))
            })?;
        let gate = body.get("gate").and_then(Value::as_str).unwrap_or_default();
        let version = applied.get("version").and_then(Value::as_u64).unwrap_or(0);
        let hash = applied.get("content_hash").and_then(Value::as_str);
        let published = self.catalog_version_checked(gate, version)?;
        if hash != Some(published.content_hash.as_str()) {
            return Err(Error::StoreUnavailable(format!(
                "catalog {gate:?} v{version} is {}, but the decision applied {hash:?}",
                published.content_hash
            )));
        }
        let offer = self.offer_for(&published, terms, applied)?;
        let quantity = match (terms.quantity, &offer.pricing) {
            (Some(q), _) => q,
            (None, Pricing::PerCall) => 1,
            (None, Pricing::PerUnit { field, .. } | Pricing::Tiered { field, .. }) => {
                match actual.map(|a| quantity_in(a, field)).transpose()?.flatten() {
                    Some(q) => q,
                    None => {
                        return Err(Error::ConsumptionInvalid(format!(
                            "/quantity is required: the offer for {:?} is priced {} on {field}",
                            offer.permission,
                            offer.pricing.model()
                        )))
                    }
                }
            }
        };
        if quantity > MAX_AMOUNT {
            return Err(Error::ConsumptionInvalid(
                "/quantity must be at most 2^53 − 1".into(),
            ));
        }
        let priced = settlement::price(
            offer,
            terms.outcome,
            quantity,
            terms.delivered,
            self.fee_bps,
        )?;
        let data = json!({
            "evaluation_id": evaluation_id, "hold_id": hold_id,
            "decision_hash": record.get("hash"), "gate": gate, "permission": offer.permission,
            "payer": body.get("principal").cloned().unwrap_or(Value::Null),
            "payee": published.signer,
            "catalog": {"version": version, "content_hash": published.content_hash},
            "outcome": terms.outcome.as_str(), "quantity": quantity, "delivered": terms.delivered,
            "latency_ms": terms.latency_ms,
            "price": {"amount": priced.amount, "currency": offer.price.currency},
            "fee_bps": self.fee_bps, "fee": priced.fee, "net": priced.net,
            "pop": terms.pop.as_ref().map(crate::json::normalize_numbers).transpose()?,
        });
        let about = Event {
            gate: Some(gate),
            agent_id: body.get("agent_id").and_then(Value::as_str),
            evaluation_id: Some(&evaluation_id),
        };
        let now = self.clock.now_ms();
        let mut tail = self.tail()?;
        let (stored, hash) =
            self.event_record_with(&tail, "consumption", &data, about, now, true)?;
        let id = stored
            .record
            .pointer("/body/id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if let Some(held) = store.consumption_claim(&evaluation_id, &id)? {
            return Err(Error::ConsumptionExists(format!(
                "evaluation {evaluation_id} was consumed already (record {held})"
            )));
        }
        let written = self.store.append(&stored);
        if let Err(e) = self.after_write(&mut tail, written) {
            // Not known to be stored: the claim goes back (a record that did land keeps the
            // evaluation consumed only in the log; see the store docs).
            let _ = store.consumption_unclaim(&evaluation_id, &id);
            return Err(e);
        }
        tail.advance(hash);
        Ok(stored.record.into_value())
    }

    fn offer_for<'p>(
        &self,
        published: &'p Published,
        terms: &ConsumeTerms,
        applied: &Value,
    ) -> Result<&'p Offer> {
        let offers = &published.catalog.offers;
        let wanted = terms.permission.clone().or_else(|| {
            applied
                .get("permission")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        match wanted {
            Some(p) => published.catalog.offer(&p).ok_or_else(|| {
                Error::ConsumptionInvalid(format!(
                    "/permission: catalog {:?} v{} has no offer for {p:?}",
                    published.catalog.gate, published.publication.version
                ))
            }),
            None => match offers.as_slice() {
                [only] => Ok(only),
                _ => Err(Error::ConsumptionInvalid(format!(
                    "/permission is required: catalog {:?} v{} has {} offers and the decision \
                     recorded none the passport holds",
                    published.catalog.gate,
                    published.publication.version,
                    offers.len()
                ))),
            },
        }
    }

    /// Every consumption record matching the filter, read (not re-verified).
    fn consumptions(
        &self,
        gate: Option<&str>,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<(Value, Consumed)>> {
        let records = self.store.attestations(&AttestationFilter {
            kind: Some("consumption".into()),
            gate: gate.map(str::to_string),
            since_ms: from,
            until_ms: to,
            ..AttestationFilter::default()
        })?;
        records
            .into_iter()
            .map(|r| {
                let rec = r.record.into_value();
                let c = settlement::read_consumption(&rec)?;
                Ok((rec, c))
            })
            .collect()
    }

    /// Generates and signs a settlement over the consumption records of `[from, to)` (of one
    /// payer and / or payee if given): see the module docs.
    pub fn generate_settlement(
        &self,
        from: i64,
        to: i64,
        payer: Option<&Payer>,
        payee: Option<&str>,
    ) -> Result<SettlementView> {
        self.same_process()?;
        period(from, to)?;
        let store = self.settlement_store()?;
        let did = self.signer_did().to_string();
        let payer_v = payer.map(Payer::to_value);
        let mut included: Vec<(Value, Consumed)> = Vec::new();
        for r in self.store.attestations(&AttestationFilter {
            kind: Some("consumption".into()),
            since_ms: Some(from),
            until_ms: Some(to),
            ..AttestationFilter::default()
        })? {
            let rec = r.record.into_value();
            let rid = rec
                .pointer("/body/id")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string();
            crate::attestation::verify_attestation(&rec, &did).map_err(|e| {
                Error::ConsumptionInvalid(format!(
                    "consumption record {rid} (chain {}, seq {}) does not verify: {} {e}",
                    r.chain,
                    r.seq,
                    e.code()
                ))
            })?;
            let c = settlement::read_consumption(&rec)?;
            if payer_v.as_ref().is_some_and(|p| *p != c.payer)
                || payee.is_some_and(|p| p != c.payee)
            {
                continue;
            }
            included.push((rec, c));
            if included.len() > MAX_SETTLEMENT_RECORDS {
                return Err(Error::argument(
                    "/to",
                    format!(
                        "more than {MAX_SETTLEMENT_RECORDS} consumption records: settle a shorter period"
                    ),
                ));
            }
        }
        // Each chain a record belongs to verifies as a whole (from seq 1 or its checkpoint).
        let chains: HashSet<String> = included
            .iter()
            .filter_map(|(r, _)| r.pointer("/body/chain").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        let mut chains: Vec<String> = chains.into_iter().collect();
        chains.sort();
        for chain in chains {
            let records: Vec<Value> = self
                .store
                .attestations(&AttestationFilter {
                    chain: Some(chain.clone()),
                    ..AttestationFilter::default()
                })?
                .into_iter()
                .map(|r| r.record.into_value())
                .collect();
            let cp = self.store.checkpoint(&chain)?;
            crate::retention::verify_chain_from(
                &records,
                &did,
                cp.as_ref().map(|c| c.record.as_ref()),
                std::slice::from_ref(&did),
            )
            .map_err(|e| {
                Error::ConsumptionInvalid(format!(
                    "the chain {chain} of consumption records does not verify: {} {e}",
                    e.code()
                ))
            })?;
        }
        let now = self.clock.now_ms();
        let st = Statement {
            settlement_id: random_id("stl")?,
            from,
            to,
            payer: payer_v,
            payee: payee.map(str::to_string),
            generated_at: now,
        };
        let read: Vec<Consumed> = included.iter().map(|(_, c)| c.clone()).collect();
        let document = settlement::seal_settlement(&st, &read, &self.chain.key)?;
        let records: Vec<Value> = included.into_iter().map(|(r, _)| r).collect();
        let text = |v: &Value| {
            serde_json::to_string(v).map_err(|e| Error::Internal(format!("settlement: {e}")))
        };
        let stored = StoredSettlement {
            id: st.settlement_id.clone(),
            status: "draft".into(),
            document: text(&document)?,
            records: text(&Value::Array(records))?,
            created_ms: now,
        };
        if !store.settlement_insert(&stored)? {
            return Err(Error::Internal(format!(
                "settlement id {} taken",
                st.settlement_id
            )));
        }
        let view = self.view_of(&stored)?;
        let data = json!({
            "settlement_id": view.settlement_id, "document_hash": document.get("hash"),
            "period": {"from": from, "to": to}, "count": view.count, "totals": view.totals,
            "merkle_root": document.pointer("/body/merkle_root"),
        });
        self.append_event("settlement.generated", &data, Event::default())?;
        Ok(view)
    }

    fn view_of(&self, s: &StoredSettlement) -> Result<SettlementView> {
        let document: Value = serde_json::from_str(&s.document)
            .map_err(|e| Error::StoreUnavailable(format!("stored settlement unreadable: {e}")))?;
        let kid = document
            .get("kid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let v = settlement::verify_settlement(&document, kid, None).map_err(|e| {
            Error::StoreUnavailable(format!("stored settlement {} does not verify: {e}", s.id))
        })?;
        if v.settlement_id != s.id {
            return Err(Error::StoreUnavailable(format!(
                "stored settlement {} names {}",
                s.id, v.settlement_id
            )));
        }
        Ok(SettlementView {
            settlement_id: s.id.clone(),
            status: s.status.clone(),
            generated_at: document
                .pointer("/body/generated_at")
                .and_then(Value::as_i64)
                .unwrap_or(s.created_ms),
            document,
            totals: v.totals,
            count: v.count,
        })
    }

    fn stored_settlement(&self, id: &str) -> Result<StoredSettlement> {
        self.settlement_store()?
            .settlement_get(id)?
            .ok_or_else(|| Error::SettlementUnknown(format!("no settlement {id:?}")))
    }

    /// The settlement `id` (`SETTLEMENT_UNKNOWN` if none), its stored statement verified.
    pub fn get_settlement(&self, id: &str) -> Result<SettlementView> {
        self.same_process()?;
        self.view_of(&self.stored_settlement(id)?)
    }

    /// The settlement `id` with the consumption records it includes: the bundle
    /// [`crate::commerce::verify_settlement`] (and `passgate settlement verify`) checks offline.
    pub fn export_settlement(&self, id: &str) -> Result<SettlementBundle> {
        self.same_process()?;
        let s = self.stored_settlement(id)?;
        let view = self.view_of(&s)?;
        let consumptions: Vec<Value> = serde_json::from_str(&s.records)
            .map_err(|e| Error::StoreUnavailable(format!("stored settlement records: {e}")))?;
        Ok(SettlementBundle {
            settlement: view.document,
            status: view.status,
            consumptions,
        })
    }

    /// Moves settlement `id` to status `to` (see the module docs): `SETTLEMENT_TRANSITION` names
    /// the status it is in and `to` when the state machine does not allow it.
    pub fn update_settlement_status(
        &self,
        id: &str,
        to: &str,
        reason: Option<&str>,
    ) -> Result<SettlementView> {
        self.same_process()?;
        if !STATUSES.contains(&to) {
            return Err(Error::argument(
                "/status",
                format!("status must be one of {STATUSES:?}, not {to:?}"),
            ));
        }
        let store = self.settlement_store()?;
        let mut current = self.stored_settlement(id)?;
        for _ in 0..8 {
            let from = current.status.clone();
            if !transition_allowed(&from, to) {
                let message = match from.as_str() {
                    "paid" | "void" => format!("{from} is final"),
                    _ => "not a transition of the settlement state machine".into(),
                };
                return Err(Error::SettlementTransition {
                    from,
                    to: to.to_string(),
                    message,
                });
            }
            match store.settlement_set_status(id, &from, to)? {
                StatusSwap::Swapped => {
                    let doc: Value = serde_json::from_str(&current.document).unwrap_or_default();
                    let data = json!({
                        "settlement_id": id, "from": from, "to": to, "reason": reason,
                        "document_hash": doc.get("hash"),
                    });
                    self.append_event("settlement.status", &data, Event::default())?;
                    current.status = to.to_string();
                    return self.view_of(&current);
                }
                StatusSwap::Unknown => {
                    return Err(Error::SettlementUnknown(format!("no settlement {id:?}")))
                }
                // Another change came first: judge the move from where it left it.
                StatusSwap::Current(s) => current.status = s,
            }
        }
        Err(Error::StoreUnavailable(format!(
            "settlement {id}: its status kept changing under this update; retry"
        )))
    }

    /// Totals per currency and counts by outcome of the consumption records matching `filter`
    /// (read only; records are read as stored, not re-verified: `generate_settlement` does that).
    pub fn get_billing_summary(&self, filter: &BillingFilter) -> Result<BillingSummary> {
        self.same_process()?;
        let payer = filter.payer.as_ref().map(Payer::to_value);
        let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
        let mut outcomes = OutcomeCounts::default();
        let mut count = 0u64;
        for (_, c) in self.consumptions(filter.gate.as_deref(), filter.from, filter.to)? {
            if payer.as_ref().is_some_and(|p| *p != c.payer)
                || filter.payee.as_deref().is_some_and(|p| p != c.payee)
            {
                continue;
            }
            totals.entry(c.currency.clone()).or_default().add(
                c.priced.amount,
                c.priced.fee,
                c.priced.net,
            )?;
            outcomes.add(c.outcome);
            count += 1;
        }
        Ok(BillingSummary {
            totals,
            outcomes,
            count,
        })
    }

    /// SLA compliance of `gate` over `[from, to)` against its current catalog's SLA (see
    /// [`SlaCompliance`]).
    pub fn get_sla_compliance(
        &self,
        gate: &str,
        from: i64,
        to: i64,
        permission: Option<&str>,
    ) -> Result<SlaCompliance> {
        self.same_process()?;
        period(from, to)?;
        let mut outcomes = OutcomeCounts::default();
        let mut latencies = Vec::new();
        for (_, c) in self.consumptions(Some(gate), Some(from), Some(to))? {
            outcomes.add(c.outcome);
            if let Some(l) = c.latency_ms {
                latencies.push(l);
            }
        }
        let judged = outcomes
            .success
            .saturating_add(outcomes.error)
            .saturating_add(outcomes.timeout);
        let success_bps = (judged > 0).then(|| {
            u64::try_from(u128::from(outcomes.success) * 10_000 / u128::from(judged))
                .unwrap_or(10_000)
        });
        latencies.sort_unstable();
        let p95 = match latencies.len() {
            0 => None,
            n => {
                let rank = (n * 95).div_ceil(100).max(1);
                latencies.get(rank - 1).copied()
            }
        };
        let current = match self.get_catalog(gate, None) {
            Ok(c) => Some(c),
            Err(Error::CatalogUnknown(_)) => None,
            Err(e) => return Err(e),
        };
        let sla = current.as_ref().and_then(|c| match permission {
            Some(p) => c.catalog.offer(p).and_then(|o| o.sla.clone()),
            None => c.catalog.offers.iter().find_map(|o| o.sla.clone()),
        });
        let met = sla.as_ref().map(|s| {
            success_bps.is_none_or(|b| b >= s.availability_bp)
                && p95.is_none_or(|p| p <= s.p95_latency_ms)
        });
        Ok(SlaCompliance {
            gate: gate.to_string(),
            from,
            to,
            outcomes,
            success_bps,
            p95_latency_ms: p95,
            latency_samples: latencies.len() as u64,
            catalog_version: current.map(|c| c.version),
            sla,
            met,
        })
    }
}
