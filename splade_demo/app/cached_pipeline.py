"""The app's one pipeline per settings (`st.cache_resource`), over the cached resources, and the evaluations that
rank every labelled query through it. The SPLADE index comes from the shared background build (`progress`)."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import streamlit as st

from splade_demo.app.progress import ready_index, wait_for_build
from splade_demo.app.resources import (
    bm25_resource,
    corpus_resource,
    glove_resource,
    queries_resource,
    splade_encoder_resource,
    splade_index_build,
)
from splade_demo.app.results import ResultStore
from splade_demo.config import Settings
from splade_demo.retrieval.pipeline import (
    EVAL_DEPTH,
    EngineError,
    Pipeline,
    QueryResult,
    evaluate,
)

if TYPE_CHECKING:
    from splade_demo.retrieval.pipeline import SpladeIndex

EVALUATIONS_KEPT = 8  # page 5's evaluations (one per model, precision, corpus...) kept for every session


def splade_index_resource(model_name: str, precision: str, corpus_spec: str, cache_dir: str) -> "SpladeIndex":
    """The SPLADE document vectors, waiting for the shared background build (for the evaluation; pages use
    `progress.ready_index`, which never waits for encoding). Raises ModelUnavailable, CorpusError or IndexBuildError.
    """
    splade_encoder_resource(model_name, precision)  # a missing model is named here, a download shows its progress
    return wait_for_build(splade_index_build(model_name, precision, corpus_spec, cache_dir))


# -- the pipeline and the evaluation over every labelled query --------------------------------
def pipeline_resource(settings: Settings) -> Pipeline:
    """Every method's ranker for these settings, over the engine of SPLADE_DEMO_ENGINE (the memory engine's
    components are the cached resources above, each loaded on first use). Raises EngineError for a bad
    SPLADE_DEMO_ENGINE; the engine raises EngineError (or NotAvailable) when it cannot answer."""
    try:
        return _pipeline(settings)
    except ValueError as exc:
        raise EngineError(f"SPLADE_DEMO_ENGINE is not valid: {exc}") from None


@st.cache_resource(show_spinner=False)
def _pipeline(settings: Settings) -> Pipeline:
    cache_dir = str(settings.cache_dir)
    return Pipeline.from_settings(
        settings,
        corpus=partial(corpus_resource, settings.corpus),
        bm25=partial(bm25_resource, settings.corpus),
        vectors=partial(glove_resource, settings.glove, cache_dir),
        encoder=partial(splade_encoder_resource, settings.splade_model, settings.precision),
        splade_index=partial(splade_index_resource, settings.splade_model, settings.precision, settings.corpus,
                             cache_dir),
        splade_ready=partial(ready_index, settings),
    )


@st.cache_data(max_entries=16, show_spinner="Ranking every labelled query twice…")
def glove_evaluation(settings: Settings, n: int, weight: float) -> dict[str, list[QueryResult]]:
    """Per-query metrics of BM25 and GloVe-expanded BM25 over the labelled queries, cached."""
    ranker = pipeline_resource(settings).with_expansion(n, weight).ranker(["bm25", "glove-bm25"], EVAL_DEPTH)
    return evaluate(queries_resource(), ranker)


@st.cache_resource(show_spinner=False)
def _evaluation_store() -> ResultStore[dict[str, list[QueryResult]]]:
    """Evaluation results by settings, shared by every session (filled by `evaluation_resource`)."""
    return ResultStore(EVALUATIONS_KEPT)


def evaluation_resource(settings: Settings) -> dict[str, list[QueryResult]]:
    """Per-query metrics of every method over the labelled queries; the first call shows progress.

    A method the pipeline cannot rank by is left out (GloVe-BM25 when the static vectors cannot be loaded, or over
    an engine whose BM25 takes no weighted terms); an engine that cannot answer raises EngineError before any
    progress is drawn."""
    def compute() -> dict[str, list[QueryResult]]:
        pipeline = pipeline_resource(settings)
        pipeline.sources.encoder()  # the model and the index load (with their own messages) before the bar
        pipeline.splade_ready(wait=True)
        queries = queries_resource()
        bar = st.progress(0.0, text=f"Evaluating {len(queries)} labelled queries (first time only)…")
        results = pipeline.evaluate_supported(
            queries,
            on_progress=lambda done, total: bar.progress(done / total, text=f"Evaluated {done} of {total} queries…"),
        )
        bar.empty()
        return results

    key = (settings.splade_model, settings.precision, settings.corpus, str(settings.cache_dir), settings.glove,
           settings.engine)
    return _evaluation_store().get_or_compute(key, compute)
