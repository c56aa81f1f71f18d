"""Every dimension analysts group and filter by, as SQL over `metrics.child` with its words for the data
dictionary. Multi-valued dimensions are arrays of distinct values, expanded through a lateral `unnest`: a
child counts once per value while totals stay distinct children.

The dimensions are declared by family, in the data dictionary's order: `at_referral` (fixed at referral),
`in_service` (as of `as_of`) and `at_exit` (exits and NRM decisions); `words` holds what they share.
"""

from __future__ import annotations

from .at_exit import AT_EXIT
from .at_referral import AT_REFERRAL
from .in_service import IN_SERVICE
from .model import Dimension
from .words import TOP_AGE

__all__ = ["DIMENSIONS", "NAMED", "ORDERED", "TOP_AGE"]

_ALL = [*AT_REFERRAL, *IN_SERVICE, *AT_EXIT]

DIMENSIONS: dict[str, Dimension] = {d.name: d for d in _ALL}
ORDERED = frozenset(d.name for d in _ALL if d.values is not None)
"""Dimensions with a closed list of values: rows follow its order, the dictionary's (bands `0-1, 2, 3-15, …`,
statuses from awaiting allocation to exited, frequencies from none up), not text order."""

# codes a reader cannot read: a name beside
NAMED = ("local_authority", "current_local_authority", "region", "current_region")
