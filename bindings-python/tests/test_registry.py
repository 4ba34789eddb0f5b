"""The passport registry and the trusted issuers from Python: issuance recorded and attested,
passports made elsewhere registered when first verified, live status, listing by pages, issuers
trusted and untrusted through the store (shared by two engines on one SQLite file), trust
windows on the root ``iat``, and a signed trust export imported by another engine."""

from __future__ import annotations

import hashlib
import pathlib
from typing import Any

import pytest

import passgate
import passgate.mcp
from passgate import AttestationError, InputError

POLICY: dict[str, Any] = {"version": 1, "gates": {"pay": {"require": ["pay"]}}}


def engine(issuers: list[str] | None = None, store: str | None = None) -> passgate.Engine:
    if store is None:
        return passgate.Engine(POLICY, trusted_issuers=issuers or [])
    return passgate.Engine(POLICY, trusted_issuers=issuers or [], store=store)


def test_issued_passports_are_recorded_and_attested_never_the_token_or_key() -> None:
    issuer = passgate.Issuer.generate()
    e = engine([issuer.did])
    p = e.issue_passport(issuer.secret, "alice", permissions=["pay"])
    got = e.get_passport(p.passport_id)
    assert got["agent"] == "alice" and got["source"] == "issued" and got["status"] == "active"
    assert got["token_hash"] == hashlib.sha256(p.token.encode()).hexdigest()
    assert p.token not in str(got) and p.private_key not in str(got)
    issued = e.attestations(kind="issuance")
    assert [r["body"]["data"]["passport_id"] for r in issued] == [p.passport_id]
    e.revoke_passport(p.passport_id)
    assert e.get_passport(p.passport_id)["status"] == "revoked"
    with pytest.raises(InputError) as unknown:
        e.get_passport("psp_" + "a" * 26)
    assert unknown.value.code == "PASSPORT_UNKNOWN"
    with pytest.raises(InputError) as bad:
        e.get_passport("nope")
    assert bad.value.code == "INVALID_ARGUMENT" and bad.value.path == "/passport_id"


def test_seen_passports_are_registered_and_listed_by_pages() -> None:
    issuer = passgate.Issuer.generate()
    e = engine([issuer.did])
    root = issuer.issue_passport("alice", permissions=["pay"])
    child = root.issue_sub_passport("helper", permissions=["pay"], expires_in_days=1)
    assert e.enforce("pay", child.token, {}).decision == "allow"
    c = e.get_passport(child.passport_id)
    assert c["source"] == "seen" and c["parent"] == root.passport_id
    for i in range(3):
        e.issue_passport(issuer.secret, f"bot{i}", permissions=["pay"])
    seen: list[str] = []
    page = e.list_passports(limit=2)
    while True:
        seen += [p["passport_id"] for p in page["passports"]]
        if page["next_cursor"] is None:
            break
        page = e.list_passports(limit=2, cursor=page["next_cursor"])
    assert len(seen) == 5 and seen == sorted(seen)
    assert [p["passport_id"] for p in e.list_passports(parent=root.passport_id)["passports"]] == [child.passport_id]
    assert len(e.list_passports(agent="bot1")["passports"]) == 1
    assert len(e.list_passports(status="active", permission="pay")["passports"]) == 5
    with pytest.raises(InputError) as bad:
        e.list_passports(cursor="garbage")
    assert bad.value.path == "/cursor"


def test_issuers_trusted_through_a_shared_sqlite_store_with_windows(tmp_path: pathlib.Path) -> None:
    url = f"sqlite://{tmp_path / 'shared.db'}"
    a, b = engine(store=url), engine(store=url)
    issuer = passgate.Issuer.generate()
    p = issuer.issue_passport("agent", permissions=["pay"])
    assert b.enforce("pay", p.token, {}).decision == "deny"
    listed = a.trust_issuer(issuer.did)
    assert listed["source"] == "store" and listed["public_jwk"] == issuer.public_jwk
    assert b.enforce("pay", p.token, {}).decision == "allow"
    assert [i["did"] for i in b.list_issuers()] == [issuer.did]
    # A window that ends before the passport was issued: refused on the other engine too.
    a.trust_issuer(issuer.did, not_after=0)
    d = b.enforce("pay", p.token, {})
    assert d.decision == "deny" and any(c["code"] == "ISSUER_UNTRUSTED" for c in d.checks if not c["passed"])
    a.trust_issuer(issuer.did)
    assert a.untrust_issuer(issuer.did) == {"did": issuer.did, "was": "store"}
    assert b.enforce("pay", p.token, {}).decision == "deny"
    with pytest.raises(InputError) as bad:
        a.trust_issuer("did:key:nope")
    assert bad.value.code == "INVALID_ARGUMENT" and bad.value.path == "/did"
    assert [r["body"]["kind"] for r in a.attestations(kind="issuer.untrusted")] == ["issuer.untrusted"]


def test_trust_export_and_import() -> None:
    issuer = passgate.Issuer.generate()
    a = engine()
    a.trust_issuer(issuer.did)
    revoked = issuer.issue_passport("gone", permissions=["pay"])
    a.revoke_passport(revoked.passport_id)
    doc = a.export_trust()
    assert doc["body"]["signer"] == a.signer_did and doc["body"]["revoked"] == [revoked.passport_id]
    b = engine()
    tampered = {**doc, "body": {**doc["body"], "revoked": []}}
    with pytest.raises(AttestationError) as e:
        b.import_trust(tampered, a.signer_did)
    assert e.value.code == "ATTESTATION_HASH"
    with pytest.raises(AttestationError) as e:
        b.import_trust(doc, b.signer_did)
    assert e.value.code == "ATTESTATION_KEY"
    assert b.list_issuers() == []
    out = b.import_trust(doc, a.signer_did)
    assert out == {"issuers": [issuer.did], "revoked": 1, "skipped": []}
    good = issuer.issue_passport("ok", permissions=["pay"])
    assert b.enforce("pay", good.token, {}).decision == "allow"
    assert b.enforce("pay", revoked.token, {}).decision == "deny"


def test_the_agent_gets_none_of_the_registry_tools() -> None:
    agent = {t["name"] for t in passgate.mcp.tools("agent")}
    operator = {t["name"] for t in passgate.mcp.tools("operator")}
    for op in ["get_passport", "list_passports", "list_issuers", "trust_issuer", "untrust_issuer", "export_trust", "import_trust"]:
        assert op not in agent and op in operator
