//! Passports end to end: issuance, delegation, verification, every error code of verification,
//! the cache, and interop with an independent JOSE library (`jsonwebtoken`).

// Test helpers outside #[test] functions may unwrap too (clippy.toml covers only the tests).
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use passgate::__private::keys::{b64u_decode, b64u_encode, KeyPair};
use passgate::passport::{
    decode_unverified, IssuedPassport, Issuer, PassportRequest, Verifier, VerifierOptions,
    MAX_DELEGATION_DEPTH,
};
use passgate::Error;
use serde_json::{json, Value};

/// A fixed "now" in seconds: 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;
const LEEWAY: i64 = 60;

fn ms(secs: i64) -> i64 {
    secs * 1000
}

fn verifier(issuer: &Issuer) -> Verifier {
    Verifier::new([issuer.did().to_string()], VerifierOptions::default()).unwrap()
}

fn uncached(issuer: &Issuer) -> Verifier {
    let opts = VerifierOptions {
        cache_size: 0,
        ..VerifierOptions::default()
    };
    Verifier::new([issuer.did().to_string()], opts).unwrap()
}

fn code(r: Result<impl std::fmt::Debug, Error>) -> &'static str {
    r.unwrap_err().code()
}

fn root(issuer: &Issuer, perms: &[&str], expires_in: i64) -> IssuedPassport {
    let req =
        PassportRequest::new("agent-7", perms.iter().copied()).with_expires_in_secs(expires_in);
    issuer.issue_passport_at(&req, NOW).unwrap()
}

/// The decoded header and claims of a token.
fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let mut next = || serde_json::from_slice(&b64u_decode(it.next().unwrap()).unwrap()).unwrap();
    (next(), next())
}

/// A compact JWS of the given header and claims texts, signed by `key`.
fn sign_raw(header: &str, claims: &str, key: &KeyPair) -> String {
    let input = format!(
        "{}.{}",
        b64u_encode(header.as_bytes()),
        b64u_encode(claims.as_bytes())
    );
    let sig = key.sign(input.as_bytes());
    format!("{input}.{}", b64u_encode(&sig))
}

/// A passport-shaped token of `claims`, signed by `key` with a well-formed header.
fn forge(claims: &Value, key: &KeyPair) -> String {
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": key.did()});
    sign_raw(&header.to_string(), &claims.to_string(), key)
}

/// `token` with its claims changed by `edit` and signed again by `key`.
fn resign(
    token: &str,
    key: &KeyPair,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> String {
    let (_, mut claims) = parts(token);
    edit(claims.as_object_mut().unwrap());
    forge(&claims, key)
}

/// A fresh, well-formed passport id for hand-built tokens.
fn fresh_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let tail: String = (0..16)
        .map(|i| char::from(b'a' + ((n >> (4 * i)) & 15) as u8))
        .collect();
    format!("psp_{}{tail}", "z".repeat(10))
}

/// Hand-built claims of a sub-agent passport under `parent`, bypassing issuance checks.
fn child_claims(parent: &IssuedPassport, perms: &[&str], exp: i64) -> (Value, KeyPair) {
    let signer = KeyPair::from_secret(&parent.private_key).unwrap();
    let agent = KeyPair::generate().unwrap();
    let claims = json!({
        "iss": signer.did(), "sub": "sub-agent", "jti": fresh_id(),
        "iat": NOW, "nbf": NOW, "exp": exp, "perms": perms,
        "cnf": {"jwk": agent.public_jwk()}, "prf": parent.token,
    });
    (claims, signer)
}

