//! Counters, windows, revocation, attestations, state and reset.

use passgate::store::{
    AttestationFilter, Commit, CommitOutcome, CounterFilter, CounterOp, Store, StoredRecord,
    WindowKind,
};

use crate::support::{d, fixed, op, sliding, Chain, DAY, T0};

use super::{commit, rejected, try_commit, used};

pub fn fixed_windows_count_and_roll(s: &dyn Store) {
    let c = Chain::new("c1");
    let day = op("daily", fixed(DAY), "400.10", "1000");
    assert_eq!(
        commit(
            s,
            T0 + 5,
            std::slice::from_ref(&day),
            &c.record(T0, None, None, "allow")
        ),
        CommitOutcome::Committed
    );
    assert_eq!(
        commit(
            s,
            T0 + 6,
            std::slice::from_ref(&day),
            &c.record(T0, None, None, "allow")
        ),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &day, T0 + 7), "800.2");
    // 800.2 + 400.1 > 1000: nothing changes, the usage comes back.
    assert_eq!(
        commit(
            s,
            T0 + 8,
            std::slice::from_ref(&day),
            &c.record(T0, None, None, "allow")
        ),
        rejected(&["800.20"])
    );
    c.unwind();
    let small = CounterOp {
        amount: d("199.80"),
        need: d("199.80"),
        ..day.clone()
    };
    assert_eq!(
        commit(s, T0 + 9, &[small], &c.record(T0, None, None, "allow")),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &day, T0 + 10), "1000");
    // The next aligned window starts from zero; the last millisecond of this one does not.
    assert_eq!(used(s, &day, T0 + DAY - 1), "1000");
    assert_eq!(used(s, &day, T0 + DAY), "0");
    assert_eq!(
        commit(
            s,
            T0 + DAY,
            std::slice::from_ref(&day),
            &c.record(T0, None, None, "allow")
        ),
        CommitOutcome::Committed
    );
    let state = s.counters(&CounterFilter::default(), T0 + DAY + 1).unwrap();
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].used, d("400.1"));
    assert_eq!(state[0].window_start_ms, Some(T0 + DAY));
    assert_eq!(state[0].window, fixed(DAY));
}

pub fn sliding_windows_are_exact(s: &dyn Store) {
    let c = Chain::new("c1");
    let m = op("burst", sliding(60_000), "3", "10");
    for t in [T0, T0 + 10_000, T0 + 20_000] {
        assert_eq!(
            commit(
                s,
                t,
                std::slice::from_ref(&m),
                &c.record(t, None, None, "allow")
            ),
            CommitOutcome::Committed
        );
    }
    assert_eq!(used(s, &m, T0 + 59_999), "9");
    assert_eq!(
        commit(
            s,
            T0 + 59_999,
            std::slice::from_ref(&m),
            &c.record(T0, None, None, "allow")
        ),
        rejected(&["9"])
    );
    c.unwind();
    // At T0 + 60 000 the first entry has left (the window is (t - size, t]).
    assert_eq!(used(s, &m, T0 + 60_000), "6");
    assert_eq!(
        commit(
            s,
            T0 + 60_000,
            std::slice::from_ref(&m),
            &c.record(T0, None, None, "allow")
        ),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &m, T0 + 70_000), "6");
    assert_eq!(used(s, &m, T0 + 200_000), "0");
    // A request that needs a slot but adds nothing.
    let probe = CounterOp {
        amount: d("0"),
        need: d("1"),
        ..m.clone()
    };
    assert_eq!(
        commit(s, T0 + 70_000, &[probe], &c.record(T0, None, None, "allow")),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &m, T0 + 70_000), "6");
}

pub fn forever_counters_never_reset(s: &dyn Store) {
    let c = Chain::new("c1");
    let q = op("quota", WindowKind::Forever, "1", "2");
    for t in [T0, T0 + 400 * DAY] {
        assert_eq!(
            commit(
                s,
                t,
                std::slice::from_ref(&q),
                &c.record(t, None, None, "allow")
            ),
            CommitOutcome::Committed
        );
    }
    assert_eq!(
        commit(
            s,
            T0 + 800 * DAY,
            std::slice::from_ref(&q),
            &c.record(T0, None, None, "allow")
        ),
        rejected(&["2"])
    );
    assert_eq!(used(s, &q, T0 + 9000 * DAY), "2");
}

