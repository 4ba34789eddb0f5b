"""The README snippets and the quickstart example run as written."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import ROOT

READMES = [ROOT / "README.md", ROOT / "bindings-python" / "README.md"]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("readme", READMES, ids=["README.md", "bindings-python/README.md"])
def test_readme_python_snippets_run(readme: object) -> None:
    blocks = python_blocks(readme.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    assert blocks, f"no python block in {readme}"
    for block in blocks:
        out = run(block)
        assert "allow" in out, out


def test_quickstart_example_tells_the_story() -> None:
    out = run((ROOT / "examples" / "python" / "quickstart.py").read_text(encoding="utf-8"))
    lines = out.splitlines()
    assert lines[0] == "payment 1: allow (remaining today: 600.00)"
    assert lines[1] == "payment 2: allow (remaining today: 200.00)"
    assert lines[2] == "payment 3: deny (remaining today: 200.00)"
    assert lines[3] == "  denied by daily-spend: spend 800 + 400 would exceed 1000 per 1d"
    assert lines[4] == "dry run of 200: allow"
    assert lines[5].startswith("audit chain: 3 records verified against did:key:z6Mk")
