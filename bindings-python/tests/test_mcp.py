"""passgate.mcp: the catalogue, the JSON-RPC handler, and the guard on the official MCP SDK.

The guard tests run a real server of the installed SDK in-process (mcp 2.x ``MCPServer`` in
``.venv``; mcp 1.x ``FastMCP`` in ``.venv-mcp1``, see the Makefile) and call it with the SDK's
client, so ``_meta`` travels as it does over a transport. The rule under test: the tool's body
runs only on an ``allow``.
"""

from __future__ import annotations

import functools
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


AGENT_TOOLS = [
    "enforce_action", "authorize_dry_run", "verify_passport", "list_allowed_gates", "list_my_evaluations",
    "evaluate", "get_evaluation", "discover_services", "get_catalog",
]  # fmt: skip
OPERATOR_ONLY = [
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
]  # fmt: skip


def rpc(engine: passgate.Engine, method: str, params: dict[str, Any] | None = None, **caller: Any) -> Any:
    """One JSON-RPC request through `handle`, as `caller` (role=..., passport=..., issuer=...)."""
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
    if params is not None:
        message["params"] = params
    return passgate.mcp.handle(engine, message, **caller)


def call_tool(engine: passgate.Engine, name: str, arguments: dict[str, Any], **caller: Any) -> Any:
    """A `tools/call` through `handle`: the tool result."""
    return rpc(engine, "tools/call", {"name": name, "arguments": arguments}, **caller)["result"]


def test_tools_is_the_catalogue_of_a_role() -> None:
    agent = passgate.mcp.tools()
    assert [t["name"] for t in agent] == AGENT_TOOLS == [t["name"] for t in passgate.mcp.tools("agent")]
    operator = passgate.mcp.tools("operator")
    names = [t["name"] for t in operator]
    assert len(names) == len(AGENT_TOOLS) + len(OPERATOR_ONLY) == 77
    assert set(names) == set(AGENT_TOOLS) | set(OPERATOR_ONLY)
    for t in operator:
        assert {"name", "title", "description", "inputSchema", "annotations"} <= set(t) <= {
            "name", "title", "description", "inputSchema", "annotations", "outputSchema",
        }  # fmt: skip
        assert t["inputSchema"]["type"] == "object" and t["description"] and t["title"]
        assert {"readOnlyHint", "destructiveHint", "idempotentHint"} <= set(t["annotations"])
    with pytest.raises(passgate.InputError):
        passgate.mcp.tools(cast(Any, "root"))


def test_handle_text_and_dict(engine: passgate.Engine, issuer: passgate.Issuer) -> None:
    assert passgate.mcp.handle(engine, '{"jsonrpc": "2.0", "id": 1, "method": "ping"}') == (
        '{"jsonrpc":"2.0","id":1,"result":{}}'
    )
    assert rpc(engine, "tools/list")["result"]["tools"] == passgate.mcp.tools()
    assert rpc(engine, "tools/list", role="operator")["result"]["tools"] == passgate.mcp.tools("operator")
    assert passgate.mcp.handle(engine, {"jsonrpc": "2.0", "method": "notifications/initialized"}) is None
    issued = call_tool(
        engine, "issue_passport", {"agent_id": "a", "permissions": ["payments:send"]}, role="operator", issuer=issuer
    )
    assert issued["isError"] is False
    assert engine.verify_passport(issued["structuredContent"]["token"])["sub"] == "a"


def test_handle_never_raises_on_bad_input(engine: passgate.Engine) -> None:
    for bad in ["", "{", "[]", '"x"', "{" * 100_000, '{"jsonrpc": "2.0", "id": 1, "method": 5}']:
        reply = passgate.mcp.handle(engine, bad)
        assert reply is not None and "error" in json.loads(reply)
    # A batch is refused, whatever it holds.
    batch = json.loads(str(passgate.mcp.handle(engine, '[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]')))
    assert batch["error"]["code"] == -32600
    # Arguments that fail a tool's schema are a tool result the model can correct, with the path.
    wrong = call_tool(engine, "get_gate", {"gate": 5}, role="operator")
    assert wrong["isError"] is True
    assert wrong["content"][0]["text"].startswith('{"error":{"code":"INVALID_ARGUMENT"')
    assert "/gate" in json.loads(wrong["content"][0]["text"])["error"]["message"]
    no_issuer = call_tool(engine, "issue_passport", {"agent_id": "a", "permissions": []}, role="operator")
    assert no_issuer["isError"] is True
    with pytest.raises(passgate.InputError):
        rpc(engine, "ping", role=cast(Any, "root"))