pub fn all_or_nothing(s: &dyn Store) {
    let c = Chain::new("c1");
    let a = op("a", fixed(DAY), "5", "100");
    let b = op("b", WindowKind::Forever, "5", "7");
    assert_eq!(
        commit(
            s,
            T0,
            &[a.clone(), b.clone()],
            &c.record(T0, None, None, "allow")
        ),
        CommitOutcome::Committed
    );
    assert_eq!(
        commit(
            s,
            T0,
            &[a.clone(), b.clone()],
            &c.record(T0, None, None, "allow")
        ),
        rejected(&["5", "5"])
    );
    c.unwind();
    assert_eq!(
        used(s, &a, T0),
        "5",
        "a rejected commit advances no counter"
    );
    assert_eq!(
        s.attestations(&AttestationFilter::default()).unwrap().len(),
        1,
        "and appends no record"
    );
    // Monitor mode counts what passes and what does not.
    let r = c.record(T0, None, None, "allow");
    let monitor = Commit {
        now_ms: T0,
        counters: &[a.clone(), b.clone()],
        enforce_bounds: false,
        record: &r,
        idempotency: None,
        hold: None,
        approval_request: None,
        use_approval: None,
        nonce: None,
        guard: None,
        expect_usage: None,
    };
    assert_eq!(s.commit(&monitor).unwrap(), CommitOutcome::Committed);
    assert_eq!(used(s, &b, T0), "10");
    // Exact decimals: 0.1 + 0.2 is 0.3, and eighteen places are kept.
    let e = op("exact", WindowKind::Forever, "0.1", "0.3");
    let e2 = CounterOp {
        amount: d("0.2"),
        need: d("0.2"),
        ..e.clone()
    };
    commit(s, T0, &[e], &c.record(T0, None, None, "allow"));
    commit(
        s,
        T0,
        std::slice::from_ref(&e2),
        &c.record(T0, None, None, "allow"),
    );
    assert_eq!(used(s, &e2, T0), "0.3");
    let tiny = op("tiny", WindowKind::Forever, "0.000000000000000001", "1");
    commit(
        s,
        T0,
        std::slice::from_ref(&tiny),
        &c.record(T0, None, None, "allow"),
    );
    commit(
        s,
        T0,
        std::slice::from_ref(&tiny),
        &c.record(T0, None, None, "allow"),
    );
    assert_eq!(used(s, &tiny, T0), "0.000000000000000002");
}

pub fn revocation(s: &dyn Store) {
    assert_eq!(s.first_revoked(&["p1", "p2"]).unwrap(), None);
    s.revoke("p2", T0).unwrap();
    s.revoke("p2", T0 + 1).unwrap();
    s.revoke("p{weird}:id", T0).unwrap();
    assert_eq!(
        s.first_revoked(&["p1", "p2", "p{weird}:id"])
            .unwrap()
            .as_deref(),
        Some("p2")
    );
    assert_eq!(
        s.first_revoked(&["p{weird}:id"]).unwrap().as_deref(),
        Some("p{weird}:id")
    );
    assert_eq!(s.first_revoked(&[]).unwrap(), None);
}

pub fn attestations_filter_and_order(s: &dyn Store) {
    let (a, b) = (Chain::new("chn_a"), Chain::new("chn_b"));
    let mut all = Vec::new();
    for i in 0..30i64 {
        let (chain, agent) = if i % 3 == 0 {
            (&b, None)
        } else {
            (&a, Some("alice"))
        };
        let gate = if i % 2 == 0 { "pay" } else { "read" };
        let dec = if i % 5 == 0 { "deny" } else { "allow" };
        let r = if i % 7 == 6 {
            chain.event(T0 + 100 - i, "host.note")
        } else {
            chain.record(T0 + 100 - i, Some(gate), agent, dec)
        };
        s.append(&r).unwrap();
        all.push(r);
    }
    let got = |f: AttestationFilter| s.attestations(&f).unwrap();
    assert_eq!(
        got(AttestationFilter::default()),
        all,
        "oldest (first appended) first, across chains"
    );
    let want = |pred: &dyn Fn(&StoredRecord) -> bool| {
        all.iter().filter(|r| pred(r)).cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        got(AttestationFilter {
            chain: Some("chn_b".into()),
            ..Default::default()
        }),
        want(&|r| r.chain == "chn_b")
    );
    assert_eq!(
        got(AttestationFilter {
            gate: Some("pay".into()),
            ..Default::default()
        }),
        want(&|r| r.gate.as_deref() == Some("pay"))
    );
    assert_eq!(
        got(AttestationFilter {
            agent_id: Some("alice".into()),
            decision: Some("deny".into()),
            ..Default::default()
        }),
        want(&|r| r.agent_id.is_some() && r.decision.as_deref() == Some("deny"))
    );
    assert_eq!(
        got(AttestationFilter {
            kind: Some("host.note".into()),
            ..Default::default()
        }),
        want(&|r| r.kind == "host.note")
    );
    let eid = all[4].evaluation_id.clone();
    assert_eq!(
        got(AttestationFilter {
            evaluation_id: eid,
            ..Default::default()
        }),
        vec![all[4].clone()]
    );
    assert_eq!(
        got(AttestationFilter {
            since_ms: Some(T0 + 80),
            until_ms: Some(T0 + 90),
            ..Default::default()
        }),
        want(&|r| (T0 + 80..T0 + 90).contains(&r.time_ms))
    );
    assert_eq!(
        got(AttestationFilter {
            anonymous_only: true,
            ..Default::default()
        }),
        want(&|r| r.kind == "decision" && r.agent_id.is_none())
    );
    assert_eq!(
        got(AttestationFilter {
            limit: Some(4),
            gate: Some("read".into()),
            ..Default::default()
        }),
        want(&|r| r.gate.as_deref() == Some("read"))[..4].to_vec()
    );
    assert_eq!(
        got(AttestationFilter {
            limit: Some(0),
            ..Default::default()
        }),
        vec![]
    );
    assert_eq!(
        got(AttestationFilter {
            gate: Some("nope".into()),
            ..Default::default()
        }),
        vec![]
    );
    let tail = s.chain_tail("chn_a").unwrap().unwrap();
    assert_eq!(
        tail,
        all.iter()
            .rev()
            .find(|r| r.chain == "chn_a")
            .unwrap()
            .clone()
    );
    assert_eq!(s.chain_tail("chn_none").unwrap(), None);
}

