"""Disclosure control of every measure's answer (docs/disclosure.md): perturbed by the cell key method, or true.

`perturb` (default): every published count — cells, totals, caseload flows and stocks, timeliness
counts, deadline numerators and denominators — goes through the cell key method with its own cell key
(`_ck_<count>` in a raw row, the sum of its children's record keys mod 256, computed in SQL); a result
under the ptable's threshold (10) is withheld: `null`, and the row says `"withheld": true` and which
fields in `withheld_fields`. Quantiles are withheld with the published count of their cases (always when
there are fewer than 10, sometimes up to 14 with the default ptable): a median of three children
discloses them. A table lists its empty cells too (withheld).
A query whose table would be sparse (more than half of its cells withheld), or that combines more than 4
dimensions across `group_by` and filters, is refused (422, with the reason) rather than answered with a
table of holes.

`none`: as counted (scope metrics:read:unsuppressed, audited by the endpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ictg_common.errors import invalid

from .cellkey import Ptable

Disclosure = Literal["perturb", "none"]
CELL_KEY_PREFIX = "_ck_"  # a raw row's cell key of a count: `_ck_<count>` (never published)
MAX_DIMENSIONS = 4  # across group_by and filters, under perturbation
NOTE = (
    "Counts are perturbed by the cell key method (ONS): each published count is the true count plus noise drawn "
    "by the cell's key from the ptable's distribution, of mean 0, at most max_noise either way and of the stated "
    "variance; the same cell always has the same value, and values under 10 are withheld (null, 'c' in "
    "CSV), so that an empty cell and a small one read the same. Cells therefore need not add up to totals, nor "
    "months to their differences."
)


@dataclass(frozen=True)
class Discloser:
    """How one answer is disclosed: the mode and, for `perturb`, the ptable."""

    mode: Disclosure
    ptable: Ptable

    @property
    def perturbs(self) -> bool:
        return self.mode == "perturb"

    @property
    def threshold(self) -> int:
        return self.ptable.threshold

    def value(self, count: int, cell_key: int) -> int | None:
        """The published value of a count with its cell key; None when withheld."""
        if not self.perturbs:
            return count
        return self.ptable.perturb(count, cell_key)

    def row(
        self, raw: dict[str, Any], counts: Sequence[str], *, statistics: Sequence[tuple[str, Sequence[str]]] = ()
    ) -> dict[str, Any]:
        """`raw` as published: each of its `counts` disclosed by its cell key (`_ck_<count>`), and the
        `statistics` fields computed over the group a count counts (`("children", ["median"])`) withheld
        with it, when the count is withheld (under the threshold, 10: fewer than 10 cases)."""
        out = {k: v for k, v in raw.items() if not k.startswith(CELL_KEY_PREFIX)}
        hidden: list[str] = []
        for key in counts:
            # every count has its cell key: a count without one would fail here, never go out unperturbed
            out[key] = self.value(int(raw[key]), int(raw[CELL_KEY_PREFIX + key]) if self.perturbs else 0)
            if out[key] is None:
                hidden.append(key)
        for count, fields in statistics:
            # Decided on the published count alone: withheld with it. (On the true count, a noisy ptable's
            # published 10 beside withheld quantiles would say that the true count is under 10.)
            if out[count] is None:
                for f in fields:
                    # perturbed, listed even when there was nothing to compute: else a statistic left out of
                    # `withheld_fields` would tell a count of 0 from one of 1-9
                    if self.perturbs or out.get(f) is not None:
                        out[f] = None
                        hidden.append(f)
        if hidden:
            out["withheld"] = True
            out["withheld_fields"] = hidden
        return out

    def check_dimensions(self, dimensions: int) -> None:
        """Refuse (422), before anything is counted, more than 4 dimensions across `group_by` and filters
        under perturbation: their cells would be too small to publish. `none` answers anything."""
        if self.perturbs and dimensions > MAX_DIMENSIONS:
            raise invalid(
                "#query/group_by",
                f"this query combines {dimensions} dimensions across group_by and filters; with "
                f"disclosure=perturb at most {MAX_DIMENSIONS} may be combined (the cells would be too small to "
                "publish)",
            )

    def check_published(self, cells: Sequence[int | None]) -> None:
        """Refuse (422) a perturbed table more than half of whose cells (empty ones listed) would be
        withheld. Decided on the published values alone, so the refusal says nothing they would not."""
        if self.perturbs and len(cells) > 1 and 2 * sum(1 for c in cells if c is None) > len(cells):
            raise invalid(
                "#query/group_by",
                "the table would be sparse: more than half of its cells would be withheld (under 10); group "
                "by fewer dimensions, drop a filter or widen the period",
            )

    def describe(self) -> dict[str, Any]:
        """What a response says about its disclosure: perturbed, the ptable's parameters (`name`,
        `threshold`, `max_noise`, `variance`, computed from its rows) and a note on reading the figures."""
        if not self.perturbs:
            return {"disclosure": "none"}
        stated = self.ptable.describe()
        ptable = {k: stated[k] for k in ("name", "threshold", "max_noise", "variance")}
        return {"disclosure": "perturb", "ptable": ptable, "note": NOTE}
