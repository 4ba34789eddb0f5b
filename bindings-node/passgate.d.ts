// passgate for Node: the native API (index.d.ts, generated) and the error classes (passgate.js).
export * from './index'
import type { ErrorCode } from './index'

/**
 * Any error passgate throws. Native errors are plain `Error`s with a `.code`; these classes match
 * them by code (`Symbol.hasInstance`), so `err instanceof PolicyError` works on every thrown error.
 */
export declare class PassgateError extends Error {
  constructor(message?: string, code?: ErrorCode, options?: { cause?: unknown })
  /** The stable code: the contract (messages may change). */
  readonly code: ErrorCode
}
/** `POLICY_INVALID`. */
export declare class PolicyError extends PassgateError {}
/** `PASSPORT_*`, `ISSUER_UNTRUSTED`, `DELEGATION_WIDENS`, `KEY_INVALID`. */
export declare class PassportError extends PassgateError {}
/** `INVALID_ARGUMENT`, `PAYLOAD_INVALID`, `LIMIT_EXCEEDED`, `GATE_UNKNOWN`, `HOLD_*`, `APPROVAL_UNKNOWN`, `APPROVAL_CLOSED`, `FORBIDDEN`. */
export declare class InputError extends PassgateError {}
/** `IDEMPOTENCY_CONFLICT`. */
export declare class IdempotencyConflictError extends PassgateError {}
/** `STORE_UNAVAILABLE`; `PROCESS_FORKED` (an engine used in a `fork()`ed child of the process that built it). */
export declare class StoreError extends PassgateError {}
/** `ATTESTATION_*`, `CHAIN_*`. */
export declare class AttestationError extends PassgateError {}

/** The codes of each error family. */
export declare const ERROR_FAMILIES: {
  readonly PolicyError: readonly ErrorCode[]
  readonly PassportError: readonly ErrorCode[]
  readonly InputError: readonly ErrorCode[]
  readonly IdempotencyConflictError: readonly ErrorCode[]
  readonly StoreError: readonly ErrorCode[]
  readonly AttestationError: readonly ErrorCode[]
}

/** True for an error passgate threw. */
export declare function isPassgateError(value: unknown): value is PassgateError
