"""Disclosure control as an attacker meets it (docs/disclosure.md).

1. The API publishes, cell for cell, what ONS's own `cell-key-perturbation` package (3.1.0) publishes
   for the same microdata, record keys and ptable: one-, two- and three-way tables and the total, for
   the default noisy ptable (`ictg_noise_d5`, read by the package from the CSV its CLI writes), for
   ONS's 10-5 ptable configured, and for a test ptable with real noise keyed by the cell key.
2. Differencing gives nothing away: a month's referrals from the caseload identity, a small cell from
   a total minus the other cells (or minus the complement asked through a filter); and the same cell
   has the same value whether reached through a filter or a `group_by`. With the 10-5 ptable the
   numbers are exact; with the default, every value is the cell key method's value of exactly the
   right children, and small and empty cells read the same.
3. Properties (hypothesis) over random groupings and filters of children, caseload and timeliness,
   with either ptable: every published count is withheld or at least 10, and the 10-5 value of the true
   count (10-5) or within 5 of it, withheld under 10 and published from 15 (default); quantiles go
   with their published count; a 422 refusal happens exactly when the stated rule says so (with the
   default: only when it can, and always when it must), and says why; the same query twice, and again
   after a rebuild, gives the same answer.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
from collections.abc import Coroutine, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from cell_key_perturbation.create_perturbed_table import create_perturbed_table
from cell_key_perturbation.utils.generate_test_ptable import generate_ptable_10_5_rule
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ictg_common import clock
from ictg_metrics.app import create_app
from ictg_metrics.disclosure import noisy
from ictg_metrics.disclosure.cellkey import DEFAULT_PTABLE, PTABLE_10_5, PTABLE_10_5_PATH, Ptable, load_ptable
from ictg_metrics.settings import MetricsSettings
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import ANALYST, feed, metrics_app, published, record_key_of
from tests.support.platform import auth

READER = auth("metrics:read:unsuppressed")  # a perturbed preview (free queries by anyone else are under dp)
TEN_FIVE: dict[str, Any] = {"ptable": str(PTABLE_10_5_PATH)}  # ONS's 10-5 ptable, configured as any ptable file is
ADMIN = auth("metrics:admin")
PERTURB = {"disclosure": "perturb"}
NATIONALITY = {"uk": "GB", "eea": "FR", "non_eea": "VN", "unknown": "unknown"}
AGE_BAND = {9: "7-13", 14: "14-15", 15: "14-15", 16: "16-17", 17: "16-17"}


def kid(
    day: str, *, gender: str = "male", group: str = "non_eea", uasc: bool = True, age: int = 15, **more: Any
) -> Child:
    """A child referred on `day` (noon, London) with consistent nationality and age attributes."""
    attrs = {"gender": gender, "nationality": NATIONALITY[group], "nationality_group": group, "uasc": uasc,
             "age_at_referral": age, "age_band": AGE_BAND[age], **more}  # fmt: skip
    return Child(at(day), attrs=attrs)


def ids(children: Iterable[Child]) -> list[str]:
    return [c.referral_id for c in children]


def plain(value: Any) -> Any:
    """A pandas/numpy scalar as the plain Python value the API gives."""
    return value.item() if hasattr(value, "item") else value


# ---------------------------------------------------------------------------------------------------
# 1. The API against ONS's package


# (gender, nationality_group, uasc) → children: not sparse in any of the tables below (female and male
# cells of 15 or more stay published under the default ptable's ±5, so at most half of
# every table's cells withheld), yet with small cells in each (withheld), and empty cells (e.g. other × eea).
CELLS: dict[tuple[str, str, bool], int] = {
    ("female", "uk", False): 20, ("female", "uk", True): 15, ("female", "eea", False): 15,
    ("female", "eea", True): 15, ("female", "non_eea", False): 15, ("female", "non_eea", True): 40,
    ("female", "unknown", False): 15, ("female", "unknown", True): 15, ("male", "uk", False): 25,
    ("male", "uk", True): 15, ("male", "eea", False): 15, ("male", "eea", True): 15, ("male", "non_eea", False): 18,
    ("male", "non_eea", True): 70, ("male", "unknown", True): 15, ("male", "unknown", False): 15,
    ("other", "non_eea", True): 4, ("other", "uk", False): 2,
}  # fmt: skip
TAB_VARS = [["gender"], ["gender", "nationality_group"], ["gender", "nationality_group", "uasc"]]


def _noisy_ptable(path: Path) -> pd.DataFrame:
    """A ptable with real noise keyed by pcv and cell key, some rows missing (the package then adds 0).
    The package ships no generator for such a table (only `generate_ptable_10_5_rule`), so it is made
    here as in test_cellkey.py, seeded; the package reads the DataFrame, the API the CSV."""
    rng = np.random.default_rng(20261203)
    pcvs, ckeys = np.meshgrid(np.arange(1, 751), np.arange(256), indexing="ij")
    pcvs, ckeys = pcvs.ravel(), ckeys.ravel()
    noise = rng.choice([-3, -2, -1, 0, 1, 2, 3], size=pcvs.size, p=[0.1, 0.15, 0.2, 0.1, 0.2, 0.15, 0.1])
    frame = pd.DataFrame({"pcv": pcvs, "ckey": ckeys, "pvalue": np.maximum(noise, -pcvs)})
    frame = frame[~((rng.random(pcvs.size) < 0.03) & (ckeys != 255))].reset_index(drop=True)
    frame.to_csv(path, index=False)
    return frame


def _package(
    frame: pd.DataFrame, ptable: pd.DataFrame, tab_vars: list[str]
) -> dict[tuple[Any, ...], tuple[int | None, int]]:
    """`{cell: (published or None, true count)}` as ONS's package computes them."""
    table = create_perturbed_table(data=frame, ptable=ptable, geog=[], tab_vars=tab_vars, record_key="record_key")
    return {
        tuple(plain(row[v]) for v in tab_vars): (
            None if pd.isna(row["count"]) else int(row["count"]),
            int(row["pre_sdc_count"]),
        )
        for _, row in table.iterrows()
    }


