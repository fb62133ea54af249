"""Ranking by method (bm25 | glove-bm25 | splade | hybrid), shared by the CLI and evaluation.

`Searcher` loads what a method needs on first use, so BM25 never waits for a model.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Callable, Literal, get_args

from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.config import Settings
from splade_demo.data.corpus import Corpus, load_corpus
from splade_demo.retrieval.fusion import reciprocal_rank_fusion
from splade_demo.retrieval.ranking import Hit, top_k

if TYPE_CHECKING:
    import numpy as np
    from gensim.models import KeyedVectors

    from splade_demo.retrieval.splade_encoder import SpladeEncoder
    from splade_demo.retrieval.splade_index import SpladeIndex

Method = Literal["bm25", "glove-bm25", "splade", "hybrid"]
METHODS: tuple[str, ...] = get_args(Method)
FUSION_DEPTH = 100  # passages from each ranking that reciprocal rank fusion sees
GLOVE_NEIGHBOURS = 3  # neighbours added per query word by glove-bm25
GLOVE_WEIGHT = 0.5  # scale of the neighbours' similarity weights


def parse_method(method: str) -> Method:
    """Validate a method name; raise ValueError listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method  # type: ignore[return-value]


def bm25_hits(index: BM25Index, query: str, k: int) -> list[Hit]:
    return top_k(index.score(analyze(query)), index.corpus, k)


def glove_bm25_hits(
    index: BM25Index, vectors: "KeyedVectors", query: str, k: int, n: int = GLOVE_NEIGHBOURS, weight: float = GLOVE_WEIGHT
) -> list[Hit]:
    from splade_demo.retrieval.glove_expansion import expand_query

    return top_k(index.score(expand_query(query, vectors, n=n, weight=weight)), index.corpus, k)


def splade_hits(encoder: "SpladeEncoder", index: "SpladeIndex", query: str, k: int) -> list[Hit]:
    return splade_vector_hits(index, encoder.encode_query(query).vector, k)


def splade_vector_hits(index: "SpladeIndex", query_vector: np.ndarray, k: int) -> list[Hit]:
    """The top k passages for an already encoded SPLADE query (score: the dot product q·d)."""
    return top_k(index.scores(query_vector), index.corpus, k)


def hybrid_hits(bm25: list[Hit], splade: list[Hit], corpus: Corpus, k: int) -> list[Hit]:
    """Reciprocal rank fusion (k = 60) of two rankings, each cut at FUSION_DEPTH by the caller."""
    fused = reciprocal_rank_fusion([[h.index for h in bm25], [h.index for h in splade]])
    hits: list[Hit] = []
    for index, score in fused[:k]:
        p = corpus.passages[index]
        hits.append(Hit(len(hits) + 1, index, p.id, p.source, p.title, p.section, p.url, score))
    return hits


class Searcher:
    """Everything the four methods need for one corpus, loaded lazily."""

    def __init__(self, settings: Settings, corpus_spec: str | None = None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.settings = settings
        self.corpus_spec = corpus_spec or settings.corpus
        self.progress = progress

    @cached_property
    def corpus(self) -> Corpus:
        return load_corpus(self.corpus_spec)

    @cached_property
    def bm25(self) -> BM25Index:
        return BM25Index(self.corpus)

    @cached_property
    def vectors(self) -> "KeyedVectors":
        from splade_demo.models.glove_vectors import load_vectors

        return load_vectors(self.settings.glove, self.settings.cache_dir)

    @cached_property
    def splade_encoder(self) -> "SpladeEncoder":
        from splade_demo.models.loading import load_mlm
        from splade_demo.retrieval.splade_encoder import SpladeEncoder

        return SpladeEncoder(load_mlm(self.settings.splade_model), precision=self.settings.precision, owns_model=True)

    @cached_property
    def splade_index(self) -> "SpladeIndex":
        from splade_demo.retrieval.splade_index import load_or_build_index

        return load_or_build_index(self.splade_encoder, self.corpus, self.settings.cache_dir, progress=self.progress)

    def rank(self, method: str, query: str, k: int = 10) -> list[Hit]:
        method = parse_method(method)
        if method == "bm25":
            return bm25_hits(self.bm25, query, k)
        if method == "glove-bm25":
            return glove_bm25_hits(self.bm25, self.vectors, query, k)
        if method == "splade":
            return splade_hits(self.splade_encoder, self.splade_index, query, k)
        return hybrid_hits(bm25_hits(self.bm25, query, FUSION_DEPTH),
                           splade_hits(self.splade_encoder, self.splade_index, query, FUSION_DEPTH), self.corpus, k)
