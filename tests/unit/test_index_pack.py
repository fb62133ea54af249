"""Index packs: written once, used on another machine, refused (one line, then a build) when they do not fit."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from safetensors.numpy import save_file

from splade_demo.data.corpus import load_corpus
from splade_demo.explain.score_explanation import explain_splade
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.index_pack import PACK_FORMAT, find_pack_files, read_manifest
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import build_index, load_or_build_index, load_pack_index, write_index_pack
from tests.hub_server import LocalHub

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture()
def model_copy(tiny_splade_dir: Path, tmp_path: Path) -> Path:
    """The same model files in another folder, with other modification times: "another machine"."""
    folder = tmp_path / "elsewhere" / "model"
    shutil.copytree(tiny_splade_dir, folder)
    for file in folder.iterdir():
        os.utime(file, (1_000_000_000, 1_000_000_000))
    return folder


@pytest.fixture()
def pack(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> Path:
    """A float16 pack of the tiny corpus, built with the tiny SPLADE at fp32 in its own folder."""
    index = build_index(encoder, load_corpus(str(tiny_corpus_path)))
    return write_index_pack(index, encoder, tmp_path / "packs" / "tiny.safetensors", tmp_path / "cache-a")


def cli_env(monkeypatch: pytest.MonkeyPatch, model: Path, cache: Path, packs: Path | str) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(model))
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(cache))
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "fp32")
    monkeypatch.setenv("SPLADE_DEMO_INDEX_PACK", str(packs))


def test_a_pack_is_one_safetensors_file_with_its_manifest(pack: Path, tiny_corpus_path: Path) -> None:
    manifest = read_manifest(pack)
    corpus = load_corpus(str(tiny_corpus_path))
    assert manifest["format"] == PACK_FORMAT and manifest["values"] == "float16"
    assert manifest["corpus"] == {"name": corpus.name, "content_hash": corpus.content_hash}
    assert manifest["passages"] == 4 and manifest["nnz"] > 4 * 20 and manifest["precision"] == "fp32"
    assert len(manifest["model"]["weights_sha256"]) == 64 and len(manifest["model"]["tokenizer_sha256"]) == 64
    assert manifest["max_length"] == 256 and manifest["document_text"].startswith("title+section+text")
    assert str(pack.parent) not in json.dumps(manifest)  # no path in the identity
    assert not pack.read_bytes().startswith(b"\x80")  # not a pickle


@pytest.mark.skipif(os.name == "nt", reason="Windows files have no POSIX permission bits")
def test_a_pack_is_readable_by_everyone_like_any_shipped_file(pack: Path) -> None:
    assert pack.stat().st_mode & 0o777 == 0o644  # safetensors alone would leave it 0600


def test_a_pack_built_on_one_machine_is_used_on_another(pack: Path, model_copy: Path, tiny_corpus_path: Path,
                                                        tmp_path: Path) -> None:
    """The same model files elsewhere, other mtimes, an empty cache: the pack is used and equals a local build."""
    other = SpladeEncoder(load_mlm(str(model_copy)))
    corpus = load_corpus(str(tiny_corpus_path))
    index, note = load_pack_index(other, corpus, tmp_path / "cache-b", str(pack.parent))
    assert note is None and index is not None and index.origin == "pack" and index.values == "float16"
    local = build_index(other, corpus)
    assert np.array_equal(index.matrix.indptr, local.matrix.indptr)
    assert np.array_equal(index.matrix.indices, local.matrix.indices)  # the same terms per passage
    assert np.array_equal(index.matrix.data, local.matrix.data.astype(np.float16).astype(np.float32))  # f16 rounding
    query = other.encode_query("python memory management").vector
    assert np.allclose(index.scores(query), local.scores(query), rtol=2 ** -10)
    assert list(np.argsort(-index.scores(query))) == list(np.argsort(-local.scores(query)))
    assert "pack" in index.origin_caption and "float16" in index.origin_caption


def test_the_explain_sums_hold_on_a_pack(pack: Path, encoder: SpladeEncoder, tiny_corpus_path: Path,
                                         tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    index, _ = load_pack_index(encoder, corpus, tmp_path, str(pack))
    assert index is not None
    query = encoder.encode_query("garbage collector memory")
    scores = index.scores(query.vector)
    for doc in range(len(corpus)):
        explanation = explain_splade(index, query.vector, doc, set(query.input_ids), encoder.vocab)
        assert sum(t.contribution for t in explanation.terms) == pytest.approx(scores[doc], rel=1e-5, abs=1e-6)


def test_cli_uses_a_matching_pack_and_writes_one(pack: Path, model_copy: Path, tiny_corpus_path: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Cli) -> None:
    cli_env(monkeypatch, model_copy, tmp_path / "cache-c", pack.parent)
    result = run_cli("index", "--corpus", str(tiny_corpus_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "pack" and report["passages"] == 4 and report["seconds"] >= 0
    assert report["tokens"] == 0 and "encoding documents" not in result.stderr  # nothing encoded
    out = tmp_path / "out" / "again.safetensors"
    monkeypatch.setenv("SPLADE_DEMO_INDEX_PACK", str(tmp_path / "no-packs-here"))
    written = run_cli("index", "--corpus", str(tiny_corpus_path), "--pack", str(out), "--pack-values", "float32", "--json")
    assert written.returncode == 0, written.stderr
    report = json.loads(written.stdout)
    assert report["source"] == "built" and report["pack"]["path"] == str(out) and read_manifest(out)["values"] == "float32"


def _truncated(pack: Path) -> None:
    data = pack.read_bytes()
    pack.write_bytes(data[: len(data) // 2])


def _wrong_version(pack: Path) -> None:
    _rewrite(pack, lambda manifest: {**manifest, "format": "splade-demo-index-pack/99"})


def _tampered(pack: Path) -> None:
    from safetensors.numpy import load_file

    tensors = load_file(str(pack))
    tensors["data"] = tensors["data"] * np.float16(2)  # the manifest's hash stays as it was
    manifest = read_manifest(pack)
    save_file(tensors, str(pack), metadata={"manifest": json.dumps(manifest)})


def _another_model(pack: Path) -> None:
    _rewrite(pack, lambda manifest: {**manifest, "model": {**manifest["model"], "commit": "1a2b3c4d5e6f",
                                                           "weights_sha256": "f" * 64, "id": "someone/else"}})


def _pickle(pack: Path) -> None:
    pack.write_bytes(pickle.dumps({"indptr": [0], "note": "a pickle under a pack's name"}))


def _rewrite(pack: Path, change: Callable[[dict], dict]) -> None:
    from safetensors.numpy import load_file

    tensors, manifest = load_file(str(pack)), read_manifest(pack)
    save_file(tensors, str(pack), metadata={"manifest": json.dumps(change(manifest))})


@pytest.mark.parametrize(("damage", "says"), [
    (_truncated, "is not a readable safetensors pack"),
    (_wrong_version, "pack format 'splade-demo-index-pack/99'"),
    (_tampered, "do not match the hash in its manifest"),
    (_another_model, "built for someone/else (commit 1a2b3c4d5e…"),
    (_pickle, "is not a readable safetensors pack"),
], ids=["truncated", "wrong-version", "tampered", "another-model", "pickle"])
def test_a_bad_pack_is_one_note_then_a_build(pack: Path, damage: Callable[[Path], None], says: str,
                                             tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch, run_cli: Cli) -> None:
    damage(pack)
    cli_env(monkeypatch, tiny_splade_dir, tmp_path / "cache-d", pack.parent)
    result = run_cli("index", "--corpus", str(tiny_corpus_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["source"] == "built" and report["passages"] == 4
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:") and "pack" in line]
    assert len(notes) == 1 and says in notes[0] and "built here instead" in notes[0], result.stderr
    assert "Traceback" not in result.stderr


def test_another_corpus_names_what_differs(pack: Path, encoder: SpladeEncoder, tiny_corpus_path: Path,
                                           tmp_path: Path) -> None:
    lines = tiny_corpus_path.read_text(encoding="utf-8").splitlines()
    changed = tmp_path / "changed.jsonl"
    changed.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    index, note = load_pack_index(encoder, load_corpus(str(changed)), tmp_path, str(pack))
    assert index is None and note is not None and "built for corpus tiny.jsonl" in note and "this corpus is" in note
    built = load_or_build_index(encoder, load_corpus(str(changed)), tmp_path / "cache-e")  # default source: none
    assert built.origin == "built" and built.pack_note is None


def test_no_packs_no_note(encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path) -> None:
    assert find_pack_files(str(tmp_path / "missing")) == []
    assert load_pack_index(encoder, load_corpus(str(tiny_corpus_path)), tmp_path, str(tmp_path / "missing")) == (None, None)


def test_a_pack_from_the_hub(pack: Path, encoder: SpladeEncoder, tiny_corpus_path: Path, tmp_path: Path,
                             hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """hf://datasets/OWNER/NAME/FILE through huggingface_hub against the localhost hub; a missing one is one line."""
    corpus = load_corpus(str(tiny_corpus_path))
    with LocalHub() as hub:
        hub.add("datasets/someone/splade-packs", {"tiny.safetensors": pack.read_bytes()})
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
        index, note = load_pack_index(encoder, corpus, tmp_path, "hf://datasets/someone/splade-packs/tiny.safetensors")
        assert note is None and index is not None and index.origin == "pack"
        assert any("/datasets/someone/splade-packs/resolve/" in path for _, path, _ in hub.requests)
        missing, note = load_pack_index(encoder, corpus, tmp_path, "hf://datasets/someone/splade-packs/other.safetensors")
        assert missing is None and note is not None and "has no file other.safetensors" in note
        nobody, note = load_pack_index(encoder, corpus, tmp_path, "hf://datasets/nobody/nothing/x.safetensors")
        assert nobody is None and note is not None and "no dataset nobody/nothing" in note


@pytest.mark.skipif(sys.platform == "win32", reason="a symlink needs developer mode on Windows")
def test_the_weights_hash_is_the_hubs_etag_and_cached_for_a_local_folder(tmp_path: Path, model_copy: Path) -> None:
    """A hub cache blob is named by its sha256 (the LFS ETag): read from the name. A local file is hashed once and
    the result kept by path, size and file time."""
    import hashlib

    from splade_demo.models.identity import HASH_CACHE_FILE, file_sha256, weights_sha256

    weights = model_copy / "model.safetensors"
    truth = hashlib.sha256(weights.read_bytes()).hexdigest()
    assert weights_sha256(model_copy, tmp_path) == truth
    assert truth in (tmp_path / HASH_CACHE_FILE).read_text(encoding="utf-8")
    blob = tmp_path / "blobs" / truth
    blob.parent.mkdir()
    blob.write_bytes(b"not read: the name is the hash")
    link = tmp_path / "snapshot.safetensors"
    link.symlink_to(blob)
    assert file_sha256(link) == truth
