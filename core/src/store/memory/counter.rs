//! A counter's data in the memory store.

use std::collections::VecDeque;

use rust_decimal::Decimal;

use crate::error::{Error, Result};
use crate::store::WindowKind;

/// At most this many entries in one sliding log ([`crate::store::MAX_SLIDING_LOG`], the same on
/// every backend). Past it, the two oldest entries merge into the later one's time: the earlier
/// amount then leaves the window a little later than it would, so usage can only be
/// over-stated, never under-stated (a cap still holds), and a counter's memory stays bounded
/// whatever the traffic.
pub(super) const MAX_LOG: usize = crate::store::MAX_SLIDING_LOG;

/// A counter's data. Sliding windows keep the admitted amounts with their times (an exact log up
/// to [`MAX_LOG`] entries: approximations such as two-bucket interpolation can over-admit).
#[derive(Debug, Clone)]
pub(super) enum Counter {
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

fn overflow() -> Error {
    Error::payload("/", "counter total would overflow")
}

impl Counter {
    pub(super) fn new(window: WindowKind, now_ms: i64) -> Counter {
        match window {
            WindowKind::Forever => Counter::Total(Decimal::ZERO),
            WindowKind::Fixed { .. } | WindowKind::Calendar { .. } => Counter::Fixed {
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
    pub(super) fn usage(&self, window: WindowKind, now_ms: i64) -> Decimal {
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

    /// Entries in a sliding log (`None`: not a sliding counter).
    pub(super) fn log_len(&self) -> Option<usize> {
        match self {
            Counter::Sliding { log, .. } => Some(log.len()),
            _ => None,
        }
    }

    /// After this time the counter reads zero for every request (`None`: never). The store keeps
    /// it a grace period longer (see `GRACE_MS` in the parent module).
    pub(super) fn idle_from(&self, window: WindowKind) -> Option<i64> {
        match (self, window) {
            (Counter::Total(_), _) => None,
            (Counter::Fixed { start, .. }, WindowKind::Fixed { size_ms }) => {
                Some(start.saturating_add(size_ms))
            }
            // The end of the stored calendar window (kept, not pruned, if it cannot be computed).
            (Counter::Fixed { start, .. }, w @ WindowKind::Calendar { .. }) => {
                w.bounds(*start).map(|(_, end)| end)
            }
            (Counter::Sliding { log, .. }, WindowKind::Sliding { size_ms }) => {
                let last = log.back().map_or(i64::MIN, |(t, _)| *t);
                Some(last.saturating_add(size_ms))
            }
            _ => None,
        }
    }

    /// Drops what has left the window.
    pub(super) fn roll(&mut self, window: WindowKind, now_ms: i64) {
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
    pub(super) fn adjust(
        &mut self,
        window: WindowKind,
        placed_ms: i64,
        delta: Decimal,
        now_ms: i64,
    ) -> Result<()> {
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
                    log_insert(log, placed_ms, delta);
                    *sum = sum.checked_add(delta).ok_or_else(overflow)?;
                } else if delta > Decimal::ZERO {
                    log_insert(log, now_ms, delta);
                    *sum = sum.checked_add(delta).ok_or_else(overflow)?;
                }
            }
            (Counter::Sliding { sum, .. }, _) => {
                *sum = sum.checked_add(delta).ok_or_else(overflow)?
            }
        }
        Ok(())
    }

    pub(super) fn add(&mut self, amount: Decimal, now_ms: i64) -> Result<()> {
        match self {
            Counter::Total(sum) | Counter::Fixed { sum, .. } => {
                *sum = sum.checked_add(amount).ok_or_else(overflow)?;
            }
            Counter::Sliding { log, sum } => {
                *sum = sum.checked_add(amount).ok_or_else(overflow)?;
                log_insert(log, now_ms, amount);
            }
        }
        Ok(())
    }
}

/// Puts `(t, amount)` into a sliding log, kept in time order even if the clock stepped back (so
/// pruning from the front drops exactly what has left the window, as the SQLite and Redis logs
/// do). A zero amount adds nothing and is not logged; an amount at the time of the entry before
/// it joins that entry; past [`MAX_LOG`] entries the two oldest merge (see there).
fn log_insert(log: &mut VecDeque<(i64, Decimal)>, t: i64, amount: Decimal) {
    if amount.is_zero() {
        return;
    }
    let at = log.partition_point(|(x, _)| *x <= t);
    match at.checked_sub(1).and_then(|i| log.get_mut(i)) {
        Some((x, a)) if *x == t => match a.checked_add(amount) {
            Some(sum) => *a = sum,
            None => log.insert(at, (t, amount)),
        },
        _ => log.insert(at, (t, amount)),
    }
    while log.len() > MAX_LOG {
        let Some((ta, a)) = log.pop_front() else {
            break;
        };
        match log.front_mut().map(|(_, b)| (b.checked_add(a), b)) {
            Some((Some(sum), b)) => *b = sum,
            // Amounts too large to merge: keep the entry (an over-long log, never a lost amount).
            _ => {
                log.push_front((ta, a));
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the SQLite/memory differential test: after the clock steps back, the sliding log
    /// stays in time order, so both backends prune exactly the same entries.
    #[test]
    fn sliding_log_stays_ordered_when_the_clock_steps_back() {
        let window = WindowKind::Sliding { size_ms: 60_000 };
        let mut c = Counter::new(window, 0);
        for (t, a) in [(100_000, 1), (96_823, 2), (156_823, 0)] {
            c.roll(window, t);
            c.add(Decimal::from(a), t).unwrap();
        }
        // At 156_823 everything at or before 96_823 left the window (and was dropped); 8 ms
        // earlier it is still gone, as in SQLite.
        assert_eq!(c.usage(window, 156_815), Decimal::from(1));
    }

    fn log_len(c: &Counter) -> usize {
        match c {
            Counter::Sliding { log, .. } => log.len(),
            _ => 0,
        }
    }

    /// Zero amounts are not logged, one millisecond's amounts share an entry, and a log never
    /// passes `MAX_LOG` entries — while usage is never under-stated.
    #[test]
    fn sliding_logs_stay_bounded_and_never_under_count() {
        let window = WindowKind::Sliding { size_ms: 1_000_000 };
        let mut c = Counter::new(window, 0);
        c.add(Decimal::ZERO, 5).unwrap();
        assert_eq!(log_len(&c), 0);
        c.add(Decimal::ONE, 5).unwrap();
        c.add(Decimal::ONE, 5).unwrap();
        assert_eq!(log_len(&c), 1);
        for t in 6..(6 + 10 * MAX_LOG as i64) {
            c.roll(window, t);
            c.add(Decimal::ONE, t).unwrap();
        }
        assert_eq!(log_len(&c), MAX_LOG);
        let now = 6 + 10 * MAX_LOG as i64;
        // Exact usage would be every call in the last 1,000,000 ms: all of them.
        let exact = Decimal::from(2 + 10 * MAX_LOG as i64);
        assert_eq!(c.usage(window, now), exact);
        // Later, when the oldest calls have left the window, the merged log may over-state what
        // is left but never under-state it.
        let later = 1_000_000 + 5_000;
        let exact_later = Decimal::from((6 + 10 * MAX_LOG as i64) - (later - 1_000_000 + 1));
        assert!(c.usage(window, later) >= exact_later);
    }
}
