//! Permission strings and their wildcards: matching a request, and coverage between patterns.
//!
//! A permission is `:`-separated segments (`payments:send:eu`). In a granted permission a `*`
//! segment is a wildcard: in the middle it matches exactly one whole segment, as the last segment
//! it matches the rest (one or more segments), so `*` alone matches every permission.

/// Checks that `perm` is a well-formed permission: non-empty segments separated by `:`, with no
/// whitespace or control characters, and `*` only as a whole segment.
///
/// ```
/// use passgate::passport::validate_permission;
/// assert!(validate_permission("payments:*").is_ok());
/// assert!(validate_permission("payments:se*").is_err());
/// assert!(validate_permission("payments::send").is_err());
/// ```
pub fn validate_permission(perm: &str) -> Result<(), String> {
    if perm.is_empty() {
        return Err("a permission must not be empty".to_string());
    }
    for seg in perm.split(':') {
        if seg.is_empty() {
            return Err(format!("{perm:?} has an empty segment"));
        }
        if seg.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{perm:?} contains whitespace or a control character"
            ));
        }
        if seg.contains('*') && seg != "*" {
            return Err(format!(
                "{perm:?}: `*` must be a whole segment (as in `payments:*`)"
            ));
        }
    }
    Ok(())
}

/// Whether the permission pattern `granted` matches the permission `required`.
///
/// A `*` segment of `required` is read literally: only a `*` of `granted` matches it. So when
/// `required` is itself a pattern, `perm_matches` asks whether `granted` covers all of it (see
/// [`perm_covers`]).
///
/// ```
/// use passgate::passport::perm_matches;
/// assert!(perm_matches("payments:*", "payments:send:eu"));
/// assert!(perm_matches("payments:*:eu", "payments:send:eu"));
/// assert!(!perm_matches("payments:*:eu", "payments:send:us"));
/// assert!(!perm_matches("payments:send", "payments:send:eu"));
/// assert!(perm_matches("*", "anything:at:all"));
/// ```
pub fn perm_matches(granted: &str, required: &str) -> bool {
    // On every decision, once per granted permission: compared as bytes, a segment at a time,
    // with no splitting iterator. `:` and `*` are ASCII, so byte positions are char boundaries.
    let (g, r) = (granted.as_bytes(), required.as_bytes());
    if !g.contains(&b'*') {
        // No wildcard (the common case): an exact match or nothing.
        return g == r;
    }
    let (mut gi, mut ri) = (0usize, 0usize);
    loop {
        let g_end = segment_end(g, gi);
        let seg = g.get(gi..g_end).unwrap_or_default();
        let last = g_end == g.len();
        if ri > r.len() {
            // `required` has run out of segments before `granted`.
            return false;
        }
        let r_end = segment_end(r, ri);
        if seg == b"*" {
            if last {
                // A trailing `*` matches this segment and whatever follows it.
                return true;
            }
        } else if seg != r.get(ri..r_end).unwrap_or_default() {
            return false;
        }
        if last {
            // `granted` is done: so must `required` be.
            return r_end == r.len();
        }
        gi = g_end + 1;
        ri = r_end + 1;
    }
}

/// The end of the `:`-separated segment starting at `from` (its `:` or the text's end).
fn segment_end(s: &[u8], from: usize) -> usize {
    s.get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b':'))
        .map_or(s.len(), |i| from + i)
}

/// Whether the pattern `parent` covers the pattern `child`: every permission `child` matches is
/// matched by `parent`. A delegation may only narrow: `payments:*` covers `payments:send:eu` and
/// `payments:*`, but `a:*:c` does not cover `a:*` (which also matches `a:b:d` and `a:b`).
///
/// This is [`perm_matches`] with `child` read literally. A child's `*` stands for segments the
/// parent cannot predict, so only a parent `*` in the same place covers it: a parent literal never
/// equals `*`; a middle `*` in the parent covers exactly one segment, including a child's middle
/// `*`; the child's trailing `*` (one or more segments) is covered only if the parent ends in a
/// `*` at or before that position — which is exactly when `perm_matches` accepts the literal text.
///
/// ```
/// use passgate::passport::perm_covers;
/// assert!(perm_covers("payments:*", "payments:send:eu"));
/// assert!(perm_covers("payments:*", "payments:*"));
/// assert!(!perm_covers("a:*:c", "a:*"));
/// assert!(!perm_covers("payments:send", "payments:*"));
/// ```
pub fn perm_covers(parent: &str, child: &str) -> bool {
    perm_matches(parent, child)
}

