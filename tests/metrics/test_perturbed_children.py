"""The cell key method on the children measure (`disclosure=perturb`, docs/disclosure.md): each cell's key is
the sum of its children's record keys mod 256, computed in SQL beside the count; the published value
follows the default noisy ptable (proven against ONS's package in test_cellkey.py and
test_noisy_ptable.py), or a configured one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ictg_metrics.disclosure.cellkey import DEFAULT_PTABLE, load_ptable
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import feed, metrics_app, published
from tests.support.platform import auth

READER = auth("metrics:read:unsuppressed")  # a perturbed preview needs the scope of true counts


async def test_children_are_perturbed_by_their_cell_keys(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    # 15 and more: published whatever their keys (at most 5 off), so that the table is never sparse
    genders = ["female"] * 23 + ["male"] * 7 + ["other"] * 15
    kids = [Child(at("2017-01-05"), attrs={"gender": g}) for g in genders]
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        r = await client.get(
            "/v1/metrics/children", params={"group_by": "gender", "disclosure": "perturb"}, headers=READER
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["disclosure"] == "perturb" and body["ptable"]["name"] == DEFAULT_PTABLE.name
        cells = {row["gender"]: row["children"] for row in body["rows"]}
        for gender in ("female", "male", "other"):
            assert cells[gender] == published([k.referral_id for k in kids if k.attrs["gender"] == gender]), gender
        assert cells["male"] is None  # 7 children: withheld, never shown as 1–9
        assert body["total"] == published([k.referral_id for k in kids])
        true = {"female": 23, "male": 7, "other": 15}
        assert all(v is None or (v >= 10 and abs(v - true[g]) <= 5) for g, v in cells.items() if g in true)
        assert abs(body["total"] - 45) <= 5
        assert "_ck_children" not in r.text

        # The same children through a filter instead of a group: the same value.
        f = await client.get(
            "/v1/metrics/children", params={"gender": "female", "disclosure": "perturb"}, headers=READER
        )
        assert f.json()["total"] == cells["female"]
        # Asked twice, the same answer (no fresh noise to average away).
        again = await client.get(
            "/v1/metrics/children", params={"group_by": "gender", "disclosure": "perturb"}, headers=READER
        )
        assert again.json()["rows"] == body["rows"]


async def test_a_configured_ptable_with_real_noise_uses_each_cells_key(
    shared_settings: dict[str, Any], tmp_path: Path
) -> None:
    """A configured ptable (`ICTG_METRICS_PTABLE`) is used, keyed by each cell's key (the sum of its own
    children's record keys), and stated with its own parameters."""
    path = tmp_path / "noisy.csv"
    lines = ["pcv,ckey,pvalue"] + [
        f"{pcv},{ckey},{(pcv * 31 + ckey * 17) % 9 - 4}" for pcv in range(1, 751) for ckey in range(256)
    ]
    path.write_text("\n".join(lines) + "\n")
    noisy = load_ptable(path)
    genders = ["female"] * 26 + ["male"] * 19 + ["other"] * 14
    kids = [Child(at("2017-02-05"), attrs={"gender": g}) for g in genders]
    async with metrics_app(shared_settings, ptable=str(path)) as client:
        await feed(client, shared_settings, *kids)
        r = await client.get(
            "/v1/metrics/children", params={"group_by": "gender", "disclosure": "perturb"}, headers=READER
        )
        body = r.json()
        # noise (pcv*31 + ckey*17) % 9 - 4: at most 4, near-uniform on -4..4 (variance near 60/9)
        assert body["ptable"] == {"name": "noisy", "threshold": 10, "max_noise": 4, "variance": noisy.variance}
        assert noisy.variance == pytest.approx(60 / 9, abs=0.01) and r.headers["ICTG-Ptable"] == "noisy"
        cells = {row["gender"]: row["children"] for row in body["rows"]}
        expected = {g: published([k.referral_id for k in kids if k.attrs["gender"] == g], noisy) for g in cells}
        assert cells == expected
        assert body["total"] == published([k.referral_id for k in kids], noisy)
