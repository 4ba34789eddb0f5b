//! Calendar windows: a counter that resets at local midnight (`day`), on Monday (`week`) or on the
//! 1st (`month`) in an IANA time zone, next to the rolling durations (`1d` is a UTC day, `7d` an
//! epoch-aligned week that starts on a Thursday).
//!
//! A window is the half-open interval `[start, end)` of epoch milliseconds from the first instant
//! of its local start date to the first instant of the next one. The zone rules come from
//! `chrono-tz`, so daylight saving time is honoured: a local day lasts 23, 24 or 25 hours, and in
//! a zone whose clocks skip midnight (São Paulo until 2019, Havana, Beirut, …) the day starts at
//! the first instant that has that local date — the end of the gap. The windows of one zone and
//! unit tile the timeline: every instant is in exactly one, and they never overlap, even where a
//! clock set back across midnight shows an earlier date again (that instant belongs to the window
//! that has already begun).
//!
//! Bounds are computed for instants from year 1 to year 9999 (UTC); outside that, [`bounds`]
//! answers `None` and the engine fails the counter's check rather than guess.
//!
//! ```
//! use passgate::__private::calendar::{bounds, CalendarUnit, Zone};
//! let berlin: Zone = "Europe/Berlin".parse().unwrap();
//! // 2024-03-31 is 23 hours long in Berlin (clocks go 02:00 -> 03:00).
//! let noon = 1_711_882_800_000; // 2024-03-31T11:00:00Z
//! let (start, end) = bounds(CalendarUnit::Day, berlin, noon).unwrap();
//! assert_eq!(start, 1_711_839_600_000); // 2024-03-30T23:00:00Z = 00:00 CET
//! assert_eq!(end - start, 23 * 3_600_000);
//! ```

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{DateTime, Datelike, Days, LocalResult, Months, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The earliest instant a calendar window is computed for: 0001-01-01T00:00:00Z.
pub const MIN_MS: i64 = -62_135_596_800_000;
/// The latest instant a calendar window is computed for: 9999-12-31T23:59:59.999Z.
pub const MAX_MS: i64 = 253_402_300_799_999;

/// How long a calendar window lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalendarUnit {
    /// From local midnight to the next.
    Day,
    /// From Monday's local midnight to the next Monday's (ISO 8601 weeks).
    Week,
    /// From the 1st's local midnight to the next month's 1st.
    Month,
}

impl CalendarUnit {
    /// Every unit, in order.
    pub const ALL: [CalendarUnit; 3] = [CalendarUnit::Day, CalendarUnit::Week, CalendarUnit::Month];

    /// The name used in policies and JSON: `day`, `week`, `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            CalendarUnit::Day => "day",
            CalendarUnit::Week => "week",
            CalendarUnit::Month => "month",
        }
    }

    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Option<CalendarUnit> {
        CalendarUnit::ALL.into_iter().find(|u| u.as_str() == s)
    }

    /// The first local date of the window holding `date`.
    fn period_start(self, date: NaiveDate) -> Option<NaiveDate> {
        match self {
            CalendarUnit::Day => Some(date),
            CalendarUnit::Week => {
                date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday())))
            }
            CalendarUnit::Month => date.with_day(1),
        }
    }

    /// The first local date of the window after the one starting on `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            CalendarUnit::Day => start.checked_add_days(Days::new(1)),
            CalendarUnit::Week => start.checked_add_days(Days::new(7)),
            CalendarUnit::Month => start.checked_add_months(Months::new(1)),
        }
    }

    /// The first local date of the window before the one starting on `start`.
    fn prev(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            CalendarUnit::Day => start.checked_sub_days(Days::new(1)),
            CalendarUnit::Week => start.checked_sub_days(Days::new(7)),
            CalendarUnit::Month => start.checked_sub_months(Months::new(1)),
        }
    }
}

impl fmt::Display for CalendarUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An IANA time zone (`chrono_tz::Tz`), serialized by its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Zone(pub Tz);

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone(Tz::UTC);

    /// The zone's IANA name (`Europe/Berlin`).
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl FromStr for Zone {
    type Err = String;

    /// Parses an IANA name, exactly as spelled in the tz database (`Europe/Berlin`, `UTC`).
    fn from_str(s: &str) -> Result<Zone, String> {
        Tz::from_str(s).map(Zone).map_err(|_| {
            format!("unknown time zone {s:?} (use an IANA name such as Europe/Berlin)")
        })
    }
}

