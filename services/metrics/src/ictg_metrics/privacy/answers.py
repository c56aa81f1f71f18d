"""What an answer under dp says of itself: the query it answers (its canonical parameters, the key of its
stored answer), a note for readers, and the headers a CSV file carries."""

from __future__ import annotations

from typing import Any

from ..children.query import ChildQuery

NOTE = (
    "Counts carry discrete Laplace noise (differential privacy, OpenDP): each is within privacy.interval_95 of the "
    "true count 95 % of the time, clipped at 0; values under 10 are shown and listed in their row's `small`. Cells "
    "need not add up to totals. The same query asked again gets this answer again, at no cost."
)


def canonical_query(measure: str, q: ChildQuery, epsilon: float, **extra: Any) -> dict[str, Any]:
    """The parameters that decide an answer, written one way only: filters by name, each one's values sorted
    and once (they are ORed), the resolved `as_of`, `extra` (the caseload's months); not the format (JSON and
    CSV are the same answer)."""
    return {
        "measure": measure, "as_of": q.as_of.isoformat(), "group_by": list(q.group_by),
        "referred_from": q.referred_from.isoformat() if q.referred_from else None,
        "referred_to": q.referred_to.isoformat() if q.referred_to else None,
        "filters": {k: sorted(set(v), key=lambda x: (type(x).__name__, str(x))) for k, v in sorted(q.filters.items())},
        "long_term_missing_days": q.long_term_missing_days, "epsilon": epsilon, **extra,
    }  # fmt: skip


def headers(privacy: dict[str, Any]) -> dict[str, str]:
    """An answer's `privacy` as response headers (`ICTG-Privacy-*`), for CSV as for JSON."""
    budget = privacy["budget"]
    return {
        "ICTG-Privacy-Mechanism": privacy["mechanism"], "ICTG-Privacy-Epsilon": f"{privacy['epsilon']:g}",
        "ICTG-Privacy-Sensitivity": str(privacy["sensitivity"]), "ICTG-Privacy-Scale": f"{privacy['scale']:g}",
        "ICTG-Privacy-Interval-95": str(privacy["interval_95"]),
        "ICTG-Privacy-Budget-Remaining": f"{budget['remaining']:g}", "ICTG-Privacy-Budget-Resets-At": budget["resets_at"],
        "ICTG-Privacy-Replayed": "true" if privacy["replayed"] else "false",
    }  # fmt: skip
