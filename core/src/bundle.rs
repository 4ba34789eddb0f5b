//! Run bundles: what a gate records of each evaluation beside its signed record — the payload
//! (as redacted by the gate's `pii` constraints), the run's tool calls and artifacts — kept in the
//! store by evaluation id.
//!
//! A policy opts in with `record` (at the top, and per gate, whose fields override the
//! policy's):
//!
//! ```json
//! "record": {"payload": true, "tool_calls": true, "artifacts": true,
//!            "max_items": 64, "max_item_bytes": 65536, "max_total_bytes": 1048576}
//! ```
//!
//! The decision record carries `bundle_hash` — `sha256:` of the bundle's RFC 8785 form — so the
//! bundle verifies against the signed record ([`bundle_hash`]), and the bundle can be purged for
//! privacy (`purge_bundle`) without breaking the chain: the record keeps the hash of what was
//! recorded. Tool calls and artifacts a gate records go to the bundle *instead of* the record's
//! `trace`, so purging the bundle purges them.
//!
//! A request over a cap (more items than `max_items`, an item — the payload, one tool call, one
//! artifact — over `max_item_bytes` in its canonical form, or all together over
//! `max_total_bytes`) is denied by a failed check of type `record` with code `RECORD_LIMIT`, and
//! nothing of it is recorded but the decision.

use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json;

/// Default most tool calls, and most artifacts, one bundle holds.
pub const DEFAULT_MAX_ITEMS: usize = 64;
/// Default largest item (canonical JSON bytes).
pub const DEFAULT_MAX_ITEM_BYTES: usize = 64 << 10;
/// Default largest bundle (canonical JSON bytes).
pub const DEFAULT_MAX_TOTAL_BYTES: usize = 1 << 20;

/// What a gate records (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordSpec {
    /// Record the payload (redacted).
    pub payload: bool,
    /// Record the run's tool calls (`trace.tool_calls`).
    pub tool_calls: bool,
    /// Record the run's artifacts (`trace.artifacts`).
    pub artifacts: bool,
    /// Most tool calls, and most artifacts.
    pub max_items: usize,
    /// Largest item, in canonical JSON bytes.
    pub max_item_bytes: usize,
    /// Largest bundle, in canonical JSON bytes.
    pub max_total_bytes: usize,
}

impl Default for RecordSpec {
    fn default() -> Self {
        RecordSpec {
            payload: false,
            tool_calls: false,
            artifacts: false,
            max_items: DEFAULT_MAX_ITEMS,
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
        }
    }
}

impl RecordSpec {
    /// The effective setting as JSON (what `get_gate` shows).
    pub fn to_json(&self) -> Value {
        json!({
            "payload": self.payload, "tool_calls": self.tool_calls, "artifacts": self.artifacts,
            "max_items": self.max_items, "max_item_bytes": self.max_item_bytes,
            "max_total_bytes": self.max_total_bytes,
        })
    }

    /// The spec of a gate: the policy's `record` (`top`), its fields overridden by the gate's
    /// (`gate`); `None` when neither records anything.
    pub(crate) fn compile(top: Option<&Value>, gate: Option<&Value>) -> Result<Option<RecordSpec>> {
        if top.is_none() && gate.is_none() {
            return Ok(None);
        }
        let mut spec = RecordSpec::default();
        for doc in [top, gate].into_iter().flatten() {
            let Some(m) = doc.as_object() else {
                continue; // the schema requires an object
            };
            let flag = |k: &str, cur: bool| m.get(k).and_then(Value::as_bool).unwrap_or(cur);
            let size = |k: &str, cur: usize| {
                m.get(k)
                    .and_then(Value::as_u64)
                    .map_or(cur, |n| usize::try_from(n).unwrap_or(usize::MAX))
            };
            spec.payload = flag("payload", spec.payload);
            spec.tool_calls = flag("tool_calls", spec.tool_calls);
            spec.artifacts = flag("artifacts", spec.artifacts);
            spec.max_items = size("max_items", spec.max_items);
            spec.max_item_bytes = size("max_item_bytes", spec.max_item_bytes);
            spec.max_total_bytes = size("max_total_bytes", spec.max_total_bytes);
        }
        Ok((spec.payload || spec.tool_calls || spec.artifacts).then_some(spec))
    }

    /// The bundle of one evaluation: `{evaluation_id, gate, payload?, tool_calls?, artifacts?}`,
    /// and the trace with what went to the bundle taken out of it. `Err(message)` (the
    /// `RECORD_LIMIT` check's) when it is over a cap.
    pub(crate) fn bundle(
        &self,
        evaluation_id: &str,
        gate: &str,
        payload: &Value,
        trace: Option<&Value>,
    ) -> Result<(Value, Option<Value>), String> {
        let mut trace = trace.cloned();
        let mut b = Map::new();
        b.insert("evaluation_id".into(), json!(evaluation_id));
        b.insert("gate".into(), json!(gate));
        if self.payload {
            self.item("the payload", payload)?;
            b.insert("payload".into(), payload.clone());
        }
        for (on, key) in [
            (self.tool_calls, "tool_calls"),
            (self.artifacts, "artifacts"),
        ] {
            if !on {
                continue;
            }
            let taken = match trace.as_mut().and_then(Value::as_object_mut) {
                Some(t) => t.remove(key),
                None => None,
            };
            let list = match taken {
                Some(Value::Array(a)) => a,
                Some(other) => vec![other],
                None => Vec::new(),
            };
            if list.len() > self.max_items {
                return Err(format!(
                    "{} {key}: more than the {} a bundle records (record.max_items)",
                    list.len(),
                    self.max_items
                ));
            }
            for (i, item) in list.iter().enumerate() {
                self.item(&format!("{key}[{i}]"), item)?;
            }
            b.insert(key.into(), Value::Array(list));
        }
        let bundle = Value::Object(b);
        let total = canonical_len(&bundle)?;
        if total > self.max_total_bytes {
            return Err(format!(
                "the bundle is {total} bytes, over record.max_total_bytes ({})",
                self.max_total_bytes
            ));
        }
        let trace = trace.filter(|t| t.as_object().is_none_or(|m| !m.is_empty()));
        Ok((bundle, trace))
    }

    fn item(&self, what: &str, v: &Value) -> Result<(), String> {
        let n = canonical_len(v)?;
        if n > self.max_item_bytes {
            return Err(format!(
                "{what} is {n} bytes, over record.max_item_bytes ({})",
                self.max_item_bytes
            ));
        }
        Ok(())
    }
}

fn canonical_len(v: &Value) -> Result<usize, String> {
    json::canonical_normalized(v)
        .map(|s| s.len())
        .map_err(|e| e.to_string())
}

/// `sha256:<hex>` of a bundle's canonical form: what its decision record's `bundle_hash` holds.
pub fn bundle_hash(bundle: &Value) -> Result<String> {
    let canonical = json::canonical_normalized(bundle)
        .map_err(|e| Error::Internal(format!("bundle not canonicalisable: {e}")))?;
    Ok(json::sha256_tagged(canonical.as_bytes()))
}

/// A bundle an evaluation will record: the bundle, its JSON text and hash, and the trace its
/// decision record carries (with what went to the bundle taken out).
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub text: String,
    pub hash: String,
    pub trace: Option<Value>,
}

impl Recorded {
    pub(crate) fn new(bundle: &Value, trace: Option<Value>) -> Result<Recorded> {
        Ok(Recorded {
            text: bundle.to_string(),
            hash: bundle_hash(bundle)?,
            trace,
        })
    }
}
