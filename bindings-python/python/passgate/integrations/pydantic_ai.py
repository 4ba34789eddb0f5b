"""passgate for Pydantic AI (``pip install passgate[pydantic-ai]``).

``PassgateToolset(toolset, engine, gates, *, passport=..., ...)`` wraps any toolset (a
``FunctionToolset``, an MCP server, ...): every call of a tool named in ``gates`` is enforced at
its gate before it runs (see ``passgate.integrations`` for the arguments and the refusal's JSON),
and — ``prepare``-style — the model is offered only the tools ``allowed_tools`` keeps::

    from pydantic_ai import Agent, FunctionToolset
    from passgate.integrations.pydantic_ai import PassgateToolset

    payments = FunctionToolset([send_payment])
    agent = Agent(model, deps_type=str, toolsets=[
        PassgateToolset(payments, engine, {"send_payment": "payments.send"},
                        passport=lambda ctx: ctx.deps)])
    agent.run_sync("pay bob 30", deps=token)

* ``gates``: tool name → gate, or a function of the tool name returning the gate (None: no gate).
  A tool with no gate is never offered and a call of it is refused (``GATE_UNKNOWN``): fail closed.
* ``passport`` may be a function of the ``RunContext`` (``ctx.deps`` is the run's dependencies).
* The payload is the model's arguments as the model sent them (duplicate keys refused, numbers
  exact), not the values after Pydantic's validation (which may coerce ``"5"`` to ``5``).
* ``filter=True`` (the default): each step offers only the tools whose gate the passport may call
  now (``allowed_gates`` and a dry run, as ``allowed_tools``); a tool the model names anyway is
  still enforced and refused.
* A deny, an escalation or an error is the tool's return value: the refusal JSON the model reads.
  A tool that raises releases its hold (``hold=True``) and the exception goes on as Pydantic AI
  handles it (``ModelRetry`` included).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic_ai import RunContext
from pydantic_ai.toolsets import AbstractToolset, WrapperToolset
from pydantic_ai.toolsets.abstract import SchemaValidatorProt, ToolsetTool

from passgate._native import Engine
from passgate.integrations import (
    Guard,
    PassportSource,
    PayloadFn,
    Refused,
    SettleFn,
    _callable_now,
    _probe,
    _resolve,
    allowed_tools,
    budget_prompt,
)
from passgate.integrations._json import loads_arguments

__all__ = ["PassgateToolset", "allowed_tools", "budget_prompt"]


class _Arguments(dict[str, Any]):
    """Validated arguments that remember the model's own (``raw``, or the ``Refused`` of them)."""

    raw: dict[str, Any] | Refused | None = None


@dataclass
class _RawKeeping:
    """An arguments validator that keeps, next to the validated values, what the model sent."""

    inner: Any

    def validate_json(
        self,
        input: str | bytes | bytearray,
        *,
        allow_partial: bool | Literal["off", "on", "trailing-strings"] = False,
        **kwargs: Any,
    ) -> Any:
        value = self.inner.validate_json(input, allow_partial=allow_partial, **kwargs)
        if not isinstance(value, dict) or allow_partial not in (False, "off"):
            return value
        out = _Arguments(value)
        try:
            out.raw = loads_arguments(input)
        except Refused as r:
            out.raw = r
        return out

    def validate_python(
        self, input: Any, *, allow_partial: bool | Literal["off", "on", "trailing-strings"] = False, **kwargs: Any
    ) -> Any:
        value = self.inner.validate_python(input, allow_partial=allow_partial, **kwargs)
        if not isinstance(value, dict) or not isinstance(input, dict) or allow_partial not in (False, "off"):
            return value
        out = _Arguments(value)
        try:  # the dict the model's client parsed: as plain JSON data, read exactly
            out.raw = loads_arguments(json.dumps(input))
        except (Refused, TypeError, ValueError):
            out.raw = None
        return out


@dataclass
class PassgateToolset(WrapperToolset[Any]):
    """A toolset whose tools are behind passgate gates; see the module docstring."""

    engine: Engine = field(kw_only=True)
    gates: Mapping[str, str] | Callable[[str], str | None] = field(kw_only=True)
    passport: PassportSource = field(default=None, kw_only=True)
    payload: PayloadFn | None = field(default=None, kw_only=True)
    hold: bool = field(default=False, kw_only=True)
    settle: SettleFn | None = field(default=None, kw_only=True)
    filter: bool = field(default=True, kw_only=True)

    def __init__(
        self,
        wrapped: AbstractToolset[Any],
        engine: Engine,
        gates: Mapping[str, str] | Callable[[str], str | None],
        *,
        passport: PassportSource = None,
        payload: PayloadFn | None = None,
        hold: bool = False,
        settle: SettleFn | None = None,
        filter: bool = True,
    ) -> None:
        if settle is not None and not hold:
            raise TypeError("passgate.integrations: settle= needs hold=True")
        self.wrapped = wrapped
        self.engine = engine
        self.gates = gates
        self.passport = passport
        self.payload = payload
        self.hold = hold
        self.settle = settle
        self.filter = filter

    def gate(self, name: str) -> str | None:
        """The gate of the tool ``name`` (None: it has none, and is never called)."""
        if callable(self.gates):
            return self.gates(name)
        return self.gates.get(name)

    async def get_tools(self, ctx: RunContext[Any]) -> dict[str, ToolsetTool[Any]]:
        tools = await self.wrapped.get_tools(ctx)
        kept: dict[str, ToolsetTool[Any]] = {}
        allowed: set[str] | None = None
        probes: dict[str, bool] = {}
        if self.filter:
            token = await _resolve(self.passport(ctx) if callable(self.passport) else self.passport)
            allowed = set(self.engine.allowed_gates(token))
        for name, tool in tools.items():
            gate = self.gate(name)
            if gate is None:
                continue
            if allowed is not None:
                if gate not in allowed:
                    continue
                if gate not in probes:
                    probes[gate] = _callable_now(_probe(self.engine, token, gate))
                if not probes[gate]:
                    continue
            validator: SchemaValidatorProt = _RawKeeping(tool.args_validator)
            kept[name] = replace(tool, args_validator=validator)
        return kept

    async def call_tool(self, name: str, tool_args: dict[str, Any], ctx: RunContext[Any], tool: ToolsetTool[Any]) -> Any:
        gate = self.gate(name)
        if gate is None:
            return Refused({"error": {"code": "GATE_UNKNOWN", "message": f"tool {name!r} has no passgate gate"}}).text
        raw = getattr(tool_args, "raw", None)
        if isinstance(raw, Refused):
            return raw.text
        arguments = raw if isinstance(raw, dict) else dict(tool_args)
        guard = Guard(self.engine, gate, passport=self.passport, payload=self.payload, hold=self.hold, settle=self.settle)
        try:
            decision = await guard.adecide(arguments, ctx)
        except Refused as r:
            return r.text

        async def body() -> Any:
            return await self.wrapped.call_tool(name, dict(tool_args), ctx, tool)

        return await guard.afinish(decision, arguments, body)
