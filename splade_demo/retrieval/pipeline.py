"""The one retrieval pipeline: the rankers bm25 | glove-bm25 | splade | hybrid of one corpus under one settings.

Every ranking, score and explanation input goes through one `Engine` (`retrieval/engines/`): the in-process
`MemoryEngine` by default, or Milvus (SPLADE_DEMO_ENGINE). `Pipeline.from_settings` chooses the engine and
builds the loaders it needs; the app passes its cached loaders instead. Components load when a method first
needs them, so BM25 never waits for a model. The choice of method is made here and nowhere else: `rank_query`.

`app/`, `views/`, `explain/` and `commands/` reach retrieval through this module and the public types it
re-exports below.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Callable, Literal, Mapping, Sequence, get_args

import numpy as np

from splade_demo.config import Settings
from splade_demo.data.corpus import Corpus, LabelledQuery, load_corpus
from splade_demo.models.glove_vectors import load_vectors
from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.once import Once
from splade_demo.retrieval.analyzer import analyze, analyze_tokens
from splade_demo.retrieval.bm25 import BM25Index, TermContribution
from splade_demo.retrieval.engines import Engine, EngineError, NotAvailable, parse_engine_spec
from splade_demo.retrieval.engines.memory import MemoryEngine
from splade_demo.retrieval.engines.opener import LazyMilvus
from splade_demo.retrieval.evaluation import EVAL_DEPTH, QueryResult, evaluate, summary_rows
from splade_demo.retrieval.fusion import reciprocal_rank_fusion
from splade_demo.retrieval.glove_expansion import ADDED, RAISED, expand_query
from splade_demo.retrieval.neighbours import neighbours
from splade_demo.retrieval.ranking import Hit, pages_in_order

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from splade_demo.models.hub_download import ProgressCallback
    from splade_demo.retrieval.index_build import BuildStatus, IndexBuild
    from splade_demo.retrieval.splade_encoder import EncodeProgress, SpladeEncoder, SpladeEncoding
    from splade_demo.retrieval.splade_index import SpladeIndex

# The public face of `retrieval/` for `app/` and `views/` (the layering test checks it); the types of the torch
# modules (BuildStatus, IndexBuild, SpladeEncoder, SpladeEncoding, SpladeIndex) are re-exported for type checking.
__all__ = ["ADDED", "BM25Index", "COMPARED", "EVAL_DEPTH", "Engine", "EngineError", "FUSION_DEPTH", "Hit", "METHODS",
           "MemoryEngine", "NotAvailable", "Pipeline", "QueryResult", "RAISED", "Sources", "TermContribution",
           "analyze", "analyze_tokens", "evaluate", "index_build", "load_or_build_index", "neighbours",
           "pages_in_order", "parse_engine_spec", "splade_encoder", "summary_rows"]

Method = Literal["bm25", "glove-bm25", "splade", "hybrid"]
METHODS: tuple[str, ...] = get_args(Method)
COMPARED: tuple[str, ...] = ("bm25", "splade", "hybrid")  # what page 5 and term editing set side by side
FUSION_DEPTH = 100  # passages from each ranking that reciprocal rank fusion sees
GLOVE_NEIGHBOURS = 3  # neighbours added per query word by glove-bm25
GLOVE_WEIGHT = 0.5  # scale of the neighbours' similarity weights


def parse_method(method: str) -> Method:
    """Validate a method name; raise ValueError listing the valid ones."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    return method  # type: ignore[return-value]


def hybrid_hits(bm25: list[Hit], splade: list[Hit], k: int) -> list[Hit]:
    """Reciprocal rank fusion (k = 60) of two rankings by passage id, each cut at FUSION_DEPTH by the caller."""
    by_id = {hit.id: hit for hit in [*splade, *bm25]}
    fused = reciprocal_rank_fusion([[h.id for h in bm25], [h.id for h in splade]])
    return [by_id[doc_id].at(rank, score) for rank, (doc_id, score) in enumerate(fused[:k], start=1)]


def _splade_modules() -> tuple[ModuleType, ModuleType, ModuleType, ModuleType]:
    """splade_encoder, splade_index, index_build, device: the modules that import torch, loaded when SPLADE is first
    used (torch takes seconds to import; BM25, GloVe and the CLI's other commands never wait for it)."""
    from splade_demo.retrieval import device, index_build, splade_encoder, splade_index  # lazy: torch

    return splade_encoder, splade_index, index_build, device


