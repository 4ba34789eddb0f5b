"""API keys from Python: created once, listed without secrets, revoked at once, scoped in MCP."""

from __future__ import annotations

import json
from typing import Any

import pytest

import passgate
import passgate.mcp

POLICY = {
    "version": 1,
    "gates": {"search": {"constraints": [{"id": "rate", "type": "rate_limit", "max": 2, "window": "1h", "scope": "client"}]}},
    "anonymous": {"gates": ["search"]},
}


def tool(engine: passgate.Engine, secret: str, name: str, arguments: dict[str, Any]) -> Any:
    reply = passgate.mcp.handle(
        engine,
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}},
        api_key=secret,
    )
    return reply["result"]


def test_the_secret_is_shown_once_and_only_its_metadata_is_listed() -> None:
    engine = passgate.Engine(POLICY)
    created = engine.create_api_key("ci", ["decide", "read:attestations"], expires_in="30d")
    secret = created["secret"]
    assert secret.startswith("pgk_" + created["id"] + "_")
    assert engine.authenticate_api_key(secret) == {"id": created["id"], "name": "ci", "scopes": ["decide", "read:attestations"]}
    [listed] = engine.list_api_keys()
    assert listed["id"] == created["id"] and listed["expires_at"] is not None
    assert secret not in json.dumps(listed) and "secret" not in json.dumps(engine.list_api_keys())
    # The attestation of its creation names it, never its secret.
    [record] = engine.attestations(kind="api_key.created")
    assert created["id"] in json.dumps(record) and secret not in json.dumps(record)


def test_a_revoked_or_unknown_key_is_a_typed_error() -> None:
    engine = passgate.Engine(POLICY)
    created = engine.create_api_key("ci", ["decide"])
    assert engine.revoke_api_key(created["id"])["revoked_at"] is not None
    with pytest.raises(passgate.PassportError) as e:
        engine.authenticate_api_key(created["secret"])
    assert e.value.code == "UNAUTHENTICATED" and created["secret"] not in str(e.value)
    with pytest.raises(passgate.InputError) as unknown:
        engine.revoke_api_key("aaaaaaaaaaaa")
    assert unknown.value.code == "API_KEY_UNKNOWN"
    with pytest.raises(passgate.InputError):
        engine.create_api_key("ci", ["root"])
    with pytest.raises(passgate.InputError):
        engine.create_api_key("", ["decide"])
    with pytest.raises(passgate.PassportError):
        passgate.mcp.handle(engine, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, api_key=created["secret"])


def test_a_key_calls_the_tools_of_its_scopes_and_is_limited_per_key() -> None:
    engine = passgate.Engine(POLICY)
    decide = engine.create_api_key("host", ["decide"])["secret"]
    other = engine.create_api_key("other host", ["decide"])["secret"]
    results = [tool(engine, decide, "enforce_action", {"gate": "search"})["structuredContent"]["decision"] for _ in range(3)]
    assert results == ["allow", "allow", "deny"]
    # Another key has its own allowance; the key may not pick a client to get a fresh one.
    assert tool(engine, other, "enforce_action", {"gate": "search"})["structuredContent"]["decision"] == "allow"
    refused = tool(engine, decide, "enforce_action", {"gate": "search", "client": "fresh"})
    assert refused["isError"] is True and "FORBIDDEN" in refused["content"][0]["text"]
    # Operator tools need their scope.
    wiped = tool(engine, decide, "reset_cumulative_state", {})
    assert wiped["isError"] is True and "admin:counters" in wiped["content"][0]["text"]
    minted = tool(engine, decide, "create_api_key", {"name": "mine", "scopes": ["admin:keys"]})
    assert minted["isError"] is True and len(engine.list_api_keys()) == 2
    # The key's id is in each decision's trace.
    traces = [r["body"]["trace"] for r in engine.attestations(kind="decision")]
    assert all(t.get("api_key_id") for t in traces)


def test_an_api_key_caller_takes_no_role_or_passport() -> None:
    engine = passgate.Engine(POLICY)
    secret = engine.create_api_key("ci", ["decide"])["secret"]
    with pytest.raises(passgate.InputError):
        passgate.mcp.handle(engine, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, api_key=secret, role="operator")
