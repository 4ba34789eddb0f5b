//! Reads folded into the commit (issue 20, "store paths"): an engine decides on the issuers'
//! generation, the policy version, the revocation status of a chain it has registered and the
//! counter usage its own commits left, and the commit checks them in its atomic step. On every
//! backend: the store refuses a commit whose guard or expected usage no longer holds, changing
//! nothing; and another engine's revocation, untrust, policy edit, spending or reset is seen by
//! this engine's very next decision.

use std::sync::Arc;

use passgate::store::{
    Commit, CommitOutcome, CounterFilter, Guard, PolicySource, Store, StoredPolicy,
};
use passgate::{Engine, Issuer, PassportRequest, Request};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::{self, d, fixed, op, Chain};

/// The store contract: a broken guard is `Stale` and a moved usage `Rejected` (whatever
/// `enforce_bounds` says), both before anything is written.
fn store_checks_guard_and_expected_usage(store: Arc<dyn Store>) {
    assert!(store.checks_guard());
    let chain = Chain::new("chn_fold");
    let ops = [op("n", fixed(60_000), "1", "10")];
    let now = 1_000;
    let commit = |guard: Option<Guard<'_>>, expect: Option<&[Decimal]>, enforce: bool| {
        let record = chain.record(now, Some("g"), Some("a"), "allow");
        let out = store
            .commit(&Commit {
                now_ms: now,
                counters: &ops,
                enforce_bounds: enforce,
                record: &record,
                idempotency: None,
                hold: None,
                approval_request: None,
                use_approval: None,
                nonce: None,
                guard,
                expect_usage: expect,
            })
            .unwrap();
        if out != CommitOutcome::Committed {
            chain.unwind();
        }
        out
    };
    let usage = || store.read(&ops, now).unwrap()[0];
    let gen = store.registry().unwrap().issuers_generation().unwrap();
    let version = store.policy_version().unwrap();
    let ids = [
        "psp_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "psp_bbbbbbbbbbbbbbbbbbbbbbbbbb",
    ];
    let holds = Guard {
        not_revoked: &ids,
        issuers_generation: Some(gen),
        policy_version: Some(version),
    };
    assert_eq!(
        commit(Some(holds), Some(&[d("0")]), true),
        CommitOutcome::Committed
    );
    assert_eq!(usage(), d("1"));
    // A usage that moved: rejected with the store's usage, in monitor mode too.
    for enforce in [true, false] {
        assert_eq!(
            commit(Some(holds), Some(&[d("0")]), enforce),
            CommitOutcome::Rejected {
                usage: vec![d("1")]
            }
        );
    }
    // The same number at another scale is the same usage.
    assert_eq!(
        commit(None, Some(&[d("1.000")]), true),
        CommitOutcome::Committed
    );
    assert_eq!(usage(), d("2"));
    // Each part of a guard that moved: stale, nothing written.
    let stale = [
        Guard {
            issuers_generation: Some(gen + 1),
            ..holds
        },
        Guard {
            policy_version: Some(version + 1),
            ..holds
        },
    ];
    for g in stale {
        assert_eq!(commit(Some(g), None, true), CommitOutcome::Stale);
    }
    store.revoke(ids[1], now).unwrap();
    assert_eq!(commit(Some(holds), None, true), CommitOutcome::Stale);
    assert_eq!(usage(), d("2"), "a stale commit changes nothing");
    // A store change moves what the guard compares with.
    let issuer = Issuer::generate().unwrap();
    let reg = store.registry().unwrap();
    reg.issuer_put(&passgate::store::IssuerRecord {
        did: issuer.did().to_string(),
        trusted: true,
        not_before: None,
        not_after: None,
        changed_at: now,
    })
    .unwrap();
    let g = Guard {
        not_revoked: &ids[..1],
        issuers_generation: Some(gen),
        policy_version: None,
    };
    assert_eq!(commit(Some(g), None, true), CommitOutcome::Stale);
    let g = Guard {
        issuers_generation: Some(reg.issuers_generation().unwrap()),
        ..g
    };
    assert_eq!(commit(Some(g), None, true), CommitOutcome::Committed);
    let policy = StoredPolicy {
        version: version + 1,
        hash: "sha256:x".into(),
        doc: json!({"version": 1}).to_string(),
    };
    let rec = chain.event(now, "policy.changed");
    assert!(store.policy_swap(version, &policy, &rec).unwrap());
    let g = Guard {
        policy_version: Some(version),
        ..g
    };
    assert_eq!(commit(Some(g), None, true), CommitOutcome::Stale);
    let g = Guard {
        policy_version: Some(version + 1),
        ..g
    };
    assert_eq!(commit(Some(g), None, true), CommitOutcome::Committed);
    assert_eq!(usage(), d("4"));
}

#[test]
fn memory_store_checks_guard_and_expected_usage() {
    store_checks_guard_and_expected_usage(support::memory().0);
}

#[test]
fn sqlite_store_checks_guard_and_expected_usage() {
    let (store, _dir) = support::sqlite();
    store_checks_guard_and_expected_usage(store);
}

#[test]
fn redis_store_checks_guard_and_expected_usage() {
    let (store, _server) = support::redis();
    store_checks_guard_and_expected_usage(store);
}

