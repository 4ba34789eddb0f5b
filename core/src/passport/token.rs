//! The wire format of a passport: encoding a compact JWS, and splitting a token and checking its
//! form — header, claim names and types — before any signature is verified.

use serde_json::{json, Value};

use super::{validate_permission, ALGORITHM, PASSPORT_ID_PREFIX, TOKEN_TYPE};
use crate::error::{Error, Result};
use crate::json::{self, Context, Limits};
use crate::keys::{b64u_decode, b64u_encode, jwk_to_public, public_from_did, KeyPair};

/// Random base32 characters after [`PASSPORT_ID_PREFIX`].
const PASSPORT_ID_CHARS: usize = 26;
/// The latest accepted time claim, 9999-12-31T23:59:59Z: keeps all time arithmetic far from
/// overflow.
pub(super) const MAX_TIME: i64 = 253_402_300_799;
/// Every claim a passport may carry.
const CLAIMS: [&str; 12] = [
    "iss", "sub", "name", "jti", "iat", "nbf", "exp", "perms", "cnf", "caveats", "prf", "pins",
];

/// A caveat is a constraint document: a JSON object with a string `type`. The engine validates
/// the rest against the constraint's schema.
pub(super) fn check_caveat(c: &Value) -> Result<(), String> {
    if !c.is_object() {
        return Err(format!(
            "a caveat must be an object, found {}",
            json::type_name(c)
        ));
    }
    match c.get("type") {
        Some(Value::String(t)) if !t.is_empty() => Ok(()),
        _ => Err("a caveat needs a non-empty string \"type\"".to_string()),
    }
}

/// The compact JWS of `claims` signed by `signer`.
pub(super) fn encode_token(signer: &KeyPair, claims: &Value) -> String {
    let header = json!({"alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": signer.did()});
    let signing_input = format!(
        "{}.{}",
        b64u_encode(header.to_string().as_bytes()),
        b64u_encode(claims.to_string().as_bytes())
    );
    let sig = signer.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", b64u_encode(&sig))
}

/// `psp_` + 26 random characters of lowercase base32.
pub(super) fn new_passport_id() -> Result<String> {
    let mut random = [0u8; PASSPORT_ID_CHARS];
    getrandom::fill(&mut random)
        .map_err(|e| Error::Internal(format!("no randomness for a passport id: {e}")))?;
    let mut id = String::with_capacity(PASSPORT_ID_PREFIX.len() + PASSPORT_ID_CHARS);
    id.push_str(PASSPORT_ID_PREFIX);
    for b in random {
        // 256 is a multiple of 32, so the low five bits are uniform.
        let v = b & 31;
        id.push(char::from(if v < 26 { b'a' + v } else { b'2' + (v - 26) }));
    }
    Ok(id)
}

/// Whether `s` has the form of the id of a root passport (`psp_…`) or of a delegated one
/// (`psd_…`): what revocation names.
pub(crate) fn is_any_passport_id(s: &str) -> bool {
    is_passport_id(s)
        || s.strip_prefix(super::DELEGATED_ID_PREFIX)
            .and_then(|r| r.strip_prefix('_'))
            .is_some_and(|rest| {
                rest.len() == PASSPORT_ID_CHARS
                    && rest
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
            })
}

/// Whether `s` has the form of a passport id.
fn is_passport_id(s: &str) -> bool {
    s.strip_prefix(PASSPORT_ID_PREFIX).is_some_and(|rest| {
        rest.len() == PASSPORT_ID_CHARS
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    })
}

/// `LIMIT_EXCEEDED` for a token over [`Limits::TOKEN_BYTES`], checked before anything is decoded.
pub(super) fn check_token_size(token: &str) -> Result<()> {
    if token.len() > Limits::TOKEN_BYTES {
        return Err(Error::LimitExceeded(format!(
            "passport token of {} bytes exceeds {} bytes",
            token.len(),
            Limits::TOKEN_BYTES
        )));
    }
    Ok(())
}

/// One token split and checked for form, its signature not yet verified.
pub(super) struct Token<'a> {
    /// `header.claims`: the bytes the signature covers.
    pub(super) signing_input: &'a str,
    pub(super) signature: Vec<u8>,
    pub(super) claims: Claims,
}

