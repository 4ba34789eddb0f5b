//! The passport registry and the trusted issuers (issue 17, items 2 and 3): issuance recorded and
//! attested, passports registered when first verified (every link), live status, listing with
//! filters and cursors; issuers trusted and untrusted through the store, trust windows checked
//! on the root `iat` (key rotation with overlapping windows), two engines on one SQLite file,
//! signed trust export and import. The agent is the adversary throughout: it holds a passport
//! and its key, mints sub-passports with chosen claims, and calls every tool it is given.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use std::sync::Arc;

use passgate::__private::keys::b64u_encode;
use passgate::clock::ManualClock;
use passgate::mcp::{self, Role};
use passgate::{ops, Engine, Issuer, KeyPair};
use serde_json::{json, Value};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const DAY: i64 = 86_400_000;

const POLICY: &str =
    r#"{"version": 1, "gates": {"pay": {"require": ["pay"]}, "read": {"require": ["read"]}}}"#;

fn engine_on(url: &str, trusted: &[&str], clock: &ManualClock) -> Engine {
    Engine::builder()
        .policy_json(POLICY)
        .trusted_issuers(trusted.iter().map(|s| s.to_string()))
        .store_url(url)
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

fn engine(trusted: &[&str], clock: &ManualClock) -> Engine {
    engine_on("memory:", trusted, clock)
}

fn call(e: &Engine, op: &str, args: Value) -> passgate::Result<Value> {
    ops::call(e, op, args)
}

fn code(r: passgate::Result<Value>) -> String {
    r.map(|v| panic!("expected an error, got {v}"))
        .unwrap_err()
        .code()
        .to_string()
}

/// Issues a root passport through the engine's `issue_passport` operation.
fn issue(e: &Engine, issuer: &Issuer, agent: &str, perms: &[&str]) -> Value {
    call(
        e,
        "issue_passport",
        json!({"issuer_secret": issuer.secret(), "agent_id": agent, "permissions": perms}),
    )
    .unwrap()
}

/// Issues a root passport without any engine (as another service would), at `secs`.
fn issue_elsewhere(
    issuer: &Issuer,
    agent: &str,
    perms: &[&str],
    secs: i64,
) -> passgate::IssuedPassport {
    issuer
        .issue_passport_at(
            &passgate::PassportRequest::new(agent, perms.iter().copied()),
            secs,
        )
        .unwrap()
}

fn decide(e: &Engine, token: &str, gate: &str) -> Value {
    call(e, "enforce", json!({"gate": gate, "passport": token})).unwrap()
}

fn allowed(e: &Engine, token: &str) -> bool {
    decide(e, token, "pay")["decision"] == "allow"
}

fn refusal(e: &Engine, token: &str) -> String {
    let d = decide(e, token, "pay");
    assert_eq!(d["decision"], "deny", "{d}");
    d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["passed"] == false)
        .map(|c| c["code"].as_str().unwrap_or_default().to_string())
        .unwrap()
}

