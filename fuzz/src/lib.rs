//! The bodies of passgate's fuzz targets (`fuzz_targets/*.rs` only call these) and the fixed
//! fixtures they share with the seed generator (`examples/seeds.rs`).
//!
//! Everything is fixed: keys come from constant secrets, time is a [`ManualClock`] at [`NOW_MS`],
//! and every input gets a fresh engine on the in-memory store (so state never piles up between
//! runs and a run depends only on its input). Only the public API is used.
//!
//! A signature cannot be found by mutation, so three targets have a **re-sign mode**: an input
//! whose first byte is [`RESIGN`] (0x00) holds a claims / body document that the target signs
//! itself with the right key, after replacing every value that is exactly `"$"` by the live one
//! (issuer did, times, the live approval's ids, the previous record's hash, ...). That lets the
//! fuzzer reach the code behind signature checks: claim validation, caveat compilation,
//! delegation checks, the approval's binding to the request, chain linkage.

use std::sync::{Arc, OnceLock};

use passgate::clock::ManualClock;
use passgate::__private::json::{self, Limits};
use passgate::__private::keys::{b64u_decode, b64u_encode, KeyPair};
use passgate::{
    attestation, Decision, Engine, IssuedPassport, Issuer, PassportRequest, Policy, Request,
    Verifier, VerifierOptions,
};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The fixed "now": 2027-01-15T08:00:00Z.
pub const NOW_SECS: i64 = 1_800_000_000;
pub const NOW_MS: i64 = NOW_SECS * 1000;
/// First byte of an input in re-sign mode.
pub const RESIGN: u8 = 0;
/// A claim / body value the target replaces with the live one in re-sign mode.
pub const LIVE: &str = "$";
/// The gate with an `approval` constraint, and the payload that escalates there.
pub const APPROVAL_GATE: &str = "pay.send";

/// The policy every engine-backed target runs: a gate with `max_value` and an `approval`
/// constraint, a gate with `pattern` and `rate_limit`, and an anonymous section.
pub fn policy_doc() -> Value {
    json!({"version": 1, "gates": {
        "pay.send": {"require": ["pay:send"], "constraints": [
            {"id": "per-call", "type": "max_value", "field": "/amount", "max": 1000},
            {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 100}}]},
        "files.read": {"require": ["files:read"], "constraints": [
            {"id": "path", "type": "pattern", "field": "/path", "regex": "^/srv/[a-z0-9/._-]+$"},
            {"id": "rate", "type": "rate_limit", "max": 5, "window": "1m"}]}},
        "anonymous": {"gates": ["files.read"], "constraints": [
            {"id": "anon", "type": "rate_limit", "max": 2, "window": "1h", "scope": "client"}]}})
}

/// The payload every engine-backed target sends (`approval_payload` escalates on `pay.send`).
pub fn payload() -> Value {
    json!({"amount": 50, "to": "acct_1", "path": "/srv/data/report.csv"})
}

pub fn approval_payload() -> Value {
    json!({"amount": 500, "to": "acct_1"})
}

/// Caveats of the root passport: one of each kind the brief asks for.
pub fn root_caveats() -> Vec<Value> {
    vec![
        json!({"type": "max_value", "field": "/amount", "max": 900}),
        json!({"type": "pattern", "field": "/to", "regex": "^acct_[0-9]+$"}),
        json!({"type": "rate_limit", "max": 100, "window": "1h"}),
    ]
}

fn secret(byte: u8) -> String {
    b64u_encode(&[byte; 32])
}

/// The fixtures, built once per process.
pub struct Fixture {
    /// The trusted issuer.
    pub issuer: Issuer,
    /// The engines' attestation / approval signing key.
    pub engine_key: KeyPair,
    /// The `cnf` key of re-signed passports.
    pub agent_key: KeyPair,
    /// A root passport (`pay:*`, `files:read`) with [`root_caveats`].
    pub root: IssuedPassport,
    /// A root passport (`pay:send`) without caveats: the approval target's caller.
    pub plain: IssuedPassport,
    pub policy: Policy,
}

#[allow(clippy::expect_used)] // fixed inputs: a failure here is a harness bug
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let issuer = Issuer::from_secret(&secret(0x11)).expect("issuer");
        let mut root_req = PassportRequest::new("agent-root", ["pay:*", "files:read"]);
        root_req.caveats = root_caveats();
        let root = issuer
            .issue_passport_at(&root_req, NOW_SECS)
            .expect("root passport");
        let plain = issuer
            .issue_passport_at(&PassportRequest::new("agent-plain", ["pay:send"]), NOW_SECS)
            .expect("plain passport");
        Fixture {
            engine_key: KeyPair::from_secret(&secret(0x22)).expect("engine key"),
            agent_key: KeyPair::from_secret(&secret(0x33)).expect("agent key"),
            policy: Policy::from_value(policy_doc()).expect("policy"),
            issuer,
            root,
            plain,
        }
    })
}

