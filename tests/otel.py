"""The OpenTelemetry SDK's in-memory exporters, installed once per test process.

The global tracer and meter providers can be set once per process; credlti resolves
the API lazily and its proxy tracer and meter follow whichever providers are set,
so every telemetry test shares these exporters and clears them first.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import attrs
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from credlti import _telemetry


@attrs.define
class Exported:
    """What credlti exported during one test: finished spans and metric points."""

    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    collected: list[Any] = attrs.field(factory=list)

    def collect(self) -> None:
        """Collect the metric points recorded since the last collection (delta temporality)."""
        data = self.reader.get_metrics_data()
        if data is not None:
            self.collected.append(data)

    def _metrics(self) -> Iterator[Any]:
        self.collect()
        for data in self.collected:
            for resource in data.resource_metrics:
                for scope in resource.scope_metrics:
                    yield from scope.metrics

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        """The finished spans (named *name*, if given)."""
        found = list(self.spans.get_finished_spans())
        return [s for s in found if name is None or s.name == name]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """``(attributes, point)`` of every data point of the metric *name*."""
        out: list[tuple[dict[str, Any], Any]] = []
        for metric in self._metrics():
            if metric.name == name:
                out.extend((dict(p.attributes or {}), p) for p in metric.data.data_points)
        return out

    def counted(self, name: str, **match: Any) -> int:
        """The sum of the counter *name* over points whose attributes include *match*."""
        wanted = {k.replace("__", "."): v for k, v in match.items()}
        return sum(
            int(p.value)
            for attributes, p in self.points(name)
            if all(attributes.get(k) == v for k, v in wanted.items())
        )

    def attribute_values(self) -> Iterator[str]:
        """Every attribute value exported: spans, span events and metric points, as text."""
        for span in self.finished():
            for value in (span.attributes or {}).values():
                yield str(value)
            for event in span.events:
                for value in (event.attributes or {}).values():
                    yield str(value)
            yield span.name
        for metric in self._metrics():
            for point in metric.data.data_points:
                for value in (point.attributes or {}).values():
                    yield str(value)

    def assert_no_secret(self, secrets: Iterable[str]) -> None:
        """No exported attribute value contains any of *secrets* (nor one contains it)."""
        values = list(self.attribute_values())
        assert values, "nothing was exported"
        for secret in secrets:
            assert secret, "an empty secret would match everything"
            for value in values:
                assert secret not in value, f"a secret leaked into telemetry: {value!r}"


_INSTALLED: Exported | None = None


def exported() -> Exported:
    """The process-wide in-memory exporters (installed on first use), cleared."""
    global _INSTALLED
    if _INSTALLED is None:
        spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(spans))
        trace.set_tracer_provider(provider)
        delta = AggregationTemporality.DELTA
        reader = InMemoryMetricReader(preferred_temporality={Counter: delta, Histogram: delta})
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _INSTALLED = Exported(spans=spans, reader=reader)
    _telemetry._State.resolved = False  # resolve again: the SDK's providers are set now
    _telemetry._State.configured = False
    _INSTALLED.spans.clear()
    _INSTALLED.reader.get_metrics_data()  # delta temporality: drops what came before
    _INSTALLED.collected.clear()
    return _INSTALLED


def detach() -> None:
    """Stop credlti recording into the SDK (other tests run as without OpenTelemetry)."""
    state = _telemetry._State
    state.resolved, state.configured, state.tracer, state.meter = True, False, None, None
