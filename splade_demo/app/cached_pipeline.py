"""The app's one pipeline per settings (`st.cache_resource`), over the cached resources, and the evaluations that
rank every labelled query through it. The SPLADE index comes from the shared background build (`progress`)."""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING, Callable

import streamlit as st

from splade_demo.app.progress import ready_index, shared_build, wait_for_build
from splade_demo.app.resources import (
    bm25_once,
    bm25_resource,
    corpus_once,
    corpus_resource,
    glove_once,
    glove_resource,
    queries_resource,
    splade_encoder_once,
    splade_encoder_resource,
    splade_index_build,
)
from splade_demo.app.results import ResultStore
from splade_demo.config import Settings, early_evaluation_enabled
from splade_demo.data.corpus import CorpusError
from splade_demo.retrieval.pipeline import (
    EVAL_DEPTH,
    EngineError,
    Pipeline,
    QueryResult,
    evaluate,
    evaluate_when_ready,
    parse_engine_spec,
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
    """Per-query metrics of every method over the labelled queries; the first call shows progress (or a spinner
    while `evaluate_early` computes them).

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
            queries, on_progress=lambda done, total: bar.progress(done / total, text=f"Evaluated {done} of {total} queries…"),
        )
        bar.empty()
        return results

    store, key = _evaluation_store(), _evaluation_key(settings)
    with st.spinner("Evaluating the labelled queries…") if store.computing(key) else nullcontext():
        return store.get_or_compute(key, compute)


def _evaluation_key(settings: Settings) -> tuple[str, ...]:
    return (settings.splade_model, settings.precision, settings.corpus, str(settings.cache_dir), settings.glove,
            settings.engine)


@st.cache_resource(show_spinner=False)
def _early_evaluations() -> set[tuple[str, ...]]:
    """The evaluations `evaluate_early` has started on this server."""
    return set()


def evaluate_early(settings: Settings) -> None:
    """Start page 5's evaluation in the background, once the SPLADE index build of these settings has its index
    (`retrieval.early_evaluation`): page 5 then finds it done. The in-process engine only, once per settings, and
    not with SPLADE_DEMO_EARLY_EVALUATION=0. It shares the pages' corpus, indexes and models (their `Once`
    loaders) and calls no Streamlit. Raises CorpusError for a corpus that cannot be loaded."""
    key = _evaluation_key(settings)
    started = _early_evaluations()
    if key in started or not early_evaluation_enabled() or parse_engine_spec(settings.engine).kind != "memory":
        return
    build = shared_build(settings)
    if build is None:  # the model is not on this machine yet
        return
    try:
        queries = queries_resource()
    except CorpusError:  # page 5 says so
        return
    started.add(key)
    glove = glove_once(settings.glove, str(settings.cache_dir))
    pipeline = Pipeline.from_settings(
        settings,
        corpus=corpus_once(settings.corpus),
        bm25=bm25_once(settings.corpus),
        vectors=lambda: glove.get().vectors,
        encoder=splade_encoder_once(settings.splade_model, settings.precision),
        splade_index=build.wait,
        splade_ready=lambda: build.index,
    )
    store = _evaluation_store()

    def evaluate(stop_point: Callable[[int, int], None]) -> None:
        store.get_or_compute(key, lambda: pipeline.evaluate_supported(queries, on_progress=stop_point))

    evaluate_when_ready(build.wait, evaluate)
