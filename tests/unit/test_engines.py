"""Retrieval engines: the spec parser, and the embedded Milvus (milvus-lite 2.5.1) against the memory engine.

The real tiny SPLADE (fp32, exact) encodes the tiny corpus plus the first passages of `demo` once; the
Milvus index reuses the memory engine's cached vectors, so both engines hold the same ones.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from splade_demo.retrieval.analyzer import analyze
from splade_demo.cli import main
from splade_demo.data.corpus import CorpusError, load_corpus, load_queries
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.device import check_device
from splade_demo.retrieval.engines import EngineError, EngineSpec, NotAvailable, parse_engine_spec
from splade_demo.retrieval.engines.memory import MemoryEngine
from splade_demo.retrieval.engines.milvus import ModelKey, embedded_unavailable, engine_error, open_milvus
from splade_demo.retrieval.engines.milvus_index import index_into_milvus
from splade_demo.retrieval.engines.stream import corpus_info
from splade_demo.retrieval.pipeline import FUSION_DEPTH, Pipeline, Sources, hybrid_hits
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import load_or_build_index
from tests.conftest import REPO_ROOT, write_tiny_corpus

DEMO_PASSAGES = 60
# The embedded milvus-lite has no Windows wheel: the tests that open a local .db skip there; the rest run.
needs_milvus_lite = pytest.mark.skipif(embedded_unavailable() is not None, reason=str(embedded_unavailable()))


@pytest.fixture(scope="module")
def encoder(tiny_splade_dir: Path) -> SpladeEncoder:
    return SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="fp32")


@pytest.fixture(scope="module")
def built(encoder: SpladeEncoder, tmp_path_factory: pytest.TempPathFactory):
    """(corpus path, cache dir, memory engine, Milvus engine) over tiny + the first demo passages."""
    if (unavailable := embedded_unavailable()) is not None:
        pytest.skip(unavailable)
    folder = tmp_path_factory.mktemp("engines")
    path = write_tiny_corpus(folder / "small.jsonl")
    with gzip.open(REPO_ROOT / "corpus" / "demo.jsonl.gz", "rt", encoding="utf-8") as handle:
        demo = [next(handle) for _ in range(DEMO_PASSAGES)]
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(demo)
    cache = folder / "cache"
    corpus = load_corpus(str(path))
    memory = MemoryEngine(corpus, load_or_build_index(encoder, corpus, cache))
    spec = parse_engine_spec(f"milvus:{folder / 'small.db'}")
    report = index_into_milvus(spec, encoder, str(path), cache)
    assert report["complete"] and report["inserted"] == len(corpus)
    milvus = open_milvus(spec, corpus_info(str(path), cache), ModelKey.of(encoder))
    yield path, cache, memory, milvus
    milvus.close()


@pytest.mark.parametrize("value, kind, target", [
    ("", "memory", ""), ("memory", "memory", ""), ("milvus:/tmp/x/demo.db", "milvus", "/tmp/x/demo.db"),
    ("milvus:http://localhost:19530", "milvus", "http://localhost:19530"),
    ("milvus:https://user:pw@milvus.example:443", "milvus", "https://user:pw@milvus.example:443"),
])
def test_specs_parse(value: str, kind: str, target: str) -> None:
    spec = parse_engine_spec(value)
    assert (spec.kind, spec.target) == (kind, target)


@pytest.mark.parametrize("value, message", [
    ("elastic", "unknown engine"), ("milvus", "unknown engine"), ("milvus:", "names no Milvus"),
    ("milvus:/tmp/x.sqlite", "ending in .db"), ("milvus:/tmp/" + "a" * 40 + ".db", "at most 36"),
    ("milvus:grpc://h:1", "not supported"), ("milvus:http://host", "a host and a port"),
    ("milvus:http://h:99999", "invalid port"), ("milvus:http://h:1/db", "no path"),
])
def test_bad_specs_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_engine_spec(value)


def test_display_hides_paths_in_public_mode_and_credentials_always() -> None:
    assert parse_engine_spec("milvus:/srv/x/a.db").display(public=True) == "milvus (embedded milvus-lite)"
    shown = parse_engine_spec("milvus:https://u:secret@h.example:443").display(public=False)
    assert shown == "milvus:https://h.example:443" and "secret" not in shown


def test_top10_equals_the_memory_engine_on_labelled_queries(built, encoder: SpladeEncoder) -> None:
    _, _, memory, milvus = built
    for query in load_queries():
        vector = encoder.encode_query(query.text).vector
        mem, mil = memory.search_splade(vector, 10), milvus.search_splade(vector, 10)
        assert [h.id for h in mil] == [h.id for h in mem], query.text
        np.testing.assert_allclose([h.score for h in mil], [h.score for h in mem], atol=1e-3)
        assert [h.index for h in mil] == [h.index for h in mem]
        terms = analyze(query.text)
        assert [h.id for h in milvus.search_bm25(terms, 10)] == [h.id for h in memory.search_bm25(terms, 10)], query.text


def _unused() -> object:
    raise AssertionError("a pipeline over an engine needs no in-process index")


def test_hybrid_and_the_searcher_match_the_memory_path(built, encoder: SpladeEncoder) -> None:
    _, _, memory, milvus = built
    searcher = Pipeline(Sources(engine=milvus, encoder=lambda: encoder, vectors=_unused))
    query = "python memory management"
    vector = encoder.encode_query(query).vector
    expected = hybrid_hits(memory.search_bm25(analyze(query), FUSION_DEPTH), memory.search_splade(vector, FUSION_DEPTH),
                           10)
    got = searcher.rank("hybrid", query, 10)
    assert [(h.id, h.rank) for h in got] == [(h.id, h.rank) for h in expected]
    assert [h.id for h in searcher.rank("bm25", query, 5)] == [h.id for h in memory.search_bm25(analyze(query), 5)]


def test_explanations_get_the_same_inputs_from_milvus(built) -> None:
    _, _, memory, milvus = built
    doc_id = memory.corpus.passages[1].id
    np.testing.assert_array_equal(milvus.doc_vector(doc_id), memory.doc_vector(doc_id))
    assert milvus.passage(doc_id) == memory.passage(doc_id)
    assert milvus.doc_terms(doc_id) == memory.doc_terms(doc_id)
    terms = analyze("python memory management garbage zzzunknown")
    got, want = milvus.bm25_stats(terms), memory.bm25_stats(terms)
    assert got.n_docs == want.n_docs and got.avgdl == pytest.approx(want.avgdl, rel=1e-12)
    assert got.idf == pytest.approx(want.idf, rel=1e-12)
    with pytest.raises(LookupError):
        milvus.doc_terms("no-such-id")


def test_weighted_bm25_terms_are_refused_by_milvus(built) -> None:
    _, _, memory, milvus = built
    assert [h.id for h in milvus.search_bm25({"memori": 2}, 5)] == [h.id for h in memory.search_bm25({"memori": 2}, 5)]
    with pytest.raises(NotAvailable, match="weighted query terms .* is not available with this engine"):
        milvus.search_bm25({"memori": 0.5}, 5)


def test_a_collection_of_another_model_is_refused(built) -> None:
    path, cache, _, milvus = built
    other = ModelKey("other/splade", "0" * 16, "fp32", 256, 30522)
    with pytest.raises(EngineError, match="built by another model") as info:
        open_milvus(milvus.spec, corpus_info(str(path), cache), other)
    assert "other/splade" in str(info.value) and "\n" not in str(info.value)


class Interrupt(Exception):
    pass


class StopAfter:
    """A progress callback that interrupts the build after `limit` passages."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.total, self.done = limit, 0, [0]

    def on_start(self, total: int) -> None:
        self.total = total

    def on_batch(self, done: int) -> None:
        self.done.append(done)
        if self.limit is not None and done >= self.limit:
            raise Interrupt


