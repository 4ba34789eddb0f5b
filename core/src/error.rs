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
    /// A catalog document is malformed: a float or negative price, an unknown pricing model, an
    /// unknown field, ... (`path` is the JSON pointer of the field in the catalog).
    #[error("catalog invalid at {path}: {message}")]
    CatalogInvalid { path: String, message: String },
    /// No catalog (or no such version, or no draft) for that gate.
    #[error("catalog unknown: {0}")]
    CatalogUnknown(String),
    /// A consumption attestation cannot be issued as asked, or a stored one does not add up: the
    /// evaluation was not allowed or applied no catalog terms, an argument is missing or out of
    /// range (`delivered` above `quantity`, ...), or the price would overflow. The message names
    /// the argument or the record.
    #[error("consumption invalid: {0}")]
    ConsumptionInvalid(String),
    /// The evaluation already has its consumption attestation (one per evaluation).
    #[error("consumption exists: {0}")]
    ConsumptionExists(String),
    /// No settlement with that id.
    #[error("unknown settlement: {0}")]
    SettlementUnknown(String),
    /// A settlement status change the state machine does not allow (`paid` and `void` are
    /// final): names the status it is in and the one asked for.
    #[error("settlement transition refused: {from} -> {to}: {message}")]
    SettlementTransition {
        from: String,
        to: String,
        message: String,
    },
    /// A policy edit's `if_match` is not the hash of the policy in force: another edit came
    /// first. Nothing was changed; read the policy again and redo the edit on it.
    #[error("policy conflict: {0}")]
    PolicyConflict(String),
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
    /// An unsigned record (checkpointed signing) that no signed checkpoint covers: given alone
    /// to `verify_attestation`, or last in a chain given to `verify_chain` with no checkpoint
    /// after it. The message names the record.
    #[error("attestation not covered by a checkpoint: {0}")]
    AttestationUncovered(String),
    /// An inclusion proof does not prove the record is in the signed tree head it names.
    #[error("attestation proof invalid: {0}")]
    AttestationProof(String),
    /// No signed checkpoint covers the record yet (checkpointed signing): its proof is
    /// available after the next checkpoint (`checkpoint()` writes one now).
    #[error("checkpoint pending: {0}")]
    CheckpointPending(String),
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
    /// No recorded evaluation with that id (or none the caller may read: another agent's
    /// evaluation is answered as an unknown one).
    #[error("unknown evaluation: {0}")]
    EvaluationUnknown(String),
    /// No decision event with that id (`ack_event`).
    #[error("unknown event: {0}")]
    EventUnknown(String),
    /// An authorization code exchange failed (OAuth's `invalid_grant`): the code is unknown,
    /// used, expired, or was issued for another client, redirect URI or code challenge. The
    /// code is burnt by the first failed exchange.
    #[error("grant invalid: {0}")]
    GrantInvalid(String),
    /// The escalated request was already approved or denied, or can no longer be.
    #[error("approval request closed: {0}")]
    ApprovalClosed(String),
    /// No API key with that id.
    #[error("unknown API key: {0}")]
    ApiKeyUnknown(String),
    /// No passport with that id in the registry (neither issued by an engine of the store nor
    /// seen by one).
    #[error("unknown passport: {0}")]
    PassportUnknown(String),
    /// The caller may not do this: an operator tool called with the agent role, or an approval
    /// by the principal whose request it is.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A credential (an API key) is missing, malformed, unknown, revoked or expired. The
    /// message never repeats the secret.
    #[error("unauthenticated: {0}")]
    Unauthenticated(String),
    /// The engine was built in another process: this is a `fork()`ed child.
    #[error("process forked: {0}")]
    ProcessForked(String),
    /// An argument other than the payload is malformed (unknown option, wrong type).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A typed operation's argument at `path` is malformed (unknown, missing, wrong type, out of
    /// range). Code `INVALID_ARGUMENT`, with the path.
    #[error("invalid argument at {path}: {message}")]
    Argument { path: String, message: String },
    /// An invariant of passgate itself was broken. Never expected; reported instead of panicking.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable SCREAMING_SNAKE code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::PolicyInvalid { .. } => "POLICY_INVALID",
            Error::PolicyConflict(_) => "POLICY_CONFLICT",
            Error::CatalogInvalid { .. } => "CATALOG_INVALID",
            Error::CatalogUnknown(_) => "CATALOG_UNKNOWN",
            Error::ConsumptionInvalid(_) => "CONSUMPTION_INVALID",
            Error::ConsumptionExists(_) => "CONSUMPTION_EXISTS",
            Error::SettlementUnknown(_) => "SETTLEMENT_UNKNOWN",
            Error::SettlementTransition { .. } => "SETTLEMENT_TRANSITION",
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
            Error::AttestationUncovered(_) => "ATTESTATION_UNCOVERED",
            Error::AttestationProof(_) => "ATTESTATION_PROOF",
            Error::CheckpointPending(_) => "CHECKPOINT_PENDING",
            Error::ChainGap(_) => "CHAIN_GAP",
            Error::ChainOrder(_) => "CHAIN_ORDER",
            Error::ChainDuplicate(_) => "CHAIN_DUPLICATE",
            Error::ChainMismatch(_) => "CHAIN_MISMATCH",
            Error::HoldUnknown(_) => "HOLD_UNKNOWN",
            Error::HoldClosed(_) => "HOLD_CLOSED",
            Error::HoldExceeds(_) => "HOLD_EXCEEDS",
            Error::ApprovalUnknown(_) => "APPROVAL_UNKNOWN",
            Error::ApprovalClosed(_) => "APPROVAL_CLOSED",
            Error::ApiKeyUnknown(_) => "API_KEY_UNKNOWN",
            Error::PassportUnknown(_) => "PASSPORT_UNKNOWN",
            Error::EvaluationUnknown(_) => "EVALUATION_UNKNOWN",
            Error::EventUnknown(_) => "EVENT_UNKNOWN",
            Error::GrantInvalid(_) => "GRANT_INVALID",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::Unauthenticated(_) => "UNAUTHENTICATED",
            Error::ProcessForked(_) => "PROCESS_FORKED",
            Error::InvalidArgument(_) | Error::Argument { .. } => "INVALID_ARGUMENT",
            Error::Internal(_) => "INTERNAL",
        }
    }

    /// Every code passgate can return, for documentation and binding tests. (Decisions carry
    /// further codes on their failed checks: `PASSPORT_MISSING`, `PERMISSION_DENIED`,
    /// `GATE_UNKNOWN`, `APPROVAL_REQUIRED`, `APPROVAL_*`; see [`CHECK_CODES`](Error::CHECK_CODES).)
    pub const CODES: &'static [&'static str] = &[
        "POLICY_INVALID",
        "POLICY_CONFLICT",
        "CATALOG_INVALID",
        "CATALOG_UNKNOWN",
        "CONSUMPTION_INVALID",
        "CONSUMPTION_EXISTS",
        "SETTLEMENT_UNKNOWN",
        "SETTLEMENT_TRANSITION",
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
        "ATTESTATION_UNCOVERED",
        "ATTESTATION_PROOF",
        "CHECKPOINT_PENDING",
        "CHAIN_GAP",
        "CHAIN_ORDER",
        "CHAIN_DUPLICATE",
        "CHAIN_MISMATCH",
        "HOLD_UNKNOWN",
        "HOLD_CLOSED",
        "HOLD_EXCEEDS",
        "APPROVAL_UNKNOWN",
        "APPROVAL_CLOSED",
        "API_KEY_UNKNOWN",
        "PASSPORT_UNKNOWN",
        "EVALUATION_UNKNOWN",
        "EVENT_UNKNOWN",
        "GRANT_INVALID",
        "FORBIDDEN",
        "UNAUTHENTICATED",
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
        "CONTENTION",
        "RECORD_LIMIT",
        "CATALOG_PIN_MISMATCH",
        "TRUST_LEVEL",
        "POP_REQUIRED",
        "POP_INVALID",
        "POP_STALE",
        "POP_REPLAYED",
    ];

    /// The family of this error (the exception class the bindings raise).
    pub fn family(&self) -> Family {
        Family::of(self.code())
    }

    /// The JSON path the error is at, for errors that have one (`POLICY_INVALID`,
    /// `PAYLOAD_INVALID`, and `INVALID_ARGUMENT` on a typed operation's argument).
    pub fn path(&self) -> Option<&str> {
        match self {
            Error::PolicyInvalid { path, .. } | Error::PayloadInvalid { path, .. } => Some(path),
            Error::CatalogInvalid { path, .. } => Some(path),
            Error::Argument { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The message without the code's prefix (`"policy invalid at /x: "`): what was wrong.
    pub fn detail(&self) -> String {
        match self {
            Error::PolicyInvalid { message, .. }
            | Error::CatalogInvalid { message, .. }
            | Error::PayloadInvalid { message, .. }
            | Error::Argument { message, .. } => message.clone(),
            other => other.to_string(),
        }
    }

    /// An `INVALID_ARGUMENT` error about the argument at `path` (a JSON pointer into the
    /// operation's arguments, such as `/limit`).
    pub fn argument(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Argument {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A `PAYLOAD_INVALID` error at a JSON path.
    pub fn payload(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::PayloadInvalid {
            path: path.into(),
            message: message.into(),
        }
    }

    /// A `CATALOG_INVALID` error at a JSON path of the catalog document.
    pub fn catalog(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::CatalogInvalid {
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

/// The families of error codes: each binding raises one exception class per family
/// (`PolicyError`, `PassportError`, ...), named by [`Family::class_name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `POLICY_INVALID`.
    Policy,
    /// `PASSPORT_*`, `ISSUER_UNTRUSTED`, `DELEGATION_WIDENS`, `KEY_INVALID`, `UNAUTHENTICATED`
    /// (credentials), `GRANT_INVALID`.
    Passport,
    /// Malformed or oversized input, or a reference to something that is not there (any more):
    /// `POLICY_CONFLICT` is an edit made on a policy that is not in force any more.
    Input,
    /// `IDEMPOTENCY_CONFLICT`.
    IdempotencyConflict,
    /// `STORE_UNAVAILABLE`, `PROCESS_FORKED`.
    Store,
    /// `ATTESTATION_*`, `CHAIN_*`.
    Attestation,
    /// `INTERNAL`: the base class only.
    Internal,
}

impl Family {
    /// Every family, in the order the bindings define their classes.
    pub const ALL: [Family; 7] = [
        Family::Policy,
        Family::Passport,
        Family::Input,
        Family::IdempotencyConflict,
        Family::Store,
        Family::Attestation,
        Family::Internal,
    ];

    /// The family of an error code ([`Error::CODES`]); unknown codes are `Internal`.
    pub fn of(code: &str) -> Family {
        match code {
            "POLICY_INVALID" => Family::Policy,
            "ISSUER_UNTRUSTED" | "DELEGATION_WIDENS" | "KEY_INVALID" | "UNAUTHENTICATED"
            | "GRANT_INVALID" => Family::Passport,
            // Not a refused passport: a registry lookup of an id never registered.
            "PASSPORT_UNKNOWN" => Family::Input,
            c if c.starts_with("PASSPORT_") => Family::Passport,
            "PAYLOAD_INVALID" | "LIMIT_EXCEEDED" | "INVALID_ARGUMENT" | "GATE_UNKNOWN"
            | "FORBIDDEN" | "API_KEY_UNKNOWN" | "EVALUATION_UNKNOWN" | "EVENT_UNKNOWN"
            | "POLICY_CONFLICT" | "CATALOG_INVALID" | "CATALOG_UNKNOWN" | "CHECKPOINT_PENDING" => {
                Family::Input
            }
            c if c.starts_with("CONSUMPTION_") || c.starts_with("SETTLEMENT_") => Family::Input,
            c if c.starts_with("HOLD_") || c.starts_with("APPROVAL_") => Family::Input,
            "IDEMPOTENCY_CONFLICT" => Family::IdempotencyConflict,
            "STORE_UNAVAILABLE" | "PROCESS_FORKED" => Family::Store,
            c if c.starts_with("ATTESTATION_") || c.starts_with("CHAIN_") => Family::Attestation,
            _ => Family::Internal,
        }
    }

    /// The exception class of this family in Python and Node (`None`: the base class,
    /// `PassgateError`).
    pub fn class_name(self) -> Option<&'static str> {
        match self {
            Family::Policy => Some("PolicyError"),
            Family::Passport => Some("PassportError"),
            Family::Input => Some("InputError"),
            Family::IdempotencyConflict => Some("IdempotencyConflictError"),
            Family::Store => Some("StoreError"),
            Family::Attestation => Some("AttestationError"),
            Family::Internal => None,
        }
    }
}

/// The code of a decision's check (a deny is a decision, not an error): every failed check
/// carries one, so a host can branch on why without parsing messages. Besides these, a
/// `passport` check carries the passport error code that refused it (`PASSPORT_EXPIRED`, ...),
/// and a constraint check the constraint's own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckCode {
    /// No passport, and the gate does not admit anonymous callers.
    PassportMissing,
    /// The passport's permissions do not cover the gate's.
    PermissionDenied,
    /// The gate is not defined by the policy.
    GateUnknown,
    /// The request needs a human approval (the decision escalates).
    ApprovalRequired,
    /// The approval token does not verify.
    ApprovalInvalid,
    /// The approval token is for another gate.
    ApprovalGateMismatch,
    /// The approval token is for another passport.
    ApprovalPassportMismatch,
    /// The approval token is for another payload.
    ApprovalPayloadMismatch,
    /// The approval (or the request awaiting it) expired.
    ApprovalExpired,
    /// The approval token was used already.
    ApprovalUsed,
    /// An operator denied the request.
    ApprovalDenied,
    /// The store stayed contended past the engine's retries: nothing was admitted; retry.
    Contention,
    /// The gate records a run bundle and the request's is over a cap (`record.max_items`,
    /// `max_item_bytes`, `max_total_bytes`): denied, nothing recorded but the decision.
    RecordLimit,
    /// The passport pins the gate's catalog to a version (and content hash) this engine does
    /// not have published under that hash: the terms are not the pinned ones.
    CatalogPinMismatch,
    /// The gate's trust level (`L2`, `L3`) needs a passport whose root issuer is trusted at
    /// that level, and this one's is trusted only at a lower one (see [`crate::pop`]).
    TrustLevel,
    /// The gate's trust level is `L3` and the request carries no proof of possession (`pop`).
    PopRequired,
    /// The proof of possession does not verify against the presenting passport's `cnf` key
    /// over this gate, payload and catalog pin.
    PopInvalid,
    /// The proof of possession's `ts` is outside the engine's PoP leeway.
    PopStale,
    /// The proof of possession's nonce was used already (within its window).
    PopReplayed,
}

impl CheckCode {
    /// Every check code, in [`Error::CHECK_CODES`] order.
    pub const ALL: [CheckCode; 19] = [
        CheckCode::PassportMissing,
        CheckCode::PermissionDenied,
        CheckCode::GateUnknown,
        CheckCode::ApprovalRequired,
        CheckCode::ApprovalInvalid,
        CheckCode::ApprovalGateMismatch,
        CheckCode::ApprovalPassportMismatch,
        CheckCode::ApprovalPayloadMismatch,
        CheckCode::ApprovalExpired,
        CheckCode::ApprovalUsed,
        CheckCode::ApprovalDenied,
        CheckCode::Contention,
        CheckCode::RecordLimit,
        CheckCode::CatalogPinMismatch,
        CheckCode::TrustLevel,
        CheckCode::PopRequired,
        CheckCode::PopInvalid,
        CheckCode::PopStale,
        CheckCode::PopReplayed,
    ];

    /// The stable SCREAMING_SNAKE code.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckCode::PassportMissing => "PASSPORT_MISSING",
            CheckCode::PermissionDenied => "PERMISSION_DENIED",
            CheckCode::GateUnknown => "GATE_UNKNOWN",
            CheckCode::ApprovalRequired => "APPROVAL_REQUIRED",
            CheckCode::ApprovalInvalid => "APPROVAL_INVALID",
            CheckCode::ApprovalGateMismatch => "APPROVAL_GATE_MISMATCH",
            CheckCode::ApprovalPassportMismatch => "APPROVAL_PASSPORT_MISMATCH",
            CheckCode::ApprovalPayloadMismatch => "APPROVAL_PAYLOAD_MISMATCH",
            CheckCode::ApprovalExpired => "APPROVAL_EXPIRED",
            CheckCode::ApprovalUsed => "APPROVAL_USED",
            CheckCode::ApprovalDenied => "APPROVAL_DENIED",
            CheckCode::Contention => "CONTENTION",
            CheckCode::RecordLimit => "RECORD_LIMIT",
            CheckCode::CatalogPinMismatch => "CATALOG_PIN_MISMATCH",
            CheckCode::TrustLevel => "TRUST_LEVEL",
            CheckCode::PopRequired => "POP_REQUIRED",
            CheckCode::PopInvalid => "POP_INVALID",
            CheckCode::PopStale => "POP_STALE",
            CheckCode::PopReplayed => "POP_REPLAYED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_family_and_check_codes_match_their_list() {
        for code in Error::CODES {
            let f = Family::of(code);
            assert_eq!(f == Family::Internal, *code == "INTERNAL", "{code}");
        }
        let listed: Vec<&str> = CheckCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, Error::CHECK_CODES);
    }
}
