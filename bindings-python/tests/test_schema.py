"""The policy JSON Schema shipped in the package: the core's own file, loadable, and a policy naming
it in ``"$schema"`` is accepted (any other unknown top-level key is still refused)."""

import json
from importlib import resources
from pathlib import Path

import pytest

import passgate

CORE_SCHEMA = Path(__file__).resolve().parents[2] / "schema" / "policy.schema.json"


def test_shipped_schema_is_the_cores() -> None:
    shipped = resources.files("passgate").joinpath("policy.schema.json").read_bytes()
    # Byte for byte: bindings-python/python/passgate/policy.schema.json is a copy of
    # schema/policy.schema.json; copy it again when the core's schema changes.
    assert shipped == CORE_SCHEMA.read_bytes()
    assert passgate.policy_schema() == json.loads(CORE_SCHEMA.read_text(encoding="utf-8"))


def test_policy_schema_returns_a_fresh_dict() -> None:
    a = passgate.policy_schema()
    a["title"] = "changed"
    b = passgate.policy_schema()
    assert b["title"] == "passgate policy document"
    assert b["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "$schema" in b["properties"]


def test_a_policy_may_name_its_schema() -> None:
    issuer = passgate.Issuer.generate()
    passport = issuer.issue_passport(agent_id="a", permissions=["p"])
    engine = passgate.Engine(
        {"$schema": "https://passgate.dev/schema/policy.schema.json", "version": 1,
         "gates": {"g": {"require": ["p"]}}},
        trusted_issuers=[issuer.did],
    )
    assert engine.enforce("g", passport.token, {}).decision == "allow"


def test_other_unknown_top_level_keys_are_refused() -> None:
    for key in ("schema", "$id", "$Schema"):
        with pytest.raises(passgate.PolicyError):
            passgate.Engine({key: "x", "version": 1})


def test_schema_key_must_be_a_string() -> None:
    with pytest.raises(passgate.PolicyError) as e:
        passgate.Engine({"$schema": 1, "version": 1})
    assert e.value.path == "/$schema"


@pytest.mark.parametrize(
    ("source", "copy"),
    [
        ("LICENSE", "bindings-python/LICENSE"),
        ("CHANGELOG.md", "bindings-python/python/passgate/CHANGELOG.md"),
        ("schema/policy.schema.json", "bindings-python/python/passgate/policy.schema.json"),
    ],
)
def test_packaged_copies_are_current(source: str, copy: str) -> None:
    # The package ships copies of these repository files; `make copies` refreshes them.
    root = Path(__file__).resolve().parents[2]
    assert (root / copy).read_bytes() == (root / source).read_bytes(), f"{copy} is stale: make copies"


def test_catalog_schema_is_the_cores() -> None:
    core = Path(__file__).resolve().parents[2] / "schema" / "catalog.schema.json"
    assert resources.files("passgate").joinpath("catalog.schema.json").read_bytes() == core.read_bytes()
    schema = passgate.catalog_schema()
    assert schema == json.loads(core.read_text(encoding="utf-8"))
    assert schema["title"] == "passgate catalog document"
    schema["title"] = "changed"
    assert passgate.catalog_schema()["title"] == "passgate catalog document"
