//! Ed25519 keys and their names: key pairs, `did:key` identifiers, RFC 8037 JWKs, strict
//! signature verification, and the base64url encoding every passgate token uses.
//!
//! Verification is always *strict* (ed25519-dalek's `verify_strict`): small-order public keys and
//! `R` points, and non-canonical encodings of `R` or `S`, are refused. The vectors in
//! `tests/vectors/ed25519` pin this behaviour down.
//!
//! ```
//! use passgate::__private::keys::{KeyPair, PublicKey};
//! let key = KeyPair::generate().unwrap();
//! let sig = key.sign(b"hello");
//! let public = PublicKey::from_did(key.did()).unwrap();
//! assert!(public.verify_strict(b"hello", &sig).is_ok());
//! assert!(public.verify_strict(b"hullo", &sig).is_err());
//! ```

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The `did:key` prefix of an Ed25519 key: the method, then `z` (multibase base58btc).
const DID_KEY_PREFIX: &str = "did:key:z";
/// The multicodec prefix of an Ed25519 public key (`ed25519-pub`, 0xed as an unsigned varint).
const MULTICODEC_ED25519_PUB: [u8; 2] = [0xed, 0x01];
/// Longest base58 text we try to decode in a did:key (a valid one has 48 characters). Bounds the
/// quadratic base58 decoder on hostile input.
const MAX_DID_BASE58_CHARS: usize = 64;

/// An Ed25519 key pair: an issuer's signing key, or an agent's own key.
///
/// The secret is the 32-byte seed; [`KeyPair::secret`] exports it as base64url (no padding).
/// The seed is zeroized when the key pair is dropped, and `Debug` shows only the `did:key`.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
    did: String,
}

impl KeyPair {
    /// A fresh key pair from the operating system's random source.
    pub fn generate() -> Result<KeyPair> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)
            .map_err(|e| Error::Internal(format!("no randomness for a new key: {e}")))?;
        Ok(KeyPair::from_seed(&seed))
    }

    /// The key pair whose secret is `secret`: the base64url (no padding) encoding of a 32-byte
    /// seed, as returned by [`KeyPair::secret`].
    pub fn from_secret(secret: &str) -> Result<KeyPair> {
        // The messages never repeat any part of the secret.
        let bytes = b64u_decode(secret.trim()).map_err(|_| {
            Error::KeyInvalid(
                "secret is not base64url without padding (expected the 43-character encoding \
                 of a 32-byte Ed25519 seed)"
                    .to_string(),
            )
        })?;
        let seed: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            Error::KeyInvalid(format!(
                "secret decodes to {} bytes, expected a 32-byte Ed25519 seed",
                bytes.len()
            ))
        })?;
        Ok(KeyPair::from_seed(&seed))
    }

    fn from_seed(seed: &[u8; 32]) -> KeyPair {
        let signing = SigningKey::from_bytes(seed);
        let did = did_from_public(signing.verifying_key().as_bytes());
        KeyPair { signing, did }
    }

    /// The secret: base64url (no padding) of the 32-byte seed. Treat it like a password.
    pub fn secret(&self) -> String {
        b64u_encode(self.signing.as_bytes())
    }

    /// The public key as a `did:key` (`did:key:z6Mk…`).
    pub fn did(&self) -> &str {
        &self.did
    }

    /// The raw 32-byte public key.
    pub fn public_bytes(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The public key as an RFC 8037 JWK: `{"kty":"OKP","crv":"Ed25519","x":"…"}`.
    pub fn public_jwk(&self) -> Value {
        public_jwk(&self.public_bytes())
    }

    /// The Ed25519 signature of `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

/// The `did:key` of an Ed25519 public key: `did:key:z` + base58btc(0xed 0x01 ‖ key).
pub fn did_from_public(pk: &[u8; 32]) -> String {
    let mut bytes = Vec::with_capacity(34);
    bytes.extend_from_slice(&MULTICODEC_ED25519_PUB);
    bytes.extend_from_slice(pk);
    format!("{DID_KEY_PREFIX}{}", bs58::encode(bytes).into_string())
}

/// The raw public key named by a `did:key`. Strict: the `did:key:z` prefix, the Ed25519
/// multicodec and a 32-byte key are all required; anything else is `KEY_INVALID`.
pub fn public_from_did(did: &str) -> Result<[u8; 32]> {
    let invalid =
        |why: &str| Error::KeyInvalid(format!("`{did:.80}` is not an Ed25519 did:key: {why}"));
    let b58 = did
        .strip_prefix(DID_KEY_PREFIX)
        .ok_or_else(|| invalid("it must start with \"did:key:z\""))?;
    if b58.len() > MAX_DID_BASE58_CHARS {
        return Err(invalid("too long"));
    }
    let bytes = bs58::decode(b58)
        .into_vec()
        .map_err(|_| invalid("not base58btc"))?;
    let key = bytes
        .strip_prefix(&MULTICODEC_ED25519_PUB)
        .ok_or_else(|| invalid("not the ed25519-pub multicodec (0xed 0x01)"))?;
    key.try_into()
        .map_err(|_| invalid(&format!("the key has {} bytes, expected 32", key.len())))
}

/// The RFC 8037 JWK of a raw Ed25519 public key.
pub(crate) fn public_jwk(pk: &[u8; 32]) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "x": b64u_encode(pk)})
}

