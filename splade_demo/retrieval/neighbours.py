"""Static nearest neighbours of a word: cosine similarity over word vectors (GloVe, Pennington et al. 2014).

`neighbours` gives what gensim's `KeyedVectors.most_similar(word, topn=k)` gives (the same query vector, the same
cosines). `neighbours_of_words` finds them for many words with one pass over the vectors, and keeps them for the
next `neighbours` call: the evaluation expands every labelled query with GloVe, and one matrix product for all their
words reads the 400,000 x 50 vectors once instead of once per word.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

WORDS_PER_PRODUCT = 32  # query words per matrix product: 32 x 400,000 float32 cosines = 51 MB at a time
SAMPLE_STRIDE = 64  # every 64th cosine bounds the top k from below (see `_top`)
KEPT_PER_VECTORS = 4096  # neighbour lists kept per set of vectors


@dataclass(frozen=True)
class Neighbour:
    """One nearest neighbour of a word and its cosine similarity."""

    term: str
    similarity: float


_kept: "weakref.WeakKeyDictionary[KeyedVectors, dict[tuple[str, int], list[Neighbour]]]" = weakref.WeakKeyDictionary()
_kept_lock = threading.Lock()


def neighbours(vectors: "KeyedVectors", word: str, k: int = 10) -> list[Neighbour] | None:
    """The k nearest neighbours of the lower-cased `word` by cosine similarity; None when out of vocabulary.

    The same terms and cosines as `vectors.most_similar(word, topn=k)` (norms are filled once at load time)."""
    return neighbours_of_words(vectors, [word], k)[word]


def neighbours_of_words(vectors: "KeyedVectors", words: Iterable[str], k: int) -> dict[str, list[Neighbour] | None]:
    """`neighbours(vectors, word, k)` for each word, with one pass over the vectors per WORDS_PER_PRODUCT new words."""
    if k < 1:
        raise ValueError("k must be at least 1")
    keys = {word: word.strip().lower() for word in words}
    known = [key for key in dict.fromkeys(keys.values()) if key and key in vectors.key_to_index]
    with _kept_lock:
        kept = _kept.setdefault(vectors, {})
        answers = {key: kept[(key, k)] for key in known if (key, k) in kept}
    missing = [key for key in known if key not in answers]
    for start in range(0, len(missing), WORDS_PER_PRODUCT):
        chunk = missing[start : start + WORDS_PER_PRODUCT]
        answers.update(zip(chunk, _nearest(vectors, chunk, k)))
    if missing:
        with _kept_lock:
            if len(kept) + len(missing) > KEPT_PER_VECTORS:
                kept.clear()
            kept.update({(key, k): answers[key] for key in missing})
    return {word: list(answers[key]) if key in answers else None for word, key in keys.items()}


def _nearest(vectors: "KeyedVectors", keys: list[str], k: int) -> list[list[Neighbour]]:
    """The k nearest neighbours of each key, as gensim's most_similar computes them: the key's unit vector again
    normalised (`get_mean_vector`), dotted with every vector and divided by its norm; the key itself left out."""
    vectors.fill_norms()
    means = np.stack([vectors.get_mean_vector([key], pre_normalize=True, post_normalize=True) for key in keys])
    cosines = (means @ vectors.vectors.T) / vectors.norms  # (keys, vocabulary)
    rows = [vectors.key_to_index[key] for key in keys]
    return [[Neighbour(vectors.index_to_key[j], float(row[j])) for j in _top(row, k + 1) if j != own][:k]
            for row, own in zip(cosines, rows)]


def _top(row: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest values of `row`, largest first (ties by index).

    Exact: the n-th largest of every SAMPLE_STRIDE-th value is a lower bound of the n-th largest of all, so every
    one of the top n is at or above it; only those few candidates are sorted (a scan instead of a partition)."""
    sample = row[::SAMPLE_STRIDE]
    if sample.size >= n:
        floor = np.partition(sample, sample.size - n)[sample.size - n]
        candidates = np.flatnonzero(row >= floor)
    else:
        candidates = np.arange(row.size)
    order = np.lexsort((candidates, -row[candidates]))
    return candidates[order[:n]]
