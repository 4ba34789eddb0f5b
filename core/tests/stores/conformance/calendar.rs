//! Calendar windows (a local day, week or month in a time zone): every backend treats one exactly
//! like a fixed window whose bounds come from `WindowKind::bounds`, keeps windows of different
//! units and zones apart, never moves one backwards, and refuses an instant it cannot place.

use passgate::__private::calendar::{CalendarUnit, Zone};
use passgate::store::{
    Commit, CommitOutcome, CounterFilter, CounterOp, HeldOp, HoldOutcome, HoldState, SettleRule,
    Store, WindowKind,
};

use crate::support::{fixed, op, Chain, DAY};

use super::lifecycle::{hold, resolve, take_hold};
use super::{commit, rejected, used};

const HOUR: i64 = 3_600_000;
/// 2024-05-14T22:00:00Z: midnight of Wednesday 2024-05-15 in Berlin (CEST, +02:00).
const BERLIN_MIDNIGHT: i64 = 1_715_724_000_000;
/// 2024-05-15T00:00:00Z: UTC midnight, two hours into the Berlin day.
const UTC_MIDNIGHT: i64 = 1_715_731_200_000;
/// 2024-03-30T23:00:00Z: midnight of 2024-03-31 in Berlin, a 23-hour day (spring forward).
const SPRING_DAY: i64 = 1_711_839_600_000;
/// 2024-10-26T22:00:00Z: midnight of 2024-10-27 in Berlin, a 25-hour day (fall back).
const AUTUMN_DAY: i64 = 1_729_980_000_000;

pub fn calendar(unit: CalendarUnit, tz: &str) -> WindowKind {
    WindowKind::Calendar {
        unit,
        tz: tz.parse::<Zone>().unwrap(),
    }
}

fn one(s: &dyn Store, c: &Chain, now: i64, o: &CounterOp) -> CommitOutcome {
    let out = commit(
        s,
        now,
        std::slice::from_ref(o),
        &c.record(now, None, None, "allow"),
    );
    if out != CommitOutcome::Committed {
        c.unwind();
    }
    out
}

/// A Berlin day counts from local midnight to local midnight (not UTC's), lasts 23 or 25 hours
/// across the DST changes, and shows up in `counters` with its window and current usage.
pub fn calendar_windows_count_and_roll(s: &dyn Store) {
    let c = Chain::new("c-cal");
    // Time only moves forwards here (a store may place a request stamped far behind the latest
    // it has seen later, see the memory store): March, then May, then October.
    // Spring forward: 23 hours after local midnight it is already the next day.
    let spring = op(
        "spring",
        calendar(CalendarUnit::Day, "Europe/Berlin"),
        "1",
        "1",
    );
    assert_eq!(one(s, &c, SPRING_DAY, &spring), CommitOutcome::Committed);
    assert_eq!(
        one(s, &c, SPRING_DAY + 23 * HOUR - 1, &spring),
        rejected(&["1"])
    );
    assert_eq!(
        one(s, &c, SPRING_DAY + 23 * HOUR, &spring),
        CommitOutcome::Committed
    );
    let day = op(
        "daily",
        calendar(CalendarUnit::Day, "Europe/Berlin"),
        "1",
        "2",
    );
    // 23:00 and 23:59:59.999 in Berlin on the 14th: the 14th's window.
    assert_eq!(
        one(s, &c, BERLIN_MIDNIGHT - HOUR, &day),
        CommitOutcome::Committed
    );
    assert_eq!(
        one(s, &c, BERLIN_MIDNIGHT - 1, &day),
        CommitOutcome::Committed
    );
    assert_eq!(one(s, &c, BERLIN_MIDNIGHT - 1, &day), rejected(&["2"]));
    assert_eq!(used(s, &day, BERLIN_MIDNIGHT - 1), "2");
    // Local midnight resets it.
    assert_eq!(used(s, &day, BERLIN_MIDNIGHT), "0");
    assert_eq!(one(s, &c, BERLIN_MIDNIGHT, &day), CommitOutcome::Committed);
    assert_eq!(
        one(s, &c, BERLIN_MIDNIGHT + HOUR, &day),
        CommitOutcome::Committed
    );
    // UTC midnight does not.
    assert_eq!(one(s, &c, UTC_MIDNIGHT, &day), rejected(&["2"]));
    assert_eq!(used(s, &day, BERLIN_MIDNIGHT + 24 * HOUR - 1), "2");
    assert_eq!(used(s, &day, BERLIN_MIDNIGHT + 24 * HOUR), "0");

    // The listing names the window and its current start, and reports the usage now.
    let daily = CounterFilter {
        constraint: Some("daily".into()),
        ..CounterFilter::default()
    };
    let list = s.counters(&daily, UTC_MIDNIGHT).unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].window, day.window);
    assert_eq!(list[0].used.to_string(), "2");
    assert_eq!(list[0].window_start_ms, Some(BERLIN_MIDNIGHT));
    // Once the window is over, the stored sum no longer counts.
    let later = s.counters(&daily, BERLIN_MIDNIGHT + 24 * HOUR).unwrap();
    assert_eq!(later[0].used.to_string(), "0");
    assert_eq!(later[0].window_start_ms, Some(BERLIN_MIDNIGHT + 24 * HOUR));

    // Fall back: 24 hours after local midnight it is still the same day (23:00 CET).
    let autumn = op(
        "autumn",
        calendar(CalendarUnit::Day, "Europe/Berlin"),
        "1",
        "1",
    );
    assert_eq!(one(s, &c, AUTUMN_DAY, &autumn), CommitOutcome::Committed);
    assert_eq!(
        one(s, &c, AUTUMN_DAY + 24 * HOUR, &autumn),
        rejected(&["1"])
    );
    assert_eq!(
        one(s, &c, AUTUMN_DAY + 25 * HOUR, &autumn),
        CommitOutcome::Committed
    );
}

