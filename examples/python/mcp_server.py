"""An MCP server (official `mcp` SDK, 2.x) with passgate in front of its tools.

It serves passgate's own tools (enforce_action, issue_passport, get_attestations, ...) with
their own input schemas, plus two demo tools behind gates:
  send_payment  behind payments.send   (simulated: no money moves)
  fetch_url     behind web.fetch       (simulated: nothing is fetched)
A client passes the agent's passport in the call's _meta: {"passgate/passport": TOKEN}.

    python examples/python/mcp_server.py              # stdio (what MCP hosts launch)
    python examples/python/mcp_server.py --http 8765  # Streamable HTTP on 127.0.0.1:8765/mcp

Configuration (environment):
  PASSGATE_POLICY           policy JSON path (default: examples/mcp/demo-policy.json)
  PASSGATE_TRUSTED_ISSUERS  comma-separated did:key; unset: a demo issuer is made at start and
                            serves issue_passport (its did is logged to stderr)
  PASSGATE_STORE            store URL (default memory:), e.g. sqlite:///tmp/passgate.db
  PASSGATE_SIGNING_SECRET   the attestation signing key (default: a fresh one)
Logs go to stderr: on stdio, stdout is the MCP transport.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, InputRequiredResult, Tool

import passgate
import passgate.mcp

DEMO_POLICY = Path(__file__).resolve().parent.parent / "mcp" / "demo-policy.json"


class PassgateServer(MCPServer):
    """An MCPServer that also answers passgate's own tools through `passgate.mcp.handle`."""

    def __init__(self, engine: passgate.Engine, issuer: passgate.Issuer | None) -> None:
        super().__init__("passgate-example", instructions="Pass your passport in _meta.")
        self.engine, self.issuer = engine, issuer
        self.own_tools = [
            Tool(name=t["name"], description=t["description"], input_schema=t["inputSchema"])
            for t in passgate.mcp.tools()
        ]

    async def list_tools(self) -> list[Tool]:
        return self.own_tools + await super().list_tools()

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if name not in {t.name for t in self.own_tools}:
            return await super().call_tool(name, arguments, context)
        call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                "params": {"name": name, "arguments": arguments}}  # fmt: skip
        reply: dict[str, Any] = await anyio.to_thread.run_sync(  # off the event loop: store I/O
            lambda: passgate.mcp.handle(self.engine, call, issuer=self.issuer)
        )
        if "error" in reply:  # bad arguments: a JSON-RPC error naming the JSON path
            raise MCPError(reply["error"]["code"], reply["error"]["message"])
        return CallToolResult.model_validate(reply["result"])


def make_server() -> PassgateServer:
    env = os.environ.get
    trusted = [d.strip() for d in env("PASSGATE_TRUSTED_ISSUERS", "").split(",") if d.strip()]
    issuer = None
    if not trusted:  # demo mode: this server issues and trusts its own passports
        issuer = passgate.Issuer.generate()
        trusted = [issuer.did]
        print(f"passgate: demo issuer {issuer.did}", file=sys.stderr)
    engine = passgate.Engine(
        env("PASSGATE_POLICY") or DEMO_POLICY,
        trusted_issuers=trusted,
        signing_key=env("PASSGATE_SIGNING_SECRET") or None,
        store=env("PASSGATE_STORE") or "memory:",
    )
    print(f"passgate: attestations signed by {engine.signer_did}", file=sys.stderr)
    server = PassgateServer(engine, issuer)

    @server.tool()
    @passgate.mcp.guard(engine, "payments.send")
    async def send_payment(amount: float, currency: str, to: str) -> dict[str, Any]:
        """Send a payment (demo: simulated, no money moves). Needs a passport in _meta."""
        return {"status": "sent", "receipt": f"rcpt_{uuid.uuid4().hex[:12]}",
                "amount": amount, "currency": currency, "to": to}  # fmt: skip

    @server.tool()
    @passgate.mcp.guard(engine, "web.fetch")
    def fetch_url(url: str) -> dict[str, Any]:
        """Fetch a URL (demo: nothing is fetched). Needs a passport in _meta."""
        return {"status": "would fetch", "url": url}

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP on PORT")
    args = parser.parse_args()
    server = make_server()
    if args.http is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
