//! The one error type of passgate, with a stable string code per variant.
//!
//! Codes are part of the public contract: Python raises `PassgateError` subclasses carrying
//! `.code`, Node throws `Error`s with `.code`, the MCP handler returns them in its results. A code
//! never changes meaning; new ones may be added (the enum is `#[non_exhaustive]`).
//!
//! A *deny* is a [`crate::Decision`], not an error: errors are for malformed arguments, oversized
//! input, idempotency conflicts, store failures and the explicit verification calls.

/// The result type used throughout passgate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way a passgate call can fail. Each message says what was wrong and where (a JSON path,
/// a claim name, a record index).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The policy document could not be read, parsed, validated or compiled.
    #[error("policy invalid at {path}: {message}")]
    PolicyInvalid { path: String, message: String },
    /// The passport token is not a well-formed compact JWS with well-formed claims.
    #[error("passport malformed: {0}")]
    PassportMalformed(String),
    /// The JWS header names an algorithm other than `EdDSA`.
    #[error("passport algorithm not accepted: {0} (only EdDSA)")]
    PassportAlgorithm(String),
    /// The passport signature does not verify (strict Ed25519).
    #[error("passport signature invalid: {0}")]
    PassportSignature(String),
    /// `exp` (plus leeway) is in the past.
    #[error("passport expired: {0}")]
    PassportExpired(String),
    /// `nbf` or `iat` (minus leeway) is in the future.
    #[error("passport not yet valid: {0}")]
    PassportNotYetValid(String),
    /// The passport, or one of its ancestors, was revoked.
    #[error("passport revoked: {0}")]
    PassportRevoked(String),
    /// The root of the passport's chain is not signed by a trusted issuer.
    #[error("issuer not trusted: {0}")]
    IssuerUntrusted(String),
    /// A sub-agent passport asks for more than its parent has (permissions, expiry, depth).
    #[error("delegation widens its parent: {0}")]
    DelegationWidens(String),
    /// The named gate is not defined (raised only by calls that name a gate outside `enforce`).
    #[error("unknown gate: {0}")]
    GateUnknown(String),
    /// The payload (or another argument) is malformed: bad JSON, duplicate keys, a number that
    /// cannot be represented exactly, NaN / infinity, a wrong type.
    #[error("payload invalid at {path}: {message}")]
    PayloadInvalid { path: String, message: String },
    /// Input larger or deeper than the configured bounds.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The same idempotency key was used with a different request.
    #[error("idempotency conflict: {0}")]
    IdempotencyConflict(String),
    /// The state store could not be reached or failed; nothing was admitted.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// A store refused a record whose `seq` does not follow its chain's stored tail `tail`;
    /// nothing was written. Code `STORE_UNAVAILABLE`: the engine reads its tail back, and if the
    /// store lost records it had acknowledged, starts a new chain (`chain.break`).
    #[error(
        "store unavailable: chain {chain}: record seq {seq} does not follow the stored tail \
         {tail}; nothing was written"
    )]
    ChainConflict { chain: String, seq: u64, tail: u64 },
    /// A key, secret or did:key could not be decoded.
    #[error("key invalid: {0}")]
    KeyInvalid(String),
    /// An attestation record is not of the expected shape.
    #[error("attestation malformed: {0}")]
    AttestationMalformed(String),
    /// An attestation's `hash` does not match its body.
    #[error("attestation hash mismatch: {0}")]
    AttestationHash(String),
    /// An attestation's signature does not verify.
    #[error("attestation signature invalid: {0}")]
    AttestationSignature(String),
    /// An attestation was signed by another key than the one given.
    #[error("attestation key mismatch: {0}")]
    AttestationKey(String),
    /// A chain is missing a record (or does not start at its genesis).
    #[error("chain gap: {0}")]
    ChainGap(String),
    /// A chain's records are out of order, or a `prev` link does not match.
    #[error("chain order: {0}")]
    ChainOrder(String),
    /// A chain holds the same record twice.
    #[error("chain duplicate: {0}")]
    ChainDuplicate(String),
    /// Records of more than one chain were given to `verify_chain`.
    #[error("chain mismatch: {0}")]
    ChainMismatch(String),
    /// No hold with that id.
    #[error("unknown hold: {0}")]
    HoldUnknown(String),
    /// The hold was already settled, released or expired.
    #[error("hold closed: {0}")]
    HoldClosed(String),
    /// No longer produced: a settlement above the cap is recorded, with an `overrun` in its
    /// record (see [`crate::Engine::settle`]). The code stays in [`Error::CODES`] so codes never
    /// change meaning.
    #[error("settlement exceeds its reservation: {0}")]
    HoldExceeds(String),
    /// No escalated request with that evaluation id.
    #[error("unknown approval request: {0}")]
    ApprovalUnknown(String),
    /// The escalated request was already approved or denied, or can no longer be.
    #[error("approval request closed: {0}")]
    ApprovalClosed(String),
    /// The caller may not do this: an operator tool called with the agent role, or an approval
    /// by the principal whose request it is.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The engine was built in another process: this is a `fork()`ed child.
    #[error("process forked: {0}")]
    ProcessForked(String),
    /// An argument other than the payload is malformed (unknown option, wrong type).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An invariant of passgate itself was broken. Never expected; reported instead of panicking.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable SCREAMING_SNAKE code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::PolicyInvalid { .. } => "POLICY_INVALID",
            Error::PassportMalformed(_) => "PASSPORT_MALFORMED",
            Error::PassportAlgorithm(_) => "PASSPORT_ALGORITHM",
            Error::PassportSignature(_) => "PASSPORT_SIGNATURE",
            Error::PassportExpired(_) => "PASSPORT_EXPIRED",
            Error::PassportNotYetValid(_) => "PASSPORT_NOT_YET_VALID",
            Error::PassportRevoked(_) => "PASSPORT_REVOKED",
            Error::IssuerUntrusted(_) => "ISSUER_UNTRUSTED",
            Error::DelegationWidens(_) => "DELEGATION_WIDENS",
            Error::GateUnknown(_) => "GATE_UNKNOWN",
            Error::PayloadInvalid { .. } => "PAYLOAD_INVALID",
            Error::LimitExceeded(_) => "LIMIT_EXCEEDED",
            Error::IdempotencyConflict(_) => "IDEMPOTENCY_CONFLICT",
            Error::StoreUnavailable(_) | Error::ChainConflict { .. } => "STORE_UNAVAILABLE",
            Error::KeyInvalid(_) => "KEY_INVALID",
            Error::AttestationMalformed(_) => "ATTESTATION_MALFORMED",
            Error::AttestationHash(_) => "ATTESTATION_HASH",
            Error::AttestationSignature(_) => "ATTESTATION_SIGNATURE",
            Error::AttestationKey(_) => "ATTESTATION_KEY",
            Error::ChainGap(_) => "CHAIN_GAP",
            Error::ChainOrder(_) => "CHAIN_ORDER",
            Error::ChainDuplicate(_) => "CHAIN_DUPLICATE",
            Error::ChainMismatch(_) => "CHAIN_MISMATCH",
            Error::HoldUnknown(_) => "HOLD_UNKNOWN",
            Error::HoldClosed(_) => "HOLD_CLOSED",
            Error::HoldExceeds(_) => "HOLD_EXCEEDS",
            Error::ApprovalUnknown(_) => "APPROVAL_UNKNOWN",
            Error::ApprovalClosed(_) => "APPROVAL_CLOSED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::ProcessForked(_) => "PROCESS_FORKED",
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// Every code passgate can return, for documentation and binding tests. (Decisions carry
    /// further codes on their failed checks: `PASSPORT_MISSING`, `PERMISSION_DENIED`,
    /// `GATE_UNKNOWN`, `APPROVAL_REQUIRED`, `APPROVAL_*`; see [`CHECK_CODES`](Error::CHECK_CODES).)
    pub const CODES: &'static [&'static str] = &[
        "POLICY_INVALID",
        "PASSPORT_MALFORMED",
        "PASSPORT_ALGORITHM",
        "PASSPORT_SIGNATURE",
        "PASSPORT_EXPIRED",
        "PASSPORT_NOT_YET_VALID",
        "PASSPORT_REVOKED",
        "ISSUER_UNTRUSTED",
        "DELEGATION_WIDENS",
        "GATE_UNKNOWN",
        "PAYLOAD_INVALID",
        "LIMIT_EXCEEDED",
        "IDEMPOTENCY_CONFLICT",
        "STORE_UNAVAILABLE",
        "KEY_INVALID",
        "ATTESTATION_MALFORMED",
        "ATTESTATION_HASH",
        "ATTESTATION_SIGNATURE",
        "ATTESTATION_KEY",
        "CHAIN_GAP",
        "CHAIN_ORDER",
        "CHAIN_DUPLICATE",
        "CHAIN_MISMATCH",
        "HOLD_UNKNOWN",
        "HOLD_CLOSED",
        "HOLD_EXCEEDS",
        "APPROVAL_UNKNOWN",
        "APPROVAL_CLOSED",
        "FORBIDDEN",
        "PROCESS_FORKED",
        "INVALID_ARGUMENT",
        "INTERNAL",
    ];

    /// Codes that appear only on a decision's failed checks (a deny is a decision, not an error),
    /// besides the passport error codes a `passport` check carries.
    pub const CHECK_CODES: &'static [&'static str] = &[
        "PASSPORT_MISSING",
        "PERMISSION_DENIED",
        "GATE_UNKNOWN",
        "APPROVAL_REQUIRED",
        "APPROVAL_INVALID",
        "APPROVAL_GATE_MISMATCH",
        "APPROVAL_PASSPORT_MISMATCH",
        "APPROVAL_PAYLOAD_MISMATCH",
        "APPROVAL_EXPIRED",
        "APPROVAL_USED",
        "APPROVAL_DENIED",
    ];

    /// A `PAYLOAD_INVALID` error at a JSON path.
    pub fn payload(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::PayloadInvalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A `POLICY_INVALID` error at a JSON path.
    pub fn policy(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::PolicyInvalid {
            path: path.into(),
            message: message.into(),
        }
    }
}
