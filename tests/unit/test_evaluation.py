"""Page-level metrics, ranking helpers and reciprocal rank fusion."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from splade_demo.data.corpus import LabelledQuery, Passage, build_corpus
from splade_demo.retrieval.evaluation import evaluate_rankings, mean_metrics
from splade_demo.retrieval.fusion import reciprocal_rank_fusion
from splade_demo.retrieval.ranking import Hit, page_rank, pages_in_order, top_k

CORPUS = build_corpus(
    "t", [Passage(f"p{i}", src, "", "", "", "") for i, src in enumerate(["a", "a", "b", "c", "b", "d"])]
)


def hits_for(indices: list[int]) -> list[Hit]:
    return [Hit(r, i, f"p{i}", CORPUS.passages[i].source, "", "", "", 1.0 / r) for r, i in enumerate(indices, 1)]


def test_top_k_orders_by_score_then_corpus_order_and_drops_zeros() -> None:
    scores = np.array([0.5, 2.0, 0.0, 2.0, 1.0, 0.0])
    assert [h.index for h in top_k(scores, CORPUS, 10)] == [1, 3, 4, 0]
    assert [h.rank for h in top_k(scores, CORPUS, 2)] == [1, 2]
    assert [h.index for h in top_k(scores, CORPUS, 10, keep_zero=True)] == [1, 3, 4, 0, 2, 5]
    assert [h.index for h in top_k(np.array([-1.0, 3.0, 0.0, 0.0, 0.0, 0.0]), CORPUS, 6)] == [1]
    assert all(type(h.index) is int and type(h.score) is float for h in top_k(scores, CORPUS, 10))


def test_a_hit_at_another_rank_is_what_dataclasses_replace_gives() -> None:
    hit = top_k(np.array([0.5, 2.0]), CORPUS, 1)[0]
    assert hit.at(7) == dataclasses.replace(hit, rank=7)
    assert hit.at(3, 0.25) == dataclasses.replace(hit, rank=3, score=0.25)


def test_pages_in_order_of_first_appearance() -> None:
    hits = hits_for([4, 0, 2, 1, 3])
    assert pages_in_order(hits) == ["b", "a", "c"]
    assert page_rank(hits, "c") == 3 and page_rank(hits, "d") is None


def test_metrics_by_construction() -> None:
    queries = [
        LabelledQuery("q1", "x", {"a": 2, "c": 1}, "lexical"),
        LabelledQuery("q2", "y", {"d": 2}, "mismatch"),
        LabelledQuery("q3", "z", {"b": 1}, "mismatch"),
    ]
    rankings = {"q1": hits_for([0, 1, 3]), "q2": hits_for([2, 5]), "q3": []}
    results = {r.query_id: r.metrics for r in evaluate_rankings(queries, rankings)}
    # q1: pages a, c: ideal order, so nDCG 1; both found; first relevant at 1.
    assert results["q1"] == pytest.approx({"nDCG@10": 1.0, "R@10": 1.0, "RR": 1.0})
    # q2: page d at rank 2 (after b): nDCG = (2/log2(3)) / 2, RR = 1/2.
    assert results["q2"]["nDCG@10"] == pytest.approx(1 / math.log2(3))
    assert results["q2"]["RR"] == pytest.approx(0.5)
    # q3 retrieved nothing: zero, and still counted in the mean.
    assert results["q3"] == {"nDCG@10": 0.0, "R@10": 0.0, "RR": 0.0}
    all_results = evaluate_rankings(queries, rankings)
    assert mean_metrics(all_results)["RR"] == pytest.approx(0.5)
    assert mean_metrics(all_results, "mismatch")["RR"] == pytest.approx(0.25)


def test_rrf_against_the_formula() -> None:
    fused = dict(reciprocal_rank_fusion([["x", "y", "z"], ["z", "x"]], k=60))
    assert fused["x"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["y"] == pytest.approx(1 / 62)
    assert fused["z"] == pytest.approx(1 / 63 + 1 / 61)
    assert [item for item, _ in reciprocal_rank_fusion([["x", "y", "z"], ["z", "x"]])] == ["x", "z", "y"]
