"""Which authority an event is routed to (`ictg_webhooks.routing`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ictg_common.contracts import MODELS, CaseEventData, CaseMoved, ContactRecorded, ReferralReceived, make_event
from ictg_common.events import CloudEvent, new_id
from ictg_webhooks.routing import AUTHORITIES, MoveNotSeen, Periods, authorities


def test_every_case_event_and_referral_belongs_to_an_authority() -> None:
    """A case event of any type (a new one too) is routed to the authority responsible for the child,
    never dropped as no authority's; a referral to its own authority; the platform's own
    notices to no authority (they are addressed to one organisation)."""
    assert {m for m in MODELS if issubclass(m, CaseEventData)} | {ReferralReceived} == set(AUTHORITIES)


def test_a_case_event_that_overtook_the_move_it_follows_is_routed_to_no_council_until_the_move_is_known() -> None:
    """The stream's order is not promised: a contact dated after a move can arrive before the move. It must
    not go to the council the child left; once the move is routed, it goes to the new one; a contact dated
    before the move, recorded after it, still goes to the old one."""
    case_id, referral_id = new_id(), new_id()
    opened, moved = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    periods = Periods(known={case_id: [(opened, "E08000003")]})  # Manchester, from case.opened

    def contact(on: datetime) -> tuple[CloudEvent, ContactRecorded]:
        data = ContactRecorded(case_id=case_id, referral_id=referral_id, contact_id=new_id(), occurred_at=on,
                               outcome="made", method="face_to_face", party="child",
                               local_authority_code="E08000007", region="north_west")  # fmt: skip
        return make_event(data=data, subject=case_id, time=on), data

    after, before = contact(moved + timedelta(days=3)), contact(moved - timedelta(days=3))
    with pytest.raises(MoveNotSeen):
        authorities(periods, *after)
    move = CaseMoved(case_id=case_id, referral_id=referral_id, local_authority_code="E08000007", region="north_west",
                     move_id=new_id(), moved_at=moved, from_local_authority_code="E08000003")  # fmt: skip
    assert authorities(periods, make_event(data=move, subject=case_id, time=moved), move) == ["E08000003", "E08000007"]
    assert authorities(periods, *after) == ["E08000007"]
    assert authorities(periods, *before) == ["E08000003"]


def test_a_case_event_naming_its_responsible_authority_goes_there_whatever_was_seen_before() -> None:
    """The case API names the authority responsible at the event's own time on every event it writes, so
    neither a move not yet routed nor a move there and back (both unseen) sends it to the wrong council;
    a contact dated before a move, recorded after it, goes to the council the child left."""
    case_id, referral_id = new_id(), new_id()
    opened = datetime(2026, 3, 1, tzinfo=UTC)
    periods = Periods(known={case_id: [(opened, "E08000003")]})  # Manchester, from case.opened

    def contact(on: datetime, responsible: str) -> tuple[CloudEvent, ContactRecorded]:
        data = ContactRecorded(case_id=case_id, referral_id=referral_id, contact_id=new_id(), occurred_at=on,
                               outcome="made", method="face_to_face", party="child", local_authority_code="E08000003",
                               region="north_west", responsible_local_authority_code=responsible)  # fmt: skip
        return make_event(data=data, subject=case_id, time=on), data

    # Moved to Stockport on 1 June and back to Manchester on 1 July, neither move routed yet: a contact of
    # 10 June is recorded under Manchester (the child is there again) but is Stockport's.
    assert authorities(periods, *contact(datetime(2026, 6, 10, tzinfo=UTC), "E08000007")) == ["E08000007"]
    assert authorities(periods, *contact(datetime(2026, 7, 10, tzinfo=UTC), "E08000003")) == ["E08000003"]
    assert authorities(periods, *contact(datetime(2026, 4, 10, tzinfo=UTC), "E08000003")) == ["E08000003"]
