"""The one Streamlit-aware module: the shared query, settings overrides, and cached resources.

Models and indexes are `st.cache_resource` (shared by every session, never mutated; model
calls hold the LoadedMLM's lock). Results are `st.cache_data`. Pages read the query; only
app.py writes it.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, NamedTuple

import streamlit as st

from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.config import PRECISIONS, Settings, load_settings
from splade_demo.data.corpus import Corpus, LabelledQuery, find_labelled, load_corpus, load_queries
from splade_demo.explain.fill_mask import FillMaskResult, MaskedPosition, predict, predict_word
from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.data.query_check import CheckedQuery, check_query, encodable

QUERY_KEY = "query"
OVERRIDES_KEY = "settings_overrides"
DEFAULT_QUERY = "python memory management"
PRESET_QUERIES: tuple[str, ...] = (
    "python memory management",
    "free unused memory",
    "clone an object",
    "json decode error",
)


def get_query() -> str:
    """The shared query (DESIGN.md: pages read it, never own it); lone surrogates become U+FFFD."""
    return encodable(str(st.session_state.get(QUERY_KEY, DEFAULT_QUERY)))


def checked_query() -> CheckedQuery:
    """The shared query, cleaned and capped; shows the notice (if any) on the page."""
    checked = check_query(get_query())
    if checked.notice:
        st.info(checked.notice)
    return checked


class PageStart(NamedTuple):
    """What every page starts from."""

    query: CheckedQuery
    settings: Settings
    presenter: bool


def page_start() -> PageStart:
    """The checked shared query, the settings and presenter mode; an empty query stops the page after its notice."""
    query = checked_query()
    if query.empty:
        st.stop()
    return PageStart(query, current_settings(), bool(st.session_state.get(PRESENTER_KEY, False)))


@contextmanager
def stop_on(*errors: type[Exception]) -> Iterator[None]:
    """Show any of `errors` (a missing model, corpus or index) as a warning and stop the page there."""
    try:
        yield
    except errors as exc:
        st.warning(str(exc))
        st.stop()


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
                "glove": st.text_input("Static vectors", env.glove, key="settings_glove", help="SPLADE_DEMO_GLOVE"),
                "precision": st.selectbox("SPLADE precision", PRECISIONS, index=PRECISIONS.index(env.precision),
                                          key="settings_precision",
                                          help="SPLADE_DEMO_PRECISION: fp32 is exact; int8 is faster and smaller"),
            }
            st.session_state[OVERRIDES_KEY] = {k: (v.strip() if isinstance(v, str) else v) for k, v in overrides.items()}
            _render_upload(str(env.cache_dir))
        _render_model_status(current_settings())
        _render_presenter_tools()


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
    from splade_demo.models.catalog import note_loaded

    loaded = load_mlm(name)
    note_loaded(name)  # the sidebar's model status shows it as loaded
    return loaded


@st.cache_data(max_entries=256, show_spinner="Asking the masked-LM…")
def fill_mask_result(model_name: str, text: str, k: int, max_words: int | None = None) -> FillMaskResult:
    """Fill-mask predictions for `text` (each word masked in turn, or its own [MASK]s), cached."""
    return predict(mlm_resource(model_name), text, k, max_words=max_words)


@st.cache_data(max_entries=256, show_spinner=False)
def fill_mask_word(model_name: str, text: str, word: str, k: int) -> MaskedPosition | None:
    """Predictions for the first occurrence of `word` in `text` masked (None if absent), cached."""
    return predict_word(mlm_resource(model_name), text, word, k)


if TYPE_CHECKING:  # the static vectors (issue 3); gensim is imported only when they are first loaded
    from gensim.models import KeyedVectors

    from splade_demo.retrieval.evaluation import QueryResult
    from splade_demo.models.glove_vectors import LoadedVectors, WordNeighbours
    from splade_demo.retrieval.glove_expansion import ExpansionComparison


@st.cache_resource(show_spinner="Loading GloVe vectors…")
def glove_loaded(name: str, cache_dir: str) -> "LoadedVectors":
    """The static vectors with what was loaded and any fallback notice (shared, never mutated)."""
    from pathlib import Path

    from splade_demo.models.glove_vectors import load_vectors_report

    return load_vectors_report(name, Path(cache_dir))


@st.cache_resource(show_spinner="Loading GloVe vectors…")
def glove_resource(name: str, cache_dir: str) -> "KeyedVectors":
    """The static vectors (GloVe) shared by every session: memory-mapped, norms filled, never mutated.

    Raises glove.VectorsUnavailable for a bad setting; `glove_loaded(...).notice` tells of a fallback.
    """
    return glove_loaded(name, cache_dir).vectors


@st.cache_data(max_entries=256, show_spinner=False)
def glove_query_neighbours(name: str, cache_dir: str, query: str, k: int) -> list["WordNeighbours"]:
    """Each query word's GloVe neighbours (stop words and out-of-vocabulary words flagged), cached."""
    from splade_demo.models.glove_vectors import query_neighbours

    return query_neighbours(glove_resource(name, cache_dir), query, k)


