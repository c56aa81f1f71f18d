"""The deadline rules of a case (allocation and first contact), each written once and evaluated two ways.
(The third clock, `return_interview`, runs per missing episode: 72 hours from the child's return, its rule a
query of the SLA watcher's, `sla/repository.py`.)

- *missed*: the SLA watcher's rule (`sla.breached`, once per case and clock). A deadline is met by
  doing the thing strictly before `due_by`; a case closed before it owes nothing; a case opened after
  it (a historical import, or intake's backlog after an outage) is not breached live: its timeliness
  is measured from the records instead.
- *overdue*: what `?sla=overdue` lists and a case shows as `overdue`: an open case past the deadline
  with the thing still not done.

Each rule is one function over a small logic (`_Logic`: comparisons, `null`, `all`, `any`). `PY`
evaluates it on a loaded case with SQL's three-valued semantics (a comparison with a null is unknown,
`None`; a rule holds only when it is true, as a WHERE clause keeps only true rows); `SQL` builds the
SQLAlchemy expression over the `case` table. So the Python answer and the repositories' WHERE clauses
cannot drift apart (and tests/cases/test_deadlines.py proves them equal on generated cases in Postgres).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_

from ictg_common.codes import EXITED
from ictg_common.contracts import SlaClock

Clock = SlaClock  # "allocation", "first_contact", "return_interview"
CLOCKS: tuple[Clock, ...] = ("allocation", "first_contact")  # the case's own clocks (its columns, below)
EPISODE_CLOCK: Clock = "return_interview"  # one per missing episode that ended

# clock → (the case's deadline attribute, the attribute recording when it was met)
_FIELDS: dict[Clock, tuple[str, str]] = {
    "allocation": ("allocation_due_by", "first_allocated_at"),
    "first_contact": ("first_contact_due_by", "first_contact_at"),
}

Compare = Callable[[Any, Any], Any]


class _Python:
    """SQL's three-valued logic in Python: `None` is unknown."""

    @staticmethod
    def cmp(op: Compare, a: Any, b: Any) -> bool | None:
        return None if a is None or b is None else bool(op(a, b))

    @staticmethod
    def null(a: Any) -> bool:
        return a is None

    @staticmethod
    def all(*xs: bool | None) -> bool | None:
        return False if False in xs else None if None in xs else True

    @staticmethod
    def any(*xs: bool | None) -> bool | None:
        return True if True in xs else None if None in xs else False


class _Sql:
    """The same logic as SQLAlchemy expressions (the columns' own operators)."""

    @staticmethod
    def cmp(op: Compare, a: Any, b: Any) -> Any:
        return op(a, b)

    @staticmethod
    def null(a: Any) -> Any:
        return a.is_(None)

    @staticmethod
    def all(*xs: Any) -> Any:
        return and_(*xs)

    @staticmethod
    def any(*xs: Any) -> Any:
        return or_(*xs)


_Logic = type[_Python] | type[_Sql]


def _missed(x: _Logic, case: Any, clock: Clock, now: datetime) -> Any:
    due, done = (getattr(case, name) for name in _FIELDS[clock])
    le, lt, ge = operator.le, operator.lt, operator.ge
    return x.all(
        x.cmp(le, due, now),
        x.cmp(lt, case.opened_at, due),
        x.any(x.null(done), x.cmp(ge, done, due)),
        x.any(x.null(case.exited_at), x.cmp(ge, case.exited_at, due)),
    )


def _overdue(x: _Logic, case: Any, clock: Clock, now: datetime) -> Any:
    due, done = (getattr(case, name) for name in _FIELDS[clock])
    return x.all(x.cmp(operator.ne, case.status, EXITED), x.null(done), x.cmp(operator.le, due, now))


def due_by(case: Any, clock: Clock) -> Any:
    """The case's deadline of `clock` (its column, given the ORM `Case`)."""
    return getattr(case, _FIELDS[clock][0])


def missed(case: Any, clock: Clock, *, now: datetime) -> bool:
    """True when the case's `clock` deadline is missed at `now` (a breach to report)."""
    return _missed(_Python, case, clock, now) is True


def overdue(case: Any, *, now: datetime) -> list[Clock]:
    """The clocks on which the (open) case is overdue at `now`."""
    return [clock for clock in CLOCKS if _overdue(_Python, case, clock, now) is True]


def missed_sql(table: Any, clock: Clock, *, now: datetime) -> Any:
    """`missed` as a WHERE clause over `table` (the ORM `Case`)."""
    return _missed(_Sql, table, clock, now)


def overdue_sql(table: Any, *, now: datetime) -> Any:
    """`overdue` on any clock, as a WHERE clause over `table` (the ORM `Case`)."""
    return _Sql.any(*(_overdue(_Sql, table, clock, now) for clock in CLOCKS))
