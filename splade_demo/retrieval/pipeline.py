"""The one retrieval pipeline: the rankers bm25 | glove-bm25 | splade | hybrid of one corpus under one settings.

The CLI builds it from settings (`Pipeline.from_settings`); the app builds it from its cached resources and caches
it. Each component (corpus, BM25 index, GloVe vectors, SPLADE encoder and index) is loaded when a method first
needs it, so BM25 never waits for a model. The choice of method is made here and nowhere else: `rank_methods`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Literal, Mapping, Sequence, TypeVar, get_args

from splade_demo.config import Settings
from splade_demo.data.corpus import Corpus, load_corpus
from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.retrieval.fusion import reciprocal_rank_fusion
from splade_demo.retrieval.ranking import Hit, top_k

if TYPE_CHECKING:
    import numpy as np
    from gensim.models import KeyedVectors

    from splade_demo.retrieval.engines.opener import EngineOpener
    from splade_demo.retrieval.splade_encoder import EncodeProgress, SpladeEncoder
    from splade_demo.retrieval.splade_index import SpladeIndex

Method = Literal["bm25", "glove-bm25", "splade", "hybrid"]
METHODS: tuple[str, ...] = get_args(Method)
FUSION_DEPTH = 100  # passages from each ranking that reciprocal rank fusion sees
GLOVE_NEIGHBOURS = 3  # neighbours added per query word by glove-bm25
GLOVE_WEIGHT = 0.5  # scale of the neighbours' similarity weights

T = TypeVar("T")


def parse_method(method: str) -> Method:
    """Validate a method name; raise ValueError listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method  # type: ignore[return-value]


def bm25_hits(index: BM25Index, query: str, k: int) -> list[Hit]:
    """The top k passages by BM25 (Robertson & Zaragoza 2009; see `bm25.py`)."""
    return top_k(index.score(analyze(query)), index.corpus, k)


def glove_bm25_hits(
    index: BM25Index, vectors: "KeyedVectors", query: str, k: int, n: int = GLOVE_NEIGHBOURS, weight: float = GLOVE_WEIGHT
) -> list[Hit]:
    """The top k passages by BM25 over the GloVe-expanded query (`glove_expansion.py`)."""
    from splade_demo.retrieval.glove_expansion import expand_query

    return top_k(index.score(expand_query(query, vectors, n=n, weight=weight)), index.corpus, k)


def splade_hits(encoder: "SpladeEncoder", index: "SpladeIndex", query: str, k: int) -> list[Hit]:
    """The top k passages by SPLADE: the query encoded, then `splade_vector_hits`."""
    return splade_vector_hits(index, encoder.encode_query(query).vector, k)


def splade_vector_hits(index: "SpladeIndex", query_vector: "np.ndarray", k: int) -> list[Hit]:
    """The top k passages for an already encoded SPLADE query (score: the dot product q·d)."""
    return top_k(index.scores(query_vector), index.corpus, k)


def hybrid_hits(bm25: list[Hit], splade: list[Hit], k: int) -> list[Hit]:
    """Reciprocal rank fusion (k = 60) of two rankings by passage id, each cut at FUSION_DEPTH by the caller."""
    by_id = {hit.id: hit for hit in [*splade, *bm25]}
    fused = reciprocal_rank_fusion([[h.id for h in bm25], [h.id for h in splade]])
    return [replace(by_id[doc_id], rank=rank, score=score) for rank, (doc_id, score) in enumerate(fused[:k], start=1)]


@dataclass(frozen=True)
class Sources:
    """Where the pipeline gets each component: zero-argument loaders, called when a method needs the component.

    A loader may cache (the CLI's load once; the app's are its `st.cache_resource` functions).
    """

    corpus: Callable[[], Corpus]
    bm25: Callable[[], BM25Index]
    vectors: Callable[[], "KeyedVectors"]
    encoder: Callable[[], "SpladeEncoder"]
    splade_index: Callable[[], "SpladeIndex"]
    engine: "EngineOpener | None" = None  # a retrieval engine (Milvus) instead of the in-process indexes


def _once(load: Callable[[], T]) -> Callable[[], T]:
    """`load`, called at most once (thread-safe); later calls return its result."""
    lock, result = threading.Lock(), []

    def loaded() -> T:
        with lock:
            if not result:
                result.append(load())
            return result[0]

    return loaded


def _missing(what: str) -> Callable[[], T]:
    def fail() -> T:
        raise ValueError(f"this pipeline was built without {what}")

    return fail


def sources_from_settings(settings: Settings, corpus_spec: str | None = None,
                          progress: "EncodeProgress | None" = None) -> Sources:
    """Loaders for the command line: each component loaded once, on first use; `progress` hears an index build."""

    def vectors() -> "KeyedVectors":
        from splade_demo.models.glove_vectors import load_vectors

        return load_vectors(settings.glove, settings.cache_dir)

    def encoder() -> "SpladeEncoder":
        from splade_demo.models.loading import load_mlm
        from splade_demo.retrieval.splade_encoder import SpladeEncoder

        return SpladeEncoder(load_mlm(settings.splade_model), precision=settings.precision, owns_model=True)

    def splade_index() -> "SpladeIndex":
        from splade_demo.retrieval.splade_index import load_or_build_index

        return load_or_build_index(get_encoder(), get_corpus(), settings.cache_dir, progress=progress)

    get_corpus = _once(lambda: load_corpus(corpus_spec or settings.corpus))
    get_encoder = _once(encoder)
    return Sources(get_corpus, _once(lambda: BM25Index(get_corpus())), _once(vectors), get_encoder, _once(splade_index))


