"""Load: 8 concurrent Chromium sessions against one real server, each walking the five pages with its own labelled
query, give no error, and the sessions of the first ALONE_QUERIES queries equal those queries' single-session runs
(all of them are compared in benchmarks/bench_load.py; here only two, to keep CI's share of this test short). The tiny SPLADE, the first
LOAD_PASSAGES passages of `demo`, the server's model-call admission on (its default). Figures for 8 and 16
sessions and at BERT-base size: benchmarks/bench_load.py, README "Many visitors at once"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e import load
from tests.e2e.conftest import server_env
from tests.e2e import server as launcher

SESSIONS = 8
LOAD_PASSAGES = 60  # the index builds in seconds; every page still has hits for the labelled queries
PAGE_TIMEOUT_S = 240
ALONE_QUERIES = 2


@pytest.fixture(scope="module")
def load_server(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory, artifacts: Path):
    if not launcher.CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); the load test is skipped")
    pytest.importorskip("playwright.async_api")
    from splade_demo.data.corpus import PASSAGE_FIELDS, load_corpus
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder
    from splade_demo.retrieval.splade_index import load_or_build_index
    from splade_demo.config import DEFAULT_PRECISION

    folder = tmp_path_factory.mktemp("load")
    corpus_path = folder / "demo-cut.jsonl"
    corpus_path.write_text("".join(json.dumps({f: getattr(p, f) for f in PASSAGE_FIELDS}) + "\n"
                                   for p in load_corpus("demo").passages[:LOAD_PASSAGES]), encoding="utf-8")
    cache = folder / "cache"
    load_or_build_index(SpladeEncoder(load_mlm(str(tiny_splade_dir)), DEFAULT_PRECISION), load_corpus(str(corpus_path)),
                        cache)  # built before the server starts: no page waits for it
    run_log = artifacts / "load-script-runs.log"
    run_log.unlink(missing_ok=True)
    env = {**server_env(tiny_splade_dir, cache), "SPLADE_DEMO_CORPUS": str(corpus_path),
           "SPLADE_DEMO_PRECISION": DEFAULT_PRECISION, "SPLADE_LOAD_RUN_LOG": str(run_log)}
    env.pop("SPLADE_DEMO_MODEL_SLOTS", None)
    log = artifacts / "streamlit-load.log"
    server, url = launcher.launch(env, log, module="tests.e2e.timed_streamlit")
    try:
        try:
            launcher.wait_healthy(server, url, log, 90)
        except launcher.ServerError as exc:
            pytest.fail(str(exc))
        yield server, url, run_log
    finally:
        launcher.stop(server)


def test_eight_sessions_at_once_give_no_error_and_single_session_results(load_server, artifacts: Path) -> None:
    server, url, run_log = load_server
    queries = load.labelled_queries(SESSIONS, REPO_ROOT / "corpus" / "queries.jsonl")
    alone = load.run_sessions(url, queries[:ALONE_QUERIES], concurrent=False, timeout_s=PAGE_TIMEOUT_S)
    assert load.errors_of(alone) == []
    single_runs = len(load.script_run_times(run_log))
    together = load.run_sessions(url, queries, concurrent=True, timeout_s=PAGE_TIMEOUT_S)
    server_runs = [wall for wall, _ in load.script_run_times(run_log)[single_runs:]]
    (artifacts / "load-8-sessions.txt").write_text(
        f"single session: page {load.summary(load.page_times(alone))}\n"
        f"{SESSIONS} sessions: page {load.summary(load.page_times(together))}; "
        f"server per script run {load.summary(server_runs)}; peak RSS {load.peak_rss_bytes(server.pid) / 2**20:.0f} MB\n")
    assert load.errors_of(together) == []
    assert load.mismatches([r for r in together if r.query in queries[:ALONE_QUERIES]], alone) == []
    assert len(server_runs) >= SESSIONS * len(load.WALK)  # every page of every session ran on the server
