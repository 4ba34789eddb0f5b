//! Checkpointed signing: unsigned decision records covered by signed tree heads (RFC 9162),
//! heads every N records / T ms / on demand, inclusion and consistency proofs, and
//! `verify_chain` over such chains. The property test: for random sequences of decisions,
//! events and heads, every decision has a valid inclusion proof against every later head,
//! consistency proofs hold between any two heads, and any changed byte fails.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;

use passgate::attestation::{verify_tree_head, TreeHead};
use passgate::clock::ManualClock;
use passgate::merkle::{self, from_tagged};
use passgate::{
    verify_attestation, verify_chain, verify_inclusion_proof, AttestationFilter, Engine, Issuer,
    PassportRequest, ProofTarget, Request, Signing,
};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::T0;

struct F {
    engine: Engine,
    clock: ManualClock,
    token: String,
}

fn fixture(signing: Signing) -> F {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::builder()
        .policy_value(
            json!({"version": 1, "gates": {"pay": {"require": ["pay"], "constraints": [
            {"id": "per-call", "type": "max_value", "field": "/amount", "max": 100}]}}}),
        )
        .trusted_issuer(issuer.did())
        .clock(Arc::new(clock.clone()))
        .signing(signing)
        .build()
        .unwrap();
    let token = issuer
        .issue_passport_at(&PassportRequest::new("agent-1", ["pay"]), T0 / 1000)
        .unwrap()
        .token;
    F {
        engine,
        clock,
        token,
    }
}

impl F {
    fn pay(&self, amount: i64) -> passgate::Decision {
        self.engine
            .enforce(&Request::new("pay", json!({"amount": amount})).passport(&self.token))
            .unwrap()
    }
    fn records(&self) -> Vec<Value> {
        self.engine
            .attestations(&AttestationFilter {
                chain: Some(self.engine.chain_id()),
                ..Default::default()
            })
            .unwrap()
    }
    fn did(&self) -> String {
        self.engine.signer_did().to_string()
    }
}

fn rarely() -> Signing {
    Signing::Checkpoint {
        every: 1 << 20,
        interval_ms: 86_400_000,
    }
}

#[test]
fn a_decision_is_unsigned_with_its_leaf_and_proven_after_the_next_head() {
    let f = fixture(rarely());
    let d = f.pay(5);
    let rec = d.attestation.as_deref().unwrap().clone();
    assert!(rec.get("sig").is_none(), "not signed: {rec}");
    let digest = from_tagged(rec["hash"].as_str().unwrap()).unwrap();
    assert_eq!(
        rec["leaf"],
        json!(merkle::to_tagged(&merkle::leaf_hash(&digest)))
    );
    // Alone it proves nothing.
    let e = verify_attestation(&rec, &f.did()).unwrap_err();
    assert_eq!(e.code(), "ATTESTATION_UNCOVERED");
    // Before a head: no proof, and a chain ending in it is not verified.
    let e = f
        .engine
        .inclusion_proof(&ProofTarget::EvaluationId(d.evaluation_id.clone()), None)
        .unwrap_err();
    assert_eq!(e.code(), "CHECKPOINT_PENDING");
    let e = verify_chain(&f.records(), &f.did()).unwrap_err();
    assert_eq!(e.code(), "ATTESTATION_UNCOVERED");
    assert!(e.to_string().contains("seq 1"), "{e}");

    let head = f.engine.checkpoint().unwrap();
    assert_eq!(head["body"]["kind"], "checkpoint");
    assert_eq!(head["body"]["seq"], 2);
    assert_eq!(head["body"]["data"]["tree_size"], 1);
    assert!(head.get("sig").is_some());
    // Nothing new: the same head.
    assert_eq!(f.engine.checkpoint().unwrap(), head);
    let proof = f
        .engine
        .inclusion_proof(&ProofTarget::EvaluationId(d.evaluation_id.clone()), None)
        .unwrap();
    assert_eq!(proof["leaf_hash"], rec["leaf"]);
    assert_eq!(proof["head"], head);
    verify_inclusion_proof(&rec, &proof, &f.did()).unwrap();
    verify_chain(&f.records(), &f.did()).unwrap();

    // Another key, a changed record, a proof for another record all fail.
    let other = Issuer::generate().unwrap();
    assert_eq!(
        verify_inclusion_proof(&rec, &proof, other.did())
            .unwrap_err()
            .code(),
        "ATTESTATION_KEY"
    );
    let mut forged = rec.clone();
    forged["body"]["decision"] = json!("deny");
    assert_eq!(
        verify_inclusion_proof(&forged, &proof, &f.did())
            .unwrap_err()
            .code(),
        "ATTESTATION_HASH"
    );
    let d2 = f.pay(7);
    let rec2 = d2.attestation.as_deref().unwrap().clone();
    assert_eq!(
        verify_inclusion_proof(&rec2, &proof, &f.did())
            .unwrap_err()
            .code(),
        "ATTESTATION_PROOF"
    );
}

