"""passgate over MCP: passgate's own tools, and a guard for any MCP tool.

* ``tools(role="agent")`` — the catalogue of passgate's tools a role may call.
* ``handle(engine, message, *, role="agent", passport=None, ...)`` — answers one MCP JSON-RPC
  2.0 message with those tools (``initialize``, ``ping``, ``tools/list``, ``tools/call``,
  notifications) as the caller's role may see and call them: the **agent** role gets the agent
  tools only (``enforce_action``, ``authorize_dry_run``, ``verify_passport``,
  ``list_allowed_gates``, ``list_my_evaluations``); an operator tool called as the agent is a
  ``FORBIDDEN`` error result. Text in, text out (None for a notification); a dict in gives a
  dict out. It never raises for bad input: protocol faults are JSON-RPC errors; ``enforce_action``
  answers allow, deny and escalate alike as a normal result; ``isError`` marks a call that got
  no answer (bad arguments, a forbidden tool, an engine error).
* ``guard(engine, gate, payload=None, passport=None)`` — a decorator that puts an MCP tool
  function (sync or async) of the official ``mcp`` SDK behind a gate::

      server = MCPServer("payments")        # mcp 2.x; FastMCP("payments") on mcp 1.x

      @server.tool()
      @passgate.mcp.guard(engine, "payments.send")
      async def send_payment(amount: float, currency: str, to: str) -> str:
          return f"sent {amount} {currency} to {to}"

  The passport is the call's ``_meta["passgate/passport"]``, or what ``passport(meta)`` returns
  (``meta``: the call's ``_meta`` as a dict, ``{}`` without one). The payload is the tool's
  arguments as a dict (bound by the function's signature, defaults applied), or what
  ``payload(arguments)`` returns. The guard enforces (async tools off the event loop), and runs
  the body only on ``allow``. Anything else raises the SDK's ``ToolError`` — the client gets an
  ``isError: true`` result, which the SDK prefixes with ``Error executing tool NAME: `` — whose
  message is JSON text:

  - a deny or an escalation::

        {"decision": "deny" | "escalate", "gate": GATE, "evaluation_id": ID,
         "checks": [{"constraint", "type", "code", "message", "observed", "limit", ...}],
         "approval_request": {...}}

    ``checks`` holds the FAILED checks as the decision has them; ``approval_request`` is there
    only on an escalation.
  - any error before a decision — the engine raised (``STORE_UNAVAILABLE``, a malformed or
    oversized payload, ...), or the host's ``payload`` / ``passport`` function raised::

        {"error": {"code": CODE, "message": MESSAGE}}

    ``CODE`` is the passgate error code; a host function that raised something else gives
    ``INTERNAL`` (its message names the exception type only, never its text).

  The Node guard produces the identical JSON.

  How the guard reads ``_meta``: on mcp 1.x, from the SDK's request context variable, so the
  function is unchanged. mcp 2.x hands a request's context to a tool only as a parameter
  annotated ``Context``: if the function has one, the guard reads it; if not, the wrapper adds
  a keyword-only ``passgate_context: Context | None = None`` parameter, which the SDK fills and
  leaves out of the tool's inputSchema. Either way the tool's inputSchema is the function's.

This module imports the ``mcp`` SDK only inside ``guard``: ``tools`` and ``handle`` need no SDK.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, Optional, TypeVar, cast, overload

from passgate._native import Decision, Engine, Issuer, PassgateError, mcp_handle, mcp_tools

__all__ = ["tools", "handle", "guard", "PASSPORT_META_KEY", "Role"]

#: The ``_meta`` key a client puts the agent's passport token under.
PASSPORT_META_KEY = "passgate/passport"

F = TypeVar("F", bound=Callable[..., Any])

#: What ``guard(payload=...)`` takes: the tool's arguments → the gate's payload.
PayloadFn = Callable[[dict[str, Any]], Mapping[str, Any]]
#: What ``guard(passport=...)`` takes: the call's ``_meta`` → a passport token (or None).
PassportFn = Callable[[dict[str, Any]], "str | None"]

_CONTEXT_PARAM = "passgate_context"


#: Which tools a caller sees and may call: the governed agent, or the operator (every tool).
Role = Literal["agent", "operator"]


def tools(role: Role = "agent") -> list[dict[str, Any]]:
    """passgate's MCP tools for ``role``: ``"agent"`` (the default) lists ``enforce_action``,
    ``authorize_dry_run``, ``verify_passport``, ``list_allowed_gates``, ``list_my_evaluations``;
    ``"operator"`` lists every tool. Each is ``{"name", "title", "description", "inputSchema",
    "annotations"}``, with ``"outputSchema"`` where the result is structured."""
    return mcp_tools(role)


@overload
def handle(
    engine: Engine,
    message: str,
    *,
    role: Role = "agent",
    passport: str | None = None,
    client: str | None = None,
    operator: str | None = None,
    issuer: Issuer | None = None,
) -> str | None: ...
@overload
def handle(
    engine: Engine,
    message: Mapping[str, Any],
    *,
    role: Role = "agent",
    passport: str | None = None,
    client: str | None = None,
    operator: str | None = None,
    issuer: Issuer | None = None,
) -> Any: ...
def handle(
    engine: Engine,
    message: str | Mapping[str, Any],
    *,
    role: Role = "agent",
    passport: str | None = None,
    client: str | None = None,
    operator: str | None = None,
    issuer: Issuer | None = None,
) -> Any:
    """Answers one MCP JSON-RPC 2.0 message from a caller with passgate's tools.

    ``role`` is who the host's transport says is calling: ``"agent"`` (the default) sees and
    calls the agent tools only, with ``passport`` (the passport this connection was given: the
    server's configured one, an HTTP bearer) used when a call gives none, and ``client`` (the
    host's key for an anonymous caller, which the agent cannot choose); ``"operator"`` sees and
    calls every tool, and ``operator`` (default ``"operator"``) names it as the approver. Never
    serve the operator role on the agent's connection. ``issuer`` lets the operator's
    ``issue_passport`` issue.

    ``message`` as text gives the response text; as a dict gives the parsed response (a dict must
    be JSON-serializable). None when there is nothing to answer (a notification, a response). A
    batch (a list) is refused with ``-32600``. Runs with the GIL released; a bad message is
    answered with a JSON-RPC error, never raised (a bad ``role`` raises ``InputError``).
    """
    caller = dict(role=role, passport=passport, operator=operator, client=client)
    if isinstance(message, str):
        return mcp_handle(engine, message, issuer, **caller)
    reply = mcp_handle(engine, json.dumps(message), issuer, **caller)
    return None if reply is None else json.loads(reply)


# ---- the guard -------------------------------------------------------------------------------


class _Sdk:
    """What the guard needs from whichever ``mcp`` SDK is installed."""

    def __init__(self) -> None:
        try:  # mcp 2.x
            from mcp.server.mcpserver import Context
            from mcp.server.mcpserver.exceptions import ToolError

            self.major = 2
            self.context_type: Any = Context
            self.tool_error: type[Exception] = ToolError
            self.request_ctx: Any = None
        except ImportError:  # mcp 1.x
            try:
                fastmcp = importlib.import_module("mcp.server.fastmcp")
                exceptions = importlib.import_module("mcp.server.fastmcp.exceptions")
                lowlevel = importlib.import_module("mcp.server.lowlevel.server")
            except ImportError as e:
                raise ImportError(
                    "passgate.mcp.guard needs the official MCP SDK: pip install mcp"
                ) from e
            self.major = 1
            self.context_type = fastmcp.Context
            self.tool_error = exceptions.ToolError
            self.request_ctx = lowlevel.request_ctx


@functools.lru_cache(maxsize=1)
def _sdk() -> _Sdk:
    return _Sdk()


def _as_dict(meta: Any) -> dict[str, Any]:
    """A request's ``_meta`` (a dict on mcp 2.x, a pydantic model on 1.x) as a dict."""
    if meta is None:
        return {}
    if isinstance(meta, Mapping):
        return dict(meta)
    dump = getattr(meta, "model_dump", None)
    if callable(dump):
        return dict(dump(by_alias=True))
    return {}


def _meta_of(sdk: _Sdk, context: Any) -> dict[str, Any]:
    """The current call's ``_meta``: from the injected Context (2.x) or the SDK's contextvar."""
    if context is not None:
        try:
            return _as_dict(context.request_context.meta)
        except (AttributeError, ValueError, LookupError):
            return {}
    if sdk.request_ctx is not None:
        try:
            return _as_dict(sdk.request_ctx.get().meta)
        except (AttributeError, LookupError):
            return {}
    return {}


def _jsonable(v: Any) -> Any:
    """Pydantic models (tool arguments of a model type) as plain data; the rest unchanged."""
    dump = getattr(v, "model_dump", None)
    return dump(mode="json") if callable(dump) and not isinstance(v, type) else v


def _refusal(gate: str, decision: Decision) -> str:
    d = json.loads(decision.to_json())
    out: dict[str, Any] = {
        "decision": d.get("decision"),
        "gate": gate,
        "evaluation_id": d.get("evaluation_id"),
        "checks": [c for c in d.get("checks", []) if c.get("passed") is False],
    }
    if d.get("approval_request") is not None:
        out["approval_request"] = d["approval_request"]
    return json.dumps(out, separators=(",", ":"), ensure_ascii=False)


def _error(e: BaseException) -> str:
    if isinstance(e, PassgateError):
        code, message = e.code, e.message
    else:
        code, message = "INTERNAL", f"the guard failed before a decision ({type(e).__name__})"
    return json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":"), ensure_ascii=False)


