"""passgate + the OpenAI Agents SDK: an agent whose payments tool is behind a gate. Offline: the
SDK's ScriptedModel plays the LLM, scripted to pay 30 (allowed), 90 (denied: daily cap of 100)
and 60 (escalated: above 50 needs a human). Run:
`.venv/bin/python examples/python/openai_agents_agent.py` (after `make demo`)."""

import asyncio
from typing import Any

from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call

import passgate
from passgate.integrations.openai_agents import guard_function_tool

set_tracing_disabled(True)  # offline: the SDK's own tracing exports to OpenAI

issuer = passgate.Issuer.generate()
passport = issuer.issue_passport(agent_id="shopper", permissions=["payments:send"])
engine = passgate.Engine(
    {"version": 1, "gates": {"payments.send": {"require": ["payments:send"], "constraints": [
        {"id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"},
        {"id": "big-payment", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 50}},
    ]}}},
    trusted_issuers=[issuer.did],
)


@function_tool
def send_payment(amount: float, to: str) -> str:
    """Send money to someone."""
    return f"sent {amount} to {to}"


# The passport comes from the run context (Runner.run(..., context=...)).
guarded = guard_function_tool(send_payment, engine, "payments.send", passport=lambda ctx: ctx.context["passport"])

calls = [{"amount": 30, "to": "bob"}, {"amount": 90, "to": "eve"}, {"amount": 60, "to": "carol"}]
steps: list[Any] = [[function_call("send_payment", a, call_id=f"c{i}")] for i, a in enumerate(calls)]
model = ScriptedModel([*steps, [assistant_message("done")]])


async def main() -> None:
    agent = Agent(name="shopper", model=model, tools=[guarded])
    result = await Runner.run(agent, "pay my friends", context={"passport": passport.token})
    for item in result.new_items:
        if item.type == "tool_call_output_item":
            print("tool:", item.output)
    records = engine.attestations()
    print(f"{len(records)} signed attestations; chain verifies:", engine.verify_chain(records)["valid"])


asyncio.run(main())