/// One key under windows of different units and zones (and a fixed `1d`): each is its own
/// counter, never sharing a row, a hash or a sum.
pub fn calendar_windows_of_different_zones_and_units_are_apart(s: &dyn Store) {
    let c = Chain::new("c-apart");
    let windows = [
        calendar(CalendarUnit::Day, "Europe/Berlin"),
        calendar(CalendarUnit::Day, "UTC"),
        calendar(CalendarUnit::Day, "America/New_York"),
        calendar(CalendarUnit::Week, "Europe/Berlin"),
        calendar(CalendarUnit::Month, "Europe/Berlin"),
        fixed(DAY),
    ];
    for (i, w) in windows.iter().enumerate() {
        // Counter i gets i + 1 requests, all at one instant.
        let o = op("shared-id", *w, "1", "100");
        for _ in 0..=i {
            assert_eq!(one(s, &c, UTC_MIDNIGHT, &o), CommitOutcome::Committed);
        }
    }
    for (i, w) in windows.iter().enumerate() {
        let o = op("shared-id", *w, "1", "100");
        assert_eq!(used(s, &o, UTC_MIDNIGHT), (i + 1).to_string(), "{w:?}");
    }
    let mut list = s.counters(&CounterFilter::default(), UTC_MIDNIGHT).unwrap();
    assert_eq!(list.len(), windows.len());
    list.sort_by_key(|c| c.used);
    for (i, (state, w)) in list.iter().zip(&windows).enumerate() {
        assert_eq!(state.window, *w, "{i}");
        assert_eq!(state.used.to_string(), (i + 1).to_string());
    }
    // Paged one at a time, they come in the one listing order of every backend (the order of
    // `WindowKind`: kind, then for calendar windows unit and zone id), each exactly once.
    let mut walked = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = s
            .counters_page(&CounterFilter::default(), after.as_ref(), 1, UTC_MIDNIGHT)
            .unwrap();
        walked.extend(page.iter().map(|c| c.window));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let mut sorted = windows.to_vec();
    sorted.sort();
    assert_eq!(walked, sorted);
    // Reset by filter takes them all (they share the key).
    assert_eq!(
        s.reset_counters(&CounterFilter::default()).unwrap(),
        windows.len()
    );
}

