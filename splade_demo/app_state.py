"""The one Streamlit-aware module: the shared query, settings overrides, and cached resources.

Models and indexes are `st.cache_resource` (shared by every session, never mutated; model
calls hold the LoadedMLM's lock). Results are `st.cache_data`. Pages read the query; only
app.py writes it.
"""

from __future__ import annotations

import streamlit as st

from splade_demo.bm25 import BM25Index
from splade_demo.config import PRECISIONS, Settings, load_settings
from splade_demo.corpus import Corpus, LabelledQuery, find_labelled, load_corpus, load_queries
from splade_demo.models import LoadedMLM, load_mlm
from splade_demo.query_check import CheckedQuery, check_query

QUERY_KEY = "query"
OVERRIDES_KEY = "settings_overrides"
DEFAULT_QUERY = "python memory management"
PRESET_QUERIES: tuple[str, ...] = (
    "python memory management",
    "free unused objects",
    "run code in parallel",
    "json decode error",
)


def get_query() -> str:
    """The shared query (DESIGN.md: pages read it, never own it)."""
    return str(st.session_state.get(QUERY_KEY, DEFAULT_QUERY))


def checked_query() -> CheckedQuery:
    """The shared query, cleaned and capped; shows the notice (if any) on the page."""
    checked = check_query(get_query())
    if checked.notice:
        st.info(checked.notice)
    return checked


def current_settings() -> Settings:
    """Environment settings with the sidebar's overrides applied."""
    try:
        base = load_settings()
    except ValueError as exc:  # a bad SPLADE_DEMO_PRECISION: say so, use the defaults
        st.warning(f"Ignoring a setting from the environment: {exc}")
        base = Settings()
    return base.with_overrides(**st.session_state.get(OVERRIDES_KEY, {}))


def _set_query(text: str) -> None:
    st.session_state[QUERY_KEY] = text


def render_sidebar() -> None:
    """The shared query box, the example queries and the settings (called by app.py only)."""
    with st.sidebar:
        st.text_area("Search query", key=QUERY_KEY, height=80, help="Every page follows this query.")
        st.caption("Examples")
        columns = st.columns(2)
        for i, preset in enumerate(PRESET_QUERIES):
            columns[i % 2].button(preset, key=f"preset_{i}", on_click=_set_query, args=(preset,), width="stretch")
        with st.expander("Models and corpus"):
            try:
                env = load_settings()
            except ValueError:
                env = Settings()
            overrides = {
                "corpus": st.selectbox("Corpus", ["demo", "full"], index=0 if env.corpus != "full" else 1,
                                       key="settings_corpus", help="SPLADE_DEMO_CORPUS") if env.corpus in ("demo", "full") else env.corpus,
                "splade_model": st.text_input("SPLADE model", env.splade_model, key="settings_splade", help="SPLADE_DEMO_SPLADE_MODEL"),
                "mlm_model": st.text_input("Fill-mask model", env.mlm_model, key="settings_mlm", help="SPLADE_DEMO_MLM_MODEL"),
                "glove": st.text_input("Static vectors", env.glove, key="settings_glove", help="SPLADE_DEMO_GLOVE"),
                "precision": st.selectbox("SPLADE document precision", PRECISIONS, index=PRECISIONS.index(env.precision),
                                          key="settings_precision", help="SPLADE_DEMO_PRECISION"),
            }
            st.session_state[OVERRIDES_KEY] = {k: (v.strip() if isinstance(v, str) else v) for k, v in overrides.items()}


@st.cache_resource(show_spinner="Loading the corpus…")
def corpus_resource(spec: str) -> Corpus:
    return load_corpus(spec)


@st.cache_resource(show_spinner="Indexing the corpus for BM25…")
def bm25_resource(spec: str) -> BM25Index:
    return BM25Index(corpus_resource(spec))


@st.cache_resource(show_spinner=False)
def queries_resource() -> list[LabelledQuery]:
    return load_queries()


def labelled_query(query: str) -> LabelledQuery | None:
    """The labelled query matching the shared query, if there is one."""
    return find_labelled(query, queries_resource())


@st.cache_resource(show_spinner="Loading the model (first use only)…")
def mlm_resource(name: str) -> LoadedMLM:
    """A masked-LM model shared by every session (fill-mask or SPLADE)."""
    return load_mlm(name)
