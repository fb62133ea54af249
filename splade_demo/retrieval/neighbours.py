"""Static nearest neighbours of a word: cosine similarity over word vectors (GloVe, Pennington et al. 2014).

The cosines are gensim's `KeyedVectors.most_similar`, computed by the same expression (so to the last bit); only
the choice of the top k is cheaper: a scan above a sampled lower bound instead of a partition of 400,000 values,
which was half of each look-up's time (page 5 expands every labelled query with GloVe).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

SAMPLE_STRIDE = 64  # every 64th cosine bounds the top k from below (`_top`)


@dataclass(frozen=True)
class Neighbour:
    """One nearest neighbour of a word and its cosine similarity."""

    term: str
    similarity: float


def neighbours(vectors: "KeyedVectors", word: str, k: int = 10) -> list[Neighbour] | None:
    """The k nearest neighbours of the lower-cased `word` by cosine similarity; None when out of vocabulary.

    The same terms and cosines as `vectors.most_similar(word, topn=k)` (norms are filled once at load time): the
    word's unit vector normalised again (`get_mean_vector`), dotted with every vector and divided by its norm.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    key = word.strip().lower()
    if not key or key not in vectors.key_to_index:
        return None
    vectors.fill_norms()
    mean = vectors.get_mean_vector([key], pre_normalize=True, post_normalize=True)
    cosines = np.dot(vectors.vectors, mean) / vectors.norms
    own = vectors.key_to_index[key]
    return [Neighbour(vectors.index_to_key[j], float(cosines[j])) for j in _top(cosines, k + 1) if j != own][:k]


def _top(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values, largest first (ties by index).

    Exact: the n-th largest of every SAMPLE_STRIDE-th value is at most the n-th largest of all, so the top n are
    all at or above it; only those few candidates are sorted."""
    sample = values[::SAMPLE_STRIDE]
    if sample.size >= n:
        floor = np.partition(sample, sample.size - n)[sample.size - n]
        candidates = np.flatnonzero(values >= floor)
    else:
        candidates = np.arange(values.size)
    return candidates[np.lexsort((candidates, -values[candidates]))[:n]]
