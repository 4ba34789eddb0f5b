//! Changing the policy. Every change — a whole new document ([`Engine::set_policy`],
//! [`Engine::replace_policy`]) or an edit of one part of it ([`Engine::upsert_gate`],
//! [`Engine::delete_gate`], [`Engine::set_gate_constraints`], [`Engine::set_anonymous_policy`]) —
//! goes through one function that, holding this engine's policy-edit lock:
//!
//! 1. checks the caller's `if_match` (the `policy_hash` the edit was made on, optional) against
//!    the policy in force: a stale hash is `POLICY_CONFLICT` and nothing changes;
//! 2. builds the new document and compiles it ([`Policy::from_value`]: the policy schema, then
//!    every constraint): a document that does not validate is `POLICY_INVALID` at the JSON path
//!    of the offending value in the document (`/gates/pay/constraints/0/max`), and nothing
//!    changes;
//! 3. signs a `policy.changed` attestation `{old_hash, new_hash, operation, diff}` into this
//!    engine's chain ([`policy_diff`]): if it cannot be stored, nothing changes;
//! 4. swaps the compiled policy in (and the trusted issuers with it). Decisions read the policy
//!    without the lock: each sees the old policy or the new one, never a mix.
//!
//! An edit that leaves the document as it was (the same hash) changes nothing and writes
//! nothing. Edits are serialised within one engine.
//!
//! **A policy kept in the store** (`policy_source=store`, [`PolicySource::Store`]): every engine
//! on one store (a SQLite file, a Redis) enforces one document. Each decision first reads the
//! store's policy version (one point read) and, when it moved, compiles the new document once;
//! so an edit on one engine is in force on every other from its next decision. An edit checks
//! `if_match` against the store's document, and the store swaps the document by
//! compare-and-swap on its version *in the same atomic step* that appends the `policy.changed`
//! record: of concurrent edits on any engines, exactly one wins and the others are
//! `POLICY_CONFLICT`; a document is never in force without its record, nor a record written
//! for a document that is not. A document in the store that does not compile (written by a
//! newer passgate, or by hand) fails every decision with `POLICY_INVALID` rather than
//! enforcing an older one.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use std::sync::atomic::Ordering;

use super::{Engine, Event};
use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::PublicKey;
use crate::pointer::escape;
use crate::policy::Policy;
#[cfg(doc)]
use crate::store::PolicySource;
use crate::store::StoredPolicy;

/// How many times an edit without `if_match` is redone when another engine's edit of a policy
/// kept in the store overtook it.
pub const EDIT_ATTEMPTS: u32 = 16;

/// The most entries a [`policy_diff`] lists (gate names and JSON paths together); past it the
/// diff says `truncated: true`.
pub const MAX_DIFF_PATHS: usize = 256;

/// The longest JSON path a [`policy_diff`] names: a change under a longer one is reported at
/// its nearest shorter ancestor.
const MAX_PATH_LEN: usize = 1024;

/// What a policy change did.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyChange {
    /// The hash of the policy now in force (pass it as the next edit's `if_match`).
    pub policy_hash: String,
    /// The hash of the policy the change was made on (`None`: the engine had none).
    pub previous_hash: Option<String>,
    /// The signed `policy.changed` record, or `None` when the change left the document as it
    /// was (nothing was written).
    pub attestation: Option<Value>,
}

impl Engine {
    /// Replaces the policy, whatever is in force; counters and chains live on (they are keyed
    /// by gate and constraint id). Trusted issuers become the builder's plus the new policy's.
    /// Writes a `policy.changed` attestation (operation `set_policy`). See
    /// [`Engine::replace_policy`] for a compare-and-swap.
    pub fn set_policy(&self, policy: Policy) -> Result<()> {
        self.replace_policy(policy, None).map(|_| ())
    }

    /// Replaces the policy if `if_match` (when given) is the hash of the policy in force, else
    /// `POLICY_CONFLICT`. Attested as `policy.changed` (operation `set_policy`).
    pub fn replace_policy(&self, policy: Policy, if_match: Option<&str>) -> Result<PolicyChange> {
        self.edit_policy("set_policy", None, if_match, |_| Ok(policy.clone()))
    }

