//! Idempotency, approvals and holds.

use passgate::store::{
    ApprovalRecord, ApprovalState, AttestationFilter, Commit, CommitOutcome, CounterFilter,
    CounterOp, HeldOp, HoldOutcome, HoldRecord, HoldResolution, HoldState, IdempotencyRecord,
    SettleRule, Store, UseApproval, WindowKind,
};
use rust_decimal::Decimal;
use serde_json::json;

use crate::support::{d, fixed, op, sliding, Chain, DAY, T0};

use super::{rejected, used};

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
    let mut cm = Commit {
        now_ms: T0,
        counters: std::slice::from_ref(&q),
        enforce_bounds: true,
        record: &r1,
        idempotency: Some(&first),
        hold: None,
        approval_request: None,
        use_approval: None,
        nonce: None,
        guard: None,
        expect_usage: None,
    };
    assert_eq!(s.commit(&cm).unwrap(), CommitOutcome::Committed);
    // Same key: the stored record, even though the counter is now full.
    let r2 = c.record(T0 + 1, None, None, "allow");
    let second = idem("k1", "other", T0 + DAY + 1);
    cm.record = &r2;
    cm.idempotency = Some(&second);
    cm.now_ms = T0 + 1;
    assert_eq!(s.commit(&cm).unwrap(), CommitOutcome::Replay(first.clone()));
    c.unwind();
    assert_eq!(
        s.idempotency_get("passport:p1", "k1", T0 + 1).unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.idempotency_get("passport:p2", "k1", T0 + 1).unwrap(),
        None,
        "keys are namespaced"
    );
    assert_eq!(
        s.idempotency_get("passport:p1", "k1", T0 + DAY).unwrap(),
        None,
        "expired"
    );
    // After expiry the key is free again (and the bound applies).
    cm.now_ms = T0 + DAY;
    assert_eq!(s.commit(&cm).unwrap(), rejected(&["1"]));
    assert_eq!(
        s.attestations(&AttestationFilter::default()).unwrap().len(),
        1
    );
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
    let cm = Commit {
        now_ms: T0,
        counters: &[],
        enforce_bounds: true,
        record: &esc,
        idempotency: None,
        hold: None,
        approval_request: Some(&req),
        use_approval: None,
        nonce: None,
        guard: None,
        expect_usage: None,
    };
    assert_eq!(s.commit(&cm).unwrap(), CommitOutcome::Committed);
    assert_eq!(s.approval_get("evl_1").unwrap(), Some(req.clone()));
    assert_eq!(s.approval_get("evl_nope").unwrap(), None);
    let granted = ApprovalState::Approved {
        token_id: "apr_1".into(),
        approver: "h".into(),
        expires_ms: T0 + 1000,
        key: "did:key:z6Mkapprover".into(),
    };
    let ev = c.event(T0, "approval.granted");
    assert_eq!(
        s.approval_resolve("evl_1", &granted, &ev).unwrap(),
        Some(ApprovalState::Pending)
    );
    let ev2 = c.event(T0, "approval.denied");
    let denied = ApprovalState::Denied {
        approver: "h".into(),
        reason: "no".into(),
    };
    assert_eq!(
        s.approval_resolve("evl_1", &denied, &ev2).unwrap(),
        Some(granted.clone()),
        "only once"
    );
    c.unwind();
    assert_eq!(s.approval_resolve("evl_nope", &denied, &ev2).unwrap(), None);
    let use_with = |token: &str, fingerprint: &str, now: i64| {
        let r = c.record(now, Some("g"), Some("a"), "allow");
        let q = op("q", WindowKind::Forever, "1", "10");
        let out = s
            .commit(&Commit {
                now_ms: now,
                counters: std::slice::from_ref(&q),
                enforce_bounds: true,
                record: &r,
                idempotency: None,
                hold: None,
                approval_request: None,
                use_approval: Some(UseApproval {
                    evaluation_id: "evl_1",
                    token_id: token,
                    fingerprint,
                }),
                nonce: None,
                guard: None,
                expect_usage: None,
            })
            .unwrap();
        if out != CommitOutcome::Committed {
            c.unwind();
        }
        out
    };
    let unavailable = |state: &str| CommitOutcome::ApprovalUnavailable {
        state: state.into(),
    };
    let fp = req.fingerprint.as_str();
    assert_eq!(
        use_with("apr_other", fp, T0),
        unavailable("approved"),
        "another token"
    );
    assert_eq!(
        use_with("apr_1", fp, T0 + 1000),
        unavailable("approved"),
        "expired"
    );
    assert_eq!(
        use_with("apr_1", "sha256:another-request", T0 + 999),
        unavailable("approved"),
        "the right token for another request"
    );
    assert_eq!(use_with("apr_1", fp, T0 + 999), CommitOutcome::Committed);
    assert_eq!(use_with("apr_1", fp, T0 + 999), unavailable("used"));
    assert_eq!(
        s.approval_get("evl_1").unwrap().unwrap().state,
        ApprovalState::Used {
            token_id: "apr_1".into()
        }
    );
    let r = c.record(T0, None, None, "allow");
    let out = s
        .commit(&Commit {
            now_ms: T0,
            counters: &[],
            enforce_bounds: true,
            record: &r,
            idempotency: None,
            hold: None,
            approval_request: None,
            use_approval: Some(UseApproval {
                evaluation_id: "evl_nope",
                token_id: "apr_1",
                fingerprint: "sha256:x",
            }),
            nonce: None,
            guard: None,
            expect_usage: None,
        })
        .unwrap();
    assert_eq!(out, unavailable("unknown"));
}

