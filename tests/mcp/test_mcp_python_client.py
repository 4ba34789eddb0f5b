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
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult, RequestParamsMeta

import passgate
from conftest import free_port
import passgate.mcp

ROOT = Path(__file__).resolve().parents[2]
PY_SERVER = str(ROOT / "examples" / "python" / "mcp_server.py")
NODE_SERVER = str(ROOT / "examples" / "node" / "mcp-server.mjs")

#: Server commands the scenario runs against (argv, started in the repository root).
SERVERS: dict[str, list[str]] = {
    "python": [sys.executable, PY_SERVER],
    "node": ["node", NODE_SERVER],
}

AGENT_TOOLS = {
    "enforce_action", "authorize_dry_run", "evaluate", "get_evaluation", "verify_passport", "list_allowed_gates",
    "list_my_evaluations", "discover_services", "get_catalog",
}  # fmt: skip
OPERATOR_TOOLS = AGENT_TOOLS | {
    "issue_passport", "revoke_passport", "list_gates", "get_gate", "list_constraint_types",
    "list_constraint_templates", "get_cumulative_state", "reset_cumulative_state",
    "get_attestations", "verify_attestation", "settle_hold", "release_hold", "approve",
    "deny_approval", "reissue_passport", "get_anonymous_policy", "get_anonymous_log",
    "get_enforcement_attestation", "get_passport", "list_passports", "list_issuers",
    "trust_issuer", "untrust_issuer", "export_trust", "import_trust", "purge_bundle", "sessions",
    "session", "record_attestation", "chain_head", "verify_store", "prune", "upsert_gate",
    "create_gate", "update_gate", "delete_gate", "set_gate_constraints", "set_anonymous_policy",
    "apply_template", "upsert_template", "get_constraints", "expire_holds", "create_api_key",
    "list_api_keys", "revoke_api_key", "events", "ack_event", "create_passport", "check_gate",
    "set_constraints", "apply_constraint_template", "create_constraint_template",
    "get_enforcement_attestations", "verify_enforcement_attestation", "create_catalog",
    "publish_catalog", "get_catalog_version", "list_catalog_versions", "get_catalog_impact",
    "verify_catalog",
    "issue_consumption_attestation", "generate_settlement", "get_settlement",
    "update_settlement_status", "export_settlement", "verify_settlement", "get_billing_summary",
    "get_sla_compliance",
}  # fmt: skip
GUARDED = {"send_payment", "fetch_url"}
META = "passgate/passport"


def meta(token: str) -> RequestParamsMeta:
    """A request `_meta` carrying a passport (an open map: any key round-trips)."""
    return cast(RequestParamsMeta, {META: token})