def test_enforce_action_answers_deny_and_escalate_as_normal_results(
    engine: passgate.Engine, passport: passgate.IssuedPassport
) -> None:
    ok = call_tool(engine, "enforce_action", {"gate": "payments.send", "payload": {"amount": 10, "currency": "USD"}},
                   passport=passport.token)  # fmt: skip
    no = call_tool(engine, "enforce_action", {"gate": "payments.send", "payload": {"amount": 900, "currency": "USD"}},
                   passport=passport.token)  # fmt: skip
    assert ok["isError"] is False and ok["structuredContent"]["decision"] == "allow"
    assert no["isError"] is False and no["structuredContent"]["decision"] == "deny"


def test_the_agent_role_cannot_call_operator_tools(
    engine: passgate.Engine, issuer: passgate.Issuer, passport: passgate.IssuedPassport
) -> None:
    """Every operator tool, called on an agent connection (with or without a passport, whatever the
    arguments), is a FORBIDDEN result, and changes nothing; the same call as the operator works."""
    call_tool(engine, "enforce_action", {"gate": "payments.send", "payload": {"amount": 400, "currency": "USD"}},
              passport=passport.token)  # fmt: skip
    before = engine.attestations()
    arguments: dict[str, dict[str, Any]] = {
        "reset_cumulative_state": {"agent_id": passport.agent_id},
        "revoke_passport": {"passport_id": passport.passport_id},
        "issue_passport": {"agent_id": "me", "permissions": ["*"]},
        "approve": {"evaluation_id": "evl_x", "approver": "agent-007"},
    }
    for name in OPERATOR_ONLY:
        for caller in ({}, {"passport": passport.token}):
            r = call_tool(engine, name, arguments.get(name, {}), issuer=issuer, **caller)
            assert r["isError"] is True, name
            error = json.loads(r["content"][0]["text"])["error"]
            assert error["code"] == "FORBIDDEN", (name, error)
            assert "operator" in error["message"]
    assert engine.attestations() == before
    assert engine.cumulative_state(constraint="daily-spend")[0]["used"] == "400"
    engine.verify_passport(passport.token)  # not revoked
    # The operator, on its own connection, may.
    reset = call_tool(engine, "reset_cumulative_state", {"agent_id": passport.agent_id}, role="operator")
    assert reset["isError"] is False and engine.cumulative_state(constraint="daily-spend") == []


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
#: The arguments the guard adds, and the description the model reads (the same text in Node).
GUARD_ARGUMENTS = {
    "passgate_approval": (
        "Only when retrying a call that passgate escalated for approval: the approval token an "
        "operator granted for exactly that call (same arguments). Omit otherwise."
    ),
    "passgate_idempotency_key": (
        "Optional: a key (1 to 256 characters) naming this call. A retry with the same key and "
        "arguments gets passgate's first decision instead of being counted again; an allowed call "
        "never runs twice under one key."
    ),
}


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_allow_runs_the_body(engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str) -> None:
    app = Payments(engine)
    async with connect(app.server) as (call, schemas):
        r = await call(tool, {"amount": 120, "currency": "EUR"}, passport.token)
        assert not r.is_error and r.text == "paid 120.0 EUR"
        assert app.ran == [f"{tool} 120.0"]
        # The guard leaves the tool's inputSchema as the function declares it, plus its two
        # optional arguments (for clients that send no _meta).
        s = await schemas()
        guarded, plain = dict(s[tool]), s["unguarded"]
        added = {n: guarded["properties"].pop(n) for n in GUARD_ARGUMENTS}
        assert {k: v for k, v in guarded.items() if k != "title"} == {k: v for k, v in plain.items() if k != "title"}
        assert set(guarded["properties"]) == {"amount", "currency", "note"}
        for name, description in GUARD_ARGUMENTS.items():
            assert added[name]["type"] == "string" and added[name]["description"] == description
            assert name not in guarded.get("required", [])
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
    # The engine's clock (for tests) reads two days on: the one-day passport has expired.
    later = int(time.time() * 1000) + 2 * 86_400_000
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did], leeway_secs=0, clock=lambda: later)
    brief = issuer.issue_passport("brief", permissions=["payments:send"], expires_in_days=1)
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
    assert nan.is_error and nan.json() == {
        "error": {"code": "PAYLOAD_INVALID", "message": nan.json()["error"]["message"], "path": "/amount"}
    }
    assert huge.is_error and huge.json()["error"]["code"] == "LIMIT_EXCEEDED"


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_malformed_arguments_never_reach_the_body(engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str) -> None:
    """A value its annotation refuses is the guard's INVALID_ARGUMENT with the JSON path (the SDK
    validated, the guard answers); a missing required argument stays the SDK's own refusal."""
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        lots = await call(tool, {"amount": "lots"}, passport.token)
        note = await call(tool, {"amount": 5, "note": ["not", "a", "string"]}, passport.token)
        approval = await call(tool, {"amount": 5, "passgate_approval": 42}, passport.token)
        missing = await call(tool, {}, passport.token)
    assert app.ran == []
    assert lots.is_error and lots.json() == {"error": {"code": "INVALID_ARGUMENT", "message": (
        "invalid argument at /amount: Input should be a valid number, unable to parse string as a number")}}
    assert note.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert note.json()["error"]["message"].startswith("invalid argument at /note")
    assert approval.json() == {"error": {"code": "INVALID_ARGUMENT",
                                         "message": "the approval (argument passgate_approval) must be a string"}}
    # The SDK's own text: pydantic reports a missing field before any field validator runs.
    assert missing.is_error and "Field required" in missing.text and '"code"' not in missing.text
    assert engine.attestations(kind="decision") == []  # refused before any decision


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
    # The guard's two optional arguments; mcp 2.x injects the request context only into a
    # parameter annotated Context.
    added = ["passgate_approval", "passgate_idempotency_key"]
    assert params == ["amount", "currency", *added, *(["passgate_context"] if MCP2 else [])]
    assert inspect.iscoroutinefunction(guarded)
    # Without the argument route, only the context.
    bare = passgate.mcp.guard(engine, "payments.send", arguments=False)(tool)
    assert list(inspect.signature(bare).parameters) == ["amount", "currency", *(["passgate_context"] if MCP2 else [])]

    def sync_tool(amount: float) -> str:
        return "x"

    # A sync tool becomes async too (its body runs in a worker thread).
    assert inspect.iscoroutinefunction(passgate.mcp.guard(engine, "payments.send")(sync_tool))


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

    assert list(inspect.signature(guarded).parameters) == ["amount", "ctx", "currency", *GUARD_ARGUMENTS]
    async with connect(server) as (call, schemas):
        ok = await call(guarded.__name__, {"amount": 7}, passport.token)
        no = await call(guarded.__name__, {"amount": 7})
        assert set((await schemas())[guarded.__name__]["properties"]) == {"amount", "currency", *GUARD_ARGUMENTS}
    assert not ok.is_error and no.is_error and len(got) == 1 and isinstance(got[0], SdkContext)
    assert engine.cumulative_state(constraint="daily-spend")[0]["used"] == "7"


