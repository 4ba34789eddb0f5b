"""Starts the passgate server that `passgate init claude --write` configured, as Claude Desktop does.

    python tests/packages/claude_config.py HOME

Reads HOME's Claude Desktop config, runs its `mcpServers.passgate` command with its arguments and
environment (with a minimal PATH: a desktop client's PATH holds no virtual environment or
node_modules), speaks MCP over stdio (initialize, tools/list, one enforce_action) and checks the
answers. Standard library only: it runs in a fresh virtual environment too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def rpc(id: int, method: str, params: dict[str, object]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params})


def main(home: str) -> None:
    config = Path(home) / ".config" / "Claude" / "claude_desktop_config.json"
    if sys.platform == "darwin":
        config = Path(home) / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    entry = json.loads(config.read_text())["mcpServers"]["passgate"]
    argv = [entry["command"], *entry.get("args", [])]
    assert os.path.isabs(argv[0]), f"the command must be an absolute path for a desktop client: {argv}"
    lines = [
        rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "claude-ai", "version": "0"}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        rpc(2, "tools/list", {}),
        rpc(3, "tools/call", {"name": "enforce_action", "arguments": {"gate": "payments.send", "payload": {"amount": 20, "currency": "USD", "to": "acct_1"}}}),
    ]
    env = {"HOME": home, "PATH": "/usr/bin:/bin", **entry.get("env", {})}
    done = subprocess.run(argv, input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [m["id"] for m in replies] == [1, 2, 3], done.stdout
    assert replies[0]["result"]["serverInfo"]["name"] == "passgate"
    names = {t["name"] for t in replies[1]["result"]["tools"]}
    assert "enforce_action" in names and "reset_cumulative_state" not in names, names
    assert replies[2]["result"]["structuredContent"]["decision"] == "allow", replies[2]
    print(f"claude config: OK ({argv[0]})")


if __name__ == "__main__":
    main(sys.argv[1])
