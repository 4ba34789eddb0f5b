//! The driver of `make bench-instructions` keeps working: every operation it lists runs (2
//! iterations, no valgrind) and gives its expected verdict; a wrong operation is refused.

#![allow(clippy::unwrap_used)] // the helpers below are test code

use std::process::{Command, Output};

fn driver(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_instructions"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn every_listed_operation_runs() {
    let list = driver(&["--list"]);
    assert!(list.status.success());
    let ops: Vec<String> = stdout(&list).lines().map(String::from).collect();
    // The operations the report reads: the baseline and each peer on every case, and the floors.
    for want in [
        "passgate-dry-run-supplied/allow",
        "passgate-dry-run-supplied/deny-amount",
        "passgate-dry-run-supplied/deny-daily-cap",
        "passgate-dry-run-memory/allow",
        "passgate-enforce-cached/allow",
        "passgate-enforce-uncached/allow",
        "cedar-prebuilt/deny-daily-cap",
        "regorus-rvm/deny-amount",
        "regorus-interp/allow",
        "floor-sign",
        "floor-verify-strict",
    ] {
        assert!(ops.iter().any(|o| o == want), "{want} not in {ops:?}");
    }

    let smoke = driver(&["--smoke"]);
    assert!(
        smoke.status.success(),
        "{}",
        String::from_utf8_lossy(&smoke.stderr)
    );
    let done: Vec<String> = stdout(&smoke).lines().map(String::from).collect();
    let expected: Vec<String> = ops.iter().map(|o| format!("{o}: ok")).collect();
    assert_eq!(done, expected);

    // One operation on its own, the way the callgrind runs call it.
    let one = driver(&["regorus-rvm/allow", "3"]);
    assert!(
        one.status.success(),
        "{}",
        String::from_utf8_lossy(&one.stderr)
    );
}

#[test]
fn a_wrong_operation_or_count_is_refused() {
    for args in [
        &["passgate-dry-run-supplied/maybe", "2"][..],
        &["no-such-engine/allow", "2"],
        &["floor-sign/allow", "2"],
        &["floor-sign", "-1"],
        &["floor-sign"],
    ] {
        let o = driver(args);
        assert!(!o.status.success(), "{args:?} ran");
        assert!(!o.stderr.is_empty(), "{args:?}: no message");
    }
}

#[test]
fn the_cpu_probe_answers() {
    let o = driver(&["--cpu"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let sha = v.get("sha_ni").unwrap();
    assert!(sha.is_boolean() || sha.is_null(), "{v}");
}