    /// Adds gate `gate` with `definition` (its JSON, as under the policy's `gates`), or replaces
    /// the gate of that name. Attested as `policy.changed` (operation `upsert_gate`). An engine
    /// with no policy starts from `{"version": 1}`.
    pub fn upsert_gate(
        &self,
        gate: &str,
        definition: Value,
        if_match: Option<&str>,
    ) -> Result<PolicyChange> {
        self.edit_policy("upsert_gate", Some(gate), if_match, |current| {
            edited(current, |doc| {
                gates_of(doc)?.insert(gate.to_string(), definition.clone());
                Ok(())
            })
        })
    }

    /// Adds gate `gate` with `definition`; a gate of that name already defined is
    /// `POLICY_CONFLICT` (nothing changes). Attested as `policy.changed` (operation
    /// `create_gate`).
    pub fn create_gate(
        &self,
        gate: &str,
        definition: Value,
        if_match: Option<&str>,
    ) -> Result<PolicyChange> {
        self.edit_policy("create_gate", Some(gate), if_match, |current| {
            edited(current, |doc| {
                let gates = gates_of(doc)?;
                if gates.contains_key(gate) {
                    return Err(Error::PolicyConflict(format!(
                        "gate {gate:?} is already defined: nothing was changed (update_gate or \
                         upsert_gate replaces it)"
                    )));
                }
                gates.insert(gate.to_string(), definition.clone());
                Ok(())
            })
        })
    }

    /// Replaces gate `gate` with `definition`; a gate the policy does not define is
    /// `GATE_UNKNOWN` (nothing changes). Attested as `policy.changed` (operation
    /// `update_gate`).
    pub fn update_gate(
        &self,
        gate: &str,
        definition: Value,
        if_match: Option<&str>,
    ) -> Result<PolicyChange> {
        self.edit_policy("update_gate", Some(gate), if_match, |current| {
            edited(current, |doc| {
                let g = gates_of(doc)?
                    .get_mut(gate)
                    .ok_or_else(|| unknown_gate(gate))?;
                *g = definition.clone();
                Ok(())
            })
        })
    }

    /// Removes gate `gate` (`GATE_UNKNOWN` if the policy does not define it). Its counters are
    /// kept (a gate of that name defined again counts on). Attested as `policy.changed`
    /// (operation `delete_gate`). The `anonymous` section is left as it is (it may name gates
    /// that are not defined).
    pub fn delete_gate(&self, gate: &str, if_match: Option<&str>) -> Result<PolicyChange> {
        self.edit_policy("delete_gate", Some(gate), if_match, |current| {
            edited(current, |doc| {
                gates_of(doc)?
                    .remove(gate)
                    .map(|_| ())
                    .ok_or_else(|| unknown_gate(gate))
            })
        })
    }

    /// Replaces the `constraints` of gate `gate` (`GATE_UNKNOWN` if the policy does not define
    /// it); its templates, permissions and the rest stay. Attested as `policy.changed`
    /// (operation `set_gate_constraints`).
    pub fn set_gate_constraints(
        &self,
        gate: &str,
        constraints: Vec<Value>,
        if_match: Option<&str>,
    ) -> Result<PolicyChange> {
        self.edit_policy("set_gate_constraints", Some(gate), if_match, |current| {
            edited(current, |doc| {
                let g = gate_mut(doc, gate)?;
                g.insert("constraints".into(), Value::Array(constraints.clone()));
                Ok(())
            })
        })
    }

