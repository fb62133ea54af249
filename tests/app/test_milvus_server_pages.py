"""Pages 1, 4 and 5 over a real Milvus server (milvus-lite's binary on TCP, `SPLADE_DEMO_ENGINE=milvus:http://…`)
show what they show over the memory engine, with no warning: the server's missing `GetVersion` is tolerated."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.app.test_engine_pages import QUERY, environment, no_problem, page_hits
from tests.conftest import open_page, write_tiny_corpus
from tests.milvus_server import MilvusServer, milvus_binary

pytestmark = pytest.mark.skipif(milvus_binary() is None, reason="milvus-lite's server binary is not installed")


@pytest.fixture(scope="module")
def server_corpus(milvus_server: MilvusServer, tiny_splade_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny corpus, indexed into the server by the tiny SPLADE at fp32."""
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.engines import parse_engine_spec
    from splade_demo.retrieval.engines.milvus_index import index_into_milvus
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    corpus = write_tiny_corpus(tmp_path_factory.mktemp("server_pages") / "tiny_pages.jsonl")
    encoder = SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="fp32")
    report = index_into_milvus(parse_engine_spec(milvus_server.engine), encoder, str(corpus),
                               Path(os.environ["SPLADE_DEMO_CACHE"]))
    assert report["complete"]
    return corpus


@pytest.mark.parametrize("page", ["views/p1_bm25.py", "views/p4_splade.py", "views/p5_compare.py"])
def test_pages_over_a_milvus_server_equal_the_memory_engine(page: str, server_corpus: Path, milvus_server: MilvusServer,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            tiny_splade_dir: Path) -> None:
    environment(monkeypatch, tiny_splade_dir, server_corpus, "memory")
    memory = open_page(page, QUERY, timeout=600, index_built=True)
    no_problem(memory)
    environment(monkeypatch, tiny_splade_dir, server_corpus, milvus_server.engine)
    server = open_page(page, QUERY, timeout=600)
    no_problem(server)
    assert page_hits(page, server) == page_hits(page, memory) != []
    assert len(server.get("plotly_chart")) == len(memory.get("plotly_chart"))
    if page == "views/p5_compare.py":  # the evaluation over the labelled queries, through the server
        metrics = [at.dataframe[3].value.query("method != 'glove-bm25'").reset_index(drop=True) for at in (server, memory)]
        assert metrics[0].round(6).equals(metrics[1].round(6)), (metrics[0], metrics[1])
