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

#[cfg(test)]
impl KeyPair {
    /// The signature of `msg` with the nonce `r` whose point is encoded `r_point` (any 32 bytes):
    /// S = r + H(r_point, A, msg)·a. With `r_point` the encoding of r·B it is an honest
    /// signature; with the identity and r = 0 it satisfies the verification equation exactly
    /// and `verify_strict` refuses it (R of small order). Only this key's holder can make
    /// either. For tests of what refuses what.
    pub(crate) fn sign_with_nonce(
        &self,
        r_point: &[u8; 32],
        r: curve25519_dalek::scalar::Scalar,
        msg: &[u8],
    ) -> [u8; 64] {
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};
        let mut h = Sha512::new();
        h.update(r_point);
        h.update(self.public_bytes());
        h.update(msg);
        let h = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        join_signature(r_point, &(r + h * self.signing.to_scalar()))
    }

    /// [`KeyPair::sign_with_nonce`] with R the identity and r = 0: S = H·a.
    pub(crate) fn sign_with_identity_r(&self, msg: &[u8]) -> [u8; 64] {
        use curve25519_dalek::edwards::EdwardsPoint;
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::Identity;
        let identity = EdwardsPoint::identity().compress().to_bytes();
        self.sign_with_nonce(&identity, Scalar::ZERO, msg)
    }
}

/// The 64 bytes of a signature: R's encoding, then S.
#[cfg(test)]
pub(crate) fn join_signature(r: &[u8; 32], s: &curve25519_dalek::scalar::Scalar) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(r);
    out[32..].copy_from_slice(s.as_bytes());
    out
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

    /// Checks many signatures by this key at once: `true` when every `sigs[i]` is a valid
    /// signature of `msgs[i]`; `false` names no signature (check them one by one with
    /// [`PublicKey::verify_strict`] to learn which, and why). Made for long runs of signatures by
    /// one key, such as a chain's records.
    ///
    /// ed25519-dalek's `verify_batch` checks one random linear combination of all the
    /// verification equations with one multi-scalar multiplication: ≈ 3× fewer cycles per
    /// signature than `verify_strict` each, for batches of a few hundred. Before it, each
    /// signature gets the checks `verify_strict` makes and a batch does not: `R` a canonical
    /// encoding of a point that is not of small order, and the key not of small order (the batch
    /// refuses a non-canonical `S` itself).
    ///
    /// **Relation to `verify_strict`**, pinned on the public vectors (tests/ed25519_vectors.rs):
    /// they differ only where the key or an `R` has a small-order component, which no honest
    /// key or signature has (passgate's keys and `R`s are multiples of the base point).
    /// - A signature made without the secret key fails the batch (except with probability
    ///   ≈ 2⁻¹²⁸), as it fails `verify_strict`.
    /// - Under a key with a small-order component, a batch may refuse signatures
    ///   `verify_strict` accepts (the batch multiplies by scalars reduced mod l, which loses the
    ///   small-order part). Under any other key, what `verify_strict` accepts, a batch accepts.
    /// - A batch may accept a signature whose equation is off by a point of small order, which
    ///   `verify_strict` refuses (the batch's random multiple can cancel it, as cofactored
    ///   verification does). Only the holder of the secret key can make the rest of the equation
    ///   hold, so accepting it says nothing false about who signed.
    pub fn verify_batch(&self, msgs: &[&[u8]], sigs: &[[u8; 64]]) -> bool {
        if msgs.len() != sigs.len() || self.key.is_weak() {
            return false;
        }
        let mut parsed = Vec::with_capacity(sigs.len());
        for sig in sigs {
            let signature = Signature::from_bytes(sig);
            let r = signature.r_bytes();
            // (That `R` is a point at all, the batch checks when it decompresses it.)
            if !canonical_y(r) || small_order_y(r) {
                return false;
            }
            parsed.push(signature);
        }
        let keys = vec![self.key; sigs.len()];
        ed25519_dalek::verify_batch(msgs, &parsed, &keys).is_ok()
    }
}

