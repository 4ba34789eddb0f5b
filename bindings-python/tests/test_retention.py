"""Retention from Python: prune() from a timer, export_attestations to a path or a file object,
verify_export of the export followed by the store (issue 14, item 6)."""

import io
import json
from pathlib import Path

import pytest

import passgate

POLICY = {"version": 1, "gates": {"g": {"require": ["g"], "constraints": [
    {"id": "calls", "type": "quota", "max": 1000000}]}}}


def test_prune_exports_and_the_remainder_still_verifies(tmp_path: Path) -> None:
    issuer = passgate.Issuer.generate()
    sink = tmp_path / "pruned.jsonl"
    store = f"sqlite:///{tmp_path}/r.db?retention_records=10&retention_export={sink}"
    engine = passgate.Engine(POLICY, trusted_issuers=[issuer.did], store=store)
    passport = issuer.issue_passport("agent", permissions=["g"])
    for _ in range(40):
        assert engine.enforce("g", passport, {}).allowed
    assert engine.prune(limit=5) == 5
    assert engine.prune() == 25
    assert engine.prune() == 0
    assert len(engine.attestations()) == 10
    report = engine.verify_store([engine.signer_did])
    assert report["chains"][0]["first_seq"] == 31
    full = engine.verify_export(sink, [engine.signer_did])
    assert full["records"] == 40
    with pytest.raises(passgate.AttestationError) as e:
        engine.verify_export(sink, [passgate.Issuer.generate().did])
    assert e.value.code == "ATTESTATION_KEY"
    # A line dropped from the export: a gap.
    lines = sink.read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    with pytest.raises(passgate.AttestationError) as e:
        engine.verify_export(cut, [engine.signer_did])
    assert e.value.code == "CHAIN_GAP"
    # Export of the remainder: to a path and to a file object, starting with its checkpoint.
    out = tmp_path / "now.jsonl"
    assert engine.export_attestations(out) == 10
    buf = io.StringIO()
    assert engine.export_attestations(buf) == 10
    assert buf.getvalue() == out.read_text()
    first = json.loads(buf.getvalue().splitlines()[0])
    assert first["body"]["kind"] == "chain.checkpoint"
    assert engine.export_attestations(buf, since=2**52) == 0


def test_bad_retention_options_name_the_option(tmp_path: Path) -> None:
    for url, name in [("memory:?retention_age=1y", "retention_age"),
                      ("memory:?retention_records=0", "retention_records")]:
        with pytest.raises(passgate.InputError) as e:
            passgate.Engine(POLICY, store=url)
        assert e.value.code == "INVALID_ARGUMENT"
        assert name in str(e.value)
