"""Our nDCG@10, R@10 and RR against ir-measures (pytrec_eval, trec_eval's C code) as the oracle.

ir-measures is a dev requirement wherever pytrec-eval-terrier has a wheel (not Linux aarch64); there the
oracle test skips and the by-construction tests still run.
"""

from __future__ import annotations

import math
import random

import pytest

from splade_demo.retrieval.measures import ndcg_at, recall_at, reciprocal_rank

PAGES = [f"page{i}" for i in range(30)]


def random_case(rng: random.Random) -> tuple[list[str], dict[str, int]]:
    """A ranking of up to 25 distinct pages and graded qrels (0-3, some unjudged, sometimes no relevant page)."""
    ranked = rng.sample(PAGES, rng.randint(0, 25))
    grades = {page: rng.choice([0, 0, 1, 2, 3]) for page in rng.sample(PAGES, rng.randint(1, 12))}
    return ranked, grades


def test_by_construction() -> None:
    grades = {"a": 2, "c": 1, "z": 0}
    assert ndcg_at(["a", "c"], grades, 10) == pytest.approx(1.0)
    assert ndcg_at(["b", "a"], {"a": 2}, 10) == pytest.approx(1 / math.log2(3))
    dcg = 1 / math.log2(2) + 2 / math.log2(3)  # grade 1 at rank 1, grade 2 at rank 2; the ideal swaps them
    assert ndcg_at(["c", "a"], grades, 10) == pytest.approx(dcg / (2 + 1 / math.log2(3)))
    assert ndcg_at([f"x{i}" for i in range(10)] + ["a"], {"a": 1}, 10) == 0.0  # past the cut
    assert recall_at(["a", "z", "b"], grades, 10) == pytest.approx(0.5)
    assert reciprocal_rank(["z", "b", "c"], grades) == pytest.approx(1 / 3)  # grade 0 is not relevant
    assert (ndcg_at([], grades, 10), recall_at([], grades, 10), reciprocal_rank([], grades)) == (0.0, 0.0, 0.0)
    assert (ndcg_at(["z"], {"z": 0}, 10), recall_at(["z"], {"z": 0}, 10)) == (0.0, 0.0)


def test_equal_to_ir_measures_on_random_rankings() -> None:
    ir_measures = pytest.importorskip("ir_measures", reason="ir-measures needs pytrec-eval-terrier (no wheel here)")
    from ir_measures import RR, Qrel, R, ScoredDoc, nDCG

    rng = random.Random(23)
    cases = {f"q{i}": random_case(rng) for i in range(300)}
    qrels = [Qrel(qid, page, grade) for qid, (_, grades) in cases.items() for page, grade in grades.items()]
    run = [ScoredDoc(qid, page, float(len(ranked) - i)) for qid, (ranked, _) in cases.items()
           for i, page in enumerate(ranked)]
    oracle: dict[tuple[str, str], float] = {}
    for metric in ir_measures.iter_calc([nDCG @ 10, R @ 10, RR], qrels, run):
        oracle[metric.query_id, str(metric.measure)] = float(metric.value)
    assert len({qid for qid, _ in oracle}) > 250  # most queries retrieved something and were scored
    for qid, (ranked, grades) in cases.items():
        ours = {"nDCG@10": ndcg_at(ranked, grades, 10), "R@10": recall_at(ranked, grades, 10),
                "RR": reciprocal_rank(ranked, grades)}
        for name, value in ours.items():
            # pytrec_eval leaves out a query with an empty run: the app scores it 0.
            assert value == pytest.approx(oracle.get((qid, name), 0.0), abs=1e-12), (qid, name, ranked, grades)