# ---- approvals, idempotency keys and holds through the guard -------------------------------------

APPROVAL_META = passgate.mcp.APPROVAL_META_KEY
IDEMPOTENCY_META = passgate.mcp.IDEMPOTENCY_META_KEY


def big_server(engine: passgate.Engine, **guard: Any) -> tuple[Any, list[int]]:
    """`big(amount)` behind payments.big (over 100 escalates); the list records the bodies run."""
    server, ran = new_server(), cast(list[int], [])

    @tool(server)
    @passgate.mcp.guard(engine, "payments.big", **guard)
    async def big(amount: int) -> str:
        ran.append(amount)
        return f"sent {amount}"

    return server, ran


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["meta", "argument"])
async def test_an_escalation_approved_by_the_operator_is_retried_with_the_token(
    issuer: passgate.Issuer, route: str
) -> None:
    """The desktop-client route (an argument) and the programmatic one (_meta) both carry the
    token; the guard strips the argument, so the retried payload is the escalated one."""
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    agent = issuer.issue_passport("agent-e", permissions=["payments:send"])
    server, ran = big_server(engine)

    def approved(token: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        if route == "meta":
            return {"amount": 500}, {APPROVAL_META: token}
        return {"amount": 500, "passgate_approval": token}, None

    async with connect(server) as (call, _):
        escalated = await call("big", {"amount": 500}, agent.token)
        out = escalated.json()
        assert escalated.is_error and out["decision"] == "escalate" and ran == []
        # The operator approves (on its own connection: here, the engine).
        token = engine.approve(out["evaluation_id"], "ops@example.com")
        args, meta = approved(token)
        ok = await call("big", args, agent.token, meta=meta)
        assert not ok.is_error and ok.text == "sent 500" and ran == [500]
        again = await call("big", args, agent.token, meta=meta)  # the token admits one call
        other = await call("big", {**args, "amount": 499}, agent.token, meta=meta)  # and only that one
    assert again.is_error and again.json()["decision"] == "deny"
    assert [c["code"] for c in again.json()["checks"]] == ["APPROVAL_USED"]
    assert other.is_error and [c["code"] for c in other.json()["checks"]] == ["APPROVAL_PAYLOAD_MISMATCH"]
    assert ran == [500]


@pytest.mark.anyio
async def test_the_argument_route_can_be_turned_off(issuer: passgate.Issuer) -> None:
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    agent = issuer.issue_passport("agent-e", permissions=["payments:send"])
    server, ran = big_server(engine, arguments=False)
    async with connect(server) as (call, schemas):
        assert set((await schemas())["big"]["properties"]) == {"amount"}
        eid = (await call("big", {"amount": 500}, agent.token)).json()["evaluation_id"]
        token = engine.approve(eid, "ops")
        # An argument the tool does not declare is dropped by the SDK: still escalated.
        ignored = await call("big", {"amount": 500, "passgate_approval": token}, agent.token)
        ok = await call("big", {"amount": 500}, agent.token, meta={APPROVAL_META: token})
    assert ignored.is_error and ignored.json()["decision"] == "escalate"
    assert not ok.is_error and ran == [500]


@pytest.mark.anyio
@pytest.mark.parametrize("route", ["meta", "argument"])
async def test_an_idempotency_key_counts_once_and_never_runs_twice(
    engine: passgate.Engine, passport: passgate.IssuedPassport, route: str
) -> None:
    app = Payments(engine)

    async with connect(app.server) as (call, _):

        async def keyed(args: dict[str, Any], key: str) -> Result:
            if route == "meta":
                return await call("pay", args, passport.token, meta={IDEMPOTENCY_META: key})
            return await call("pay", {**args, "passgate_idempotency_key": key}, passport.token)

        first = await keyed({"amount": 100}, "k-1")
        retry = await keyed({"amount": 100}, "k-1")
        changed = await keyed({"amount": 101}, "k-1")
        denied = await keyed({"amount": 900}, "k-2")
        denied_again = await keyed({"amount": 900}, "k-2")
        blank = await keyed({"amount": 1}, "")  # "" is no key
        assert not blank.is_error
    assert not first.is_error and app.ran == ["pay 100.0", "pay 1.0"]
    (decided,) = engine.attestations(kind="decision", decision="allow", limit=1)
    eid = decided["body"]["evaluation_id"]
    assert retry.is_error and retry.json() == {"error": {"code": "IDEMPOTENCY_CONFLICT", "message": (
        f'idempotency key "k-1" already admitted evaluation {eid}: a key runs the tool at most once; '
        "use a new key for a new call")}}  # fmt: skip
    assert changed.json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"  # the engine's: other arguments
    assert denied.json()["decision"] == denied_again.json()["decision"] == "deny"
    assert denied.json()["evaluation_id"] == denied_again.json()["evaluation_id"]  # replayed
    assert engine.cumulative_state(constraint="daily-spend")[0]["used"] == "101"


@pytest.mark.anyio
async def test_meta_and_argument_must_agree(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    app = Payments(engine)
    async with connect(app.server) as (call, _):
        same = await call("pay", {"amount": 5, "passgate_idempotency_key": "k"}, passport.token, meta={IDEMPOTENCY_META: "k"})
        differ = await call("pay", {"amount": 5, "passgate_approval": "a"}, passport.token, meta={APPROVAL_META: "b"})
        wrong = await call("pay", {"amount": 5}, passport.token, meta={APPROVAL_META: 7})
        wrong_key = await call("pay", {"amount": 5}, passport.token, meta={IDEMPOTENCY_META: ["k"]})
        wrong_passport = await call("pay", {"amount": 5}, meta={META: {"token": passport.token}})
    assert not same.is_error and app.ran == ["pay 5.0"]
    assert differ.json() == {"error": {"code": "INVALID_ARGUMENT", "message": (
        'the approval is given twice, differently: in _meta["passgate/approval"] and as the argument passgate_approval')}}
    assert wrong.json() == {"error": {"code": "INVALID_ARGUMENT",
                                      "message": 'the approval (_meta["passgate/approval"]) must be a string'}}
    assert wrong_key.json() == {"error": {"code": "INVALID_ARGUMENT",
                                          "message": 'the idempotency key (_meta["passgate/idempotency_key"]) must be a string'}}
    assert wrong_passport.json() == {"error": {"code": "INVALID_ARGUMENT",
                                               "message": 'the passport (_meta["passgate/passport"]) must be a string'}}
    assert len(engine.attestations(kind="decision")) == 1


HOLD_POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "llm.call": {
            "require": ["llm:call"],
            "constraints": [{"id": "budget", "type": "spend_limit", "field": "/cost", "max": 100, "window": "1d"}],
        }
    },
}


