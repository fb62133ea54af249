"""Why SPLADE works: the router and the shared query. No logic lives here."""

from __future__ import annotations

import streamlit as st

from splade_demo.app.guide import start_from_url
from splade_demo.app.pages import HOME, PAGES
from splade_demo.app.queue_notice import install_queue_notice
from splade_demo.app.sidebar import render_sidebar
from splade_demo.app.state import DEFAULT_QUERY, QUERY_KEY

st.set_page_config(page_title="Why SPLADE works", page_icon="🔎", layout="wide")

# The pages live in views/, not pages/: Streamlit treats a `pages/` folder next to the entrypoint as
# old-style pages, and a fresh server then answers a deep link such as /bm25?q=... with "Page not found".
NAVIGATION = [st.Page(p.script, title=p.title, icon=p.icon, url_path=p.url_path, default=p is HOME) for p in PAGES]

# The query comes from the URL on first load and goes back into it on every run.
if QUERY_KEY not in st.session_state:
    st.session_state[QUERY_KEY] = st.query_params.get("q", DEFAULT_QUERY)
start_from_url()  # ?step=N opens the guided talk at step N
install_queue_notice()  # a model call that waits for a free core says so on the page
render_sidebar()
st.query_params["q"] = st.session_state[QUERY_KEY]
st.navigation(NAVIGATION).run()
