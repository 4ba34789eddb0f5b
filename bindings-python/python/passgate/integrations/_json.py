"""The model's tool arguments (JSON text) as data, read the way passgate reads JSON: a duplicate
key is refused (one parser would keep the first, another the last: a constraint could check a
value the tool never gets), numbers are exact (``Decimal``, never a rounded float)."""

from __future__ import annotations

import decimal
import json
from typing import Any

from passgate.integrations import Refused


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r} in the tool arguments")
        out[k] = v
    return out


def loads_arguments(text: str | bytes | bytearray) -> dict[str, Any]:
    """The arguments object of a tool call; ``Refused`` (``INVALID_ARGUMENT``) for anything else."""
    try:
        value = json.loads(text or "{}", object_pairs_hook=_pairs, parse_float=decimal.Decimal)
    except (ValueError, RecursionError) as e:
        raise Refused({"error": {"code": "INVALID_ARGUMENT", "message": f"the tool arguments are not valid JSON: {e}"}}) from e
    if not isinstance(value, dict):
        raise Refused({"error": {"code": "INVALID_ARGUMENT", "message": "the tool arguments must be a JSON object"}})
    return value