fn policy(cap: i64) -> Value {
    json!({"version": 1, "gates": {"pay": {"require": ["pay"], "constraints": [
        {"id": "n", "type": "rate_limit", "max": cap, "window": "1h"}
    ]}}})
}

fn engine(store: &Arc<dyn Store>, issuer: &Issuer, seed: bool) -> Engine {
    let mut b = Engine::builder()
        .store(store.clone())
        .trusted_issuer(issuer.did())
        .policy_source(PolicySource::Store);
    if seed {
        b = b.policy_value(policy(3));
    }
    b.build().unwrap()
}

/// (decision, failed check codes, the counter's check message)
fn decide(e: &Engine, token: &str) -> (String, Vec<String>, String) {
    let d = e
        .enforce(&Request::new("pay", json!({})).passport(token))
        .unwrap();
    let v = serde_json::to_value(&d).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let failed = checks
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| c["code"].as_str().unwrap_or("").to_string())
        .collect();
    let counter = checks
        .iter()
        .find(|c| c["constraint"] == "n")
        .map_or(String::new(), |c| {
            c["message"].as_str().unwrap().to_string()
        });
    (v["decision"].as_str().unwrap().to_string(), failed, counter)
}

/// Two engines on one store; `a` warm (its issuers, policy, registered chain and usage cached):
/// every change made through `b` is seen by `a`'s next decision.
fn folded_reads_see_every_change(store: Arc<dyn Store>) {
    let issuer = Issuer::generate().unwrap();
    let a = engine(&store, &issuer, true);
    let b = engine(&store, &issuer, false);
    let root = issuer
        .issue_passport(&PassportRequest::new("agent", ["pay"]))
        .unwrap();
    let child = root
        .issue_sub_passport(&PassportRequest::new("helper", ["pay"]))
        .unwrap();
    let all = CounterFilter::default();

    // Usage: b spends what a cached; a's next decision is on the store's usage, not its own.
    assert_eq!(decide(&a, &root.token).0, "allow");
    assert_eq!(decide(&a, &root.token).0, "allow");
    assert_eq!(decide(&b, &root.token).0, "allow");
    let (verdict, _, message) = decide(&a, &root.token);
    assert_eq!(verdict, "deny");
    assert!(message.contains("request 4 would exceed 3"), "{message}");
    // A reset through b: a's cached usage (3) is not trusted for a deny.
    b.reset_cumulative_state(&all).unwrap();
    let (verdict, _, message) = decide(&a, &root.token);
    assert_eq!(verdict, "allow");
    assert!(message.contains("request 1 of 3"), "{message}");

    // Policy: b raises the cap; a enforces the new one at once.
    assert_eq!(decide(&a, &root.token).0, "allow");
    assert_eq!(decide(&a, &root.token).0, "allow");
    b.upsert_gate("pay", policy(5)["gates"]["pay"].clone(), None)
        .unwrap();
    let (verdict, _, message) = decide(&a, &root.token);
    assert_eq!(verdict, "allow", "{message}");
    assert!(message.contains("request 4 of 5"), "{message}");
    b.reset_cumulative_state(&all).unwrap();

    // Revocation: a registered child, then its root revoked through b.
    assert_eq!(decide(&a, &child.token).0, "allow");
    assert_eq!(decide(&a, &child.token).0, "allow");
    b.revoke_passport(&root.passport_id).unwrap();
    let (verdict, failed, _) = decide(&a, &child.token);
    assert_eq!(
        (verdict.as_str(), failed),
        ("deny", vec!["PASSPORT_REVOKED".to_string()])
    );
    assert_eq!(
        decide(&a, &root.token).1,
        vec!["PASSPORT_REVOKED".to_string()]
    );

    // Issuers: a fresh passport, warm on a, then its issuer untrusted through b.
    let other = issuer
        .issue_passport(&PassportRequest::new("other", ["pay"]))
        .unwrap();
    assert_eq!(decide(&a, &other.token).0, "allow");
    b.untrust_issuer(issuer.did()).unwrap();
    let (verdict, failed, _) = decide(&a, &other.token);
    assert_eq!(verdict, "deny");
    assert_eq!(failed.len(), 1, "{failed:?}");
    b.trust_issuer(issuer.did(), None, None).unwrap();
    assert_eq!(decide(&a, &other.token).0, "allow");

    // Nothing a folded decision stored contradicts the store: the counter holds exactly the
    // allows made since the last reset.
    let state = store
        .counters(
            &all,
            passgate::clock::Clock::now_ms(&passgate::clock::SystemClock),
        )
        .unwrap();
    let used: Decimal = state.iter().map(|c| c.used).sum();
    assert_eq!(used, d("4"));
}

#[test]
fn memory_folded_reads_see_every_change() {
    folded_reads_see_every_change(support::memory().0);
}

#[test]
fn sqlite_folded_reads_see_every_change() {
    let (store, _dir) = support::sqlite();
    folded_reads_see_every_change(store);
}

#[test]
fn redis_folded_reads_see_every_change() {
    let (store, _server) = support::redis();
    folded_reads_see_every_change(store);
}
