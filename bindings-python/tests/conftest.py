"""Shared fixtures: an issuer, a payments policy and engines built on them."""

from __future__ import annotations

import pathlib
from typing import Any

import pytest

import passgate

#: The repository root (bindings-python/tests/ is two levels down).
ROOT = pathlib.Path(__file__).resolve().parents[2]

PAYMENTS_POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "payments.send": {
            "require": ["payments:send"],
            "constraints": [
                {"id": "per-call", "type": "max_value", "field": "/amount", "max": 500},
                {"id": "currency", "type": "allowed_values", "field": "/currency", "values": ["USD", "EUR"]},
                {"id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": "1000.00", "window": "1d"},
            ],
        },
        "catalog.read": {"require": ["catalog:read"]},
    },
}


@pytest.fixture
def issuer() -> passgate.Issuer:
    return passgate.Issuer.generate()


@pytest.fixture
def passport(issuer: passgate.Issuer) -> passgate.IssuedPassport:
    return issuer.issue_passport(agent_id="agent-007", agent_name="Bond", permissions=["payments:send"])


@pytest.fixture
def engine(issuer: passgate.Issuer) -> passgate.Engine:
    return passgate.Engine(PAYMENTS_POLICY, trusted_issuers=[issuer.did])
