//! [`Record`]: a sealed attestation record as its JSON text, shared by the decision, the store
//! and the caller, with its `Value` parsed only when someone reads it.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::de::{Error as _, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};

/// An attestation record (`{"body", "hash", "kid", "sig" | "leaf"}`).
///
/// A record this engine seals is written once, as RFC 8785 bytes, and shared (cloning is a
/// reference count) between the decision, the store — which stores those bytes — and the
/// caller — a binding hands them over as they are. Reading it as a [`Value`] (`Deref`, indexing:
/// `record["body"]["seq"]`) parses those bytes on first use and keeps the result. A record read
/// back from a store or built from a value keeps that value and its JSON text.
#[derive(Clone)]
pub struct Record(Arc<Inner>);

/// At least one of the two is set; the other is derived from it on first use.
struct Inner {
    /// A `String`, not a `Box<str>`: the sealed record is written into a buffer sized ahead,
    /// and shrinking it to fit would copy it once more.
    text: OnceLock<String>,
    value: OnceLock<Value>,
}

impl Record {
    /// A record from its value (read back from a store, or built by a host or a test).
    pub fn from_value(value: Value) -> Record {
        Record(Arc::new(Inner {
            text: OnceLock::new(),
            value: OnceLock::from(value),
        }))
    }

    /// A record from JSON text this crate wrote (so it parses; see [`Record::value`]).
    pub(crate) fn from_written(text: String) -> Record {
        Record(Arc::new(Inner {
            text: OnceLock::from(text),
            value: OnceLock::new(),
        }))
    }

    /// A record from stored text: an error if the text is not one JSON value.
    pub fn parse(text: &str) -> Result<Record> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            Error::AttestationMalformed(format!("a stored record is not JSON: {e}"))
        })?;
        Ok(Record::from_stored(text, value))
    }

    /// A stored record: its text and the value parsed from it.
    pub(crate) fn from_stored(text: &str, value: Value) -> Record {
        Record(Arc::new(Inner {
            text: OnceLock::from(text.to_string()),
            value: OnceLock::from(value),
        }))
    }

    /// The record's JSON text: RFC 8785 for a record this engine sealed; for one built from a
    /// value, that value serialised (once, on first use).
    pub fn as_str(&self) -> &str {
        self.0.text.get_or_init(|| self.value().to_string())
    }

    /// The record as a JSON value, parsed from its text on first use.
    pub fn value(&self) -> &Value {
        self.0.value.get_or_init(|| match self.0.text.get() {
            Some(text) => parse_written(text),
            None => Value::Null,
        })
    }

    /// The record as an owned value (taken without a copy when this is its only holder).
    pub fn into_value(self) -> Value {
        match Arc::try_unwrap(self.0) {
            Ok(inner) => match inner.value.into_inner() {
                Some(v) => v,
                None => inner.text.get().map_or(Value::Null, |t| parse_written(t)),
            },
            Err(shared) => Record(shared).value().clone(),
        }
    }

    /// What links the record into its chain: its `hash` and its body's `prev`, each `None` when
    /// absent or not a string, exactly as reading them from [`Record::value`] gives them. A
    /// record not parsed yet is scanned for these two fields alone, without building its
    /// `Value` (pruning reads them from every record it drops); text the scan does not take
    /// as it is (a repeated key, a field of another type) is read through the `Value`.
    pub(crate) fn link(&self) -> (Option<&str>, Option<&str>) {
        if let (None, Some(text)) = (self.0.value.get(), self.0.text.get()) {
            let mut de = serde_json::Deserializer::from_str(text);
            de.disable_recursion_limit();
            if let Ok(l) = LinkFields::deserialize(&mut de).and_then(|l| de.end().map(|()| l)) {
                return (l.hash, l.prev);
            }
        }
        let v = self.value();
        let at = |p: &str| v.pointer(p).and_then(Value::as_str);
        (at("/hash"), at("/body/prev"))
    }

    /// Whether `a` and `b` are the same shared record.
    pub fn ptr_eq(a: &Record, b: &Record) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

/// A record's `hash` and `body.prev`, every other field skipped unread ([`Record::link`]). Only
/// objects are read (serde's derive would also take an array, positionally), and anything the
/// `Value` could read otherwise is an error here, so that the caller reads the `Value`: a
/// repeated `hash`, `body` or `prev` (the `Value` keeps the last), a key or string with an
/// escape (not borrowed), a field of another type.
struct LinkFields<'a> {
    hash: Option<&'a str>,
    prev: Option<&'a str>,
}

impl<'de> Deserialize<'de> for LinkFields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(LinkVisitor { body: false })
    }
}

/// Reads a record (`body: false`) or its body (`body: true`, `prev` only).
struct LinkVisitor {
    body: bool,
}

