//! Random identifiers: a prefix and 26 characters of RFC 4648 base32 (lowercase), 130 bits.

use crate::error::{Error, Result};

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// `prefix` + `_` + 26 random base32 characters, e.g. `evl_3k…`.
pub fn random_id(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 26];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    Ok(id_from(prefix, &bytes))
}

/// `prefix` + `_` + 26 base32 characters taken from the low five bits of the first 26 `bytes`
/// (uniform when the bytes are: random bytes, or a hash).
pub fn id_from(prefix: &str, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    out.extend(
        bytes
            .iter()
            .take(26)
            .map(|b| char::from(ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'a'))),
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn shape() {
        let id = super::random_id("evl").unwrap();
        assert_eq!(id.len(), 30);
        assert!(id.starts_with("evl_"));
        assert_ne!(id, super::random_id("evl").unwrap());
    }
}