def llm_server(engine: passgate.Engine, fail: bool = False, **guard: Any) -> Any:
    """`complete(cost)` behind llm.call; returns `{"spent": cost / 2}` (or raises when `fail`)."""
    server = new_server()

    @tool(server)
    @passgate.mcp.guard(engine, "llm.call", hold=True, **guard)
    async def complete(cost: float) -> dict[str, float]:
        if fail:
            raise RuntimeError("the model provider is down")
        return {"spent": cost / 2}

    return server


def budget_used(engine: passgate.Engine) -> str:
    states = engine.cumulative_state(constraint="budget")
    return str(states[0]["used"]) if states else "0"


@pytest.fixture
def llm(issuer: passgate.Issuer) -> tuple[passgate.Engine, passgate.IssuedPassport]:
    return passgate.Engine(HOLD_POLICY, trusted_issuers=[issuer.did]), issuer.issue_passport("bot", permissions=["llm:call"])


@pytest.mark.anyio
@pytest.mark.parametrize("is_async", [False, True])
async def test_a_hold_is_settled_with_the_actual_amounts(
    llm: tuple[passgate.Engine, passgate.IssuedPassport], is_async: bool
) -> None:
    engine, bot = llm
    seen: list[tuple[Any, dict[str, Any]]] = []

    def settle(result: Any, args: dict[str, Any]) -> dict[str, Any]:
        seen.append((result, args))
        return {"cost": result["spent"]}

    async def asettle(result: Any, args: dict[str, Any]) -> dict[str, Any]:
        return settle(result, args)

    async with connect(llm_server(engine, settle=asettle if is_async else settle)) as (call, _):
        r = await call("complete", {"cost": 40, "passgate_idempotency_key": "c1"}, bot.token)
    assert not r.is_error
    assert budget_used(engine) == "20"  # reserved 40, settled at 20
    (settled,) = engine.attestations(kind="hold.settled")
    assert seen == [({"spent": 20.0}, {"cost": 40.0})]  # the arguments, without the guard's


