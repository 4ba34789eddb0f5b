//! Records as canonical bytes (issue 20, item 2): the record an engine seals is written once, as
//! RFC 8785 text, and the decision, the store and whoever reads it back share those bytes. On
//! every backend and in both signing modes: a record read back from the store is the decision's
//! text byte for byte, it verifies, and its value is what the decision reads.

use std::sync::Arc;

use passgate::store::{AttestationFilter, Store};
use passgate::{Engine, Issuer, PassportRequest, Request, Signing};
use serde_json::json;

use crate::support;

fn records_read_back_are_the_sealed_bytes(store: Arc<dyn Store>) {
    let issuer = Issuer::generate().unwrap();
    let token = issuer
        .issue_passport(&PassportRequest::new("agent-\u{e9}\"7\"", ["pay"]))
        .unwrap()
        .token;
    for signing in [Signing::Each, Signing::checkpoint()] {
        let engine = Engine::builder()
            .policy_value(json!({"version": 1, "gates": {"pay": {"require": ["pay"], "constraints": [
                {"id": "cap \u{1f600}", "type": "max_value", "field": "/amount", "max": 100},
                {"id": "daily\t\u{ff61}", "type": "spend_limit", "field": "/amount", "max": "1000.50",
                 "window": "1d"},
                {"id": "calls", "type": "rate_limit", "max": 1000, "window": "1m"}]}}}))
            .trusted_issuer(issuer.did())
            .store(Arc::clone(&store))
            .signing(signing)
            .build()
            .unwrap();
        // A trace with numbers in several spellings and strings that must be escaped.
        let trace = json!({"session_id": "s\n1", "n": 1.50, "big": 12345678901234567890u64,
                           "nested": {"z": [1e2, "\u{1}"], "a": null}});
        let mut decisions = Vec::new();
        for amount in [5, 7, 500] {
            let req = Request::new("pay", json!({"amount": amount, "memo": "q\"\\"}))
                .passport(&token)
                .trace(trace.clone());
            decisions.push(engine.enforce(&req).unwrap());
        }
        assert_eq!(
            decisions.iter().map(|d| d.allowed).collect::<Vec<_>>(),
            [true, true, false]
        );
        let stored = store.attestations(&AttestationFilter::default()).unwrap();
        for d in &decisions {
            let sealed = d.attestation.as_ref().unwrap();
            let back = stored
                .iter()
                .find(|r| r.evaluation_id.as_deref() == Some(d.evaluation_id.as_str()))
                .unwrap();
            assert_eq!(back.record.as_str(), sealed.as_str());
            assert_eq!(back.record.value(), sealed.value());
            assert_eq!(
                sealed.value()["body"]["evaluation_id"],
                json!(d.evaluation_id)
            );
            if signing == Signing::Each {
                passgate::verify_attestation(back.record.value(), engine.signer_did()).unwrap();
            } else {
                assert!(sealed.value()["leaf"]
                    .as_str()
                    .unwrap()
                    .starts_with("sha256:"));
            }
            // The sealed text is canonical: canonicalising its value changes nothing.
            let canonical = serde_json_canonicalizer::to_string(sealed.value()).unwrap();
            assert_eq!(canonical, sealed.as_str());
        }
    }
}

#[test]
fn memory_records_read_back_are_the_sealed_bytes() {
    records_read_back_are_the_sealed_bytes(support::memory().0);
}

#[test]
fn sqlite_records_read_back_are_the_sealed_bytes() {
    let (store, _dir) = support::sqlite();
    records_read_back_are_the_sealed_bytes(store);
}

#[test]
fn redis_records_read_back_are_the_sealed_bytes() {
    let (store, _server) = support::redis();
    records_read_back_are_the_sealed_bytes(store);
}