async def test_api_equals_ons_package_cell_for_cell(shared_settings: dict[str, Any], tmp_path: Path) -> None:
    s = shared_settings
    rnd = random.Random(5)
    kids = [
        kid(f"2025-0{rnd.randint(1, 6)}-{rnd.randint(1, 28):02d}", gender=g, group=n, uasc=u, age=rnd.choice([14, 16]))
        for (g, n, u), count in CELLS.items()
        for _ in range(count)
    ]
    assert len(kids) == 344
    frame = pd.DataFrame(
        {
            "record_key": [record_key_of(k.referral_id) for k in kids],
            # categorical, every value of the dimension a category: the package then lists zero cells too
            "gender": pd.Categorical([k.attrs["gender"] for k in kids], ["female", "male", "other", "unknown"]),
            "nationality_group": pd.Categorical([k.attrs["nationality_group"] for k in kids], list(NATIONALITY)),
            "uasc": pd.Categorical([k.attrs["uasc"] for k in kids], [False, True]),
            "everyone": ["all"] * len(kids),  # a one-cell table: the total
        }
    )
    noisy_path, default_path = tmp_path / "noisy_ptable.csv", tmp_path / "ictg_noise_d5.csv"
    assert noisy.main(["--out", str(default_path)]) == 0
    ptables: dict[str, tuple[pd.DataFrame, dict[str, Any]]] = {
        "ictg_noise_d5": (pd.read_csv(default_path), {}),  # the API's default, as its CLI writes it
        "ptable_10_5": (generate_ptable_10_5_rule(), TEN_FIVE),  # the package's own, configured by file
        "noisy_ptable": (_noisy_ptable(noisy_path), {"ptable": str(noisy_path)}),
    }
    assert load_ptable(noisy_path).name == "noisy_ptable"
    seen_noise: set[str] = set()
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
    for name, (package_ptable, extra) in ptables.items():
        async with metrics_app(s, **extra) as client:
            for tab_vars in TAB_VARS:
                r = await client.get(
                    "/v1/metrics/children", params={"group_by": ",".join(tab_vars), "as_of": "2025-12-31", **PERTURB},
                    headers=READER,
                )  # fmt: skip
                assert r.status_code == 200, (name, tab_vars, r.text)
                body = r.json()
                assert body["disclosure"] == "perturb"
                assert body["ptable"]["name"] == name and r.headers["ICTG-Ptable"] == name
                api = {tuple(row[v] for v in tab_vars): row["children"] for row in body["rows"]}
                for row in body["rows"]:
                    assert (row["children"] is None) == bool(row.get("withheld")), row
                    assert row.get("withheld_fields", ["children"] if row["children"] is None else []) == (
                        ["children"] if row["children"] is None else []
                    ), row
                package = _package(frame, package_ptable, tab_vars)
                # Every cell of the table, empty ones included (withheld, so that 0 and 1-9 look alike), as the
                # package lists them with categorical variables.
                assert set(api) == set(package), (name, tab_vars)
                zero_cells = [value for cell, (value, true) in package.items() if true == 0]
                assert all(v is None for v in zero_cells)
                assert len(tab_vars) == 1 or zero_cells, "the tables have zero cells"
                assert api == {cell: package[cell][0] for cell in api}, (name, tab_vars)
                # ... and the total is the package's one-cell table.
                assert body["total"] == _package(frame, package_ptable, ["everyone"])[("all",)][0]
                # The comparison can fail: withheld and published cells both occur in every table.
                values = list(api.values())
                assert sum(v is None for v in values) >= 1, (name, tab_vars, api)
                assert sum(v is not None for v in values) >= (2 if len(tab_vars) == 1 else 6), (name, tab_vars, api)
                if name != "ptable_10_5":
                    if any(v is not None and v % 5 for v in [*values, body["total"]]):
                        seen_noise.add(name)
                    # independently of the package too
                    ours = DEFAULT_PTABLE if name == "ictg_noise_d5" else load_ptable(noisy_path)
                    expected = {
                        cell: published(ids(k for k in kids if tuple(k.attrs[v] for v in tab_vars) == cell), ours)
                        for cell in api
                    }
                    assert api == expected
    # the noisy ptables did move values off the multiples of 5: keys matter
    assert seen_noise == {"ictg_noise_d5", "noisy_ptable"}


