"""Optional OpenTelemetry tracing: spans are no-ops unless the API (and ideally the SDK) load.

Nothing here may break the server: missing packages, a half-installed OpenTelemetry (API
without SDK) or a broken exporter all leave tracing disabled with at most a warning.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any

import structlog

log = structlog.get_logger("statewave.telemetry")

SERVICE_NAME = "statewave"
_OTLP_EXPORTER = "opentelemetry.exporter.otlp.proto.grpc.trace_exporter"

_tracer: Any = None
_provider: Any = None


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def setup_tracing(enabled: bool = True, service_name: str = SERVICE_NAME) -> bool:
    """Install a tracer provider if OpenTelemetry's SDK is present; True if spans are exported.

    With only the API installed, spans go to OpenTelemetry's default (no-op) provider.
    """
    global _tracer, _provider
    _tracer = None
    if not enabled:
        return False
    trace = _import("opentelemetry.trace")
    if trace is None:
        return False
    try:
        sdk_trace = _import("opentelemetry.sdk.trace")
        resources = _import("opentelemetry.sdk.resources")
        if sdk_trace is not None and resources is not None:
            resource = resources.Resource.create({"service.name": service_name})
            _provider = sdk_trace.TracerProvider(resource=resource)
            _attach_exporter(_provider)
            trace.set_tracer_provider(_provider)
        _tracer = trace.get_tracer(service_name)
    except Exception as exc:  # a broken OpenTelemetry install must never stop the server
        log.warning("tracing_disabled", error_type=type(exc).__name__, error=str(exc)[:200])
        _tracer = _provider = None
        return False
    log.info("tracing_configured", sdk=_provider is not None)
    return _provider is not None


def _attach_exporter(provider: Any) -> None:
    """Batch-export over OTLP/gRPC when that exporter is installed (``OTEL_*`` configure it)."""
    exporter = _import(_OTLP_EXPORTER)
    export = _import("opentelemetry.sdk.trace.export")
    if exporter is not None and export is not None:
        provider.add_span_processor(export.BatchSpanProcessor(exporter.OTLPSpanExporter()))


def shutdown_tracing() -> None:
    """Flush and stop the provider installed by :func:`setup_tracing`, if any."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is None:
        return
    try:
        provider.shutdown()
    except Exception as exc:  # flushing is best effort at shutdown
        log.warning("tracing_shutdown_failed", error_type=type(exc).__name__)


def _attribute(value: Any) -> Any:
    if isinstance(value, str | bool | int | float):
        return value
    return str(value)


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A span around the block (yields it, or None when tracing is off); never raises itself.

    Exceptions from the block propagate unchanged (and are recorded on the span).
    """
    tracer = _tracer
    if tracer is None:
        yield None
        return
    clean = {k: _attribute(v) for k, v in attributes.items() if v is not None}
    with ExitStack() as stack:
        try:
            current = stack.enter_context(tracer.start_as_current_span(name, attributes=clean))
        except Exception as exc:  # tracing trouble must not fail the traced operation
            log.warning("tracing_span_failed", span=name, error_type=type(exc).__name__)
            current = None
        yield current
