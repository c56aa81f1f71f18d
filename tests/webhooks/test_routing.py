"""Which authority an event is routed to (`ictg_webhooks.routing`)."""

from __future__ import annotations

from ictg_common.contracts import MODELS, CaseEventData, ReferralReceived
from ictg_webhooks.routing import AUTHORITIES


def test_every_case_event_and_referral_belongs_to_an_authority() -> None:
    """A case event of any type (a new one too) is routed to the authority responsible for the child,
    never dropped as no authority's; a referral to its own authority; the platform's own
    notices to no authority (they are addressed to one organisation)."""
    assert {m for m in MODELS if issubclass(m, CaseEventData)} | {ReferralReceived} == set(AUTHORITIES)
