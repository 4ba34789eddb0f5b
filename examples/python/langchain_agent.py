"""passgate + LangChain / LangGraph: a tool-calling agent whose payments tool is behind a gate.
Offline: LangChain's fake chat model plays the LLM, scripted to pay 30 (allowed), 90 (denied:
daily cap of 100) and 60 (escalated: above 50 needs a human). Run:
`.venv/bin/python examples/python/langchain_agent.py` (after `make demo`)."""

from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

import passgate
from passgate.integrations.langchain import allowed_tools, budget_prompt, guard_tool

issuer = passgate.Issuer.generate()
passport = issuer.issue_passport(agent_id="shopper", permissions=["payments:send"])
engine = passgate.Engine(
    {"version": 1, "gates": {"payments.send": {"require": ["payments:send"], "constraints": [
        {"id": "daily-spend", "type": "spend_limit", "field": "/amount", "max": 100, "window": "1d"},
        {"id": "big-payment", "type": "approval", "when": {"field": "/amount", "op": "gt", "value": 50}},
    ]}, "admin.wipe": {"require": ["admin:wipe"]}}},
    trusted_issuers=[issuer.did],
)


@tool
def send_payment(amount: float, to: str) -> str:
    """Send money to someone."""
    return f"sent {amount} to {to}"


@tool
def wipe_database() -> str:
    """Delete everything."""
    return "wiped"


# The passport comes from the run's config (config["configurable"]), one per request.
tools = [
    guard_tool(t, engine, gate, passport=lambda config: config["configurable"]["passport"])
    for t, gate in ((send_payment, "payments.send"), (wipe_database, "admin.wipe"))
]
# Planning: offer the model only what this passport may call, and tell it its budget.
offered = allowed_tools(engine, passport, tools)
print("offered:", [t.name for t in offered])
print("system prompt:", budget_prompt(engine, passport, offered))


class ScriptedModel(GenericFakeChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedModel":
        return self


calls = [{"amount": 30, "to": "bob"}, {"amount": 90, "to": "eve"}, {"amount": 60, "to": "carol"}]
model = ScriptedModel(messages=iter(
    [AIMessage(content="", tool_calls=[{"name": "send_payment", "args": a, "id": f"c{i}"}]) for i, a in enumerate(calls)]
    + [AIMessage(content="done")]
))


def agent(state: MessagesState) -> dict[str, Any]:
    return {"messages": [model.invoke(state["messages"])]}


graph = StateGraph(MessagesState)
graph.add_node("agent", agent)
graph.add_node("tools", ToolNode(offered))
graph.add_edge(START, "agent")
graph.add_conditional_edges("agent", tools_condition)
graph.add_edge("tools", "agent")
out = graph.compile().invoke({"messages": [HumanMessage("pay my friends")]}, {"configurable": {"passport": passport.token}})

for m in out["messages"]:
    if isinstance(m, ToolMessage):
        print(f"tool ({m.status}): {m.content}")
records = engine.attestations()
print(f"{len(records)} signed attestations; chain verifies:", engine.verify_chain(records)["valid"])
