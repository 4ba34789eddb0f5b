//! `passgate policy test`: runs case files in the format of `tests/cases` (its README): a
//! policy, passports, steps of operations with expectations.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::{out, read_json, CliResult, Fail, Io};
use crate::json::Context;
use crate::{seam, Engine, IssuedPassport, Issuer};

pub(super) fn test(paths: &[PathBuf], policy: Option<&Path>, io: &mut Io<'_>) -> CliResult {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p).map_err(|e| Fail::io(p, &e))?;
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    if files.is_empty() {
        return Err(Fail::usage("no case files (*.json) found"));
    }
    let default_policy = policy.map(|p| read_json(p, Context::Policy)).transpose()?;
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let name = file.display().to_string();
        match run_case(file, default_policy.as_ref()) {
            Ok(()) => {
                passed += 1;
                out(io, &format!("ok   {name}"))?;
            }
            Err(why) => {
                failed += 1;
                out(io, &format!("FAIL {name}: {why}"))?;
            }
        }
    }
    out(io, &format!("{passed} passed, {failed} failed"))?;
    if failed > 0 {
        Err(Fail::silent(1))
    } else {
        Ok(())
    }
}

type Outcome = std::result::Result<(), String>;

struct Run {
    trusted: Issuer,
    untrusted: Issuer,
    passports: HashMap<String, IssuedPassport>,
    engine: Engine,
}

fn str_of<'a>(v: &'a Value, key: &str, at: &str) -> std::result::Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}: \"{key}\" must be a string"))
}

impl Run {
    fn issue(&mut self, name: &str, spec: &Value) -> crate::Result<()> {
        let mut obj = spec.as_object().cloned().unwrap_or_default();
        for k in ["name", "expect", "op", "save"] {
            obj.remove(k);
        }
        let parent = obj.remove("parent");
        let issuer = obj.remove("issuer");
        let secret = match (
            parent.as_ref().and_then(Value::as_str),
            issuer.as_ref().and_then(Value::as_str),
        ) {
            (Some(p), _) => {
                let p = self.passports.get(p).ok_or_else(|| {
                    crate::Error::InvalidArgument(format!("no passport named {p:?}"))
                })?;
                obj.insert("passport".into(), json!(p.token));
                p.private_key.clone()
            }
            (None, Some("untrusted")) => self.untrusted.secret(),
            _ => self.trusted.secret(),
        };
        obj.insert("issuer_secret".into(), json!(secret));
        let issued = seam::issue_passport(&Value::Object(obj))?;
        let token = issued.get("token").and_then(Value::as_str).unwrap_or("");
        let key = issued
            .get("private_key")
            .and_then(Value::as_str)
            .unwrap_or("");
        let p = IssuedPassport::from_token(token, key)?;
        self.passports.insert(name.to_string(), p);
        Ok(())
    }

    fn token(&self, name: &Value, at: &str) -> std::result::Result<Value, String> {
        let Some(name) = name.as_str() else {
            return Ok(Value::Null);
        };
        let lookup = |n: &str| {
            self.passports
                .get(n)
                .map(|p| p.token.clone())
                .ok_or_else(|| format!("{at}: no passport named {n:?}"))
        };
        match name.strip_prefix("tampered:") {
            Some(n) => {
                let mut t = lookup(n)?;
                let last = t.pop().unwrap_or('A');
                // Another valid base64url character for the last signature one.
                t.push(if last == 'A' { 'Q' } else { 'A' });
                Ok(json!(t))
            }
            None => Ok(json!(lookup(name)?)),
        }
    }
}

