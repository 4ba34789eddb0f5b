//! Counters in SQLite, with the memory store's semantics exactly: a fixed window counts the
//! aligned window of its `start_ms`; a sliding window keeps a log of (time, amount) entries whose
//! sum is `total` (exact up to `MAX_SLIDING_LOG` entries, then merged oldest first: store docs,
//! "Windows"); a hold adjustment lands in the window it was counted in. A calendar window is a
//! fixed window whose bounds come from [`WindowKind::bounds`].
//!
//! Every function here runs inside the caller's transaction.

use rusqlite::{params, OptionalExtension, Transaction};
use rust_decimal::Decimal;

use super::{db_err, parse_decimal};
use crate::calendar::{calendar_from_id, calendar_id};
use crate::error::{Error, Result};
use crate::store::{CounterKey, CounterOp, WindowKind, MAX_SLIDING_LOG};

/// A counter's row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub start: Option<i64>,
    pub total: Decimal,
}

/// `(kind, size_ms)` as stored. A calendar window is kind 3 with its [`calendar_id`] in
/// `size_ms`, so windows of different units or zones never share a row.
pub fn window_cols(w: WindowKind) -> (i64, i64) {
    match w {
        WindowKind::Forever => (0, 0),
        WindowKind::Fixed { size_ms } => (1, size_ms),
        WindowKind::Sliding { size_ms } => (2, size_ms),
        WindowKind::Calendar { unit, tz } => (3, calendar_id(unit, tz)),
    }
}

/// The window of stored `(kind, size_ms)`.
pub fn window_of(kind: i64, size_ms: i64) -> Result<WindowKind> {
    Ok(match kind {
        0 => WindowKind::Forever,
        1 => WindowKind::Fixed { size_ms },
        2 => WindowKind::Sliding { size_ms },
        3 => calendar_of(size_ms).ok_or_else(|| {
            Error::StoreUnavailable(format!(
                "stored calendar window {size_ms} names no time zone this passgate knows \
                 (written by a build with a newer time zone database?)"
            ))
        })?,
        other => return Err(Error::Internal(format!("stored window kind {other}"))),
    })
}

/// The calendar window of a stored kind-3 row's `size_ms`.
fn calendar_of(id: i64) -> Option<WindowKind> {
    calendar_from_id(id).map(|c| WindowKind::Calendar {
        unit: c.unit,
        tz: c.tz,
    })
}

fn overflow() -> Error {
    Error::payload("/", "counter total would overflow")
}

pub struct Counters<'t, 'c> {
    pub tx: &'t Transaction<'c>,
    pub path: &'t str,
}

