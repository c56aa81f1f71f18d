"""Edges found in review: status after a release, long-term missing stops at exit, statistics of
small groups withheld, hostile filter values."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.support.metrics_events import Child, at
from tests.support.metrics_http import counts, feed, metrics_app
from tests.support.platform import auth

READ = auth("metrics:query", "metrics:read:unsuppressed")


async def test_a_released_case_is_awaiting_allocation_again_from_that_day(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    child = Child(at("2024-03-01")).allocate(at("2024-03-04")).release(at("2024-03-10")).allocate(at("2024-03-25"))
    async with metrics_app(s) as client:
        await feed(client, s, child)
        assert await counts(client, group_by="status", as_of="2024-03-05") == {"allocated": 1, "total": 1}
        assert await counts(client, group_by="status", as_of="2024-03-20") == {"awaiting_allocation": 1, "total": 1}
        assert await counts(client, group_by="status", as_of="2024-03-31") == {"allocated": 1, "total": 1}


async def test_long_term_missing_counts_no_further_than_the_exit(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    gone = Child(at("2024-01-15")).missing(at("2024-02-01")).exit(at("2024-02-10"), reason="long_term_missing")
    async with metrics_app(s) as client:
        await feed(client, s, gone)
        for as_of in ("2024-02-10", "2024-04-30", "2025-01-01"):
            assert await counts(client, group_by="long_term_missing", as_of=as_of) == {False: 1, "total": 1}


async def test_timeliness_of_a_small_group_is_withheld(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    lone = Child(at("2017-01-10"), attrs={"nationality": "AL"}).allocate(at("2017-01-13"))
    async with metrics_app(s) as client:
        await feed(client, s, lone)
        r = await client.get("/v1/metrics/timeliness", params={"nationality": "AL", "disclosure": "perturb"},
                             headers=READ)  # fmt: skip
    [row] = r.json()["rows"]
    assert row["hours_to_allocation"]["median"] is None and row["hours_to_allocation"]["p90"] is None
    assert all(row[k] is None for k in row if k.startswith("met_")), row


@pytest.mark.parametrize(
    ("param", "value"), [("age_at_referral", "²"), ("nationality", "V\x00N"), ("local_authority", "a\x01b")]
)
async def test_hostile_filter_values_are_422_not_500(shared_settings: dict[str, Any], param: str, value: str) -> None:
    async with metrics_app(shared_settings) as client:
        for path, disclosure in itertools.product(
            ("/v1/metrics/children", "/v1/metrics/caseload", "/v1/metrics/timeliness"), ("dp", "perturb", "none")
        ):
            r = await client.get(path, params={param: value, "disclosure": disclosure}, headers=READ)
            assert r.status_code == 422, (path, disclosure, r.text)