@st.cache_data(max_entries=64, show_spinner=False)
def glove_comparison(name: str, cache_dir: str, corpus: str, query: str, n: int, weight: float) -> "ExpansionComparison":
    """BM25 and GloVe-expanded BM25 rankings of one query, cached."""
    from splade_demo.retrieval.glove_expansion import compare_expansion

    return compare_expansion(bm25_resource(corpus), glove_resource(name, cache_dir), query, n, weight)


@st.cache_data(max_entries=16, show_spinner="Ranking every labelled query twice…")
def glove_evaluation(name: str, cache_dir: str, corpus: str, n: int, weight: float) -> dict[str, list["QueryResult"]]:
    """Per-query metrics of BM25 and GloVe-expanded BM25 over the labelled queries, cached."""
    from splade_demo.retrieval.glove_expansion import evaluate_expansion

    return evaluate_expansion(queries_resource(), bm25_resource(corpus), glove_resource(name, cache_dir), n, weight)


# ---------------------------------------------------------------------------------------------
# Issue 8: model choices and status, your own corpus, presenter mode, links (sidebar helpers)

CUSTOM_MODEL_CHOICE = "custom…"
PRESENTER_KEY = "presenter"
UPLOAD_KEY = "corpus_upload"
UPLOADED_KEY = "uploaded_corpus"  # {"path": str, "documents": int}
UPLOAD_ERROR_KEY = "corpus_upload_error"
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


def _corpus_choice(env: Settings) -> str:
    """The corpus selectbox: demo, full, the environment's path and an uploaded corpus; returns the spec."""
    specs = {"demo": "demo", "full": "full"}
    if env.corpus not in specs:
        specs[env.corpus] = env.corpus
    uploaded = st.session_state.get(UPLOADED_KEY)
    if uploaded:
        specs[_upload_label(uploaded)] = uploaded["path"]
    labels = list(specs)
    if st.session_state.get("settings_corpus") not in labels:
        st.session_state.pop("settings_corpus", None)
    default = labels.index(env.corpus) if env.corpus in labels else 0
    label = st.selectbox("Corpus", labels, index=0 if "settings_corpus" in st.session_state else default,
                         key="settings_corpus", help="SPLADE_DEMO_CORPUS, or your upload below")
    return specs.get(label, env.corpus)


def _upload_label(uploaded: dict) -> str:
    return f"your upload ({uploaded['documents']:,} documents)"


