//! Retention: how long a store keeps attestation records, and the signed checkpoints that let a
//! pruned chain still verify.
//!
//! Retention is given in the store URL (`?retention_age=30d&retention_records=100000`, and
//! `retention_export=/path/file.jsonl` for a sink the pruned records are appended to first) or on
//! the [`EngineBuilder`](crate::EngineBuilder) (which wins). These options are the engine's: they
//! are taken out of the URL before the backend reads its own options. So is `policy_source=store`
//! (see [`PolicySource`]).
//!
//! What a store keeps and drops (see also the [`Store`](super::Store) contract):
//! - Records are dropped oldest first in the store's append order, which is each chain's `seq`
//!   order, so what goes is always a **prefix of each chain**, never a record in the middle.
//! - A record is *due* when it is older than `max_age_ms` (by its `time`), or when the store holds
//!   more than `max_records` records (all chains together) and it is among the oldest excess.
//! - Each chain's newest record is kept whatever its age (it anchors the chain's tail: an engine
//!   reads it back to continue, and to detect a store that lost records), so a store holds at
//!   most `max_records` plus one record per chain whose other records were all dropped.
//! - Before a prefix goes, the engine signs a [checkpoint](crate::retention) naming the chain and
//!   the `seq` and `hash` of the last record dropped; the store keeps the newest checkpoint of
//!   each chain, replaced in the same atomic step as the deletion.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Error, Result};

/// How long records are kept. `None` fields keep everything by that measure; both `None` keeps
/// everything (durable stores' default; `memory:` defaults to 100,000 records).
///
/// ```
/// use passgate::store::Retention;
/// let r = Retention::parse_age("30d").unwrap();
/// assert_eq!(r, 30 * 86_400_000);
/// assert_eq!(Retention::parse_age("0d").unwrap_err().code(), "INVALID_ARGUMENT");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// Records older than this (ms, by their `time`) are dropped.
    pub max_age_ms: Option<i64>,
    /// At most this many records are kept (all chains of the store together).
    pub max_records: Option<u64>,
}

/// The longest retention age accepted: 100 years.
pub const MAX_RETENTION_AGE_MS: i64 = 100 * 366 * 86_400_000;

/// The records `memory:` keeps when not told otherwise.
pub const MEMORY_DEFAULT_RECORDS: u64 = 100_000;

impl Retention {
    /// Keeps everything.
    pub const KEEP_ALL: Retention = Retention {
        max_age_ms: None,
        max_records: None,
    };

    /// Whether nothing is ever dropped.
    pub fn keeps_all(&self) -> bool {
        self.max_age_ms.is_none() && self.max_records.is_none()
    }

    /// The oldest `time` a record may have at `now_ms` (records before it are due), if an age
    /// is set.
    pub fn cutoff_ms(&self, now_ms: i64) -> Option<i64> {
        self.max_age_ms.map(|a| now_ms.saturating_sub(a))
    }

    /// A retention age: a positive integer and `s`, `m`, `h` or `d` (`90s`, `15m`, `24h`, `30d`),
    /// at most 100 years. Anything else is `INVALID_ARGUMENT` naming `retention_age`.
    pub fn parse_age(s: &str) -> Result<i64> {
        let bad = || {
            Error::InvalidArgument(format!(
                "retention_age {s:?} is not a duration (a positive integer and s, m, h or d: \
                 90s, 15m, 24h, 30d; at most 100 years)"
            ))
        };
        let ms = crate::constraint::duration_grammar_ms(s).ok_or_else(bad)?;
        match i64::try_from(ms) {
            Ok(ms) if ms <= MAX_RETENTION_AGE_MS => Ok(ms),
            _ => Err(bad()),
        }
    }

    /// A record count: a positive integer. Anything else is `INVALID_ARGUMENT` naming
    /// `retention_records`.
    pub fn parse_records(s: &str) -> Result<u64> {
        match s.parse::<u64>() {
            Ok(n) if n > 0 && !s.starts_with(['+', '0']) => Ok(n),
            _ => Err(Error::InvalidArgument(format!(
                "retention_records {s:?} is not a positive integer"
            ))),
        }
    }
}

