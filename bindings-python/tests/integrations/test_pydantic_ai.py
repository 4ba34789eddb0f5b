"""passgate.integrations.pydantic_ai: a Pydantic AI agent driven by a FunctionModel script."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

import passgate
from passgate.integrations.pydantic_ai import PassgateToolset

from .conftest import CALLS, assert_refusals, assert_three_attestations, remaining_spend

GATES = {"send_payment": "payments.send", "wipe": "admin.wipe"}


def scripted(calls: list[dict[str, Any] | str], offered: list[list[str]]) -> FunctionModel:
    """A model calling ``send_payment`` once per entry (a str entry: raw JSON), then answering."""
    step = iter(range(len(calls) + 1))

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        offered.append(sorted(t.name for t in info.function_tools))
        i = next(step)
        if i < len(calls):
            return ModelResponse(parts=[ToolCallPart("send_payment", calls[i], tool_call_id=f"c{i}")])
        return ModelResponse(parts=[TextPart("done")])

    return FunctionModel(respond)


def returns(result: Any) -> list[str]:
    return [
        str(p.content) for m in result.all_messages() for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)
    ]


@pytest.mark.anyio
async def test_agent_run_allow_deny_escalate(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    ran: list[tuple[float, str]] = []
    wiped: list[bool] = []

    def send_payment(amount: float, to: str) -> str:
        """Send money to someone."""
        ran.append((amount, to))
        return f"sent {amount} to {to}"

    def wipe() -> str:
        """Wipe everything."""
        wiped.append(True)
        return "wiped"

    offered: list[list[str]] = []
    toolset = PassgateToolset(
        FunctionToolset([send_payment, wipe]), engine, GATES, passport=lambda ctx: ctx.deps
    )
    agent = Agent(scripted([a for a, _ in CALLS], offered), deps_type=str, toolsets=[toolset])
    result = await agent.run("pay three people", deps=passport.token)

    assert result.output == "done"
    assert ran == [(30.0, "bob")] and wiped == []
    assert offered[0] == ["send_payment"]  # wipe was never offered: the passport lacks admin:wipe
    seen = returns(result)
    assert seen[0] == "sent 30.0 to bob"
    assert_refusals(seen[1:])
    assert_three_attestations(engine)


@pytest.mark.anyio
async def test_hidden_tool_named_anyway_is_refused(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    wiped: list[bool] = []

    def wipe() -> str:
        """Wipe everything."""
        wiped.append(True)
        return "wiped"

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("wipe", {}, tool_call_id="w")])
        return ModelResponse(parts=[TextPart("done")])

    # filter=False offers it; the gate still refuses (and an unmapped tool is refused too).
    toolset = PassgateToolset(FunctionToolset([wipe]), engine, GATES, passport=passport.token, filter=False)
    result = await Agent(FunctionModel(respond), toolsets=[toolset]).run("wipe")
    (text,) = returns(result)
    assert json.loads(text)["checks"][0]["constraint"] == "permissions"
    assert wiped == []


@pytest.mark.anyio
async def test_raw_arguments_duplicate_keys_refused(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    ran: list[float] = []

    def send_payment(amount: float, to: str) -> str:
        """Send money."""
        ran.append(amount)
        return "sent"

    offered: list[list[str]] = []
    toolset = PassgateToolset(FunctionToolset([send_payment]), engine, GATES, passport=passport.token)
    agent = Agent(scripted(['{"amount": 1, "amount": 500, "to": "x"}'], offered), toolsets=[toolset])
    (text,) = returns(await agent.run("pay"))
    assert json.loads(text)["error"]["code"] == "INVALID_ARGUMENT"
    assert ran == []


@pytest.mark.anyio
async def test_hold_released_when_tool_raises(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    def send_payment(amount: float, to: str) -> str:
        """Send money (the bank is down)."""
        raise RuntimeError("bank down")

    offered: list[list[str]] = []
    toolset = PassgateToolset(FunctionToolset([send_payment]), engine, GATES, passport=passport.token, hold=True)
    agent = Agent(scripted([{"amount": 40, "to": "bob"}], offered), toolsets=[toolset])
    try:
        await agent.run("pay")
        raise AssertionError("the tool's exception must propagate")
    except RuntimeError as e:
        assert "bank down" in str(e)
    assert remaining_spend(engine, passport) == "100"
    assert "hold.released" in [r["body"]["kind"] for r in engine.attestations()]

    async def paying(amount: float, to: str) -> dict[str, Any]:
        """Send money; returns what was charged."""
        return {"charged": 25}

    toolset = PassgateToolset(
        FunctionToolset([paying]), engine, {"paying": "payments.send"}, passport=passport.token, hold=True,
        settle=lambda result, args: {"amount": result["charged"], "to": args["to"]},
    )  # fmt: skip

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=[ToolCallPart("paying", {"amount": 40, "to": "bob"}, tool_call_id="p")])
        return ModelResponse(parts=[TextPart("done")])

    await Agent(FunctionModel(respond), toolsets=[toolset]).run("pay")
    assert remaining_spend(engine, passport) == "75"
