//! # passgate
//!
//! An embeddable authorization engine for AI agents. A host (an MCP server, an agent framework, a
//! tool router) asks it before every tool call: *may this agent do this, with these arguments,
//! now?* passgate verifies the agent's signed **passport**, evaluates the **gate** for that action
//! (permissions, typed constraints, cumulative spend / rate / quota counters in a state store),
//! returns an explained **decision**, and signs a tamper-evident **attestation** of it.
//!
//! ```
//! use passgate::{Engine, Issuer, PassportRequest, Request};
//! use serde_json::json;
//!
//! let issuer = Issuer::generate()?;
//! let passport = issuer.issue_passport(&PassportRequest::new("agent-1", ["payments:send"]))?;
//! let engine = Engine::builder()
//!     .policy_value(json!({"version": 1, "gates": {"payments.send": {
//!         "require": ["payments:send"],
//!         "constraints": [{"id": "per-call", "type": "max_value", "field": "/amount", "max": 500}]}}}))
//!     .trusted_issuer(issuer.did())
//!     .build()?;
//! let d = engine.enforce(&Request::new("payments.send", json!({"amount": 900})).passport(&passport.token))?;
//! assert!(!d.allowed);
//! assert_eq!(d.failed().next().unwrap().constraint, "per-call");
//! # Ok::<(), passgate::Error>(())
//! ```
//!
//! Modules, top-down:
//! - [`engine`]: the engine — `enforce`, `dry_run`, revocation, state, attestations.
//! - [`seam`]: the whole engine on JSON values, for the bindings and the MCP handler.
//! - [`mcp`]: passgate's MCP tools and a transport-free JSON-RPC 2.0 handler.
//! - [`passport`]: passports — issuing, delegating to sub-agents, verifying chains.
//! - [`template`]: built-in and user templates (parameterised constraint lists).
//! - [`constraint`]: typed constraints, compiled once, checked per request.
//! - [`attestation`]: signed, hash-chained records; `verify_attestation`, `verify_chain`.
//! - [`merkle`]: RFC 9162 Merkle trees, inclusion and consistency proofs (checkpointed signing).
//! - [`approval`]: signed, single-use approval tokens for escalated requests.
//! - [`store`]: the state store contract and its backends (`sqlite` and `redis` are cargo
//!   features, on by default).
//! - [`schema`]: the published policy JSON Schema and its error paths.
//! - [`clock`], [`error`]: time, the error enum with stable codes.
//!
//! The policy ([`Policy`], [`Gate`]), decisions ([`Decision`], [`Check`]), keys ([`KeyPair`],
//! [`PublicKey`]), condition expressions ([`Expr`]), JSON Pointers ([`Pointer`]) and retention
//! audits ([`verify_export`], [`verify_chain_from`]) are used through the re-exports below; the
//! modules behind them (the strict JSON parser and canonical JSON, ids, calendar windows) are
//! internal.

pub mod apikey;
pub mod approval;
pub mod attestation;
pub mod bundle;
mod cache;
pub(crate) mod calendar;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod commerce;
pub mod constraint;
pub(crate) mod decimal;
pub(crate) mod decision;
pub mod engine;
pub mod error;
pub(crate) mod expr;
pub mod gateway;
pub(crate) mod ids;
mod jcs;
pub(crate) mod json;
pub(crate) mod keys;
pub mod mcp;
pub mod merkle;
pub mod ops;
pub mod passport;
pub mod pkce;
pub(crate) mod pointer;
pub(crate) mod policy;
pub mod pop;
pub(crate) mod retention;
pub mod schema;
pub mod seam;
pub mod store;
mod suggest;
pub mod template;

pub use attestation::{
    verify_attestation, verify_chain, verify_chain_with_head, verify_inclusion_proof,
};
pub use constraint::{
    constraint_types, Constraint, ConstraintType, Counter, CounterKind, EvalCtx, Rule, Scope,
    Window,
};
pub use decision::{Check, Decision, Text, Verdict};
pub use engine::{
    policy_diff, DecisionEvent, Engine, EngineBuilder, EventFilter, EventKind, IssuerSource,
    IssuerView, PassportQuery, PassportStatus, PassportView, PolicyChange, ProofTarget,
    PruneReport, Request, Signing, Subscription, TrustImport, Untrusted, INLINE_SWEEP_LIMIT,
    MAX_DIFF_PATHS,
};
pub use error::{CheckCode, Error, Family, Result};
pub use expr::Expr;
pub use keys::{KeyPair, PublicKey};
pub use passport::{
    IssuedPassport, Issuer, PassportRequest, Pin, Verified, Verifier, VerifierOptions,
    MAX_LEEWAY_SECS,
};
pub use pointer::Pointer;
pub use policy::{Anonymous, Gate, Mode, Policy};
pub use retention::{verify_chain_from, verify_export};
pub use store::{AttestationFilter, CounterFilter, Retention, Store};
pub use template::templates;

/// Not API: the internals the bindings, benches, fuzz targets and tests of this repository use
/// (the strict JSON parser and canonical JSON, key encodings, calendar windows, retention audits,
/// …). Anything here may change or go in any release; depend on the root re-exports instead.
#[doc(hidden)]
pub mod __private {
    pub mod calendar {
        pub use crate::calendar::*;
    }
    pub mod decision {
        pub use crate::decision::*;
    }
    pub mod expr {
        pub use crate::expr::*;
    }
    pub mod ids {
        pub use crate::ids::*;
    }
    pub mod json {
        pub use crate::json::*;
    }
    pub mod keys {
        pub use crate::keys::*;
    }
    pub mod pointer {
        pub use crate::pointer::*;
    }
    pub mod policy {
        pub use crate::policy::*;
    }
    pub mod retention {
        pub use crate::retention::*;
    }
}

/// The README's Rust snippets, run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