@pytest.mark.anyio
async def test_a_hold_without_settle_keeps_the_reserved_amounts(llm: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, bot = llm
    async with connect(llm_server(engine)) as (call, _):
        r = await call("complete", {"cost": 40}, bot.token)
    assert not r.is_error and budget_used(engine) == "40"
    assert len(engine.attestations(kind="hold.settled")) == 1


@pytest.mark.anyio
async def test_a_body_that_raises_releases_its_hold(llm: tuple[passgate.Engine, passgate.IssuedPassport]) -> None:
    engine, bot = llm
    async with connect(llm_server(engine, fail=True)) as (call, _):
        r = await call("complete", {"cost": 40}, bot.token)
    assert r.is_error  # the body raised: the client gets the SDK's error result
    assert budget_used(engine) == "0"
    assert len(engine.attestations(kind="hold.released")) == 1 and engine.attestations(kind="hold.settled") == []


@pytest.mark.anyio
async def test_a_failed_settle_keeps_the_result_and_the_reservation(
    llm: tuple[passgate.Engine, passgate.IssuedPassport], caplog: pytest.LogCaptureFixture
) -> None:
    engine, bot = llm

    def settle(result: Any, args: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("spent")

    async with connect(llm_server(engine, settle=settle)) as (call, _):
        with caplog.at_level("WARNING", logger="passgate.mcp"):
            r = await call("complete", {"cost": 40}, bot.token)
    assert not r.is_error and json.loads(r.text) == {"spent": 20.0}  # the tool's result is the client's
    assert budget_used(engine) == "40"  # the hold stays open: it expires at its reserved amounts
    assert engine.attestations(kind="hold.settled") == [] and engine.attestations(kind="hold.released") == []
    (record,) = [r for r in caplog.records if r.name == "passgate.mcp"]
    assert "was not settled" in record.getMessage() and record.exc_info is not None


@pytest.mark.anyio
async def test_a_settle_past_the_cap_is_recorded_with_its_overrun(
    llm: tuple[passgate.Engine, passgate.IssuedPassport],
) -> None:
    engine, bot = llm
    async with connect(llm_server(engine, settle=lambda result, args: {"cost": 1000})) as (call, _):
        r = await call("complete", {"cost": 40}, bot.token)
    assert not r.is_error and json.loads(r.text) == {"spent": 20.0}
    assert budget_used(engine) == "1000"  # the money is spent: recorded, and flagged
    (settled,) = engine.attestations(kind="hold.settled")
    assert settled["body"]["data"]["overrun"]


def test_settle_needs_hold(engine: passgate.Engine) -> None:
    with pytest.raises(TypeError, match="hold=True"):
        passgate.mcp.guard(engine, "payments.send", settle=lambda result, args: None)


# ---- the guard under stress ---------------------------------------------------------------------


class CancellingEngine:
    """An engine whose `enforce` decides for real and then, before answering, cancels the calling
    task's scope: exactly a client's cancellation arriving while the engine decides."""

    def __init__(self, engine: passgate.Engine) -> None:
        self.engine = engine
        self.scope: Any = None
        self.decisions: list[passgate.Decision] = []

    def enforce(self, *args: Any, **kwargs: Any) -> passgate.Decision:
        import anyio.from_thread

        d = self.engine.enforce(*args, **kwargs)
        self.decisions.append(d)
        anyio.from_thread.run_sync(self.scope.cancel)
        return d

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


@pytest.mark.anyio
@pytest.mark.parametrize("hold", [False, True])
@pytest.mark.parametrize("is_async", [True, False])
async def test_a_cancellation_during_enforce_records_that_the_allowed_call_did_not_happen(
    llm: tuple[passgate.Engine, passgate.IssuedPassport], hold: bool, is_async: bool
) -> None:
    import anyio

    engine, bot = llm
    cancelling = CancellingEngine(engine)
    ran: list[float] = []

    async def acomplete(cost: float) -> str:
        ran.append(cost)
        return "done"

    def scomplete(cost: float) -> str:
        ran.append(cost)
        return "done"

    guarded = passgate.mcp.guard(cast(passgate.Engine, cancelling), "llm.call", hold=hold, passport=lambda meta: bot.token)(
        acomplete if is_async else scomplete
    )
    with anyio.CancelScope() as scope:
        cancelling.scope = scope
        await guarded(cost=30)
    assert scope.cancelled_caught and ran == []
    (decision,) = cancelling.decisions
    assert decision.allowed
    if hold:  # released: the reservation is given back
        assert budget_used(engine) == "0"
        (released,) = engine.attestations(kind="hold.released")
        assert engine.attestations(kind=passgate.mcp.NOT_EXECUTED_KIND) == []
    else:  # counted, and attested as not executed
        assert budget_used(engine) == "30"
        (record,) = engine.attestations(kind="guard.not_executed")
        assert record["body"]["data"] == {"evaluation_id": decision.evaluation_id, "gate": "llm.call", "reason": "cancelled"}
        passgate.verify_chain(engine.attestations(), engine.signer_did)


def test_generator_tools_are_refused_at_decoration(engine: passgate.Engine) -> None:
    async def agen(amount: float) -> AsyncIterator[str]:
        yield "x"

    def gen(amount: float) -> Iterator[str]:
        yield "x"

    class Streaming:
        async def __call__(self, amount: float) -> AsyncIterator[str]:
            yield "x"

    for fn in (agen, gen, Streaming(), functools.partial(agen)):
        with pytest.raises(TypeError, match="generator function"):
            passgate.mcp.guard(engine, "payments.send")(fn)


class PayObject:
    """Pays (a callable object)."""

    def __init__(self, ran: list[str]) -> None:
        self.ran = ran

    async def __call__(self, amount: float, currency: str = "USD") -> str:
        self.ran.append(f"object {amount}")
        return "paid"


class SyncPayObject:
    """Pays (a sync callable object)."""

    def __init__(self, ran: list[str]) -> None:
        self.ran = ran

    def __call__(self, amount: float, currency: str = "USD") -> str:
        self.ran.append(f"sync object {amount}")
        return "paid"


async def pay_to(ran: list[str], to: str, amount: float, currency: str = "USD") -> str:
    """Pays someone (a partial)."""
    ran.append(f"partial {to} {amount}")
    return "paid"


@pytest.mark.anyio
async def test_callable_objects_and_partials(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    server, ran = new_server(), cast(list[str], [])
    g = passgate.mcp.guard(engine, "payments.send")
    obj, sobj, part = g(PayObject(ran)), g(SyncPayObject(ran)), g(functools.partial(pay_to, ran, "bob"))
    assert (obj.__name__, obj.__doc__) == ("PayObject", "Pays (a callable object).")
    assert (part.__name__, part.__doc__) == ("pay_to", "Pays someone (a partial).")
    server.tool(name="pay_object")(obj)
    server.tool(name="pay_sync_object")(sobj)
    server.tool(name="pay_bob")(part)
    async with connect(server) as (call, schemas):
        assert set((await schemas())["pay_bob"]["properties"]) == {"amount", "currency", *GUARD_ARGUMENTS}
        for name in ("pay_object", "pay_sync_object", "pay_bob"):
            assert not (await call(name, {"amount": 3}, passport.token)).is_error
            assert (await call(name, {"amount": 600}, passport.token)).json()["decision"] == "deny"
    assert ran == ["object 3.0", "sync object 3.0", "partial bob 3.0"]


@pytest.mark.anyio
@pytest.mark.parametrize("tool", TOOLS)
async def test_async_passport_and_payload_functions(
    engine: passgate.Engine, passport: passgate.IssuedPassport, tool: str
) -> None:
    async def from_session(meta: dict[str, Any]) -> str | None:
        return passport.token if meta.get("session") == "s1" else None

    async def cents(args: dict[str, Any]) -> dict[str, Any]:
        return {"amount": args["amount"] / 100, "currency": "USD"}

    async def boom(args: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("secret detail")

    app, broken = Payments(engine, passport=from_session, payload=cents), Payments(engine, payload=boom)
    async with connect(app.server) as (call, _):
        ok = await call(tool, {"amount": 4500}, meta={"session": "s1"})
        anonymous = await call(tool, {"amount": 4500}, meta={"session": "s2"})
    async with connect(broken.server) as (call, _):
        failed = await call(tool, {"amount": 1}, passport.token)
    assert not ok.is_error and app.ran == [f"{tool} 4500.0"]
    assert engine.cumulative_state(constraint="daily-spend")[0]["used"] == "45"
    assert [c["code"] for c in anonymous.json()["checks"]] == ["PASSPORT_MISSING"]
    assert failed.json() == {"error": {"code": "INTERNAL", "message": "the guard failed before a decision (ValueError)"}}
    assert broken.ran == []


# ---- the same JSON and the same trace as the Node guard --------------------------------------------


@pytest.mark.anyio
async def test_the_refusal_json_and_the_trace_are_nodes(issuer: passgate.Issuer) -> None:
    """The exact keys (and order) of every kind of refusal, and the attestation's trace: the Node
    suite (bindings-node/__test__/mcp.test.mjs) asserts the same."""
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did])
    agent = issuer.issue_passport("agent-j", permissions=["payments:send"])
    app, (big, _) = Payments(engine), big_server(engine)
    async with connect(app.server) as (call, _):
        deny = (await call("pay", {"amount": 900}, agent.token)).json()
        failure = (await call("pay", {"amount": 1}, meta={META: 5})).json()
    async with connect(big) as (call, _):
        escalate = (await call("big", {"amount": 500}, agent.token)).json()
    assert list(deny) == ["decision", "gate", "evaluation_id", "checks"]
    assert list(deny["checks"][0]) == ["constraint", "type", "passed", "message", "observed", "limit"]
    assert list(escalate) == ["decision", "gate", "evaluation_id", "checks", "approval_request"]
    assert list(failure) == ["error"] and list(failure["error"]) == ["code", "message"]
    # The trace: the JSON-RPC id the SDK gave the call (a decimal string in the signed body).
    for record in engine.attestations(kind="decision"):
        trace = record["body"]["trace"]
        assert list(trace) == ["mcp_request_id"] and trace["mcp_request_id"].isdigit()


class StubRequest:
    """What the SDK's request context holds over Streamable HTTP: the HTTP request's headers."""

    headers = {"mcp-session-id": "sess-1", "authorization": "Bearer not-recorded"}


class StubContext:
    """The SDK's request context as the guard reads it (request_id, meta, request)."""

    def __init__(self, token: str) -> None:
        self.request_id = 7
        self.meta = {META: token}
        self.request = StubRequest()


@pytest.mark.anyio
async def test_the_trace_over_streamable_http(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    """Over Streamable HTTP the transport's session id is recorded too, exactly as Node records it."""

    async def pay(amount: float, ctx: SdkContext, currency: str = "USD") -> str:
        return "paid"

    guarded = passgate.mcp.guard(engine, "payments.send")(pay)
    # The tool's own Context parameter (1.x and 2.x alike): the guard reads its request_context.
    context = cast(Any, type("Ctx", (), {"request_context": StubContext(passport.token)})())
    assert await cast(Any, guarded)(amount=5, ctx=context) == "paid"
    (record,) = engine.attestations(kind="decision")
    assert record["body"]["trace"] == {"mcp_request_id": "7", "mcp_session_id": "sess-1"}