class Pipeline:
    """Every method's ranker over one corpus; glove-bm25 adds `glove_neighbours` per word at `glove_weight`."""

    def __init__(self, sources: Sources, glove_neighbours: int = GLOVE_NEIGHBOURS,
                 glove_weight: float = GLOVE_WEIGHT) -> None:
        self.sources = sources
        self.glove_neighbours = glove_neighbours
        self.glove_weight = glove_weight

    @classmethod
    def from_settings(cls, settings: Settings, corpus_spec: str | None = None,
                      progress: "EncodeProgress | None" = None, engine_spec: str | None = None,
                      encoder: "Callable[[], SpladeEncoder] | None" = None) -> "Pipeline":
        """The CLI's pipeline: in-process indexes, or the engine of SPLADE_DEMO_ENGINE / `engine_spec` (Milvus);
        `encoder` loads an engine pipeline's SPLADE encoder from elsewhere (the app's cached one)."""
        from splade_demo.retrieval.engines import parse_engine_spec

        spec = parse_engine_spec(engine_spec or settings.engine)
        if spec.kind == "memory":
            return cls(sources_from_settings(settings, corpus_spec, progress))
        from splade_demo.retrieval.engines.opener import engine_sources

        return cls(engine_sources(settings, spec, corpus_spec, encoder=encoder))

    @classmethod
    def from_components(cls, bm25: BM25Index, encoder: "SpladeEncoder | None" = None,
                        splade_index: "SpladeIndex | None" = None, vectors: "KeyedVectors | None" = None) -> "Pipeline":
        """A pipeline over components already built (the corpus is the BM25 index's); missing ones raise on use."""
        def given(component: T | None, what: str) -> Callable[[], T]:
            return (lambda: component) if component is not None else _missing(what)

        return cls(Sources(lambda: bm25.corpus, lambda: bm25, given(vectors, "static vectors"),
                           given(encoder, "a SPLADE encoder"), given(splade_index, "a SPLADE index")))

    def with_expansion(self, n: int, weight: float) -> "Pipeline":
        """The same components, with glove-bm25 adding `n` neighbours per word at `weight`."""
        return Pipeline(self.sources, n, weight)

    def rank(self, method: str, query: str, k: int = 10) -> list[Hit]:
        """The top k passages for `query` by one method."""
        return self.rank_methods([method], query, k)[method]

    def rank_methods(self, methods: Sequence[str], query: str, k: int) -> dict[str, list[Hit]]:
        """The top k of each method. BM25 and SPLADE rank the query once each, and the hybrid fuses those rankings."""
        chosen = [parse_method(m) for m in methods]
        depth = max(k, FUSION_DEPTH) if "hybrid" in chosen else k
        base: dict[str, list[Hit]] = {}

        def ranked(method: str) -> list[Hit]:
            if method not in base:
                base[method] = (self.bm25_ranking(analyze(query), depth) if method == "bm25" else
                                self.splade_ranking(self.sources.encoder().encode_query(query).vector, depth))
            return base[method]

        results: dict[str, list[Hit]] = {}
        for method in chosen:
            if method == "glove-bm25":
                from splade_demo.retrieval.glove_expansion import expand_query

                terms = expand_query(query, self.sources.vectors(), n=self.glove_neighbours, weight=self.glove_weight)
                results[method] = self.bm25_ranking(terms, k)
            elif method == "hybrid":
                results[method] = hybrid_hits(ranked("bm25")[:FUSION_DEPTH], ranked("splade")[:FUSION_DEPTH], k)
            else:
                results[method] = ranked(method)[:k]
        return results

    def bm25_ranking(self, terms: Sequence[str] | Mapping[str, float], k: int) -> list[Hit]:
        """The top k passages by BM25 for analysed (or weighted) query terms, from the engine or in process."""
        if self.sources.engine is not None:
            return self.sources.engine(False).search_bm25(terms, k)
        return top_k(self.sources.bm25().score(terms), self.sources.corpus(), k)

    def splade_ranking(self, query_vector: "np.ndarray", k: int) -> list[Hit]:
        """The top k passages for an encoded SPLADE query (score q·d), from the engine or in process."""
        if self.sources.engine is not None:
            return self.sources.engine(True).search_splade(query_vector, k)
        return splade_vector_hits(self.sources.splade_index(), query_vector, k)

    def ranker(self, methods: Sequence[str], k: int) -> Callable[[str], Mapping[str, list[Hit]]]:
        """`query -> {method: top k}` for the evaluation loop (`evaluation.evaluate`)."""
        return lambda query: self.rank_methods(methods, query, k)

