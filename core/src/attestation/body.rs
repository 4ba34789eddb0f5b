//! A decision's record body written straight as RFC 8785 bytes.
//!
//! The body's member names are fixed and ASCII, so their canonical order is known here, at
//! compile time: the writer emits them in that order with no `Value` built, no map, no sort. Only
//! the members whose keys come from elsewhere are sorted (the `remaining` map, whose keys are
//! constraint ids) or go through the general writer (`trace`, `pop`, `catalog`, which are JSON
//! values). The bytes are exactly `json::canonical` of the `Value` the previous writer built; a
//! differential test (`body_bytes_equal_the_canonical_value`) checks that on random decisions.

use serde_json::Number;

use super::{DecisionFacts, Tail, VERSION};
use crate::decision::{Check, Text};
use crate::error::{Error, Result};
use crate::jcs;

/// Appends the canonical body of the decision record `id` to `out`.
pub(crate) fn write_decision_body(
    out: &mut Vec<u8>,
    tail: &Tail,
    id: &str,
    time_ms: i64,
    facts: &DecisionFacts<'_>,
) -> Result<()> {
    let d = facts.decision;
    let fail = |e: String| Error::payload("/", format!("cannot canonicalize: {e}"));
    let mut w = Body::open(out);
    w.key("agent_id");
    w.opt_str(d.agent_id.as_deref());
    if let Some(h) = facts.bundle_hash {
        w.key("bundle_hash");
        w.str(h);
    }
    if let Some(c) = facts.catalog {
        w.key("catalog");
        jcs::write(c, w.out).map_err(fail)?;
    }
    w.key("chain");
    w.str(&tail.chain);
    w.key("checks");
    w.out.push(b'[');
    for (i, c) in d.checks.iter().enumerate() {
        if i > 0 {
            w.out.push(b',');
        }
        check(w.out, c);
    }
    w.out.push(b']');
    w.key("client");
    w.opt_str(facts.client);
    w.key("counted");
    w.out.push(b'[');
    if d.allowed {
        for (i, op) in facts.counted.iter().enumerate() {
            if i > 0 {
                w.out.push(b',');
            }
            let mut o = Body::open(w.out);
            o.key("amount");
            o.str(crate::decimal::normalized(op.amount).as_str());
            o.key("constraint");
            o.str(&op.key.constraint);
            o.key("namespace");
            o.str(&op.key.namespace);
            o.key("scope");
            o.str(&op.key.scope);
            o.close();
        }
    }
    w.out.push(b']');
    w.key("decision");
    w.str(d.decision.as_str());
    w.key("delegation");
    w.out.push(b'[');
    for (i, p) in facts.delegation.iter().enumerate() {
        if i > 0 {
            w.out.push(b',');
        }
        jcs::string(p, w.out);
    }
    w.out.push(b']');
    w.key("evaluation_id");
    w.str(&d.evaluation_id);
    w.key("gate");
    w.str(&d.gate);
    if let Some(h) = &d.hold_id {
        w.key("hold_id");
        w.str(h);
    }
    w.key("id");
    w.str(id);
    w.key("kind");
    w.str("decision");
    w.key("mode");
    w.str(&d.mode);
    w.key("passport_id");
    w.opt_str(d.passport_id.as_deref());
    w.key("policy_hash");
    w.opt_str(d.policy_hash.as_deref());
    if let Some(p) = facts.pop {
        w.key("pop");
        jcs::write(p, w.out).map_err(fail)?;
    }
    w.key("prev");
    w.opt_str(tail.prev.as_deref());
    w.key("principal");
    match facts.principal {
        Some(p) => {
            let mut o = Body::open(w.out);
            o.key("agent_id");
            o.str(&p.agent_id);
            o.key("issuer");
            o.str(&p.issuer);
            o.close();
        }
        None => w.out.extend_from_slice(b"null"),
    }
    w.key("remaining");
    {
        let mut members: Vec<(&Text, &Text)> = d.remaining.iter().collect();
        // A `BTreeMap` is in byte order, which is RFC 8785's order unless a key leaves ASCII.
        if members.iter().any(|(k, _)| !k.is_ascii()) {
            members.sort_unstable_by(|a, b| jcs::utf16_cmp(a.0, b.0));
        }
        let mut o = Body::open(w.out);
        for (k, v) in members {
            o.any_key(k);
            o.text(v);
        }
        o.close();
    }
    w.key("request_hash");
    w.str(facts.request_hash);
    w.key("seq");
    w.number(Number::from(tail.seq + 1)).map_err(fail)?;
    w.key("time");
    w.number(Number::from(time_ms)).map_err(fail)?;
    w.key("trace");
    match facts.trace {
        Some(t) => jcs::write(&crate::json::normalize_numbers(t)?, w.out).map_err(fail)?,
        None => w.out.extend_from_slice(b"null"),
    }
    w.key("v");
    w.number(Number::from(VERSION)).map_err(fail)?;
    w.close();
    Ok(())
}