#[test]
fn issue_and_verify_round_trip() {
    let issuer = Issuer::generate().unwrap();
    let caveat = json!({"type": "max_value", "field": "/amount", "max": "100.50"});
    let req = PassportRequest::new("agent-7", ["payments:send", "catalog:*"])
        .with_name("Billing bot")
        .with_expires_in_secs(3600)
        .with_caveat(caveat.clone());
    let p = issuer.issue_passport_at(&req, NOW).unwrap();

    assert!(p.passport_id.starts_with("psp_") && p.passport_id.len() == 30);
    assert_eq!(p.agent_id, "agent-7");
    assert_eq!(p.expires_at, NOW + 3600);
    assert_eq!(KeyPair::from_secret(&p.private_key).unwrap().did(), p.did);

    let header =
        String::from_utf8(b64u_decode(p.token.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        header,
        format!(
            r#"{{"alg":"EdDSA","typ":"passport+jwt","kid":"{}"}}"#,
            issuer.did()
        )
    );

    let v = verifier(&issuer).verify(&p.token, ms(NOW)).unwrap();
    assert_eq!(v.agent_id, "agent-7");
    assert_eq!(v.agent_name.as_deref(), Some("Billing bot"));
    assert_eq!(v.passport_id, p.passport_id);
    assert_eq!(v.perms, ["payments:send", "catalog:*"]);
    assert_eq!(v.agent_did, p.did);
    assert_eq!(v.issuer, issuer.did());
    assert_eq!(v.root_issuer, issuer.did());
    assert_eq!((v.iat, v.nbf, v.exp), (NOW, NOW, NOW + 3600));
    assert_eq!(v.claims["sub"], "agent-7");
    assert_eq!(v.claims["cnf"]["jwk"]["kty"], "OKP");
    assert_eq!(v.chain_ids().collect::<Vec<_>>(), [p.passport_id.as_str()]);
    assert_eq!(
        v.caveats().collect::<Vec<_>>(),
        [(p.passport_id.as_str(), &caveat)]
    );
    assert!(v.has_permission("payments:send"));
    assert!(v.has_permission("catalog:read:books"));
    assert!(!v.has_permission("payments:refund"));

    assert_eq!(decode_unverified(&p.token).unwrap(), v.claims);
}

#[test]
fn issuer_round_trips_through_its_secret() {
    let issuer = Issuer::generate().unwrap();
    let again = Issuer::from_secret(&issuer.secret()).unwrap();
    assert_eq!(issuer.did(), again.did());
    assert_eq!(issuer.public_jwk(), again.public_jwk());
    assert_eq!(issuer.key().did(), issuer.did());
    assert_eq!(code(Issuer::from_secret("nope")), "KEY_INVALID");
}

#[test]
fn issuance_arguments_are_checked() {
    let issuer = Issuer::generate().unwrap();
    let bad = [
        PassportRequest::new("", ["a"]),
        PassportRequest::new("x", ["a:"]),
        PassportRequest::new("x", ["pay*"]),
        PassportRequest::new("x", ["a"]).with_expires_in_secs(0),
        PassportRequest::new("x", ["a"]).with_caveat(json!("max_value")),
        PassportRequest::new("x", ["a"]).with_caveat(json!({"field": "/a"})),
        // not_before after the default 30-day expiry
        PassportRequest::new("x", ["a"]).with_not_before(NOW + 40 * 24 * 3600),
    ];
    for req in bad {
        assert_eq!(
            code(issuer.issue_passport_at(&req, NOW)),
            "INVALID_ARGUMENT",
            "{req:?}"
        );
    }
    let huge = PassportRequest::new("x", ["a"])
        .with_caveat(json!({"type": "t", "pad": "x".repeat(70_000)}));
    assert_eq!(code(issuer.issue_passport_at(&huge, NOW)), "LIMIT_EXCEEDED");
}

#[test]
fn expired_exactly_on_the_leeway_boundary() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let exp = NOW + 3600;
    for v in [verifier(&issuer), uncached(&issuer)] {
        assert!(v.verify(&p.token, ms(exp + LEEWAY - 1)).is_ok());
        assert!(v.verify(&p.token, ms(exp + LEEWAY) - 1).is_ok());
        assert_eq!(
            code(v.verify(&p.token, ms(exp + LEEWAY))),
            "PASSPORT_EXPIRED"
        );
        assert_eq!(
            code(v.verify(&p.token, ms(exp + 10 * LEEWAY))),
            "PASSPORT_EXPIRED"
        );
    }
}

#[test]
fn not_yet_valid_exactly_on_the_leeway_boundary() {
    let issuer = Issuer::generate().unwrap();
    let nbf = NOW + 1000;
    let req = PassportRequest::new("agent", ["a"]).with_not_before(nbf);
    let p = issuer.issue_passport_at(&req, NOW).unwrap();
    for v in [verifier(&issuer), uncached(&issuer)] {
        assert!(v.verify(&p.token, ms(nbf - LEEWAY)).is_ok());
        assert_eq!(
            code(v.verify(&p.token, ms(nbf - LEEWAY - 1))),
            "PASSPORT_NOT_YET_VALID"
        );
        assert_eq!(
            code(v.verify(&p.token, ms(nbf - LEEWAY) - 1)),
            "PASSPORT_NOT_YET_VALID"
        );
    }
    // iat in the future counts too, with the same boundary.
    let p = root(&issuer, &["a"], 3600);
    let v = uncached(&issuer);
    assert!(v.verify(&p.token, ms(NOW - LEEWAY)).is_ok());
    assert_eq!(
        code(v.verify(&p.token, ms(NOW - LEEWAY - 1))),
        "PASSPORT_NOT_YET_VALID"
    );
    let forged = resign(&p.token, issuer.key(), |c| {
        c.insert("nbf".into(), json!(NOW - 5000));
    });
    assert_eq!(
        code(v.verify(&forged, ms(NOW - LEEWAY - 1))),
        "PASSPORT_NOT_YET_VALID"
    );
}

