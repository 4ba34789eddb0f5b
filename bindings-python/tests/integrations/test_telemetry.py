"""passgate.telemetry: one span per decision, decision metrics; nothing without a provider; and
importing passgate (or passgate.integrations) imports no framework and no OpenTelemetry."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import passgate
from passgate import telemetry
from passgate.integrations import Guard, Refused

_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def providers() -> Iterator[None]:
    """The SDK's in-memory exporters as the global providers (set once per process)."""
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(_SPANS))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))
    yield


def counts() -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    data = _METRICS.get_metrics_data()
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == telemetry.DECISIONS_METRIC:
                    for p in m.data.data_points:
                        a: Any = p.attributes
                        out[(a["passgate.gate"], a["passgate.decision"])] = int(getattr(p, "value", 0))
    return out


def test_one_span_per_decision_with_attributes(engine: passgate.Engine, passport: passgate.IssuedPassport) -> None:
    _SPANS.clear()
    before = counts()
    guard = Guard(engine, "payments.send", passport=passport.token)
    assert guard.decide({"amount": 30, "to": "bob"}, None).allowed
    with pytest.raises(Refused) as denied:
        guard.decide({"amount": 90, "to": "eve"}, None)
    with pytest.raises(Refused):
        Guard(engine, "payments.send", passport=passport.token).decide({"amount": float("nan")}, None)
    spans = _SPANS.get_finished_spans()
    assert [s.name for s in spans] == ["passgate.enforce"] * 3
    a0, a1, a2 = (dict[str, Any](s.attributes or {}) for s in spans)
    assert a0["passgate.gate"] == "payments.send" and a0["passgate.decision"] == "allow"
    assert a0["passgate.failed_checks"] == ()
    assert isinstance(a0["passgate.latency_ms"], float) and a0["passgate.evaluation_id"].startswith("evl_")
    assert a1["passgate.decision"] == "deny" and a1["passgate.failed_checks"] == ("big-payment", "daily-spend")
    assert denied.value.decision is not None and a1["passgate.evaluation_id"] == denied.value.decision.evaluation_id
    assert a2["passgate.decision"] == "error" and a2["passgate.error_code"] == "PAYLOAD_INVALID"
    assert spans[2].status.status_code == trace.StatusCode.ERROR
    after = counts()
    for verdict in ("allow", "deny", "error"):
        assert after.get(("payments.send", verdict), 0) == before.get(("payments.send", verdict), 0) + 1


def test_without_a_provider_no_spans_and_no_error() -> None:
    code = textwrap.dedent(
        """
        import passgate
        from passgate import telemetry
        issuer = passgate.Issuer.generate()
        p = issuer.issue_passport(agent_id="a", permissions=["x:y"])
        engine = passgate.Engine({"version": 1, "gates": {"x.y": {"require": ["x:y"]}}}, trusted_issuers=[issuer.did])
        assert telemetry.enforce(engine, "x.y", p.token, {}).allowed
        otel = telemetry._otel()
        assert otel is not None and not otel.tracer.start_span("probe").is_recording()
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok" and out.stderr == ""


def test_importing_passgate_imports_no_framework() -> None:
    code = (
        "import sys, passgate, passgate.integrations, passgate.telemetry; "
        "bad = [m for m in ('langchain_core', 'langgraph', 'agents', 'pydantic_ai', 'opentelemetry') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
