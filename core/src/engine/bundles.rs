//! Run bundles (see [`crate::bundle`]): read back against their decision record, and purged.

use serde_json::{json, Value};

use super::{Engine, Event};
use crate::bundle::bundle_hash;
use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::store::AttestationFilter;

impl Engine {
    /// The run bundle of a decision record, checked against the record's `bundle_hash`, and its
    /// status: `recorded` (the bundle, verified), `purged` (the record names one the store no
    /// longer holds), `none` (the gate recorded none). A stored bundle that does not hash to
    /// the signed `bundle_hash` is `STORE_CORRUPT`-like: `INTERNAL`, never returned as genuine.
    pub fn evaluation_bundle(&self, record: &Value) -> Result<(Option<Value>, &'static str)> {
        let Some(want) = record.pointer("/body/bundle_hash").and_then(Value::as_str) else {
            return Ok((None, "none"));
        };
        let id = record
            .pointer("/body/evaluation_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(text) = self.store.bundle_get(id)? else {
            return Ok((None, "purged"));
        };
        let bundle = json::parse_in(&text, Limits::POLICY, Context::Argument)?;
        let got = bundle_hash(&bundle)?;
        if got != want {
            return Err(Error::Internal(format!(
                "the stored run bundle of {id} hashes to {got}, not to the {want} its signed \
                 record names: the store's copy was altered"
            )));
        }
        Ok((Some(bundle), "recorded"))
    }

    /// Deletes the run bundle of evaluation `evaluation_id` (privacy): the decision record keeps
    /// its `bundle_hash`, so the chain still verifies. Writes a `bundle.purged` attestation
    /// `{evaluation_id, bundle_hash}` and returns it; `EVALUATION_UNKNOWN` if no recorded
    /// evaluation has that id; an evaluation whose bundle is already gone (or that has none)
    /// purges nothing and writes nothing (`null`).
    pub fn purge_bundle(&self, evaluation_id: &str) -> Result<Option<Value>> {
        let records = self.attestations(&AttestationFilter {
            evaluation_id: Some(evaluation_id.to_string()),
            kind: Some("decision".into()),
            ..AttestationFilter::default()
        })?;
        let record = records.first().ok_or_else(|| {
            Error::EvaluationUnknown(format!("no recorded evaluation {evaluation_id:?}"))
        })?;
        let Some(hash) = record.pointer("/body/bundle_hash").and_then(Value::as_str) else {
            return Ok(None);
        };
        if !self.store.bundle_delete(evaluation_id)? {
            return Ok(None);
        }
        let about = Event {
            gate: record.pointer("/body/gate").and_then(Value::as_str),
            evaluation_id: Some(evaluation_id),
            ..Event::default()
        };
        let data = json!({"evaluation_id": evaluation_id, "bundle_hash": hash});
        self.append_event("bundle.purged", &data, about).map(Some)
    }
}
