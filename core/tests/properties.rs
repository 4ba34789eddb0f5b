//! Property tests: caps hold under random schedules for both window kinds; any flipped byte of a
//! 200-record chain is detected.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

mod support;

use std::collections::VecDeque;
use support::T0;

use passgate::clock::{Clock, ManualClock};
use passgate::{attestation, AttestationFilter, Engine, Issuer, PassportRequest, Request};
use proptest::prelude::*;
use serde_json::{json, Value};

const WINDOW_MS: i64 = 60_000;
const CAP: i64 = 100;

fn engine(kind: &str) -> (Engine, ManualClock, String) {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let policy = json!({"version": 1, "gates": {"spend": {"require": ["spend"], "constraints": [
        {"id": "cap", "type": "spend_limit", "field": "/amount", "max": CAP, "window": {"size": "1m", "kind": kind}}
    ]}}});
    let engine = support::engine(policy, &issuer, &clock);
    let req = PassportRequest {
        expires_in_secs: 365 * 86400,
        ..PassportRequest::new("agent", ["spend"])
    };
    let token = issuer.issue_passport_at(&req, T0 / 1000).unwrap().token;
    (engine, clock, token)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However requests and clock steps interleave, the admitted total inside any window never
    /// exceeds the cap: every aligned window for `fixed`, every interval of the window's length for
    /// `sliding`.
    #[test]
    fn caps_hold_under_random_schedules(
        sliding in any::<bool>(),
        steps in prop::collection::vec((0i64..40, 0i64..25_000), 1..120),
    ) {
        let (engine, clock, token) = engine(if sliding { "sliding" } else { "fixed" });
        let mut admitted: Vec<(i64, i64)> = Vec::new();
        for (amount, step) in steps {
            clock.advance_ms(step);
            let d = engine.enforce(&Request::new("spend", json!({"amount": amount})).passport(&token)).unwrap();
            if d.allowed {
                admitted.push((clock.now_ms(), amount));
            }
        }
        if sliding {
            // Any interval of length W: check the ones starting just after each admission time.
            let mut window: VecDeque<(i64, i64)> = VecDeque::new();
            let mut sum = 0;
            for &(t, a) in &admitted {
                window.push_back((t, a));
                sum += a;
                while let Some(&(t0, a0)) = window.front() {
                    if t0 > t - WINDOW_MS { break; }
                    sum -= a0;
                    window.pop_front();
                }
                prop_assert!(sum <= CAP, "sliding window ending at {t} holds {sum}");
            }
        } else {
            let mut per: std::collections::BTreeMap<i64, i64> = Default::default();
            for &(t, a) in &admitted {
                *per.entry(t.div_euclid(WINDOW_MS)).or_default() += a;
            }
            prop_assert!(per.values().all(|&s| s <= CAP), "{per:?}");
        }
    }

    /// No spurious denials: a request that fits is admitted.
    #[test]
    fn fitting_requests_are_admitted(amounts in prop::collection::vec(0i64..30, 1..40)) {
        let (engine, _clock, token) = engine("fixed");
        let mut total = 0;
        for a in amounts {
            let d = engine.enforce(&Request::new("spend", json!({"amount": a})).passport(&token)).unwrap();
            prop_assert_eq!(d.allowed, total + a <= CAP);
            if d.allowed { total += a; }
        }
    }
}

fn chain_of_200() -> (Vec<Value>, String) {
    let (engine, clock, token) = engine("fixed");
    for i in 0..200 {
        clock.advance_ms(1000);
        engine
            .enforce(&Request::new("spend", json!({"amount": i % 3})).passport(&token))
            .unwrap();
    }
    let records = engine.attestations(&AttestationFilter::default()).unwrap();
    assert_eq!(records.len(), 200);
    attestation::verify_chain(&records, engine.signer_did()).unwrap();
    (records, engine.signer_did().to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Flipping any bit of any byte of the serialized chain is detected (or makes it unreadable).
    #[test]
    fn any_flipped_byte_is_detected(record in 0usize..200, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        static CHAIN: std::sync::OnceLock<(Vec<Value>, String)> = std::sync::OnceLock::new();
        let (records, did) = CHAIN.get_or_init(chain_of_200);
        let mut bytes = serde_json::to_vec(&records[record]).unwrap();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let mut tampered = records.clone();
        // A flip that leaves no JSON cannot even be presented as a record.
        let text = std::str::from_utf8(&bytes).unwrap_or("\u{0}");
        if let Ok(v) = passgate::__private::json::parse(text, passgate::__private::json::Limits::PAYLOAD) {
            tampered[record] = v;
            prop_assert!(attestation::verify_chain(&tampered, did).is_err(), "flip at record {record} byte {i} undetected");
        }
    }
}
