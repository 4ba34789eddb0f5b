//! Issue 14, item 10: counters listed in pages (a stable order, a position to resume from) and
//! reset by filter, on every backend; checked against a reference model kept by the test.

use std::collections::{BTreeMap, BTreeSet};

use passgate::store::{
    CounterFilter, CounterKey, CounterOp, CounterPosition, CounterState, Store, WindowKind,
};

use crate::support::{d, fixed, sliding, Chain, DAY, T0};

use super::commit;

type Id = (CounterKey, WindowKind);

pub fn counter(ns: &str, con: &str, scope: &str, w: WindowKind, amount: &str) -> CounterOp {
    CounterOp {
        key: CounterKey {
            namespace: ns.into(),
            constraint: con.into(),
            scope: scope.into(),
        },
        window: w,
        amount: d(amount),
        need: d(amount),
        max: d("1000000"),
    }
}

/// Commits `ops` in commits of at most 200 counters.
pub fn create(s: &dyn Store, c: &Chain, ops: &[CounterOp]) {
    for chunk in ops.chunks(200) {
        let out = commit(s, T0, chunk, &c.record(T0, None, None, "allow"));
        assert_eq!(out, passgate::store::CommitOutcome::Committed);
    }
}

/// Every page of `filter` with page size `limit`, checking each page's size and that the walk
/// ends.
pub fn walk(s: &dyn Store, f: &CounterFilter, limit: usize) -> Vec<CounterState> {
    let mut out = Vec::new();
    let mut after: Option<CounterPosition> = None;
    for _ in 0..100_000 {
        let (page, next) = s.counters_page(f, after.as_ref(), limit, T0 + 1).unwrap();
        assert!(page.len() <= limit, "a page of {} > {limit}", page.len());
        out.extend(page);
        match next {
            None => return out,
            Some(n) => {
                if let Some(a) = &after {
                    assert!(n > *a, "the walk moves forward");
                }
                after = Some(n);
            }
        }
    }
    panic!("the walk did not end");
}

fn ids(states: &[CounterState]) -> Vec<Id> {
    states.iter().map(|c| (c.key.clone(), c.window)).collect()
}

/// Counters in several namespaces, constraints, scopes and windows, with names that test the
/// ordering and the escaping (separators, NUL, a byte 0x01, non-ASCII, one name a prefix of
/// another).
fn population() -> Vec<CounterOp> {
    let namespaces = [
        "gate:a",
        "gate:a\u{0}",
        "gate:ab",
        "gate:a.b",
        "global",
        "passport:é",
    ];
    let constraints = ["", "daily", "daily\u{1}x", "burst"];
    let scopes = ["agent:x", "agent:x\u{0}y", "agent:y", "field:/to=agent:x"];
    let windows = [
        WindowKind::Forever,
        fixed(DAY),
        fixed(60_000),
        sliding(60_000),
    ];
    let mut ops = Vec::new();
    let mut n = 0u32;
    for ns in namespaces {
        for con in constraints {
            for scope in scopes {
                // Not every combination: windows vary with n, so filters see mixed windows.
                n += 1;
                let w = windows[(n % 4) as usize];
                ops.push(counter(ns, con, scope, w, &format!("{}", n % 7 + 1)));
                if n % 3 == 0 {
                    ops.push(counter(
                        ns,
                        con,
                        scope,
                        windows[((n + 1) % 4) as usize],
                        "2",
                    ));
                }
            }
        }
    }
    ops
}

fn filters() -> Vec<CounterFilter> {
    let f = |ns: Option<&str>, con: Option<&str>, scope: Option<&str>| CounterFilter {
        namespace: ns.map(Into::into),
        constraint: con.map(Into::into),
        scope: scope.map(Into::into),
    };
    vec![
        f(None, None, None),
        f(Some("gate:a"), None, None),
        f(Some("gate:a\u{0}"), None, None),
        f(Some("gate:a"), Some("daily"), None),
        f(Some("gate:a"), Some(""), None),
        f(Some("gate:a"), None, Some("agent:x")),
        f(Some("gate:ab"), Some("daily"), Some("agent:y")),
        f(None, None, Some("agent:x")),
        f(None, None, Some("agent:x\u{0}y")),
        f(None, Some("burst"), Some("agent:y")),
        f(None, Some("daily"), None),
        f(Some("nope"), None, None),
        f(None, None, Some("nope")),
        f(Some("gate:"), None, None),
    ]
}

