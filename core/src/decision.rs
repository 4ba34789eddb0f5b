//! The answer to a request: the verdict, every check that led to it, and what is left.
//!
//! A [`Decision`] serialises to one JSON shape — the one every binding and the MCP tools return:
//! `decision`, `allowed`, `gate`, `agent_id`, `passport_id`, `mode`, `dry_run`, `evaluation_id`,
//! `policy_hash`, `checks`, `remaining`, `attestation`, `replayed`, `hold_id`, `approval_request`
//! and `redacted_payload` (`null` when unset). Checks are reported whether they passed or not, so a
//! denied agent learns everything it must change in one round trip.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use once_cell::race::OnceBox;
use rust_decimal::Decimal;

use serde::{Deserialize, Serialize};

use serde_json::Value;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    Escalate,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
            Verdict::Escalate => "escalate",
        }
    }
}

/// A check's text — its constraint id, type, message, observed value, limit, code: a string, or
/// typed values rendered into one the first time it is read (and then kept).
///
/// The evaluator records what it saw as numbers and shared strings and formats nothing on the
/// allow path; a message costs its formatting only when someone reads it (a failed check shown to
/// the agent, `to_json`, a binding converting the decision, the signed record). It reads as a
/// `&str` (`Deref`), compares with strings, and serialises as a JSON string.
///
/// 32 bytes: a [`Check`] holds seven of them and is moved a few times per decision, so a
/// rendering cache is kept only where there is something to render — beside a decimal (one
/// pointer, allocated when first read) and inside a lazy message's shared allocation.
#[derive(Clone)]
pub struct Text {
    repr: Repr,
}

// Kept small on purpose (see above): a regression here is a slower allow path.
const _: () = assert!(std::mem::size_of::<Text>() <= 32);
const _: () = assert!(std::mem::size_of::<Check>() <= 232);

#[derive(Clone)]
enum Repr {
    Static(&'static str),
    Owned(Box<str>),
    Shared(Arc<str>),
    /// A decimal, shown as `Decimal`'s `Display` shows it, rendered on first read.
    Decimal(Decimal, OnceBox<String>),
    Lazy(Arc<Lazy<dyn Render>>),
}

/// A message's typed parts and its rendering once read, in one allocation.
struct Lazy<R: ?Sized> {
    rendered: OnceBox<String>,
    parts: R,
}

/// A message kept as its typed parts, rendered on first read.
pub(crate) trait Render: Send + Sync {
    fn render(&self, out: &mut String);
}

impl Text {
    /// A decimal, shown normalised (`5.50` → `5.5`) when read.
    pub(crate) fn normalized(d: Decimal) -> Self {
        Text::decimal(d.normalize())
    }

    /// A decimal, shown with its own scale (`600.00` stays `600.00`) when read.
    pub(crate) fn decimal(d: Decimal) -> Self {
        Text::of(Repr::Decimal(d, OnceBox::new()))
    }

    /// The decimal this text was made from, if it was made from one (no parsing).
    pub(crate) fn as_decimal(&self) -> Option<Decimal> {
        match &self.repr {
            Repr::Decimal(d, _) => Some(*d),
            _ => None,
        }
    }

    /// A message rendered from its parts when first read.
    pub(crate) fn lazy(r: impl Render + 'static) -> Self {
        let lazy: Arc<Lazy<dyn Render>> = Arc::new(Lazy {
            rendered: OnceBox::new(),
            parts: r,
        });
        Text::of(Repr::Lazy(lazy))
    }

    /// A shared string (no copy).
    pub fn shared(s: Arc<str>) -> Self {
        Text::of(Repr::Shared(s))
    }

    fn of(repr: Repr) -> Self {
        Text { repr }
    }

    /// Calls `f` with the text without keeping a rendering it did not have yet: a message or a
    /// decimal not read so far is rendered into a buffer this thread keeps, not into a new
    /// allocation kept beside it. For writing a record, which reads each text once: a host that
    /// reads the message afterwards renders it then (the same text: rendering is a function of
    /// the parts).
    pub(crate) fn with_str<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        thread_local! {
            static SCRATCH: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        match &self.repr {
            Repr::Static(s) => f(s),
            Repr::Owned(s) => f(s),
            Repr::Shared(s) => f(s),
            Repr::Decimal(d, rendered) => match rendered.get() {
                Some(s) => f(s),
                None => f(crate::decimal::text(*d).as_str()),
            },
            Repr::Lazy(lazy) => match lazy.rendered.get() {
                Some(s) => f(s),
                None => {
                    // Taken, not borrowed: a render that writes a record of its own still works.
                    let mut buf = SCRATCH.with(|b| b.take());
                    buf.clear();
                    lazy.parts.render(&mut buf);
                    let r = f(&buf);
                    if buf.capacity() <= 4096 {
                        SCRATCH.with(|b| b.replace(buf));
                    }
                    r
                }
            },
        }
    }

