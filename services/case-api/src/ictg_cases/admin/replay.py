"""Replay `referral.received` from the JetStream stream and open the cases this API lacks (repair after a lost event).

A fault that lost events for good (acked without effect, a database restored from a backup) leaves
referrals without a case. An ephemeral ordered consumer reads only the subject
`<prefix>.intake.referral.received`, from its first message (or from `since`) up to the last
sequence that subject had when the replay began. Each event whose referral has no case goes through
the live consumer's own protocol, in a transaction of its own: the inbox row
`(cases-referrals, event id)` first (so a later redelivery is a no-op, and in the same lock order
as the consumer), then `open_case`, claim check included.

Safe beside the live consumer, another replica or another replay: `case.referral_id` is unique and
`open_case` inserts with ON CONFLICT DO NOTHING, so whoever comes second opens nothing and the
event counts as already present.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import nats.errors
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common.contracts import ReferralReceived
from ictg_common.events import CloudEvent
from ictg_common.natslink import connect
from ictg_common.outages import is_infrastructure

from ..cases import service as cases
from ..cases.claimcheck import IntakeClient
from ..settings import CasesSettings
from . import repository

log = logging.getLogger(__name__)

BATCH = 200  # events whose cases are looked up in one query
IDLE_SECONDS = 10.0  # no message for this long before the end: the replay stops, incomplete


@dataclass
class ReplayResult:
    read: int = 0
    opened: int = 0
    already_present: int = 0
    failed: int = 0
    # False when the stream stopped answering before the last sequence: run it again.
    complete: bool = True
    # With `only`: the referrals asked for that the stream no longer (or never) held.
    not_in_stream: list[UUID] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read, "opened": self.opened, "already_present": self.already_present,
            "failed": self.failed, "complete": self.complete,
        }  # fmt: skip


class ReplayUnavailable(Exception):
    """NATS, the database or intake is down: the replay stopped; `result` holds what it had done."""

    def __init__(self, message: str, result: ReplayResult) -> None:
        super().__init__(message)
        self.result = result


def _dependency_down(exc: BaseException) -> bool:
    # The consumer's own rule (intake's claim check raises `Unavailable` when intake is down).
    return is_infrastructure(exc)


def _parse(raw: bytes) -> tuple[UUID, CloudEvent] | None:
    try:
        event = CloudEvent.from_json(raw)
        return ReferralReceived.model_validate(event.data).referral_id, event
    except (ValueError, TypeError, KeyError):
        return None


async def replay_referrals(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    intake: IntakeClient,
    settings: CasesSettings,
    only: Collection[UUID] | None = None,
    since: datetime | None = None,
) -> ReplayResult:
    """Open a case for every referral of the stream that has none. Raises `ReplayUnavailable`.

    `only` restricts the replay to those referrals; `since` starts at that stream time instead of
    the first message (events are stored after their referral's `received_at`, so an earlier
    `received_at`, with a margin for clock skew, loses nothing).
    """
    result = ReplayResult()
    subject = f"{settings.subject_prefix}.intake.referral.received"
    wanted = set(only) if only is not None else None
    seen: set[UUID] = set()
    try:
        nc = await connect(settings.nats_url, settings.nats_credentials, connect_timeout=5, max_reconnect_attempts=3)
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        raise ReplayUnavailable(f"NATS is unreachable: {exc!r}", result) from exc
    try:
        js = nc.jetstream()
        try:
            last = await js.get_last_msg(settings.nats_stream, subject)
        except NotFoundError:
            last = None  # nothing was ever published on the subject (or the stream is gone)
        if last is not None and last.seq and not (since and last.time and last.time < since):
            if since is None:
                sub = await js.subscribe(
                    subject, stream=settings.nats_stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
                )
            else:
                sub = await js.subscribe(
                    subject, stream=settings.nats_stream, ordered_consumer=True,
                    deliver_policy=DeliverPolicy.BY_START_TIME, config=ConsumerConfig(opt_start_time=since),
                )  # fmt: skip
            pending: list[tuple[UUID, CloudEvent]] = []
            try:
                while True:
                    try:
                        msg = await sub.next_msg(timeout=IDLE_SECONDS)
                    except nats.errors.TimeoutError:
                        log.warning(
                            "referral replay stopped early: the stream went quiet before its last message",
                            extra={"read": result.read, "idle_seconds": IDLE_SECONDS},
                        )
                        result.complete = False
                        break
                    result.read += 1
                    parsed = _parse(msg.data)
                    if parsed is None:
                        result.failed += 1  # the live consumer parks these: a replay cannot open them either
                        log.warning(
                            "unreadable referral.received in the stream", extra={"seq": msg.metadata.sequence.stream}
                        )
                    elif wanted is None or parsed[0] in wanted:
                        seen.add(parsed[0])
                        pending.append(parsed)
                    if len(pending) >= BATCH:
                        await _open_missing(sessionmaker, pending, intake=intake, settings=settings, result=result)
                        pending = []
                    if msg.metadata.sequence.stream >= last.seq:
                        break
            finally:
                await sub.unsubscribe()
            await _open_missing(sessionmaker, pending, intake=intake, settings=settings, result=result)
    except ReplayUnavailable:
        raise
    except Exception as exc:
        if isinstance(exc, nats.errors.Error) or _dependency_down(exc):
            raise ReplayUnavailable(f"a dependency failed during the replay: {exc!r}", result) from exc
        raise
    finally:
        await nc.close()
    if wanted is not None:
        result.not_in_stream = sorted(wanted - seen)
    return result


async def _open_missing(
    sessionmaker: async_sessionmaker[AsyncSession],
    events: list[tuple[UUID, CloudEvent]],
    *,
    intake: IntakeClient,
    settings: CasesSettings,
    result: ReplayResult,
) -> None:
    if not events:
        return
    async with sessionmaker() as session:
        present = await repository.with_case(session, [referral_id for referral_id, _ in events])
    for referral_id, event in events:
        if referral_id in present:
            result.already_present += 1
            continue
        try:
            async with sessionmaker() as session, session.begin():
                await repository.mark_handled(session, event.id)
                case = await cases.open_case(session, event, intake=intake, settings=settings)
        except Exception as exc:  # a dependency down stops the replay; anything else is counted
            if _dependency_down(exc):
                raise ReplayUnavailable(f"a dependency is unavailable: {exc!r}", result) from exc
            result.failed += 1
            log.warning(
                "replay could not open a case",
                extra={"referral_id": str(referral_id), "event_id": str(event.id), "error": repr(exc)},
            )
            continue
        if case is None:  # the live consumer (or another replay) opened it meanwhile
            result.already_present += 1
        else:
            result.opened += 1
            log.info("case opened by replay", extra={"referral_id": str(referral_id), "case_id": str(case.id)})