/// A fresh engine: the fixture's policy, issuer and key, the fixed clock, the memory store.
#[allow(clippy::expect_used)]
pub fn engine(fix: &Fixture) -> Engine {
    engine_with(fix, fix.policy.clone())
}

#[allow(clippy::expect_used)]
fn engine_with(fix: &Fixture, policy: Policy) -> Engine {
    Engine::builder()
        .policy(policy)
        .trusted_issuer(fix.issuer.did())
        .signing_key(fix.engine_key.clone())
        .clock(Arc::new(ManualClock::new(NOW_MS)))
        .store_url("memory:")
        .build()
        .expect("engine")
}

fn lossy(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

// ---------------------------------------------------------------------------------------------
// 1. passport_verify

/// A compact JWS of `claims_text` signed by `signer` (the passport wire format).
pub fn sign_passport_claims(signer: &KeyPair, claims_text: &str) -> String {
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": signer.did()});
    let input = format!(
        "{}.{}",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(claims_text.as_bytes())
    );
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", b64u_encode(&sig))
}

/// Re-sign mode of `passport_verify`: `doc` is the claims. `"prf": "$"` delegates from the
/// fixture's root passport (signed by its agent key); otherwise the issuer signs.
#[allow(clippy::expect_used)]
pub fn resign_passport(fix: &Fixture, doc: &[u8]) -> String {
    let text = lossy(doc);
    let Ok(Value::Object(mut claims)) = json::parse(&text, Limits::PAYLOAD) else {
        return sign_passport_claims(fix.issuer.key(), &text);
    };
    let delegated = claims.get("prf").and_then(Value::as_str) == Some(LIVE);
    let root_agent;
    let signer = if delegated {
        root_agent = KeyPair::from_secret(&fix.root.private_key).expect("root agent key");
        &root_agent
    } else {
        fix.issuer.key()
    };
    for (k, v) in claims.iter_mut() {
        if v.as_str() != Some(LIVE) {
            continue;
        }
        *v = match k.as_str() {
            "iss" => json!(signer.did()),
            "sub" => json!("agent-fz"),
            "jti" => json!("psp_fuzzfuzzfuzzfuzzfuzzfuzzab"),
            "iat" | "nbf" => json!(NOW_SECS),
            "exp" => json!(NOW_SECS + 3600),
            "perms" => json!(["pay:send"]),
            "cnf" => json!({"jwk": fix.agent_key.public_jwk()}),
            "prf" => json!(fix.root.token),
            "caveats" => json!(root_caveats()),
            _ => continue,
        };
    }
    sign_passport_claims(signer, &Value::Object(claims).to_string())
}

/// `bytes → token → Verifier::verify`, then the same token through `Engine::enforce` on both
/// gates (caveat compilation and checks).
#[allow(clippy::expect_used)]
pub fn passport_verify(data: &[u8]) {
    let fix = fixture();
    let token = match data.split_first() {
        Some((&RESIGN, doc)) => resign_passport(fix, doc),
        _ => lossy(data),
    };
    let verifier = Verifier::new([fix.issuer.did().to_string()], VerifierOptions::default())
        .expect("verifier");
    let verified = verifier.verify(&token, NOW_MS);
    let _ = passgate::passport::decode_unverified(&token);
    // A refused token meets the same Verifier inside the engine, then a deny: skip the engine
    // (an Ed25519 signature per enforce) for those, which are nearly all inputs.
    if verified.is_ok() {
        let engine = engine(fix);
        for gate in ["pay.send", "files.read"] {
            let _ = engine.enforce(&Request::new(gate, payload()).passport(token.as_str()));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 2. approval_token

/// `enforce` of the escalating request presenting `approval`: the target's one call into the
/// approval path (through `Engine` only).
pub fn enforce_with_approval(
    engine: &Engine,
    passport: &str,
    approval: &str,
) -> passgate::Result<Decision> {
    engine.enforce(
        &Request::new(APPROVAL_GATE, approval_payload())
            .passport(passport)
            .approval(approval),
    )
}

/// Escalates the fixture's request on `engine` and approves it: `(evaluation_id, token)`.
#[allow(clippy::expect_used)]
pub fn escalate_and_approve(engine: &Engine, passport: &str) -> (String, String) {
    let d = engine
        .enforce(&Request::new(APPROVAL_GATE, approval_payload()).passport(passport))
        .expect("escalating enforce");
    assert_eq!(
        d.decision.as_str(),
        "escalate",
        "fixture request must escalate"
    );
    let token = engine
        .approve(&d.evaluation_id, "alice", None)
        .expect("approve");
    (d.evaluation_id, token)
}

/// The claims of an approval token (`pga1.<claims>.<sig>`), as the documented wire format.
fn approval_claims(token: &str) -> Map<String, Value> {
    token
        .split('.')
        .nth(1)
        .and_then(|p| b64u_decode(p).ok())
        .and_then(|b| serde_json::from_slice::<Map<String, Value>>(&b).ok())
        .unwrap_or_default()
}

/// Re-sign mode of `approval_token`: `doc` is the claims; each `"$"` takes the live token's
/// value; canonicalised (when it can be) and signed by the engine key. The format is the one
/// documented in `core/src/approval.rs` (`pga1.<b64u claims>.<b64u sig>`, Ed25519 over
/// `passgate-approval-v1\n` + SHA-256 of the canonical claims), written out here so the target
/// does not depend on that module's Rust API.
pub fn resign_approval(key: &KeyPair, live: &str, doc: &[u8]) -> String {
    let live = approval_claims(live);
    let mut text = lossy(doc);
    if let Ok(Value::Object(mut m)) = json::parse(&text, Limits::PAYLOAD) {
        for (k, v) in m.iter_mut() {
            if v.as_str() == Some(LIVE) {
                if let Some(l) = live.get(k) {
                    *v = l.clone();
                }
            }
        }
        if let Ok(c) = json::canonical(&Value::Object(m)) {
            text = c;
        }
    }
    let mut msg = b"passgate-approval-v1\n".to_vec();
    msg.extend_from_slice(&Sha256::digest(text.as_bytes()));
    format!(
        "pga1.{}.{}",
        b64u_encode(text.as_bytes()),
        b64u_encode(&key.sign(&msg))
    )
}

/// A fresh engine escalates the fixture's request and approves it; then `bytes → approval
/// token → enforce`. An empty input presents the live token. Oracle: the live token admits the
/// request exactly once.
pub fn approval_token(data: &[u8]) {
    let fix = fixture();
    let engine = engine(fix);
    let passport = fix.plain.token.as_str();
    if data.first().is_some_and(|&b| b != RESIGN) {
        // A raw token cannot name this run's random evaluation id: no need to escalate first.
        let _ = enforce_with_approval(&engine, passport, &lossy(data));
        return;
    }
    let (_, live) = escalate_and_approve(&engine, passport);
    let token = match data.split_first() {
        Some((_, doc)) => resign_approval(&fix.engine_key, &live, doc),
        None => live.clone(),
    };
    let first = enforce_with_approval(&engine, passport, &token);
    if token == live {
        let first = first.map(|d| d.allowed);
        assert!(
            matches!(first, Ok(true)),
            "live approval refused: {first:?}"
        );
        let again = enforce_with_approval(&engine, passport, &token).map(|d| d.allowed);
        assert!(
            matches!(again, Ok(false)),
            "approval admitted twice: {again:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. policy_compile

/// `bytes → json::parse → Policy::from_value`; a policy that compiles is then run: an engine on
/// it, a dry run of up to three of its gates, anonymous and with the root passport.
pub fn policy_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(doc) = json::parse(text, Limits::PAYLOAD) else {
        return;
    };
    let Ok(policy) = Policy::from_value(doc) else {
        return;
    };
    for g in policy.gates.values() {
        let _ = g.to_json();
    }
    let fix = fixture();
    let gates: Vec<String> = policy.gates.keys().take(3).cloned().collect();
    let Ok(engine) = Engine::builder()
        .policy(policy)
        .trusted_issuer(fix.issuer.did())
        .signing_key(fix.engine_key.clone())
        .clock(Arc::new(ManualClock::new(NOW_MS)))
        .build()
    else {
        return;
    };
    for gate in gates {
        let _ = engine.dry_run(&Request::new(gate.as_str(), payload()).client("203.0.113.7"));
        let _ = engine.dry_run(&Request::new(gate.as_str(), payload()).passport(&fix.root.token));
    }
}

// ---------------------------------------------------------------------------------------------
// 4. json_canonical

/// Asserts `c` (the output of `form`) parses back and goes through `form` again unchanged: RFC
/// 8785 for `json::canonical`; the hash form for `json::canonical_normalized`, whose numbers are
/// exact decimals (`1E22` → `10000000000000000000000`), so it is a fixed point of itself, not of
/// RFC 8785 (which writes `1e+22`).
fn assert_fixed_point(c: &str, what: &str, form: fn(&Value) -> passgate::Result<String>) {
    if c.len() > Limits::PAYLOAD.max_bytes {
        return; // canonical output may be longer than its input (1e20 → 100000000000000000000)
    }
    let v = match json::parse(c, Limits::PAYLOAD) {
        Ok(v) => v,
        Err(e) => panic!("{what} output does not parse: {e:?}\n{c}"),
    };
    match form(&v) {
        Ok(c2) => assert_eq!(c, c2, "{what} is not a fixed point of itself"),
        Err(e) => panic!("{what} output cannot be canonicalised again: {e}\n{c}"),
    }
}

/// `bytes → json::parse → canonical / canonical_normalized`, and the round trip
/// `canonical(parse(canonical(v))) == canonical(v)` (likewise for the normalised form).
pub fn json_canonical(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(v) = json::parse(text, Limits::PAYLOAD) else {
        return;
    };
    if let Ok(c) = json::canonical(&v) {
        assert_fixed_point(&c, "canonical", json::canonical);
    }
    if let Ok(c) = json::canonical_normalized(&v) {
        assert_fixed_point(&c, "canonical_normalized", json::canonical_normalized);
    }
}

// ---------------------------------------------------------------------------------------------
// 5. mcp_handle

/// The one call into the MCP handler: adapt here when its signature changes.
pub fn mcp_call(engine: &Engine, issuer: &Issuer, message: &str) -> Option<String> {
    // The operator role: every tool is reachable.
    let caller = passgate::mcp::Caller::operator("fuzz");
    passgate::mcp::handle(engine, &caller, Some(issuer), message)
}

/// `bytes → message → mcp::handle` on a fresh engine; a reply must be JSON.
pub fn mcp_handle(data: &[u8]) {
    let fix = fixture();
    let engine = engine(fix);
    if let Some(reply) = mcp_call(&engine, &fix.issuer, &lossy(data)) {
        if let Err(e) = serde_json::from_str::<Value>(&reply) {
            panic!("MCP reply is not JSON: {e}\n{reply}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 6. attestation_verify

/// Re-sign mode of `attestation_verify`: every element with a `body` (the document itself, or
/// each element of an array) is sealed again with the engine key; a body's `"prev": "$"` becomes
/// the previous sealed record's hash (`null` for the first).
pub fn reseal(doc: &mut Value, key: &KeyPair) {
    let items: Vec<&mut Value> = match doc {
        Value::Array(a) => a.iter_mut().collect(),
        other => vec![other],
    };
    let mut prev: Option<String> = None;
    for item in items {
        let Some(mut body) = item.get("body").cloned() else {
            continue;
        };
        if let Some(b) = body.as_object_mut() {
            if b.get("prev").and_then(Value::as_str) == Some(LIVE) {
                b.insert(
                    "prev".into(),
                    prev.clone().map_or(Value::Null, Value::String),
                );
            }
        }
        if let Ok((record, hash)) = attestation::seal(body, key) {
            *item = record;
            prev = Some(hash);
        }
    }
}

/// `bytes → JSON → verify_attestation(record, did)`, and `verify_chain` for an array.
pub fn attestation_verify(data: &[u8]) {
    let fix = fixture();
    let (resign, rest) = match data.split_first() {
        Some((&RESIGN, rest)) => (true, rest),
        _ => (false, data),
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(mut doc) = json::parse(text, Limits::PAYLOAD) else {
        return;
    };
    if resign {
        reseal(&mut doc, &fix.engine_key);
    }
    let did = fix.engine_key.did();
    match &doc {
        Value::Array(records) => {
            let chain = passgate::verify_chain(records, did);
            // A chain that verifies (its signatures checked in batches) holds only signed
            // records that verify alone (strictly): the batch's one difference needs the key's
            // holder to craft a signature off by a small-order point, which re-signing never
            // does.
            let alone = if chain.is_ok() { records.len() } else { 8 };
            for (i, r) in records.iter().take(alone).enumerate() {
                let one = passgate::verify_attestation(r, did);
                if chain.is_ok() && r.get("sig").is_some() {
                    assert!(
                        one.is_ok(),
                        "record {i} is in a chain that verifies but does not verify alone: {one:?}"
                    );
                }
            }
        }
        record => {
            let _ = passgate::verify_attestation(record, did);
            let _ = passgate::verify_attestation(record, fix.issuer.did());
        }
    }
}
