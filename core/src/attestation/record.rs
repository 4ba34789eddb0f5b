//! [`Record`]: a sealed attestation record as its JSON text, shared by the decision, the store
//! and the caller, with its `Value` parsed only when someone reads it.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

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

    /// Whether `a` and `b` are the same shared record.
    pub fn ptr_eq(a: &Record, b: &Record) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
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
