"""End to end: passgate's HTTP gateway (`passgate.Gateway` + `passgate.gateway.asgi_app`) under
uvicorn, driven by the official Python MCP client over Streamable HTTP.

The server runs in this process (a uvicorn thread) so that the test can read the engine's
attestations: an evaluation made through the gateway carries its trace fields.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx2
import pytest
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

import passgate
from conftest import JSON_SSE, free_port
from passgate.gateway import asgi_app

POLICY = {
    "version": 1,
    "gates": {
        "payments.send": {
            "require": ["pay"],
            "constraints": [
                {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}
            ],
        }
    },
}
AGENT_TOOLS = {
    "enforce_action", "authorize_dry_run", "verify_passport", "list_allowed_gates", "list_my_evaluations",
}  # fmt: skip


@contextmanager
def serve(gateway: passgate.Gateway) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(asgi_app(gateway), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@asynccontextmanager
async def http_client(url: str, bearer: str | None = None) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


def world() -> tuple[passgate.Engine, passgate.Gateway, str]:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    token = issuer.issue_passport("agent-http", permissions=["pay"]).token
    return engine, passgate.Gateway(engine, allowed_origins=["https://app.example.com"]), token


def decisions(engine: passgate.Engine) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = engine.attestations(kind="decision")
    return records


@pytest.mark.anyio
async def test_official_client_through_the_gateway() -> None:
    engine, gateway, token = world()
    with serve(gateway) as base:
        url = base + "/mcp"
        async with http_client(url, token) as agent:
            names = {t.name for t in (await agent.list_tools()).tools}
            assert AGENT_TOOLS <= names and "reset_cumulative_state" not in names
            r = await agent.call_tool(
                "enforce_action", {"gate": "payments.send", "payload": {"amount": 30}}
            )
            assert not r.is_error, r
            assert json.loads(getattr(r.content[0], "text", ""))["decision"] == "allow"
            r = await agent.call_tool("reset_cumulative_state", {})
            assert r.is_error
        [record] = decisions(engine)
        trace = record["body"]["trace"]
        assert record["body"]["agent_id"] == "agent-http"
        assert trace["gateway"] == "passgate"
        assert trace["mcp_session_id"].startswith("mcs_")
        assert trace["mcp_client_name"]  # the SDK's clientInfo.name
        assert trace["gateway_request_id"].startswith("req_")
        assert "gateway_jsonrpc_id" in trace

        async with httpx2.AsyncClient() as raw:
            # No credential: 401 with the challenge.
            resp = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                               headers={"Accept": JSON_SSE})  # fmt: skip
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"].startswith(
                f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource"'
            )
            meta = (await raw.get(base + "/.well-known/oauth-protected-resource")).json()
            assert meta["resource"] == url and "decide" in meta["scopes_supported"]
            # A notification: 202, empty.
            resp = await raw.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                               headers={"Accept": JSON_SSE})  # fmt: skip
            assert resp.status_code == 202 and resp.content == b""
            auth = {"Authorization": f"Bearer {token}", "Accept": JSON_SSE}
            # A foreign origin: 403.
            resp = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                               headers={**auth, "Origin": "https://evil.example.com"})  # fmt: skip
            assert resp.status_code == 403
            # A batch: 400, nothing run.
            request = {"jsonrpc": "2.0", "method": "tools/call", "params": {
                "name": "enforce_action", "arguments": {"gate": "payments.send", "payload": {"amount": 1}}}}  # fmt: skip
            resp = await raw.post(url, json=[{**request, "id": 1}, {**request, "id": 2}], headers=auth)
            assert resp.status_code == 400 and resp.json()["error"]["code"] == -32600
            # GET /mcp: no SSE stream.
            assert (await raw.get(url, headers=auth)).status_code == 405
            # Too large: 413.
            big = b'{"pad": "' + b"x" * (1 << 20) + b'"}'
            resp = await raw.post(url, content=big, headers={**auth, "Content-Type": "application/json"})
            assert resp.status_code == 413
        assert len(decisions(engine)) == 1


@pytest.mark.anyio
async def test_a_revoked_passport_is_refused_by_the_gateway() -> None:
    engine, gateway, token = world()
    with serve(gateway) as base:
        claims = engine.verify_passport(token)
        engine.revoke_passport(claims["jti"])
        async with httpx2.AsyncClient() as raw:
            r = await raw.post(base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                               headers={"Authorization": f"Bearer {token}", "Accept": JSON_SSE})  # fmt: skip
            assert r.status_code == 401
            assert 'error="invalid_token"' in r.headers["www-authenticate"]


@pytest.mark.anyio
async def test_a_session_of_twenty_decisions_through_the_gateway_is_listed() -> None:
    """Issue 17, done means: 20 decisions in one MCP session (the official client over
    Streamable HTTP; the gateway sets `trace.mcp_session_id`), listed with the right
    aggregates by `sessions` and in order by `session`."""
    engine, gateway, token = world()
    verdicts: list[str] = []
    with serve(gateway) as base:
        async with http_client(base + "/mcp", token) as agent:
            for i in range(20):
                amount = 10 if i < 10 else 60  # ten allowed (100 in all), then ten over the cap
                r = await agent.call_tool(
                    "enforce_action", {"gate": "payments.send", "payload": {"amount": amount}}
                )
                verdicts.append(json.loads(getattr(r.content[0], "text", ""))["decision"])
    assert verdicts == ["allow"] * 10 + ["deny"] * 10
    [row] = engine.sessions()
    assert row["session_id"].startswith("mcs_") and row["agent"] == "agent-http"
    assert row["decisions"] == {"allow": 10, "deny": 10}
    assert row["spend"] == {"cap": "100"}
    assert row["open_holds"] == 0 and row["pending_approvals"] == 0
    one = engine.session(row["session_id"])
    assert [d["body"]["decision"] for d in one["decisions"]] == verdicts
    assert one["sessions"] == [row]
