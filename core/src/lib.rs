//! # passgate
//!
//! An embeddable authorization engine for AI agents. A host (an MCP server, an agent framework, a
//! tool router) asks it before every tool call: *may this agent do this, with these arguments,
//! now?* passgate verifies the agent's signed **passport**, evaluates the **gate** for that action
//! (permissions, typed constraints, cumulative spend / rate / quota counters in a state store),
//! returns an explained **decision**, and signs a tamper-evident **attestation** of it.
//!
//! Modules, top-down:
//! - [`keys`]: Ed25519 key pairs, `did:key`, JWKs, strict signature verification, base64url.
//! - [`passport`]: passports — issuing, delegating to sub-agents, verifying chains.
//! - [`json`]: the one strict JSON parser, canonical JSON (RFC 8785), exact numbers.
//! - [`decision`]: decisions and checks.
//! - [`error`]: the error enum with stable codes.

pub mod decision;
pub mod error;
pub mod json;
pub mod keys;
pub mod passport;

pub use decision::{Check, Decision, Verdict};
pub use error::{Error, Result};
pub use keys::{KeyPair, PublicKey};
pub use passport::{IssuedPassport, Issuer, PassportRequest, Verified, Verifier, VerifierOptions};
