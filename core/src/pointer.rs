//! Compiled JSON Pointers (RFC 6901) with one extension: a `*` segment ranges over every item of
//! an array or every value of an object.
//!
//! Constraint `field`s, condition fields and `field:` scopes are pointers. They are parsed once,
//! at policy load, into a list of segments; resolving one against a payload then walks the value
//! without allocating unless the pointer has a wildcard.
//!
//! ```
//! use passgate::__private::pointer::Pointer;
//! use serde_json::json;
//!
//! let p = Pointer::parse("/items/*/price").unwrap();
//! let v = json!({"items": [{"price": 1}, {"price": 2}, {"name": "x"}]});
//! assert_eq!(p.resolve(&v), [&json!(1), &json!(2)]);
//! ```
//!
//! Because `*` is a wildcard, a pointer cannot name an object key that is literally `*`.

use std::fmt;

use serde_json::Value;

/// One segment of a compiled pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// An object key (unescaped), with its array index when it is a valid one (`0`, `17`; no
    /// leading zeros, no `-`).
    Key { key: String, index: Option<usize> },
    /// `*`: every array item or object value.
    Wildcard,
}

/// A compiled JSON Pointer. Build it with [`Pointer::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    source: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

/// The longest pointer accepted, in bytes.
pub const MAX_POINTER_LEN: usize = 1024;

impl Pointer {
    /// Parses `s`: empty (the whole document) or `/`-separated segments with RFC 6901 escapes
    /// (`~0` for `~`, `~1` for `/`). A segment that is exactly `*` is a wildcard.
    pub fn parse(s: &str) -> Result<Pointer, String> {
        if s.len() > MAX_POINTER_LEN {
            return Err(format!("JSON pointer longer than {MAX_POINTER_LEN} bytes"));
        }
        let mut segments = Vec::new();
        let mut wildcard = false;
        if !s.is_empty() {
            let Some(rest) = s.strip_prefix('/') else {
                return Err(format!("JSON pointer {s:?} must start with \"/\""));
            };
            for raw in rest.split('/') {
                if raw == "*" {
                    wildcard = true;
                    segments.push(Segment::Wildcard);
                    continue;
                }
                let key = unescape(raw).ok_or_else(|| {
                    format!("JSON pointer {s:?} has a \"~\" not followed by 0 or 1")
                })?;
                let index = array_index(&key);
                segments.push(Segment::Key { key, index });
            }
        }
        Ok(Pointer {
            source: s.to_string(),
            segments,
            wildcard,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pointer has a `*` segment (and so may match several values).
    pub fn has_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The single value at this pointer, for pointers without a wildcard (`None` when absent or
    /// when the pointer has a wildcard).
    pub fn resolve_one<'v>(&self, root: &'v Value) -> Option<&'v Value> {
        if self.wildcard {
            return None;
        }
        let mut cur = root;
        for seg in &self.segments {
            cur = step(cur, seg)?;
        }
        Some(cur)
    }

    /// Every value this pointer matches in `root`, in document order.
    pub fn resolve<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        self.matches(root).collect()
    }

    /// Like [`Pointer::resolve`], as an iterator that allocates nothing for a pointer without a
    /// wildcard.
    pub fn matches<'v>(&self, root: &'v Value) -> Matches<'v> {
        if !self.wildcard {
            return Matches::One(self.resolve_one(root));
        }
        let mut out = Vec::new();
        walk(
            root,
            &self.segments,
            &mut |_, v| out.push(v),
            &mut String::new(),
        );
        Matches::Many(out.into_iter())
    }

    /// Every match with its concrete pointer (`/items/1/price` for `/items/*/price`). Allocates;
    /// meant for messages.
    pub fn resolve_paths<'v>(&self, root: &'v Value) -> Vec<(String, &'v Value)> {
        if !self.wildcard {
            return self
                .resolve_one(root)
                .map(|v| (self.source.clone(), v))
                .into_iter()
                .collect();
        }
        let mut out = Vec::new();
        walk(
            root,
            &self.segments,
            &mut |p: &str, v| out.push((p.to_string(), v)),
            &mut String::new(),
        );
        out
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The values a [`Pointer`] matched: an iterator that owns no heap memory for pointers without a
/// wildcard.
#[derive(Debug)]
pub enum Matches<'v> {
    /// A pointer without a wildcard: at most one value.
    One(Option<&'v Value>),
    /// A pointer with a wildcard: every match.
    Many(std::vec::IntoIter<&'v Value>),
}

impl<'v> Iterator for Matches<'v> {
    type Item = &'v Value;
    fn next(&mut self) -> Option<&'v Value> {
        match self {
            Matches::One(v) => v.take(),
            Matches::Many(it) => it.next(),
        }
    }
}

fn step<'v>(v: &'v Value, seg: &Segment) -> Option<&'v Value> {
    match (v, seg) {
        (Value::Object(m), Segment::Key { key, .. }) => m.get(key),
        (Value::Array(a), Segment::Key { index, .. }) => a.get((*index)?),
        _ => None,
    }
}

