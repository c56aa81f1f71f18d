"""The cell key mechanism (`ictg_metrics.disclosure.cellkey`) against ONS's own `cell-key-perturbation`
package (3.1.0): same microdata, same record keys, same ptable, the same published value in every cell
(withheld cells included), for ONS's 10-5 ptable, for the default noisy one (`ictg_noise_d5`, as its CLI
writes it; its own properties are in test_noisy_ptable.py) and for a test ptable with real noise.

The package ships only the 10-5 ptable (as data, and as `generate_ptable_10_5_rule()`); it has no
generator for a noisy ptable, so `_noisy_ptable()` builds one here (seeded): noise on most cells,
keyed by both pcv and ckey, some rows missing (the package then adds 0), and small counts that can be
pushed over the threshold. The package reads it as a DataFrame, we read it as CSV through `load_ptable`.

The package prints ("Input validation completed."). Under pandas 2 its own code groups and pivots
categorical columns without `observed=`, and pandas warns (FutureWarning) that the default will change:
pytest.ini ignores that one warning, by message and only from the package's module.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
from collections import Counter
from importlib.metadata import distribution
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from cell_key_perturbation.create_perturbed_table import create_perturbed_table
from cell_key_perturbation.utils.generate_test_ptable import generate_ptable_10_5_rule
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.postgresql import asyncpg

from ictg_metrics.disclosure import noisy
from ictg_metrics.disclosure.cellkey import (
    DEFAULT_PTABLE,
    PTABLE_10_5,
    PTABLE_10_5_PATH,
    Ptable,
    cell_key_sql,
    load_ptable,
    pcv,
    record_key,
)

SECRET = b"ictg-test-secret"

CATEGORIES: dict[str, list[str]] = {
    "region": ["north_east", "north_west", "london", "south_west", "wales"],
    "gender": ["female", "male", "other"],
    "age_band": ["0-9", "10-13", "14-15", "16-17", "18+"],
}
PROBABILITIES: dict[str, list[float]] = {
    "region": [0.12, 0.3, 0.45, 0.12, 0.01],
    "gender": [0.35, 0.64, 0.01],
    "age_band": [0.03, 0.17, 0.35, 0.44, 0.01],  # rare bands make cells of 1-9 and zero cells
}
TABLES = [["region"], ["gender"], ["region", "gender"], ["gender", "age_band"], ["region", "gender", "age_band"]]


# ---------------------------------------------------------------------------------------------------
# The package's side


def _package_ptable_file() -> Path:
    """The 10-5 ptable file the wheel installs (its data scheme puts it at the environment's prefix)."""
    files = distribution("cell_key_perturbation").files or []
    (file,) = [f for f in files if f.name == "ptable_10_5_rule.csv"]
    return Path(str(file.locate()))


def _noisy_ptable() -> pd.DataFrame:
    rng = np.random.default_rng(20260512)
    pcvs, ckeys = np.meshgrid(np.arange(1, 751), np.arange(256), indexing="ij")
    pcvs, ckeys = pcvs.ravel(), ckeys.ravel()
    noise = rng.choice([-3, -2, -1, 0, 1, 2, 3], size=pcvs.size, p=[0.1, 0.15, 0.2, 0.1, 0.2, 0.15, 0.1])
    pvalues = np.maximum(noise, -pcvs)  # never below 0 before the threshold
    frame = pd.DataFrame({"pcv": pcvs, "ckey": ckeys, "pvalue": pvalues})
    # drop ~3% of rows (never ckey 255, which fixes the key range): the package adds 0 for them
    drop = (rng.random(pcvs.size) < 0.03) & (ckeys != 255)
    return frame[~drop].reset_index(drop=True)


@pytest.fixture(scope="module")
def ptables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[pd.DataFrame, Ptable]]:
    """name → (the package's ptable DataFrame, our Ptable): the 10-5 one as the package ships it, the
    default as its CLI writes it (and we generate it in memory), the test one read from CSV."""
    directory = tmp_path_factory.mktemp("ptable")
    test_table = _noisy_ptable()
    noisy_csv = directory / "ptable_noisy.csv"
    test_table[["ckey", "pvalue", "pcv"]].to_csv(noisy_csv, index=False)  # column order must not matter
    default_csv = directory / "ictg_noise_d5.csv"
    assert noisy.main(["--out", str(default_csv)]) == 0
    return {
        "10-5": (pd.read_csv(_package_ptable_file()), PTABLE_10_5),
        "default": (pd.read_csv(default_csv), DEFAULT_PTABLE),
        "noisy": (test_table, load_ptable(noisy_csv)),
    }


