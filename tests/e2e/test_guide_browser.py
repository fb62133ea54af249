"""Real browser: the guided talk's deep link `?step=N` opens step N on its page, outlines its panel, and Next
moves the step (and the URL) on."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tests.e2e.test_browser import QUERY, exceptions, open_page


def outline(page, panel: str) -> str:
    element = page.locator(f".st-key-{panel}").first
    element.wait_for(state="attached")
    return element.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineColor")


def test_a_step_deep_link_opens_the_step_on_its_page(browser_context, app_url: str, artifacts: Path) -> None:
    page = open_page(browser_context, f"{app_url}/?step=4&q={QUERY.replace(' ', '%20')}")
    try:
        assert not exceptions(page)
        url = urlparse(page.url)
        assert url.path.rstrip("/").endswith("/bert") and parse_qs(url.query)["step"] == ["4"]
        assert parse_qs(url.query)["q"] == [QUERY]
        banner = page.locator(".st-key-guide_banner")
        assert "step 4 of 12" in banner.inner_text() and QUERY in banner.inner_text()
        assert outline(page, "p3_grid").startswith("solid")  # the step's panel, outlined
        assert not outline(page, "p3_context").startswith("solid")
        page.screenshot(path=str(artifacts / "guide-step-4.png"))
        page.get_by_role("button", name="Next ▶").click()
        page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '5'")
        assert "step 5 of 12" in page.locator(".st-key-guide_banner").inner_text()
        assert outline(page, "p3_context").startswith("solid")
    finally:
        page.close()