pub fn reset_and_state(s: &dyn Store) {
    let c = Chain::new("c1");
    let mk = |ns: &str, con: &str, scope: &str, w: WindowKind, a: &str| CounterOp {
        key: passgate::store::CounterKey {
            namespace: ns.into(),
            constraint: con.into(),
            scope: scope.into(),
        },
        window: w,
        amount: d(a),
        need: d(a),
        max: d("1000"),
    };
    let ops = [
        mk("gate:pay", "daily", "agent:a", fixed(DAY), "5"),
        mk("gate:pay", "daily", "agent:b", fixed(DAY), "6"),
        mk("gate:pay", "burst", "agent:a", sliding(60_000), "1"),
        mk("global", "org", "global", WindowKind::Forever, "7.25"),
        mk("passport:p1", "cap", "agent:a", fixed(3_600_000), "2"),
    ];
    assert_eq!(
        commit(s, T0, &ops, &c.record(T0, None, None, "allow")),
        CommitOutcome::Committed
    );
    let all = s.counters(&CounterFilter::default(), T0 + 1).unwrap();
    let keys: Vec<(String, String, String, String)> = all
        .iter()
        .map(|c| {
            (
                c.key.namespace.to_string(),
                c.key.constraint.to_string(),
                c.key.scope.to_string(),
                c.used.normalize().to_string(),
            )
        })
        .collect();
    let own = |a: &str, b: &str, c: &str, u: &str| {
        (a.to_string(), b.to_string(), c.to_string(), u.to_string())
    };
    assert_eq!(
        keys,
        [
            own("gate:pay", "burst", "agent:a", "1"),
            own("gate:pay", "daily", "agent:a", "5"),
            own("gate:pay", "daily", "agent:b", "6"),
            own("global", "org", "global", "7.25"),
            own("passport:p1", "cap", "agent:a", "2"),
        ],
        "sorted by key"
    );
    let f = CounterFilter {
        namespace: Some("gate:pay".into()),
        constraint: Some("daily".into()),
        ..Default::default()
    };
    assert_eq!(s.counters(&f, T0).unwrap().len(), 2);
    let f2 = CounterFilter {
        scope: Some("agent:a".into()),
        ..Default::default()
    };
    assert_eq!(s.counters(&f2, T0).unwrap().len(), 3);
    assert_eq!(s.reset_counters(&f).unwrap(), 2);
    assert_eq!(s.reset_counters(&f).unwrap(), 0);
    assert_eq!(s.counters(&CounterFilter::default(), T0).unwrap().len(), 3);
    assert_eq!(used(s, &ops[0], T0), "0");
    assert_eq!(used(s, &ops[3], T0), "7.25");
    assert_eq!(s.reset_counters(&CounterFilter::default()).unwrap(), 3);
    assert!(s
        .counters(&CounterFilter::default(), T0)
        .unwrap()
        .is_empty());
}