/// The typed claims of one token.
#[derive(Debug, Clone)]
pub(super) struct Claims {
    pub(super) iss: String,
    pub(super) sub: String,
    pub(super) name: Option<String>,
    pub(super) jti: String,
    pub(super) iat: i64,
    pub(super) nbf: i64,
    pub(super) exp: i64,
    pub(super) perms: Vec<String>,
    pub(super) agent_key: [u8; 32],
    pub(super) caveats: Vec<Value>,
    pub(super) pins: Vec<super::Pin>,
    pub(super) prf: Option<String>,
    /// The claims as parsed.
    pub(super) raw: Value,
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::PassportMalformed(msg.into())
}

/// A possibly long, hostile string shortened for an error message.
pub(super) fn clip(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{:?}…", s.get(..end).unwrap_or_default()),
        None => format!("{s:?}"),
    }
}

/// Splits and checks a token: three base64url parts; the header (`alg` first, then `typ`, `kid`);
/// the claims and their types; `kid` equal to `iss`. The caller checks the size first.
pub(super) fn parse_token(token: &str) -> Result<Token<'_>> {
    let shape = || malformed("a passport is three base64url parts separated by dots");
    let (signing_input, sig_part) = token.rsplit_once('.').ok_or_else(shape)?;
    let (header_part, claims_part) = signing_input.split_once('.').ok_or_else(shape)?;
    if claims_part.contains('.') {
        return Err(shape());
    }
    let header = decode_part(header_part, "header")?;
    let kid = check_header(&header)?;
    let claims = Claims::from_value(decode_part(claims_part, "claims")?)?;
    if kid != claims.iss {
        return Err(malformed(format!(
            "header kid {} differs from the iss claim {}",
            clip(&kid),
            clip(&claims.iss)
        )));
    }
    let signature =
        b64u_decode(sig_part).map_err(|e| malformed(format!("signature is not base64url: {e}")))?;
    Ok(Token {
        signing_input,
        signature,
        claims,
    })
}

