//! `memory:` — the in-process store: one mutex over plain maps. Commits are atomic because they
//! run entirely under that mutex. Records carry an append number (`g`) for keyset paging; the
//! engine prunes them inline (default retention: 100,000 records).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use parking_lot::Mutex;
use rust_decimal::Decimal;

use super::{
    ApprovalRecord, ApprovalState, AttestationFilter, Checkpoint, Commit, CommitOutcome,
    CounterFilter, CounterKey, CounterOp, CounterState, DueHold, HoldOutcome, HoldRecord,
    HoldResolution, HoldState, IdempotencyRecord, Retention, Store, StoredRecord, WindowKind,
    MEMORY_DEFAULT_RECORDS,
};
use crate::error::{Error, Result};

/// The in-process store (the default).
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    counters: HashMap<(CounterKey, WindowKind), Counter>,
    /// Records with their append number, oldest first.
    records: VecDeque<(u64, StoredRecord)>,
    /// The last append number given.
    last_g: u64,
    /// Each chain's newest `seq` (never pruned).
    tails: HashMap<String, u64>,
    /// Each pruned chain's newest checkpoint.
    checkpoints: HashMap<String, Checkpoint>,
    revoked: HashSet<String>,
    idempotency: HashMap<(String, String), IdempotencyRecord>,
    holds: HashMap<String, HoldRecord>,
    /// Open holds by expiry, for `holds_due`.
    open_holds: BTreeSet<(i64, String)>,
    approvals: HashMap<String, ApprovalRecord>,
}

/// A counter's data. Sliding windows keep the admitted amounts with their times (an exact log:
/// approximations such as two-bucket interpolation can over-admit).
#[derive(Debug, Clone)]
enum Counter {
    Total(Decimal),
    Fixed {
        start: i64,
        sum: Decimal,
    },
    Sliding {
        log: VecDeque<(i64, Decimal)>,
        sum: Decimal,
    },
}

impl Counter {
    fn new(window: WindowKind, now_ms: i64) -> Counter {
        match window {
            WindowKind::Forever => Counter::Total(Decimal::ZERO),
            WindowKind::Fixed { .. } => Counter::Fixed {
                start: window.fixed_start(now_ms).unwrap_or(0),
                sum: Decimal::ZERO,
            },
            WindowKind::Sliding { .. } => Counter::Sliding {
                log: VecDeque::new(),
                sum: Decimal::ZERO,
            },
        }
    }

    /// Usage at `now_ms` without modifying anything.
    fn usage(&self, window: WindowKind, now_ms: i64) -> Decimal {
        match (self, window) {
            (Counter::Total(sum), _) => *sum,
            // A window never moves backwards: a request stamped in an earlier window (a skewed
            // engine, a clock step) counts against the stored, later one.
            (Counter::Fixed { start, sum }, w) => {
                if w.fixed_start(now_ms).is_some_and(|s| s <= *start) {
                    *sum
                } else {
                    Decimal::ZERO
                }
            }
            (Counter::Sliding { log, .. }, WindowKind::Sliding { size_ms }) => {
                let from = now_ms.saturating_sub(size_ms);
                log.iter().filter(|(t, _)| *t > from).map(|(_, a)| *a).sum()
            }
            (Counter::Sliding { sum, .. }, _) => *sum,
        }
    }

    /// Drops what has left the window.
    fn roll(&mut self, window: WindowKind, now_ms: i64) {
        match (self, window) {
            (Counter::Fixed { start, sum }, w) => {
                let current = w.fixed_start(now_ms).unwrap_or(*start);
                if current > *start {
                    *start = current;
                    *sum = Decimal::ZERO;
                }
            }
            (Counter::Sliding { log, sum }, WindowKind::Sliding { size_ms }) => {
                let from = now_ms.saturating_sub(size_ms);
                while let Some((t, a)) = log.front().copied() {
                    if t > from {
                        break;
                    }
                    log.pop_front();
                    *sum -= a;
                }
            }
            _ => {}
        }
    }