/// The raw public key of an RFC 8037 JWK. Only `kty: "OKP"`, `crv: "Ed25519"` with a 32-byte `x`
/// is accepted; a JWK carrying a private key (`d`) is refused. Other members are ignored.
pub fn jwk_to_public(jwk: &Value) -> Result<[u8; 32]> {
    let obj = jwk
        .as_object()
        .ok_or_else(|| Error::KeyInvalid("a JWK must be a JSON object".to_string()))?;
    let member = |name: &str| obj.get(name).and_then(Value::as_str);
    if member("kty") != Some("OKP") {
        return Err(Error::KeyInvalid("JWK \"kty\" must be \"OKP\"".to_string()));
    }
    if member("crv") != Some("Ed25519") {
        return Err(Error::KeyInvalid(
            "JWK \"crv\" must be \"Ed25519\"".to_string(),
        ));
    }
    if obj.contains_key("d") {
        return Err(Error::KeyInvalid(
            "a public JWK must not carry the private key \"d\"".to_string(),
        ));
    }
    let x = member("x").ok_or_else(|| Error::KeyInvalid("JWK \"x\" missing".to_string()))?;
    let bytes = b64u_decode(x)
        .map_err(|e| Error::KeyInvalid(format!("JWK \"x\" is not base64url: {e}")))?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| Error::KeyInvalid(format!("JWK \"x\" has {} bytes, expected 32", bytes.len())))
}

/// A parsed Ed25519 public key, ready to verify many signatures (parsing costs about as much as
/// a signature: parse once, keep it).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

impl PublicKey {
    /// Parses a raw 32-byte public key; `KEY_INVALID` if it is not a point on the curve.
    pub fn from_bytes(pk: &[u8; 32]) -> Result<PublicKey> {
        VerifyingKey::from_bytes(pk)
            .map(|key| PublicKey { key })
            .map_err(|_| {
                Error::KeyInvalid("not an Ed25519 public key (not a curve point)".to_string())
            })
    }

    /// Parses the key named by a `did:key` (see [`public_from_did`]).
    pub fn from_did(did: &str) -> Result<PublicKey> {
        PublicKey::from_bytes(&public_from_did(did)?)
    }

    /// The raw 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The `did:key` of this key.
    pub fn did(&self) -> String {
        did_from_public(self.key.as_bytes())
    }

    /// Checks `sig` over `msg` with strict Ed25519 verification: a signature that is not 64 bytes,
    /// a small-order key or `R`, a non-canonical `R` or `S`, or a mismatch is an error (its text
    /// says which, where it can).
    pub fn verify_strict(&self, msg: &[u8], sig: &[u8]) -> Result<(), String> {
        let sig = Signature::from_slice(sig)
            .map_err(|_| format!("a signature has 64 bytes, found {}", sig.len()))?;
        self.key
            .verify_strict(msg, &sig)
            .map_err(|_| "signature does not verify".to_string())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PublicKey").field(&self.did()).finish()
    }
}

/// Strict verification of `sig` over `msg` under the raw public key `pk` (see
/// [`PublicKey::verify_strict`]). Prefer a kept [`PublicKey`] when verifying many signatures.
pub fn verify_strict(pk: &[u8; 32], msg: &[u8], sig: &[u8]) -> Result<(), String> {
    PublicKey::from_bytes(pk)
        .map_err(|e| e.to_string())?
        .verify_strict(msg, sig)
}

