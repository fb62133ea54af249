"""Page 4 (SPLADE vectors) through app.py, with the real tiny SPLADE, and with a missing model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_page, tiny_app_environment

PAGE = "views/p4_splade.py"


def run_page(query: str = "python memory management") -> AppTest:
    return open_page(PAGE, query, index_built=True)


@pytest.fixture()
def tiny_models(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path) -> Path:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_page4_shows_the_vector_the_heatmap_and_a_document(tiny_models: Path) -> None:
    at = run_page()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    shown = metrics(at)
    assert shown["Non-zero terms"] == "13" and shown["Share of the vocabulary"].endswith("%")
    assert float(shown["L1 norm (sum of weights)"]) > 0 and shown["Word pieces"] == "5"
    assert len(at.get("plotly_chart")) >= 4  # heatmap, vector, BERT, SPLADE side, document
    assert at.selectbox(key="p4_mask_word").options  # BERT's masked words
    documents = at.selectbox(key="p4_doc")
    assert documents.options and documents.options[0].startswith("1. ")
    assert "Shared with the query" in shown and float(shown["Score Σ q·d"]) > 0
    assert list(tiny_models.glob("splade_index/*.npz"))  # the index was saved under SPLADE_DEMO_CACHE
    origin = [c.value for c in at.caption if c.value.startswith("Documents from")]
    assert len(origin) == 1 and " encoded at " in origin[0]  # where the document vectors came from, and precision

    # Another document, fewer terms, special tokens hidden: the page still works and the vector is unchanged.
    documents.set_value(documents.options[-1]).run()
    at.slider(key="p4_top_n").set_value(8).run()
    at.toggle(key="p4_hide_special").set_value(True).run()
    assert not at.exception, at.exception
    assert metrics(at)["Non-zero terms"] == "13"


def test_page4_with_a_missing_splade_model(tiny_models: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tmp_path / "no-such-model"))
    at = run_page()
    assert not at.exception, at.exception
    assert any("prefetch" in w.value and "no-such-model" in w.value for w in at.warning)
    assert not at.get("plotly_chart")


def test_page4_without_the_fill_mask_model_keeps_the_splade_part(tiny_models: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    monkeypatch.setenv("SPLADE_DEMO_MLM_MODEL", str(tmp_path / "no-bert"))
    at = run_page()
    assert not at.exception, at.exception
    assert any("no-bert" in w.value for w in at.warning)
    assert metrics(at)["Non-zero terms"] == "13"
    assert at.selectbox(key="p4_doc").options  # the document side still works


@pytest.mark.parametrize("query", ["<b>bold</b> [MASK] 🐍", "x " * 600])
def test_page4_with_odd_queries(tiny_models: Path, query: str) -> None:
    at = run_page(query)
    assert not at.exception, at.exception
