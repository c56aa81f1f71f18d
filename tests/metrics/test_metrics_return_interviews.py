"""Return home interviews in metrics: the fold keeps each return with whether an interview was offered within
72 hours, and the dimension `return_interview_within_72h` counts children by it as of any day."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from ictg_metrics.children.facts import Ev, fold
from ictg_metrics.dimensions import DIMENSIONS
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import counts, feed, metrics_app

H = timedelta(hours=1)


def _ev(e: Any) -> Ev:
    return Ev(id=e.id, type=e.type, time=e.time, data=e.data)


def test_the_fold_keeps_each_return_and_whether_its_interview_was_in_time_whatever_the_order() -> None:
    back_1, back_2, back_3 = at("2025-03-10", 9), at("2025-04-01", 22), at("2025-05-05", 9)
    child = (
        Child(at("2025-03-01"))
        .missing(at("2025-03-08"), back_1, interview=(back_1 + 71 * H, "accepted"))
        .missing(at("2025-03-30"), back_2, interview=(back_2 + 73 * H, "declined"))  # late
        .missing(at("2025-05-01"), back_3, interview=(back_3 + 2 * H, "not_offered"))
        .missing(at("2025-06-01"))  # still missing: no return, nothing due
    )
    events = [_ev(e) for e in child.events]
    facts = fold(events)
    # 72 hours after 22:00 on 1 April (London) is 22:00 on 4 April: due that day
    assert facts["return_due_on"] == [date(2025, 3, 13), date(2025, 4, 4), date(2025, 5, 8)]
    assert facts["return_interview_met"] == [True, False, False]
    shuffled = events * 2
    random.Random(7).shuffle(shuffled)
    assert fold(shuffled) == facts
    # A return with no interview recorded counts as not offered in time.
    bare = fold([_ev(e) for e in Child(at("2025-03-01")).missing(at("2025-03-08"), back_1).events])
    assert (bare["return_due_on"], bare["return_interview_met"]) == ([date(2025, 3, 13)], [False])


async def test_children_by_whether_every_return_was_offered_an_interview_within_72_hours(
    shared_settings: dict[str, Any],
) -> None:
    s = shared_settings
    assert DIMENSIONS["return_interview_within_72h"].values == ("yes", "no", "no_return")
    r = "2025-03-01"
    back = at("2025-03-10", 9)
    kids = [
        Child(at(r)).missing(at("2025-03-08"), back, interview=(back + 5 * H, "accepted")),  # yes
        Child(at(r)).missing(at("2025-03-08"), back, interview=(back + 70 * H, "declined")),  # yes
        Child(at(r)).missing(at("2025-03-08"), back, interview=(back + 80 * H, "accepted")),  # no: late
        Child(at(r)).missing(at("2025-03-08"), back, interview=(back + 1 * H, "not_offered")),  # no
        Child(at(r)).missing(at("2025-03-08"), back),  # no: none recorded
        Child(at(r))
        .missing(at("2025-03-08"), back, interview=(back + 5 * H, "accepted"))
        .missing(at("2025-04-20"), at("2025-04-21", 9)),  # yes until its second return falls due, then no
        Child(at(r)),  # never missing
        Child(at(r)).missing(at("2025-03-08")),  # missing still
    ]
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        group = "return_interview_within_72h"
        assert await counts(client, group_by=group, as_of="2025-03-12") == {"no_return": 8, "total": 8}
        assert await counts(client, group_by=group, as_of="2025-03-13") == {
            "yes": 3, "no": 3, "no_return": 2, "total": 8,
        }  # fmt: skip
        assert await counts(client, group_by=group, as_of="2025-04-24") == {
            "yes": 2, "no": 4, "no_return": 2, "total": 8,
        }  # fmt: skip
        assert (await counts(client, return_interview_within_72h="yes", as_of="2025-03-31"))["total"] == 3
