//! Attacks on identity and trust: forged approvals, minted sub-passports, escaped limits, hostile
//! caveats, monitor mode, reissue, truncated logs. The attacker holds its passport *and* its
//! private key, so it can sign any sub-passport it likes (`mint` below writes the JWS by hand,
//! with any `sub`, `jti` and caveats) and any approval token (with its own key).

use std::sync::Arc;

use passgate::__private::keys::{b64u_decode, b64u_encode, KeyPair};
use passgate::approval;
use passgate::clock::ManualClock;
use passgate::{
    AttestationFilter, CounterFilter, Decision, Engine, IssuedPassport, Issuer, PassportRequest,
    Request, Verdict,
};
use serde_json::{json, Value};

use crate::support::T0;

const NOW_S: i64 = T0 / 1000;

/// Signs a sub-passport of `parent` by hand, as an attacker holding `parent`'s agent key can:
/// `claims` are merged over well-formed defaults (fresh agent key, times within the parent's).
/// Returns the token and the new agent's key.
fn mint(parent: &IssuedPassport, claims: Value) -> (String, KeyPair) {
    let signer = KeyPair::from_secret(&parent.private_key).unwrap();
    let agent = KeyPair::generate().unwrap();
    let mut c = json!({
        "iss": signer.did(), "sub": "child", "jti": "psp_aaaaaaaaaaaaaaaaaaaaaaaaaa",
        "iat": NOW_S, "nbf": NOW_S, "exp": NOW_S + 3600, "perms": ["pay"],
        "cnf": {"jwk": agent.public_jwk()}, "prf": parent.token,
    });
    for (k, v) in claims.as_object().unwrap() {
        c[k] = v.clone();
    }
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": signer.did()});
    let input = format!(
        "{}.{}",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(c.to_string().as_bytes())
    );
    let sig = signer.sign(input.as_bytes());
    (format!("{input}.{}", b64u_encode(&sig)), agent)
}

/// A well-formed passport id, distinct per `i` (below 26).
fn jti(i: u8) -> String {
    format!("psp_{}", char::from(b'a' + i).to_string().repeat(26))
}

/// The minted token as an `IssuedPassport` its holder can delegate from.
fn held(token: String, key: &KeyPair) -> IssuedPassport {
    IssuedPassport::from_token(&token, &key.secret()).unwrap()
}

struct World {
    engine: Engine,
    clock: ManualClock,
    issuer: Issuer,
}

fn world(gates: Value) -> World {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = crate::support::engine(json!({"version": 1, "gates": gates}), &issuer, &clock);
    World {
        engine,
        clock,
        issuer,
    }
}

impl World {
    fn passport(&self, agent: &str, caveats: Vec<Value>) -> IssuedPassport {
        let mut req = PassportRequest::new(agent, ["pay"]).with_expires_in_secs(86_400);
        req.caveats = caveats;
        self.issuer.issue_passport_at(&req, NOW_S).unwrap()
    }
}

fn pay(token: &str, amount: i64) -> Request {
    Request::new("pay", json!({"amount": amount})).passport(token)
}

fn failed_code(d: &Decision) -> Vec<String> {
    d.checks
        .iter()
        .filter(|c| !c.passed)
        .filter_map(|c| c.code.as_deref().map(str::to_string))
        .collect()
}

