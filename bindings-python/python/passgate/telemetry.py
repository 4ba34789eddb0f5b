"""OpenTelemetry for passgate decisions (optional: ``pip install passgate[otel]``).

``enforce`` / ``enforce_async`` are ``Engine.enforce`` / ``Engine.enforce_async`` with one span per
decision, named ``passgate.enforce``, and two metrics. The framework integrations
(``passgate.integrations``) decide through them.

Span attributes: ``passgate.gate``, ``passgate.decision`` (``allow`` / ``deny`` / ``escalate``, or
``error`` when the engine raised: the span then records the exception and an ERROR status),
``passgate.evaluation_id``, ``passgate.failed_checks`` (the failed checks' constraint ids),
``passgate.latency_ms``; with a hold, ``passgate.hold_id``. Metrics (meter ``passgate``): the
counter ``passgate.decisions`` (attributes ``passgate.gate`` and ``passgate.decision``) and the
histogram ``passgate.enforce.duration`` (milliseconds).

No cost when unused: without ``opentelemetry-api`` installed, these call the engine directly;
with the API but no SDK provider configured, the API's no-op tracer and meter are used, and no
attribute is computed for a span that does not record. Importing ``passgate`` never imports
OpenTelemetry.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from typing import Any

from passgate._native import Decision, Engine, IssuedPassport

__all__ = ["enforce", "enforce_async", "SPAN_NAME", "DECISIONS_METRIC", "DURATION_METRIC"]

#: The span of one decision.
SPAN_NAME = "passgate.enforce"
#: The counter of decisions, by gate and verdict.
DECISIONS_METRIC = "passgate.decisions"
#: The histogram of decision latency, in milliseconds.
DURATION_METRIC = "passgate.enforce.duration"


class _Otel:
    """The tracer and instruments, from the global providers (resolved lazily by the API)."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace

        self.trace = trace
        self.tracer = trace.get_tracer("passgate")
        meter = metrics.get_meter("passgate")
        self.decisions = meter.create_counter(
            DECISIONS_METRIC, unit="{decision}", description="passgate decisions, by gate and verdict"
        )
        self.duration = meter.create_histogram(
            DURATION_METRIC, unit="ms", description="time to decide one passgate request"
        )


@functools.lru_cache(maxsize=1)
def _otel() -> _Otel | None:
    try:
        return _Otel()
    except ImportError:
        return None


def _record(otel: _Otel, span: Any, gate: str, decision: Decision | None, ms: float, error: BaseException | None) -> None:
    verdict = decision.decision if decision is not None else "error"
    attrs = {"passgate.gate": gate, "passgate.decision": verdict}
    otel.decisions.add(1, attrs)
    otel.duration.record(ms, attrs)
    if not span.is_recording():
        return
    span.set_attribute("passgate.gate", gate)
    span.set_attribute("passgate.decision", verdict)
    span.set_attribute("passgate.latency_ms", ms)
    if decision is not None:
        span.set_attribute("passgate.evaluation_id", decision.evaluation_id)
        span.set_attribute("passgate.failed_checks", [str(c.get("constraint")) for c in decision.failed()])
        if decision.hold_id is not None:
            span.set_attribute("passgate.hold_id", decision.hold_id)
    if error is not None:
        span.record_exception(error)
        code = getattr(error, "code", None)
        if isinstance(code, str):
            span.set_attribute("passgate.error_code", code)
        span.set_status(otel.trace.Status(otel.trace.StatusCode.ERROR, type(error).__name__))


def enforce(
    engine: Engine,
    gate: str,
    passport: str | IssuedPassport | None = None,
    payload: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Decision:
    """``engine.enforce(gate, passport, payload, **kwargs)`` inside a ``passgate.enforce`` span."""
    otel = _otel()
    if otel is None:
        return engine.enforce(gate, passport, payload, **kwargs)
    with otel.tracer.start_as_current_span(SPAN_NAME, record_exception=False, set_status_on_exception=False) as span:
        start = time.perf_counter()
        try:
            decision = engine.enforce(gate, passport, payload, **kwargs)
        except Exception as e:
            _record(otel, span, gate, None, (time.perf_counter() - start) * 1000.0, e)
            raise
        _record(otel, span, gate, decision, (time.perf_counter() - start) * 1000.0, None)
        return decision


async def enforce_async(
    engine: Engine,
    gate: str,
    passport: str | IssuedPassport | None = None,
    payload: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> Decision:
    """``await engine.enforce_async(...)`` (off the event loop) inside a ``passgate.enforce`` span."""
    otel = _otel()
    if otel is None:
        return await engine.enforce_async(gate, passport, payload, **kwargs)
    with otel.tracer.start_as_current_span(SPAN_NAME, record_exception=False, set_status_on_exception=False) as span:
        start = time.perf_counter()
        try:
            decision = await engine.enforce_async(gate, passport, payload, **kwargs)
        except Exception as e:
            _record(otel, span, gate, None, (time.perf_counter() - start) * 1000.0, e)
            raise
        _record(otel, span, gate, decision, (time.perf_counter() - start) * 1000.0, None)
        return decision
