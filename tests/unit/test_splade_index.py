"""The SPLADE document index: dot-product scores, the on-disk cache and its key, the shared build."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from scipy import sparse

from splade_demo.data.corpus import load_corpus
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.ranking import top_k
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.index_build import BuildStatus, IndexBuild
from splade_demo.retrieval import splade_index
from splade_demo.retrieval.splade_index import (
    SavedBatches,
    build_index,
    cache_size_bytes,
    document_text,
    index_cache_path,
    is_cached,
    load_or_build_index,
    parts_folder,
    plain_error,
)
from tests.conftest import ProgressRecorder


@pytest.fixture(scope="module")
def encoder(tiny_splade_dir: Path) -> SpladeEncoder:
    return SpladeEncoder(load_mlm(str(tiny_splade_dir)))


def test_scores_are_dot_products_and_rank_the_right_passage(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    index = load_or_build_index(encoder, corpus, tmp_path)
    assert index.matrix.shape == (len(corpus), 30522) and sparse.isspmatrix_csr(index.matrix)
    query = encoder.encode_query("garbage collector reference cycles").vector
    expected = np.array([float(encoder.encode_documents([document_text(p)]).toarray()[0].astype(np.float64) @ query)
                         for p in corpus.passages])
    np.testing.assert_allclose(index.scores(query), expected, rtol=1e-5, atol=1e-5)
    assert top_k(index.scores(query), corpus, 1)[0].source == "library/gc"
    np.testing.assert_array_equal(index.doc_vector(1), index.matrix[1].toarray()[0])
    with pytest.raises(ValueError, match="dimensions"):
        index.scores(np.zeros(10))


def test_the_cache_is_reused_on_a_second_run(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    assert not is_cached(encoder, corpus, tmp_path)
    first_progress = ProgressRecorder()
    first = load_or_build_index(encoder, corpus, tmp_path, progress=first_progress)
    assert first_progress.calls and not first.from_cache and first.path == index_cache_path(encoder, corpus, tmp_path)
    assert is_cached(encoder, corpus, tmp_path)
    second_progress = ProgressRecorder()
    second = load_or_build_index(encoder, load_corpus(str(tiny_corpus_path)), tmp_path, progress=second_progress)
    assert second.from_cache and not second_progress.calls  # nothing was encoded
    assert second.key == first.key
    assert (second.matrix != first.matrix).nnz == 0 and second.matrix.dtype == np.float32
    np.testing.assert_array_equal(second.truncated, first.truncated)
    np.testing.assert_array_equal(second.n_tokens, first.n_tokens)
    leftovers = [p.name for p in first.path.parent.iterdir() if p.suffix == ".tmp"]
    assert not leftovers and cache_size_bytes(tmp_path) > 0


def test_the_cache_holds_no_pickles(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    index = load_or_build_index(encoder, load_corpus(str(tiny_corpus_path)), tmp_path)
    with np.load(index.path, allow_pickle=False) as archive:  # would raise on an object array
        assert set(archive.files) >= {"data", "indices", "indptr", "shape"}
    meta = json.loads(index.path.with_suffix(".json").read_text())
    assert meta["key"] == index.key and meta["docs"] == 4 and meta["max_length"] == 256


def test_a_changed_corpus_rebuilds(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    first = load_or_build_index(encoder, load_corpus(str(tiny_corpus_path)), tmp_path)
    lines = tiny_corpus_path.read_text().splitlines()
    record = json.loads(lines[0])
    record["text"] = "Completely different words about sockets and networking."
    tiny_corpus_path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    changed = load_corpus(str(tiny_corpus_path))
    assert not is_cached(encoder, changed, tmp_path)
    second = load_or_build_index(encoder, changed, tmp_path)
    assert not second.from_cache and second.key != first.key
    assert (second.matrix[1:] != first.matrix[1:]).nnz == 0 and (second.matrix[0] != first.matrix[0]).nnz > 0


def test_a_changed_model_rebuilds(tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_splade_dir, model_dir, ignore=shutil.ignore_patterns("heads.pt"))
    corpus = load_corpus(str(tiny_corpus_path))
    cache = tmp_path / "cache"
    first = load_or_build_index(SpladeEncoder(load_mlm(str(model_dir))), corpus, cache)
    weights = model_dir / "model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # new weights on disk
    encoder = SpladeEncoder(load_mlm(str(model_dir)))
    assert not is_cached(encoder, corpus, cache)
    second = load_or_build_index(encoder, corpus, cache)
    assert not second.from_cache and second.key != first.key
    # max_length and precision are part of the key too.
    assert not is_cached(SpladeEncoder(encoder.loaded, max_length=128), corpus, cache)
    assert not is_cached(SpladeEncoder(encoder.loaded, precision="int8"), corpus, cache)


def test_a_damaged_cache_is_rebuilt_not_fatal(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    first = load_or_build_index(encoder, corpus, tmp_path)
    first.path.write_bytes(b"not a zip file")
    second = load_or_build_index(encoder, corpus, tmp_path)
    assert not second.from_cache and (second.matrix != first.matrix).nnz == 0
    assert load_or_build_index(encoder, corpus, tmp_path).from_cache  # repaired on disk


def test_an_unwritable_cache_keeps_the_index_in_memory(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    index = load_or_build_index(encoder, load_corpus(str(tiny_corpus_path)), blocker)
    assert index.save_error and index.path is None and len(index) == 4


def test_one_shared_build_in_the_background(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    build = IndexBuild(encoder, corpus, tmp_path, batch_size=1)
    assert build.status().done == 0 and not build.status().finished
    build.start()
    thread = build._thread
    build.start()  # a second session: no second build
    assert build._thread is thread
    index = build.wait(timeout=120)
    status = build.status()
    assert index is not None and status.finished and status.error is None and status.fraction == 1.0
    word_pieces = np.minimum(encoder.token_lengths([document_text(p) for p in corpus.passages]), encoder.max_length)
    assert status.done_tokens == status.total_tokens == int(word_pieces.sum()) and status.eta_seconds == 0.0
    build.start()  # already built: nothing happens
    assert build._thread is thread and build.index is index


class Stopped(Exception):
    """A server stopped half-way (raised from the progress protocol)."""


class StopAfter(ProgressRecorder):
    """An EncodeProgress that stops the build after `batches` batches, as a server restart would."""

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.batches = batches

    def on_batch(self, done: int, done_tokens: int) -> None:
        super().on_batch(done, done_tokens)
        if len(self.calls) > self.batches:
            raise Stopped


def test_a_page_waits_for_an_index_that_is_only_being_read(encoder: SpladeEncoder, tiny_corpus_path: Path,
                                                          tmp_path: Path) -> None:
    """With the index in the cache (as with a pack), a page that asks right after the build starts gets the index
    (`ready_index` waits while it is read) instead of a notice, and nothing is encoded again."""
    corpus = load_corpus(str(tiny_corpus_path))
    first = IndexBuild(encoder, corpus, tmp_path)
    first.start()
    built = first.wait(timeout=120)
    again = IndexBuild(encoder, corpus, tmp_path)
    again.start()
    read = again.wait_while_reading(timeout=120)
    assert built is not None and read is not None and read.key == built.key
    assert again.status().done_tokens == 0  # read, not encoded


def test_an_interrupted_build_resumes_from_its_saved_batches(encoder: SpladeEncoder, tiny_corpus_path: Path,
                                                              tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    path = index_cache_path(encoder, corpus, tmp_path)
    with pytest.raises(Stopped):
        load_or_build_index(encoder, corpus, tmp_path, progress=StopAfter(2), batch_size=1)
    assert not path.exists()
    checkpoints = list(parts_folder(path).glob("*/checkpoint-*.npz"))
    assert [c.name for c in checkpoints] == ["checkpoint-00000-00001.npz"]  # two finished batches, one file
    assert not list(parts_folder(path).glob("*/.*.tmp"))  # written atomically: no half-written file left

    resumed_progress = ProgressRecorder()
    resumed = load_or_build_index(encoder, corpus, tmp_path, progress=resumed_progress, batch_size=1)
    assert resumed_progress.calls == [(2, 4), (3, 4), (4, 4)]  # on_start(total=4, skipped=2): two batches left
    # The same in word pieces: the two saved batches are the two longest passages (batches go longest first).
    word_pieces = sorted(np.minimum(encoder.token_lengths([document_text(p) for p in corpus.passages]),
                                    encoder.max_length).tolist(), reverse=True)
    assert [done for done, _ in resumed_progress.token_calls] == [sum(word_pieces[:n]) for n in (2, 3, 4)]
    assert {total for _, total in resumed_progress.token_calls} == {sum(word_pieces)}
    assert resumed.resumed == 2 and resumed.path == path and not parts_folder(path).exists()

    scratch = build_index(encoder, corpus, batch_size=1)  # from scratch, nothing saved or read
    assert scratch.resumed == 0 and scratch.encoded_tokens > resumed.encoded_tokens > 0
    assert (resumed.matrix != scratch.matrix).nnz == 0  # the same vectors, exactly
    np.testing.assert_array_equal(resumed.n_tokens, scratch.n_tokens)
    np.testing.assert_array_equal(resumed.truncated, scratch.truncated)
    assert (load_or_build_index(encoder, corpus, tmp_path).matrix != scratch.matrix).nnz == 0  # and on disk


def test_saved_batches_of_another_batch_size_are_not_reused(encoder: SpladeEncoder, tiny_corpus_path: Path,
                                                             tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    with pytest.raises(Stopped):
        load_or_build_index(encoder, corpus, tmp_path, progress=StopAfter(1), batch_size=1)
    progress = ProgressRecorder()
    index = load_or_build_index(encoder, corpus, tmp_path, progress=progress, batch_size=2)
    assert progress.calls[0] == (0, 4) and index.resumed == 0  # another plan: started over
    assert (index.matrix != build_index(encoder, corpus, batch_size=2).matrix).nnz == 0


def test_a_damaged_saved_batch_is_encoded_again(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(splade_index.CHECKPOINT_ENV, "0")  # a checkpoint after every batch
    corpus = load_corpus(str(tiny_corpus_path))
    with pytest.raises(Stopped):
        load_or_build_index(encoder, corpus, tmp_path, progress=StopAfter(2), batch_size=1)
    first = sorted(parts_folder(index_cache_path(encoder, corpus, tmp_path)).glob("*/checkpoint-*.npz"))[0]
    first.write_bytes(b"not an npz")
    progress = ProgressRecorder()
    index = load_or_build_index(encoder, corpus, tmp_path, progress=progress, batch_size=1)
    assert progress.calls[0] == (1, 4) and index.resumed == 1
    assert (index.matrix != build_index(encoder, corpus, batch_size=1).matrix).nnz == 0


def test_checkpoints_come_every_few_seconds_not_every_batch(encoder: SpladeEncoder, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint holds every batch finished since the last one: one per `every_s` of work, plus one at the stop."""
    clock = [0.0]
    monkeypatch.setattr(splade_index.time, "monotonic", lambda: clock[0])
    store = SavedBatches(tmp_path / "parts", encoder.vocab_size, every_s=5.0)
    store.begin("plan")
    block = sparse.csr_matrix(np.eye(1, encoder.vocab_size, 7, dtype=np.float32))
    for number in range(10):  # ten batches, 2 s of work each
        clock[0] += 2.0
        store.save(number, block * (number + 1))
    assert [c.name for c in store.checkpoints()] == ["checkpoint-00000-00002.npz", "checkpoint-00003-00005.npz",
                                                     "checkpoint-00006-00008.npz"]
    store.flush()  # the build stops: the last batch is written too
    assert len(store.checkpoints()) == 4
    again = SavedBatches(tmp_path / "parts", encoder.vocab_size)
    again.begin("plan")
    assert [again.load(n, 1)[0, 7] for n in range(10)] == [float(n + 1) for n in range(10)]  # type: ignore[index]
    assert again.load(3, 2) is None and again.load(10, 1) is None


