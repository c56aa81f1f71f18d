"""The default noisy ptable (`ictg_metrics.disclosure.noisy`, `DEFAULT_PTABLE` = `ictg_noise_d5`).

1. Written to CSV by its CLI and read by ONS's `cell-key-perturbation` (3.1.0), it publishes what
   `Ptable.perturb` publishes, cell for cell: zero cells, cells of 1-9, 10-15, larger ones and counts
   above 750 (folded onto rows 501-750).
2. What the published answers state of it holds of its rows: zero mean at every pcv from 10, noise at
   most 5, the stated variance, every count 1-9 withheld for every key, a published value consistent with
   a contiguous run of at least 11 counts, and the spread of published values around random cells' true
   counts is that variance.
3. Keys map to values by a fixed pseudo-random ranking per pcv: one key does not give the same noise at
   every count (with ONS's plain cumulative ranges, `seed=None`, it does). The table is pinned: changing
   it changes every published value.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
from collections import Counter, defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cell_key_perturbation.create_perturbed_table import create_perturbed_table
from hypothesis import given, settings
from hypothesis import strategies as st

from ictg_metrics.disclosure import noisy
from ictg_metrics.disclosure.cellkey import (
    DEFAULT_PTABLE,
    DEFAULT_THRESHOLD,
    PCV_MAX,
    PTABLE_10_5,
    RECORD_KEY_MODULUS,
    Ptable,
    load_ptable,
    pcv,
)
from ictg_metrics.disclosure.discloser import Discloser

D = noisy.MAX_NOISE
STATED = {"name": "ictg_noise_d5", "threshold": 10, "max_noise": 5, "variance": 968 / 256, "mean": 0.0}
CSV_SHA256 = "1361f207fbccd9e87610071eddd7758f60fcd5b2b78c365cf859d171ad98410e"


@pytest.fixture(scope="module")
def ptable_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default ptable as its CLI writes it."""
    path = tmp_path_factory.mktemp("ptable") / "ictg_noise_d5.csv"
    assert noisy.main(["--out", str(path)]) == 0
    return path


def _row(table: Ptable, row_pcv: int) -> list[int]:
    return [table.pvalue(row_pcv, key) for key in range(table.key_modulus)]


# ---------------------------------------------------------------------------------------------------
# 1. ONS's package reads the CSV and publishes what Ptable.perturb publishes


def test_the_cli_writes_the_packages_format(ptable_csv: Path) -> None:
    text = ptable_csv.read_text()
    lines = text.splitlines()
    assert lines[0] == "pcv,ckey,pvalue" and len(lines) == 1 + 750 * 256
    assert hashlib.sha256(text.encode()).hexdigest() == CSV_SHA256
    frame = pd.read_csv(ptable_csv)
    assert frame["pcv"].min() == 1 and frame["pcv"].max() == 750 and set(frame["ckey"]) == set(range(256))
    # read back as any configured ptable (ICTG_METRICS_PTABLE), it is the default row for row
    loaded = load_ptable(ptable_csv)
    assert all(_row(loaded, n) == _row(DEFAULT_PTABLE, n) for n in range(0, 751))


def test_the_package_publishes_what_perturb_publishes_cell_for_cell(ptable_csv: Path) -> None:
    """Cells of every size that matters, several of each with random record keys, in one table."""
    sizes = [0] * 4 + [*range(1, 10)] * 3 + [*range(10, 16)] * 12 + [16, 20, 37, 100, 499, 500, 501, 749, 750]
    sizes += [751, 752, 753, 999, 1000, 1001, 1002, 1250, 1251, 1500, 1501, 2024, 3333]
    rng = np.random.default_rng(2027)
    cells = [f"c{i:03d}" for i in range(len(sizes))]
    keys = {cell: rng.integers(0, 256, size=size).tolist() for cell, size in zip(cells, sizes, strict=True)}
    frame = pd.DataFrame(
        [{"cell": cell, "record_key": key} for cell in cells for key in keys[cell]],
        columns=["cell", "record_key"],
    )
    frame["cell"] = pd.Categorical(frame["cell"], categories=cells)  # zero cells listed too
    table = create_perturbed_table(
        data=frame, ptable=pd.read_csv(ptable_csv), geog=[], tab_vars=["cell"], record_key="record_key"
    )
    assert table["cell"].tolist() == cells and table["pre_sdc_count"].tolist() == sizes
    assert table["pcv"].tolist() == [pcv(size) for size in sizes]
    package = [None if pd.isna(v) else int(v) for v in table["count"]]
    ours = [DEFAULT_PTABLE.perturb(len(keys[cell]), sum(keys[cell]) % 256) for cell in cells]
    assert ours == package
    # not vacuous: every small cell withheld, cells of 10-15 both ways, folded cells moved by noise
    for size, value in zip(sizes, ours, strict=True):
        assert (value is None) if size < 10 else (value is None or value >= 10)
    small = [v for s, v in zip(sizes, ours, strict=True) if 10 <= s <= 15]
    assert None in small and any(v is not None for v in small)
    assert any(v != s for s, v in zip(sizes, ours, strict=True) if s > 750)


