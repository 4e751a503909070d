"""The dashboard in a real browser: Debian's chromium, driven headless by Playwright.

Loads the index and study pages over a store of real studies, checks that every chart
drew (plotly's SVG is in each figure) with no console error, that a study named like a
script shows as text, and saves a screenshot. Set ``METANAS_DASHBOARD_SCREENSHOT=path``
to keep it (docs/img/dashboard.png was made so). ``.ci/run`` installs chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason="no chromium: apt-get install chromium (.ci/run installs it)",
    ),
]
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
uvicorn = pytest.importorskip("uvicorn", reason='pip install "metanas[dashboard]"')

from metanas.dashboard import create_app  # noqa: E402
from test_dashboard import XSS, build_store  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(the dashboard's address, the store's URL)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'runs.db'}"
    build_store(url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(url, poll_s=1.0), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the dashboard server did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", url
    srv.should_exit = True
    thread.join(timeout=10)


def test_pages_render_charts_without_console_errors(
    served: tuple[str, str], tmp_path: Path
) -> None:
    server = served[0]
    errors: list[str] = []
    dialogs: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(120_000)  # a loaded 2-core machine loads slowly
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            page.goto(server + "/")
            assert page.locator("table").first.locator("a").count() == 4
            assert page.get_by_text(XSS, exact=True).count() == 1  # the name, shown as text

            page.goto(f"{server}/study?name=cora-rea")
            page.wait_for_selector("[data-figure=importance] .main-svg", timeout=120_000)
            figures = page.locator(".plot")
            assert figures.count() == 3  # history, regret, importance
            for i in range(figures.count()):
                assert figures.nth(i).locator(".main-svg").count() >= 1
            assert page.locator("#tbody tr").count() == 40
            assert page.locator("#arch svg").count() == 1  # the best trial's architecture
            page.locator("#tbody tr").nth(3).click()
            page.wait_for_function(
                "document.getElementById('arch-title').textContent.endsWith(' 3')"
            )
            page.fill("#filter", "gcn")
            n_gcn = page.locator("#tbody tr").count()
            assert 0 < n_gcn < 40
            shot = tmp_path / "dashboard.png"
            page.fill("#filter", "")
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(shot))
            assert shot.read_bytes()[:4] == b"\x89PNG"
            keep = os.environ.get("METANAS_DASHBOARD_SCREENSHOT")
            if keep:
                shutil.copyfile(shot, keep)

            page.goto(f"{server}/study?name={quote(XSS, safe='')}")
            page.wait_for_selector("[data-figure=pareto] .main-svg")
            assert page.locator("h2").first.text_content() == f"Study {XSS}"

            page.goto(f"{server}/study?name=curves")
            page.wait_for_selector("[data-figure=curves] .main-svg")
            page.goto(f"{server}/study?name=oneshot-run")
            page.wait_for_selector("[data-figure=weights-0] .main-svg")
            page.goto(f"{server}/meta")
            page.wait_for_selector("[data-figure=similarity] .main-svg")
        finally:
            browser.close()
    assert errors == []
    assert dialogs == []  # no alert(1) ran


def test_report_renders_offline(served: tuple[str, str], tmp_path: Path) -> None:
    from metanas.dashboard import write_report

    errors: list[Any] = []
    url = served[1]
    out = write_report(url, "cora-rea", tmp_path / "r.html")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)  # a loaded 2-core machine loads slowly
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: errors.append(r.url) if r.url.startswith("http") else None)
            page.goto(out.as_uri())
            page.wait_for_selector("[data-figure=importance] .main-svg", timeout=120_000)
            assert page.locator(".plot .main-svg").count() >= 3
        finally:
            browser.close()
    assert errors == []