def test_the_time_left_follows_word_pieces_not_passages() -> None:
    # Longest passages first: after 1 of 4 passages, 600 of 800 word pieces are done in 6 s, 100 word pieces/s.
    status = BuildStatus(done=1, total=4, elapsed=7.0, skipped=0, encoding_elapsed=6.0, finished=False, error=None,
                         done_tokens=600, total_tokens=800, skipped_tokens=0)
    assert status.fraction == 0.75 and status.eta_seconds == pytest.approx(2.0)  # passages would say 25 %, 18 s
    # A resumed build: 400 word pieces came from saved batches; this run encoded 200 in 2 s.
    resumed = BuildStatus(done=3, total=4, elapsed=3.0, skipped=2, encoding_elapsed=2.0, finished=False, error=None,
                          done_tokens=600, total_tokens=800, skipped_tokens=400)
    assert resumed.fraction == 0.75 and resumed.eta_seconds == pytest.approx(2.0)
    before_first_batch = BuildStatus(done=2, total=4, elapsed=1.0, skipped=2, encoding_elapsed=0.5, finished=False,
                                     error=None, done_tokens=400, total_tokens=800, skipped_tokens=400)
    assert before_first_batch.eta_seconds is None and before_first_batch.fraction == 0.5


def test_errors_in_plain_words() -> None:
    import errno

    from splade_demo.models.loading import ModelUnavailable

    assert plain_error(OSError(errno.ENOSPC, "No space left on device", "/cache/x.npz")).startswith(
        "the disk is full (/cache/x.npz)")
    assert plain_error(ModelUnavailable("The model `x` is not available.")) == "The model `x` is not available."
    assert plain_error(ValueError("bad")) == "ValueError: bad"