pub(crate) fn hold(id: &str, created: i64, expires: i64, ops: Vec<HeldOp>) -> HoldRecord {
    HoldRecord {
        id: id.into(),
        evaluation_id: format!("evl_{id}"),
        gate: "g".into(),
        agent_id: Some("a".into()),
        passport_id: None,
        created_ms: created,
        expires_ms: expires,
        ops,
        state: HoldState::Open,
    }
}

pub(crate) fn take_hold(s: &dyn Store, c: &Chain, h: &HoldRecord) -> CommitOutcome {
    let ops: Vec<CounterOp> = h.ops.iter().map(|o| o.op.clone()).collect();
    let r = c.record(h.created_ms, Some("g"), Some("a"), "allow");
    let out = s
        .commit(&Commit {
            now_ms: h.created_ms,
            counters: &ops,
            enforce_bounds: true,
            record: &r,
            idempotency: None,
            hold: Some(h),
            approval_request: None,
            use_approval: None,
            nonce: None,
            guard: None,
            expect_usage: None,
        })
        .unwrap();
    if out != CommitOutcome::Committed {
        c.unwind();
    }
    out
}

pub(crate) fn resolve(
    s: &dyn Store,
    c: &Chain,
    id: &str,
    now: i64,
    state: HoldState,
    amounts: &[&str],
) -> HoldOutcome {
    resolve_with(s, c, id, now, state, amounts, true)
}

pub(crate) fn resolve_with(
    s: &dyn Store,
    c: &Chain,
    id: &str,
    now: i64,
    state: HoldState,
    amounts: &[&str],
    enforce_bounds: bool,
) -> HoldOutcome {
    let amounts: Vec<Decimal> = amounts.iter().map(|a| d(a)).collect();
    let r = c.event(now, &format!("hold.{}", state.as_str()));
    let out = s
        .hold_resolve(&HoldResolution {
            hold_id: id,
            now_ms: now,
            state,
            amounts: &amounts,
            enforce_bounds,
            record: &r,
        })
        .unwrap();
    if out != HoldOutcome::Resolved {
        c.unwind();
    }
    out
}

