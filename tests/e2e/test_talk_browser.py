"""Real browser: the exported talk opens from file:// with every request blocked (no request made, no console
error, a Plotly chart in every step that has one, the keys move the steps), markup in the query or a title runs
nothing, the app's download button gives the CLI's bytes, and the live guide's keys move Back/Next but never while
the presenter types in the query box."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import pytest

from splade_demo.app.talk_download import LABEL
from tests.conftest import REPO_ROOT, TINY_PASSAGES, write_tiny_corpus
from tests.e2e.conftest import server_env, streamlit_server
from tests.e2e.test_browser import exceptions, open_page, wait_for_script

QUERY = "python memory management"
XSS_QUERY = "<img src=x onerror=alert(1)>"
MARKUP_TITLE = "<img src=y onerror=alert(2)><b>Memory</b> Management"
DATE_LINE = re.compile(rb'<p class="exported">Exported [^<]*</p>\n')
EXPORT_TIMEOUT_S = 600


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splade_demo", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=EXPORT_TIMEOUT_S)


@pytest.fixture(scope="module")
def talk_env(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The tiny SPLADE over the four-passage corpus at fp32, its index built once by the CLI (the server and the
    CLI then read the same vectors)."""
    tmp = tmp_path_factory.mktemp("talk_e2e")
    env = {**server_env(tiny_splade_dir, tmp / "cache"), "SPLADE_DEMO_CORPUS": str(write_tiny_corpus(tmp / "tiny.jsonl")),
           "SPLADE_DEMO_PRECISION": "fp32"}
    built = cli(env, "index")
    assert built.returncode == 0, built.stderr
    return env


@pytest.fixture(scope="module")
def exported(talk_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("talk_file") / "talk.html"
    result = cli(talk_env, "export-talk", "--query", QUERY, "--out", str(out))
    assert result.returncode == 0 and "12 of 12 steps, 0 left out" in result.stdout, result.stderr
    return out


@pytest.fixture(scope="module")
def talk_app(talk_env: dict[str, str], artifacts: Path) -> Iterator[str]:
    with streamlit_server(talk_env, artifacts / "streamlit-talk-server.log") as url:
        yield url


class Offline:
    """A page that may load its own file and nothing else: every other request is aborted and counted."""

    def __init__(self, context, path: Path) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        own = path.as_uri()
        self.page.route("**/*", lambda route: route.continue_() if route.request.url.split("#")[0] == own
                        else (self.requests.append(route.request.url), route.abort()))
        self.page.goto(own + "#step-1", wait_until="load")


def hash_after(page, key: str) -> str:
    page.keyboard.press(key)
    return page.evaluate("location.hash")


def test_the_file_shows_every_figure_offline_and_the_keys_move_the_steps(browser_context, exported: Path,
                                                                          artifacts: Path) -> None:
    view = Offline(browser_context, exported)
    page = view.page
    try:
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length === "
                               "document.querySelectorAll('div.figure').length")
        sections = page.locator("section.step")
        assert sections.count() == 12
        with_figure = [n for n in range(1, 13) if page.locator(f"#step-{n} div.figure").count()]
        assert len(with_figure) >= 9  # every chart step of the talk (8, 10 and 11 are tables)
        for n in with_figure:
            assert page.locator(f"#step-{n} .js-plotly-plot").count() == 1, n
            assert page.locator(f"#step-{n} .js-plotly-plot .main-svg").count() >= 1, n  # drawn, not just a div
        page.screenshot(path=str(artifacts / "talk-step-1.png"))
        assert hash_after(page, "ArrowRight") == "#step-2"
        assert abs(page.locator("#step-2").evaluate("el => el.getBoundingClientRect().top")) < 2  # in view
        assert hash_after(page, "PageDown") == "#step-3"
        assert hash_after(page, "PageUp") == "#step-2"
        assert hash_after(page, "ArrowLeft") == "#step-1"
        assert hash_after(page, "End") == "#step-12"
        assert hash_after(page, "ArrowRight") == "#step-12"  # no step after the last
        assert hash_after(page, "Home") == "#step-1"
        assert view.requests == [] and view.errors == [] and view.dialogs == []
    finally:
        page.close()


def test_markup_in_the_query_and_a_title_runs_no_script(browser_context, talk_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    records = [dict(p) for p in TINY_PASSAGES]
    records[1]["title"] = MARKUP_TITLE
    corpus = tmp_path / "markup.jsonl"
    corpus.write_text("".join(json.dumps({**r, "url": "https://docs.python.org/"}) + "\n" for r in records), "utf-8")
    out = tmp_path / "talk.html"
    result = cli({**talk_env, "SPLADE_DEMO_CORPUS": str(corpus)}, "export-talk", "--query", f"{XSS_QUERY} python memory",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr
    view = Offline(browser_context, out)
    try:
        assert XSS_QUERY in view.page.locator("header .query").inner_text()  # shown as typed
        assert MARKUP_TITLE in view.page.locator("#step-1 table").first.inner_text()
        assert view.page.locator("img").count() == 0 and view.page.locator("section b").count() == 0
        assert view.dialogs == [] and view.requests == [] and view.errors == []
    finally:
        view.page.close()


def test_the_download_button_gives_the_clis_bytes(browser_context, talk_app: str, exported: Path,
                                                  artifacts: Path) -> None:
    page = open_page(browser_context, f"{talk_app}/?step=12&q={quote(QUERY)}")
    try:
        assert not exceptions(page)
        button = page.locator(".st-key-guide_talk_download").get_by_role("button", name=LABEL).first
        button.wait_for()
        with page.expect_download(timeout=EXPORT_TIMEOUT_S * 1000) as download:
            button.click()
        in_app = Path(download.value.path()).read_bytes()
        (artifacts / "talk-from-app.html").write_bytes(in_app)
        cli_bytes = exported.read_bytes()
        (artifacts / "talk-from-cli.html").write_bytes(cli_bytes)
        assert len(DATE_LINE.findall(in_app)) == 1 and len(DATE_LINE.findall(cli_bytes)) == 1
        assert DATE_LINE.sub(b"", in_app) == DATE_LINE.sub(b"", cli_bytes)
    finally:
        page.close()


def step_in_url(page) -> str:
    return page.evaluate("new URLSearchParams(location.search).get('step')")


def test_the_arrow_keys_move_the_live_guide_but_not_while_typing(browser_context, talk_app: str) -> None:
    page = open_page(browser_context, f"{talk_app}/?step=2&q={quote(QUERY)}")
    try:
        assert "step 2 of 12" in page.locator(".st-key-guide_banner").inner_text()
        query_box = page.locator('[data-testid="stSidebar"] textarea').first
        query_box.click()
        for key in ("ArrowRight", "PageDown", "ArrowLeft", "ArrowRight"):
            query_box.press(key)  # the caret moves; the talk does not
        page.locator(".st-key-guide_banner").click(position={"x": 5, "y": 5})  # focus leaves the box, unchanged
        wait_for_script(page)
        assert step_in_url(page) == "2" and query_box.input_value() == QUERY
        page.keyboard.press("ArrowRight")
        page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '3'")
        wait_for_script(page)
        assert "step 3 of 12" in page.locator(".st-key-guide_banner").inner_text() and step_in_url(page) == "3"
        page.keyboard.press("PageUp")  # a clicker's "back"
        page.wait_for_function("() => new URLSearchParams(location.search).get('step') === '2'")
        wait_for_script(page)
        assert "step 2 of 12" in page.locator(".st-key-guide_banner").inner_text()
    finally:
        page.close()