/// Two engines whose clocks disagree by 5 ms or 2 s around a local midnight (an ordinary one and
/// both DST changes), interleaved: a calendar window never moves backwards, so the cap holds
/// across the boundary.
pub fn calendar_windows_never_move_backwards(s: &dyn Store) {
    let c = Chain::new("c-cal-skew");
    let w = calendar(CalendarUnit::Day, "Europe/Berlin");
    for (n, boundary) in [
        BERLIN_MIDNIGHT,
        SPRING_DAY + 23 * HOUR,
        AUTUMN_DAY + 25 * HOUR,
    ]
    .into_iter()
    .enumerate()
    {
        for (m, skew) in [5, 2_000].into_iter().enumerate() {
            let cap = op(&format!("cal-skew-{n}-{m}"), w, "1", "10");
            let mut admitted = 0;
            for i in 0..100 {
                let now = if i % 2 == 0 {
                    boundary + skew
                } else {
                    boundary - skew
                };
                if one(s, &c, now, &cap) == CommitOutcome::Committed {
                    admitted += 1;
                }
            }
            assert_eq!(admitted, 10, "boundary {boundary}, skew {skew}");
            assert_eq!(used(s, &cap, boundary - skew), "10");
        }
    }
}

/// A hold taken late on one local day and settled on the next: a refund does not touch the new
/// day, an increase is counted now — as for fixed windows.
pub fn calendar_holds_adjust_in_their_own_window(s: &dyn Store) {
    let c = Chain::new("c-cal-hold");
    let spend = HeldOp {
        op: op(
            "budget",
            calendar(CalendarUnit::Day, "Europe/Berlin"),
            "30",
            "100",
        ),
        settle: SettleRule::Actual {
            field: "/cost".into(),
        },
    };
    let created = BERLIN_MIDNIGHT - 1_000;
    let h = hold("hld_ca", created, created + DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h), CommitOutcome::Committed);
    let h2 = hold("hld_cb", created, created + DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h2), CommitOutcome::Committed);
    assert_eq!(used(s, &spend.op, created), "60");
    // Settled at UTC midnight: the next Berlin day.
    assert_eq!(
        resolve(s, &c, "hld_ca", UTC_MIDNIGHT, HoldState::Settled, &["10"]),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &spend.op, UTC_MIDNIGHT), "0");
    assert_eq!(
        resolve(
            s,
            &c,
            "hld_cb",
            UTC_MIDNIGHT + 1,
            HoldState::Settled,
            &["45"]
        ),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &spend.op, UTC_MIDNIGHT + 1), "15");
}

/// An instant no calendar can place (after year 9999) is refused with `INVALID_ARGUMENT` by
/// `read` and `commit`, which then change nothing; a fixed window at that instant still works.
pub fn calendar_windows_refuse_times_out_of_range(s: &dyn Store) {
    let c = Chain::new("c-cal-range");
    let far = passgate::__private::calendar::MAX_MS + 1;
    let day = op(
        "daily",
        calendar(CalendarUnit::Day, "Europe/Berlin"),
        "1",
        "5",
    );
    let err = s.read(std::slice::from_ref(&day), far).unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    let r = c.record(far, None, None, "allow");
    let err = s
        .commit(&Commit {
            now_ms: far,
            counters: std::slice::from_ref(&day),
            enforce_bounds: true,
            record: &r,
            idempotency: None,
            hold: None,
            approval_request: None,
            use_approval: None,
            nonce: None,
            guard: None,
            expect_usage: None,
        })
        .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT", "{err}");
    c.unwind();
    assert!(s.counters(&CounterFilter::default(), 0).unwrap().is_empty());
    assert!(s
        .attestations(&passgate::store::AttestationFilter::default())
        .unwrap()
        .is_empty());
    let plain = op("plain", fixed(DAY), "1", "5");
    assert_eq!(one(s, &c, far, &plain), CommitOutcome::Committed);
}
