"""The real download path against a hub on localhost, through the real CLI: every repo layout and failure.

Each run is a subprocess with its own HF_HOME and `HF_ENDPOINT` pointed at `tests.hub_server.LocalHub`
(huggingface_hub reads both at import, and this test process runs with HF_HUB_OFFLINE=1).
Nothing of huggingface_hub or transformers is mocked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from splade_demo.config import DEFAULT_MLM_MODEL, DEFAULT_SPLADE_MODEL
from splade_demo.models.catalog import find
from splade_demo.models.hub_download import bytes_arrived
from tests.conftest import REPO_ROOT
from tests.hub_server import LocalHub

pytestmark = pytest.mark.slow  # a subprocess per case (about 4 minutes in all): run by `python -m pytest`, not by -m "not slow"
SPLADE_PIN = find(DEFAULT_SPLADE_MODEL).revision
MLM_PIN = find(DEFAULT_MLM_MODEL).revision
QUERY = "python memory management"


class NotATensor:
    """Pickled into a `.bin`: torch's weights-only unpickler must refuse it (it is not a tensor or container)."""


@pytest.fixture(scope="module")
def layouts(tiny_splade_dir: Path) -> dict[str, dict[str, bytes]]:
    """The real tiny SPLADE in the layouts hub repos really have."""
    import torch
    from safetensors.torch import load_file, save

    base = {p.name: p.read_bytes() for p in sorted(tiny_splade_dir.iterdir()) if p.is_file() and p.name != "heads.pt"}
    tokenizer_and_config = {k: v for k, v in base.items() if k != "model.safetensors"}
    state = load_file(tiny_splade_dir / "model.safetensors")

    def torch_bytes(obj: object) -> bytes:
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return buffer.getvalue()

    names = sorted(state)
    halves = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    shards = {file: save({k: state[k].contiguous() for k in keys}) for file, keys in halves.items()}
    index = {"metadata": {"total_size": sum(t.numel() * t.element_size() for t in state.values())},
             "weight_map": {k: file for file, keys in halves.items() for k in keys}}
    return {
        "safetensors": base,
        "bin": {**tokenizer_and_config, "pytorch_model.bin": torch_bytes(state)},
        "sharded": {**tokenizer_and_config, **shards, "model.safetensors.index.json": json.dumps(index).encode()},
        "no_tokenizer": {"config.json": base["config.json"], "model.safetensors": base["model.safetensors"]},
        "refused": {**tokenizer_and_config, "pytorch_model.bin": torch_bytes({"weight": NotATensor()})},
    }


@pytest.fixture()
def hub() -> Iterator[LocalHub]:
    with LocalHub() as server:
        yield server


def run_cli(hub: LocalHub, home: Path, *argv: str, offline: bool = False, **env: str) -> subprocess.CompletedProcess:
    """`python -m splade_demo *argv` against `hub`, with its own HF_HOME under `home` (`-c CODE` runs CODE instead)."""
    environment = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(home / "hf"),
                   "HF_HUB_OFFLINE": "1" if offline else "0", "SPLADE_DEMO_CACHE": str(home / "cache"), **env}
    for variable in ("HF_HUB_CACHE", "HF_TOKEN", "TRANSFORMERS_OFFLINE"):
        environment.pop(variable, None)
    command = list(argv) if argv[:1] == ("-c",) else ["-m", "splade_demo", *argv]
    return subprocess.run([sys.executable, *command], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=environment, timeout=240)


def only_model(name: str) -> dict[str, str]:
    """Settings that make `name` both the SPLADE and the fill-mask model (prefetch then fetches only it)."""
    return {"SPLADE_DEMO_SPLADE_MODEL": name, "SPLADE_DEMO_MLM_MODEL": name}


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The failure: exit 2 and one `error:` line, the last on stderr (progress lines may come before it)."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:], result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


def rows_by_model(result: subprocess.CompletedProcess) -> dict[str, dict]:
    assert result.returncode == 0, result.stderr
    return {row["model"]: row for row in json.loads(result.stdout)}


def weight_requests(hub: LocalHub, name: str) -> list[tuple[str, str, str | None]]:
    return [r for r in hub.requests if r[0] == "GET" and r[1].startswith(f"/{name}/resolve/")
            and r[1].endswith((".bin", ".safetensors"))]


