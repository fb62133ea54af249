"""Page 5's logic: score breakdowns that sum to the score, and evaluation with a known answer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from splade_demo.data.corpus import LabelledQuery, load_corpus
from splade_demo.explain.comparison import compare, rank_changes, side_by_side, zero_overlap_hits
from splade_demo.explain.pages import collapse_to_pages
from splade_demo.explain.splade_view import shared_terms
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate
from splade_demo.retrieval.pipeline import Pipeline
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import build_index


@pytest.fixture(scope="module")
def encoder(tiny_splade_dir: Path) -> SpladeEncoder:
    return SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="fp32")


def test_the_breakdown_sums_to_the_splade_score(encoder: SpladeEncoder, tiny_corpus_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    index = build_index(encoder, corpus)
    query = encoder.encode_query("python memory management")
    scores = index.scores(query.vector)
    assert scores.max() > 0
    for doc in range(len(corpus)):
        shares = shared_terms(query.vector, index.doc_vector(doc), encoder.vocab)
        assert sum(s.contribution for s in shares) == pytest.approx(scores[doc], rel=1e-5, abs=1e-6)
        assert all(s.query_weight > 0 and s.doc_weight > 0 for s in shares)


def test_compare_rankings_and_mismatch_wins(encoder: SpladeEncoder, tiny_corpus_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    bm25, index = BM25Index(corpus), build_index(encoder, corpus)
    pipeline = Pipeline.from_components(bm25, encoder, index)
    query = "python memory management"
    result = compare(pipeline, query, encoder.encode_query(query).vector, k=3)
    assert len(result.splade) <= 3 and len(result.bm25) <= 3 and len(result.hybrid) <= 3
    assert result.ranking("hybrid") == pipeline.rank("hybrid", query, 3)
    assert [h.id for h in result.mismatch_wins] == [h.id for h in zero_overlap_hits(result.splade, pipeline.engine, query)]
    # The GC passage says "garbage collector", never "python", "memory" or "management".
    shares_nothing = {h.id for h in result.splade if not {"python", "memori", "manag"} & set(bm25.doc_terms(h.index))}
    assert {h.id for h in result.mismatch_wins} == shares_nothing
    for change in result.changes:
        assert change.bm25_rank == next((h.rank for h in result.bm25 if h.id == change.id), None)
        assert change.splade_rank == next((h.rank for h in result.splade if h.id == change.id), None)


def test_the_side_by_side_lists_pages_by_default(encoder: SpladeEncoder, tiny_corpus_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    pipeline = Pipeline.from_components(BM25Index(corpus), encoder, build_index(encoder, corpus))
    query = "python memory management"
    vector = encoder.encode_query(query).vector
    pages = side_by_side(pipeline, query, vector, 3, grades={"c-api/memory": 2})
    passages = side_by_side(pipeline, query, vector, 3, page_level=False)
    for method in ("bm25", "splade", "hybrid"):
        table, deep = pages.tables[method], pipeline.rank(method, query, 100)
        assert list(table["page"]) == [p.source for p in collapse_to_pages(deep, 3)]  # each page once
        assert table["page"].is_unique
        assert list(table["passages"]) == [sum(h.source == s for h in deep) for s in table["page"]]
        assert list(passages.tables[method]["title"]) == [h.title for h in pipeline.rank(method, query, 3)]
    assert set(pages.tables["splade"].loc[pages.tables["splade"]["page"] == "c-api/memory", "relevant"]) <= {"✅ answers"}
    bm25_only = side_by_side(pipeline, query, None, 3, grades={"c-api/memory": 2})
    assert bm25_only.tables["splade"] is None and bm25_only.comparison is None
    assert bm25_only.tables["bm25"].equals(pages.tables["bm25"])


def test_rank_changes_cover_both_lists() -> None:
    from splade_demo.retrieval.ranking import Hit

    a = [Hit(1, 0, "x", "s", "X", "", "", 2.0), Hit(2, 1, "y", "s", "Y", "", "", 1.0)]
    b = [Hit(1, 1, "y", "s", "Y", "", "", 3.0), Hit(2, 2, "z", "s", "Z", "", "", 1.0)]
    assert [(c.id, c.bm25_rank, c.splade_rank) for c in rank_changes(a, b)] == [("x", 1, None), ("y", 2, 1), ("z", None, 2)]


DISTINCT = {
    "page/volcano": "volcano lava eruption magma crater",
    "page/piano": "piano sonata keyboard concerto orchestra",
    "page/soccer": "soccer goalkeeper penalty stadium league",
    "page/bakery": "bread flour oven yeast dough",
}


@pytest.fixture()
def known_answer(tmp_path: Path) -> tuple[Path, Path]:
    """Four pages on unrelated topics; each query is its page's own words, so its page must come first."""
    corpus = tmp_path / "distinct.jsonl"
    queries = tmp_path / "distinct_queries.jsonl"
    with corpus.open("w") as c, queries.open("w") as q:
        for i, (source, text) in enumerate(DISTINCT.items()):
            c.write(json.dumps({"id": f"d{i}", "source": source, "title": text, "section": "", "text": text, "url": ""}) + "\n")
            q.write(json.dumps({"id": f"q{i}", "text": text, "rel": {source: 2}}) + "\n")
    return corpus, queries


def test_evaluate_all_methods_with_a_known_answer(encoder: SpladeEncoder, known_answer: tuple[Path, Path]) -> None:
    corpus_path, _ = known_answer
    corpus = load_corpus(str(corpus_path))
    queries = [LabelledQuery(f"q{i}", text, {source: 2}) for i, (source, text) in enumerate(DISTINCT.items())]
    pipeline = Pipeline.from_components(BM25Index(corpus), encoder, build_index(encoder, corpus))
    results = evaluate(queries, pipeline.ranker(["bm25", "splade", "hybrid"], EVAL_DEPTH))
    assert set(results) == {"bm25", "splade", "hybrid"}
    for method, per_query in results.items():
        for result in per_query:
            assert result.metrics == pytest.approx({"nDCG@10": 1.0, "R@10": 1.0, "RR": 1.0}), (method, result)


@pytest.fixture()
def cli_env(tiny_splade_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))


def test_cli_evaluate_every_method_with_an_external_queries_file(
    known_answer: tuple[Path, Path], cli_env: None, run_cli: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    corpus_path, queries_path = known_answer
    result = run_cli("evaluate", "--queries", str(queries_path), "--methods", "bm25,splade,hybrid",
                     "--corpus", str(corpus_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"bm25", "splade", "hybrid"}
    for metrics in report.values():
        assert metrics == pytest.approx({"nDCG@10": 1.0, "R@10": 1.0, "RR": 1.0})


def test_search_hybrid_is_rrf_of_the_two_rankings(known_answer: tuple[Path, Path], cli_env: None,
                                                  run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    corpus_path, _ = known_answer

    def search(method: str) -> list[dict]:
        out = run_cli("search", "bread oven", "--method", method, "--k", "4", "--corpus", str(corpus_path), "--json")
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    bm25, splade, hybrid = search("bm25"), search("splade"), search("hybrid")
    expected: dict[str, float] = {}
    for ranking in (bm25, splade):
        for hit in ranking:
            expected[hit["id"]] = expected.get(hit["id"], 0.0) + 1 / (60 + hit["rank"])
    assert {h["id"]: h["score"] for h in hybrid} == pytest.approx(expected)
    assert hybrid[0]["source"] == "page/bakery"
    assert np.all(np.diff([h["score"] for h in hybrid]) <= 0)
