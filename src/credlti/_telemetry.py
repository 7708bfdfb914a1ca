"""Spans, metrics and log records about what credlti does, at no cost when unused.

Rules of this module:

1. OpenTelemetry is optional (the ``otel`` extra). Its API is imported once, lazily,
   on the first :func:`enabled` call; without it every span and counter is a no-op
   and the hot path pays one attribute check and a logger level check.
2. With the API installed, spans and metrics go wherever the host's tracer and
   meter providers send them. Until the host sets a provider (an SDK), nothing is
   recorded and the hot path pays a provider check instead.
3. The ``credlti.telemetry`` logger gets one DEBUG record per span end and per
   counted event, with the same fields in ``extra`` (``credlti_event``,
   ``credlti_attributes``, ``credlti_duration_ms``). It is silent unless the host
   enables DEBUG for it; it works with or without OpenTelemetry.
4. Only allow-listed attribute keys are accepted (:data:`ATTRIBUTE_KEYS`), and
   callers set only identifiers, names, counts and codes: never a secret, token,
   nonce, state value, credential body, handle or key material. Text values are
   cut to 200 characters.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "ATTRIBUTE_KEYS",
    "DURATION_METRIC",
    "LOGGER",
    "METRIC_ATTRIBUTE_KEYS",
    "AttributeValue",
    "Span",
    "count",
    "enabled",
    "span",
]

#: A value an attribute may take.
AttributeValue = str | int | bool

LOGGER: Final = logging.getLogger("credlti.telemetry")

#: Every attribute key credlti sets; any other key is a programming error.
ATTRIBUTE_KEYS: Final = frozenset(
    {
        "credlti.action",
        "credlti.client_id",
        "credlti.count",
        "credlti.credential_id",
        "credlti.deleted",
        "credlti.deployment_id",
        "credlti.error_code",
        "credlti.issuer",
        "credlti.kept",
        "credlti.message_type",
        "credlti.operation",
        "credlti.outcome",
        "credlti.result",
        "credlti.scrubbed",
        "credlti.service",
        "http.request.method",
        "http.response.status_code",
        "server.address",
    }
)

#: The attribute keys also put on metrics (bounded sets of values: no per-user ids).
METRIC_ATTRIBUTE_KEYS: Final = frozenset(
    {
        "credlti.action",
        "credlti.client_id",
        "credlti.error_code",
        "credlti.issuer",
        "credlti.message_type",
        "credlti.operation",
        "credlti.outcome",
        "credlti.result",
        "credlti.service",
        "http.request.method",
        "http.response.status_code",
        "server.address",
    }
)

_MAX_TEXT = 200
#: The histogram every span end records into (attribute ``credlti.operation``: the span name).
DURATION_METRIC: Final = "credlti.operation.duration"


class _State:
    """The resolved OpenTelemetry objects (``None`` without the API)."""

    resolved = False
    configured = False
    unset: Any = None
    tracer: Any = None
    meter: Any = None
    trace: Any = None
    context: Any = None
    instruments: dict[str, Any] = {}  # noqa: RUF012 - one process-wide table


def _resolve() -> None:
    _State.resolved = True
    try:
        from opentelemetry import context, metrics, trace
    except ImportError:
        return
    from credlti._version import __version__

    _State.trace, _State.context = trace, context
    _State.tracer = trace.get_tracer("credlti", __version__)
    _State.meter = metrics.get_meter("credlti", __version__)
    # Asking once loads a provider named by OTEL_PYTHON_{TRACER,METER}_PROVIDER.
    trace.get_tracer_provider()
    metrics.get_meter_provider()
    from opentelemetry.metrics import _internal as metrics_globals

    _State.unset = (trace, metrics_globals)


def _configured() -> bool:
    """True once the host has set a tracer or meter provider (an SDK): then it stays so.

    The API's globals are read directly: its getters re-read the environment on every
    call while no provider is set, which would cost a launch microseconds. Should the
    globals ever be renamed, this errs on the side of recording.
    """
    trace_globals, metrics_globals = _State.unset
    if (
        getattr(trace_globals, "_TRACER_PROVIDER", True) is None
        and getattr(metrics_globals, "_METER_PROVIDER", True) is None
    ):
        return False
    _State.configured = True
    return True


def enabled() -> bool:
    """True when spans, metrics or log records have somewhere to go.

    With the OpenTelemetry API installed but no provider set (no SDK), spans would
    go nowhere: they are skipped as when the API is missing.
    """
    if not _State.resolved:
        _resolve()
    if _State.configured:
        return True
    if _State.tracer is not None and _configured():
        return True
    return LOGGER.isEnabledFor(logging.DEBUG)


def _clean(attributes: Mapping[str, AttributeValue | None]) -> dict[str, AttributeValue]:
    out: dict[str, AttributeValue] = {}
    for key, value in attributes.items():
        if key not in ATTRIBUTE_KEYS:
            msg = f"telemetry attribute {key!r} is not allow-listed"
            raise ValueError(msg)
        if value is None:
            continue
        if isinstance(value, str) and len(value) > _MAX_TEXT:
            value = value[:_MAX_TEXT]
        out[key] = value
    return out


def _metric_attributes(attributes: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    return {k: v for k, v in attributes.items() if k in METRIC_ATTRIBUTE_KEYS}


def _instrument(name: str, kind: str) -> Any:
    found = _State.instruments.get(name)
    if found is None:
        meter = _State.meter
        if kind == "histogram":
            found = meter.create_histogram(name, unit="s", description=f"duration of {name}")
        else:
            found = meter.create_counter(name, unit="1", description=f"count of {name}")
        _State.instruments[name] = found
    return found


def _log(event: str, attributes: Mapping[str, AttributeValue], duration: float | None) -> None:
    if not LOGGER.isEnabledFor(logging.DEBUG):
        return
    shown = " ".join(f"{k}={v}" for k, v in attributes.items())
    extra: dict[str, Any] = {"credlti_event": event, "credlti_attributes": dict(attributes)}
    if duration is not None:
        extra["credlti_duration_ms"] = round(duration * 1000, 3)
    LOGGER.debug("%s %s", event, shown, extra=extra)


def count(
    name: str, attributes: Mapping[str, AttributeValue | None] | None = None, value: int = 1
) -> None:
    """Add *value* to the counter *name* (and log it at DEBUG); a no-op when disabled."""
    if not enabled():
        return
    cleaned = _clean(attributes or {})
    if _State.configured:
        _instrument(name, "counter").add(value, _metric_attributes(cleaned))
    if value != 1:
        cleaned["credlti.count"] = value
    _log(name, cleaned, None)


class Span:
    """One timed operation: an OpenTelemetry span, a duration metric and a log record.

    Use as a context manager; an exception leaving the block marks the outcome
    ``error`` with the error's ``code`` (credlti errors) or class name.
    """

    __slots__ = ("_otel", "_start", "_token", "attributes", "name")

    def __init__(self, name: str, attributes: Mapping[str, AttributeValue | None]) -> None:
        self.name = name
        self.attributes = _clean(attributes)
        self._otel: Any = None
        self._token: Any = None
        self._start = 0.0

    def set(self, key: str, value: AttributeValue | None) -> None:
        """Set one allow-listed attribute (``None`` is ignored)."""
        self.attributes.update(_clean({key: value}))

    def __enter__(self) -> Span:
        self._start = time.perf_counter()
        if _State.configured:
            self._otel = _State.tracer.start_span(self.name)
            self._token = _State.context.attach(_State.trace.set_span_in_context(self._otel))
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        duration = time.perf_counter() - self._start
        attributes = self.attributes
        if exc is None:
            attributes.setdefault("credlti.outcome", "ok")
        else:
            attributes["credlti.outcome"] = "error"
            code = getattr(exc, "code", None)
            attributes["credlti.error_code"] = (
                code if isinstance(code, str) else type(exc).__name__
            )[:_MAX_TEXT]
        otel = self._otel
        if otel is not None:
            if otel.is_recording():  # not when sampled out, or with only a meter provider set
                otel.set_attributes(attributes)
                if exc is not None:
                    otel.set_status(_State.trace.Status(_State.trace.StatusCode.ERROR))
            otel.end()
            _State.context.detach(self._token)
            metric = _metric_attributes(attributes)
            metric["credlti.operation"] = self.name
            _instrument(DURATION_METRIC, "histogram").record(duration, metric)
        _log(self.name, attributes, duration)


class _NoSpan:
    """The span handed out when telemetry is disabled: every method does nothing."""

    __slots__ = ()

    def set(self, key: str, value: AttributeValue | None) -> None:
        """Ignore the attribute."""

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        return None


_NO_SPAN: Final = _NoSpan()


def span(name: str, attributes: Mapping[str, AttributeValue | None] | None = None) -> Span:
    """A :class:`Span` named *name*, or a shared no-op one when telemetry is disabled."""
    if not enabled():
        return _NO_SPAN  # type: ignore[return-value] # same interface, does nothing
    return Span(name, attributes or {})