def test_default_models_prefetch_with_a_bin_only_splade_then_encode_offline_equals_sparse_encoder(
        hub: LocalHub, layouts: dict, tmp_path: Path, tiny_splade_dir: Path) -> None:
    hub.add(DEFAULT_SPLADE_MODEL, layouts["bin"], SPLADE_PIN)
    hub.add(DEFAULT_MLM_MODEL, layouts["safetensors"], MLM_PIN)

    rows = rows_by_model(run_cli(hub, tmp_path, "prefetch", "--json"))
    assert rows[DEFAULT_SPLADE_MODEL]["weights"] == "converted from .bin"
    assert rows[DEFAULT_MLM_MODEL]["weights"] == "safetensors"
    for name, pin in ((DEFAULT_SPLADE_MODEL, SPLADE_PIN), (DEFAULT_MLM_MODEL, MLM_PIN)):
        assert rows[name]["cached"] is True and rows[name]["snapshot"] == pin
    converted = list((tmp_path / "cache" / "converted").glob("*/model.safetensors"))
    assert len(converted) == 1  # the .bin was converted once, into our cache folder

    seen = len(hub.requests)
    report = run_cli(hub, tmp_path, "prefetch", offline=True)  # the text report: layout and commit per model
    assert report.returncode == 0, report.stderr
    line = next(row for row in report.stdout.splitlines() if row.startswith(DEFAULT_SPLADE_MODEL))
    assert "converted from .bin" in line and SPLADE_PIN[:12] in line
    assert "safetensors" in next(row for row in report.stdout.splitlines() if row.startswith(DEFAULT_MLM_MODEL))

    encoded = run_cli(hub, tmp_path, "encode", QUERY, "--top-k", "30522", "--json", offline=True,
                      SPLADE_DEMO_PRECISION="fp32")
    assert encoded.returncode == 0, encoded.stderr
    assert len(hub.requests) == seen  # offline: the hub was never asked
    terms = {t["term"]: t["weight"] for t in json.loads(encoded.stdout)["terms"]}

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from sentence_transformers import SparseEncoder
        from sentence_transformers.sparse_encoder.models import MLMTransformer, SpladePooling

        oracle = SparseEncoder(modules=[MLMTransformer(str(tiny_splade_dir)), SpladePooling("max")], device="cpu")
    reference = oracle.encode([QUERY], convert_to_tensor=True).to_dense().cpu().numpy()[0]
    vocab = oracle.tokenizer.convert_ids_to_tokens(list(range(reference.shape[0])))
    expected = {vocab[i]: float(reference[i]) for i in np.flatnonzero(reference)}
    assert set(terms) == set(expected)
    np.testing.assert_allclose([terms[t] for t in expected], list(expected.values()), atol=1e-4, rtol=0)


def test_sharded_safetensors_download_and_load(hub: LocalHub, layouts: dict, tmp_path: Path) -> None:
    hub.add("org/sharded-splade", layouts["sharded"])
    env = only_model("org/sharded-splade")
    rows = rows_by_model(run_cli(hub, tmp_path, "prefetch", "--json", **env))
    assert rows["org/sharded-splade"]["weights"] == "safetensors"
    encoded = run_cli(hub, tmp_path, "encode", QUERY, "--json", offline=True, **env)
    assert encoded.returncode == 0, encoded.stderr
    assert json.loads(encoded.stdout)["nnz"] > 0
    assert len(weight_requests(hub, "org/sharded-splade")) == 2  # both shards, nothing else


@pytest.mark.parametrize(("layout", "behaviour", "expected"), [
    ("safetensors", {"gated": True}, ["gated", "accept its licence", "HF_TOKEN"]),
    (None, {}, ["no model `org/splade`"]),
    ("no_tokenizer", {}, ["no tokenizer files"]),
    ("refused", {}, ["`org/splade`", "refused by torch's weights-only loader"]),
])
def test_a_repo_that_cannot_be_used_is_one_clear_line(hub: LocalHub, layouts: dict, tmp_path: Path,
                                                      layout: str | None, behaviour: dict, expected: list[str]) -> None:
    if layout is not None:
        hub.add("org/splade", layouts[layout], **behaviour)
    line = one_error_line(run_cli(hub, tmp_path, "prefetch", **only_model("org/splade")))
    for words in expected:
        assert words in line, line
    assert "Traceback" not in line and str(tmp_path) not in line


def test_a_pinned_commit_that_is_gone_falls_back_to_main_with_a_note(hub: LocalHub, layouts: dict,
                                                                     tmp_path: Path) -> None:
    main = hashlib.sha1(b"a newer main").hexdigest()
    hub.add(DEFAULT_MLM_MODEL, layouts["safetensors"], main)  # the pinned commit is not on this hub
    env = only_model(DEFAULT_MLM_MODEL)
    result = run_cli(hub, tmp_path, "prefetch", **env)
    assert result.returncode == 0, result.stderr
    assert f"note: the pinned commit {MLM_PIN[:12]} of {DEFAULT_MLM_MODEL} is gone from the hub" in result.stdout
    rows = rows_by_model(run_cli(hub, tmp_path, "prefetch", "--json", offline=True, **env))
    assert rows[DEFAULT_MLM_MODEL]["snapshot"] == main  # what the app loads offline