def test_a_failed_build_is_not_started_again_until_retried(encoder: SpladeEncoder, tiny_corpus_path: Path,
                                                           tmp_path: Path) -> None:
    calls: list[int] = []

    def failing_load() -> SpladeEncoder:
        calls.append(1)
        raise OSError(28, "No space left on device")

    build = IndexBuild(failing_load, load_corpus(str(tiny_corpus_path)), tmp_path)
    assert build.encoder is None and not build.started
    build.start()
    assert build.wait(timeout=60) is None and "the disk is full" in (build.status().error or "")
    build.start()  # a rerun, another session: no error loop
    assert build.wait(timeout=60) is None and calls == [1]
    build._load_encoder = lambda: encoder  # the cause fixed: retry() builds, resuming
    build.retry()
    assert build.wait(timeout=120) is not None and build.status().error is None and build.encoder is encoder


def test_a_failed_build_reports_its_error(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    build = IndexBuild(encoder, load_corpus(str(tiny_corpus_path)), tmp_path, batch_size=0)  # invalid: raises inside
    build.start()
    assert build.wait(timeout=60) is None  # joined: the thread has ended
    assert build.status().finished and "batch_size" in (build.status().error or "")


def test_cli_index_then_search(tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path))
    cli = run_cli

    first = cli("index", "--corpus", str(tiny_corpus_path), "--json")
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["docs"] == 4 and not report["cached"] and Path(report["path"]).is_file()
    assert report["nnz_min"] <= report["nnz_median"] <= report["nnz_max"] and report["seconds"] >= 0
    assert report["passages"] == 4 and report["resumed"] == 0 and report["tokens"] > 4 * 20
    assert report["tokens_per_s"] == pytest.approx(report["tokens"] / report["seconds"], rel=0.05)
    assert "encoding documents" in first.stderr  # the tqdm bar
    again = json.loads(cli("index", "--corpus", str(tiny_corpus_path), "--json").stdout)
    assert again["cached"] and again["path"] == report["path"] and again["tokens"] == 0 and again["tokens_per_s"] is None
    hits = json.loads(cli("search", "garbage collector", "--method", "splade", "--corpus", str(tiny_corpus_path), "--json").stdout)
    assert hits[0]["source"] == "library/gc"


def test_cli_index_resumes_an_interrupted_build(tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path))
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "fp32")
    encoder = SpladeEncoder(load_mlm(str(tiny_splade_dir)))
    corpus = load_corpus(str(tiny_corpus_path))
    with pytest.raises(Stopped):  # stopped after two of four batches
        load_or_build_index(encoder, corpus, tmp_path, progress=StopAfter(2), batch_size=1)
    result = run_cli("index", "--corpus", str(tiny_corpus_path), "--batch-size", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["resumed"] == 2 and report["passages"] == 4 and not report["cached"]
    assert "2/4" in result.stderr  # the bar starts where the interrupted build stopped
    assert (load_or_build_index(encoder, corpus, tmp_path).matrix != build_index(encoder, corpus, batch_size=1).matrix).nnz == 0
    assert run_cli("index", "--corpus", str(tiny_corpus_path), "--batch-size", "0").returncode == 2
