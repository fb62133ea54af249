"""The SPLADE index builds in the background: pages 4 and 5 during and after the build, the sidebar's line, a
failed build, and a missing model (no build at all). The build is held on a threading.Event after its first batch,
so "during" is a known state, not a race."""

from __future__ import annotations

import errno
import threading
from pathlib import Path
from typing import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.data.corpus import load_corpus
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.index_build import IndexBuild
from splade_demo.retrieval.splade_index import document_text
from tests.conftest import REPO_ROOT, join_index_builds, open_page, tiny_app_environment

P4, P5 = "views/p4_splade.py", "views/p5_compare.py"
QUERY = "python memory management"
EVENT_TIMEOUT_S = 120  # a bound on a wait for an event, never a sleep


@pytest.fixture()
def tiny(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path) -> Path:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class Gate:
    """Holds the build after its first batch (2 of the 4 passages, the longest) until `release()`. `progress` is
    what the notices must say then: the first batch's share of the word pieces, as a percentage."""

    def __init__(self, progress: str) -> None:
        self.reached, self.opened = threading.Event(), threading.Event()
        self.progress = progress

    def release(self) -> None:
        self.opened.set()
        join_index_builds()


@pytest.fixture()
def gate(tiny: Path, monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> Iterator[Gate]:
    counter = SpladeEncoder(load_mlm(str(tiny_splade_dir)))
    texts = [document_text(p) for p in load_corpus(str(tiny_corpus_path)).passages]
    word_pieces = sorted((min(int(n), counter.max_length) for n in counter.token_lengths(texts)), reverse=True)
    held = Gate(f"building: {int(100 * sum(word_pieces[:2]) / sum(word_pieces))} %")
    encode = SpladeEncoder.encode_documents_with_info
    on_batch = IndexBuild.on_batch

    def two_per_batch(self, texts, batch_size=16, progress=None, store=None):
        return encode(self, texts, 2, progress, store)

    def hold(self, done: int, done_tokens: int) -> None:
        on_batch(self, done, done_tokens)
        held.reached.set()
        assert held.opened.wait(EVENT_TIMEOUT_S)

    monkeypatch.setattr(SpladeEncoder, "encode_documents_with_info", two_per_batch)
    monkeypatch.setattr(IndexBuild, "on_batch", hold)
    yield held
    held.release()


def infos(at: AppTest) -> list[str]:
    return [i.value for i in at.main.get("info")]


def sidebar_line(at: AppTest) -> str:
    return next((c.value for c in at.sidebar.caption if c.value.startswith("SPLADE index:")), "")


def first_run() -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=300)
    at.session_state["query"] = QUERY
    return at.run()


def test_pages_4_and_5_during_the_build_then_after_it(gate: Gate) -> None:
    page4 = open_page(P4, QUERY)  # the app's first run started the build
    assert gate.reached.wait(EVENT_TIMEOUT_S)
    page4.run()
    assert not page4.exception, page4.exception
    # The query side at once: metrics, the position x term grid, the vector, BERT and SPLADE side by side.
    assert {m.label for m in page4.metric} >= {"Non-zero terms", "L1 norm (sum of weights)"}
    assert len(page4.main.get("plotly_chart")) == 4
    notice = [i for i in infos(page4) if i.startswith("SPLADE index building")]
    assert notice and notice[0].startswith(f"SPLADE index {gate.progress}, about ") and " left" in notice[0]
    assert not [s for s in page4.selectbox if s.key == "p4_doc"]  # the document part waits

    page5 = open_page(P5, QUERY)
    assert not page5.exception, page5.exception
    assert len(page5.main.dataframe) == 1 and list(page5.main.dataframe[0].value.columns[:2]) == ["#", "title"]  # BM25 at once
    assert [h.value for h in page5.subheader] == ["BM25", "SPLADE", "Hybrid (RRF)"]
    assert len([i for i in infos(page5) if i.startswith(f"SPLADE index {gate.progress}")]) == 2  # SPLADE, hybrid
    assert not page5.main.get("plotly_chart")

    assert sidebar_line(first_run()).startswith(f"SPLADE index: {gate.progress}, about ")

    gate.release()  # the build ends; the notices' fragments would rerun the page; here the test reruns it
    page4.run()
    assert not page4.exception and not [i for i in infos(page4) if "SPLADE index" in i]
    assert page4.selectbox(key="p4_doc").options and len(page4.main.get("plotly_chart")) == 5
    page5.run()
    assert not page5.exception, page5.exception
    tables = [t for t in page5.main.dataframe if t.key is None]  # without the term editor's own tables (#15)
    assert len(tables) >= 4 and len(page5.main.get("plotly_chart")) >= 4  # 3 rankings + metrics; 4 charts, then #15
    assert [t.key for t in page5.main.dataframe if t.key] == ["p5_edit_terms"]  # the term editor came with the index
    assert "✅ answers" in set(page5.main.dataframe[1].value["relevant"])
    assert sidebar_line(first_run()) == "SPLADE index: ready"


def test_a_failed_build_says_so_once_and_the_other_pages_work(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def disk_full(self, texts, batch_size=16, progress=None, store=None):
        calls.append(1)
        raise OSError(errno.ENOSPC, "No space left on device", str(tiny / "splade_index"))

    monkeypatch.setattr(SpladeEncoder, "encode_documents_with_info", disk_full)
    page4 = open_page(P4, QUERY, index_built=True)
    assert not page4.exception, page4.exception
    warnings = [w.value for w in page4.main.warning]
    assert len(warnings) == 1 and warnings[0].startswith("The SPLADE index could not be built: the disk is full")
    assert len(page4.main.get("plotly_chart")) == 4  # the query side is all there
    page4.run()
    page5 = open_page(P5, QUERY)
    assert not page5.exception and len(page5.main.dataframe) == 1  # BM25
    assert len(page5.main.warning) == 1 and "the disk is full" in page5.main.warning[0].value  # once, in the SPLADE column
    assert calls == [1]  # reruns and other sessions do not start it again: no error loop
    assert sidebar_line(first_run()).startswith("SPLADE index: could not be built: the disk is full")
    page1 = open_page("views/p1_bm25.py", QUERY)
    assert not page1.exception and not page1.warning and page1.get("plotly_chart")


def test_a_missing_model_starts_no_build(tiny: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    starts: list[IndexBuild] = []
    monkeypatch.setattr(IndexBuild, "start", lambda self: starts.append(self))
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tmp_path / "no-such-model"))
    at = first_run()
    assert not at.exception and sidebar_line(at) == ""
    page4 = open_page(P4, QUERY)
    assert any("no-such-model" in w.value for w in page4.main.warning)
    assert starts == []
