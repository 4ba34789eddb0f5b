//! Argument types shared by several operations; each carries its rule, stated once.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::store::{AttestationFilter, CounterFilter};

/// A whole number of days, 1 to 3,650 (ten years): a passport's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(pub u32);

impl JsonSchema for Days {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Days".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 1, "maximum": Days::MAX})
    }
}

impl Days {
    /// The longest lifetime a passport is issued for.
    pub const MAX: u32 = 3650;

    /// Checked days.
    pub fn new(days: i64) -> Result<Days> {
        u32::try_from(days)
            .ok()
            .filter(|d| (1..=Days::MAX).contains(d))
            .map(Days)
            .ok_or_else(|| {
                Error::argument(
                    "/expires_in_days",
                    format!(
                        "use a whole number of days from 1 to {}, not {days}",
                        Days::MAX
                    ),
                )
            })
    }

    /// In seconds.
    pub fn secs(self) -> i64 {
        i64::from(self.0) * 86_400
    }
}

impl<'de> Deserialize<'de> for Days {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Days, D::Error> {
        let n = i64::deserialize(d)?;
        Days::new(n).map_err(|e| serde::de::Error::custom(e.detail()))
    }
}

/// A lifetime: positive seconds (`900`) or a duration (`"15m"`: s, m, h or d).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl {
    ms: i64,
}

impl Ttl {
    /// From seconds (positive).
    pub fn secs(secs: i64) -> Result<Ttl> {
        if secs <= 0 {
            return Err(Error::argument(
                "/ttl",
                format!("use positive seconds or a duration like 30s, 15m, 1h, 1d, not {secs}"),
            ));
        }
        Ok(Ttl {
            ms: secs.saturating_mul(1000),
        })
    }

    /// From a duration such as `"15m"`.
    pub fn parse(text: &str) -> Result<Ttl> {
        crate::constraint::parse_duration_ms(text)
            .map(|ms| Ttl { ms })
            .map_err(|m| Error::argument("/ttl", m))
    }

    /// In milliseconds.
    pub fn ms(self) -> i64 {
        self.ms
    }
}

impl<'de> Deserialize<'de> for Ttl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Ttl, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(i64),
            Text(String),
        }
        let t = match Raw::deserialize(d)? {
            Raw::Secs(s) => Ttl::secs(s),
            Raw::Text(t) => Ttl::parse(&t),
        };
        t.map_err(|e| serde::de::Error::custom(e.detail()))
    }
}

impl JsonSchema for Ttl {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ttl".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Seconds, or a duration like 30s, 15m, 1h, 1d",
            "oneOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "minLength": 2}
            ]
        })
    }
}

/// A short label recorded in a decision's trace (an MCP session id, a client name): 1 to 256
/// characters, none of them a control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLabel(pub String);

impl TraceLabel {
    /// The longest label, in characters.
    pub const MAX: usize = 256;

    /// A checked label.
    pub fn new(text: &str) -> std::result::Result<TraceLabel, String> {
        let n = text.chars().count();
        if n == 0 || n > TraceLabel::MAX {
            return Err(format!("use 1 to {} characters, not {n}", TraceLabel::MAX));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(format!("use printable characters only (found {:?})", c));
        }
        Ok(TraceLabel(text.to_string()))
    }
}

impl<'de> Deserialize<'de> for TraceLabel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<TraceLabel, D::Error> {
        let s = String::deserialize(d)?;
        TraceLabel::new(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for TraceLabel {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TraceLabel".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "string", "minLength": 1, "maxLength": TraceLabel::MAX})
    }
}

/// Which counters: by gate, agent, namespace, constraint or scope (all optional, combined).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct CounterFilterArgs {
    /// The gate's counters (namespace `gate:<gate>`).
    pub gate: Option<String>,
    /// The agent's counters, under every trusted issuer.
    pub agent_id: Option<String>,
    /// The counter namespace (`gate:<gate>`, or a shared one).
    pub namespace: Option<String>,
    /// The constraint's name.
    pub constraint: Option<String>,
    /// The counter scope (an agent's, a client's, or `global`).
    pub scope: Option<String>,
}

impl CounterFilterArgs {
    /// The store filters these arguments name on `engine` (one per trusted issuer with an
    /// `agent_id`; see [`Engine::agent_filters`]).
    pub fn filters(&self, engine: &Engine) -> Vec<CounterFilter> {
        let f = CounterFilter {
            namespace: match &self.gate {
                Some(g) => Some(crate::store::CounterKey::gate(g)),
                None => self.namespace.clone(),
            },
            constraint: self.constraint.clone(),
            scope: self.scope.clone(),
        };
        engine.agent_filters(f, self.agent_id.as_deref())
    }
}

/// A decision verdict, as filters name it.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerdictArg {
    /// Admitted.
    Allow,
    /// Refused.
    Deny,
    /// Waiting for an approval.
    Escalate,
}

impl VerdictArg {
    /// As the records spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictArg::Allow => "allow",
            VerdictArg::Deny => "deny",
            VerdictArg::Escalate => "escalate",
        }
    }
}

/// Which attestation records: every field optional, all combined.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct AttestationFields {
    /// One chain (an engine's chain id).
    pub chain: Option<String>,
    /// Decisions on this gate.
    pub gate: Option<String>,
    /// Records about this agent.
    pub agent_id: Option<String>,
    /// Decisions with this verdict.
    pub decision: Option<VerdictArg>,
    /// The records of one evaluation (its decision and lifecycle).
    pub evaluation_id: Option<String>,
    /// Records of this kind (`decision`, `revocation`, `hold.settled`, ...).
    pub kind: Option<String>,
    /// Records at or after this time (ms since the epoch).
    pub since: Option<i64>,
    /// Records before this time (ms since the epoch).
    pub until: Option<i64>,
}

impl AttestationFields {
    /// The store filter, with at most `limit` records.
    pub fn filter(&self, limit: Option<usize>) -> AttestationFilter {
        AttestationFilter {
            chain: self.chain.clone(),
            gate: self.gate.clone(),
            agent_id: self.agent_id.clone(),
            decision: self.decision.map(|d| d.as_str().to_string()),
            evaluation_id: self.evaluation_id.clone(),
            kind: self.kind.clone(),
            since_ms: self.since,
            until_ms: self.until,
            limit,
            anonymous_only: false,
        }
    }
}

/// Which attestation records, and how many at most (the oldest).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AttestationFilterArgs {
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub fields: AttestationFields,
    /// At most this many (the oldest).
    pub limit: Option<u64>,
}

impl AttestationFilterArgs {
    /// The store filter.
    pub fn filter(&self) -> AttestationFilter {
        let limit = self.limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX));
        self.fields.filter(limit)
    }
}