/// Every filter's pages, at every page size, return exactly the reference model's counters, in
/// the listing order, none twice; `counters()` agrees.
pub fn counter_pages_walk_exactly_the_listing(s: &dyn Store) {
    let c = Chain::new("c1");
    let ops = population();
    create(s, &c, &ops);
    let model: BTreeSet<Id> = ops.iter().map(|o| (o.key.clone(), o.window)).collect();
    for f in filters() {
        let expected: Vec<Id> = model
            .iter()
            .filter(|(k, _)| f.matches(k))
            .cloned()
            .collect();
        let listed = s.counters(&f, T0 + 1).unwrap();
        assert_eq!(ids(&listed), expected, "counters({f:?})");
        for limit in [1, 2, 7, 1000] {
            let walked = walk(s, &f, limit);
            assert_eq!(ids(&walked), expected, "pages of {limit} of {f:?}");
            assert_eq!(walked, listed, "pages of {limit} of {f:?}: same usage");
        }
    }
    // Usage is reported in pages as in full listings.
    let one = ops.first().unwrap();
    let f = CounterFilter {
        namespace: Some(one.key.namespace.to_string()),
        constraint: Some(one.key.constraint.to_string()),
        scope: Some(one.key.scope.to_string()),
    };
    let (page, next) = s.counters_page(&f, None, 10, T0 + 1).unwrap();
    assert_eq!(next, None);
    let got = page.iter().find(|p| p.window == one.window).unwrap();
    assert_eq!(got.used, one.amount);
    // A position from another filter, or one that names no counter, is a place in the order.
    let far = CounterPosition {
        key: CounterKey {
            namespace: "zzz".into(),
            constraint: "".into(),
            scope: "".into(),
        },
        window: WindowKind::Forever,
    };
    for f in filters() {
        let (page, next) = s.counters_page(&f, Some(&far), 5, T0 + 1).unwrap();
        assert!(page.is_empty() && next.is_none(), "{f:?}");
    }
    let mid = CounterPosition {
        key: CounterKey {
            namespace: "gate:a".into(),
            constraint: "daily".into(),
            scope: "agent:xx".into(),
        },
        window: WindowKind::Forever,
    };
    for f in filters() {
        let expected: Vec<Id> = model
            .iter()
            .filter(|(k, w)| f.matches(k) && (k.clone(), *w) > (mid.key.clone(), mid.window))
            .cloned()
            .collect();
        let mut got = Vec::new();
        let mut after = Some(mid.clone());
        loop {
            let (page, next) = s.counters_page(&f, after.as_ref(), 3, T0 + 1).unwrap();
            got.extend(ids(&page));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(got, expected, "after a foreign position, {f:?}");
    }
}

/// A walk while counters are being added: nothing twice, everything that existed before the
/// walk, and nothing that does not exist after it.
pub fn counter_pages_while_counters_are_added(s: &dyn Store) {
    let c = Chain::new("c1");
    let ops = population();
    let (first, later) = ops.split_at(ops.len() / 2);
    create(s, &c, first);
    for f in filters() {
        let before: BTreeSet<Id> = ids(&s.counters(&f, T0 + 1).unwrap()).into_iter().collect();
        let mut seen: Vec<Id> = Vec::new();
        let mut after: Option<CounterPosition> = None;
        let mut pending = later.iter().filter(|o| f.matches(&o.key));
        loop {
            let (page, next) = s.counters_page(&f, after.as_ref(), 4, T0 + 1).unwrap();
            seen.extend(ids(&page));
            // Two more counters of this filter between pages: some before, some after the
            // walk's position.
            let add: Vec<CounterOp> = pending.by_ref().take(2).cloned().collect();
            if !add.is_empty() {
                create(s, &c, &add);
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let unique: BTreeSet<Id> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "no counter twice: {f:?}");
        assert!(before.is_subset(&unique), "every counter of before: {f:?}");
        let end: BTreeSet<Id> = ids(&s.counters(&f, T0 + 1).unwrap()).into_iter().collect();
        assert!(unique.is_subset(&end), "nothing that does not exist: {f:?}");
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, seen, "in listing order: {f:?}");
    }
}

/// The same with a writer thread creating counters (in the walked namespace, before and after
/// the walk's position) while the main thread walks it page by page.
pub fn counter_pages_while_another_thread_adds(s: &dyn Store) {
    let c = Chain::new("c1");
    let f = CounterFilter {
        namespace: Some("gate:p".into()),
        ..CounterFilter::default()
    };
    let initial: Vec<CounterOp> = (0..300)
        .map(|i| {
            counter(
                "gate:p",
                &format!("k{:04}", i * 2),
                "agent:x",
                fixed(DAY),
                "1",
            )
        })
        .collect();
    create(s, &c, &initial);
    let before: BTreeSet<Id> = ids(&s.counters(&f, T0 + 1).unwrap()).into_iter().collect();
    let c2 = Chain::new("c2");
    let done = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|t| {
        t.spawn(|| {
            // Odd keys interleave with the walk; a second namespace must never show up.
            for i in 0..300 {
                let ops = [
                    counter(
                        "gate:p",
                        &format!("k{:04}", i * 2 + 1),
                        "agent:y",
                        fixed(DAY),
                        "1",
                    ),
                    counter("gate:q", &format!("k{i:04}"), "agent:x", fixed(DAY), "1"),
                ];
                let out = commit(s, T0, &ops, &c2.record(T0, None, None, "allow"));
                assert_eq!(out, passgate::store::CommitOutcome::Committed);
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
        });
        let mut seen: Vec<Id> = Vec::new();
        let mut after: Option<CounterPosition> = None;
        loop {
            let (page, next) = s.counters_page(&f, after.as_ref(), 7, T0 + 1).unwrap();
            seen.extend(ids(&page));
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        seen
    });
    let unique: BTreeSet<Id> = seen.iter().cloned().collect();
    assert_eq!(unique.len(), seen.len(), "no counter twice");
    assert!(
        before.is_subset(&unique),
        "every counter that existed before the walk"
    );
    let end: BTreeSet<Id> = ids(&s.counters(&f, T0 + 1).unwrap()).into_iter().collect();
    assert!(unique.is_subset(&end));
    assert!(seen.iter().all(|(k, _)| k.namespace == "gate:p"));
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(sorted, seen, "in listing order");
}

/// Reset by filter deletes exactly the matching counters; the others keep their usage.
pub fn reset_by_filter_touches_only_matching(s: &dyn Store) {
    let c = Chain::new("c1");
    let ops = population();
    create(s, &c, &ops);
    let mut model: BTreeMap<Id, CounterState> = s
        .counters(&CounterFilter::default(), T0 + 1)
        .unwrap()
        .into_iter()
        .map(|st| ((st.key.clone(), st.window), st))
        .collect();
    assert_eq!(model.len(), ops.len());
    for f in filters().into_iter().rev() {
        let expected = model.keys().filter(|(k, _)| f.matches(k)).count();
        assert_eq!(s.reset_counters(&f).unwrap(), expected, "reset {f:?}");
        model.retain(|(k, _), _| !f.matches(k));
        let left: Vec<CounterState> = s.counters(&CounterFilter::default(), T0 + 1).unwrap();
        let want: Vec<CounterState> = model.values().cloned().collect();
        assert_eq!(left, want, "after reset {f:?}: the others untouched");
    }
    assert!(model.is_empty(), "the unfiltered reset came last");
    // More than one batch of the backends' reset.
    let many: Vec<CounterOp> = (0..2_500)
        .map(|i| counter("gate:many", &format!("c{i:05}"), "agent:x", fixed(DAY), "1"))
        .chain((0..5).map(|i| counter("gate:other", &format!("c{i}"), "agent:x", fixed(DAY), "1")))
        .collect();
    create(s, &c, &many);
    let f = CounterFilter {
        namespace: Some("gate:many".into()),
        ..CounterFilter::default()
    };
    assert_eq!(s.counters(&f, T0 + 1).unwrap().len(), 2_500);
    assert_eq!(s.reset_counters(&f).unwrap(), 2_500);
    assert!(s.counters(&f, T0 + 1).unwrap().is_empty());
    let all = s.counters(&CounterFilter::default(), T0 + 1).unwrap();
    assert_eq!(all.len(), 5);
    assert!(all
        .iter()
        .all(|c| c.key.namespace == "gate:other" && c.used == d("1")));
}
