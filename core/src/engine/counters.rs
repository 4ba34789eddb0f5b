//! Counters: the counter operations a request performs (one per distinct counter), and reading,
//! paging and resetting counters.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::decide::Caller;
use super::{check_page_limit, foreign_cursor, Engine, Event};
use crate::constraint::{Constraint, CounterKind, Scope};
use crate::error::Result;
use crate::json;
use crate::store::{
    self, CounterFilter, CounterKey, CounterOp, CounterState, HeldOp, SettleRule, WindowKind,
};

/// What a counter cursor starts with (see [`Engine::cumulative_state_page`]).
const COUNTER_CURSOR_PREFIX: &str = "k1.";

/// A counter constraint resolved for one request.
pub(super) struct Pending<'a> {
    pub(super) constraint: &'a Constraint,
    pub(super) kind: CounterKind,
    /// `" per 1d"`, or empty for a quota (shared, rendered when the policy was compiled).
    pub(super) label: std::sync::Arc<str>,
    pub(super) op: CounterOp,
    pub(super) settle: SettleRule,
    /// Whether `monitor` mode relaxes this counter: the gate's (or the anonymous section's) own
    /// constraints are relaxed; a passport's caveats never are.
    pub(super) relaxed: bool,
}

impl Pending<'_> {
    /// The operation the store performs. In `monitor` mode a relaxed counter still counts, but
    /// its bound is lifted (the store enforces every bound of a commit: a caveat's must hold).
    pub(super) fn store_op(&self, monitor: bool) -> CounterOp {
        let mut op = self.op.clone();
        if monitor && self.relaxed {
            op.max = Decimal::MAX;
        }
        op
    }

    pub(super) fn held(&self, monitor: bool) -> HeldOp {
        HeldOp {
            op: self.store_op(monitor),
            settle: self.settle.clone(),
        }
    }
}

impl Engine {
    /// Counters matching `filter` with their current usage (every one: the store pages
    /// internally; see [`Engine::cumulative_state_page`] to page yourself).
    pub fn cumulative_state(&self, filter: &CounterFilter) -> Result<Vec<CounterState>> {
        self.store.counters(filter, self.clock.now_ms())
    }

    /// One page of the counters matching `filter`, with their current usage: at most `limit`
    /// (1–10,000) counters from `cursor` (`None`: the first page), and the cursor of the next
    /// page, `None` after the last. Counters come in a stable order (namespace, constraint,
    /// scope, window), and a page resumes strictly after the counter the previous one ended on,
    /// so a walk never returns a counter twice while counters are being added (one added behind
    /// the walk's position is not returned). A page may hold fewer than `limit` counters (even
    /// none) and still have a next cursor: only `None` ends the walk. A filter with a
    /// `namespace` (gate) or a `scope` (agent) walks only those counters, from an index.
    ///
    /// A cursor is opaque: `k1.` followed by fields of the position (see
    /// [`Engine::cumulative_state_page_of`]); one that does not parse is `INVALID_ARGUMENT`.
    pub fn cumulative_state_page(
        &self,
        filter: &CounterFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<CounterState>, Option<String>)> {
        self.cumulative_state_page_of(std::slice::from_ref(filter), cursor, limit)
    }

    /// [`Engine::cumulative_state_page`] over several filters in turn (the counters of the
    /// first, then of the second, …): the filters of [`Engine::agent_filters`], one per trusted
    /// issuer. The cursor is `k1.<filter index>` (the start of that filter's counters) or
    /// `k1.<filter index>.<b64u namespace>.<b64u constraint>.<b64u scope>.<window>` (resume
    /// strictly after that counter; base64url without padding, the window as
    /// [`store::window_token`]). A cursor naming a filter past the last is the end (an empty
    /// page): the set of trusted issuers may have changed between two pages.
    pub fn cumulative_state_page_of(
        &self,
        filters: &[CounterFilter],
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<CounterState>, Option<String>)> {
        check_page_limit(limit)?;
        let (mut i, mut after) = match cursor {
            None => (0, None),
            Some(c) => decode_counter_cursor(c).ok_or_else(|| foreign_cursor(c))?,
        };
        let now = self.clock.now_ms();
        let mut out: Vec<CounterState> = Vec::new();
        while let Some(f) = filters.get(i) {
            let want = limit.saturating_sub(out.len());
            let (page, next) = self.store.counters_page(f, after.as_ref(), want, now)?;
            out.extend(page);
            if let Some(p) = next {
                return Ok((out, Some(encode_counter_cursor(i, Some(&p)))));
            }
            i += 1;
            after = None;
            if out.len() >= limit {
                return Ok((out, filters.get(i).map(|_| encode_counter_cursor(i, None))));
            }
        }
        Ok((out, None))
    }

