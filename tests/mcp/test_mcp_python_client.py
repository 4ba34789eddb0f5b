"""End to end: the example MCP servers, driven by the official Python MCP client over stdio.

The scenario speaks only MCP on the wire, so it runs unchanged against every server in
`SERVERS` (the Python example and the Node example: this client against both languages). A guarded
tool's refusal is an `isError` result whose text holds the guard's JSON (the Python SDK puts
`Error executing tool NAME: ` in front of it).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, RequestParamsMeta

import passgate
import passgate.mcp

ROOT = Path(__file__).resolve().parents[2]
PY_SERVER = str(ROOT / "examples" / "python" / "mcp_server.py")
NODE_SERVER = str(ROOT / "examples" / "node" / "mcp-server.mjs")

#: Server commands the scenario runs against (argv, started in the repository root).
SERVERS: dict[str, list[str]] = {
    "python": [sys.executable, PY_SERVER],
    "node": ["node", NODE_SERVER],
}

PASSGATE_TOOLS = {
    "enforce_action", "authorize_dry_run", "verify_passport", "issue_passport", "revoke_passport",
    "list_gates", "get_gate", "list_constraint_types", "list_constraint_templates",
    "get_cumulative_state", "reset_cumulative_state", "get_attestations", "verify_attestation",
    "settle_hold", "release_hold", "approve", "deny_approval",
}  # fmt: skip
META = "passgate/passport"


def meta(token: str) -> RequestParamsMeta:
    """A request `_meta` carrying a passport (an open map: any key round-trips)."""
    return cast(RequestParamsMeta, {META: token})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def server_env(signing_secret: str) -> dict[str, str]:
    """This environment minus any PASSGATE_* of the caller's, with a known signing key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSGATE_")}
    env["PASSGATE_SIGNING_SECRET"] = signing_secret
    return env


@asynccontextmanager
async def stdio_client(argv: list[str], env: dict[str, str]) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=str(ROOT))
    async with Client(params) as client:
        yield client


def text(r: CallToolResult) -> str:
    return str(getattr(r.content[0], "text", ""))


def payload(r: CallToolResult) -> Any:
    """The JSON a result's text holds (after any prefix the SDK puts before it)."""
    t = text(r)
    return json.loads(t[min(i for i in (t.find("{"), t.find("[")) if i >= 0) :])


def codes(v: Any) -> set[str]:
    """Every `code` value anywhere in a JSON value."""
    if isinstance(v, dict):
        own = {v["code"]} if isinstance(v.get("code"), str) else set()
        return own.union(*(codes(x) for x in v.values()))
    if isinstance(v, list):
        return set().union(*(codes(x) for x in v))
    return set()