impl fmt::Debug for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Zone({})", self.name())
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialOrd for Zone {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Zones are ordered by their stable key ([`calendar_id`]'s low 40 bits: SHA-256 of the name) —
/// arbitrary but fixed, and the order the stores list calendar counters in (SQLite by the stored
/// id, Redis and cursors by [`window_token`](crate::store::window_token)).
impl Ord for Zone {
    fn cmp(&self, other: &Self) -> Ordering {
        zone_key(*self).cmp(&zone_key(*other))
    }
}

/// SHA-256 of the zone's IANA name, first 40 bits.
fn name_key(name: &str) -> i64 {
    Sha256::digest(name.as_bytes())
        .iter()
        .take(5)
        .fold(0i64, |acc, b| (acc << 8) | i64::from(*b))
}

/// Every zone's key, computed once.
fn keys() -> &'static HashMap<Tz, i64> {
    static KEYS: OnceLock<HashMap<Tz, i64>> = OnceLock::new();
    KEYS.get_or_init(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|tz| (*tz, name_key(tz.name())))
            .collect()
    })
}

fn zone_key(z: Zone) -> i64 {
    keys()
        .get(&z.0)
        .copied()
        .unwrap_or_else(|| name_key(z.name()))
}

/// A calendar window's stable number: the unit in bits 40–41 (day 0, week 1, month 2) and the
/// first 40 bits of SHA-256 of the zone's IANA name below; non-negative, below 2^42. Stored by
/// SQLite (`size_ms` of a kind-3 counter row) and Redis (a counter's `size`), and in counter
/// cursors: stable across passgate and tz database versions (an enum index would not be).
/// Distinct for every zone the tz database knows (checked by a test).
pub fn calendar_id(unit: CalendarUnit, tz: Zone) -> i64 {
    let u: i64 = match unit {
        CalendarUnit::Day => 0,
        CalendarUnit::Week => 1,
        CalendarUnit::Month => 2,
    };
    (u << 40) | zone_key(tz)
}

/// The calendar window of a [`calendar_id`], if this build's tz database knows its zone.
pub fn calendar_from_id(id: i64) -> Option<Calendar> {
    static BY_ID: OnceLock<HashMap<i64, Calendar>> = OnceLock::new();
    BY_ID
        .get_or_init(|| {
            let mut m = HashMap::new();
            for tz in chrono_tz::TZ_VARIANTS {
                for unit in CalendarUnit::ALL {
                    let c = Calendar { unit, tz: Zone(tz) };
                    m.insert(calendar_id(unit, Zone(tz)), c);
                }
            }
            m
        })
        .get(&id)
        .copied()
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Zone, D::Error> {
        let name = String::deserialize(d)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// A calendar window as a policy declares it: a unit in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Calendar {
    pub unit: CalendarUnit,
    pub tz: Zone,
}

impl Calendar {
    /// The window holding `now_ms` (see [`bounds`]).
    pub fn bounds(self, now_ms: i64) -> Option<(i64, i64)> {
        bounds(self.unit, self.tz, now_ms)
    }
}

impl fmt::Display for Calendar {
    /// `day (Europe/Berlin)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.unit, self.tz)
    }
}

/// The calendar window `[start, end)` (epoch milliseconds) of `unit` in `tz` holding `now_ms`:
/// `start <= now_ms < end`. `None` outside [`MIN_MS`]..=[`MAX_MS`].
pub fn bounds(unit: CalendarUnit, tz: Zone, now_ms: i64) -> Option<(i64, i64)> {
    if !(MIN_MS..=MAX_MS).contains(&now_ms) {
        return None;
    }
    let local = DateTime::from_timestamp_millis(now_ms)?
        .with_timezone(&tz.0)
        .date_naive();
    let mut start_date = unit.period_start(local)?;
    let mut start = first_instant(tz.0, start_date)?;
    let mut end = first_instant(tz.0, unit.next(start_date)?)?;
    // The local date of `now` already places it; these only move a window at a clock set back
    // across midnight (where the date shown repeats), and never more than once in practice.
    for _ in 0..4 {
        if start > now_ms {
            end = start;
            start_date = unit.prev(start_date)?;
            start = first_instant(tz.0, start_date)?;
        } else if end <= now_ms {
            start = end;
            start_date = unit.next(start_date)?;
            end = first_instant(tz.0, unit.next(start_date)?)?;
        } else {
            return Some((start, end));
        }
    }
    None
}

