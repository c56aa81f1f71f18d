"""OpenTelemetry tracing: one trace per referral, across services, through the events.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set (spans then go there over OTLP/HTTP, batched; the
standard `OTEL_*` variables such as `OTEL_SERVICE_NAME` and `OTEL_EXPORTER_OTLP_HEADERS` apply), or a
test calls `use_span_exporter`. When off, nothing here creates a span and events carry no trace
context.

How a referral stays one trace:
- the FastAPI instrumentation makes the POST's server span. An outside caller does not decide our
  tracing: its `traceparent` (sampled or not) is not continued; the server span starts a trace of
  our own, linked to the caller's context. Only a platform service (a verified service token: the
  claim check, reconciliation) continues the caller's trace (`instrument_app`);
- `make_event` copies the current span's W3C `traceparent` into the event (the CloudEvents
  distributed-tracing extension attribute), so the outbox row carries it;
- the outbox relay publishes each row in a producer span whose parent is the event's traceparent;
- a consumer handles an event in a consumer span whose parent is the event's traceparent. A fetched
  batch gets a span of its own (continuing the trace if all its events are of one, else a root
  linking every event's context), and inside it each event's handling is a span whose parent is
  that event's traceparent, linked to the batch span (`handling`; with a batch handler, which takes
  the events together, `handled_together`). Events a handler emits carry the span of the event it
  handles, so `case.opened` continues its referral's trace even when its batch mixed referrals;
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
import types
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
# The context an outside caller sent, not continued: the server span links it (`instrument_app`).
_caller: contextvars.ContextVar[SpanContext | None] = contextvars.ContextVar("ictg_caller", default=None)
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
    """Server spans for `app`'s requests, if tracing is on. A request's `traceparent` is continued
    only if it comes with a platform service's token; anyone else's is linked, not continued."""
    if _provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    def stamp(span: trace.Span, scope: dict[str, Any]) -> None:
        if span.is_recording():
            span.set_attribute(SERVICE_ATTRIBUTE, service)
            caller = _caller.get()
            if caller is not None:
                span.add_link(caller, {"ictg.link": "caller"})

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=_provider, excluded_urls=EXCLUDED_URLS, server_request_hook=stamp
    )
    instrumented = app.build_middleware_stack  # the OpenTelemetry middleware outermost: wrap it

    def build_middleware_stack(self: Any) -> Any:
        return _EdgeTrust(instrumented(), app)

    app.build_middleware_stack = types.MethodType(build_middleware_stack, app)  # type: ignore[method-assign]


_TRACE_HEADERS = (b"traceparent", b"tracestate", b"baggage")


class _EdgeTrust:
    """Outside the OpenTelemetry middleware: an untrusted caller's trace headers are taken out of
    the request (the server span then starts a trace of ours) and its context kept for a link."""

    def __init__(self, app: Any, owner: FastAPI) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or trace.get_current_span().get_span_context().is_valid:
            # (In process, within a span: the instrumentation makes a child of it and reads no header.)
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers") or [])
        traceparent = next((v for k, v in headers if k.lower() == b"traceparent"), None)
        if traceparent is None or self._from_a_service(headers):
            await self.app(scope, receive, send)
            return
        kept = [(k, v) for k, v in headers if k.lower() not in _TRACE_HEADERS]
        token = _caller.set(span_context(traceparent.decode("latin-1")))
        try:
            await self.app({**scope, "headers": kept}, receive, send)
        finally:
            _caller.reset(token)

    def _from_a_service(self, headers: list[tuple[bytes, bytes]]) -> bool:
        from .runtime import runtime_of  # the runtime's types import this module's importers

        auth = next((v for k, v in headers if k.lower() == b"authorization"), b"").decode("latin-1")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        try:
            return runtime_of(self.owner).verifier.verify(token.strip()).service
        except Exception:  # noqa: BLE001 - any token that does not verify: an outside caller
            return False


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
def handling(
    name: str, event: CloudEvent, *, batch: SpanContext | None = None, service: str | None = None
) -> Iterator[None]:
    """One event's handling inside a fetched batch: a span whose parent is the event's traceparent
    (none: a root), linked to the `batch` span, current inside (what the handler emits joins the
    event's trace). Nothing if tracing is off."""
    if _provider is None:
        yield
        return
    token = _service.set(service) if service else None
    try:
        with tracer().start_as_current_span(
            name, context=_parent(event.traceparent), kind=SpanKind.CONSUMER, links=_links(batch),
            attributes=_event_attributes(event),
        ):  # fmt: skip
            yield
    finally:
        if token is not None:
            _service.reset(token)


@contextlib.contextmanager
def handled_together(
    name: str, events: Sequence[CloudEvent], *, batch: SpanContext | None = None, service: str | None = None
) -> Iterator[None]:
    """For a handler that takes a batch's events together: a span per event, in the event's trace and
    linked to the `batch` span, open while the handler runs (not current: the handler's own work
    shows under the batch span). Nothing if tracing is off."""
    if _provider is None:
        yield
        return
    token = _service.set(service) if service else None
    try:
        spans = [
            tracer().start_span(
                name,
                context=_parent(e.traceparent),
                kind=SpanKind.CONSUMER,
                links=_links(batch),
                attributes=_event_attributes(e),
            )
            for e in events
        ]
    finally:
        if token is not None:
            _service.reset(token)
    try:
        yield
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(trace.Status(trace.StatusCode.ERROR, repr(exc)))
        raise
    finally:
        for span in spans:
            span.end()


def current_span_context() -> SpanContext | None:
    ctx = trace.get_current_span().get_span_context()
    return ctx if ctx.is_valid else None


def _parent(traceparent: str | None) -> otel_context.Context:
    remote = span_context(traceparent)
    parent = otel_context.Context()
    return parent if remote is None else trace.set_span_in_context(NonRecordingSpan(remote), parent)


def _links(batch: SpanContext | None) -> list[Link]:
    return [Link(batch, {"ictg.link": "batch"})] if batch is not None else []


def _event_attributes(event: CloudEvent) -> dict[str, Any]:
    return {
        "messaging.system": "nats",
        "messaging.message.id": str(event.id),
        "cloudevents.event_type": event.type,
    }


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