/// Base64url without padding (RFC 4648 §5, as JOSE uses it).
pub fn b64u_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding, strictly: padding, characters outside the URL-safe
/// alphabet and non-zero trailing bits are refused, so every byte string has one encoding.
pub fn b64u_decode(text: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_round_trips_and_did_is_stable() {
        let k = KeyPair::generate().unwrap();
        let again = KeyPair::from_secret(&k.secret()).unwrap();
        assert_eq!(k.did(), again.did());
        assert!(k.did().starts_with("did:key:z6Mk"));
        assert_eq!(public_from_did(k.did()).unwrap(), k.public_bytes());
        assert_eq!(jwk_to_public(&k.public_jwk()).unwrap(), k.public_bytes());
    }

    #[test]
    fn rfc8037_example_key() {
        // RFC 8037 appendix A.1 / A.2: the seed and its public key.
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let k = KeyPair::from_secret(&b64u_encode(&seed)).unwrap();
        assert_eq!(
            k.public_jwk(),
            json!({"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})
        );
    }

    #[test]
    fn bad_secrets_are_key_invalid_without_echoing_the_secret() {
        for s in [
            "",
            "abc",
            "AAAA====",
            &"A".repeat(44),
            "not base64 at all!!",
        ] {
            let e = KeyPair::from_secret(s).unwrap_err();
            assert_eq!(e.code(), "KEY_INVALID", "{s:?}");
            if s.len() > 3 {
                assert!(!e.to_string().contains(s));
            }
        }
    }

    #[test]
    fn debug_does_not_leak_the_secret() {
        let k = KeyPair::generate().unwrap();
        let shown = format!("{k:?}");
        assert!(shown.contains(k.did()));
        assert!(!shown.contains(&k.secret()));
    }

    #[test]
    fn did_decoding_is_strict() {
        let k = KeyPair::generate().unwrap();
        let did = k.did();
        let body = did.strip_prefix("did:key:z").unwrap();
        for bad in [
            String::new(),
            format!("did:key:{body}"),
            format!("did:web:z{body}"),
            format!("{did}1"),
            did[..did.len() - 1].to_string(),
            format!("did:key:z{}", "1".repeat(5000)),
            // secp256k1-pub multicodec
            format!(
                "did:key:z{}",
                bs58::encode([&[0xe7, 0x01][..], &[2u8; 33][..]].concat()).into_string()
            ),
        ] {
            assert_eq!(
                public_from_did(&bad).unwrap_err().code(),
                "KEY_INVALID",
                "{bad}"
            );
        }
    }

    #[test]
    fn jwk_checks() {
        let k = KeyPair::generate().unwrap();
        let x = k.public_jwk()["x"].clone();
        for bad in [
            json!("x"),
            json!({"kty":"EC","crv":"Ed25519","x":x}),
            json!({"kty":"OKP","crv":"X25519","x":x}),
            json!({"kty":"OKP","crv":"Ed25519"}),
            json!({"kty":"OKP","crv":"Ed25519","x":"AAAA"}),
            json!({"kty":"OKP","crv":"Ed25519","x":x,"d":k.secret()}),
        ] {
            assert_eq!(
                jwk_to_public(&bad).unwrap_err().code(),
                "KEY_INVALID",
                "{bad}"
            );
        }
    }

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64u_encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(b64u_decode("-_8").unwrap(), vec![0xfb, 0xff]);
        assert!(b64u_decode("-_8=").is_err()); // padding
        assert!(b64u_decode("+/8").is_err()); // standard alphabet
        assert!(b64u_decode("-_9").is_err()); // non-zero trailing bits
        assert!(b64u_decode("A").is_err()); // impossible length
    }

    #[test]
    fn wrong_signature_length_is_an_error() {
        let k = KeyPair::generate().unwrap();
        let sig = k.sign(b"m");
        let pk = k.public_bytes();
        assert!(verify_strict(&pk, b"m", &sig).is_ok());
        assert!(verify_strict(&pk, b"m", &sig[..63]).is_err());
        assert!(verify_strict(&pk, b"m", &[sig.as_slice(), &[0]].concat()).is_err());
    }
}
