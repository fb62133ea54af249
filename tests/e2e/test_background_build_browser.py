"""A fresh server (tiny SPLADE, demo corpus, empty cache): page 4's query charts show while the index builds in the
background, and page 5 completes by itself, with no reload. Waits are Playwright's own (on page content).

Also prints the time from `streamlit run` until page 5 is complete (artifacts: e2e-background-build.txt)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.e2e import server as launcher
from tests.e2e.conftest import SERVER_START_TIMEOUT_S, server_env

QUERY = "python memory management"
BUILD_TIMEOUT_MS = 2_400_000  # the whole demo build with the tiny model on 2 heavily shared cores, as an upper bound
CHARTS = '[data-testid="stPlotlyChart"]'  # one per chart (".js-plotly-plot" is inside it)


def test_a_fresh_server_builds_in_the_background(browser_context, tiny_splade_dir: Path, tmp_path: Path,
                                                 artifacts: Path) -> None:
    log = artifacts / "background-build-server.log"
    started = time.monotonic()
    server, url = launcher.launch(server_env(tiny_splade_dir, tmp_path / "cache"), log)
    try:
        try:
            launcher.wait_healthy(server, url, log, SERVER_START_TIMEOUT_S)
        except launcher.ServerError as exc:
            pytest.fail(str(exc))
        healthy = time.monotonic() - started

        page4 = browser_context.new_page()
        page4.goto(f"{url}/splade?q={quote(QUERY)}", wait_until="domcontentloaded")
        notice = page4.get_by_text("SPLADE index building", exact=False).first
        notice.wait_for(timeout=300_000)  # the document part says it is building...
        page4.locator(CHARTS).nth(3).wait_for(timeout=60_000)  # ...while the query side's four charts are shown
        assert page4.locator('[data-testid="stSidebar"]').get_by_text("SPLADE index: building").count() == 1
        assert page4.locator('[data-testid="stException"]').count() == 0
        page4.screenshot(path=str(artifacts / "background-build-p4.png"), full_page=True)
        page4_charts = time.monotonic() - started

        page5 = browser_context.new_page()
        page5.goto(f"{url}/compare?q={quote(QUERY)}", wait_until="domcontentloaded")
        main = page5.locator('[data-testid="stMain"]')
        main.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=300_000)  # BM25's ranking
        building = main.get_by_text("SPLADE index building", exact=False).count()
        page5.screenshot(path=str(artifacts / "background-build-p5-building.png"), full_page=True)
        # No reload: the notices' fragments rerun the page when the build ends.
        try:
            main.get_by_text("The evidence: every labelled query").wait_for(timeout=BUILD_TIMEOUT_MS)
        except Exception:
            page5.screenshot(path=str(artifacts / "background-build-p5-timeout.png"))
            raise
        main.locator('[data-testid="stDataFrame"]').nth(3).wait_for(timeout=300_000)  # the evaluation's metrics
        main.locator(CHARTS).nth(3).wait_for(timeout=300_000)  # slope, two breakdowns, ΔnDCG
        complete = time.monotonic() - started
        assert main.locator('[data-testid="stDataFrame"]').count() >= 4  # BM25, SPLADE, hybrid, metrics (then #15's)
        assert main.get_by_text("SPLADE index building", exact=False).count() == 0
        assert page5.locator('[data-testid="stException"]').count() == 0
        page5.screenshot(path=str(artifacts / "background-build-p5-complete.png"), full_page=True)
        page4.locator('[data-testid="stMain"] [data-testid="stSelectbox"]', has_text="A passage from this query") \
            .wait_for(timeout=300_000)  # page 4's document part filled itself in as well
        report = (f"server healthy {healthy:.1f} s; page 4 query charts (index building) {page4_charts:.1f} s; "
                  f"page 5 complete {complete:.1f} s after `streamlit run` (page 5 opened while building: "
                  f"{bool(building)})")
        (artifacts / "e2e-background-build.txt").write_text(report + "\n")
        print("\n" + report)
    finally:
        launcher.stop(server)
