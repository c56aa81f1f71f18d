"""OpenTelemetry tracing: one trace per referral, across services, through the events.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (spans then go there over OTLP/HTTP, batched; the
standard `OTEL_*` variables such as `OTEL_SERVICE_NAME` and `OTEL_EXPORTER_OTLP_HEADERS` apply), or a
test calls `use_span_exporter`. When off, nothing here creates a span and events carry no trace
context.

How a referral stays one trace (DESIGN §8, §16):
- the FastAPI instrumentation makes the POST's server span (continuing the caller's `traceparent`);
- `make_event` copies the current span's W3C `traceparent` into the event (the CloudEvents
  distributed-tracing extension attribute), so the outbox row carries it;
- the outbox relay publishes each row in a producer span whose parent is the event's traceparent;
- a consumer handles an event in a consumer span whose parent is the event's traceparent (a fetched
  batch whose events belong to one trace continues it; a batch spanning several traces starts its
  own and links every event's context). Events the handler emits carry the consumer span's
  traceparent, so `case.opened` continues the referral's trace;
- peer calls (the claim check) go through an instrumented httpx client, which sends `traceparent`;
  the FastAPI instrumentation of the peer continues it. asyncpg queries are child spans of whatever
  is current; a query outside any trace (a relay poll, say) is not recorded.

The provider is per process: one service per process in production. Every span carries the
attribute `ictg.service` (the app that made it), so in-process tests with several apps tell them apart.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

    from .events import CloudEvent

SERVICE_ATTRIBUTE = "ictg.service"
# Probes and scrapes are not traced: they would be most of the traces and tell nothing.
EXCLUDED_URLS = "/healthz$,/readyz$,/metrics$"

_PROPAGATOR = TraceContextTextMapPropagator()
_service: contextvars.ContextVar[str | None] = contextvars.ContextVar("ictg_service", default=None)
_provider: TracerProvider | None = None


def enabled() -> bool:
    return _provider is not None


def configure_from_env(service: str) -> bool:
    """Start tracing to `OTEL_EXPORTER_OTLP_ENDPOINT` if it is set (once per process). True if on."""
    if _provider is not None:
        return True
    if not os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    _start(BatchSpanProcessor(OTLPSpanExporter()), service)
    return True


def use_span_exporter(exporter: SpanExporter, *, service: str = "ictg") -> None:
    """Turn tracing on with `exporter`, each span exported as it ends (tests: an in-memory exporter).
    Apps built afterwards are traced. `stop_tracing()` turns it off again."""
    stop_tracing()
    _start(SimpleSpanProcessor(exporter), service)


def stop_tracing() -> None:
    """Flush and turn tracing off (apps built while it was on keep their server middleware, which then
    records nothing this module sees)."""
    global _provider
    if _provider is None:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    AsyncPGInstrumentor().uninstrument()
    provider, _provider = _provider, None
    provider.shutdown()


def _start(processor: SpanProcessor, service: str) -> None:
    global _provider
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(attributes), sampler=ParentBased(root=_RootSampler()))
    provider.add_span_processor(_ServiceStamp())
    provider.add_span_processor(processor)
    _provider = provider
    AsyncPGInstrumentor().instrument(tracer_provider=provider)


def tracer() -> trace.Tracer:
    return _provider.get_tracer("ictg") if _provider is not None else trace.NoOpTracer()


def set_service(name: str) -> contextvars.Token[str | None]:
    """Spans started in this context (and the tasks it creates) carry `ictg.service = name`."""
    return _service.set(name)


def reset_service(token: contextvars.Token[str | None]) -> None:
    _service.reset(token)


def instrument_app(app: FastAPI, service: str) -> None:
    """Server spans for `app`'s requests (continuing the caller's `traceparent`), if tracing is on."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def stamp(span: trace.Span, scope: dict[str, Any]) -> None:
        if span.is_recording():
            span.set_attribute(SERVICE_ATTRIBUTE, service)

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls=EXCLUDED_URLS, server_request_hook=stamp
    )


def instrument_client(client: httpx.AsyncClient) -> bool:
    """Client spans for `client`'s requests, and `traceparent` sent with them, if tracing is on (True).
    Per client, not every httpx client in the process: the webhooks worker's POSTs to outside
    receivers are theirs to trace, and carry no `traceparent` header of ours."""
    if _provider is None:
        return False
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_provider)
    return True


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None outside a (valid) span."""
    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def span_context(traceparent: str | None) -> SpanContext | None:
    """The remote span context a `traceparent` names; None if absent or malformed."""
    if not traceparent:
        return None
    ctx = trace.get_current_span(_PROPAGATOR.extract({"traceparent": traceparent})).get_span_context()
    return ctx if ctx.is_valid else None


@contextlib.contextmanager
def event_span(
    name: str,
    events: Sequence[CloudEvent],
    *,
    kind: SpanKind,
    service: str | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[None]:
    """A span continuing the trace the `events` carry (see the module docstring), current inside;
    it and the spans started inside carry `ictg.service = service`."""
    if _provider is None:
        yield
        return
    contexts = [c for c in (span_context(e.traceparent) for e in events) if c is not None]
    parent = otel_context.Context()  # a root unless the events name one trace
    if contexts and len({c.trace_id for c in contexts}) == 1:
        parent = trace.set_span_in_context(NonRecordingSpan(contexts[0]), parent)
    links = [Link(c) for c in contexts] if len(events) > 1 else []
    attrs: dict[str, Any] = {"messaging.system": "nats", "messaging.batch.message_count": len(events)}
    if len(events) == 1:
        attrs |= {"messaging.message.id": str(events[0].id), "cloudevents.event_type": events[0].type}
    attrs |= dict(attributes or {})
    token = _service.set(service) if service else None
    try:
        with tracer().start_as_current_span(name, context=parent, kind=kind, links=links, attributes=attrs):
            yield
    finally:
        if token is not None:
            _service.reset(token)


@contextlib.contextmanager
def child_of(
    traceparent: str | None, name: str, *, kind: SpanKind, service: str | None = None, attributes: Mapping[str, Any]
) -> Iterator[None]:
    """A span whose parent is `traceparent` (none: a root), current inside; nothing if tracing is off."""
    if _provider is None:
        yield
        return
    remote = span_context(traceparent)
    parent = otel_context.Context()
    if remote is not None:
        parent = trace.set_span_in_context(NonRecordingSpan(remote), parent)
    token = _service.set(service) if service else None
    try:
        with tracer().start_as_current_span(name, context=parent, kind=kind, attributes=dict(attributes)):
            yield
    finally:
        if token is not None:
            _service.reset(token)


def trace_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span (hex), for log lines; empty outside a span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return {}
    return {"trace_id": format(ctx.trace_id, "032x"), "span_id": format(ctx.span_id, "016x")}


class _ServiceStamp(SpanProcessor):
    """Stamps `ictg.service` from the context that starts the span."""

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        name = _service.get()
        if name is not None and span.attributes is not None and SERVICE_ATTRIBUTE not in span.attributes:
            span.set_attribute(SERVICE_ATTRIBUTE, name)

    def on_end(self, span: ReadableSpan) -> None:
        pass


class _RootSampler(Sampler):
    """Records every root span except a database query outside any trace (relay polls, listeners,
    probes): those would be a trace a second per process and follow no referral."""

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Any = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT and any(k in (attributes or {}) for k in ("db.system", "db.system.name")):
            return SamplingResult(Decision.DROP)
        return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)

    def get_description(self) -> str:
        return "IctgRootSampler"