    /// The `scope` values of `scope: "agent"` counters for the agent `agent_id`: agents are
    /// counted as principals (`agent:<id>@<issuer did>`), so an id names one counter per trusted
    /// issuer. An id that already names its issuer (`<id>@did:key:…`) names exactly one.
    pub fn agent_scopes(&self, agent_id: &str) -> Vec<String> {
        if agent_id.contains("@did:") {
            return vec![agent_scope(agent_id)];
        }
        self.verifier
            .trusted()
            .iter()
            .map(|did| {
                agent_scope(
                    &crate::passport::Principal {
                        issuer: did.clone(),
                        agent_id: agent_id.to_string(),
                    }
                    .key(),
                )
            })
            .collect()
    }

    /// [`Engine::cumulative_state`] or [`Engine::reset_cumulative_state`] filters for an optional
    /// `agent_id` on top of `filter` (one per [`Engine::agent_scopes`]).
    pub fn agent_filters(
        &self,
        filter: CounterFilter,
        agent_id: Option<&str>,
    ) -> Vec<CounterFilter> {
        match agent_id {
            None => vec![filter],
            Some(id) => self
                .agent_scopes(id)
                .into_iter()
                .map(|scope| CounterFilter {
                    scope: Some(scope),
                    ..filter.clone()
                })
                .collect(),
        }
    }

    /// Deletes counters matching `filter` and records that it did; returns how many.
    pub fn reset_cumulative_state(&self, filter: &CounterFilter) -> Result<usize> {
        let n = self.store.reset_counters(filter)?;
        self.append_event(
            "reset",
            &json!({
                "namespace": filter.namespace, "constraint": filter.constraint,
                "scope": filter.scope, "counters": n,
            }),
            Event::default(),
        )?;
        Ok(n)
    }
}

/// A counter cursor (see [`Engine::cumulative_state_page_of`]).
fn encode_counter_cursor(filter: usize, after: Option<&store::CounterPosition>) -> String {
    match after {
        None => format!("{COUNTER_CURSOR_PREFIX}{filter}"),
        Some(p) => format!(
            "{COUNTER_CURSOR_PREFIX}{filter}.{}.{}.{}.{}",
            crate::keys::b64u_encode(p.key.namespace.as_bytes()),
            crate::keys::b64u_encode(p.key.constraint.as_bytes()),
            crate::keys::b64u_encode(p.key.scope.as_bytes()),
            store::window_token(p.window),
        ),
    }
}

/// The filter index and position of a counter cursor, or `None` if it is not one.
fn decode_counter_cursor(c: &str) -> Option<(usize, Option<store::CounterPosition>)> {
    let rest = c.strip_prefix(COUNTER_CURSOR_PREFIX)?;
    let mut parts = rest.split('.');
    let index = parts.next()?;
    // Digits only (no sign, no leading `+`), so one index has one spelling.
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: usize = index.parse().ok()?;
    let Some(ns) = parts.next() else {
        return Some((index, None));
    };
    let text = |p: &str| {
        crate::keys::b64u_decode(p)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let namespace = text(ns)?;
    let constraint = text(parts.next()?)?;
    let scope = text(parts.next()?)?;
    let window = store::window_from_token(parts.next()?)?;
    if parts.next().is_some() {
        return None;
    }
    Some((
        index,
        Some(store::CounterPosition {
            key: store::CounterKey {
                namespace: namespace.into(),
                constraint: constraint.into(),
                scope: scope.into(),
            },
            window,
        }),
    ))
}

/// For each of `pending`, the index of its counter among the distinct counters of the request
/// (first appearance order). Two constraints may name one counter (a gate and the anonymous
/// section both declaring a `global` constraint with one id): the store must see it once, with
/// both amounts, or it loses or double-counts an update.
pub(super) fn slots(pending: &[Pending<'_>]) -> Slots {
    let mut firsts: Slots = Slots::new();
    pending
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let same = |j: &usize| pending.get(*j).is_some_and(|q| q.op.same_counter(&p.op));
            firsts.iter().position(same).unwrap_or_else(|| {
                firsts.push(i);
                firsts.len() - 1
            })
        })
        .collect()
}

