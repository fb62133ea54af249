"""Real browser (Debian's Chromium): every page runs, draws its charts and follows the URL's query;
markup in a query or an uploaded corpus stays inert text; presets, presenter mode and the link work."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, quote, urlparse

import pytest

from tests.conftest import REPO_ROOT

QUERY = "python memory management"
XSS = "<img src=x onerror=window.__xss=1><script>window.__xss=2</script>"
PAGES = [("", "home", 0), ("bm25", "p1_bm25", 1), ("glove", "p2_glove", 1), ("bert", "p3_bert", 1),
         ("splade", "p4_splade", 1), ("compare", "p5_compare", 1)]
PAGE_TIMEOUT_S = 600  # the demo corpus's background build with the tiny model, as an upper bound
SCREENSHOT_LIMIT_BYTES = 400_000
RESULTS: dict[str, str] = {}
SKELETONS = '[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], [data-testid="stAppSkeleton"]'


def wait_for_script(page, timeout_s: float = PAGE_TIMEOUT_S) -> None:
    """Wait until the app is up and its script has finished (no running indicator for a second)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        app = page.locator('[data-testid="stApp"]')
        state = app.get_attribute("data-test-script-state") if app.count() else None
        running = state in {None, "initial", "running", "rerunRequested"} or \
            page.locator('[data-testid="stStatusWidget"]').count() > 0 or \
            page.locator(SKELETONS).count() > 0  # widgets whose code is still loading
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"the script was still running after {timeout_s:.0f} s")


def open_page(context, url: str):
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    wait_for_script(page)
    return page


@pytest.fixture(scope="module", autouse=True)
def page_report(artifacts: Path) -> Iterator[dict[str, str]]:
    """After the module: the per-page results (time, charts, exceptions) next to the screenshots."""
    yield RESULTS
    (artifacts / "e2e-pages.txt").write_text("\n".join(f"{k}: {v}" for k, v in RESULTS.items()) + "\n")


@pytest.fixture(scope="module")
def served_app(app_url: str, browser_context) -> str:
    """The app after one visit to its home page, as a presenter warming the app would."""
    open_page(browser_context, app_url + "/").close()
    return app_url


def page_not_found_dialogs(page) -> int:
    return page.locator('[role="dialog"]', has_text="Page not found").count()


def sidebar_query(page) -> str:
    return page.locator('[data-testid="stSidebar"] textarea').first.input_value()


def exceptions(page) -> list[str]:
    return [e.inner_text()[:500] for e in page.locator('[data-testid="stException"]').all()]


def charts(page) -> int:
    return max(page.locator('[data-testid="stPlotlyChart"]').count(), page.locator(".js-plotly-plot").count())


@pytest.mark.parametrize(("path", "name", "min_charts"), PAGES, ids=[p[1] for p in PAGES])
def test_page_runs_and_follows_the_url_query(browser_context, served_app: str, artifacts: Path, path: str, name: str,
                                             min_charts: int) -> None:
    started = time.monotonic()
    page = open_page(browser_context, f"{served_app}/{path}?q={quote(QUERY)}")
    try:
        if min_charts:
            try:
                # Page 5's charts come when the background index build ends (the page reruns by itself).
                page.wait_for_selector('[data-testid="stPlotlyChart"], .js-plotly-plot',
                                       timeout=(PAGE_TIMEOUT_S if name == "p5_compare" else 10) * 1000)
            except Exception:  # noqa: BLE001 - the assertion below reports it
                pass
        page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)
        errors, count = exceptions(page), charts(page)
        RESULTS[name] = f"{time.monotonic() - started:.1f} s, {count} chart(s), {len(errors)} exception(s)"
        assert errors == [], f"{name}: {errors}"
        assert page_not_found_dialogs(page) == 0
        assert count >= min_charts, f"{name}: {count} chart(s)"
        assert sidebar_query(page) == QUERY
        if name in {"p1_bm25", "p4_splade"}:
            _save_readme_screenshot(page, artifacts / f"{name}-viewport.png")
    finally:
        page.close()


