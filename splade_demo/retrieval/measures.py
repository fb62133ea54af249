"""nDCG@k, R@k and RR of one ranked list of pages, as trec_eval defines them (pure Python, every platform).

- nDCG@k (Järvelin & Kekäläinen 2002, trec_eval's `ndcg_cut`): the gain of a page is its grade, discounted by
  log2(rank + 1); divided by the DCG of the ideal ranking of all graded pages (grade > 0).
- R@k (trec_eval's `recall_k`): relevant pages (grade >= 1) in the top k, over all relevant pages.
- RR (trec_eval's `recip_rank`): 1 / rank of the first relevant page.

A query with no relevant page scores 0 on each. The test suite checks these against ir-measures
(pytrec_eval) wherever that oracle installs; it has no Linux aarch64 wheel, which is why the app uses these.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

RELEVANT = 1  # the lowest grade counted as relevant by R@k and RR (ir-measures' default rel=1)


def ndcg_at(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """trec_eval's nDCG cut at k: sum of grade / log2(rank + 1) over the top k, over the ideal DCG at k."""
    ideal_gains = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    ideal = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(ideal_gains, start=1))
    if ideal == 0:
        return 0.0
    dcg = sum(grades.get(page, 0) / math.log2(rank + 1) for rank, page in enumerate(ranked[:k], start=1)
              if grades.get(page, 0) > 0)
    return dcg / ideal


def recall_at(ranked: Sequence[str], grades: Mapping[str, int], k: int) -> float:
    """Relevant pages in the top k over all relevant pages."""
    relevant = {page for page, grade in grades.items() if grade >= RELEVANT}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranked[:k])) / len(relevant)


def reciprocal_rank(ranked: Sequence[str], grades: Mapping[str, int]) -> float:
    """1 / rank of the first relevant page, 0 when none is retrieved."""
    for rank, page in enumerate(ranked, start=1):
        if grades.get(page, 0) >= RELEVANT:
            return 1.0 / rank
    return 0.0
