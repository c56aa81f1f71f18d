"""The dashboard (`GET /dashboard`, `ictg_metrics/dashboard/`): in headless Chromium it renders every chart
and its table with no request to another host, axe-core finds no WCAG 2.2 AA violation, each chart is
screenshotted as a test artefact (`.artefacts/dashboard/`), and every number shown is a value the
release's JSON published; withheld values stay withheld."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import socket
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import uvicorn

from ictg_metrics.app import create_app
from ictg_metrics.settings import MetricsSettings
from tests.support.metrics_http import app_of
from tests.support.publication import READER, RELEASE, published_release, release_json

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = Path(__file__).parents[1] / "support" / "vendor" / "axe-core" / "axe.min.js"
ARTEFACTS = Path(os.environ.get("ICTG_TEST_ARTEFACTS", Path(__file__).parents[2] / ".artefacts")) / "dashboard"
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class _Tables(HTMLParser):
    """Each section's id, its source table (the figcaption's <code>) and its data table's cells."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, dict[str, Any]] = {}
        self._section: str | None = None
        self._tag: list[str] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = a["id"] or ""
            self.sections[self._section] = {"table": None, "rows": [], "csv": None}
        if tag == "a" and self._section and (a.get("href") or "").startswith("data:text/csv"):
            self.sections[self._section]["csv"] = unquote((a["href"] or "").split(",", 1)[1])
        if tag == "tr":
            self._row = []
        self._tag.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr" and self._row is not None and self._section:
            self.sections[self._section]["rows"].append(self._row)
            self._row = None
        if tag == "section":
            self._section = None
        self._tag.pop()

    def handle_data(self, data: str) -> None:
        if not self._section:
            return
        if self._tag and self._tag[-1] == "code":
            self.sections[self._section]["table"] = data
        elif self._row is not None and self._tag and self._tag[-1] in ("td", "th"):
            self._row.append(data)


def _published(body: dict[str, Any]) -> set[str]:
    """Every value a published table shows, as the dashboard writes numbers."""
    out = set()
    for row in [*body["rows"], *body.get("margins", []), *([body["total"]] if "total" in body else [])]:
        for v in row.values():
            if isinstance(v, int | float) and not isinstance(v, bool):
                out.add(f"{int(v):,}" if float(v).is_integer() else f"{v:,}")
    return out


async def test_every_number_on_the_dashboard_is_published(shared_settings: dict[str, Any]) -> None:
    async with published_release(shared_settings) as client:
        _, tables = await release_json(client)
        r = await client.get("/dashboard", headers=READER)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in r.headers["content-security-policy"]
        assert "<script" not in r.text.lower()  # readable without JavaScript
        assert (await client.get("/dashboard")).status_code == 401
        assert (await client.get("/dashboard", headers={"Authorization": "Bearer x"})).status_code == 401
        missing = await client.get("/dashboard", params={"release": "2099-01"}, headers=READER)
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        long = await client.get("/dashboard", params={"release": "x" * 11}, headers=READER)
        assert long.status_code == 422
        again = await client.get(f"/dashboard?release={RELEASE}", headers=READER)
        assert again.text == r.text  # drawn once, served the same

    parsed = _Tables()
    parsed.feed(r.text)
    assert set(parsed.sections) == {"referrals", "caseload", "regions", "timeliness", "missing", "nrm", "exits",
                                    "support"}  # fmt: skip
    numbers = 0
    for name, section in parsed.sections.items():
        body = tables[section["table"]]
        allowed = _published(body)
        header, *rows = section["rows"]
        assert len(rows) > 0, name
        for row in rows:
            for cell in row[1:]:
                if cell in ("[c]", "[x]"):
                    continue
                assert cell in allowed, (name, section["table"], row, cell)
                numbers += 1
        assert section["csv"].splitlines()[0].split(",")[0] == header[0].split(",")[0]
    assert numbers > 50

    # Exactly where they belong: the monthly referrals are the table's cells, withheld ones withheld.
    by_month = {row["referral_month"]: row["children"] for row in tables["referrals_by_month"]["rows"]}
    shown = {row[0].removesuffix(" (partial)"): row[1] for row in parsed.sections["referrals"]["rows"][1:]}
    assert len(shown) == 24
    for month, cell in shown.items():
        assert cell == ("[c]" if by_month[month] is None else f"{by_month[month]:,}"), month
    assert any(v == "[c]" for v in shown.values()) or all(by_month[m] is not None for m in shown)


@pytest.mark.timeout(300)
async def test_the_dashboard_in_a_browser_fetches_nothing_else_and_is_accessible(
    shared_settings: dict[str, Any],
) -> None:
    assert CHROMIUM, "Debian's chromium is needed (make test installs it): apt-get install chromium"
    from playwright.async_api import async_playwright

    async with published_release(shared_settings) as client:
        app = create_app(MetricsSettings(**shared_settings))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        deadline = time.monotonic() + 20
        while not server.started:
            assert not task.done() and time.monotonic() < deadline, "metrics did not start"
            await asyncio.sleep(0.05)
        assert app_of(client) is not app
        try:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                context = await browser.new_context(extra_http_headers=READER, bypass_csp=True,
                                                    viewport={"width": 1100, "height": 900})  # fmt: skip
                page = await context.new_page()
                requested: list[str] = []
                page.on("request", lambda req: requested.append(req.url))
                response = await page.goto(f"http://127.0.0.1:{port}/dashboard?release={RELEASE}")
                assert response is not None and response.status == 200
                await page.wait_for_load_state("networkidle")
                hosts = {urlsplit(u).netloc for u in requested if not u.startswith("data:")}
                assert hosts == {f"127.0.0.1:{port}"}, requested

                images = page.locator("section figure img")
                assert await images.count() == 8
                ARTEFACTS.mkdir(parents=True, exist_ok=True)
                for i in range(8):
                    img = images.nth(i)
                    loaded = await img.evaluate("e => e.complete && e.naturalWidth > 300")
                    assert loaded, await img.get_attribute("alt")
                    section = await img.evaluate("e => e.closest('section').id")
                    shot = ARTEFACTS / f"{section}.png"
                    await img.screenshot(path=str(shot))
                    assert shot.stat().st_size > 5_000
                assert await page.locator("section table").count() == 8

                await page.add_script_tag(content=AXE.read_text())
                result = await page.evaluate(
                    "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA
                )
                violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]
                assert violations == []
                assert len(result["passes"]) > 10  # axe really ran
                await browser.close()
        finally:
            server.should_exit = True
            await task


def test_drawing_a_chart_logs_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    """Where Arial is not installed (this project's machines), matplotlib warned once per label it placed:
    4,428 lines in the log for one dashboard, none of them a fault."""
    from matplotlib import font_manager

    from ictg_metrics.dashboard.charts import ChartData, Series
    from ictg_metrics.dashboard.svg import render

    logging.getLogger("matplotlib.font_manager").disabled = False  # as in a service that imports it first
    font_manager.fontManager._findfont_cached.cache_clear()  # type: ignore[attr-defined]  # a chart drawn earlier hides them
    chart = ChartData(id="referrals", title="Referrals by month", table="referrals_by_month", kind="line",
                      category_header="Month", categories=("2026-09", "2026-10", "2026-11"),
                      series=(Series(label="Referrals", values=(12, None, 15), marks=("", "[c]", "")),),
                      unit="children", summary="Referrals each month.")  # fmt: skip
    with caplog.at_level(logging.DEBUG):
        drawn = render(chart)
    assert drawn.startswith("<?xml") and drawn.rstrip().endswith("</svg>")
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
