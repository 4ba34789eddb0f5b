"""passgate + Pydantic AI: an agent whose toolset is behind gates. Offline: a FunctionModel plays
the LLM, scripted to pay 30 (allowed), 90 (denied: daily cap of 100) and 60 (escalated: above 50
needs a human); the wipe tool is never offered (the passport lacks admin:wipe). Run:
`.venv/bin/python examples/python/pydantic_ai_agent.py` (after `make demo`)."""

from pydantic_ai import Agent
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import FunctionToolset

import passgate
from passgate.integrations.pydantic_ai import PassgateToolset

issuer = passgate.Issuer.generate()
passport = issuer.issue_passport(agent_id="shopper", permissions=["payments:send"])
engine = passgate.Engine(
    {"version": 1, "gates": {"payments.send": {"require": ["payments:send"], "constraints": [
        {"id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"},
        {"id": "big-payment", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 50}},
    ]}, "admin.wipe": {"require": ["admin:wipe"]}}},
    trusted_issuers=[issuer.did],
)


def send_payment(amount: float, to: str) -> str:
    """Send money to someone."""
    return f"sent {amount} to {to}"


def wipe_database() -> str:
    """Delete everything."""
    return "wiped"


calls = [{"amount": 30, "to": "bob"}, {"amount": 90, "to": "eve"}, {"amount": 60, "to": "carol"}]


def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    done = sum(isinstance(p, ToolReturnPart) for m in messages for p in getattr(m, "parts", []))
    if done == 0:
        print("offered:", [t.name for t in info.function_tools])
    if done < len(calls):
        return ModelResponse(parts=[ToolCallPart("send_payment", calls[done], tool_call_id=f"c{done}")])
    return ModelResponse(parts=[TextPart("done")])


# The passport comes from the run's deps (agent.run_sync(..., deps=token)).
toolset = PassgateToolset(
    FunctionToolset([send_payment, wipe_database]), engine,
    {"send_payment": "payments.send", "wipe_database": "admin.wipe"},
    passport=lambda ctx: ctx.deps,
)  # fmt: skip
agent = Agent(FunctionModel(scripted), deps_type=str, toolsets=[toolset])
result = agent.run_sync("pay my friends", deps=passport.token)
for m in result.all_messages():
    for p in getattr(m, "parts", []):
        if isinstance(p, ToolReturnPart):
            print("tool:", p.content)
records = engine.attestations()
print(f"{len(records)} signed attestations; chain verifies:", engine.verify_chain(records)["valid"])
