"""passgate.integrations.openai_agents: an Agents SDK run driven by the SDK's ScriptedModel."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent, FunctionTool, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

import passgate
from passgate.integrations.openai_agents import allowed_tools, guard_function_tool, input_guardrail

from .conftest import CALLS, assert_refusals, assert_three_attestations, remaining_spend

# Offline: the SDK's own tracing would export to OpenAI.
set_tracing_disabled(True)


def outputs(result: Any) -> list[str]:
    return [str(item.output) for item in result.new_items if item.type == "tool_call_output_item"]


@pytest.mark.anyio
async def test_agent_run_allow_deny_escalate(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    ran: list[tuple[float, str]] = []

    @function_tool
    def send_payment(amount: float, to: str) -> str:
        """Send money to someone."""
        ran.append((amount, to))
        return f"sent {amount} to {to}"

    guarded = guard_function_tool(
        send_payment, engine, "payments.send", passport=lambda ctx: ctx.context["passport"]
    )
    steps: list[Any] = [[function_call("send_payment", args, call_id=f"c{i}")] for i, (args, _) in enumerate(CALLS)]
    model = ScriptedModel([*steps, [assistant_message("done")]])
    agent = Agent(name="payer", model=model, tools=[guarded])
    result = await Runner.run(agent, "pay three people", context={"passport": passport.token})

    assert result.final_output == "done"
    assert ran == [(30.0, "bob")]
    seen = outputs(result)
    assert seen[0] == "sent 30.0 to bob"
    assert_refusals(seen[1:])
    # What the model was sent on its last call holds the three tool outputs.
    last = json.dumps(model.calls[-1].input, default=str)
    assert all(json.dumps(s)[1:-1] in last for s in seen)
    assert_three_attestations(engine)


@pytest.mark.anyio
async def test_hold_released_when_tool_raises(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    def failing(amount: float, to: str) -> str:
        """Send money (the bank is down)."""
        raise RuntimeError("bank down")

    guarded = guard_function_tool(failing, engine, "payments.send", passport=passport.token, hold=True)
    model = ScriptedModel([[function_call("failing", {"amount": 40, "to": "bob"}, call_id="c")], [assistant_message("ok")]])
    result = await Runner.run(Agent(name="payer", model=model, tools=[guarded]), "pay")
    assert outputs(result) == ["An error occurred while running the tool. Please try again."]
    assert remaining_spend(engine, passport) == "100"
    assert "hold.released" in [r["body"]["kind"] for r in engine.attestations()]

    async def paying(amount: float, to: str) -> dict[str, Any]:
        """Send money; returns what was charged."""
        return {"charged": 25}

    settled = guard_function_tool(
        paying, engine, "payments.send", passport=passport.token, hold=True,
        settle=lambda result, args: {"amount": result["charged"], "to": args["to"]},
    )  # fmt: skip
    model = ScriptedModel([[function_call("paying", {"amount": 40, "to": "bob"}, call_id="c")], [assistant_message("ok")]])
    await Runner.run(Agent(name="payer", model=model, tools=[settled]), "pay")
    assert remaining_spend(engine, passport) == "75"


@pytest.mark.anyio
async def test_duplicate_keys_and_bad_arguments_are_refused_undecided(
    engine: passgate.Engine, passport: passgate.IssuedPassport
) -> None:
    ran: list[Any] = []

    def send_payment(amount: float, to: str) -> str:
        """Send money."""
        ran.append(amount)
        return "sent"

    guarded = guard_function_tool(send_payment, engine, "payments.send", passport=passport.token)
    model = ScriptedModel(
        [
            [function_call("send_payment", '{"amount": 1, "amount": 500, "to": "x"}', call_id="a")],
            [function_call("send_payment", '{"amount": "lots", "to": "x"}', call_id="b")],
            [assistant_message("ok")],
        ]
    )
    result = await Runner.run(Agent(name="payer", model=model, tools=[guarded]), "pay")
    codes = [json.loads(o)["error"]["code"] for o in outputs(result)]
    assert codes == ["INVALID_ARGUMENT", "INVALID_ARGUMENT"]
    assert ran == [] and engine.attestations() == []


def test_allowed_tools(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    def send_payment(amount: float, to: str) -> str:
        """Send money."""
        return "sent"

    def wipe() -> str:
        """Wipe."""
        return "wiped"

    pay = guard_function_tool(send_payment, engine, "payments.send", passport=passport.token)
    admin = guard_function_tool(wipe, engine, "admin.wipe", passport=passport.token)
    assert isinstance(pay, FunctionTool)
    assert allowed_tools(engine, passport.token, [pay, admin]) == [pay]


@pytest.mark.anyio
async def test_input_guardrail_allow_deny_escalate(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    ran: list[float] = []

    def send_payment(amount: float, to: str) -> str:
        """Send money to someone."""
        ran.append(amount)
        return f"sent {amount} to {to}"

    gate = input_guardrail(engine, "payments.send", passport=lambda ctx: ctx.context["passport"])
    tool = function_tool(send_payment, tool_input_guardrails=[gate])
    steps: list[Any] = [[function_call("send_payment", args, call_id=f"c{i}")] for i, (args, _) in enumerate(CALLS)]
    model = ScriptedModel([*steps, [assistant_message("done")]])
    result = await Runner.run(Agent(name="payer", model=model, tools=[tool]), "pay", context={"passport": passport.token})
    seen = outputs(result)
    assert ran == [30.0] and seen[0] == "sent 30.0 to bob"
    assert_refusals(seen[1:])
    assert_three_attestations(engine)
