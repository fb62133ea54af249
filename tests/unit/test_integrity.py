"""Integrity of cached artefacts (#25): a truncated or flipped-byte file is detected before use, gets one `note:`
line and is made again; it is never served.

Artefacts: converted safetensors weights (from a `.bin`), converted static vectors (gensim `.kv` + `.npy`), the
SPLADE index's JSON sidecar and its `.npz` (the zip CRC). Each is damaged twice: truncated, and one byte flipped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from splade_demo.integrity import CHECKSUMS_FILE, seal, unseal, verify_folder, write_checksums
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import index_cache_path, load_or_build_index
from splade_demo.data.corpus import load_corpus
from tests.conftest import write_bin_only_model


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_byte(path: Path, where: float = 0.6) -> None:
    """Flip every bit of one byte, keeping the size (so only a checksum can tell)."""
    data = bytearray(path.read_bytes())
    position = int(len(data) * where)
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {"truncated": truncate, "flipped byte": flip_byte}


def notes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("note: ")]


# -- the helpers ------------------------------------------------------------------------------------
def test_checksums_catch_truncation_and_a_flipped_byte_but_not_a_touch(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(bytes(range(256)) * 4096)
    (tmp_path / "b.txt").write_text("hello", encoding="utf-8")
    assert "never finished" in verify_folder(tmp_path)
    write_checksums(tmp_path)
    assert verify_folder(tmp_path) is None
    flip_byte(tmp_path / "a.bin")
    assert verify_folder(tmp_path) == "a.bin does not match its checksum (corrupt)"
    truncate(tmp_path / "a.bin")
    assert "truncated or half-written" in verify_folder(tmp_path)
    (tmp_path / "a.bin").unlink()
    assert verify_folder(tmp_path) == "a.bin is missing"


def test_a_sealed_sidecar_refuses_any_change() -> None:
    sealed = seal({"key": "abc", "docs": 4, "n_tokens": [1, 2, 3, 4]})
    assert unseal(sealed) == {"key": "abc", "docs": 4, "n_tokens": [1, 2, 3, 4]}
    assert unseal({**sealed, "docs": 5}) is None and unseal({**sealed, "sha256": "0" * 64}) is None
    assert unseal([1, 2]) is None


# -- converted weights ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bin_model(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real tiny SPLADE as a `.bin`-only folder (as older hub repos are)."""
    return write_bin_only_model(tiny_splade_dir, tmp_path_factory.mktemp("bin_model") / "tiny-bin")


@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_converted_weights_are_converted_again(damage: str, bin_model: Path, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from splade_demo.models.weights import safetensors_folder

    target, layout = safetensors_folder(bin_model, "tiny-bin", tmp_path)
    assert layout == "converted from .bin" and (target / CHECKSUMS_FILE).is_file()
    weights = target / "model.safetensors"
    good = weights.read_bytes()
    DAMAGE[damage](weights)
    with caplog.at_level(logging.WARNING):
        again, _ = safetensors_folder(bin_model, "tiny-bin", tmp_path)
    assert again == target and verify_folder(target) is None
    assert len(notes(caplog)) == 1 and "converted weights" in notes(caplog)[0] and "converting them again" in notes(caplog)[0]
    assert weights.read_bytes() == good  # the same conversion again
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        safetensors_folder(bin_model, "tiny-bin", tmp_path)
    assert notes(caplog) == []  # an intact copy is used as it is


# -- converted static vectors -----------------------------------------------------------------------
GLOVE_TEXT = "".join(f"{word} {' '.join(f'{(i + 1) * 0.1 + j:.3f}' for j in range(8))}\n"
                     for i, word in enumerate(["python", "snake", "memory", "heap", "garbage", "collector"]))


@pytest.mark.parametrize("target_file", ["vectors.kv.vectors.npy", "vectors.kv"])
@pytest.mark.parametrize("damage", DAMAGE)
def test_damaged_converted_vectors_are_converted_again(damage: str, target_file: str, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from splade_demo.models.glove_vectors import cache_folders, load_vectors

    source = tmp_path / "small.txt"
    source.write_text(GLOVE_TEXT, encoding="utf-8")
    cache = tmp_path / "cache"
    first = load_vectors(str(source), cache)
    want = np.array(first["python"])
    [folder] = cache_folders(str(source), cache)
    assert (folder / CHECKSUMS_FILE).is_file()
    del first
    DAMAGE[damage](folder / target_file)
    with caplog.at_level(logging.WARNING):
        second = load_vectors(str(source), cache)
    assert len(notes(caplog)) == 1 and "converted vectors" in notes(caplog)[0]
    np.testing.assert_array_equal(second["python"], want)
    assert verify_folder(folder) is None


# -- the SPLADE index cache -------------------------------------------------------------------------
@pytest.mark.parametrize("part", [".json", ".npz"])
@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_index_cache_is_built_again(damage: str, part: str, encoder: SpladeEncoder, tiny_corpus_path: Path,
                                              tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    built = load_or_build_index(encoder, corpus, tmp_path)
    path = index_cache_path(encoder, corpus, tmp_path)
    DAMAGE[damage](path.with_suffix(part))
    with caplog.at_level(logging.WARNING):
        again = load_or_build_index(encoder, corpus, tmp_path)
    assert not again.from_cache  # built again, never served
    assert len(notes(caplog)) == 1 and path.name in notes(caplog)[0], notes(caplog)
    assert (again.matrix != built.matrix).nnz == 0
    assert load_or_build_index(encoder, corpus, tmp_path).from_cache  # and cached again, intact