pub fn holds_settle_release_expire(s: &dyn Store) {
    let c = Chain::new("c1");
    let spend = HeldOp {
        op: op("budget", fixed(DAY), "60", "100"),
        settle: SettleRule::Actual {
            field: "/cost".into(),
        },
    };
    let calls = HeldOp {
        op: op("calls", sliding(60_000), "1", "1000"),
        settle: SettleRule::Keep,
    };
    let slot = HeldOp {
        op: CounterOp {
            need: d("1"),
            ..op("flight", WindowKind::Forever, "1", "2")
        },
        settle: SettleRule::Release,
    };
    let h1 = hold(
        "hld_1",
        T0,
        T0 + 600_000,
        vec![spend.clone(), calls.clone(), slot.clone()],
    );
    assert_eq!(take_hold(s, &c, &h1), CommitOutcome::Committed);
    assert_eq!(s.hold_get("hld_1").unwrap(), Some(h1.clone()));
    assert_eq!(s.hold_get("hld_nope").unwrap(), None);
    // 60 reserved: another 60 does not fit.
    let h2 = hold(
        "hld_2",
        T0 + 1,
        T0 + 300_000,
        vec![spend.clone(), calls.clone(), slot.clone()],
    );
    assert_eq!(take_hold(s, &c, &h2), rejected(&["60", "1", "1"]));
    let h2 = hold(
        "hld_2",
        T0 + 1,
        T0 + 300_000,
        vec![
            HeldOp {
                op: op("budget", fixed(DAY), "40", "100"),
                ..spend.clone()
            },
            calls.clone(),
            slot.clone(),
        ],
    );
    assert_eq!(take_hold(s, &c, &h2), CommitOutcome::Committed);
    let h3 = hold("hld_3", T0 + 2, T0 + 300_000, vec![slot.clone()]);
    assert_eq!(take_hold(s, &c, &h3), rejected(&["2"]), "both slots taken");
    // Settling above the reservation only while the cap holds.
    assert_eq!(
        resolve(
            s,
            &c,
            "hld_1",
            T0 + 10,
            HoldState::Settled,
            &["61", "1", "0"]
        ),
        HoldOutcome::Rejected {
            usage: vec![d("100"), d("2"), d("2")]
        }
    );
    assert_eq!(
        resolve(
            s,
            &c,
            "hld_1",
            T0 + 10,
            HoldState::Settled,
            &["42.5", "1", "0"]
        ),
        HoldOutcome::Resolved
    );
    assert_eq!(
        s.hold_get("hld_1").unwrap().unwrap().state,
        HoldState::Settled
    );
    assert_eq!(
        resolve(
            s,
            &c,
            "hld_1",
            T0 + 11,
            HoldState::Released,
            &["0", "0", "0"]
        ),
        HoldOutcome::NotOpen(HoldState::Settled)
    );
    assert_eq!(
        resolve(s, &c, "hld_nope", T0 + 11, HoldState::Released, &[]),
        HoldOutcome::Unknown
    );
    assert_eq!(used(s, &spend.op, T0 + 12), "82.5");
    assert_eq!(used(s, &calls.op, T0 + 12), "2");
    assert_eq!(used(s, &slot.op, T0 + 12), "1");
    // Due holds, by expiry then id, at most `limit`.
    let h4 = hold("hld_0", T0 + 20, T0 + 300_000, vec![calls.clone()]);
    assert_eq!(take_hold(s, &c, &h4), CommitOutcome::Committed);
    assert!(s.holds_due(T0 + 299_999, 10).unwrap().is_empty());
    let due: Vec<String> = s
        .holds_due(T0 + 300_000, 10)
        .unwrap()
        .into_iter()
        .map(|h| h.id().to_string())
        .collect();
    assert_eq!(due, ["hld_0", "hld_2"]);
    assert_eq!(s.holds_due(T0 + DAY, 1).unwrap().len(), 1);
    // Released inside the sliding window: the entry is given back where it was counted.
    assert_eq!(
        resolve(s, &c, "hld_0", T0 + 30_000, HoldState::Released, &["0"]),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &calls.op, T0 + 30_000), "2");
    assert_eq!(used(s, &calls.op, T0 + 60_000), "1");
    assert_eq!(used(s, &calls.op, T0 + 60_001), "0");
    let due: Vec<String> = s
        .holds_due(T0 + DAY, 10)
        .unwrap()
        .into_iter()
        .map(|h| h.id().to_string())
        .collect();
    assert_eq!(due, ["hld_2"]);
    // Expiring hld_2 after its sliding entry left the window: the fixed window (same day) gets
    // the 40 back, the sliding log has nothing left to give back.
    assert_eq!(
        resolve(
            s,
            &c,
            "hld_2",
            T0 + 300_000,
            HoldState::Expired,
            &["0", "0", "0"]
        ),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &spend.op, T0 + 300_000), "42.5");
    assert_eq!(used(s, &calls.op, T0 + 300_000), "0");
    assert_eq!(used(s, &slot.op, T0 + 300_000), "0");
    assert!(s.holds_due(T0 + DAY, 10).unwrap().is_empty());
    let kinds: Vec<String> = s
        .attestations(&AttestationFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "decision",
            "decision",
            "hold.settled",
            "decision",
            "hold.released",
            "hold.expired"
        ]
    );
}

