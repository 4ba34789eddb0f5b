//! API keys on the shared stores: a revocation on one engine holds on every engine sharing the
//! store, and the store's copy never holds the secret.

use passgate::apikey::Scope;
use passgate::Engine;

use crate::support::RedisServer;

fn engine(url: &str) -> Engine {
    Engine::builder()
        .policy_value(serde_json::json!({"version": 1, "gates": {}}))
        .store_url(url)
        .build()
        .unwrap()
}

/// Creates a key on one engine, uses it on another, revokes it on the first: the second refuses
/// it at once. Returns the secret.
/// A secret's random part: what follows `pgk_`, the 12-character id and `_`. Not the text after
/// its last `_`: base64url has `_` among its digits, and a few characters of the random part
/// would turn up in a store's binary dump by chance.
fn random_part(secret: &str) -> &str {
    let random = secret.get("pgk_".len() + 12 + 1..).unwrap();
    assert_eq!(random.len(), 43, "{secret}");
    random
}

fn revoke_holds_across_engines(url: &str) -> String {
    let a = engine(url);
    let b = engine(url);
    let k = a
        .create_api_key("shared", &[Scope::Decide, Scope::Approve], Some(3_600_000))
        .unwrap();
    let p = b.authenticate_api_key(&k.secret).unwrap();
    assert_eq!(
        (p.id.as_str(), p.name.as_str()),
        (k.key.id.as_str(), "shared")
    );
    assert_eq!(p.scopes, vec![Scope::Decide, Scope::Approve]);
    let listed = b.list_api_keys().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].expires_at, k.key.expires_at);
    assert!(listed[0].last_used_at.is_some(), "the use was recorded");
    let revoked = a.revoke_api_key(&k.key.id).unwrap();
    let e = b.authenticate_api_key(&k.secret).unwrap_err();
    assert_eq!(e.code(), "UNAUTHENTICATED");
    // Idempotent from the other engine too: the first revocation's time stays.
    assert_eq!(
        b.revoke_api_key(&k.key.id).unwrap().revoked_at,
        revoked.revoked_at
    );
    // A use recorded after the revocation (a race) does not clear it.
    b.store().api_key_touch(&k.key.id, i64::MAX / 2).unwrap();
    assert_eq!(
        b.authenticate_api_key(&k.secret).unwrap_err().code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        a.revoke_api_key("aaaaaaaaaaaa").unwrap_err().code(),
        "API_KEY_UNKNOWN"
    );
    k.secret
}

#[test]
fn sqlite_revocation_holds_across_engines_and_the_file_holds_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.db");
    let url = format!("sqlite://{}", path.display());
    let secret = revoke_holds_across_engines(&url);
    let random = random_part(&secret);
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(random), "the secret is stored");
    }
}

#[test]
fn redis_revocation_holds_across_engines_and_no_key_holds_the_secret() {
    let server = RedisServer::start();
    let secret = revoke_holds_across_engines(&server.url("k"));
    let random = random_part(&secret);
    let keys: Vec<String> = server.query(&["KEYS", "*"]);
    assert!(keys.iter().any(|k| k == "{k}:k"), "{keys:?}");
    for k in keys {
        let dump = format!("{:?}", server.cmd(&["DUMP", &k]));
        let kind: String = server.query(&["TYPE", &k]);
        let readable = match kind.as_str() {
            "hash" => format!("{:?}", server.cmd(&["HGETALL", &k])),
            "string" => format!("{:?}", server.cmd(&["GET", &k])),
            "set" => format!("{:?}", server.cmd(&["SMEMBERS", &k])),
            "zset" => format!("{:?}", server.cmd(&["ZRANGE", &k, "0", "-1"])),
            _ => String::new(),
        };
        assert!(!readable.contains(random) && !dump.contains(random), "{k}");
    }
}
