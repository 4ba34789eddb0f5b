//! The public Ed25519 vectors (tests/vectors/ed25519, see tests/vectors/README.md) through our
//! strict verification, `passgate::__private::keys::verify_strict`.

// Test helpers outside #[test] functions may unwrap too (clippy.toml covers only the tests).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use passgate::__private::keys::verify_strict;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/vectors/ed25519")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn hex_field(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap()).unwrap()
}

/// Our verifier on raw bytes: a public key that is not 32 bytes cannot verify anything.
fn verifies(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    match <[u8; 32]>::try_from(pk) {
        Ok(pk) => verify_strict(&pk, msg, sig).is_ok(),
        Err(_) => false,
    }
}

#[test]
fn wycheproof_every_case_gives_its_expected_result() {
    let file = load("wycheproof_ed25519_test.json");
    let mut cases = 0;
    let mut valid = 0;
    for group in file["testGroups"].as_array().unwrap() {
        let pk = hex_field(&group["publicKey"], "pk");
        for t in group["tests"].as_array().unwrap() {
            let expected = match t["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("unexpected result {other:?} in case {}", t["tcId"]),
            };
            let got = verifies(&pk, &hex_field(t, "msg"), &hex_field(t, "sig"));
            assert_eq!(
                got, expected,
                "Wycheproof tcId {} ({})",
                t["tcId"], t["comment"]
            );
            cases += 1;
            valid += usize::from(expected);
        }
    }
    assert_eq!(cases, 151);
    assert_eq!(cases, file["numberOfTests"].as_u64().unwrap() as usize);
    assert!(valid > 0 && valid < cases);
}

#[test]
fn cctv_only_low_order_component_cases_may_verify() {
    let allowed_flags = ["low_order_component_A", "low_order_component_R"];
    let cases = load("cctv_ed25519vectors.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 914);
    let mut verified = 0;
    for c in cases {
        // The messages are text, not hex.
        let msg = c["msg"].as_str().unwrap().as_bytes();
        if !verifies(&hex_field(c, "key"), msg, &hex_field(c, "sig")) {
            continue;
        }
        verified += 1;
        let flags = c["flags"].as_array().cloned().unwrap_or_default();
        assert!(
            flags
                .iter()
                .all(|f| allowed_flags.contains(&f.as_str().unwrap())),
            "CCTV case {} verified but has flags {flags:?}",
            c["number"]
        );
    }
    // The count PITFALLS.md reports for verify_strict on these vectors.
    println!("CCTV: {verified} of {} cases verified", cases.len());
    assert_eq!(verified, 43);
}

#[test]
fn speccheck_only_case_3_verifies() {
    let cases = load("speccheck_cases.json");
    let cases = cases.as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for (i, c) in cases.iter().enumerate() {
        let got = verifies(
            &hex_field(c, "pub_key"),
            &hex_field(c, "message"),
            &hex_field(c, "signature"),
        );
        assert_eq!(got, i == 3, "speccheck case {i}");
    }
}

/// `PublicKey::verify_batch` (what `verify_chain` checks signatures with) against
/// `verify_strict` on every vector, each case as a batch of one and of three (the case and two
/// copies of it). They differ only where the key or `R` has a small-order component, as
/// `verify_batch` documents, and in two ways:
/// - `verify_strict` accepts and a batch refuses: only with a key that has a small-order
///   component (its multiples by the batch's scalars, reduced mod l, lose the torsion relation).
///   `verify_chain` then checks the records one by one, so its verdict is `verify_strict`'s.
/// - a batch accepts what `verify_strict` refuses: only when the equation is off by a
///   small-order point (CCTV's `low_order_residue`), which the batch's random multiple can
///   cancel. Only someone holding the secret key can make the rest of the equation hold.
#[test]
fn verify_batch_differs_from_verify_strict_only_on_small_order_components() {
    let batch = |pk: &[u8], msg: &[u8], sig: &[u8], n: usize| -> bool {
        let (Ok(pk), Ok(sig)) = (<[u8; 32]>::try_from(pk), <[u8; 64]>::try_from(sig)) else {
            return false;
        };
        let Ok(key) = passgate::PublicKey::from_bytes(&pk) else {
            return false;
        };
        key.verify_batch(&vec![msg; n], &vec![sig; n])
    };
    let (mut refused, mut accepted) = (0, 0);
    let mut check = |what: &str, pk: &[u8], msg: &[u8], sig: &[u8], flags: &[&str]| {
        let strict = verifies(pk, msg, sig);
        for n in [1, 3] {
            match (strict, batch(pk, msg, sig, n)) {
                (true, false) => {
                    assert!(
                        flags.contains(&"low_order_component_A"),
                        "{what}: verify_strict accepts, a batch of {n} refuses ({flags:?})"
                    );
                    refused += 1;
                }
                (false, true) => {
                    assert!(
                        flags.contains(&"low_order_residue"),
                        "{what}: a batch of {n} accepts what verify_strict refuses ({flags:?})"
                    );
                    accepted += 1;
                }
                _ => {}
            }
        }
    };
    let file = load("wycheproof_ed25519_test.json");
    for group in file["testGroups"].as_array().unwrap() {
        let pk = hex_field(&group["publicKey"], "pk");
        for t in group["tests"].as_array().unwrap() {
            let what = format!("Wycheproof tcId {}", t["tcId"]);
            check(&what, &pk, &hex_field(t, "msg"), &hex_field(t, "sig"), &[]);
        }
    }
    for c in load("cctv_ed25519vectors.json").as_array().unwrap() {
        let flags: Vec<&str> = c["flags"]
            .as_array()
            .map(|f| f.iter().map(|f| f.as_str().unwrap()).collect())
            .unwrap_or_default();
        let what = format!("CCTV case {}", c["number"]);
        let msg = c["msg"].as_str().unwrap().as_bytes();
        check(
            &what,
            &hex_field(c, "key"),
            msg,
            &hex_field(c, "sig"),
            &flags,
        );
    }
    for (i, c) in load("speccheck_cases.json")
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        // Case 3, the one verify_strict accepts, has a key and an R of mixed order (the
        // speccheck project's table); the others are refused by both.
        let flags: &[&str] = if i == 3 {
            &["low_order_component_A", "low_order_component_R"]
        } else {
            &[]
        };
        let (pk, msg, sig) = (
            hex_field(c, "pub_key"),
            hex_field(c, "message"),
            hex_field(c, "signature"),
        );
        check(&format!("speccheck case {i}"), &pk, &msg, &sig, flags);
    }
    // Both kinds occur on these vectors (the batch's scalars are derived from its contents, so
    // which cases differ is fixed for a given ed25519-dalek).
    println!("batches refusing what verify_strict accepts: {refused}");
    println!("batches accepting what verify_strict refuses: {accepted}");
    assert!(refused > 0 && accepted > 0);
}
