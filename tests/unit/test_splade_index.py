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
from splade_demo.retrieval.splade_index import (
    IndexBuild,
    cache_size_bytes,
    document_text,
    index_cache_path,
    is_cached,
    load_or_build_index,
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
    assert status.first_batch is not None and status.first_batch[0] == 1 and status.first_batch[1] > 0
    assert status.estimated_total_seconds is not None and status.estimated_total_seconds > 0
    build.start()  # already built: nothing happens
    assert build._thread is thread and build.index is index


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
    assert "encoding documents" in first.stderr  # the tqdm bar
    again = json.loads(cli("index", "--corpus", str(tiny_corpus_path), "--json").stdout)
    assert again["cached"] and again["path"] == report["path"]
    hits = json.loads(cli("search", "garbage collector", "--method", "splade", "--corpus", str(tiny_corpus_path), "--json").stdout)
    assert hits[0]["source"] == "library/gc"