impl<'de> Visitor<'de> for LinkVisitor {
    type Value = LinkFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> std::result::Result<Self::Value, A::Error> {
        let mut out = LinkFields {
            hash: None,
            prev: None,
        };
        let (mut hash, mut body, mut prev) = (false, false, false);
        let once = |seen: &mut bool| match std::mem::replace(seen, true) {
            true => Err(A::Error::custom("a repeated key")),
            false => Ok(()),
        };
        while let Some(key) = m.next_key::<&'de str>()? {
            match (self.body, key) {
                (false, "hash") => {
                    once(&mut hash)?;
                    out.hash = m.next_value()?;
                }
                (false, "body") => {
                    once(&mut body)?;
                    out.prev = m.next_value::<Option<LinkBody<'de>>>()?.and_then(|b| b.0);
                }
                (true, "prev") => {
                    once(&mut prev)?;
                    out.prev = m.next_value()?;
                }
                _ => {
                    m.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A body's `prev` ([`LinkVisitor`]).
struct LinkBody<'a>(Option<&'a str>);

impl<'de> Deserialize<'de> for LinkBody<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let fields = d.deserialize_map(LinkVisitor { body: true })?;
        Ok(LinkBody(fields.prev))
    }
}

/// Parses text this crate wrote. It is valid JSON by construction, but may nest deeper than
/// serde_json's default limit of 128 (host values inside a body are bounded only by what built
/// them), so the limit is lifted: the writer already recursed as deep. Should it fail all the
/// same, the record reads as `null` rather than panicking — and it still verifies from its text.
fn parse_written(text: &str) -> Value {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    Value::deserialize(&mut de).unwrap_or(Value::Null)
}

impl Deref for Record {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Record) -> bool {
        Record::ptr_eq(self, other) || self.value() == other.value()
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.value(), f)
    }
}

impl Serialize for Record {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Record, D::Error> {
        Value::deserialize(d).map(Record::from_value)
    }
}

impl From<Value> for Record {
    fn from(value: Value) -> Record {
        Record::from_value(value)
    }
}

impl AsRef<Value> for Record {
    fn as_ref(&self) -> &Value {
        self.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `link` gives what the `Value` gives, whatever the text: the scan where it reads the text
    /// as it is, the `Value` where it does not.
    #[test]
    fn link_reads_what_the_value_reads() {
        // (text, whether `link` reads it without the `Value`)
        let texts = [
            (
                r#"{"body":{"seq":2,"prev":"p1"},"hash":"h2","sig":"s"}"#,
                true,
            ),
            (
                r#"{"hash":"h2","body":{"prev":"p1","data":{"prev":"no","hash":"no"}}}"#,
                true,
            ),
            (r#"{"body":{"seq":1,"prev":null},"hash":"h1"}"#, true),
            (r#"{"body":{"seq":1},"hash":"h1"}"#, true),
            (r#"{"body":null,"hash":null}"#, true),
            (r#"{}"#, true),
            // Repeated keys: the Value keeps the last.
            (
                r#"{"hash":"a","hash":"b","body":{"prev":"x","prev":"y"}}"#,
                false,
            ),
            (
                r#"{"body":{"prev":"x"},"body":{"prev":"y"},"hash":"h"}"#,
                false,
            ),
            (
                r#"{"hash":"a","x":1,"x":2,"body":{"prev":"p","y":[1,{"prev":"q"}]}}"#,
                true,
            ),
            // Escapes in a key or a value.
            (r#"{"h\u0061sh":"h","body":{"pr\u0065v":"p"}}"#, false),
            (r#"{"hash":"h\u0032","body":{"prev":"p\n"}}"#, false),
            // Other types, other shapes.
            (r#"{"hash":2,"body":{"prev":3}}"#, false),
            (r#"{"hash":"h","body":"prev"}"#, false),
            (r#"{"hash":"h","body":["p1"]}"#, false),
            (r#"["h",{"prev":"p"}]"#, false),
            (r#"{"hash":"h","body":{"prev":{"a":1}}}"#, false),
            (r#"{"hash":["h"],"body":{"prev":["p"]}}"#, false),
            (r#"  {"body" : { "prev" : "p" } , "hash" : "h" }  "#, true),
        ];
        for (text, scanned) in texts {
            let lazy = Record::from_written(text.to_string());
            let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let want = (
                value.pointer("/hash").and_then(Value::as_str),
                value.pointer("/body/prev").and_then(Value::as_str),
            );
            assert_eq!(lazy.link(), want, "{text}");
            assert_eq!(lazy.0.value.get().is_none(), scanned, "{text}");
            let parsed = Record::parse(text).unwrap_or_else(|_| Record::from_value(Value::Null));
            assert_eq!(parsed.link(), want, "{text} (parsed)");
        }
    }
}
