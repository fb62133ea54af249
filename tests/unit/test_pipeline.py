"""The one pipeline: each method's ranking, the hybrid as RRF of the same two rankings, components loaded lazily;
the one evaluation loop; the results store the app shares between sessions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from splade_demo.app.results import ResultStore
from splade_demo.data.corpus import LabelledQuery, load_corpus
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate, evaluate_rankings
from splade_demo.retrieval.pipeline import (
    FUSION_DEPTH,
    METHODS,
    Pipeline,
    MemoryEngine,
    Sources,
    hybrid_hits,
    parse_method,
)
from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.ranking import top_k
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import build_index

QUERIES = [LabelledQuery("q1", "python memory management", {"c-api/memory": 2, "library/gc": 1}, "mismatch"),
           LabelledQuery("q2", "json decode error", {"library/json": 2}, "lexical")]


@pytest.fixture(scope="module")
def parts(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[BM25Index, SpladeEncoder, object]:
    from tests.conftest import write_tiny_corpus

    corpus = load_corpus(str(write_tiny_corpus(tmp_path_factory.mktemp("pipeline") / "tiny.jsonl")))
    encoder = SpladeEncoder(load_mlm(str(tiny_splade_dir)))
    return BM25Index(corpus), encoder, build_index(encoder, corpus)


def test_each_method_ranks_as_its_function_does(parts: tuple) -> None:
    bm25, encoder, index = parts
    pipeline = Pipeline.from_components(bm25, encoder, index)
    query = "python memory management"

    def bm25_hits(k: int) -> list:  # the oracles: every passage scored, then the top k
        return top_k(bm25.score(analyze(query)), bm25.corpus, k)

    def splade_hits(k: int) -> list:
        return top_k(index.scores(encoder.encode_query(query).vector), bm25.corpus, k)

    assert pipeline.rank("bm25", query, 3) == bm25_hits(3)
    assert pipeline.rank("splade", query, 3) == splade_hits(3)
    fused = hybrid_hits(bm25_hits(FUSION_DEPTH), splade_hits(FUSION_DEPTH), 3)
    assert pipeline.rank("hybrid", query, 3) == fused
    together = pipeline.rank_methods(["bm25", "splade", "hybrid"], query, 3)
    assert together == {m: pipeline.rank(m, query, 3) for m in ("bm25", "splade", "hybrid")}


def test_bm25_never_loads_a_model(parts: tuple) -> None:
    bm25, _, _ = parts
    loaded: list[str] = []

    def model(what: str):
        return lambda: loaded.append(what) or pytest.fail(f"loaded {what} for BM25")

    pipeline = Pipeline(Sources(MemoryEngine(bm25.corpus, model("index"), bm25), model("encoder"), model("vectors")))
    assert pipeline.rank("bm25", "garbage collector", 2)[0].source == "library/gc"
    assert loaded == []


def test_an_unknown_method_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="bm25, glove-bm25, splade, hybrid"):
        parse_method("dense")
    assert METHODS == ("bm25", "glove-bm25", "splade", "hybrid")


def test_the_evaluation_loop_scores_every_method_of_every_query(parts: tuple) -> None:
    bm25, encoder, index = parts
    pipeline = Pipeline.from_components(bm25, encoder, index)
    progress: list[tuple[int, int]] = []
    results = evaluate(QUERIES, pipeline.ranker(["bm25", "splade"], EVAL_DEPTH),
                       on_progress=lambda done, total: progress.append((done, total)))
    assert list(results) == ["bm25", "splade"] and progress == [(1, 2), (2, 2)]
    for method, per_query in results.items():
        expected = evaluate_rankings(QUERIES, {q.id: pipeline.rank(method, q.text, EVAL_DEPTH) for q in QUERIES})
        assert per_query == expected


def test_the_results_store_computes_each_key_once_and_keeps_a_bounded_number() -> None:
    store: ResultStore[int] = ResultStore(max_entries=2)
    calls: list[str] = []
    release = threading.Event()

    def slow() -> int:
        calls.append("a")
        release.wait(30)
        return 1

    threads = [threading.Thread(target=store.get_or_compute, args=("a", slow)) for _ in range(4)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(30)
    assert calls == ["a"] and store.get_or_compute("a", lambda: 2) == 1  # computed once, for every session
    store.get_or_compute("b", lambda: 2)
    store.get_or_compute("a", lambda: 3)  # used: now the most recent
    store.get_or_compute("c", lambda: 4)  # over the bound: "b", the least recently used, goes
    assert len(store) == 2 and "b" not in store and "a" in store and "c" in store


def test_a_failed_computation_stores_nothing() -> None:
    store: ResultStore[int] = ResultStore(max_entries=2)
    with pytest.raises(RuntimeError):
        store.get_or_compute("a", lambda: (_ for _ in ()).throw(RuntimeError("no model")))
    assert "a" not in store and store.get_or_compute("a", lambda: 5) == 5
