"""Who may see a referral: one rule, for a read, a list and a duplicate link alike (pure).

The ICTG service (scope `referrals:read`) sees every referral; a first responder sees those its own
organisation filed (the token's `org_type` and `org_name`); a token naming no organisation sees none.
Whatever else is asked for answers 404, never 403: another organisation's referral is not theirs
to know exists.
"""

from __future__ import annotations

from ictg_common.auth import Actor

from ..models import Referral

Organisation = tuple[str, str]


def whose_referrals(actor: Actor) -> Organisation | None:
    """The organisation whose referrals `actor` may see, or None for every organisation's.

    A token naming no organisation gets `("", "")`, under which no referral is ever filed (a filing
    organisation is required), so a query filtered by it finds nothing."""
    if actor.has("referrals:read"):
        return None
    return (actor.org_type or "", actor.org_name or "")


def may_see(actor: Actor, referral: Referral) -> bool:
    """Whether `actor` may see `referral` (its record, or a link to it as a possible duplicate)."""
    return may_see_filed_by(actor, (referral.org_type, referral.org_name))


def may_see_filed_by(actor: Actor, filed_by: Organisation) -> bool:
    """Whether `actor` may see a referral that `filed_by` filed."""
    org = whose_referrals(actor)
    return org is None or (all(org) and org == filed_by)
