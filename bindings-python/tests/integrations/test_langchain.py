"""passgate.integrations.langchain: a LangGraph agent loop (StateGraph + ToolNode) driven by
LangChain's fake chat model, holds, interrupts and filtering."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command

import passgate
from passgate.integrations.langchain import GuardedTool, allowed_tools, budget_prompt, guard_tool

from .conftest import CALLS, assert_refusals, assert_three_attestations, decisions, remaining_spend


class ScriptedChat(GenericFakeChatModel):
    """LangChain's fake chat model, with tools bound as a no-op and every input recorded."""

    seen: list[list[BaseMessage]] = []

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChat:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def script(calls: list[dict[str, Any]], name: str = "send_payment") -> Iterator[AIMessage | str]:
    steps: list[AIMessage | str] = [
        AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call-{i}"}]) for i, args in enumerate(calls)
    ]
    return iter([*steps, AIMessage(content="done")])


def agent(model: ScriptedChat, tools: list[Any], checkpointer: Any = None) -> Any:
    llm = model.bind_tools(tools)

    def call_model(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("agent", call_model)
    g.add_node("tools", ToolNode(tools))
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", tools_condition)
    g.add_edge("tools", "agent")
    return g.compile(checkpointer=checkpointer)


def test_agent_loop_allow_deny_escalate(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    ran: list[dict[str, Any]] = []

    @tool
    def send_payment(amount: float, to: str) -> str:
        """Send money to someone."""
        ran.append({"amount": amount, "to": to})
        return f"sent {amount} to {to}"

    guarded = guard_tool(
        send_payment, engine, "payments.send", passport=lambda config: config["configurable"]["passport"]
    )
    model = ScriptedChat(messages=script([a for a, _ in CALLS]), seen=[])
    out = agent(model, [guarded]).invoke(
        {"messages": [HumanMessage("pay three people")]}, {"configurable": {"passport": passport.token}}
    )

    assert ran == [{"amount": 30.0, "to": "bob"}]  # the body ran exactly once
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.status for m in results] == ["success", "error", "error"]
    assert results[0].content == "sent 30.0 to bob"
    assert_refusals([str(m.content) for m in results[1:]])
    # The model saw every tool message before its last answer.
    last_input = model.seen[-1]
    assert [m.content for m in last_input if isinstance(m, ToolMessage)] == [m.content for m in results]
    assert_three_attestations(engine)
    assert remaining_spend(engine, passport) == "70"


def test_arguments_are_the_payload_unmodified(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    """A string amount is not coerced before the decision: the spend check reads what the model sent."""
    ran: list[Any] = []

    @tool
    def send_payment(amount: float, to: str) -> str:
        """Send money."""
        ran.append(amount)
        return "sent"

    guarded = guard_tool(send_payment, engine, "payments.send", passport=passport.token)
    msg = guarded.invoke({"type": "tool_call", "name": "send_payment", "args": {"amount": "1e3", "to": "x"}, "id": "c"})
    assert msg.status == "error"
    refusal = json.loads(msg.content)
    assert refusal.get("decision") == "deny" or refusal["error"]["code"] == "PAYLOAD_INVALID"
    assert ran == []


def test_engine_error_is_a_refusal_never_a_run(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    ran: list[Any] = []

    @tool
    def send_payment(amount: float, to: str) -> str:
        """Send money."""
        ran.append(amount)
        return "sent"

    def broken(config: Any) -> str:
        raise RuntimeError("secret detail")

    for source in (broken, "not-a-passport"):
        guarded = guard_tool(send_payment, engine, "payments.send", passport=source)
        msg = guarded.invoke({"type": "tool_call", "name": "send_payment", "args": {"amount": 1, "to": "x"}, "id": "c"})
        assert msg.status == "error"
        refusal = json.loads(msg.content)
        assert refusal.get("error", {}).get("code") == "INTERNAL" or refusal.get("decision") == "deny"
        assert "secret detail" not in msg.content
    # A NaN amount: the engine raises PAYLOAD_INVALID, the guard refuses.
    guarded = guard_tool(send_payment, engine, "payments.send", passport=passport.token)
    msg = guarded.invoke(
        {"type": "tool_call", "name": "send_payment", "args": {"amount": float("nan"), "to": "x"}, "id": "c"}
    )
    assert json.loads(msg.content)["error"]["code"] == "PAYLOAD_INVALID"
    assert ran == []


def test_hold_released_when_tool_raises_and_settled_when_it_returns(
    engine: passgate.Engine, passport: passgate.IssuedPassport
) -> None:
    @tool
    def failing(amount: float, to: str) -> str:
        """Send money (the bank is down)."""
        raise RuntimeError("bank down")

    guarded = guard_tool(failing, engine, "payments.send", passport=passport.token, hold=True)
    with pytest.raises(RuntimeError, match="bank down"):
        guarded.invoke({"amount": 40, "to": "bob"})
    assert remaining_spend(engine, passport) == "100"  # the reservation was given back
    kinds = [r["body"]["kind"] for r in engine.attestations()]
    assert "hold.released" in kinds

    @tool(response_format="content_and_artifact")
    def paying(amount: float, to: str) -> tuple[str, dict[str, Any]]:
        """Send money; the artifact holds the amount actually charged."""
        return "sent", {"charged": 25}

    settled = guard_tool(
        paying, engine, "payments.send", passport=passport.token, hold=True,
        settle=lambda result, args: {"amount": result["charged"], "to": args["to"]},
    )  # fmt: skip
    msg = settled.invoke({"type": "tool_call", "name": "paying", "args": {"amount": 40, "to": "bob"}, "id": "c1"})
    assert msg.content == "sent" and msg.artifact == {"charged": 25}
    assert remaining_spend(engine, passport) == "75"


@pytest.mark.anyio
async def test_async_hold_released_when_tool_raises(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    @tool
    async def failing(amount: float, to: str) -> str:
        """Send money (the bank is down)."""
        raise RuntimeError("bank down")

    guarded = guard_tool(failing, engine, "payments.send", passport=passport.token, hold=True)
    with pytest.raises(RuntimeError, match="bank down"):
        await guarded.ainvoke({"amount": 40, "to": "bob"})
    assert remaining_spend(engine, passport) == "100"


def test_escalation_interrupts_a_langgraph_graph_and_resumes_with_an_approval(
    engine: passgate.Engine, passport: passgate.IssuedPassport
) -> None:
    ran: list[float] = []

    @tool
    def send_payment(amount: float, to: str) -> str:
        """Send money."""
        ran.append(amount)
        return f"sent {amount}"

    guarded = guard_tool(send_payment, engine, "payments.send", passport=passport.token, interrupt=True)
    model = ScriptedChat(messages=script([{"amount": 60, "to": "carol"}]), seen=[])
    graph = agent(model, [guarded], checkpointer=InMemorySaver())
    cfg: Any = {"configurable": {"thread_id": "t1"}}
    out = graph.invoke({"messages": [HumanMessage("pay carol 60")]}, cfg)
    (pending,) = out["__interrupt__"]
    refusal = pending.value
    assert refusal["decision"] == "escalate" and ran == []
    token = engine.approve(refusal["evaluation_id"], "alice")
    out = graph.invoke(Command(resume=token), cfg)
    assert ran == [60.0]
    assert [m.content for m in out["messages"] if isinstance(m, ToolMessage)] == ["sent 60.0"]
    assert [r["body"]["decision"] for r in decisions(engine)] == ["escalate", "escalate", "allow"]


def test_allowed_tools_filters_and_the_wrapper_still_refuses(
    engine: passgate.Engine, passport: passgate.IssuedPassport
) -> None:
    @tool
    def send_payment(amount: float, to: str) -> str:
        """Send money."""
        return "sent"

    ran: list[bool] = []

    @tool
    def wipe() -> str:
        """Wipe everything."""
        ran.append(True)
        return "wiped"

    pay = guard_tool(send_payment, engine, "payments.send", passport=passport.token)
    admin = guard_tool(wipe, engine, "admin.wipe", passport=passport.token)
    assert isinstance(pay, GuardedTool)
    assert allowed_tools(engine, passport.token, [pay, admin, send_payment]) == [pay]
    assert budget_prompt(engine, passport.token, [pay, admin]) == (
        "Remaining passgate budgets (a call that would exceed one is refused): payments.send: daily-spend 100."
    )
    # The model names the hidden tool anyway: refused, not run.
    msg = admin.invoke({"type": "tool_call", "name": "wipe", "args": {}, "id": "c"})
    assert msg.status == "error" and json.loads(msg.content)["checks"][0]["constraint"] == "permissions"
    assert ran == []