def _package_table(data: pd.DataFrame, ptable: pd.DataFrame, tab_vars: list[str]) -> dict[tuple[Any, ...], int | None]:
    table = create_perturbed_table(data=data, ptable=ptable, geog=[], tab_vars=tab_vars, record_key="record_key")
    return {
        tuple(row[v] for v in tab_vars): None if pd.isna(row["count"]) else int(row["count"])
        for _, row in table.iterrows()
    }


# ---------------------------------------------------------------------------------------------------
# Our side: counts and cell keys as SQL would give them (count(*), sum(record_key) % 256), then perturb


def _our_table(
    records: list[dict[str, Any]], ptable: Ptable, tab_vars: list[str], categories: dict[str, list[Any]]
) -> dict[tuple[Any, ...], int | None]:
    counts: Counter[tuple[Any, ...]] = Counter()
    key_sums: Counter[tuple[Any, ...]] = Counter()
    for record in records:
        cell = tuple(record[v] for v in tab_vars)
        counts[cell] += 1
        key_sums[cell] += record["record_key"]
    # every cell of the table, zero cells included (as the package does for categorical variables)
    return {
        cell: ptable.perturb(counts[cell], key_sums[cell] % 256)
        for cell in itertools.product(*(categories[v] for v in tab_vars))
    }


