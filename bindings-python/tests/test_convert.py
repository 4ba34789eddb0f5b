"""Python values into the engine and back: exact numbers, refusals with their path, bounds."""

from __future__ import annotations

import decimal
import enum
from decimal import Decimal
from typing import Any

import pytest

import passgate

POLICY = {
    "version": 1,
    "gates": {
        "pay": {
            "constraints": [
                {"id": "cap", "type": "max_value", "field": "/amount", "max": "0.1"},
                {"id": "daily", "type": "spend_limit", "field": "/amount", "max": "1", "window": "1d", "scope": "gate"},
            ]
        },
        "echo": {},
    },
    "anonymous": {"gates": ["pay", "echo"]},
}


@pytest.fixture
def engine() -> passgate.Engine:
    return passgate.Engine(POLICY)


def amount_check(d: passgate.Decision) -> dict[str, Any]:
    return next(c for c in d.checks if c["constraint"] == "cap")


def test_float_is_its_shortest_decimal(engine: passgate.Engine) -> None:
    # 0.1 as a float is read as exactly 0.1 (its shortest round-trip decimal), so it meets max 0.1.
    d = engine.dry_run("pay", None, {"amount": 0.1})
    assert d.allowed and amount_check(d)["observed"] == "0.1"
    assert engine.dry_run("pay", None, {"amount": 0.30000000000000004}).decision == "deny"
    assert amount_check(engine.dry_run("pay", None, {"amount": 1e-7}))["observed"] == "0.0000001"
    assert amount_check(engine.dry_run("pay", None, {"amount": -0.0}))["observed"] == "0"


def test_decimal_is_exact(engine: passgate.Engine) -> None:
    d = engine.dry_run("pay", None, {"amount": Decimal("0.1000000000000000001")})
    assert d.decision == "deny"
    assert amount_check(d)["observed"] == "0.1000000000000000001"
    assert engine.dry_run("pay", None, {"amount": Decimal("0.100")}).allowed
    assert engine.dry_run("pay", None, {"amount": Decimal("1E-2")}).allowed
    for bad in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")):
        with pytest.raises(passgate.InputError) as info:
            engine.dry_run("pay", None, {"amount": bad})
        assert info.value.code == "PAYLOAD_INVALID" and "/amount" in info.value.message


def test_sums_of_floats_are_exact(engine: passgate.Engine) -> None:
    # Ten payments of 0.1 reach exactly 1 (no binary rounding), and the eleventh is refused.
    for _ in range(10):
        assert engine.enforce("pay", None, {"amount": 0.1}).allowed
    d = engine.enforce("pay", None, {"amount": 0.1})
    assert d.decision == "deny" and d.remaining == {"daily": "0"}


def test_big_ints_are_exact(engine: passgate.Engine) -> None:
    d = engine.dry_run("pay", None, {"amount": 2**80})
    assert amount_check(d)["observed"] == str(2**80)
    d = engine.dry_run("pay", None, {"amount": -(2**64) - 1})
    assert amount_check(d)["observed"] == str(-(2**64) - 1)


def test_bool_is_not_an_int(engine: passgate.Engine) -> None:
    d = engine.dry_run("pay", None, {"amount": True})
    c = amount_check(d)
    assert not c["passed"] and "boolean" in c["message"]


def test_int_subclasses_use_their_value(engine: passgate.Engine) -> None:
    class Level(enum.IntEnum):
        LOW = 0

    class Huge(int):
        def __str__(self) -> str:
            return "not a number"

    assert amount_check(engine.dry_run("pay", None, {"amount": Level.LOW}))["observed"] == "0"
    assert amount_check(engine.dry_run("pay", None, {"amount": Huge(2**70)}))["observed"] == str(2**70)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"amount": float("nan")}, "/amount"),
        ({"amount": float("inf")}, "/amount"),
        ({"a": [1, {"b": -float("inf")}]}, "/a/1/b"),
        ({"a": {1: "x"}}, "/a"),
        ({"a": {("t",): "x"}}, "/a"),
        ({"a/b": {"c~d": object()}}, "/a~1b/c~0d"),
        ({"a": {1, 2}}, "/a"),
        ({"a": b"bytes"}, "/a"),
        ({"a": 1j}, "/a"),
    ],
)
def test_refusals_carry_the_path(engine: passgate.Engine, payload: dict[str, Any], path: str) -> None:
    with pytest.raises(passgate.InputError) as info:
        engine.dry_run("echo", None, payload)
    assert info.value.code == "PAYLOAD_INVALID"
    assert f"at {path}:" in info.value.message, info.value.message


