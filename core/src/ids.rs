//! Random identifiers: a prefix and 26 characters of RFC 4648 base32 (lowercase), 130 bits.

use crate::error::{Error, Result};

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// `prefix` + `_` + 26 random base32 characters, e.g. `evl_3k…`.
pub fn random_id(prefix: &str) -> Result<String> {
    let mut bytes = [0u8; 26];
    getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    // 26 bytes, 5 bits used of each: uniform over the alphabet.
    out.extend(
        bytes
            .iter()
            .map(|b| char::from(ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'a'))),
    );
    Ok(out)
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