/// A sub-passport the agent signs itself with claims of its choosing (a chosen `jti`).
fn mint_child(
    parent_token: &str,
    parent_secret: &str,
    jti: &str,
    perms: &[&str],
    now_s: i64,
) -> String {
    let key = KeyPair::from_secret(parent_secret).unwrap();
    let child = KeyPair::generate().unwrap();
    let claims = json!({
        "iss": key.did(), "sub": "sub-agent", "jti": jti, "iat": now_s, "nbf": now_s,
        "exp": now_s + 3 * 86_400, "perms": perms, "cnf": {"jwk": child.public_jwk()}, "prf": parent_token,
    });
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": key.did()});
    let input = format!(
        "{}.{}",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(claims.to_string().as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64u_encode(&sig))
}

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn records_of(e: &Engine, kind: &str) -> Vec<Value> {
    call(e, "attestations", json!({"kind": kind})).unwrap()["attestations"]
        .as_array()
        .unwrap()
        .clone()
}

// ---------------------------------------------------------------------------------------------
// Item 2: the passport registry

#[test]
fn an_issued_passport_is_recorded_and_attested_never_its_token_or_key() {
    let clock = ManualClock::new(T0);
    let issuer = Issuer::generate().unwrap();
    let e = engine(&[issuer.did()], &clock);
    let p = issue(&e, &issuer, "alice", &["pay"]);
    let id = p["passport_id"].as_str().unwrap();
    let got = call(&e, "get_passport", json!({"passport_id": id})).unwrap();
    assert_eq!(got["agent"], "alice");
    assert_eq!(got["perms"], json!(["pay"]));
    assert_eq!(got["issuer"], issuer.did());
    assert_eq!(got["source"], "issued");
    assert_eq!(got["status"], "active");
    assert_eq!(got["parent"], Value::Null);
    assert_eq!(got["issued_at"], T0 / 1000, "signed at the engine's clock");
    assert_eq!(got["registered_at"], T0);
    let token = p["token"].as_str().unwrap();
    assert_eq!(got["token_hash"], sha256_hex(token));
    let text = got.to_string();
    assert!(!text.contains(token), "the registry holds no token");
    assert!(
        !text.contains(p["private_key"].as_str().unwrap()),
        "nor a key"
    );
    // The issuance is attested, without the key either.
    let issued = records_of(&e, "issuance");
    assert_eq!(issued.len(), 1);
    let data = &issued[0]["body"]["data"];
    assert_eq!(data["passport_id"], id);
    assert_eq!(data["agent"], "alice");
    assert_eq!(data["token_hash"], sha256_hex(token));
    assert!(!issued[0]
        .to_string()
        .contains(p["private_key"].as_str().unwrap()));
    // Verifying it again registers nothing new and attests no conflict.
    assert!(allowed(&e, token));
    assert_eq!(
        call(&e, "get_passport", json!({"passport_id": id})).unwrap()["source"],
        "issued"
    );
    assert!(records_of(&e, "passport.conflict").is_empty());
}

#[test]
fn unknown_and_malformed_ids() {
    let clock = ManualClock::new(T0);
    let e = engine(&[], &clock);
    assert_eq!(
        code(call(
            &e,
            "get_passport",
            json!({"passport_id": "psp_aaaaaaaaaaaaaaaaaaaaaaaaaa"})
        )),
        "PASSPORT_UNKNOWN"
    );
    let unknown = call(
        &e,
        "get_passport",
        json!({"passport_id": "psp_aaaaaaaaaaaaaaaaaaaaaaaaaa"}),
    )
    .unwrap_err();
    assert_eq!(
        unknown.family(),
        passgate::Family::Input,
        "as API_KEY_UNKNOWN"
    );
    let err = call(&e, "get_passport", json!({"passport_id": "nope"})).unwrap_err();
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/passport_id"))
    );
    let err = call(&e, "list_passports", json!({"cursor": "garbage"})).unwrap_err();
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/cursor"))
    );
    let err = call(&e, "list_passports", json!({"limit": 1001})).unwrap_err();
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/limit"))
    );
}

#[test]
fn a_passport_made_elsewhere_is_registered_when_first_verified_every_link_but_not_by_a_dry_run() {
    let clock = ManualClock::new(T0);
    let issuer = Issuer::generate().unwrap();
    let e = engine(&[issuer.did()], &clock);
    let root = issue_elsewhere(&issuer, "alice", &["pay", "read"], T0 / 1000);
    let child = root
        .issue_sub_passport_at(
            &passgate::PassportRequest::new("helper", ["pay"]).with_expires_in_secs(600),
            T0 / 1000,
        )
        .unwrap();
    // A dry run changes nothing, the registry included.
    let d = call(
        &e,
        "dry_run",
        json!({"gate": "pay", "passport": child.token}),
    )
    .unwrap();
    assert_eq!(d["decision"], "allow");
    assert_eq!(
        code(call(
            &e,
            "get_passport",
            json!({"passport_id": child.passport_id})
        )),
        "PASSPORT_UNKNOWN"
    );
    assert!(allowed(&e, &child.token));
    let c = call(
        &e,
        "get_passport",
        json!({"passport_id": child.passport_id}),
    )
    .unwrap();
    assert_eq!(c["source"], "seen");
    assert_eq!(c["agent"], "helper");
    assert_eq!(c["parent"], root.passport_id);
    assert_eq!(c["ancestors"], json!([root.passport_id]));
    assert_eq!(c["token_hash"], sha256_hex(&child.token));
    let r = call(&e, "get_passport", json!({"passport_id": root.passport_id})).unwrap();
    assert_eq!(r["source"], "seen");
    assert_eq!(r["perms"], json!(["pay", "read"]));
    assert_eq!(r["token_hash"], sha256_hex(&root.token));
    // verify_passport registers too.
    let other = issue_elsewhere(&issuer, "bob", &["read"], T0 / 1000);
    call(&e, "verify_passport", json!({"passport": other.token})).unwrap();
    assert_eq!(
        call(
            &e,
            "get_passport",
            json!({"passport_id": other.passport_id})
        )
        .unwrap()["agent"],
        "bob"
    );
}

