"""Context diff: the same word in two texts gets two SPLADE vectors ("python memory management" vs
"python snake care"). Terms gained, lost and shared, and where each vector ranks pages.

Weights are SPLADE's w_j = max_i log(1 + ReLU(logit_ij)) (Formal et al. 2021, SPLADE v2); the page lists are
each vector's dot-product ranking collapsed to pages in order of first appearance (explain.pages).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from splade_demo.explain.pages import PageHit, collapse_to_pages
from splade_demo.retrieval.pipeline import Pipeline

DEFAULT_CONTRAST = "python snake care"
TOP_PAGES = 5


@dataclass(frozen=True)
class TermPair:
    """One term's weight in text A and in text B (0 where absent)."""

    term_id: int
    term: str
    weight_a: float
    weight_b: float

    @property
    def change(self) -> float:
        return self.weight_b - self.weight_a


@dataclass(frozen=True)
class ContextDiff:
    gained: list[TermPair]  # in B only, heaviest in B first
    lost: list[TermPair]  # in A only, heaviest in A first
    shared: list[TermPair]  # in both, by the larger of the two weights
    pages_a: list[PageHit]  # A's top pages
    pages_b: list[PageHit]


def _pairs(ids: np.ndarray, a: np.ndarray, b: np.ndarray, vocab: Sequence[str], key: np.ndarray) -> list[TermPair]:
    order = ids[np.lexsort((ids, -key[ids]))]  # heaviest first, ties by id
    return [TermPair(int(i), vocab[int(i)], float(a[i]), float(b[i])) for i in order]


def term_diff(vector_a: np.ndarray, vector_b: np.ndarray, vocab: Sequence[str]) -> tuple[list[TermPair], ...]:
    """(gained, lost, shared) between two SPLADE vectors."""
    a, b = np.asarray(vector_a).ravel(), np.asarray(vector_b).ravel()
    in_a, in_b = a > 0, b > 0
    gained = _pairs(np.flatnonzero(in_b & ~in_a), a, b, vocab, b)
    lost = _pairs(np.flatnonzero(in_a & ~in_b), a, b, vocab, a)
    shared = _pairs(np.flatnonzero(in_a & in_b), a, b, vocab, np.maximum(a, b))
    return gained, lost, shared


def top_pages(pipeline: Pipeline, vector: np.ndarray, n_pages: int = TOP_PAGES) -> list[PageHit]:
    """The first `n_pages` pages of the vector's dot-product ranking (every passage with a positive score)."""
    return collapse_to_pages(pipeline.splade_ranking(vector, len(pipeline.engine)), n_pages)


def context_diff(vector_a: np.ndarray, vector_b: np.ndarray, vocab: Sequence[str], pipeline: Pipeline,
                 n_pages: int = TOP_PAGES) -> ContextDiff:
    """Gained, lost and shared terms from A to B, and the top `n_pages` pages of each vector."""
    gained, lost, shared = term_diff(vector_a, vector_b, vocab)
    return ContextDiff(gained, lost, shared, top_pages(pipeline, vector_a, n_pages),
                       top_pages(pipeline, vector_b, n_pages))