@needs_milvus_lite
def test_an_interrupted_streamed_index_refuses_then_resumes(encoder: SpladeEncoder, tmp_path: Path) -> None:
    path = write_tiny_corpus(tmp_path / "tiny.jsonl")
    spec, cache = parse_engine_spec(f"milvus:{tmp_path / 'tiny.db'}"), tmp_path / "cache"
    streamed = {"in_memory_limit": 0, "chunk_size": 2, "insert_batch": 1}
    with pytest.raises(Interrupt):
        index_into_milvus(spec, encoder, str(path), cache, StopAfter(2), **streamed)
    info = corpus_info(str(path), cache)
    with pytest.raises(EngineError, match="incomplete: 2 of 4 passages; resume it with"):
        open_milvus(spec, info, ModelKey.of(encoder))
    progress = StopAfter(None)
    report = index_into_milvus(spec, encoder, str(path), cache, progress, **streamed)
    assert (report["already_present"], report["inserted"], report["complete"]) == (2, 2, True)
    assert progress.total == 4 and progress.done[-1] == 4
    again = index_into_milvus(spec, encoder, str(path), cache, **streamed)
    assert again["inserted"] == 0 and again["complete"]
    corpus = load_corpus(str(path))
    memory = MemoryEngine(corpus, load_or_build_index(encoder, corpus, cache))
    engine = open_milvus(spec, info, ModelKey.of(encoder))
    try:
        vector = encoder.encode_query("garbage collector reference cycles").vector
        mem, mil = memory.search_splade(vector, 4), engine.search_splade(vector, 4)
        assert [h.id for h in mil] == [h.id for h in mem]
        np.testing.assert_allclose([h.score for h in mil], [h.score for h in mem], atol=1e-3)
    finally:
        engine.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_is_one_clear_line(built, capsys: pytest.CaptureFixture[str]) -> None:
    path, cache, _, _ = built
    spec = parse_engine_spec(f"milvus:http://127.0.0.1:{_closed_port()}")
    with pytest.raises(EngineError, match="cannot reach Milvus at milvus:http://127.0.0.1:"):
        open_milvus(spec, corpus_info(str(path), cache))
    assert main(["search", "memory", "--engine", spec.display(False), "--corpus", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach Milvus") and err.count("\n") == 1 and "Traceback" not in err


def test_a_wrong_token_and_other_failures_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from pymilvus.exceptions import MilvusException

    refused = engine_error(MilvusException(code=1800, message="auth check failure, please check username"), "milvus:x")
    assert "refused the credentials" in str(refused) and "SPLADE_DEMO_MILVUS_TOKEN" in str(refused)
    import grpc

    class Unauthenticated(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAUTHENTICATED

    assert "refused the credentials" in str(engine_error(Unauthenticated("missing authorization in header"), "m"))
    monkeypatch.setenv("SPLADE_DEMO_PUBLIC", "1")
    other = engine_error(MilvusException(code=65535, message="segment /var/lib/milvus/x failed"), "milvus (server)")
    assert "/var/lib" not in str(other)


@needs_milvus_lite
def test_a_missing_database_names_no_path_in_public_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          tiny_corpus_path: Path) -> None:
    spec = parse_engine_spec(f"milvus:{tmp_path / 'absent.db'}")
    with pytest.raises(EngineError, match="no Milvus database") as private:
        open_milvus(spec, corpus_info(str(tiny_corpus_path)))
    assert str(tmp_path) in str(private.value)
    monkeypatch.setenv("SPLADE_DEMO_PUBLIC", "1")
    with pytest.raises(EngineError) as public:
        open_milvus(spec, corpus_info(str(tiny_corpus_path)))
    assert str(tmp_path) not in str(public.value)


def test_cli_search_through_milvus_equals_memory(built, monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path, cache, _, milvus = built
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "fp32")
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(cache))
    results = []
    for engine in ("memory", milvus.spec.display(False)):
        assert main(["search", "garbage collection", "--method", "hybrid", "--corpus", str(path),
                     "--engine", engine, "--json"]) == 0
        results.append([(r["id"], r["rank"]) for r in json.loads(capsys.readouterr().out)])
    assert results[0] == results[1] and results[0]


@needs_milvus_lite
def test_cli_index_into_milvus_twice_then_search(tiny_corpus_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                tiny_splade_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "fp32")
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SPLADE_DEMO_ENGINE", f"milvus:{tmp_path / 'cli.db'}")
    common = ["--corpus", str(tiny_corpus_path), "--json"]
    assert main(["index", *common]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["docs"], first["inserted"], first["complete"]) == (4, 4, True)
    assert main(["index", *common]) == 0
    assert json.loads(capsys.readouterr().out)["inserted"] == 0
    assert main(["search", "garbage collector", "--method", "splade", *common]) == 0
    assert json.loads(capsys.readouterr().out)[0]["source"] == "library/gc"


def test_corpus_identity_is_streamed_and_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_tiny_corpus(tmp_path / "tiny.jsonl")
    info = corpus_info(str(path), tmp_path)
    assert (info.content_hash, info.count) == (load_corpus(str(path)).content_hash, 4)
    import splade_demo.retrieval.engines.stream as stream

    monkeypatch.setattr(stream, "scan_corpus", lambda spec: pytest.fail("rescanned an unchanged file"))
    assert corpus_info(str(path), tmp_path) == info
    monkeypatch.undo()
    with path.open("a", encoding="utf-8") as handle:
        handle.write(path.read_text(encoding="utf-8").splitlines()[0] + "\n")
    with pytest.raises(CorpusError, match=r"tiny.jsonl:5: duplicate id 'gc#1' \(first at .*tiny.jsonl:1\)"):
        corpus_info(str(path), tmp_path)


def test_cuda_is_refused_clearly_without_a_gpu() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        check_device("cuda", "fp32")
    assert check_device("cpu", "int8") == "cpu"
    assert main(["index", "--device", "cuda", "--engine", "milvus:/tmp/never.db"]) == 2


# -- the Engine contract: both engines, the same tests, independent oracles -------------------------------------
@pytest.fixture(params=["memory", "milvus"])
def engine(request: pytest.FixtureRequest, built):
    _, _, memory, milvus = built
    return memory if request.param == "memory" else milvus


@pytest.fixture(scope="module")
def oracle(built, encoder: SpladeEncoder):
    """The corpus, its BM25 index and the dense float64 document matrix (the engines' shared vectors)."""
    _, _, memory, _ = built
    from splade_demo.retrieval.bm25 import BM25Index

    return memory.corpus, BM25Index(memory.corpus), memory.splade.matrix.toarray().astype(np.float64)


CONTRACT_QUERIES = ["python memory management", "garbage collector reference cycles", "json decode error"]


def _well_formed(hits) -> None:
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(h.score > 0 for h in hits)
    assert all((a.score, -a.index) >= (b.score, -b.index) for a, b in zip(hits, hits[1:]))


@pytest.mark.parametrize("query", CONTRACT_QUERIES)
def test_contract_rankings_equal_the_dense_oracles(engine, oracle, encoder: SpladeEncoder, query: str) -> None:
    corpus, bm25, dense = oracle
    vector = encoder.encode_query(query).vector
    want = dense @ vector.astype(np.float64)
    hits = engine.search_splade(vector, 8)
    _well_formed(hits)
    top = sorted((i for i in range(len(corpus)) if want[i] > 0), key=lambda i: (-want[i], i))[:8]
    assert [h.index for h in hits] == top and [h.id for h in hits] == [corpus.passages[i].id for i in top]
    np.testing.assert_allclose([h.score for h in hits], want[top], rtol=1e-5)
    terms = analyze(query)
    lexical = engine.search_bm25(terms, 8)
    _well_formed(lexical)
    bm25_scores = bm25.score(terms)
    assert [h.id for h in lexical] == [corpus.passages[i].id for i in
                                       sorted(np.flatnonzero(bm25_scores > 0), key=lambda i: (-bm25_scores[i], i))[:8]]
    np.testing.assert_allclose([h.score for h in lexical], [bm25_scores[h.index] for h in lexical], rtol=1e-4)


def test_contract_scores_of_these_passages(engine, oracle, encoder: SpladeEncoder) -> None:
    corpus, bm25, dense = oracle
    ids = [corpus.passages[i].id for i in (5, 0, 3, len(corpus) - 1)]
    vector = encoder.encode_query("python memory management").vector
    np.testing.assert_allclose(engine.splade_scores(vector, ids),
                               [dense[corpus.index_of(i)] @ vector.astype(np.float64) for i in ids], rtol=1e-9, atol=1e-12)
    terms = analyze("python memory management")
    np.testing.assert_allclose(engine.bm25_scores(terms, ids), bm25.score(terms)[[corpus.index_of(i) for i in ids]],
                               rtol=1e-9)
    assert engine.splade_scores(vector, []).shape == (0,)


def test_contract_explanation_inputs(engine, oracle) -> None:
    corpus, bm25, dense = oracle
    terms = analyze("python memory management garbage")
    for position in (0, 1, 7):
        doc_id = corpus.passages[position].id
        assert engine.passage(doc_id) == corpus.passages[position]
        np.testing.assert_array_equal(engine.doc_vector(doc_id), dense[position].astype(np.float32))
        assert sorted(engine.doc_terms(doc_id)) == sorted(t for t, n in bm25.doc_terms(position).items() for _ in range(n))
        rows = engine.bm25_explain(terms, doc_id)
        assert [r.term for r in rows] == list(dict.fromkeys(terms))
        assert sum(r.contribution for r in rows) == pytest.approx(bm25.score(terms)[position], rel=1e-9, abs=1e-12)
    stats = engine.bm25_stats(terms)
    assert stats.n_docs == len(corpus) == len(engine)
    assert stats.idf == pytest.approx({t: bm25.idf(t) for t in terms}, rel=1e-12)
    with pytest.raises(LookupError):
        engine.passage("no-such-id")


def test_contract_what_an_engine_cannot_do_is_one_sentence(engine, oracle) -> None:
    corpus, _, _ = oracle
    assert engine.splade_ready() is True
    assert engine.index_note() is None
    assert engine.truncation(corpus.passages[0].id) is None  # the tiny passages are read whole (or not known)
    try:
        local = engine.in_process("Explaining any labelled page")
    except NotAvailable as exc:
        assert engine.spec.kind == "milvus"
        assert str(exc).startswith("Explaining any labelled page is not available with this engine")
        assert str(exc).count(". ") == 0 and "\n" not in str(exc)
    else:
        assert local.corpus.content_hash == corpus.content_hash


@pytest.mark.parametrize("platform", ["win32", "linux"])
def test_where_milvus_lite_cannot_run_an_embedded_database_is_one_line(
        platform: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_corpus_path: Path) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    if platform != "win32":  # off Windows: as if milvus-lite were not installed
        real_find_spec = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *args: None if name == "milvus_lite" else real_find_spec(name, *args))
    expected = "no Windows build" if platform == "win32" else "milvus-lite\\) is not installed"
    spec = parse_engine_spec(f"milvus:{tmp_path / 'demo.db'}")
    with pytest.raises(EngineError, match=expected) as raised:
        open_milvus(spec, corpus_info(str(tiny_corpus_path)))
    assert "\n" not in str(raised.value) and "Milvus server URI" in str(raised.value)
    assert not (tmp_path / "demo.db").exists()
    server = parse_engine_spec(f"milvus:http://127.0.0.1:{_closed_port()}")
    with pytest.raises(EngineError, match="cannot reach Milvus"):  # a server URI is still tried
        open_milvus(server, corpus_info(str(tiny_corpus_path)))


