//! RFC 9162 Merkle trees: the RFC 6962 known answers (the reference vectors of Certificate
//! Transparency, as kept by transparency-dev/merkle), a naive recursive reference implementation
//! of §2.1, and properties over random trees: every proof verifies, every changed byte or
//! argument fails, and nothing panics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers

use passgate::merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, root, verify_consistency,
    verify_inclusion, Hash, Tree,
};
use proptest::prelude::*;

fn h(s: &str) -> Hash {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

/// The eight leaves of the reference tree.
fn vector_leaves() -> Vec<Hash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|d| leaf_hash(&hex::decode(d).unwrap()))
    .collect()
}

/// The heads of the reference tree at sizes 1..=8.
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, proof).
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (0, 1, vec![]),
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            3,
            vec![h(
                "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            )],
        ),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// (old size, new size, proof).
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

#[test]
fn the_reference_tree_has_the_reference_heads() {
    let leaves = vector_leaves();
    for (i, want) in ROOTS.iter().enumerate() {
        assert_eq!(root(&leaves[..=i]), h(want), "size {}", i + 1);
        assert_eq!(naive_root(&leaves[..=i]), h(want), "naive, size {}", i + 1);
    }
    assert_eq!(
        root(&[]),
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
}

#[test]
fn reference_inclusion_proofs_are_generated_and_verified() {
    let leaves = vector_leaves();
    for (index, size, proof) in inclusion_vectors() {
        assert_eq!(
            inclusion_proof(&leaves, index, size).unwrap(),
            proof,
            "{index}/{size}"
        );
        let r = h(ROOTS[size as usize - 1]);
        let leaf = leaves[index as usize];
        assert!(verify_inclusion(&leaf, index, size, &proof, &r));
        for (desc, i, s, p, l, rt) in corrupt_inclusion(index, size, &proof, &r, &leaf) {
            assert!(
                !verify_inclusion(&l, i, s, &p, &rt),
                "{desc} verified for {index}/{size}"
            );
        }
    }
}

type InclusionProbe = (&'static str, u64, u64, Vec<Hash>, Hash, Hash);

fn corrupt_inclusion(
    index: u64,
    size: u64,
    proof: &[Hash],
    r: &Hash,
    leaf: &Hash,
) -> Vec<InclusionProbe> {
    let mut out: Vec<InclusionProbe> = vec![
        ("index+1", index + 1, size, proof.to_vec(), *leaf, *r),
        ("index^2", index ^ 2, size, proof.to_vec(), *leaf, *r),
        ("size*2", index, size * 2, proof.to_vec(), *leaf, *r),
        ("size/2", index, size / 2, proof.to_vec(), *leaf, *r),
        (
            "wrong leaf",
            index,
            size,
            proof.to_vec(),
            leaf_hash(b"x"),
            *r,
        ),
        (
            "empty root",
            index,
            size,
            proof.to_vec(),
            *leaf,
            empty_root(),
        ),
    ];
    if size > 1 {
        // In a one-leaf tree the root is the leaf.
        out.push(("root as leaf", index, size, proof.to_vec(), *r, *leaf));
    }
    if index > 0 {
        out.push(("index-1", index - 1, size, proof.to_vec(), *leaf, *r));
    }
    let mut trailing = proof.to_vec();
    trailing.push(*r);
    out.push(("trailing root", index, size, trailing, *leaf, *r));
    let mut preceding = vec![*r];
    preceding.extend_from_slice(proof);
    out.push(("preceding root", index, size, preceding, *leaf, *r));
    for i in 0..proof.len() {
        let mut p = proof.to_vec();
        p[i][0] ^= 8;
        out.push(("flipped bit", index, size, p, *leaf, *r));
    }
    if !proof.is_empty() {
        out.push((
            "removed",
            index,
            size,
            proof[..proof.len() - 1].to_vec(),
            *leaf,
            *r,
        ));
    }
    out
}

#[test]
fn reference_consistency_proofs_are_generated_and_verified() {
    let leaves = vector_leaves();
    for (m, n, proof) in consistency_vectors() {
        assert_eq!(consistency_proof(&leaves, m, n).unwrap(), proof, "{m}->{n}");
        let (rm, rn) = (h(ROOTS[m as usize - 1]), h(ROOTS[n as usize - 1]));
        assert!(verify_consistency(m, n, &rm, &rn, &proof), "{m}->{n}");
        if proof.is_empty() {
            continue;
        }
        let mut probes: Vec<(u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (m - 1, n, rm, rn, proof.clone()),
            (m + 1, n, rm, rn, proof.clone()),
            (m ^ 2, n, rm, rn, proof.clone()),
            (m, n * 2, rm, rn, proof.clone()),
            (m, n / 2, rm, rn, proof.clone()),
            (m, n, leaf_hash(b"r"), rn, proof.clone()),
            (m, n, rm, leaf_hash(b"r"), proof.clone()),
            (m, n, rn, rm, proof.clone()),
            (m, n, rm, rn, vec![]),
            (m, n, rm, rn, [proof.clone(), vec![rm]].concat()),
            (m, n, rm, rn, [proof.clone(), vec![rn]].concat()),
            (m, n, rm, rn, [vec![rm], proof.clone()].concat()),
            (m, n, rm, rn, [vec![rn], proof.clone()].concat()),
            (m, n, rm, rn, [vec![proof[0]], proof.clone()].concat()),
            (m, n, rm, rn, proof[..proof.len() - 1].to_vec()),
        ];
        for i in 0..proof.len() {
            let mut p = proof.clone();
            p[i][0] ^= 16;
            probes.push((m, n, rm, rn, p));
        }
        for (i, (a, b, ra, rb, p)) in probes.into_iter().enumerate() {
            assert!(
                !verify_consistency(a, b, &ra, &rb, &p),
                "probe {i} verified for {m}->{n}"
            );
        }
    }
}

#[test]
fn out_of_range_arguments_are_refused_not_panics() {
    let leaves = vector_leaves();
    let some = leaf_hash(b"some");
    for (i, s) in [(0, 0), (1, 0), (2, 1), (u64::MAX, u64::MAX), (0, u64::MAX)] {
        assert!(!verify_inclusion(&some, i, s, &[], &some), "{i}/{s}");
        assert!(
            !verify_inclusion(&some, i, s, &[some; 70], &some),
            "{i}/{s}"
        );
    }
    assert!(
        verify_inclusion(&some, 0, 1, &[], &some),
        "one leaf: its own root"
    );
    for (m, n) in [(0, 0), (0, 1), (1, 0), (2, 1), (u64::MAX, u64::MAX - 1)] {
        assert!(!verify_consistency(m, n, &some, &some, &[]), "{m}->{n}");
        assert!(!verify_consistency(m, n, &some, &some, &[some; 70]));
    }
    assert!(!verify_consistency(1, 1, &some, &leaf_hash(b"other"), &[]));
    assert!(!verify_consistency(1, 1, &some, &some, &[some]));
    assert!(!verify_consistency(1, u64::MAX, &some, &some, &[some; 200]));
    assert!(!verify_inclusion(&some, 5, u64::MAX, &[some; 200], &some));
    for (index, size) in [(0, 0), (8, 8), (0, 9), (u64::MAX, 3)] {
        let e = inclusion_proof(&leaves, index, size).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{index}/{size}");
    }
    for (m, n) in [(0, 3), (4, 3), (1, 9), (u64::MAX, u64::MAX)] {
        let e = consistency_proof(&leaves, m, n).unwrap_err();
        assert_eq!(e.code(), "INVALID_ARGUMENT", "{m}->{n}");
    }
}

// ---------------------------------------------------------------------------------------------
// A naive reference: RFC 9162 §2.1 read literally, recursion on slices.

fn k_of(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

fn naive_root(d: &[Hash]) -> Hash {
    match d.len() {
        0 => empty_root(),
        1 => d[0],
        n => {
            let k = k_of(n);
            node_hash(&naive_root(&d[..k]), &naive_root(&d[k..]))
        }
    }
}

fn naive_path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n == 1 {
        return vec![];
    }
    let k = k_of(n);
    if m < k {
        [naive_path(m, &d[..k]), vec![naive_root(&d[k..])]].concat()
    } else {
        [naive_path(m - k, &d[k..]), vec![naive_root(&d[..k])]].concat()
    }
}

fn naive_subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![naive_root(d)] };
    }
    let k = k_of(n);
    if m <= k {
        [naive_subproof(m, &d[..k], b), vec![naive_root(&d[k..])]].concat()
    } else {
        [
            naive_subproof(m - k, &d[k..], false),
            vec![naive_root(&d[..k])],
        ]
        .concat()
    }
}

