//! RFC 9162 (Certificate Transparency 2.0) Merkle trees: leaf and node hashing, tree heads,
//! inclusion and consistency proofs, and their verification (§2.1).
//!
//! `leaf_hash(d) = SHA-256(0x00 ‖ d)`, `node_hash(l, r) = SHA-256(0x01 ‖ l ‖ r)`; the tree hash
//! of n > 1 leaves splits them at k, the largest power of two below n (`MTH(D[n]) =
//! node(MTH(D[0:k]), MTH(D[k:n]))`), and the hash of the empty tree is SHA-256 of nothing.
//!
//! The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step and never panic: an index
//! outside the tree, sizes out of order, an empty first tree, or a proof of the wrong length all
//! verify as `false`. The generators ([`inclusion_proof`], [`consistency_proof`], [`Tree`])
//! return `INVALID_ARGUMENT` for arguments outside the tree.
//!
//! Checkpointed signing (see [`crate::EngineBuilder::signing`]) hashes each record of an
//! engine's chain as a leaf (the leaf data is the 32 raw bytes of the record's body digest) and
//! signs tree heads instead of each decision.
//!
//! ```
//! use passgate::merkle::{leaf_hash, Tree, verify_inclusion, verify_consistency};
//! let mut tree = Tree::new();
//! for i in 0u8..5 {
//!     tree.push(leaf_hash(&[i]));
//! }
//! let root = tree.root(5)?;
//! let proof = tree.inclusion_proof(2, 5)?;
//! assert!(verify_inclusion(&leaf_hash(&[2]), 2, 5, &proof, &root));
//! let old = tree.root(3)?;
//! assert!(verify_consistency(3, 5, &old, &root, &tree.consistency_proof(3, 5)?));
//! # Ok::<(), passgate::Error>(())
//! ```

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 ‖ data)`: the hash of a leaf holding `data`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, SHA-256 of no bytes.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

fn size_of(leaves: &[Hash]) -> u64 {
    leaves.len() as u64
}

/// The tree head (`MTH`) of `leaves` (leaf hashes, in order).
pub fn root(leaves: &[Hash]) -> Hash {
    let mut tree = Tree::new();
    for l in leaves {
        tree.push(*l);
    }
    tree.root(size_of(leaves)).unwrap_or_else(|_| empty_root())
}

/// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree of the first `size` of
/// `leaves`.
pub fn inclusion_proof(leaves: &[Hash], index: u64, size: u64) -> Result<Vec<Hash>> {
    Tree::from_leaves(leaves).inclusion_proof(index, size)
}

/// The consistency proof (RFC 9162 §2.1.4.1) between the trees of the first `m` and the first
/// `n` of `leaves`.
pub fn consistency_proof(leaves: &[Hash], m: u64, n: u64) -> Result<Vec<Hash>> {
    Tree::from_leaves(leaves).consistency_proof(m, n)
}

/// Right-shifts `fnum` and `snum` together until `fnum`'s least significant bit is set or `fnum`
/// is 0.
fn shift_while_even(fnum: &mut u64, snum: &mut u64) {
    while *fnum & 1 == 0 && *fnum != 0 {
        *fnum >>= 1;
        *snum >>= 1;
    }
}

/// Whether `proof` proves that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves
/// whose head is `root` (RFC 9162 §2.1.3.2). Never panics: `index ≥ size` or a proof of the wrong
/// length is `false`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    // 1. The index must be in the tree.
    if index >= size {
        return false;
    }
    // 2.-3.
    let (mut fnum, mut snum) = (index, size - 1);
    let mut r = *leaf;
    // 4.
    for p in proof {
        if snum == 0 {
            return false;
        }
        if fnum & 1 == 1 || fnum == snum {
            r = node_hash(p, &r);
            if fnum & 1 == 0 {
                shift_while_even(&mut fnum, &mut snum);
            }
        } else {
            r = node_hash(&r, p);
        }
        fnum >>= 1;
        snum >>= 1;
    }
    // 5.
    snum == 0 && &r == root
}

/// Whether `proof` proves that the tree of `n` leaves with head `root_n` extends the tree of
/// `m` leaves with head `root_m` (RFC 9162 §2.1.4.2). `m == n` holds with an empty proof and equal
/// roots. Never panics: `m == 0`, `m > n` or a proof of the wrong length is `false`.
pub fn verify_consistency(m: u64, n: u64, root_m: &Hash, root_n: &Hash, proof: &[Hash]) -> bool {
    if m == 0 || m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && root_m == root_n;
    }
    // 1. An empty proof proves nothing between different sizes.
    let Some((first, rest)) = proof.split_first() else {
        return false;
    };
    // 2. When m is a power of two, its tree is a complete subtree: the path starts at root_m.
    let (start, path): (&Hash, &[Hash]) = match m.is_power_of_two() {
        true => (root_m, proof),
        false => (first, rest),
    };
    // 3.-4.
    let (mut fnum, mut snum) = (m - 1, n - 1);
    while fnum & 1 == 1 {
        fnum >>= 1;
        snum >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (*start, *start);
    // 6.
    for c in path {
        if snum == 0 {
            return false;
        }
        if fnum & 1 == 1 || fnum == snum {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnum & 1 == 0 {
                shift_while_even(&mut fnum, &mut snum);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnum >>= 1;
        snum >>= 1;
    }
    // 7.
    &fr == root_m && &sr == root_n && snum == 0
}

/// An append-only Merkle tree: every leaf hash, and the hash of every complete, aligned subtree
/// (so a head or a proof at any size costs O(log² n) hashes, appending amortised O(1)). Memory:
/// about 64 bytes per leaf.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    /// `levels[h][i]`: the hash of leaves `i·2^h .. (i+1)·2^h`.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree { levels: vec![] }
    }

    /// A tree of `leaves` (leaf hashes, in order).
    pub fn from_leaves(leaves: &[Hash]) -> Tree {
        let mut t = Tree::new();
        for l in leaves {
            t.push(*l);
        }
        t
    }

    /// How many leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaf.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Leaf `index`'s hash.
    pub fn leaf(&self, index: u64) -> Option<&Hash> {
        self.levels
            .first()
            .and_then(|l| l.get(usize::try_from(index).ok()?))
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut h = 0;
        loop {
            if self.levels.len() <= h {
                self.levels.push(Vec::new());
            }
            let Some(level) = self.levels.get_mut(h) else {
                return;
            };
            level.push(carry);
            if level.len() % 2 == 1 {
                return;
            }
            match level.as_slice() {
                [.., l, r] => carry = node_hash(l, r),
                _ => return,
            }
            h += 1;
        }
    }

    /// Forgets every leaf from `size` on (a rebuilt chain that turned out shorter).
    pub fn truncate(&mut self, size: u64) {
        for (h, level) in self.levels.iter_mut().enumerate() {
            let keep = usize::try_from(size >> h).unwrap_or(usize::MAX);
            level.truncate(keep);
        }
    }

    fn check_size(&self, size: u64) -> Result<()> {
        if size > self.len() {
            return Err(Error::InvalidArgument(format!(
                "tree size {size} is beyond the {} leaves of the tree",
                self.len()
            )));
        }
        Ok(())
    }

    /// The hash of leaves `start .. start + len` (len ≥ 1, inside the tree), where `start` is a
    /// multiple of the largest power of two ≤ `len` (as every subtree of the RFC's recursion is).
    fn subtree(&self, start: u64, len: u64) -> Result<Hash> {
        if len.is_power_of_two() && start % len == 0 {
            let h = len.trailing_zeros() as usize;
            let i = usize::try_from(start / len).ok();
            return self
                .levels
                .get(h)
                .and_then(|l| l.get(i?))
                .copied()
                .ok_or_else(|| Error::Internal(format!("no subtree at {start}+{len}")));
        }
        if len < 2 {
            return Err(Error::Internal(format!("no subtree at {start}+{len}")));
        }
        let k = split(len);
        Ok(node_hash(
            &self.subtree(start, k)?,
            &self.subtree(start + k, len - k)?,
        ))
    }

    /// The tree head (`MTH`) over the first `size` leaves (`size` ≤ [`Tree::len`]).
    pub fn root(&self, size: u64) -> Result<Hash> {
        self.check_size(size)?;
        match size {
            0 => Ok(empty_root()),
            _ => self.subtree(0, size),
        }
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size` leaves (RFC 9162
    /// §2.1.3.1). `INVALID_ARGUMENT` unless `index < size ≤ len`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>> {
        self.check_size(size)?;
        if index >= size {
            return Err(Error::InvalidArgument(format!(
                "leaf {index} is not in a tree of {size} leaves"
            )));
        }
        // PATH(m, D[start : start + n]), collected leaf-side first.
        let mut proof = Vec::new();
        let (mut m, mut start, mut n) = (index, 0u64, size);
        let mut rev = Vec::new();
        while n > 1 {
            let k = split(n);
            if m < k {
                rev.push(self.subtree(start + k, n - k)?);
                n = k;
            } else {
                rev.push(self.subtree(start, k)?);
                m -= k;
                start += k;
                n -= k;
            }
        }
        proof.extend(rev.into_iter().rev());
        Ok(proof)
    }

    /// The consistency proof between the trees of the first `m` and the first `n` leaves (RFC
    /// 9162 §2.1.4.1); empty when `m == n`. `INVALID_ARGUMENT` unless `0 < m ≤ n ≤ len`.
    pub fn consistency_proof(&self, m: u64, n: u64) -> Result<Vec<Hash>> {
        self.check_size(n)?;
        if m == 0 || m > n {
            return Err(Error::InvalidArgument(format!(
                "no consistency proof from size {m} to size {n}: 0 < old size ≤ new size"
            )));
        }
        // SUBPROOF(m, D[start : start + n], b), collected top-down then reversed.
        let mut rev = Vec::new();
        let (mut m, mut start, mut n, mut b) = (m, 0u64, n, true);
        while m != n {
            let k = split(n);
            if m <= k {
                rev.push(self.subtree(start + k, n - k)?);
                n = k;
            } else {
                rev.push(self.subtree(start, k)?);
                m -= k;
                start += k;
                n -= k;
                b = false;
            }
        }
        if !b {
            rev.push(self.subtree(start, n)?);
        }
        Ok(rev.into_iter().rev().collect())
    }
}

