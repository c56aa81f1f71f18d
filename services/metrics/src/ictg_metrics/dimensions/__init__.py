"""The dimensions analysts group and filter by, as SQL over `metrics.child`.

`model` (a `Dimension`), `sql` (the fragments dimensions are written in), `catalogue` (every dimension, in
the data dictionary's order, declared by family in `at_referral`, `in_service`, `at_exit`, with `words`), `domains` (every value a dimension can take in a period) and `tables`
(shaping result rows: natural order, names beside codes, every cell listed).
"""

from .catalogue import DIMENSIONS, NAMED, ORDERED, TOP_AGE
from .domains import SERVICE_START, domain, financial_year
from .model import Dimension, Kind, band_labels
from .sql import MONTH

__all__ = [
    "DIMENSIONS", "MONTH", "NAMED", "ORDERED", "SERVICE_START", "TOP_AGE", "Dimension", "Kind", "band_labels",
    "domain", "financial_year",
]  # fmt: skip