#[test]
fn untrusted_issuer() {
    let issuer = Issuer::generate().unwrap();
    let other = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = verifier(&other);
    assert_eq!(code(v.verify(&p.token, ms(NOW))), "ISSUER_UNTRUSTED");
    // A sub-agent passport whose chain ends at an untrusted root.
    let child = p
        .issue_sub_passport_at(
            &PassportRequest::new("c", ["a"]).with_expires_in_secs(60),
            NOW,
        )
        .unwrap();
    assert_eq!(code(v.verify(&child.token, ms(NOW))), "ISSUER_UNTRUSTED");

    // Trust can be replaced; a cached verification does not outlive the trust it was made under.
    v.set_trusted([issuer.did().to_string()]).unwrap();
    assert!(v.verify(&child.token, ms(NOW)).is_ok());
    v.set_trusted([other.did().to_string()]).unwrap();
    assert_eq!(code(v.verify(&child.token, ms(NOW))), "ISSUER_UNTRUSTED");
    assert_eq!(v.trusted(), [other.did().to_string()]);
    // Replacing is all or nothing.
    assert_eq!(
        code(v.set_trusted([issuer.did().to_string(), "did:key:zBad".to_string()])),
        "KEY_INVALID"
    );
    assert_eq!(v.trusted(), [other.did().to_string()]);
}

#[test]
fn tampered_signature_or_claims() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = uncached(&issuer);
    let (input, sig) = p.token.rsplit_once('.').unwrap();

    let mut bytes = b64u_decode(sig).unwrap();
    bytes[10] ^= 1;
    let flipped = format!("{input}.{}", b64u_encode(&bytes));
    assert_eq!(code(v.verify(&flipped, ms(NOW))), "PASSPORT_SIGNATURE");

    let short = format!("{input}.{}", b64u_encode(&bytes[..63]));
    assert_eq!(code(v.verify(&short, ms(NOW))), "PASSPORT_SIGNATURE");

    let (header, claims) = input.split_once('.').unwrap();
    let mut claims = b64u_decode(claims).unwrap();
    let at = claims.windows(7).position(|w| w == b"agent-7").unwrap();
    claims[at + 6] = b'8';
    let changed = format!("{header}.{}.{sig}", b64u_encode(&claims));
    assert_eq!(code(v.verify(&changed, ms(NOW))), "PASSPORT_SIGNATURE");

    // Signed by another key that claims to be the trusted issuer.
    let impostor = KeyPair::generate().unwrap();
    let (_, claims) = parts(&p.token);
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": issuer.did()});
    let forged = sign_raw(&header.to_string(), &claims.to_string(), &impostor);
    assert_eq!(code(v.verify(&forged, ms(NOW))), "PASSPORT_SIGNATURE");
}

#[test]
fn only_eddsa_is_accepted() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = uncached(&issuer);
    let (_, claims) = parts(&p.token);
    let claims_part = b64u_encode(claims.to_string().as_bytes());
    for alg in [
        json!("none"),
        json!("HS256"),
        json!("ES256"),
        json!("RS256"),
        json!("eddsa"),
        json!("Ed25519"),
        json!(null),
        json!(["EdDSA"]),
    ] {
        let header = json!({"alg": alg, "typ": "passport+jwt", "kid": issuer.did()});
        let header_part = b64u_encode(header.to_string().as_bytes());
        // `none`: empty signature; others: some bytes where a MAC or signature would be.
        for sig in [
            String::new(),
            b64u_encode(&[7u8; 32]),
            p.token.rsplit('.').next().unwrap().to_string(),
        ] {
            let token = format!("{header_part}.{claims_part}.{sig}");
            assert_eq!(
                code(v.verify(&token, ms(NOW))),
                "PASSPORT_ALGORITHM",
                "alg {alg}"
            );
        }
    }
    let header = json!({"typ": "passport+jwt", "kid": issuer.did()});
    let token = sign_raw(&header.to_string(), &claims.to_string(), issuer.key());
    assert_eq!(code(v.verify(&token, ms(NOW))), "PASSPORT_ALGORITHM");
}