def _model_choice(label: str, kind: str, env_value: str, key: str, help: str) -> str:
    """A selectbox of the catalogue's models plus "custom…" (then a text input); default from the environment."""
    from splade_demo.models.catalog import choices

    options = choices(kind) + [CUSTOM_MODEL_CHOICE]  # type: ignore[arg-type]
    choice_key = f"{key}_choice"
    default = options.index(env_value) if env_value in options else options.index(CUSTOM_MODEL_CHOICE)
    choice = st.selectbox(label, options, index=0 if choice_key in st.session_state else default, key=choice_key,
                          help=f"{help}: a model from the catalogue, or any hub id or local folder")
    if choice != CUSTOM_MODEL_CHOICE:
        return choice
    return st.text_input(f"{label}: hub id or local folder", "" if env_value in options else env_value, key=key,
                         help=help)


def _render_model_status(settings: Settings) -> None:
    """Each known model with its status (not cached / cached / loaded), licence and size on disk."""
    import pandas as pd

    from splade_demo.models.catalog import catalog_status, find, human_size

    with st.expander("Model status"):
        rows = catalog_status(settings)
        st.dataframe(
            pd.DataFrame([{"model": r.name, "status": r.state, "licence": r.licence, "size": human_size(r.size_bytes)}
                          for r in rows]),
            hide_index=True, width="stretch",
        )
        entry = find(settings.splade_model)
        if entry is not None and not entry.commercial_use:
            st.caption(f"The SPLADE model in use is licensed {entry.licence}: non-commercial use only. "
                       "The Apache-2.0 alternatives above are fine for commercial use.")
        st.caption("Not cached? Run `python -m splade_demo prefetch` once while online; "
                   "afterwards the app runs offline (`HF_HUB_OFFLINE=1`).")


def _render_upload(cache_dir: str) -> None:
    """Upload a CSV or JSONL of documents; once valid it becomes the corpus of pages 1, 4 and 5."""
    from splade_demo.data.upload import MAX_DOCUMENTS, MAX_TEXT_CHARS

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
    from pathlib import Path

    from splade_demo.data.corpus import CorpusError
    from splade_demo.data.upload import parse_upload, save_upload

    file = st.session_state.get(UPLOAD_KEY)
    st.session_state.pop(UPLOAD_ERROR_KEY, None)
    if file is None:  # removed: back to the default corpus
        if st.session_state.pop(UPLOADED_KEY, None) is not None:
            st.session_state.pop("settings_corpus", None)
        return
    try:
        corpus = parse_upload(file.name, file.getvalue())
        path = save_upload(corpus, Path(cache_dir))
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
    from urllib.parse import quote

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


def chart_config(name: str) -> dict:
    """`st.plotly_chart(..., config=chart_config("p1_contributions"))`: the modebar's PNG download, named and sharp
    (twice the resolution; three times in presenter mode, for slides)."""
    scale = 3 if st.session_state.get(PRESENTER_KEY) else 2
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": name, "scale": scale}}


# -- SPLADE (issue 5): the encoder, query vectors and the document index -----------------------
if TYPE_CHECKING:
    from splade_demo.retrieval.splade_encoder import SpladeEncoder, SpladeEncoding
    from splade_demo.retrieval.splade_index import IndexBuild, SpladeIndex


class IndexBuildError(RuntimeError):
    """The SPLADE document index could not be built (the message says why)."""


@st.cache_resource(show_spinner="Loading the SPLADE model (first use only)…")
def splade_encoder_resource(model_name: str, precision: str) -> "SpladeEncoder":
    """The SPLADE encoder shared by every session.

    fp32 uses `mlm_resource(model_name)` as it is. int8 loads the model for itself and keeps only
    its int8 copy, so the fp32 weights do not stay in memory next to it.
    """
    from splade_demo.models.catalog import note_loaded
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    if precision != "int8":
        return SpladeEncoder(mlm_resource(model_name), precision=precision)  # type: ignore[arg-type]
    encoder = SpladeEncoder(load_mlm(model_name), precision="int8", owns_model=True)
    note_loaded(model_name)
    return encoder


@st.cache_data(max_entries=32, show_spinner=False)
def splade_query_encoding(model_name: str, precision: str, text: str) -> "SpladeEncoding":
    """A query's SPLADE vector and per-position activations at the encoder's precision, cached."""
    return splade_encoder_resource(model_name, precision).encode_query(text)


