"""`Searcher.rank` over an engine: what `search` and `evaluate` use when SPLADE_DEMO_ENGINE is milvus.

BM25 alone never loads the SPLADE model: any complete collection of the corpus answers it. SPLADE and
hybrid open the collection of the configured model (and refuse one built by another model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from splade_demo.analyzer import analyze
from splade_demo.config import Settings
from splade_demo.fusion import reciprocal_rank_fusion
from splade_demo.ranking import Hit
from splade_demo.retrieval.engines import Engine, parse_engine_spec
from splade_demo.search import FUSION_DEPTH, GLOVE_NEIGHBOURS, GLOVE_WEIGHT, Searcher, parse_method

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from splade_demo.splade import SpladeEncoder

EngineOpener = Callable[["SpladeEncoder | None"], Engine]


class EngineSearcher:
    """The four methods over an engine; the query encoder and the engine are opened on first use."""

    def __init__(self, open_engine: EngineOpener, encoder: Callable[[], "SpladeEncoder"],
                 vectors: Callable[[], "KeyedVectors"] | None = None) -> None:
        self._open, self._encoder_factory, self._vectors_factory = open_engine, encoder, vectors
        self._encoder: SpladeEncoder | None = None
        self._any: Engine | None = None  # opened for BM25 without a model
        self._full: Engine | None = None  # opened for the configured model

    @property
    def encoder(self) -> "SpladeEncoder":
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        return self._encoder

    def engine(self, with_model: bool) -> Engine:
        if self._full is not None:
            return self._full
        if with_model:
            self._full = self._open(self.encoder)
            return self._full
        if self._any is None:
            self._any = self._open(None)
        return self._any

    def rank(self, method: str, query: str, k: int = 10) -> list[Hit]:
        method = parse_method(method)
        if method == "bm25":
            return self.engine(False).search_bm25(analyze(query), k)
        if method == "glove-bm25":
            from splade_demo.glove_expansion import expand_query

            if self._vectors_factory is None:
                raise LookupError("glove-bm25 needs static vectors, and none were configured")
            terms = expand_query(query, self._vectors_factory(), n=GLOVE_NEIGHBOURS, weight=GLOVE_WEIGHT)
            return self.engine(False).search_bm25(terms, k)
        vector = self.encoder.encode_query(query).vector
        if method == "splade":
            return self.engine(True).search_splade(vector, k)
        splade = self.engine(True).search_splade(vector, FUSION_DEPTH)
        return fuse(self.engine(True).search_bm25(analyze(query), FUSION_DEPTH), splade, k)

    def close(self) -> None:
        for engine in (self._any, self._full):
            if engine is not None:
                engine.close()
        self._any = self._full = None


def fuse(bm25: list[Hit], splade: list[Hit], k: int) -> list[Hit]:
    """Reciprocal rank fusion by passage id (as `search.hybrid_hits` does by corpus position)."""
    by_id = {h.id: h for h in [*splade, *bm25]}
    fused = reciprocal_rank_fusion([[h.id for h in bm25], [h.id for h in splade]])
    return [Hit(rank, by_id[i].index, i, by_id[i].source, by_id[i].title, by_id[i].section, by_id[i].url, score)
            for rank, (i, score) in enumerate(fused[:k], start=1)]


def open_searcher(settings: Settings, corpus_spec: str | None = None, engine_spec: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> "Searcher | EngineSearcher":
    """Today's Searcher for the memory engine; an EngineSearcher over Milvus otherwise."""
    spec = parse_engine_spec(engine_spec or settings.engine)
    if spec.kind == "memory":
        return Searcher(settings, corpus_spec, progress=progress)
    from splade_demo.retrieval.engines.milvus import ModelKey, open_milvus
    from splade_demo.retrieval.engines.stream import corpus_info

    info = corpus_info(corpus_spec or settings.corpus, settings.cache_dir)

    def open_engine(encoder: "SpladeEncoder | None") -> Engine:
        return open_milvus(spec, info, ModelKey.of(encoder) if encoder is not None else None)

    def encoder() -> "SpladeEncoder":
        from splade_demo.models import load_mlm
        from splade_demo.splade import SpladeEncoder

        return SpladeEncoder(load_mlm(settings.splade_model), precision=settings.precision, owns_model=True)

    def vectors() -> "KeyedVectors":
        from splade_demo.glove import load_vectors

        return load_vectors(settings.glove, settings.cache_dir)

    return EngineSearcher(open_engine, encoder, vectors)