async def issue(client: Client, agent_id: str) -> dict[str, Any]:
    r = await client.call_tool(
        "issue_passport", {"agent_id": agent_id, "permissions": ["payments:send", "web:fetch"]}
    )
    assert not r.is_error, text(r)
    issued = payload(r)
    assert isinstance(issued["token"], str) and issued["passport_id"]
    return dict(issued)


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(SERVERS))
async def test_scenario(name: str) -> None:
    signer = passgate.Issuer.generate()  # the servers sign attestations with this key
    async with stdio_client(SERVERS[name], server_env(signer.secret)) as client:
        # a. the tools: passgate's 17 with the catalogue's schemas, and the two demo tools.
        listed = {t.name: t for t in (await client.list_tools()).tools}
        assert set(listed) == PASSGATE_TOOLS | {"send_payment", "fetch_url"}
        catalogue = {t["name"]: t["inputSchema"] for t in passgate.mcp.tools()}
        for tool in PASSGATE_TOOLS:
            assert listed[tool].input_schema == catalogue[tool], tool
        assert set(listed["send_payment"].input_schema["properties"]) == {"amount", "currency", "to"}
        assert set(listed["fetch_url"].input_schema["properties"]) == {"url"}

        # b. list_gates: both demo gates.
        r = await client.call_tool("list_gates", {})
        assert not r.is_error
        assert {g["name"] for g in payload(r)["gates"]} == {"payments.send", "web.fetch"}

        # c. a passport from the server's demo issuer.
        issued = await issue(client, "agent-e2e")
        token = issued["token"]
        guarded = 0

        async def pay(amount: float, passport: str | None) -> CallToolResult:
            nonlocal guarded
            guarded += 1
            args = {"amount": amount, "currency": "USD", "to": "acct-42"}
            return await client.call_tool("send_payment", args, meta=meta(passport) if passport else None)

        # d. an allowed payment returns the tool's receipt.
        r = await pay(300, token)
        assert not r.is_error, text(r)
        assert "receipt" in text(r) and "acct-42" in text(r)

        # e. no passport: a deny naming the passport check.
        r = await pay(300, None)
        assert r.is_error
        deny = payload(r)
        assert deny["decision"] == "deny" and deny["gate"] == "payments.send" and deny["evaluation_id"]
        assert "PASSPORT_MISSING" in {c["code"] for c in deny["checks"]}

        # f. 300 + 300 more (900 today), then 200 would pass 1000: daily-spend.
        assert not (await pay(300, token)).is_error
        assert not (await pay(300, token)).is_error
        r = await pay(200, token)
        assert r.is_error
        assert [c["constraint"] for c in payload(r)["checks"]] == ["daily-spend"]

        # g. revoked: every later call is refused with PASSPORT_REVOKED.
        r = await client.call_tool("revoke_passport", {"passport_id": issued["passport_id"]})
        assert not r.is_error, text(r)
        r = await pay(10, token)
        assert r.is_error and "PASSPORT_REVOKED" in codes(payload(r))

        # h. fetch_url with a fresh passport: an allowed host, then one that is not.
        fresh = (await issue(client, "agent-e2e-2"))["token"]
        r = await client.call_tool("fetch_url", {"url": "https://example.com/x"}, meta=meta(fresh))
        assert not r.is_error and "https://example.com/x" in text(r)
        r = await client.call_tool("fetch_url", {"url": "https://evil.test/"}, meta=meta(fresh))
        assert r.is_error and [c["constraint"] for c in payload(r)["checks"]] == ["hosts"]
        guarded += 2

        # i. one signed decision record per guarded call; each verifies, and so does the chain.
        r = await client.call_tool("get_attestations", {})
        assert not r.is_error
        records = payload(r)["attestations"]
        decisions = [a for a in records if a["body"]["kind"] == "decision"]
        assert len(decisions) == guarded == 8
        for record in decisions:
            v = await client.call_tool("verify_attestation", {"record": record})
            assert not v.is_error, text(v)
        assert passgate.verify_chain(records, signer.did) is True

        # j. wrong argument types for a passgate tool: an error naming the JSON path, and the
        # server keeps answering.
        try:
            r = await client.call_tool("get_gate", {"gate": 5})
            assert r.is_error and "/gate" in text(r)
        except MCPError as e:
            assert "/gate" in e.message
        assert not (await client.call_tool("list_gates", {})).is_error


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.anyio
async def test_streamable_http_smoke(tmp_path: Path) -> None:
    port = free_port()
    env = server_env(passgate.Issuer.generate().secret)
    log = (tmp_path / "server.log").open("wb")  # a file, not a pipe: the server logs every request
    proc = subprocess.Popen([sys.executable, PY_SERVER, "--http", str(port)], cwd=ROOT, env=env, stderr=log)
    try:
        for _ in range(600):  # wait until it listens (or has died)
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert PASSGATE_TOOLS | {"send_payment", "fetch_url"} == names
            token = (await issue(client, "agent-http"))["token"]
            args = {"amount": 25, "currency": "EUR", "to": "acct-7"}
            r = await client.call_tool("send_payment", args, meta=meta(token))
            assert not r.is_error and "receipt" in text(r)
            r = await client.call_tool("send_payment", args)
            assert r.is_error and payload(r)["decision"] == "deny"
    finally:
        proc.terminate()
        proc.wait()
        log.close()