    /// Changes by `delta` what was counted at `placed_ms`: in that fixed window if it is still
    /// the current one, at that place of a sliding log if it is still inside the window. A
    /// reservation whose window has passed is gone with it; an increase is then counted now.
    fn adjust(
        &mut self,
        window: WindowKind,
        placed_ms: i64,
        delta: Decimal,
        now_ms: i64,
    ) -> Result<()> {
        let overflow = || Error::payload("/", "counter total would overflow");
        self.roll(window, now_ms);
        match (&mut *self, window) {
            (Counter::Total(sum), _) => {
                *sum = (sum.checked_add(delta).ok_or_else(overflow)?).max(Decimal::ZERO)
            }
            (Counter::Fixed { start, sum }, w) => {
                if w.fixed_start(placed_ms) == Some(*start) || delta > Decimal::ZERO {
                    *sum = (sum.checked_add(delta).ok_or_else(overflow)?).max(Decimal::ZERO);
                }
            }
            (Counter::Sliding { log, sum }, WindowKind::Sliding { size_ms }) => {
                let inside = placed_ms > now_ms.saturating_sub(size_ms);
                if inside {
                    let at = log.partition_point(|(t, _)| *t <= placed_ms);
                    log.insert(at, (placed_ms, delta));
                    *sum = sum.checked_add(delta).ok_or_else(overflow)?;
                } else if delta > Decimal::ZERO {
                    let at = log.partition_point(|(t, _)| *t <= now_ms);
                    log.insert(at, (now_ms, delta));
                    *sum = sum.checked_add(delta).ok_or_else(overflow)?;
                }
            }
            (Counter::Sliding { sum, .. }, _) => {
                *sum = sum.checked_add(delta).ok_or_else(overflow)?
            }
        }
        Ok(())
    }

