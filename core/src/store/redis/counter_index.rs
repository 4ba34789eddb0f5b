//! Counter indexes on Redis: paged listing and reset that visit only the counters a filter names.
//!
//! Two sorted sets, every member scored 0 so that Redis orders them by bytes (`ZRANGE … BYLEX`):
//!
//! | key | member | serves |
//! |---|---|---|
//! | `{p}:cx:ns` | `esc(namespace) esc(constraint) esc(scope) window` | `namespace` (+ `constraint` (+ `scope`)) filters, and the unfiltered listing |
//! | `{p}:cx:sc` | `esc(scope) esc(namespace) esc(constraint) window` | `scope` filters (+ `namespace` or `constraint`) |
//!
//! `esc(s)` is `s` with byte 0x01 written 0x01 0x02 and byte 0x00 written 0x01 0x01, followed by
//! a 0x00 terminator; `window` is [`window_token`]. This encoding keeps order (a member's bytes
//! sort like the tuple they encode, which is the listing order of
//! [`CounterPosition`](crate::store::CounterPosition)) and is prefix-free, so a filter that
//! fixes the leading components is one lexicographic range. Members come from values an agent
//! may choose (a `field:` scope's value): the escaping makes every tuple its own member, and no
//! value can reach into another namespace's or scope's range.
//!
//! Cost: one member per counter in each set — measured with `MEMORY USAGE` at about 143 bytes
//! per counter per set for names of about 40 bytes (9,900 counters: 1.42 MB each), so ~290 bytes
//! per counter for both (the old single set of 64-hex-digit ids took about 100).
//!
//! `reserve.lua` adds a counter to both sets when it creates the counter (its keys passed in
//! `KEYS`). A page is `ZRANGE … BYLEX LIMIT` in Rust, then `ctrpage.lua` on that batch only (its
//! counters' keys in `KEYS`): the usage of each, and index entries whose counter has expired are
//! removed. A reset is batches of `ZRANGE` plus `ctrdel.lua` over the batch. No script walks an
//! index; every script's keys are declared.

use ::redis::Connection;

use super::scripts::Call;
use super::Keys;
use crate::store::{window_from_token, window_token, CounterKey, WindowKind};

/// Members fetched per `ZRANGE`.
pub const INDEX_BATCH: usize = 256;

/// The two index keys.
pub fn keys(k: &Keys) -> (String, String) {
    (k.k("cx:ns"), k.k("cx:sc"))
}

fn esc(out: &mut Vec<u8>, s: &str) {
    for b in s.bytes() {
        match b {
            0 => out.extend_from_slice(&[1, 1]),
            1 => out.extend_from_slice(&[1, 2]),
            b => out.push(b),
        }
    }
    out.push(0);
}

/// Reads one escaped component from the front of `rest`.
fn unesc(rest: &mut &[u8]) -> Option<String> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        match rest.get(i)? {
            0 => break,
            1 => {
                out.push(match rest.get(i + 1)? {
                    1 => 0,
                    2 => 1,
                    _ => return None,
                });
                i += 2;
            }
            b => {
                out.push(*b);
                i += 1;
            }
        }
    }
    *rest = rest.get(i + 1..)?;
    String::from_utf8(out).ok()
}

/// The encoded leading components (each escaped and terminated).
pub fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        esc(&mut out, p);
    }
    out
}

/// A counter's member in the namespace-first index.
pub fn ns_member(k: &CounterKey, w: WindowKind) -> String {
    member(&[&k.namespace, &k.constraint, &k.scope], w)
}

/// A counter's member in the scope-first index.
pub fn scope_member(k: &CounterKey, w: WindowKind) -> String {
    member(&[&k.scope, &k.namespace, &k.constraint], w)
}

fn member(parts: &[&str], w: WindowKind) -> String {
    let mut out = prefix(parts);
    out.extend_from_slice(window_token(w).as_bytes());
    // Only ASCII bytes were substituted into UTF-8 strings: still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// Which index a member came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    Namespace,
    Scope,
}

/// The counter a member names, or `None` if it is not a member this code wrote.
pub fn decode(index: Index, m: &[u8]) -> Option<(CounterKey, WindowKind)> {
    let mut rest = m;
    let a = unesc(&mut rest)?;
    let b = unesc(&mut rest)?;
    let c = unesc(&mut rest)?;
    let window = window_from_token(std::str::from_utf8(rest).ok()?)?;
    let key = match index {
        Index::Namespace => CounterKey {
            namespace: a.into(),
            constraint: b.into(),
            scope: c.into(),
        },
        Index::Scope => CounterKey {
            scope: a.into(),
            namespace: b.into(),
            constraint: c.into(),
        },
    };
    Some((key, window))
}

/// `ZRANGE key min max BYLEX LIMIT 0 n` (bounds in Redis's `[`/`(`/`-`/`+` form, as bytes).
pub fn range(
    conn: &mut Connection,
    key: &str,
    min: &[u8],
    max: &[u8],
    n: usize,
) -> ::redis::RedisResult<Vec<Vec<u8>>> {
    ::redis::cmd("ZRANGE")
        .arg(key)
        .arg(min)
        .arg(max)
        .arg("BYLEX")
        .arg("LIMIT")
        .arg(0)
        .arg(n)
        .query(conn)
}

/// `b` with a bound marker in front.
pub fn bound(marker: u8, b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + 1);
    out.push(marker);
    out.extend_from_slice(b);
    out
}

/// The members of a batch of counters, for `ctrpage.lua` / `ctrdel.lua`: both index keys
/// first, then each counter's keys, and its two members as arguments.
pub fn push_members(call: &mut Call, k: &CounterKey, w: WindowKind) {
    call.arg(ns_member(k, w)).arg(scope_member(k, w));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, c: &str, s: &str) -> CounterKey {
        CounterKey {
            namespace: ns.into(),
            constraint: c.into(),
            scope: s.into(),
        }
    }

    #[test]
    fn members_round_trip_and_sort_like_the_listing() {
        let ws = [
            WindowKind::Forever,
            WindowKind::Fixed { size_ms: 60_000 },
            WindowKind::Fixed { size_ms: 100_000 },
            WindowKind::Sliding { size_ms: 1 },
        ];
        let strs = [
            "",
            "\u{0}",
            "\u{1}",
            "\u{1}\u{1}",
            "a",
            "a\u{0}b",
            "ab",
            "é",
            "b",
        ];
        let mut all = Vec::new();
        for a in strs {
            for b in ["", "\u{0}x", "x"] {
                for w in ws {
                    all.push((key(a, b, "s"), w));
                    all.push((key("n", a, b), w));
                }
            }
        }
        for (k, w) in &all {
            let m = ns_member(k, *w);
            assert_eq!(
                decode(Index::Namespace, m.as_bytes()),
                Some((k.clone(), *w))
            );
            let m = scope_member(k, *w);
            assert_eq!(decode(Index::Scope, m.as_bytes()), Some((k.clone(), *w)));
        }
        let mut by_tuple = all.clone();
        by_tuple.sort();
        by_tuple.dedup();
        let mut by_member = by_tuple.clone();
        by_member.sort_by_key(|(k, w)| ns_member(k, *w).into_bytes());
        assert_eq!(by_member, by_tuple);
        assert_eq!(decode(Index::Namespace, b"a\x00b"), None);
        assert_eq!(decode(Index::Namespace, b"a\x00b\x00c\x001"), None);
        assert_eq!(decode(Index::Namespace, b"a\x01\x03\x00b\x00c\x000"), None);
    }
}
