"""Static nearest neighbours of a word: cosine similarity over word vectors (GloVe, Pennington et al. 2014)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


@dataclass(frozen=True)
class Neighbour:
    """One nearest neighbour of a word and its cosine similarity."""

    term: str
    similarity: float


def neighbours(vectors: "KeyedVectors", word: str, k: int = 10) -> list[Neighbour] | None:
    """The k nearest neighbours of the lower-cased `word` by cosine similarity; None when out of vocabulary.

    Identical to `vectors.most_similar(word, topn=k)` (norms are filled once at load time).
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    key = word.strip().lower()
    if not key or key not in vectors.key_to_index:
        return None
    return [Neighbour(term, float(similarity)) for term, similarity in vectors.most_similar(key, topn=k)]
