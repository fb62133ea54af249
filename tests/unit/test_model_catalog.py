"""The model catalogue: licences and pins, and each model's status (not cached / cached / loaded) and size."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from splade_demo.models import catalog as mc
from splade_demo.config import DEFAULT_GLOVE, DEFAULT_MLM_MODEL, DEFAULT_SPLADE_MODEL, Settings


@pytest.fixture(autouse=True)
def nothing_loaded() -> None:
    mc.forget_loaded()
    yield
    mc.forget_loaded()


def test_the_catalogue_names_the_models_and_licences() -> None:
    splade = mc.find(DEFAULT_SPLADE_MODEL)
    assert splade is not None and splade.licence == "CC BY-NC-SA 4.0" and not splade.commercial_use
    assert "non-commercial" in splade.notes.lower()
    assert mc.choices("splade") == [DEFAULT_SPLADE_MODEL,
                                    "opensearch-project/opensearch-neural-sparse-encoding-v2-distill",
                                    "prithivida/Splade_PP_en_v1"]
    assert mc.choices("mlm") == [DEFAULT_MLM_MODEL, "distilbert-base-uncased"]
    for name in mc.choices("splade")[1:] + mc.choices("mlm"):
        assert mc.find(name).licence == "Apache-2.0" and mc.find(name).commercial_use
    assert "PDDL" in mc.find(DEFAULT_GLOVE).licence
    for entry in mc.CATALOG:  # a pin is a full commit SHA with its provenance, or nothing ("main")
        assert entry.revision is None or (re.fullmatch(r"[0-9a-f]{40}", entry.revision) and entry.revision_source)


def test_human_size() -> None:
    assert [mc.human_size(n) for n in (None, 0, 999, 1500, 2_500_000, 440_000_000, 1_340_000_000)] == \
        ["—", "0 B", "999 B", "1.5 kB", "2.5 MB", "440.0 MB", "1.34 GB"]


def test_folder_size_follows_symlinks(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / "x").write_bytes(b"1" * 100)
    (tmp_path / "snap").mkdir()
    try:
        (tmp_path / "snap" / "model.safetensors").symlink_to(tmp_path / "blobs" / "x")
    except OSError:  # Windows without Developer Mode: the HF cache then holds plain files, nothing to follow
        pytest.skip("this account may not create symlinks")
    (tmp_path / "snap" / "config.json").write_text("{}")
    assert mc.folder_size(tmp_path / "snap") == 102


def test_not_cached_then_cached_then_loaded(hf_cache: Path, tiny_splade_dir: Path) -> None:
    status = mc.hub_model_status(DEFAULT_MLM_MODEL)
    assert (status.state, status.size_bytes, status.snapshot, status.origin) == ("not cached", None, None, None)
    assert status.pinned == mc.find(DEFAULT_MLM_MODEL).revision

    repo = hf_cache / "models--bert-base-uncased"
    snapshot = repo / "snapshots" / ("c" * 40)
    shutil.copytree(tiny_splade_dir, snapshot, ignore=shutil.ignore_patterns("*.pt"))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("c" * 40)
    status = mc.hub_model_status(DEFAULT_MLM_MODEL)
    assert (status.state, status.origin, status.snapshot) == ("cached", "HF cache", "c" * 40)
    assert status.size_bytes == sum(p.stat().st_size for p in snapshot.iterdir())

    mc.note_loaded(DEFAULT_MLM_MODEL)
    assert mc.hub_model_status(DEFAULT_MLM_MODEL).state == "loaded"


def test_local_folders_and_missing_folders(tiny_splade_dir: Path, tmp_path: Path) -> None:
    status = mc.hub_model_status(str(tiny_splade_dir), "splade")
    assert (status.state, status.origin, status.purpose) == ("cached", "local folder", "custom SPLADE model")
    assert status.size_bytes == sum(p.stat().st_size for p in tiny_splade_dir.iterdir() if p.is_file())
    assert mc.hub_model_status(str(tmp_path / "nope")).state == "not cached"


def test_catalog_status_lists_custom_models_first(hf_cache: Path, tiny_splade_dir: Path, tmp_path: Path) -> None:
    settings = Settings(splade_model=str(tiny_splade_dir), cache_dir=tmp_path / "cache")
    rows = mc.catalog_status(settings, loaded={str(tiny_splade_dir)})
    assert rows[0].name == str(tiny_splade_dir) and rows[0].state == "loaded"
    assert [r.name for r in rows[1:]] == [e.name for e in mc.CATALOG]
    assert all(r.state == "not cached" for r in rows[1:])

    both = mc.catalog_status(Settings(splade_model=str(tiny_splade_dir), mlm_model=str(tiny_splade_dir),
                                      cache_dir=tmp_path / "cache"))
    assert [r.name for r in both].count(str(tiny_splade_dir)) == 1  # one folder, one row
    assert both[0].purpose == "custom SPLADE and fill-mask model"


def test_glove_status_follows_the_cache_folder(tmp_path: Path) -> None:
    from splade_demo.models.glove_vectors import load_vectors

    assert mc.glove_status(DEFAULT_GLOVE, tmp_path).state == "not cached"
    vectors = load_vectors(DEFAULT_GLOVE, tmp_path)  # the real conversion, memory-mapped by this process
    status = mc.glove_status(DEFAULT_GLOVE, tmp_path)
    assert status.state == "loaded" and status.size_bytes > 400_000 * 50 * 4
    assert "python" in vectors.key_to_index
