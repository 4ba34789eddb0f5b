"""Checkpointed signing from Python: unsigned decision records with their leaf, heads every N
records and on demand, proofs verified by passgate and by the stand-alone
``examples/python/verify_checkpoint.py`` (``cryptography`` + ``rfc8785`` only) — and a tampered
record, proof or head refused by both."""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest

import passgate

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples/python/verify_checkpoint.py"
POLICY = {"version": 1, "gates": {"pay": {"require": ["pay"], "constraints": [
    {"id": "cap", "type": "max_value", "field": "/amount", "max": 100}]}}}


def att(d: passgate.Decision) -> dict[str, Any]:
    assert d.attestation is not None
    return d.attestation


def script(tmp: pathlib.Path, record: Any, proof: Any, did: str) -> subprocess.CompletedProcess[str]:
    (tmp / "r.json").write_text(json.dumps(record))
    (tmp / "p.json").write_text(json.dumps(proof))
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp / "r.json"), str(tmp / "p.json"), did],
        capture_output=True, text=True, check=False,
    )


def test_decisions_are_proven_by_passgate_and_by_the_standalone_script(tmp_path: pathlib.Path) -> None:
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did], signing="checkpoint", checkpoint_every=4)
    passport = issuer.issue_passport("agent", permissions=["pay"])
    decisions = [engine.enforce("pay", passport, {"amount": a}) for a in (5, 500, 7, 9, 11)]
    for d in decisions:
        assert "sig" not in att(d) and att(d)["leaf"].startswith("sha256:")
    did = engine.signer_did
    with pytest.raises(passgate.InputError) as e:
        engine.inclusion_proof(decisions[-1].evaluation_id)
    assert e.value.code == "CHECKPOINT_PENDING"
    head = engine.checkpoint()
    assert head["body"]["kind"] == "checkpoint" and "sig" in head
    records = engine.attestations(chain=engine.chain_id)
    assert passgate.verify_chain(records, did) is True
    assert [r["body"]["kind"] for r in records].count("checkpoint") == 2  # after 4 records, and now
    for d in decisions:
        proof = engine.inclusion_proof(d.evaluation_id)
        assert proof["head"] == head
        assert passgate.verify_inclusion_proof(att(d), proof, did) is True
        assert passgate.verify_inclusion(proof["leaf_hash"], proof["leaf_index"], proof["tree_size"], proof["proof"], head["body"]["data"]["root"])
        done = script(tmp_path, att(d), proof, did)
        assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
    # Consistency between the two heads.
    first = next(r for r in records if r["body"]["kind"] == "checkpoint")
    old, new = first["body"]["data"], head["body"]["data"]
    cp = engine.consistency_proof(old["tree_size"], new["tree_size"])
    assert passgate.verify_consistency(old["tree_size"], new["tree_size"], old["root"], new["root"], cp["proof"])
    assert not passgate.verify_consistency(old["tree_size"], new["tree_size"], new["root"], old["root"], cp["proof"])

    # Tampered copies fail in both verifiers.
    d = decisions[1]
    proof = engine.inclusion_proof(d.evaluation_id)
    bad_record = copy.deepcopy(att(d))
    bad_record["body"]["decision"] = "allow"
    bad_path = copy.deepcopy(proof)
    bad_path["proof"][0] = "sha256:" + "0" * 64
    bad_root = copy.deepcopy(proof)
    bad_root["head"]["body"]["data"]["root"] = "sha256:" + "1" * 64
    other = passgate.Issuer.generate().did
    for record, p, key in ((bad_record, proof, did), (att(d), bad_path, did), (att(d), bad_root, did), (att(d), proof, other)):
        with pytest.raises(passgate.AttestationError):
            passgate.verify_inclusion_proof(record, p, key)
        done = script(tmp_path, record, p, key)
        assert done.returncode == 1 and done.stdout == "", (done.stdout, done.stderr)


def test_bad_options_are_input_errors() -> None:
    for kwargs in ({"signing": "sometimes"}, {"checkpoint_every": 0, "signing": "checkpoint"}, {"checkpoint_every": 5}):
        with pytest.raises(passgate.InputError):
            passgate.Engine(**kwargs)