#[test]
fn heads_come_every_n_records_and_after_the_interval() {
    let f = fixture(Signing::Checkpoint {
        every: 3,
        interval_ms: 1000,
    });
    for _ in 0..3 {
        f.pay(1);
    }
    let kinds: Vec<String> = f
        .records()
        .iter()
        .map(|r| r["body"]["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["decision", "decision", "decision", "checkpoint"]);
    f.pay(1);
    f.clock.advance_ms(999);
    f.pay(1);
    assert_eq!(f.records().len(), 6, "neither 3 records nor 1 s yet");
    f.clock.advance_ms(1);
    f.pay(1);
    let recs = f.records();
    assert_eq!(recs.len(), 8);
    assert_eq!(recs[7]["body"]["kind"], "checkpoint");
    assert_eq!(recs[7]["body"]["data"]["tree_size"], 7);
    verify_chain(&recs, &f.did()).unwrap();
}

#[test]
fn each_mode_is_unchanged_and_can_still_publish_heads() {
    let f = fixture(Signing::Each);
    let d = f.pay(5);
    let rec = d.attestation.as_deref().unwrap().clone();
    assert!(rec.get("sig").is_some() && rec.get("leaf").is_none());
    verify_attestation(&rec, &f.did()).unwrap();
    f.engine.checkpoint().unwrap();
    let proof = f
        .engine
        .inclusion_proof(&ProofTarget::Seq(1), None)
        .unwrap();
    verify_inclusion_proof(&rec, &proof, &f.did()).unwrap();
    verify_chain(&f.records(), &f.did()).unwrap();
}

#[test]
fn bad_arguments_and_reserved_kinds_are_refused() {
    let f = fixture(rarely());
    f.pay(1);
    f.engine.checkpoint().unwrap();
    let code = |r: passgate::Result<Value>| r.unwrap_err().code();
    assert_eq!(
        code(f.engine.inclusion_proof(&ProofTarget::Seq(0), None)),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(f.engine.inclusion_proof(&ProofTarget::Seq(3), None)),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(f.engine.inclusion_proof(&ProofTarget::Seq(1), Some(5))),
        "INVALID_ARGUMENT"
    );
    assert_eq!(
        code(
            f.engine
                .inclusion_proof(&ProofTarget::EvaluationId("evl_nope".into()), None)
        ),
        "EVALUATION_UNKNOWN"
    );
    assert_eq!(code(f.engine.consistency_proof(0, 1)), "INVALID_ARGUMENT");
    assert_eq!(code(f.engine.consistency_proof(2, 1)), "INVALID_ARGUMENT");
    assert_eq!(code(f.engine.consistency_proof(1, 3)), "INVALID_ARGUMENT");
    assert_eq!(
        code(
            f.engine
                .record_attestation("checkpoint", &json!({"tree_size": 0}))
        ),
        "INVALID_ARGUMENT"
    );
    for (every, interval_ms) in [(0, 10), (1 << 21, 10), (5, 86_400_001)] {
        let e = Engine::builder()
            .signing(Signing::Checkpoint { every, interval_ms })
            .build()
            .unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT");
    }
}

#[test]
fn a_head_that_lies_about_its_root_or_size_fails_the_chain() {
    // A forged head needs the engine's key: signed with it here, over a wrong root / size.
    let f = fixture(rarely());
    f.pay(1);
    f.pay(2);
    f.engine.checkpoint().unwrap();
    let recs = f.records();
    verify_chain(&recs, &f.did()).unwrap();
    // Drop a record before the head: a gap. Tamper a covered record: its hash.
    let mut tampered = recs.clone();
    tampered[1]["body"]["checks"] = json!([]);
    assert_eq!(
        verify_chain(&tampered, &f.did()).unwrap_err().code(),
        "ATTESTATION_HASH"
    );
    let mut leafless = recs.clone();
    leafless[0]["leaf"] = recs[1]["leaf"].clone();
    assert_eq!(
        verify_chain(&leafless, &f.did()).unwrap_err().code(),
        "ATTESTATION_HASH"
    );
    let mut both = recs.clone();
    both[0]["sig"] = json!("AAAA");
    assert_eq!(
        verify_chain(&both, &f.did()).unwrap_err().code(),
        "ATTESTATION_MALFORMED"
    );
    let mut no_head = recs.clone();
    no_head.pop();
    assert_eq!(
        verify_chain(&no_head, &f.did()).unwrap_err().code(),
        "ATTESTATION_UNCOVERED"
    );
}

// ---------------------------------------------------------------------------------------------
// The property.

#[derive(Debug, Clone)]
enum Step {
    Allow,
    Deny,
    Event,
    Head,
    Tick(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Allow),
        2 => Just(Step::Deny),
        1 => Just(Step::Event),
        1 => Just(Step::Head),
        1 => (1i64..200).prop_map(Step::Tick),
    ]
}

fn head_of(h: &Value, did: &str) -> TreeHead {
    verify_tree_head(h, did).unwrap().1
}

/// Flips one bit of one byte of the string at `ptr` in `v` (keeping it a string).
fn flip_str(v: &mut Value, ptr: &str, at: usize) -> bool {
    let Some(Value::String(s)) = v.pointer_mut(ptr) else {
        return false;
    };
    let mut bytes = s.clone().into_bytes();
    if bytes.is_empty() {
        return false;
    }
    let i = at % bytes.len();
    // Stay within ASCII letters/digits so the result is still a string of the same shape.
    bytes[i] = match bytes[i] {
        b'0' => b'1',
        b'a' => b'b',
        c if c.is_ascii_alphanumeric() && c != b'z' && c != b'Z' && c != b'9' => c + 1,
        _ => b'x',
    };
    if bytes[i] == s.as_bytes()[i] {
        return false;
    }
    *s = String::from_utf8(bytes).unwrap();
    true
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_decision_is_proven_in_every_later_head_and_heads_are_consistent(
        steps in prop::collection::vec(step(), 1..40),
        every in 1u64..12,
        interval_ms in 0u64..300,
        tamper in any::<prop::sample::Index>(),
        at in any::<usize>(),
    ) {
        let f = fixture(Signing::Checkpoint { every, interval_ms });
        for s in &steps {
            match s {
                Step::Allow => { f.pay(5); }
                Step::Deny => { f.pay(500); }
                Step::Event => { f.engine.record_attestation("host.note", &json!({"n": 1})).unwrap(); }
                Step::Head => { f.engine.checkpoint().unwrap(); }
                Step::Tick(ms) => f.clock.advance_ms(*ms),
            }
        }
        let last = f.engine.checkpoint().unwrap();
        let did = f.did();
        let recs = f.records();
        verify_chain(&recs, &did).unwrap();
        prop_assert_eq!(recs.last().unwrap(), &last);
        let heads: Vec<&Value> = recs.iter().filter(|r| r["body"]["kind"] == "checkpoint").collect();
        // Every record, unsigned or not, against every head that covers it.
        for r in &recs {
            let seq = r["body"]["seq"].as_u64().unwrap();
            for h in &heads {
                let th = head_of(h, &did);
                if th.tree_size < seq { continue; }
                let target = match r["body"]["evaluation_id"].as_str() {
                    Some(id) if r["body"]["kind"] == "decision" => ProofTarget::EvaluationId(id.into()),
                    _ => ProofTarget::Seq(seq),
                };
                let proof = f.engine.inclusion_proof(&target, Some(th.tree_size)).unwrap();
                verify_inclusion_proof(r, &proof, &did).unwrap();
            }
        }
        // Consistency between any two heads.
        for a in &heads {
            for b in &heads {
                let (ha, hb) = (head_of(a, &did), head_of(b, &did));
                if ha.tree_size == 0 || ha.tree_size > hb.tree_size { continue; }
                let doc = f.engine.consistency_proof(ha.tree_size, hb.tree_size).unwrap();
                let proof: Vec<merkle::Hash> = doc["proof"].as_array().unwrap().iter()
                    .map(|h| from_tagged(h.as_str().unwrap()).unwrap()).collect();
                prop_assert!(merkle::verify_consistency(ha.tree_size, hb.tree_size, &ha.root, &hb.root, &proof));
                if let Some(first) = proof.first() {
                    let mut bad = proof.clone();
                    bad[0][at % 32] ^= 1;
                    prop_assert!(!merkle::verify_consistency(ha.tree_size, hb.tree_size, &ha.root, &hb.root, &bad), "{:?}", first);
                }
            }
        }
        // Any changed byte fails: of a record (in its chain and in its proof), of a proof
        // element, of the head.
        let i = tamper.index(recs.len());
        let victim = &recs[i];
        let seq = victim["body"]["seq"].as_u64().unwrap();
        let proof = f.engine.inclusion_proof(&ProofTarget::Seq(seq), None);
        let mut changed = recs.clone();
        let ptr = ["/body/id", "/body/chain", "/hash", "/body/time"][at % 4];
        let flipped = if ptr == "/body/time" {
            let t = changed[i]["body"]["time"].as_i64().unwrap();
            changed[i]["body"]["time"] = json!(t + 1);
            true
        } else {
            flip_str(&mut changed[i], ptr, at)
        };
        prop_assert!(flipped);
        prop_assert!(verify_chain(&changed, &did).is_err());
        if let Ok(proof) = proof {
            prop_assert!(verify_inclusion_proof(&changed[i], &proof, &did).is_err());
            let n = proof["proof"].as_array().unwrap().len();
            if n > 0 {
                let mut p2 = proof.clone();
                let ptr = format!("/proof/{}", at % n);
                prop_assert!(flip_str(&mut p2, &ptr, at / 7 + 7));
                prop_assert!(verify_inclusion_proof(victim, &p2, &did).is_err());
            }
            let mut p3 = proof.clone();
            prop_assert!(flip_str(&mut p3, "/head/body/data/root", at / 3 + 7));
            prop_assert!(verify_inclusion_proof(victim, &p3, &did).is_err());
            let mut p4 = proof.clone();
            p4["head"]["body"]["data"]["tree_size"] = json!(proof["tree_size"].as_u64().unwrap() + 1);
            prop_assert!(verify_inclusion_proof(victim, &p4, &did).is_err());
        }
    }
}

#[test]
fn verify_store_reports_records_no_head_covers_yet() {
    let f = fixture(rarely());
    f.pay(1);
    f.pay(2);
    let report = f.engine.verify_store(&[f.did()]).unwrap();
    let chain = &report["chains"][0];
    assert_eq!(chain["records"], 2);
    assert_eq!(chain["uncovered_from_seq"], 1);
    f.engine.checkpoint().unwrap();
    let report = f.engine.verify_store(&[f.did()]).unwrap();
    assert_eq!(report["chains"][0]["records"], 3);
    assert!(report["chains"][0].get("uncovered_from_seq").is_none());
}
