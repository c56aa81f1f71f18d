"""`/docs` renders with nothing fetched from another host (issue 14): police and council networks
often block public CDNs. Loaded in headless Chromium (Debian's `chromium`, which `.ci/run`
installs), with a network log of every request the page made."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn

from ictg_intake.app import create_app
from ictg_intake.settings import IntakeSettings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _page_requests(netlog: Path) -> set[str]:
    """Every URL the page requested, from Chromium's net log: requests made for a page on 127.0.0.1
    carry that site in their network isolation key, unlike the browser's own background requests."""
    text = netlog.read_text(errors="replace").strip()
    log: dict[str, Any] | None = None
    for candidate in (text, text.rstrip(",") + "]}"):  # Chromium may leave the log unterminated
        try:
            log = json.JSONDecoder().raw_decode(candidate)[0]
            break
        except json.JSONDecodeError:
            continue
    assert log is not None, "unreadable net log"
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return {
        e["params"]["url"]
        for e in log["events"]
        if e["type"] == start
        and str(e.get("params", {}).get("network_isolation_key", "")).startswith("http://127.0.0.1")
    }


def _render(url: str, workdir: Path) -> tuple[str, set[str]]:
    assert CHROMIUM, "Debian's chromium is needed (.ci/run installs it): apt-get install chromium"
    netlog = workdir / "net.json"
    args = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", f"--user-data-dir={workdir / 'profile'}", f"--log-net-log={netlog}",
        "--virtual-time-budget=15000", "--dump-dom", url,
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, _page_requests(netlog)


@pytest.mark.timeout(240)
async def test_docs_render_from_this_service_alone(shared_settings: dict[str, Any]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(IntakeSettings(**shared_settings)), log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 20
    while not server.started:
        assert not task.done() and time.monotonic() < deadline, "intake did not start"
        await asyncio.sleep(0.05)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            dom, urls = await asyncio.to_thread(_render, f"http://127.0.0.1:{port}/docs", Path(tmp))
    finally:
        server.should_exit = True
        await task
    # The page shows the operations and the Authorize button (a security scheme)...
    assert "opblock" in dom and "/v1/referrals" in dom and "/v1/reference/local-authorities" in dom
    assert "authorize" in dom.lower()
    # ...having fetched its assets and the document from this service, and nothing from anywhere else.
    pages = {u for u in urls if u.startswith(("http:", "https:", "ws:", "wss:"))}
    assert any(u.endswith("/docs/assets/swagger-ui-bundle.js") for u in pages), pages
    assert any(u.endswith("/openapi.json") for u in pages), pages
    assert {urlsplit(u).hostname for u in pages} == {"127.0.0.1"}, sorted(pages)