# ---------------------------------------------------------------------------------------------------
# 2. Differencing attacks


def _no_small_counts(values: Iterable[Any], ptable: Ptable = PTABLE_10_5) -> None:
    for v in values:
        assert v is None or (isinstance(v, int) and v >= 10), v
        assert v is None or ptable is not PTABLE_10_5 or v % 5 == 0, v


async def test_caseload_identity_does_not_give_a_small_month_back(shared_settings: dict[str, Any]) -> None:
    """60 referrals in December, 4 in January and 12 exits in January: the attacker computes January's
    referrals as in_service_end(Jan) − in_service_end(Dec) + exits_out(Jan) from published values."""
    s = shared_settings
    december = [kid(f"2025-12-{1 + i % 28:02d}") for i in range(60)]
    january = [kid(f"2026-01-{5 + i:02d}") for i in range(4)]
    leavers = december[:12]
    for i, k in enumerate(leavers):
        k.exit(at(f"2026-01-{10 + i:02d}"))
    in_service_jan = [k for k in december if k not in leavers] + january
    async with metrics_app(s, **TEN_FIVE) as client:
        await feed(client, s, *december, *january)
        r = await client.get(
            "/v1/metrics/caseload",
            params={"from": "2025-12", "to": "2026-01", "as_of": "2026-01-31", **PERTURB},
            headers=READER,
        )
        assert r.status_code == 200, r.text
        rows = {row["month"]: row for row in r.json()["rows"]}
        dec, jan = rows["2025-12"], rows["2026-01"]
        assert r.json()["disclosure"] == "perturb"

        # January's 4 referrals are withheld, never shown as 1–9.
        assert jan["referrals_in"] is None and jan["withheld"] is True and "referrals_in" in jan["withheld_fields"]
        # Every other value is the cell key method's value of exactly the right children.
        assert dec["referrals_in"] == published(ids(december), PTABLE_10_5) == 60
        assert dec["exits_out"] is None and "exits_out" in dec["withheld_fields"]  # zero: withheld, as ONS's package
        assert dec["in_service_end"] == published(ids(december), PTABLE_10_5) == 60
        assert jan["exits_out"] == published(ids(leavers), PTABLE_10_5) == 10
        assert jan["in_service_end"] == published(ids(in_service_jan), PTABLE_10_5) == 50
        _no_small_counts(
            v for row in rows.values() for v in (row["referrals_in"], row["exits_out"], row["in_service_end"])
        )

        # The attack: stocks and flows are each perturbed on their own, so the identity is off.
        derived = jan["in_service_end"] - dec["in_service_end"] + jan["exits_out"]
        assert derived != len(january)
        assert derived == 0  # 50 − 60 + 10: nothing about the four children

        # The same stock asked as of the end of January through the children measure: the same value
        # (the same children, hence the same cell key) — no second noisy look at it.
        c = await client.get("/v1/metrics/children", params={"as_of": "2026-01-31", **PERTURB}, headers=READER)
        assert c.json()["total"] == published(ids([*december, *january]), PTABLE_10_5) == 65

    # With the default, noisy ptable (values depend on each cell's key, so the stock's key must be that of
    # exactly the children in service): still the right children's values, still nothing under 10.
    async with metrics_app(s) as client:
        r = await client.get(
            "/v1/metrics/caseload",
            params={"from": "2025-12", "to": "2026-01", "as_of": "2026-01-31", **PERTURB},
            headers=READER,
        )
        assert r.status_code == 200, r.text
        assert r.json()["ptable"]["name"] == DEFAULT_PTABLE.name
        rows = {row["month"]: row for row in r.json()["rows"]}
        assert rows["2025-12"]["referrals_in"] == published(ids(december))
        assert rows["2025-12"]["in_service_end"] == published(ids(december))
        assert rows["2026-01"]["referrals_in"] is None  # 4: every count under 10 is withheld, whatever its key
        assert rows["2026-01"]["exits_out"] == published(ids(leavers))
        assert rows["2026-01"]["in_service_end"] == published(ids(in_service_jan))
        for row in rows.values():
            _no_small_counts((row["referrals_in"], row["exits_out"], row["in_service_end"]), DEFAULT_PTABLE)
        # each within 5 of its true count
        assert abs(rows["2025-12"]["in_service_end"] - 60) <= 5 and abs(rows["2026-01"]["in_service_end"] - 52) <= 5


