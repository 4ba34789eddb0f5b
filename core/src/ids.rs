//! Random identifiers: a prefix and 26 characters of RFC 4648 base32 (lowercase), 130 bits.
//!
//! Identifiers are drawn from a userspace CSPRNG (ChaCha20) seeded from the operating system once
//! per thread and process, not from a `getrandom` system call per id (which cost a syscall on
//! every decision). A forked child never continues its parent's stream: each draw compares the
//! process id the generator was seeded in and reseeds from the OS after a fork. Secrets (keys,
//! nonces, API-key material, PKCE verifiers) still come straight from the OS.

use std::cell::RefCell;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::error::{Error, Result};

const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// `prefix` + `_` + 26 random base32 characters, e.g. `evl_3k…`.
pub fn random_id(prefix: &str) -> Result<String> {
    random_id_in(prefix, std::process::id())
}

/// [`random_id`] for a caller that has just read the process id itself (`pid`, this process's:
/// the engine checks it once at the start of each call, [`crate::Engine`]'s fork guard), so a
/// decision asks the kernel once instead of once per id: `getpid` is a system call, ≈ 140 ns on
/// a VM, a tenth of a state-supplied `dry_run` for two of them — time an instruction count does
/// not show.
pub(crate) fn random_id_in(prefix: &str, pid: u32) -> Result<String> {
    let mut bytes = [0u8; 26];
    fill(&mut bytes, pid)?;
    Ok(id_from(prefix, &bytes))
}

thread_local! {
    /// This thread's generator and the process id it was seeded in.
    static RNG: RefCell<Option<(u32, ChaCha20Rng)>> = const { RefCell::new(None) };
}

/// Fills `out` from this thread's generator, seeding it from the OS first use in this thread and
/// again in a forked child (`pid`, the current process id, differs from the one it was seeded in).
fn fill(out: &mut [u8], pid: u32) -> Result<()> {
    RNG.with(|cell| {
        let mut slot = cell
            .try_borrow_mut()
            .map_err(|_| Error::Internal("identifier generator re-entered".into()))?;
        let rng = match &mut *slot {
            Some((seeded_in, rng)) if *seeded_in == pid => rng,
            other => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed)
                    .map_err(|e| Error::Internal(format!("no randomness: {e}")))?;
                &mut other.insert((pid, ChaCha20Rng::from_seed(seed))).1
            }
        };
        rng.fill_bytes(out);
        Ok(())
    })
}

/// `prefix` + `_` + 26 base32 characters taken from the low five bits of the first 26 `bytes`
/// (uniform when the bytes are: random bytes, or a hash).
pub fn id_from(prefix: &str, bytes: &[u8]) -> String {
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    let mut chars = [b'a'; 26];
    for (c, b) in chars.iter_mut().zip(bytes) {
        *c = ALPHABET.get(usize::from(b & 31)).copied().unwrap_or(b'a');
    }
    let n = bytes.len().min(26);
    // The alphabet is ASCII.
    out.push_str(std::str::from_utf8(chars.get(..n).unwrap_or_default()).unwrap_or_default());
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

    #[test]
    fn an_id_spells_each_byte_in_the_alphabet() {
        let bytes: Vec<u8> = (0..=255u8).step_by(7).take(26).collect();
        let want: String = bytes
            .iter()
            .map(|b| char::from(super::ALPHABET[usize::from(b & 31)]))
            .collect();
        assert_eq!(super::id_from("att", &bytes), format!("att_{want}"));
        assert_eq!(
            super::id_from("x", &bytes[..3]),
            format!("x_{}", &want[..3])
        );
        assert_eq!(super::id_from("x", &[]), "x_");
    }

    #[test]
    fn a_draw_under_another_process_id_reseeds() {
        // A forked child passes its own pid: the generator is seeded again, not continued.
        for pid in [7, 8, 7] {
            super::random_id_in("x", pid).unwrap();
            let seeded_in = super::RNG.with(|c| c.borrow().as_ref().map(|(p, _)| *p));
            assert_eq!(seeded_in, Some(pid));
        }
    }

    #[test]
    fn threads_draw_distinct_ids() {
        let ids: std::collections::HashSet<String> = (0..4)
            .map(|_| std::thread::spawn(|| super::random_id("evl").unwrap()))
            .map(|h| h.join().unwrap())
            .collect();
        assert_eq!(ids.len(), 4);
    }
}
