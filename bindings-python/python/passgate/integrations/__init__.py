"""passgate inside agent frameworks: a guard around each tool, and tool filtering for planning.

One module per framework, each importing its framework only when imported itself (``import
passgate`` and ``import passgate.integrations`` import none):

* ``passgate.integrations.langchain`` — LangChain / LangGraph tools (``pip install passgate[langchain]``);
* ``passgate.integrations.openai_agents`` — OpenAI Agents SDK function tools (``passgate[openai-agents]``);
* ``passgate.integrations.pydantic_ai`` — Pydantic AI toolsets (``passgate[pydantic-ai]``).

Every wrapper takes the same arguments and behaves the same way, call by call:

* ``engine``, ``gate`` — the engine and the gate the tool is behind.
* ``passport`` — **where the passport comes from**, the one parameter every integration shares:
  the token (or ``IssuedPassport``) itself, or a function of the framework's run context returning
  it (sync or async; None: no passport, judged by the policy's ``anonymous`` section). The run
  context is LangChain's ``RunnableConfig``, the Agents SDK's ``ToolContext``, Pydantic AI's
  ``RunContext`` — where a host keeps per-run data (``config["configurable"]``, ``ctx.context``,
  ``ctx.deps``).
* ``payload`` — optional: the tool's arguments → the gate's payload. By default the payload is
  **the model's arguments exactly as the model sent them** (the JSON object of the tool call, before
  the framework's own validation or coercion), so a constraint sees what the tool will be asked.
* ``hold`` / ``settle`` — with ``hold=True`` the decision reserves the request's amounts; when the
  tool returns, the hold is settled with ``settle(result, arguments)`` (the actual amounts,
  payload-shaped; None or no ``settle`` keeps the reserved ones); when the tool raises (or is
  cancelled), the hold is released and the exception re-raised. A settle that fails is logged on
  the ``passgate.integrations`` logger and leaves the hold open (it expires at its reserved
  amounts: the safe direction); it never costs the tool its result.

The tool body runs only on ``allow``. Anything else is a **refusal** the model reads as the tool's
result (its text is JSON, the same as ``passgate.mcp.guard``'s tool errors and the Node
integrations'):

* a deny or an escalation: ``{"decision", "gate", "evaluation_id", "checks": [the FAILED checks],
  "approval_request"?}`` — the failed checks say what to change (``observed``, ``limit``);
* any error before a decision (the engine raised — a malformed payload, the store is down —, or the
  host's ``passport`` / ``payload`` function raised): ``{"error": {"code", "message"}}``. A host
  function's non-passgate exception is ``INTERNAL`` with its type only. An error never runs the tool.

Each decision is made through ``passgate.telemetry`` (a ``passgate.enforce`` span when
OpenTelemetry is configured).

Planning: ``allowed_tools(engine, passport, tools)`` keeps the tools the passport may call now, so
the model is never offered the others (the wrappers still refuse a tool the model names anyway);
``budget_prompt(engine, passport, tools)`` is a line for the system prompt with what is left of
each budget.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, Union

from passgate import _native, telemetry
from passgate._native import Decision, Engine, IssuedPassport, PassgateError

__all__ = [
    "Guard",
    "Refused",
    "PassportSource",
    "PayloadFn",
    "SettleFn",
    "allowed_tools",
    "remaining_budgets",
    "budget_prompt",
    "gate_of",
    "GATE_ATTRIBUTE",
]

_T = TypeVar("_T")
_logger = logging.getLogger("passgate.integrations")

#: A passport, or a function of the framework's run context returning one (may be async).
PassportSource = Union[
    str,
    IssuedPassport,
    None,
    Callable[[Any], "str | IssuedPassport | None | Awaitable[str | IssuedPassport | None]"],
]
#: The tool's arguments → the gate's payload (may be async).
PayloadFn = Callable[[dict[str, Any]], "Mapping[str, Any] | Awaitable[Mapping[str, Any]]"]
#: The tool's result and arguments → the actual amounts, payload-shaped (None: the reserved ones).
SettleFn = Callable[[Any, dict[str, Any]], "Mapping[str, Any] | None | Awaitable[Mapping[str, Any] | None]"]

#: The attribute a wrapped tool carries its gate under (read by ``gate_of``).
GATE_ATTRIBUTE = "passgate_gate"

# Checks that fail whatever the arguments are: a dry run with no arguments that fails one of
# these means the call cannot be admitted now.
_ARGUMENT_FREE = frozenset({"passport", "permissions", "gate", "rate_limit", "quota", "concurrency", "time_window"})


class Refused(Exception):
    """A call the guard did not run: ``text`` is what the model reads (JSON), ``refusal`` its data,
    ``decision`` the decision when there was one (None for an error before a decision)."""

    def __init__(self, refusal: dict[str, Any], decision: Decision | None = None) -> None:
        self.refusal = refusal
        self.decision = decision
        self.text = json.dumps(refusal, separators=(",", ":"), ensure_ascii=False)
        super().__init__(self.text)

    @property
    def escalated(self) -> bool:
        """True when the decision is an escalation (its ``approval_request`` is in ``refusal``)."""
        return self.decision is not None and self.decision.decision == "escalate"


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _error(e: BaseException) -> dict[str, Any]:
    if isinstance(e, PassgateError):
        out: dict[str, Any] = _native._mcp_guard("error", {"code": e.code, "message": e.message, "path": e.path})
    else:
        out = _native._mcp_guard("internal", {"type": type(e).__name__})
    return out


def _outcome(decision: Decision) -> dict[str, Any] | None:
    out: dict[str, Any] | None = _native._mcp_guard(
        "outcome", {"decision": json.loads(decision.to_json()), "idempotency_key": None}
    )
    return out


class Guard:
    """The framework-independent guard the integrations share (see the module docstring).

    ``run(arguments, context, body)`` / ``await arun(...)`` enforce ``gate`` with the arguments as
    the payload and call ``body()`` only on allow, settling or releasing the hold around it; any
    other outcome raises ``Refused``. The framework modules turn ``Refused`` into what their model
    reads.
    """

    def __init__(
        self,
        engine: Engine,
        gate: str,
        *,
        passport: PassportSource = None,
        payload: PayloadFn | None = None,
        hold: bool = False,
        settle: SettleFn | None = None,
    ) -> None:
        if not isinstance(engine, Engine):
            raise TypeError("passgate.integrations: engine must be a passgate.Engine")
        if not isinstance(gate, str) or not gate:
            raise TypeError("passgate.integrations: gate must be a non-empty string")
        if settle is not None and not hold:
            raise TypeError("passgate.integrations: settle= needs hold=True")
        self.engine = engine
        self.gate = gate
        self.passport = passport
        self.payload = payload
        self.hold = hold
        self.settle = settle

    def _passport_now(self, context: Any) -> Any:
        p = self.passport
        return p(context) if callable(p) else p

    def _check(self, decision: Decision) -> Decision:
        refused = _outcome(decision)
        if refused is not None:
            raise Refused(refused, decision)
        return decision

    # ---- sync ----------------------------------------------------------------------------

    def decide(self, arguments: dict[str, Any], context: Any, *, approval: str | None = None) -> Decision:
        """Enforces the call; returns the allow decision or raises ``Refused``."""
        try:
            token = self._passport_now(context)
            if inspect.isawaitable(token):
                raise TypeError("an async passport function needs the framework's async path")
            body = self.payload(arguments) if self.payload is not None else arguments
            if inspect.isawaitable(body):
                raise TypeError("an async payload function needs the framework's async path")
            decision = telemetry.enforce(self.engine, self.gate, token, body, hold=self.hold, approval=approval)
        except Exception as e:
            raise Refused(_error(e)) from e
        return self._check(decision)

    def run(self, arguments: dict[str, Any], context: Any, body: Callable[[], _T], *, approval: str | None = None) -> _T:
        """``body()`` if the call is allowed, with the hold settled or released; else ``Refused``."""
        decision = self.decide(arguments, context, approval=approval)
        return self.finish(decision, arguments, body)

    def finish(self, decision: Decision, arguments: dict[str, Any], body: Callable[[], _T]) -> _T:
        """Runs ``body()`` under an allow ``decision`` (settling or releasing its hold)."""
        hold_id = decision.hold_id if self.hold else None
        try:
            result = body()
        except BaseException:
            if hold_id is not None:
                self._release(decision, hold_id)
            raise
        if hold_id is not None:
            try:
                actual = self.settle(result, arguments) if self.settle is not None else None
                if inspect.isawaitable(actual):
                    raise TypeError("an async settle function needs the framework's async path")
                self.engine.settle(hold_id, actual)
            except Exception:
                self._unsettled(decision, hold_id)
        return result

    def _release(self, decision: Decision, hold_id: str) -> None:
        try:
            self.engine.release(hold_id)
        except Exception:
            _logger.warning(
                "passgate: hold %s of evaluation %s (%s) could not be released after the tool failed",
                hold_id, decision.evaluation_id, self.gate, exc_info=True,
            )  # fmt: skip

    def _unsettled(self, decision: Decision, hold_id: str) -> None:
        _logger.warning(
            "passgate: hold %s of evaluation %s (%s) was not settled; it expires at its reserved amounts",
            hold_id, decision.evaluation_id, self.gate, exc_info=True,
        )  # fmt: skip

    # ---- async ---------------------------------------------------------------------------

    async def adecide(self, arguments: dict[str, Any], context: Any, *, approval: str | None = None) -> Decision:
        """``decide`` off the event loop; host functions may be async."""
        try:
            token = await _resolve(self._passport_now(context))
            body = await _resolve(self.payload(arguments)) if self.payload is not None else arguments
            decision = await telemetry.enforce_async(
                self.engine, self.gate, token, body, hold=self.hold, approval=approval
            )
        except Exception as e:
            raise Refused(_error(e)) from e
        return self._check(decision)

    async def arun(
        self,
        arguments: dict[str, Any],
        context: Any,
        body: Callable[[], Awaitable[_T]],
        *,
        approval: str | None = None,
    ) -> _T:
        """``await body()`` if the call is allowed, with the hold settled or released; else ``Refused``."""
        decision = await self.adecide(arguments, context, approval=approval)
        return await self.afinish(decision, arguments, body)

    async def afinish(self, decision: Decision, arguments: dict[str, Any], body: Callable[[], Awaitable[_T]]) -> _T:
        """Awaits ``body()`` under an allow ``decision`` (settling or releasing its hold)."""
        hold_id = decision.hold_id if self.hold else None
        try:
            result = await body()
        except BaseException:
            if hold_id is not None:
                try:
                    await self.engine.release_async(hold_id)
                except Exception:
                    self._release(decision, hold_id)
            raise
        if hold_id is not None:
            try:
                actual = await _resolve(self.settle(result, arguments)) if self.settle is not None else None
                await self.engine.settle_async(hold_id, actual)
            except Exception:
                self._unsettled(decision, hold_id)
        return result


def gate_of(tool: Any) -> str | None:
    """The gate of a tool wrapped by a passgate integration (its ``passgate_gate``), else None."""
    gate = getattr(tool, GATE_ATTRIBUTE, None)
    return gate if isinstance(gate, str) else None


def _spend_fields(doc: Any) -> list[str]:
    """The ``field`` pointers of the spend caps in a ``get_constraints`` answer (constraints and
    the passport chain's caveats, however nested)."""
    out: list[str] = []
    if isinstance(doc, dict):
        if doc.get("type") == "spend_limit" and isinstance(doc.get("field"), str):
            out.append(doc["field"])
        for v in doc.values():
            out.extend(_spend_fields(v))
    elif isinstance(doc, list):
        for v in doc:
            out.extend(_spend_fields(v))
    return out


def _probe_payload(engine: Engine, passport: str | IssuedPassport | None, gate: str) -> dict[str, Any]:
    """A payload spending nothing: 0 at each spend cap's field (so the dry run reports what is
    left of it), nothing else. ``{}`` when the gate's constraints cannot be read."""
    try:
        fields = _spend_fields(engine.get_constraints(gate, passport))
    except PassgateError:
        return {}
    payload: dict[str, Any] = {}
    for pointer in fields:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
        if not parts or "*" in parts:
            continue
        node = payload
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                break
            node = nxt
        else:
            node.setdefault(parts[-1], 0)
    return payload


def _probe(engine: Engine, passport: str | IssuedPassport | None, gate: str) -> Decision:
    return engine.dry_run(gate, passport, _probe_payload(engine, passport, gate))


def _callable_now(decision: Decision) -> bool:
    """A dry run with no arguments: is the gate callable with *some* arguments now?"""
    if any(c.get("type") in _ARGUMENT_FREE or c.get("constraint") in _ARGUMENT_FREE for c in decision.failed()):
        return False
    return True


def allowed_tools(
    engine: Engine,
    passport: str | IssuedPassport | None,
    tools: Iterable[_T],
    *,
    gates: Mapping[str, str] | Callable[[_T], str | None] | None = None,
) -> list[_T]:
    """The tools of ``tools`` the passport may call now, in their order: offer only these to the
    model.

    A tool's gate is what its passgate wrapper carries (``gate_of``), or ``gates[name]`` (a mapping
    by tool name) or ``gates(tool)``. A tool is kept when its gate is among
    ``engine.allowed_gates(passport)`` (the passport verifies and holds the gate's permissions)
    and a dry run of the gate with no arguments fails no check that every call would fail
    (``passport``, ``permissions``, ``gate``, ``rate_limit``, ``quota``, ``concurrency``,
    ``time_window``): checks on the arguments are left to the call. The dry run's payload spends
    nothing (0 at each spend cap's field). A tool with no gate is dropped (fail closed). Dry runs count nothing and write no
    attestation.
    """
    allowed = set(engine.allowed_gates(passport))
    probes: dict[str, bool] = {}
    kept: list[_T] = []
    for tool in tools:
        gate = _gate(tool, gates)
        if gate is None or gate not in allowed:
            continue
        if gate not in probes:
            probes[gate] = _callable_now(_probe(engine, passport, gate))
        if probes[gate]:
            kept.append(tool)
    return kept


def _gate(tool: Any, gates: Mapping[str, str] | Callable[[Any], str | None] | None) -> str | None:
    g = gate_of(tool)
    if g is not None:
        return g
    if gates is None:
        return None
    if callable(gates):
        return gates(tool)
    name = getattr(tool, "name", None) or getattr(tool, "__name__", None)
    return gates.get(name) if isinstance(name, str) else None


def remaining_budgets(
    engine: Engine,
    passport: str | IssuedPassport | None,
    tools: Iterable[Any],
    *,
    gates: Mapping[str, str] | Callable[[Any], str | None] | None = None,
) -> dict[str, dict[str, str]]:
    """Per gate of ``tools`` the passport may call: what a dry run reports left of each cumulative
    budget (``{gate: {constraint id: decimal string}}``), net of nothing (no request)."""
    allowed = set(engine.allowed_gates(passport))
    out: dict[str, dict[str, str]] = {}
    for tool in tools:
        gate = _gate(tool, gates)
        if gate is None or gate not in allowed or gate in out:
            continue
        out[gate] = dict(_probe(engine, passport, gate).remaining)
    return out


def budget_prompt(
    engine: Engine,
    passport: str | IssuedPassport | None,
    tools: Sequence[Any],
    *,
    gates: Mapping[str, str] | Callable[[Any], str | None] | None = None,
) -> str:
    """A paragraph for the system prompt telling the model what is left of its budgets, e.g.
    ``"Remaining passgate budgets: payments.send: daily-spend 70."``; empty when there are none."""
    budgets = remaining_budgets(engine, passport, tools, gates=gates)
    parts = [
        f"{gate}: " + ", ".join(f"{cid} {left}" for cid, left in sorted(b.items()))
        for gate, b in sorted(budgets.items())
        if b
    ]
    if not parts:
        return ""
    return (
        "Remaining passgate budgets (a call that would exceed one is refused): " + "; ".join(parts) + "."
    )