@pytest.mark.parametrize("ptable_name", ["ptable_10_5", "ictg_noise_d5"])
async def test_margins_do_not_give_a_small_cell_back(shared_settings: dict[str, Any], ptable_name: str) -> None:
    """129 children, 3 of unknown nationality: total − published cells, or total − the complement asked
    through a filter, is not 3 (10-5); with the default, each is the noisy value of exactly its children,
    and the small and the empty cell read the same."""
    s = shared_settings
    ptable, extra = (PTABLE_10_5, TEN_FIVE) if ptable_name == "ptable_10_5" else (DEFAULT_PTABLE, {})
    exact = ptable is PTABLE_10_5
    uk = [kid("2025-04-02", group="uk") for _ in range(61)]
    non_eea = [kid("2025-04-03", group="non_eea") for _ in range(65)]
    unknown = [kid("2025-04-04", group="unknown") for _ in range(3)]
    everyone = [*uk, *non_eea, *unknown]
    async with metrics_app(s, **extra) as client:
        await feed(client, s, *everyone)
        r = await client.get(
            "/v1/metrics/children", params={"group_by": "nationality_group", **PERTURB}, headers=READER
        )
        assert r.status_code == 200, r.text
        body = r.json()
        cells = {row["nationality_group"]: row for row in body["rows"]}
        assert set(cells) == {"uk", "eea", "non_eea", "unknown"}  # eea, empty, withheld like a small cell
        assert cells["eea"]["children"] is None and cells["eea"]["withheld"] is True
        assert cells["unknown"]["children"] is None and cells["unknown"]["withheld"] is True
        assert cells["uk"]["children"] == published(ids(uk), ptable)
        assert cells["non_eea"]["children"] == published(ids(non_eea), ptable)
        assert body["total"] == published(ids(everyone), ptable)
        _no_small_counts([*(row["children"] for row in cells.values()), body["total"]], ptable)
        if exact:
            assert (cells["uk"]["children"], cells["non_eea"]["children"], body["total"]) == (60, 65, 130)
            assert body["total"] - cells["uk"]["children"] - cells["non_eea"]["children"] != len(unknown)
        # A group of 1-9 and an empty group give the same answer: nothing tells which one is empty.
        assert {k: v for k, v in cells["eea"].items() if k != "nationality_group"} == {
            k: v for k, v in cells["unknown"].items() if k != "nationality_group"
        }

        # The complement through a filter with two values: its own cell, its own value.
        f = await client.get(
            "/v1/metrics/children",
            params=[("nationality_group", "uk"), ("nationality_group", "non_eea"), ("disclosure", "perturb")],
            headers=READER,
        )
        assert f.status_code == 200, f.text
        assert f.json()["total"] == published(ids([*uk, *non_eea]), ptable)
        if exact:
            assert f.json()["total"] == 125 and body["total"] - f.json()["total"] != len(unknown)
        # The small cell asked alone is withheld too (not refused: one cell is no table).
        alone = await client.get("/v1/metrics/children", params={"nationality_group": "unknown", **PERTURB},
                                headers=READER)  # fmt: skip
        assert alone.status_code == 200, alone.text
        assert alone.json()["total"] is None and alone.json()["total_withheld"] is True


