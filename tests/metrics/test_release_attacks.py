"""The attack suite over published releases: what every combination of published values gives away.

A planted cohort (`release_cohort`: 310 children of 2024-2025 in groups of 10-25, small groups of 1, 3 and
7 children each the whole of a cell in several tables, the same sizes each withheld beside one published
complement and a published total, and empty cells beside them) is fed to metrics; three consecutive
releases are published (the second after 3 late children of October 2024, the third with nothing new)
and read as any reader with `metrics:read` reads them. The attacker (`release_attacker`, over
`release_relations`) turns every published value into the interval of true counts that can publish it,
derives the true-count equalities the catalogue's structure implies (margins and totals, nested periods,
the geography hierarchy, the same children through different tables, the caseload's stocks and flows,
timeliness counts within each other, two releases' shared populations) and propagates the intervals to a
fixpoint: unions, complements, margins minus cells, sliding periods and hierarchy differences are all
special cases of it.

1. The attacker is sound: every true count (computed from the planted records by `release_model`, apart
   from the code under test) lies in its final interval. The releases publish exactly what the cell key
   method gives those true counts and record keys, each population with one value whatever the table, and
   the second release's revision notes are exactly the counts whose published value changed.
2. With the shipped (noisy) ptable, on the releases metrics published: no withheld count is recovered
   exactly, and the planted groups' cells (0, 1, 3, 7 children) admit both 0 and 1-9 (those beside a
   published complement are measured in 3 instead). Quantiles are whole numbers, withheld with their
   count; the published quantiles that a withheld group moves are printed (`-s`) with what a reader can
   make of them.
3. Rates, by simulation (no database): the same catalogue over the same cohort, record keys drawn at
   random 2,000 times: how often the attacker recovers a withheld count exactly, and tells each planted
   group (and any withheld count) from 0. None is recovered exactly and no region's or authority's count
   is told from 0 (regions have one period grid); what the catalogue does not achieve (national counts of
   2-9 told from 0) is kept as a strict expected failure stating the measured rates, so that a fix shows.
4. The 10-5 ptable (deterministic): the same attacker tells withheld counts from 0.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pytest

from ictg_common.reference import REGION_SLUGS, local_authorities
from ictg_metrics.dimensions import SERVICE_START
from ictg_metrics.disclosure.cellkey import DEFAULT_PTABLE, PTABLE_10_5, Ptable
from ictg_metrics.releases.catalogue import TABLES
from ictg_metrics.releases.compute import counts_of
from ictg_metrics.releases.service import period_end
from ictg_metrics.runtime import metrics_runtime
from tests.support.metrics_events import Child
from tests.support.metrics_http import feed, metrics_app, record_key_of
from tests.support.platform import auth
from tests.support.release_attacker import Attack, Feasible, Var
from tests.support.release_cohort import NW, cohort
from tests.support.release_model import STATS, Record, Truth
from tests.support.release_relations import FAMILIES, Pop, layouts, period_months, pop_of, read_release, relations

READER = auth("metrics:read")
ADMIN = auth("metrics:admin")
RELEASES = (("2025-12", date(2025, 12, 31)), ("2026-01", date(2026, 1, 31)), ("2026-02", date(2026, 2, 28)))
FIRST_RELEASE = RELEASES[0][0]
BLACKPOOL = "E06000009"
GROUPS = ("one", "three", "seven", "one_beside", "three_beside", "seven_beside", "late")
ZERO_GROUPS = ("zero", "zero_beside")
EXPOSED = ("three_beside", "seven_beside")  # a margin less one published cell tells them from 0 in some draws
# Empty cells beside the small groups (`zero`): a month, a nationality group, a referrer type, a region in a
# financial year, an authority in a financial year, a missing, an NRM and an exit cell.
ZEROS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("referrals_by_month", {"referral_month": "2024-12"}),
    ("referrals_by_year_and_nationality_group", {"referral_year": "2024", "nationality_group": "unknown"}),
    ("referrals_by_year_and_nationality_group", {"referral_year": "2025", "nationality_group": "eea"}),
    ("referrals_by_year_and_referrer_type", {"referral_year": "2025", "referrer_type": "ngo"}),
    ("referrals_by_financial_year_and_region", {"referral_financial_year": "2023-24", "region": "south_east"}),
    ("referrals_by_financial_year_and_local_authority",
     {"referral_financial_year": "2024-25", "local_authority": BLACKPOOL}),
    ("missing_by_year", {"referral_year": "2025", "missing_in_service": True, "long_term_missing": True}),
    ("nrm_outcomes_by_year",
     {"referral_year": "2024", "nrm_reasonable_grounds": "negative", "nrm_conclusive_grounds": "positive"}),
    ("exit_reasons_by_financial_year", {"exit_financial_year": "2025-26", "exit_reason": "assessed_adult"}),
)  # fmt: skip
# Empty cells beside a published complement and total (`zero_beside`): nobody missing when referred in 2023-24
# (where 7 and 3 are in the next two financial years); and the late children's cell before they were recorded.
ZEROS_BESIDE: tuple[tuple[str, dict[str, Any]], ...] = (
    ("missing_at_referral_by_financial_year", {"referral_financial_year": "2023-24", "missing_at_referral": True}),
)
LATE_CELL = ("referrals_by_quarter_and_uasc", {"referral_quarter": "2024-Q4", "uasc": False})


# --- the attack, for one draw of record keys (the releases metrics published) or many (simulated) -------


@dataclass
class Attacked:
    """An attack's outcome over `draws` draws of record keys: each unknown's final bounds (rows) per draw
    (columns), its true value (-1 where none is computed), and what the releases published."""

    attack: Attack
    lo: np.ndarray
    hi: np.ndarray
    truth: np.ndarray
    observed: dict[Var, np.ndarray]
    groups: dict[str, list[int]]  # planted group → the unknowns counting exactly its children
    sweeps: int
    seconds: float

    def withheld(self) -> tuple[np.ndarray, np.ndarray]:
        """(published unknowns, withheld per draw) of every published count."""
        index = np.array([self.attack.index[v] for v in self.observed])
        return index, np.stack(list(self.observed.values())) == -1

    def exact(self) -> np.ndarray:
        """Per draw: (published unknown, draw) pairs of withheld counts whose interval is one value."""
        index, withheld = self.withheld()
        return withheld & (self.lo[index] == self.hi[index])

    def told(self) -> np.ndarray:
        """Per (published unknown, draw): a withheld count of 1-9 whose interval excludes 0, or of 0 whose
        interval excludes 1-9."""
        index, withheld = self.withheld()
        t = self.truth[index][:, None]
        return withheld & (((t >= 1) & (t <= 9) & (self.lo[index] >= 1)) | ((t == 0) & (self.hi[index] == 0)))

    def group_told(self, group: str) -> np.ndarray:
        """Per draw: whether some cell of a planted group is told from 0 (from 1-9 for the empty cells)."""
        cells = self.groups[group]
        if group in ZERO_GROUPS:
            return (self.hi[cells] == 0).any(axis=0)
        return np.asarray((self.lo[cells] >= 1).any(axis=0))  # numpy 2 types .any() as a bool or an array


def true_counts(attack: Attack, truths: Mapping[str, Truth]) -> np.ndarray:
    out = np.full(len(attack.index), -1)
    for (ns, p), i in attack.index.items():
        if ns in truths:
            out[i] = len(truths[ns].members(p))
        elif ">" in ns:
            earlier, later = ns.split(">")
            out[i] = len(truths[later].members(p)) - len(truths[earlier].members(p))
    for slack, part, whole in attack.slacks:
        out[attack.index[slack]] = out[attack.index[whole]] - out[attack.index[part]]
    return out


def planted(attack: Attack, records: list[Record], truths: Mapping[str, Truth]) -> dict[str, list[int]]:
    """Every published count of a release whose children are exactly a planted group; and the empty cells
    planted beside them (`zero`)."""
    out: dict[str, list[int]] = {}
    for g in GROUPS:
        children = frozenset(i for i, r in enumerate(records) if r.group == g)
        out[g] = [attack.index[(name, p)] for name, truth in truths.items() for p in attack.releases[name].pops
                  if truth.members(p) == children]  # fmt: skip
    for group, cells in (("zero", ZEROS), ("zero_beside", ZEROS_BESIDE)):
        out[group] = []
        for name, truth in truths.items():
            r = attack.releases[name]
            for table, values in (*cells, *([LATE_CELL] if group == "zero_beside" and name == FIRST_RELEASE else [])):
                p = pop_of(TABLES[table], values, "children", first=f"{r.first:%Y-%m}", last=f"{r.as_at:%Y-%m}")
                assert not truth.members(p), (name, table, values)
                out[group].append(attack.index[(name, p)])
    return out


def attack_releases(
    ptable: Ptable, records: list[Record], truths: Mapping[str, Truth], observed: dict[Var, np.ndarray], *,
    first: date, unchanged: Mapping[str, bool], families: frozenset[str] = frozenset(FAMILIES),
) -> Attacked:  # fmt: skip
    """Attack consecutive releases (`truths`, in order) from their published values (`observed`, one array
    of draws per count): bounds, checked sound against the true counts."""
    attack = Attack(Feasible(ptable), families=families)
    names = list(truths)
    for name in names:
        attack.add_release(name, as_at=truths[name].as_at, first=first)
    for earlier, later in itertools.pairwise(names):
        attack.link(earlier, later, unchanged=unchanged[later])
    draws = len(next(iter(observed.values())))
    lo, hi = attack.bounds(observed, draws)
    started = time.perf_counter()
    lo, hi, sweeps = attack.propagate(lo, hi)
    seconds = time.perf_counter() - started
    truth = true_counts(attack, truths)
    known = truth >= 0
    unsound = known[:, None] & ((lo > truth[:, None]) | (hi < truth[:, None]))
    assert not unsound.any(), [attack.names()[i] for i in np.argwhere(unsound.any(axis=1))[:5, 0]]
    return Attacked(attack, lo, hi, truth, observed, planted(attack, records, truths), sweeps, seconds)


def describe(p: Pop) -> str:
    months = sorted(p.months)
    period = (months[0] if len(months) == 1 else f"{months[0]}..{months[-1]}") if months else "all"
    where = f" {p.geo[1]}" if p.geo else ""
    dims = "".join(f" {d}={v}" for d, v in sorted(p.dims, key=str))
    what = {"referral": "referred", "exit": "exited", "stock": "in service at the end of"}.get(p.basis or "", "")
    return f"{p.field} {what} {period}{where}{dims}".replace("  ", " ")


def shape(p: Pop) -> str:
    """What kind of count: `referred 1 month region`, `exited 12 months`, `referred 12 months region by
    missing_at_referral`."""
    what = {"referral": "referred", "exit": "exited", "stock": "in service"}.get(p.basis or "", "all")
    dims = f" by {','.join(sorted(d for d, _ in p.dims))}" if p.dims else ""
    return f"{what} {len(p.months)} month(s){f' {p.geo[0]}' if p.geo else ''}{dims}"


def explain(a: Attacked, row: int, draw: int) -> str:
    """The relation that gives a told count its bound, with the others' bounds and published values."""
    name, p = a.attack.names()[row]
    told_from_zero = a.lo[row, draw] >= 1
    relations = a.attack.explain(row, draw, a.lo, a.hi)
    best = max(relations, key=lambda r: r["bounds"][0] if told_from_zero else -r["bounds"][1])
    lines = [f"{name}: {describe(p)} (true {a.truth[row]}) in [{a.lo[row, draw]}, {a.hi[row, draw]}], "
             f"by {best['kind']}:"]  # fmt: skip
    terms = []
    for (ns, other), c, lo, hi in best["others"]:
        seen = a.observed.get((ns, other))
        shown = "" if seen is None else f", published {'c' if seen[draw] < 0 else seen[draw]}"
        label = describe(other) if isinstance(other, Pop) else "slack"
        terms.append((hi - lo, f"    {'+' if c * best['coef'] < 0 else '-'} {ns}: {label} in [{lo}, {hi}]{shown}"))
    terms.sort(key=lambda t: (-t[0], t[1]))  # the widest first; a long sum's pinned terms summarised
    lines += [t for _, t in terms[:6]] + ([f"    and {len(terms) - 6} more terms"] if len(terms) > 6 else [])
    return "\n".join(lines)