# ---------------------------------------------------------------------------------------------------
# 2. The stated parameters hold of the rows


def test_the_noise_distribution_is_stated_exactly() -> None:
    counts = noisy.noise_counts()
    assert counts == {-5: 2, -4: 7, -3: 17, -2: 31, -1: 45, 0: 52, 1: 45, 2: 31, 3: 17, 4: 7, 5: 2}
    assert sum(counts.values()) == 256 and all(counts[v] == counts[-v] for v in counts)
    assert Fraction(sum(n * v * v for v, n in counts.items()), 256) == Fraction(968, 256)
    # unimodal, every value reachable
    assert all(counts[v] > counts[v + 1] > 0 for v in range(0, 5))
    with pytest.raises(ValueError):
        noisy.noise_counts(max_noise=200)  # 401 values cannot each have one of 256 keys
    with pytest.raises(ValueError):
        noisy.noise_counts(keys=255)


def test_every_count_from_10_gets_the_same_zero_mean_noise_of_at_most_5() -> None:
    counts = noisy.noise_counts()
    for n in range(10, 751):
        row = _row(DEFAULT_PTABLE, n)
        assert Counter(row) == counts, n  # hence mean exactly 0, |pvalue| <= 5, variance 968/256
        assert sum(row) == 0 and max(map(abs, row)) == D
        assert Fraction(sum(v * v for v in row), 256) == Fraction(968, 256)


def test_the_ptable_states_its_own_parameters() -> None:
    assert DEFAULT_PTABLE.describe() == STATED
    assert (DEFAULT_PTABLE.max_noise, DEFAULT_PTABLE.variance, DEFAULT_PTABLE.mean) == (5, 3.78125, 0.0)
    # the 10-5 table reports its own figures: rounding moves a count by at most 2, spread 2 over counts
    stated = PTABLE_10_5.describe()
    assert stated["name"] == "ons_10_5" and stated["threshold"] == 10 and stated["max_noise"] == 2
    assert stated["variance"] == pytest.approx(2.0, abs=0.01) and stated["mean"] == pytest.approx(0.0, abs=0.01)
    # computed from the rows: the largest move of a row that can publish (9 + 3 reaches 10), the mean and
    # variance where the threshold clips nothing (from 10 + 3), missing rows adding 0
    grid = [[0, 0]] * 8 + [[3, -9]] + [[-1, 1]] * 741
    stated = Ptable.from_grid(grid, name="tiny").describe()
    assert stated == {"name": "tiny", "threshold": 10, "max_noise": 3, "variance": 1.0, "mean": 0.0}
    rows = [(n, 0, 1) for n in range(13, 751)] + [(9, 1, 3)]  # key 1 adds 0 from 10 on: mean 1/2, variance 1/4
    assert Ptable(rows, name="half").describe() == {
        "name": "half", "threshold": 10, "max_noise": 3, "variance": 0.25, "mean": 0.5}  # fmt: skip


def test_a_perturbed_answer_states_the_ptables_parameters() -> None:
    described = Discloser("perturb", DEFAULT_PTABLE).describe()
    assert described["ptable"] == {"name": "ictg_noise_d5", "threshold": 10, "max_noise": 5, "variance": 3.78125}
    assert "mean 0" in described["note"] and "rounded" not in described["note"]
    assert Discloser("perturb", PTABLE_10_5).describe()["ptable"]["max_noise"] == 2
    assert Discloser("none", DEFAULT_PTABLE).describe() == {"disclosure": "none"}


def test_zero_and_every_count_under_10_is_withheld_for_every_key() -> None:
    for key in range(256):
        assert [DEFAULT_PTABLE.perturb(c, key) for c in range(10)] == [None] * 10
        assert [DEFAULT_PTABLE.pvalue(c, key) for c in range(10)] == [-c for c in range(10)]


def test_a_published_value_never_pins_a_count() -> None:
    """The true counts that can give a published value p are contiguous: p-5..p+5 from p = 15 on (11 of
    them), 10..p+5 for p of 10-14. Counts above 750 (folded) included."""
    can_give: dict[int, set[int]] = defaultdict(set)
    for count in range(0, 1600):
        for key in range(256):
            value = DEFAULT_PTABLE.perturb(count, key)
            if value is not None:
                can_give[value].add(count)
    assert min(can_give) == 10
    for p in range(10, 1590):
        counts = sorted(can_give[p])
        assert counts == list(range(counts[0], counts[-1] + 1)), p
        assert counts == list(range(max(10, p - D), p + D + 1)), p
        assert p < DEFAULT_THRESHOLD + D or len(counts) >= 2 * D + 1