/// The y-coordinates of the eight points of small order (the torsion subgroup of Ed25519 has
/// eight elements: 1 of order 1, y = 1; 1 of order 2, y = p − 1; 2 of order 4, y = 0; 4 of order
/// 8, two for each y here), little-endian, as libsodium's blacklist lists them. The unit tests
/// check each against curve25519-dalek's `is_small_order`, and random points too.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// Whether the canonical point encoding `b` is of a point of small order: its y-coordinate (the
/// sign bit of x aside) is one of [`SMALL_ORDER_Y`]. Saves decompressing `R` twice (the batch
/// decompresses it), ≈ 3.5 µs a signature.
fn small_order_y(b: &[u8; 32]) -> bool {
    let mut y = *b;
    if let Some(last) = y.last_mut() {
        *last &= 0x7f;
    }
    SMALL_ORDER_Y.contains(&y)
}

/// Whether the point encoding `b` writes its y-coordinate canonically: y < p = 2²⁵⁵ − 19 (the top
/// bit is x's sign and not part of y). The encodings of y ≥ p are exactly those whose first byte
/// is 0xed or more, the next thirty 0xff and the last 0x7f or 0xff. (The other non-canonical
/// encodings, x = 0 with the sign bit set, are of y = ±1: points of small order.)
fn canonical_y(b: &[u8; 32]) -> bool {
    let [first, middle @ .., last] = b;
    !(*first >= 0xed && middle.iter().all(|&x| x == 0xff) && last & 0x7f == 0x7f)
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

    /// `y < p` as a comparison of the two numbers, most significant byte first.
    fn below_p(b: &[u8; 32]) -> bool {
        let mut y = *b;
        y[31] &= 0x7f;
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        y.iter().rev().lt(p.iter().rev())
    }

    #[test]
    fn canonical_y_is_y_below_p() {
        let mut cases: Vec<[u8; 32]> = Vec::new();
        for first in [0x00u8, 0x01, 0xec, 0xed, 0xee, 0xfe, 0xff] {
            for middle in [0x00u8, 0xfe, 0xff] {
                for last in [0x00u8, 0x7e, 0x7f, 0x80, 0xfe, 0xff] {
                    let mut b = [middle; 32];
                    b[0] = first;
                    b[31] = last;
                    cases.push(b);
                    // one middle byte off the run of 0xff
                    b[15] = 0xfe;
                    cases.push(b);
                }
            }
        }
        for _ in 0..2000 {
            let mut b = [0u8; 32];
            getrandom::fill(&mut b).unwrap();
            cases.push(b);
        }
        for b in cases {
            assert_eq!(canonical_y(&b), below_p(&b), "{}", hex::encode(b));
        }
    }

    #[test]
    fn small_order_y_is_small_order() {
        use curve25519_dalek::edwards::CompressedEdwardsY;
        let mut points = std::collections::HashSet::new();
        for y in SMALL_ORDER_Y {
            for sign in [0u8, 0x80] {
                let mut b = y;
                b[31] |= sign;
                let point = CompressedEdwardsY(b).decompress().unwrap();
                assert!(point.is_small_order(), "{}", hex::encode(b));
                assert!(small_order_y(&b));
                points.insert(point.compress().to_bytes());
            }
        }
        // all eight points of small order (y = ±1 have x = 0: one point each)
        assert_eq!(points.len(), 8);
        // and no other point: random encodings that are points, and signatures' R
        let key = KeyPair::generate().unwrap();
        let mut tried = 0;
        for n in 0..4000u32 {
            let mut b = [0u8; 32];
            if n % 2 == 0 {
                getrandom::fill(&mut b).unwrap();
            } else {
                b.copy_from_slice(&key.sign(&n.to_le_bytes())[..32]);
            }
            if let Some(point) = CompressedEdwardsY(b).decompress() {
                tried += 1;
                assert_eq!(small_order_y(&b), point.is_small_order());
                assert!(!small_order_y(&b));
            }
        }
        assert!(tried > 2000);
    }

    /// What `verify_batch` must refuse is what `verify_strict` refuses, signature by signature:
    /// a bad signature anywhere in the batch, `R` of small order or encoded non-canonically, a
    /// non-canonical `S`, a small-order key; and it accepts what `verify_strict` accepts.
    #[test]
    fn verify_batch_refuses_what_verify_strict_refuses() {
        let key = KeyPair::generate().unwrap();
        let public = PublicKey::from_did(key.did()).unwrap();
        let msgs: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; usize::from(i) + 1]).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let good: Vec<[u8; 64]> = msgs.iter().map(|m| key.sign(m)).collect();
        assert!(public.verify_batch(&refs, &good));
        assert!(public.verify_batch(&[], &[]));
        assert!(!public.verify_batch(&refs[1..], &good));
        let refused = |i: usize, sig: [u8; 64]| {
            let mut sigs = good.clone();
            sigs[i] = sig;
            assert!(public.verify_strict(refs[i], &sig).is_err());
            assert!(!public.verify_batch(&refs, &sigs), "{}", hex::encode(sig));
        };
        // another message's signature, and another key's
        refused(3, good[4]);
        refused(39, KeyPair::generate().unwrap().sign(refs[39]));
        // one bit of S or R flipped
        let mut s = good[7];
        s[40] ^= 1;
        refused(7, s);
        let mut r = good[8];
        r[5] ^= 1;
        refused(8, r);
        // S + l: the same scalar, not reduced (l = 2^252 + 27742317777372353535851937790883648493)
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut unreduced = good[9];
        let mut carry = 0u16;
        for (k, byte) in unreduced[32..].iter_mut().enumerate() {
            let sum = u16::from(*byte) + u16::from(l[k]) + carry;
            *byte = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        refused(9, unreduced);
        // R replaced by `fill` bytes with the first and last set: the identity (small order),
        // y = p + 1 (≡ 1: non-canonical), and y = p - 1 (order 2) with the sign bit set.
        let with_r = |sig: [u8; 64], fill: u8, first: u8, last: u8| {
            let mut sig = sig;
            sig[..32].fill(fill);
            sig[0] = first;
            sig[31] = last;
            sig
        };
        refused(10, with_r(good[10], 0, 1, 0));
        refused(11, with_r(good[11], 0xff, 0xee, 0x7f));
        refused(12, with_r(good[12], 0xff, 0xec, 0xff));
        // a small-order key: the identity as the public key, whatever the signatures
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let weak = PublicKey::from_bytes(&identity).unwrap();
        assert!(!weak.verify_batch(&refs, &good));
    }

    /// Signatures only a key's holder can build, that satisfy the batch equation and that
    /// `verify_strict` refuses: the pre-checks are what refuses them.
    #[test]
    fn verify_batch_refuses_the_key_holders_small_order_tricks() {
        use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
        use curve25519_dalek::edwards::EdwardsPoint;
        use curve25519_dalek::scalar::Scalar;
        use curve25519_dalek::traits::Identity;
        let key = KeyPair::generate().unwrap();
        let public = PublicKey::from_did(key.did()).unwrap();
        let msgs: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 9]).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        let mut sigs: Vec<[u8; 64]> = msgs.iter().map(|m| key.sign(m)).collect();
        // R = the identity, S = H(R, A, M)·a: S·B = R + H·A holds exactly.
        sigs[5] = key.sign_with_identity_r(refs[5]);
        assert!(public.verify_strict(refs[5], &sigs[5]).is_err());
        assert!(!public.verify_batch(&refs, &sigs));
        // The identity as the public key: R = r·B, S = r verifies under it for every message.
        let weak = PublicKey::from_bytes(&EdwardsPoint::identity().compress().to_bytes()).unwrap();
        let forged: Vec<[u8; 64]> = (0..refs.len())
            .map(|i| {
                let r = Scalar::from(u64::try_from(i).unwrap() + 7);
                join_signature(&(r * B).compress().to_bytes(), &r)
            })
            .collect();
        assert!(weak.verify_strict(refs[0], &forged[0]).is_err());
        assert!(!weak.verify_batch(&refs, &forged));
        // The same construction with a real key and R = r·B, S = r + H·a is an honest
        // signature, and passes both ways (the constructions above are what fails).
        let r = Scalar::from(12_345u64);
        sigs[5] = key.sign_with_nonce(&(r * B).compress().to_bytes(), r, refs[5]);
        assert!(public.verify_strict(refs[5], &sigs[5]).is_ok());
        assert!(public.verify_batch(&refs, &sigs));
    }

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