async def test_no_answer_tells_no_child_from_a_few(shared_settings: dict[str, Any], tmp_path: Path) -> None:
    """Whether any child matches is itself a disclosure: 3 children (EEA) and none (unknown nationality)
    give the same answer, ungrouped or grouped, on every measure; an age outside the listed ones is
    counted under the last; a year before the listed ones is no cell; the month still running cannot be
    asked; a ptable keyed otherwise than metrics' cell keys is refused at start-up."""
    s = shared_settings
    kids = [kid("2025-04-02", group="uk", gender=g) for g in ["female"] * 20 + ["male"] * 20]
    eea = [kid("2025-04-03", group="eea") for _ in range(3)]
    # groups of 15: published whatever their keys (the default ptable moves a count by at most 5)
    older = [kid("2025-04-04", age_at_referral=31) for _ in range(15)]  # non-EEA; in dispute: any age
    early = [kid(day, group="uk") for day in ("2016-12-05", "2017-03-06") for _ in range(15)]  # 2016: imported
    period = {"as_of": "2025-06-30", **PERTURB}
    async with metrics_app(s) as client:
        await feed(client, s, *kids, *eea, *older, *early)

        async def both(path: str, **params: Any) -> list[httpx.Response]:
            return [
                await client.get(f"/v1/metrics/{path}", params={**period, **params, "nationality_group": g},
                                 headers=READER)
                for g in ("eea", "unknown")
            ]  # fmt: skip

        def same(a: httpx.Response, b: httpx.Response) -> None:
            assert a.status_code == b.status_code, (a.text, b.text)
            if a.status_code == 200:
                assert a.json()["rows"] == b.json()["rows"] and a.json().get("total") == b.json().get("total")
            else:
                assert a.json()["errors"] == b.json()["errors"]

        few, none = await both("timeliness")  # ungrouped: one withheld row either way
        same(few, none)
        assert few.status_code == 200 and len(few.json()["rows"]) == 1 and few.json()["rows"][0]["withheld"]
        few, none = await both("children")
        same(few, none)
        assert few.json()["total"] is None
        for path in ("children", "timeliness"):
            same(*await both(path, group_by="gender"))  # sparse either way
            # In a table that is published: the EEA cell (3) and the unknown one (0) read the same.
            r = await client.get(f"/v1/metrics/{path}", params={**period, "group_by": "nationality_group"},
                                 headers=READER)  # fmt: skip
            assert r.status_code == 200, r.text
            cells = {row.pop("nationality_group"): row for row in r.json()["rows"]}
            assert cells["eea"] == cells["unknown"] and cells["eea"]["withheld"], cells
            assert cells["non_eea"]["children"] == published(ids(older)) is not None
        few, none = await both("caseload", group_by="gender", **{"from": "2025-04", "to": "2025-06"})
        same(few, none)  # every cell withheld: refused as sparse, whether or not anyone is there
        assert few.status_code == 422 and "sparse" in few.text

        # An age outside 0-25 is counted under 25 ("25 or over"): no cell appears only when someone is in it.
        unperturbed = auth("metrics:read", "metrics:read:unsuppressed")
        r = await client.get("/v1/metrics/children", params={**period, "group_by": "age_at_referral",
                                                             "disclosure": "none"}, headers=unperturbed)  # fmt: skip
        assert {row["age_at_referral"]: row["children"] for row in r.json()["rows"]} == {15: 73, 25: 15}, r.text
        r = await client.get("/v1/metrics/children", params={**period, "age_at_referral": "31"}, headers=READER)
        assert r.status_code == 422 and "at most 25" in r.text

        # The month still running changes with each child: perturbed, as_of is at most the last month's end.
        today = clock.london_date(clock.utcnow())
        month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        r = await client.get("/v1/metrics/children", params={"as_of": month_end.isoformat(), **PERTURB},
                             headers=READER)  # fmt: skip
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#query/as_of", r.text
        r = await client.get("/v1/metrics/children", params={"as_of": month_end.isoformat(), "disclosure": "none"},
                             headers=unperturbed)  # fmt: skip
        assert r.status_code == 200 and r.json()["total"] == len(kids) + len(eea) + len(older) + len(early)

        # A referral imported from before the service began (2016) makes no cell of its own: the years listed
        # are 2017 on, whether or not anyone was referred earlier; it counts in the total.
        r = await client.get("/v1/metrics/children", params={"as_of": "2017-12-31", "group_by": "referral_year", **PERTURB},
                             headers=READER)  # fmt: skip
        assert r.status_code == 200, r.text
        assert [(row["referral_year"], row["children"]) for row in r.json()["rows"]] == [
            ("2017", published(ids(early[15:])))
        ]
        assert r.json()["total"] == published(ids(early)) is not None

    half = tmp_path / "half_keys.csv"
    half.write_text("pcv,ckey,pvalue\n" + "".join(f"{p},{k},0\n" for p in range(1, 751) for k in range(128)))
    with pytest.raises(ValueError, match=r"0\.\.127"):
        create_app(MetricsSettings(**s, ptable=str(half)))