def server_env(signing_secret: str, **extra: str) -> dict[str, str]:
    """This environment minus any PASSGATE_* of the caller's, with a known signing key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSGATE_")}
    env["PASSGATE_SIGNING_SECRET"] = signing_secret
    env.update(extra)
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


def verify_chains(records: list[dict[str, Any]], did: str) -> None:
    """Each chain in `records` verifies with `did` (each server process writes its own chain)."""
    chains: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        chains.setdefault(r["body"]["chain"], []).append(r)
    for chain in chains.values():
        assert passgate.verify_chain(chain, did) is True


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(SERVERS))
async def test_desktop_scenario(name: str, tmp_path: Path) -> None:
    """The documented desktop configuration, driven as Claude Desktop / Cursor drive a server:
    tool arguments only, never `_meta`. The agent's server has its passport from a file; the
    operator's own server (same store) issues, approves and audits."""
    signer = passgate.Issuer.generate()  # the servers sign attestations with this key
    env = server_env(signer.secret, PASSGATE_STORE=f"sqlite://{tmp_path / 'store.db'}")
    async with stdio_client([*SERVERS[name], "--role", "operator"], env) as operator:
        # a. the operator's server: every passgate tool, with the catalogue's schemas; no guarded tools.
        listed = {t.name: t for t in (await operator.list_tools()).tools}
        assert set(listed) == OPERATOR_TOOLS
        catalogue = {t["name"]: t for t in passgate.mcp.tools("operator")}
        for tool in OPERATOR_TOOLS:
            assert listed[tool].input_schema == catalogue[tool]["inputSchema"], tool
            assert listed[tool].annotations is not None and listed[tool].title, tool
        r = await operator.call_tool("list_gates", {})
        assert not r.is_error
        assert {g["name"] for g in payload(r)["gates"]} == {"payments.send", "web.fetch"}

        # b. the operator issues the agent's passport; the desktop config points at the file.
        issued = await issue(operator, "agent-e2e")
        passport_file = tmp_path / "agent.passport"
        passport_file.write_text(issued["token"])
        agent_argv = [*SERVERS[name], "--passport-file", str(passport_file)]
        async with stdio_client(agent_argv, env) as agent:
            # c. the agent's server: the agent tools and the guarded tools its passport allows.
            names = {t.name for t in (await agent.list_tools()).tools}
            assert names == AGENT_TOOLS | GUARDED
            send = next(t for t in (await agent.list_tools()).tools if t.name == "send_payment")
            assert {"amount", "currency", "to"} <= set(send.input_schema["properties"])

            # d. operator tools are refused by role, whatever the agent tries.
            attempts: list[tuple[str, dict[str, Any]]] = [
                ("reset_cumulative_state", {}), ("approve", {"evaluation_id": "x"}),
                ("issue_passport", {"agent_id": "me", "permissions": ["*"]}), ("get_attestations", {}),
            ]  # fmt: skip
            for tool, args in attempts:
                r = await agent.call_tool(tool, args)
                assert r.is_error and payload(r)["error"]["code"] == "FORBIDDEN", text(r)
                assert "operator" in payload(r)["error"]["message"]

            async def pay(amount: float, **extra: str) -> CallToolResult:
                return await agent.call_tool("send_payment", {"amount": amount, "currency": "USD", "to": "acct-42", **extra})

            # e. allowed with the server-side passport (no _meta anywhere).
            r = await pay(300)
            assert not r.is_error, text(r)
            assert "receipt" in text(r) and "acct-42" in text(r)

            # f. 450 is over 400: escalated, with the evaluation id the operator needs.
            r = await pay(450)
            assert r.is_error
            escalation = payload(r)
            assert escalation["decision"] == "escalate" and escalation["approval_request"], escalation
            evaluation_id = escalation["evaluation_id"]
            # The agent cannot approve it by any route.
            r = await agent.call_tool("approve", {"evaluation_id": evaluation_id})
            assert r.is_error and payload(r)["error"]["code"] == "FORBIDDEN"

            # g. the operator approves; the retry with the token (a tool argument) is allowed once.
            r = await operator.call_tool("approve", {"evaluation_id": evaluation_id})
            assert not r.is_error, text(r)
            token = payload(r)["approval"]
            r = await pay(450, passgate_approval=token)
            assert not r.is_error, text(r)
            r = await pay(450, passgate_approval=token)
            assert r.is_error and payload(r)["decision"] != "allow"

            # h. 300 + 450 = 750 today; 200 more is fine, then 100 would pass 1000: daily-spend.
            assert not (await pay(200)).is_error
            r = await pay(100)
            assert r.is_error
            assert [c["constraint"] for c in payload(r)["checks"]] == ["daily-spend"]

            # i. enforce_action itself answers a deny as a result, not an error.
            r = await agent.call_tool("authorize_dry_run", {"gate": "payments.send",
                                      "payload": {"amount": 100, "currency": "USD", "to": "a"}})  # fmt: skip
            assert not r.is_error and payload(r)["decision"] == "deny"
            mine = payload(await agent.call_tool("list_my_evaluations", {}))["evaluations"]
            assert {e["body"]["agent_id"] for e in mine} == {"agent-e2e"}

            # j. revoked: every later call is refused with PASSPORT_REVOKED.
            r = await operator.call_tool("revoke_passport", {"passport_id": issued["passport_id"]})
            assert not r.is_error, text(r)
            r = await pay(10)
            assert r.is_error and "PASSPORT_REVOKED" in codes(payload(r))

        # k. the operator's audit: every record of both servers verifies, chain by chain.
        r = await operator.call_tool("get_attestations", {})
        assert not r.is_error
        records = payload(r)["attestations"]
        decisions = [a for a in records if a["body"]["kind"] == "decision"]
        assert len(decisions) == 7, [d["body"]["decision"] for d in decisions]
        for record in decisions[:3]:
            v = await operator.call_tool("verify_attestation", {"record": record})
            assert not v.is_error, text(v)
        verify_chains(records, signer.did)

        # l. wrong argument types for a passgate tool: an error result naming the JSON path
        # (the model can correct it), and the server keeps answering.
        r = await operator.call_tool("get_gate", {"gate": 5})
        assert r.is_error and "/gate" in text(r)
        assert not (await operator.call_tool("list_gates", {})).is_error


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(SERVERS))
async def test_demo_keys_survive_a_restart(name: str, tmp_path: Path) -> None:
    """Demo mode on a persistent store: the issuer and signing key are kept next to it, so a
    passport issued before a restart is still accepted and the old chain still verifies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSGATE_")}
    env["PASSGATE_STORE"] = f"sqlite://{tmp_path / 'store.db'}"
    operator_argv = [*SERVERS[name], "--role", "operator"]
    async with stdio_client(operator_argv, env) as operator:
        issued = await issue(operator, "agent-restart")
    (tmp_path / "p").write_text(issued["token"])
    for _ in range(2):  # the agent's server, started twice
        async with stdio_client([*SERVERS[name], "--passport-file", str(tmp_path / "p")], env) as agent:
            r = await agent.call_tool("send_payment", {"amount": 5, "currency": "EUR", "to": "x"})
            assert not r.is_error, text(r)
    keys = json.loads((tmp_path / "store.db.demo-keys.json").read_text())
    did = passgate.Issuer.from_secret(keys["signing_secret"]).did
    async with stdio_client(operator_argv, env) as operator:
        records = payload(await operator.call_tool("get_attestations", {}))["attestations"]
    assert len([r for r in records if r["body"]["kind"] == "decision"]) == 2
    verify_chains(records, did)


@asynccontextmanager
async def http_server(argv: list[str], env: dict[str, str], log_path: Path) -> AsyncIterator[str]:
    port = free_port()
    log = log_path.open("wb")  # a file, not a pipe: the server logs every request
    proc = subprocess.Popen([*argv, "--http", str(port)], cwd=ROOT, env=env, stderr=log)
    try:
        for _ in range(600):  # wait until it listens (or has died)
            assert proc.poll() is None, log_path.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait()
        log.close()


@asynccontextmanager
async def http_client(url: str, bearer: str | None = None) -> AsyncIterator[Client]:
    """The official client over Streamable HTTP, sending `Authorization: Bearer` if given."""
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


@pytest.mark.anyio
@pytest.mark.parametrize("name", list(SERVERS))
async def test_streamable_http_roles_by_bearer(name: str, tmp_path: Path) -> None:
    """Over HTTP the bearer decides: the operator token gets the operator role, a passport the
    agent role with that passport, nothing an anonymous agent. A batch is refused."""
    op_token = "op-" + passgate.Issuer.generate().secret[:24]
    env = server_env(passgate.Issuer.generate().secret, PASSGATE_OPERATOR_TOKEN=op_token)
    async with http_server(SERVERS[name], env, tmp_path / "server.log") as url:
        async with http_client(url, op_token) as operator:
            assert {t.name for t in (await operator.list_tools()).tools} == OPERATOR_TOOLS
            token = (await issue(operator, "agent-http"))["token"]
        async with http_client(url, token) as agent:
            assert {t.name for t in (await agent.list_tools()).tools} == AGENT_TOOLS | GUARDED
            args = {"amount": 25, "currency": "EUR", "to": "acct-7"}
            r = await agent.call_tool("send_payment", args)
            assert not r.is_error and "receipt" in text(r), text(r)
            r = await agent.call_tool("reset_cumulative_state", {})
            assert r.is_error and payload(r)["error"]["code"] == "FORBIDDEN"
        async with http_client(url, "not-the-operator-token") as stranger:
            r = await stranger.call_tool("get_attestations", {})
            assert r.is_error and payload(r)["error"]["code"] == "FORBIDDEN"
        async with http_client(url) as anonymous:
            assert {t.name for t in (await anonymous.list_tools()).tools} == AGENT_TOOLS
            r = await anonymous.call_tool("send_payment", {"amount": 25, "currency": "EUR", "to": "acct-7"})
            assert r.is_error and payload(r)["decision"] == "deny"
        # A batch (two calls in one array) runs nothing.
        batch = [{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                  "params": {"name": "send_payment", "arguments": {"amount": 1, "currency": "EUR", "to": "b"}}}
                 for i in (1, 2)]  # fmt: skip
        async with httpx2.AsyncClient() as raw:
            resp = await raw.post(url, json=batch, headers={"Authorization": f"Bearer {token}",
                                  "Accept": "application/json, text/event-stream"})  # fmt: skip
        assert resp.status_code >= 400 or "error" in resp.text, resp.text
        async with http_client(url, op_token) as operator:
            records = payload(await operator.call_tool("get_attestations", {"kind": "decision"}))["attestations"]
        assert len(records) == 2, "the batch was not executed"
