"""passgate for the OpenAI Agents SDK (``pip install passgate[openai-agents]``).

``guard_function_tool(tool, engine, gate, *, passport=..., ...)`` returns a ``FunctionTool``
with ``tool``'s name, description and JSON schema that enforces ``gate`` before the function runs
(see ``passgate.integrations`` for the arguments and the refusal's JSON)::

    from agents import Agent, Runner, function_tool
    from passgate.integrations.openai_agents import guard_function_tool

    @function_tool
    def send_payment(amount: float, to: str) -> str:
        "Send money."
        return f"sent {amount} to {to}"

    agent = Agent(name="payer", tools=[
        guard_function_tool(send_payment, engine, "payments.send",
                            passport=lambda ctx: ctx.context["passport"])])
    await Runner.run(agent, "pay bob 30", context={"passport": token})

* ``tool`` is a ``FunctionTool`` made by ``@function_tool`` (its function is what runs) or a
  plain function (made into one, with ``function_tool``'s defaults).
* ``passport`` may be a function of the call's ``ToolContext`` (``ctx.context`` is the context
  object given to ``Runner.run``).
* The payload is the model's arguments JSON, parsed exactly (duplicate keys refused, numbers as
  ``Decimal``); the arguments are validated against the function's signature *before* the
  decision (invalid ones are an ``INVALID_ARGUMENT`` refusal, nothing decided).
* A deny, an escalation or an error is the tool's output: the refusal JSON the model reads.
* When the function raises, the hold (``hold=True``) is released and the model reads
  ``failure_error_function(ctx, error)`` (default: the SDK's generic tool error text); with
  ``failure_error_function=None`` the exception propagates and fails the run.

``input_guardrail(engine, gate, *, passport=..., payload=...)`` is the same check as the SDK's
own tool input guardrail (``@function_tool(tool_input_guardrails=[...])``): on allow the tool
runs, otherwise the SDK answers the model with the refusal JSON instead of calling it. A
guardrail cannot see the tool's result or exception, so it takes no hold: use
``guard_function_tool`` for holds.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from agents import FunctionTool, RunContextWrapper, function_tool
from agents.function_schema import function_schema
from agents.tool import default_tool_error_function
from agents.tool_context import ToolContext
from agents.tool_guardrails import ToolGuardrailFunctionOutput, ToolInputGuardrail, ToolInputGuardrailData
from pydantic import ValidationError

from passgate._native import Engine
from passgate.integrations import (
    GATE_ATTRIBUTE,
    Guard,
    PassportSource,
    PayloadFn,
    Refused,
    SettleFn,
    allowed_tools,
    budget_prompt,
)
from passgate.integrations._json import loads_arguments

__all__ = ["guard_function_tool", "input_guardrail", "allowed_tools", "budget_prompt"]

_UNSET: Any = object()


def guard_function_tool(
    tool: FunctionTool | Callable[..., Any],
    engine: Engine,
    gate: str,
    *,
    passport: PassportSource = None,
    payload: PayloadFn | None = None,
    hold: bool = False,
    settle: SettleFn | None = None,
    failure_error_function: Callable[[RunContextWrapper[Any], Exception], str] | None = _UNSET,
) -> FunctionTool:
    """``tool`` behind ``gate``; see the module docstring."""
    if isinstance(tool, FunctionTool):
        try:
            fn = tool.__wrapped__
        except AttributeError as e:
            raise TypeError(
                "passgate: guard_function_tool needs a FunctionTool made by @function_tool (or the function itself)"
            ) from e
        base = tool
    else:
        fn = tool
        base = function_tool(tool)
    if not callable(fn):
        raise TypeError(f"passgate: {fn!r} is not callable")
    schema = function_schema(fn, strict_json_schema=base.strict_json_schema)
    is_async = inspect.iscoroutinefunction(fn)
    on_error = default_tool_error_function if failure_error_function is _UNSET else failure_error_function
    guard = Guard(engine, gate, passport=passport, payload=payload, hold=hold, settle=settle)

    async def on_invoke_tool(ctx: ToolContext[Any], input_json: str) -> Any:
        try:
            arguments = loads_arguments(input_json)
            try:
                parsed = schema.params_pydantic_model.model_validate_json(input_json or "{}")
            except ValidationError as e:
                errors = e.errors(include_url=False)
                loc = errors[0]["loc"] if errors else ()
                msg = errors[0]["msg"] if errors else "not valid"
                path = "/" + "/".join(str(p) for p in loc)
                raise Refused({"error": {"code": "INVALID_ARGUMENT", "message": f"invalid argument at {path}: {msg}"}}) from e
            args, kwargs = schema.to_call_args(parsed)
            call_args = [ctx, *args] if schema.takes_context else list(args)
            decision = await guard.adecide(arguments, ctx)
        except Refused as r:
            return r.text

        async def body() -> Any:
            if is_async:
                return await fn(*call_args, **kwargs)
            return await asyncio.to_thread(fn, *call_args, **kwargs)

        try:
            return await guard.afinish(decision, arguments, body)
        except Exception as e:
            if on_error is None:
                raise
            return on_error(ctx, e)

    guarded = FunctionTool(
        name=base.name,
        description=base.description,
        params_json_schema=base.params_json_schema,
        on_invoke_tool=on_invoke_tool,
        strict_json_schema=base.strict_json_schema,
        is_enabled=base.is_enabled,
    )
    setattr(guarded, GATE_ATTRIBUTE, gate)
    return guarded


def input_guardrail(
    engine: Engine,
    gate: str,
    *,
    passport: PassportSource = None,
    payload: PayloadFn | None = None,
) -> ToolInputGuardrail[Any]:
    """A tool input guardrail enforcing ``gate`` (no holds); see the module docstring."""
    guard = Guard(engine, gate, passport=passport, payload=payload)

    async def passgate_gate(data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        try:
            arguments = loads_arguments(data.context.tool_arguments)
            decision = await guard.adecide(arguments, data.context)
        except Refused as r:
            return ToolGuardrailFunctionOutput.reject_content(r.text, output_info=r.refusal)
        return ToolGuardrailFunctionOutput.allow(output_info={"evaluation_id": decision.evaluation_id})

    return ToolInputGuardrail(guardrail_function=passgate_gate, name=f"passgate:{gate}")