/// The first instant (epoch ms) whose local date in `tz` is `date`: local midnight, the earlier
/// of two midnights when the clock is set back across it, the end of the gap when it skips it.
fn first_instant(tz: Tz, date: NaiveDate) -> Option<i64> {
    let midnight = date.and_hms_opt(0, 0, 0)?;
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) => Some(t.timestamp_millis()),
        LocalResult::Ambiguous(a, b) => Some(a.timestamp_millis().min(b.timestamp_millis())),
        LocalResult::None => gap_end(tz, midnight),
    }
}

/// The first instant whose local time in `tz` is at or after `local` (which falls in a gap).
fn gap_end(tz: Tz, local: NaiveDateTime) -> Option<i64> {
    const SPAN_MS: i64 = 36 * 3_600_000; // beyond any UTC offset (±26 h covers history)
    let naive_ms = local.and_utc().timestamp_millis();
    let at_or_after = |t: i64| -> Option<bool> {
        Some(
            DateTime::from_timestamp_millis(t)?
                .with_timezone(&tz)
                .naive_local()
                >= local,
        )
    };
    // Invariant: at_or_after(lo) is false, at_or_after(hi) is true.
    let (mut lo, mut hi) = (naive_ms - SPAN_MS, naive_ms + SPAN_MS);
    if at_or_after(lo)? || !at_or_after(hi)? {
        return None;
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if at_or_after(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use CalendarUnit::{Day, Month, Week};

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_millis()
    }

    fn zone(name: &str) -> Zone {
        name.parse().unwrap()
    }

    fn check(unit: CalendarUnit, tz: &str, now: &str, start: &str, end: &str) {
        let got = bounds(unit, zone(tz), ms(now)).unwrap();
        assert_eq!(got, (ms(start), ms(end)), "{unit} {tz} at {now}");
    }

    #[test]
    fn utc_days_weeks_months() {
        check(
            Day,
            "UTC",
            "2024-05-15T13:00:00Z",
            "2024-05-15T00:00:00Z",
            "2024-05-16T00:00:00Z",
        );
        check(
            Day,
            "UTC",
            "2024-05-15T00:00:00Z",
            "2024-05-15T00:00:00Z",
            "2024-05-16T00:00:00Z",
        );
        check(
            Day,
            "UTC",
            "2024-05-15T23:59:59.999Z",
            "2024-05-15T00:00:00Z",
            "2024-05-16T00:00:00Z",
        );
        // 2024-05-15 is a Wednesday: weeks start on Monday.
        check(
            Week,
            "UTC",
            "2024-05-15T13:00:00Z",
            "2024-05-13T00:00:00Z",
            "2024-05-20T00:00:00Z",
        );
        check(
            Week,
            "UTC",
            "2024-05-13T00:00:00Z",
            "2024-05-13T00:00:00Z",
            "2024-05-20T00:00:00Z",
        );
        check(
            Week,
            "UTC",
            "2024-05-19T23:59:59.999Z",
            "2024-05-13T00:00:00Z",
            "2024-05-20T00:00:00Z",
        );
        // A week across a year end (2024-12-30 is a Monday).
        check(
            Week,
            "UTC",
            "2025-01-01T12:00:00Z",
            "2024-12-30T00:00:00Z",
            "2025-01-06T00:00:00Z",
        );
        check(
            Month,
            "UTC",
            "2024-05-31T23:59:59.999Z",
            "2024-05-01T00:00:00Z",
            "2024-06-01T00:00:00Z",
        );
        check(
            Month,
            "UTC",
            "2024-12-01T00:00:00Z",
            "2024-12-01T00:00:00Z",
            "2025-01-01T00:00:00Z",
        );
    }

    #[test]
    fn months_of_28_to_31_days() {
        let day = 86_400_000;
        for (now, days) in [
            ("2023-02-10T00:00:00Z", 28),
            ("2024-02-29T12:00:00Z", 29),
            ("2024-04-30T12:00:00Z", 30),
            ("2024-01-31T12:00:00Z", 31),
            ("2000-02-15T00:00:00Z", 29),
            ("1900-02-15T00:00:00Z", 28),
        ] {
            let (s, e) = bounds(Month, Zone::UTC, ms(now)).unwrap();
            assert_eq!(e - s, days * day, "{now}");
        }
    }

    #[test]
    fn berlin_across_dst() {
        // Spring forward, 2024-03-31 02:00 -> 03:00: a 23-hour day.
        check(
            Day,
            "Europe/Berlin",
            "2024-03-31T12:00:00+02:00",
            "2024-03-31T00:00:00+01:00",
            "2024-04-01T00:00:00+02:00",
        );
        // The instant before the jump and the one after are in the same day.
        let (s1, e1) = bounds(Day, zone("Europe/Berlin"), ms("2024-03-31T00:59:59.999Z")).unwrap();
        let (s2, e2) = bounds(Day, zone("Europe/Berlin"), ms("2024-03-31T01:00:00Z")).unwrap();
        assert_eq!((s1, e1), (s2, e2));
        assert_eq!(e1 - s1, 23 * 3_600_000);
        // Fall back, 2024-10-27 03:00 -> 02:00: a 25-hour day.
        check(
            Day,
            "Europe/Berlin",
            "2024-10-27T02:30:00+01:00",
            "2024-10-27T00:00:00+02:00",
            "2024-10-28T00:00:00+01:00",
        );
        let (s, e) = bounds(Day, zone("Europe/Berlin"), ms("2024-10-27T12:00:00Z")).unwrap();
        assert_eq!(e - s, 25 * 3_600_000);
        // Local midnight, not UTC midnight: 23:30 UTC on the 14th is already the 15th in Berlin.
        check(
            Day,
            "Europe/Berlin",
            "2024-05-14T23:30:00Z",
            "2024-05-14T22:00:00Z",
            "2024-05-15T22:00:00Z",
        );
        // The week and month holding the spring change are an hour short.
        let (s, e) = bounds(Week, zone("Europe/Berlin"), ms("2024-03-31T12:00:00Z")).unwrap();
        assert_eq!(
            (s, e),
            (
                ms("2024-03-25T00:00:00+01:00"),
                ms("2024-04-01T00:00:00+02:00")
            )
        );
        assert_eq!(e - s, 7 * 86_400_000 - 3_600_000);
        let (s, e) = bounds(Month, zone("Europe/Berlin"), ms("2024-10-15T12:00:00Z")).unwrap();
        assert_eq!(
            (s, e),
            (
                ms("2024-10-01T00:00:00+02:00"),
                ms("2024-11-01T00:00:00+01:00")
            )
        );
        assert_eq!(e - s, 31 * 86_400_000 + 3_600_000);
    }

    #[test]
    fn midnight_that_does_not_exist() {
        // São Paulo, 2018-11-04: 00:00 -03 jumped to 01:00 -02, so the day starts at 01:00 local
        // (03:00Z) and lasts 23 hours.
        check(
            Day,
            "America/Sao_Paulo",
            "2018-11-04T12:00:00-02:00",
            "2018-11-04T03:00:00Z",
            "2018-11-05T02:00:00Z",
        );
        // The previous day ends exactly where that one starts.
        check(
            Day,
            "America/Sao_Paulo",
            "2018-11-04T02:59:59.999Z",
            "2018-11-03T03:00:00Z",
            "2018-11-04T03:00:00Z",
        );
        // São Paulo, 2019-02-17: 00:00 -02 went back to 23:00 -03 on the 16th, so the 16th lasts
        // 25 hours; the repeated hour (local date the 16th again) is inside the 16th's window.
        check(
            Day,
            "America/Sao_Paulo",
            "2019-02-17T02:30:00Z",
            "2019-02-16T02:00:00Z",
            "2019-02-17T03:00:00Z",
        );
    }

    #[test]
    fn windows_tile_the_timeline() {
        // Walking hour by hour through two years in zones with odd rules: each instant is inside
        // its window, and consecutive windows meet exactly.
        for tz in [
            "Europe/Berlin",
            "America/Sao_Paulo",
            "America/Havana",
            "Asia/Beirut",
            "Australia/Lord_Howe",
            "Pacific/Apia",
            "Asia/Kolkata",
            "America/St_Johns",
        ] {
            for unit in CalendarUnit::ALL {
                let mut t = ms("2010-01-01T00:00:00Z");
                let mut prev: Option<(i64, i64)> = None;
                while t < ms("2012-01-01T00:00:00Z") {
                    let (s, e) = bounds(unit, zone(tz), t).unwrap();
                    assert!(s <= t && t < e, "{unit} {tz} at {t}: {s}..{e}");
                    if let Some((ps, pe)) = prev {
                        assert!(s == ps || s == pe, "{unit} {tz} at {t}: gap or overlap");
                    }
                    prev = Some((s, e));
                    t += 3_600_000;
                }
            }
        }
    }

    #[test]
    fn samoa_skips_a_whole_day() {
        // Pacific/Apia skipped 2011-12-30 entirely: the 29th is followed by the 31st.
        let (s, e) = bounds(Day, zone("Pacific/Apia"), ms("2011-12-29T12:00:00-10:00")).unwrap();
        assert_eq!(e, ms("2011-12-31T00:00:00+14:00"));
        assert_eq!(e - s, 24 * 3_600_000);
    }

    #[test]
    fn extreme_times_never_panic() {
        for t in [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            MIN_MS - 1,
            MAX_MS + 1,
            i64::MAX,
        ] {
            for unit in CalendarUnit::ALL {
                for tz in ["UTC", "Europe/Berlin", "Pacific/Kiritimati", "America/Adak"] {
                    let got = bounds(unit, zone(tz), t);
                    if (MIN_MS..=MAX_MS).contains(&t) {
                        let (s, e) = got.unwrap();
                        assert!(s <= t && t < e);
                    } else {
                        assert_eq!(got, None, "{t}");
                    }
                }
            }
        }
        // The edges of the range still have windows (the last one ends in year 10000).
        for t in [MIN_MS, MAX_MS] {
            for unit in CalendarUnit::ALL {
                let (s, e) = bounds(unit, Zone::UTC, t).unwrap();
                assert!(s <= t && t < e);
            }
        }
        // Before the epoch.
        check(
            Day,
            "UTC",
            "1969-12-31T23:00:00Z",
            "1969-12-31T00:00:00Z",
            "1970-01-01T00:00:00Z",
        );
    }

    #[test]
    fn calendar_windows_order_like_their_ids_and_tokens() {
        // One order everywhere: `WindowKind`'s (memory store, cursors), the stored id's (SQLite
        // rows), the token's bytes (Redis indexes, cursors). And tokens read back.
        use crate::store::{window_from_token, window_token, WindowKind};
        let mut ws: Vec<WindowKind> = vec![
            WindowKind::Forever,
            WindowKind::Fixed {
                size_ms: 86_400_000,
            },
            WindowKind::Sliding { size_ms: 1 },
        ];
        for tz in [
            "UTC",
            "Europe/Berlin",
            "Asia/Tokyo",
            "America/Sao_Paulo",
            "Etc/GMT+5",
        ] {
            for unit in CalendarUnit::ALL {
                ws.push(WindowKind::Calendar { unit, tz: zone(tz) });
            }
        }
        let mut by_ord = ws.clone();
        by_ord.sort();
        let mut by_token = ws.clone();
        by_token.sort_by_key(|w| window_token(*w));
        assert_eq!(by_ord, by_token);
        let ids: Vec<i64> = by_ord
            .iter()
            .filter_map(|w| match w {
                WindowKind::Calendar { unit, tz } => Some(calendar_id(*unit, *tz)),
                _ => None,
            })
            .collect();
        assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
        for w in ws {
            assert_eq!(window_from_token(&window_token(w)), Some(w));
        }
        assert_eq!(window_from_token("300000000000000000000"), None);
    }

    #[test]
    fn windows_serialize_as_the_json_seam_shows_them() {
        // Part of stored state: hold records embed their windows, and Redis counter ids hash
        // them. The existing kinds keep their form.
        use crate::store::WindowKind;
        let w = WindowKind::Calendar {
            unit: Week,
            tz: zone("Europe/Berlin"),
        };
        let text = serde_json::to_string(&w).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"calendar","unit":"week","tz":"Europe/Berlin"}"#
        );
        assert_eq!(serde_json::from_str::<WindowKind>(&text).unwrap(), w);
        assert_eq!(
            serde_json::to_string(&WindowKind::Fixed { size_ms: 60_000 }).unwrap(),
            r#"{"kind":"fixed","size_ms":60000}"#
        );
        assert!(serde_json::from_str::<WindowKind>(
            r#"{"kind":"calendar","unit":"week","tz":"Atlantis/Capital"}"#
        )
        .is_err());
    }

    #[test]
    fn zones_parse_and_serialize_by_name() {
        assert_eq!(zone("Europe/Berlin").to_string(), "Europe/Berlin");
        assert!("Mars/Olympus".parse::<Zone>().is_err());
        assert!("europe/berlin".parse::<Zone>().is_err());
        assert!("".parse::<Zone>().is_err());
        let z: Zone = serde_json::from_str("\"Asia/Tokyo\"").unwrap();
        assert_eq!(serde_json::to_string(&z).unwrap(), "\"Asia/Tokyo\"");
        assert!(serde_json::from_str::<Zone>("\"Nowhere\"").is_err());
        assert_eq!(CalendarUnit::parse("week"), Some(Week));
        assert_eq!(CalendarUnit::parse("fortnight"), None);
    }
}
