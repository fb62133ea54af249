"""A real Milvus server (milvus-lite's binary on TCP, `tests/milvus_server.py`) against the memory engine.

`index`, `search`, `evaluate` and `explain` run through `milvus:http://127.0.0.1:PORT` and equal the memory engine.
The server answers `GetVersion` with UNIMPLEMENTED: the version is then unknown and the BM25 function itself is
the probe. A server killed mid-`index` is one plain line; the next run says the collection is incomplete, names
the command that resumes it, and that command resumes it.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Callable

import pytest

from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.engines import EngineError, parse_engine_spec
from splade_demo.retrieval.engines.milvus import ModelKey, _check_version, engine_error, open_milvus
from splade_demo.retrieval.engines.milvus_index import index_into_milvus
from splade_demo.retrieval.engines.stream import corpus_info
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from tests.conftest import REPO_ROOT, write_tiny_corpus
from tests.milvus_server import MilvusServer, milvus_binary

pytestmark = pytest.mark.skipif(milvus_binary() is None, reason="milvus-lite's server binary is not installed")
DEMO_PASSAGES = 60
QUERIES = ["python memory management", "garbage collector reference cycles", "json decode error"]


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus plus the first demo passages (as tests/unit/test_engines.py)."""
    path = write_tiny_corpus(tmp_path_factory.mktemp("server_corpus") / "small.jsonl")
    with gzip.open(REPO_ROOT / "corpus" / "demo.jsonl.gz", "rt", encoding="utf-8") as handle:
        demo = [next(handle) for _ in range(DEMO_PASSAGES)]
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(demo)
    return path


@pytest.fixture()
def tiny_settings(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tmp_path: Path) -> Path:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "fp32")
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPLADE_DEMO_ENGINE", raising=False)
    return tmp_path / "cache"


def _json(run_cli: Callable, *argv: str) -> object:
    result = run_cli(*argv, "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "_InactiveRpcError" not in result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow  # a Milvus server process and five CLI processes: about 16 s of the fast tier's 5 minutes
def test_cli_commands_through_a_server_equal_the_memory_engine(milvus_server: MilvusServer, small_corpus: Path,
                                                                tiny_settings: Path, run_cli: Callable,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = ["--corpus", str(small_corpus)]
    report = _json(run_cli, "index", *corpus, "--engine", milvus_server.engine)
    assert (report["complete"], report["docs"], report["engine"]) == (True, 4 + DEMO_PASSAGES, milvus_server.engine)
    assert _json(run_cli, "index", *corpus, "--engine", milvus_server.engine)["inserted"] == 0
    for method in ("bm25", "splade", "hybrid"):
        for query in QUERIES:
            memory, server = (_json(run_cli, "search", query, "--method", method, "--k", "20", *corpus,
                                    "--engine", engine) for engine in ("memory", milvus_server.engine))
            assert [r["id"] for r in server] == [r["id"] for r in memory] != [], (method, query)
            assert [r["score"] for r in server] == pytest.approx([r["score"] for r in memory], abs=1e-3)
    memory, server = (_json(run_cli, "evaluate", "--methods", "bm25,splade,hybrid", *corpus, "--engine", engine)
                      for engine in ("memory", milvus_server.engine))
    assert set(server) == set(memory) == {"bm25", "splade", "hybrid"}
    for method, metrics in memory.items():
        assert server[method] == pytest.approx(metrics, abs=1e-6), method
    explained = []
    for engine in ("memory", milvus_server.engine):  # `explain` takes its engine from SPLADE_DEMO_ENGINE
        monkeypatch.setenv("SPLADE_DEMO_ENGINE", engine)
        explained.append(_json(run_cli, "explain", QUERIES[0], "--doc", "mem#1", *corpus))
    assert explained[1] == explained[0] and explained[0]["splade"]["rank"] is not None


def test_a_server_without_get_version_has_an_unknown_version(milvus_server: MilvusServer) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=milvus_server.uri, timeout=5)
    try:
        with pytest.raises(Exception) as raw:  # what the server really answers
            client.get_server_version()
        one_line = str(engine_error(raw.value, milvus_server.engine))
        assert "UNIMPLEMENTED" in one_line and "\n" not in one_line and "<_InactiveRpcError" not in one_line
        assert _check_version(client, milvus_server.engine) is None
    finally:
        client.close()


class KillAfter:
    """An index progress that kills the server once `limit` passages are in."""

    def __init__(self, server: MilvusServer, limit: int) -> None:
        self.server, self.limit = server, limit

    def on_start(self, total: int) -> None:
        pass

    def on_batch(self, done: int) -> None:
        if done >= self.limit:
            self.server.kill()


@pytest.mark.slow  # pymilvus gives up on a dead server after its bounded retries (~15 s)
def test_a_server_killed_mid_index_is_one_line_then_resumes(tiny_settings: Path, tiny_splade_dir: Path,
                                                            tmp_path: Path, run_cli: Callable) -> None:
    server = MilvusServer(tmp_path / "killed.db").start()
    try:
        path = write_tiny_corpus(tmp_path / "tiny.jsonl")
        spec = parse_engine_spec(server.engine)
        encoder = SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="fp32")
        with pytest.raises(EngineError) as killed:
            index_into_milvus(spec, encoder, str(path), tiny_settings, KillAfter(server, 2), insert_batch=1)
        assert str(killed.value) == f"cannot reach Milvus at {server.engine}; is the server running?"
        server.start()  # the same database file, the same port
        corpus = ["--corpus", str(path), "--engine", server.engine]
        refused = run_cli("search", "garbage collector", "--method", "splade", *corpus)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        resume = f"`python -m splade_demo index --corpus {path} --engine {server.engine}`"
        assert "is incomplete: 2 of 4 passages; resume it with " + resume in refused.stderr
        report = _json(run_cli, "index", *corpus)
        assert (report["already_present"], report["inserted"], report["complete"]) == (2, 2, True)
        hits = _json(run_cli, "search", "garbage collector", "--method", "splade", *corpus)
        assert hits[0]["source"] == "library/gc"
        engine = open_milvus(spec, corpus_info(str(path), tiny_settings), ModelKey.of(encoder))
        assert len(engine) == 4
        engine.close()
    finally:
        server.stop()
