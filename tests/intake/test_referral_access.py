"""Who may see a referral: the one rule (`referrals/access.py`), without a database."""

from __future__ import annotations

import pytest

from ictg_common.auth import Actor
from ictg_intake.models import Referral
from ictg_intake.referrals.access import may_see, whose_referrals

MET = Referral(org_type="police", org_name="Metropolitan Police")


def actor(*scopes: str, org_type: str | None = None, org_name: str | None = None) -> Actor:
    return Actor(sub="client", scopes=frozenset(scopes), org_type=org_type, org_name=org_name)


def test_the_service_sees_every_organisations_referrals() -> None:
    service = actor("referrals:read", org_type="other", org_name="ICTG")
    assert whose_referrals(service) is None and may_see(service, MET)


def test_a_first_responder_sees_its_own_organisations_referrals_only() -> None:
    met = actor("referrals:write", org_type="police", org_name="Metropolitan Police")
    assert whose_referrals(met) == ("police", "Metropolitan Police") and may_see(met, MET)
    assert not may_see(actor("referrals:write", org_type="police", org_name="Kent Police"), MET)
    # The same name under another organisation type is another organisation.
    assert not may_see(actor("referrals:write", org_type="health", org_name="Metropolitan Police"), MET)


@pytest.mark.parametrize(
    "org", [(None, None), ("police", None), (None, "Metropolitan Police")], ids=["none", "no-name", "no-type"]
)
def test_a_token_naming_no_whole_organisation_sees_none(org: tuple[str | None, str | None]) -> None:
    who = actor("referrals:write", org_type=org[0], org_name=org[1])
    assert not may_see(who, MET) and not may_see(who, Referral(org_type="", org_name=""))
    assert "" in (whose_referrals(who) or ())
