"""AppTest of page 2 (static expansion with GloVe), through app.py so the sidebar and query exist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.app import resources
from splade_demo.data import corpus
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.config import DEFAULT_GLOVE
from splade_demo.models.glove_vectors import load_vectors
from splade_demo.explain.glove import before_after_metrics, compare_expansion
from tests.conftest import open_page

PAGE = "views/p2_glove.py"


@pytest.fixture(scope="session")
def glove_ready(offline_hub_and_cache: Path):
    """Convert the vectors once per session (the page then memory-maps them)."""
    return load_vectors(DEFAULT_GLOVE, offline_hub_and_cache)


@pytest.fixture()
def queries_file(tmp_path: Path) -> Path:
    path = tmp_path / "queries.jsonl"
    path.write_text(
        json.dumps({"id": "q1", "text": "python memory management", "rel": {"c-api/memory": 2, "library/gc": 2},
                    "kind": "mismatch"}) + "\n"
        + json.dumps({"id": "q2", "text": "json decode error", "rel": {"library/json": 2}, "kind": "lexical"}) + "\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture()
def env(glove_ready, tiny_corpus_path: Path, queries_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The tiny corpus, our own labelled queries, and fresh caches of the queries."""
    monkeypatch.setenv("SPLADE_DEMO_CORPUS", str(tiny_corpus_path))
    monkeypatch.delenv("SPLADE_DEMO_GLOVE", raising=False)
    monkeypatch.setattr(corpus, "QUERIES_PATH", queries_file)
    resources.queries_resource.clear()
    yield tiny_corpus_path
    resources.queries_resource.clear()


def run_page(query: str | None = None, **state: object) -> AppTest:
    at = open_page(PAGE, query, timeout=120, **state)
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def charts(at: AppTest) -> list[dict]:
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def test_default_query_shows_neighbours_context_and_metrics(env: Path, glove_ready) -> None:
    at = run_page("python memory management")
    assert texts(at, "title") == ["Static expansion (GloVe)"]
    figures = charts(at)
    assert len(figures) == 3  # neighbour panels, the two contexts, the expanded query
    panel_titles = [a["text"] for a in figures[0]["layout"]["annotations"]]
    assert panel_titles == ["python", "memory", "management"]
    python_bars = figures[0]["data"][0]
    assert python_bars["y"][:2] == ["reticulated", "spamalot"]
    assert any("Identical" in s for s in texts(at, "success"))
    # nDCG@10 before and after, equal to an independent computation on the same corpus
    index = BM25Index(corpus.load_corpus(str(env)))
    compared = compare_expansion(index, glove_ready, "python memory management", 3, 0.5)
    labelled = corpus.LabelledQuery("q1", "python memory management", {"c-api/memory": 2, "library/gc": 2}, "mismatch")
    before, after = before_after_metrics(labelled, compared.bm25, compared.glove)
    ndcg = next(m for m in at.metric if m.label.startswith("nDCG@10"))
    assert ndcg.value == f"{after['nDCG@10']:.3f}"
    assert ndcg.delta == f"{after['nDCG@10'] - before['nDCG@10']:+.3f}"


def test_stop_words_are_skipped_visibly_and_oov_flagged(env: Path) -> None:
    at = run_page("the python and tp_alloc")
    assert any("`the`" in c and "`and`" in c for c in texts(at, "caption"))
    assert any("tp_alloc" in w for w in texts(at, "warning"))
    titles = [a["text"] for a in charts(at)[0]["layout"]["annotations"]]
    assert titles == ["python"]


def test_no_word_with_a_vector_does_not_break_the_page(env: Path) -> None:
    at = run_page("xyzzyqwert qqzzxv")
    assert any("None of the query's words" in i for i in texts(at, "info"))
    assert any("shares no word" in i for i in texts(at, "info"))
    assert any("BM25 matches no passage" in i for i in texts(at, "info"))


def test_unlabelled_query_says_so(env: Path) -> None:
    at = run_page("garbage collector")
    assert any("no relevance labels" in i for i in texts(at, "info"))
    assert not at.metric


def test_missing_queries_file_degrades_to_info(env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(corpus, "QUERIES_PATH", tmp_path / "absent.jsonl")
    resources.queries_resource.clear()
    at = run_page("python memory management")
    assert any("No labelled queries" in i for i in texts(at, "info"))


def test_sliders_and_no_expansion(env: Path) -> None:
    at = run_page("python memory management", p2_k=3, p2_n=0)
    figures = charts(at)
    assert all(len(trace["y"]) == 3 for trace in figures[0]["data"])
    expanded = figures[2]
    assert [trace["name"] for trace in expanded["data"]] == ["query term"]  # nothing added with n = 0
    assert any("**Came in:** nothing" in m for m in texts(at, "markdown"))
    ndcg = next(m for m in at.metric if m.label.startswith("nDCG@10"))
    assert ndcg.delta == "+0.000"


def test_context_sentence(env: Path) -> None:
    at = run_page("python memory management", p2_sentence="my memory of that summer")
    figures = charts(at)
    titles = [a["text"] for a in figures[1]["layout"]["annotations"]]
    assert titles == ["“memory” in the query", "“memory” in your sentence"]
    assert figures[1]["data"][0]["y"] == figures[1]["data"][1]["y"]
    at = run_page("python memory management", p2_sentence="a walk on the beach")
    assert any("shares no word" in i for i in texts(at, "info"))


def test_evaluate_all_labelled_queries(env: Path) -> None:
    at = run_page("python memory management")
    at.button(key="p2_evaluate").click()
    at.run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "queries" in d.value.columns)
    assert list(table["queries"]) == ["all", "lexical", "mismatch"]
    assert list(table["count"]) == [2, 1, 1]


def test_html_in_the_query_is_not_rendered(env: Path) -> None:
    at = run_page('<img src=x onerror="alert(1)"> python <script>alert(2)</script>')
    for markdown in texts(at, "markdown") + texts(at, "caption") + texts(at, "info") + texts(at, "warning"):
        assert "<img" not in markdown and "<script" not in markdown


def test_unreachable_downloader_falls_back_with_a_warning(env: Path, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADE_DEMO_GLOVE", "glove-wiki-gigaword-100")
    monkeypatch.setenv("GENSIM_DATA_DIR", str(tmp_path / "gensim-data"))
    at = run_page("python memory management")
    assert any("glove-wiki-gigaword-100" in w and "not available" in w for w in texts(at, "warning"))
    assert len(charts(at)) == 3


def test_bad_vectors_path_warns_and_stops(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADE_DEMO_GLOVE", "/no/such/vectors.kv")
    at = run_page("python memory management")
    assert any("no vectors file" in w for w in texts(at, "warning"))
    assert not charts(at)


def test_markdown_in_a_vectors_path_is_shown_as_typed(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADE_DEMO_GLOVE", "/no/![x](http://example.invalid/i.png).kv")
    at = run_page("python memory management")
    warning = next(w for w in texts(at, "warning") if "no vectors file" in w)
    assert "![x](" not in warning and r"\!\[x\]\(" in warning


def test_non_ascii_query(env: Path) -> None:
    at = run_page("Café 日本 python")
    assert any("日本" in w for w in texts(at, "warning"))
    assert [a["text"] for a in charts(at)[0]["layout"]["annotations"]] == ["café", "python"]