#[test]
fn status_is_live_active_expired_revoked_and_revoked_through_an_ancestor() {
    let clock = ManualClock::new(T0);
    let issuer = Issuer::generate().unwrap();
    let e = engine(&[issuer.did()], &clock);
    let root = issue(&e, &issuer, "alice", &["pay"]);
    let child = call(
        &e,
        "issue_passport",
        json!({"issuer_secret": root["private_key"], "passport": root["token"], "agent_id": "helper", "permissions": ["pay"], "expires_in_days": 1}),
    )
    .unwrap();
    let status = |id: &Value| {
        call(&e, "get_passport", json!({"passport_id": id})).unwrap()["status"].clone()
    };
    let c = call(
        &e,
        "get_passport",
        json!({"passport_id": child["passport_id"]}),
    )
    .unwrap();
    assert_eq!(c["source"], "issued");
    assert_eq!(c["parent"], root["passport_id"]);
    assert_eq!(status(&child["passport_id"]), "active");
    call(
        &e,
        "revoke_passport",
        json!({"passport_id": root["passport_id"]}),
    )
    .unwrap();
    assert_eq!(status(&root["passport_id"]), "revoked");
    assert_eq!(status(&child["passport_id"]), "revoked_ancestor");
    let other = issue(&e, &issuer, "carol", &["pay"]);
    clock.advance_ms(31 * DAY);
    assert_eq!(status(&other["passport_id"]), "expired");
}

