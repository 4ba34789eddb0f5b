//! Writes the seed corpora `fuzz/seeds/<target>/` (run from anywhere):
//!
//! ```text
//! cd fuzz && cargo run --example seeds
//! ```
//!
//! Each target's folder is emptied and rewritten. Names and documents are fixed; passports and
//! records carry random ids and agent keys (the public API issues no other kind), so their bytes
//! change between runs while what they exercise does not. Everything is issued at the targets'
//! fixed time by the targets' fixed keys, so the tokens stay valid for the targets forever.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use passgate::__private::json::{self, Limits};
use passgate::{AttestationFilter, Issuer, PassportRequest, Request};
use passgate_fuzz::{
    approval_payload, engine, escalate_and_approve, fixture, mcp_call, payload, policy_doc,
    resign_passport, APPROVAL_GATE, LIVE, NOW_SECS, RESIGN,
};
use serde_json::{json, Value};

/// Inputs over this are not written (the Makefile runs with -max_len=65536).
const MAX_LEN: usize = 65536;

struct Seeds {
    dir: PathBuf,
    n: usize,
}

impl Seeds {
    fn new(root: &Path, target: &str) -> Seeds {
        let dir = root.join("seeds").join(target);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Seeds { dir, n: 0 }
    }
    fn put(&mut self, name: &str, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        if bytes.len() > MAX_LEN {
            return;
        }
        fs::write(self.dir.join(name), bytes).unwrap();
        self.n += 1;
    }
    /// A re-sign mode input: 0x00 then the document.
    fn resign(&mut self, name: &str, doc: &Value) {
        let mut b = vec![RESIGN];
        b.extend_from_slice(doc.to_string().as_bytes());
        self.put(name, b);
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let repo = root.parent().unwrap();
    let fix = fixture();
    passport(root, fix);
    approval(root, fix);
    policy(root, repo);
    canonical(root, repo);
    mcp(root, fix);
    attestations(root, fix);
}

fn b64(s: &str) -> String {
    passgate::__private::keys::b64u_encode(s.as_bytes())
}

fn passport(root: &Path, fix: &passgate_fuzz::Fixture) {
    let mut s = Seeds::new(root, "passport_verify");
    s.put("root-caveats", &fix.root.token);
    s.put("plain", &fix.plain.token);
    let child = fix
        .root
        .issue_sub_passport_at(
            &PassportRequest::new("agent-child", ["pay:send"])
                .with_expires_in_secs(3600)
                .with_caveat(json!({"type": "max_value", "field": "/amount", "max": 20}))
                .with_caveat(
                    json!({"type": "pattern", "field": "/path", "regex": "^/srv/(a|b)+$"}),
                ),
            NOW_SECS,
        )
        .unwrap();
    s.put("delegated", &child.token);
    let grandchild = child
        .issue_sub_passport_at(
            &PassportRequest::new("agent-grandchild", ["pay:send"])
                .with_expires_in_secs(600)
                .with_caveat(json!({"type": "rate_limit", "max": 1, "window": {"size": "1m", "kind": "sliding"}})),
            NOW_SECS,
        )
        .unwrap();
    s.put("delegated-twice", &grandchild.token);
    let expired = fix
        .issuer
        .issue_passport_at(
            &PassportRequest::new("agent-old", ["pay:send"]).with_expires_in_secs(60),
            NOW_SECS - 86_400,
        )
        .unwrap();
    s.put("expired", &expired.token);
    let future = fix
        .issuer
        .issue_passport_at(
            &PassportRequest::new("agent-later", ["pay:send"]).with_not_before(NOW_SECS + 86_400),
            NOW_SECS,
        )
        .unwrap();
    s.put("not-yet-valid", &future.token);
    let stranger = Issuer::from_secret(&passgate::__private::keys::b64u_encode(&[0x44; 32])).unwrap();
    let untrusted = stranger
        .issue_passport_at(&PassportRequest::new("agent-x", ["pay:send"]), NOW_SECS)
        .unwrap();
    s.put("untrusted-issuer", &untrusted.token);
    // Mutations of a real token.
    let t = &child.token;
    let (head, sig) = t.rsplit_once('.').unwrap();
    s.put("mut-truncated", &t[..t.len() / 2]);
    s.put("mut-no-signature", format!("{head}."));
    s.put("mut-two-parts", head);
    s.put("mut-four-parts", format!("{t}.AAAA"));
    let mut flipped = sig.as_bytes().to_vec();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    s.put(
        "mut-signature",
        format!("{head}.{}", String::from_utf8(flipped).unwrap()),
    );
    let claims_part = head.split_once('.').unwrap().1;
    s.put(
        "mut-alg-none",
        format!(
            "{}.{claims_part}.",
            b64(r#"{"alg":"none","typ":"passport+jwt"}"#)
        ),
    );
    s.put(
        "mut-header-order",
        format!(
            "{}.{claims_part}.{sig}",
            b64(&format!(
                r#"{{"typ":"passport+jwt","alg":"EdDSA","kid":"{}"}}"#,
                fix.issuer.did()
            ))
        ),
    );
    // Re-sign mode: claims signed by the target.
    let claims = |extra: Value| {
        let mut c = json!({"iss": LIVE, "sub": "agent-fz", "jti": LIVE, "iat": LIVE, "nbf": LIVE,
            "exp": LIVE, "perms": ["pay:send", "files:read"], "cnf": LIVE});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // The re-sign seeds must get past the signature checks, or the mode is useless.
    let verifier =
        passgate::Verifier::new([fix.issuer.did().to_string()], Default::default()).unwrap();
    for c in [
        claims(json!({})),
        claims(json!({"prf": LIVE, "perms": ["pay:send"]})),
    ] {
        let t = resign_passport(fix, c.to_string().as_bytes());
        verifier.verify(&t, passgate_fuzz::NOW_MS).unwrap();
    }
    s.resign("resign-plain", &claims(json!({})));
    s.resign(
        "resign-caveats",
        &claims(json!({"name": "Fuzz bot", "caveats": [
            {"type": "max_value", "field": "/amount", "max": 10},
            {"type": "pattern", "field": "/path", "regex": "^/srv/[a-z]{1,8}/.*\\.csv$"},
            {"type": "rate_limit", "max": 3, "window": "1m"},
            {"type": "rate_limit", "max": 3, "window": {"size": "10m", "kind": "sliding"}, "scope": "agent"},
            {"type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"},
            {"type": "max_value", "field": "/amount", "max": "12.50"}]})),
    );
    s.resign(
        "resign-delegated",
        &claims(json!({"prf": LIVE, "perms": ["pay:send"]})),
    );
    s.resign(
        "resign-delegated-caveat",
        &claims(json!({"prf": LIVE, "perms": ["pay:send"],
            "caveats": [{"type": "pattern", "field": "/to", "regex": "^acct_(1|2)$"}]})),
    );
    s.resign("resign-bad-claim", &claims(json!({"aud": "x"})));
    s.resign(
        "resign-bad-caveat",
        &claims(json!({"caveats": [{"type": "pattern", "field": "/a", "regex": "("}]})),
    );
    // The re-signed token itself, as a raw token too.
    let resigned = resign_passport(
        fix,
        claims(json!({"caveats": [{"type": "max_value", "field": "/amount", "max": 10}]}))
            .to_string()
            .as_bytes(),
    );
    s.put("resigned-raw", resigned);
    println!("passport_verify: {} seeds", s.n);
}

fn approval(root: &Path, fix: &passgate_fuzz::Fixture) {
    let mut s = Seeds::new(root, "approval_token");
    s.put("live", b"");
    let engine = engine(fix);
    let (_, token) = escalate_and_approve(&engine, &fix.plain.token);
    s.put("real-other-engine", &token);
    let all = |over: Value| {
        let mut c = json!({"v": 1, "jti": LIVE, "evaluation_id": LIVE, "fingerprint": LIVE,
            "gate": LIVE, "passport_id": LIVE, "approver": LIVE, "iat": LIVE, "exp": LIVE, "kid": LIVE});
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // All "$": the live token itself, byte for byte (Ed25519 is deterministic).
    let e2 = passgate_fuzz::engine(fix);
    let (_, live) = escalate_and_approve(&e2, &fix.plain.token);
    let doc = all(json!({})).to_string();
    assert_eq!(
        passgate_fuzz::resign_approval(&fix.engine_key, &live, doc.as_bytes()),
        live
    );
    s.resign("resign-live", &all(json!({})));
    s.resign("resign-expired", &all(json!({"exp": 1})));
    s.resign("resign-other-gate", &all(json!({"gate": "files.read"})));
    s.resign(
        "resign-other-evaluation",
        &all(json!({"evaluation_id": "evl_aaaaaaaaaaaaaaaaaaaaaaaaaa"})),
    );
    s.resign(
        "resign-other-fingerprint",
        &all(json!({"fingerprint": "sha256:00"})),
    );
    s.resign(
        "resign-other-jti",
        &all(json!({"jti": "apr_aaaaaaaaaaaaaaaaaaaaaaaaaa"})),
    );
    s.resign("resign-no-passport", &all(json!({"passport_id": null})));
    s.resign("resign-other-kid", &all(json!({"kid": fix.issuer.did()})));
    s.resign(
        "resign-big-exp",
        &all(json!({"exp": 9_223_372_036_854_775_807_i64})),
    );
    let (head, sig) = token.rsplit_once('.').unwrap();
    s.put("mut-no-sig", format!("{head}."));
    s.put("mut-prefix", token.replacen("pga1", "pga2", 1));
    s.put("mut-extra-part", format!("{token}.x"));
    s.put("mut-sig-truncated", format!("{head}.{}", &sig[..10]));
    s.put("mut-claims-not-b64", format!("pga1.!!.{sig}"));
    println!("approval_token: {} seeds", s.n);
    let _ = (APPROVAL_GATE, approval_payload());
}

/// JSON objects with a `version` found in `text`: whole files and raw strings in Rust sources.
fn policies_in(text: &str, out: &mut Vec<Value>) {
    if let Ok(v) = json::parse(text, Limits::POLICY) {
        if let Some(p) = v.get("policy") {
            out.push(p.clone());
        }
        if v.get("version").is_some() {
            out.push(v);
        }
        return;
    }
    let mut rest = text;
    while let Some(i) = rest.find("r#\"") {
        rest = &rest[i + 3..];
        let Some(j) = rest.find("\"#") else { break };
        let lit = &rest[..j];
        if let Ok(v) = json::parse(lit, Limits::POLICY) {
            if v.get("version").is_some() {
                out.push(v);
            }
        }
        rest = &rest[j..];
    }
}

fn policy(root: &Path, repo: &Path) {
    let mut s = Seeds::new(root, "policy_compile");
    let mut found = vec![policy_doc()];
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in [
        "tests/cases",
        "tests/cases/policies",
        "examples/mcp",
        "core/tests",
        "core/tests/adversarial",
    ] {
        if let Ok(rd) = fs::read_dir(repo.join(dir)) {
            files.extend(rd.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    for f in files {
        if let Ok(text) = fs::read_to_string(&f) {
            policies_in(&text, &mut found);
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for p in found {
        let text = serde_json::to_string_pretty(&p).unwrap();
        if seen.insert(text.clone()) {
            s.put(&format!("policy-{:03}", seen.len()), text);
        }
    }
    s.put(
        "builtin-templates-use",
        json!({"version": 1, "templates": {}, "gates": {"g": {"require": []}}}).to_string(),
    );
    println!("policy_compile: {} seeds", s.n);
}

fn canonical(root: &Path, repo: &Path) {
    let mut s = Seeds::new(root, "json_canonical");
    for dir in [
        "tests/vectors/json-parsing/test_parsing",
        "tests/vectors/jcs/input",
    ] {
        let mut files: Vec<PathBuf> = fs::read_dir(repo.join(dir))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        let tag = if dir.contains("jcs") { "jcs-" } else { "" };
        for f in files {
            let name = format!("{tag}{}", f.file_name().unwrap().to_string_lossy());
            s.put(&name, fs::read(&f).unwrap());
        }
    }
    s.put("numbers", r#"[1e20, 1E+2, -0, 0.1, 1e-7, 123456789012345678901234567890, 5e-324, 1.7976931348623157e308, 18446744073709551617]"#);
    s.put(
        "strings",
        "[\"\\u0000\\u001f\\u007f\\ud83d\\ude00\", \"\u{e9}\", \"\\/\"]",
    );
    s.put(
        "sorting",
        r#"{"b": 1, "a": {"\u00e9": 1, "e": 2, "\ud83d\ude00": 3, "\uffff": 4}, "": []}"#,
    );
    println!("json_canonical: {} seeds", s.n);
}

fn mcp(root: &Path, fix: &passgate_fuzz::Fixture) {
    let mut s = Seeds::new(root, "mcp_handle");
    let engine = engine(fix);
    let call = |id: i64, name: &str, args: Value| json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": name, "arguments": args}});
    let d = engine
        .enforce(&Request::new("pay.send", payload()).passport(&fix.root.token))
        .unwrap();
    let record = d.attestation.as_deref().cloned().unwrap_or(Value::Null);
    let (evaluation, _) = {
        let d = engine
            .enforce(
                &Request::new(APPROVAL_GATE, json!({"amount": 700, "to": "acct_9"}))
                    .passport(&fix.plain.token),
            )
            .unwrap();
        (d.evaluation_id, ())
    };
    let p = fix.root.token.as_str();
    let msgs = vec![
        (
            "initialize",
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fuzz", "version": "0"}}}),
        ),
        (
            "initialized",
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        ),
        (
            "ping",
            json!({"jsonrpc": "2.0", "id": "p", "method": "ping"}),
        ),
        (
            "tools-list",
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        ),
        (
            "unknown-method",
            json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}),
        ),
        (
            "enforce",
            call(
                4,
                "enforce_action",
                json!({"gate": "pay.send", "passport": p, "payload": payload()}),
            ),
        ),
        (
            "enforce-escalate",
            call(
                5,
                "enforce_action",
                json!({"gate": "pay.send", "passport": fix.plain.token, "payload": approval_payload(), "idempotency_key": "k1", "trace": {"session": "s"}}),
            ),
        ),
        (
            "enforce-hold",
            call(
                6,
                "enforce_action",
                json!({"gate": "pay.send", "passport": p, "payload": {"amount": 20}, "hold": true}),
            ),
        ),
        (
            "enforce-anonymous",
            call(
                7,
                "enforce_action",
                json!({"gate": "files.read", "client": "203.0.113.7", "payload": {"path": "/srv/a"}}),
            ),
        ),
        (
            "dry-run",
            call(
                8,
                "authorize_dry_run",
                json!({"gate": "files.read", "passport": p, "payload": {"path": "/etc/passwd"}}),
            ),
        ),
        (
            "verify-passport",
            call(9, "verify_passport", json!({"passport": p})),
        ),
        (
            "issue-passport",
            call(
                10,
                "issue_passport",
                json!({"agent_id": "a2", "agent_name": "A", "permissions": ["pay:send"], "expires_in_days": 2, "caveats": [{"type": "max_value", "field": "/amount", "max": 5}]}),
            ),
        ),
        (
            "revoke-passport",
            call(
                11,
                "revoke_passport",
                json!({"passport_id": fix.root.passport_id}),
            ),
        ),
        ("list-gates", call(12, "list_gates", json!({}))),
        (
            "get-gate",
            call(13, "get_gate", json!({"gate": "files.read"})),
        ),
        (
            "constraint-types",
            call(14, "list_constraint_types", json!({})),
        ),
        (
            "templates",
            call(15, "list_constraint_templates", json!({})),
        ),
        (
            "cumulative-state",
            call(16, "get_cumulative_state", json!({"gate": "files.read"})),
        ),
        (
            "reset-state",
            call(17, "reset_cumulative_state", json!({"constraint": "rate"})),
        ),
        (
            "attestations",
            call(
                18,
                "get_attestations",
                json!({"gate": "pay.send", "limit": 5, "since": 0}),
            ),
        ),
        (
            "verify-attestation",
            call(19, "verify_attestation", json!({"record": record})),
        ),
        (
            "settle-hold",
            call(
                20,
                "settle_hold",
                json!({"hold_id": "hld_aaaaaaaaaaaaaaaaaaaaaaaaaa", "actual": {"amount": 3}}),
            ),
        ),
        (
            "release-hold",
            call(
                21,
                "release_hold",
                json!({"hold_id": "hld_aaaaaaaaaaaaaaaaaaaaaaaaaa"}),
            ),
        ),
        (
            "approve",
            call(
                22,
                "approve",
                json!({"evaluation_id": evaluation, "approver": "alice", "ttl": "15m"}),
            ),
        ),
        (
            "deny-approval",
            call(
                23,
                "deny_approval",
                json!({"evaluation_id": evaluation, "approver": "bob", "reason": "no"}),
            ),
        ),
        (
            "bad-arguments",
            call(24, "enforce_action", json!({"gate": 5})),
        ),
        ("unknown-tool", call(25, "nope", json!({}))),
        (
            "batch",
            json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "method": "x"},
            call(2, "enforce_action", json!({"gate": "pay.send", "passport": p, "payload": {"amount": 20}, "hold": true})),
            call(3, "get_attestations", json!({}))]),
        ),
        ("empty-batch", json!([])),
        ("not-an-object", json!(42)),
        (
            "bad-id",
            json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}),
        ),
    ];
    for (name, m) in msgs {
        let text = m.to_string();
        let _ = mcp_call(&engine, &fix.issuer, &text); // the documents must at least be answered
        s.put(name, text);
    }
    s.put(
        "parse-error",
        r#"{"jsonrpc": "2.0", "id": 1, "method": "ping""#,
    );
    println!("mcp_handle: {} seeds", s.n);
}

fn attestations(root: &Path, fix: &passgate_fuzz::Fixture) {
    let mut s = Seeds::new(root, "attestation_verify");
    let engine = engine(fix);
    let p = &fix.root.token;
    engine
        .enforce(&Request::new("pay.send", payload()).passport(p))
        .unwrap();
    engine
        .enforce(&Request::new("pay.send", json!({"amount": 5000})).passport(p))
        .unwrap();
    engine
        .enforce(&Request::new("files.read", json!({"path": "/srv/x"})).client("203.0.113.7"))
        .unwrap();
    let (_, token) = escalate_and_approve(&engine, &fix.plain.token);
    engine
        .enforce(
            &Request::new(APPROVAL_GATE, approval_payload())
                .passport(&fix.plain.token)
                .approval(token),
        )
        .unwrap();
    engine
        .record_attestation("host.note", &json!({"n": 1.50, "s": "x"}))
        .unwrap();
    engine.revoke_passport(&fix.plain.passport_id).unwrap();
    let records = engine.attestations(&AttestationFilter::default()).unwrap();
    assert!(passgate::verify_chain(&records, engine.signer_did()).is_ok());
    for (i, r) in records.iter().enumerate() {
        s.put(&format!("record-{i}"), r.to_string());
    }
    s.put("chain", Value::Array(records.clone()).to_string());
    s.put(
        "chain-prefix",
        Value::Array(records[..3].to_vec()).to_string(),
    );
    let mut swapped = records.clone();
    swapped.swap(1, 2);
    s.put("chain-swapped", Value::Array(swapped).to_string());
    s.put(
        "chain-gap",
        Value::Array(vec![records[0].clone(), records[2].clone()]).to_string(),
    );
    let mut tampered = records[0].clone();
    tampered["body"]["gate"] = json!("other");
    s.put("record-tampered", tampered.to_string());
    // Re-sign mode: bodies sealed by the target, linked through "prev": "$".
    let bodies: Vec<Value> = records
        .iter()
        .map(|r| {
            let mut b = r["body"].clone();
            if b["seq"] != json!(1) {
                b["prev"] = json!(LIVE);
            }
            json!({"body": b})
        })
        .collect();
    let mut resealed = Value::Array(bodies.clone());
    passgate_fuzz::reseal(&mut resealed, &fix.engine_key);
    passgate::verify_chain(resealed.as_array().unwrap(), engine.signer_did()).unwrap();
    s.resign("resign-chain", &Value::Array(bodies.clone()));
    s.resign("resign-record", &bodies[1]);
    println!("attestation_verify: {} seeds", s.n);
}
