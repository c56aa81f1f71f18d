"""Publish a synthetic caseload onto the event stream, as the producers' outbox relays would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from uuid import UUID

import nats

from ictg_common.contracts import REGISTRY
from ictg_common.events import SOURCES, CloudEvent

from .generate import Story

WINDOW = 500  # publishes in flight before waiting for their acks


def cloud_events(story: Story) -> list[CloudEvent]:
    """The story's events as CloudEvents (subject: the case id; the referral id for referral.received)."""
    return [
        CloudEvent(
            id=UUID(event_id),
            source=SOURCES[service],
            type=f"ictg.{name}.v1",
            dataschema=REGISTRY[f"ictg.{name}.v1"].dataschema(),
            time=time,
            data=data,
            subject=story.referral_id if name == "referral.received" else story.case_id,
        )
        for service, name, time, data, event_id in story.events
    ]


async def publish(
    nats_url: str, stories: Iterable[Story], *, stream: str = "ICTG", subject_prefix: str = "ictg",
    progress: Callable[[int], None] | None = None,
) -> int:  # fmt: skip
    """Publish every story's events with `Nats-Msg-Id` = event id. Returns how many were published.

    It speaks for every producer at once, which no service's NATS user may: against a NATS that
    authenticates, `nats_url` carries a user allowed to (`nats://user:password@host:port`)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        pending: list[asyncio.Future[object]] = []
        sent = 0
        for story in stories:
            for event in cloud_events(story):
                pending.append(asyncio.ensure_future(js.publish(
                    event.nats_subject(subject_prefix), event.to_json(), stream=stream, headers={"Nats-Msg-Id": str(event.id)},
                )))  # fmt: skip
                sent += 1
                if len(pending) >= WINDOW:
                    await asyncio.gather(*pending)
                    pending.clear()
            if progress:
                progress(1)
        await asyncio.gather(*pending)
        return sent
    finally:
        await nc.close()
