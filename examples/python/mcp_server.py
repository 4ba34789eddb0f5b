"""An MCP server (official `mcp` SDK, 2.x) with passgate in front of its tools, serving one role.

The **agent** role (the default) is what a governed agent connects to: passgate's agent tools
(enforce_action, authorize_dry_run, verify_passport, list_allowed_gates, list_my_evaluations)
and two demo tools behind gates, listed only when the agent's passport allows their gate:
  send_payment  behind payments.send   (simulated: no money moves)
  fetch_url     behind web.fetch       (simulated: nothing is fetched)
The **operator** role (`--role operator`, a separate server for the operator's own client) serves
every passgate tool: passports, policy, counters, holds, approvals, everyone's attestations.
Never give an agent the operator's server: with it, it resets its own caps and approves its own
escalations.

Where the agent's passport comes from:
  stdio (a desktop client starts the server: that process *is* one agent)
      --passport-file PATH / PASSGATE_PASSPORT_FILE
  Streamable HTTP
      Authorization: Bearer <passport>; a bearer equal to PASSGATE_OPERATOR_TOKEN is the operator;
      no bearer: an anonymous agent
  programmatic clients, either transport
      the call's _meta["passgate/passport"] (it wins over the connection's passport)
An escalated call is retried with the operator's approval token in _meta["passgate/approval"] or,
from a desktop client (which sends arguments only), the tool argument `passgate_approval`.

    python examples/python/mcp_server.py                          # stdio, agent role
    python examples/python/mcp_server.py --role operator          # stdio, operator role
    python examples/python/mcp_server.py --http 8765              # HTTP on 127.0.0.1:8765/mcp

Configuration (environment):
  PASSGATE_POLICY           policy JSON path (default: examples/mcp/demo-policy.json)
  PASSGATE_TRUSTED_ISSUERS  comma-separated did:key; unset: demo mode, below
  PASSGATE_STORE            store URL (default memory:), e.g. sqlite:///tmp/passgate.db; the agent
                            and operator servers must share one persistent store
  PASSGATE_SIGNING_SECRET   the attestation signing key (default: demo mode's, below)
  PASSGATE_PASSPORT_FILE    the agent's passport (agent role)
  PASSGATE_OPERATOR_TOKEN   HTTP: the bearer that gets the operator role (unset: none does)
  PASSGATE_OPERATOR_NAME    the operator's name, recorded as approver (default "operator")
Demo mode (no trusted issuers): a demo issuer is trusted and the operator's issue_passport signs
with it; an agent server with no passport file gets a demo passport for "demo-agent" (payments and
fetch). With a persistent store, the demo issuer and signing key are kept next to it
(`<store>.demo-keys.json`, mode 0600) so passports and chains keep verifying across restarts.
Logs go to stderr: on stdio, stdout is the MCP transport.
"""

from __future__ import annotations

import argparse
import contextvars
import hmac
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, InputRequiredResult, ListToolsResult, PaginatedRequestParams, Tool

import passgate
import passgate.mcp

DEMO_POLICY = Path(__file__).resolve().parent.parent / "mcp" / "demo-policy.json"
DEMO_PERMISSIONS = ["payments:send", "web:fetch"]
#: The guarded demo tools and their gates.
GUARDED = {"send_payment": "payments.send", "fetch_url": "web.fetch"}

Role = Literal["agent", "operator"]


class Caller:
    """Who sent the current request, as the transport established it."""

    def __init__(self, role: Role, passport: str | None = None) -> None:
        self.role, self.passport = role, passport


#: The caller of the tool call in progress (the guard's passport function reads it).
CURRENT: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("passgate_caller", default=None)


def log(*args: object) -> None:
    print("passgate:", *args, file=sys.stderr, flush=True)


