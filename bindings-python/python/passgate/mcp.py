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
* ``guard(engine, gate, *, payload=None, passport=None, hold=False, settle=None,
  arguments=True)`` — a decorator that puts an MCP tool function (sync or async; a function, a
  ``functools.partial`` or a callable object) of the official ``mcp`` SDK behind a gate::

      server = MCPServer("payments")        # mcp 2.x; FastMCP("payments") on mcp 1.x

      @server.tool()
      @passgate.mcp.guard(engine, "payments.send")
      async def send_payment(amount: float, currency: str, to: str) -> str:
          return f"sent {amount} {currency} to {to}"

The guard, call by call (the Node guard of ``passgate/mcp`` does the same, with the same JSON):

1. **What is enforced.** The passport is the call's ``_meta["passgate/passport"]``, or what
   ``passport(meta)`` returns (``meta``: the call's ``_meta`` as a dict, ``{}`` without one). The
   payload is the tool's arguments as a dict (bound by the function's signature, defaults
   applied, the guard's own arguments removed), or what ``payload(arguments)`` returns. Both host
   functions may be async. An **approval token** (from ``Engine.approve``, after an escalation)
   and an **idempotency key** come from ``_meta["passgate/approval"]`` and
   ``_meta["passgate/idempotency_key"]``, or — for clients that send no ``_meta``, such as
   Claude Desktop and Cursor, which send only the model's arguments — from the optional tool
   arguments ``passgate_approval`` and ``passgate_idempotency_key``, which the guard adds to the
   tool's inputSchema (with a description the model reads) and removes before the payload is
   built and the body called. ``arguments=False`` leaves them out (``_meta`` only). An empty
   string is absent; given both ways with different values, the call is refused
   (``INVALID_ARGUMENT``) rather than one silently winning. The approval is bound to exactly the
   escalated call (same gate, passport and payload) and admits it once; an agent cannot approve
   its own escalation, so passing the token through the model's arguments gives it nothing it
   could not send in ``_meta``. The attestation's ``trace`` is ``{"mcp_request_id",
   "mcp_session_id"}`` (the JSON-RPC id, and the transport's session id over Streamable HTTP).
2. **Decision.** The guard enforces off the event loop and runs the body only on ``allow``.
   The body then gets its arguments as the SDK gave them, minus the guard's. A **replayed**
   decision (same idempotency key and arguments as an earlier call) never runs the body again:
   a replayed deny or escalation is refused as it was; a replayed allow is refused with
   ``IDEMPOTENCY_CONFLICT`` (that call ran, or started, when it was first admitted — use a new
   key for a new call; note that a retry with an approval token needs a key other than the
   escalated call's, whose decision would replay).
3. **Holds.** With ``hold=True`` the guard enforces with ``hold`` (the decision reserves the
   amounts). When the body returns, the hold is settled with the actual amounts
   ``settle(result, arguments)`` returns — a payload-shaped dict such as ``{"amount": 42}`` (may
   be async; None, or no ``settle``, keeps the reserved amounts). When the body raises or is
   cancelled, the hold is released and the exception re-raised. A settle that fails (``settle``
   raised, the store is down, ``HOLD_EXCEEDS``) never costs the tool its result: the result is
   returned, the failure logged on the ``passgate.mcp`` logger, and the hold left open — it
   expires at its reserved amounts, the safe direction. A result with ``isError`` is a result:
   it settles (return zero amounts from ``settle`` if the action did not happen).
4. **An allow whose body never ran.** A cancellation that arrives while the engine decides (the
   client's ``notifications/cancelled``) is taken before the body starts: the hold is released,
   or, without a hold, an attestation of kind ``guard.not_executed`` with ``{"evaluation_id",
   "gate", "reason": "cancelled"}`` records that the admitted call did not happen. Generator
   functions (sync or async) are refused at decoration with a ``TypeError``: their body would
   run after the guard returned, or never.

Anything but a body that runs raises the SDK's ``ToolError`` — the client gets an ``isError:
true`` result, which the SDK prefixes with ``Error executing tool NAME: `` — whose message is
JSON text:

- a deny or an escalation::

      {"decision": "deny" | "escalate", "gate": GATE, "evaluation_id": ID,
       "checks": [{"constraint", "type", "code", "message", "observed", "limit", ...}],
       "approval_request": {...}}

  ``checks`` holds the FAILED checks as the decision has them; ``approval_request`` is there
  only on an escalation.
- any error before a decision — the engine raised (``STORE_UNAVAILABLE``, a malformed or
  oversized payload, an idempotency key of the wrong size, ...), an argument is refused (below),
  the host's ``payload`` / ``passport`` function raised — or a replayed allow::

      {"error": {"code": CODE, "message": MESSAGE}}

  ``CODE`` is the passgate error code; a host function that raised something other than a
  ``PassgateError`` gives ``INTERNAL`` (its message names the exception type only, never its
  text).

**Arguments the tool's annotations refuse.** The SDK validates the arguments with pydantic
before it calls the tool. The guard wraps each annotated parameter's validation (the JSON
Schema is unchanged), so a value of the wrong type or out of its bounds reaches the guard, which
answers ``{"error": {"code": "INVALID_ARGUMENT", "message": "invalid argument at /amount: Input
should be a valid number, ..."}}`` without deciding (no attestation, as the Node guard refuses
a payload it cannot read). Not covered: a **missing required argument** (pydantic reports it
before any field validator runs), which stays the SDK's own error text. (In Node, McpServer
validates with zod before the guard's callback, for every kind of bad argument.)

How the guard reads the request: on mcp 1.x, from the SDK's request context variable. mcp 2.x
hands a request's context to a tool only as a parameter annotated ``Context``: if the function
has one, the guard reads it; if not, the wrapper adds a keyword-only ``passgate_context:
Context | None = None`` parameter, which the SDK fills and leaves out of the tool's inputSchema.
The decorated tool is always an ``async`` function (a sync body runs in a worker thread).

This module imports the ``mcp`` SDK only inside ``guard``: ``tools`` and ``handle`` need no SDK.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, TypeVar, cast, overload

from passgate import _native
from passgate._native import Decision, Engine, InputError, Issuer, PassgateError, mcp_handle, mcp_tools

__all__ = [
    "tools",
    "handle",
    "guard",
    "Role",
    "PASSPORT_META_KEY",
    "APPROVAL_META_KEY",
    "IDEMPOTENCY_META_KEY",
    "APPROVAL_ARGUMENT",
    "IDEMPOTENCY_ARGUMENT",
    "NOT_EXECUTED_KIND",
]

#: The ``_meta`` key a client puts the agent's passport token under.
PASSPORT_META_KEY = "passgate/passport"

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
    api_key: str | None = None,
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
    api_key: str | None = None,
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
    api_key: str | None = None,
) -> Any:
    """Answers one MCP JSON-RPC 2.0 message from a caller with passgate's tools.

    ``role`` is who the host's transport says is calling: ``"agent"`` (the default) sees and
    calls the agent tools only, with ``passport`` (the passport this connection was given: the
    server's configured one, an HTTP bearer) used when a call gives none, and ``client`` (the
    host's key for an anonymous caller, which the agent cannot choose); ``"operator"`` sees and
    calls every tool, and ``operator`` (default ``"operator"``) names it as the approver. Never
    serve the operator role on the agent's connection. ``issuer`` lets the operator's
    ``issue_passport`` issue. ``api_key`` (instead of a role) makes the caller that API key: the
    tools of its scopes, its evaluations counted per key (a bad, revoked or expired key raises
    ``PassportError`` ``UNAUTHENTICATED``).

    ``message`` as text gives the response text; as a dict gives the parsed response (a dict must
    be JSON-serializable). None when there is nothing to answer (a notification, a response). A
    batch (a list) is refused with ``-32600``. Runs with the GIL released; a bad message is
    answered with a JSON-RPC error, never raised (a bad ``role`` raises ``InputError``).
    """
    text = message if isinstance(message, str) else json.dumps(message)
    reply = mcp_handle(
        engine, text, issuer, role=role, passport=passport, operator=operator, client=client, api_key=api_key
    )
    if isinstance(message, str):
        return reply
    return None if reply is None else json.loads(reply)


# ---- the guard -------------------------------------------------------------------------------

#: The ``_meta`` key a client puts an approval token under (from ``Engine.approve``).
APPROVAL_META_KEY = "passgate/approval"
#: The ``_meta`` key a client puts an idempotency key under.
IDEMPOTENCY_META_KEY = "passgate/idempotency_key"
#: The optional tool argument the guard adds for an approval token (clients without ``_meta``).
APPROVAL_ARGUMENT = "passgate_approval"
#: The optional tool argument the guard adds for an idempotency key (clients without ``_meta``).
IDEMPOTENCY_ARGUMENT = "passgate_idempotency_key"
_META_KEYS = (PASSPORT_META_KEY, APPROVAL_META_KEY, IDEMPOTENCY_META_KEY)
#: The attestation kind the guard records for an allowed call whose body never started (no hold).
NOT_EXECUTED_KIND = "guard.not_executed"

#: What the model reads about the added arguments (Node's ``guardArguments`` uses the same text).
APPROVAL_DESCRIPTION = (
    "Only when retrying a call that passgate escalated for approval: the approval token an "
    "operator granted for exactly that call (same arguments). Omit otherwise."
)
IDEMPOTENCY_DESCRIPTION = (
    "Optional: a key (1 to 256 characters) naming this call. A retry with the same key and "
    "arguments gets passgate's first decision instead of being counted again; an allowed call "
    "never runs twice under one key."
)

#: What ``guard(payload=...)`` takes: the tool's arguments → the gate's payload (may be async).
PayloadFn = Callable[[dict[str, Any]], "Mapping[str, Any] | Awaitable[Mapping[str, Any]]"]
#: What ``guard(passport=...)`` takes: the call's ``_meta`` → a passport token or None (may be async).
PassportFn = Callable[[dict[str, Any]], "str | None | Awaitable[str | None]"]
#: What ``guard(settle=...)`` takes: the body's result and the tool's arguments → the actual
#: amounts, payload-shaped (None: the reserved amounts). May be async.
SettleFn = Callable[[Any, dict[str, Any]], "Mapping[str, Any] | None | Awaitable[Mapping[str, Any] | None]"]

_CONTEXT_PARAM = "passgate_context"
_logger = logging.getLogger("passgate.mcp")

if TYPE_CHECKING:
    from typing import ParamSpec, Protocol

    _P = ParamSpec("_P")
    _R = TypeVar("_R")

    class GuardDecorator(Protocol):
        """What ``guard(...)`` returns: a decorator making the tool an async function with the
        same parameters (plus the keyword-only parameters the SDK fills, see the module doc)."""

        @overload
        def __call__(self, fn: Callable[_P, Awaitable[_R]], /) -> Callable[_P, Coroutine[Any, Any, _R]]: ...
        @overload
        def __call__(self, fn: Callable[_P, _R], /) -> Callable[_P, Coroutine[Any, Any, _R]]: ...


class _Sdk:
    """What the guard needs from whichever ``mcp`` SDK is installed (and pydantic, which both use)."""

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
        import pydantic

        self.validation_error: type[Exception] = pydantic.ValidationError
        self.with_json_schema: Any = pydantic.WithJsonSchema
        #: Wraps each parameter's validation: a refused value reaches the guard as ``_Invalid``.
        self.lenient: Any = pydantic.WrapValidator(self._keep_invalid)

    def _keep_invalid(self, value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except self.validation_error as e:
            return _Invalid(cast(Any, e).errors(include_url=False))


@functools.lru_cache(maxsize=1)
def _sdk() -> _Sdk:
    return _Sdk()


class _Invalid:
    """An argument value its annotation refused: kept, so that the guard answers (not the SDK)."""

    __slots__ = ("errors",)

    def __init__(self, errors: list[Any]) -> None:
        self.errors = errors


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


def _request_context(sdk: _Sdk, context: Any) -> Any:
    """The SDK's context of the current request (``request_id``, ``meta``, ``request``), or None:
    from the injected Context (2.x) or the SDK's contextvar (1.x)."""
    if context is not None:
        try:
            return context.request_context
        except (AttributeError, ValueError, LookupError):
            return None
    if sdk.request_ctx is not None:
        try:
            return sdk.request_ctx.get()
        except LookupError:
            return None
    return None


def _string_or_flag(v: Any) -> Any:
    """A value for the core guard: strings and None as they are; anything else as ``False``
    (the core refuses any non-string alike, naming where it came from)."""
    return v if v is None or isinstance(v, str) else False


def _trace(rc: Any) -> dict[str, Any] | None:
    """What the attestation records of the MCP call (built by the core, as for Node's guard):
    the JSON-RPC request id and, over Streamable HTTP, the transport's session id."""
    rid = getattr(rc, "request_id", None)
    if not isinstance(rid, (str, int)) or isinstance(rid, bool):
        rid = None
    headers = getattr(getattr(rc, "request", None), "headers", None)
    sid = headers.get("mcp-session-id") if headers is not None and hasattr(headers, "get") else None
    trace: dict[str, Any] | None = _native._mcp_guard(
        "trace", {"request_id": rid, "session_id": sid if isinstance(sid, str) else None}
    )
    return trace


def _jsonable(v: Any) -> Any:
    """Pydantic models (tool arguments of a model type) as plain data; the rest unchanged."""
    dump = getattr(v, "model_dump", None)
    return dump(mode="json") if callable(dump) and not isinstance(v, type) else v


async def _resolve(value: Any) -> Any:
    """A host function's answer, awaited if it is awaitable (async host functions)."""
    return await value if inspect.isawaitable(value) else value


def _input_error(message: str) -> InputError:
    return InputError("INVALID_ARGUMENT", message)


def _inputs(meta: dict[str, Any], passport: Any, has_passport: bool, given: dict[str, Any]) -> dict[str, Any]:
    """The passport, approval token and idempotency key of a call, from ``_meta`` and the
    guard's added arguments, by the core's rule (both given and different: ``INVALID_ARGUMENT``)."""
    args: dict[str, Any] = {
        "meta": {k: _string_or_flag(meta[k]) for k in _META_KEYS if k in meta},
        "approval": _string_or_flag(given.get(APPROVAL_ARGUMENT)),
        "idempotency_key": _string_or_flag(given.get(IDEMPOTENCY_ARGUMENT)),
    }
    if has_passport:
        args["passport"] = _string_or_flag(passport)
    inputs: dict[str, Any] = _native._mcp_guard("inputs", args)
    if "error" in inputs:
        raise _Refused(_dumps(inputs))
    return inputs


class _Refused(Exception):
    """An input the guard refuses: the tool error's text, built by the core."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def _invalid_argument(name: str, bad: _Invalid) -> InputError:
    """The error of an argument value its annotation refused, with its JSON path."""
    if name in (APPROVAL_ARGUMENT, IDEMPOTENCY_ARGUMENT):
        try:
            _inputs({}, None, False, {name: False})
        except _Refused as r:
            return _input_error(json.loads(r.text)["error"]["message"])
    first = bad.errors[0] if bad.errors else {}
    loc = (name, *first.get("loc", ()))
    path = "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in loc)
    return _input_error(f"invalid argument at {path}: {first.get('msg', 'not a valid value')}")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _outcome(decision: Decision, key: str | None) -> str | None:
    """None when the tool runs; else the tool error's text (built by the core): the refusal of
    a deny or escalation, or ``IDEMPOTENCY_CONFLICT`` for a replayed allow."""
    out = _native._mcp_guard("outcome", {"decision": json.loads(decision.to_json()), "idempotency_key": key})
    return None if out is None else _dumps(out)


def _error(e: BaseException) -> str:
    if isinstance(e, PassgateError):
        out = _native._mcp_guard("error", {"code": e.code, "message": e.message, "path": e.path})
    else:
        out = _native._mcp_guard("internal", {"type": type(e).__name__})
    return _dumps(out)


def _target(fn: Any) -> Any:
    """The function under any ``functools.partial``."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _kinds(fn: Any) -> list[Any]:
    """The function (under partials) and, for a callable object, its ``__call__``."""
    t = _target(fn)
    return [t] if inspect.isroutine(t) else [t, getattr(t, "__call__", None)]


def guard(
    engine: Engine,
    gate: str,
    *,
    payload: PayloadFn | None = None,
    passport: PassportFn | None = None,
    hold: bool = False,
    settle: SettleFn | None = None,
    arguments: bool = True,
) -> GuardDecorator:
    """Puts an MCP tool function behind ``gate``; see the module docstring for the details."""
    sdk = _sdk()
    import anyio
    import anyio.lowlevel
    import anyio.to_thread

    if settle is not None and not hold:
        raise TypeError("passgate.mcp.guard: settle= needs hold=True")

    def decorate(fn: Any) -> Any:
        if not callable(fn):
            raise TypeError(f"passgate.mcp.guard: {fn!r} is not callable")
        target = _target(fn)
        name = getattr(fn, "__name__", None) or getattr(target, "__name__", None) or type(target).__name__
        if any(inspect.isasyncgenfunction(k) or inspect.isgeneratorfunction(k) for k in _kinds(fn)):
            raise TypeError(
                f"passgate.mcp.guard: {name} is a generator function: an MCP tool answers once, "
                "and the guard must know whether (and when) its body ran; return the result instead"
            )
        is_async = any(inspect.iscoroutinefunction(k) for k in _kinds(fn))
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
        added = ([APPROVAL_ARGUMENT, IDEMPOTENCY_ARGUMENT] if arguments else []) + (
            [_CONTEXT_PARAM] if add_ctx else []
        )
        clash = [n for n in added if n in sig.parameters]
        if clash:
            raise TypeError(f"passgate.mcp.guard: {name} has a parameter {clash[0]}, which the guard adds")

        async def not_run(decision: Decision, hold_id: str | None, started: bool, e: BaseException) -> None:
            """The body raised, was cancelled, or never started: release the hold (the action
            did not happen, or failed); without one, attest that an allowed call never started."""
            try:
                if hold_id is not None:
                    await anyio.to_thread.run_sync(engine.release, hold_id)
                elif not started:
                    reason = "cancelled" if isinstance(e, anyio.get_cancelled_exc_class()) else "error"
                    data = {"evaluation_id": decision.evaluation_id, "gate": gate, "reason": reason}
                    await anyio.to_thread.run_sync(engine.record_attestation, NOT_EXECUTED_KIND, data)
            except Exception:
                _logger.warning(
                    "passgate.mcp.guard: evaluation %s of %s was allowed but its body did not complete, "
                    "and the guard could not record it (hold %s)",
                    decision.evaluation_id, gate, hold_id, exc_info=True,
                )  # fmt: skip

        async def settled(decision: Decision, hold_id: str, result: Any, args: dict[str, Any]) -> None:
            """Settles the hold with the body's actual amounts. A failure leaves the hold open (it
            expires at its reserved amounts: the safe direction) and is logged, never raised."""
            try:
                actual = await _resolve(settle(result, args)) if settle is not None else None
                await anyio.to_thread.run_sync(functools.partial(engine.settle, hold_id, actual))
            except Exception:
                _logger.warning(
                    "passgate.mcp.guard: hold %s of evaluation %s (%s) was not settled; "
                    "it expires at its reserved amounts",
                    hold_id, decision.evaluation_id, gate, exc_info=True,
                )  # fmt: skip

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            context = kwargs.pop(_CONTEXT_PARAM, None) if add_ctx else None
            given = {n: kwargs.pop(n, None) for n in (APPROVAL_ARGUMENT, IDEMPOTENCY_ARGUMENT)} if arguments else {}
            key: str | None = None
            try:
                for n, v in (*enumerate(args), *kwargs.items(), *given.items()):
                    if isinstance(v, _Invalid):
                        raise _invalid_argument(str(n), v)
                bound = sig.bind(*args, **kwargs)
                bound.apply_defaults()
                if user_ctx is not None:
                    context = bound.arguments.get(user_ctx)
                tool_args = {k: _jsonable(v) for k, v in bound.arguments.items() if k != user_ctx}
                rc = _request_context(sdk, context)
                meta = _as_dict(getattr(rc, "meta", None))
                token = await _resolve(passport(meta)) if passport is not None else None
                inputs = _inputs(meta, token, passport is not None, given)
                token, approval, key = inputs["passport"], inputs["approval"], inputs["idempotency_key"]
                body = await _resolve(payload(tool_args)) if payload is not None else tool_args
                call = functools.partial(
                    engine.enforce, gate, token, body,
                    idempotency_key=key, trace=_trace(rc), hold=hold, approval=approval,
                )  # fmt: skip
                decision = await anyio.to_thread.run_sync(call)
            except _Refused as r:
                raise sdk.tool_error(r.text) from r
            except Exception as e:
                raise sdk.tool_error(_error(e)) from e
            refused = _outcome(decision, key)
            if refused is not None:
                # A deny or escalation; or a replayed allow: the first call with this key was
                # admitted, counted, and ran (or started) then.
                raise sdk.tool_error(refused)

            hold_id = decision.hold_id if hold else None
            started = False

            def run_sync() -> Any:
                nonlocal started
                started = True
                return fn(*args, **kwargs)

            try:
                # A cancellation that arrived while the engine decided lands here, before the body.
                await anyio.lowlevel.checkpoint()
                if is_async:
                    started = True
                    result = await fn(*args, **kwargs)
                else:
                    result = await anyio.to_thread.run_sync(run_sync)
            except BaseException as e:
                with anyio.CancelScope(shield=True):
                    await not_run(decision, hold_id, started, e)
                raise
            if hold_id is not None:
                with anyio.CancelScope(shield=True):
                    await settled(decision, hold_id, result, tool_args)
            return result

        wrapper = guarded
        if inspect.isfunction(fn) or inspect.ismethod(fn):
            functools.update_wrapper(wrapper, fn)
        else:  # a partial or a callable object: its function's name and docs
            wrapper.__name__ = wrapper.__qualname__ = name
            wrapper.__doc__ = target.__doc__ if isinstance(fn, functools.partial) else fn.__doc__
            wrapper.__module__ = getattr(target, "__module__", None) or __name__
            setattr(wrapper, "__wrapped__", fn)

        def lenient(p: inspect.Parameter) -> inspect.Parameter:
            """The parameter with the guard's wrap validator: a value its annotation refuses
            reaches the guard, which answers INVALID_ARGUMENT (the JSON Schema is unchanged)."""
            if (
                p.name == user_ctx
                or p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
                or p.annotation is inspect.Parameter.empty
                or isinstance(p.annotation, str)
            ):
                return p
            return p.replace(annotation=Annotated[p.annotation, sdk.lenient])

        def optional_string(n: str, description: str) -> inspect.Parameter:
            schema = sdk.with_json_schema({"type": "string", "description": description})
            ann = Annotated[Optional[str], schema, sdk.lenient]
            return inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ann)

        params = [lenient(p) for p in sig.parameters.values()]
        extra = []
        if arguments:
            extra += [
                optional_string(APPROVAL_ARGUMENT, APPROVAL_DESCRIPTION),
                optional_string(IDEMPOTENCY_ARGUMENT, IDEMPOTENCY_DESCRIPTION),
            ]
        if add_ctx:
            ctx_type = cast(Any, Optional)[sdk.context_type]
            extra.append(inspect.Parameter(_CONTEXT_PARAM, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ctx_type))
        # Keyword-only parameters go before a **kwargs one, if any.
        at = len(params) - (1 if params and params[-1].kind is inspect.Parameter.VAR_KEYWORD else 0)
        params[at:at] = extra
        new_sig = sig.replace(parameters=params)
        setattr(wrapper, "__signature__", new_sig)
        annotations = {p.name: p.annotation for p in params if p.annotation is not inspect.Parameter.empty}
        if new_sig.return_annotation is not inspect.Signature.empty:
            annotations["return"] = new_sig.return_annotation
        wrapper.__annotations__ = annotations
        setattr(wrapper, "__passgate_gate__", gate)
        return wrapper

    return cast("GuardDecorator", decorate)
