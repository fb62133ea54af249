"""Cached resources and results, shared by every session: the corpus, BM25, models, GloVe, the SPLADE encoder and
the index build (the pipeline over them is `cached_pipeline`).

Models and indexes are `st.cache_resource` (shared, never mutated; model calls hold the LoadedMLM's lock); results
are `st.cache_data`. torch and gensim are imported only when a page first needs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from splade_demo.data.corpus import Corpus, CorpusError, LabelledQuery, find_labelled, load_corpus, load_queries
from splade_demo.explain.fill_mask import FillMaskResult, MaskedPosition, predict, predict_word
from splade_demo.explain.glove import ExpansionComparison, WordNeighbours, compare_expansion, query_neighbours
from splade_demo.app.download import download_with_progress
from splade_demo.models.catalog import note_loaded
from splade_demo.models.glove_vectors import LoadedVectors, load_vectors_report
from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.once import Once
from splade_demo.retrieval.pipeline import BM25Index, index_build, splade_encoder

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from splade_demo.retrieval.pipeline import IndexBuild, SpladeEncoder, SpladeEncoding


# -- the corpus and the labelled queries ------------------------------------------------------
@st.cache_resource(show_spinner="Loading the corpus…")
def corpus_resource(spec: str) -> Corpus:
    return load_corpus(spec)


@st.cache_resource(show_spinner="Indexing the corpus for BM25…")
def bm25_resource(spec: str) -> BM25Index:
    return BM25Index(corpus_resource(spec))


@st.cache_resource(show_spinner=False)
def queries_resource() -> list[LabelledQuery]:
    """The labelled queries; raises CorpusError for a missing or bad file."""
    return load_queries()


def queries_problem() -> str | None:
    """Why the labelled queries cannot be used, or None when they can."""
    try:
        queries_resource()
    except CorpusError as exc:
        return str(exc)
    return None


def labelled_query(query: str) -> LabelledQuery | None:
    """The labelled query matching the shared query; None if there is none or the queries file is bad."""
    try:
        return find_labelled(query, queries_resource())
    except CorpusError:
        return None


# -- masked-LM and fill-mask ------------------------------------------------------------------
def mlm_resource(name: str) -> LoadedMLM:
    """A masked-LM model shared by every session (fill-mask or SPLADE); a first download shows its progress."""
    download_with_progress(name)
    return _mlm_loaded(name)


def _mlm_loaded(name: str) -> LoadedMLM:
    with st.spinner("Loading the model (first use only)…"):  # shown only if it takes more than half a second
        return mlm_once(name).get()


@st.cache_resource(show_spinner=False)
def mlm_once(name: str) -> Once[LoadedMLM]:
    def load() -> LoadedMLM:
        loaded = load_mlm(name)
        note_loaded(name)  # the sidebar's model status shows it as loaded
        return loaded

    return Once(load)


@st.cache_data(max_entries=256, show_spinner="Asking the masked-LM…")
def fill_mask_result(model_name: str, text: str, k: int, max_words: int | None = None) -> FillMaskResult:
    """Fill-mask predictions for `text` (each word masked in turn, or its own [MASK]s), cached."""
    return predict(mlm_resource(model_name), text, k, max_words=max_words)


@st.cache_data(max_entries=256, show_spinner=False)
def fill_mask_word(model_name: str, text: str, word: str, k: int) -> MaskedPosition | None:
    """Predictions for the first occurrence of `word` in `text` masked (None if absent), cached."""
    return predict_word(mlm_resource(model_name), text, word, k)


# -- static vectors ---------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading GloVe vectors…")
def glove_loaded(name: str, cache_dir: str) -> "LoadedVectors":
    """The static vectors with what was loaded and any fallback notice (shared, never mutated)."""
    return load_vectors_report(name, Path(cache_dir))


@st.cache_resource(show_spinner="Loading GloVe vectors…")
def glove_resource(name: str, cache_dir: str) -> "KeyedVectors":
    """The static vectors (GloVe) shared by every session: memory-mapped, norms filled, never mutated.

    Raises glove_vectors.VectorsUnavailable for a bad setting; `glove_loaded(...).notice` tells of a fallback.
    """
    return glove_loaded(name, cache_dir).vectors


@st.cache_data(max_entries=256, show_spinner=False)
def glove_query_neighbours(name: str, cache_dir: str, query: str, k: int) -> list["WordNeighbours"]:
    """Each query word's GloVe neighbours (stop words and out-of-vocabulary words flagged), cached."""
    return query_neighbours(glove_resource(name, cache_dir), query, k)


@st.cache_data(max_entries=64, show_spinner=False)
def glove_comparison(name: str, cache_dir: str, corpus: str, query: str, n: int, weight: float) -> "ExpansionComparison":
    """BM25 and GloVe-expanded BM25 rankings of one query, cached."""
    return compare_expansion(bm25_resource(corpus), glove_resource(name, cache_dir), query, n, weight)


# -- SPLADE -----------------------------------------------------------------------------------
def splade_encoder_resource(model_name: str, precision: str) -> "SpladeEncoder":
    """The SPLADE encoder shared by every session; a first download shows its progress."""
    download_with_progress(model_name)
    return _splade_encoder_loaded(model_name, precision)


def _splade_encoder_loaded(model_name: str, precision: str) -> "SpladeEncoder":
    with st.spinner("Loading the SPLADE model (first use only)…"):  # shown only if it takes more than half a second
        return _splade_encoder_once(model_name, precision).get()


@st.cache_resource(show_spinner=False)
def _splade_encoder_once(model_name: str, precision: str) -> Once["SpladeEncoder"]:
    """The encoder, loaded by the first page or index build that needs it (the build's thread calls `get`).

    fp32 uses the fill-mask model of the same name as it is. int8 and bf16 load the model for themselves and keep
    only their reduced copy, so the fp32 weights do not stay in memory next to it.
    """
    shared = mlm_once(model_name)  # here, not in the build's thread: Streamlit's cache is the script thread's

    def load() -> "SpladeEncoder":
        encoder = splade_encoder(model_name, precision, shared=shared)
        note_loaded(model_name)
        return encoder

    return Once(load)


@st.cache_data(max_entries=32, show_spinner=False)
def splade_query_encoding(model_name: str, precision: str, text: str) -> "SpladeEncoding":
    """A query's SPLADE vector and per-position activations at the encoder's precision, cached."""
    return splade_encoder_resource(model_name, precision).encode_query(text)


@st.cache_resource(show_spinner=False)
def splade_index_build(model_name: str, precision: str, corpus_spec: str, cache_dir: str) -> "IndexBuild":
    """One build per model, precision, corpus and cache folder, shared by every session; not started here.

    Its thread loads the encoder (`_splade_encoder_once`, shared with the pages) and builds or loads the index.
    Raises CorpusError."""
    return index_build(_splade_encoder_once(model_name, precision).get, corpus_resource(corpus_spec), Path(cache_dir),
                       model_name, precision)
