"""The agent is the adversary: the headline attacks of the trust model, through the public Python API.

The attacker holds its passport *and* its private key, so it can sign anything with that key: a
sub-passport with any ``sub``, ``jti`` and caveats, or an approval token of its own making.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

import pytest

import passgate


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def agent_key(passport: passgate.IssuedPassport) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(unb64u(passport.private_key))


def canonical(value: Any) -> str:
    # RFC 8785 for what these tests sign: strings and integers only.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def mint(parent: passgate.IssuedPassport, **claims: Any) -> str:
    """A sub-passport of ``parent`` signed by hand with its agent key: any ``sub``, ``jti``, caveats."""
    now = int(time.time())
    child_key = Ed25519PrivateKey.generate()
    x = child_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    body: dict[str, Any] = {
        "iss": parent.did,
        "sub": "child",
        "jti": "psp_" + "a" * 26,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "perms": ["pay"],
        "cnf": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64u(x)}},
        "prf": parent.token,
    }
    body.update(claims)
    header = {"alg": "EdDSA", "typ": "passport+jwt", "kid": parent.did}
    signing_input = f"{b64u(json.dumps(header).encode())}.{b64u(json.dumps(body).encode())}"
    return f"{signing_input}.{b64u(agent_key(parent).sign(signing_input.encode()))}"


def world(gate: dict[str, Any]) -> tuple[passgate.Engine, passgate.Issuer]:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine({"version": 1, "gates": {"pay": gate}}, trusted_issuers=[issuer.did])
    return engine, issuer


def failed_codes(d: passgate.Decision) -> list[str]:
    return [c["code"] for c in d.checks if not c["passed"] and c.get("code")]


def test_agent_forges_an_approval_for_another_payload_with_its_own_key() -> None:
    engine, issuer = world(
        {
            "require": ["pay"],
            "constraints": [{"id": "big", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 100}}],
        }
    )
    alice = issuer.issue_passport("alice", permissions=["pay"])
    d = engine.enforce("pay", alice, {"amount": 200})
    assert d.decision == "escalate"
    token = engine.approve(d.evaluation_id, "cfo")
    # Decode the real token, point it at a payment of 1,000,000, sign it with the agent's own key.
    big = engine.dry_run("pay", alice, {"amount": 1_000_000})
    assert big.approval_request is not None
    claims = json.loads(unb64u(token.split(".")[1]))
    claims["fingerprint"] = big.approval_request["fingerprint"]
    claims["kid"] = alice.did
    text = canonical(claims)
    sig = agent_key(alice).sign(b"passgate-approval-v1\n" + hashlib.sha256(text.encode()).digest())
    forged = f"pga1.{b64u(text.encode())}.{b64u(sig)}"
    d = engine.enforce("pay", alice, {"amount": 1_000_000}, approval=forged)
    assert not d.allowed
    assert failed_codes(d) == ["APPROVAL_INVALID"]
    # The real token admits the exact request once; the log never shows its id.
    assert claims["jti"] not in json.dumps(engine.attestations())
    assert engine.enforce("pay", alice, {"amount": 200}, approval=token).allowed
    assert failed_codes(engine.enforce("pay", alice, {"amount": 200}, approval=token)) == ["APPROVAL_USED"]


def test_junior_mints_a_child_named_after_a_senior_passport() -> None:
    engine, issuer = world(
        {"require": ["pay"], "constraints": [{"id": "q", "type": "quota", "max": 1, "scope": "passport"}]}
    )
    senior = issuer.issue_passport(
        "senior", permissions=["pay"], caveats=[{"id": "loose", "type": "max_value", "field": "/amount", "max": 1000}]
    )
    junior = issuer.issue_passport(
        "junior", permissions=["pay"], caveats=[{"id": "small", "type": "max_value", "field": "/amount", "max": 10}]
    )
    first = engine.enforce("pay", senior, {"amount": 500}, idempotency_key="order-1")
    assert first.allowed
    child = mint(junior, jti=senior.passport_id, sub="senior")
    d = engine.enforce("pay", child, {"amount": 500}, idempotency_key="order-1")
    # Not the senior's replay, not the senior's caveats: the junior's cap applies to its delegates.
    assert not d.replayed and not d.allowed
    assert any(c["constraint"] == "small" and not c["passed"] for c in d.checks)
    assert d.passport_id is not None and d.passport_id.startswith("psd_")
    # Revoking the child by the id its decisions carry leaves the senior alone.
    engine.revoke_passport(d.passport_id)
    assert engine.enforce("pay", senior, {"amount": 500}, idempotency_key="order-1").replayed


def test_agent_escapes_its_daily_cap_by_delegating_to_itself() -> None:
    engine, issuer = world(
        {"require": ["pay"], "constraints": [{"id": "daily", "type": "rate_limit", "max": 3, "window": "1d"}]}
    )
    alice = issuer.issue_passport("alice", permissions=["pay"])
    bob = issuer.issue_passport("bob", permissions=["pay"])
    children = [alice.issue_sub_passport(f"alice-{i}", permissions=["pay"], expires_in_days=1) for i in range(5)]
    children.append(alice.issue_sub_passport("bob", permissions=["pay"], expires_in_days=1))
    admitted = sum(engine.enforce("pay", c, {}).allowed for c in children)
    assert admitted == 3
    assert not engine.enforce("pay", alice, {}).allowed
    # The child named "bob" spent alice's budget, not Bob's, and its record names alice.
    assert engine.enforce("pay", bob, {}).allowed
    (state,) = engine.cumulative_state(agent_id="alice")
    assert state["used"] == "3" and state["scope"] == f"agent:alice@{issuer.did}"
    records = [r["body"] for r in engine.attestations(kind="decision")]
    delegated = [b for b in records if b["agent_id"] == "bob" and b["principal"]["agent_id"] == "alice"]
    assert delegated and delegated[0]["delegation"][0] == alice.passport_id


def test_records_cut_from_the_end_are_detected_with_a_chain_head() -> None:
    engine, issuer = world({"require": ["pay"]})
    alice = issuer.issue_passport("alice", permissions=["pay"])
    for _ in range(3):
        engine.enforce("pay", alice, {})
    head = engine.chain_head()
    records = engine.attestations()
    assert passgate.verify_chain(records, engine.signer_did, head=head)
    assert passgate.verify_chain(records[:-1], engine.signer_did)
    try:
        passgate.verify_chain(records[:-1], engine.signer_did, head=head)
    except passgate.AttestationError as e:
        assert e.code == "CHAIN_GAP"
    else:
        raise AssertionError("a truncated chain verified against its head")


def test_python_sqlite3_holding_the_write_lock_never_loses_an_allow(tmp_path: Any) -> None:
    """CPython's `sqlite3` is another SQLite library than passgate's bundled one: neither sees
    the other's locks, and its commit would overwrite passgate's. While it holds the write lock,
    passgate answers no decision (a StoreError, nothing admitted); after it commits, passgate
    works again, and every decision it answered is in the store."""
    import sqlite3

    path = tmp_path / "shared.db"
    issuer = passgate.Issuer.generate()
    gate = {"require": ["pay"], "constraints": [{"id": "n", "type": "quota", "max": 100}]}
    engine = passgate.Engine(
        {"version": 1, "gates": {"pay": gate}},
        trusted_issuers=[issuer.did],
        store=f"sqlite://{path}?busy_timeout_ms=100",
    )
    token = issuer.issue_passport("a", permissions=["pay"]).token
    assert engine.enforce("pay", token, {}).allowed
    host = sqlite3.connect(path, isolation_level=None)
    host.execute("BEGIN IMMEDIATE")
    host.execute("CREATE TABLE host_notes (note TEXT)")
    for _ in range(5):
        with pytest.raises(passgate.StoreError) as info:
            engine.enforce("pay", token, {})
        assert "another SQLite library" in info.value.message
    host.execute("COMMIT")
    assert engine.enforce("pay", token, {}).allowed
    decisions = engine.attestations(kind="decision")
    assert len(decisions) == 2
    assert passgate.verify_chain(decisions, engine.signer_did)
    [counter] = engine.cumulative_state(gate="pay")
    assert counter["used"] == "2"
    host.close()


def test_a_forked_child_cannot_use_its_parents_engine(tmp_path: Any) -> None:
    """fork() after building an engine: the child would continue the parent's chain (two records
    with one sequence number) on the parent's store connections. It is refused with
    PROCESS_FORKED, before any lock; the parent keeps working; an engine built in the child
    works."""
    import os

    issuer = passgate.Issuer.generate()
    policy = {"version": 1, "gates": {"pay": {"require": ["pay"]}}}
    store = f"sqlite://{tmp_path / 'fork.db'}"
    key = passgate.Issuer.generate().secret
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did], store=store, signing_key=key)
    token = issuer.issue_passport("a", permissions=["pay"]).token
    assert engine.enforce("pay", token, {}).allowed
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 1
        try:
            engine.enforce("pay", token, {})
        except passgate.PassgateError as e:
            if e.code == "PROCESS_FORKED":
                own = passgate.Engine(policy, trusted_issuers=[issuer.did], store=store, signing_key=key)
                status = 0 if own.enforce("pay", token, {}).allowed else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert engine.enforce("pay", token, {}).allowed
    records = engine.attestations(kind="decision")
    assert len(records) == 3
    for chain in {r["body"]["chain"] for r in records}:
        assert passgate.verify_chain([r for r in records if r["body"]["chain"] == chain], engine.signer_did)


def test_a_forked_child_draws_its_own_identifiers() -> None:
    """Identifiers come from a per-thread userspace generator: a forked child inherits its state
    and must reseed rather than repeat its parent's next ids (two processes sharing a store would
    otherwise mint the same evaluation, hold and chain ids). Parent and child run the same steps
    after the fork; every id they draw differs."""
    import os

    issuer = passgate.Issuer.generate()
    policy = {"version": 1, "gates": {"pay": {"require": ["pay"]}}}
    token = issuer.issue_passport("a", permissions=["pay"]).token

    def draw() -> list[str]:
        engine = passgate.Engine(policy, trusted_issuers=[issuer.did])
        ids = [engine.chain_id]
        ids += [engine.dry_run("pay", token, {}).evaluation_id for _ in range(3)]
        return ids

    draw()  # the parent's generator is seeded and in use before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.write(write, ",".join(draw()).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write)
    child = os.read(read, 4096).decode().split(",")
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    mine = draw()
    assert len(child) == len(mine) == 4
    assert not set(child) & set(mine), (child, mine)


def test_the_audit_of_a_store_survives_restarts_and_close(tmp_path: Any) -> None:
    """Two lives of an engine on one SQLite file, each with its own key (no signing_key): each
    chain verifies against its own signer with verify_store; paging returns every record once;
    a closed engine refuses to touch the store."""
    issuer = passgate.Issuer.generate()
    policy = {"version": 1, "gates": {"pay": {"require": ["pay"]}}}
    store = f"sqlite://{tmp_path / 'audit.db'}"
    token = issuer.issue_passport("a", permissions=["pay"]).token
    signers = []
    for _ in range(2):
        with passgate.Engine(policy, trusted_issuers=[issuer.did], store=store) as engine:
            assert engine.enforce("pay", token, {}).allowed
            signers.append(engine.signer_did)
        with pytest.raises(passgate.StoreError):
            engine.enforce("pay", token, {})
    engine = passgate.Engine(policy, trusted_issuers=[issuer.did], store=store)
    report = engine.verify_store(signers)
    assert report["records"] == 2 and len(report["chains"]) == 2
    with pytest.raises(passgate.AttestationError) as info:
        engine.verify_store(signers[:1])
    assert info.value.code == "ATTESTATION_KEY"
    first = engine.attestations_page(limit=1)
    assert len(first["records"]) == 1 and first["next_cursor"]
    second = engine.attestations_page(limit=1, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    assert first["records"] + second["records"] == engine.attestations()
    with pytest.raises(passgate.InputError):
        engine.attestations_page(cursor="forged")