#[test]
fn header_must_be_exactly_a_passport_header() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = uncached(&issuer);
    let (_, claims) = parts(&p.token);
    let did = issuer.did();
    for header in [
        json!({"alg": "EdDSA", "typ": "JWT", "kid": did}),
        json!({"alg": "EdDSA", "kid": did}),
        json!({"alg": "EdDSA", "typ": "passport+jwt"}),
        json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": KeyPair::generate().unwrap().did()}),
        json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": did, "jku": "https://evil.example"}),
        json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": did, "crit": ["exp"]}),
        json!(["EdDSA"]),
    ] {
        let token = sign_raw(&header.to_string(), &claims.to_string(), issuer.key());
        assert_eq!(
            code(v.verify(&token, ms(NOW))),
            "PASSPORT_MALFORMED",
            "{header}"
        );
    }
}

#[test]
fn malformed_tokens() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = uncached(&issuer);
    let mut parts3 = p.token.split('.');
    let (h, c, s) = (
        parts3.next().unwrap(),
        parts3.next().unwrap(),
        parts3.next().unwrap(),
    );
    for token in [
        String::new(),
        "garbage".to_string(),
        format!("{h}.{c}"),
        format!("{h}.{c}.{s}.{s}"),
        format!("{h}..{s}"),
        format!("!!!.{c}.{s}"),
        format!("{h}.{c}=.{s}"),
        format!("{h}.{c}.{s}="),
        format!("{}.{c}.{s}", b64u_encode(b"not json")),
        format!("{h}.{}.{s}", b64u_encode(&[0xff, 0xfe])),
    ] {
        assert_eq!(
            code(v.verify(&token, ms(NOW))),
            "PASSPORT_MALFORMED",
            "{token:.80}"
        );
    }
}

#[test]
fn malformed_claims_signed_by_the_trusted_issuer() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = uncached(&issuer);
    let key = issuer.key();
    let number = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let (_, good) = parts(&p.token);
    let mut jwk_d = good["cnf"].clone();
    jwk_d["jwk"]["d"] = json!("AAAA");
    let mut jwk_x25519 = good["cnf"].clone();
    jwk_x25519["jwk"]["crv"] = json!("X25519");
    let mut cnf_extra = good["cnf"].clone();
    cnf_extra["kid"] = json!("x");
    // (claim, new value; None removes the claim)
    let edits = [
        ("exp", Some(json!("1700003600"))),
        ("exp", Some(number("1700003600.5"))),
        ("exp", Some(number("1700003600.0"))),
        ("exp", Some(number("1.7e9"))),
        ("exp", Some(json!(-1))),
        ("exp", Some(json!(i64::MAX))),
        ("exp", None),
        ("iat", None),
        ("nbf", Some(json!(null))),
        ("iss", Some(json!("did:web:example.com"))),
        ("sub", None),
        ("sub", Some(json!(""))),
        ("sub", Some(json!(7))),
        ("name", Some(json!(7))),
        ("perms", None),
        ("perms", Some(json!("a"))),
        ("perms", Some(json!(["a", 1]))),
        ("perms", Some(json!(["a*"]))),
        ("jti", Some(json!("psp_1"))),
        ("cnf", None),
        ("cnf", Some(jwk_d)),
        ("cnf", Some(jwk_x25519)),
        ("cnf", Some(cnf_extra)),
        ("caveats", Some(json!({"type": "x"}))),
        ("caveats", Some(json!([{"max": 1}]))),
        ("prf", Some(json!(1))),
        ("aud", Some(json!("x"))),
    ];
    for (claim, value) in edits {
        let token = resign(&p.token, key, |c| match &value {
            Some(v) => {
                c.insert(claim.into(), v.clone());
            }
            None => {
                c.remove(claim);
            }
        });
        let e = v.verify(&token, ms(NOW)).unwrap_err();
        assert_eq!(e.code(), "PASSPORT_MALFORMED", "{claim} = {value:?}: {e}");
        assert!(e.to_string().contains(claim), "{claim}: {e}");
    }
    // The message names the claim.
    let token = resign(&p.token, key, |c| {
        c.insert("exp".into(), json!("soon"));
    });
    assert!(v
        .verify(&token, ms(NOW))
        .unwrap_err()
        .to_string()
        .contains("exp"));

    // Claims that are not an object.
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": issuer.did()}).to_string();
    let token = sign_raw(&header, "[1,2]", key);
    assert_eq!(code(v.verify(&token, ms(NOW))), "PASSPORT_MALFORMED");

    // Duplicate claim keys: the last would win in a lenient parser.
    let (_, claims) = parts(&p.token);
    let text = claims.to_string();
    let dup = text.replacen("{", r#"{"perms":["*"],"#, 1);
    let token = sign_raw(&header, &dup, key);
    let e = v.verify(&token, ms(NOW)).unwrap_err();
    assert_eq!(e.code(), "PASSPORT_MALFORMED");
    assert!(e.to_string().contains("duplicate"), "{e}");
}