    /// Applies template `name` (built in or the policy's own) to gate `gate` with `params`
    /// (`GATE_UNKNOWN` if the policy does not define the gate). A gate applies a template once:
    /// applying it again replaces its parameters. Unknown or missing parameters, and a template
    /// that does not exist, are `POLICY_INVALID` at their path. Attested as `policy.changed`
    /// (operation `apply_template`).
    pub fn apply_template(
        &self,
        gate: &str,
        name: &str,
        params: Option<Map<String, Value>>,
        if_match: Option<&str>,
    ) -> Result<PolicyChange> {
        let applied = json!({"name": name, "params": params.clone().unwrap_or_default()});
        self.edit_policy("apply_template", Some(gate), if_match, |current| {
            edited(current, |doc| {
                let g = gate_mut(doc, gate)?;
                let list = g
                    .entry("templates")
                    .or_insert_with(|| Value::Array(Vec::new()))
                    .as_array_mut()
                    .ok_or_else(|| {
                        Error::policy(
                            format!("/gates/{}/templates", escape(gate)),
                            "must be an array",
                        )
                    })?;
                match list
                    .iter_mut()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some(name))
                {
                    Some(t) => *t = applied.clone(),
                    None => list.push(applied.clone()),
                }
                Ok(())
            })
        })
    }

    /// Adds the policy's own template `name` with `definition` (`{description?, params,
    /// constraints}`, as under the policy's `templates`), or replaces the one of that name; a
    /// built-in's name is `POLICY_INVALID`. Gates applying it are compiled with the new
    /// definition (an edit that leaves one of them invalid changes nothing). Attested as
    /// `policy.changed` (operation `upsert_template`).
    pub fn upsert_template(
        &self,
        name: &str,
        definition: Value,
        if_match: Option<&str>,
    ) -> Result<PolicyChange> {
        self.edit_policy("upsert_template", None, if_match, |current| {
            edited(current, |doc| {
                doc.entry("templates")
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
                    .ok_or_else(|| Error::policy("/templates", "must be an object"))?
                    .insert(name.to_string(), definition.clone());
                Ok(())
            })
        })
    }

    /// Replaces the policy's `anonymous` section (the gates open without a passport and the
    /// constraints judging every such request). Attested as `policy.changed` (operation
    /// `set_anonymous_policy`).
    pub fn set_anonymous_policy(
        &self,
        anonymous: Value,
        if_match: Option<&str>,
    ) -> Result<PolicyChange> {
        self.edit_policy("set_anonymous_policy", None, if_match, |current| {
            edited(current, |doc| {
                doc.insert("anonymous".into(), anonymous.clone());
                Ok(())
            })
        })
    }

    /// The policy in force: the one this engine holds, or, with `policy_source=store`, the
    /// store's (read again when its version moved). A store that cannot be read, or a stored
    /// document that does not compile, is an error: no decision is made on an older policy.
    pub fn current_policy(&self) -> Result<Option<Arc<Policy>>> {
        if let Some(shared) = &self.shared {
            let version = self.store.policy_version()?;
            if version != shared.version.load(Ordering::Acquire) {
                self.load_shared_policy()?;
            }
        }
        Ok(self.policy())
    }

    /// Compiles the store's policy and puts it in force (once per version, whichever thread
    /// gets here first).
    fn load_shared_policy(&self) -> Result<u64> {
        let Some(shared) = &self.shared else {
            return Ok(0);
        };
        let _load = shared.load.lock();
        let Some(stored) = self.store.policy_get()? else {
            return Ok(0);
        };
        if stored.version == shared.version.load(Ordering::Acquire) {
            return Ok(stored.version);
        }
        let policy = compile_stored(&stored)?;
        self.verifier
            .set_trusted(self.trusted_with(Some(&policy)))?;
        *self.policy.write() = Some(Arc::new(policy));
        shared.version.store(stored.version, Ordering::Release);
        Ok(stored.version)
    }

    /// At build, with `policy_source=store`: seeds a store that holds no policy with the
    /// builder's (attested as `set_policy`; of engines starting together, one seeds), then
    /// puts the store's in force. A builder's policy that differs from the store's is logged
    /// and left: the store's is the fleet's.
    pub(super) fn attach_shared_policy(&self, seed: Option<Arc<Policy>>) -> Result<()> {
        *self.policy.write() = None;
        if let Some(seed) = seed {
            if self.store.policy_version()? == 0 {
                match self.edit_policy("set_policy", None, None, |_| Ok((*seed).clone())) {
                    Ok(_) | Err(Error::PolicyConflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            self.load_shared_policy()?;
            let current = self.policy();
            if current.as_ref().is_some_and(|c| c.hash != seed.hash) {
                log::info!(
                    "passgate: policy_source=store: the store's policy ({}) is in force, not \
                     the one this engine was built with ({})",
                    current.map(|c| c.hash.clone()).unwrap_or_default(),
                    seed.hash
                );
            }
            return Ok(());
        }
        self.load_shared_policy().map(|_| ())
    }

    /// The one way the policy changes (see the module documentation): under the edit lock,
    /// checks `if_match`, builds the new policy with `edit` from the one in force, attests the
    /// change and swaps it in. With a policy kept in the store, an edit without `if_match` that
    /// another engine's edit overtook is redone on the new document (up to
    /// [`EDIT_ATTEMPTS`] times); one with `if_match` is `POLICY_CONFLICT`.
    fn edit_policy(
        &self,
        operation: &str,
        gate: Option<&str>,
        if_match: Option<&str>,
        edit: impl Fn(Option<&Policy>) -> Result<Policy>,
    ) -> Result<PolicyChange> {
        let (change, event) = self.edit_policy_locked(operation, gate, if_match, edit)?;
        // Its `policy.changed` event, once the edit lock is released.
        self.publish(event);
        Ok(change)
    }

    fn edit_policy_locked(
        &self,
        operation: &str,
        gate: Option<&str>,
        if_match: Option<&str>,
        edit: impl Fn(Option<&Policy>) -> Result<Policy>,
    ) -> Result<(PolicyChange, Option<super::DecisionEvent>)> {
        self.same_process()?;
        let _edit = self.policy_edit.lock();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.edit_once(operation, gate, if_match, &edit)? {
                Ok(change) => return Ok(change),
                Err(lost) if if_match.is_some() || attempts >= EDIT_ATTEMPTS => return Err(lost),
                Err(_) => continue,
            }
        }
    }

    /// One attempt of [`Engine::edit_policy`] (its lock held): `Ok(Err(conflict))` when the
    /// store's policy changed under it (nothing was written).
    fn edit_once(
        &self,
        operation: &str,
        gate: Option<&str>,
        if_match: Option<&str>,
        edit: &dyn Fn(Option<&Policy>) -> Result<Policy>,
    ) -> Result<std::result::Result<(PolicyChange, Option<super::DecisionEvent>), Error>> {
        // With a shared policy: the store's version now, and the document of that version.
        let version = match &self.shared {
            Some(_) => Some(self.load_shared_policy()?),
            None => None,
        };
        let current = self.policy();
        let previous_hash = current.as_ref().map(|p| p.hash.clone());
        if let Some(want) = if_match {
            if previous_hash.as_deref() != Some(want) {
                return Ok(Err(conflict(want, previous_hash.as_deref())));
            }
        }
        let next = edit(current.as_deref())?;
        if previous_hash.as_deref() == Some(next.hash.as_str()) {
            return Ok(Ok((
                PolicyChange {
                    policy_hash: next.hash,
                    previous_hash,
                    attestation: None,
                },
                None,
            )));
        }
        let trusted = self.trusted_with(Some(&next));
        for did in &trusted {
            PublicKey::from_did(did)?;
        }
        let diff = policy_diff(current.as_ref().map(|p| &p.doc), &next.doc);
        let data = json!({
            "old_hash": previous_hash, "new_hash": next.hash, "operation": operation,
            "diff": diff,
        });
        let about = Event {
            gate,
            ..Event::default()
        };
        // Recorded as an event if the new policy records `policy.changed`.
        let cx = super::events::EventContext {
            kinds: Some(&next.event_kinds),
            ..Default::default()
        };
        let (record, event) = match (&self.shared, version) {
            (Some(shared), Some(version)) => {
                let stored = StoredPolicy {
                    version: version + 1,
                    hash: next.hash.clone(),
                    doc: next.doc.to_string(),
                };
                let now = self.clock.now_ms();
                let mut tail = self.tail()?;
                let (mut rec, hash) =
                    self.event_record(&tail, "policy.changed", &data, about, now)?;
                let event = self.attach_event(super::EventKind::PolicyChanged, &mut rec, cx)?;
                let swapped = self.store.policy_swap(version, &stored, &rec);
                if !self.after_write(&mut tail, swapped)? {
                    let now_hash = self.store.policy_get()?.map(|p| p.hash);
                    return Ok(Err(conflict(
                        if_match.unwrap_or(previous_hash.as_deref().unwrap_or("none")),
                        now_hash.as_deref(),
                    )));
                }
                tail.advance(hash);
                self.verifier.set_trusted(trusted)?;
                *self.policy.write() = Some(Arc::new(next));
                shared.version.store(stored.version, Ordering::Release);
                let change = PolicyChange {
                    policy_hash: stored.hash,
                    previous_hash,
                    attestation: Some(rec.record.into_value()),
                };
                return Ok(Ok((change, event)));
            }
            _ => self.append_event_with(
                "policy.changed",
                &data,
                about,
                Some((super::EventKind::PolicyChanged, cx)),
            )?,
        };
        self.verifier.set_trusted(trusted)?;
        let policy_hash = next.hash.clone();
        *self.policy.write() = Some(Arc::new(next));
        Ok(Ok((
            PolicyChange {
                policy_hash,
                previous_hash,
                attestation: Some(record),
            },
            event,
        )))
    }
}

/// The edit's `POLICY_CONFLICT`: `want` is not the hash of the policy in force (`now`).
fn conflict(want: &str, now: Option<&str>) -> Error {
    Error::PolicyConflict(format!(
        "if_match {want:?} is not the hash of the policy in force ({}): another edit came \
         first. Nothing was changed; read the policy again (its policy_hash) and redo the edit \
         on it",
        now.unwrap_or("none: no policy is set")
    ))
}

/// The store's policy document, compiled. A document that does not parse or compile, or whose
/// hash is not the one stored with it, is `POLICY_INVALID`.
fn compile_stored(stored: &StoredPolicy) -> Result<Policy> {
    let fail = |why: String| {
        Error::policy(
            "",
            format!(
                "the policy kept in the store (version {}) {why}; no decision is made on an \
                 older one: set a valid policy (set_policy)",
                stored.version
            ),
        )
    };
    let doc = json::parse_in(&stored.doc, Limits::POLICY, Context::Policy)
        .map_err(|e| fail(format!("is not valid JSON: {e}")))?;
    let policy = Policy::from_value(doc).map_err(|e| fail(format!("does not compile: {e}")))?;
    if policy.hash != stored.hash {
        return Err(fail(format!(
            "hashes to {} but was stored as {}",
            policy.hash, stored.hash
        )));
    }
    Ok(policy)
}

fn unknown_gate(gate: &str) -> Error {
    Error::GateUnknown(format!("{gate:?} is not defined by the policy"))
}

/// The policy compiled from the document in force (`{"version": 1}` when there is none) as `f`
/// edits it.
fn edited(
    current: Option<&Policy>,
    f: impl FnOnce(&mut Map<String, Value>) -> Result<()>,
) -> Result<Policy> {
    let mut doc = match current.map(|p| &p.doc) {
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(Error::policy("", "the policy in force is not an object")),
        None => Map::from_iter([("version".to_string(), json!(1))]),
    };
    f(&mut doc)?;
    Policy::from_value(Value::Object(doc))
}

/// Gate `gate` of the document (`GATE_UNKNOWN` if it defines none of that name).
fn gate_mut<'a>(doc: &'a mut Map<String, Value>, gate: &str) -> Result<&'a mut Map<String, Value>> {
    gates_of(doc)?
        .get_mut(gate)
        .ok_or_else(|| unknown_gate(gate))?
        .as_object_mut()
        .ok_or_else(|| {
            Error::policy(
                format!("/gates/{}", escape(gate)),
                "a gate must be an object",
            )
        })
}

