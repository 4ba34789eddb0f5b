"""passgate.mcp: the catalogue, the JSON-RPC handler, and the guard on the official MCP SDK.

The guard tests run a real server of the installed SDK in-process (mcp 2.x ``MCPServer`` in
``.venv``; mcp 1.x ``FastMCP`` in ``.venv-mcp1``, see the Makefile) and call it with the SDK's
client, so ``_meta`` travels as it does over a transport. The rule under test: the tool's body
runs only on an ``allow``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

import pytest

import passgate
import passgate.mcp
from conftest import PAYMENTS_POLICY

MCP2 = importlib.util.find_spec("mcp.server.mcpserver") is not None
#: The SDK's tool Context class (mcp 2.x MCPServer's, or mcp 1.x FastMCP's).
SdkContext: Any = importlib.import_module("mcp.server.mcpserver" if MCP2 else "mcp.server.fastmcp").Context
META = passgate.mcp.PASSPORT_META_KEY

POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        **PAYMENTS_POLICY["gates"],
        "payments.big": {
            "require": ["payments:send"],
            "constraints": [{"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 100}}],
        },
    },
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ---- tools() and handle(): no SDK involved ------------------------------------------------------


def test_tools_is_the_catalogue() -> None:
    tools = passgate.mcp.tools()
    names = [t["name"] for t in tools]
    assert len(names) == 17 and len(set(names)) == 17
    assert {"enforce_action", "issue_passport", "get_attestations", "verify_attestation"} <= set(names)
    assert all(t["inputSchema"]["type"] == "object" and t["description"] for t in tools)


def test_handle_text_and_dict(engine: passgate.Engine, issuer: passgate.Issuer) -> None:
    assert passgate.mcp.handle(engine, '{"jsonrpc": "2.0", "id": 1, "method": "ping"}') == (
        '{"jsonrpc":"2.0","id":1,"result":{}}'
    )
    listed = passgate.mcp.handle(engine, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
    assert listed["result"]["tools"] == passgate.mcp.tools()
    assert passgate.mcp.handle(engine, {"jsonrpc": "2.0", "method": "notifications/initialized"}) is None
    issued = passgate.mcp.handle(
        engine,
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
         "params": {"name": "issue_passport", "arguments": {"agent_id": "a", "permissions": ["payments:send"]}}},
        issuer=issuer,
    )  # fmt: skip
    token = issued["result"]["structuredContent"]["token"]
    assert engine.verify_passport(token)["sub"] == "a"


def test_handle_never_raises_on_bad_input(engine: passgate.Engine) -> None:
    for bad in ["", "{", "[]", '"x"', "{" * 100_000, '{"jsonrpc": "2.0", "id": 1, "method": 5}']:
        reply = passgate.mcp.handle(engine, bad)
        assert reply is not None and "error" in json.loads(reply)
    wrong = passgate.mcp.handle(
        engine,
        {"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "get_gate", "arguments": {"gate": 5}}},
    )
    assert wrong["error"]["code"] == -32602 and "/gate" in wrong["error"]["message"]
    no_issuer = passgate.mcp.handle(
        engine,
        {"jsonrpc": "2.0", "id": 5, "method": "tools/call",
         "params": {"name": "issue_passport", "arguments": {"agent_id": "a", "permissions": []}}},
    )  # fmt: skip
    assert no_issuer["result"]["isError"] is True


# ---- the guard, on the installed SDK -----------------------------------------------------------


@dataclass
class Result:
    is_error: bool
    text: str

    def json(self) -> Any:
        """The guard's JSON (the SDK puts `Error executing tool NAME: ` before it)."""
        return json.loads(self.text[self.text.index("{") :])


Call = Callable[..., Awaitable[Result]]


def new_server() -> Any:
    if MCP2:
        from mcp.server.mcpserver import MCPServer

        return MCPServer("guard-test")
    return importlib.import_module("mcp.server.fastmcp").FastMCP("guard-test")


