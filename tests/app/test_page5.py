"""AppTest of page 5 with the real tiny SPLADE on a tiny corpus, and with a missing model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_page, tiny_app_environment


def run_page_5(query: str) -> AppTest:
    return open_page("views/p5_compare.py", query, timeout=600, index_built=True)


@pytest.fixture()
def tiny_setup(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)


def test_page_five_shows_both_rankings_breakdowns_and_metrics(tiny_setup: None) -> None:
    at = run_page_5("python memory management")
    assert not at.exception, [e.value for e in at.exception]
    tables = [df.value for df in at.dataframe]
    rankings, metrics = tables[:3], tables[3]
    assert all(list(t.columns[:4]) == ["#", "title", "section", "score"] for t in rankings)
    assert "✅ answers" in set(rankings[1]["relevant"])  # the labelled memory page, found by SPLADE
    assert set(metrics["method"]) >= {"bm25", "splade", "hybrid"}
    assert {"nDCG@10", "R@10", "RR"} <= set(metrics.columns)
    assert any(q.startswith("mismatch") for q in metrics["queries"])
    # slope chart, SPLADE breakdown, BM25 breakdown, ΔnDCG chart
    assert len(at.get("plotly_chart")) == 4
    assert any(m.value.startswith("**SPLADE:") for m in at.markdown)


def test_page_five_explains_another_passage(tiny_setup: None) -> None:
    at = run_page_5("python memory management")
    box = at.selectbox(key="p5_doc")
    other = box.options[-1]
    box.select(other).run()
    assert not at.exception


def test_page_five_missing_model_is_a_message(monkeypatch: pytest.MonkeyPatch, tiny_corpus_path: Path) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", "no-such-org/no-such-splade")
    monkeypatch.setenv("SPLADE_DEMO_CORPUS", str(tiny_corpus_path))
    at = run_page_5("python memory management")
    assert not at.exception
    assert any("no-such-org/no-such-splade" in w.value and "prefetch" in w.value for w in at.warning)


def test_page_five_lists_distinct_pages_by_default_and_passages_one_toggle_away(tiny_setup: None) -> None:
    at = run_page_5("python memory management")
    assert not at.exception, [e.value for e in at.exception]
    assert at.toggle(key="p5_side_pages").value is True
    rankings = [df.value for df in at.dataframe[:3]]
    for table in rankings:  # BM25, SPLADE, hybrid: each page once, with its passage count
        assert {"page", "passages"} <= set(table.columns) and not table.empty
        assert table["page"].is_unique and (table["passages"] >= 1).all()
    at.toggle(key="p5_side_pages").set_value(False).run()
    assert not at.exception
    passages = [df.value for df in at.dataframe[:3]]
    assert all("page" not in t.columns for t in passages)
    for pages, rows in zip(rankings, passages):  # a page stands for its passages: never more pages than passages
        assert len(rows) >= len(pages)
