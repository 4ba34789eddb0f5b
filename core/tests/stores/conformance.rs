//! The behaviour every backend must show, run against memory, SQLite and Redis alike (see the
//! `conformance!` invocation in `main.rs`). Store-level: counters, windows, holds, approvals,
//! idempotency, revocation, attestations, reset, state.

use passgate::store::{
    ApprovalRecord, ApprovalState, AttestationFilter, Commit, CommitOutcome, CounterFilter,
    CounterOp, HeldOp, HoldOutcome, HoldRecord, HoldResolution, HoldState, IdempotencyRecord,
    SettleRule, Store, StoredRecord, WindowKind,
};
use rust_decimal::Decimal;
use serde_json::json;

use crate::support::{d, fixed, op, sliding, Chain, DAY, T0};

pub fn commit(s: &dyn Store, now: i64, ops: &[CounterOp], rec: &StoredRecord) -> CommitOutcome {
    s.commit(&Commit {
        now_ms: now,
        counters: ops,
        enforce_bounds: true,
        record: rec,
        idempotency: None,
        hold: None,
        approval_request: None,
        use_approval: None,
    })
    .unwrap()
}

fn used(s: &dyn Store, o: &CounterOp, now: i64) -> String {
    s.read(std::slice::from_ref(o), now).unwrap()[0].normalize().to_string()
}

fn rejected(usage: &[&str]) -> CommitOutcome {
    CommitOutcome::Rejected {
        usage: usage.iter().map(|u| d(u)).collect(),
    }
}

