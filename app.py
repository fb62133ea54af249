"""Why SPLADE works: the router and the shared query. No logic lives here."""

from __future__ import annotations

import streamlit as st

from splade_demo.app.state import DEFAULT_QUERY, QUERY_KEY, render_sidebar

st.set_page_config(page_title="Why SPLADE works", page_icon="🔎", layout="wide")

# The pages live in views/, not pages/: Streamlit treats a `pages/` folder next to the entrypoint as
# old-style pages, and a fresh server then answers a deep link such as /bm25?q=... with "Page not found".
PAGES = [
    st.Page("views/home.py", title="Why SPLADE works", icon="🏠", default=True),
    st.Page("views/p1_bm25.py", title="1 · What BM25 misses", icon="🔍", url_path="bm25"),
    st.Page("views/p2_glove.py", title="2 · Static expansion (GloVe)", icon="🧭", url_path="glove"),
    st.Page("views/p3_bert.py", title="3 · Contextual predictions (BERT)", icon="🧠", url_path="bert"),
    st.Page("views/p4_splade.py", title="4 · SPLADE vectors", icon="🧮", url_path="splade"),
    st.Page("views/p5_compare.py", title="5 · BM25 vs SPLADE", icon="⚖️", url_path="compare"),
]

# The query comes from the URL on first load and goes back into it on every run.
if QUERY_KEY not in st.session_state:
    st.session_state[QUERY_KEY] = st.query_params.get("q", DEFAULT_QUERY)
render_sidebar()
st.query_params["q"] = st.session_state[QUERY_KEY]
st.navigation(PAGES).run()
