"""Optional OpenTelemetry traces, shared by the gateway and the orchestrator.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set (and the ``otel`` extra installed:
``pip install jupyter-tutor[otel]``) every :func:`span` becomes an OpenTelemetry span,
exported over OTLP/HTTP by the SDK's batch processor.  Without it, :func:`span` returns
one shared do-nothing context manager: no OpenTelemetry module is ever imported, nothing
is allocated per call, nothing leaves the process.

::

    from jupyter_tutor import tracing

    with tracing.span("gateway.request", conversation_id=cid, route="messages"):
        ...

Attribute names without a dot get the ``tutor.`` prefix (``tutor.conversation_id``);
``None`` values are left out and anything that is not a string, number or boolean is
sent as its ``str()``.  Never pass message text, tokens or keys as attributes: spans go
to whatever collector the admin configured.

The standard OpenTelemetry variables apply: ``OTEL_SERVICE_NAME`` (else the name given
to :func:`configure`, else ``jupyter-tutor``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_TRACES_SAMPLER``… and ``OTEL_SDK_DISABLED=true``
turns tracing off even with an endpoint.

To follow one question across the trust boundary, the orchestrator sends
:func:`propagation_headers` with its gateway request and the gateway opens its request
span with ``carrier=request.headers``.  A student can forge that header: it only decides
which trace a span is filed under, never who the caller is.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TRACES_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
DEFAULT_SERVICE_NAME = "jupyter-tutor"
ATTRIBUTE_PREFIX = "tutor."


class _NoopSpan:
    """What :func:`span` yields when tracing is off: accepts the span API, does nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoopSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        return None

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        return None

    def record_exception(self, exception: BaseException, **kwargs: Any) -> None:
        return None

    def is_recording(self) -> bool:
        return False


NOOP_SPAN = _NoopSpan()

_lock = threading.Lock()
#: ``None``: not decided yet; ``False``: off; otherwise the tracer in use.
_tracer: Any = None
_provider: Any = None


def tracing_requested(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint, the SDK not disabled)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(env.get(ENDPOINT_ENV) or env.get(TRACES_ENDPOINT_ENV))


def configure(
    service_name: str | None = None,
    *,
    exporter: Any = None,
    set_global: bool = True,
) -> bool:
    """Set tracing up now; return whether spans will be recorded.

    Called lazily by the first :func:`span`; call it at start to choose the service name
    (``jupyter-tutor-gateway``, ``jupyter-tutor-server``).  ``exporter`` replaces the OTLP
    exporter and forces tracing on (tests pass an in-memory exporter); spans then go to it
    synchronously.  With ``set_global`` the provider also becomes OpenTelemetry's global
    one, so instrumentation libraries the admin adds report into the same traces.
    """
    global _tracer, _provider
    with _lock:
        if _tracer not in (None, False):
            return True
        if exporter is None and not tracing_requested():
            _tracer = False
            return False
        try:
            from opentelemetry.sdk.resources import SERVICE_NAME, Resource
            from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

            if exporter is None:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                    OTLPSpanExporter,
                )

                processor: SpanProcessor = BatchSpanProcessor(OTLPSpanExporter())
            else:
                processor = SimpleSpanProcessor(exporter)
        except ImportError as err:
            log.warning(
                "%s is set but OpenTelemetry is not installed (%s); no traces are exported. "
                "Install the `otel` extra: pip install 'jupyter-tutor[otel]'.",
                ENDPOINT_ENV,
                err.name,
            )
            _tracer = False
            return False
        name = os.environ.get("OTEL_SERVICE_NAME") or service_name or DEFAULT_SERVICE_NAME
        # Resource.create merges OTEL_RESOURCE_ATTRIBUTES; the explicit name wins.
        provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
        provider.add_span_processor(processor)
        if set_global:
            from opentelemetry import trace

            trace.set_tracer_provider(provider)
        _provider = provider
        _tracer = provider.get_tracer("jupyter_tutor")
        return True


def enabled() -> bool:
    """Whether spans are being recorded (decides on first call)."""
    if _tracer is None:
        configure()
    return _tracer is not False


def span(name: str, *, carrier: Mapping[str, str] | None = None, **attributes: Any) -> Any:
    """A context manager timing one step as a span named ``name``.

    ``attributes`` become span attributes (see the module docstring for naming).  An
    exception leaving the block is recorded on the span and marks it as an error.
    ``carrier`` (HTTP headers) continues a trace started by another process.
    """
    tracer = _tracer
    if tracer is None:
        configure()
        tracer = _tracer
    if tracer is False:
        return NOOP_SPAN
    context = None
    if carrier is not None:
        from opentelemetry.propagate import extract

        context = extract({str(k).lower(): str(v) for k, v in carrier.items()})
    return tracer.start_as_current_span(name, context=context, attributes=_attributes(attributes))


def propagation_headers() -> dict[str, str]:
    """W3C ``traceparent`` (and ``tracestate``) of the current span; ``{}`` when off."""
    if not enabled():
        return {}
    from opentelemetry.propagate import inject

    headers: dict[str, str] = {}
    inject(headers)
    return headers


def shutdown() -> None:
    """Flush pending spans and stop exporting (call on process exit; never raises)."""
    global _tracer, _provider
    with _lock:
        provider, _provider = _provider, None
        _tracer = None
    if provider is not None:
        try:
            provider.shutdown()
        except Exception:  # pragma: no cover - exporter failures must not stop a shutdown
            log.debug("Error while flushing traces", exc_info=True)


def _attributes(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if "." not in key:
            key = ATTRIBUTE_PREFIX + key
        if not isinstance(value, str | bool | int | float):
            value = str(value)
        out[key] = value
    return out