class PassgateServer(MCPServer):
    """An MCPServer serving passgate's tools for the caller's role, and the guarded demo tools."""

    def __init__(
        self,
        engine: passgate.Engine,
        issuer: passgate.Issuer | None,
        *,
        role: Role,
        passport: str | None,
        operator_token: str | None,
        operator_name: str,
    ) -> None:
        super().__init__(
            "passgate-example",
            version=passgate.__version__,
            instructions="passgate guards this server's tools: a refused call says which check failed.",
        )
        self.engine, self.issuer = engine, issuer
        self.role, self.passport = role, passport
        self.operator_token, self.operator_name = operator_token, operator_name

    def caller(self, request: Any) -> Caller:
        """stdio: this server's role and passport. HTTP: the request's bearer decides."""
        if request is None:
            return Caller(self.role, self.passport if self.role == "agent" else None)
        auth = str(request.headers.get("authorization", ""))
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
            if self.operator_token and hmac.compare_digest(token.encode(), self.operator_token.encode()):
                return Caller("operator")
            return Caller("agent", token)
        return Caller("agent")  # over the network, only a bearer names an agent

    def _own(self, caller: Caller) -> list[Tool]:
        return [Tool.model_validate(t) for t in passgate.mcp.tools(caller.role)]

    async def _handle_list_tools(
        self, ctx: ServerRequestContext[Any], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        caller = self.caller(ctx.request)
        tools = self._own(caller)
        if caller.role == "agent":  # the guarded tools its passport may call, and only those
            reply = await self._passgate(caller, "list_allowed_gates", {})
            allowed = set(reply["result"].get("structuredContent", {}).get("gates", []))
            tools += [t for t in await super().list_tools() if GUARDED.get(t.name) in allowed]
        return ListToolsResult(tools=tools)

    async def _passgate(self, caller: Caller, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """passgate's own tool `name`, called as `caller`, off the event loop (store I/O)."""
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": name, "arguments": arguments}}  # fmt: skip
        reply: dict[str, Any] = await anyio.to_thread.run_sync(
            lambda: passgate.mcp.handle(
                self.engine, call, role=caller.role, passport=caller.passport,
                operator=self.operator_name if caller.role == "operator" else None,
                issuer=self.issuer,
            )  # fmt: skip
        )
        return reply

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        request = context.request_context.request if context is not None else None
        caller = self.caller(request)
        if name in GUARDED:
            if caller.role != "agent":
                raise MCPError(-32602, f"{name} is an agent's tool: call it with the agent's passport")
            token = CURRENT.set(caller)
            try:
                return await super().call_tool(name, arguments, context)
            finally:
                CURRENT.reset(token)
        reply = await self._passgate(caller, name, arguments)
        if "error" in reply:  # an unknown tool: a JSON-RPC error
            raise MCPError(reply["error"]["code"], reply["error"]["message"])
        return CallToolResult.model_validate(reply["result"])


def connection_passport(meta: dict[str, Any]) -> str | None:
    """The guard's passport: the call's _meta one, else the connection's."""
    given = meta.get(passgate.mcp.PASSPORT_META_KEY)
    if isinstance(given, str):
        return given
    caller = CURRENT.get()
    return caller.passport if caller is not None else None


def demo_keys(store: str) -> tuple[passgate.Issuer, str]:
    """The demo issuer and signing secret: kept next to a persistent store, fresh for memory:."""
    path: Path | None = None
    if store.startswith("sqlite://"):
        path = Path(store.removeprefix("sqlite://").split("?", 1)[0] + ".demo-keys.json")
    if path is not None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            keys = json.loads(path.read_text())
            return passgate.Issuer.from_secret(keys["issuer_secret"]), str(keys["signing_secret"])
        issuer, signer = passgate.Issuer.generate(), passgate.Issuer.generate()
        with os.fdopen(fd, "w") as f:
            json.dump({"issuer_secret": issuer.secret, "signing_secret": signer.secret}, f)
        log(f"demo keys written to {path}")
        return issuer, signer.secret
    return passgate.Issuer.generate(), passgate.Issuer.generate().secret


def make_server(role: Role = "agent", passport_file: str | None = None, http: bool = False) -> PassgateServer:
    env = os.environ.get
    store = env("PASSGATE_STORE") or "memory:"
    trusted = [d.strip() for d in env("PASSGATE_TRUSTED_ISSUERS", "").split(",") if d.strip()]
    issuer, signing = None, env("PASSGATE_SIGNING_SECRET") or None
    if not trusted:  # demo mode: this server's issuer is trusted, and issues (operator role)
        issuer, demo_signing = demo_keys(store)
        trusted, signing = [issuer.did], signing or demo_signing
        log(f"demo issuer {issuer.did}")
    engine = passgate.Engine(
        env("PASSGATE_POLICY") or DEMO_POLICY, trusted_issuers=trusted, signing_key=signing, store=store
    )
    log(f"attestations signed by {engine.signer_did}")
    passport_file = passport_file or env("PASSGATE_PASSPORT_FILE")
    passport = Path(passport_file).read_text().strip() if passport_file else None
    if role == "agent" and passport is None and issuer is not None and not http:
        passport = issuer.issue_passport("demo-agent", permissions=DEMO_PERMISSIONS, agent_name="demo agent").token
        log('agent role: a demo passport for "demo-agent" (no --passport-file given)')
    server = PassgateServer(
        engine,
        issuer if role == "operator" or env("PASSGATE_OPERATOR_TOKEN") else None,
        role=role,
        passport=passport if role == "agent" else None,
        operator_token=env("PASSGATE_OPERATOR_TOKEN") or None,
        operator_name=env("PASSGATE_OPERATOR_NAME") or "operator",
    )

    @server.tool()
    @passgate.mcp.guard(engine, "payments.send", passport=connection_passport)
    async def send_payment(amount: float, currency: str, to: str) -> dict[str, Any]:
        """Send a payment (demo: simulated, no money moves)."""
        return {"status": "sent", "receipt": f"rcpt_{uuid.uuid4().hex[:12]}",
                "amount": amount, "currency": currency, "to": to}  # fmt: skip

    @server.tool()
    @passgate.mcp.guard(engine, "web.fetch", passport=connection_passport)
    def fetch_url(url: str) -> dict[str, Any]:
        """Fetch a URL (demo: nothing is fetched)."""
        return {"status": "would fetch", "url": url}

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP on PORT")
    parser.add_argument("--role", choices=["agent", "operator"], default=os.environ.get("PASSGATE_ROLE", "agent"),
                        help="stdio: the role this server serves (default agent)")  # fmt: skip
    parser.add_argument("--passport-file", metavar="PATH", help="the agent's passport (agent role)")
    args = parser.parse_args()
    if args.http is not None and args.role == "operator":
        parser.error("over HTTP the operator is the bearer of PASSGATE_OPERATOR_TOKEN, not --role")
    if args.http is not None and (args.passport_file or os.environ.get("PASSGATE_PASSPORT_FILE")):
        parser.error("over HTTP each agent sends its passport as its bearer: no --passport-file")
    server = make_server(args.role, args.passport_file, http=args.http is not None)
    if args.http is None:
        log(f"serving the {args.role} role on stdio")
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
