"""Why SPLADE works: the router and the shared query. No logic lives here."""

from __future__ import annotations

import streamlit as st

from splade_demo.app_state import DEFAULT_QUERY, QUERY_KEY, render_sidebar

st.set_page_config(page_title="Why SPLADE works", page_icon="🔎", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Why SPLADE works", icon="🏠", default=True),
    st.Page("pages/p1_bm25.py", title="1 · What BM25 misses", icon="🔍", url_path="bm25"),
    st.Page("pages/p2_glove.py", title="2 · Static expansion (GloVe)", icon="🧭", url_path="glove"),
    st.Page("pages/p3_bert.py", title="3 · Contextual predictions (BERT)", icon="🧠", url_path="bert"),
    st.Page("pages/p4_splade.py", title="4 · SPLADE vectors", icon="🧮", url_path="splade"),
    st.Page("pages/p5_compare.py", title="5 · BM25 vs SPLADE", icon="⚖️", url_path="compare"),
]

# The query comes from the URL on first load and goes back into it on every run.
if QUERY_KEY not in st.session_state:
    st.session_state[QUERY_KEY] = st.query_params.get("q", DEFAULT_QUERY)
render_sidebar()
st.query_params["q"] = st.session_state[QUERY_KEY]
st.navigation(PAGES).run()