#[test]
fn oversized_and_deep_input_is_limit_exceeded() {
    let issuer = Issuer::generate().unwrap();
    let v = uncached(&issuer);
    let huge = "a".repeat(10 << 20);
    assert_eq!(code(v.verify(&huge, ms(NOW))), "LIMIT_EXCEEDED");
    assert_eq!(code(decode_unverified(&huge)), "LIMIT_EXCEEDED");
    let ten_mb = format!("{huge}.{huge}.{huge}");
    assert_eq!(code(v.verify(&ten_mb, ms(NOW))), "LIMIT_EXCEEDED");

    // 10,000-deep nesting in the claims: refused by the parser's depth bound, without a crash.
    let deep = format!(r#"{{"x":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": issuer.did()}).to_string();
    let token = sign_raw(&header, &deep, issuer.key());
    assert!(token.len() < 64 << 10);
    assert_eq!(code(v.verify(&token, ms(NOW))), "LIMIT_EXCEEDED");
}

#[test]
fn delegation_widening_is_refused_at_issuance() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["payments:*", "catalog:read"], 3600);
    let sub = |perms: &[&str], secs: i64| {
        let req = PassportRequest::new("sub", perms.iter().copied()).with_expires_in_secs(secs);
        p.issue_sub_passport_at(&req, NOW)
    };
    assert!(sub(&["payments:send:eu", "catalog:read"], 3600).is_ok());
    assert!(sub(&["payments:*"], 60).is_ok());
    assert!(sub(&[], 60).is_ok());
    assert_eq!(code(sub(&["catalog:*"], 60)), "DELEGATION_WIDENS");
    assert_eq!(code(sub(&["*"], 60)), "DELEGATION_WIDENS");
    assert_eq!(code(sub(&["admin"], 60)), "DELEGATION_WIDENS");
    assert_eq!(code(sub(&["payments:send"], 3601)), "DELEGATION_WIDENS");
    // The default lifetime (30 days) outlives this parent: refused, never clamped.
    let req = PassportRequest::new("sub", ["payments:send"]);
    assert_eq!(
        code(p.issue_sub_passport_at(&req, NOW)),
        "DELEGATION_WIDENS"
    );

    // Delegating needs the parent's own agent key.
    let mut stolen = p.clone();
    stolen.private_key = KeyPair::generate().unwrap().secret();
    let req = PassportRequest::new("sub", ["payments:send"]).with_expires_in_secs(60);
    assert_eq!(code(stolen.issue_sub_passport_at(&req, NOW)), "KEY_INVALID");
}

#[test]
fn delegation_depth_is_bounded_at_issuance_and_verification() {
    let issuer = Issuer::generate().unwrap();
    let v = uncached(&issuer);
    let mut p = root(&issuer, &["a:*"], 3600);
    for depth in 1..=MAX_DELEGATION_DEPTH {
        let req =
            PassportRequest::new(format!("agent-{depth}"), ["a:*"]).with_expires_in_secs(3600);
        p = p.issue_sub_passport_at(&req, NOW).unwrap();
        let verified = v.verify(&p.token, ms(NOW)).unwrap();
        assert_eq!(verified.chain.len(), depth + 1);
    }
    let req = PassportRequest::new("too-deep", ["a:*"]).with_expires_in_secs(3600);
    assert_eq!(
        code(p.issue_sub_passport_at(&req, NOW)),
        "DELEGATION_WIDENS"
    );

    // A hand-built link one level deeper fails verification.
    let (claims, signer) = child_claims(&p, &["a:*"], NOW + 3600);
    let e = v.verify(&forge(&claims, &signer), ms(NOW)).unwrap_err();
    assert_eq!(e.code(), "DELEGATION_WIDENS");
    assert!(e.to_string().contains("deeper than 8"), "{e}");

    // A verifier with a smaller bound.
    let opts = VerifierOptions {
        max_depth: 1,
        ..VerifierOptions::default()
    };
    let shallow = Verifier::new([issuer.did().to_string()], opts).unwrap();
    let r = root(&issuer, &["a:*"], 3600);
    let req = PassportRequest::new("x", ["a:*"]).with_expires_in_secs(60);
    let c1 = r.issue_sub_passport_at(&req, NOW).unwrap();
    let c2 = c1.issue_sub_passport_at(&req, NOW).unwrap();
    assert!(shallow.verify(&c1.token, ms(NOW)).is_ok());
    assert_eq!(
        code(shallow.verify(&c2.token, ms(NOW))),
        "DELEGATION_WIDENS"
    );
}