def tool(server: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`server.tool()`, typed."""
    return cast(Callable[[Callable[..., Any]], Callable[..., Any]], server.tool())


@asynccontextmanager
async def connect(server: Any) -> AsyncIterator[tuple[Call, Callable[[], Awaitable[dict[str, Any]]]]]:
    """A client of `server`: `call(name, args, passport=None)` and `schemas()` (name → inputSchema)."""

    def meta_of(passport: str | None, meta: dict[str, Any] | None) -> dict[str, Any] | None:
        out = dict(meta or {}) | ({} if passport is None else {META: passport})
        return out or None

    if MCP2:
        from mcp import Client

        async with Client(server) as client:

            async def call(
                name: str, args: dict[str, Any], passport: str | None = None, meta: dict[str, Any] | None = None
            ) -> Result:
                r = await client.call_tool(name, args, meta=meta_of(passport, meta))  # type: ignore[arg-type]
                return Result(bool(r.is_error), getattr(r.content[0], "text", ""))

            async def schemas() -> dict[str, Any]:
                return {t.name: t.input_schema for t in (await client.list_tools()).tools}

            yield call, schemas
    else:
        memory: Any = importlib.import_module("mcp.shared.memory")
        async with memory.create_connected_server_and_client_session(server._mcp_server) as session:

            async def call1(
                name: str, args: dict[str, Any], passport: str | None = None, meta: dict[str, Any] | None = None
            ) -> Result:
                r = await session.call_tool(name, args, meta=meta_of(passport, meta))
                return Result(bool(r.isError), getattr(r.content[0], "text", ""))

            async def schemas1() -> dict[str, Any]:
                return {t.name: t.inputSchema for t in (await session.list_tools()).tools}

            yield call1, schemas1


class Payments:
    """A server with `pay` (async) and `pay_sync` behind payments.send; `ran` counts bodies."""

    def __init__(self, engine: passgate.Engine, **guard: Any) -> None:
        self.ran: list[str] = []
        self.server = new_server()
        ran = self.ran

        @tool(self.server)
        @passgate.mcp.guard(engine, "payments.send", **guard)
        async def pay(amount: float, currency: str = "USD", note: str | None = None) -> str:
            """Pays (async)."""
            ran.append(f"pay {amount}")
            return f"paid {amount} {currency}"

        @tool(self.server)
        @passgate.mcp.guard(engine, "payments.send", **guard)
        def pay_sync(amount: float, currency: str = "USD", note: str | None = None) -> str:
            """Pays (sync)."""
            ran.append(f"pay_sync {amount}")
            return f"paid {amount} {currency}"

        @tool(self.server)
        async def unguarded(amount: float, currency: str = "USD", note: str | None = None) -> str:
            """The same signature without a guard."""
            return "ok"


TOOLS = ["pay", "pay_sync"]


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_allow_runs_the_body(engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str) -> None:
    app = Payments(engine)
    async with connect(app.server) as (call, schemas):
        r = await call(tool, {"amount": 120, "currency": "EUR"}, passport.token)
        assert not r.is_error and r.text == "paid 120.0 EUR"
        assert app.ran == [f"{tool} 120.0"]
        # The guard leaves the tool's inputSchema as the function declares it.
        s = await schemas()
        assert {k: v for k, v in s[tool].items() if k != "title"} == {
            k: v for k, v in s["unguarded"].items() if k != "title"
        }
        assert set(s[tool]["properties"]) == {"amount", "currency", "note"}
    # The payload was the bound arguments, defaults included, and the call was counted.
    (counter,) = engine.cumulative_state(constraint="daily-spend")
    assert counter["used"] == "120"


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_no_passport_is_a_deny_and_the_body_never_runs(engine: passgate.Engine, tool: str) -> None:
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        r = await call(tool, {"amount": 5})
    assert r.is_error and app.ran == []
    out = r.json()
    assert out["decision"] == "deny" and out["gate"] == "payments.send" and out["evaluation_id"]
    assert [c["code"] for c in out["checks"]] == ["PASSPORT_MISSING"]
    assert "approval_request" not in out


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_a_failed_constraint_lists_the_failed_checks(
    engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str
) -> None:
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        r = await call(tool, {"amount": 900, "currency": "GBP"}, passport.token)
    assert r.is_error and app.ran == []
    checks = {c["constraint"]: c for c in r.json()["checks"]}
    assert set(checks) == {"per-call", "currency"}
    assert checks["per-call"]["observed"] == "900" and checks["per-call"]["limit"] == "500"
    assert all({"type", "message", "passed"} <= set(c) and c["passed"] is False for c in checks.values())


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_bad_forged_revoked_passports(
    engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str
) -> None:
    app = Payments(engine)
    stranger = passgate.Issuer.generate().issue_passport("x", permissions=["payments:send"])
    t = passport.token
    forged = t[:-1] + ("Q" if t[-1] == "A" else "A")
    async with connect(app.server) as (call, _):
        seen = {}
        for name, token in [("junk", "not-a-token"), ("forged", forged), ("stranger", stranger.token)]:
            r = await call(tool, {"amount": 5}, token)
            assert r.is_error
            seen[name] = r.json()["checks"][0]["code"]
        engine.revoke_passport(passport.passport_id)
        r = await call(tool, {"amount": 5}, t)
        seen["revoked"] = r.json()["checks"][0]["code"]
    assert seen == {
        "junk": "PASSPORT_MALFORMED",
        "forged": "PASSPORT_SIGNATURE",
        "stranger": "ISSUER_UNTRUSTED",
        "revoked": "PASSPORT_REVOKED",
    }
    assert app.ran == []


@pytest.mark.anyio
async def test_an_expired_passport(issuer: passgate.Issuer) -> None:
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did], leeway_secs=0)
    brief = issuer.issue_passport("brief", permissions=["payments:send"], expires_in_days=1 / 86400)
    time.sleep(2.1)
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        r = await call("pay", {"amount": 5}, brief.token)
    assert r.is_error and r.json()["checks"][0]["code"] == "PASSPORT_EXPIRED" and app.ran == []


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_engine_errors_are_error_json(engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str) -> None:
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        nan = await call(tool, {"amount": "NaN"}, passport.token)  # the SDK makes it float('nan')
        huge = await call(tool, {"amount": 5, "note": "x" * 2_000_000}, passport.token)
    assert app.ran == []
    assert nan.is_error and nan.json() == {"error": {"code": "PAYLOAD_INVALID", "message": nan.json()["error"]["message"]}}
    assert huge.is_error and huge.json()["error"]["code"] == "LIMIT_EXCEEDED"


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_malformed_arguments_never_reach_the_body(engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str) -> None:
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        r = await call(tool, {"amount": "lots"}, passport.token)
        missing = await call(tool, {}, passport.token)
    assert r.is_error and missing.is_error and app.ran == []
    assert engine.attestations(kind="decision") == []  # refused by the SDK's validation first


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_a_raising_payload_function(engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str) -> None:
    def payload(args: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("secret detail")

    app = Payments(engine, payload=payload)
    async with connect(app.server) as (call, _):
        r = await call(tool, {"amount": 5}, passport.token)
    assert r.is_error and app.ran == []
    err = r.json()["error"]
    assert err["code"] == "INTERNAL" and "ValueError" in err["message"] and "secret" not in err["message"]


@pytest.mark.anyio
async def test_payload_and_passport_functions(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    seen: list[dict[str, Any]] = []

    def from_host(meta: dict[str, Any]) -> str | None:
        seen.append(meta)
        return passport.token if meta.get("agent") == "007" else None

    app = Payments(engine, passport=from_host, payload=lambda a: {"amount": a["amount"] * 10, "currency": "USD"})
    async with connect(app.server) as (call, _):
        ok = await call("pay", {"amount": 30}, meta={"agent": "007"})
        over = await call("pay", {"amount": 60}, meta={"agent": "007"})
        anonymous = await call("pay", {"amount": 1}, passport.token)  # the host function decides
    assert not ok.is_error and app.ran == ["pay 30.0"]
    assert engine.cumulative_state(constraint="daily-spend")[0]["used"] == "300"  # 30 * 10
    assert over.is_error and [c["constraint"] for c in over.json()["checks"]] == ["per-call"]
    assert anonymous.is_error and [c["code"] for c in anonymous.json()["checks"]] == ["PASSPORT_MISSING"]
    assert seen and all(isinstance(m, dict) for m in seen)


@pytest.mark.anyio
async def test_escalate_carries_the_approval_request(issuer: passgate.Issuer) -> None:
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    p = issuer.issue_passport("agent-e", permissions=["payments:send"])
    server, ran = new_server(), []

    @tool(server)
    @passgate.mcp.guard(engine, "payments.big")
    async def big(amount: int) -> str:
        ran.append(amount)
        return "done"

    async with connect(server) as (call, _):
        r = await call("big", {"amount": 500}, p.token)
        small = await call("big", {"amount": 50}, p.token)
    out = r.json()
    assert r.is_error and out["decision"] == "escalate" and out["approval_request"]
    assert [c["constraint"] for c in out["checks"]] == ["big"]
    assert not small.is_error and ran == [50]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_port() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port, proc
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_a_store_failure_never_runs_the_body(
    redis_port: tuple[int, subprocess.Popen[bytes]], issuer: passgate.Issuer, tool: str
) -> None:
    port, redis = redis_port
    engine = passgate.Engine(
        POLICY, trusted_issuers=[issuer.did], store=f"redis://127.0.0.1:{port}/0?timeout_ms=500"
    )
    p = issuer.issue_passport("agent-s", permissions=["payments:send"])
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        ok = await call(tool, {"amount": 5}, p.token)
        redis.kill()
        redis.wait()
        down = await call(tool, {"amount": 5}, p.token)
    assert not ok.is_error and app.ran == [f"{tool} 5.0"]
    assert down.is_error and down.json()["error"]["code"] == "STORE_UNAVAILABLE"


def test_guard_keeps_the_function_visible(engine: passgate.Engine) -> None:
    import inspect

    async def tool(amount: float, currency: str = "USD") -> str:
        """Docs."""
        return "x"

    guarded = passgate.mcp.guard(engine, "payments.send")(tool)
    assert guarded.__name__ == "tool" and guarded.__doc__ == "Docs."
    params = list(inspect.signature(guarded).parameters)
    # mcp 2.x injects the request context only into a parameter annotated Context.
    assert params == (["amount", "currency", "passgate_context"] if MCP2 else ["amount", "currency"])
    assert inspect.iscoroutinefunction(guarded)


@pytest.mark.anyio
@pytest.mark.parametrize("is_async", [True, False])
async def test_a_tool_with_its_own_context_parameter(
    engine: passgate.Engine, passport: passgate.IssuedPassport, is_async: bool
) -> None:
    """The guard reads _meta through the tool's own Context parameter, adds none, and leaves the
    context out of the payload; the body still gets its Context."""
    server, got = new_server(), []

    async def apay(amount: float, ctx: SdkContext, currency: str = "USD") -> str:
        got.append(ctx)
        return "paid"

    def spay(amount: float, ctx: SdkContext, currency: str = "USD") -> str:
        got.append(ctx)
        return "paid"

    guarded = passgate.mcp.guard(engine, "payments.send")(apay if is_async else spay)
    tool(server)(guarded)
    import inspect

    assert list(inspect.signature(guarded).parameters) == ["amount", "ctx", "currency"]
    async with connect(server) as (call, schemas):
        ok = await call(guarded.__name__, {"amount": 7}, passport.token)
        no = await call(guarded.__name__, {"amount": 7})
        assert set((await schemas())[guarded.__name__]["properties"]) == {"amount", "currency"}
    assert not ok.is_error and no.is_error and len(got) == 1 and isinstance(got[0], SdkContext)
    assert engine.cumulative_state(constraint="daily-spend")[0]["used"] == "7"
