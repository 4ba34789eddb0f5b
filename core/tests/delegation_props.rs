//! Property tests: delegation never widens, permission coverage is exactly inclusion of the sets
//! of concrete permissions the patterns match, and any changed character of a token is detected.

// Test helpers outside #[test] functions may unwrap too (clippy.toml covers only the tests).
#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;

use passgate::__private::keys::{b64u_encode, KeyPair};
use passgate::passport::{
    perm_covers, perm_matches, Issuer, PassportRequest, Verifier, VerifierOptions,
};
use proptest::prelude::*;
use serde_json::json;

const NOW: i64 = 1_700_000_000;

/// Patterns use the segments a, b, c and `*`, at most three segments long.
fn pattern() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "*"]), 1..=3)
        .prop_map(|s| s.join(":"))
}

/// Every concrete permission of up to four segments over a, b, c and d — `d` appears in no
/// pattern, so it stands for "any other segment". Four segments are enough to tell apart
/// patterns of at most three.
fn concretes() -> &'static [String] {
    static ALL: OnceLock<Vec<String>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut all: Vec<Vec<&str>> = vec![vec![]];
        let mut out = Vec::new();
        for _ in 0..4 {
            all = all
                .into_iter()
                .flat_map(|p| {
                    ["a", "b", "c", "d"].map(|s| {
                        let mut q = p.clone();
                        q.push(s);
                        q
                    })
                })
                .collect();
            out.extend(all.iter().map(|p| p.join(":")));
        }
        out
    })
}

fn matched_by_any(patterns: &[String], concrete: &str) -> bool {
    patterns.iter().any(|p| perm_matches(p, concrete))
}

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| Issuer::generate().unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `perm_covers(p, c)` holds exactly when every concrete permission `c` matches, `p` matches.
    #[test]
    fn coverage_is_inclusion(parent in pattern(), child in pattern()) {
        let witness = concretes()
            .iter()
            .find(|x| perm_matches(&child, x) && !perm_matches(&parent, x));
        prop_assert_eq!(perm_covers(&parent, &child), witness.is_none(), "witness {:?}", witness);
    }

    /// Whenever delegation succeeds, the child matches nothing its parent does not; verification of
    /// the child succeeds exactly when issuance did (a child built by hand past a refused
    /// issuance is refused at verification with the same code).
    #[test]
    fn delegation_never_widens(
        parent_perms in prop::collection::vec(pattern(), 1..=2),
        child_perms in prop::collection::vec(pattern(), 0..=2),
        parent_secs in 1i64..1000,
        child_secs in 1i64..1000,
    ) {
        let issuer = issuer();
        let verifier = Verifier::new([issuer.did().to_string()], VerifierOptions::default()).unwrap();
        let root_req = PassportRequest::new("root", parent_perms.clone()).with_expires_in_secs(parent_secs);
        let root = issuer.issue_passport_at(&root_req, NOW).unwrap();
        let child_req = PassportRequest::new("child", child_perms.clone()).with_expires_in_secs(child_secs);
        let issued = root.issue_sub_passport_at(&child_req, NOW);

        let token = match &issued {
            Ok(child) => {
                for x in concretes() {
                    if matched_by_any(&child_perms, x) {
                        prop_assert!(matched_by_any(&parent_perms, x), "{} widens {:?}", x, parent_perms);
                    }
                }
                child.token.clone()
            }
            Err(e) => {
                prop_assert_eq!(e.code(), "DELEGATION_WIDENS");
                // The same child, signed by the parent's agent key without asking the issuer.
                let signer = KeyPair::from_secret(&root.private_key).unwrap();
                let agent = KeyPair::generate().unwrap();
                let claims = json!({
                    "iss": signer.did(), "sub": "child", "jti": "psp_abcdefghijklmnopqrstuvwxyz",
                    "iat": NOW, "nbf": NOW, "exp": NOW + child_secs, "perms": child_perms,
                    "cnf": {"jwk": agent.public_jwk()}, "prf": root.token,
                });
                let header = json!({"alg": "EdDSA", "typ": "passport+jwt", "kid": signer.did()});
                let input = format!(
                    "{}.{}",
                    b64u_encode(header.to_string().as_bytes()),
                    b64u_encode(claims.to_string().as_bytes())
                );
                format!("{input}.{}", b64u_encode(&signer.sign(input.as_bytes())))
            }
        };
        let verified = verifier.verify(&token, NOW * 1000);
        prop_assert_eq!(verified.is_ok(), issued.is_ok(), "{:?}", verified.err());
        if let Err(e) = verified {
            prop_assert_eq!(e.code(), "DELEGATION_WIDENS");
        }
    }

    /// Replacing any one character of a valid (root or delegated) token by another base64url
    /// character or a dot makes it fail verification.
    #[test]
    fn tampering_is_always_detected(at in any::<prop::sample::Index>(), with in 0usize..65, delegated in any::<bool>()) {
        const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
        let issuer = issuer();
        let verifier = Verifier::new([issuer.did().to_string()], VerifierOptions::default()).unwrap();
        let root = issuer
            .issue_passport_at(&PassportRequest::new("root", ["a:*"]).with_expires_in_secs(600), NOW)
            .unwrap();
        let token = if delegated {
            let req = PassportRequest::new("child", ["a:b"]).with_expires_in_secs(60);
            root.issue_sub_passport_at(&req, NOW).unwrap().token
        } else {
            root.token
        };
        prop_assert!(verifier.verify(&token, NOW * 1000).is_ok());
        let mut bytes = token.into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != CHARS[with]);
        bytes[i] = CHARS[with];
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(verifier.verify(&tampered, NOW * 1000).is_err());
    }
}