async def test_the_same_cell_through_a_filter_or_a_group_has_the_same_value(shared_settings: dict[str, Any]) -> None:
    """With the 10-5 ptable and with the default, noisy one (where a value depends on the cell key, so on
    exactly which children are in the cell): children, timeliness and caseload."""
    s = shared_settings
    rnd = random.Random(3)
    genders = ["female"] * 45 + ["male"] * 41 + ["other"] * 5
    kids, exited = [], set()
    for i, g in enumerate(genders):
        k = kid(f"2025-03-{1 + i % 28:02d}", gender=g, uasc=rnd.random() < 0.6)
        if rnd.random() < 0.8:
            k.allocate(at(f"2025-03-{1 + i % 28:02d}", 18))
        if rnd.random() < 0.7:
            k.contact(at(f"2025-04-{1 + i % 28:02d}"))
        if rnd.random() < 0.3:
            k.exit(at("2025-05-20"))
            exited.add(k.referral_id)
        kids.append(k)
    # 13 boys not UASC so far: 15, so that no cell of a published table can fall under 10 and make it sparse
    kids += [kid("2025-03-02", gender="male", uasc=False) for _ in range(2)]
    common = {"as_of": "2025-06-30", **PERTURB}
    window = {"from": "2025-03", "to": "2025-05"}
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
    configured: list[tuple[Ptable, dict[str, Any]]] = [(PTABLE_10_5, TEN_FIVE), (DEFAULT_PTABLE, {})]
    for ptable, extra in configured:
        async with metrics_app(s, **extra) as client:

            async def get(path: str, **params: Any) -> dict[str, Any]:
                r = await client.get(f"/v1/metrics/{path}", params={**common, **params}, headers=READER)
                assert r.status_code == 200, (path, params, r.text)
                return r.json()

            for g in ("female", "male", "other"):
                mine = [k for k in kids if k.attrs["gender"] == g]
                where = (ptable.name, g)
                # children: a group's cell vs the total of the filtered query
                grouped = {row["gender"]: row for row in (await get("children", group_by="gender"))["rows"]}
                filtered = await get("children", gender=g)
                assert grouped[g]["children"] == filtered["total"] == published(ids(mine), ptable), where
                # a cell of a two-way table vs the same cell of a one-way table under a filter
                two_way = await get("children", group_by="gender,uasc")
                if g == "other":  # 5 children: asked as a table of their own, refused as sparse
                    for path, more in (("children", {"group_by": "uasc"}), ("caseload", window)):
                        r = await client.get(
                            f"/v1/metrics/{path}", params={**common, **more, "gender": g}, headers=READER
                        )
                        assert r.status_code == 422 and "sparse" in r.json()["detail"], (where, path, r.text)
                else:
                    one_way = await get("children", group_by="uasc", gender=g)
                    assert len(one_way["rows"]) == 2
                    for row in one_way["rows"]:
                        (same,) = [x for x in two_way["rows"] if x["gender"] == g and x["uasc"] == row["uasc"]]
                        assert same["children"] == row["children"], (where, row)
                        assert row["children"] == published(
                            ids(k for k in mine if k.attrs["uasc"] == row["uasc"]), ptable
                        )
                # timeliness: every count and statistic of the group's row
                t_grouped = {row["gender"]: row for row in (await get("timeliness", group_by="gender"))["rows"]}
                (t_filtered,) = (await get("timeliness", gender=g))["rows"]
                assert {k: v for k, v in t_grouped[g].items() if k != "gender"} == t_filtered, where
                assert t_filtered["children"] == published(ids(mine), ptable), where
                # caseload: each month's flows and stock
                c_grouped = [
                    row
                    for row in (await get("caseload", group_by="gender", gender=["female", "male", "other"], **window))[
                        "rows"
                    ]
                    if row["gender"] == g
                ]
                staying = ids(k for k in mine if k.referral_id not in exited)
                assert c_grouped[0]["referrals_in"] == published(ids(mine), ptable), where
                assert c_grouped[-1]["in_service_end"] == published(staying, ptable), where
                assert c_grouped[-1]["exits_out"] == published(exited & set(ids(mine)), ptable), where
                if g != "other":
                    c_filtered = (await get("caseload", gender=g, **window))["rows"]
                    assert [{k: v for k, v in row.items() if k != "gender"} for row in c_grouped] == c_filtered, where
            assert grouped["other"]["children"] is None  # 5 children: the check is not only of big cells
            assert t_grouped["other"]["children"] is None


# ---------------------------------------------------------------------------------------------------
# 3. Properties over random queries


POOL: dict[str, list[str]] = {
    "gender": ["female", "male", "other"],
    "nationality_group": ["uk", "eea", "non_eea", "unknown"],
    "uasc": ["true", "false"],
    "age_band": ["7-13", "14-15", "16-17"],
    "pathway": ["direct_worker", "regional_practice_coordinator", "regional_practitioner"],
    "missing_at_referral": ["true", "false"],
    "exploitation_type": ["criminal", "sexual", "labour"],  # multi-valued
    "status": [],  # grouping only (values depend on the service's codes)
}
MULTI = {"exploitation_type"}  # multi-valued: grouped, every value is listed even when filtered
STAT_NAMES = ("referral_delay_days", "referral_delay_working_days", "hours_to_allocation", "hours_to_first_contact",
              "days_to_first_contact")  # fmt: skip
DEADLINE_NAMES = ("referral", "allocation", "first_contact")


def _population(n: int, seed: int = 11) -> list[Child]:
    rnd = random.Random(seed)
    kids = []
    for _ in range(n):
        day = f"2025-{rnd.randint(1, 6):02d}-{rnd.randint(1, 28):02d}"
        primary = rnd.choice(["criminal", "criminal", "sexual", "labour"])
        others = rnd.sample([x for x in ("criminal", "sexual", "labour") if x != primary], rnd.randint(0, 1))
        k = kid(
            day,
            gender=rnd.choices(["female", "male", "other"], [0.45, 0.5, 0.05])[0],
            group=rnd.choices(["uk", "eea", "non_eea", "unknown"], [0.3, 0.15, 0.5, 0.05])[0],
            uasc=rnd.random() < 0.5,
            age=rnd.choice([9, 14, 15, 16, 17]),
            pathway=rnd.choice(
                ["direct_worker", "direct_worker", "regional_practice_coordinator", "regional_practitioner"]
            ),
            missing_at_referral=rnd.random() < 0.1,
            exploitation={"primary": primary, "others": others, "county_lines": False},
        )
        if rnd.random() < 0.8:
            k.allocate(at(day, rnd.randint(13, 23)))
        if rnd.random() < 0.7:
            k.contact(at(f"2025-{rnd.randint(int(day[5:7]), 8):02d}-{rnd.randint(1, 28):02d}", 9))
        if rnd.random() < 0.3:
            k.exit(at(f"2025-{rnd.randint(7, 11):02d}-{rnd.randint(1, 28):02d}"))
        kids.append(k)
    return kids


