//! The public JSON vectors (tests/vectors/, see its README): JSONTestSuite through our one parser,
//! and the RFC 8785 canonicalization pairs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::path::PathBuf;

use passgate::json::{canonical, parse, JsonError, Limits};

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
