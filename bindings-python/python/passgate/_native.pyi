"""Type stub of ``passgate._native``, the Rust extension behind ``passgate``."""

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Union, final

from _typeshed import SupportsWrite

from passgate.errors import (
    AttestationError as AttestationError,
    IdempotencyConflict as IdempotencyConflict,
    IdempotencyConflictError as IdempotencyConflictError,
    InputError as InputError,
    PassgateError as PassgateError,
    PassportError as PassportError,
    PolicyError as PolicyError,
    StoreError as StoreError,
)

__all__ = [
    "__version__",
    "ERROR_CODES",
    "PassgateError",
    "PolicyError",
    "PassportError",
    "InputError",
    "IdempotencyConflict",
    "IdempotencyConflictError",
    "StoreError",
    "AttestationError",
    "Issuer",
    "IssuedPassport",
    "Engine",
    "Decision",
    "verify_attestation",
    "verify_chain",
    "constraint_types",
    "templates",
    "mcp_tools",
    "mcp_handle",
    "_exception_for",
    "error_codes",
]

__version__: Final[str]
ERROR_CODES: Final[tuple[str, ...]]

# A policy: the document as a dict, JSON text, or the path of a JSON file.
_Policy = Union[Mapping[str, Any], str, os.PathLike[str]]
# A passport: its compact JWS token, or the ``IssuedPassport`` holding it.
_PassportLike = Union[str, "IssuedPassport"]

@final
class Issuer:
    """A key pair that signs root passports; engines trust it by its ``did``."""

    @staticmethod
    def generate() -> Issuer: ...
    @staticmethod
    def from_secret(secret: str) -> Issuer: ...
    @property
    def did(self) -> str: ...
    @property
    def public_jwk(self) -> dict[str, Any]: ...
    @property
    def secret(self) -> str: ...
    def issue_passport(
        self,
        agent_id: str,
        *,
        agent_name: str | None = None,
        permissions: Sequence[str] = ...,
        expires_in_days: float = 30.0,
        caveats: list[dict[str, Any]] | None = None,
    ) -> IssuedPassport: ...

@final
class IssuedPassport:
    """A passport as issued: its token, ids, and the agent's key pair (``private_key`` once)."""

    @staticmethod
    def from_token(token: str, private_key: str) -> IssuedPassport: ...
    @property
    def token(self) -> str: ...
    @property
    def passport_id(self) -> str: ...
    @property
    def agent_id(self) -> str: ...
    @property
    def did(self) -> str: ...
    @property
    def private_key(self) -> str: ...
    @property
    def expires_at(self) -> int: ...
    def issue_sub_passport(
        self,
        agent_id: str,
        *,
        agent_name: str | None = None,
        permissions: Sequence[str] = ...,
        expires_in_days: float = 30.0,
        caveats: list[dict[str, Any]] | None = None,
    ) -> IssuedPassport: ...

@final
class Decision:
    """The answer to a request. ``bool(decision)`` is ``decision.allowed``."""

    @property
    def decision(self) -> Literal["allow", "deny", "escalate"]: ...
    @property
    def allowed(self) -> bool: ...
    @property
    def gate(self) -> str: ...
    @property
    def agent_id(self) -> str | None: ...
    @property
    def passport_id(self) -> str | None: ...
    @property
    def mode(self) -> str: ...
    @property
    def dry_run(self) -> bool: ...
    @property
    def evaluation_id(self) -> str: ...
    @property
    def policy_hash(self) -> str | None: ...
    @property
    def checks(self) -> list[dict[str, Any]]: ...
    @property
    def remaining(self) -> dict[str, str]: ...
    @property
    def attestation(self) -> dict[str, Any] | None: ...
    @property
    def replayed(self) -> bool: ...
    @property
    def hold_id(self) -> str | None: ...
    @property
    def approval_request(self) -> dict[str, Any] | None: ...
    @property
    def redacted_payload(self) -> dict[str, Any] | None: ...
    def failed(self) -> list[dict[str, Any]]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def to_json(self) -> str: ...
    def __bool__(self) -> bool: ...