@st.composite
def _queries(draw: st.DrawFn) -> list[tuple[str, str]]:
    group_by = draw(st.lists(st.sampled_from(list(POOL)), max_size=3, unique=True))
    filtered = draw(st.lists(st.sampled_from([d for d, v in POOL.items() if v]), max_size=3, unique=True))
    params = [("group_by", ",".join(group_by))] if group_by else []
    for dim in filtered:
        params += [(dim, v) for v in draw(st.lists(st.sampled_from(POOL[dim]), min_size=1, max_size=2, unique=True))]
    params.append(("as_of", draw(st.sampled_from(["2025-03-31", "2025-06-30", "2025-12-31"]))))
    return params


def _key(row: dict[str, Any], group_by: list[str]) -> tuple[Any, ...]:
    return tuple(row[g] for g in group_by)


def _counts(measure: str, row: dict[str, Any]) -> dict[str, Any]:
    """Every count a row publishes, by a flat name."""
    if measure == "children":
        return {"children": row["children"]}
    if measure == "caseload":
        return {k: row[k] for k in ("referrals_in", "exits_out", "in_service_end")}
    out = {"children": row["children"], **{f"{s}.count": row[s]["count"] for s in STAT_NAMES}}
    out.update({f"{d}.{p}": row[f"{d}_deadline"][p] for d in DEADLINE_NAMES for p in ("met", "decided")})
    return out