    fn add(&mut self, amount: Decimal, now_ms: i64) -> Result<()> {
        let overflow = || Error::payload("/", "counter total would overflow");
        match self {
            Counter::Total(sum) | Counter::Fixed { sum, .. } => {
                *sum = sum.checked_add(amount).ok_or_else(overflow)?;
            }
            Counter::Sliding { log, sum } => {
                *sum = sum.checked_add(amount).ok_or_else(overflow)?;
                // Kept in time order even if the clock stepped back, so pruning from the front
                // drops exactly what has left the window (as the SQLite and Redis logs do).
                let at = log.partition_point(|(t, _)| *t <= now_ms);
                log.insert(at, (now_ms, amount));
            }
        }
        Ok(())
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl State {
    fn push(&mut self, r: &StoredRecord) {
        self.last_g += 1;
        self.tails.insert(r.chain.clone(), r.seq);
        self.records.push_back((self.last_g, r.clone()));
    }

    fn usage(&self, op: &CounterOp, now_ms: i64) -> Decimal {
        self.counters
            .get(&(op.key.clone(), op.window))
            .map_or(Decimal::ZERO, |c| c.usage(op.window, now_ms))
    }
}

impl Store for MemoryStore {
    fn read(&self, counters: &[CounterOp], now_ms: i64) -> Result<Vec<Decimal>> {
        let state = self.state.lock();
        Ok(counters.iter().map(|op| state.usage(op, now_ms)).collect())
    }

    fn commit(&self, c: &Commit<'_>) -> Result<CommitOutcome> {
        let mut state = self.state.lock();
        if let Some(idem) = c.idempotency {
            let k = (idem.namespace.clone(), idem.key.clone());
            if let Some(existing) = state.idempotency.get(&k) {
                if existing.expires_ms > c.now_ms {
                    return Ok(CommitOutcome::Replay(existing.clone()));
                }
            }
        }
        if let Some(u) = c.use_approval {
            let found = state.approvals.get(u.evaluation_id);
            if !found.is_some_and(|a| u.usable(a, c.now_ms)) {
                let found = found.map_or("unknown", |a| a.state.name());
                return Ok(CommitOutcome::ApprovalUnavailable {
                    state: found.to_string(),
                });
            }
        }
        if c.enforce_bounds {
            let usage: Vec<Decimal> = c
                .counters
                .iter()
                .map(|op| state.usage(op, c.now_ms))
                .collect();
            if c.counters
                .iter()
                .zip(&usage)
                .any(|(op, used)| !op.fits(*used))
            {
                return Ok(CommitOutcome::Rejected { usage });
            }
        }
        // Check every addition first so a failure leaves nothing half-applied.
        let mut updated = Vec::with_capacity(c.counters.len());
        for op in c.counters {
            let key = (op.key.clone(), op.window);
            let mut counter = state
                .counters
                .get(&key)
                .cloned()
                .unwrap_or_else(|| Counter::new(op.window, c.now_ms));
            counter.roll(op.window, c.now_ms);
            counter.add(op.amount, c.now_ms)?;
            updated.push((key, counter));
        }
        state.counters.extend(updated);
        state.push(c.record);
        if let Some(idem) = c.idempotency {
            state
                .idempotency
                .insert((idem.namespace.clone(), idem.key.clone()), idem.clone());
        }
        if let Some(hold) = c.hold {
            state.open_holds.insert((hold.expires_ms, hold.id.clone()));
            state.holds.insert(hold.id.clone(), hold.clone());
        }
        if let Some(a) = c.approval_request {
            state.approvals.insert(a.evaluation_id.clone(), a.clone());
        }
        if let Some(u) = c.use_approval {
            if let Some(a) = state.approvals.get_mut(u.evaluation_id) {
                a.state = ApprovalState::Used {
                    token_id: u.token_id.to_string(),
                };
            }
        }
        Ok(CommitOutcome::Committed)
    }

    fn append(&self, record: &StoredRecord) -> Result<()> {
        self.state.lock().push(record);
        Ok(())
    }

    fn idempotency_get(
        &self,
        namespace: &str,
        key: &str,
        now_ms: i64,
    ) -> Result<Option<IdempotencyRecord>> {
        let state = self.state.lock();
        let found = state
            .idempotency
            .get(&(namespace.to_string(), key.to_string()));
        Ok(found.filter(|r| r.expires_ms > now_ms).cloned())
    }

    fn revoke(&self, passport_id: &str, _now_ms: i64) -> Result<()> {
        self.state.lock().revoked.insert(passport_id.to_string());
        Ok(())
    }

    fn first_revoked(&self, ids: &[&str]) -> Result<Option<String>> {
        let state = self.state.lock();
        Ok(ids
            .iter()
            .find(|id| state.revoked.contains(**id))
            .map(|id| id.to_string()))
    }

    fn attestations(&self, filter: &AttestationFilter) -> Result<Vec<StoredRecord>> {
        let state = self.state.lock();
        let matching = state.records.iter().filter(|(_, r)| filter.matches(r));
        Ok(matching
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(|(_, r)| r.clone())
            .collect())
    }

    fn attestations_page(
        &self,
        filter: &AttestationFilter,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<StoredRecord>, Option<u64>)> {
        let state = self.state.lock();
        let from = state.records.partition_point(|(g, _)| *g <= after);
        let mut out = Vec::new();
        let mut last = None;
        for (g, r) in state.records.range(from..) {
            if !filter.matches(r) {
                continue;
            }
            if out.len() == limit {
                // One more matches: there is a next page.
                return Ok((out, last));
            }
            out.push(r.clone());
            last = Some(*g);
        }
        Ok((out, None))
    }

    fn chain_tail(&self, chain: &str) -> Result<Option<StoredRecord>> {
        let state = self.state.lock();
        let Some(seq) = state.tails.get(chain).copied() else {
            return Ok(None);
        };
        Ok(state
            .records
            .iter()
            .rev()
            .find(|(_, r)| r.chain == chain && r.seq == seq)
            .map(|(_, r)| r.clone()))
    }

    fn prune_due(
        &self,
        retention: &Retention,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<StoredRecord>> {
        let state = self.state.lock();
        let total = u64::try_from(state.records.len()).unwrap_or(u64::MAX);
        let excess = retention.max_records.map_or(0, |m| total.saturating_sub(m));
        let cutoff = retention.cutoff_ms(now_ms);
        let mut out = Vec::new();
        for (_, r) in &state.records {
            if out.len() >= limit {
                break;
            }
            if state.tails.get(&r.chain) == Some(&r.seq) {
                continue;
            }
            let by_count = u64::try_from(out.len()).unwrap_or(u64::MAX) < excess;
            if !(by_count || cutoff.is_some_and(|c| r.time_ms < c)) {
                break;
            }
            out.push(r.clone());
        }
        Ok(out)
    }

    fn prune_prefix(&self, cp: &Checkpoint) -> Result<usize> {
        let mut state = self.state.lock();
        let stored = state.checkpoints.get(&cp.chain).map_or(0, |c| c.seq);
        if cp.seq <= stored {
            return Ok(0);
        }
        if state.tails.get(&cp.chain).is_none_or(|t| *t <= cp.seq) {
            return Err(Error::InvalidArgument(format!(
                "chain {}: a checkpoint at seq {} would prune the chain's newest record",
                cp.chain, cp.seq
            )));
        }
        // The chain's records up to the checkpoint lie in the oldest part of the log: take them
        // out from the front, putting back what belongs to other chains.
        let mut others = Vec::new();
        let mut removed = 0usize;
        while let Some((g, r)) = state.records.pop_front() {
            if r.chain == cp.chain {
                if r.seq > cp.seq {
                    others.push((g, r));
                    break;
                }
                removed += 1;
                if r.seq == cp.seq {
                    break;
                }
            } else {
                others.push((g, r));
            }
        }
        for entry in others.into_iter().rev() {
            state.records.push_front(entry);
        }
        state.checkpoints.insert(cp.chain.clone(), cp.clone());
        Ok(removed)
    }

    fn checkpoint(&self, chain: &str) -> Result<Option<Checkpoint>> {
        Ok(self.state.lock().checkpoints.get(chain).cloned())
    }

    fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let state = self.state.lock();
        let mut out: Vec<Checkpoint> = state.checkpoints.values().cloned().collect();
        out.sort_by(|a, b| a.chain.cmp(&b.chain));
        Ok(out)
    }

    fn prune_closed(&self, before_ms: i64, limit: usize) -> Result<usize> {
        let mut state = self.state.lock();
        let holds: Vec<String> = state
            .holds
            .values()
            .filter(|h| h.state != HoldState::Open && h.expires_ms < before_ms)
            .take(limit)
            .map(|h| h.id.clone())
            .collect();
        for id in &holds {
            state.holds.remove(id);
        }
        let approvals: Vec<String> = state
            .approvals
            .values()
            .filter(|a| approval_done_before(a) < before_ms)
            .take(limit.saturating_sub(holds.len()))
            .map(|a| a.evaluation_id.clone())
            .collect();
        for id in &approvals {
            state.approvals.remove(id);
        }
        Ok(holds.len() + approvals.len())
    }

    fn default_retention(&self) -> Retention {
        Retention {
            max_age_ms: None,
            max_records: Some(MEMORY_DEFAULT_RECORDS),
        }
    }

    fn prunes_inline(&self) -> bool {
        true
    }

    fn counters(&self, filter: &CounterFilter, now_ms: i64) -> Result<Vec<CounterState>> {
        let state = self.state.lock();
        let mut out: Vec<CounterState> = state
            .counters
            .iter()
            .filter(|((k, _), _)| filter.matches(k))
            .map(|((key, window), c)| CounterState {
                key: key.clone(),
                window: *window,
                used: c.usage(*window, now_ms),
                window_start_ms: window.fixed_start(now_ms),
            })
            .collect();
        out.sort_by(|a, b| (&a.key, a.window).cmp(&(&b.key, b.window)));
        Ok(out)
    }

    fn reset_counters(&self, filter: &CounterFilter) -> Result<usize> {
        let mut state = self.state.lock();
        let before = state.counters.len();
        state.counters.retain(|(k, _), _| !filter.matches(k));
        Ok(before - state.counters.len())
    }

    fn hold_get(&self, id: &str) -> Result<Option<HoldRecord>> {
        Ok(self.state.lock().holds.get(id).cloned())
    }

    fn hold_resolve(&self, r: &HoldResolution<'_>) -> Result<HoldOutcome> {
        let mut state = self.state.lock();
        let Some(hold) = state.holds.get(r.hold_id).cloned() else {
            return Ok(HoldOutcome::Unknown);
        };
        if hold.state != HoldState::Open {
            return Ok(HoldOutcome::NotOpen(hold.state));
        }
        if r.amounts.len() != hold.ops.len() {
            return Err(Error::Internal(format!(
                "hold {} has {} counters, {} amounts given",
                hold.id,
                hold.ops.len(),
                r.amounts.len()
            )));
        }
        // An amount above its reservation must still fit under the bound.
        let usage: Vec<Decimal> = hold
            .ops
            .iter()
            .map(|h| state.usage(&h.op, r.now_ms))
            .collect();
        let over = hold
            .ops
            .iter()
            .zip(r.amounts)
            .zip(&usage)
            .any(|((h, new), used)| {
                let delta = *new - h.op.amount;
                delta > Decimal::ZERO && used.checked_add(delta).is_none_or(|t| t > h.op.max)
            });
        if over && r.enforce_bounds {
            return Ok(HoldOutcome::Rejected { usage });
        }
        // Adjusted copies first (all or nothing on overflow), one running copy per counter: two
        // ops of a hold on one counter both land.
        let mut updated: HashMap<(CounterKey, WindowKind), Counter> = HashMap::new();
        for (h, new) in hold.ops.iter().zip(r.amounts) {
            let key = (h.op.key.clone(), h.op.window);
            let counter = match updated.remove(&key) {
                Some(c) => c,
                None => match state.counters.get(&key) {
                    Some(c) => c.clone(),
                    None => continue,
                },
            };
            let mut counter = counter;
            counter.adjust(h.op.window, hold.created_ms, *new - h.op.amount, r.now_ms)?;
            updated.insert(key, counter);
        }
        state.counters.extend(updated);
        state.open_holds.remove(&(hold.expires_ms, hold.id.clone()));
        if let Some(h) = state.holds.get_mut(r.hold_id) {
            h.state = r.state;
        }
        state.push(r.record);
        Ok(HoldOutcome::Resolved)
    }

    fn holds_due(&self, now_ms: i64, limit: usize) -> Result<Vec<DueHold>> {
        let state = self.state.lock();
        Ok(state
            .open_holds
            .iter()
            .take_while(|(expires, _)| *expires <= now_ms)
            .take(limit)
            .map(|(_, id)| match state.holds.get(id) {
                Some(h) => DueHold::Hold(h.clone()),
                None => DueHold::Unreadable {
                    id: id.clone(),
                    reason: "listed as open but not stored".into(),
                },
            })
            .collect())
    }

    fn hold_quarantine(&self, id: &str) -> Result<bool> {
        let mut state = self.state.lock();
        let listed: Vec<(i64, String)> = state
            .open_holds
            .iter()
            .filter(|(_, h)| h == id)
            .cloned()
            .collect();
        for k in &listed {
            state.open_holds.remove(k);
        }
        Ok(!listed.is_empty())
    }

    fn approval_get(&self, evaluation_id: &str) -> Result<Option<ApprovalRecord>> {
        Ok(self.state.lock().approvals.get(evaluation_id).cloned())
    }

    fn approval_resolve(
        &self,
        evaluation_id: &str,
        to: &ApprovalState,
        record: &StoredRecord,
    ) -> Result<Option<ApprovalState>> {
        let mut state = self.state.lock();
        let Some(a) = state.approvals.get_mut(evaluation_id) else {
            return Ok(None);
        };
        let found = a.state.clone();
        if found == ApprovalState::Pending {
            a.state = to.clone();
            state.push(record);
        }
        Ok(Some(found))
    }
}

/// When an approval stops mattering: its request can no longer be approved and any token it
/// gave has expired (SQLite stores the same value in a column).
pub(crate) fn approval_done_before(a: &ApprovalRecord) -> i64 {
    match &a.state {
        ApprovalState::Approved { expires_ms, .. } => a.expires_ms.max(*expires_ms),
        _ => a.expires_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{CounterKey, CounterOp};

    /// Found by the SQLite/memory differential test: after the clock steps back, the sliding log
    /// stays in time order, so both backends prune exactly the same entries.
    #[test]
    fn sliding_log_stays_ordered_when_the_clock_steps_back() {
        let window = WindowKind::Sliding { size_ms: 60_000 };
        let op = |amount: i64| CounterOp {
            key: CounterKey {
                namespace: "n".into(),
                constraint: "c".into(),
                scope: "s".into(),
            },
            window,
            amount: Decimal::from(amount),
            need: Decimal::from(amount),
            max: Decimal::from(100),
        };
        let mut c = Counter::new(window, 0);
        for (t, a) in [(100_000, 1), (96_823, 2), (156_823, 0)] {
            c.roll(window, t);
            c.add(op(a).amount, t).unwrap();
        }
        // At 156_823 everything at or before 96_823 left the window (and was dropped); 8 ms
        // earlier it is still gone, as in SQLite.
        assert_eq!(c.usage(window, 156_815), Decimal::from(1));
    }
}
