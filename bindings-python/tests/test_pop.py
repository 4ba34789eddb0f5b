"""Proof of possession from Python (issue 18 item 4): ``make_pop`` signs with the agent's key
(the request hash computed by the engine's own code), an L3 gate admits the passport only with a
proof, a stolen passport alone is denied, a changed proof is denied, malformed proofs are
``InputError`` naming the field, and a nonce replayed from a second OS process on the same SQLite
file is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import passgate
from passgate import InputError

POLICY: dict[str, Any] = {
    "version": 1,
    "gates": {
        "pay": {
            "require": ["pay"],
            "trust_level": "L3",
            "constraints": [
                {"id": "cap", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"}
            ],
        }
    },
}


def setup(store: str | None = None) -> tuple[passgate.Engine, passgate.IssuedPassport]:
    issuer = passgate.Issuer.generate()
    policy = dict(POLICY, issuers=[issuer.did], issuer_levels={issuer.did: "L2"})
    engine = passgate.Engine(policy, store=store)
    return engine, issuer.issue_passport("agent", permissions=["pay"])


def failed_codes(d: passgate.Decision) -> list[str]:
    return [c["code"] for c in d.checks if not c["passed"] and c["type"] in ("pop", "trust_level")]


def test_a_proof_by_the_agents_key_is_admitted_and_recorded() -> None:
    engine, agent = setup()
    pop = passgate.make_pop(agent, gate="pay", payload={"amount": 5})
    assert sorted(pop) == ["nonce", "sig", "ts"]
    d = engine.enforce("pay", agent, {"amount": 5}, pop=pop)
    assert d.allowed, d.checks
    assert d.attestation is not None
    assert d.attestation["body"]["pop"]["nonce"] == pop["nonce"]
    # The secret string works as well as the IssuedPassport.
    pop2 = passgate.make_pop(agent.private_key, gate="pay", payload={"amount": 5})
    assert engine.enforce("pay", agent, {"amount": 5}, pop=pop2).allowed


def test_a_stolen_passport_alone_is_denied() -> None:
    engine, agent = setup()
    assert failed_codes(engine.enforce("pay", agent.token, {"amount": 5})) == ["POP_REQUIRED"]
    thief = passgate.Issuer.generate().secret
    forged = passgate.make_pop(thief, gate="pay", payload={"amount": 5})
    assert failed_codes(engine.enforce("pay", agent.token, {"amount": 5}, pop=forged)) == ["POP_INVALID"]


def test_a_proof_for_another_payload_or_with_a_changed_byte_is_denied() -> None:
    engine, agent = setup()
    pop = passgate.make_pop(agent, gate="pay", payload={"amount": 1}, nonce="n" * 16)
    assert failed_codes(engine.enforce("pay", agent, {"amount": 99}, pop=pop)) == ["POP_INVALID"]
    sig = pop["sig"]
    changed = dict(pop, sig=("B" if sig[0] != "B" else "C") + sig[1:])
    assert failed_codes(engine.enforce("pay", agent, {"amount": 1}, pop=changed)) == ["POP_INVALID"]
    assert failed_codes(engine.enforce("pay", agent, {"amount": 1}, pop=dict(pop, ts=pop["ts"] + 1))) == [
        "POP_INVALID"
    ]
    assert engine.enforce("pay", agent, {"amount": 1}, pop=pop).allowed
    assert failed_codes(engine.enforce("pay", agent, {"amount": 1}, pop=pop)) == ["POP_REPLAYED"]


@pytest.mark.parametrize(
    ("pop", "path"),
    [
        ("x", "/pop"),
        ({"ts": 1, "sig": "A" * 86}, "/pop/nonce"),
        ({"nonce": "short", "ts": 1, "sig": "A" * 86}, "/pop/nonce"),
        ({"nonce": "n" * 16, "ts": "1", "sig": "A" * 86}, "/pop/ts"),
        ({"nonce": "n" * 16, "ts": 1, "sig": "A" * 10}, "/pop/sig"),
        ({"nonce": "n" * 16, "ts": 1, "sig": "A" * 86, "extra": 1}, "/pop/extra"),
    ],
)
def test_malformed_proofs_are_input_errors_naming_the_field(pop: Any, path: str) -> None:
    engine, agent = setup()
    with pytest.raises(InputError) as e:
        engine.enforce("pay", agent, {"amount": 1}, pop=pop)
    assert e.value.code == "INVALID_ARGUMENT"
    assert e.value.path == path


def test_make_pop_checks_its_arguments() -> None:
    _, agent = setup()
    with pytest.raises(InputError) as e:
        passgate.make_pop(agent, gate="pay", nonce="bad nonce with spaces")
    assert e.value.path == "/pop/nonce"
    with pytest.raises(InputError):
        passgate.make_pop(agent, gate="pay", ts=True)
    with pytest.raises(passgate.PassgateError) as k:
        passgate.make_pop("not a secret", gate="pay")
    assert k.value.code == "KEY_INVALID"


def test_a_nonce_replayed_from_another_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path}/pg.db"
    issuer = passgate.Issuer.generate()
    policy = dict(POLICY, issuers=[issuer.did], issuer_levels={issuer.did: "L2"})
    engine = passgate.Engine(policy, store=url)
    agent = issuer.issue_passport("agent", permissions=["pay"])
    pop = passgate.make_pop(agent, gate="pay", payload={"amount": 5})
    assert engine.enforce("pay", agent, {"amount": 5}, pop=pop).allowed
    script = textwrap.dedent(
        """
        import json, sys
        import passgate
        policy, url, token, pop = json.loads(sys.stdin.read())
        engine = passgate.Engine(policy, store=url)
        d = engine.enforce("pay", token, {"amount": 5}, pop=pop)
        print(json.dumps([d.allowed, [c.get("code") for c in d.checks if not c["passed"]],
                          d.remaining]))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps([policy, url, agent.token, pop]),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    allowed, codes, remaining = json.loads(out.stdout)
    assert allowed is False
    assert codes == ["POP_REPLAYED"]
    assert remaining == {"cap": "95"}
