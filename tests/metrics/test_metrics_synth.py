"""The synthetic caseload generator (`ictg_metrics.synth`): deterministic, realistic, and drivable through the real
APIs, whose rate limit the HTTP driver waits out instead of losing records."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta
from typing import Any

import httpx

from ictg_metrics.app import create_app as create_metrics
from ictg_metrics.children.facts import Ev, fold
from ictg_metrics.settings import MetricsSettings
from ictg_metrics.synth.generate import Generator
from ictg_metrics.synth.http import Driver, PoliteTransport
from tests.support.platform import as_tester, auth, eventually, nats_of, serve, service_apps


def test_same_seed_same_caseload_and_plausible_shape() -> None:
    a = [s.events for s in Generator(3).stories(50)]
    b = [s.events for s in Generator(3).stories(50)]
    assert a == b
    stories = list(Generator(5).stories(400))
    names = Counter(name for s in stories for _, name, *_ in s.events)
    assert names["referral.received"] == names["case.opened"] == 400
    assert 40 < sum(names.values()) / 400 < 200  # ~100 events a child
    genders = Counter(s.referral["gender"] for s in stories)
    assert genders["male"] > genders["female"]
    for s in stories[:50]:  # every story folds into a referred child whose dated facts are in order
        f = fold([Ev(i, f"ictg.{n}.v1", t, d) for _, n, t, d, i in s.events])
        assert f["received_on"] is not None and f["child_contact_on"] == sorted(f["child_contact_on"])


def _episodes(story: Any) -> list[tuple[Any, Any]]:
    """(started, ended or None) of each missing episode of a story, by start (the events' times)."""
    ended = {d["episode_id"]: t for _, n, t, d, _ in story.events if n == "missing.ended"}
    return sorted((t, ended.get(d["episode_id"])) for _, n, t, d, _ in story.events if n == "missing.started")


def test_stories_are_what_the_case_api_accepts() -> None:
    """What the HTTP driver posts must be accepted (synth's HTTP mode exits 0 on its own data): missing
    episodes never overlap, a return follows its start, nothing is dated after the period or after the
    exit, and a case closes over an open episode only as long-term missing."""
    seen = 0
    for seed in (1, 2, 3):
        gen = Generator(seed, start=date(2019, 1, 1), end=date(2019, 12, 31))
        for story in gen.stories(700):
            times = [t for _, _, t, _, _ in story.events]
            assert max(times) <= gen.end_at
            episodes = _episodes(story)
            seen += len(episodes)
            for (_start, end), (next_start, _) in itertools.pairwise(episodes):
                assert end is not None and end < next_start, episodes  # one at a time, none while one is open
            assert all(end is None or end > start for start, end in episodes)
            exits = [(t, d) for _, n, t, d, _ in story.events if n == "case.exited"]
            if exits:
                assert max(times) == exits[0][0]  # nothing after the exit
                if any(end is None for _, end in episodes):
                    assert exits[0][1]["reason"] == "long_term_missing"
    assert seen > 500  # the property was tested on many episodes, not vacuously


async def test_http_driver_through_intake_and_cases_reconciles(shared_settings: dict[str, Any]) -> None:
    s = shared_settings
    intake_app, cases_app, metrics_app = service_apps(s)
    end = date.today() - timedelta(days=1)
    gen = Generator(11, start=end - timedelta(days=200), end=end, intensity=0.3)
    async with serve(intake_app) as intake, serve(cases_app) as cases, serve(metrics_app) as metrics:
        intake.headers.update(auth("referrals:write", "referrals:import"))
        cases.headers.update(auth("cases:read", "cases:write", "cases:admin"))
        driver = Driver(intake, cases, seed=11)
        await driver.setup_workers()
        stories = list(gen.stories(60))
        missing = [st for st in stories if _episodes(st)][:3]  # the requests that met 409s before
        assert len(missing) == 3
        posted = await driver.run([*missing, next(st for st in stories if st not in missing)])
        assert posted == 4, driver.failures
        assert driver.failures == []

        async def consistent() -> Any:
            body = (await metrics.get("/v1/admin/reconcile", headers=auth("metrics:admin"))).json()
            return body if body.get("consistent") and body["cases_total"] == 4 else None

        report = await eventually(consistent, timeout=30)
        assert report["metrics_total"] == 4


async def test_stream_writer_feeds_the_live_consumer(shared_settings: dict[str, Any]) -> None:
    from ictg_metrics.synth.stream import publish

    s = shared_settings
    app = create_metrics(MetricsSettings(**s))
    stories = list(Generator(21, intensity=0.2).stories(6))
    async with serve(app) as metrics:
        await nats_of(app).jetstream()
        sent = await publish(
            as_tester(s["nats_url"]), stories, stream=s["nats_stream"], subject_prefix=s["subject_prefix"]
        )
        assert sent == sum(len(st.events) for st in stories)

        async def counted() -> Any:
            r = await metrics.get(
                "/v1/metrics/children",
                params={"disclosure": "none", "as_of": "2020-12-31"},
                headers=auth("metrics:read", "metrics:read:unsuppressed"),
            )
            return r.json()["total"] == 6

        await eventually(counted, timeout=30)


async def test_a_429_is_waited_out_and_the_request_resent() -> None:
    seen: list[bytes] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if len(seen) < 3:
            return httpx.Response(429, headers={"Retry-After": "0"}, json={"status": 429})
        return httpx.Response(201, json={"id": "x"})

    async with httpx.AsyncClient(transport=PoliteTransport(httpx.MockTransport(answer)), base_url="http://t") as client:
        r = await client.post("/v1/cases/c/contacts", json={"outcome": "made"})
    assert r.status_code == 201 and len(seen) == 3 and len(set(seen)) == 1
