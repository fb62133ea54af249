"""Home: the thesis in a few sentences."""

import streamlit as st

from splade_demo.app.guide import render_guide, render_start
from splade_demo.app.pages import ARTICLE
from splade_demo.app.state import current_settings, get_query, presenter_mode

st.title("Why SPLADE works")
st.markdown(
    """
A programmer types **"python memory management"** into a documentation search box. The pages that
answer it talk about *garbage collection*, *reference counting* and *PyObject allocation*. BM25
matches words, so it walks past them: that is **vocabulary mismatch**.

The fix is **query expansion**, and the question is where the extra words come from. Static word
vectors (GloVe) offer neighbours with no sense of context: *python* brings snakes. A masked language
model such as BERT was trained to guess a hidden word from its neighbours, so it knows which
*python* this is. **SPLADE** runs that prediction head at every position of a text, keeps
log(1 + ReLU(logit)) of each vocabulary term and max-pools over positions. Fine-tuned for retrieval,
the result is a sparse vector of weighted terms: the text's own words plus the ones its context
implies, scored with an ordinary inverted index.
"""
)
st.markdown(
    "Follow one query through five pages. Change it in the sidebar at any time; the link in your "
    "address bar restores it."
)
st.caption("Current query")
st.code(get_query()[:200], language=None)
for page in ARTICLE:
    st.page_link(page.script, label=page.blurb)

# The guided talk (#15): its start button here; ?step=N opens any step directly.

render_guide("views/home.py", get_query(), current_settings(), presenter_mode())
render_start()
