//! The shared cases in `tests/cases/*.json` (format in its README), run through the JSON seam the
//! bindings use. The Python and Node suites read the same files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use passgate::{seam, Engine, IssuedPassport, Issuer};
use serde_json::{json, Value};

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cases")
}

fn read(path: &Path) -> Value {
    passgate::__private::json::parse(
        &std::fs::read_to_string(path).unwrap(),
        passgate::__private::json::Limits::POLICY,
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Run {
    trusted: Issuer,
    untrusted: Issuer,
    passports: HashMap<String, IssuedPassport>,
    engine: Engine,
}

impl Run {
    fn issue(&mut self, name: &str, spec: &Value) -> passgate::Result<()> {
        let mut args = spec.clone();
        let obj = args.as_object_mut().unwrap();
        for k in ["name", "expect", "op"] {
            obj.remove(k);
        }
        let parent = obj.remove("parent");
        let issuer = obj.remove("issuer");
        let secret = match (&parent, issuer.as_ref().and_then(Value::as_str)) {
            (Some(p), _) => {
                let p = &self.passports[p.as_str().unwrap()];
                obj.insert("passport".into(), json!(p.token));
                p.private_key.clone()
            }
            (None, Some("untrusted")) => self.untrusted.secret(),
            _ => self.trusted.secret(),
        };
        obj.insert("issuer_secret".into(), json!(secret));
        let issued = seam::issue_passport(&args)?;
        let p = IssuedPassport::from_token(
            issued["token"].as_str().unwrap(),
            issued["private_key"].as_str().unwrap(),
        )?;
        self.passports.insert(name.to_string(), p);
        Ok(())
    }

    fn token(&self, name: &Value) -> Value {
        let Some(name) = name.as_str() else {
            return Value::Null;
        };
        match name.strip_prefix("tampered:") {
            Some(n) => {
                let mut t = self.passports[n].token.clone();
                let last = t.pop().unwrap();
                // Change the last signature character to another valid base64url one.
                t.push(if last == 'A' { 'Q' } else { 'A' });
                json!(t)
            }
            None => json!(self.passports[name].token),
        }
    }
}

fn run_case(path: &Path) {
    let case = read(path);
    let name = path.file_name().unwrap().to_string_lossy();
    let policy = match &case["policy"] {
        Value::String(rel) => read(&cases_dir().join(rel)),
        p => p.clone(),
    };
    let trusted = Issuer::generate().unwrap();
    let engine =
        seam::engine(&json!({"policy": policy, "trusted_issuers": [trusted.did()]})).unwrap();
    let mut run = Run {
        trusted,
        untrusted: Issuer::generate().unwrap(),
        passports: HashMap::new(),
        engine,
    };
    for (pname, spec) in case["passports"].as_object().unwrap() {
        run.issue(pname, spec)
            .unwrap_or_else(|e| panic!("{name}: passport {pname}: {e}"));
    }
    let mut saved: HashMap<String, Value> = HashMap::new();
    for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
        let at = format!("{name} step {i}");
        let step = resolve_refs(step, &saved, &at);
        let expect = &step["expect"];
        let result: passgate::Result<Value> = match step["op"].as_str().unwrap() {
            "revoke" => {
                let id = run.passports[step["passport"].as_str().unwrap()]
                    .passport_id
                    .clone();
                seam::call(&run.engine, "revoke_passport", &json!({"passport_id": id}))
            }
            "issue" => run
                .issue(step["name"].as_str().unwrap(), &step)
                .map(|_| Value::Null),
            op => {
                // Every other op goes to the seam as is, with passport names made tokens.
                let mut args = step.clone();
                let obj = args.as_object_mut().unwrap();
                for k in ["op", "expect", "save"] {
                    obj.remove(k);
                }
                if let Some(p) = obj.get("passport").cloned() {
                    obj.insert("passport".into(), run.token(&p));
                }
                if matches!(op, "enforce" | "dry_run") && !obj.contains_key("payload") {
                    obj.insert("payload".into(), json!({}));
                }
                seam::call(&run.engine, op, &args)
            }
        };
        match (expect.get("error"), result) {
            (Some(code), Err(e)) => assert_eq!(e.code(), code, "{at}: {e}"),
            (Some(code), Ok(v)) => panic!("{at}: expected error {code}, got {v}"),
            (None, Err(e)) => panic!("{at}: unexpected error {e}"),
            (None, Ok(v)) => {
                check_expectations(&at, expect, &v);
                if let Some(name) = step.get("save").and_then(Value::as_str) {
                    saved.insert(name.to_string(), v);
                }
            }
        }
    }
    let records = seam::call(&run.engine, "attestations", &json!({})).unwrap();
    seam::call(
        &run.engine,
        "verify_chain",
        &json!({"records": records["attestations"]}),
    )
    .unwrap();
}

/// Replaces every string `"$name.key"` in `v` by the `key` of the result saved as `name`.
fn resolve_refs(v: &Value, saved: &HashMap<String, Value>, at: &str) -> Value {
    match v {
        Value::String(s) if s.starts_with('$') => {
            let (name, key) = s[1..]
                .split_once('.')
                .unwrap_or_else(|| panic!("{at}: bad reference {s}"));
            saved
                .get(name)
                .map(|r| r[key].clone())
                .unwrap_or_else(|| panic!("{at}: nothing saved as {name}"))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_refs(x, saved, at)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), resolve_refs(x, saved, at)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn check_expectations(at: &str, expect: &Value, got: &Value) {
    let Some(expect) = expect.as_object() else {
        return;
    };
    for (k, want) in expect {
        match k.as_str() {
            "has" => {
                for key in want.as_array().unwrap() {
                    let v = &got[key.as_str().unwrap()];
                    assert!(!v.is_null(), "{at}: {key} missing in {got:#}");
                }
            }
            "failed" => {
                let failed: Vec<&Value> = got["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|c| c["passed"] == false)
                    .map(|c| &c["constraint"])
                    .collect();
                let want: Vec<&Value> = want.as_array().unwrap().iter().collect();
                assert_eq!(failed, want, "{at}: failed checks in {got:#}");
            }
            "passed" => {
                for id in want.as_array().unwrap() {
                    let c = got["checks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| &c["constraint"] == id);
                    assert!(
                        c.is_some_and(|c| c["passed"] == true),
                        "{at}: {id} must pass in {got:#}"
                    );
                }
            }
            "codes" => {
                for (id, code) in want.as_object().unwrap() {
                    let c = got["checks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|c| c["constraint"] == id.as_str());
                    assert_eq!(
                        c.map(|c| &c["code"]),
                        Some(code),
                        "{at}: code of {id} in {got:#}"
                    );
                }
            }
            "remaining" => {
                for (id, left) in want.as_object().unwrap() {
                    assert_eq!(
                        &got["remaining"][id], left,
                        "{at}: remaining {id} in {got:#}"
                    );
                }
            }
            // Anything else must be equal as JSON (`decision`, `replayed`, `sub`, `gates`, `state`,
            // `amounts`, `redacted_payload`, …).
            other => assert_eq!(&got[other], want, "{at}: {other} in {got:#}"),
        }
    }
}

#[test]
fn shared_cases() {
    let mut n = 0;
    let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        run_case(&path);
        n += 1;
    }
    assert!(n >= 8, "only {n} cases found");
}
