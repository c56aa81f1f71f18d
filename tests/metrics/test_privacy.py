"""Flexible queries under differential privacy (`disclosure=dp`, scope metrics:query) and who may ask the
free endpoints at all: the union attack that a deterministic ptable let through, the monthly budget per
principal (charged once per distinct query, replayed free, never overspent by concurrent requests), the
noise against its stated scale, and each answer's sensitivity against a brute-force count."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
from datetime import date, timedelta
from typing import Any

import numpy
import pytest
from sqlalchemy import text

from ictg_common import clock
from ictg_common.runtime import runtime_of
from ictg_metrics.children.params import parse_group_by
from ictg_metrics.children.query import ChildQuery
from ictg_metrics.privacy import mechanism
from ictg_metrics.privacy.service import month_of, resets_at
from ictg_metrics.privacy.tables import caseload_table, children_table, timeliness_table
from tests.support.metrics_events import Child, at
from tests.support.metrics_http import ANALYST, app_of, feed, metrics_app
from tests.support.platform import auth

READER = auth("metrics:read", sub="reader")  # published tables only
# metrics:query is the service's own (scope ceilings): its staff's tokens, org_type "ictg"
QUERIER = auth("metrics:query", sub="querier", org_type="ictg", org_name="ICTG analysis")
ENDPOINTS = ("/v1/metrics/children", "/v1/metrics/caseload", "/v1/metrics/timeliness")
SIX = {"AL": 11, "VN": 14, "ER": 17, "SD": 19, "AF": 21, "IR": 24}  # 106 children, and 3 from IS: 109


async def _trail(client: Any) -> list[tuple[str, str, str, str | None]]:
    r = await client.get("/v1/audit", params={"limit": 500}, headers=auth("audit:read", sub="auditor"))
    return [(e["actor"], e["action"], e["outcome"], e["reason"]) for e in reversed(r.json()["items"])]


async def test_metrics_read_alone_asks_no_free_question(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        for path, disclosure in itertools.product(ENDPOINTS, (None, "dp", "perturb", "none")):
            params = {"disclosure": disclosure} if disclosure else {}
            r = await client.get(path, params=params, headers=READER)
            assert r.status_code == 403, (path, disclosure)
            assert r.headers["content-type"].startswith("application/problem+json")
            detail = r.json()["detail"]
            assert "metrics:query" in detail and "/v1/releases" in detail, detail
        assert (await client.get("/v1/metrics/dimensions", headers=READER)).status_code == 200
        # a metrics:query token may not have a perturbed preview or true counts either
        for disclosure in ("perturb", "none"):
            r = await client.get(ENDPOINTS[0], params={"disclosure": disclosure}, headers=QUERIER)
            assert r.status_code == 403 and "metrics:read:unsuppressed" in r.json()["detail"]
        denied = [row for row in await _trail(client) if row[2] == "denied"]
        assert len(denied) == 14
        assert denied[:4] == [
            ("reader", "dp.read", "denied", None),
            ("reader", "dp.read", "denied", "disclosure=dp"),
            ("reader", "perturbed.read", "denied", "disclosure=perturb"),
            ("reader", "unperturbed.read", "denied", "disclosure=none"),
        ]


def _attack_children() -> list[Child]:
    """109 children referred in March 2025 in Hartlepool (E06000001): six nationalities of 11-24 children,
    3 from Iceland (IS), none from Norway (NO)."""
    kids = []
    for i, (nationality, n) in enumerate([*SIX.items(), ("IS", 3)]):
        for j in range(n):
            group = "eea" if nationality == "IS" else "non_eea"
            kids.append(Child(at(f"2025-03-{1 + (i * 4 + j) % 28:02d}"), attrs={
                "nationality": nationality, "nationality_group": group, "local_authority_code": "E06000001",
                "region": "north_east"}))  # fmt: skip
    return kids


def _union_queries() -> list[tuple[tuple[str, ...], bool]]:
    """The attack as it was found: the 63 unions of the six groups, each with and without IS (126)."""
    unions = [c for k in range(1, 7) for c in itertools.combinations(SIX, k)]
    return [(u, with_is) for u in unions for with_is in (False, True)]


def _params(union: tuple[str, ...], with_is: bool) -> list[tuple[str, str | int | float | bool | None]]:
    nationalities = [*union, "IS"] if with_is else list(union)
    return [("local_authority", "E06000001"), ("referred_from", "2025-03-01"), ("referred_to", "2025-03-31"),
            *(("nationality", n) for n in nationalities)]  # fmt: skip


async def test_the_union_attack_is_refused_then_drowned_in_noise(shared_settings: dict[str, Any]) -> None:
    """With `metrics:read` all 126 union queries are refused. With `metrics:query` the budget answers 8 of
    them (4 / 0.5) and refuses the rest; from those 8 the attacker's least-squares estimate of the group of
    3 has a standard error (from the stated scale) above 1: it cannot be pinned, let alone told from 0."""
    s = shared_settings
    async with metrics_app(s) as client:
        await feed(client, s, *_attack_children())
        truth = await client.get("/v1/metrics/children", params=[*_params(tuple(SIX), True), ("disclosure", "none")],
                                 headers=ANALYST)  # fmt: skip
        assert truth.json()["total"] == 109
        queries = _union_queries()
        assert len(queries) == 126
        for union, with_is in queries:
            r = await client.get("/v1/metrics/children", params=_params(union, with_is), headers=READER)
            assert r.status_code == 403 and "/v1/releases" in r.json()["detail"]

        answered: list[tuple[tuple[str, ...], bool, int]] = []
        scales = set()
        for union, with_is in queries:
            r = await client.get("/v1/metrics/children", params=_params(union, with_is), headers=QUERIER)
            if r.status_code == 200:
                body = r.json()
                answered.append((union, with_is, body["total"]))
                scales.add(body["privacy"]["scale"])
            else:
                assert r.status_code == 403 and r.json()["resets_at"] and r.headers["Retry-After"], r.text
        assert len(answered) == 8 and scales == {2.0}  # ungrouped: sensitivity 1, epsilon 0.5

        # The attacker's least squares over the seven group sizes, from the answers it got.
        groups = [*SIX, "IS"]
        x = numpy.array([[1.0 if g in u or (g == "IS" and w) else 0.0 for g in groups] for u, w, _ in answered])
        scale = scales.pop()
        p = math.exp(-1 / scale)
        variance = 2 * p / (1 - p) ** 2  # of the discrete Laplace noise of each answer
        covariance = variance * numpy.linalg.pinv(x.T @ x)
        is_column = numpy.eye(len(groups))[-1]
        assert numpy.allclose(numpy.linalg.pinv(x) @ x @ is_column, is_column)  # IS is estimable from them …
        assert math.sqrt(covariance[-1, -1]) > 1  # … but not within 1 child


async def _get(client: Any, path: str, headers: dict[str, str], **params: Any) -> Any:
    return await client.get(path, params=params, headers=headers)


async def test_the_budget_is_charged_once_per_query_and_refuses_when_spent(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    kids = [Child(at("2025-03-05"), attrs={"gender": g}) for g in ["female"] * 30 + ["male"] * 20]
    async with metrics_app(s, dp_monthly_epsilon=1.0) as client:
        await feed(client, s, *kids)
        first = await _get(client, ENDPOINTS[0], QUERIER, group_by="gender", gender=["male", "female"])
        assert first.status_code == 200, first.text
        body = first.json()
        month = month_of(clock.utcnow())
        resets = resets_at(month).isoformat()
        assert body["disclosure"] == "dp" and body["privacy"] == {
            "mechanism": "discrete_laplace", "epsilon": 0.5, "sensitivity": 2, "scale": 4.0, "interval_95": 12,
            "budget": {"monthly": 1.0, "spent": 0.5, "remaining": 0.5, "resets_at": resets}, "replayed": False,
            "answered_at": body["privacy"]["answered_at"],
        }  # fmt: skip
        assert [r["gender"] for r in body["rows"]] == ["female", "male"]  # the filtered values, in order
        assert first.headers["ICTG-Privacy-Replayed"] == "false" and first.headers["ICTG-Privacy-Scale"] == "4"
        assert first.headers["ICTG-Disclosure"] == "dp"
        # The same query again (filters in another order, CSV): its stored answer, at no cost.
        again = await _get(client, ENDPOINTS[0], QUERIER, gender=["female", "male", "female"], group_by="gender")
        assert again.json()["rows"] == body["rows"] and again.json()["total"] == body["total"]
        assert again.headers["ICTG-Privacy-Replayed"] == "true" and again.json()["privacy"]["replayed"] is True
        assert again.json()["privacy"]["budget"]["spent"] == 0.5
        csv = await _get(client, ENDPOINTS[0], QUERIER, group_by="gender", gender=["male", "female"], format="csv")
        assert csv.headers["ICTG-Privacy-Replayed"] == "true" and csv.headers["ICTG-Privacy-Epsilon"] == "0.5"
        assert csv.text.splitlines() == ["gender,children,small", *(
            f"{r['gender']},{r['children']},{' '.join(r.get('small', []))}" for r in body["rows"])]  # fmt: skip
        assert "dp-epsilon-0.5" in csv.headers["Content-Disposition"]
        # Another query spends the rest; one more is refused with the reset time, and nothing is charged.
        caseload = await _get(client, ENDPOINTS[1], QUERIER, **{"from": "2025-01", "to": "2025-03"})
        assert caseload.status_code == 200 and caseload.json()["privacy"]["sensitivity"] == 5
        assert caseload.json()["privacy"]["budget"]["remaining"] == 0
        refused = await _get(client, ENDPOINTS[2], QUERIER)
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert problem["resets_at"] == resets and resets in problem["detail"] and "/v1/releases" in problem["detail"]
        assert problem["budget"] == {"monthly": 1.0, "spent": 1.0, "remaining": 0.0, "resets_at": resets}
        wait = (resets_at(month) - clock.utcnow()).total_seconds()
        assert abs(int(refused.headers["Retry-After"]) - wait) < 60
        # … while a query asked before is still answered, at no cost
        assert (
            await _get(client, ENDPOINTS[0], QUERIER, group_by="gender", gender=["male", "female"])
        ).status_code == 200
        async with runtime_of(app_of(client)).engine.connect() as conn:
            charges = (await conn.execute(text("SELECT principal, epsilon, charged_month FROM metrics.privacy_charge "
                                               "ORDER BY created_at"))).all()  # fmt: skip
        assert [(c.epsilon, c.charged_month) for c in charges] == [(0.5, month), (0.5, month)]
        assert charges[0].principal == '[null,"ictg","ICTG analysis","querier"]'


async def test_epsilon_is_bounded_and_for_dp_only(shared_settings: dict[str, Any]) -> None:
    async with metrics_app(shared_settings) as client:
        for bad in ("0", "0.001", "2.5", "nan", "inf", "-1", "x"):
            r = await _get(client, ENDPOINTS[0], QUERIER, epsilon=bad)
            assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "#query/epsilon", bad
        r = await _get(client, ENDPOINTS[0], ANALYST, epsilon="0.5", disclosure="perturb")
        assert r.status_code == 422 and "disclosure=dp" in r.json()["detail"]
        r = await _get(client, ENDPOINTS[0], QUERIER, epsilon="1.5")
        assert r.status_code == 200 and r.json()["privacy"]["epsilon"] == 1.5
        assert r.json()["privacy"]["budget"]["spent"] == 1.5
        today = clock.london_date(clock.utcnow())
        r = await _get(client, ENDPOINTS[0], QUERIER, as_of=today.isoformat())
        assert r.status_code == 422 and "a day already over" in r.json()["detail"]
        r = await _get(client, ENDPOINTS[0], QUERIER)  # by default, as of yesterday
        assert r.json()["as_of"] == (today - timedelta(days=1)).isoformat()
        # nothing refused was charged
        assert r.json()["privacy"]["budget"]["spent"] == 2.0


async def test_principals_sharing_a_sub_have_budgets_of_their_own(shared_settings: dict[str, Any]) -> None:
    # the same sub in two organisations (two identity providers' staff directories may both have "analyst")
    analysis = auth("metrics:query", sub="analyst", org_type="ictg", org_name="ICTG analysis")
    research = auth("metrics:query", sub="analyst", org_type="ictg", org_name="ICTG research")
    async with metrics_app(shared_settings, dp_monthly_epsilon=0.5) as client:
        for headers in (analysis, research):
            r = await _get(client, ENDPOINTS[0], headers, group_by="gender")
            assert r.status_code == 200 and r.json()["privacy"]["replayed"] is False
            assert r.json()["privacy"]["budget"]["spent"] == 0.5
        for headers in (analysis, research):
            assert (await _get(client, ENDPOINTS[0], headers, group_by="uasc")).status_code == 403


async def test_concurrent_queries_never_overspend(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    async with metrics_app(s, dp_monthly_epsilon=1.0, dp_query_epsilon=0.25) as client:
        await feed(client, s, *(Child(at("2025-03-05")) for _ in range(12)))
        groupings = ["gender", "uasc", "age_band", "region", "pathway", "status", "referrer_type", "county_lines"]
        different = await asyncio.gather(*(_get(client, ENDPOINTS[0], QUERIER, group_by=g) for g in groupings))
        assert sorted(r.status_code for r in different) == [200] * 4 + [403] * 4
        assert max(r.json()["privacy"]["budget"]["spent"] for r in different if r.status_code == 200) == 1.0

        other = auth("metrics:query", sub="querier", org_type="ictg", org_name="ICTG research")
        same = await asyncio.gather(*(_get(client, ENDPOINTS[1], other, group_by="gender") for _ in range(6)))
        assert [r.status_code for r in same] == [200] * 6
        assert len({json.dumps(r.json()["rows"]) for r in same}) == 1  # one answer: the first, replayed
        assert sorted(r.headers["ICTG-Privacy-Replayed"] for r in same) == ["false"] + ["true"] * 5
        async with runtime_of(app_of(client)).engine.connect() as conn:
            spent: dict[str, float] = dict((await conn.execute(text(
                "SELECT principal, sum(epsilon) FROM metrics.privacy_charge GROUP BY principal"))).all())  # fmt: skip
        assert sorted(spent.values()) == [0.25, 1.0]


async def test_answers_under_dp_for_every_measure(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    kids = []
    for i in range(40):
        kid = Child(at(f"2025-0{1 + i % 3}-{5 + i % 20:02d}"), attrs={"gender": ["female", "male"][i % 2]})
        kid.allocate(kid.received_at + timedelta(hours=3 + i))
        kid.contact(kid.received_at + timedelta(hours=20 + i), topics=["safety"])
        if i % 4 == 0:
            kid.exit(kid.received_at + timedelta(days=30))
        kids.append(kid)
    async with metrics_app(s) as client:
        await feed(client, s, *kids)
        r = await _get(client, ENDPOINTS[2], QUERIER, group_by="gender", epsilon="2")
        assert r.status_code == 200, r.text
        body = r.json()
        privacy = body["privacy"]
        assert (privacy["epsilon"], privacy["counts_epsilon"], privacy["sensitivity"]) == (2.0, 1.0, 12)
        assert privacy["scale"] == 12.0 and privacy["quantiles"]["releases"] == 15
        assert privacy["quantiles"]["epsilon_each"] == pytest.approx(1.0 / 15)
        assert [row["gender"] for row in body["rows"]] == ["female", "male", "other", "unknown"]
        for row in body["rows"]:
            assert row["hours_to_allocation"]["median"] in mechanism.HOURS
            assert row["referral_delay_days"]["p90"] in mechanism.DAYS
            assert all(row[k] >= 0 for k in ("children",))
            assert 0 <= (row["met_allocation_deadline"] or 0) <= 1
        small = body["rows"][-1]  # nobody of unknown gender: its counts are noise, flagged when under 10
        if small["children"] < 10:
            assert "children" in small["small"]
        csv = await _get(client, ENDPOINTS[2], QUERIER, group_by="gender", epsilon="2", format="csv")
        assert csv.headers["ICTG-Privacy-Replayed"] == "true"
        header = csv.text.splitlines()[0].split(",")
        assert header[:3] == ["gender", "children", "referral_delay_days_count"] and header[-1] == "small"

        r = await _get(client, ENDPOINTS[1], QUERIER, group_by="gender", **{"from": "2025-01", "to": "2025-04"})
        body = r.json()
        assert body["privacy"]["sensitivity"] == 6 and len(body["rows"]) == 4 * 4
        assert list(body["rows"][0])[:5] == ["gender", "month", "referrals_in", "exits_out", "in_service_end"]
        r = await _get(client, ENDPOINTS[0], QUERIER, group_by="exploitation_type")
        assert r.json()["privacy"]["sensitivity"] == 7 + 1
        assert len(r.json()["rows"]) == 7 and isinstance(r.json()["total"], int)
        # a dimension whose values cannot all be listed: refused before anything is charged
        r = await _get(client, ENDPOINTS[0], QUERIER, group_by="nationality")
        assert r.status_code == 200  # nationalities are a closed list
        spent = r.json()["privacy"]["budget"]["spent"]
        r = await _get(client, ENDPOINTS[0], QUERIER, group_by="local_authority,age_at_referral")
        assert r.status_code == 422 and "disclosure=dp" in r.json()["detail"]
        r = await _get(client, ENDPOINTS[0], QUERIER, group_by="gender")
        assert r.json()["privacy"]["budget"]["spent"] == spent + 0.5


def test_sensitivities_follow_the_definitions() -> None:
    exploitation, topic = 7, 10
    assert mechanism.children_sensitivity(()) == 1
    assert mechanism.children_sensitivity(("gender", "age_band", "region")) == 2
    assert mechanism.children_sensitivity(("exploitation_type",)) == exploitation + 1
    assert mechanism.children_sensitivity(("exploitation_type", "gender", "topic")) == exploitation * topic + 1
    assert mechanism.caseload_sensitivity((), 12) == 14
    assert mechanism.caseload_sensitivity(("exploitation_type",), 3) == exploitation * 5
    assert mechanism.timeliness_sensitivity(()) == 1 + 5 + 2 * 3
    assert mechanism.timeliness_sensitivity(("cjs_involvement",)) == 4 * 12
    assert mechanism.quantile_releases(("legal_advice_area",)) == 6 * 5 * 3


@pytest.mark.parametrize("scale", [0.8, 2.0, 4.0, 30.0])
def test_the_noise_has_the_stated_scale(scale: float) -> None:
    """OpenDP draws from a CSPRNG and cannot be seeded, so the test bounds its error instead. For each of 4
    thresholds k, the share of 400,000 draws X with |X| >= k is compared with the discrete Laplace's
    P(|X| >= k) = 2 p^k / (1 + p), p = exp(-1/scale); by Hoeffding the share strays more than
    t = sqrt(ln(2 / 2.5e-11) / (2 n)) ≈ 0.0056 with probability under 2.5e-11, so the test fails by chance
    with probability under 4 x 2.5e-11 = 1e-10 per scale (4e-10 for the 4 scales: under 1e-9). A noise 10 %
    off its stated scale would move one of these shares by more than 2t (asserted), so it would fail. The
    same bound checks the stated 95 % interval: no more than 5 % + t of draws beyond it."""
    n = 400_000
    draws = numpy.abs(numpy.array(mechanism.laplace_noise(n, scale)))
    t = math.sqrt(math.log(2 / 2.5e-11) / (2 * n))
    thresholds = (1, max(1, round(scale / 2)), max(1, round(scale)), max(2, round(2 * scale)))

    def tail(k: int, b: float) -> float:
        q = math.exp(-1 / b)
        return 2 * q**k / (1 + q)

    for k in thresholds:
        share = float(numpy.mean(draws >= k))
        assert abs(share - tail(k, scale)) < t, (k, share)
    for off in (0.9 * scale, 1.1 * scale):  # the test's power
        assert max(abs(tail(k, off) - tail(k, scale)) for k in thresholds) > 2 * t
    cal = mechanism.calibrate(1 / scale, 1)
    assert cal.scale == pytest.approx(scale)
    assert float(numpy.mean(draws > cal.interval_95)) <= 0.05 + t
    assert float(numpy.mean(draws > cal.interval_95 - 1)) > 0.05 - t  # and it is not needlessly wide


def test_noisy_counts_are_clipped_and_calibrated() -> None:
    cal = mechanism.calibrate(0.5, 4)
    assert (cal.scale, cal.sensitivity) == (8.0, 4)
    assert min(mechanism.noisy_counts([0] * 10_000, cal)) == 0
    with pytest.raises(ValueError):
        mechanism.calibrate(0.0, 1)
    many = [30.0 + i % 3 for i in range(3000)]  # a median of 31 hours, on the grid
    assert 30 <= mechanism.private_quantile("hours_to_allocation", many, alpha=0.5, epsilon=1.0) <= 32
    assert mechanism.private_quantile("hours_to_allocation", [], alpha=0.5, epsilon=1.0) in mechanism.HOURS


def _random_child(rng: random.Random, *, full: bool = False) -> Child:
    day = date(2025, 1, 6) + timedelta(days=rng.randrange(80))
    exploitation = ["sexual", "criminal", "labour", "domestic_servitude", "organ_harvesting", "other", "unknown"]
    others = [e for e in exploitation if e != "criminal"] if full else rng.sample(exploitation[2:], rng.randrange(3))
    kid = Child(at(day.isoformat(), 9), attrs={
        "gender": rng.choice(["female", "male", "other"]),
        "exploitation": {"primary": "criminal", "others": others, "county_lines": rng.random() < 0.3},
        "cjs_involvement": ["victim", "witness", "accused"] if full else rng.sample(["victim", "witness"],
                                                                                    rng.randrange(3)),
    })  # fmt: skip
    if full or rng.random() < 0.8:
        kid.allocate(kid.received_at + timedelta(hours=rng.randrange(1, 60)))
    topics = ["safety", "health", "education", "immigration", "nrm"]
    kid.contact(kid.received_at + timedelta(hours=rng.randrange(2, 90)),
                topics=topics if full else rng.sample(topics, rng.randrange(3)))  # fmt: skip
    if full or rng.random() < 0.4:
        for area in ("immigration", "health") if full else ("immigration",):
            kid.advocacy(kid.received_at + timedelta(days=2), "legal_advice", area)
    if not full and rng.random() < 0.3:
        kid.exit(kid.received_at + timedelta(days=rng.randrange(5, 60)))
    return kid


async def test_one_child_moves_no_answer_more_than_its_sensitivity(shared_settings: dict[str, Any]) -> None:
    """Brute force: the true tables an answer is computed from, before and after one more child (random,
    and one in every value of every multi-valued dimension it can be): the L1 distance of their vectors of
    counts is at most the sensitivity the noise is calibrated to, and reaches it where it can."""
    s, rng = shared_settings, random.Random(20261207)
    as_of = date(2025, 6, 30)
    groupings = ["", "gender", "exploitation_type", "gender,cjs_involvement", "exploitation_type,topic",
                 "legal_advice_area,status"]  # fmt: skip

    def query(group_by: str) -> ChildQuery:
        return ChildQuery(referred_from=date(2025, 1, 1), referred_to=None, as_of=as_of,
                          group_by=parse_group_by(group_by))  # fmt: skip

    async def vectors(client: Any) -> dict[tuple[str, str], list[int]]:
        out = {}
        async with runtime_of(app_of(client)).sessionmaker() as session:
            for g in groupings:
                out["children", g] = (await children_table(session, query(g))).vector()
                out["timeliness", g] = (await timeliness_table(session, query(g))).vector()
                t = await caseload_table(session, query(g), first=date(2025, 1, 1), last=date(2025, 5, 1))
                out["caseload", g] = t.vector()
        return out

    def sensitivity(measure: str, g: str) -> int:
        group_by = parse_group_by(g)
        if measure == "children":
            return mechanism.children_sensitivity(group_by)
        if measure == "caseload":
            return mechanism.caseload_sensitivity(group_by, 5)
        return mechanism.timeliness_sensitivity(group_by)

    async with metrics_app(s) as client:
        await feed(client, s, *(_random_child(rng) for _ in range(30)))
        before = await vectors(client)
        reached: set[tuple[str, str]] = set()
        for kid in [*(_random_child(rng) for _ in range(3)), _random_child(rng, full=True)]:
            await feed(client, s, kid)
            after = await vectors(client)
            for key, vector in after.items():
                assert len(vector) == len(before[key]), key  # the cells listed do not depend on the data
                moved = sum(abs(a - b) for a, b in zip(vector, before[key], strict=True))
                assert moved <= sensitivity(*key), (key, moved)
                if moved == sensitivity(*key):
                    reached.add(key)
            before = after
        # single-valued groupings and the total: every child moves them by exactly their sensitivity
        assert {("children", ""), ("children", "gender"), ("children", "exploitation_type")} <= reached