# --- 1 and 2: the releases metrics publishes ----------------------------------------------------------


def test_feasible_sets_are_intervals() -> None:
    """The true counts behind a published value, or a withheld one, are an interval with either ptable
    (so intervals lose nothing); the noisy ptable's are those its parameters state."""
    noisy, rounded, d = Feasible(DEFAULT_PTABLE), Feasible(PTABLE_10_5), DEFAULT_PTABLE.max_noise
    assert noisy.contiguous() == [] and rounded.contiguous() == []
    assert noisy.interval(None) == (0, 9 + d)  # 0 and 1-9 always withheld, 10 to 9 + d sometimes
    assert noisy.interval(10) == (10, 10 + d) and noisy.interval(40) == (40 - d, 40 + d)
    assert rounded.interval(None) == (0, 9) and rounded.interval(10) == (10, 12) and rounded.interval(40) == (38, 42)


def test_the_attacker_derives_the_relations_a_reader_would() -> None:
    """Among the relations derived from the catalogue: months make a year and quarters a financial year,
    authorities their region and regions England and Wales, a month's stock the last one's with the flows;
    and the same children through different tables are one unknown. A region (or authority) is counted by
    financial year of referral only: no shorter period tiles its year, and it has no stocks or flows."""
    lays = layouts(as_at=date(2025, 12, 31), first=SIMULATED_FIRST)
    families, parts = relations(lays)
    derived = {name: {frozenset(r) for r in rs} for name, rs in families.items()}

    def pop(months: list[str], geo: tuple[str, str] | None = None, **kw: Any) -> Pop:
        return Pop(kw.pop("field", "children"), kw.pop("basis", "referral"), frozenset(months), geo, **kw)

    def total(whole: Pop, *parts: Pop) -> frozenset[tuple[Pop, int]]:
        return frozenset([(whole, 1), *((p, -1) for p in parts)])

    year = [f"2025-{m:02d}" for m in range(1, 13)]
    assert total(pop(year), *(pop([m]) for m in year)) in derived["periods"]
    quarters = [[f"{y}-{m:02d}" for m in range(a, a + 3)] for y, a in ((2024, 4), (2024, 7), (2024, 10), (2025, 1))]
    fy = [m for q in quarters for m in q]
    assert total(pop(fy), *(pop(q) for q in quarters)) in derived["periods"]
    north_west = [la.code for la in local_authorities() if la.region == "North West"]
    assert (
        total(pop(fy, ("region", NW)), *(pop(fy, ("local_authority", la)) for la in north_west)) in derived["geography"]
    )
    assert total(pop(fy), *(pop(fy, ("region", r)) for r in REGION_SLUGS)) in derived["geography"]
    years = {period_months("referral_financial_year", f"{y}-{y % 100 + 1:02d}", first="2024-01", last="2025-12")
             for y in (2023, 2024, 2025)}  # fmt: skip
    regional = {p for rs in families.values() for r in rs for p, _ in r if p.geo} | {
        p for lay in lays for *_, p in lay.counts() if p.geo}  # fmt: skip
    assert regional and all(p.basis == "referral" and p.months in years for p in regional)
    assert not any(p.geo for family in ("periods", "caseload") for r in families[family] for p, _ in r)
    stock = pop(["2025-03"], field="in_service_end", basis="stock")
    assert frozenset([(stock, 1), (stock.without(months=frozenset({"2025-02"})), -1), (pop(["2025-03"]), -1),
                      (pop(["2025-03"], basis="exit", exited=True), 1)]) in derived["caseload"]  # fmt: skip
    assert (pop(fy, field="allocation_deadline_met"), pop(fy, field="hours_to_allocation_count")) in parts

    def counted(table: str, values: dict[str, Any], count: str = "children") -> Pop:
        return pop_of(TABLES[table], values, count, first="2024-01", last="2025-12")

    region_year = {"referral_financial_year": "2024-25", "region": NW}
    assert counted("timeliness_by_financial_year_and_region", region_year) == counted(
        "referrals_by_financial_year_and_region", region_year) == pop(fy, ("region", NW))  # fmt: skip
    national_year = {"referral_financial_year": "2024-25"}
    assert counted("missing_at_referral_by_financial_year", national_year) == counted(
        "referrals_by_financial_year_and_local_authority", national_year) == pop(fy)  # fmt: skip
    assert counted("referrals_by_year_and_nationality_group", {"referral_year": "2025"}) == counted(
        "referrals_by_year_and_referrer_type", {"referral_year": "2025"}) == pop(year)  # fmt: skip
    assert counted("caseload_by_month", {"month": "2025-03"}, "referrals_in") == counted(
        "referrals_by_month", {"referral_month": "2025-03"})  # fmt: skip
    assert counted("timeliness_by_quarter", {"referral_quarter": "2025-Q1"}, "referral_delay_days_count") == counted(
        "referrals_by_quarter_and_uasc", {"referral_quarter": "2025-Q1"})  # fmt: skip


