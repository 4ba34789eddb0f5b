"""End to end: `passgate mcp serve --http` (the command's own HTTP/1.1 listener in front of the
gateway) as a subprocess, driven by the official Python MCP client over Streamable HTTP.

The operator's API key is made beforehand with `passgate keys create` on the same SQLite store;
the agents hold passports of the issuer the server trusts (`passgate issue`, and a PKCE flow).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

import passgate
from conftest import JSON_SSE, free_port
from passgate import pkce

PASSGATE = Path(sys.executable).parent / "passgate"
AGENT_TOOLS = {
    "enforce_action", "authorize_dry_run", "verify_passport", "list_allowed_gates", "list_my_evaluations",
}  # fmt: skip
ORIGIN = "http://localhost:3000"
PAYMENT = {"gate": "payments.send", "payload": {"amount": 20, "currency": "USD", "to": "acct_1"}}


def pg(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs the installed `passgate` command."""
    return subprocess.run([str(PASSGATE), *args], capture_output=True, text=True, timeout=60)


@contextmanager
def serve(*args: str) -> Iterator[str]:
    """`passgate mcp serve --http PORT args…` until the block ends; yields the MCP URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(PASSGATE), "mcp", "serve", "--http", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(600):
            assert proc.poll() is None, f"the server exited: {proc.stderr.read() if proc.stderr else ''}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("the server does not listen")
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@asynccontextmanager
async def http_client(url: str, bearer: str) -> AsyncIterator[Client]:
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {bearer}"}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result
    value: dict[str, Any] = json.loads(getattr(result.content[0], "text", ""))
    return value


@pytest.mark.anyio
async def test_the_command_serves_the_official_client_over_http(tmp_path: Path) -> None:
    store = f"sqlite://{tmp_path / 'store.db'}"
    key_file = tmp_path / "issuer.json"
    made = pg("keygen", "--out", str(key_file))
    assert made.returncode == 0, made.stderr
    did = made.stdout.strip()
    issuer = passgate.Issuer.from_secret(json.loads(key_file.read_text())["secret"])
    assert issuer.did == did
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"

    made = pg("keys", "create", "--store", store, "--name", "operator", "--format", "json",
              "--scope", "admin:counters", "read:attestations", "admin:passports")  # fmt: skip
    assert made.returncode == 0, made.stderr
    operator_key = json.loads(made.stdout)["secret"]
    made = pg("keys", "create", "--store", store, "--name", "doomed", "--scope", "decide")
    assert made.returncode == 0, made.stderr
    doomed_key = made.stdout.strip()
    doomed_id = doomed_key.split("_")[1]
    made = pg("issue", "--issuer-key", str(key_file), "--agent", "http-agent", "--perm", "payments:send")
    assert made.returncode == 0, made.stderr
    passport = made.stdout.strip()

    with serve("--store", store, "--trust", did, "--issuer-key", str(key_file),
               "--allowed-origin", ORIGIN) as url:  # fmt: skip
        base = url.removesuffix("/mcp")
        # The operator's key: the tools of its scopes, operator tools included.
        async with http_client(url, operator_key) as op:
            names = {t.name for t in (await op.list_tools()).tools}
            assert {"reset_cumulative_state", "get_attestations", "issue_passport"} <= names
            assert "create_api_key" not in names  # not in its scopes
            structured(await op.call_tool("reset_cumulative_state", {}))
            # --issuer-key: the operator issues with the trusted issuer.
            issued = structured(await op.call_tool(
                "issue_passport", {"agent_id": "op-made", "permissions": ["payments:send"]}))  # fmt: skip
            assert issued["token"]

        # A passport: the agent's tools only; its decision carries the gateway's trace.
        async with http_client(url, passport) as agent:
            names = {t.name for t in (await agent.list_tools()).tools}
            assert AGENT_TOOLS <= names and "reset_cumulative_state" not in names
            assert structured(await agent.call_tool("enforce_action", PAYMENT))["decision"] == "allow"
            assert (await agent.call_tool("reset_cumulative_state", {})).is_error

        # A passport minted by a PKCE flow with the trusted issuer.
        flow = pkce.AuthorizationFlow(issuer, passport_ttl=300)
        verifier = pkce.generate_verifier()
        code = flow.authorize(agent_id="pkce-agent", permissions=["payments:send"],
                              code_challenge=pkce.challenge_s256(verifier), code_challenge_method="S256",
                              redirect_uri="http://localhost/cb", client_id="cli")  # fmt: skip
        minted = flow.exchange(code=code, code_verifier=verifier, redirect_uri="http://localhost/cb",
                               client_id="cli")  # fmt: skip
        async with http_client(url, minted.token) as agent:
            assert structured(await agent.call_tool("enforce_action", PAYMENT))["decision"] == "allow"

        # The operator reads the decisions back: the gateway's trace fields are recorded.
        async with http_client(url, operator_key) as op:
            got = structured(await op.call_tool("get_attestations", {"kind": "decision"}))
        by_agent = {r["body"]["agent_id"]: r["body"] for r in got["attestations"]}
        assert set(by_agent) == {"http-agent", "pkce-agent"}, by_agent
        for body in by_agent.values():
            trace = body["trace"]
            assert trace["gateway"] == "passgate"
            assert trace["gateway_request_id"].startswith("req_")
            assert trace["mcp_session_id"].startswith("mcs_")
            assert trace["mcp_client_name"]  # the SDK's clientInfo.name

        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        async with httpx2.AsyncClient() as raw:
            # No credential: 401 with the challenge.
            resp = await raw.post(url, json=ping, headers={"Accept": JSON_SSE})
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"].startswith(
                f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource"'
            )
            # A notification: 202, empty.
            resp = await raw.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                                  headers={"Accept": JSON_SSE, "Authorization": f"Bearer {passport}"})  # fmt: skip
            assert resp.status_code == 202 and resp.content == b""
            # An origin not allowed: 403; the allowed one is served.
            auth = {"Authorization": f"Bearer {passport}", "Accept": JSON_SSE}
            resp = await raw.post(url, json=ping, headers={**auth, "Origin": "http://evil.example"})
            assert resp.status_code == 403
            resp = await raw.post(url, json=ping, headers={**auth, "Origin": ORIGIN})
            assert resp.status_code == 200
            # A key works until `passgate keys revoke`, from another process, on the same store.
            doomed = {"Authorization": f"Bearer {doomed_key}", "Accept": JSON_SSE}
            assert (await raw.post(url, json=ping, headers=doomed)).status_code == 200
            revoked = pg("keys", "revoke", "--store", store, doomed_id)
            assert revoked.returncode == 0, revoked.stderr
            resp = await raw.post(url, json=ping, headers=doomed)
            assert resp.status_code == 401
            assert resp.headers["www-authenticate"].startswith("Bearer resource_metadata=")
            # A body over the bound: 413.
            big = b'{"pad": "' + b"x" * (1 << 20) + b'"}'
            resp = await raw.post(url, content=big, headers={**auth, "Content-Type": "application/json"})
            assert resp.status_code == 413

    # The store outlives the server: the audit export has the same trace.
    exported = pg("audit", "export", "--store", store, "--since", "1h")
    assert exported.returncode == 0, exported.stderr
    records = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    decisions = [r["body"] for r in records if r["body"]["kind"] == "decision"]
    assert len(decisions) == 2 and all(d["trace"]["gateway"] == "passgate" for d in decisions)


def test_demo_mode_prints_an_admin_key_and_ctrl_c_stops_it() -> None:
    port = free_port()
    proc = subprocess.Popen([str(PASSGATE), "mcp", "serve", "--http", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if "MCP on http://" in line:
                break
        text = "".join(lines)
        assert "DEMO ONLY" in text, text
        key = next(w for w in text.split() if w.startswith("pgk_"))
        resp = httpx2.post(f"http://127.0.0.1:{port}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"Authorization": f"Bearer {key}", "Accept": JSON_SSE})  # fmt: skip
        assert resp.status_code == 200
        names = {t["name"] for t in resp.json()["result"]["tools"]}
        assert {"create_api_key", "reset_cumulative_state", "enforce_action"} <= names
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=10) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
