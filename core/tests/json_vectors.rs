//! The public JSON vectors (tests/vectors/, see its README): JSONTestSuite through our one parser,
//! and the RFC 8785 canonicalization pairs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::path::PathBuf;

use passgate::__private::json::{canonical, parse, JsonError, Limits};

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

#[test]
fn json_test_suite() {
    let dir = vectors().join("json-parsing/test_parsing");
    let mut counts = [0usize; 3];
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let bytes = std::fs::read(&path).unwrap();
        // Our parser takes text: input that is not UTF-8 is refused before parsing, as in the engine.
        let result = match std::str::from_utf8(&bytes) {
            Ok(text) => parse(text, Limits::PAYLOAD),
            Err(_) => Err(JsonError::Syntax("not UTF-8".into())),
        };
        if name.starts_with("y_object_duplicated_key") {
            assert!(
                matches!(result, Err(JsonError::DuplicateKey { .. })),
                "{name} must be refused: {result:?}"
            );
            counts[0] += 1;
        } else if name.starts_with("y_") {
            assert!(result.is_ok(), "{name} must parse: {result:?}");
            counts[0] += 1;
        } else if name.starts_with("n_") {
            assert!(result.is_err(), "{name} must be refused");
            counts[1] += 1;
        } else {
            counts[2] += 1; // i_: either, without crashing or hanging (we got here)
        }
    }
    assert_eq!(
        counts.iter().sum::<usize>(),
        318,
        "all JSONTestSuite files read: {counts:?}"
    );
}

#[test]
fn jcs_vectors() {
    let dir = vectors().join("jcs");
    let mut n = 0;
    for entry in std::fs::read_dir(dir.join("input")).unwrap() {
        let path = entry.unwrap().path();
        let input = std::fs::read_to_string(&path).unwrap();
        let expected = std::fs::read(dir.join("output").join(path.file_name().unwrap())).unwrap();
        let value = parse(&input, Limits::PAYLOAD).unwrap();
        let got = canonical(&value).unwrap();
        assert_eq!(got.as_bytes(), expected.as_slice(), "{}", path.display());
        n += 1;
    }
    assert_eq!(n, 6);
}

/// Our RFC 8785 writer against `serde_json_canonicalizer` (the crate we used before writing our
/// own for speed), on arbitrary documents: unicode and control characters in keys and strings,
/// keys that sort differently in UTF-16 and UTF-8, integers, decimals and exponents.
mod differential {
    use proptest::prelude::*;
    use serde_json::{Map, Number, Value};

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z]{0,6}",
            "[\\x00-\\x7f]{0,6}",
            "[\\u{0}-\\u{ffff}]{0,4}",
            "[\\u{e000}-\\u{10ffff}]{0,4}",
        ]
    }

    fn number() -> impl Strategy<Value = Value> {
        let lit = prop_oneof![
            any::<i64>().prop_map(|i| i.to_string()),
            any::<u64>().prop_map(|i| i.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| f.to_string()),
            (-999_999i64..999_999, 0u32..9)
                .prop_map(|(m, d)| format!("{m}.{}", "0".repeat(d as usize) + "5")),
            (-99i32..99, -320i32..300).prop_map(|(m, e)| format!("{m}e{e}")),
            (1u64..99_999, -20i32..30).prop_map(|(m, e)| format!("{m}.25E{e}")),
        ];
        lit.prop_filter_map("a finite double", |s| {
            let n: Number = serde_json::from_str(&s).ok()?;
            s.parse::<f64>().ok().filter(|f| f.is_finite())?;
            Some(Value::Number(n))
        })
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            number(),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn same_bytes_as_serde_json_canonicalizer(v in value()) {
            let ours = passgate::__private::json::canonical(&v).unwrap();
            let theirs = serde_json_canonicalizer::to_string(&v).unwrap();
            prop_assert_eq!(ours, theirs);
        }

        #[test]
        fn normalized_in_one_pass_is_canonical_of_the_normalized_copy(v in value()) {
            use passgate::__private::json::{canonical_literal, canonical_normalized, exact_numbers};
            let one_pass = canonical_normalized(&v).unwrap();
            let two_pass = canonical_literal(&exact_numbers(&v).unwrap()).unwrap();
            prop_assert_eq!(one_pass, two_pass);
        }

        #[test]
        fn hash_form_is_json_that_reads_back_to_itself(v in value()) {
            use passgate::__private::json::{canonical_normalized, parse, Limits};
            let once = canonical_normalized(&v).unwrap();
            let again = canonical_normalized(&parse(&once, Limits::PAYLOAD).unwrap()).unwrap();
            prop_assert_eq!(once, again);
        }

        #[test]
        fn a_number_never_hashes_as_its_decimal_string(v in value()) {
            use passgate::__private::json::{canonical_normalized, normalize_numbers};
            let strings = normalize_numbers(&v).unwrap();
            if strings != v {
                prop_assert_ne!(
                    canonical_normalized(&v).unwrap(),
                    canonical_normalized(&strings).unwrap()
                );
            }
        }
    }
}