pub fn fixed_windows_count_and_roll(s: &dyn Store) {
    let c = Chain::new("c1");
    let day = op("daily", fixed(DAY), "400.10", "1000");
    assert_eq!(commit(s, T0 + 5, &[day.clone()], &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
    assert_eq!(commit(s, T0 + 6, &[day.clone()], &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
    assert_eq!(used(s, &day, T0 + 7), "800.2");
    // 800.2 + 400.1 > 1000: nothing changes, the usage comes back.
    assert_eq!(commit(s, T0 + 8, &[day.clone()], &c.record(T0, None, None, "allow")), rejected(&["800.20"]));
    c.unwind();
    let small = CounterOp { amount: d("199.80"), need: d("199.80"), ..day.clone() };
    assert_eq!(commit(s, T0 + 9, &[small], &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
    assert_eq!(used(s, &day, T0 + 10), "1000");
    // The next aligned window starts from zero; the last millisecond of this one does not.
    assert_eq!(used(s, &day, T0 + DAY - 1), "1000");
    assert_eq!(used(s, &day, T0 + DAY), "0");
    assert_eq!(commit(s, T0 + DAY, &[day.clone()], &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
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
        assert_eq!(commit(s, t, &[m.clone()], &c.record(t, None, None, "allow")), CommitOutcome::Committed);
    }
    assert_eq!(used(s, &m, T0 + 59_999), "9");
    assert_eq!(commit(s, T0 + 59_999, &[m.clone()], &c.record(T0, None, None, "allow")), rejected(&["9"]));
    c.unwind();
    // At T0 + 60 000 the first entry has left (the window is (t - size, t]).
    assert_eq!(used(s, &m, T0 + 60_000), "6");
    assert_eq!(commit(s, T0 + 60_000, &[m.clone()], &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
    assert_eq!(used(s, &m, T0 + 70_000), "6");
    assert_eq!(used(s, &m, T0 + 200_000), "0");
    // A request that needs a slot but adds nothing.
    let probe = CounterOp { amount: d("0"), need: d("1"), ..m.clone() };
    assert_eq!(commit(s, T0 + 70_000, &[probe], &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
    assert_eq!(used(s, &m, T0 + 70_000), "6");
}

pub fn forever_counters_never_reset(s: &dyn Store) {
    let c = Chain::new("c1");
    let q = op("quota", WindowKind::Forever, "1", "2");
    for t in [T0, T0 + 400 * DAY] {
        assert_eq!(commit(s, t, &[q.clone()], &c.record(t, None, None, "allow")), CommitOutcome::Committed);
    }
    assert_eq!(commit(s, T0 + 800 * DAY, &[q.clone()], &c.record(T0, None, None, "allow")), rejected(&["2"]));
    assert_eq!(used(s, &q, T0 + 9000 * DAY), "2");
}

pub fn all_or_nothing(s: &dyn Store) {
    let c = Chain::new("c1");
    let a = op("a", fixed(DAY), "5", "100");
    let b = op("b", WindowKind::Forever, "5", "7");
    assert_eq!(commit(s, T0, &[a.clone(), b.clone()], &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
    assert_eq!(commit(s, T0, &[a.clone(), b.clone()], &c.record(T0, None, None, "allow")), rejected(&["5", "5"]));
    c.unwind();
    assert_eq!(used(s, &a, T0), "5", "a rejected commit advances no counter");
    assert_eq!(s.attestations(&AttestationFilter::default()).unwrap().len(), 1, "and appends no record");
    // Monitor mode counts what passes and what does not.
    let r = c.record(T0, None, None, "allow");
    let monitor = Commit { now_ms: T0, counters: &[a.clone(), b.clone()], enforce_bounds: false, record: &r,
        idempotency: None, hold: None, approval_request: None, use_approval: None };
    assert_eq!(s.commit(&monitor).unwrap(), CommitOutcome::Committed);
    assert_eq!(used(s, &b, T0), "10");
    // Exact decimals: 0.1 + 0.2 is 0.3, and eighteen places are kept.
    let e = op("exact", WindowKind::Forever, "0.1", "0.3");
    let e2 = CounterOp { amount: d("0.2"), need: d("0.2"), ..e.clone() };
    commit(s, T0, &[e], &c.record(T0, None, None, "allow"));
    commit(s, T0, &[e2.clone()], &c.record(T0, None, None, "allow"));
    assert_eq!(used(s, &e2, T0), "0.3");
    let tiny = op("tiny", WindowKind::Forever, "0.000000000000000001", "1");
    commit(s, T0, &[tiny.clone()], &c.record(T0, None, None, "allow"));
    commit(s, T0, &[tiny.clone()], &c.record(T0, None, None, "allow"));
    assert_eq!(used(s, &tiny, T0), "0.000000000000000002");
}

fn idem(key: &str, fp: &str, expires_ms: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        namespace: "passport:p1".into(),
        key: key.into(),
        fingerprint: fp.into(),
        decision: json!({"decision": "allow", "n": 1.5, "big": 12345678901234567890u64}),
        expires_ms,
    }
}

pub fn idempotency_replays_before_bounds(s: &dyn Store) {
    let c = Chain::new("c1");
    let q = op("q", WindowKind::Forever, "1", "1");
    let first = idem("k1", "fp1", T0 + DAY);
    let r1 = c.record(T0, None, None, "allow");
    let mut cm = Commit { now_ms: T0, counters: std::slice::from_ref(&q), enforce_bounds: true, record: &r1,
        idempotency: Some(&first), hold: None, approval_request: None, use_approval: None };
    assert_eq!(s.commit(&cm).unwrap(), CommitOutcome::Committed);
    // Same key: the stored record, even though the counter is now full.
    let r2 = c.record(T0 + 1, None, None, "allow");
    let second = idem("k1", "other", T0 + DAY + 1);
    cm.record = &r2;
    cm.idempotency = Some(&second);
    cm.now_ms = T0 + 1;
    assert_eq!(s.commit(&cm).unwrap(), CommitOutcome::Replay(first.clone()));
    c.unwind();
    assert_eq!(s.idempotency_get("passport:p1", "k1", T0 + 1).unwrap(), Some(first.clone()));
    assert_eq!(s.idempotency_get("passport:p2", "k1", T0 + 1).unwrap(), None, "keys are namespaced");
    assert_eq!(s.idempotency_get("passport:p1", "k1", T0 + DAY).unwrap(), None, "expired");
    // After expiry the key is free again (and the bound applies).
    cm.now_ms = T0 + DAY;
    assert_eq!(s.commit(&cm).unwrap(), rejected(&["1"]));
    assert_eq!(s.attestations(&AttestationFilter::default()).unwrap().len(), 1);
}

fn approval(eid: &str) -> ApprovalRecord {
    ApprovalRecord {
        evaluation_id: eid.into(),
        fingerprint: "fp".into(),
        gate: "g".into(),
        agent_id: Some("a".into()),
        passport_id: Some("p".into()),
        created_ms: T0,
        expires_ms: T0 + DAY,
        state: ApprovalState::Pending,
    }
}

pub fn approvals_are_single_use(s: &dyn Store) {
    let c = Chain::new("c1");
    let esc = c.record(T0, Some("g"), Some("a"), "escalate");
    let req = approval("evl_1");
    let cm = Commit { now_ms: T0, counters: &[], enforce_bounds: true, record: &esc, idempotency: None,
        hold: None, approval_request: Some(&req), use_approval: None };
    assert_eq!(s.commit(&cm).unwrap(), CommitOutcome::Committed);
    assert_eq!(s.approval_get("evl_1").unwrap(), Some(req.clone()));
    assert_eq!(s.approval_get("evl_nope").unwrap(), None);
    let granted = ApprovalState::Approved { token_id: "apr_1".into(), approver: "h".into(), expires_ms: T0 + 1000 };
    let ev = c.event(T0, "approval.granted");
    assert_eq!(s.approval_resolve("evl_1", &granted, &ev).unwrap(), Some(ApprovalState::Pending));
    let ev2 = c.event(T0, "approval.denied");
    let denied = ApprovalState::Denied { approver: "h".into(), reason: "no".into() };
    assert_eq!(s.approval_resolve("evl_1", &denied, &ev2).unwrap(), Some(granted.clone()), "only once");
    c.unwind();
    assert_eq!(s.approval_resolve("evl_nope", &denied, &ev2).unwrap(), None);
    let use_with = |token: &str, now: i64| {
        let r = c.record(now, Some("g"), Some("a"), "allow");
        let q = op("q", WindowKind::Forever, "1", "10");
        let out = s.commit(&Commit { now_ms: now, counters: std::slice::from_ref(&q), enforce_bounds: true,
            record: &r, idempotency: None, hold: None, approval_request: None,
            use_approval: Some(("evl_1", token)) }).unwrap();
        if out != CommitOutcome::Committed {
            c.unwind();
        }
        out
    };
    let unavailable = |state: &str| CommitOutcome::ApprovalUnavailable { state: state.into() };
    assert_eq!(use_with("apr_other", T0), unavailable("approved"), "another token");
    assert_eq!(use_with("apr_1", T0 + 1000), unavailable("approved"), "expired");
    assert_eq!(use_with("apr_1", T0 + 999), CommitOutcome::Committed);
    assert_eq!(use_with("apr_1", T0 + 999), unavailable("used"));
    assert_eq!(s.approval_get("evl_1").unwrap().unwrap().state, ApprovalState::Used { token_id: "apr_1".into() });
    let r = c.record(T0, None, None, "allow");
    let out = s.commit(&Commit { now_ms: T0, counters: &[], enforce_bounds: true, record: &r, idempotency: None,
        hold: None, approval_request: None, use_approval: Some(("evl_nope", "apr_1")) }).unwrap();
    assert_eq!(out, unavailable("unknown"));
}

fn hold(id: &str, created: i64, expires: i64, ops: Vec<HeldOp>) -> HoldRecord {
    HoldRecord { id: id.into(), evaluation_id: format!("evl_{id}"), gate: "g".into(), agent_id: Some("a".into()),
        passport_id: None, created_ms: created, expires_ms: expires, ops, state: HoldState::Open }
}

fn take_hold(s: &dyn Store, c: &Chain, h: &HoldRecord) -> CommitOutcome {
    let ops: Vec<CounterOp> = h.ops.iter().map(|o| o.op.clone()).collect();
    let r = c.record(h.created_ms, Some("g"), Some("a"), "allow");
    let out = s.commit(&Commit { now_ms: h.created_ms, counters: &ops, enforce_bounds: true, record: &r,
        idempotency: None, hold: Some(h), approval_request: None, use_approval: None }).unwrap();
    if out != CommitOutcome::Committed {
        c.unwind();
    }
    out
}

fn resolve(s: &dyn Store, c: &Chain, id: &str, now: i64, state: HoldState, amounts: &[&str]) -> HoldOutcome {
    let amounts: Vec<Decimal> = amounts.iter().map(|a| d(a)).collect();
    let r = c.event(now, &format!("hold.{}", state.as_str()));
    let out = s.hold_resolve(&HoldResolution { hold_id: id, now_ms: now, state, amounts: &amounts, record: &r }).unwrap();
    if out != HoldOutcome::Resolved {
        c.unwind();
    }
    out
}

pub fn holds_settle_release_expire(s: &dyn Store) {
    let c = Chain::new("c1");
    let spend = HeldOp { op: op("budget", fixed(DAY), "60", "100"), settle: SettleRule::Actual { field: "/cost".into() } };
    let calls = HeldOp { op: op("calls", sliding(60_000), "1", "1000"), settle: SettleRule::Keep };
    let slot = HeldOp { op: CounterOp { need: d("1"), ..op("flight", WindowKind::Forever, "1", "2") }, settle: SettleRule::Release };
    let h1 = hold("hld_1", T0, T0 + 600_000, vec![spend.clone(), calls.clone(), slot.clone()]);
    assert_eq!(take_hold(s, &c, &h1), CommitOutcome::Committed);
    assert_eq!(s.hold_get("hld_1").unwrap(), Some(h1.clone()));
    assert_eq!(s.hold_get("hld_nope").unwrap(), None);
    // 60 reserved: another 60 does not fit.
    let h2 = hold("hld_2", T0 + 1, T0 + 300_000, vec![spend.clone(), calls.clone(), slot.clone()]);
    assert_eq!(take_hold(s, &c, &h2), rejected(&["60", "1", "1"]));
    let h2 = hold("hld_2", T0 + 1, T0 + 300_000, vec![HeldOp { op: op("budget", fixed(DAY), "40", "100"), ..spend.clone() }, calls.clone(), slot.clone()]);
    assert_eq!(take_hold(s, &c, &h2), CommitOutcome::Committed);
    let h3 = hold("hld_3", T0 + 2, T0 + 300_000, vec![slot.clone()]);
    assert_eq!(take_hold(s, &c, &h3), rejected(&["2"]), "both slots taken");
    // Settling above the reservation only while the cap holds.
    assert_eq!(resolve(s, &c, "hld_1", T0 + 10, HoldState::Settled, &["61", "1", "0"]), HoldOutcome::Rejected { usage: vec![d("100"), d("2"), d("2")] });
    assert_eq!(resolve(s, &c, "hld_1", T0 + 10, HoldState::Settled, &["42.5", "1", "0"]), HoldOutcome::Resolved);
    assert_eq!(s.hold_get("hld_1").unwrap().unwrap().state, HoldState::Settled);
    assert_eq!(resolve(s, &c, "hld_1", T0 + 11, HoldState::Released, &["0", "0", "0"]), HoldOutcome::NotOpen(HoldState::Settled));
    assert_eq!(resolve(s, &c, "hld_nope", T0 + 11, HoldState::Released, &[]), HoldOutcome::Unknown);
    assert_eq!(used(s, &spend.op, T0 + 12), "82.5");
    assert_eq!(used(s, &calls.op, T0 + 12), "2");
    assert_eq!(used(s, &slot.op, T0 + 12), "1");
    // Due holds, by expiry then id, at most `limit`.
    let h4 = hold("hld_0", T0 + 20, T0 + 300_000, vec![calls.clone()]);
    assert_eq!(take_hold(s, &c, &h4), CommitOutcome::Committed);
    assert!(s.holds_due(T0 + 299_999, 10).unwrap().is_empty());
    let due: Vec<String> = s.holds_due(T0 + 300_000, 10).unwrap().into_iter().map(|h| h.id).collect();
    assert_eq!(due, ["hld_0", "hld_2"]);
    assert_eq!(s.holds_due(T0 + DAY, 1).unwrap().len(), 1);
    // Released inside the sliding window: the entry is given back where it was counted.
    assert_eq!(resolve(s, &c, "hld_0", T0 + 30_000, HoldState::Released, &["0"]), HoldOutcome::Resolved);
    assert_eq!(used(s, &calls.op, T0 + 30_000), "2");
    assert_eq!(used(s, &calls.op, T0 + 60_000), "1");
    assert_eq!(used(s, &calls.op, T0 + 60_001), "0");
    let due: Vec<String> = s.holds_due(T0 + DAY, 10).unwrap().into_iter().map(|h| h.id).collect();
    assert_eq!(due, ["hld_2"]);
    // Expiring hld_2 after its sliding entry left the window: the fixed window (same day) gets
    // the 40 back, the sliding log has nothing left to give back.
    assert_eq!(resolve(s, &c, "hld_2", T0 + 300_000, HoldState::Expired, &["0", "0", "0"]), HoldOutcome::Resolved);
    assert_eq!(used(s, &spend.op, T0 + 300_000), "42.5");
    assert_eq!(used(s, &calls.op, T0 + 300_000), "0");
    assert_eq!(used(s, &slot.op, T0 + 300_000), "0");
    assert!(s.holds_due(T0 + DAY, 10).unwrap().is_empty());
    let kinds: Vec<String> = s.attestations(&AttestationFilter::default()).unwrap().into_iter().map(|r| r.kind).collect();
    assert_eq!(kinds, ["decision", "decision", "hold.settled", "decision", "hold.released", "hold.expired"]);
}

pub fn holds_adjust_in_their_own_window(s: &dyn Store) {
    let c = Chain::new("c1");
    let spend = HeldOp { op: op("budget", fixed(DAY), "30", "100"), settle: SettleRule::Actual { field: "/cost".into() } };
    let h = hold("hld_a", T0 + DAY - 1000, T0 + 2 * DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h), CommitOutcome::Committed);
    let h2 = hold("hld_b", T0 + DAY - 1000, T0 + 2 * DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h2), CommitOutcome::Committed);
    // Next day: giving back does not touch the new window; an increase is counted now.
    assert_eq!(resolve(s, &c, "hld_a", T0 + DAY + 5, HoldState::Settled, &["10"]), HoldOutcome::Resolved);
    assert_eq!(used(s, &spend.op, T0 + DAY + 5), "0");
    assert_eq!(resolve(s, &c, "hld_b", T0 + DAY + 6, HoldState::Settled, &["45"]), HoldOutcome::Resolved);
    assert_eq!(used(s, &spend.op, T0 + DAY + 6), "15");
    // A counter reset in between is left alone.
    let h3 = hold("hld_c", T0 + DAY + 7, T0 + 2 * DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h3), CommitOutcome::Committed);
    assert_eq!(s.reset_counters(&CounterFilter::default()).unwrap(), 1);
    assert_eq!(resolve(s, &c, "hld_c", T0 + DAY + 8, HoldState::Settled, &["50"]), HoldOutcome::Resolved);
    assert_eq!(used(s, &spend.op, T0 + DAY + 8), "0");
    assert!(s.counters(&CounterFilter::default(), T0 + DAY + 8).unwrap().is_empty());
}

pub fn revocation(s: &dyn Store) {
    assert_eq!(s.first_revoked(&["p1", "p2"]).unwrap(), None);
    s.revoke("p2", T0).unwrap();
    s.revoke("p2", T0 + 1).unwrap();
    s.revoke("p{weird}:id", T0).unwrap();
    assert_eq!(s.first_revoked(&["p1", "p2", "p{weird}:id"]).unwrap().as_deref(), Some("p2"));
    assert_eq!(s.first_revoked(&["p{weird}:id"]).unwrap().as_deref(), Some("p{weird}:id"));
    assert_eq!(s.first_revoked(&[]).unwrap(), None);
}

pub fn attestations_filter_and_order(s: &dyn Store) {
    let (a, b) = (Chain::new("chn_a"), Chain::new("chn_b"));
    let mut all = Vec::new();
    for i in 0..30i64 {
        let (chain, agent) = if i % 3 == 0 { (&b, None) } else { (&a, Some("alice")) };
        let gate = if i % 2 == 0 { "pay" } else { "read" };
        let dec = if i % 5 == 0 { "deny" } else { "allow" };
        let r = if i % 7 == 6 { chain.event(T0 + 100 - i, "host.note") } else { chain.record(T0 + 100 - i, Some(gate), agent, dec) };
        s.append(&r).unwrap();
        all.push(r);
    }
    let got = |f: AttestationFilter| s.attestations(&f).unwrap();
    assert_eq!(got(AttestationFilter::default()), all, "oldest (first appended) first, across chains");
    let want = |pred: &dyn Fn(&StoredRecord) -> bool| all.iter().filter(|r| pred(r)).cloned().collect::<Vec<_>>();
    assert_eq!(got(AttestationFilter { chain: Some("chn_b".into()), ..Default::default() }), want(&|r| r.chain == "chn_b"));
    assert_eq!(got(AttestationFilter { gate: Some("pay".into()), ..Default::default() }), want(&|r| r.gate.as_deref() == Some("pay")));
    assert_eq!(got(AttestationFilter { agent_id: Some("alice".into()), decision: Some("deny".into()), ..Default::default() }),
        want(&|r| r.agent_id.is_some() && r.decision.as_deref() == Some("deny")));
    assert_eq!(got(AttestationFilter { kind: Some("host.note".into()), ..Default::default() }), want(&|r| r.kind == "host.note"));
    let eid = all[4].evaluation_id.clone();
    assert_eq!(got(AttestationFilter { evaluation_id: eid, ..Default::default() }), vec![all[4].clone()]);
    assert_eq!(got(AttestationFilter { since_ms: Some(T0 + 80), until_ms: Some(T0 + 90), ..Default::default() }),
        want(&|r| (T0 + 80..T0 + 90).contains(&r.time_ms)));
    assert_eq!(got(AttestationFilter { anonymous_only: true, ..Default::default() }), want(&|r| r.kind == "decision" && r.agent_id.is_none()));
    assert_eq!(got(AttestationFilter { limit: Some(4), gate: Some("read".into()), ..Default::default() }),
        want(&|r| r.gate.as_deref() == Some("read"))[..4].to_vec());
    assert_eq!(got(AttestationFilter { limit: Some(0), ..Default::default() }), vec![]);
    assert_eq!(got(AttestationFilter { gate: Some("nope".into()), ..Default::default() }), vec![]);
    let tail = s.chain_tail("chn_a").unwrap().unwrap();
    assert_eq!(tail, all.iter().rev().find(|r| r.chain == "chn_a").unwrap().clone());
    assert_eq!(s.chain_tail("chn_none").unwrap(), None);
}

pub fn reset_and_state(s: &dyn Store) {
    let c = Chain::new("c1");
    let mk = |ns: &str, con: &str, scope: &str, w: WindowKind, a: &str| CounterOp {
        key: passgate::store::CounterKey { namespace: ns.into(), constraint: con.into(), scope: scope.into() },
        window: w, amount: d(a), need: d(a), max: d("1000"),
    };
    let ops = [
        mk("gate:pay", "daily", "agent:a", fixed(DAY), "5"),
        mk("gate:pay", "daily", "agent:b", fixed(DAY), "6"),
        mk("gate:pay", "burst", "agent:a", sliding(60_000), "1"),
        mk("global", "org", "global", WindowKind::Forever, "7.25"),
        mk("passport:p1", "cap", "agent:a", fixed(3600_000), "2"),
    ];
    assert_eq!(commit(s, T0, &ops, &c.record(T0, None, None, "allow")), CommitOutcome::Committed);
    let all = s.counters(&CounterFilter::default(), T0 + 1).unwrap();
    let keys: Vec<(String, String, String, String)> = all.iter()
        .map(|c| (c.key.namespace.clone(), c.key.constraint.clone(), c.key.scope.clone(), c.used.normalize().to_string()))
        .collect();
    let own = |a: &str, b: &str, c: &str, u: &str| (a.to_string(), b.to_string(), c.to_string(), u.to_string());
    assert_eq!(keys, [
        own("gate:pay", "burst", "agent:a", "1"), own("gate:pay", "daily", "agent:a", "5"),
        own("gate:pay", "daily", "agent:b", "6"), own("global", "org", "global", "7.25"),
        own("passport:p1", "cap", "agent:a", "2"),
    ], "sorted by key");
    let f = CounterFilter { namespace: Some("gate:pay".into()), constraint: Some("daily".into()), ..Default::default() };
    assert_eq!(s.counters(&f, T0).unwrap().len(), 2);
    let f2 = CounterFilter { scope: Some("agent:a".into()), ..Default::default() };
    assert_eq!(s.counters(&f2, T0).unwrap().len(), 3);
    assert_eq!(s.reset_counters(&f).unwrap(), 2);
    assert_eq!(s.reset_counters(&f).unwrap(), 0);
    assert_eq!(s.counters(&CounterFilter::default(), T0).unwrap().len(), 3);
    assert_eq!(used(s, &ops[0], T0), "0");
    assert_eq!(used(s, &ops[3], T0), "7.25");
    assert_eq!(s.reset_counters(&CounterFilter::default()).unwrap(), 3);
    assert!(s.counters(&CounterFilter::default(), T0).unwrap().is_empty());
}
