"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009)."""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, Sequence, TypeVar

Item = TypeVar("Item", bound=Hashable)
RRF_K = 60


def reciprocal_rank_fusion(rankings: Sequence[Sequence[Item]], k: int = RRF_K) -> list[tuple[Item, float]]:
    """RRF(d) = sum over rankings r of 1 / (k + rank_r(d)), ranks from 1; best first.

    Ties keep the order in which items were first seen across the rankings.
    """
    scores: dict[Item, float] = defaultdict(float)
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] += 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])