/// The agent signs its own sub-passport (it holds the parent's key), bypassing issuance, with
/// two caveats of one id: they would name one counter twice, and a store refuses a commit that
/// does (`store::distinct_counters`). It is refused at verification, before any gate is read;
/// the same caveats under two ids pass.
#[test]
fn a_minted_sub_passport_naming_one_caveat_counter_twice_is_refused() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["payments:send"], 3600);
    let v = uncached(&issuer);
    let cap = |id: &str, max: u32| json!({"id": id, "type": "spend_limit", "field": "/amount", "max": max, "window": "1d"});
    let (mut claims, signer) = child_claims(&p, &["payments:send"], NOW + 3600);
    claims["caveats"] = json!([cap("cap", 10), cap("cap", 1000)]);
    assert_eq!(
        code(v.verify(&forge(&claims, &signer), ms(NOW))),
        "PASSPORT_MALFORMED"
    );
    claims["caveats"] = json!([cap("cap", 10), cap("cap-2", 1000)]);
    assert!(v.verify(&forge(&claims, &signer), ms(NOW)).is_ok());
}

#[test]
fn delegation_widening_made_elsewhere_is_refused_at_verification() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["payments:send"], 3600);
    let v = uncached(&issuer);

    let (claims, signer) = child_claims(&p, &["payments:send"], NOW + 3600);
    assert!(v.verify(&forge(&claims, &signer), ms(NOW)).is_ok());

    let (claims, signer) = child_claims(&p, &["payments:*"], NOW + 3600);
    assert_eq!(
        code(v.verify(&forge(&claims, &signer), ms(NOW))),
        "DELEGATION_WIDENS"
    );

    let (claims, signer) = child_claims(&p, &["payments:send"], NOW + 3601);
    assert_eq!(
        code(v.verify(&forge(&claims, &signer), ms(NOW))),
        "DELEGATION_WIDENS"
    );

    // Signed by a key that is not the parent's agent key.
    let (mut claims, _) = child_claims(&p, &["payments:send"], NOW + 60);
    let stranger = KeyPair::generate().unwrap();
    claims["iss"] = json!(stranger.did());
    assert_eq!(
        code(v.verify(&forge(&claims, &stranger), ms(NOW))),
        "PASSPORT_SIGNATURE"
    );

    // Claiming the parent's agent key but signed by another.
    let (claims, signer) = child_claims(&p, &["payments:send"], NOW + 60);
    let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": signer.did()});
    let token = sign_raw(&header.to_string(), &claims.to_string(), &stranger);
    assert_eq!(code(v.verify(&token, ms(NOW))), "PASSPORT_SIGNATURE");

    // Signed by the trusted issuer itself rather than by the delegated agent key.
    let (mut claims, _) = child_claims(&p, &["payments:send"], NOW + 60);
    claims["iss"] = json!(issuer.did());
    assert_eq!(
        code(v.verify(&forge(&claims, issuer.key()), ms(NOW))),
        "PASSPORT_SIGNATURE"
    );

    // Reusing the parent's passport id.
    let (mut claims, signer) = child_claims(&p, &["payments:send"], NOW + 60);
    claims["jti"] = json!(p.passport_id);
    assert_eq!(
        code(v.verify(&forge(&claims, &signer), ms(NOW))),
        "PASSPORT_MALFORMED"
    );

    // A tampered parent inside a validly signed child.
    let (mut claims, signer) = child_claims(&p, &["payments:send"], NOW + 60);
    let (input, sig) = p.token.rsplit_once('.').unwrap();
    let mut bytes = b64u_decode(sig).unwrap();
    bytes[5] ^= 4;
    claims["prf"] = json!(format!("{input}.{}", b64u_encode(&bytes)));
    assert_eq!(
        code(v.verify(&forge(&claims, &signer), ms(NOW))),
        "PASSPORT_SIGNATURE"
    );
}