fn approval_gate() -> Value {
    json!({"pay": {"require": ["pay"], "constraints": [
        {"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 100}}]}})
}

/// Re-signs `token`'s claims with `claims_edit` applied, with the attacker's own key as `kid`.
fn forge_approval(token: &str, attacker: &KeyPair, edit: impl Fn(&mut approval::Claims)) -> String {
    let body = token.split('.').nth(1).unwrap();
    let text = String::from_utf8(b64u_decode(body).unwrap()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut claims = approval::Claims {
        jti: v["jti"].as_str().unwrap().into(),
        evaluation_id: v["evaluation_id"].as_str().unwrap().into(),
        fingerprint: v["fingerprint"].as_str().unwrap().into(),
        gate: v["gate"].as_str().unwrap().into(),
        passport_id: v["passport_id"].as_str().map(Into::into),
        approver: v["approver"].as_str().unwrap().into(),
        iat_ms: v["iat"].as_i64().unwrap(),
        exp_ms: v["exp"].as_i64().unwrap(),
        kid: attacker.did().into(),
    };
    edit(&mut claims);
    approval::sign(&claims, attacker).unwrap()
}

// ---- F1: approvals ----

#[test]
fn agent_forges_an_approval_for_another_payload_with_its_own_key() {
    let w = world(approval_gate());
    let alice = w.passport("alice", vec![]);
    let d = w.engine.enforce(&pay(&alice.token, 200)).unwrap();
    assert_eq!(d.decision, Verdict::Escalate);
    let token = w.engine.approve(&d.evaluation_id, "cfo", None).unwrap();
    // The agent decodes its real approval, points it at a payment of 1,000,000 and signs it
    // with a key of its own.
    let big = w.engine.dry_run(&pay(&alice.token, 1_000_000)).unwrap();
    let fp = big.approval_request.as_ref().unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    let attacker = KeyPair::from_secret(&alice.private_key).unwrap();
    let forged = forge_approval(&token, &attacker, |c| c.fingerprint = fp.clone());
    let d = w
        .engine
        .enforce(&pay(&alice.token, 1_000_000).approval(&forged))
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(failed_code(&d), ["APPROVAL_INVALID"]);
    // Even signed by the engine's own key, a token whose claims differ from the stored record
    // admits nothing: what admits is the record.
    let d = w
        .engine
        .enforce(&pay(&alice.token, 1_000_000).approval(&token))
        .unwrap();
    assert!(!d.allowed);
    // The real token admits the exact request, once.
    let d = w
        .engine
        .enforce(&pay(&alice.token, 200).approval(&token))
        .unwrap();
    assert_eq!(d.decision, Verdict::Allow);
    let d = w
        .engine
        .enforce(&pay(&alice.token, 200).approval(&token))
        .unwrap();
    assert_eq!(failed_code(&d), ["APPROVAL_USED"]);
}

#[test]
fn agent_lifts_a_pending_approval_from_the_log_and_spends_it_as_itself() {
    let w = world(approval_gate());
    let alice = w.passport("alice", vec![]);
    let mallory = w.passport("mallory", vec![]);
    let d = w.engine.enforce(&pay(&alice.token, 200)).unwrap();
    let token = w.engine.approve(&d.evaluation_id, "cfo", None).unwrap();
    let jti = approval::decode(&token).unwrap().claims.jti;
    // The log, which agents can read, names the token only by its hash.
    let log = w
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    assert!(!serde_json::to_string(&log).unwrap().contains(&jti));
    // Had it leaked anyway: Mallory builds a token naming Alice's approval, bound to her own
    // request, signed with her own key.
    let mine = w.engine.dry_run(&pay(&mallory.token, 200)).unwrap();
    let mallory_key = KeyPair::from_secret(&mallory.private_key).unwrap();
    let forged = forge_approval(&token, &mallory_key, |c| {
        c.fingerprint = mine.approval_request.as_ref().unwrap()["fingerprint"]
            .as_str()
            .unwrap()
            .into();
        c.passport_id = Some(mallory.passport_id.clone());
    });
    let d = w
        .engine
        .enforce(&pay(&mallory.token, 200).approval(&forged))
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(failed_code(&d), ["APPROVAL_INVALID"]);
    // Alice's real token presented by Mallory: for another passport.
    let d = w
        .engine
        .enforce(&pay(&mallory.token, 200).approval(&token))
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(failed_code(&d), ["APPROVAL_PASSPORT_MISMATCH"]);
    // And it still works for Alice.
    let d = w
        .engine
        .enforce(&pay(&alice.token, 200).approval(&token))
        .unwrap();
    assert_eq!(d.decision, Verdict::Allow);
}

#[test]
fn agent_presents_an_oversized_approval_token() {
    let w = world(approval_gate());
    let alice = w.passport("alice", vec![]);
    let huge = format!("pga1.{}.x", "A".repeat(approval::MAX_TOKEN_BYTES));
    let d = w
        .engine
        .enforce(&pay(&alice.token, 200).approval(&huge))
        .unwrap();
    assert_eq!(failed_code(&d), ["APPROVAL_INVALID"]);
    assert!(d.checks.iter().any(|c| c.message.contains("longer than")));
}

#[test]
fn approvals_from_an_engine_sharing_the_store_are_honoured() {
    // Two engines on one store: the second approves, the first admits — the key that approved
    // is recorded with the approval, so it is trusted for exactly that approval.
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let store = passgate::store::open("memory:").unwrap();
    let build = || {
        Engine::builder()
            .policy_value(json!({"version": 1, "gates": approval_gate()}))
            .trusted_issuer(issuer.did())
            .clock(Arc::new(clock.clone()))
            .store(store.clone())
            .build()
            .unwrap()
    };
    let (a, b) = (build(), build());
    let alice = issuer
        .issue_passport_at(&PassportRequest::new("alice", ["pay"]), NOW_S)
        .unwrap();
    let d = a.enforce(&pay(&alice.token, 200)).unwrap();
    let token = b.approve(&d.evaluation_id, "cfo", None).unwrap();
    let d = a.enforce(&pay(&alice.token, 200).approval(&token)).unwrap();
    assert_eq!(d.decision, Verdict::Allow);
}

// ---- F2: a delegating agent chooses its child's jti ----

#[test]
fn junior_mints_a_child_named_after_a_senior_passport_to_shed_its_caveats() {
    let w = world(json!({"pay": {"require": ["pay"]}}));
    let senior = w.passport(
        "senior",
        vec![json!({"id": "large", "type": "max_value", "field": "/amount", "max": 1000})],
    );
    let junior = w.passport(
        "junior",
        vec![json!({"id": "small", "type": "max_value", "field": "/amount", "max": 10})],
    );
    // The senior's passport (and its loose caveat) is seen first.
    assert!(w.engine.enforce(&pay(&senior.token, 500)).unwrap().allowed);
    let (child, _) = mint(&junior, json!({"jti": senior.passport_id, "sub": "senior"}));
    let d = w.engine.enforce(&pay(&child, 500)).unwrap();
    assert!(!d.allowed, "the junior's caveat applies to its delegates");
    assert!(d
        .checks
        .iter()
        .any(|c| c.constraint == "small" && !c.passed));
    assert_ne!(d.passport_id.as_deref(), Some(senior.passport_id.as_str()));
}

#[test]
fn junior_replays_into_a_senior_idempotency_namespace() {
    let w = world(json!({"pay": {"require": ["pay"], "constraints": [
        {"id": "q", "type": "quota", "max": 1, "scope": "passport"}]}}));
    let senior = w.passport("senior", vec![]);
    let junior = w.passport("junior", vec![]);
    let first = w
        .engine
        .enforce(&pay(&senior.token, 5).idempotency_key("order-1"))
        .unwrap();
    assert!(first.allowed);
    let (child, _) = mint(&junior, json!({"jti": senior.passport_id}));
    let d = w
        .engine
        .enforce(&pay(&child, 5).idempotency_key("order-1"))
        .unwrap();
    assert!(!d.replayed, "another passport's namespace");
    assert_ne!(d.evaluation_id, first.evaluation_id);
}

#[test]
fn junior_spends_a_senior_passport_scoped_quota() {
    let w = world(json!({"pay": {"require": ["pay"], "constraints": [
        {"id": "q", "type": "quota", "max": 2, "scope": "passport"}]}}));
    let senior = w.passport("senior", vec![]);
    let junior = w.passport("junior", vec![]);
    let (child, _) = mint(&junior, json!({"jti": senior.passport_id}));
    assert!(w.engine.enforce(&pay(&child, 1)).unwrap().allowed);
    assert!(w.engine.enforce(&pay(&child, 1)).unwrap().allowed);
    assert!(!w.engine.enforce(&pay(&child, 1)).unwrap().allowed);
    // The senior's quota is its own.
    assert!(w.engine.enforce(&pay(&senior.token, 1)).unwrap().allowed);
    assert!(w.engine.enforce(&pay(&senior.token, 1)).unwrap().allowed);
}

#[test]
fn junior_gets_a_senior_revoked_by_revoking_its_namesake_child() {
    let w = world(json!({"pay": {"require": ["pay"]}}));
    let senior = w.passport("senior", vec![]);
    let junior = w.passport("junior", vec![]);
    let (child, _) = mint(&junior, json!({"jti": senior.passport_id}));
    let d = w.engine.enforce(&pay(&child, 1)).unwrap();
    let child_id = d.passport_id.clone().unwrap();
    assert!(child_id.starts_with("psd_"), "{child_id}");
    // The operator revokes the misbehaving child by the id its decisions carry.
    w.engine.revoke_passport(&child_id).unwrap();
    assert!(!w.engine.enforce(&pay(&child, 1)).unwrap().allowed);
    assert!(w.engine.enforce(&pay(&senior.token, 1)).unwrap().allowed);
    // Revoking the senior revokes no namesake delegate of another agent... and the junior's
    // own delegates go with the junior.
    w.engine.revoke_passport(&senior.passport_id).unwrap();
    let (other_child, _) = mint(&junior, json!({"jti": jti(1)}));
    assert!(w.engine.enforce(&pay(&other_child, 1)).unwrap().allowed);
    w.engine.revoke_passport(&junior.passport_id).unwrap();
    assert!(!w.engine.enforce(&pay(&other_child, 1)).unwrap().allowed);
}

#[test]
fn delegated_passport_ids_are_derived_from_the_chain() {
    let w = world(json!({"pay": {"require": ["pay"]}}));
    let root = w.passport("alice", vec![]);
    let child = root
        .issue_sub_passport_at(
            &PassportRequest::new("helper", ["pay"]).with_expires_in_secs(60),
            NOW_S,
        )
        .unwrap();
    let d = w.engine.enforce(&pay(&child.token, 1)).unwrap();
    assert!(d.allowed);
    assert_eq!(d.passport_id.as_deref(), Some(child.passport_id.as_str()));
    assert!(child.passport_id.starts_with("psd_"));
    assert_eq!(
        passgate::passport::passport_id_of(&child.token).unwrap(),
        child.passport_id
    );
    // The id is the issuer-chosen jti for a root passport.
    assert_eq!(
        passgate::passport::passport_id_of(&root.token).unwrap(),
        root.passport_id
    );
}

// ---- F3: per-agent limits and self-delegation ----

fn capped() -> Value {
    json!({"pay": {"require": ["pay"], "constraints": [
        {"id": "daily", "type": "rate_limit", "max": 3, "window": "1d"},
        {"id": "spend", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}]}})
}

#[test]
fn agent_mints_children_to_escape_its_daily_cap() {
    let w = world(capped());
    let alice = w.passport("alice", vec![]);
    let mut admitted = 0;
    for i in 0..6 {
        let (child, _) = mint(&alice, json!({"sub": format!("alice-{i}"), "jti": jti(i)}));
        admitted += usize::from(w.engine.enforce(&pay(&child, 1)).unwrap().allowed);
    }
    admitted += usize::from(w.engine.enforce(&pay(&alice.token, 1)).unwrap().allowed);
    assert_eq!(
        admitted, 3,
        "everything alice's delegates do counts against alice"
    );
}

#[test]
fn child_named_bob_spends_bobs_budget_and_is_attested_as_bob() {
    let w = world(capped());
    let alice = w.passport("alice", vec![]);
    let bob = w.passport("bob", vec![]);
    let (child, _) = mint(&alice, json!({"sub": "bob"}));
    let d = w.engine.enforce(&pay(&child, 100)).unwrap();
    assert!(d.allowed);
    // Bob's budget is untouched ...
    let d = w.engine.enforce(&pay(&bob.token, 100)).unwrap();
    assert!(d.allowed, "bob still has his whole budget");
    // ... and alice's is spent.
    assert!(!w.engine.enforce(&pay(&alice.token, 1)).unwrap().allowed);
    // The record names the principal and the chain, so an audit tells the delegate from Bob.
    let rec = &w
        .engine
        .attestations(&AttestationFilter {
            kind: Some("decision".into()),
            limit: Some(1),
            ..Default::default()
        })
        .unwrap()[0]["body"];
    assert_eq!(rec["agent_id"], "bob", "the leaf's own claim, as written");
    assert_eq!(rec["principal"]["agent_id"], "alice");
    assert_eq!(rec["principal"]["issuer"], w.issuer.did());
    let chain = rec["delegation"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[0], alice.passport_id.as_str());
    // Filed under the principal: the log of "bob" does not show alice's delegate.
    let bobs = w
        .engine
        .attestations(&AttestationFilter {
            agent_id: Some("bob".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(bobs.len(), 1);
    // Bob's counters, found by agent id.
    let f = w
        .engine
        .agent_filters(CounterFilter::default(), Some("bob"));
    let used: Vec<_> = f
        .iter()
        .flat_map(|f| w.engine.cumulative_state(f).unwrap())
        .collect();
    assert_eq!(used.len(), 2);
    assert!(used
        .iter()
        .all(|c| c.key.scope == format!("agent:bob@{}", w.issuer.did())));
}

#[test]
fn agents_of_two_trusted_issuers_with_one_id_count_apart() {
    let one = Issuer::generate().unwrap();
    let two = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = Engine::builder()
        .policy_value(json!({"version": 1, "gates": capped()}))
        .trusted_issuers([one.did(), two.did()])
        .clock(Arc::new(clock))
        .build()
        .unwrap();
    let issue = |i: &Issuer| {
        i.issue_passport_at(&PassportRequest::new("agent-1", ["pay"]), NOW_S)
            .unwrap()
            .token
    };
    let (a, b) = (issue(&one), issue(&two));
    assert!(engine.enforce(&pay(&a, 100)).unwrap().allowed);
    assert!(engine.enforce(&pay(&b, 100)).unwrap().allowed);
    assert!(!engine.enforce(&pay(&a, 1)).unwrap().allowed);
}

// ---- F8: hostile caveats ----

fn caveat_world() -> World {
    world(json!({"pay": {"require": ["pay"]}, "admin": {"require": ["admin"]}}))
}

#[test]
fn agent_mints_a_child_with_too_many_caveats() {
    let w = caveat_world();
    let alice = w.passport("alice", vec![]);
    let many: Vec<Value> = (0..=passgate::passport::MAX_CAVEATS_PER_PASSPORT)
        .map(|i| json!({"id": format!("c{i}"), "type": "max_value", "field": "/amount", "max": 1000}))
        .collect();
    let (child, _) = mint(&alice, json!({"caveats": many}));
    let d = w.engine.enforce(&pay(&child, 1)).unwrap();
    assert!(!d.allowed);
    assert_eq!(failed_code(&d), ["PASSPORT_MALFORMED"]);
    // Spread over a chain: each link within bounds, the chain beyond them.
    let per: Vec<Value> = (0..30)
        .map(|i| json!({"id": format!("c{i}"), "type": "max_value", "field": "/amount", "max": 1000}))
        .collect();
    let (c1, k1) = mint(&alice, json!({"caveats": per}));
    let l1 = held(c1, &k1);
    let (c2, k2) = mint(&l1, json!({"caveats": per, "jti": jti(1)}));
    assert!(w.engine.enforce(&pay(&l1.token, 1)).unwrap().allowed);
    let l2 = held(c2, &k2);
    assert!(
        w.engine.enforce(&pay(&l2.token, 1)).unwrap().allowed,
        "60 in all"
    );
    let (c3, _) = mint(&l2, json!({"caveats": per[..5], "jti": jti(2)}));
    let d = w.engine.enforce(&pay(&c3, 1)).unwrap();
    assert_eq!(failed_code(&d), ["PASSPORT_MALFORMED"]);
    // Issuance refuses them too.
    let mut req = PassportRequest::new("x", ["pay"]);
    req.caveats = many;
    assert_eq!(
        w.issuer.issue_passport(&req).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}

#[test]
fn agent_mints_a_child_with_a_regex_bomb_caveat() {
    let w = caveat_world();
    let alice = w.passport("alice", vec![]);
    for regex in [
        "a{1000}{1000}",
        &"(a|b)".repeat(60),
        "\\w{200}\\w{200}\\w{200}",
    ] {
        let (child, _) = mint(
            &alice,
            json!({"caveats": [{"type": "pattern", "field": "/memo", "regex": regex}]}),
        );
        let d = w
            .engine
            .enforce(&Request::new("pay", json!({"amount": 1, "memo": "a"})).passport(&child))
            .unwrap();
        assert!(!d.allowed, "{regex}");
        assert_eq!(failed_code(&d), ["PASSPORT_MALFORMED"], "{regex}");
    }
    // Inside a condition's `matches` too.
    let (child, _) = mint(
        &alice,
        json!({"caveats": [{"type": "condition",
            "expr": {"not": {"field": "/memo", "op": "matches", "value": "a{1000}{1000}"}}}]}),
    );
    let d = w.engine.enforce(&pay(&child, 1)).unwrap();
    assert_eq!(failed_code(&d), ["PASSPORT_MALFORMED"]);
}

#[test]
fn hostile_caveats_are_not_compiled_before_the_permission_check() {
    let w = caveat_world();
    let alice = w.passport("alice", vec![]);
    let (child, _) = mint(
        &alice,
        json!({"caveats": [{"type": "pattern", "field": "/memo", "regex": "a{1000}{1000}"}]}),
    );
    // A gate the passport may not enter: denied for the permission, the caveat never compiled.
    let d = w
        .engine
        .enforce(&Request::new("admin", json!({})).passport(&child))
        .unwrap();
    assert_eq!(failed_code(&d), ["PERMISSION_DENIED"]);
    // A caveat for another gate is not compiled for this one.
    let (child, _) = mint(
        &alice,
        json!({"caveats": [{"type": "pattern", "field": "/memo", "regex": "a{1000}{1000}",
                            "gates": ["admin"]}]}),
    );
    assert!(w.engine.enforce(&pay(&child, 1)).unwrap().allowed);
}

#[test]
fn maximal_hostile_passport_is_refused_quickly() {
    // The largest passport the engine reads (just under 64 KiB): a two-link chain holding the
    // most caveats a chain may, each with a regex at the length budget.
    let w = caveat_world();
    let alice = w.passport("alice", vec![]);
    let words: Vec<String> = (0..40).map(|i| format!("w{i:03}")).collect();
    let regex = format!("(?:{})+", words.join("|"));
    assert!(regex.len() <= passgate::engine::CAVEAT_REGEX_MAX_LEN);
    let caveats = |pad: usize| -> Vec<Value> {
        (0..passgate::passport::MAX_CAVEATS_PER_PASSPORT)
            .map(|i| {
                json!({"id": format!("c{i}"), "type": "pattern", "field": "/memo",
                       "regex": regex, "description": "d".repeat(pad)})
            })
            .collect()
    };
    let token = (0..40)
        .rev()
        .map(|k| {
            let (c1, k1) = mint(&alice, json!({"caveats": caveats(k * 20)}));
            let l1 = held(c1, &k1);
            mint(&l1, json!({"caveats": caveats(k * 20), "jti": jti(1)})).0
        })
        .find(|t| t.len() <= passgate::__private::json::Limits::TOKEN_BYTES)
        .unwrap();
    assert!(token.len() > 48 << 10, "{}", token.len());
    let req = Request::new("pay", json!({"amount": 1, "memo": "nope"})).passport(&token);
    // Resident memory (Linux), for the report below; not asserted.
    let rss = || {
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4096)
    };
    let before = rss();
    let start = std::time::Instant::now();
    let d = w.engine.enforce(&req).unwrap();
    let first = start.elapsed();
    assert!(!d.allowed);
    assert_eq!(d.checks.iter().filter(|c| c.ty == "pattern").count(), 64);
    let start = std::time::Instant::now();
    w.engine.enforce(&req).unwrap();
    let then = start.elapsed();
    eprintln!(
        "maximal hostile passport ({} bytes, 64 regex caveats): first request {first:?}, \
         then {then:?}; resident memory kept: {} KiB",
        token.len(),
        rss().saturating_sub(before) >> 10
    );
}

// ---- F9: monitor mode ----

fn monitor_world() -> World {
    world(
        json!({"pay": {"require": ["pay"], "mode": "monitor", "constraints": [
        {"id": "per-call", "type": "max_value", "field": "/amount", "max": 10},
        {"id": "rate", "type": "rate_limit", "max": 1, "window": "1d"}]},
      "admin": {"require": ["admin"], "mode": "monitor"}}),
    )
}

#[test]
fn monitor_mode_admits_a_passport_that_lacks_the_gate_permission() {
    let w = monitor_world();
    let alice = w.passport("alice", vec![]);
    let d = w
        .engine
        .enforce(&Request::new("admin", json!({})).passport(&alice.token))
        .unwrap();
    assert!(!d.allowed);
    assert_eq!(failed_code(&d), ["PERMISSION_DENIED"]);
}

#[test]
fn monitor_mode_ignores_the_passport_caveats() {
    let w = monitor_world();
    let alice = w.passport(
        "alice",
        vec![
            json!({"id": "cap", "type": "max_value", "field": "/amount", "max": 50}),
            json!({"id": "twice", "type": "rate_limit", "max": 2, "window": "1d", "scope": "passport"}),
        ],
    );
    // The gate's own constraints are relaxed (per-call 10, rate 1) ...
    let d = w.engine.enforce(&pay(&alice.token, 20)).unwrap();
    assert!(d.allowed);
    assert!(d
        .checks
        .iter()
        .any(|c| c.constraint == "per-call" && !c.passed));
    assert!(w.engine.enforce(&pay(&alice.token, 20)).unwrap().allowed);
    // ... the caveats are not: over the caveat's cap, and past the caveat's count.
    let d = w.engine.enforce(&pay(&alice.token, 60)).unwrap();
    assert!(!d.allowed);
    let d = w.engine.enforce(&pay(&alice.token, 20)).unwrap();
    assert!(!d.allowed, "the caveat allows two requests");
    assert!(d
        .checks
        .iter()
        .any(|c| c.constraint == "twice" && !c.passed));
}

// ---- F10: reissue ----

#[test]
fn agent_gets_its_delegated_passport_reissued_without_ancestor_bounds() {
    let w = world(json!({"pay": {"require": ["pay"]}}));
    let alice = w.passport(
        "alice",
        vec![json!({"id": "cap", "type": "max_value", "field": "/amount", "max": 50})],
    );
    let child = alice
        .issue_sub_passport_at(
            &PassportRequest::new("helper", ["pay"]).with_expires_in_secs(60),
            NOW_S,
        )
        .unwrap();
    let e = w.engine.reissue(&child.token, &w.issuer, None).unwrap_err();
    assert_eq!(e.code(), "INVALID_ARGUMENT");
    assert!(
        w.engine.enforce(&pay(&child.token, 1)).unwrap().allowed,
        "not revoked"
    );
    // A root passport is reissued with its caveats, and the old one is revoked.
    let new = w.engine.reissue(&alice.token, &w.issuer, None).unwrap();
    assert!(!w.engine.enforce(&pay(&new.token, 60)).unwrap().allowed);
    assert!(w.engine.enforce(&pay(&new.token, 10)).unwrap().allowed);
    assert!(!w.engine.enforce(&pay(&alice.token, 10)).unwrap().allowed);
    assert!(!w.engine.enforce(&pay(&child.token, 10)).unwrap().allowed);
}

#[test]
fn agent_mints_a_child_with_one_caveat_id_twice() {
    // Two caveats with one id would name one counter twice in a request.
    let w = caveat_world();
    let alice = w.passport("alice", vec![]);
    let twice = json!({"id": "cap", "type": "rate_limit", "max": 5, "window": "1d"});
    let (child, _) = mint(&alice, json!({"caveats": [twice, twice]}));
    let d = w.engine.enforce(&pay(&child, 1)).unwrap();
    assert_eq!(failed_code(&d), ["PASSPORT_MALFORMED"]);
    let mut req = PassportRequest::new("x", ["pay"]);
    req.caveats = vec![twice.clone(), twice];
    assert_eq!(
        w.issuer.issue_passport(&req).unwrap_err().code(),
        "INVALID_ARGUMENT"
    );
}

// ---- F13: smaller ----

#[test]
fn agent_mints_a_child_with_a_malformed_caveat() {
    let w = world(json!({"pay": {"require": ["pay"]}}));
    let alice = w.passport("alice", vec![]);
    let (child, _) = mint(
        &alice,
        json!({"caveats": [{"type": "max_value", "field": "amount-without-slash", "max": 1}]}),
    );
    let d = w.engine.enforce(&pay(&child, 1)).unwrap();
    assert!(!d.allowed);
    assert_eq!(failed_code(&d), ["PASSPORT_MALFORMED"]);
}

#[test]
fn anonymous_callers_without_a_client_share_no_idempotency_namespace() {
    let issuer = Issuer::generate().unwrap();
    let clock = ManualClock::new(T0);
    let engine = crate::support::engine(
        json!({"version": 1, "gates": {}, "anonymous": {"gates": ["catalog.read"], "constraints": []}}),
        &issuer,
        &clock,
    );
    let req = Request::new("catalog.read", json!({})).idempotency_key("k");
    assert_eq!(engine.enforce(&req).unwrap_err().code(), "INVALID_ARGUMENT");
    assert!(engine.enforce(&req.client("10.0.0.1")).unwrap().allowed);
}

// ---- I1: tail truncation ----

#[test]
fn records_cut_from_the_end_of_a_chain_are_detected_with_a_signed_head() {
    let w = world(json!({"pay": {"require": ["pay"]}}));
    let alice = w.passport("alice", vec![]);
    for _ in 0..4 {
        w.engine.enforce(&pay(&alice.token, 1)).unwrap();
    }
    let head = w.engine.chain_head().unwrap();
    let did = w.engine.signer_did();
    let records = w
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    passgate::verify_chain_with_head(&records, did, &head).unwrap();
    // Cut the last record: the chain alone still verifies, the head says it is short.
    passgate::verify_chain(&records[..3], did).unwrap();
    let e = passgate::verify_chain_with_head(&records[..3], did, &head).unwrap_err();
    assert_eq!(e.code(), "CHAIN_GAP");
    // A head is not a record: it does not verify as one, and a forged head fails.
    assert!(passgate::verify_attestation(&head, did).is_err());
    let mut forged = head.clone();
    forged["body"]["seq"] = json!(3);
    assert!(passgate::verify_chain_with_head(&records[..3], did, &forged).is_err());
    // Later records extend past the head: fine.
    w.clock.advance_ms(1);
    w.engine.enforce(&pay(&alice.token, 1)).unwrap();
    let more = w
        .engine
        .attestations(&AttestationFilter::default())
        .unwrap();
    passgate::verify_chain_with_head(&more, did, &head).unwrap();
}