async def publish_releases(
    settings: dict[str, Any], records: list[Record], children: list[Child]
) -> tuple[Ptable, dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Feed the cohort, publish the three releases (the late children between the first two) and read them as
    `metrics:read` does: (ptable, each release's tables by id, each release's revision notes)."""
    bodies: dict[str, dict[str, Any]] = {}
    notes: dict[str, list[dict[str, Any]]] = {}
    async with metrics_app(settings, release_check_seconds=0) as client:
        ptable: Ptable = metrics_runtime(client.app).extras.ptable  # type: ignore[attr-defined]
        await feed(client, settings, *(c for c, r in zip(children, records, strict=True) if not r.late))
        for name, _ in RELEASES:
            if name == RELEASES[1][0]:  # late children of October 2024; nothing new before the third
                await feed(client, settings, *(c for c, r in zip(children, records, strict=True) if r.late))
            r = await client.post("/v1/admin/releases", params={"release": name}, headers=ADMIN)
            assert r.status_code == 201, r.text
            release = (await client.get(f"/v1/releases/{name}", headers=READER)).json()
            notes[name] = release["revisions"]
            bodies[name] = {}
            for t in release["tables"]:
                got = await client.get(t["url"], headers=READER)
                assert got.status_code == 200, got.text
                bodies[name][t["id"]] = got.json()
    return ptable, bodies, notes


def check_revisions(
    notes: list[dict[str, Any]], observed: Mapping[Var, np.ndarray], truths: Mapping[str, Truth]
) -> None:
    """The second release's revision notes of counts are exactly the first release's published counts whose
    value changed, each counting children who were recorded late."""
    (first, first_at), (second, second_at) = RELEASES[:2]
    expected = set()
    for lay in layouts(as_at=first_at, first=SERVICE_START):
        for kind, values, count, p in lay.counts():
            later = pop_of(lay.table, values, count, first=lay.first, last=f"{second_at:%Y-%m}")
            if observed[(first, p)][0] != observed[(second, later)][0]:
                assert truths[first].members(p) != truths[second].members(later), (lay.table.id, values, count)
                # a revision is of a period already over at the first release: not of a quarter or year still
                # running then, nor of a total over every period (bound to change)
                ends = [e for k, v in values.items() if (e := period_end(k, v)) is not None]
                if ends and max(ends) <= first_at:
                    expected.add((lay.table.id, kind, tuple(sorted(values.items())), count))
    noted = {(n["table"], n["row"], tuple(sorted(n["cell"].items())), n["field"]) for n in notes
             if n["field"] in counts_of(TABLES[n["table"]])}  # fmt: skip
    assert noted == expected


async def test_the_published_releases_resist_the_attacker(shared_settings: dict[str, Any]) -> None:
    records = cohort()
    children = [r.child(str(i)) for i, r in enumerate(records)]
    ptable, bodies, notes = await publish_releases(shared_settings, records, children)
    assert ptable.name == DEFAULT_PTABLE.name
    assert notes["2026-01"] and not notes["2026-02"]  # the late children revise 2024; then nothing changes

    keys = np.array([record_key_of(c.referral_id) for c in children])
    truths = {name: Truth(records, as_at, late=name != FIRST_RELEASE) for name, as_at in RELEASES}
    observed: dict[Var, np.ndarray] = {}
    for name, as_at in RELEASES:
        read = read_release(bodies[name], as_at=as_at, first=SERVICE_START)
        expected = {p for lay in layouts(as_at=as_at, first=SERVICE_START) for *_, p in lay.counts()}
        assert set(read) == expected
        for p, values in read.items():
            members = sorted(truths[name].members(p))
            value = ptable.perturb(len(members), int(keys[members].sum()) % 256)
            assert set(values) == {value}, (name, describe(p), values, value)  # one population, one value
            observed[(name, p)] = np.array([-1 if value is None else value])
    check_revisions(notes["2026-01"], observed, truths)
    a = attack_releases(ptable, records, truths, observed, first=SERVICE_START,
                        unchanged={name: not notes[name] for name, _ in RELEASES})  # fmt: skip

    index, withheld = a.withheld()
    print(f"\nreleases {', '.join(truths)}: {len(a.attack.index):,} unknowns, {len(a.attack.rows):,} relations, "
          f"{int(withheld.sum()):,} withheld counts; fixpoint after {a.sweeps} sweeps ({a.seconds:.2f} s)")  # fmt: skip
    assert not a.exact().any(), [explain(a, index[i], 0) for i in np.argwhere(a.exact()[:, 0])[:, 0]]
    for group, cells in a.groups.items():
        assert cells, group
        told = [explain(a, i, 0) for i in cells if a.lo[i, 0] >= 1 or a.hi[i, 0] == 0]
        print(f"planted group {group}: {len(cells)} published counts, told from {'1-9' if group in ZERO_GROUPS else 0}: "
              f"{len(told)}")  # fmt: skip
        if group not in EXPOSED:  # those are measured by simulation: told in some draws (a few %)
            assert not told, told
    anywhere = np.argwhere(a.told()[:, 0])[:, 0]
    print(f"withheld counts told from 0 (or 0 from 1-9) by some relation: {len(anywhere)}")
    for i in anywhere:
        print(explain(a, index[i], 0))
    for line in check_quantiles(bodies, truths, Feasible(ptable)):
        print(line)


def check_quantiles(
    bodies: Mapping[str, Mapping[str, Any]], truths: Mapping[str, Truth], feasible: Feasible
) -> list[str]:
    """Quantiles are whole numbers, published exactly beside a published count and equal to the model's.
    Then the quantile shifts: each published quantile (quarters, financial years by region and their margins)
    that the children of withheld cells move, and for a quarter's p90 so moved, whether its published
    neighbours tell those children to be in withheld cells (returned: what was found, printed by the test)."""
    found = []
    for name, truth in truths.items():
        first, last = f"{SERVICE_START:%Y-%m}", f"{truth.as_at:%Y-%m}"
        withheld: set[int] = set()
        published: list[tuple[str, dict[str, Any], frozenset[int]]] = []
        for table_id in ("timeliness_by_quarter", "timeliness_by_financial_year_and_region"):
            table, body = TABLES[table_id], bodies[name][table_id]
            for kind, rows in (("cell", body["rows"]), ("margin", body.get("margins", []))):
                for row in rows:
                    values = {g: row[g] for g in (table.group_by if kind == "cell" else table.group_by[:1])}
                    members = truth.members(pop_of(table, values, "children", first=first, last=last))
                    for stat in STATS:
                        q = tuple(row[f"{stat}_{k}"] for k in ("median", "p75", "p90"))
                        assert all(v is None or isinstance(v, int) for v in q), (table_id, row)
                        if row[f"{stat}_count"] is None:
                            assert q == (None, None, None), (table_id, row)
                        else:
                            assert q == truth.quantiles(members, stat), (table_id, values, stat)
                    if row["children"] is None:
                        withheld |= members
                    else:
                        published.append((table_id, values, members))
        for table_id, values, members in published:
            for stat in STATS:
                before, after = truth.quantiles(members, stat), truth.quantiles(members - withheld, stat)
                if members & withheld and before != after:
                    found.append(f"{name} {table_id} {values}: {stat} (median, p75, p90) {before}, {after} without "
                                 f"the {len(members & withheld)} children of withheld cells")  # fmt: skip
                    if table_id == "timeliness_by_quarter" and before[2] != after[2]:
                        found.append(tail_argument(bodies[name], values["referral_quarter"], stat, feasible))
    return found


def _tail(n: int) -> int:
    """How many of n values are at or beyond the upper neighbour of percentile_cont's p90 position."""
    return n - 1 - math.floor(0.9 * (n - 1))


def tail_argument(bodies: Mapping[str, Any], quarter: str, stat: str, feasible: Feasible) -> str:
    """The attacker's use of a quarter's p90: at least `demand` of its children have a value of at least
    p90 - 0.5; the published regional cells of its financial year whose own p90 is lower can hold at most
    `capacity` such children (the others any number). Were demand over capacity, the rest would be in
    withheld regional cells: told from 0. Asserted not, and described."""
    row = next(r for r in bodies["timeliness_by_quarter"]["rows"] if r["referral_quarter"] == quarter)
    p90 = row[f"{stat}_p90"]
    lo, hi = feasible.interval(row[f"{stat}_count"])
    demand = min(_tail(n) for n in range(lo, hi + 1))
    year = int(quarter[:4]) - (quarter[-1] == "1")
    fy = f"{year}-{(year + 1) % 100:02d}"
    capacity = 0
    for r in bodies["timeliness_by_financial_year_and_region"]["rows"]:
        if r["referral_financial_year"] != fy or r[f"{stat}_count"] is None:
            continue
        lo, hi = feasible.interval(r[f"{stat}_count"])
        capacity += max(_tail(n) for n in range(lo, hi + 1)) if r[f"{stat}_p90"] + 0.5 <= p90 - 0.5 else hi
    assert demand <= capacity, (quarter, stat, demand, capacity)
    return (f"  so {quarter}'s p90 of {stat}, {p90}: at least {demand} of its children at {p90 - 0.5} or more; the "
            f"published regions of {fy} can hold {capacity}: the withheld ones are not shown to be non-empty")  # fmt: skip


# --- 3 and 4: rates by simulation ------------------------------------------------------------------


SIMULATED = RELEASES[:2]  # the first two: the third publishes the same values (nothing new)
SIMULATED_FIRST = date(2024, 1, 1)  # periods listed from the cohort's first month (see `simulate`)
DRAWS = 2000


@functools.cache
def simulate(ptable_name: str, draws: int, seed: int = 20261207) -> Attacked:
    """The catalogue's tables of the first two releases over the planted cohort, record keys drawn uniformly
    from 0..255 (`draws` times), published through the ptable and attacked. Periods are listed from January
    2024: the attacker knows that nobody came before, which the real releases do not tell (their earlier
    months are withheld, 0-14 each), so the rates are if anything higher than theirs."""
    ptable = DEFAULT_PTABLE if ptable_name == DEFAULT_PTABLE.name else PTABLE_10_5
    records = cohort()
    truths = {name: Truth(records, as_at, late=name != FIRST_RELEASE) for name, as_at in SIMULATED}
    keys = np.random.default_rng(seed).integers(0, 256, size=(len(records), draws))
    feasible = Feasible(ptable)
    observed: dict[Var, np.ndarray] = {}
    for name, as_at in SIMULATED:
        pops = sorted({p for lay in layouts(as_at=as_at, first=SIMULATED_FIRST) for *_, p in lay.counts()}, key=repr)
        members = [sorted(truths[name].members(p)) for p in pops]
        counts = np.array([len(m) for m in members])
        cell_keys = np.stack([keys[m].sum(axis=0) % 256 if m else np.zeros(draws, dtype=np.int64) for m in members])
        for p, values in zip(pops, feasible.published(counts, cell_keys), strict=True):
            observed[(name, p)] = values
    return attack_releases(ptable, records, truths, observed, first=SIMULATED_FIRST,
                           unchanged={name: False for name, _ in SIMULATED})  # fmt: skip


def report(a: Attacked, label: str) -> dict[str, float]:
    """Print and return the rates of an attack over many draws."""
    draws = a.lo.shape[1]
    index, _ = a.withheld()
    exact, told = a.exact(), a.told()
    rates = {"exact": float(exact.any(axis=0).mean()), "any told": float(told.any(axis=0).mean())}
    rates.update({g: float(a.group_told(g).mean()) for g in (*GROUPS, *ZERO_GROUPS)})
    local = np.array([a.attack.names()[i][1].geo is not None for i in index])
    rates["regional told"] = float(told[local].any(axis=0).mean())  # a region's or an authority's count
    print(f"\n{label}: {draws:,} draws of record keys, {len(a.attack.index):,} unknowns, {len(a.attack.rows):,} "
          f"relations; fixpoint in at most {a.sweeps} sweeps, {a.seconds:.1f} s")  # fmt: skip
    print(f"  draws in which some withheld count is recovered exactly: {rates['exact']:.2%}")
    print(f"  draws in which some withheld count is told from 0 (or 0 from 1-9): {rates['any told']:.2%}")
    print(f"  ... some withheld count of a region or an authority: {rates['regional told']:.2%}")
    for g in (*GROUPS, *ZERO_GROUPS):
        print(f"  planted group {g} ({len(a.groups[g])} published counts) told from "
              f"{'1-9' if g in ZERO_GROUPS else '0'}: {rates[g]:.2%}")  # fmt: skip
    print(f"  withheld counts recovered exactly in some draw: {int(exact.any(axis=1).sum())}")
    by_kind: Counter[str] = Counter()  # the family of the relation that gives each told count its bound
    draws_by_kind: dict[str, set[int]] = {}
    for i, draw in np.argwhere(told):
        relations = a.attack.explain(index[i], draw, a.lo, a.hi)
        if a.lo[index[i], draw] >= 1:
            kind = max(relations, key=lambda r: r["bounds"][0])["kind"]
        else:
            kind = min(relations, key=lambda r: r["bounds"][1])["kind"]
        by_kind[kind] += 1
        draws_by_kind.setdefault(kind, set()).add(int(draw))
    shares = ", ".join(f"{k} {len(d) / draws:.2%}" for k, d in sorted(draws_by_kind.items()))
    print(f"  told counts (count, draw) by the family of the relation that bounds them: {dict(by_kind)}; draws "
          f"with such a count: {shares}")  # fmt: skip
    per_cell = Counter({i: int(told[i].sum()) for i in np.argwhere(told.any(axis=1))[:, 0]})
    shapes = Counter(shape(a.attack.names()[index[i]][1]) for i in per_cell)
    print(f"  withheld counts told in some draw: {len(per_cell)}, by shape: {dict(shapes)}; the most often:")
    for i, n in per_cell.most_common(8):
        draw = int(np.argmax(told[i]))
        print(
            f"  {n / draws:.2%} of draws; e.g. draw {draw}:\n    " + explain(a, index[i], draw).replace("\n", "\n    ")
        )
    for i in np.argwhere(exact.any(axis=1))[:3, 0]:
        draw = int(np.argmax(exact[i]))
        print(f"  exact in {exact[i].mean():.2%} of draws; e.g. draw {draw}:\n    "
              + explain(a, index[i], draw).replace("\n", "\n    "))  # fmt: skip
    return rates


def beside(ptable: Ptable, size: int, *, total: int = 60) -> float:
    """The share of pairs of cell keys for which a published total less its one published part shows the
    other part, of `size` children, to be non-empty (the total's least feasible count over the part's
    greatest): the hand-picked subtraction the attacker's relations include."""
    feasible = Feasible(ptable)
    totals = [feasible.interval(ptable.perturb(total, k))[0] for k in range(ptable.key_modulus)]
    parts = [feasible.interval(ptable.perturb(total - size, k))[1] for k in range(ptable.key_modulus)]
    return sum(t - p >= 1 for t in totals for p in parts) / len(totals) / len(parts)


def test_the_noisy_ptable_by_simulation() -> None:
    """Rates over 2,000 draws of record keys, and the bounds they keep to.

    A withheld cell beside one published complement and a published total (`*_beside`, now national: the
    catalogue has no regional two-valued breakdown) is shown non-empty when the total's noise minus the
    complement's reaches 11 - size: for the shipped ptable (noise -5..5, sd 1.94) 0.006 % of draws for 1
    child, 0.23 % for 3, 10 % for 7 (`beside`), once per release whose total and complement are perturbed
    anew. The group of 3 (2025-26) and of 1 (2025-Q4) have one look: the second release counts the same
    children there. The group of 7 has two: its financial year, 2024-25, is also the late children's, who
    change the total and the complement (new cell keys) but not the withheld cell, so each release shows it
    non-empty in 10 % of draws, independently: 1 - 0.9 ** 2, 19 % (and a little more: the total is also the
    sum of the quarters and months, each with noise of its own). Bounds: 0.5 % for 1, 1 % for 3 (1.75 %
    before, measured 0.25 %), 25 % for 7 (20 % before, for a regional total no late child changed: measured
    10.55 %; measured now 20.8 %). The isolated groups of 1, 3 and 7 (no published neighbour in a table of
    two values) and the empty cells are not told from 0 (from 1-9) in any draw: 0.5 % allows for a change
    of ptable, not for a structural leak (which shows in percent). The late group of 3, withheld beside a
    published cell and quarter once recorded: as the group of 3 beside, 2 %. No withheld count of a region
    or authority is told from 0 in any draw (96 regional months were, before regions had one period grid).
    Telling some (national) withheld count from 0 does happen (the strict expected failure below states how
    often): bounded here so that it cannot grow unnoticed."""
    a = simulate(DEFAULT_PTABLE.name, DRAWS)
    rates = report(a, f"noisy ptable {DEFAULT_PTABLE.name}")
    analytic = {size: beside(DEFAULT_PTABLE, size) for size in (1, 3, 7)}
    print("  a total less its one published part, by hand: " + ", ".join(f"{size} child(ren) told from 0 in "
          f"{share:.3%} of draws" for size, share in analytic.items())
          + f"; 7 in either of two releases: {1 - (1 - analytic[7]) ** 2:.3%}")  # fmt: skip
    assert rates["one"] <= 0.005 and rates["three"] <= 0.005 and rates["seven"] <= 0.005
    assert rates["zero"] <= 0.005 and rates["zero_beside"] <= 0.005
    assert rates["one_beside"] <= 0.005 and rates["three_beside"] <= 0.01 and rates["seven_beside"] <= 0.25
    assert rates["seven_beside"] >= 1 - (1 - analytic[7]) ** 2 - 0.02  # the relations find both subtractions
    assert rates["late"] <= 0.02
    assert rates["regional told"] == 0.0
    assert rates["exact"] == 0.0 and rates["any told"] <= 0.5


def test_the_noisy_ptable_never_recovers_a_withheld_count_exactly() -> None:
    """In none of 2,000 draws is a withheld count recovered exactly. Before regions had one period grid, 3
    of 2,000 were: London's referrals of January 2026 (true 0) pinned to 0 by its quarters published 10, 11
    and 10 (a published 10-14 means at least 10) and its financial year 25 (at most 30)."""
    a = simulate(DEFAULT_PTABLE.name, DRAWS)
    assert a.lo.shape[1] == DRAWS == 2000
    index, _ = a.withheld()
    assert not a.exact().any(), [explain(a, index[i], int(np.argmax(a.exact()[i])))
                                 for i in np.argwhere(a.exact().any(axis=1))[:3, 0]]  # fmt: skip


@pytest.mark.xfail(
    strict=True,
    reason="measured: in 46 % of draws (90 % before regions had one period grid) some withheld count of 2-9 "
    "is shown non-empty, none of a region or authority: a month's exits nationally by the caseload's stocks "
    "and referrals (31 % of draws; up to 19 % each), the cell of 7 missing when referred beside its complement "
    "and total (21 %: 10 % in each release, as late children change the total); counts told in one release "
    "carry to the next (0.4 % more)",
)
def test_the_noisy_ptable_never_tells_a_withheld_count_from_0() -> None:
    a = simulate(DEFAULT_PTABLE.name, DRAWS)
    assert not a.told().any()


def test_the_10_5_ptable_gives_withheld_counts_away() -> None:
    """The deterministic 10-5 ptable: a published value is a function of the count alone, so one draw is
    every draw, and the same attacker tells withheld counts from 0: the suite can fail. A month's exits by
    the caseload, the group of 7 beside its complement and total, the late group once recorded. No longer
    exactly: its exact recoveries (28 counts, authorities of Yorkshire pinned to 0) went through a region's
    quarters and months, and neither is published now."""
    a = simulate(PTABLE_10_5.name, 1)
    rates = report(a, f"10-5 ptable {PTABLE_10_5.name}")
    assert rates["any told"] == 1.0 and rates["late"] == rates["seven_beside"] == 1.0
    assert rates["exact"] == 0.0 and rates["regional told"] == 0.0