@final
class Engine:
    """The authorization engine; one instance may be shared by many threads."""

    def __new__(
        cls,
        policy: _Policy | None = None,
        *,
        trusted_issuers: Iterable[str | Issuer] | None = None,
        signing_key: Issuer | str | None = None,
        store: str = "memory:",
        leeway_secs: int | None = None,
    ) -> Engine: ...
    def enforce(
        self,
        gate: str,
        passport: _PassportLike | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        trace: Mapping[str, Any] | None = None,
        hold: bool = False,
        approval: str | None = None,
        client: str | None = None,
    ) -> Decision: ...
    def dry_run(
        self,
        gate: str,
        passport: _PassportLike | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        trace: Mapping[str, Any] | None = None,
        hold: bool = False,
        approval: str | None = None,
        client: str | None = None,
    ) -> Decision: ...
    def verify_passport(self, token: _PassportLike) -> dict[str, Any]: ...
    def revoke_passport(self, passport_id: str) -> None: ...
    def reissue(
        self, token: _PassportLike, issuer: Issuer | str, expires_in_days: float | None = None
    ) -> IssuedPassport: ...
    def cumulative_state(self, **filter: str) -> list[dict[str, Any]]: ...
    def cumulative_state_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        gate: str | None = None,
        agent_id: str | None = None,
        namespace: str | None = None,
        constraint: str | None = None,
        scope: str | None = None,
    ) -> dict[str, Any]: ...
    def reset_cumulative_state(self, **filter: str) -> int: ...
    def chain_head(self) -> dict[str, Any]: ...
    def attestations(
        self,
        *,
        chain: str | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
        decision: str | None = None,
        evaluation_id: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]: ...
    def record_attestation(self, kind: str, data: Any = None) -> dict[str, Any]: ...
    def set_policy(self, policy: _Policy) -> None: ...
    def list_gates(self) -> list[dict[str, Any]]: ...
    def get_gate(self, gate: str) -> dict[str, Any]: ...
    def settle(self, hold_id: str, actual: Mapping[str, Any] | None = None) -> dict[str, Any]: ...
    def release(self, hold_id: str) -> dict[str, Any]: ...
    def expire_holds(self, limit: int | None = None) -> int: ...
    def prune(self, limit: int | None = None) -> int: ...
    def export_attestations(
        self, path_or_file: str | os.PathLike[str] | SupportsWrite[str], since: int | None = None
    ) -> int: ...
    def verify_export(
        self, path: str | os.PathLike[str], trusted_signers: Sequence[str]
    ) -> dict[str, Any]: ...
    def approve(self, evaluation_id: str, approver: str, ttl: str | int | None = None) -> str: ...
    def deny_approval(self, evaluation_id: str, approver: str, reason: str) -> dict[str, Any]: ...
    def allowed_gates(self, passport: _PassportLike) -> list[str]: ...
    def anonymous_log(self) -> list[dict[str, Any]]: ...
    @property
    def signer_did(self) -> str: ...
    def close(self) -> None: ...
    def attestations_page(
        self,
        *,
        cursor: str | None = None,
        limit: int = 100,
        chain: str | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
        decision: str | None = None,
        evaluation_id: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> dict[str, Any]: ...
    def verify_store(self, trusted_signers: Sequence[str]) -> dict[str, Any]: ...
    def __enter__(self) -> Engine: ...
    def __exit__(self, *exc: object) -> bool: ...
    @property
    def chain_id(self) -> str: ...
    @property
    def policy_hash(self) -> str | None: ...

def verify_attestation(record: Mapping[str, Any], did: str) -> Literal[True]: ...
def verify_chain(
    records: Sequence[Mapping[str, Any]], did: str, *, head: Mapping[str, Any] | None = None
) -> Literal[True]: ...
def constraint_types() -> list[dict[str, Any]]: ...
def templates() -> list[dict[str, Any]]: ...
def mcp_tools(role: str = "agent") -> list[dict[str, Any]]: ...
def mcp_handle(
    engine: Engine,
    message: str,
    issuer: Issuer | None = None,
    role: str = "agent",
    passport: str | None = None,
    operator: str | None = None,
    client: str | None = None,
) -> str | None: ...
def _exception_for(code: str) -> type[PassgateError]: ...
def error_codes() -> dict[str, str]: ...