#[test]
fn listing_filters_by_agent_parent_status_and_permission_and_pages_by_cursor() {
    let clock = ManualClock::new(T0);
    let issuer = Issuer::generate().unwrap();
    let e = engine(&[issuer.did()], &clock);
    let alice = issue(&e, &issuer, "alice", &["pay:*"]);
    let mut ids = vec![alice["passport_id"].clone()];
    for i in 0..4 {
        let c = call(
            &e,
            "issue_passport",
            json!({"issuer_secret": alice["private_key"], "passport": alice["token"], "agent_id": format!("h{i}"), "permissions": ["pay:send"], "expires_in_days": 1}),
        )
        .unwrap();
        ids.push(c["passport_id"].clone());
    }
    let bob = issue(&e, &issuer, "bob", &["read"]);
    ids.push(bob["passport_id"].clone());
    call(
        &e,
        "revoke_passport",
        json!({"passport_id": bob["passport_id"]}),
    )
    .unwrap();
    let list = |args: Value| -> Vec<Value> {
        let mut out = Vec::new();
        let mut args = args;
        loop {
            let page = call(&e, "list_passports", args.clone()).unwrap();
            out.extend(
                page["passports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["passport_id"].clone()),
            );
            match &page["next_cursor"] {
                Value::Null => return out,
                c => args["cursor"] = c.clone(),
            }
        }
    };
    let mut all = list(json!({"limit": 2}));
    assert_eq!(all.len(), 6, "every passport once, by pages of two");
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(all, sorted, "by id");
    all.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    ids.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    assert_eq!(all, ids);
    assert_eq!(
        list(json!({"agent": "bob"})),
        vec![bob["passport_id"].clone()]
    );
    assert_eq!(
        list(json!({"parent": alice["passport_id"], "limit": 3})).len(),
        4
    );
    assert_eq!(
        list(json!({"status": "revoked"})),
        vec![bob["passport_id"].clone()]
    );
    assert_eq!(list(json!({"status": "active", "limit": 1})).len(), 5);
    // Permission: those whose permissions cover it.
    assert_eq!(list(json!({"permission": "pay:send"})).len(), 5);
    assert_eq!(
        list(json!({"permission": "pay:*"})),
        vec![alice["passport_id"].clone()]
    );
    assert_eq!(
        list(json!({"permission": "read"})),
        vec![bob["passport_id"].clone()]
    );
    assert!(list(json!({"agent": "nobody"})).is_empty());
}

/// The agent names its child after another agent's passport: the child is registered under
/// the id derived from its own chain, and the other passport's record is untouched.
#[test]
fn a_sub_passport_with_a_chosen_jti_cannot_rewrite_another_passports_record() {
    let clock = ManualClock::new(T0);
    let issuer = Issuer::generate().unwrap();
    let e = engine(&[issuer.did()], &clock);
    let victim = issue(&e, &issuer, "victim", &["pay"]);
    let before = call(
        &e,
        "get_passport",
        json!({"passport_id": victim["passport_id"]}),
    )
    .unwrap();
    let mallory = issue(&e, &issuer, "mallory", &["pay"]);
    let forged = mint_child(
        mallory["token"].as_str().unwrap(),
        mallory["private_key"].as_str().unwrap(),
        victim["passport_id"].as_str().unwrap(),
        &["pay"],
        T0 / 1000,
    );
    assert!(allowed(&e, &forged));
    let after = call(
        &e,
        "get_passport",
        json!({"passport_id": victim["passport_id"]}),
    )
    .unwrap();
    assert_eq!(before, after, "the victim's record is unchanged");
    let derived = passgate::passport::passport_id_of(&forged).unwrap();
    assert!(derived.starts_with("psd_"));
    let rec = call(&e, "get_passport", json!({"passport_id": derived})).unwrap();
    assert_eq!(rec["parent"], mallory["passport_id"]);
    assert_eq!(rec["token_hash"], sha256_hex(&forged));
    assert!(records_of(&e, "passport.conflict").is_empty());
}

/// Two different children with one `jti` share the derived id: the first record stays, the
/// second token is attested as a conflict (once), and the agent gains nothing.
#[test]
fn a_second_token_under_a_registered_id_is_recorded_as_a_conflict_not_trusted() {
    let clock = ManualClock::new(T0);
    let issuer = Issuer::generate().unwrap();
    let e = engine(&[issuer.did()], &clock);
    let agent = issue(&e, &issuer, "agent", &["pay", "read"]);
    let (t, k) = (
        agent["token"].as_str().unwrap(),
        agent["private_key"].as_str().unwrap(),
    );
    let jti = "psp_bbbbbbbbbbbbbbbbbbbbbbbbbb";
    let first = mint_child(t, k, jti, &["read"], T0 / 1000);
    let second = mint_child(t, k, jti, &["pay"], T0 / 1000);
    let id = passgate::passport::passport_id_of(&first).unwrap();
    assert_eq!(id, passgate::passport::passport_id_of(&second).unwrap());
    assert_eq!(decide(&e, &first, "read")["decision"], "allow");
    assert!(allowed(&e, &second));
    assert!(allowed(&e, &second));
    let rec = call(&e, "get_passport", json!({"passport_id": id})).unwrap();
    assert_eq!(rec["token_hash"], sha256_hex(&first), "first writer wins");
    assert_eq!(rec["perms"], json!(["read"]));
    let conflicts = records_of(&e, "passport.conflict");
    assert_eq!(conflicts.len(), 1, "attested once per token");
    let data = &conflicts[0]["body"]["data"];
    assert_eq!(data["passport_id"], id);
    assert_eq!(data["registered_token_hash"], sha256_hex(&first));
    assert_eq!(data["presented_token_hash"], sha256_hex(&second));
}

#[test]
fn the_agent_gets_none_of_these_tools_and_cannot_forge_their_records() {
    let agent: Vec<String> = mcp::tools(Role::Agent)
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!agent.is_empty());
    for op in [
        "get_passport",
        "list_passports",
        "list_issuers",
        "trust_issuer",
        "untrust_issuer",
        "export_trust",
        "import_trust",
    ] {
        assert!(!agent.iter().any(|n| n == op), "{op} is an agent tool");
        let operator = mcp::tools(Role::Operator);
        assert!(
            operator.as_array().unwrap().iter().any(|t| t["name"] == op),
            "{op} is not an operator tool"
        );
    }
    // A host record cannot pass for one of the registry's.
    let clock = ManualClock::new(T0);
    let e = engine(&[], &clock);
    for kind in [
        "issuance",
        "passport.conflict",
        "issuer.trusted",
        "issuer.untrusted",
        "trust.imported",
        // Nor for a policy change or a purge.
        "policy.changed",
        "bundle.purged",
    ] {
        let r = call(&e, "record_attestation", json!({"kind": kind, "data": {}}));
        assert_eq!(code(r), "INVALID_ARGUMENT", "{kind}");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 3: issuers

#[test]
fn issuers_trusted_and_untrusted_through_the_store() {
    let clock = ManualClock::new(T0);
    let builder = Issuer::generate().unwrap();
    let other = Issuer::generate().unwrap();
    let e = engine(&[builder.did()], &clock);
    let listed = call(&e, "list_issuers", json!({})).unwrap()["issuers"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["did"], builder.did());
    assert_eq!(listed[0]["source"], "builder");
    assert_eq!(listed[0]["public_jwk"], builder.public_jwk());

    let p = issue_elsewhere(&other, "a", &["pay"], T0 / 1000);
    assert_eq!(refusal(&e, &p.token), "ISSUER_UNTRUSTED");
    let t = call(&e, "trust_issuer", json!({"did": other.did()})).unwrap();
    assert_eq!(t["source"], "store");
    assert_eq!(t["trusted_at"], T0);
    assert!(allowed(&e, &p.token));
    let trusted = records_of(&e, "issuer.trusted");
    assert_eq!(trusted[0]["body"]["data"]["did"], other.did());

    call(&e, "untrust_issuer", json!({"did": other.did()})).unwrap();
    assert_eq!(refusal(&e, &p.token), "ISSUER_UNTRUSTED");

    // Untrusting the builder's issuer: a deny entry that wins; trusting again lifts it.
    let b = issue_elsewhere(&builder, "b", &["pay"], T0 / 1000);
    assert!(allowed(&e, &b.token));
    let u = call(&e, "untrust_issuer", json!({"did": builder.did()})).unwrap();
    assert_eq!(u["was"], "builder");
    assert_eq!(refusal(&e, &b.token), "ISSUER_UNTRUSTED");
    assert!(call(&e, "list_issuers", json!({})).unwrap()["issuers"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(records_of(&e, "issuer.untrusted").len(), 2);
    call(&e, "trust_issuer", json!({"did": builder.did()})).unwrap();
    assert!(allowed(&e, &b.token));

    // A bad did is an argument error at /did.
    for bad in ["did:key:nope", "not a did", "did:web:example.com"] {
        let err = call(&e, "trust_issuer", json!({"did": bad})).unwrap_err();
        assert_eq!(
            (err.code(), err.path()),
            ("INVALID_ARGUMENT", Some("/did")),
            "{bad}"
        );
        let err = call(&e, "untrust_issuer", json!({"did": bad})).unwrap_err();
        assert_eq!(
            (err.code(), err.path()),
            ("INVALID_ARGUMENT", Some("/did")),
            "{bad}"
        );
    }
    let err = call(
        &e,
        "trust_issuer",
        json!({"did": other.did(), "not_before": 10, "not_after": 10}),
    )
    .unwrap_err();
    assert_eq!(err.code(), "INVALID_ARGUMENT");
}

/// Key rotation: the old key trusted until T, the new one from T − overlap. A passport of the
/// old key issued before T is still accepted after T; one issued after T is refused; within
/// the overlap both keys' passports are accepted. A delegate cannot move its root's `iat`.
#[test]
fn rotation_with_overlapping_windows_is_checked_on_the_root_iat() {
    let clock = ManualClock::new(T0);
    let old = Issuer::generate().unwrap();
    let new = Issuer::generate().unwrap();
    let e = engine(&[], &clock);
    let t = T0 + 10 * DAY;
    let overlap = 2 * DAY;
    call(
        &e,
        "trust_issuer",
        json!({"did": old.did(), "not_after": t}),
    )
    .unwrap();
    call(
        &e,
        "trust_issuer",
        json!({"did": new.did(), "not_before": t - overlap}),
    )
    .unwrap();
    let listed = call(&e, "list_issuers", json!({})).unwrap()["issuers"].clone();
    let old_entry = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["did"] == old.did())
        .unwrap();
    assert_eq!(old_entry["not_after"], t);

    // Before the overlap: only the old key.
    let old_early = issue_elsewhere(&old, "a", &["pay"], (T0 + DAY) / 1000);
    let new_early = issue_elsewhere(&new, "a", &["pay"], (T0 + DAY) / 1000);
    clock.set_ms(T0 + DAY);
    assert!(allowed(&e, &old_early.token));
    assert_eq!(refusal(&e, &new_early.token), "ISSUER_UNTRUSTED");
    // Within the overlap: both.
    let s = (t - DAY) / 1000;
    let old_mid = issue_elsewhere(&old, "a", &["pay"], s);
    let new_mid = issue_elsewhere(&new, "a", &["pay"], s);
    clock.set_ms(t - DAY);
    assert!(allowed(&e, &old_mid.token));
    assert!(allowed(&e, &new_mid.token));
    // After T: the old key's passport issued inside its window is still accepted, one issued
    // after it is refused, the new key's are accepted.
    let late = (t + DAY) / 1000;
    let old_late = issue_elsewhere(&old, "a", &["pay"], late);
    let new_late = issue_elsewhere(&new, "a", &["pay"], late);
    clock.set_ms(t + DAY);
    assert!(allowed(&e, &old_early.token));
    assert!(allowed(&e, &old_mid.token));
    assert_eq!(refusal(&e, &old_late.token), "ISSUER_UNTRUSTED");
    assert!(allowed(&e, &new_late.token));
    // Exactly at the edge: iat == not_after is inside.
    let edge = issue_elsewhere(&old, "a", &["pay"], t / 1000);
    assert!(allowed(&e, &edge.token));
    // The agent of a refused root delegates with an iat inside the window: still refused.
    let child = mint_child(
        &old_late.token,
        &old_late.private_key,
        "psp_cccccccccccccccccccccccccc",
        &["pay"],
        (t - DAY) / 1000,
    );
    assert_eq!(refusal(&e, &child), "ISSUER_UNTRUSTED");
    assert_eq!(
        code(call(
            &e,
            "verify_passport",
            json!({"passport": old_late.token})
        )),
        "ISSUER_UNTRUSTED"
    );
}

#[test]
fn two_engines_on_one_sqlite_file_share_issuers_and_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let clock = ManualClock::new(T0);
    let a = engine_on(&url, &[], &clock);
    let b = engine_on(&url, &[], &clock);
    let issuer = Issuer::generate().unwrap();
    let p = issue_elsewhere(&issuer, "agent", &["pay"], T0 / 1000);
    assert_eq!(refusal(&b, &p.token), "ISSUER_UNTRUSTED");
    call(&a, "trust_issuer", json!({"did": issuer.did()})).unwrap();
    assert!(
        allowed(&b, &p.token),
        "a trust on one engine is honoured by the other"
    );
    let listed = call(&b, "list_issuers", json!({})).unwrap()["issuers"].clone();
    assert_eq!(listed[0]["source"], "store");
    // B registered it on first verification; A reads it.
    let rec = call(&a, "get_passport", json!({"passport_id": p.passport_id})).unwrap();
    assert_eq!(rec["source"], "seen");
    // A window set on A applies on B.
    call(
        &a,
        "trust_issuer",
        json!({"did": issuer.did(), "not_after": T0 - 1}),
    )
    .unwrap();
    assert_eq!(refusal(&b, &p.token), "ISSUER_UNTRUSTED");
    call(&a, "trust_issuer", json!({"did": issuer.did()})).unwrap();
    assert!(allowed(&b, &p.token));
    call(&a, "untrust_issuer", json!({"did": issuer.did()})).unwrap();
    assert_eq!(refusal(&b, &p.token), "ISSUER_UNTRUSTED");
    // Issued on B, revoked on A: B sees the status.
    call(&a, "trust_issuer", json!({"did": issuer.did()})).unwrap();
    let q = issue(&b, &issuer, "q", &["pay"]);
    call(
        &a,
        "revoke_passport",
        json!({"passport_id": q["passport_id"]}),
    )
    .unwrap();
    assert_eq!(
        call(&b, "get_passport", json!({"passport_id": q["passport_id"]})).unwrap()["status"],
        "revoked"
    );
}

#[test]
fn a_trust_export_imports_into_another_engine_and_a_tampered_one_imports_nothing() {
    let clock = ManualClock::new(T0);
    let issuer = Issuer::generate().unwrap();
    let a = engine(&[], &clock);
    call(
        &a,
        "trust_issuer",
        json!({"did": issuer.did(), "not_after": T0 + DAY}),
    )
    .unwrap();
    let bad = issue_elsewhere(&issuer, "bad", &["pay"], T0 / 1000);
    call(
        &a,
        "revoke_passport",
        json!({"passport_id": bad.passport_id}),
    )
    .unwrap();
    let doc = call(&a, "export_trust", json!({})).unwrap();
    assert_eq!(doc["kid"], a.signer_did());
    assert_eq!(doc["body"]["signer"], a.signer_did());
    assert_eq!(doc["body"]["exported_at"], T0);
    assert_eq!(doc["body"]["revoked"], json!([bad.passport_id]));
    assert_eq!(doc["body"]["issuers"][0]["not_after"], T0 + DAY);
    // A trust document is not an attestation, nor the reverse (its own signature domain).
    assert!(passgate::verify_attestation(&doc, a.signer_did()).is_err());

    let b = engine(&[], &clock);
    let good = issue_elsewhere(&issuer, "good", &["pay"], T0 / 1000);
    assert_eq!(refusal(&b, &good.token), "ISSUER_UNTRUSTED");

    // Tampered: a window widened, an issuer added, a revocation dropped: nothing imported.
    let mallory = Issuer::generate().unwrap();
    let mut tampered = doc.clone();
    tampered["body"]["issuers"][0]["not_after"] = json!(T0 + 1000 * DAY);
    tampered["body"]["issuers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"did": mallory.did()}));
    let r = call(
        &b,
        "import_trust",
        json!({"document": tampered, "signer": a.signer_did()}),
    );
    assert_eq!(code(r), "ATTESTATION_HASH");
    // Re-signed by another key claiming to be A: the expected signer decides.
    let forger = Engine::builder().build().unwrap();
    let forged = call(&forger, "export_trust", json!({})).unwrap();
    let r = call(
        &b,
        "import_trust",
        json!({"document": forged, "signer": a.signer_did()}),
    );
    assert_eq!(code(r), "ATTESTATION_KEY");
    let err = call(
        &b,
        "import_trust",
        json!({"document": doc, "signer": "did:key:nope"}),
    )
    .unwrap_err();
    assert_eq!(
        (err.code(), err.path()),
        ("INVALID_ARGUMENT", Some("/signer"))
    );
    assert!(call(&b, "list_issuers", json!({})).unwrap()["issuers"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(records_of(&b, "trust.imported").is_empty());
    assert_eq!(refusal(&b, &good.token), "ISSUER_UNTRUSTED");

    // The real one: merged, attested.
    let out = call(
        &b,
        "import_trust",
        json!({"document": doc, "signer": a.signer_did()}),
    )
    .unwrap();
    assert_eq!(out["issuers"], json!([issuer.did()]));
    assert_eq!(out["revoked"], 1);
    assert!(allowed(&b, &good.token));
    assert_eq!(refusal(&b, &bad.token), "PASSPORT_REVOKED");
    let listed = call(&b, "list_issuers", json!({})).unwrap()["issuers"].clone();
    assert_eq!(listed[0]["not_after"], T0 + DAY, "the window came with it");
    assert_eq!(records_of(&b, "trust.imported").len(), 1);

    // An issuer this store untrusted stays untrusted.
    let c = engine(&[], &clock);
    call(&c, "untrust_issuer", json!({"did": issuer.did()})).unwrap();
    let out = call(
        &c,
        "import_trust",
        json!({"document": doc, "signer": a.signer_did()}),
    )
    .unwrap();
    assert_eq!(out["skipped"], json!([issuer.did()]));
    assert_eq!(refusal(&c, &good.token), "ISSUER_UNTRUSTED");
}