/// The document's `gates` object (added when absent).
fn gates_of(doc: &mut Map<String, Value>) -> Result<&mut Map<String, Value>> {
    doc.entry("gates")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| Error::policy("/gates", "must be an object"))
}

/// What changed from policy document `old` (`None`: no policy) to `new`:
/// `{gates_added, gates_removed, gates_changed: [{gate, paths}], other, truncated}`. Gates are
/// named; for a changed gate, `paths` are the JSON pointers (inside the gate) whose values
/// differ, a member or element present on one side only named once; `other` are those outside
/// `gates` (pointers into the document: `/anonymous/gates/0`, `/issuers`). Every list is
/// sorted. Numbers compare by value (`1` and `1.0` are the same, as the policy hash has them).
/// At most [`MAX_DIFF_PATHS`] entries (gate names and paths) are listed, then `truncated` is
/// true.
pub fn policy_diff(old: Option<&Value>, new: &Value) -> Value {
    let empty = Map::new();
    let old_gates = gates_in(old).unwrap_or(&empty);
    let new_gates = gates_in(Some(new)).unwrap_or(&empty);
    let mut d = Diff {
        budget: MAX_DIFF_PATHS,
        truncated: false,
    };
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    for name in new_gates.keys().filter(|k| !old_gates.contains_key(*k)) {
        if d.take() {
            added.push(name.clone());
        }
    }
    for name in old_gates.keys().filter(|k| !new_gates.contains_key(*k)) {
        if d.take() {
            removed.push(name.clone());
        }
    }
    for (name, before) in old_gates {
        let Some(after) = new_gates.get(name) else {
            continue;
        };
        if same(before, after) || !d.take() {
            continue;
        }
        let mut paths = Vec::new();
        d.paths(before, after, String::new(), &mut paths);
        paths.sort();
        changed.push(json!({"gate": name, "paths": paths}));
    }
    let rest = |doc: Option<&Value>| match doc {
        Some(Value::Object(m)) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k != "gates")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        _ => Value::Object(Map::new()),
    };
    let mut other = Vec::new();
    d.paths(&rest(old), &rest(Some(new)), String::new(), &mut other);
    for list in [&mut added, &mut removed, &mut other] {
        list.sort();
    }
    json!({
        "gates_added": added, "gates_removed": removed, "gates_changed": changed,
        "other": other, "truncated": d.truncated,
    })
}