/// The engine's options found in a store URL (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOptions {
    /// `retention_age` / `retention_records`, if the URL gave either.
    pub retention: Option<Retention>,
    /// `retention_export`: a JSONL file pruned records are appended (and fsynced) to first.
    pub export: Option<PathBuf>,
    /// `policy_source=store|local`: where the engine keeps its policy document.
    pub policy_source: Option<PolicySource>,
}

/// Where an engine keeps its policy document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PolicySource {
    /// In the engine (the default): each engine holds the policy it was built or edited with.
    #[default]
    Local,
    /// In the store, shared by every engine on it: an edit on one engine is in force on every
    /// other from its next decision (each decision reads the store's policy version, one point
    /// read, and compiles a new document once). The builder's policy seeds a store that holds
    /// none; once the store holds one, the store's wins.
    Store,
}

impl PolicySource {
    /// `local` or `store`.
    pub fn parse(s: &str) -> Result<PolicySource> {
        match s {
            "local" => Ok(PolicySource::Local),
            "store" => Ok(PolicySource::Store),
            other => Err(Error::InvalidArgument(format!(
                "policy_source must be local or store, not {other:?}"
            ))),
        }
    }
}

/// Splits the engine's options (`retention_age`, `retention_records`, `retention_export`,
/// `policy_source`) off a
/// store URL; returns the URL the backend reads (without them) and the options. A bad value is
/// `INVALID_ARGUMENT` naming the option.
pub fn split_options(url: &str) -> Result<(String, StoreOptions)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), StoreOptions::default()));
    };
    let mut rest = Vec::new();
    let mut opts = StoreOptions::default();
    let mut retention = Retention::KEEP_ALL;
    let mut given = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "retention_age" => {
                retention.max_age_ms = Some(Retention::parse_age(v)?);
                given = true;
            }
            "retention_records" => {
                retention.max_records = Some(Retention::parse_records(v)?);
                given = true;
            }
            "retention_export" => {
                if v.is_empty() {
                    return Err(Error::InvalidArgument(
                        "retention_export must name a file (retention_export=/path/file.jsonl)"
                            .into(),
                    ));
                }
                opts.export = Some(PathBuf::from(v));
            }
            "policy_source" => opts.policy_source = Some(PolicySource::parse(v)?),
            _ => rest.push(pair),
        }
    }
    if given {
        opts.retention = Some(retention);
    }
    let url = match rest.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", rest.join("&")),
    };
    Ok((url, opts))
}

/// A signed checkpoint as a store keeps it: the chain, the `seq` of the last record dropped, and
/// the sealed statement (`{"body": {"kind": "chain.checkpoint", …}, "hash", "sig", "kid"}`, see
/// [`crate::retention`]). A store keeps the newest (highest `seq`) per chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub chain: String,
    pub seq: u64,
    pub record: Arc<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_split_off_and_checked() {
        let (url, o) =
            split_options("sqlite:///x.db?retention_age=30d&durability=full&retention_records=5")
                .unwrap();
        assert_eq!(url, "sqlite:///x.db?durability=full");
        assert_eq!(
            o.retention,
            Some(Retention {
                max_age_ms: Some(30 * 86_400_000),
                max_records: Some(5)
            })
        );
        let (url, o) = split_options("memory:").unwrap();
        assert_eq!((url.as_str(), o), ("memory:", StoreOptions::default()));
        for bad in [
            "memory:?retention_age=30",
            "memory:?retention_age=0d",
            "memory:?retention_age=-1d",
            "memory:?retention_age=99999999999d",
            "memory:?retention_records=0",
            "memory:?retention_records=x",
            "memory:?retention_records=-3",
            "memory:?retention_export=",
        ] {
            let e = split_options(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad}");
            let name = bad.split('?').nth(1).unwrap().split('=').next().unwrap();
            assert!(e.to_string().contains(name), "{bad}: {e}");
        }
        assert_eq!(Retention::parse_age("90s").unwrap(), 90_000);
        assert_eq!(Retention::parse_age("15m").unwrap(), 900_000);
        assert_eq!(Retention::parse_age("24h").unwrap(), 86_400_000);
    }
}