/// A check, its members in canonical order (`code`, `constraint`, `limit`, `max_admissible`,
/// `message`, `observed`, `passed`, `type`); absent options are left out, as serde does.
fn check(out: &mut Vec<u8>, c: &Check) {
    let mut o = Body::open(out);
    if let Some(code) = &c.code {
        o.key("code");
        o.any_text(code);
    }
    o.key("constraint");
    o.any_text(&c.constraint);
    if let Some(l) = &c.limit {
        o.key("limit");
        o.text(l);
    }
    if let Some(m) = &c.max_admissible {
        o.key("max_admissible");
        o.text(m);
    }
    o.key("message");
    o.any_text(&c.message);
    if let Some(v) = &c.observed {
        o.key("observed");
        o.text(v);
    }
    o.key("passed");
    o.out
        .extend_from_slice(if c.passed { b"true" } else { b"false" });
    o.key("type");
    o.any_text(&c.ty);
    o.close();
}

/// An object being written: the body opens itself with its first key.
struct Body<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Body<'_> {
    /// Writes `{` and starts the object.
    fn open(out: &mut Vec<u8>) -> Body<'_> {
        out.push(b'{');
        Body { out, first: true }
    }

    fn close(self) {
        self.out.push(b'}');
    }

    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    /// A member name written in this file: ASCII letters and `_`, nothing to escape, so it is
    /// copied as it is (a third of the strings in a record are these names).
    fn key(&mut self, k: &'static str) {
        debug_assert!(
            k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{k}"
        );
        self.comma();
        self.out.push(b'"');
        self.out.extend_from_slice(k.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    /// A member name from elsewhere (a constraint's id), escaped.
    fn any_key(&mut self, k: &str) {
        self.comma();
        jcs::string(k, self.out);
        self.out.push(b':');
    }

    fn str(&mut self, s: &str) {
        jcs::string(s, self.out);
    }

    /// A check's value or a `remaining` amount: a decimal is written from the number (its text
    /// is digits, `-` and `.`: nothing to escape), with no rendering kept.
    fn text(&mut self, t: &Text) {
        match t.as_decimal() {
            Some(d) => {
                self.out.push(b'"');
                self.out
                    .extend_from_slice(crate::decimal::text(d).as_str().as_bytes());
                self.out.push(b'"');
            }
            None => self.any_text(t),
        }
    }

    /// A text of the decision, escaped, written without keeping a rendering of it
    /// ([`Text::with_str`]).
    fn any_text(&mut self, t: &Text) {
        t.with_str(|s| jcs::string(s, self.out));
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => jcs::string(s, self.out),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    fn number(&mut self, n: Number) -> std::result::Result<(), String> {
        jcs::number(&n, self.out)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use serde_json::{json, Value};

    use super::super::{decision_body, seal, seal_decision, seal_unsigned, Sealing};
    use super::*;
    use crate::decision::{Decision, Verdict};
    use crate::keys::KeyPair;
    use crate::passport::Principal;
    use crate::store::{CounterKey, CounterOp, WindowKind};

    /// Strings an agent or a policy may put in a record: ASCII, quotes, backslashes, controls,
    /// non-ASCII, characters above U+FFFF (whose UTF-16 order differs from their UTF-8 order
    /// against U+E000..U+FFFF) and the empty string.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_.:-]{0,12}",
            "[ -~]{0,16}",
            prop::collection::vec(
                prop_oneof![
                    Just('"'),
                    Just('\\'),
                    Just('\n'),
                    Just('\u{1}'),
                    Just('\u{7f}'),
                    Just('é'),
                    Just('\u{e000}'),
                    Just('\u{ffff}'),
                    Just('\u{1f600}'),
                    Just('a'),
                    Just('Z'),
                ],
                0..8
            )
            .prop_map(|cs| cs.into_iter().collect()),
        ]
    }

    /// A lazy message's parts: its text.
    struct Parts(String);

    impl crate::decision::Render for Parts {
        fn render(&self, out: &mut String) {
            out.push_str(&self.0);
        }
    }

    fn check() -> impl Strategy<Value = Check> {
        (
            text(),
            text(),
            any::<bool>(),
            text(),
            prop::option::of((text(), text())),
            prop::option::of(prop_oneof![Just("STORE_CONTENTION"), Just("QUOTA")]),
            prop::option::of(text()),
            any::<bool>(),
        )
            .prop_map(|(c, ty, passed, message, values, code, max, lazy)| {
                let message = match lazy {
                    // A message kept as parts, as the engine's own are, not read yet.
                    true => crate::decision::Text::lazy(Parts(message)),
                    false => message.into(),
                };
                let mut check = Check::new(c, ty, passed, message);
                if let Some((o, l)) = values {
                    check = check.with_values(o, l);
                }
                if let Some(code) = code {
                    check = check.with_code(code);
                }
                check.max_admissible = max.map(Into::into);
                check
            })
    }

    /// JSON values for `trace`, `pop` and `catalog`: numbers in every spelling (normalised in a
    /// trace), nested objects with keys in any order.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            prop_oneof![
                Just("1.50"),
                Just("1e2"),
                Just("-0"),
                Just("0.000001"),
                Just("12345678901234567890")
            ]
            .prop_map(|n| Value::Number(
                serde_json::from_str(n).unwrap_or(serde_json::Number::from(0))
            )),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((text(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone)]
    struct Case {
        decision: Decision,
        principal: Option<Principal>,
        delegation: Vec<String>,
        client: Option<String>,
        counted: Vec<CounterOp>,
        trace: Option<Value>,
        bundle_hash: Option<String>,
        pop: Option<Value>,
        catalog: Option<Value>,
        seq: u64,
        prev: Option<String>,
        time_ms: i64,
    }

    fn case() -> impl Strategy<Value = Case> {
        let decision = (
            (
                prop_oneof![
                    Just(Verdict::Allow),
                    Just(Verdict::Deny),
                    Just(Verdict::Escalate)
                ],
                text(),
                prop::option::of(text()),
                prop::option::of(text()),
                prop_oneof![Just("enforce"), Just("monitor")],
                text(),
                prop::option::of(text()),
            ),
            prop::collection::vec(check(), 0..6),
            prop::collection::btree_map(text(), text(), 0..5),
            prop::option::of(text()),
        )
            .prop_map(
                |((v, gate, agent, psp, mode, eval, policy), checks, remaining, hold)| Decision {
                    decision: v,
                    allowed: v == Verdict::Allow,
                    gate: gate.into(),
                    agent_id: agent.map(Text::from),
                    passport_id: psp.map(Text::from),
                    mode: mode.into(),
                    dry_run: false,
                    evaluation_id: eval,
                    policy_hash: policy.map(Text::from),
                    checks,
                    remaining: remaining
                        .into_iter()
                        .map(|(k, v)| (Text::from(k), Text::from(v)))
                        .collect::<BTreeMap<_, _>>(),
                    attestation: None,
                    replayed: false,
                    hold_id: hold,
                    approval_request: None,
                    redacted_payload: None,
                },
            );
        let op =
            (text(), text(), text(), any::<i64>(), 0u32..6).prop_map(|(ns, c, scope, n, scale)| {
                CounterOp {
                    key: CounterKey {
                        namespace: ns.into(),
                        constraint: c.into(),
                        scope: scope.into(),
                    },
                    window: WindowKind::Forever,
                    amount: Decimal::new(n, scale),
                    need: Decimal::ZERO,
                    max: Decimal::ZERO,
                }
            });
        (
            decision,
            prop::option::of((text(), text())),
            prop::collection::vec(text(), 0..3),
            prop::option::of(text()),
            prop::collection::vec(op, 0..3),
            (
                prop::option::of(value()),
                prop::option::of(text()),
                prop::option::of(value()),
                prop::option::of(value()),
            ),
            (0u64..(1 << 52), prop::option::of(text()), any::<i64>()),
        )
            .prop_map(
                |(
                    decision,
                    principal,
                    delegation,
                    client,
                    counted,
                    (trace, bundle_hash, pop, catalog),
                    (seq, prev, time_ms),
                )| Case {
                    decision,
                    principal: principal.map(|(issuer, agent_id)| Principal { issuer, agent_id }),
                    delegation,
                    client,
                    counted,
                    trace,
                    bundle_hash,
                    pop,
                    catalog,
                    seq,
                    prev,
                    time_ms,
                },
            )
    }

    fn key() -> &'static KeyPair {
        static KEY: std::sync::OnceLock<KeyPair> = std::sync::OnceLock::new();
        KEY.get_or_init(|| KeyPair::generate().unwrap_or_else(|e| panic!("key: {e}")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// The record written as bytes is the record the `Value` writer built, canonicalised:
        /// the same text byte for byte (so the same hash, signature and leaf), signed or not.
        #[test]
        fn body_bytes_equal_the_canonical_value(c in case()) {
            let mut tail = Tail::fresh().map_err(|e| TestCaseError::fail(e.to_string()))?;
            tail.seq = c.seq;
            tail.prev = c.prev.clone();
            let facts = DecisionFacts {
                decision: &c.decision,
                principal: c.principal.as_ref(),
                delegation: &c.delegation,
                client: c.client.as_deref(),
                request_hash: "sha256:00ff",
                counted: c.counted.iter().collect(),
                trace: c.trace.as_ref(),
                bundle_hash: c.bundle_hash.as_deref(),
                pop: c.pop.as_ref(),
                catalog: c.catalog.as_ref(),
            };
            let lazy = c.decision.checks.iter().filter(|k| k.message.unrendered()).count();
            let signed = seal_decision(&tail, "att_x", c.time_ms, &facts, Sealing::Each(key()));
            let unsigned = seal_decision(
                &tail, "att_x", c.time_ms, &facts, Sealing::Unsigned { did: key().did() });
            // Writing the record rendered no message for keeps.
            let still = c.decision.checks.iter().filter(|k| k.message.unrendered()).count();
            prop_assert_eq!(still, lazy);
            let body = decision_body(&tail, "att_x".into(), c.time_ms, &facts);
            match body {
                Err(e) => {
                    // A trace whose number cannot be normalised fails both writers alike.
                    prop_assert_eq!(signed.map(|_| ()).map_err(|e| e.to_string()), Err(e.to_string()));
                }
                Ok(body) => {
                    let (old, old_hash) = seal(body.clone(), key())
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let (new, new_hash) = signed.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let canonical = crate::json::canonical(&old)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(new.as_str(), canonical.as_str());
                    prop_assert_eq!(&new_hash, &old_hash);
                    // Read as a value, it is its canonical text parsed (numbers as RFC 8785
                    // writes them: the form that is hashed and signed).
                    let parsed: Value = serde_json::from_str(&canonical)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(new.value(), &parsed);
                    let (old, old_hash) = seal_unsigned(body, key().did())
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let (new, new_hash) = unsigned.map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let canonical = crate::json::canonical(&old)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(new.as_str(), canonical.as_str());
                    prop_assert_eq!(new_hash, old_hash);
                }
            }
        }
    }
}
