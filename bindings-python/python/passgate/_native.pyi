"""Type stub of ``passgate._native``, the Rust extension behind ``passgate``."""

import asyncio
import os
from collections.abc import Callable, Mapping, Sequence
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
    "Subscription",
    "verify_attestation",
    "make_pop",
    "verify_chain",
    "verify_inclusion_proof",
    "verify_inclusion",
    "verify_consistency",
    "constraint_types",
    "templates",
    "mcp_tools",
    "mcp_handle",
    "_exception_for",
    "error_codes",
    "operations",
    "call",
    "_operation",
    "_decision_from_json",
    "Operation",
    "_mcp_guard",
    "cli_main",
    "AuthorizationFlow",
    "Gateway",
    "pkce_generate_verifier",
    "pkce_challenge_s256",
    "pkce_verify_s256",
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
        permissions: list[str] | tuple[str, ...] | None = None,
        expires_in_days: int | None = None,
        caveats: Sequence[Mapping[str, Any]] | None = None,
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
        permissions: list[str] | tuple[str, ...] | None = None,
        expires_in_days: int | None = None,
        caveats: Sequence[Mapping[str, Any]] | None = None,
    ) -> IssuedPassport: ...

@final
class AuthorizationFlow:
    """An authorization-code flow with PKCE (S256) minting short-lived passports."""

    def __new__(cls, issuer: Issuer, *, passport_ttl: int | None = None) -> AuthorizationFlow: ...
    @property
    def issuer_did(self) -> str: ...
    def authorize(
        self,
        *,
        agent_id: str,
        permissions: list[str],
        code_challenge: str,
        code_challenge_method: str,
        redirect_uri: str,
        client_id: str,
    ) -> str: ...
    def exchange(
        self, *, code: str, code_verifier: str, redirect_uri: str, client_id: str
    ) -> IssuedPassport: ...

