"""End to end: the gateway example servers (uvicorn + passgate.gateway, Node http + passgate/gateway),
started as a user starts them, driven by the official Python MCP client over Streamable HTTP.

Both share one SQLite store with this test, which makes the API keys and reads the attestations.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

import passgate
from conftest import JSON_SSE, free_port

ROOT = Path(__file__).resolve().parents[2]
SERVERS: dict[str, list[str]] = {
    "python": [sys.executable, str(ROOT / "examples" / "python" / "gateway_server.py")],
    "node": ["node", str(ROOT / "examples" / "node" / "gateway-server.mjs")],
}
ALL_SCOPES = ["decide", "read:attestations", "admin:passports", "admin:policy", "admin:counters", "approve", "admin:keys"]


@contextmanager
def started(argv: list[str], env: dict[str, str], log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen([*argv, str(port)], cwd=ROOT, env=env, stderr=out)
    try:
        for _ in range(400):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.05)
        else:
            raise AssertionError(f"the server did not listen: {log.read_text()}")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.anyio
@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_the_gateway_example_serves_keys_and_passports(server: str, tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'passgate.db'}"
    issuer = passgate.Issuer.generate()
    signer = passgate.Issuer.generate()
    policy = str(ROOT / "examples" / "mcp" / "demo-policy.json")
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did], signing_key=signer, store=store)
    operator = engine.create_api_key("ops", ["admin:counters", "read:attestations"])
    passport = issuer.issue_passport("agent-gw", permissions=["payments:send"]).token
    env = {
        **os.environ,
        "PASSGATE_POLICY": policy,
        "PASSGATE_STORE": store,
        "PASSGATE_TRUSTED_ISSUERS": issuer.did,
        "PASSGATE_SIGNING_SECRET": signer.secret,
        "PASSGATE_MCP_ALLOWED_ORIGINS": "https://app.example.com",
    }
    with started(SERVERS[server], env, tmp_path / "server.log") as url:
        # A store with keys: the example creates none.
        assert "admin API key" not in (tmp_path / "server.log").read_text()
        async with create_mcp_http_client(headers={"Authorization": f"Bearer {passport}"}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as agent:
                names = {t.name for t in (await agent.list_tools()).tools}
                assert "enforce_action" in names and "reset_cumulative_state" not in names
                args = {"gate": "payments.send", "payload": {"amount": 30, "currency": "EUR", "to": "acct-1"}}
                r = await agent.call_tool("enforce_action", args)
                assert json.loads(getattr(r.content[0], "text", ""))["decision"] == "allow"
        async with create_mcp_http_client(headers={"x-api-key": operator["secret"]}) as http:
            async with Client(streamable_http_client(url, http_client=http)) as op:
                names = {t.name for t in (await op.list_tools()).tools}
                assert {"reset_cumulative_state", "get_attestations"} <= names and "issue_passport" not in names
                reset = await op.call_tool("reset_cumulative_state", {"gate": "payments.send"})
                assert not reset.is_error, reset
        [decision] = engine.attestations(kind="decision")
        trace = decision["body"]["trace"]
        assert decision["body"]["agent_id"] == "agent-gw" and trace["gateway"] == "passgate"
        assert trace["mcp_session_id"].startswith("mcs_") and trace["mcp_client_name"]
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with httpx2.AsyncClient() as raw:
            resp = await raw.post(url, json=ping, headers={"Accept": JSON_SSE})
            assert resp.status_code == 401 and "resource_metadata=" in resp.headers["www-authenticate"]
            auth = {"Authorization": f"Bearer {passport}", "Accept": JSON_SSE}
            resp = await raw.post(url, json=ping, headers={**auth, "Origin": "https://evil.example.com"})
            assert resp.status_code == 403
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            resp = await raw.post(url, json=note, headers={"Accept": JSON_SSE})
            assert resp.status_code == 202 and resp.content == b""
            engine.revoke_api_key(operator["id"])
            resp = await raw.post(url, json=ping, headers={"x-api-key": operator["secret"], "Accept": JSON_SSE})
            assert resp.status_code == 401 and 'error="invalid_token"' in resp.headers["www-authenticate"]


def test_the_gateway_example_prints_an_admin_key_for_an_empty_store(tmp_path: Path) -> None:
    env = {**os.environ, "PASSGATE_STORE": f"sqlite://{tmp_path / 'p.db'}"}
    with started(SERVERS["python"], env, tmp_path / "server.log"):
        pass
    log = (tmp_path / "server.log").read_text()
    secret = log.split("admin API key (shown once): ")[1].split()[0]
    engine = passgate.Engine({"version": 1, "gates": {}}, store=env["PASSGATE_STORE"])
    assert engine.authenticate_api_key(secret)["scopes"] == ALL_SCOPES
