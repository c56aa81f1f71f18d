"""The planted cohort of tests/metrics/test_release_attacks.py: 310 children referred in 2024-2025, among
them small groups of 1, 3 and 7, each the whole of a cell in one or several tables, beside empty cells.

Groups of 10-25: every quarter, 5 children in each of three authorities of the North West (Manchester,
Liverpool, Lancashire: 20 each a financial year), 12 in Leeds, 10 in Camden; spread over the quarter's
months but for December 2024 (nobody) and June 2025 (the group of 3 alone). Referrers police and local
authorities, nationality outside the EEA and UK, ages 14-15 and 16-17, both genders, criminal and sexual
exploitation, UASC or not (all of 2024-Q4 and 2025-Q4 UASC), some missing for a few days in service, NRM
decisions, and the exits of two quarters' children (work completed, turned 18). No event is dated after
December 2025 (the first release's month), so the passing of time changes nothing between releases: only
the late children do.

The small groups (`group`):
- `one`: 1 child in Kent (South East), August 2024: the cell of the South East in 2024-25 (referrals and
  timeliness), of Kent in 2024-25, of the EEA in 2024, of health referrers in 2024, of labour exploitation
  in the South East in 2024-25, of children missing long-term in service in 2024.
- `three`: the only 3 children of June 2025 (Manchester): the month, border force referrers in 2025, girls
  of 7-13 in 2025, NRM reasonable grounds positive and conclusive negative in 2025.
- `seven`: 7 children in Kent, August 2025, who left in November-December 2025 for adult services, having
  moved out of the area: Kent in 2025-26, the South East's cells of 2025-26 (referrals, timeliness,
  exploitation), 3-6 months of support in 2025, that reason in 2025-26 and that destination in 2025; long
  waits for referral, allocation and first contact (the quantiles of their quarter move with them).
- `late`: 3 children of October 2024 in Liverpool, not UASC (everybody else of 2024-Q4 is), recorded only
  after the first release: 0, then 3, in that cell, beside the published UASC cell and quarter.
- `seven_beside`, `three_beside`: the only children missing when referred in 2024-25 (7) and 2025-26 (3),
  nationally (the catalogue has no regional two-valued breakdown left), each the one withheld cell beside
  a published complement (not missing) and a published total (England and Wales's referrals that year,
  published in several tables and the sum of its quarters and months); as they are long-term missing
  from referral, the group of 3 is also that cell of 2025 in `missing_by_year`. In 2023-24 (January-March
  2024) nobody is missing when referred: an empty cell beside the same.
- `one_beside`: the only child of 2025-Q4 who is not UASC, beside the quarter's UASC children and the
  quarter (the other place a small group sits beside one published complement and a published total).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

from ictg_metrics.dimensions import financial_year
from tests.support.metrics_events import at
from tests.support.release_model import Record

NW = "north_west"
MANCHESTER, LIVERPOOL, LANCASHIRE = "E08000003", "E08000012", "E10000017"
LEEDS, YORKSHIRE = "E08000035", "yorkshire_and_the_humber"
CAMDEN, LONDON = "E09000007", "london"
KENT, SOUTH_EAST = "E10000016", "south_east"
BIG = ((MANCHESTER, NW, 5), (LIVERPOOL, NW, 5), (LANCASHIRE, NW, 5), (LEEDS, YORKSHIRE, 12), (CAMDEN, LONDON, 10))
EMPTY_MONTHS = ("2024-12", "2025-06")  # nobody of the groups of 10-25 (June 2025: the group of 3 alone)
H = timedelta(hours=1)
D = timedelta(days=1)


def _day(month: str, i: int) -> datetime:
    return at(f"{month}-{3 + (i * 7) % 24:02d}", hour=9 + i % 8)


def _big(i: int, month: str, la: str, region: str) -> Record:
    received = _day(month, i)
    quarter = (received.year, (received.month - 1) // 3)
    nrm: list[tuple[datetime, str, str]] = []
    decided = month <= "2025-10"  # every decision is dated before the first release: none changes later
    if decided and i % 3:
        nrm.append((received + 20 * D, "reasonable_grounds", "positive"))
    if decided and i % 6 == 1:
        nrm.append((received + 60 * D, "conclusive_grounds", "positive"))
    missing = ((received + 10 * D, received + 13 * D),) if i % 12 == 7 and month <= "2025-11" else ()
    # half the returns offered an interview the next day; of the rest, half offered one too late
    interviews = ((received + 14 * D, "accepted") if i % 24 == 7 else (received + 17 * D, "declined") if i % 48 == 19
                  else None,) if missing else ()  # fmt: skip
    exit_: tuple[datetime, str, str] | None = None
    if quarter == (2024, 0):
        exit_ = (received + 200 * D, "work_completed", "none")
    elif quarter == (2024, 1):
        exit_ = (received + 300 * D, "turned_18", "post_18_support") if i % 2 else (
            received + 400 * D, "work_completed", "none")  # fmt: skip
    return Record(
        received, delay_days=(0, 1, 1, 2, 1, 0, 3)[i % 7], la=la, region=region,
        referrer="local_authority" if i % 3 == 0 else "police", gender="female" if i % 2 else "male",
        age=14 if (i // 2) % 2 else 16, nationality="GB" if i % 3 == 1 else "VN",
        uasc=quarter in ((2024, 3), (2025, 3)) or i % 3 != 2, exploitation="sexual" if i % 3 == 2 else "criminal",
        allocated_after=(3, 5, 20, 26, 8, 50)[i % 6] * H, contacted_after=(10, 24, 30, 48, 72)[i % 5] * H,
        missing=missing, interviews=interviews, nrm=tuple(nrm), exit=exit_,
    )  # fmt: skip


def cohort() -> list[Record]:
    records: list[Record] = []
    i = 0
    for year in (2024, 2025):
        for q in range(4):
            months = [f"{year}-{m:02d}" for m in range(3 * q + 1, 3 * q + 4) if f"{year}-{m:02d}" not in EMPTY_MONTHS]
            for la, region, n in BIG:
                for j in range(n):
                    records.append(_big(i, months[j % len(months)], la, region))
                    i += 1
    for fy, n, group in (("2024-25", 7, "seven_beside"), ("2025-26", 3, "three_beside")):
        chosen = [k for k, r in enumerate(records) if financial_year(r.received_on) == fy]
        for k in chosen[::5][:n]:  # a few of each authority
            records[k] = replace(records[k], missing_at_referral=True, group=group)
    k = next(k for k, r in enumerate(records) if r.received_on >= date(2025, 10, 1))
    records[k] = replace(records[k], uasc=False, group="one_beside")
    one = at("2024-08-14")
    records.append(Record(
        one, delay_days=60, la=KENT, region=SOUTH_EAST, referrer="health", gender="female", age=16,
        nationality="FR", exploitation="labour", allocated_after=30 * H, contacted_after=80 * H,
        missing=((at("2024-09-01"), at("2024-11-15")),), group="one",
    ))  # fmt: skip
    for day in ("2025-06-10", "2025-06-17", "2025-06-24"):
        received = at(day)
        records.append(Record(
            received, delay_days=2, referrer="border_force", gender="female", age=10,
            allocated_after=20 * H, contacted_after=30 * H, group="three",
            nrm=((received + 15 * D, "reasonable_grounds", "positive"),
                 (received + 40 * D, "conclusive_grounds", "negative")),
        ))  # fmt: skip
    for k in range(7):
        received = at(f"2025-08-{4 + 3 * k:02d}")
        records.append(Record(
            received, delay_days=45, la=KENT, region=SOUTH_EAST, referrer="local_authority", age=16, uasc=False,
            allocated_after=200 * H, contacted_after=300 * H, group="seven",
            exit=(at(f"2025-{11 + k // 4}-{5 + 2 * k:02d}"), "moved_out_of_area", "la_adult_services"),
        ))  # fmt: skip
    for day in ("2024-10-15", "2024-10-16", "2024-10-17"):
        records.append(Record(
            at(day), la=LIVERPOOL, uasc=False, allocated_after=5 * H, contacted_after=24 * H, late=True,
            group="late",
        ))  # fmt: skip
    return records
