"""Replacing files and folders that another handle holds (Windows), at unit level on this Linux machine.

Windows' refusals are stood in for where Windows differs: `os.replace` raising PermissionError while a file is
held, and `shutil.rmtree` leaving a folder whose file is memory-mapped. A real memory map is held throughout.
"""

from __future__ import annotations

import mmap
import os
import shutil
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import splade_demo.files as files
from splade_demo.data.upload import parse_upload, prune_uploads, save_upload
from splade_demo.files import RETRIES, old_generations, replace_file, replace_folder
from splade_demo.models.hub_download import ModelUnavailable
from splade_demo.models.weights import converted_folder, safetensors_folder


WINDOWS_KEEPS_MAPPED_FOLDERS = pytest.mark.skipif(
    sys.platform == "win32", reason="Windows refuses to rename a folder whose file is mapped: "
    "test_a_folder_held_for_good_is_one_clear_error stands for it there")


def flaky_replace(monkeypatch: pytest.MonkeyPatch, refusals: int) -> list[tuple[str, str]]:
    """os.replace refuses `refusals` times (a scanner or reader holding the file), then works; calls are recorded."""
    real, calls = os.replace, []

    def replace(source: str, target: str) -> None:
        calls.append((str(source), str(target)))
        if len(calls) <= refusals:
            raise PermissionError(13, "The process cannot access the file because it is being used by another process")
        real(source, target)

    monkeypatch.setattr(files.os, "replace", replace)
    return calls


def test_a_held_file_is_replaced_once_it_is_let_go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = tmp_path / "new", tmp_path / "old"
    source.write_text("new", encoding="utf-8")
    target.write_text("old", encoding="utf-8")
    calls, waits = flaky_replace(monkeypatch, 2), []
    replace_file(source, target, sleep=waits.append)
    assert target.read_text(encoding="utf-8") == "new" and not source.exists()
    assert len(calls) == 3 and waits == pytest.approx([files.RETRY_WAIT_S, 2 * files.RETRY_WAIT_S])


def test_a_file_held_for_good_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = tmp_path / "new", tmp_path / "old"
    source.write_text("new", encoding="utf-8")
    target.write_text("old", encoding="utf-8")
    calls = flaky_replace(monkeypatch, RETRIES + 1)
    with pytest.raises(PermissionError, match="old is in use by another program") as raised:
        replace_file(source, target, sleep=lambda _s: None)
    assert len(calls) == RETRIES and raised.value.filename == str(target)
    assert target.read_text(encoding="utf-8") == "old" and source.read_text(encoding="utf-8") == "new"  # nothing lost


def held_rmtree(monkeypatch: pytest.MonkeyPatch, held: set[Path]) -> None:
    """shutil.rmtree as on Windows: a folder holding one of the `held` (memory-mapped) files, wherever it has been
    renamed to since, is left in place."""
    real, inodes = shutil.rmtree, {file.stat().st_ino for file in held}

    def rmtree(path: Path, ignore_errors: bool = False) -> None:
        if any(file.stat().st_ino in inodes for file in Path(path).rglob("*") if file.is_file()):
            return  # ignore_errors: Windows refused, the folder stays
        real(path, ignore_errors=ignore_errors)

    monkeypatch.setattr(files.shutil, "rmtree", rmtree)


@WINDOWS_KEEPS_MAPPED_FOLDERS
@pytest.mark.parametrize("windows", [False, True], ids=["posix", "windows-held"])
def test_a_folder_is_replaced_while_its_weights_are_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           windows: bool) -> None:
    target, staging = tmp_path / "model", tmp_path / ".model.staging"
    target.mkdir()
    (target / "weights.bin").write_bytes(b"old weights")
    staging.mkdir()
    (staging / "weights.bin").write_bytes(b"new weights")
    handle = (target / "weights.bin").open("rb")
    with handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        if windows:
            held_rmtree(monkeypatch, {target / "weights.bin"})
        replace_folder(staging, target)
        assert (target / "weights.bin").read_bytes() == b"new weights" and not staging.exists()
        assert mapped[:] == b"old weights"  # the reader keeps what it mapped
        left = old_generations(target)
        assert len(left) == (1 if windows else 0)
    if windows:  # let go: the next replace deletes the old generation
        monkeypatch.undo()
        (staging).mkdir()
        (staging / "weights.bin").write_bytes(b"newer weights")
        replace_folder(staging, target)
        assert not old_generations(target) and (target / "weights.bin").read_bytes() == b"newer weights"