def _save_readme_screenshot(page, path: Path) -> None:
    """A viewport screenshot for the README (docs/screenshot.png), kept under 400 KB."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))
    target = REPO_ROOT / "docs" / "screenshot.png"
    if path.stat().st_size < SCREENSHOT_LIMIT_BYTES and not target.exists():
        target.parent.mkdir(exist_ok=True)
        shutil.copy(path, target)


def test_markup_in_the_query_stays_inert_text(browser_context, served_app: str, artifacts: Path) -> None:
    for path in ("", "bm25"):
        page = open_page(browser_context, f"{served_app}/{path}?q={quote(XSS)}")
        try:
            page.screenshot(path=str(artifacts / f"xss-{path or 'home'}.png"))
            assert page.evaluate("typeof window.__xss") == "undefined"
            assert page.locator('img[src="x"]').count() == 0
            assert sidebar_query(page) == XSS
            assert exceptions(page) == []
            if not path:  # the home page quotes the query: visible, as text
                assert page.get_by_text(XSS, exact=True).first.is_visible()
        finally:
            page.close()


def test_a_preset_changes_the_query_and_the_url(browser_context, served_app: str) -> None:
    page = open_page(browser_context, f"{served_app}/bm25?q={quote(QUERY)}")
    try:
        page.locator('[data-testid="stSidebar"] button', has_text="free unused memory").click()
        page.wait_for_function(
            "() => new URLSearchParams(location.search).get('q') === 'free unused memory'", timeout=30_000)
        wait_for_script(page)
        assert sidebar_query(page) == "free unused memory"
        assert parse_qs(urlparse(page.url).query)["q"] == ["free unused memory"]
        assert urlparse(page.url).path == "/bm25" and exceptions(page) == []
        link = page.locator('[data-testid="stSidebar"] [data-testid="stCode"]').first.inner_text().strip()
        assert link == f"{served_app}/bm25?q=free%20unused%20memory"
    finally:
        page.close()


def test_presenter_mode_hides_the_toolbar_and_keeps_the_charts(browser_context, served_app: str,
                                                                artifacts: Path) -> None:
    page = open_page(browser_context, f"{served_app}/bm25?q={quote(QUERY)}")
    try:
        assert page.locator('[data-testid="stMainMenu"]').is_visible()
        page.locator('[data-testid="stSidebar"] label', has_text="Presenter mode").click()
        wait_for_script(page)
        page.wait_for_timeout(500)
        assert not page.locator('[data-testid="stMainMenu"]').is_visible()
        assert charts(page) >= 1 and exceptions(page) == []
        page.screenshot(path=str(artifacts / "presenter-p1_bm25.png"))
        # The header stays (transparent): a collapsed sidebar can still be reopened.
        page.locator('[data-testid="stSidebarCollapseButton"] button').click()
        page.locator('[data-testid="stExpandSidebarButton"]').click()
        page.locator('[data-testid="stSidebar"] textarea').first.wait_for(state="visible", timeout=10_000)
    finally:
        page.close()


def test_an_uploaded_corpus_is_searched_and_its_markup_stays_text(browser_context, served_app: str, artifacts: Path,
                                                                  tmp_path: Path) -> None:
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text(
        "id,text,title\n"
        "u1,\"Arenas and pools: how pymalloc hands out small blocks of memory.\","
        "<img src=x onerror=window.__xss=3>Pools\n"
        "u2,\"Tuning the cyclic garbage collector thresholds.\",GC thresholds\n", encoding="utf-8")
    page = open_page(browser_context, f"{served_app}/bm25?q={quote('pymalloc memory blocks')}")
    try:
        page.locator('[data-testid="stSidebar"] summary', has_text="Models and corpus").click()
        page.locator('[data-testid="stSidebar"] input[type="file"]').set_input_files(str(csv_file))
        page.get_by_text("Your upload has 2 documents").wait_for(timeout=60_000)
        wait_for_script(page)
        page.screenshot(path=str(artifacts / "upload-p1_bm25.png"), full_page=True)
        assert exceptions(page) == []
        main = page.locator('[data-testid="stMain"]')
        assert "<img src=x onerror=window.__xss=3>Pools" in main.inner_text()
        assert page.evaluate("typeof window.__xss") == "undefined" and page.locator('img[src="x"]').count() == 0
    finally:
        page.close()


def test_a_deep_link_into_a_fresh_server(browser_context, tiny_splade_dir: Path, tmp_path: Path,
                                         artifacts: Path) -> None:
    from tests.e2e.conftest import server_env, streamlit_server

    with streamlit_server(server_env(tiny_splade_dir, tmp_path / "cache"), artifacts / "fresh-server.log") as url:
        page = open_page(browser_context, f"{url}/bm25?q={quote(QUERY)}")
        try:
            page.screenshot(path=str(artifacts / "fresh-server-deep-link.png"))
            assert exceptions(page) == [] and charts(page) >= 1 and sidebar_query(page) == QUERY
            assert page_not_found_dialogs(page) == 0
        finally:
            page.close()