/// Runs `f` on [`ops`]`(pending, false)`. When every pending op is a counter of its own (the usual
/// case) that list is exactly the pending ops, and they are lent rather than cloned: moved out of
/// `pending` for the call and back after it (a clone was three `String`s per counter per request,
/// a quarter of the allocations of a `dry_run`).
pub(super) fn lend_ops<R>(pending: &mut [Pending<'_>], f: impl FnOnce(&[CounterOp]) -> R) -> R {
    if crate::store::repeated_counter(pending.iter().map(|p| &p.op)).is_some() {
        return f(&ops(pending, false));
    }
    // On the stack for the usual few counters.
    let lent: smallvec::SmallVec<[CounterOp; 4]> = pending
        .iter_mut()
        .map(|p| std::mem::replace(&mut p.op, vacant()))
        .collect();
    let r = f(&lent);
    for (p, op) in pending.iter_mut().zip(lent) {
        p.op = op;
    }
    r
}

/// What stands in a [`Pending`] while its op is lent ([`lend_ops`]): allocates nothing.
fn vacant() -> CounterOp {
    CounterOp {
        key: CounterKey {
            namespace: CounterKey::shared(""),
            constraint: CounterKey::shared(""),
            scope: CounterKey::shared(""),
        },
        window: WindowKind::Forever,
        amount: Decimal::ZERO,
        need: Decimal::ZERO,
        max: Decimal::ZERO,
    }
}

/// A request's counters' slots (see [`slots`]): a decision has a few, kept on the stack.
pub(super) type Slots = smallvec::SmallVec<[usize; 8]>;

/// What one pending op needs free in its counter: its amount, or its `need` when larger.
pub(super) fn need_of(op: &CounterOp) -> Decimal {
    op.need.max(op.amount)
}

/// The store operations of `pending`, one per distinct counter (see [`slots`]): amounts and
/// needs summed, the strictest bound kept (see [`Pending::store_op`] for `monitor`).
pub(super) fn ops(pending: &[Pending<'_>], monitor: bool) -> Vec<CounterOp> {
    let mut out: Vec<CounterOp> = Vec::new();
    for (p, slot) in pending.iter().zip(slots(pending)) {
        let op = p.store_op(monitor);
        match out.get_mut(slot) {
            Some(m) => {
                m.need = need_of(m).saturating_add(need_of(&op));
                m.amount = m.amount.saturating_add(op.amount);
                m.max = m.max.min(op.max);
            }
            None => out.push(op),
        }
    }
    out
}

pub(super) struct ScopeCtx<'r> {
    pub(super) now_ms: i64,
    pub(super) caller: &'r Caller,
    pub(super) client: Option<&'r str>,
    pub(super) gate: &'r str,
    pub(super) payload: &'r Value,
    pub(super) hold: bool,
}

pub(super) fn resolve_counter<'a>(
    c: &'a Constraint,
    counter: &crate::constraint::Counter,
    namespace: crate::store::KeyPart,
    caveat: bool,
    s: &ScopeCtx<'_>,
) -> std::result::Result<Pending<'a>, String> {
    let agent = match s.caller {
        Caller::Agent(v) => Some(v),
        _ => None,
    };
    let client = || {
        s.client
            .map(|c| CounterKey::client(c).into())
            .ok_or_else(|| "no client key was given for this anonymous caller".to_string())
    };
    // Every part shared where it can be (the gate's namespace, the principal's scope, the
    // constraint's id): building a request's keys allocates nothing for them.
    let none = || CounterKey::shared("");
    let (namespace, scope) = match &counter.scope {
        Scope::Global if !caveat => (CounterKey::shared(CounterKey::GLOBAL), none()),
        Scope::Gate if caveat => (namespace, CounterKey::gate(s.gate).into()),
        Scope::Global | Scope::Gate => (namespace, none()),
        // A caveat's counter belongs to the passport that declared it (so sub-agents share it).
        Scope::Agent | Scope::Passport if caveat => (namespace, none()),
        // The principal (trusted issuer + root agent), never the leaf's self-chosen `sub`.
        Scope::Agent => (
            namespace,
            match agent {
                Some(v) => v.agent_scope.clone(),
                None => client()?,
            },
        ),
        Scope::Passport => (
            namespace,
            match agent {
                Some(v) => CounterKey::passport(&v.passport_id).into(),
                None => client()?,
            },
        ),
        Scope::Client => (namespace, client()?),
        Scope::Field(p) => {
            let values = p.resolve(s.payload);
            let [v] = values.as_slice() else {
                return Err(format!(
                    "scope field {} must name exactly one value",
                    p.as_str()
                ));
            };
            let v = json::canonical_scope_key(v).map_err(|e| e.to_string())?;
            (namespace, CounterKey::field(p.as_str(), &v).into())
        }
    };
    let (amount, need, settle) = match (&counter.kind, &counter.amount) {
        (CounterKind::Spend, Some(field)) => {
            let mut values = field.matches(s.payload).peekable();
            if values.peek().is_none() {
                return Err(format!("field {} is missing", field.as_str()));
            }
            let sum = sum_amounts(values, "a spend amount")
                .map_err(|m| format!("{}: {m}", field.as_str()))?;
            (
                sum,
                sum,
                SettleRule::Actual {
                    field: field.as_str().to_string(),
                },
            )
        }
        // A slot in flight is taken by a hold and given back when it settles; a request without
        // a hold takes none but still needs one free.
        (CounterKind::Concurrency, _) => (
            if s.hold { Decimal::ONE } else { Decimal::ZERO },
            Decimal::ONE,
            SettleRule::Release,
        ),
        _ => (Decimal::ONE, Decimal::ONE, SettleRule::Keep),
    };
    let window = match &counter.window {
        None => WindowKind::Forever,
        Some(w) => match w.calendar {
            Some(cal) => WindowKind::Calendar {
                unit: cal.unit,
                tz: cal.tz,
            },
            None if w.sliding => WindowKind::Sliding { size_ms: w.size_ms },
            None => WindowKind::Fixed { size_ms: w.size_ms },
        },
    };
    // Fail closed on a clock a calendar cannot place (outside years 1–9999).
    window.check_time(s.now_ms).map_err(|e| e.to_string())?;
    let label = match &counter.window {
        Some(w) => std::sync::Arc::clone(&w.per),
        None => {
            static NONE: std::sync::OnceLock<std::sync::Arc<str>> = std::sync::OnceLock::new();
            std::sync::Arc::clone(NONE.get_or_init(|| std::sync::Arc::from("")))
        }
    };
    Ok(Pending {
        constraint: c,
        kind: counter.kind,
        label,
        op: CounterOp {
            key: CounterKey {
                namespace,
                constraint: c.shown.key.clone(),
                scope,
            },
            window,
            amount,
            need,
            max: counter.max,
        },
        settle,
        relaxed: false,
    })
}

/// The sum of the amounts a spend field names (a pointer with `*` may name several): each a
/// decimal, none negative (`what` names them in that message), the sum within range. The error
/// is a message without the field (each caller says where).
pub(super) fn sum_amounts<'v>(
    values: impl IntoIterator<Item = &'v Value>,
    what: &str,
) -> std::result::Result<Decimal, String> {
    let mut sum = Decimal::ZERO;
    for v in values {
        let d = json::to_decimal(v)?;
        if d.is_sign_negative() && !d.is_zero() {
            return Err(format!("{what} cannot be negative ({d})"));
        }
        sum = sum
            .checked_add(d)
            .ok_or_else(|| "sum overflows".to_string())?;
    }
    Ok(sum)
}

/// The scope value of `scope: "agent"` counters for a principal key ([`Principal::key`]).
///
/// [`Principal::key`]: crate::passport::Principal::key
pub fn agent_scope(principal_key: &str) -> String {
    CounterKey::agent(principal_key)
}
