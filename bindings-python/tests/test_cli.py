"""The ``passgate`` console script (``[project.scripts]``): the command lines of
tests/cli/cases.json, shared with the Rust and Node suites, through the installed entry point,
and ``mcp serve`` on stdio driven as a client would."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

PASSGATE = Path(sys.executable).parent / "passgate"
CASES: list[dict[str, Any]] = json.loads((ROOT / "tests" / "cli" / "cases.json").read_text())["cases"]


def run(argv: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PASSGATE), *argv], input=stdin, capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_the_entry_point_is_installed() -> None:
    assert PASSGATE.exists(), f"{PASSGATE}: the console script is not installed"
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_shared_command_line(case: dict[str, Any]) -> None:
    r = run(case["argv"])
    ctx = f"{case['argv']}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert r.returncode == case["exit"], ctx
    if "stdout" in case:
        assert r.stdout == case["stdout"], ctx
    if "stdout_regex" in case:
        assert re.search(case["stdout_regex"], r.stdout), ctx
    if "stderr_regex" in case:
        assert re.search(case["stderr_regex"], r.stderr), ctx


def rpc(id: int, method: str, params: dict[str, Any]) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": id, "method": method, "params": params})


def test_mcp_serve_stdio() -> None:
    lines = [
        rpc(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}),
        json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        rpc(2, "tools/list", {}),
        rpc(3, "tools/call", {"name": "enforce_action", "arguments": {"gate": "payments.send", "payload": {"amount": 20, "currency": "USD", "to": "acct_1"}}}),
        rpc(4, "tools/call", {"name": "enforce_action", "arguments": {"gate": "payments.send", "payload": {"amount": 900, "currency": "USD", "to": "acct_1"}}}),
    ]
    r = run(["mcp", "serve"], "\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    replies = [json.loads(line) for line in r.stdout.splitlines()]
    assert [m["id"] for m in replies] == [1, 2, 3, 4], "stdout carries the transport only"
    assert replies[0]["result"]["serverInfo"]["name"] == "passgate"
    names = {t["name"] for t in replies[1]["result"]["tools"]}
    assert "enforce_action" in names and "reset_cumulative_state" not in names
    assert replies[2]["result"]["structuredContent"]["decision"] == "allow"
    assert replies[3]["result"]["structuredContent"]["decision"] == "deny"
    assert "demo passport" in r.stderr


def test_ctrl_c_stops_mcp_serve() -> None:
    import signal

    with subprocess.Popen(
        [str(PASSGATE), "mcp", "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    ) as p:
        try:
            assert p.stderr is not None
            p.stderr.readline()  # its first log line: SIGINT's default is already restored
            p.send_signal(signal.SIGINT)
            assert p.wait(timeout=20) == -signal.SIGINT
        finally:
            if p.poll() is None:
                p.kill()


def test_init_claude_writes_a_config_that_starts_this_passgate(tmp_path: Path) -> None:
    # The command is this environment's console script, by absolute path: Claude Desktop's PATH
    # does not hold the virtual environment. The checker starts it as the client would.
    done = subprocess.run([str(PASSGATE), "init", "claude", "--write"], env={**os.environ, "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    checker = subprocess.run([sys.executable, str(ROOT / "tests" / "packages" / "claude_config.py"), str(tmp_path)],
                             capture_output=True, text=True, timeout=180, check=False)  # fmt: skip
    assert checker.returncode == 0, checker.stdout + checker.stderr
    assert f"({os.path.abspath(PASSGATE)})" in checker.stdout
