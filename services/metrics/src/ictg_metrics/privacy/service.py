"""Spending a principal's privacy budget on one query, once.

In the request's transaction, under the principal's advisory lock (`budget.lock`, held until commit):
1. the same query (`query_key`: the sha256 of its canonical parameters) already charged: its stored answer
   again, at no cost, in any month;
2. else the month's charges (Europe/London calendar month) plus this query's epsilon over the monthly budget:
   refused (`OverBudget`, 403, with the reset time: the 1st of next month, London);
3. else the answer is computed, and stored with its charge; both commit with the response, or neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.clock import LONDON, london_date
from ictg_common.errors import Forbidden

from . import budget

TOLERANCE = 1e-9  # sums of floats: eight charges of 0.5 are a budget of 4, not a hair over it


def month_of(now: datetime) -> date:
    """The 1st of `now`'s calendar month in Europe/London."""
    return london_date(now).replace(day=1)


def resets_at(month: date) -> datetime:
    """When a budget of `month` is renewed: the start of the next month, London time."""
    following = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    return datetime.combine(following, time(0), tzinfo=LONDON)


def query_key(query: dict[str, Any]) -> str:
    """The key of a canonical query: the same parameters, in any order or format, give the same key."""
    return hashlib.sha256(json.dumps(query, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class Budget:
    monthly: float
    spent: float
    resets_at: datetime

    @property
    def remaining(self) -> float:
        return max(0.0, round(self.monthly - self.spent, 9))

    def describe(self) -> dict[str, Any]:
        return {"monthly": self.monthly, "spent": round(self.spent, 9), "remaining": self.remaining,
                "resets_at": self.resets_at.isoformat()}  # fmt: skip


class OverBudget(Forbidden):
    """A query whose epsilon is more than what remains of the principal's budget this month."""

    title, slug = "Privacy budget spent", "privacy-budget-spent"

    def __init__(self, *, epsilon: float, spending: Budget, now: datetime) -> None:
        resets = spending.resets_at
        super().__init__(
            f"This query would spend epsilon {epsilon:g} of your privacy budget, and {spending.remaining:g} of "
            f"this month's {spending.monthly:g} remains. Your budget resets at {resets.isoformat()} (the 1st of "
            "next month, Europe/London). A query asked before is answered again at no cost; published tables "
            "are at /v1/releases.",
            headers={"Retry-After": str(max(1, int((resets - now).total_seconds()) + 1))},
            extensions={"resets_at": resets.isoformat(), "budget": spending.describe()},
        )


@dataclass(frozen=True)
class Answered:
    answer: dict[str, Any]
    replayed: bool
    budget: Budget
    answered_at: datetime


async def answer_once(
    session: AsyncSession, *, principal: str, query: dict[str, Any], epsilon: float, monthly: float, now: datetime,
    compute: Callable[[], Awaitable[dict[str, Any]]],
) -> Answered:  # fmt: skip
    """The answer to `query` for `principal`: stored, or computed (`compute`, which must spend at most
    `epsilon`) and charged. Raises `OverBudget` before anything is computed."""
    key = query_key(query)
    month = month_of(now)
    await budget.lock(session, principal)
    found = await budget.stored(session, principal, key)
    spent = await budget.spent(session, principal, month)
    if found is not None:
        return Answered(found.answer, True, Budget(monthly, spent, resets_at(month)), found.created_at)
    spending = Budget(monthly, spent, resets_at(month))
    if spent + epsilon > monthly + TOLERANCE:
        raise OverBudget(epsilon=epsilon, spending=spending, now=now)
    answer = await compute()
    await budget.charge(
        session, principal=principal, query_key=key, month=month, epsilon=epsilon, query=query, answer=answer, at=now
    )
    return Answered(answer, False, Budget(monthly, spent + epsilon, resets_at(month)), now)
