"""The `memory` engine: the corpus, its BM25 index and its SPLADE matrix in this process (the default)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping, Sequence, TypeVar

import numpy as np

from splade_demo.data.corpus import Corpus, Passage
from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.bm25 import BM25Index, TermContribution
from splade_demo.retrieval.engines import Bm25Stats, EngineSpec
from splade_demo.retrieval.ranking import Hit, top_k

if TYPE_CHECKING:  # the index module imports torch, which BM25 never needs
    from splade_demo.retrieval.splade_index import SpladeIndex

T = TypeVar("T")
Given = "T | Callable[[], T]"  # a component, or its loader (called on each use: the loader caches)


def _get(given: "Given[T]") -> T:
    return given() if callable(given) else given


class MemoryEngine:
    """BM25 over the analysed corpus and the scipy SPLADE matrix; each component is given or loaded on use.

    `ready` (optional) hands out the SPLADE index without waiting, None while it is being built (the app's
    background build); without it the index is loaded (or built) when first asked for.
    """

    spec = EngineSpec("memory")

    def __init__(self, corpus: "Given[Corpus]", splade: "Given[SpladeIndex] | None" = None,
                 bm25: "Given[BM25Index] | None" = None,
                 ready: "Callable[[], SpladeIndex | None]" | None = None) -> None:
        self._corpus, self._splade, self._ready = corpus, splade, ready
        self._bm25 = bm25 if bm25 is not None else None
        self._own_bm25: BM25Index | None = None

    def __len__(self) -> int:
        return len(self.corpus)

    @property
    def corpus(self) -> Corpus:
        return _get(self._corpus)

    @property
    def bm25(self) -> BM25Index:
        if self._bm25 is not None:
            return _get(self._bm25)
        if self._own_bm25 is None:
            self._own_bm25 = BM25Index(self.corpus)
        return self._own_bm25

    @property
    def splade(self) -> "SpladeIndex":
        if self._splade is None:
            raise LookupError("the memory engine was opened without a SPLADE index")
        return _get(self._splade)

    def splade_ready(self, wait: bool = False) -> bool:
        if self._ready is None or wait:
            self.splade  # noqa: B018 - loads (or builds) the index, raising what stops it
            return True
        return self._ready() is not None

    def search_splade(self, query_vector: np.ndarray, k: int) -> list[Hit]:
        return top_k(self.splade.scores(query_vector), self.corpus, k)

    def search_bm25(self, query_terms: Sequence[str] | Mapping[str, float], k: int) -> list[Hit]:
        return top_k(self.bm25.score(query_terms), self.corpus, k)

    def splade_scores(self, query_vector: np.ndarray, doc_ids: Sequence[str]) -> np.ndarray:
        return self.splade.scores(query_vector, self._positions(doc_ids))

    def bm25_scores(self, query_terms: Sequence[str] | Mapping[str, float], doc_ids: Sequence[str]) -> np.ndarray:
        return np.asarray(self.bm25.score(query_terms), dtype=np.float64)[self._positions(doc_ids)]

    def doc_vector(self, doc_id: str) -> np.ndarray:
        return self.splade.doc_vector(self._position(doc_id))

    def passage(self, doc_id: str) -> Passage:
        return self.corpus.passages[self._position(doc_id)]

    def doc_terms(self, doc_id: str) -> list[str]:
        p = self.passage(doc_id)
        return analyze(f"{p.title} {p.section} {p.text}")  # as BM25Index analyses it

    def bm25_stats(self, terms: Sequence[str]) -> Bm25Stats:
        return Bm25Stats(len(self.corpus), self.bm25.avgdl, {t: self.bm25.idf(t) for t in terms})

    def bm25_explain(self, query_terms: Sequence[str] | Mapping[str, float], doc_id: str) -> list[TermContribution]:
        return self.bm25.explain(query_terms, self._position(doc_id))

    def truncation(self, doc_id: str) -> int | None:
        position = self._position(doc_id)
        index = self.splade
        return int(index.n_tokens[position]) if index.truncated[position] else None

    def index_note(self) -> str | None:
        error = self.splade.save_error
        return f"The vectors could not be saved to the cache folder ({error}); they are kept in memory only." \
            if error else None

    def in_process(self, feature: str) -> "MemoryEngine":
        return self

    def describe(self, public: bool | None = None) -> str:
        return f"memory: in-process BM25 and SPLADE matrix, {len(self.corpus):,} passages"

    def close(self) -> None:
        return None

    def _position(self, doc_id: str) -> int:
        try:
            return self.corpus.index_of(doc_id)
        except KeyError:
            raise LookupError(f"no passage with id {doc_id!r}") from None

    def _positions(self, doc_ids: Sequence[str]) -> np.ndarray:
        return np.array([self._position(d) for d in doc_ids], dtype=np.int64)
