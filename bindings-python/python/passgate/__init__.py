"""passgate: an embeddable authorization engine for AI agents.

Before every tool call, ask the engine *may this agent do this, with these arguments, now?*
It verifies the agent's signed passport, evaluates the gate (permissions, typed constraints,
spend / rate / quota counters), explains its decision and signs a tamper-evident attestation of it.

    >>> import passgate
    >>> issuer = passgate.Issuer.generate()
    >>> passport = issuer.issue_passport(agent_id="agent-7", permissions=["payments:send"])
    >>> engine = passgate.Engine(
    ...     {"version": 1, "gates": {"payments.send": {"require": ["payments:send"],
    ...      "constraints": [{"id": "per-call", "type": "max_value", "field": "/amount", "max": 500}]}}},
    ...     trusted_issuers=[issuer.did])
    >>> engine.enforce("payments.send", passport.token, {"amount": 900}).decision
    'deny'

The classes and functions are implemented in Rust (``passgate._native``); see their docstrings.
Errors are ``PassgateError`` subclasses (``passgate.errors``) carrying a stable ``.code`` and,
where the error is at a place, a ``.path``; a deny is a ``Decision``, never an exception.

Numbers: payload numbers may be ``int`` (any size, exact), ``float`` (read as its shortest
round-trip decimal, so ``0.1`` is exactly ``0.1``), ``decimal.Decimal`` (exact) or decimal
strings; NaN and infinities are refused (``PAYLOAD_INVALID``). Decision values (``observed``,
``limit``, ``remaining``) are decimal strings. Numbers coming back from the engine in dicts are
``int`` when integral, ``float`` when that float is exactly the number, else ``Decimal``.
"""

import json as _json
from importlib import resources as _resources
from typing import Any as _Any

from passgate._native import (
    ERROR_CODES,
    Decision,
    Engine,
    Gateway,
    IssuedPassport,
    Issuer,
    Subscription,
    __version__,
    constraint_types,
    make_pop,
    templates,
    verify_attestation,
    verify_chain,
    verify_consistency,
    verify_inclusion,
    verify_inclusion_proof,
)
from passgate.errors import (
    AttestationError,
    IdempotencyConflict,
    IdempotencyConflictError,
    InputError,
    PassgateError,
    PassportError,
    PolicyError,
    StoreError,
)

__all__ = [
    "ERROR_CODES",
    "AttestationError",
    "Decision",
    "Engine",
    "Gateway",
    "IdempotencyConflict",
    "IdempotencyConflictError",
    "InputError",
    "IssuedPassport",
    "Issuer",
    "PassgateError",
    "PassportError",
    "PolicyError",
    "StoreError",
    "Subscription",
    "__version__",
    "constraint_types",
    "catalog_schema",
    "policy_schema",
    "templates",
    "verify_attestation",
    "make_pop",
    "verify_chain",
    "verify_inclusion_proof",
    "verify_inclusion",
    "verify_consistency",
]


def catalog_schema() -> dict[str, _Any]:
    """The catalog document's JSON Schema (draft 2020-12), as a fresh dict: what
    ``Engine.create_catalog`` accepts (the engine's own check, ``CATALOG_INVALID`` at the field,
    is the rule). Shipped as ``passgate/catalog.schema.json``, the core's
    ``schema/catalog.schema.json``."""
    text = _resources.files("passgate").joinpath("catalog.schema.json").read_text(encoding="utf-8")
    doc: dict[str, _Any] = _json.loads(text)
    return doc


def policy_schema() -> dict[str, _Any]:
    """The policy document's JSON Schema (draft 2020-12), as a fresh dict.

    The package ships it as ``passgate/policy.schema.json`` (the same file as the core's
    ``schema/policy.schema.json``): point an editor at it, or name it in a policy's top-level
    ``"$schema"`` key, which the engine accepts and ignores.
    """
    text = _resources.files("passgate").joinpath("policy.schema.json").read_text(encoding="utf-8")
    doc: dict[str, _Any] = _json.loads(text)
    return doc
