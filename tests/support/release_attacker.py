"""An attacker of published releases, for tests/metrics/test_release_attacks.py. Pure: no database.

What it knows is what any reader of `/v1/releases` knows: the catalogue (every table's measure, period
grid, geography and dimensions, every cell listed), the ptable (published with every release), the regions
of local authorities, the published values of every release and their revision notes. `release_relations`
turns the catalogue into populations and the equalities among them; here:

1. **Feasible sets.** `Feasible` scans the ptable: the true counts that can publish as each value, and
   those that can be withheld (0 included); as intervals (the test checks that they are contiguous).
2. **Two releases.** `Attack.link`: a population of the first release that can only grow (periods past,
   facts fixed once recorded) is the same population in the second plus what arrived in between, an
   unknown of its own obeying the same relations (`releases`); it grew if its published value changed (a
   count and its cell key are a function of its children), and did not if the later release has no
   revision note at all.
3. **Propagation.** `Attack.propagate`: interval constraint propagation to a fixpoint over all of these,
   each unknown narrowed by every relation it is in, vectorised over many draws of record keys at once
   (numpy). It subsumes unions and complements of cells, margins minus cells, nested and sliding periods,
   hierarchy differences and the same group through different tables. `Attack.explain` says which
   relation gave an unknown its bounds.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from ictg_metrics.disclosure.cellkey import Ptable
from tests.support.release_relations import FAMILIES, Pop, layouts, relations

INF = 1_000_000  # "no bound yet": far above any count here, small enough that sums of it fit int32 exactly
MAX_COUNT = 750  # counts scanned in the ptable (its rows; larger ones fold onto 501-750)

Var = tuple[str, Any]
"""An unknown: (namespace, population); the namespace is a release, `A>B` for what B added to A's
population, or `slack`."""


# --- feasible sets --------------------------------------------------------------------------------------


class Feasible:
    """For each published value p, the true counts that some cell key publishes as p; for a withheld value,
    those that some cell key withholds (0 included). Scanned over counts 0..`MAX_COUNT`."""

    def __init__(self, ptable: Ptable, *, max_count: int = MAX_COUNT) -> None:
        self.ptable = ptable
        self.sets: dict[int | None, set[int]] = defaultdict(set)
        for n in range(max_count + 1):
            for v in {ptable.pvalue(n, k) for k in range(ptable.key_modulus)}:
                self.sets[None if n + v < ptable.threshold else n + v].add(n)
        self.max_value = max(p for p in self.sets if p is not None)
        # lookup tables for arrays of values: index 0 is withheld, p + 1 the published value p
        self.lo = np.full(self.max_value + 2, INF, dtype=np.int32)
        self.hi = np.full(self.max_value + 2, -1, dtype=np.int32)
        for p, ns in self.sets.items():
            self.lo[0 if p is None else p + 1], self.hi[0 if p is None else p + 1] = min(ns), max(ns)

    def contiguous(self) -> list[int | None]:
        """The values whose feasible set has a gap (so that an interval would lose something): none, here."""
        return [p for p, ns in self.sets.items() if len(ns) != max(ns) - min(ns) + 1]

    def interval(self, value: int | None) -> tuple[int, int]:
        ns = self.sets[value]
        return min(ns), max(ns)

    def published(self, counts: np.ndarray, cell_keys: np.ndarray) -> np.ndarray:
        """What the ptable publishes for arrays of counts and cell keys: the value, or -1 (withheld)."""
        grid = {int(n): np.array([self.ptable.pvalue(int(n), k) for k in range(self.ptable.key_modulus)])
                for n in np.unique(counts)}  # fmt: skip
        out = np.empty(cell_keys.shape, dtype=np.int32)
        for n, row in grid.items():
            where = counts == n
            out[where] = n + row[cell_keys[where]]
        out[out < self.ptable.threshold] = -1
        return out


# --- the attack -----------------------------------------------------------------------------------------


@dataclass
class Release:
    name: str
    as_at: date
    first: date
    pops: set[Pop]  # every population a published count counts
    sums: list[list[tuple[Pop, int]]]  # the relations used (of the families chosen)
    parts: list[tuple[Pop, Pop]]


@dataclass
class Attack:
    """Unknowns and the relations among them, for one or more releases; `propagate` bounds them all."""

    feasible: Feasible
    families: frozenset[str] = frozenset(FAMILIES)
    index: dict[Var, int] = field(default_factory=dict)
    rows: list[list[tuple[int, int]]] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)  # each row's family
    releases: dict[str, Release] = field(default_factory=dict)
    links: list[tuple[str, str, bool]] = field(default_factory=list)
    slacks: list[tuple[Var, Var, Var]] = field(default_factory=list)  # (slack, part, whole): whole - part
    _relations: set[frozenset[tuple[int, int]]] = field(default_factory=set)
    _names: dict[int, Var] = field(default_factory=dict)
    _rows_of: dict[int, list[int]] = field(default_factory=dict)
    _indexed: int = 0

    def var(self, v: Var) -> int:
        if v not in self.index:
            self.index[v] = len(self.index)
        return self.index[v]

    def _add(self, terms: Iterable[tuple[Var, int]], kind: str) -> None:
        row: dict[int, int] = defaultdict(int)
        for v, c in terms:
            row[self.var(v)] += c
        cleaned = frozenset((i, c) for i, c in row.items() if c)
        assert all(abs(c) == 1 for _, c in cleaned), "the propagation takes coefficients of 1 and -1"
        if len(cleaned) > 1 and cleaned not in self._relations:
            self._relations.add(cleaned)
            self.rows.append(sorted(cleaned))
            self.kinds.append(kind)

    def _at_most(self, part: Var, whole: Var) -> None:
        slack = ("slack", len(self.index))
        self.slacks.append((slack, part, whole))
        self._add([(whole, 1), (part, -1), (slack, -1)], "timeliness")

    def add_release(self, name: str, *, as_at: date, first: date) -> Release:
        lays = layouts(as_at=as_at, first=first)
        families, parts = relations(lays)
        sums = [(f, r) for f, rs in families.items() if f in self.families for r in rs]
        parts = parts if "timeliness" in self.families else []
        pops = {p for lay in lays for *_, p in lay.counts()}
        release = Release(name, as_at, first, pops, [r for _, r in sums], parts)
        self.releases[name] = release
        for p in pops:
            self.var((name, p))
        for kind, r in sums:
            self._add((((name, p), c) for p, c in r), kind)
        for part, whole in parts:
            self._at_most((name, part), (name, whole))
        return release

    def link(self, earlier: str, later: str, *, unchanged: bool) -> None:
        """What two releases share: `later` = `earlier` + what arrived in between (≥ 0, the same relations),
        for every population that can only grow; `unchanged` (no revision note in `later`) makes that 0."""
        if "releases" not in self.families:
            return
        a, b = self.releases[earlier], self.releases[later]
        ns = f"{earlier}>{later}"
        shared = {p for p in a.pops | {p for r in a.sums for p, _ in r} if p.grows} & (
            b.pops | {p for r in b.sums for p, _ in r}
        )
        for p in shared:
            self._add([((later, p), 1), ((earlier, p), -1), ((ns, p), -1)], "releases")
        for r in a.sums:
            if all(p in shared for p, _ in r):
                self._add((((ns, p), c) for p, c in r), "releases")
        self.links.append((earlier, later, unchanged))

    def bounds(self, observed: Mapping[Var, np.ndarray], draws: int) -> tuple[np.ndarray, np.ndarray]:
        """Initial bounds of every unknown for `draws` draws: a published count's feasible interval
        (`observed`: its values per draw, -1 withheld), [0, INF) for the rest; what arrived between two
        releases is at least 1 where a published value changed, 0 if the later release revised nothing."""
        n = len(self.index)
        lo = np.zeros((n, draws), dtype=np.int32)
        hi = np.full((n, draws), INF, dtype=np.int32)
        for v, values in observed.items():
            i = self.index[v]
            lo[i], hi[i] = self.feasible.lo[values + 1], self.feasible.hi[values + 1]
        for earlier, later, unchanged in self.links:
            ns = f"{earlier}>{later}"
            for v, i in self.index.items():
                if v[0] != ns:
                    continue
                if unchanged:
                    hi[i] = 0
                before, after = observed.get((earlier, v[1])), observed.get((later, v[1]))
                if before is not None and after is not None:
                    lo[i] = np.maximum(lo[i], (before != after).astype(np.int32))
        return lo, hi

    def names(self) -> dict[int, Var]:
        """Each unknown by its index."""
        if len(self._names) != len(self.index):
            self._names = {j: v for v, j in self.index.items()}
        return self._names

    def explain(self, i: int, draw: int, lo: np.ndarray, hi: np.ndarray) -> list[dict[str, Any]]:
        """Why unknown `i` has its final bounds in `draw`: each relation it is in (its family), with the
        bounds that relation alone gives it (from the others' final bounds) and those others."""
        if self._indexed != len(self.rows):
            self._rows_of, self._indexed = defaultdict(list), len(self.rows)
            for n, row in enumerate(self.rows):
                for j, _ in row:
                    self._rows_of[j].append(n)
        names = self.names()
        out = []
        for n in self._rows_of[i]:
            row, kind = self.rows[n], self.kinds[n]
            coef = dict(row)[i]
            others = [(names[j], c, int(lo[j, draw]), int(hi[j, draw])) for j, c in row if j != i]
            rest_lo = sum(c * (lo_ if c > 0 else hi_) for _, c, lo_, hi_ in others)
            rest_hi = sum(c * (hi_ if c > 0 else lo_) for _, c, lo_, hi_ in others)
            bounds = (-rest_hi, -rest_lo) if coef > 0 else (rest_lo, rest_hi)
            out.append({"bounds": bounds, "coef": coef, "others": others, "kind": kind})
        return sorted(out, key=lambda r: r["bounds"][1] - r["bounds"][0])

    def propagate(self, lo: np.ndarray, hi: np.ndarray, *, chunk: int = 250) -> tuple[np.ndarray, np.ndarray, int]:
        """Bounds narrowed by every relation to a fixpoint (each unknown by every relation it is in, all at
        once, again until nothing changes), for each draw (column); and the sweeps it took. Raises if a
        draw's bounds cross: a relation that does not hold."""
        p = Propagator(len(self.index), self.rows)
        lo, hi = lo.copy(), hi.copy()
        sweeps = 0
        for start in range(0, lo.shape[1], chunk):
            cols = slice(start, start + chunk)
            lo[:, cols], hi[:, cols], n = p.run(lo[:, cols], hi[:, cols])
            sweeps = max(sweeps, n)
        return lo, hi, sweeps


class Propagator:
    """Interval propagation over Σ a_i x_i = 0 (a_i = ±1): a_i x_i lies in minus the interval of the sum
    of the others. Jacobi sweeps, vectorised over relations and draws (rows: unknowns, columns: draws)."""

    def __init__(self, n_vars: int, rows: Sequence[Sequence[tuple[int, int]]]) -> None:
        sizes = np.array([len(r) for r in rows])
        self.n = n_vars
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.rel = np.repeat(np.arange(len(rows)), sizes)
        var = np.array([i for r in rows for i, _ in r])
        neg = np.array([c for r in rows for _, c in r]) < 0
        self.pos = ~neg[:, None]
        # a term's bounds in one gather: rows 0..n-1 of the stacked bounds are x, rows n..2n-1 are -x
        self.stacked = var + n_vars * neg
        self.order = np.argsort(var, kind="stable")
        self.present, self.var_starts = np.unique(var[self.order], return_index=True)

    def run(self, lo: np.ndarray, hi: np.ndarray, max_sweeps: int = 5000) -> tuple[np.ndarray, np.ndarray, int]:
        lo, hi = lo.copy(), hi.copy()
        active = np.arange(lo.shape[1])
        sweeps = 0
        while active.size:
            sweeps += 1
            if sweeps > max_sweeps:
                raise RuntimeError("no fixpoint")
            low, high = lo[:, active], hi[:, active]
            tlo = np.concatenate([low, -high])[self.stacked]  # each term's lower bound
            thi = np.concatenate([high, -low])[self.stacked]
            slo = np.add.reduceat(tlo, self.starts, axis=0)[self.rel]  # its relation's sum
            shi = np.add.reduceat(thi, self.starts, axis=0)[self.rel]
            np.subtract(thi, shi, out=thi)  # x (a = 1) is at least this, -x (a = -1) at most minus it
            np.subtract(tlo, slo, out=tlo)  # x (a = 1) is at most this, -x (a = -1) at least minus it
            c_lo = np.where(self.pos, thi, -tlo)[self.order]
            c_hi = np.where(self.pos, tlo, -thi)[self.order]
            old_lo, old_hi = low[self.present], high[self.present]
            new_lo = np.maximum(old_lo, np.maximum.reduceat(c_lo, self.var_starts, axis=0))
            new_hi = np.minimum(old_hi, np.minimum.reduceat(c_hi, self.var_starts, axis=0))
            if (new_lo > new_hi).any():
                bad = np.argwhere(new_lo > new_hi)[0]
                raise AssertionError(f"bounds crossed for unknown {self.present[bad[0]]}: a relation does not hold")
            changed = ((new_lo != old_lo) | (new_hi != old_hi)).any(axis=0)
            low[self.present], high[self.present] = new_lo, new_hi
            lo[:, active], hi[:, active] = low, high
            active = active[changed]
        return lo, hi, sweeps