/// The `gates` object of a document, if it has one.
fn gates_in(doc: Option<&Value>) -> Option<&Map<String, Value>> {
    doc.and_then(|d| d.get("gates")).and_then(Value::as_object)
}

/// The diff's budget of entries.
struct Diff {
    budget: usize,
    truncated: bool,
}

impl Diff {
    /// Takes one entry from the budget: false (and truncated) when none is left.
    fn take(&mut self) -> bool {
        if self.budget == 0 {
            self.truncated = true;
            return false;
        }
        self.budget -= 1;
        true
    }

    /// Pushes the paths under `at` where `a` and `b` differ.
    fn paths(&mut self, a: &Value, b: &Value, at: String, out: &mut Vec<String>) {
        if same(a, b) {
            return;
        }
        let mut children: Vec<(String, Option<&Value>, Option<&Value>)> = Vec::new();
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, v) in x {
                    children.push((k.clone(), Some(v), y.get(k)));
                }
                for (k, v) in y.iter().filter(|(k, _)| !x.contains_key(*k)) {
                    children.push((k.clone(), None, Some(v)));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in 0..x.len().max(y.len()) {
                    children.push((i.to_string(), x.get(i), y.get(i)));
                }
            }
            _ => {}
        }
        let too_long = children
            .iter()
            .any(|(k, _, _)| at.len() + 1 + escape(k).len() > MAX_PATH_LEN);
        if children.is_empty() || too_long {
            if self.take() {
                out.push(at);
            }
            return;
        }
        for (k, x, y) in children {
            let path = format!("{at}/{}", escape(&k));
            match (x, y) {
                (Some(x), Some(y)) => self.paths(x, y, path, out),
                _ => {
                    if self.take() {
                        out.push(path);
                    }
                }
            }
            if self.truncated {
                return;
            }
        }
    }
}