pub fn holds_adjust_in_their_own_window(s: &dyn Store) {
    let c = Chain::new("c1");
    let spend = HeldOp {
        op: op("budget", fixed(DAY), "30", "100"),
        settle: SettleRule::Actual {
            field: "/cost".into(),
        },
    };
    let h = hold("hld_a", T0 + DAY - 1000, T0 + 2 * DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h), CommitOutcome::Committed);
    let h2 = hold("hld_b", T0 + DAY - 1000, T0 + 2 * DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h2), CommitOutcome::Committed);
    // Next day: giving back does not touch the new window; an increase is counted now.
    assert_eq!(
        resolve(s, &c, "hld_a", T0 + DAY + 5, HoldState::Settled, &["10"]),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &spend.op, T0 + DAY + 5), "0");
    assert_eq!(
        resolve(s, &c, "hld_b", T0 + DAY + 6, HoldState::Settled, &["45"]),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &spend.op, T0 + DAY + 6), "15");
    // A counter reset in between is left alone.
    let h3 = hold("hld_c", T0 + DAY + 7, T0 + 2 * DAY, vec![spend.clone()]);
    assert_eq!(take_hold(s, &c, &h3), CommitOutcome::Committed);
    assert_eq!(s.reset_counters(&CounterFilter::default()).unwrap(), 1);
    assert_eq!(
        resolve(s, &c, "hld_c", T0 + DAY + 8, HoldState::Settled, &["50"]),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &spend.op, T0 + DAY + 8), "0");
    assert!(s
        .counters(&CounterFilter::default(), T0 + DAY + 8)
        .unwrap()
        .is_empty());
}

/// A settle told not to enforce bounds (an overrun the engine flags in its record) records an
/// amount past the cap, in every kind of window; told to enforce them, the same settle is refused.
pub fn holds_settle_past_their_cap_only_when_told(s: &dyn Store) {
    let c = Chain::new("c1");
    let held = |name: &str, window: WindowKind| HeldOp {
        op: op(name, window, "60", "100"),
        settle: SettleRule::Actual {
            field: "/cost".into(),
        },
    };
    let ops = vec![
        held("day", fixed(DAY)),
        held("slide", sliding(60_000)),
        held("ever", WindowKind::Forever),
    ];
    let h = hold("hld_o", T0, T0 + 600_000, ops.clone());
    assert_eq!(take_hold(s, &c, &h), CommitOutcome::Committed);
    let amounts = ["175.5", "100.25", "60"];
    assert_eq!(
        resolve(s, &c, "hld_o", T0 + 5, HoldState::Settled, &amounts),
        HoldOutcome::Rejected {
            usage: vec![d("60"), d("60"), d("60")]
        }
    );
    assert_eq!(
        resolve_with(s, &c, "hld_o", T0 + 5, HoldState::Settled, &amounts, false),
        HoldOutcome::Resolved
    );
    assert_eq!(used(s, &ops[0].op, T0 + 6), "175.5");
    assert_eq!(used(s, &ops[1].op, T0 + 6), "100.25");
    assert_eq!(used(s, &ops[2].op, T0 + 6), "60");
    assert_eq!(
        used(s, &ops[1].op, T0 + 60_000),
        "0",
        "the sliding entry leaves"
    );
    // Past the cap, nothing more is admitted.
    let more = op("day", fixed(DAY), "1", "100");
    let r = c.record(T0 + 7, None, None, "allow");
    let out = s
        .commit(&passgate::store::Commit {
            now_ms: T0 + 7,
            counters: std::slice::from_ref(&more),
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
        .unwrap();
    assert_eq!(out, rejected(&["175.5"]));
}