#[test]
fn chain_of_three_lists_caveats_root_first() {
    let issuer = Issuer::generate().unwrap();
    let cav = |id: &str| json!({"id": id, "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"});
    let root_req = PassportRequest::new("root-agent", ["payments:*", "catalog:*"])
        .with_expires_in_secs(3600)
        .with_caveat(cav("root-cap"));
    let r = issuer.issue_passport_at(&root_req, NOW).unwrap();
    let child_req = PassportRequest::new("child-agent", ["payments:send"])
        .with_expires_in_secs(1800)
        .with_caveat(cav("child-cap"));
    let c = r.issue_sub_passport_at(&child_req, NOW + 10).unwrap();
    let gc_req = PassportRequest::new("grandchild-agent", ["payments:send"])
        .with_name("Leaf")
        .with_expires_in_secs(600)
        .with_caveat(cav("leaf-cap"))
        .with_caveat(cav("leaf-cap-2"));
    let g = c.issue_sub_passport_at(&gc_req, NOW + 20).unwrap();

    // The child's own claims hold only what it asked for.
    let (_, claims) = parts(&g.token);
    assert_eq!(claims["perms"], json!(["payments:send"]));
    assert_eq!(claims["caveats"].as_array().unwrap().len(), 2);
    assert_eq!(claims["iss"], json!(c.did));

    let v = verifier(&issuer).verify(&g.token, ms(NOW + 30)).unwrap();
    assert_eq!(
        v.chain_ids().collect::<Vec<_>>(),
        [
            r.passport_id.as_str(),
            c.passport_id.as_str(),
            g.passport_id.as_str()
        ]
    );
    let listed: Vec<(&str, &str)> = v
        .caveats()
        .map(|(pid, cv)| (pid, cv["id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [
            (r.passport_id.as_str(), "root-cap"),
            (c.passport_id.as_str(), "child-cap"),
            (g.passport_id.as_str(), "leaf-cap"),
            (g.passport_id.as_str(), "leaf-cap-2"),
        ]
    );
    assert_eq!(v.agent_id, "grandchild-agent");
    assert_eq!(v.agent_name.as_deref(), Some("Leaf"));
    assert_eq!(v.agent_did, g.did);
    assert_eq!(v.issuer, c.did);
    assert_eq!(v.root_issuer, issuer.did());
    assert_eq!(v.chain[0].agent_id, "root-agent");
    assert_eq!(v.chain[1].exp, NOW + 10 + 1800);
    assert!(v.has_permission("payments:send"));
    assert!(!v.has_permission("catalog:read"));
}

#[test]
fn ancestors_times_apply_to_the_leaf() {
    let issuer = Issuer::generate().unwrap();
    // The root becomes valid later than its child claims to.
    let req = PassportRequest::new("r", ["a"])
        .with_not_before(NOW + 500)
        .with_expires_in_secs(3600);
    let r = issuer.issue_passport_at(&req, NOW).unwrap();
    let c = r
        .issue_sub_passport_at(
            &PassportRequest::new("c", ["a"]).with_expires_in_secs(3600),
            NOW,
        )
        .unwrap();
    let v = uncached(&issuer);
    let e = v.verify(&c.token, ms(NOW)).unwrap_err();
    assert_eq!(e.code(), "PASSPORT_NOT_YET_VALID");
    assert!(e.to_string().contains(&r.passport_id), "{e}");
    assert!(v.verify(&c.token, ms(NOW + 500 - LEEWAY)).is_ok());
}

#[test]
fn cache_returns_the_same_verification_and_rechecks_time() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = verifier(&issuer);
    let first = v.verify(&p.token, ms(NOW)).unwrap();
    let second = v.verify(&p.token, ms(NOW + 1)).unwrap();
    assert!(Arc::ptr_eq(&first, &second));
    assert_eq!(
        code(v.verify(&p.token, ms(NOW + 3600 + LEEWAY))),
        "PASSPORT_EXPIRED"
    );
    assert_eq!(
        code(v.verify(&p.token, ms(NOW - 3600))),
        "PASSPORT_NOT_YET_VALID"
    );
    // Still cached, still valid inside its window.
    assert!(Arc::ptr_eq(
        &first,
        &v.verify(&p.token, ms(NOW + 2)).unwrap()
    ));

    // A token first seen when already expired is refused, and refused again from the cache.
    let q = root(&issuer, &["a"], 10);
    assert_eq!(code(v.verify(&q.token, ms(NOW + 1000))), "PASSPORT_EXPIRED");
    assert_eq!(code(v.verify(&q.token, ms(NOW + 1000))), "PASSPORT_EXPIRED");

    // Without a cache, each call verifies afresh.
    let u = uncached(&issuer);
    let a = u.verify(&p.token, ms(NOW)).unwrap();
    let b = u.verify(&p.token, ms(NOW)).unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
    assert_eq!(a, b);

    // The cache is bounded.
    let opts = VerifierOptions {
        cache_size: 1,
        ..VerifierOptions::default()
    };
    let small = Verifier::new([issuer.did().to_string()], opts).unwrap();
    let x = small.verify(&p.token, ms(NOW)).unwrap();
    small.verify(&q.token, ms(NOW)).unwrap();
    assert!(!Arc::ptr_eq(&x, &small.verify(&p.token, ms(NOW)).unwrap()));
}