def guard(
    engine: Engine,
    gate: str,
    *,
    payload: PayloadFn | None = None,
    passport: PassportFn | None = None,
) -> Callable[[F], F]:
    """Puts an MCP tool function behind ``gate``; see the module docstring for the details."""
    sdk = _sdk()

    def decorate(fn: F) -> F:
        try:
            sig = inspect.signature(fn, eval_str=True)
        except Exception:  # an annotation that does not resolve: keep it as written
            sig = inspect.signature(fn)

        def is_context(p: inspect.Parameter) -> bool:
            t = p.annotation
            return any(
                inspect.isclass(a) and issubclass(a, sdk.context_type)
                for a in (t, *getattr(t, "__args__", ()))
            )

        user_ctx = next((p.name for p in sig.parameters.values() if is_context(p)), None)
        # mcp 2.x gives the request context only to a parameter annotated Context: add one.
        add_ctx = sdk.major >= 2 and user_ctx is None
        if add_ctx and _CONTEXT_PARAM in sig.parameters:
            raise TypeError(f"passgate.mcp.guard: {fn.__name__} has a parameter {_CONTEXT_PARAM}")

        def decide(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str | None, Any]:
            """This call's passport and payload. ``kwargs`` loses the added Context parameter.
            May raise: the caller turns that into an error result."""
            context = kwargs.pop(_CONTEXT_PARAM, None) if add_ctx else None
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            if user_ctx is not None:
                context = bound.arguments.get(user_ctx)
            arguments = {k: _jsonable(v) for k, v in bound.arguments.items() if k != user_ctx}
            meta = _meta_of(sdk, context)
            if passport is not None:
                token = passport(meta)
            else:
                t = meta.get(PASSPORT_META_KEY)
                token = t if isinstance(t, str) else None
            body = payload(arguments) if payload is not None else arguments
            return token, body

        wrapper: Callable[..., Any]
        if inspect.iscoroutinefunction(fn):
            afn = cast(Callable[..., Awaitable[Any]], fn)

            async def awrapper(*args: Any, **kwargs: Any) -> Any:
                import anyio.to_thread

                try:
                    token, body = decide(args, kwargs)
                    call = functools.partial(engine.enforce, gate, token, body)
                    decision = await anyio.to_thread.run_sync(call)
                except Exception as e:
                    raise sdk.tool_error(_error(e)) from e
                if not decision.allowed:
                    raise sdk.tool_error(_refusal(gate, decision))
                return await afn(*args, **kwargs)

            wrapper = awrapper
        else:

            def swrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    token, body = decide(args, kwargs)
                    decision = engine.enforce(gate, token, body)
                except Exception as e:
                    raise sdk.tool_error(_error(e)) from e
                if not decision.allowed:
                    raise sdk.tool_error(_refusal(gate, decision))
                return fn(*args, **kwargs)

            wrapper = swrapper

        functools.update_wrapper(wrapper, fn)
        if add_ctx:
            ctx_type = cast(Any, Optional)[sdk.context_type]
            params = list(sig.parameters.values())
            # A keyword-only parameter goes before a **kwargs one, if any.
            at = len(params)
            if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD:
                at -= 1
            params.insert(
                at,
                inspect.Parameter(
                    _CONTEXT_PARAM, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ctx_type
                ),
            )
            setattr(wrapper, "__signature__", sig.replace(parameters=params))
            wrapper.__annotations__ = {**fn.__annotations__, _CONTEXT_PARAM: ctx_type}
        else:
            setattr(wrapper, "__signature__", sig)
        setattr(wrapper, "__passgate_gate__", gate)
        return cast(F, wrapper)

    return decorate
