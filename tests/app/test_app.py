"""AppTest: app.py and every page run without exception for an empty, a typed and a preset query."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.app.state import PRESET_QUERIES
from tests.conftest import REPO_ROOT, open_page, tiny_app_environment

PAGES = ["views/home.py", "views/p1_bm25.py", "views/p2_glove.py", "views/p3_bert.py", "views/p4_splade.py",
         "views/p5_compare.py"]



@pytest.fixture(autouse=True)
def tiny_models(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("query", ["", "python memory management"])
def test_every_page_runs(page: str, query: str) -> None:
    at = open_page(page, query)
    assert not at.exception, [e.value for e in at.exception]


def test_a_preset_button_sets_the_query() -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    assert at.session_state["query"] == "python memory management"
    at.sidebar.button(key="preset_1").click().run()
    assert not at.exception
    assert at.session_state["query"] == "free unused memory"


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("preset", PRESET_QUERIES)
def test_every_page_runs_on_every_preset(page: str, preset: str) -> None:
    at = open_page(page, preset)
    assert not at.exception, [e.value for e in at.exception]


def test_query_comes_from_the_url_and_goes_back() -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.query_params["q"] = "json decode error"
    at.run()
    assert at.session_state["query"] == "json decode error"
    assert at.query_params["q"] == "json decode error"
    assert at.sidebar.text_area(key="query").value == "json decode error"


def test_page_one_tells_the_story_on_the_demo_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADE_DEMO_CORPUS", "demo")
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", "/no/splade/here")  # page 1 is BM25: no demo index build behind it
    at = open_page("views/p1_bm25.py", "python memory management")
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "`memory` → `memori`" in text
    assert "gc — Garbage Collector interface" in text  # a relevant page BM25 misses
    assert len(at.get("plotly_chart")) == 1


def test_page_one_escapes_html(monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page("views/p1_bm25.py", "<script>alert(1)</script> garbage")
    assert not at.exception
    assert all("<script>" not in h.proto.body for h in at.get("html"))