    /// Whether reading this text would render it now (a test's probe of [`Text::with_str`]).
    #[cfg(test)]
    pub(crate) fn unrendered(&self) -> bool {
        match &self.repr {
            Repr::Decimal(_, rendered) => rendered.get().is_none(),
            Repr::Lazy(lazy) => lazy.rendered.get().is_none(),
            _ => false,
        }
    }

    /// The text (rendered now if it was not yet).
    pub fn as_str(&self) -> &str {
        match &self.repr {
            Repr::Static(s) => s,
            Repr::Owned(s) => s,
            Repr::Shared(s) => s,
            // A race between two first reads renders twice and keeps one: the same text.
            Repr::Decimal(d, rendered) => {
                rendered.get_or_init(|| Box::new(crate::decimal::text(*d).as_str().to_owned()))
            }
            Repr::Lazy(lazy) => lazy.rendered.get_or_init(|| {
                let mut out = String::new();
                lazy.parts.render(&mut out);
                Box::new(out)
            }),
        }
    }
}

impl Default for Text {
    fn default() -> Self {
        Text::of(Repr::Static(""))
    }
}

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Text {}

/// In the order of the texts (as `str` orders them), so a `BTreeMap<Text, _>` is looked up by
/// `&str`.
impl Ord for Text {
    fn cmp(&self, other: &Text) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl PartialOrd for Text {
    fn partial_cmp(&self, other: &Text) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::hash::Hash for Text {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        self == other.as_str()
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Text::of(Repr::Static(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::of(Repr::Owned(s.into_boxed_str()))
    }
}

impl From<Arc<str>> for Text {
    fn from(s: Arc<str>) -> Self {
        Text::shared(s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> String {
        match t.repr {
            Repr::Owned(s) => s.into_string(),
            _ => t.as_str().to_string(),
        }
    }
}

impl Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Text::from)
    }
}

/// One check: a constraint of the gate or of a caveat, or one of the engine's own checks
/// (`passport`, `permissions`, `gate`, `input_schema`).
///
/// Its texts are [`Text`]s: what the evaluator saw is kept typed and formatted only when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The constraint id.
    pub constraint: Text,
    /// The constraint type (`max_value`, `spend_limit`, …) or the engine check's name.
    #[serde(rename = "type")]
    pub ty: Text,
    pub passed: bool,
    pub message: Text,
    /// What was seen (a decimal string for amounts and counts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Text>,
    /// The bound it was held to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Text>,
    /// The stable error code, on the engine's own failed checks (`PASSPORT_EXPIRED`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Text>,
    /// For cumulative checks that failed: the largest amount that would still be admitted now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_admissible: Option<Text>,
}

impl Check {
    /// A passed or failed check with a message and nothing else.
    pub fn new(
        constraint: impl Into<Text>,
        ty: impl Into<Text>,
        passed: bool,
        message: impl Into<Text>,
    ) -> Self {
        Check {
            constraint: constraint.into(),
            ty: ty.into(),
            passed,
            message: message.into(),
            observed: None,
            limit: None,
            code: None,
            max_admissible: None,
        }
    }

    /// Adds the observed value and the limit.
    pub fn with_values(mut self, observed: impl Into<Text>, limit: impl Into<Text>) -> Self {
        self.observed = Some(observed.into());
        self.limit = Some(limit.into());
        self
    }

    /// Adds an error code (engine checks).
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code.into());
        self
    }
}

/// The decision for one request, as returned by `enforce` and `dry_run`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub decision: Verdict,
    pub allowed: bool,
    pub gate: Text,
    pub agent_id: Option<Text>,
    pub passport_id: Option<Text>,
    /// `enforce` or `monitor`.
    pub mode: Text,
    pub dry_run: bool,
    pub evaluation_id: String,
    pub policy_hash: Option<Text>,
    pub checks: Vec<Check>,
    /// Per cumulative constraint id: what is left after this decision (decimal strings, kept
    /// as decimals until read). Looked up by `&str`: `d.remaining.get("daily")`.
    pub remaining: BTreeMap<Text, Text>,
    /// The signed record of this decision (`None` for dry runs), shared with the store's copy.
    pub attestation: Option<crate::attestation::Record>,
    /// True when returned from the idempotency store instead of evaluated.
    pub replayed: bool,
    /// The reservation made by `enforce(hold = true)` when admitted: settle or release it.
    #[serde(default)]
    pub hold_id: Option<String>,
    /// On `escalate`: what a human must approve (`evaluation_id`, `fingerprint`, `reasons`, …).
    #[serde(default)]
    pub approval_request: Option<Value>,
    /// With a `pii` constraint in `redact` mode: the payload with personal data replaced by
    /// `[REDACTED:<kind>]` — what the host should pass on.
    #[serde(default)]
    pub redacted_payload: Option<Value>,
}

impl Decision {
    /// The failed checks.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The decision as a JSON value (the shape in the module docs).
    pub fn to_json(&self) -> Value {
        // Serialising these plain types cannot fail; fall back to null rather than panic.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}