/// Engines with skewed clocks: an entry counted "in the past" is still dropped once it leaves the
/// window (found by the differential test: the memory store's log had lost its time order).
pub fn sliding_windows_with_a_clock_that_steps_back(s: &dyn Store) {
    let c = Chain::new("c1");
    let m = op("burst", sliding(60_000), "1", "100");
    let small = CounterOp {
        amount: d("0.01"),
        need: d("0.01"),
        ..m.clone()
    };
    let zero = CounterOp {
        amount: d("0"),
        need: d("0"),
        ..m.clone()
    };
    for (t, o) in [(T0, &zero), (T0 - 3_145, &small), (T0 + 56_855, &zero)] {
        let r = c.record(t, None, None, "allow");
        assert_eq!(
            commit(s, t, std::slice::from_ref(o), &r),
            CommitOutcome::Committed
        );
    }
    assert_eq!(used(s, &m, T0 + 56_747), "0");
    let r = c.record(T0, None, None, "allow");
    assert_eq!(
        commit(s, T0 - 10_000, std::slice::from_ref(&m), &r),
        CommitOutcome::Committed
    );
    assert_eq!(used(s, &m, T0 - 10_000), "1");
    assert_eq!(used(s, &m, T0 + 49_999), "1");
    assert_eq!(used(s, &m, T0 + 50_000), "0");
}

/// Two engines whose clocks disagree by a few milliseconds (or seconds) around a window boundary,
/// interleaved: once the later window has begun, a request stamped in the earlier one counts
/// against it (a window never moves backwards), so the clocks cannot ping-pong the window and
/// reopen a spent budget. Minute, hour and day windows; 5 ms and 2 s of skew.
pub fn fixed_windows_never_move_backwards(s: &dyn Store) {
    let c = Chain::new("c-skew");
    for (n, size) in [60_000, 3_600_000, DAY].into_iter().enumerate() {
        for (m, skew) in [5, 2_000].into_iter().enumerate() {
            let id = format!("skew-{n}-{m}");
            let cap = op(&id, fixed(size), "1", "10");
            // A boundary some windows after T0, different for every case.
            let boundary = T0 + size * (n as i64 + 3);
            let mut admitted_per_window = std::collections::BTreeMap::<i64, u32>::new();
            let mut stored_window = i64::MIN;
            for i in 0..100 {
                // The later engine first, then alternate.
                let now = if i % 2 == 0 {
                    boundary + skew
                } else {
                    boundary - skew
                };
                let out = commit(
                    s,
                    now,
                    std::slice::from_ref(&cap),
                    &c.record(now, None, None, "allow"),
                );
                if out == CommitOutcome::Committed {
                    stored_window = stored_window.max(now.div_euclid(size));
                    *admitted_per_window.entry(stored_window).or_default() += 1;
                } else {
                    c.unwind();
                }
            }
            assert_eq!(
                admitted_per_window.values().sum::<u32>(),
                10,
                "window {size} ms, skew {skew} ms: {admitted_per_window:?}"
            );
            // And the earlier clock sees the later window's usage.
            assert_eq!(used(s, &cap, boundary - skew), "10");
        }
    }
}

/// One counter named by two ops of one commit (the engine merges them before it commits; a
/// caller of the store may not). Each op's bound is checked against the usage before the commit,
/// so two amounts that each fit could together pass the cap: the commit is refused with a typed
/// error before anything is read or written, on every window kind.
pub fn one_counter_twice_in_a_commit_is_refused(s: &dyn Store) {
    let c = Chain::new("c1");
    for (name, window) in [
        ("fixed", fixed(DAY)),
        ("sliding", sliding(60_000)),
        ("forever", WindowKind::Forever),
    ] {
        let a = op(name, window, "6", "10");
        let b = op(name, window, "6", "10");
        let other = op("other", window, "1", "10");
        let r = c.record(T0, None, None, "allow");
        let err = try_commit(s, T0, &[a.clone(), other.clone(), b.clone()], &r).unwrap_err();
        assert_eq!(err.code(), "INVALID_ARGUMENT", "{name}: {err}");
        assert_eq!(err.path(), Some("/counters/2"), "{name}: {err}");
        c.unwind();
        assert_eq!(used(s, &a, T0 + 1), "0", "{name}");
        assert_eq!(used(s, &other, T0 + 1), "0", "{name}");
        // Nothing was appended: the chain goes on at the refused record's seq.
        let merged = CounterOp {
            amount: d("10"),
            need: d("10"),
            ..a.clone()
        };
        assert_eq!(
            commit(s, T0 + 2, &[merged], &c.record(T0, None, None, "allow")),
            CommitOutcome::Committed,
            "{name}"
        );
        assert_eq!(used(s, &a, T0 + 3), "10", "{name}");
    }
}