def splade_encoder(name: str, precision: str, shared: Callable[[], LoadedMLM] | None = None,
                   on_progress: "ProgressCallback | None" = None) -> "SpladeEncoder":
    """The one recipe for a SPLADE encoder: at fp32 over the `shared` fill-mask model when given; otherwise (int8,
    bf16, or nothing shared) it loads the model for itself (`on_progress` hears a download) and keeps only its own
    copy."""
    encoder_module = _splade_modules()[0]
    if shared is not None and precision == "fp32":
        return encoder_module.SpladeEncoder(shared(), precision="fp32")
    return encoder_module.SpladeEncoder(load_mlm(name, on_progress=on_progress), precision=precision, owns_model=True)


def load_or_build_index(encoder: "SpladeEncoder", corpus: Corpus, cache_dir: Path,
                        progress: "EncodeProgress | None" = None) -> "SpladeIndex":
    """The corpus's SPLADE document vectors: from the cache, or encoded now (`splade_index.load_or_build_index`)."""
    return _splade_modules()[1].load_or_build_index(encoder, corpus, cache_dir, progress=progress)


def index_build(encoder: "Callable[[], SpladeEncoder]", corpus: Corpus, cache_dir: Path,
                model_name: str, precision: str) -> "IndexBuild":
    """A background build of the corpus's SPLADE index, not started (`index_build.IndexBuild`). It encodes with the
    shared CPU `encoder`, or on the accelerator SPLADE_DEMO_DEVICE picks (default auto: cuda, then mps, then cpu)
    with an encoder of its own (`device.build_encoder_loader`)."""
    modules = _splade_modules()
    return modules[2].IndexBuild(modules[3].build_encoder_loader(model_name, precision, encoder), corpus, cache_dir)


@dataclass(frozen=True)
class Sources:
    """What the pipeline ranks with: one engine, and loaders for the SPLADE encoder and the static vectors."""

    engine: Engine
    encoder: Callable[[], "SpladeEncoder"]
    vectors: Callable[[], "KeyedVectors"]


def _missing(what: str) -> Callable[[], object]:
    def fail() -> object:
        raise ValueError(f"this pipeline was built without {what}")

    return fail


