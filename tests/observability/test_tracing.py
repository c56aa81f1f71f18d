"""One referral, one trace: the POST to intake, its outbox publication, the case
API's consumer and its claim check back to intake, and the metrics fold, linked through the
`traceparent` the events carry. Spans go to an in-memory exporter; no collector is needed."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any, cast

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import text

from ictg_common import tracing
from ictg_common.auth import mint_token
from ictg_common.db import create_engine
from ictg_common.logs import JsonFormatter
from ictg_common.reference import REGION_SLUGS
from ictg_intake.app import create_app as create_intake
from ictg_intake.settings import IntakeSettings
from tests.support.factories import referral_body
from tests.support.platform import SECRET, auth, eventually, serve, service_apps


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_span_exporter(exporter)
    try:
        yield exporter
    finally:
        tracing.stop_tracing()


def service(span: ReadableSpan) -> str | None:
    return (span.attributes or {}).get(tracing.SERVICE_ATTRIBUTE)  # type: ignore[return-value]


def in_trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context is not None and s.context.trace_id == trace_id]


async def test_one_referral_is_one_trace_across_intake_case_api_and_metrics(
    shared_settings: dict[str, Any], spans: InMemorySpanExporter
) -> None:
    intake_app, cases_app, metrics_app = service_apps(shared_settings, sla_check_seconds=0)
    async with serve(intake_app) as intake, serve(cases_app) as cases, serve(metrics_app):
        r = await intake.post("/v1/referrals", json=referral_body(), headers=auth("referrals:write"))
        assert r.status_code == 201, r.text
        referral_id = r.json()["id"]
        [post] = [
            s for s in spans.get_finished_spans()
            if s.kind == SpanKind.SERVER and service(s) == "referral-intake" and s.name.startswith("POST")
        ]  # fmt: skip
        assert post.parent is None and post.context is not None  # the referral's trace starts here
        trace_id = post.context.trace_id

        def consumed(by: str, events: int) -> list[ReadableSpan]:
            """`by`'s consumer spans in the referral's trace, once they have handled `events` events."""
            found = [s for s in in_trace(spans, trace_id) if s.kind == SpanKind.CONSUMER and service(s) == by]
            handled = sum(int(cast(Any, (s.attributes or {}).get("messaging.batch.message_count", 0))) for s in found)
            return found if handled >= events else []

        async def case_api_and_metrics_done() -> bool:
            return bool(consumed("case-api", 1)) and bool(consumed("metrics", 2))

        await eventually(case_api_and_metrics_done, timeout=15)
        got = await cases.get("/v1/cases", params={"referral_id": referral_id}, headers=auth("cases:read"))
        assert got.status_code == 200 and len(got.json()["items"]) == 1

    trace = in_trace(spans, trace_id)
    by_id = {s.context.span_id: s for s in trace if s.context is not None}
    # One tree: every span but the POST has its parent in the same trace.
    orphans = [s.name for s in trace if s is not post and (s.parent is None or s.parent.span_id not in by_id)]
    assert not orphans, orphans

    # The event carried the POST's trace context: the outbox publication and the case API's consumer
    # are children of the request that wrote it.
    # (intake's other publication in the trace is the referrer's `referral.status_changed`, caused by case.opened)
    [publish] = [s for s in trace if s.kind == SpanKind.PRODUCER and service(s) == "referral-intake"
                 and s.name.endswith(".intake.referral.received")]  # fmt: skip
    assert publish.parent is not None
    [opened_by] = consumed("case-api", 1)
    assert opened_by.parent is not None and by_id[opened_by.parent.span_id].kind == SpanKind.SERVER
    assert service(by_id[opened_by.parent.span_id]) == "referral-intake"

    # The claim check: the case API's HTTP call, and intake's answer to it, inside the consumer's span.
    [claim] = [s for s in trace if s.kind == SpanKind.CLIENT and service(s) == "case-api" and s.name.startswith("GET")]
    assert claim.parent is not None and claim.parent.span_id == opened_by.context.span_id
    # (In process the request never leaves the context, so intake's span is INTERNAL, not SERVER.)
    [answer] = [
        s for s in trace
        if s.parent is not None and s.parent.span_id == claim.context.span_id
        and s.name == "GET /v1/referrals"  # the claim check fetches its batch by id
    ]  # fmt: skip
    assert service(answer) == "referral-intake"

    # The case API's own event (case.opened) was published in the trace too, and metrics folded both
    # events in it; their database work shows as child spans.
    assert [s for s in trace if s.kind == SpanKind.PRODUCER and service(s) == "case-api"]
    assert consumed("metrics", 2)
    assert {service(s) for s in trace if (s.attributes or {}).get("db.system") or (s.attributes or {}).get("db.system.name")} >= {
        "referral-intake", "case-api", "metrics"
    }  # fmt: skip

    # And the stored events name the trace (CloudEvents distributed-tracing extension).
    engine = create_engine(shared_settings["database_url"], pool_size=1)
    try:
        async with engine.connect() as conn:
            payloads = (await conn.execute(text("SELECT payload::text FROM intake.outbox"))).scalars().all()
            opened = (await conn.execute(text("SELECT payload::text FROM cases.outbox"))).scalars().all()
    finally:
        await engine.dispose()
    for payload in [*payloads, *opened]:
        traceparent = json.loads(payload)["traceparent"]
        assert traceparent.split("-")[1] == format(trace_id, "032x"), traceparent


def test_log_lines_carry_the_trace_id(spans: InMemorySpanExporter) -> None:
    formatter = JsonFormatter("referral-intake")
    record = logging.makeLogRecord({"name": "t", "levelname": "INFO", "msg": "hello"})
    assert "trace_id" not in json.loads(formatter.format(record))  # outside a span: none
    with tracing.tracer().start_as_current_span("work") as span:
        line = json.loads(formatter.format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


async def outbox(database_url: str, schema: str) -> list[dict[str, Any]]:
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f"SELECT payload::text FROM {schema}.outbox ORDER BY id"))).scalars()
            return [json.loads(p) for p in rows.all()]
    finally:
        await engine.dispose()


def trace_of(event: dict[str, Any]) -> int:
    return int(event["traceparent"].split("-")[1], 16)


async def test_two_referrals_consumed_in_one_batch_are_still_two_traces(
    shared_settings: dict[str, Any], spans: InMemorySpanExporter
) -> None:
    intake_app, cases_app, metrics_app = service_apps(shared_settings, sla_check_seconds=0)
    db = shared_settings["database_url"]
    async with serve(intake_app) as intake:
        for name in ("Anh", "Binh"):
            body = referral_body()
            body["child"]["given_name"] = name
            r = await intake.post("/v1/referrals", json=body, headers=auth("referrals:write"))
            assert r.status_code == 201, r.text

        async def both_published() -> bool:
            publications = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
            return len(publications) == 2

        await eventually(both_published)  # both in the stream: the consumers below fetch them together
        received = await outbox(db, "intake")

        async with serve(cases_app), serve(metrics_app):

            async def all_folded() -> bool:
                engine = create_engine(db, pool_size=1)
                try:
                    async with engine.connect() as conn:
                        folded = (await conn.execute(text("SELECT count(*) FROM metrics.event"))).scalar_one()
                finally:
                    await engine.dispose()
                return bool(folded == 4)

            await eventually(all_folded, timeout=20)
            await asyncio.sleep(0.3)  # the last consumer span ends after its commit
        opened = await outbox(db, "cases")

    # The case API took both referrals in one batch: its span is a root linking both (not in either trace).
    [batch] = [
        s for s in spans.get_finished_spans()
        if service(s) == "case-api" and s.kind == SpanKind.CONSUMER
        and (s.attributes or {}).get("messaging.batch.message_count") == 2
    ]  # fmt: skip
    assert batch.parent is None and len(batch.links) == 2

    traces = {trace_of(e) for e in received}
    assert len(traces) == 2  # one per referral
    for event in received:
        trace_id = trace_of(event)
        trace = in_trace(spans, trace_id)
        [post] = [s for s in trace if s.kind == SpanKind.SERVER and service(s) == "referral-intake"]
        assert post.parent is None and post.name.startswith("POST")
        by_id = {s.context.span_id: s for s in trace if s.context is not None}
        orphans = [s.name for s in trace if s is not post and (s.parent is None or s.parent.span_id not in by_id)]
        assert not orphans, orphans
        # The case API's handling of this referral's event is in its trace, linked to the batch ...
        [handled] = [
            s for s in trace
            if service(s) == "case-api" and s.kind == SpanKind.CONSUMER
            and (s.attributes or {}).get("messaging.message.id") == event["id"]
        ]  # fmt: skip
        assert [link.context.span_id for link in handled.links] == [batch.context.span_id]
        # ... and the case.opened it emitted carries this trace, was published in it, and metrics folded
        # both events of the referral in it.
        [case_opened] = [e for e in opened if e["data"]["referral_id"] == event["data"]["referral_id"]]
        assert trace_of(case_opened) == trace_id
        assert [s for s in trace if s.kind == SpanKind.PRODUCER and service(s) == "case-api"]
        folded = {(s.attributes or {}).get("messaging.message.id") for s in trace if service(s) == "metrics"}
        assert {event["id"], case_opened["id"]} <= folded


async def test_an_outside_callers_trace_context_is_linked_not_continued(
    shared_settings: dict[str, Any], spans: InMemorySpanExporter
) -> None:
    caller_trace, caller_span = "ab" * 16, "cd" * 8
    unsampled = f"00-{caller_trace}-{caller_span}-00"  # "do not record": must not switch our tracing off
    async with serve(create_intake(IntakeSettings(**shared_settings))) as intake:
        r = await intake.post(
            "/v1/referrals", json=referral_body(), headers={**auth("referrals:write"), "traceparent": unsampled}
        )
        assert r.status_code == 201, r.text
        referral_id = r.json()["id"]
        [post] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and s.name.startswith("POST")]
        assert post.parent is None and post.context is not None and post.context.trace_flags.sampled
        assert format(post.context.trace_id, "032x") != caller_trace
        assert [(format(link.context.trace_id, "032x"), link.context.span_id) for link in post.links] == [
            (caller_trace, int(caller_span, 16))
        ]
        [event] = await outbox(shared_settings["database_url"], "intake")
        assert trace_of(event) == post.context.trace_id  # the referral's trace is ours

        # A platform service (the claim check's token) continues its caller's trace.
        service_token = mint_token(
            secret=SECRET, sub="service:case-api", scopes=["referrals:read"], regions=list(REGION_SLUGS), service=True
        )
        sampled = f"00-{caller_trace}-{caller_span}-01"
        got = await intake.get(
            f"/v1/referrals/{referral_id}",
            headers={"Authorization": f"Bearer {service_token}", "traceparent": sampled},
        )
        assert got.status_code == 200, got.text
        [read] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and s.name.startswith("GET")]
        assert read.parent is not None and read.parent.span_id == int(caller_span, 16)
        assert format(read.context.trace_id, "032x") == caller_trace
        assert not read.links

        # Anyone else's, even sampled, is not continued.
        other = await intake.get(
            f"/v1/referrals/{referral_id}", headers={**auth("referrals:read"), "traceparent": sampled}
        )
        assert other.status_code == 200, other.text
        [*_, last] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER and s.name.startswith("GET")]
        assert last.parent is None and format(last.context.trace_id, "032x") != caller_trace
