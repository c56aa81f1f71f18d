"""The dimensions of a child's exit and of the NRM decisions, as of `as_of`."""

from __future__ import annotations

from ictg_common import codes

from .model import Dimension
from .sql import (
    EXITED,
    financial_year_of,
    latest,
    when_exited,
)
from .words import (
    LONDON,
    MONTH_NOTE,
    NULL_IF_NOT_EXITED,
    B,
    V,
)

AT_EXIT: list[Dimension] = [
    Dimension(
        "exited",
        f"COALESCE({EXITED}, false)",
        kind=B,
        label="Exited",
        definition="True if the case exited on or before `as_of`.",
    ),
    Dimension(
        "exit_reason",
        when_exited("c.exit_reason"),
        values=V(codes.ExitReason),
        label="Exit reason",
        definition=f"Why the case exited, if it exited on or before `as_of`; {NULL_IF_NOT_EXITED}.",
        nullable=True,
    ),
    Dimension(
        "exit_destination",
        when_exited("c.exit_destination"),
        values=V(codes.ExitDestination),
        label="Exit destination",
        definition=f"The service the child moved on to at exit, if it was on or before `as_of`; {NULL_IF_NOT_EXITED}.",
        nullable=True,
    ),
    Dimension(
        "exit_month",
        when_exited("to_char(c.exit_on, 'YYYY-MM')"),
        label="Month of exit",
        definition=f"The month of exit ({LONDON}), if on or before `as_of`; {NULL_IF_NOT_EXITED}.",
        values_note=MONTH_NOTE,
        nullable=True,
    ),
    Dimension(
        "exit_year",
        when_exited("to_char(c.exit_on, 'YYYY')"),
        label="Year of exit",
        definition=f"The calendar year of exit ({LONDON}), if on or before `as_of`; {NULL_IF_NOT_EXITED}.",
        values_note="Any year, written YYYY (e.g. 2018).",
        nullable=True,
    ),
    Dimension(
        "exit_financial_year",
        when_exited(financial_year_of("c.exit_on")),
        label="Financial year of exit",
        definition=f"The financial year (April to March) of exit ({LONDON}), if on or before `as_of`; "
        f"{NULL_IF_NOT_EXITED}.",
        values_note="Any financial year, written YYYY-YY (e.g. 2018-19).",
        nullable=True,
    ),
    Dimension(
        "transitioned",
        f"COALESCE({EXITED} AND c.exit_destination <> 'none', false)",
        kind=B,
        label="Transitioned",
        definition="True if the case exited on or before `as_of` with a destination other than none.",
    ),
    Dimension(
        "nrm_reasonable_grounds",
        f"COALESCE({latest('rg_on', 'rg_outcome')}, 'pending')",
        values=("positive", "negative", "pending"),
        label="NRM reasonable grounds decision",
        definition="The latest National Referral Mechanism reasonable grounds decision on or before `as_of`: "
        "positive or negative, or pending if there is none yet.",
    ),
    Dimension(
        "nrm_conclusive_grounds",
        f"COALESCE({latest('cg_on', 'cg_outcome')}, 'pending')",
        values=("positive", "negative", "pending"),
        label="NRM conclusive grounds decision",
        definition="The latest National Referral Mechanism conclusive grounds decision on or before `as_of`: "
        "positive or negative, or pending if there is none yet.",
    ),
]