/// `"sha256:<hex>"`: how records, heads and proofs write a hash.
///
/// Written through a table into one allocation: `format!` of `hex::encode` allocated twice and
/// collected the digits as `char`s — twice per decision (its record's hash and its request's).
pub fn to_tagged(h: &Hash) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(71);
    out.extend_from_slice(b"sha256:");
    for b in h {
        for nibble in [b >> 4, b & 0xf] {
            out.push(HEX.get(usize::from(nibble)).copied().unwrap_or(b'0'));
        }
    }
    // ASCII only.
    String::from_utf8(out).unwrap_or_default()
}

/// A hash written as `"sha256:<64 lowercase hex>"`.
pub fn from_tagged(s: &str) -> Option<Hash> {
    let hex_part = s.strip_prefix("sha256:")?;
    if hex_part.len() != 64 || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        assert_eq!(split(2), 1);
        assert_eq!(split(3), 2);
        assert_eq!(split(4), 2);
        assert_eq!(split(5), 4);
        assert_eq!(split(u64::MAX), 1 << 63);
    }

    #[test]
    fn tagged_hashes_round_trip_and_refuse_other_forms() {
        let h = leaf_hash(b"x");
        for h in [h, [0u8; 32], [0xff; 32], node_hash(&h, &[0x0f; 32])] {
            assert_eq!(to_tagged(&h), format!("sha256:{}", hex::encode(h)));
        }
        assert_eq!(from_tagged(&to_tagged(&h)), Some(h));
        assert_eq!(from_tagged(&to_tagged(&h).to_uppercase()), None);
        assert_eq!(from_tagged(&hex::encode(h)), None);
        assert_eq!(from_tagged("sha256:00"), None);
    }

    #[test]
    fn truncating_forgets_the_tail() {
        let mut t = Tree::new();
        for i in 0u8..11 {
            t.push(leaf_hash(&[i]));
        }
        let r6 = t.root(6).unwrap();
        t.truncate(6);
        assert_eq!(t.len(), 6);
        assert_eq!(t.root(6).unwrap(), r6);
        assert!(t.root(7).is_err());
        t.push(leaf_hash(&[6]));
        let fresh = Tree::from_leaves(&(0u8..7).map(|i| leaf_hash(&[i])).collect::<Vec<_>>());
        assert_eq!(t.root(7).unwrap(), fresh.root(7).unwrap());
    }
}