def make_pop(
    agent_key: IssuedPassport | str,
    *,
    gate: str,
    payload: Mapping[str, Any] | None = None,
    catalog_hash: str | None = None,
    nonce: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    """A proof of possession ``{"nonce", "ts", "sig"}`` of the agent's key for ``enforce(..., pop=...)``."""

def pkce_generate_verifier() -> str: ...
def pkce_challenge_s256(verifier: str) -> str: ...
def pkce_verify_s256(verifier: str, challenge: str) -> bool: ...

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
    # Equal by value (the decision JSON); hash consistent with it; pickles as its JSON.
    def __eq__(self, value: object, /) -> bool: ...
    def __hash__(self) -> int: ...
    def __reduce__(self) -> tuple[Callable[[str], Decision], tuple[str]]: ...

@final
class Operation:
    """A core operation with no method of its own, from ``Engine.__getattr__``: call it with the
    operation's arguments as keywords."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...

# The filters of the attestation operations, shared by several methods.
_Verdict = Literal["allow", "deny", "escalate"]
_EventKind = Literal["escalation", "deny", "hold.expired", "approval.resolved", "policy.changed"]

@final
class Subscription:
    """An ``Engine.subscribe`` subscription: ``close()`` it (or leave its ``with`` block) to stop."""

    def close(self) -> None: ...
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Subscription: ...
    def __exit__(self, *_exc: object) -> bool: ...

@final
class Engine:
    """The authorization engine; one instance may be shared by many threads.

    ``clock`` (for tests and simulations): a callable returning epoch milliseconds, read once at
    the start of each call.
    """

    def __new__(
        cls,
        policy: _Policy | None = None,
        *,
        # A list or tuple, never one bare str (refused at runtime too).
        trusted_issuers: list[str] | list[Issuer] | list[str | Issuer] | tuple[str | Issuer, ...] | None = None,
        signing_key: Issuer | str | None = None,
        store: str | None = None,
        leeway_secs: int | None = None,
        clock: Callable[[], int] | None = None,
        pop_leeway_secs: int | None = None,
        platform_fee_bps: int | None = None,
        signing: Literal["each", "checkpoint"] | None = None,
        checkpoint_every: int | None = None,
        checkpoint_interval_ms: int | None = None,
    ) -> Engine: ...
    def enforce(
        self,
        gate: str,
        passport: _PassportLike | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        trace: Mapping[str, Any] | None = None,
        hold: bool | None = None,
        approval: str | None = None,
        client: str | None = None,
        mcp_session_id: str | None = None,
        mcp_client_name: str | None = None,
        notify: str | None = None,
        pop: Mapping[str, Any] | None = None,
    ) -> Decision: ...
    def dry_run(
        self,
        gate: str,
        passport: _PassportLike | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        trace: Mapping[str, Any] | None = None,
        hold: bool | None = None,
        approval: str | None = None,
        client: str | None = None,
        mcp_session_id: str | None = None,
        mcp_client_name: str | None = None,
        notify: str | None = None,
        pop: Mapping[str, Any] | None = None,
    ) -> Decision: ...
    def verify_passport(self, passport: _PassportLike) -> dict[str, Any]: ...
    def revoke_passport(self, passport_id: str) -> None: ...
    def reissue(
        self,
        passport: _PassportLike,
        issuer: Issuer | str,
        expires_in_days: int | None = None,
        *,
        accept_catalog: Sequence[Mapping[str, Any]] | None = None,
    ) -> IssuedPassport: ...
    def issue_passport(
        self,
        issuer_secret: Issuer | str,
        agent_id: str,
        *,
        agent_name: str | None = None,
        permissions: list[str] | tuple[str, ...] | None = None,
        expires_in_days: int | None = None,
        caveats: Sequence[Mapping[str, Any]] | None = None,
        passport: _PassportLike | None = None,
        pins: Sequence[Mapping[str, Any]] | None = None,
    ) -> IssuedPassport: ...
    def list_my_evaluations(
        self,
        passport: _PassportLike,
        *,
        gate: str | None = None,
        decision: _Verdict | None = None,
        evaluation_id: str | None = None,
        since: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]: ...
    def evaluate(
        self,
        policy_name: str,
        *,
        payload_scope: Mapping[str, Any] | None = None,
        passport: _PassportLike | None = None,
        agent_id: str | None = None,
        idempotency_key: str | None = None,
        dry_run: bool | None = None,
        mcp_session_id: str | None = None,
        mcp_client_name: str | None = None,
        tool_calls: Sequence[Mapping[str, Any]] | None = None,
        artifacts: Sequence[Mapping[str, Any]] | None = None,
        trace: Mapping[str, Any] | None = None,
        notify: str | None = None,
    ) -> Decision: ...
    def get_evaluation(self, evaluation_id: str, *, passport: _PassportLike | None = None) -> dict[str, Any]: ...
    def cumulative_state(
        self,
        *,
        namespace: str | None = None,
        constraint: str | None = None,
        scope: str | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
    ) -> list[dict[str, Any]]: ...
    def cumulative_state_page(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
        namespace: str | None = None,
        constraint: str | None = None,
        scope: str | None = None,
    ) -> dict[str, Any]: ...
    def reset_cumulative_state(
        self,
        *,
        namespace: str | None = None,
        constraint: str | None = None,
        scope: str | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
    ) -> int: ...
    def chain_head(self) -> dict[str, Any]: ...
    def checkpoint(self) -> dict[str, Any]: ...
    def inclusion_proof(
        self,
        evaluation_id: str | None = None,
        *,
        seq: int | None = None,
        tree_size: int | None = None,
    ) -> dict[str, Any]: ...
    def consistency_proof(self, old_size: int, new_size: int) -> dict[str, Any]: ...
    def verify_inclusion_proof(
        self, record: Mapping[str, Any], proof: Mapping[str, Any], did: str | None = None
    ) -> dict[str, Any]: ...
    def attestations(
        self,
        *,
        chain: str | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
        decision: _Verdict | None = None,
        evaluation_id: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]: ...
    def attestations_page(
        self,
        *,
        cursor: str | None = None,
        limit: int | None = None,
        chain: str | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
        decision: _Verdict | None = None,
        evaluation_id: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> dict[str, Any]: ...
    def anonymous_log(
        self,
        *,
        chain: str | None = None,
        gate: str | None = None,
        agent_id: str | None = None,
        decision: _Verdict | None = None,
        evaluation_id: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]: ...
    def verify_store(self, trusted_signers: Sequence[str]) -> dict[str, Any]: ...
    def record_attestation(self, kind: str, data: Any = None) -> dict[str, Any]: ...
    def set_policy(self, policy: _Policy, if_match: str | None = None) -> str: ...
    def upsert_gate(
        self, gate: str, definition: Mapping[str, Any], if_match: str | None = None
    ) -> dict[str, Any]: ...
    def delete_gate(self, gate: str, if_match: str | None = None) -> dict[str, Any]: ...
    def set_gate_constraints(
        self, gate: str, constraints: Sequence[Mapping[str, Any]], if_match: str | None = None
    ) -> dict[str, Any]: ...
    def set_anonymous_policy(
        self, anonymous: Mapping[str, Any], if_match: str | None = None
    ) -> dict[str, Any]: ...
    def create_gate(
        self, gate: str, definition: Mapping[str, Any], if_match: str | None = None
    ) -> dict[str, Any]: ...
    def update_gate(
        self, gate: str, definition: Mapping[str, Any], if_match: str | None = None
    ) -> dict[str, Any]: ...
    def apply_template(
        self,
        gate: str,
        template: str,
        params: Mapping[str, Any] | None = None,
        if_match: str | None = None,
    ) -> dict[str, Any]: ...
    def upsert_template(
        self, template: str, definition: Mapping[str, Any], if_match: str | None = None
    ) -> dict[str, Any]: ...
    def get_constraints(
        self, gate: str, passport: _PassportLike | None = None
    ) -> dict[str, Any]: ...
    def anonymous_policy(self) -> dict[str, Any]: ...
    def purge_bundle(self, evaluation_id: str) -> dict[str, Any]: ...
    def sessions(
        self,
        *,
        agent: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]: ...
    def session(self, session_id: str, *, limit: int | None = None) -> dict[str, Any]: ...
    def list_gates(self) -> list[dict[str, Any]]: ...
    def get_gate(self, gate: str) -> dict[str, Any]: ...
    def constraint_types(self) -> list[dict[str, Any]]: ...
    def templates(self) -> list[dict[str, Any]]: ...
    def create_api_key(
        self, name: str, scopes: Sequence[str], *, expires_in: int | str | None = None
    ) -> dict[str, Any]: ...
    def list_api_keys(self) -> list[dict[str, Any]]: ...
    def events(
        self,
        *,
        since: str | None = None,
        kinds: Sequence[_EventKind] | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]: ...
    def ack_event(self, id: str) -> bool: ...
    def subscribe(
        self,
        callback: Callable[[dict[str, Any]], object],
        kinds: list[_EventKind] | None = None,
        session_id: str | None = None,
    ) -> Subscription: ...
    def revoke_api_key(self, id: str) -> dict[str, Any]: ...
    def authenticate_api_key(self, secret: str) -> dict[str, Any]: ...
    def get_passport(self, passport_id: str) -> dict[str, Any]: ...
    def list_passports(
        self,
        *,
        agent: str | None = None,
        parent: str | None = None,
        status: Literal["active", "expired", "revoked", "revoked_ancestor"] | None = None,
        permission: str | None = None,
        cursor: str | None = None,
        limit: int | None = None,
    ) -> dict[str, Any]: ...
    def list_issuers(self) -> list[dict[str, Any]]: ...
    def trust_issuer(
        self, did: str, *, not_before: int | None = None, not_after: int | None = None
    ) -> dict[str, Any]: ...
    def untrust_issuer(self, did: str) -> dict[str, Any]: ...
    def export_trust(self) -> dict[str, Any]: ...
    def create_catalog(self, gate: str, catalog: Mapping[str, Any]) -> dict[str, Any]: ...
    def publish_catalog(
        self, gate: str, *, effective_at: int | None = None, change_summary: str | None = None
    ) -> dict[str, Any]: ...
    def get_catalog(self, gate: str, version: int | None = None) -> dict[str, Any]: ...
    def get_catalog_version(self, gate: str, version: int) -> dict[str, Any]: ...
    def list_catalog_versions(self, gate: str) -> dict[str, Any]: ...
    def get_catalog_impact(self, gate: str, old: int, new: int) -> dict[str, Any]: ...
    def discover_services(self, filter: Mapping[str, Any] | None = None) -> dict[str, Any]: ...
    def verify_catalog(self, document: Mapping[str, Any], did: str | None = None) -> dict[str, Any]: ...
    def import_trust(self, document: Mapping[str, Any], signer: str) -> dict[str, Any]: ...
    def verify_attestation(
        self, record: Mapping[str, Any], did: str | None = None
    ) -> dict[str, Any]: ...
    def verify_chain(
        self, records: Sequence[Mapping[str, Any]], did: str | None = None
    ) -> dict[str, Any]: ...
    def settle(
        self,
        hold_id: str,
        actual: Mapping[str, Any] | None = None,
        *,
        consume: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...
    def issue_consumption_attestation(
        self,
        evaluation_id: str | None = None,
        *,
        hold_id: str | None = None,
        outcome: str,
        quantity: int | None = None,
        delivered: int | None = None,
        latency_ms: int | None = None,
        permission: str | None = None,
        pop: Any = None,
    ) -> dict[str, Any]: ...
    def generate_settlement(
        self,
        from_ms: int,
        to_ms: int,
        *,
        payer: Mapping[str, str] | None = None,
        payee: str | None = None,
    ) -> dict[str, Any]: ...
    def get_settlement(self, settlement_id: str) -> dict[str, Any]: ...
    def update_settlement_status(
        self, settlement_id: str, status: str, *, reason: str | None = None
    ) -> dict[str, Any]: ...
    def export_settlement(self, settlement_id: str) -> dict[str, Any]: ...
    def verify_settlement(
        self,
        document: Mapping[str, Any],
        did: str,
        consumptions: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]: ...
    def get_billing_summary(self, filter: Mapping[str, Any] | None = None) -> dict[str, Any]: ...
    def get_sla_compliance(
        self, gate: str, from_ms: int, to_ms: int, *, permission: str | None = None
    ) -> dict[str, Any]: ...
    def release(self, hold_id: str) -> dict[str, Any]: ...
    def expire_holds(self, limit: int | None = None) -> int: ...
    def prune(self, limit: int | None = None) -> int: ...
    def export_attestations(
        self, path: str | os.PathLike[str] | SupportsWrite[str], since: int | None = None
    ) -> int: ...
    def verify_export(
        self, path: str | os.PathLike[str], trusted_signers: Sequence[str]
    ) -> dict[str, Any]: ...
    def approve(self, evaluation_id: str, approver: str, ttl: str | int | None = None) -> str: ...
    def deny_approval(
        self, evaluation_id: str, approver: str, reason: str | None = None
    ) -> dict[str, Any]: ...
    def allowed_gates(self, passport: _PassportLike | None = None) -> list[str]: ...
    # Awaitables running the method on the event loop's default thread pool (GIL released).
    def enforce_async(
        self,
        gate: str,
        passport: _PassportLike | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        trace: Mapping[str, Any] | None = None,
        hold: bool | None = None,
        approval: str | None = None,
        client: str | None = None,
        mcp_session_id: str | None = None,
        mcp_client_name: str | None = None,
        notify: str | None = None,
        pop: Mapping[str, Any] | None = None,
    ) -> asyncio.Future[Decision]: ...
    def dry_run_async(
        self,
        gate: str,
        passport: _PassportLike | None = None,
        payload: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        trace: Mapping[str, Any] | None = None,
        hold: bool | None = None,
        approval: str | None = None,
        client: str | None = None,
        pop: Mapping[str, Any] | None = None,
    ) -> asyncio.Future[Decision]: ...
    def settle_async(
        self, hold_id: str, actual: Mapping[str, Any] | None = None
    ) -> asyncio.Future[dict[str, Any]]: ...
    def release_async(self, hold_id: str) -> asyncio.Future[dict[str, Any]]: ...
    def approve_async(
        self, evaluation_id: str, approver: str, ttl: str | int | None = None
    ) -> asyncio.Future[str]: ...
    @property
    def signer_did(self) -> str: ...
    def close(self) -> None: ...
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
def verify_inclusion_proof(
    record: Mapping[str, Any], proof: Mapping[str, Any], did: str
) -> Literal[True]: ...
def verify_inclusion(
    leaf_hash: str, index: int, tree_size: int, proof: Sequence[str], root: str
) -> bool: ...
def verify_consistency(
    old_size: int, new_size: int, old_root: str, new_root: str, proof: Sequence[str]
) -> bool: ...
@final
class Gateway:
    """passgate's MCP endpoint over Streamable HTTP (see passgate.gateway)."""

    def __new__(
        cls,
        engine: Engine,
        *,
        issuer: Issuer | None = None,
        allowed_origins: list[str] | None = None,
        resource: str | None = None,
        authorization_servers: list[str] | None = None,
        allow_anonymous: bool | None = None,
        mcp_path: str | None = None,
        max_body_bytes: int | None = None,
        max_sessions: int | None = None,
        from_env: bool = False,
    ) -> Gateway: ...
    def handle(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]: ...
    @property
    def max_body_bytes(self) -> int: ...
    @property
    def session_count(self) -> int: ...

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
    api_key: str | None = None,
) -> str | None: ...
def _exception_for(code: str) -> type[PassgateError]: ...
def error_codes() -> dict[str, str]: ...
def operations() -> list[dict[str, Any]]: ...
def call(engine: Engine, name: str, args: Mapping[str, Any] | None = None) -> Any: ...
def _operation(engine: Engine, name: str) -> Operation: ...
def _decision_from_json(text: str) -> Decision: ...
def _mcp_guard(step: str, args: dict[str, Any]) -> Any: ...
def cli_main(args: Sequence[str]) -> int: ...