fn run_case(path: &Path, default_policy: Option<&Value>) -> Outcome {
    let case = read_json(path, Context::Argument).map_err(|f| f.message)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let policy = match case.get("policy") {
        Some(Value::String(rel)) => {
            read_json(&dir.join(rel), Context::Policy).map_err(|f| f.message)?
        }
        Some(p) => p.clone(),
        None => default_policy
            .cloned()
            .ok_or("the case has no \"policy\" and no --policy was given")?,
    };
    let err = |e: crate::Error| format!("error[{}]: {e}", e.code());
    let trusted = Issuer::generate().map_err(err)?;
    let engine = seam::engine(&json!({"policy": policy, "trusted_issuers": [trusted.did()]}))
        .map_err(err)?;
    let mut run = Run {
        trusted,
        untrusted: Issuer::generate().map_err(err)?,
        passports: HashMap::new(),
        engine,
    };
    let empty = Map::new();
    let passports = case
        .get("passports")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (pname, spec) in passports {
        run.issue(pname, spec)
            .map_err(|e| format!("passport {pname}: {}", err(e)))?;
    }
    let steps = case
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("\"steps\" must be an array")?;
    let mut saved: HashMap<String, Value> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        let at = format!("step {i}");
        let step = resolve_refs(step, &saved, &at)?;
        let null = Value::Null;
        let expect = step.get("expect").unwrap_or(&null);
        let result: crate::Result<Value> = match str_of(&step, "op", &at)? {
            "revoke" => {
                let name = str_of(&step, "passport", &at)?;
                let id = run
                    .passports
                    .get(name)
                    .map(|p| p.passport_id.clone())
                    .ok_or_else(|| format!("{at}: no passport named {name:?}"))?;
                seam::call(&run.engine, "revoke_passport", &json!({"passport_id": id}))
            }
            "issue" => {
                let name = str_of(&step, "name", &at)?.to_string();
                run.issue(&name, &step).map(|()| Value::Null)
            }
            op => {
                let mut obj = step.as_object().cloned().unwrap_or_default();
                for k in ["op", "expect", "save"] {
                    obj.remove(k);
                }
                if let Some(p) = obj.get("passport").cloned() {
                    obj.insert("passport".into(), run.token(&p, &at)?);
                }
                if matches!(op, "enforce" | "dry_run") && !obj.contains_key("payload") {
                    obj.insert("payload".into(), json!({}));
                }
                seam::call(&run.engine, op, &Value::Object(obj))
            }
        };
        match (expect.get("error"), result) {
            (Some(code), Err(e)) => {
                if code.as_str() != Some(e.code()) {
                    return Err(format!("{at}: expected error {code}, got {}", err(e)));
                }
            }
            (Some(code), Ok(v)) => return Err(format!("{at}: expected error {code}, got {v}")),
            (None, Err(e)) => return Err(format!("{at}: unexpected {}", err(e))),
            (None, Ok(v)) => {
                check_expectations(&at, expect, &v)?;
                if let Some(name) = step.get("save").and_then(Value::as_str) {
                    saved.insert(name.to_string(), v);
                }
            }
        }
    }
    // Every run leaves a chain that verifies.
    let records = seam::call(&run.engine, "attestations", &json!({})).map_err(err)?;
    let records = records.get("attestations").cloned().unwrap_or(Value::Null);
    seam::call(&run.engine, "verify_chain", &json!({"records": records}))
        .map_err(|e| format!("the attestation chain: {}", err(e)))?;
    Ok(())
}

/// Replaces every string `"$name.key"` in `v` by the `key` of the result saved as `name`.
fn resolve_refs(
    v: &Value,
    saved: &HashMap<String, Value>,
    at: &str,
) -> std::result::Result<Value, String> {
    Ok(match v {
        Value::String(s) if s.starts_with('$') => {
            let (name, key) = s
                .get(1..)
                .and_then(|r| r.split_once('.'))
                .ok_or_else(|| format!("{at}: bad reference {s}"))?;
            saved
                .get(name)
                .map(|r| r.get(key).cloned().unwrap_or(Value::Null))
                .ok_or_else(|| format!("{at}: nothing saved as {name}"))?
        }
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| resolve_refs(x, saved, at))
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Object(o) => {
            let mut m = Map::new();
            for (k, x) in o {
                m.insert(k.clone(), resolve_refs(x, saved, at)?);
            }
            Value::Object(m)
        }
        other => other.clone(),
    })
}

fn checks(got: &Value) -> &[Value] {
    got.get("checks")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn check_expectations(at: &str, expect: &Value, got: &Value) -> Outcome {
    let Some(expect) = expect.as_object() else {
        return Ok(());
    };
    let null = Value::Null;
    let field = |k: &str| got.get(k).unwrap_or(&null);
    let empty = Vec::new();
    for (k, want) in expect {
        match k.as_str() {
            "has" => {
                for key in want.as_array().unwrap_or(&empty) {
                    if field(key.as_str().unwrap_or("")).is_null() {
                        return Err(format!("{at}: {key} missing in {got}"));
                    }
                }
            }
            "failed" => {
                let failed: Vec<&Value> = checks(got)
                    .iter()
                    .filter(|c| c.get("passed") == Some(&Value::Bool(false)))
                    .map(|c| c.get("constraint").unwrap_or(&null))
                    .collect();
                let want: Vec<&Value> = want.as_array().unwrap_or(&empty).iter().collect();
                if failed != want {
                    return Err(format!(
                        "{at}: failed checks {} (expected {})",
                        json!(failed),
                        json!(want)
                    ));
                }
            }
            "passed" => {
                for id in want.as_array().unwrap_or(&empty) {
                    let c = checks(got).iter().find(|c| c.get("constraint") == Some(id));
                    if !c.is_some_and(|c| c.get("passed") == Some(&Value::Bool(true))) {
                        return Err(format!("{at}: {id} must pass in {got}"));
                    }
                }
            }
            "codes" => {
                for (id, code) in want.as_object().into_iter().flatten() {
                    let c = checks(got)
                        .iter()
                        .find(|c| c.get("constraint").and_then(Value::as_str) == Some(id));
                    let got_code = c.and_then(|c| c.get("code"));
                    if got_code != Some(code) {
                        return Err(format!(
                            "{at}: code of {id} is {} (expected {code})",
                            got_code.unwrap_or(&null)
                        ));
                    }
                }
            }
            "remaining" => {
                for (id, left) in want.as_object().into_iter().flatten() {
                    let have = field("remaining").get(id).unwrap_or(&null);
                    if have != left {
                        return Err(format!("{at}: remaining {id} is {have} (expected {left})"));
                    }
                }
            }
            other => {
                if field(other) != want {
                    return Err(format!(
                        "{at}: {other} is {} (expected {want})",
                        field(other)
                    ));
                }
            }
        }
    }
    Ok(())
}