impl Counters<'_, '_> {
    pub fn find(&self, key: &CounterKey, window: WindowKind) -> Result<Option<Row>> {
        let (kind, size) = window_cols(window);
        let mut stmt = self
            .tx
            .prepare_cached(
                "SELECT id, start_ms, total FROM counters WHERE namespace = ?1 \
                 AND constraint_id = ?2 AND scope = ?3 AND kind = ?4 AND size_ms = ?5",
            )
            .map_err(|e| db_err(self.path, e))?;
        let row = stmt
            .query_row(
                params![key.namespace, key.constraint, key.scope, kind, size],
                |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get::<_, String>(2)?)),
            )
            .optional()
            .map_err(|e| db_err(self.path, e))?;
        row.map(|(id, start, total)| {
            Ok(Row {
                id,
                start,
                total: parse_decimal(&total)?,
            })
        })
        .transpose()
    }

    fn create(&self, key: &CounterKey, window: WindowKind, now_ms: i64) -> Result<Row> {
        let (kind, size) = window_cols(window);
        let start = window.fixed_start(now_ms);
        self.tx
            .prepare_cached(
                "INSERT INTO counters (namespace, constraint_id, scope, kind, size_ms, start_ms, total) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, '0')",
            )
            .and_then(|mut s| {
                s.execute(params![key.namespace, key.constraint, key.scope, kind, size, start])
            })
            .map_err(|e| db_err(self.path, e))?;
        Ok(Row {
            id: self.tx.last_insert_rowid(),
            start,
            total: Decimal::ZERO,
        })
    }

    /// Sum of the log entries of `row` at or before `until_ms` (they have left the window).
    fn log_sum_until(&self, row: &Row, until_ms: i64) -> Result<Decimal> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT amount FROM counter_log WHERE counter = ?1 AND time_ms <= ?2")
            .map_err(|e| db_err(self.path, e))?;
        let amounts = stmt
            .query_map(params![row.id, until_ms], |r| r.get::<_, String>(0))
            .map_err(|e| db_err(self.path, e))?;
        let mut sum = Decimal::ZERO;
        for a in amounts {
            let a = parse_decimal(&a.map_err(|e| db_err(self.path, e))?)?;
            sum = sum.checked_add(a).ok_or_else(overflow)?;
        }
        Ok(sum)
    }

    /// Usage at `now_ms`, changing nothing.
    pub fn usage(&self, row: Option<&Row>, window: WindowKind, now_ms: i64) -> Result<Decimal> {
        let Some(row) = row else {
            return Ok(Decimal::ZERO);
        };
        Ok(match window {
            WindowKind::Forever => row.total,
            // A window never moves backwards: an earlier window's request counts against the
            // stored, later one.
            WindowKind::Fixed { .. } | WindowKind::Calendar { .. }
                if window.fixed_start(now_ms) <= row.start =>
            {
                row.total
            }
            WindowKind::Fixed { .. } | WindowKind::Calendar { .. } => Decimal::ZERO,
            WindowKind::Sliding { size_ms } => {
                let gone = self.log_sum_until(row, now_ms.saturating_sub(size_ms))?;
                row.total.checked_sub(gone).ok_or_else(overflow)?
            }
        })
    }

    pub fn usage_of(&self, op: &CounterOp, now_ms: i64) -> Result<Decimal> {
        let row = self.find(&op.key, op.window)?;
        self.usage(row.as_ref(), op.window, now_ms)
    }

    /// Drops what has left the window.
    fn roll(&self, row: &mut Row, window: WindowKind, now_ms: i64) -> Result<()> {
        match window {
            WindowKind::Forever => {}
            WindowKind::Fixed { .. } | WindowKind::Calendar { .. } => {
                let current = window.fixed_start(now_ms);
                if current > row.start {
                    row.start = current;
                    row.total = Decimal::ZERO;
                }
            }
            WindowKind::Sliding { size_ms } => {
                let from = now_ms.saturating_sub(size_ms);
                let gone = self.log_sum_until(row, from)?;
                if !gone.is_zero() {
                    row.total = row.total.checked_sub(gone).ok_or_else(overflow)?;
                }
                self.tx
                    .prepare_cached("DELETE FROM counter_log WHERE counter = ?1 AND time_ms <= ?2")
                    .and_then(|mut s| s.execute(params![row.id, from]))
                    .map_err(|e| db_err(self.path, e))?;
            }
        }
        Ok(())
    }

    /// Puts `(time_ms, amount)` into the counter's sliding log with the memory store's rule
    /// (store docs, "Windows"): a zero amount is not logged; an amount at the millisecond of an
    /// entry already there joins it; past [`MAX_SLIDING_LOG`] entries the oldest merge into the
    /// next-oldest (see [`Counters::cap_log`]).
    fn log(&self, row: &Row, time_ms: i64, amount: Decimal) -> Result<()> {
        if amount.is_zero() {
            return Ok(());
        }
        let same: Option<(i64, String)> = self
            .tx
            .prepare_cached(
                "SELECT id, amount FROM counter_log WHERE counter = ?1 AND time_ms = ?2 \
                 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| {
                s.query_row(params![row.id, time_ms], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| db_err(self.path, e))?;
        let joined = match same {
            Some((id, a)) => parse_decimal(&a)?.checked_add(amount).map(|sum| (id, sum)),
            None => None,
        };
        match joined {
            // The log did not grow: it is within the bound already.
            Some((id, sum)) => return self.set_log_amount(id, sum),
            // No entry at that millisecond (or amounts too large to join: a second entry, never
            // a lost amount, as in memory).
            None => self
                .tx
                .prepare_cached(
                    "INSERT INTO counter_log (counter, time_ms, amount) VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![row.id, time_ms, amount.to_string()]))
                .map(drop)
                .map_err(|e| db_err(self.path, e))?,
        }
        self.cap_log(row)
    }

    fn set_log_amount(&self, id: i64, amount: Decimal) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE counter_log SET amount = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id, amount.to_string()]))
            .map_err(|e| db_err(self.path, e))?;
        Ok(())
    }

    /// Keeps the log at most [`MAX_SLIDING_LOG`] entries: the oldest (by time, then insertion)
    /// merge one by one into the next-oldest, which keeps its later time and takes their sum —
    /// the memory store's pairwise merges, done in one pass. `total` is unchanged (nothing is
    /// lost); usage can only be over-stated by an amount leaving the window later.
    fn cap_log(&self, row: &Row) -> Result<()> {
        let len: i64 = self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM counter_log WHERE counter = ?1")
            .and_then(|mut s| s.query_row(params![row.id], |r| r.get(0)))
            .map_err(|e| db_err(self.path, e))?;
        let max = i64::try_from(MAX_SLIDING_LOG).unwrap_or(i64::MAX);
        let excess = len.saturating_sub(max);
        if excess <= 0 {
            return Ok(());
        }
        let oldest: Vec<(i64, String)> = {
            let mut stmt = self
                .tx
                .prepare_cached(
                    "SELECT id, amount FROM counter_log WHERE counter = ?1 \
                     ORDER BY time_ms, id LIMIT ?2",
                )
                .map_err(|e| db_err(self.path, e))?;
            let rows = stmt
                .query_map(params![row.id, excess.saturating_add(1)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(|e| db_err(self.path, e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| db_err(self.path, e))?
        };
        let mut entries = oldest.into_iter();
        let Some((mut into, first)) = entries.next() else {
            return Ok(());
        };
        let mut acc = parse_decimal(&first)?;
        let mut merged = false;
        for (id, a) in entries {
            // Amounts too large to merge: stop (an over-long log, never a lost amount).
            let Some(sum) = parse_decimal(&a)?.checked_add(acc) else {
                break;
            };
            self.tx
                .prepare_cached("DELETE FROM counter_log WHERE id = ?1")
                .and_then(|mut s| s.execute(params![into]))
                .map_err(|e| db_err(self.path, e))?;
            (into, acc, merged) = (id, sum, true);
        }
        if merged {
            self.set_log_amount(into, acc)?;
        }
        Ok(())
    }

    fn save(&self, row: &Row) -> Result<()> {
        self.tx
            .prepare_cached("UPDATE counters SET start_ms = ?2, total = ?3 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![row.id, row.start, row.total.to_string()]))
            .map_err(|e| db_err(self.path, e))?;
        Ok(())
    }

    /// Rolls the counter of `op` (creating it) and adds the op's amount.
    pub fn add(&self, op: &CounterOp, now_ms: i64) -> Result<()> {
        let mut row = match self.find(&op.key, op.window)? {
            Some(r) => r,
            None => self.create(&op.key, op.window, now_ms)?,
        };
        self.roll(&mut row, op.window, now_ms)?;
        row.total = row.total.checked_add(op.amount).ok_or_else(overflow)?;
        if matches!(op.window, WindowKind::Sliding { .. }) {
            self.log(&row, now_ms, op.amount)?;
        }
        self.save(&row)
    }

    /// Changes by `delta` what was counted at `placed_ms` (see `MemoryStore`): in that fixed window
    /// if it is still the current one, at that place of a sliding log if it is still inside the
    /// window; an increase whose window has passed is counted now. A counter that no longer
    /// exists (reset) is left alone.
    pub fn adjust(
        &self,
        op: &CounterOp,
        placed_ms: i64,
        delta: Decimal,
        now_ms: i64,
    ) -> Result<()> {
        let Some(mut row) = self.find(&op.key, op.window)? else {
            return Ok(());
        };
        self.roll(&mut row, op.window, now_ms)?;
        let positive = delta > Decimal::ZERO;
        let clamp = |t: Decimal| t.max(Decimal::ZERO);
        match op.window {
            WindowKind::Forever => {
                row.total = clamp(row.total.checked_add(delta).ok_or_else(overflow)?);
            }
            WindowKind::Fixed { .. } | WindowKind::Calendar { .. } => {
                if op.window.fixed_start(placed_ms) == row.start || positive {
                    row.total = clamp(row.total.checked_add(delta).ok_or_else(overflow)?);
                }
            }
            WindowKind::Sliding { size_ms } => {
                let inside = placed_ms > now_ms.saturating_sub(size_ms);
                if inside || positive {
                    row.total = row.total.checked_add(delta).ok_or_else(overflow)?;
                    self.log(&row, if inside { placed_ms } else { now_ms }, delta)?;
                }
            }
        }
        self.save(&row)
    }
}

/// A counter key's part is bound and read as the text it is.
impl rusqlite::types::ToSql for crate::store::KeyPart {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
    }
}

impl rusqlite::types::FromSql for crate::store::KeyPart {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str().map(crate::store::KeyPart::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{CalendarUnit, Zone};

    #[test]
    fn calendar_ids_are_distinct_stable_and_read_back() {
        let mut seen = std::collections::HashSet::new();
        for tz in chrono_tz::TZ_VARIANTS {
            for unit in CalendarUnit::ALL {
                let w = WindowKind::Calendar { unit, tz: Zone(tz) };
                let (kind, size) = window_cols(w);
                assert_eq!(kind, 3);
                assert!((0..1 << 42).contains(&size), "{size}");
                assert!(seen.insert(size), "two calendar windows share id {size}");
                assert_eq!(window_of(kind, size).unwrap(), w);
            }
        }
        // Pinned: the id is part of the database format (a new build must find old rows).
        let berlin: Zone = "Europe/Berlin".parse().unwrap();
        let utc = Zone::UTC;
        assert_eq!(
            [
                calendar_id(CalendarUnit::Day, utc),
                calendar_id(CalendarUnit::Week, berlin),
                calendar_id(CalendarUnit::Month, berlin),
            ],
            [CAL_UTC_DAY, CAL_BERLIN_WEEK, CAL_BERLIN_MONTH]
        );
        // A row naming a zone this build does not know is an error, not a guess.
        let err = window_of(3, (1 << 42) - 1).unwrap_err();
        assert_eq!(err.code(), "STORE_UNAVAILABLE");
        // The existing kinds read as before.
        assert_eq!(
            window_of(1, 86_400_000).unwrap(),
            WindowKind::Fixed {
                size_ms: 86_400_000
            }
        );
        assert_eq!(window_of(0, 0).unwrap(), WindowKind::Forever);
    }

    const CAL_UTC_DAY: i64 = 542_767_499_594;
    const CAL_BERLIN_WEEK: i64 = 1_760_680_076_313;
    const CAL_BERLIN_MONTH: i64 = 2_860_191_704_089;
}
