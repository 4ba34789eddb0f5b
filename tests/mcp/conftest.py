"""What the end-to-end MCP tests share: the anyio backend and free loopback ports."""

from __future__ import annotations

import socket

import pytest

#: The Accept header a Streamable HTTP client sends.
JSON_SSE = "application/json, text/event-stream"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    """A loopback port free now (bound, then released for the server under test)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
