"""GloVe-expanded BM25: the weighted query (against hand-computed weights), rankings, metrics, CLI."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from gensim.models import KeyedVectors

from splade_demo.retrieval.analyzer import analyze, stem
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.cli import main
from splade_demo.config import DEFAULT_GLOVE
from splade_demo.data.corpus import LabelledQuery, load_corpus
from splade_demo.models.glove_vectors import load_vectors
from splade_demo.retrieval.neighbours import neighbours
from splade_demo.explain.glove import before_after_metrics, compare_expansion, ranking_change
from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate
from splade_demo.retrieval.glove_expansion import (
    ADDED,
    IN_QUERY,
    LARGER_ELSEWHERE,
    NO_TERM,
    RAISED,
    expand_query,
    explain_expansion,
)
from splade_demo.retrieval.pipeline import Pipeline
from splade_demo.retrieval.ranking import Hit, top_k


def _cos(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


TOY = {
    "python": [1.0, 0.0, 0.0],
    "snakes": [0.8, 0.6, 0.0],
    "perl": [0.9, 0.0, 0.3],
    "the": [0.7, 0.7, 0.1],
    "memory": [0.0, 0.0, 1.0],
    "memories": [0.0, 0.1, 1.0],
    "ram": [0.1, 0.0, 0.9],
}


@pytest.fixture()
def toy() -> KeyedVectors:
    kv = KeyedVectors(vector_size=3)
    kv.add_vectors(list(TOY), np.array(list(TOY.values()), dtype=np.float32))
    kv.fill_norms()
    return kv


@pytest.fixture(scope="session")
def vectors(offline_hub_and_cache: Path) -> KeyedVectors:
    return load_vectors(DEFAULT_GLOVE, offline_hub_and_cache)


def test_expansion_weights_by_hand(toy: KeyedVectors) -> None:
    # python's neighbours: perl (0.949), the (0.705), snakes (0.8) -> top 2 = perl, snakes
    # memory's neighbours: memories (0.995), ram (0.994)
    got = expand_query("python memory", toy, n=2, weight=0.5)
    sim = {w: _cos(TOY["python"], TOY[w]) for w in ("perl", "snakes")}
    sim |= {w: _cos(TOY["memory"], TOY[w]) for w in ("memories", "ram")}
    want = {"python": 1.0, "memori": 1.0}
    # "memories" stems to "memori" like "memory": it is already in the query, so its weight stays 1.
    assert stem("memories") == stem("memory") == "memori"
    want |= {"ram": 0.5 * sim["ram"], "perl": 0.5 * sim["perl"], stem("snakes"): 0.5 * sim["snakes"]}
    assert got == pytest.approx(want, abs=1e-6)
    assert list(got)[:2] == ["python", "memori"]  # original terms first, then by weight
    added = list(got)[2:]
    assert added == sorted(added, key=lambda t: -got[t])


def test_stop_word_neighbours_are_dropped_and_explained(toy: KeyedVectors) -> None:
    expanded = explain_expansion("python", toy, n=3, weight=1.0)
    by_neighbour = {t.neighbour: t for t in expanded.terms}
    assert by_neighbour["the"].term is None and by_neighbour["the"].status == NO_TERM
    assert by_neighbour["perl"].status == ADDED
    assert "the" not in expanded.weights


def test_repeated_terms_keep_the_largest_weight(toy: KeyedVectors) -> None:
    # "perl" is a neighbour of both "python" (0.949) and "snakes"; it keeps the larger weight.
    expanded = explain_expansion("python snakes", toy, n=3, weight=0.5)
    perl_rows = [t for t in expanded.terms if t.term == "perl"]
    assert len(perl_rows) == 2
    assert expanded.weights["perl"] == pytest.approx(max(r.weight for r in perl_rows))
    assert sorted(r.status for r in perl_rows) == sorted([ADDED, LARGER_ELSEWHERE])


def test_original_terms_are_never_lowered(toy: KeyedVectors) -> None:
    expanded = explain_expansion("python python snakes", toy, n=3, weight=0.5)
    assert expanded.weights["python"] == 2.0  # once per occurrence, as BM25's query weights
    assert expanded.weights[stem("snakes")] == 1.0  # a neighbour of python, but an original term
    assert any(t.status == IN_QUERY for t in expanded.terms)


def test_weight_above_one_may_raise_but_never_lower(toy: KeyedVectors) -> None:
    # python's top 2: perl (0.949), snakes (0.8); 5 x 0.8 = 4 > 1 raises the query term "snake".
    expanded = explain_expansion("python snakes", toy, n=2, weight=5.0)
    assert expanded.weights[stem("snakes")] == pytest.approx(5.0 * _cos(TOY["python"], TOY["snakes"]))
    assert [t.status for t in expanded.terms if t.neighbour == "snakes"] == [RAISED]
    assert expanded.weights["python"] >= 1.0


@pytest.mark.parametrize("n, weight", [(0, 0.5), (3, 0.0)])
def test_no_expansion_gives_the_bm25_query(vectors: KeyedVectors, n: int, weight: float) -> None:
    query = "python memory management the memory"
    assert expand_query(query, vectors, n=n, weight=weight) == {t: float(c) for t, c in Counter(analyze(query)).items()}


def test_negative_parameters_are_rejected(toy: KeyedVectors) -> None:
    with pytest.raises(ValueError):
        expand_query("python", toy, n=-1, weight=0.5)
    with pytest.raises(ValueError):
        expand_query("python", toy, n=1, weight=-0.1)


def test_real_glove_expansion_is_built_from_neighbours(vectors: KeyedVectors) -> None:
    query = "python memory management for tp_alloc"
    n, weight = 3, 0.5
    expanded = explain_expansion(query, vectors, n=n, weight=weight)
    assert expanded.oov_words == ("tp_alloc",)
    assert expanded.weights["tp_alloc"] == 1.0  # out of vocabulary, still searched
    assert {t.word for t in expanded.terms} == {"python", "memory", "management"}  # "for" is a stop word
    candidates: dict[str, float] = {}
    for word in ("python", "memory", "management"):
        for nb in neighbours(vectors, word, n):
            for term in analyze(nb.term):
                candidates[term] = max(candidates.get(term, 0.0), weight * nb.similarity)
    for term, w in expanded.weights.items():
        if term in expanded.original:
            assert w == max(expanded.original[term], candidates.get(term, 0.0))
        else:
            assert w == pytest.approx(candidates[term])
    assert set(expanded.added) == set(candidates) - set(expanded.original)


def test_empty_and_stop_word_queries(vectors: KeyedVectors) -> None:
    assert expand_query("", vectors, n=3, weight=0.5) == {}
    assert expand_query("the and of", vectors, n=3, weight=0.5) == {}


# --- rankings and metrics -------------------------------------------------------------------


@pytest.fixture()
def tiny_index(tiny_corpus_path: Path) -> BM25Index:
    return BM25Index(load_corpus(str(tiny_corpus_path)))


def test_comparison_matches_the_search_method(tiny_index: BM25Index, vectors: KeyedVectors) -> None:
    query = "garbage memory"
    compared = compare_expansion(tiny_index, vectors, query, n=3, weight=0.5)
    assert list(compared.glove) == Pipeline.from_components(tiny_index, vectors=vectors).rank("glove-bm25", query, 1000)
    assert list(compared.bm25) == top_k(tiny_index.score(analyze(query)), tiny_index.corpus, 1000)
    # the expanded score of each passage is the weighted sum of its per-term BM25 scores
    expected = sum(w * tiny_index.term_scores(t) for t, w in compared.expansion.weights.items())
    for hit in compared.glove:
        assert hit.score == pytest.approx(expected[hit.index])


def _hit(rank: int, pid: str, source: str | None = None) -> Hit:
    return Hit(rank, rank, pid, source or pid, pid, "", "", 10.0 - rank)


def test_ranking_change() -> None:
    before = [_hit(i + 1, p) for i, p in enumerate("abcdef")]
    after = [_hit(i + 1, p) for i, p in enumerate("cxaybd")]
    change = ranking_change(before, after, k=3)
    assert [(c.hit.id, c.before, c.after, c.label) for c in change.after] == [
        ("c", 3, 1, "↑2"), ("x", None, 2, "new"), ("a", 1, 3, "↓2")
    ]
    assert [c.hit.id for c in change.entered] == ["x"]
    assert [(c.hit.id, c.before, c.after) for c in change.left] == [("b", 2, 5)]
    gone = ranking_change([_hit(1, "z")], [_hit(1, "y")], k=1)
    assert gone.left[0].label == "dropped"


def test_before_after_metrics_by_hand() -> None:
    query = LabelledQuery("q", "t", {"library/gc": 2, "c-api/memory": 1}, "mismatch")
    before = [_hit(1, "p1", "library/json"), _hit(2, "p2", "library/gc")]
    after = [_hit(1, "p3", "library/gc"), _hit(2, "p4", "library/gc"), _hit(3, "p5", "c-api/memory")]
    m_before, m_after = before_after_metrics(query, before, after)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert m_before["nDCG@10"] == pytest.approx((2 / math.log2(3)) / ideal)
    assert m_after["nDCG@10"] == pytest.approx(1.0)  # pages collapse: gc at 1, memory at 2
    assert m_before["RR"] == pytest.approx(0.5) and m_after["RR"] == pytest.approx(1.0)


def test_evaluate_expansion(tiny_index: BM25Index, vectors: KeyedVectors) -> None:
    queries = [LabelledQuery("q1", "python memory management", {"c-api/memory": 2, "library/gc": 2}, "mismatch"),
               LabelledQuery("q2", "json decode error", {"library/json": 2}, "lexical")]
    pipeline = Pipeline.from_components(tiny_index, vectors=vectors).with_expansion(n=3, weight=0.5)
    results = evaluate(queries, pipeline.ranker(["bm25", "glove-bm25"], EVAL_DEPTH))
    assert set(results) == {"bm25", "glove-bm25"}
    for method, per_query in results.items():
        for q, r in zip(queries, per_query):
            compared = compare_expansion(tiny_index, vectors, q.text, 3, 0.5)
            hits = compared.bm25 if method == "bm25" else compared.glove
            assert r.metrics == before_after_metrics(q, hits, hits)[0]


# --- CLI ------------------------------------------------------------------------------------


def test_cli_search_glove_bm25(tiny_corpus_path: Path, vectors: KeyedVectors,
                               capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["search", "garbage memory", "--method", "glove-bm25", "--corpus", str(tiny_corpus_path), "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    index = BM25Index(load_corpus(str(tiny_corpus_path)))
    want = top_k(index.score(expand_query("garbage memory", vectors, n=3, weight=0.5)), index.corpus, 10)
    assert [(r["id"], r["rank"]) for r in result] == [(h.id, h.rank) for h in want]
    assert [r["score"] for r in result] == pytest.approx([h.score for h in want])
