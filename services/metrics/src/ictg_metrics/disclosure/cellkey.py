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

So a count of 0 is always withheld (0 + 0 < 10), and so is any result 1-9 (with the 10-5 ptable every
count 1-9 becomes 0 first: its `pvalue` for `pcv` < 10 is `-pcv`). `Ptable.perturb` returns `None` for
a withheld value and the published integer otherwise.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import hmac
from array import array
from collections.abc import Iterable
from pathlib import Path
from uuid import UUID

from sqlalchemy import BigInteger, ColumnElement, ColumnExpressionArgument, func, literal_column

__all__ = [
    "DEFAULT_PTABLE",
    "DEFAULT_THRESHOLD",
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

    __slots__ = ("_key_modulus", "_max_pcv", "_name", "_pvalues", "_threshold")

    def __init__(self, rows: Iterable[tuple[int, int, int]], *, name: str, threshold: int = DEFAULT_THRESHOLD) -> None:
        """`rows` are (`pcv`, `ckey`, `pvalue`) triples, as in the package's ptable columns."""
        triples = list(rows)
        if not triples:
            raise ValueError(f"ptable {name} has no rows")
        if min(min(row_pcv, ckey) for row_pcv, ckey, _ in triples) < 0:
            raise ValueError(f"ptable {name}: negative pcv or ckey")
        self._name = name
        self._threshold = threshold
        # As the package: cell keys are taken modulo the largest ckey in the ptable + 1.
        self._key_modulus = max(ckey for _, ckey, _ in triples) + 1
        self._max_pcv = max(row_pcv for row_pcv, _, _ in triples)
        size = (self._max_pcv + 1) * self._key_modulus
        pvalues = array("q", bytes(8 * size))
        seen = bytearray(size)
        for row_pcv, ckey, pvalue in triples:
            index = row_pcv * self._key_modulus + ckey
            if seen[index]:
                raise ValueError(f"ptable {name}: duplicate row for pcv={row_pcv}, ckey={ckey}")
            seen[index] = 1
            pvalues[index] = pvalue
        self._pvalues = pvalues

    @property
    def name(self) -> str:
        return self._name

    @property
    def threshold(self) -> int:
        return self._threshold

    @property
    def key_modulus(self) -> int:
        """Cell keys are sums of record keys modulo this (256 for the 10-5 ptable)."""
        return self._key_modulus

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


DEFAULT_PTABLE = load_ptable(PTABLE_10_5_PATH, name="ons_10_5")
"""ONS's "10-5 rule" ptable: results under 10 withheld, the rest rounded to the nearest 5."""


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