@settings(max_examples=500, deadline=None)
@given(count=st.integers(0, 10**7), cell_key=st.integers(0, 255))
def test_published_value_is_withheld_or_within_5_and_at_least_10(count: int, cell_key: int) -> None:
    value = DEFAULT_PTABLE.perturb(count, cell_key)
    assert value is None or (value >= 10 and abs(value - count) <= D)
    assert count >= 10 or value is None
    assert count < 10 + D or value is not None  # from 15 nothing is withheld
    assert DEFAULT_PTABLE.perturb(count, cell_key) == value


def published(count: int, cell_key: int) -> int:
    """A cell's published value, for a count the ptable never withholds."""
    value = DEFAULT_PTABLE.perturb(count, cell_key)
    assert value is not None
    return value


def test_the_spread_over_random_cells_is_the_stated_variance() -> None:
    """20,000 cells of random sizes (15 to 5,000: never clipped) and random children's record keys."""
    rng = np.random.default_rng(11)
    sizes = rng.integers(15, 5001, size=20_000)
    noise = np.array([published(int(n), int(rng.integers(0, 256, size=n).sum() % 256)) - int(n) for n in sizes])
    variance, n = 968 / 256, len(noise)
    fourth = sum(c * v**4 for v, c in noisy.noise_counts().items()) / 256
    assert abs(noise.mean()) < 4 * (variance / n) ** 0.5
    assert abs((noise**2).mean() - variance) < 4 * ((fourth - variance**2) / n) ** 0.5
    shares = Counter(noise.tolist())
    for v, c in noisy.noise_counts().items():
        p = c / 256
        assert abs(shares[v] / n - p) < 5 * (p * (1 - p) / n) ** 0.5, v


# ---------------------------------------------------------------------------------------------------
# 3. How keys map to values


def test_a_key_does_not_give_the_same_noise_at_every_count() -> None:
    grid = np.array([_row(DEFAULT_PTABLE, n) for n in range(10, 751)])  # [pcv - 10, key]
    for key in range(256):
        column = grid[:, key]
        assert abs(column.mean()) < 0.35, key  # no key is pushed one way across counts
        assert Counter(column.tolist()).most_common(1)[0][1] < 0.3 * len(column), key
    # neither the same key at the next count nor the next key at the same count is related
    assert abs(np.corrcoef(grid[:-1].ravel(), grid[1:].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(grid[:, :-1].ravel(), grid[:, 1:].ravel())[0, 1]) < 0.02
    # ONS's cumulative ranges on the keys themselves (seed=None): the noise is a function of the key alone,
    # rising with it; the ranking keeps every count's distribution and changes only which key gets what
    plain = noisy.pvalue_grid(seed=None)
    assert all(plain[n - 1] == plain[9] for n in range(10, 751))
    assert plain[9] == sorted(plain[9]) and plain[9][:2] == [-5, -5]
    assert all(Counter(plain[n - 1]) == Counter(grid[n - 10].tolist()) for n in range(10, 751))


def test_the_table_is_pinned() -> None:
    # fixed for ever: a change here changes every published value (and the stated design)
    assert _row(DEFAULT_PTABLE, 10)[:12] == [0, -2, 1, 1, -1, 2, 2, 1, 3, -2, 1, -2]
    assert _row(DEFAULT_PTABLE, 750)[:6] == [-1, 3, 2, 0, 1, -3]
    assert [DEFAULT_PTABLE.pvalue(1001, k) for k in range(6)] == _row(DEFAULT_PTABLE, 501)[:6]
    buf = io.StringIO()
    noisy.write_csv(buf, noisy.ptable_rows())
    assert hashlib.sha256(buf.getvalue().encode()).hexdigest() == CSV_SHA256
    assert (noisy.THRESHOLD, noisy.KEYS, noisy.MAX_PCV) == (DEFAULT_THRESHOLD, RECORD_KEY_MODULUS, PCV_MAX)


def test_the_default_is_built_from_its_grid_and_the_10_5_table_read_only_when_asked() -> None:
    # (how long the build takes is a speed, not asserted in the suite)
    assert Ptable.from_grid(noisy.pvalue_grid(), name=noisy.NAME).name == noisy.NAME
    script = (
        "import ictg_metrics.disclosure.cellkey as c\n"
        "assert c.DEFAULT_PTABLE.name == 'ictg_noise_d5'\n"
        "assert c._ptable_10_5.cache_info().currsize == 0\n"
        "assert c.PTABLE_10_5.name == 'ons_10_5' and c.PTABLE_10_5 is c.PTABLE_10_5\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
