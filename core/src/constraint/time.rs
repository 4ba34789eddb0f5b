//! `time_window`: the current time, in a time zone, inside a daily window on chosen week days.
//!
//! `start` is inclusive and `end` exclusive (`end` may be `24:00`). When `start` is after `end`
//! the window wraps past midnight: `22:00`–`06:00` on `fri` covers Friday 22:00 to Saturday 06:00,
//! so the part after midnight belongs to the window of the day it started on.

use std::str::FromStr;

use chrono::{DateTime, Datelike, Timelike};
use chrono_tz::Tz;
use serde_json::Value;

use crate::error::{Error, Result};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MINUTES_PER_DAY: u16 = 24 * 60;

/// A compiled `time_window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeWindow {
    /// Bit `i` set when day `i` (0 = Monday) is in the window.
    pub days: u8,
    /// Start, in minutes after local midnight (inclusive).
    pub start_min: u16,
    /// End, in minutes after local midnight (exclusive; 1440 for `24:00`).
    pub end_min: u16,
    /// The time zone the window is read in.
    pub tz: Tz,
    label: String,
}

impl TimeWindow {
    /// Compiles the parameters of a `time_window` constraint object at `path`.
    pub fn compile(doc: &Value, path: &str) -> Result<TimeWindow> {
        let days = match doc.get("days") {
            None => 0x7f,
            Some(v) => {
                let list = v
                    .as_array()
                    .ok_or_else(|| Error::policy(format!("{path}/days"), "must be an array"))?;
                let mut mask = 0u8;
                for (i, d) in list.iter().enumerate() {
                    let bit = d
                        .as_str()
                        .and_then(|s| DAYS.iter().position(|x| *x == s))
                        .ok_or_else(|| {
                            Error::policy(format!("{path}/days/{i}"), "must be one of mon … sun")
                        })?;
                    mask |= 1 << bit;
                }
                if mask == 0 {
                    return Err(Error::policy(format!("{path}/days"), "names no day"));
                }
                mask
            }
        };
        let start_min = time_of_day(doc.get("start"), 0, &format!("{path}/start"))?;
        let end_min = time_of_day(doc.get("end"), MINUTES_PER_DAY, &format!("{path}/end"))?;
        if start_min == MINUTES_PER_DAY {
            return Err(Error::policy(
                format!("{path}/start"),
                "start may not be 24:00",
            ));
        }
        if start_min == end_min {
            return Err(Error::policy(
                format!("{path}/end"),
                "start equals end, so the window is empty (use 00:00 to 24:00 for a whole day)",
            ));
        }
        let tz_name = match doc.get("tz") {
            None => "UTC",
            Some(v) => v
                .as_str()
                .ok_or_else(|| Error::policy(format!("{path}/tz"), "must be a string"))?,
        };
        let tz = Tz::from_str(tz_name).map_err(|_| {
            Error::policy(
                format!("{path}/tz"),
                format!("unknown time zone {tz_name:?} (use an IANA name such as Europe/Paris)"),
            )
        })?;
        let day_label = if days == 0x7f {
            "every day".to_string()
        } else {
            DAYS.iter()
                .enumerate()
                .filter(|(i, _)| days & (1 << i) != 0)
                .map(|(_, d)| *d)
                .collect::<Vec<_>>()
                .join(",")
        };
        let label = format!(
            "{day_label} {}-{} {tz_name}",
            hhmm(start_min),
            hhmm(end_min)
        );
        Ok(TimeWindow {
            days,
            start_min,
            end_min,
            tz,
            label,
        })
    }

    /// The window as text: `mon,tue 09:00-17:00 Europe/Paris`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether `now_ms` (epoch milliseconds) is inside the window, and the local time seen
    /// (`2024-01-06 Sat 10:00`). `None` when `now_ms` is out of the calendar's range.
    pub fn contains(&self, now_ms: i64) -> Option<(bool, String)> {
        let (inside, local) = self.local_time(now_ms)?;
        let mut seen = String::new();
        write_local(&mut seen, &local);
        Some((inside, seen))
    }

    /// Like [`TimeWindow::contains`], with the local time kept as a time (formatted by
    /// [`write_local`] only when a message is read).
    pub(crate) fn local_time(&self, now_ms: i64) -> Option<(bool, LocalTime)> {
        let local = DateTime::from_timestamp_millis(now_ms)?.with_timezone(&self.tz);
        let minute = u16::try_from(local.hour() * 60 + local.minute()).ok()?;
        let day = local.weekday().num_days_from_monday();
        let on = |d: u32| self.days & (1 << d) != 0;
        let inside = if self.start_min < self.end_min {
            on(day) && self.start_min <= minute && minute < self.end_min
        } else {
            let yesterday = (day + 6) % 7;
            (on(day) && minute >= self.start_min) || (on(yesterday) && minute < self.end_min)
        };
        Some((inside, local))
    }
}

