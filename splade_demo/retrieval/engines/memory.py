"""The `memory` engine: an adapter over today's BM25Index and SpladeIndex, in the app's process."""

from __future__ import annotations

from functools import cached_property
from typing import Callable, Mapping, Sequence

import numpy as np

from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.data.corpus import Corpus, Passage
from splade_demo.retrieval.ranking import Hit, top_k
from splade_demo.retrieval.engines import Bm25Stats, EngineSpec
from splade_demo.retrieval.splade_index import SpladeIndex


class MemoryEngine:
    """BM25 over the analysed corpus and the scipy SPLADE matrix; both built on first use."""

    spec = EngineSpec("memory")

    def __init__(self, corpus: Corpus, splade: SpladeIndex | Callable[[], SpladeIndex] | None = None,
                 bm25: BM25Index | None = None) -> None:
        self.corpus = corpus
        self._splade = splade
        if bm25 is not None:
            self.__dict__["bm25"] = bm25

    def __len__(self) -> int:
        return len(self.corpus)

    @cached_property
    def bm25(self) -> BM25Index:
        return BM25Index(self.corpus)

    @property
    def splade(self) -> SpladeIndex:
        if self._splade is None:
            raise LookupError("the memory engine was opened without a SPLADE index")
        if callable(self._splade):
            self._splade = self._splade()
        return self._splade

    def search_splade(self, query_vector: np.ndarray, k: int) -> list[Hit]:
        return top_k(self.splade.scores(query_vector), self.corpus, k)

    def search_bm25(self, query_terms: Sequence[str] | Mapping[str, float], k: int) -> list[Hit]:
        return top_k(self.bm25.score(query_terms), self.corpus, k)

    def doc_vector(self, doc_id: str) -> np.ndarray:
        return self.splade.doc_vector(self._position(doc_id))

    def passage(self, doc_id: str) -> Passage:
        return self.corpus.passages[self._position(doc_id)]

    def doc_terms(self, doc_id: str) -> list[str]:
        p = self.passage(doc_id)
        return analyze(f"{p.title} {p.section} {p.text}")

    def bm25_stats(self, terms: Sequence[str]) -> Bm25Stats:
        return Bm25Stats(len(self.corpus), self.bm25.avgdl, {t: self.bm25.idf(t) for t in terms})

    def describe(self, public: bool | None = None) -> str:
        return f"memory: in-process BM25 and SPLADE matrix, {len(self.corpus):,} passages"

    def close(self) -> None:
        return None

    def _position(self, doc_id: str) -> int:
        try:
            return self.corpus.index_of(doc_id)
        except KeyError:
            raise LookupError(f"no passage with id {doc_id!r}") from None
