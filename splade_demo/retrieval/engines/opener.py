"""The pipeline's sources over a retrieval engine (Milvus): the engine is opened on first use.

BM25 alone never loads the SPLADE model: any complete collection of the corpus answers it. SPLADE and hybrid
open the collection of the configured model (and refuse one built by another model).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

from splade_demo.config import Settings
from splade_demo.retrieval.engines import Engine, EngineSpec

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from splade_demo.retrieval.pipeline import Sources
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

EngineOpener = Callable[[bool], Engine]  # needs_model -> the engine


class CachedOpener:
    """Opens the engine once for BM25 (any model) and once for the configured model; thread-safe."""

    def __init__(self, open_engine: Callable[["SpladeEncoder | None"], Engine],
                 encoder: Callable[[], "SpladeEncoder"]) -> None:
        self._open, self._encoder = open_engine, encoder
        self._lock = threading.Lock()
        self._any: Engine | None = None
        self._full: Engine | None = None

    def __call__(self, needs_model: bool) -> Engine:
        with self._lock:
            if self._full is not None:
                return self._full
            if needs_model:
                self._full = self._open(self._encoder())
                return self._full
            if self._any is None:
                self._any = self._open(None)
            return self._any

    def close(self) -> None:
        with self._lock:
            for engine in (self._any, self._full):
                if engine is not None:
                    engine.close()
            self._any = self._full = None


def engine_sources(settings: Settings, spec: EngineSpec, corpus_spec: str | None = None,
                   encoder: Callable[[], "SpladeEncoder"] | None = None) -> "Sources":
    """Sources whose rankings come from the Milvus collection of `corpus_spec` (the corpus stays on disk);
    `encoder` is a loader of the SPLADE encoder already held elsewhere (the app's), instead of a second copy."""
    from splade_demo.retrieval.engines.milvus import ModelKey, open_milvus
    from splade_demo.retrieval.engines.stream import corpus_info
    from splade_demo.retrieval.pipeline import Sources, _missing, _once

    info = corpus_info(corpus_spec or settings.corpus, settings.cache_dir)

    def open_engine(encoder: "SpladeEncoder | None") -> Engine:
        return open_milvus(spec, info, ModelKey.of(encoder) if encoder is not None else None)

    def load_encoder() -> "SpladeEncoder":
        from splade_demo.models.loading import load_mlm
        from splade_demo.retrieval.splade_encoder import SpladeEncoder

        return SpladeEncoder(load_mlm(settings.splade_model), precision=settings.precision, owns_model=True)

    def vectors() -> "KeyedVectors":
        from splade_demo.models.glove_vectors import load_vectors

        return load_vectors(settings.glove, settings.cache_dir)

    get_encoder = encoder or _once(load_encoder)
    held = "the corpus in this process (the engine holds it)"
    return Sources(_missing(held), _missing(held), _once(vectors), get_encoder, _missing(held),
                   engine=CachedOpener(open_engine, get_encoder))