/// A local time in a window's zone.
pub(crate) type LocalTime = DateTime<Tz>;

/// Writes `local` as a window's checks show it: `2024-01-06 Sat 10:00`.
///
/// Written digit by digit: chrono's `format("%Y-%m-%d %a %H:%M")`, which it replaces (and still
/// writes years outside 0–9999, which it shows with a sign), parses its pattern on every call —
/// ≈ 4k instructions of a decision that records a time window's check.
pub(crate) fn write_local(out: &mut String, local: &LocalTime) {
    let t = local.naive_local();
    let Ok(year) = u16::try_from(t.year()) else {
        return write_local_chrono(out, local);
    };
    if year > 9999 {
        return write_local_chrono(out, local);
    }
    let two = |n: u32| [b'0' + (n / 10 % 10) as u8, b'0' + (n % 10) as u8];
    let y = u32::from(year);
    let [y1, y2] = two(y / 100);
    let [y3, y4] = two(y);
    let [mo1, mo2] = two(t.month());
    let [d1, d2] = two(t.day());
    let [h1, h2] = two(t.hour());
    let [mi1, mi2] = two(t.minute());
    let day: &[u8; 3] = match t.weekday() {
        chrono::Weekday::Mon => b"Mon",
        chrono::Weekday::Tue => b"Tue",
        chrono::Weekday::Wed => b"Wed",
        chrono::Weekday::Thu => b"Thu",
        chrono::Weekday::Fri => b"Fri",
        chrono::Weekday::Sat => b"Sat",
        chrono::Weekday::Sun => b"Sun",
    };
    let [a, b, c] = *day;
    let text = [
        y1, y2, y3, y4, b'-', mo1, mo2, b'-', d1, d2, b' ', a, b, c, b' ', h1, h2, b':', mi1, mi2,
    ];
    // Only ASCII is written above.
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
}

fn write_local_chrono(out: &mut String, local: &LocalTime) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(out, "{}", local.format("%Y-%m-%d %a %H:%M"));
}

fn time_of_day(v: Option<&Value>, default: u16, path: &str) -> Result<u16> {
    let Some(v) = v else { return Ok(default) };
    let bad = || Error::policy(path, "must be a time of day HH:MM (00:00 to 24:00)");
    let s = v.as_str().ok_or_else(bad)?;
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn hhmm(min: u16) -> String {
    format!("{:02}:{:02}", min / 60, min % 60)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    const ZONES: [Tz; 5] = [
        Tz::UTC,
        Tz::Europe__Paris,
        Tz::America__Los_Angeles,
        Tz::Asia__Kathmandu,
        Tz::Pacific__Chatham,
    ];

    fn both(ms: i64, zone: usize) -> Option<(String, String)> {
        let tz = ZONES.get(zone)?;
        let local = tz.timestamp_millis_opt(ms).single()?;
        let (mut fast, mut chrono) = (String::new(), String::new());
        write_local(&mut fast, &local);
        write_local_chrono(&mut chrono, &local);
        Some((fast, chrono))
    }

    proptest! {
        /// The digit-by-digit writer says what chrono's pattern says, years outside 0–9999 too.
        #[test]
        fn a_local_time_reads_as_chronos_pattern(
            ms in prop_oneof![
                0i64..4_102_444_800_000,
                -62_167_219_200_000i64..0,
                any::<i64>().prop_map(|n| n % 8_000_000_000_000_000),
            ],
            zone in 0usize..5,
        ) {
            if let Some((fast, chrono)) = both(ms, zone) {
                prop_assert_eq!(fast, chrono);
            }
        }
    }

    #[test]
    fn edges_read_as_chronos_pattern() {
        for ms in [
            0,
            -1,
            253_402_300_799_999,
            253_402_300_800_000,
            -62_167_219_200_000,
            -62_167_219_200_001,
            1_796_408_454_587,
        ] {
            for zone in 0..ZONES.len() {
                if let Some((fast, chrono)) = both(ms, zone) {
                    assert_eq!(fast, chrono, "{ms} in zone {zone}");
                }
            }
        }
    }
}
