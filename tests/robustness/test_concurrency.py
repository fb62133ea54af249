"""Eight sessions at once on the BERT and SPLADE pages: zero errors, and the same results as one at a time.

The models are `st.cache_resource` objects shared by every session in the process (as on a server),
so the sessions' threads call the same tokenizer and model at the same time: the LoadedMLM lock must
hold. Two checks:
1. Eight threads, each driving its own AppTest (page 3, then page 4) with its own query, from a cold
   cache; what the pages render (charts, metrics, tables) must equal a one-at-a-time rerun.
2. Eight threads calling the shared cached functions (`splade_query_encoding`, `fill_mask_result`)
   must equal sequential calls on a freshly loaded model (exact equality, fp32).
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from splade_demo.app import resources
from splade_demo.retrieval import pipeline as pipeline_module
from splade_demo.app.state import MASKED_WORDS
from splade_demo.explain import fill_mask
from splade_demo.config import load_settings
from splade_demo.models.catalog import forget_loaded
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from tests.conftest import REPO_ROOT, join_index_builds, tiny_app_environment, write_tiny_corpus

SESSIONS = 8
QUERIES = [
    "python memory management",
    "free unused objects",
    "run code in parallel",
    "json decode error",
    "the python swallowed a rabbit whole",
    "garbage collector thresholds",
    "[MASK] reference counting",
    "thread safe queue 🐍 <b>lock</b>",
]
LONG_QUERIES = [f"{q} " + " ".join(f"memory{j} python garbage" for j in range(150 + 10 * i))
                for i, q in enumerate(QUERIES)]  # over 512 word pieces each
PAGES = ("views/p3_bert.py", "views/p4_splade.py")
FILL_MASK_K = 10
FILL_MASK_WORDS = MASKED_WORDS  # what pages 3 and 4 pass


@pytest.fixture(scope="module")
def tiny_env(tmp_path_factory: pytest.TempPathFactory, tiny_splade_dir: Path):
    corpus = write_tiny_corpus(tmp_path_factory.mktemp("concurrency") / "tiny.jsonl")
    with pytest.MonkeyPatch.context() as mp:
        tiny_app_environment(mp, tiny_splade_dir, corpus)
        yield tiny_splade_dir


@pytest.fixture()
def concurrent_apptests(monkeypatch: pytest.MonkeyPatch):
    """Let several AppTests run at once in one process.

    AppTest (Streamlit 1.67) swaps two process-wide things around each run: a mock Runtime in
    `Runtime._instance` (set back to None when the run ends: "Runtime hasn't been created!" in a session
    still running) and the config option `global.appTest` (patched and restored per run: a session whose
    flag was restored mid-run loses its widget values and falls back to the default models). Here both
    stay set for the whole test: `Runtime.instance()`/`exists()` fall back to one mock runtime built like
    AppTest's, and `global.appTest` is on throughout. Only the harness is patched: pages, package and
    caches run unchanged.
    """
    import contextlib
    from unittest.mock import MagicMock

    from streamlit.testing.v1 import app_test
    from streamlit.testing.v1.util import patch_config_options

    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    fallback = MagicMock(spec=Runtime)
    fallback.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    fallback.dataframe_source_mgr = DataframeSourceManager()
    fallback.cache_storage_manager = MemoryCacheStorageManager()
    monkeypatch.setattr(Runtime, "instance", classmethod(lambda cls: cls._instance or fallback))
    monkeypatch.setattr(Runtime, "exists", classmethod(lambda cls: True))
    monkeypatch.setattr(app_test, "patch_config_options", lambda options: contextlib.nullcontext())
    with patch_config_options({"global.appTest": True}):
        yield


def rendered(at: AppTest) -> dict[str, object]:
    """What a page shows in its main area: chart data, metrics, tables, messages and text. (The sidebar's model
    status says "loaded" or "cached" depending on which session got there first, so it is left out.)"""
    main = at.main
    return {
        "charts": [json.loads(c.proto.spec) for c in main.get("plotly_chart")],
        "metrics": [(m.label, m.value) for m in main.metric],
        "tables": [df.value.to_dict("split") for df in main.dataframe],
        "messages": [(kind, e.value) for kind in ("info", "warning", "error") for e in main.get(kind)],
        "markdown": [m.value for m in main.get("markdown")],
    }


ROUTER = """import streamlit as st

st.navigation([st.Page({bert!r}, default=True), st.Page({splade!r}, url_path="splade")]).run()
"""


@pytest.fixture(scope="module")
def router(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An entry point in a folder of its own with the two pages and no sidebar (pages are registered by absolute
    path, as app.py registers them, so their own links resolve from any folder, with no symlink).

    Through app.py, the second run of each AppTest re-sends the sidebar's widget states; with several AppTests
    at once, some sessions lost them and their model selectboxes fell back to the catalogue's first entry (the
    AppTests share process-wide harness state; sequential AppTests, and browsers, keep them). Without the
    sidebar the settings come from the environment alone.
    """
    folder = tmp_path_factory.mktemp("router")
    views = REPO_ROOT / "views"
    (folder / "router.py").write_text(ROUTER.format(bert=str(views / "p3_bert.py"), splade=str(views / "p4_splade.py")),
                                      encoding="utf-8")
    return folder / "router.py"


