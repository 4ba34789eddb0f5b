"""passgate's exceptions: ``PassgateError`` and one subclass per family of error codes.

Every error the engine raises is a ``PassgateError`` carrying the stable ``.code`` (a
SCREAMING_SNAKE string from ``passgate.ERROR_CODES``), the ``.message`` and, for errors at a
place in a document or in the arguments, the ``.path`` (a JSON Pointer such as ``/gates/pay`` or
``/ttl``; None otherwise). A *deny* is a ``Decision``, never an exception.

The family of each code is decided by the core engine (``passgate::Family``), not here: the
extension raises the class of that family, by the name the core gives it. The families:

``PolicyError``
    ``POLICY_INVALID`` (``.path``: where in the policy document).
``PassportError``
    ``PASSPORT_MALFORMED``, ``PASSPORT_ALGORITHM``, ``PASSPORT_SIGNATURE``,
    ``PASSPORT_EXPIRED``, ``PASSPORT_NOT_YET_VALID``, ``PASSPORT_REVOKED``,
    ``ISSUER_UNTRUSTED``, ``DELEGATION_WIDENS``, ``KEY_INVALID``, ``GRANT_INVALID`` (an
    authorization code exchange failed, ``passgate.pkce``), ``UNAUTHENTICATED`` (a missing,
    malformed, unknown, revoked or expired API key).
``InputError``
    Malformed or oversized input, or a reference to something that is not there (any more):
    ``PAYLOAD_INVALID`` (``.path``: where in the payload), ``LIMIT_EXCEEDED``,
    ``INVALID_ARGUMENT`` (``.path``: which argument, when known), ``GATE_UNKNOWN``,
    ``HOLD_UNKNOWN``, ``HOLD_CLOSED``, ``HOLD_EXCEEDS`` (no longer produced: a settle past the cap
    is recorded with an ``overrun``), ``APPROVAL_UNKNOWN``, ``APPROVAL_CLOSED``,
    ``EVALUATION_UNKNOWN``, ``EVENT_UNKNOWN`` (``ack_event`` of an id no event has),
    ``API_KEY_UNKNOWN`` (no API key has that id), ``PASSPORT_UNKNOWN`` (no registered passport has
    that id), ``FORBIDDEN`` (the
    caller's role, identity or key scopes may not do this), ``POLICY_CONFLICT`` (a policy edit's
    ``if_match`` is not the policy in force any more: read it again and redo the edit),
    ``CATALOG_INVALID`` (a catalog document with a float or negative price, an unknown pricing
    model, ...: ``.path`` names the field), ``CATALOG_UNKNOWN`` (no catalog, version or draft),
    ``CONSUMPTION_INVALID`` (a denied evaluation, no catalog terms, a bad quantity, an overflow),
    ``CONSUMPTION_EXISTS`` (the evaluation was consumed already), ``SETTLEMENT_UNKNOWN``,
    ``SETTLEMENT_TRANSITION`` (a status change the settlement state machine refuses),
    ``CHECKPOINT_PENDING`` (no signed checkpoint covers the record yet: ``checkpoint()``).
``IdempotencyConflictError``
    ``IDEMPOTENCY_CONFLICT``: an idempotency key reused for a different request.
    ``IdempotencyConflict`` is a deprecated alias of it.
``StoreError``
    ``STORE_UNAVAILABLE`` (nothing was admitted), ``PROCESS_FORKED`` (the engine was built in
    another process: build it after ``fork()``).
``AttestationError``
    ``ATTESTATION_MALFORMED``, ``ATTESTATION_HASH``, ``ATTESTATION_SIGNATURE``,
    ``ATTESTATION_KEY``, ``CHAIN_GAP``, ``CHAIN_ORDER``, ``CHAIN_DUPLICATE``, ``CHAIN_MISMATCH``,
    ``ATTESTATION_UNCOVERED`` (an unsigned, checkpointed record no signed checkpoint covers),
    ``ATTESTATION_PROOF`` (an inclusion proof that does not lead to its checkpoint's root).

``INTERNAL`` (a broken invariant of passgate itself, never expected) and any code added later
raise ``PassgateError`` itself.
"""

from __future__ import annotations

__all__ = [
    "PassgateError",
    "PolicyError",
    "PassportError",
    "InputError",
    "IdempotencyConflictError",
    "IdempotencyConflict",
    "StoreError",
    "AttestationError",
]


class PassgateError(Exception):
    """Base of every passgate error.

    ``code`` is the stable error code (``POLICY_INVALID``, ``PASSPORT_EXPIRED``, ...);
    ``message`` says what was wrong and where; ``path`` is the JSON Pointer of the place (in the
    policy, the payload or the arguments) for errors that have one, else None.
    ``str(error)`` is ``CODE: message``.
    """

    __module__ = "passgate"
    code: str
    message: str
    path: str | None

    def __init__(self, code: str, message: str, path: str | None = None) -> None:
        super().__init__(code, message, path)
        self.code = code
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class PolicyError(PassgateError):
    """The policy document could not be read, parsed, validated or compiled (``POLICY_INVALID``);
    ``.path`` is where in the document."""

    __module__ = "passgate"


class PassportError(PassgateError):
    """A passport or key problem: ``PASSPORT_*``, ``ISSUER_UNTRUSTED``, ``DELEGATION_WIDENS``,
    ``KEY_INVALID``, ``GRANT_INVALID``, ``UNAUTHENTICATED``."""

    __module__ = "passgate"


class InputError(PassgateError):
    """Malformed or oversized input, or a reference to something that is not there (any more):
    ``PAYLOAD_INVALID``, ``LIMIT_EXCEEDED``, ``INVALID_ARGUMENT``, ``GATE_UNKNOWN``,
    ``HOLD_UNKNOWN``, ``HOLD_CLOSED``, ``HOLD_EXCEEDS``, ``APPROVAL_UNKNOWN``,
    ``APPROVAL_CLOSED``, ``EVALUATION_UNKNOWN``, ``EVENT_UNKNOWN``, ``API_KEY_UNKNOWN``,
    ``PASSPORT_UNKNOWN``, ``FORBIDDEN``, ``POLICY_CONFLICT``, ``CATALOG_INVALID``,
    ``CATALOG_UNKNOWN``, ``CONSUMPTION_INVALID``, ``CONSUMPTION_EXISTS``, ``SETTLEMENT_UNKNOWN``,
    ``SETTLEMENT_TRANSITION``, ``CHECKPOINT_PENDING``. ``.path`` names the place in the payload, the argument or the catalog,
    when known."""

    __module__ = "passgate"


class IdempotencyConflictError(PassgateError):
    """An idempotency key was reused for a different request (``IDEMPOTENCY_CONFLICT``)."""

    __module__ = "passgate"


#: Deprecated alias of ``IdempotencyConflictError`` (the name before the families were unified).
IdempotencyConflict = IdempotencyConflictError


class StoreError(PassgateError):
    """The state store failed or could not be reached; nothing was admitted
    (``STORE_UNAVAILABLE``), or the engine was built in another process: this is a ``fork()``ed
    child (``PROCESS_FORKED``; build the engine after forking)."""

    __module__ = "passgate"


class AttestationError(PassgateError):
    """An attestation record or chain does not verify: ``ATTESTATION_*``, ``CHAIN_*``."""

    __module__ = "passgate"
