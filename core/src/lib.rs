//! # passgate
//!
//! An embeddable authorization engine for AI agents. A host (an MCP server, an agent framework, a
//! tool router) asks it before every tool call: *may this agent do this, with these arguments,
//! now?* passgate verifies the agent's signed **passport**, evaluates the **gate** for that action
//! (permissions, typed constraints, cumulative spend / rate / quota counters in a state store),
//! returns an explained **decision**, and signs a tamper-evident **attestation** of it.
//!
//! Modules, top-down:
//! - [`policy`]: the policy document — loading, schema validation, compiled gates.
//! - [`template`]: built-in and user templates (parameterised constraint lists).
//! - [`constraint`]: typed constraints, compiled once, checked per request.
//! - [`expr`]: condition expressions (`condition`, `approval`).
//! - [`pointer`](mod@pointer): compiled JSON Pointers with `*` wildcards.
//! - [`schema`]: the published policy JSON Schema and its error paths.
//! - [`json`]: the one strict JSON parser, canonical JSON (RFC 8785), exact numbers.
//! - [`decision`]: decisions and checks.
//! - [`error`]: the error enum with stable codes.

pub mod constraint;
pub mod decision;
pub mod error;
pub mod expr;
pub mod json;
pub mod pointer;
pub mod policy;
pub mod schema;
pub mod template;

pub use constraint::{
    constraint_types, Constraint, ConstraintType, Counter, CounterKind, EvalCtx, Rule, Scope,
    Window,
};
pub use decision::{Check, Decision, Verdict};
pub use error::{Error, Result};
pub use expr::Expr;
pub use pointer::Pointer;
pub use policy::{Anonymous, Gate, Mode, Policy};
pub use template::templates;