#[test]
fn verifier_is_shared_across_threads() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = Arc::new(verifier(&issuer));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (v, token) = (Arc::clone(&v), p.token.clone());
            std::thread::spawn(move || v.verify(&token, ms(NOW)).map(|x| x.passport_id.clone()))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap(), p.passport_id);
    }
}

#[test]
fn jose_interop_with_jsonwebtoken() {
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};

    let issuer = Issuer::generate().unwrap();
    let req = PassportRequest::new("agent-7", ["payments:send"]).with_expires_in_secs(3600);
    let p = issuer.issue_passport(&req).unwrap();

    let x = issuer.public_jwk()["x"].as_str().unwrap().to_string();
    let key = DecodingKey::from_ed_components(&x).unwrap();
    let validation = Validation::new(Algorithm::EdDSA);
    let data = decode::<Value>(&p.token, &key, &validation).unwrap();
    assert_eq!(data.claims["sub"], "agent-7");
    assert_eq!(data.claims["jti"], json!(p.passport_id));
    assert_eq!(data.claims["iss"], json!(issuer.did()));
    assert_eq!(data.claims["perms"], json!(["payments:send"]));
    assert_eq!(data.header.typ.as_deref(), Some("passport+jwt"));
    assert_eq!(data.header.kid.as_deref(), Some(issuer.did()));
    assert_eq!(decode_header(&p.token).unwrap().alg, Algorithm::EdDSA);

    // A sub-agent passport verifies under the parent agent's cnf key.
    let child = p
        .issue_sub_passport(
            &PassportRequest::new("sub", ["payments:send"]).with_expires_in_secs(60),
        )
        .unwrap();
    let cnf_x = data.claims["cnf"]["jwk"]["x"].as_str().unwrap().to_string();
    let child_data = decode::<Value>(
        &child.token,
        &DecodingKey::from_ed_components(&cnf_x).unwrap(),
        &validation,
    )
    .unwrap();
    assert_eq!(child_data.claims["prf"], json!(p.token));

    // And the other library refuses what we refuse: another key, a changed byte.
    let other = Issuer::generate().unwrap();
    let other_key =
        DecodingKey::from_ed_components(other.public_jwk()["x"].as_str().unwrap()).unwrap();
    assert!(decode::<Value>(&p.token, &other_key, &validation).is_err());
    let (input, sig) = p.token.rsplit_once('.').unwrap();
    let mut bytes = b64u_decode(sig).unwrap();
    bytes[0] ^= 0x80;
    let flipped = format!("{input}.{}", b64u_encode(&bytes));
    assert!(decode::<Value>(&flipped, &key, &validation).is_err());
}

/// The verifier's cache is looked up by a token's signature part: a token that carries a cached
/// token's signature under other claims (wider permissions, another agent) is not served from
/// the cache, and the genuine token still is.
#[test]
fn a_cached_signature_under_other_claims_is_not_a_hit() {
    let issuer = Issuer::generate().unwrap();
    let p = root(&issuer, &["a"], 3600);
    let v = verifier(&issuer);
    let first = v.verify(&p.token, ms(NOW)).unwrap();
    let sig = p.token.rsplit_once('.').unwrap().1;
    for forged in [
        resign(&p.token, issuer.key(), |c| {
            c.insert("perms".into(), json!(["*"]));
        }),
        resign(&p.token, issuer.key(), |c| {
            c.insert("sub".into(), json!("someone-else"));
        }),
    ] {
        // The claims of `forged` (signed properly), with the cached token's signature.
        let (signing_input, _) = forged.rsplit_once('.').unwrap();
        let spliced = format!("{signing_input}.{sig}");
        assert_eq!(code(v.verify(&spliced, ms(NOW))), "PASSPORT_SIGNATURE");
    }
    let again = v.verify(&p.token, ms(NOW)).unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "the genuine token is a cache hit"
    );
    assert_eq!(again.perms, vec!["a".to_string()]);
}