/// The first permission of `child` that no permission of `parent` covers, if any.
pub fn perms_cover(parent: &[String], child: &[String]) -> Option<String> {
    child
        .iter()
        .find(|c| !parent.iter().any(|p| perm_covers(p, c)))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let cases = [
            ("*", "a", true),
            ("*", "a:b:c", true),
            ("a", "a", true),
            ("a", "b", false),
            ("a", "a:b", false),
            ("a:b", "a", false),
            ("a:*", "a", false),
            ("a:*", "a:b", true),
            ("a:*", "a:b:c", true),
            ("a:*:c", "a:b:c", true),
            ("a:*:c", "a:b:d", false),
            ("a:*:c", "a:b:c:d", false),
            ("a:*:*", "a:b", false),
            ("a:*:*", "a:b:c:d", true),
            ("*:b", "a:b", true),
            ("*:b", "a:b:c", false),
        ];
        for (g, r, want) in cases {
            assert_eq!(perm_matches(g, r), want, "{g} vs {r}");
        }
    }

    /// The segment-splitting definition the byte-level matcher replaced.
    fn reference(granted: &str, required: &str) -> bool {
        let mut want = required.split(':');
        let mut have = granted.split(':').peekable();
        while let Some(g) = have.next() {
            let last = have.peek().is_none();
            match want.next() {
                Some(_) if g == "*" && last => return true,
                Some(r) if g == "*" || g == r => {}
                _ => return false,
            }
        }
        want.next().is_none()
    }

    /// Every pair of strings of up to five symbols over `a`, `b`, `*`, `:` (well-formed or not)
    /// is matched as the reference matches it.
    #[test]
    fn same_as_the_reference_on_every_short_pair() {
        let mut words = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..5 {
            layer = layer
                .iter()
                .flat_map(|w| ["a", "b", "*", ":"].map(|c| format!("{w}{c}")))
                .collect();
            words.extend(layer.iter().cloned());
        }
        for g in &words {
            for r in &words {
                assert_eq!(perm_matches(g, r), reference(g, r), "{g:?} vs {r:?}");
            }
        }
    }

    #[test]
    fn coverage() {
        let cases = [
            ("payments:*", "payments:send:eu", true),
            ("payments:*", "payments:*", true),
            ("payments:*", "payments:*:eu", true),
            ("payments:*", "payments", false),
            ("a:*:c", "a:*", false),
            ("a:*:c", "a:*:c", true),
            ("a:*:c", "a:b:c", true),
            ("a:b:c", "a:*:c", false),
            ("a:*", "a:*:*", true),
            ("a:*:*", "a:*", false),
            ("*", "*", true),
            ("*", "a:*", true),
            ("a:*", "*", false),
            ("*:b", "*:*", false),
            ("*:*", "*:b", true),
        ];
        for (p, c, want) in cases {
            assert_eq!(perm_covers(p, c), want, "{p} covers {c}");
        }
    }

    #[test]
    fn first_uncovered() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(perms_cover(&s(&["a:*", "b:x"]), &s(&["a:y", "b:x"])), None);
        assert_eq!(
            perms_cover(&s(&["a:*"]), &s(&["a:y", "b:x", "c"])),
            Some("b:x".to_string())
        );
        assert_eq!(perms_cover(&s(&[]), &s(&[])), None);
    }

    #[test]
    fn validation() {
        for ok in ["a", "a:b", "*", "a:*:c", "payments.send:eu-west"] {
            assert!(validate_permission(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ":", "a:", ":a", "a::b", "a*", "a:b*", "**", "a b", "a:\n",
        ] {
            assert!(validate_permission(bad).is_err(), "{bad:?}");
        }
    }
}
