"""A Milvus engine opened on first use: BM25 alone never loads the SPLADE model.

Any complete collection of the corpus answers BM25 and hands out passages; SPLADE opens the collection of the
configured model (and refuses one built by another model). Both are opened once, thread-safely.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np

from splade_demo.data.corpus import Passage
from splade_demo.retrieval.bm25 import TermContribution
from splade_demo.retrieval.engines import Bm25Stats, Engine, EngineSpec, not_available
from splade_demo.retrieval.engines.milvus import ModelKey, open_milvus
from splade_demo.retrieval.engines.stream import corpus_info
from splade_demo.retrieval.ranking import Hit

if TYPE_CHECKING:
    from splade_demo.retrieval.engines.memory import MemoryEngine
    from splade_demo.retrieval.splade_encoder import SpladeEncoder


class LazyMilvus:
    """The `Engine` over a Milvus collection of `corpus_spec`, opened for BM25 (any model) or for the model."""

    def __init__(self, spec: EngineSpec, corpus_spec: str, cache_dir: Path,
                 encoder: Callable[[], "SpladeEncoder"]) -> None:
        self.spec, self._corpus_spec, self._cache_dir, self._encoder = spec, corpus_spec, cache_dir, encoder
        self._lock = threading.Lock()
        self._any: Engine | None = None
        self._full: Engine | None = None

    def _open(self, needs_model: bool) -> Engine:
        with self._lock:  # held while opening: one connection per collection, whichever thread asks first
            if self._full is not None:
                return self._full
            if not needs_model and self._any is not None:
                return self._any
            info = corpus_info(self._corpus_spec, self._cache_dir)
            engine = open_milvus(self.spec, info, ModelKey.of(self._encoder()) if needs_model else None)
            if needs_model:
                self._full = engine
            else:
                self._any = engine
            return engine

    def __len__(self) -> int:
        return len(self._open(False))

    def search_splade(self, query_vector: np.ndarray, k: int) -> list[Hit]:
        return self._open(True).search_splade(query_vector, k)

    def search_bm25(self, query_terms: Sequence[str] | Mapping[str, float], k: int) -> list[Hit]:
        return self._open(False).search_bm25(query_terms, k)

    def splade_ready(self, wait: bool = False) -> bool:
        return self._open(True).splade_ready(wait)

    def splade_scores(self, query_vector: np.ndarray, doc_ids: Sequence[str]) -> np.ndarray:
        return self._open(True).splade_scores(query_vector, doc_ids)

    def bm25_scores(self, query_terms: Sequence[str] | Mapping[str, float], doc_ids: Sequence[str]) -> np.ndarray:
        return self._open(False).bm25_scores(query_terms, doc_ids)

    def doc_vector(self, doc_id: str) -> np.ndarray:
        return self._open(True).doc_vector(doc_id)

    def passage(self, doc_id: str) -> Passage:
        return self._open(False).passage(doc_id)

    def doc_terms(self, doc_id: str) -> list[str]:
        return self._open(False).doc_terms(doc_id)

    def bm25_stats(self, terms: Sequence[str]) -> Bm25Stats:
        return self._open(False).bm25_stats(terms)

    def bm25_explain(self, query_terms: Sequence[str] | Mapping[str, float], doc_id: str) -> list[TermContribution]:
        return self._open(False).bm25_explain(query_terms, doc_id)

    def truncation(self, doc_id: str) -> int | None:
        return self._open(True).truncation(doc_id)

    def index_note(self) -> str | None:
        return None

    def index_origin(self) -> str | None:
        return None  # the collection's vectors: indexed by `index --engine`, as the sidebar says

    def in_process(self, feature: str) -> "MemoryEngine":
        raise not_available(feature)

    def describe(self, public: bool | None = None) -> str:
        return self._open(False).describe(public)

    def close(self) -> None:
        with self._lock:
            for engine in {id(e): e for e in (self._any, self._full) if e is not None}.values():
                engine.close()
            self._any = self._full = None
