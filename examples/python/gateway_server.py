"""passgate's MCP endpoint over Streamable HTTP, in a few lines: uvicorn + passgate.gateway.

The gateway (Rust, in the core) serves passgate's own tools at /mcp: a passport as
`Authorization: Bearer` gets the agent tools, an API key (`pgk_…`, bearer or `x-api-key`) the
tools of its scopes, anything else a 401 pointing at /.well-known/oauth-protected-resource.

    python examples/python/gateway_server.py 8080

Environment: PASSGATE_POLICY (default examples/mcp/demo-policy.json), PASSGATE_STORE (default
memory:), PASSGATE_TRUSTED_ISSUERS (comma-separated did:key), PASSGATE_SIGNING_SECRET, and the
gateway's PASSGATE_MCP_ALLOWED_ORIGINS / _RESOURCE / _AUTHORIZATION_SERVERS / _ALLOW_ANONYMOUS.
With no API key in the store, one admin key is created and printed once on stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import uvicorn

from passgate import Engine, Gateway
from passgate.gateway import asgi_app

HERE = Path(__file__).resolve().parent
env = os.environ.get
engine = Engine(
    env("PASSGATE_POLICY") or str(HERE.parent / "mcp" / "demo-policy.json"),
    trusted_issuers=[d for d in env("PASSGATE_TRUSTED_ISSUERS", "").split(",") if d],
    signing_key=env("PASSGATE_SIGNING_SECRET"),
    store=env("PASSGATE_STORE", "memory:"),
)
if not engine.list_api_keys():
    key = engine.create_api_key("admin (created by gateway_server.py)", ["decide", "read:attestations", "admin:passports", "admin:policy", "admin:counters", "approve", "admin:keys"])
    print(f"passgate: admin API key (shown once): {key['secret']}", file=sys.stderr)
app = asgi_app(Gateway(engine, from_env=True))

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    print(f"passgate: MCP endpoint http://127.0.0.1:{port}/mcp", file=sys.stderr, flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