@st.cache_resource(show_spinner=False)
def _splade_index_build(model_name: str, precision: str, corpus_spec: str, cache_dir: str) -> "IndexBuild":
    """One build per model, precision, corpus and cache folder, shared by every session."""
    from pathlib import Path

    from splade_demo.retrieval.splade_index import IndexBuild

    return IndexBuild(splade_encoder_resource(model_name, precision), corpus_resource(corpus_spec), Path(cache_dir))


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"


def splade_index_resource(model_name: str, precision: str, corpus_spec: str, cache_dir: str) -> "SpladeIndex":
    """The SPLADE document vectors: from disk when cached, otherwise built once for every session.

    The build runs in a background thread (a rerun does not stop it; a second session waits for the
    same build). Meanwhile this page shows `st.progress`, and from the first, timed, batch on, an
    estimate of the time left. Raises ModelUnavailable, CorpusError or IndexBuildError.
    """
    import time

    from splade_demo.retrieval.splade_index import is_cached

    build = _splade_index_build(model_name, precision, corpus_spec, cache_dir)
    if build.index is not None:
        return build.index
    cached = is_cached(build.encoder, build.corpus, build.cache_dir)
    build.start()
    total = len(build.corpus)
    intro = (f"Loading the SPLADE vectors of {total:,} passages from the cache…" if cached else
             f"First use: encoding {total:,} passages with `{model_name}` to build the SPLADE index. "
             "The vectors are saved to disk, so later runs reuse them.")
    notice, bar = st.empty(), st.empty()
    notice.info(intro)
    status = build.status()
    while not status.finished:
        if status.first_batch is None:
            text = "Tokenising and timing a first batch…" if not cached else "Loading…"
        else:
            docs, seconds = status.first_batch
            estimate = status.estimated_total_seconds or 0.0
            left = status.eta_seconds
            text = (f"{status.done:,} / {status.total:,} passages · about {_duration(left or 0)} left "
                    f"(whole build ≈ {_duration(estimate)}, from a first batch of {docs} passages in {seconds:.1f} s)")
        bar.progress(status.fraction, text=text)
        time.sleep(0.25)
        status = build.status()
    notice.empty()
    bar.empty()
    if build.index is None:
        raise IndexBuildError(f"The SPLADE index could not be built: {status.error or 'unknown error'}")
    return build.index


# -- Page 5 (issue 6): the evaluation over every labelled query, computed once with progress ------
if TYPE_CHECKING:
    from splade_demo.retrieval.evaluation import QueryResult


@st.cache_resource(show_spinner=False)
def _evaluation_store() -> dict[tuple[str, ...], dict[str, list["QueryResult"]]]:
    """Evaluation results by settings, shared by every session (filled by `evaluation_resource`)."""
    return {}


def evaluation_resource(splade_model: str, precision: str, corpus_spec: str, cache_dir: str,
                        glove: str) -> dict[str, list["QueryResult"]]:
    """Per-query metrics of every method over the labelled queries; the first call shows progress."""
    from splade_demo.explain.comparison import evaluate_all_methods

    key = (splade_model, precision, corpus_spec, cache_dir, glove)
    store = _evaluation_store()
    if key not in store:
        encoder = splade_encoder_resource(splade_model, precision)
        index = splade_index_resource(splade_model, precision, corpus_spec, cache_dir)
        try:
            vectors = glove_resource(glove, cache_dir)
        except Exception:  # noqa: BLE001 - GloVe is optional here: the table then leaves it out
            vectors = None
        queries = queries_resource()
        bar = st.progress(0.0, text=f"Evaluating {len(queries)} labelled queries (first time only)…")
        store[key] = evaluate_all_methods(
            queries, bm25_resource(corpus_spec), encoder, index, vectors,
            on_progress=lambda done, total: bar.progress(done / total, text=f"Evaluated {done} of {total} queries…"),
        )
        bar.empty()
    return store[key]