fn leaves_of(n: usize, salt: u8) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(&[&(i as u64).to_be_bytes()[..], &[salt]].concat()))
        .collect()
}

#[test]
fn every_proof_of_every_small_tree_matches_the_reference_and_verifies() {
    let leaves = leaves_of(70, 0);
    let tree = Tree::from_leaves(&leaves);
    for n in 1..=70usize {
        let r = naive_root(&leaves[..n]);
        assert_eq!(tree.root(n as u64).unwrap(), r, "root {n}");
        for i in 0..n {
            let p = tree.inclusion_proof(i as u64, n as u64).unwrap();
            assert_eq!(p, naive_path(i, &leaves[..n]), "path {i}/{n}");
            assert!(verify_inclusion(&leaves[i], i as u64, n as u64, &p, &r));
            assert!(!verify_inclusion(&leaves[(i + 1) % n], i as u64, n as u64, &p, &r) || n == 1);
        }
        for m in 1..=n {
            let p = tree.consistency_proof(m as u64, n as u64).unwrap();
            let want = if m == n {
                vec![]
            } else {
                naive_subproof(m, &leaves[..n], true)
            };
            assert_eq!(p, want, "consistency {m}->{n}");
            let rm = naive_root(&leaves[..m]);
            assert!(
                verify_consistency(m as u64, n as u64, &rm, &r, &p),
                "{m}->{n}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any tree, any leaf: the proof verifies; any flipped bit of the leaf, the proof or the
    /// root, and any other index, fails. (Another size may verify the same path against the
    /// same root — the signed head binds the size to the root, not the proof.)
    #[test]
    fn inclusion_proofs_verify_and_any_change_fails(
        n in 1usize..300, pick in any::<prop::sample::Index>(), salt in any::<u8>(),
        flip in any::<prop::sample::Index>(), bit in 0u8..8, other in 0u64..600,
    ) {
        let leaves = leaves_of(n, salt);
        let tree = Tree::from_leaves(&leaves);
        let i = pick.index(n);
        let r = tree.root(n as u64).unwrap();
        let p = tree.inclusion_proof(i as u64, n as u64).unwrap();
        prop_assert!(verify_inclusion(&leaves[i], i as u64, n as u64, &p, &r));
        // A changed byte: in the leaf, the root or a proof element.
        let slots = 2 + p.len();
        let at = flip.index(slots);
        let (mut leaf, mut root2, mut p2) = (leaves[i], r, p.clone());
        let byte = (bit as usize * 7) % 32;
        match at {
            0 => leaf[byte] ^= 1 << bit,
            1 => root2[byte] ^= 1 << bit,
            k => p2[k - 2][byte] ^= 1 << bit,
        }
        prop_assert!(!verify_inclusion(&leaf, i as u64, n as u64, &p2, &root2));
        if other != i as u64 {
            prop_assert!(!verify_inclusion(&leaves[i], other, n as u64, &p, &r));
        }
    }

    /// Any two sizes: the proof verifies; any changed bit, a dropped or an added element, or
    /// other sizes fail.
    #[test]
    fn consistency_proofs_verify_and_any_change_fails(
        n in 2usize..300, pick in any::<prop::sample::Index>(), salt in any::<u8>(),
        flip in any::<prop::sample::Index>(), bit in 0u8..8,
    ) {
        let leaves = leaves_of(n, salt);
        let tree = Tree::from_leaves(&leaves);
        let m = 1 + pick.index(n - 1);
        let (rm, rn) = (tree.root(m as u64).unwrap(), tree.root(n as u64).unwrap());
        let p = tree.consistency_proof(m as u64, n as u64).unwrap();
        prop_assert!(verify_consistency(m as u64, n as u64, &rm, &rn, &p));
        prop_assert_eq!(&p, &naive_subproof(m, &leaves, true));
        let slots = 2 + p.len();
        let at = flip.index(slots);
        let (mut a, mut b, mut p2) = (rm, rn, p.clone());
        let byte = (bit as usize * 5) % 32;
        match at {
            0 => a[byte] ^= 1 << bit,
            1 => b[byte] ^= 1 << bit,
            k => p2[k - 2][byte] ^= 1 << bit,
        }
        prop_assert!(!verify_consistency(m as u64, n as u64, &a, &b, &p2));
        prop_assert!(!verify_consistency(m as u64, n as u64, &rm, &rn, &p[..p.len() - 1]));
        let mut longer = p.clone();
        longer.push(rn);
        prop_assert!(!verify_consistency(m as u64, n as u64, &rm, &rn, &longer));
        prop_assert!(!verify_consistency(n as u64, m as u64, &rn, &rm, &p));
    }

    /// Arbitrary garbage never panics and (with overwhelming probability) never verifies.
    #[test]
    fn garbage_never_panics(
        i in any::<u64>(), s in any::<u64>(), len in 0usize..80, seed in any::<u8>(),
    ) {
        let junk: Vec<Hash> = (0..len).map(|k| leaf_hash(&[seed, k as u8])).collect();
        let x = leaf_hash(&[seed]);
        prop_assert!(!verify_inclusion(&x, i, s, &junk, &leaf_hash(b"root")));
        prop_assert!(!verify_consistency(i, s, &x, &leaf_hash(b"root"), &junk));
    }
}