class Pipeline:
    """Every method's ranker over one engine; glove-bm25 adds `glove_neighbours` per word at `glove_weight`."""

    def __init__(self, sources: Sources, glove_neighbours: int = GLOVE_NEIGHBOURS,
                 glove_weight: float = GLOVE_WEIGHT) -> None:
        self.sources = sources
        self.glove_neighbours = glove_neighbours
        self.glove_weight = glove_weight

    @classmethod
    def from_settings(cls, settings: Settings, corpus_spec: str | None = None,
                      progress: "EncodeProgress | None" = None, engine_spec: str | None = None, *,
                      corpus: Callable[[], Corpus] | None = None, bm25: Callable[[], BM25Index] | None = None,
                      encoder: Callable[[], "SpladeEncoder"] | None = None,
                      splade_index: Callable[[], "SpladeIndex"] | None = None,
                      splade_ready: Callable[[], "SpladeIndex | None"] | None = None,
                      vectors: Callable[[], "KeyedVectors"] | None = None) -> "Pipeline":
        """The pipeline of SPLADE_DEMO_ENGINE (or `engine_spec`): each component loaded once, on first use, unless
        a loader is given (the app's cached ones; `splade_ready` hands out the index without waiting).
        `progress` hears an index build. Raises ValueError for a bad engine spec."""
        spec = parse_engine_spec(engine_spec or settings.engine)
        corpus_name = corpus_spec or settings.corpus
        get_encoder = encoder or Once(lambda: splade_encoder(settings.splade_model, settings.precision))
        get_vectors = vectors or Once(lambda: load_vectors(settings.glove, settings.cache_dir))
        if spec.kind != "memory":
            return cls(Sources(LazyMilvus(spec, corpus_name, Path(settings.cache_dir), get_encoder),
                               get_encoder, get_vectors))
        get_corpus = corpus or Once(lambda: load_corpus(corpus_name))

        def build_index() -> "SpladeIndex":
            return load_or_build_index(get_encoder(), get_corpus(), settings.cache_dir, progress=progress)

        engine = MemoryEngine(get_corpus, splade_index or Once(build_index),
                              bm25 or Once(lambda: BM25Index(get_corpus())), ready=splade_ready)
        return cls(Sources(engine, get_encoder, get_vectors))

    @classmethod
    def from_components(cls, bm25: BM25Index, encoder: "SpladeEncoder | None" = None,
                        splade_index: "SpladeIndex | None" = None, vectors: "KeyedVectors | None" = None) -> "Pipeline":
        """A pipeline over components already built (the corpus is the BM25 index's); missing ones raise on use."""
        engine = MemoryEngine(bm25.corpus, splade_index if splade_index is not None else _missing("a SPLADE index"),
                              bm25)
        return cls(Sources(engine, (lambda: encoder) if encoder is not None else _missing("a SPLADE encoder"),
                           (lambda: vectors) if vectors is not None else _missing("static vectors")))

    @property
    def engine(self) -> Engine:
        return self.sources.engine

    def with_expansion(self, n: int, weight: float) -> "Pipeline":
        """The same components, with glove-bm25 adding `n` neighbours per word at `weight`."""
        return Pipeline(self.sources, n, weight)

    def splade_ready(self, wait: bool = False) -> bool:
        """Can SPLADE rank now (False while the document vectors are built)? `wait`: load or build them first."""
        return self.engine.splade_ready(wait)

    def in_process(self, feature: str) -> MemoryEngine:
        """The corpus and its indexes in this process, for what needs every passage's score; `NotAvailable`
        (one sentence naming `feature`) with an engine that ranks elsewhere."""
        return self.engine.in_process(feature)

    def rank(self, method: str, query: str, k: int = 10) -> list[Hit]:
        """The top k passages for `query` by one method."""
        return self.rank_methods([method], query, k)[method]

    def rank_methods(self, methods: Sequence[str], query: str, k: int,
                     splade_vector: np.ndarray | None = None) -> dict[str, list[Hit]]:
        """The top k of each method for a query text (`splade_vector`: its SPLADE vector, already encoded)."""
        vector = (lambda: splade_vector) if splade_vector is not None else \
            (lambda: self.sources.encoder().encode_query(query).vector)
        return self.rank_query(methods, analyze(query), vector, k, text=query)

    def rank_query(self, methods: Sequence[str], bm25_terms: Sequence[str] | Mapping[str, float],
                   splade_vector: "np.ndarray | Callable[[], np.ndarray]", k: int, text: str = "") -> dict[str, list[Hit]]:
        """The top k of each method for a query as the methods see it: BM25's analysed (or weighted) terms and the
        SPLADE vector q (or its loader). BM25 and SPLADE rank once each; the hybrid fuses their top FUSION_DEPTH.
        glove-bm25 expands `text`."""
        chosen = [parse_method(m) for m in methods]
        depth = max(k, FUSION_DEPTH) if "hybrid" in chosen else k
        base: dict[str, list[Hit]] = {}

        def ranked(method: str) -> list[Hit]:
            if method not in base:
                if method == "bm25":
                    base[method] = self.bm25_ranking(bm25_terms, depth)
                else:
                    vector = splade_vector() if callable(splade_vector) else splade_vector
                    base[method] = self.splade_ranking(vector, depth)
            return base[method]

        results: dict[str, list[Hit]] = {}
        for method in chosen:
            if method == "glove-bm25":
                terms = expand_query(text, self.sources.vectors(), n=self.glove_neighbours, weight=self.glove_weight)
                results[method] = self.bm25_ranking(terms, k)
            elif method == "hybrid":
                results[method] = hybrid_hits(ranked("bm25")[:FUSION_DEPTH], ranked("splade")[:FUSION_DEPTH], k)
            else:
                results[method] = ranked(method)[:k]
        return results

    def bm25_ranking(self, terms: Sequence[str] | Mapping[str, float], k: int) -> list[Hit]:
        """The top k passages by BM25 for analysed (or weighted) query terms."""
        return self.engine.search_bm25(terms, k)

    def splade_ranking(self, query_vector: np.ndarray, k: int) -> list[Hit]:
        """The top k passages for an encoded SPLADE query (score q·d)."""
        return self.engine.search_splade(query_vector, k)

    def ranker(self, methods: Sequence[str], k: int) -> Callable[[str], Mapping[str, list[Hit]]]:
        """`query -> {method: top k}` for the evaluation loop (`evaluation.evaluate`)."""
        return lambda query: self.rank_methods(methods, query, k)

    def supports(self, method: str) -> bool:
        """Can this pipeline rank by `method` (its engine and models allow it)? Tried on a one-word query."""
        try:
            self.rank(method, "memory", 1)
        except NotAvailable:
            return False
        except EngineError:
            raise
        except Exception:  # noqa: BLE001 - a component that cannot load (GloVe vectors): the method is left out
            return False
        return True

    def evaluate_supported(self, queries: Sequence[LabelledQuery],
                           on_progress: Callable[[int, int], None] | None = None) -> dict[str, list[QueryResult]]:
        """Every method this pipeline can rank by, over the labelled `queries` at EVAL_DEPTH (page 5's evidence)."""
        methods = [m for m in METHODS if self.supports(m)]
        return evaluate(queries, self.ranker(methods, EVAL_DEPTH), on_progress=on_progress)