/// One base64url part decoded and parsed by the strict JSON parser.
fn decode_part(part: &str, what: &str) -> Result<Value> {
    let bytes =
        b64u_decode(part).map_err(|e| malformed(format!("{what} is not base64url: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|_| malformed(format!("{what} is not UTF-8")))?;
    json::parse_in(&text, Limits::PAYLOAD, Context::Passport).map_err(|e| match e {
        Error::PassportMalformed(m) => malformed(format!("{what}: {m}")),
        other => other,
    })
}

/// Checks the JWS header and returns its `kid`. `alg` is checked before anything else: any value
/// but `EdDSA` (`none`, `HS256`, `ES256`, missing…) is `PASSPORT_ALGORITHM`.
fn check_header(header: &Value) -> Result<String> {
    let obj = header
        .as_object()
        .ok_or_else(|| malformed("header is not a JSON object"))?;
    match obj.get("alg") {
        Some(Value::String(alg)) if alg == ALGORITHM => {}
        Some(Value::String(alg)) => return Err(Error::PassportAlgorithm(clip(alg))),
        Some(other) => {
            return Err(Error::PassportAlgorithm(format!(
                "alg is {}",
                json::type_name(other)
            )))
        }
        None => return Err(Error::PassportAlgorithm("no alg in the header".to_string())),
    }
    match obj.get("typ") {
        Some(Value::String(typ)) if typ == TOKEN_TYPE => {}
        _ => return Err(malformed(format!("header typ must be {TOKEN_TYPE:?}"))),
    }
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "alg" | "typ" | "kid"))
    {
        return Err(malformed(format!(
            "unexpected header parameter {}",
            clip(k)
        )));
    }
    match obj.get("kid") {
        Some(Value::String(kid)) => Ok(kid.clone()),
        _ => Err(malformed("header kid must be the signer's did:key")),
    }
}

impl Claims {
    fn from_value(raw: Value) -> Result<Claims> {
        let obj = raw
            .as_object()
            .ok_or_else(|| malformed("claims are not a JSON object"))?;
        if let Some(k) = obj.keys().find(|k| !CLAIMS.contains(&k.as_str())) {
            return Err(malformed(format!("unknown claim {}", clip(k))));
        }
        let string = |name: &str| match obj.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(other) => Err(malformed(format!(
                "claim {name} must be a non-empty string, found {}",
                json::type_name(other)
            ))),
            None => Err(malformed(format!("claim {name} is missing"))),
        };
        let optional_string = |name: &str| match obj.get(name) {
            None => Ok(None),
            Some(_) => string(name).map(Some),
        };
        let time = |name: &str| match obj.get(name) {
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|t| (0..=MAX_TIME).contains(t))
                .ok_or_else(|| {
                    malformed(format!(
                        "claim {name} must be an integer number of seconds in 0..={MAX_TIME}, \
                         found {}",
                        clip(n.as_str())
                    ))
                }),
            Some(other) => Err(malformed(format!(
                "claim {name} must be an integer, found {}",
                json::type_name(other)
            ))),
            None => Err(malformed(format!("claim {name} is missing"))),
        };
        let array = |name: &str, required: bool| match obj.get(name) {
            Some(Value::Array(a)) => Ok(a.as_slice()),
            Some(other) => Err(malformed(format!(
                "claim {name} must be an array, found {}",
                json::type_name(other)
            ))),
            None if required => Err(malformed(format!("claim {name} is missing"))),
            None => Ok([].as_slice()),
        };

        let iss = string("iss")?;
        public_from_did(&iss).map_err(|e| malformed(format!("claim iss: {e}")))?;
        let sub = string("sub")?;
        let name = optional_string("name")?;
        let jti = string("jti")?;
        if !is_passport_id(&jti) {
            return Err(malformed(format!(
                "claim jti must be {PASSPORT_ID_PREFIX} followed by {PASSPORT_ID_CHARS} \
                 lowercase base32 characters, found {}",
                clip(&jti)
            )));
        }
        let iat = time("iat")?;
        let nbf = time("nbf")?;
        let exp = time("exp")?;
        let perms = array("perms", true)?
            .iter()
            .enumerate()
            .map(|(i, p)| match p {
                Value::String(p) => validate_permission(p)
                    .map(|()| p.clone())
                    .map_err(|e| malformed(format!("claim perms[{i}]: {e}"))),
                other => Err(malformed(format!(
                    "claim perms[{i}] must be a string, found {}",
                    json::type_name(other)
                ))),
            })
            .collect::<Result<Vec<_>>>()?;
        let agent_key = match obj.get("cnf").and_then(Value::as_object) {
            Some(cnf) if cnf.len() == 1 => cnf
                .get("jwk")
                .ok_or_else(|| malformed("claim cnf must hold only a jwk"))
                .and_then(|jwk| {
                    jwk_to_public(jwk).map_err(|e| malformed(format!("claim cnf.jwk: {e}")))
                })?,
            _ => {
                return Err(malformed(
                    "claim cnf must be {\"jwk\": <the agent's public JWK>}",
                ))
            }
        };
        let caveats = array("caveats", false)?
            .iter()
            .enumerate()
            .map(|(i, c)| {
                check_caveat(c)
                    .map(|()| c.clone())
                    .map_err(|e| malformed(format!("claim caveats[{i}]: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let pins: Vec<super::Pin> = match obj.get("pins") {
            None => Vec::new(),
            Some(v) => serde_json::from_value(v.clone())
                .map_err(|e| malformed(format!("claim pins: {e}")))?,
        };
        super::check_pins(&pins).map_err(|e| malformed(format!("claim {e}")))?;
        let prf = optional_string("prf")?;
        Ok(Claims {
            iss,
            sub,
            name,
            jti,
            iat,
            nbf,
            exp,
            perms,
            agent_key,
            caveats,
            pins,
            prf,
            raw,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passport_ids_are_well_formed_and_distinct() {
        let a = new_passport_id().unwrap();
        let b = new_passport_id().unwrap();
        assert!(is_passport_id(&a), "{a}");
        assert_ne!(a, b);
        assert_eq!(a.len(), 30);
        for bad in [
            "psp_",
            "psp_ABCDEFGHIJKLMNOPQRSTUVWXYZ",
            "psp_abcdefghijklmnopqrstuvw1",
            "x",
        ] {
            assert!(!is_passport_id(bad), "{bad}");
        }
    }

    #[test]
    fn clip_shortens_on_a_char_boundary() {
        let long = "é".repeat(100);
        let c = clip(&long);
        assert!(c.chars().count() < 70);
        assert_eq!(clip("ab"), "\"ab\"");
    }
}
