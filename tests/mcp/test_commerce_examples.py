"""The commerce examples, run as a user runs them (examples/python/{catalogs,commerce}.py and
examples/node/{catalogs,commerce}.mjs): each must finish, and the commerce ones must report a
breaking v2, a refused replayed proof of possession, a settlement of 100 calls at v1's prices
verified offline (with `cryptography` + `rfc8785` in Python, `node:crypto` in Node) and a forged
record refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = {
    "python": lambda name: [sys.executable, str(ROOT / "examples" / "python" / f"{name}.py")],
    "node": lambda name: ["node", str(ROOT / "examples" / "node" / f"{name}.mjs")],
}


def run(lang: str, name: str) -> str:
    done = subprocess.run(RUN[lang](name), capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("lang", ["python", "node"])
def test_catalogs_example(lang: str) -> None:
    out = run(lang, "catalogs")
    assert "v1 -> v2 breaking: " in out and "verified offline" in out


@pytest.mark.parametrize("lang", ["python", "node"])
def test_commerce_example(lang: str) -> None:
    out = run(lang, "commerce")
    lines = out.splitlines()
    assert any(line.startswith("v1 -> v2 breaking: ") and "rue" in line and "price_increase" in line for line in lines), out
    assert any("POP_REPLAYED" in line for line in lines if line.startswith("replayed proof:")), out
    expected = sum((1000 + 10 * i) * 200 // 1000 for i in range(100))
    assert any(f": 100 calls, {expected} cents (v1 prices: {expected})" in line for line in lines), out
    assert any(line.startswith("forged record refused offline: ") for line in lines), out
    assert lines[-1].startswith("settlement verified offline against did:key:z"), out