def _months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), as the caseload lists them."""
    out, (y, m) = [], map(int, first.split("-"))
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


@functools.cache
def _possible(ptable: Ptable, count: int) -> frozenset[int | None]:
    """What the ptable can publish for a true count, over every cell key (one value for the 10-5 table;
    None, i.e. withheld, among them when some key takes the count under 10)."""
    return frozenset(ptable.perturb(count, key) for key in range(ptable.key_modulus))


def _expect_refusal(
    measure: str, dims: int, truth: dict[str, Any], domains: dict[str, list[Any]], ptable: Ptable
) -> tuple[bool, bool]:
    """Whether the stated rule must and may refuse, as the API applies it: more than 4 dimensions, or a
    table more than half of whose cells would be withheld — every cell of the table listed (each grouping
    dimension's values from the data dictionary, empty cells included), each perturbed from its true
    count; the cells of children and timeliness are the groups' children, of the caseload the stock of
    every month. With the 10-5 ptable a cell's value does not depend on its key, so must == may; with a
    noisy one a cell may be withheld for some keys (a count of 10-14 with the default) and not others."""
    if dims > 4:
        return True, True
    group_by = truth["group_by"]
    if measure != "caseload" and not group_by:
        return False, False
    # the caseload's cells: every month asked, whether or not a child was there
    months = _months_between(truth["from"], truth["to"]) if measure == "caseload" else [None]
    names = ["in_service_end"] if measure == "caseload" else ["children"]
    true_rows = {_key(r, group_by) + ((r["month"],) if measure == "caseload" else ()): r for r in truth["rows"]}
    cells: list[frozenset[int | None]] = []
    filters = truth["filters"]
    listed = [[v for v in domains[g] if g not in filters or g in MULTI or v in filters[g]] for g in group_by]
    for combination in itertools.product(*listed):
        for month in months:
            row = true_rows.get(combination + ((month,) if measure == "caseload" else ()), {})
            cells += [_possible(ptable, row.get(n, 0)) for n in names]
    if len(cells) <= 1:
        return False, False
    surely, maybe = sum(c == {None} for c in cells), sum(None in c for c in cells)
    return 2 * surely > len(cells), 2 * maybe > len(cells)


def _check_against_truth(measure: str, body: dict[str, Any], truth: dict[str, Any], ptable: Ptable) -> int:
    """Each published count is a value the ptable gives its true count for some key (with the 10-5 ptable
    the one value, which does not depend on the key; with the default: withheld under 10, within 5 and at
    least 10 otherwise, published from 15), withheld ones are flagged, quantiles withheld exactly with
    their published count. Returns how many counts were checked."""
    group_by = body["group_by"]
    rows = {_key(r, group_by) + ((r["month"],) if measure == "caseload" else ()): r for r in body["rows"]}
    true_rows = {_key(r, group_by) + ((r["month"],) if measure == "caseload" else ()): r for r in truth["rows"]}
    # perturbed tables also list their empty cells (withheld): the true table lists non-empty groups only
    assert true_rows.keys() <= rows.keys()
    checked = 0
    for key, row in rows.items():
        mine = _counts(measure, row)
        true = _counts(measure, true_rows[key]) if key in true_rows else dict.fromkeys(mine, 0)
        for name, value in mine.items():
            assert value is None or value >= 10, (name, value)
            assert value in _possible(ptable, true[name]), (key, name, value, true[name])
            checked += 1
        withheld = {n for n, v in mine.items() if v is None}
        assert bool(row.get("withheld")) == bool(withheld) or measure == "timeliness", row
        if measure != "timeliness":
            assert set(row.get("withheld_fields", [])) == withheld, row
        else:
            for s in STAT_NAMES:
                for q in ("median", "p75", "p90"):
                    expected = None if row[s]["count"] is None else true_rows[key][s][q]
                    assert row[s][q] == expected, (key, s, q)
    if measure == "children":
        assert body["total"] in _possible(ptable, truth["total"])
        checked += 1
    return checked


@pytest.mark.parametrize("ptable_name", ["ptable_10_5", "ictg_noise_d5"])
async def test_published_counts_are_safe_repeatable_and_survive_a_rebuild(
    shared_settings: dict[str, Any], ptable_name: str
) -> None:
    s = shared_settings
    ptable, extra = (PTABLE_10_5, TEN_FIVE) if ptable_name == "ptable_10_5" else (DEFAULT_PTABLE, {})
    loop = asyncio.get_running_loop()
    asked: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}
    tally = {"answered": 0, "refused": 0, "counts": 0, "withheld": 0}
    domains: dict[str, list[Any]] = {}

    async def check(measure: str, params: list[tuple[str, str]]) -> None:
        if measure == "caseload":
            params = [*params, ("from", "2025-01"), ("to", "2025-09")]
        path = f"/v1/metrics/{measure}"
        r = await client.get(path, params=(*params, *PERTURB.items()), headers=READER)
        truth = await client.get(path, params=[*params, ("disclosure", "none")], headers=ANALYST)
        assert truth.status_code == 200, truth.text
        group_by = [g for g in dict(params).get("group_by", "").split(",") if g]
        dims = len(group_by) + len({k for k, _ in params if k in POOL})
        must, may = _expect_refusal(measure, dims, truth.json(), domains, ptable)
        if r.status_code == 422:
            detail = r.json()["detail"]
            assert isinstance(detail, str) and ("dimensions" in detail or "sparse" in detail), detail
            assert may, (measure, params, detail)
            tally["refused"] += 1
            return
        assert r.status_code == 200, (measure, params, r.text)
        assert not must, (measure, params, "should be refused")
        body = r.json()
        assert body["ptable"]["name"] == ptable_name
        tally["answered"] += 1
        tally["counts"] += _check_against_truth(measure, body, truth.json(), ptable)
        tally["withheld"] += r.text.count('"withheld":true')
        again = await client.get(path, params=(*params, *PERTURB.items()), headers=READER)
        assert again.json() == body, (measure, params)  # no fresh noise to average away
        asked[(measure, tuple(params))] = body

    def run(coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=120)

    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(params=_queries())
    @example(
        params=[
            ("group_by", "gender,age_band,pathway"),
            ("uasc", "true"),
            ("nationality_group", "uk"),
            ("as_of", "2025-12-31"),
        ]
    )  # 5 dimensions: refused
    @example(
        params=[
            ("group_by", "nationality_group,age_band,exploitation_type"),
            ("gender", "other"),
            ("as_of", "2025-12-31"),
        ]
    )  # sparse: refused
    @example(
        params=[
            ("group_by", "gender"),
            ("nationality_group", "unknown"),
            ("gender", "female"),
            ("age_band", "7-13"),
            ("as_of", "2025-03-31"),
        ]
    )  # nobody there: the caseload's cells are still listed for every month, so refused as sparse
    def every_measure_is_safe(params: list[tuple[str, str]]) -> None:
        for measure in ("children", "caseload", "timeliness"):
            run(check(measure, params))

    async with metrics_app(s, **extra) as client:
        await feed(client, s, *_population(240))
        dictionary = (await client.get("/v1/metrics/dimensions", headers=READER)).json()["dimensions"]
        domains.update({d["name"]: [v["value"] for v in d["values"] or ()] for d in dictionary})
        # hypothesis drives the examples from a worker thread; the requests run on this loop
        await asyncio.to_thread(every_measure_is_safe)
        assert tally["answered"] >= 10 and tally["counts"] >= 100 and tally["withheld"] >= 1, tally
        assert tally["refused"] >= 2, tally

        # A rebuild refolds every child from the events: the same record keys, the same answers.
        r = await client.post("/v1/admin/rebuild", params={"wait": "true"}, headers=ADMIN)
        assert r.status_code == 200, r.text
        assert r.json()["result"]["children"] == 240
        for (measure, params), body in asked.items():
            after = await client.get(f"/v1/metrics/{measure}", params=[*params, *PERTURB.items()], headers=READER)
            assert after.status_code == 200 and after.json() == body, (measure, params)
