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