fn walk<'v>(
    v: &'v Value,
    segments: &[Segment],
    emit: &mut dyn FnMut(&str, &'v Value),
    path: &mut String,
) {
    let Some((seg, rest)) = segments.split_first() else {
        emit(path, v);
        return;
    };
    let len = path.len();
    match seg {
        Segment::Wildcard => match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    path.push('/');
                    path.push_str(&i.to_string());
                    walk(x, rest, emit, path);
                    path.truncate(len);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    path.push('/');
                    path.push_str(&escape(k));
                    walk(x, rest, emit, path);
                    path.truncate(len);
                }
            }
            _ => {}
        },
        Segment::Key { key, .. } => {
            if let Some(x) = step(v, seg) {
                path.push('/');
                path.push_str(&escape(key));
                walk(x, rest, emit, path);
                path.truncate(len);
            }
        }
    }
}

fn unescape(raw: &str) -> Option<String> {
    if !raw.contains('~') {
        return Some(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return None,
            }
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Escapes one key for use as a pointer segment (`~` → `~0`, `/` → `~1`), as in error paths.
pub fn escape(key: &str) -> String {
    if key.contains(['~', '/']) {
        key.replace('~', "~0").replace('/', "~1")
    } else {
        key.to_string()
    }
}

fn array_index(key: &str) -> Option<usize> {
    let ok = !key.is_empty()
        && key.bytes().all(|b| b.is_ascii_digit())
        && (key == "0" || !key.starts_with('0'));
    if ok {
        key.parse().ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_escapes() {
        let p = Pointer::parse("/a~1b/c~0d").unwrap();
        let v = json!({"a/b": {"c~d": 7}});
        assert_eq!(p.resolve_one(&v), Some(&json!(7)));
        assert_eq!(p.as_str(), "/a~1b/c~0d");
        assert!(Pointer::parse("a").is_err());
        assert!(Pointer::parse("/a~2").is_err());
        assert!(Pointer::parse("/a~").is_err());
        assert_eq!(Pointer::parse("").unwrap().resolve_one(&v), Some(&v));
    }

    #[test]
    fn array_indices_are_strict() {
        let v = json!({"a": [10, 20]});
        let get = |p: &str| Pointer::parse(p).unwrap().resolve_one(&v).cloned();
        assert_eq!(get("/a/1"), Some(json!(20)));
        assert_eq!(get("/a/01"), None);
        assert_eq!(get("/a/-"), None);
        assert_eq!(get("/a/2"), None);
        assert_eq!(get("/a/99999999999999999999999"), None);
    }

    #[test]
    fn wildcards_over_arrays_and_objects() {
        let v = json!({"a": [{"b": 1}, {"b": 2}], "m": {"x": {"b": 3}, "y/z": {"b": 4}}});
        let p = Pointer::parse("/a/*/b").unwrap();
        assert!(p.has_wildcard());
        assert_eq!(p.resolve(&v).len(), 2);
        assert_eq!(p.matches(&v).count(), 2);
        assert_eq!(p.resolve_one(&v), None);
        let q = Pointer::parse("/m/*/b").unwrap();
        let paths: Vec<String> = q.resolve_paths(&v).into_iter().map(|(p, _)| p).collect();
        assert_eq!(paths, ["/m/x/b", "/m/y~1z/b"]);
        assert!(Pointer::parse("/nothing/*").unwrap().resolve(&v).is_empty());
    }
}