def test_memory_engine_spec_is_the_default() -> None:
    assert parse_engine_spec(None) == EngineSpec("memory")


# -- the memory engine at scale: only the query's columns are read, the sums stay exact float64 -----------------
def test_splade_scores_read_only_the_querys_postings_and_equal_the_dense_float64_product() -> None:
    from scipy import sparse

    from splade_demo.retrieval.splade_index import SpladeIndex

    rng = np.random.default_rng(7)
    docs, vocab = 3_000, 5_000
    matrix = sparse.random(docs, vocab, density=0.01, format="csr", dtype=np.float32, random_state=rng,
                           data_rvs=lambda n: rng.gamma(2.0, 0.6, n).astype(np.float32))
    matrix.data[matrix.indptr[5]:matrix.indptr[6]] = 0.0  # a passage with no term at all
    matrix.eliminate_zeros()
    index = SpladeIndex(None, matrix, "k", np.zeros(docs, bool), np.zeros(docs, int), 256, "fp32", "synthetic")
    dense = matrix.toarray().astype(np.float64)
    for seed in range(5):
        q = np.zeros(vocab, dtype=np.float32)
        terms = np.random.default_rng(seed).choice(vocab, 30, replace=False)
        q[terms] = np.random.default_rng(seed).gamma(2.0, 0.6, 30)
        want = dense @ q.astype(np.float64)
        got = index.scores(q)
        assert got.dtype == np.float64 and got.shape == (docs,)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0.0)
        rows = np.array([5, 0, 42, docs - 1])
        np.testing.assert_allclose(index.scores(q, rows), want[rows], rtol=1e-13, atol=0.0)
    assert not index.scores(np.zeros(vocab, dtype=np.float32)).any()
    with pytest.raises(ValueError, match="dimensions"):
        index.scores(np.ones(3))