/// Whether two JSON values are the same, numbers compared by value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) => {
            match (crate::json::to_decimal(a), crate::json::to_decimal(b)) {
                (Ok(x), Ok(y)) => x == y,
                _ => a == b,
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn the_diff_names_gates_and_the_paths_that_differ() {
        let old = json!({"version": 1, "gates": {
            "pay": {"require": ["pay"], "constraints": [{"type": "rate_limit", "max": 5, "window": "1h"}]},
            "gone": {}, "same": {"mode": "monitor"}}});
        let new = json!({"version": 1.0, "gates": {
            "pay": {"require": ["pay", "x:y"], "constraints": [{"type": "rate_limit", "max": 6, "window": "1h"}],
                    "mode": "monitor"},
            "new/one": {}, "same": {"mode": "monitor"}}, "anonymous": {"gates": ["pay"]}});
        let d = policy_diff(Some(&old), &new);
        assert_eq!(
            d,
            json!({"gates_added": ["new/one"], "gates_removed": ["gone"],
                "gates_changed": [{"gate": "pay", "paths": ["/constraints/0/max", "/mode", "/require/1"]}],
                "other": ["/anonymous"], "truncated": false})
        );
        let first = policy_diff(None, &old);
        assert_eq!(first["gates_added"], json!(["gone", "pay", "same"]));
        assert_eq!(first["other"], json!(["/version"]));
    }

    #[test]
    fn the_diff_is_bounded() {
        let many: Map<String, Value> = (0..1000).map(|i| (format!("k{i}"), json!(i))).collect();
        let old = json!({"gates": {"g": {"input_schema": {}}}});
        let new = json!({"gates": {"g": {"input_schema": many}}});
        let d = policy_diff(Some(&old), &new);
        assert_eq!(d["truncated"], true);
        let paths = d["gates_changed"][0]["paths"].as_array().unwrap();
        assert_eq!(paths.len(), MAX_DIFF_PATHS - 1);
        let long = "k".repeat(5000);
        let d = policy_diff(
            Some(&old),
            &json!({"gates": {"g": {"input_schema": {long.clone(): 1}}}}),
        );
        assert_eq!(d["gates_changed"][0]["paths"], json!(["/input_schema"]));
        assert_eq!(d["truncated"], false);
    }
}
