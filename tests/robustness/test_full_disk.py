"""A full disk (#25): the CLI in a subprocess whose file-size limit is lowered (RLIMIT_FSIZE, SIGXFSZ ignored, so a
write past the limit fails with EFBIG as a full disk fails with ENOSPC).

An index build and a `.bin` → safetensors conversion each give one line naming the folder and about the space
needed; nothing half-written is taken as complete; the next normal run builds or converts as usual.
A pack write on a full disk is one `error:` line, and no file is left under the pack's name; a download's line is
tested in its unit form below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, write_bin_only_model, write_tiny_corpus

pytestmark = [pytest.mark.slow,  # a CLI process per case under a lowered file-size limit: run by `python -m pytest`
              pytest.mark.skipif(not hasattr(os, "setpgid") or sys.platform == "win32",
                                 reason="resource.setrlimit is POSIX-only")]
LIMITED = ("import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
           "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY)); "
           "from splade_demo.cli import main; sys.exit(main(sys.argv[2:]))")


def cli(env: dict[str, str], *argv: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    command = ([sys.executable, "-c", LIMITED, str(limit)] if limit is not None
               else [sys.executable, "-m", "splade_demo"]) + list(argv)
    return subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)


def space_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "not enough space" in line]


@pytest.fixture()
def env(tiny_splade_dir: Path, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "SPLADE_DEMO_SPLADE_MODEL": str(tiny_splade_dir),
            "SPLADE_DEMO_MLM_MODEL": str(tiny_splade_dir), "SPLADE_DEMO_PRECISION": "fp32",
            "SPLADE_DEMO_CACHE": str(tmp_path / "cache"), "SPLADE_DEMO_ENGINE": "memory",
            "PYTHONDONTWRITEBYTECODE": "1"}


def test_an_index_build_on_a_full_disk_says_where_and_how_much(env: dict[str, str], tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "tiny.jsonl")
    full = cli(env, "index", "--corpus", str(corpus), "--json", limit=1024)
    assert full.returncode == 0, full.stderr[-2000:]  # the vectors were built; only the cache could not be written
    [line] = space_lines(full.stderr)
    folder = Path(env["SPLADE_DEMO_CACHE"]) / "splade_index"
    assert line.startswith("note: not enough space to write the SPLADE index in ") and str(folder) in line
    assert " is needed" in line and "Traceback" not in full.stderr
    assert json.loads(full.stdout)["save_error"].startswith("not enough space")
    assert not list(folder.glob("*.npz")) and not list(folder.glob("*.json")) and not list(folder.glob(".*.tmp"))
    again = cli(env, "index", "--corpus", str(corpus), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["cached"] is False  # rebuilt and saved
    assert json.loads(cli(env, "index", "--corpus", str(corpus), "--json").stdout)["cached"] is True


def test_a_pack_write_on_a_full_disk_says_where_and_how_much(env: dict[str, str], tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "tiny.jsonl")
    assert cli(env, "index", "--corpus", str(corpus)).returncode == 0  # cached: the next run only writes the pack
    pack = tmp_path / "packs" / "tiny.safetensors"
    full = cli(env, "index", "--corpus", str(corpus), "--pack", str(pack), limit=1024)
    assert full.returncode == 2 and "Traceback" not in full.stderr, full.stderr[-2000:]
    [line] = space_lines(full.stderr)
    assert line.startswith("error: ") and f"the index pack in {pack.parent}" in line and " is needed" in line
    assert not list(pack.parent.iterdir())  # nothing half-written, under its name or a temporary one
    again = cli(env, "index", "--corpus", str(corpus), "--pack", str(pack), "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["pack"]["size_bytes"] == pack.stat().st_size


@pytest.fixture()
def bin_model(tiny_splade_dir: Path, tmp_path: Path) -> Path:
    """The real tiny SPLADE as a `.bin`-only folder."""
    return write_bin_only_model(tiny_splade_dir, tmp_path / "tiny-bin")


def test_a_conversion_on_a_full_disk_says_where_and_how_much(env: dict[str, str], bin_model: Path) -> None:
    env = {**env, "SPLADE_DEMO_SPLADE_MODEL": str(bin_model)}
    full = cli(env, "encode", "python memory management", "--json", limit=1 << 20)
    assert full.returncode == 2, full.stderr[-2000:]
    [line] = space_lines(full.stderr)
    converted = Path(env["SPLADE_DEMO_CACHE"]) / "converted"
    assert line.startswith("error: not enough space to write the safetensors copy of ") and str(converted) in line
    assert full.stderr.count("\n") == 1 and "Traceback" not in full.stderr
    assert not [p for p in converted.iterdir() if not p.name.startswith(".")]  # no copy taken as complete
    again = cli(env, "encode", "python memory management", "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["nnz"] > 0


def test_a_download_on_a_full_disk_says_where_and_how_much(tiny_splade_dir: Path, tmp_path: Path) -> None:
    """`prefetch` from the localhost hub (tests/hub_server.py) with the file-size limit below the weights' size."""
    from tests.hub_server import LocalHub

    with LocalHub() as hub:
        hub.add_folder("org/tiny-splade", tiny_splade_dir)
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "0",
               "SPLADE_DEMO_CACHE": str(tmp_path / "cache"), "SPLADE_DEMO_SPLADE_MODEL": "org/tiny-splade",
               "SPLADE_DEMO_MLM_MODEL": "org/tiny-splade", "PYTHONDONTWRITEBYTECODE": "1"}
        for variable in ("HF_HUB_CACHE", "HF_TOKEN", "TRANSFORMERS_OFFLINE"):
            env.pop(variable, None)
        full = cli(env, "prefetch", limit=1 << 20)
        assert full.returncode == 2, full.stderr[-2000:]
        [line] = space_lines(full.stderr)
        assert "the download of `org/tiny-splade`" in line and str(tmp_path / "hf") in line and " MB is needed" in line
        assert "Traceback" not in full.stderr
        again = cli(env, "prefetch", "--json")
        assert again.returncode == 0, again.stderr[-2000:]


def test_a_download_on_a_full_disk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download path's answer to EFBIG from its writer: one line with the folder and the size, no retry."""
    import errno

    from splade_demo.models import hub_download

    calls: list[int] = []

    def write_fails() -> None:
        calls.append(1)
        raise OSError(errno.EFBIG, "File too large")

    with pytest.raises(hub_download.ModelUnavailable) as info:
        hub_download._with_retry("org/model", write_fails, 440_000_000)
    assert calls == [1]  # a full disk is not retried
    message = str(info.value)
    assert message.startswith("not enough space to write the download of `org/model` in ")
    assert "440.0 MB" in message and "\n" not in message
