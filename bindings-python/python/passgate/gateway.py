"""passgate's MCP endpoint over Streamable HTTP, as an ASGI 3 application.

The work is the core's (``passgate.Gateway``, Rust): Origin allow-list, authentication (a
passport or API key as ``Authorization: Bearer``, or ``x-api-key``), Accept / Content-Type
checks, JSON-RPC batches refused, 202 for notifications, ``Mcp-Session-Id`` sessions, the
gateway's trace fields in every evaluation, and ``/.well-known/oauth-protected-resource``. This
module only moves bytes between ASGI and the core, running the core off the event loop::

    import uvicorn
    from passgate import Engine, Gateway
    from passgate.gateway import asgi_app

    engine = Engine(policy, trusted_issuers=[issuer.did])
    app = asgi_app(Gateway(engine, allowed_origins=["https://app.example.com"]))
    uvicorn.run(app, port=8080)          # MCP endpoint: http://localhost:8080/mcp

Plain ASGI (no framework dependency): mount it in Starlette / FastAPI with ``Mount("/", app)``
or route ``/mcp`` and ``/.well-known/oauth-protected-resource`` to it.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, MutableMapping

from passgate._native import Gateway

__all__ = ["Gateway", "asgi_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _to_thread(fn: Callable[..., Any], *args: Any) -> Any:
    try:
        import anyio.to_thread
    except ImportError:  # pragma: no cover - anyio ships with every ASGI server we test
        import asyncio

        return await asyncio.to_thread(fn, *args)
    return await anyio.to_thread.run_sync(fn, *args)


def asgi_app(gateway: Gateway) -> ASGIApp:
    """An ASGI 3 application serving ``gateway`` (HTTP and lifespan scopes).

    The body is read up to the gateway's limit plus one byte (a larger body is answered 413
    without reading the rest); ``Gateway.handle`` runs in a worker thread with the GIL
    released, so one slow evaluation does not stall the event loop.
    """
    if not isinstance(gateway, Gateway):
        raise TypeError(f"asgi_app needs a passgate.Gateway, not {type(gateway).__name__}")
    limit = gateway.max_body_bytes

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if kind != "http":
            raise RuntimeError(f"passgate's gateway serves HTTP, not {kind!r}")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more and size <= limit:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        status, out_headers, out_body = await _to_thread(
            gateway.handle, scope.get("method", "GET"), scope.get("path", "/"), headers, body
        )
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers
                ]
                + [(b"content-length", str(len(out_body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": out_body})

    return app