def session(entry: Path, query: str, barrier: threading.Barrier | None = None) -> dict[str, object]:
    """One visitor with its own query: the BERT page, then the SPLADE page."""
    at = AppTest.from_file(str(entry), default_timeout=300)
    at.session_state["query"] = query
    if barrier is not None:
        barrier.wait(timeout=120)
    shown: dict[str, object] = {}
    for page in PAGES:
        if page != PAGES[0]:
            at.switch_page(str(REPO_ROOT / page))  # registered by absolute path
        at.run()
        if page == "views/p4_splade.py":  # its document part waits for the background index build: after it
            join_index_builds()
            at.run()
        errors = [e.value for e in at.exception]
        assert not errors, f"{page} / {query!r}: {errors}"
        assert at.main.get("plotly_chart"), \
            f"{page} / {query!r}: no chart; title {[t.value for t in at.title]}, messages {rendered(at)['messages']}"
        shown[page] = rendered(at)
    return shown


def test_eight_sessions_at_once_match_one_at_a_time(tiny_env: Path, router: Path, monkeypatch: pytest.MonkeyPatch,
                                                    concurrent_apptests: None) -> None:
    loads: list[str] = []
    real_load = resources.load_mlm
    for module in (resources, pipeline_module):  # the fill-mask model; the SPLADE encoder's own copy (int8, bf16)
        monkeypatch.setattr(module, "load_mlm", lambda name, **kw: loads.append(name) or real_load(name, **kw))
    st.cache_resource.clear()  # a cold start: the eight sessions race to load the model and build the index
    st.cache_data.clear()
    forget_loaded()  # the sidebar's "loaded" status follows the cleared cache

    barrier = threading.Barrier(SESSIONS)
    start = time.perf_counter()
    with ThreadPoolExecutor(SESSIONS) as pool:
        futures = [pool.submit(session, router, query, barrier) for query in QUERIES]
        concurrent = [f.result(timeout=900) for f in futures]  # re-raises a session's failure
    concurrent_s = time.perf_counter() - start
    # Once per resource: the fill-mask model, and at int8 or bf16 the SPLADE encoder's own load (it keeps only its copy).
    expected = [str(tiny_env)] * (2 if load_settings().precision != "fp32" else 1)
    assert loads == expected, f"the tiny model was loaded {len(loads)} times, expected {len(expected)}"

    st.cache_data.clear()  # recompute every result, one session at a time, with the same shared model
    start = time.perf_counter()
    sequential = [session(router, query) for query in QUERIES]
    sequential_s = time.perf_counter() - start
    print(f"\n{SESSIONS} sessions x {len(PAGES)} pages: at once {concurrent_s:.1f} s, "
          f"one at a time {sequential_s:.1f} s; 0 errors; model loaded once")
    for query, a, b in zip(QUERIES, concurrent, sequential):
        for page in PAGES:
            assert a[page] == b[page], f"{page} / {query!r}: concurrent and sequential renders differ"
    # Different queries really rendered different things (the comparison above is not vacuous).
    assert len({json.dumps(c["views/p4_splade.py"]["metrics"]) for c in concurrent}) > 1


def test_shared_cached_functions_from_eight_threads_equal_a_fresh_model(tiny_env: Path) -> None:
    name = str(tiny_env)
    st.cache_data.clear()  # every call computes, on the one shared model
    barrier = threading.Barrier(SESSIONS)

    def call(i: int):
        barrier.wait(timeout=120)
        encoding = resources.splade_query_encoding(name, "fp32", QUERIES[i])
        predictions = resources.fill_mask_result(name, QUERIES[i], FILL_MASK_K, FILL_MASK_WORDS)
        # Over 512 word pieces: the tokenizer's truncation state is switched on and off around this call
        # while other threads use it (without the lock, a run of this kind once fed 684 positions to the model).
        long = resources.splade_encoder_resource(name, "fp32").encode_query(LONG_QUERIES[i])
        return encoding, predictions, long

    with ThreadPoolExecutor(SESSIONS) as pool:
        results = list(pool.map(call, range(SESSIONS)))

    fresh = load_mlm(name)  # a separate model object, nothing shared with the threads
    encoder = SpladeEncoder(fresh)
    for query, long_query, (encoding, predictions, long) in zip(QUERIES, LONG_QUERIES, results):
        expected = encoder.encode_query(query)
        assert np.array_equal(encoding.vector, expected.vector), query
        assert np.array_equal(encoding.activations, expected.activations), query
        assert encoding.tokens == expected.tokens, query
        assert predictions == fill_mask.predict(fresh, query, FILL_MASK_K, max_words=FILL_MASK_WORDS), query
        expected_long = encoder.encode_query(long_query)
        assert long.truncated and np.array_equal(long.vector, expected_long.vector), long_query[:40]
    assert len({r[0].nnz for r in results}) > 1
