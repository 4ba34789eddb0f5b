"""Passports are plain JWS: PyJWT verifies them with the issuer's public JWK."""

from __future__ import annotations

import jwt

import passgate


def test_pyjwt_verifies_an_issued_passport(issuer: passgate.Issuer, passport: passgate.IssuedPassport) -> None:
    header = jwt.get_unverified_header(passport.token)
    assert header == {"alg": "EdDSA", "typ": "passport+jwt", "kid": issuer.did}
    claims = jwt.decode(passport.token, key=jwt.PyJWK(issuer.public_jwk), algorithms=["EdDSA"])
    assert claims["iss"] == issuer.did and claims["sub"] == "agent-007" and claims["name"] == "Bond"
    assert claims["jti"] == passport.passport_id and claims["exp"] == passport.expires_at
    assert claims["perms"] == ["payments:send"]
    assert claims["nbf"] <= claims["iat"] + 1 and claims["exp"] > claims["iat"]


def test_pyjwt_verifies_a_sub_agent_passport_with_the_parent_agent_key(
    issuer: passgate.Issuer, passport: passgate.IssuedPassport
) -> None:
    child = passport.issue_sub_passport("helper", permissions=["payments:send"], expires_in_days=1)
    parent_claims = jwt.decode(passport.token, key=jwt.PyJWK(issuer.public_jwk), algorithms=["EdDSA"])
    agent_key = jwt.PyJWK(parent_claims["cnf"]["jwk"])
    claims = jwt.decode(child.token, key=agent_key, algorithms=["EdDSA"])
    assert claims["iss"] == passport.did and claims["prf"] == passport.token
    assert jwt.get_unverified_header(child.token)["kid"] == passport.did


def test_pyjwt_rejects_another_key(passport: passgate.IssuedPassport) -> None:
    other = passgate.Issuer.generate()
    try:
        jwt.decode(passport.token, key=jwt.PyJWK(other.public_jwk), algorithms=["EdDSA"])
    except jwt.InvalidSignatureError:
        pass
    else:
        raise AssertionError("a passport verified under another key")