def test_non_dict_payload(engine: passgate.Engine) -> None:
    with pytest.raises(passgate.InputError) as info:
        engine.dry_run("echo", None, "amount=1")  # type: ignore[arg-type]
    assert info.value.code == "PAYLOAD_INVALID"


def test_depth_is_bounded_at_64(engine: passgate.Engine) -> None:
    def nest(n: int) -> Any:
        v: Any = 1
        for _ in range(n):
            v = [v]
        return v

    assert engine.dry_run("echo", None, {"a": nest(62)}).allowed  # 63 levels with the payload
    with pytest.raises(passgate.InputError) as info:
        engine.dry_run("echo", None, {"a": nest(64)})
    assert info.value.code == "LIMIT_EXCEEDED"


def test_cycles_end_in_limit_exceeded(engine: passgate.Engine) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(passgate.InputError) as info:
        engine.dry_run("echo", None, {"loop": loop})
    assert info.value.code == "LIMIT_EXCEEDED"
    d: dict[str, Any] = {}
    d["self"] = d
    with pytest.raises(passgate.InputError):
        engine.dry_run("echo", None, d)


def test_shared_structures_are_bounded_by_size(engine: passgate.Engine) -> None:
    # 10^3 references to one list of 10^3 lists of 10^3 items: a billion items if expanded.
    row = [0] * 1000
    table = [row] * 1000
    with pytest.raises(passgate.InputError) as info:
        engine.dry_run("echo", None, {"t": [table] * 1000})
    assert info.value.code == "LIMIT_EXCEEDED"


def test_tuples_dict_subclasses_and_other_mappings(engine: passgate.Engine) -> None:
    import collections
    import types

    class Frozen(collections.abc.Mapping[str, Any]):
        def __init__(self, **kw: Any) -> None:
            self._d = kw

        def __getitem__(self, k: str) -> Any:
            return self._d[k]

        def __iter__(self) -> Any:
            return iter(self._d)

        def __len__(self) -> int:
            return len(self._d)

    ordered = collections.OrderedDict(amount=(0.05,))
    d = engine.dry_run("pay", None, {"amount": 0.05, "t": (1, "x", None), "o": ordered})
    assert d.allowed
    assert engine.dry_run("pay", None, types.MappingProxyType({"amount": 0.05})).allowed
    d = engine.dry_run("pay", None, Frozen(amount=Decimal("0.2"), nested=Frozen(x=[1])))
    assert d.decision == "deny" and amount_check(d)["observed"] == "0.2"
    with pytest.raises(passgate.InputError) as info:
        engine.dry_run("pay", None, Frozen(amount=Frozen(**{"k": float("nan")})))
    assert "at /amount/k:" in info.value.message


def test_a_python_error_while_reading_propagates(engine: passgate.Engine) -> None:
    class Broken(Decimal):
        def is_finite(self) -> bool:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        engine.dry_run("pay", None, {"amount": Broken("1")})


def test_numbers_coming_back() -> None:
    # Numbers inside claims come back as int when integral, float when that float is exactly the
    # number, else Decimal. (Attestation bodies hold decimal strings instead, by design.)
    issuer = passgate.Issuer.generate()
    engine = passgate.Engine({"version": 1, "gates": {}}, trusted_issuers=[issuer.did])
    values = [7, 2**80, 0.1, Decimal("0.1000000000000000001"), -3, Decimal("1E+3"), 2.5]
    caveats = [{"type": "max_value", "field": "/amount", "max": v} for v in values]
    p = issuer.issue_passport("a", permissions=["x:y"], caveats=caveats)
    got = [c["max"] for c in engine.verify_passport(p)["caveats"]]
    assert got == [7, 2**80, 0.1, Decimal("0.1000000000000000001"), -3, 1000, 2.5]
    assert [type(v) for v in got] == [int, int, float, Decimal, int, int, float]


def test_event_data_numbers_are_recorded_as_exact_strings(engine: passgate.Engine) -> None:
    data = {"i": 7, "f": 0.1, "exact": Decimal("0.1000000000000000001"), "big": 2**80}
    record = engine.record_attestation("note", data)
    assert record["body"]["data"] == {"i": "7", "f": "0.1", "exact": "0.1000000000000000001", "big": str(2**80)}
    assert passgate.verify_attestation(record, engine.signer_did) is True


def test_strings_unicode_round_trip(engine: passgate.Engine) -> None:
    data = {"emoji": "\U0001f4b8", "nul": "a\u0000b", "\u043a\u043b\u044e\u0447": "\u00e9"}
    assert engine.record_attestation("note", data)["body"]["data"] == data


def test_decimal_context_is_untouched(engine: passgate.Engine) -> None:
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        d = engine.dry_run("pay", None, {"amount": Decimal("0.0999999999")})
        assert amount_check(d)["observed"] == "0.0999999999"