def bin_model(tiny_splade_dir: Path, folder: Path) -> dict[str, torch.Tensor]:
    """The tiny SPLADE as a `.bin`-only model folder (as naver's repos ship); returns its weights."""
    folder.mkdir()
    for path in tiny_splade_dir.iterdir():
        if path.is_file() and path.name not in ("model.safetensors", "heads.pt"):
            shutil.copyfile(path, folder / path.name)
    state = load_file(tiny_splade_dir / "model.safetensors")
    torch.save(state, folder / "pytorch_model.bin")
    return state


def incomplete_copy(source: Path, cache: Path) -> Path:
    """A converted folder without config.json (a crash, a partial delete): converted again on the next load."""
    stale = converted_folder(source, cache)
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"x" * 4096)
    return stale


@WINDOWS_KEEPS_MAPPED_FOLDERS
def test_an_incomplete_converted_copy_is_replaced_while_mapped(tiny_splade_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    source, cache = tmp_path / "bin-model", tmp_path / "cache"
    state = bin_model(tiny_splade_dir, source)
    stale = incomplete_copy(source, cache)
    with (stale / "model.safetensors").open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ):
        held_rmtree(monkeypatch, {stale / "model.safetensors"})
        folder, how = safetensors_folder(source, "org/bin-model", cache)
    assert (folder, how) == (stale, "converted from .bin")
    converted = load_file(folder / "model.safetensors")
    assert converted.keys() <= state.keys() and all(torch.equal(converted[k], state[k]) for k in converted)
    assert (folder / "config.json").is_file() and len(old_generations(folder)) == 1


def test_a_converted_copy_windows_will_not_move_is_one_line(tiny_splade_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    source, cache = tmp_path / "bin-model", tmp_path / "cache"
    bin_model(tiny_splade_dir, source)
    stale = incomplete_copy(source, cache)
    real = os.replace

    def refuse_the_old_folder(old: str, new: str) -> None:
        if Path(old) == stale:
            raise PermissionError(5, "Access is denied")
        real(old, new)

    monkeypatch.setattr(files.os, "replace", refuse_the_old_folder)
    monkeypatch.setattr(files, "RETRY_WAIT_S", 0.0)
    with pytest.raises(ModelUnavailable, match=r"^The safetensors copy of `org/bin-model` could not be put in place: "
                                                rf"{stale.name} is in use by another program") as raised:
        safetensors_folder(source, "org/bin-model", cache)
    assert "\n" not in str(raised.value) and (stale / "model.safetensors").read_bytes() == b"x" * 4096


def test_a_folder_held_for_good_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows, a file of the old folder mapped by this process: it cannot be renamed aside, so nothing moves."""
    target, staging = tmp_path / "model", tmp_path / ".model.staging"
    for folder, data in ((target, b"old"), (staging, b"new")):
        folder.mkdir()
        (folder / "weights.bin").write_bytes(data)
    real = os.replace

    def refuse_the_old_folder(source: str, destination: str) -> None:
        if Path(source) == target:
            raise PermissionError(5, "Access is denied")
        real(source, destination)

    monkeypatch.setattr(files.os, "replace", refuse_the_old_folder)
    with pytest.raises(PermissionError, match="model is in use by another program or a memory map"):
        replace_folder(staging, target, sleep=lambda _s: None)
    assert (target / "weights.bin").read_bytes() == b"old" and (staging / "weights.bin").read_bytes() == b"new"
    assert not old_generations(target)


def test_an_upload_saved_meanwhile_by_another_session_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = parse_upload("a.csv", b"id,text\nd1,first document\nd2,second document\n")
    real = os.replace

    def replace_while_held(source: str, target: str) -> None:
        real_target = Path(target)
        real_target.write_text(Path(source).read_text(encoding="utf-8"), encoding="utf-8")  # the other session
        raise PermissionError(13, "being used by another process")  # ... which has it open (Windows)

    monkeypatch.setattr(files.os, "replace", replace_while_held)
    monkeypatch.setattr(files, "RETRIES", 2)
    monkeypatch.setattr(files, "RETRY_WAIT_S", 0.0)
    path = save_upload(corpus, tmp_path)
    monkeypatch.setattr(files.os, "replace", real)
    assert path.is_file() and len(path.read_text(encoding="utf-8").splitlines()) == 2
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging file left behind


def test_pruning_skips_an_upload_another_session_has_open(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    paths = []
    for i in range(4):
        paths.append(folder / f"{i}.jsonl")
        paths[-1].write_text("{}\n", encoding="utf-8")
        os.utime(paths[-1], (1000 + i, 1000 + i))
    held, real_unlink = paths[0], Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == held:
            raise PermissionError(13, "being used by another process")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    prune_uploads(folder, keep=paths[3], limit=2)
    assert sorted(p.name for p in folder.iterdir()) == ["0.jsonl", "2.jsonl", "3.jsonl"]  # 0 held: next time
