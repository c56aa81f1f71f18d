"""Cell key perturbation, with the same arithmetic as ONS's `cell-key-perturbation` 3.1.0
(`cell_key_perturbation.create_perturbed_table.create_perturbed_table`).

The package, for a cell of `count` records:
1. cell key `ckey` = sum of the cell's record keys mod (largest `ckey` in the ptable + 1), i.e. mod 256
   for ptables with keys 0-255; a cell with no records (a zero cell) gets `ckey` 0;
2. `pcv` = `count` if `count` <= 750, else `(count - 1) % 250 + 501` (rows 501-750 of the ptable are
   reused for 751-1000, 1001-1250, ...);
3. `pvalue` = the ptable row with that (`pcv`, `ckey`), or 0 when there is no such row (a left join
   then `fillna(0)`: this is what a zero cell gets, as ptables have no `pcv` 0 row);
4. published = `count + pvalue`, withheld (`pd.NA`) if it is below the threshold (10).

So a count of 0 is always withheld (0 + 0 < 10), and so is any result 1-9 (with the shipped ptables
every count 1-9 becomes 0 first: their `pvalue` for `pcv` < 10 is `-pcv`). `Ptable.perturb` returns
`None` for a withheld value and the published integer otherwise; `Ptable.describe()` states a ptable's
parameters (threshold, maximum noise, variance, mean), computed from its rows.

`DEFAULT_PTABLE` is the noisy ptable of `noisy` (`ictg_noise_d5`: zero-mean noise of at most 5 drawn by
the cell key, variance 3.78125), generated at import. ONS's deterministic "10-5" ptable (withheld under
10, rounded to 5) stays available as `PTABLE_10_5`, read from `PTABLE_10_5_PATH` on first use.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
from array import array
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import BigInteger, ColumnElement, ColumnExpressionArgument, func, literal_column

from . import noisy

__all__ = [
    "DEFAULT_PTABLE",
    "DEFAULT_THRESHOLD",
    "PTABLE_10_5",
    "PTABLE_10_5_PATH",
    "Ptable",
    "cell_key_sql",
    "load_ptable",
    "pcv",
    "record_key",
]

RECORD_KEY_MODULUS = 256
"""Record keys and cell keys are 0..255 (as in Census 2021 and the package's 10-5 ptable)."""

DEFAULT_THRESHOLD = 10
"""The package's default threshold: a published value below it is withheld."""

PCV_MAX = 750
PCV_FOLD_START = 501
PCV_FOLD_PERIOD = 250

PTABLE_10_5_PATH = Path(__file__).with_name("ptable_10_5.csv")


def record_key(secret: bytes, case_or_child_id: UUID) -> int:
    """The child's record key, 0..255: the first byte of HMAC-SHA256(secret, the id's 16 bytes).

    Fixed for a given secret (`ICTG_METRICS_CELL_KEY_SECRET`), so a rebuild gives the same keys, and
    not computable without it. Uniform on 0..255 because each HMAC output byte is.
    """
    if not secret:
        raise ValueError("the cell key secret must not be empty")
    return hmac.new(secret, case_or_child_id.bytes, hashlib.sha256).digest()[0]


def pcv(count: int) -> int:
    """The package's perturbation cell value: `count` up to 750, then folded onto 501..750."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count <= PCV_MAX:
        return count
    return (count - 1) % PCV_FOLD_PERIOD + PCV_FOLD_START


class Ptable:
    """A perturbation table: `pvalue` for each (`pcv`, `ckey`), a missing row meaning 0."""

    __slots__ = ("_key_modulus", "_max_pcv", "_name", "_pvalues", "_stats", "_threshold")

    def __init__(self, rows: Iterable[tuple[int, int, int]], *, name: str, threshold: int = DEFAULT_THRESHOLD) -> None:
        """`rows` are (`pcv`, `ckey`, `pvalue`) triples, as in the package's ptable columns."""
        triples = list(rows)
        if not triples:
            raise ValueError(f"ptable {name} has no rows")
        if min(min(row_pcv, ckey) for row_pcv, ckey, _ in triples) < 0:
            raise ValueError(f"ptable {name}: negative pcv or ckey")
        # As the package: cell keys are taken modulo the largest ckey in the ptable + 1.
        key_modulus = max(ckey for _, ckey, _ in triples) + 1
        max_pcv = max(row_pcv for row_pcv, _, _ in triples)
        size = (max_pcv + 1) * key_modulus
        pvalues = array("q", bytes(8 * size))
        seen = bytearray(size)
        for row_pcv, ckey, pvalue in triples:
            index = row_pcv * key_modulus + ckey
            if seen[index]:
                raise ValueError(f"ptable {name}: duplicate row for pcv={row_pcv}, ckey={ckey}")
            seen[index] = 1
            pvalues[index] = pvalue
        self._init(pvalues, name=name, threshold=threshold, key_modulus=key_modulus, max_pcv=max_pcv)

    def _init(self, pvalues: array[int], *, name: str, threshold: int, key_modulus: int, max_pcv: int) -> None:
        self._name = name
        self._threshold = threshold
        self._key_modulus = key_modulus
        self._max_pcv = max_pcv
        self._pvalues = pvalues  # row pcv, key ckey at pcv * key_modulus + ckey; pcv 0 (no row) all 0
        self._stats: tuple[int, float, float] | None = None

    @classmethod
    def from_grid(cls, grid: Sequence[Sequence[int]], *, name: str, threshold: int = DEFAULT_THRESHOLD) -> Ptable:
        """The ptable whose row (`pcv`, `ckey`) has `pvalue` `grid[pcv - 1][ckey]`: every pcv from 1 and every
        ckey from 0, as `noisy.pvalue_grid` gives them (much faster than as triples)."""
        if not grid or not grid[0]:
            raise ValueError(f"ptable {name} has no rows")
        key_modulus = len(grid[0])
        pvalues = array("q", bytes(8 * key_modulus))  # pcv 0
        for row in grid:
            if len(row) != key_modulus:
                raise ValueError(f"ptable {name}: every pcv must have {key_modulus} keys")
            pvalues.extend(row)
        table = cls.__new__(cls)
        table._init(pvalues, name=name, threshold=threshold, key_modulus=key_modulus, max_pcv=len(grid))
        return table

    @property
    def name(self) -> str:
        return self._name

    @property
    def threshold(self) -> int:
        return self._threshold

    @property
    def key_modulus(self) -> int:
        """Cell keys are sums of record keys modulo this (256 for the shipped ptables)."""
        return self._key_modulus

    def _statistics(self) -> tuple[int, float, float]:
        if self._stats is None:
            m, t = self._key_modulus, self._threshold
            # rows that can publish: those of counts over 750 (501-750), whatever their pvalue, and any other
            # whose count + pvalue reaches the threshold
            max_noise = 0
            for row_pcv in range(1, min(self._max_pcv, PCV_MAX) + 1):
                row = self._pvalues[row_pcv * m : (row_pcv + 1) * m]
                reaching = row if row_pcv >= PCV_FOLD_START else [v for v in row if row_pcv + v >= t]
                max_noise = max(max_noise, *map(abs, reaching), 0)
            # mean and variance where nothing is clipped by the threshold: counts from threshold + max_noise up
            # to 750 (folded counts reuse 501-750), every key, a missing row (or pcv) adding 0 as in the package
            first = t + max_noise
            stop = (min(self._max_pcv, PCV_MAX) + 1) * m
            noise = self._pvalues[first * m : stop] if first * m < stop else array("q")
            n = (PCV_MAX - first + 1) * m if first <= PCV_MAX else 0
            if n:
                mean = Fraction(sum(noise), n)
                variance = Fraction(sum(v * v for v in noise), n) - mean * mean
            else:
                mean = variance = Fraction(0)
            self._stats = (max_noise, float(mean), float(variance))
        return self._stats

    @property
    def max_noise(self) -> int:
        """The largest |`pvalue`| of any row that can publish (its count plus it at least the threshold, or
        a row that folded counts over 750 use): a published value is within this of the true count."""
        return self._statistics()[0]

    @property
    def mean(self) -> float:
        """The mean `pvalue` over every key of the counts from threshold + `max_noise` to 750 (where the
        threshold clips nothing; counts over 750 reuse 501-750), a missing row counting 0."""
        return self._statistics()[1]

    @property
    def variance(self) -> float:
        """The variance of `pvalue` over the same rows as `mean`. For a ptable whose `pvalue` depends on the
        count alone (the 10-5 one) it is the spread of its rounding over counts: no cell key changes it."""
        return self._statistics()[2]

    def describe(self) -> dict[str, Any]:
        """`{"name", "threshold", "max_noise", "variance", "mean"}`: what a perturbed answer says of its
        ptable, computed from the rows themselves (see the properties)."""
        return {
            "name": self._name,
            "threshold": self._threshold,
            "max_noise": self.max_noise,
            "variance": self.variance,
            "mean": self.mean,
        }

    def pvalue(self, count: int, cell_key: int) -> int:
        """The noise the package adds to a cell of `count` records with cell key `cell_key`."""
        if not 0 <= cell_key < self._key_modulus:
            raise ValueError(f"cell key must be in 0..{self._key_modulus - 1}, got {cell_key}")
        cell_pcv = pcv(count)
        if cell_pcv > self._max_pcv:
            return 0
        return self._pvalues[cell_pcv * self._key_modulus + cell_key]

    def perturb(self, count: int, cell_key: int) -> int | None:
        """The published value of a cell: `count + pvalue`, or None (withheld) if below the threshold."""
        value = count + self.pvalue(count, cell_key)
        return None if value < self._threshold else value

    def __repr__(self) -> str:
        return f"Ptable(name={self._name!r}, threshold={self._threshold}, key_modulus={self._key_modulus})"


def load_ptable(path: Path | str, *, name: str | None = None, threshold: int = DEFAULT_THRESHOLD) -> Ptable:
    """Read a ptable CSV with columns `pcv`, `ckey`, `pvalue` (any order, as the package's files);
    lines starting with `#` are comments. The name defaults to the file's stem."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as file:
        lines = (line for line in file if not line.startswith("#"))
        reader = csv.reader(lines)
        header = next(reader, [])
        missing = {"pcv", "ckey", "pvalue"} - set(header)
        if missing:
            raise ValueError(f"ptable {path} lacks columns {sorted(missing)}")
        i_pcv, i_ckey, i_pvalue = header.index("pcv"), header.index("ckey"), header.index("pvalue")
        rows = [(int(row[i_pcv]), int(row[i_ckey]), int(row[i_pvalue])) for row in reader if row]
    return Ptable(rows, name=name or path.stem, threshold=threshold)


DEFAULT_PTABLE = Ptable.from_grid(
    noisy.pvalue_grid(threshold=DEFAULT_THRESHOLD, keys=RECORD_KEY_MODULUS, max_pcv=PCV_MAX),
    name=noisy.NAME,
    threshold=DEFAULT_THRESHOLD,
)
"""The noisy ptable (`ictg_noise_d5`, see `noisy`): results under 10 withheld, the rest moved by zero-mean
noise of at most 5 (variance 3.78125) drawn by the cell key. `ICTG_METRICS_PTABLE` replaces it."""

PTABLE_10_5: Ptable
"""ONS's "10-5 rule" ptable (`ons_10_5`): results under 10 withheld, the rest rounded to the nearest 5,
a function of the count alone. Read from `PTABLE_10_5_PATH` on first use (reading takes longer than
generating the default)."""


@functools.cache
def _ptable_10_5() -> Ptable:
    return load_ptable(PTABLE_10_5_PATH, name="ons_10_5")


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise accept any name of this module

    def __getattr__(name: str) -> Any:
        if name == "PTABLE_10_5":
            return _ptable_10_5()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def cell_key_sql(
    record_key_column: ColumnExpressionArgument[int], modulus: int = RECORD_KEY_MODULUS
) -> ColumnElement[int]:
    """`coalesce(sum(record_key), 0) % 256`: the cell key, to select beside `count(*)` in a GROUP BY.

    `sum` skips NULL keys and `coalesce` gives 0 to a group without any key, as the package does
    (pandas `sum` skips NaN; `fillna(0)`). With a `smallint`/`integer` key column Postgres sums to
    `bigint`, so the result is an int.
    """
    key_sum = func.coalesce(func.sum(record_key_column), literal_column("0"), type_=BigInteger)
    return key_sum % literal_column(str(int(modulus)), BigInteger)


@functools.cache
def _configured_secret() -> bytes:
    from ..settings import MetricsSettings

    return MetricsSettings().cell_key_secret.encode()


def child_record_key(child_id: UUID) -> int:
    """A child's record key under `ICTG_METRICS_CELL_KEY_SECRET` (read once per process): the same for
    the same child in every fold and rebuild, so a cell's key never depends on when it was computed."""
    return record_key(_configured_secret(), child_id)