def _frame(records: list[dict[str, Any]], categories: dict[str, list[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records)
    for name, values in categories.items():
        frame[name] = pd.Categorical(frame[name], categories=values)
    return frame


@pytest.fixture(scope="module")
def microdata() -> list[dict[str, Any]]:
    """4,000 children with random ids, record keys from our keyed hash, and three categorical variables."""
    rng = np.random.default_rng(7)
    records = []
    for _ in range(4000):
        child_id = UUID(bytes=rng.bytes(16), version=4)
        record = {name: rng.choice(values, p=PROBABILITIES[name]) for name, values in CATEGORIES.items()}
        records.append({"child_id": child_id, "record_key": record_key(SECRET, child_id), **record})
    return records


# ---------------------------------------------------------------------------------------------------
# Cell by cell against the package


@pytest.mark.parametrize("ptable_name", ["10-5", "default", "noisy"])
@pytest.mark.parametrize("tab_vars", TABLES, ids=lambda v: "x".join(v))
def test_matches_ons_package_cell_by_cell(
    microdata: list[dict[str, Any]],
    ptables: dict[str, tuple[pd.DataFrame, Ptable]],
    ptable_name: str,
    tab_vars: list[str],
) -> None:
    package_ptable, ours = ptables[ptable_name]
    expected = _package_table(_frame(microdata, CATEGORIES), package_ptable, tab_vars)
    actual = _our_table(microdata, ours, tab_vars, CATEGORIES)
    assert actual == expected
    # the comparison is not vacuous: published, withheld and zero cells all occur in the bigger tables
    if len(tab_vars) == 3:
        assert any(v is None for v in expected.values()) and any(v is not None for v in expected.values())


@pytest.mark.parametrize("ptable_name", ["default", "noisy"])
def test_tables_exercise_small_zero_and_noisy_cells(
    microdata: list[dict[str, Any]], ptables: dict[str, tuple[pd.DataFrame, Ptable]], ptable_name: str
) -> None:
    tab_vars = ["region", "gender", "age_band"]
    table = create_perturbed_table(
        data=_frame(microdata, CATEGORIES),
        ptable=ptables[ptable_name][0],
        geog=[],
        tab_vars=tab_vars,
        record_key="record_key",
    )
    counts = table["pre_sdc_count"]
    assert (counts == 0).any() and counts.between(1, 9).any() and (counts >= 10).any()
    assert (table["pvalue"] != 0).mean() > 0.5  # real noise, not only rounding


@pytest.mark.parametrize("ptable_name", ["10-5", "default", "noisy"])
def test_counts_above_750_fold_like_the_package(
    ptables: dict[str, tuple[pd.DataFrame, Ptable]], ptable_name: str
) -> None:
    """One cell per count, with exactly that many records: the package's pcv and published values."""
    sizes = [0, 1, 9, 10, 11, 499, 500, 501, 749, 750, 751, 752, 999, 1000, 1001, 1002, 1250, 1251, 1500, 1501]
    sizes += [1749, 1750, 1751, 2024, 3333, 5000, *range(753, 780)]
    rng = np.random.default_rng(750)
    cells = [f"c{i:02d}" for i in range(len(sizes))]
    records = [
        {"cell": cell, "record_key": int(rng.integers(0, 256))}
        for cell, size in zip(cells, sizes, strict=True)
        for _ in range(size)
    ]
    package_ptable, ours = ptables[ptable_name]
    frame = _frame(records, {"cell": cells})
    table = create_perturbed_table(
        data=frame, ptable=package_ptable, geog=[], tab_vars=["cell"], record_key="record_key"
    )
    assert table["pre_sdc_count"].tolist() == sizes
    assert table["pcv"].tolist() == [pcv(size) for size in sizes]
    assert [ours.pvalue(c, k) for c, k in zip(table["pre_sdc_count"], table["ckey"], strict=True)] == table[
        "pvalue"
    ].tolist()
    assert _our_table(records, ours, ["cell"], {"cell": cells}) == _package_table(frame, package_ptable, ["cell"])
    if ptable_name != "10-5":  # folded cells did get noise from rows 501-750
        assert (table.loc[table["pre_sdc_count"] > 750, "pvalue"] != 0).any()


def test_pcv_folding() -> None:
    assert [pcv(c) for c in (0, 1, 500, 750)] == [0, 1, 500, 750]
    assert [pcv(c) for c in (751, 1000, 1001, 1250, 1251, 100_001)] == [501, 750, 501, 750, 501, 501]
    with pytest.raises(ValueError):
        pcv(-1)


# ---------------------------------------------------------------------------------------------------
# ONS's 10-5 ptable and the Ptable rules


def test_shipped_ptable_is_the_packages_10_5_ptable() -> None:
    ours = pd.read_csv(PTABLE_10_5_PATH, comment="#")
    assert ours.equals(pd.read_csv(_package_ptable_file()))
    assert ours.equals(generate_ptable_10_5_rule())
    assert PTABLE_10_5.key_modulus == 256 and PTABLE_10_5.threshold == 10 and PTABLE_10_5.name == "ons_10_5"
    assert DEFAULT_PTABLE.key_modulus == 256 and DEFAULT_PTABLE.threshold == 10


def test_zero_and_small_counts_are_withheld_with_10_5() -> None:
    for key in range(256):
        assert [PTABLE_10_5.perturb(c, key) for c in range(10)] == [None] * 10
        assert [PTABLE_10_5.perturb(c, key) for c in (10, 11, 12, 13, 14, 15, 752, 753)] == [
            10,
            10,
            10,
            15,
            15,
            15,
            750,
            755,
        ]


def test_missing_rows_add_nothing_and_bad_input_is_refused(tmp_path: Path) -> None:
    table = Ptable([(12, 0, 3), (20, 3, -15)], name="tiny")
    assert table.key_modulus == 4
    assert table.perturb(12, 0) == 15 and table.perturb(12, 1) == 12  # no (12, 1) row: + 0
    assert table.perturb(20, 3) is None  # 5 < 10
    assert table.perturb(0, 0) is None and table.perturb(5000, 2) == 5000
    with pytest.raises(ValueError):
        table.perturb(12, 4)
    with pytest.raises(ValueError):
        table.perturb(-1, 0)
    with pytest.raises(ValueError):
        Ptable([(1, 0, 0), (1, 0, 1)], name="duplicate")
    with pytest.raises(ValueError):
        Ptable([], name="empty")
    grids: tuple[list[list[int]], ...] = ([], [[]], [[0, 1], [0]])
    for grid in grids:
        with pytest.raises(ValueError):
            Ptable.from_grid(grid, name="ragged")
    assert (
        Ptable.from_grid([[1, 2], [3, 4]], name="grid").pvalue(2, 1)
        == Ptable([(1, 0, 1), (1, 1, 2), (2, 0, 3), (2, 1, 4)], name="rows").pvalue(2, 1)
        == 4
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("pcv,key,pvalue\n1,0,0\n")
    with pytest.raises(ValueError):
        load_ptable(bad)


# ---------------------------------------------------------------------------------------------------
# Properties


@settings(max_examples=500, deadline=None)
@given(count=st.integers(0, 10**7), cell_key=st.integers(0, 255))
def test_10_5_value_is_withheld_or_at_least_10_and_a_multiple_of_5(count: int, cell_key: int) -> None:
    value = PTABLE_10_5.perturb(count, cell_key)
    assert value is None or (value >= 10 and value % 5 == 0)
    assert (value is None) == (count < 10)
    assert value is None or abs(value - count) <= 2
    assert PTABLE_10_5.perturb(count, cell_key) == value


@settings(max_examples=300, deadline=None)
@given(count=st.integers(0, 10**6), cell_key=st.integers(0, 255))
def test_noisy_ptable_never_publishes_under_10_and_is_repeatable(
    ptables: dict[str, tuple[pd.DataFrame, Ptable]], count: int, cell_key: int
) -> None:
    noisy = ptables["noisy"][1]
    value = noisy.perturb(count, cell_key)
    assert value is None or value >= 10
    assert noisy.perturb(count, cell_key) == value


@settings(max_examples=200, deadline=None)
@given(keys=st.lists(st.integers(0, 255), min_size=0, max_size=2000), data=st.data())
def test_same_children_same_value_in_any_order(keys: list[int], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(keys))
    assert DEFAULT_PTABLE.perturb(len(keys), sum(keys) % 256) == DEFAULT_PTABLE.perturb(
        len(shuffled), sum(shuffled) % 256
    )


@settings(max_examples=200, deadline=None)
@given(secret=st.binary(min_size=1, max_size=64), child_id=st.uuids())
def test_record_key_is_a_stable_byte(secret: bytes, child_id: UUID) -> None:
    key = record_key(secret, child_id)
    assert 0 <= key <= 255
    assert record_key(secret, UUID(str(child_id))) == key
    assert key == hmac.new(secret, child_id.bytes, hashlib.sha256).digest()[0]


def test_record_key_is_pinned_and_spread() -> None:
    # fixed for ever: a change here would change every published value
    assert record_key(SECRET, UUID("00000000-0000-0000-0000-000000000001")) == 32
    assert record_key(SECRET, UUID("7d3c1f0e-2b4a-4c5d-9e8f-0a1b2c3d4e5f")) == 45
    assert record_key(b"other", UUID("00000000-0000-0000-0000-000000000001")) == 151
    assert {record_key(SECRET, UUID(int=i)) for i in range(5000)} == set(range(256))
    with pytest.raises(ValueError):
        record_key(b"", UUID(int=1))


# ---------------------------------------------------------------------------------------------------
# SQL


def test_cell_key_sql_compiles_beside_count() -> None:
    children = sa.table("children", sa.column("gender", sa.Text), sa.column("record_key", sa.SmallInteger))
    expression = cell_key_sql(children.c.record_key)
    assert str(expression.compile(dialect=asyncpg.dialect())) == "coalesce(sum(children.record_key), 0) % 256"
    query = (
        sa.select(children.c.gender, sa.func.count().label("n"), expression.label("cell_key"))
        .group_by(children.c.gender)
        .order_by(children.c.gender)
    )
    sql = " ".join(str(query.compile(dialect=asyncpg.dialect())).split())
    assert sql == (
        "SELECT children.gender, count(*) AS n, coalesce(sum(children.record_key), 0) % 256 AS cell_key "
        "FROM children GROUP BY children.gender ORDER BY children.gender"
    )
    assert isinstance(expression.type, sa.BigInteger)
    assert str(cell_key_sql(children.c.record_key, 4096).compile(dialect=asyncpg.dialect())).endswith("% 4096")