def test_a_connection_dropped_mid_file_is_retried(hub: LocalHub, layouts: dict, tmp_path: Path) -> None:
    hub.add("org/splade", layouts["bin"], drop="once")
    rows = rows_by_model(run_cli(hub, tmp_path, "prefetch", "--json", **only_model("org/splade")))
    assert rows["org/splade"]["weights"] == "converted from .bin"
    assert len(weight_requests(hub, "org/splade")) == 2  # cut once, fetched again
    weights = layouts["bin"]["pytorch_model.bin"]
    blob = tmp_path / "hf" / "hub" / "models--org--splade" / "blobs" / hashlib.sha256(weights).hexdigest()
    assert blob.read_bytes() == weights  # whole and unchanged after the cut


def test_a_connection_that_keeps_dropping_fails_clearly_and_is_not_cached(hub: LocalHub, layouts: dict,
                                                                          tmp_path: Path) -> None:
    repo = hub.add("org/splade", layouts["safetensors"], drop="always")
    env = only_model("org/splade")
    line = one_error_line(run_cli(hub, tmp_path, "prefetch", **env))
    assert "failed twice" in line and "dropped" in line
    attempts = len(weight_requests(hub, "org/splade"))
    assert attempts > 1

    # The config and tokenizer did arrive; the snapshot is still not taken for cached, offline or online.
    offline = one_error_line(run_cli(hub, tmp_path, "prefetch", offline=True, **env))
    assert "cannot download org/splade" in offline
    repo.drop = None
    rows = rows_by_model(run_cli(hub, tmp_path, "prefetch", "--json", **env))
    assert rows["org/splade"]["cached"] is True and rows["org/splade"]["weights"] == "safetensors"
    assert len(weight_requests(hub, "org/splade")) == attempts + 1  # the next run fetched the weights


def test_a_hub_that_answers_too_late_is_a_clear_message(hub: LocalHub, layouts: dict, tmp_path: Path) -> None:
    hub.add("org/splade", layouts["safetensors"], delay_s=10)
    line = one_error_line(run_cli(hub, tmp_path, "prefetch", **only_model("org/splade")))
    assert "did not answer in time" in line and "failed twice" in line
    api_calls = [r for r in hub.requests if r[1].startswith("/api/models/org/splade")]
    assert len(api_calls) == 2  # asked, then retried once


def test_first_use_without_prefetch_downloads_and_says_how_far_it_got(hub: LocalHub, layouts: dict,
                                                                      tmp_path: Path) -> None:
    hub.add("org/splade", layouts["bin"])
    result = run_cli(hub, tmp_path, "fill-mask", QUERY, "--json", **only_model("org/splade"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)  # the predictions
    progress = [line for line in result.stderr.splitlines() if line.startswith("downloading org/splade: ")]
    assert progress, result.stderr
    done, total = progress[-1].removeprefix("downloading org/splade: ").split(" of ")
    assert done == total  # the last line: every byte of config, tokenizer and weights


@pytest.mark.parametrize("symlinks", [True, False], ids=["symlinks", "no-symlinks"])
def test_progress_counts_every_byte_once_with_or_without_symlinks(hub: LocalHub, layouts: dict, tmp_path: Path,
                                                                  symlinks: bool) -> None:
    """Windows without Developer Mode: huggingface_hub moves each finished blob into the snapshot and `blobs/`
    empties (HF_HUB_DISABLE_SYMLINKS is huggingface_hub's own switch to that path). The bytes counted for the bar
    are still every byte once, and the bar never goes back."""
    if symlinks:
        try:
            (tmp_path / "probe").symlink_to(tmp_path)
        except OSError:
            pytest.skip("this account may not create symlinks (Windows without Developer Mode)")
    hub.add("org/splade", layouts["sharded"])
    record = ("import json; from splade_demo.models.hub_download import fetch_snapshot; seen = []; "
              "fetch_snapshot('org/splade', on_progress=lambda done, total: seen.append((done, total))); "
              "print(json.dumps(seen))")
    result = run_cli(hub, tmp_path, "-c", record, HF_HUB_DISABLE_SYMLINKS="0" if symlinks else "1")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)  # never backwards
    repo = tmp_path / "hf" / "hub" / "models--org--splade"
    (snapshot,) = (repo / "snapshots").iterdir()
    files = [p for p in snapshot.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert seen[-1] == [total, total] and bytes_arrived(repo, snapshot.name) == total
    blobs = [p for p in (repo / "blobs").iterdir() if p.is_file()]
    if symlinks:
        assert all(p.is_symlink() for p in files) and len(blobs) == len(files)
    else:  # the layout of a machine without symlinks
        assert not blobs and not [p for p in files if p.is_symlink()]
