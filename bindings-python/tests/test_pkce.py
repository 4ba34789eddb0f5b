"""passgate.pkce: the S256 helpers, the authorization-code flow, and the example run end to end."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from passgate import Engine, InputError, Issuer, PassportError, pkce

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python" / "pkce_flow.py"
URI = "https://host.example/cb"


def test_rfc_7636_vector_and_malformed_verifiers() -> None:
    v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce.challenge_s256(v) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce.verify_s256(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    assert not pkce.verify_s256(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN")
    g = pkce.generate_verifier()
    assert 43 <= len(g) <= 128 and g != pkce.generate_verifier()
    with pytest.raises(InputError) as e:
        pkce.challenge_s256("too-short")
    assert e.value.code == "INVALID_ARGUMENT" and e.value.path == "/code_verifier"


def _flow() -> tuple[pkce.AuthorizationFlow, Engine]:
    issuer = Issuer.generate()
    engine = Engine({"version": 1, "gates": {"pay": {"require": ["pay:send"]}, "admin": {"require": ["admin:*"]}}},
                    trusted_issuers=[issuer.did])
    return pkce.AuthorizationFlow(issuer, passport_ttl=300), engine


def _code(flow: pkce.AuthorizationFlow, verifier: str) -> str:
    return flow.authorize(agent_id="a1", permissions=["pay:send"], code_challenge=pkce.challenge_s256(verifier),
                          code_challenge_method="S256", redirect_uri=URI, client_id="cli")


def test_the_minted_passport_has_exactly_the_consented_permissions() -> None:
    flow, engine = _flow()
    v = pkce.generate_verifier()
    p = flow.exchange(code=_code(flow, v), code_verifier=v, redirect_uri=URI, client_id="cli")
    assert engine.enforce("pay", p.token, {}).decision == "allow"
    assert engine.enforce("admin", p.token, {}).decision == "deny"
    claims = engine.verify_passport(passport=p.token)
    assert claims["exp"] - claims["iat"] == 300, claims


def test_the_attacker_gets_one_try_per_code() -> None:
    flow, _ = _flow()
    v = pkce.generate_verifier()
    # A guessed verifier burns the code: the right one then fails too.
    code = _code(flow, v)
    with pytest.raises(PassportError) as e:
        flow.exchange(code=code, code_verifier=pkce.generate_verifier(), redirect_uri=URI, client_id="cli")
    assert e.value.code == "GRANT_INVALID"
    with pytest.raises(PassportError):
        flow.exchange(code=code, code_verifier=v, redirect_uri=URI, client_id="cli")
    # A stolen code sent to another redirect URI.
    code = _code(flow, v)
    with pytest.raises(PassportError):
        flow.exchange(code=code, code_verifier=v, redirect_uri="https://evil.example/cb", client_id="cli")
    # Reuse.
    code = _code(flow, v)
    flow.exchange(code=code, code_verifier=v, redirect_uri=URI, client_id="cli")
    with pytest.raises(PassportError):
        flow.exchange(code=code, code_verifier=v, redirect_uri=URI, client_id="cli")
    # plain is refused.
    with pytest.raises(InputError) as ie:
        flow.authorize(agent_id="a1", permissions=[], code_challenge=v, code_challenge_method="plain",
                       redirect_uri=URI, client_id="cli")
    assert ie.value.path == "/code_challenge_method"


def test_the_example_runs_end_to_end() -> None:
    result = runpy.run_path(str(EXAMPLE))["main"]()
    assert result == {"booked": "allow", "paid": "deny", "replay": "GRANT_INVALID"}
    out = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=True).stdout
    assert "5. replaying the code: GRANT_INVALID" in out
