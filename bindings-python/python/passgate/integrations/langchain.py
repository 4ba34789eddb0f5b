"""passgate for LangChain and LangGraph tools (``pip install passgate[langchain]``).

``guard_tool(tool, engine, gate, *, passport=..., ...)`` returns a LangChain tool with ``tool``'s
name, description and argument schema that enforces ``gate`` on every call before ``tool`` runs
(see ``passgate.integrations`` for the arguments and the refusal's JSON)::

    from langchain_core.tools import tool
    from passgate.integrations.langchain import guard_tool

    @tool
    def send_payment(amount: float, to: str) -> str:
        "Send money."
        return f"sent {amount} to {to}"

    guarded = guard_tool(send_payment, engine, "payments.send",
                         passport=lambda config: config["configurable"]["passport"])
    agent = create_agent(model, [guarded])          # or LangGraph's ToolNode / create_react_agent

* The payload is the tool call's ``args`` exactly as the model produced them (minus arguments
  LangGraph injects: state, store, runtime), before the tool's schema validates or coerces them.
* ``passport`` may be a function of the call's ``RunnableConfig`` (``config["configurable"]`` is
  where a LangGraph host puts per-run values).
* A deny, an escalation or an error is a ``ToolMessage`` with ``status="error"`` whose content is
  the refusal JSON: the model reads the failed checks and can adapt. The tool does not run.
* ``interrupt=True`` (LangGraph): an escalation calls ``langgraph.types.interrupt(refusal)`` — the
  graph pauses with the refusal (its ``approval_request``) as the interrupt's value. Resume it with
  ``Command(resume=TOKEN)``, ``TOKEN`` from ``engine.approve(evaluation_id, approver)``: the call
  is enforced again with the approval and runs if allowed (a resume with anything but a
  non-empty string is a refusal). The graph re-runs the tool node on resume, so the escalation is
  decided (and attested) once more before the approved decision.
* ``hold=True``: ``settle(result, arguments)`` gets the tool's output (for a tool call, the
  ``ToolMessage``'s ``artifact`` when it has one, else its ``content``); an exception from the tool
  releases the hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, Union

from langchain_core.messages import ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import ConfigDict

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

__all__ = ["guard_tool", "GuardedTool", "PassgateRefusal", "allowed_tools", "budget_prompt"]


class PassgateRefusal(ToolException):
    """The exception a guarded tool raises for a refused call; LangChain turns it into the tool
    message (``status="error"``, content: the refusal JSON). ``refused`` holds the details."""

    def __init__(self, refused: Refused) -> None:
        super().__init__(refused.text)
        self.refused = refused


def _on_error(e: ToolException) -> str:
    if isinstance(e, PassgateRefusal):
        return e.refused.text
    raise e  # the wrapped tool's own unhandled ToolException: as if unwrapped


def _value(result: Any) -> Any:
    if isinstance(result, ToolMessage):
        return result.artifact if result.artifact is not None else result.content
    return result


class GuardedTool(BaseTool):
    """A LangChain tool behind a passgate gate (made by ``guard_tool``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseTool
    """The tool that runs when the call is allowed."""
    guard: Guard
    """The passgate guard (engine, gate, passport source, hold)."""
    interrupt: bool = False
    """Escalations pause a LangGraph graph (``langgraph.types.interrupt``) instead of refusing."""

    @property
    def passgate_gate(self) -> str:
        """The gate this tool is behind (read by ``allowed_tools``)."""
        return self.guard.gate

    def _to_args_and_kwargs(
        self, tool_input: Union[str, dict[str, Any]], tool_call_id: Optional[str]
    ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        # The model's arguments as they came, unvalidated: the payload, and the inner tool's input.
        return (), {"passgate_input": tool_input, "passgate_call_id": tool_call_id}

    def _arguments(self, tool_input: Union[str, dict[str, Any]]) -> dict[str, Any]:
        if isinstance(tool_input, str):
            return {"input": tool_input}
        injected = self.inner._injected_args_keys
        return {k: v for k, v in tool_input.items() if k not in injected}

    def _inner_input(self, tool_input: Union[str, dict[str, Any]], call_id: Optional[str]) -> Any:
        if call_id is None or isinstance(tool_input, str):
            return tool_input
        return {"type": "tool_call", "name": self.inner.name, "args": tool_input, "id": call_id}

    def _approval(self, refused: Refused) -> str:
        from langgraph.types import interrupt

        token = interrupt(refused.refusal)
        if not isinstance(token, str) or not token:
            raise PassgateRefusal(
                Refused({"error": {"code": "INVALID_ARGUMENT", "message": "resume value must be an approval token (a non-empty string)"}})
            ) from refused
        return token

    def _run(
        self,
        passgate_input: Union[str, dict[str, Any]],
        passgate_call_id: Optional[str],
        config: RunnableConfig,
    ) -> Any:
        args = self._arguments(passgate_input)
        try:
            try:
                decision = self.guard.decide(args, config)
            except Refused as r:
                if not (self.interrupt and r.escalated):
                    raise
                decision = self.guard.decide(args, config, approval=self._approval(r))
        except Refused as r:
            raise PassgateRefusal(r) from r
        tool_input = self._inner_input(passgate_input, passgate_call_id)
        return self.guard.finish(decision, args, lambda: self.inner.invoke(tool_input, config))

    async def _arun(
        self,
        passgate_input: Union[str, dict[str, Any]],
        passgate_call_id: Optional[str],
        config: RunnableConfig,
    ) -> Any:
        args = self._arguments(passgate_input)
        try:
            try:
                decision = await self.guard.adecide(args, config)
            except Refused as r:
                if not (self.interrupt and r.escalated):
                    raise
                decision = await self.guard.adecide(args, config, approval=self._approval(r))
        except Refused as r:
            raise PassgateRefusal(r) from r
        tool_input = self._inner_input(passgate_input, passgate_call_id)

        async def body() -> Any:
            return await self.inner.ainvoke(tool_input, config)

        return await self.guard.afinish(decision, args, body)


def guard_tool(
    tool: BaseTool | Callable[..., Any],
    engine: Engine,
    gate: str,
    *,
    passport: PassportSource = None,
    payload: PayloadFn | None = None,
    hold: bool = False,
    settle: SettleFn | None = None,
    interrupt: bool = False,
) -> GuardedTool:
    """``tool`` (a ``BaseTool``, ``@tool`` function, or a plain typed function) behind ``gate``;
    see the module docstring."""
    inner = tool if isinstance(tool, BaseTool) else StructuredTool.from_function(tool)
    user_settle = settle
    wrapped_settle: SettleFn | None = None
    if user_settle is not None:

        def wrapped_settle(result: Any, arguments: dict[str, Any]) -> Any:
            return user_settle(_value(result), arguments)

    guard = Guard(engine, gate, passport=passport, payload=payload, hold=hold, settle=wrapped_settle)
    return GuardedTool(
        name=inner.name,
        description=inner.description,
        args_schema=inner.args_schema,
        return_direct=inner.return_direct,
        handle_tool_error=_on_error,
        inner=inner,
        guard=guard,
        interrupt=interrupt,
        metadata={**(inner.metadata or {}), GATE_ATTRIBUTE: gate},
    )
