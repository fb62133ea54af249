"""The app over Milvus (#16): pages 1, 4 and 5 with SPLADE_DEMO_ENGINE=milvus:<tmp>/x.db rank as the memory engine
does; the sidebar names the engine; a missing collection is one warning and page 3 keeps working.

The tiny corpus is indexed into the embedded milvus-lite by the real tiny SPLADE (fp32, exact), as
tests/unit/test_engines.py does; the app runs at the same precision so it opens that collection.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT, open_page, tiny_app_environment, write_tiny_corpus

QUERY = "python memory management"
# What needs every passage's score in this process says so once; page 4's context diff ranks through the engine.
NOT_AVAILABLE = {"views/p1_bm25.py": "Placing the labelled pages", "views/p4_splade.py": None,
                 "views/p5_compare.py": "Explaining any labelled page"}


@pytest.fixture(scope="module")
def milvus_db(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(corpus path, .db path): the tiny corpus indexed into milvus-lite with the tiny SPLADE at fp32."""
    import os

    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.engines import parse_engine_spec
    from splade_demo.retrieval.engines.milvus import embedded_unavailable
    from splade_demo.retrieval.engines.milvus_index import index_into_milvus
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    if (unavailable := embedded_unavailable()) is not None:  # Windows: only the tests over an embedded .db skip
        pytest.skip(unavailable)
    folder = tmp_path_factory.mktemp("app_engine")
    corpus = write_tiny_corpus(folder / "tiny.jsonl")
    db = folder / "x.db"
    encoder = SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="fp32")
    report = index_into_milvus(parse_engine_spec(f"milvus:{db}"), encoder, str(corpus),
                               Path(os.environ["SPLADE_DEMO_CACHE"]))
    assert report["complete"]
    return corpus, db


def environment(mp: pytest.MonkeyPatch, model_dir: Path, corpus: Path, engine: str) -> None:
    tiny_app_environment(mp, model_dir, corpus)
    mp.setenv("SPLADE_DEMO_PRECISION", "fp32")
    mp.setenv("SPLADE_DEMO_ENGINE", engine)


def page_hits(page: str, at: AppTest) -> list:
    """What a page shows as its top hits: page 1's titles and scores, page 4's passage choices, page 5's tables."""
    if page == "views/p1_bm25.py":
        return [element.proto.body for element in at.get("html")]  # rank, title, score and snippet
    if page == "views/p4_splade.py":
        return list(at.selectbox(key="p4_doc").options)
    return [t.value[["title", "section"]].values.tolist() + t.value["score"].round(2).tolist() for t in at.dataframe[:3]]


def no_problem(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]


@pytest.mark.parametrize("page", ["views/p1_bm25.py", "views/p4_splade.py", "views/p5_compare.py"])
def test_pages_over_milvus_show_the_memory_engines_top_hits(page: str, milvus_db: tuple[Path, Path],
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           tiny_splade_dir: Path) -> None:
    corpus, db = milvus_db
    environment(monkeypatch, tiny_splade_dir, corpus, "memory")
    memory = open_page(page, QUERY, timeout=600, index_built=True)
    no_problem(memory)
    environment(monkeypatch, tiny_splade_dir, corpus, f"milvus:{db}")
    milvus = open_page(page, QUERY, timeout=600)
    no_problem(milvus)
    assert page_hits(page, milvus) == page_hits(page, memory) != []
    if page == "views/p1_bm25.py":  # the per-term BM25 bars: our formula over the engine's terms and statistics
        engine, ours = ([(trace["y"], trace["x"]) for trace in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
                        for at in (milvus, memory))
        assert [y for y, _ in engine] == [y for y, _ in ours]
        assert [x for _, x in engine] == [pytest.approx(x, abs=1e-3) for _, x in ours]
    unavailable = [i.value for i in milvus.info if "not available with this engine" in i.value]
    if NOT_AVAILABLE[page] is None:
        assert unavailable == []
    else:
        assert len(unavailable) == 1 and unavailable[0].startswith(NOT_AVAILABLE[page]), unavailable
    # page 1: the per-term bars; page 4: query and document figures; page 5: slope chart and both breakdowns
    assert len(milvus.get("plotly_chart")) == len(memory.get("plotly_chart"))
    if page == "views/p5_compare.py":  # the evaluation over the labelled queries, through the engine
        metrics = [at.dataframe[3].value.query("method != 'glove-bm25'").reset_index(drop=True) for at in (milvus, memory)]
        assert metrics[0].round(6).equals(metrics[1].round(6)), (metrics[0], metrics[1])


def test_sidebar_names_the_engine_and_no_build_starts(milvus_db: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                      tiny_splade_dir: Path) -> None:
    corpus, db = milvus_db
    environment(monkeypatch, tiny_splade_dir, corpus, f"milvus:{db}")
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=600).run()
    assert not at.exception
    captions = [c.value for c in at.sidebar.caption]
    assert any(c.startswith(f"Engine: milvus:{db}") for c in captions), captions
    assert not any(c.startswith("SPLADE index:") for c in captions)
    monkeypatch.setenv("SPLADE_DEMO_PUBLIC", "1")
    public = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=600).run()
    shown = [c.value for c in public.sidebar.caption if c.value.startswith("Engine:")]
    assert shown and str(db) not in shown[0] and "milvus" in shown[0]


def test_missing_collection_is_one_warning_and_page_three_works(milvus_db: tuple[Path, Path], tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                tiny_splade_dir: Path) -> None:
    _, db = milvus_db
    other = tmp_path / "other.jsonl"  # a corpus the database holds no collection of
    lines = write_tiny_corpus(tmp_path / "tiny.jsonl").read_text(encoding="utf-8").splitlines()[:-1]
    other.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert all(json.loads(line) for line in lines)
    environment(monkeypatch, tiny_splade_dir, other, f"milvus:{db}")
    for page in ("views/p1_bm25.py", "views/p4_splade.py", "views/p5_compare.py"):
        at = open_page(page, QUERY, timeout=600)
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.warning) == 1, [w.value for w in at.warning]
        assert "no index of corpus" in at.warning[0].value and "index --corpus" in at.warning[0].value
    page_three = open_page("views/p3_bert.py", QUERY, timeout=600)
    assert not page_three.exception and not page_three.warning
    assert page_three.get("plotly_chart")


def test_unreachable_server_is_one_warning(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path,
                                           tiny_corpus_path: Path) -> None:
    environment(monkeypatch, tiny_splade_dir, tiny_corpus_path, "milvus:http://127.0.0.1:9")
    at = open_page("views/p1_bm25.py", QUERY, timeout=600)
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.warning) == 1 and "cannot reach Milvus" in at.warning[0].value, [w.value for w in at.warning]


def test_collection_of_another_model_is_one_warning(milvus_db: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                    tiny_splade_dir: Path) -> None:
    corpus, db = milvus_db
    environment(monkeypatch, tiny_splade_dir, corpus, f"milvus:{db}")
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "int8")  # the collection holds the fp32 vectors
    for page in ("views/p4_splade.py", "views/p5_compare.py"):
        at = open_page(page, QUERY, timeout=600)
        assert not at.exception, [e.value for e in at.exception]
        assert len(at.warning) == 1 and "built by another model" in at.warning[0].value, [w.value for w in at.warning]
    bm25 = open_page("views/p1_bm25.py", QUERY, timeout=600)  # BM25 needs no model: any complete collection answers
    assert not bm25.exception and not bm25.warning and bm25.get("html")
