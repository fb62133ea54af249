"""BM25 against the formula computed by hand, and its explanation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from splade_demo.retrieval.bm25 import B, K1, BM25Index, LuceneBM25, lucene_idf, zero_overlap_pages
from splade_demo.data.corpus import Passage, build_corpus

DOCS = [
    "garbage collection frees unreachable objects",
    "the memory allocator manages memory blocks and memory pools",
    "json decoding of documents",
]


def make_corpus(texts: list[str]):
    return build_corpus("hand", [Passage(f"d{i}", f"page/{i}", "", "", t, "") for i, t in enumerate(texts)])


def hand_bm25(query_terms: list[str], docs_terms: list[list[str]]) -> list[float]:
    """Okapi BM25 with Lucene's idf, written out term by term."""
    n = len(docs_terms)
    avgdl = sum(len(d) for d in docs_terms) / n
    scores = []
    for doc in docs_terms:
        total = 0.0
        for term in query_terms:
            df = sum(term in d for d in docs_terms)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = doc.count(term)
            total += idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * len(doc) / avgdl))
        scores.append(total)
    return scores


def test_scores_equal_the_formula_by_hand() -> None:
    index = BM25Index(make_corpus(DOCS))
    # Analysed by hand: stop word "the"/"and"/"of" dropped, Snowball stems.
    docs_terms = [
        ["garbag", "collect", "free", "unreach", "object"],
        ["memori", "alloc", "manag", "memori", "block", "memori", "pool"],
        ["json", "decod", "document"],
    ]
    assert [index.doc_terms(i) for i in range(3)] == [
        {t: d.count(t) for t in d} for d in docs_terms
    ]
    for query in (["memori"], ["memori", "garbag"], ["json", "json", "pool"], ["absent"]):
        assert index.score(query) == pytest.approx(hand_bm25(query, docs_terms), abs=1e-12)


def test_agrees_with_rank_bm25_scoring_loop() -> None:
    index = BM25Index(make_corpus(DOCS))
    query = ["memori", "object", "decod"]
    # rank-bm25's own get_scores, with the idf we chose.
    assert index.score(query) == pytest.approx(index.model.get_scores(query), abs=1e-12)


def test_no_negative_scores_for_a_term_in_most_documents() -> None:
    texts = ["python memory"] * 9 + ["python"]
    index = BM25Index(make_corpus(texts))
    assert lucene_idf(10, 10) > 0
    assert (index.score(["python", "memori"]) > 0).all()
    # rank-bm25's Okapi idf would be negative here, then floored: the quirk we avoid.
    okapi = BM25Okapi([["python", "memori"]] * 9 + [["python"]])
    assert okapi.idf["memori"] != pytest.approx(index.idf("memori"))


def test_contributions_sum_to_the_score() -> None:
    index = BM25Index(make_corpus(DOCS))
    query = {"memori": 1.0, "pool": 0.4, "json": 2.0, "missing": 1.0}
    scores = index.score(query)
    for doc in range(3):
        rows = index.explain(query, doc)
        assert sum(r.contribution for r in rows) == pytest.approx(scores[doc], abs=1e-12)
        for r in rows:
            assert r.contribution == pytest.approx(r.weight * r.idf * r.tf_part)


def test_weighted_query_scales_each_term() -> None:
    index = BM25Index(make_corpus(DOCS))
    single = index.score(["memori"])
    assert np.allclose(index.score({"memori": 0.5}), 0.5 * single)
    assert np.allclose(index.score(["memori", "memori"]), 2 * single)


def test_zero_overlap_pages() -> None:
    index = BM25Index(make_corpus(DOCS))
    assert zero_overlap_pages(index, "memory management", ["page/0", "page/1", "page/2"]) == ["page/0", "page/2"]


def test_lucene_bm25_is_a_rank_bm25_model() -> None:
    model = LuceneBM25([["a", "b"], ["b"]])
    assert model.idf["a"] == pytest.approx(math.log(1 + 1.5 / 1.5))
