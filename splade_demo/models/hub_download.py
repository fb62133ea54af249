"""Download a model from the Hugging Face hub as its repo really is, and find it again offline.

A repo has one of two weight layouts, picked from its file list (`choose_layout`):
- "safetensors": `model.safetensors`, or `model.safetensors.index.json` and its shards (preferred);
- "pytorch .bin": `pytorch_model.bin` (or its index and shards) and no safetensors, as older SPLADE repos
  (naver's among them) ship. `weights.py` loads it through transformers' weights-only path and converts it.

Only config, tokenizer and the chosen weights are downloaded. Every failure is one line (`ModelUnavailable`):
a gated repo, a missing repo, a pinned commit that is gone (then `main`, with a note), and a dropped or stalled
connection (retried once). huggingface_hub keeps unfinished files as `.incomplete` blobs and remembers the
commit's file list, so a half-downloaded snapshot never counts as cached: `cached_snapshot` refuses it and the
next download fetches what is missing.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Literal, TypeVar

from splade_demo.files import replace_file
from splade_demo.integrity import disk_full, no_space_line

T = TypeVar("T")
HUB_PROBE_TIMEOUT_S = 2.0  # how long a reachability probe waits (DNS included)
Layout = Literal["safetensors", "pytorch .bin"]
ProgressCallback = Callable[[int, int], None]  # (bytes so far, total bytes)

CONFIG_FILES: tuple[str, ...] = ("config.json",)
TOKENIZER_FILES: tuple[str, ...] = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
WEIGHT_PATTERNS: dict[Layout, tuple[str, ...]] = {
    "safetensors": ("model.safetensors", "model.safetensors.index.json", "model-*-of-*.safetensors"),
    "pytorch .bin": ("pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*-of-*.bin"),
}
REQUEST_TIMEOUT_S = 8.0  # one hub API call or file header; a stalled hub is retried once, so ~20 s to a message
ATTEMPTS = 2  # "retry once"
POLL_INTERVAL_S = 0.25


class ModelUnavailable(RuntimeError):
    """The model is neither a local folder, nor cached, nor obtainable from the hub. The message is one line."""


@dataclass(frozen=True)
class Snapshot:
    """A complete snapshot of a hub repo in the Hugging Face cache."""

    name: str
    folder: Path
    commit: str
    layout: Layout
    note: str = ""  # e.g. the pinned commit was gone and `main` was used


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def patterns_for(layout: Layout) -> list[str]:
    """The files to download (and to find in the cache) for a layout: config, tokenizer, weights."""
    return [*CONFIG_FILES, *TOKENIZER_FILES, *WEIGHT_PATTERNS[layout]]


def choose_layout(files: Iterable[str]) -> Layout | None:
    """Safetensors when the repo has them, else `.bin`; None when it has neither (top-level files only)."""
    from fnmatch import fnmatchcase

    top_level = [f for f in files if "/" not in f]
    for layout, patterns in WEIGHT_PATTERNS.items():  # safetensors first (insertion order)
        if any(fnmatchcase(f, p) for f in top_level for p in patterns):
            return layout
    return None


def folder_layout(folder: Path) -> Layout | None:
    """The weight layout of a model folder on disk (safetensors first), or None if it has no weights."""
    return choose_layout(p.name for p in folder.iterdir()) if folder.is_dir() else None


def has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "vocab.txt").is_file()


def cached_snapshot(name: str, revision: str | None = None) -> Snapshot | None:
    """The complete cached snapshot of `name` at `revision` (None: what `main` points at). Never touches the network."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    for layout in WEIGHT_PATTERNS:
        try:
            folder = Path(snapshot_download(name, revision=revision, local_files_only=True,
                                            allow_patterns=patterns_for(layout)))
        except (LocalEntryNotFoundError, OSError, ValueError):  # IncompleteSnapshotError is a LocalEntryNotFoundError
            return None
        if (folder / "config.json").is_file() and folder_layout(folder) == layout:
            return Snapshot(name, folder, folder.name, layout)
    return None


def fetch_snapshot(name: str, revision: str | None = None, on_progress: ProgressCallback | None = None) -> Snapshot:
    """Download `name` at `revision` (a pinned commit falls back to `main` if the hub no longer has it).

    Gated or missing repos fail at once; a connection problem is retried once. `on_progress(done, total)` is
    called from this thread while files arrive.
    """
    from huggingface_hub.errors import RevisionNotFoundError
    from huggingface_hub.utils import disable_progress_bars, logging

    disable_progress_bars()  # callers report bytes themselves (on_progress)
    logging.set_verbosity_error()  # no retry chatter: a failure ends as one line
    _bound_request_time()
    note = ""
    try:
        commit, files = _resolve(name, revision)
    except RevisionNotFoundError:
        if revision is None:
            raise ModelUnavailable(f"The hub has no `main` branch for `{name}`.") from None
        note = f"the pinned commit {revision[:12]} of {name} is gone from the hub; fetched main instead"
        commit, files = _resolve(name, None)
    layout = choose_layout(files)
    if layout is None:
        raise ModelUnavailable(f"The hub repo `{name}` has no model weights (neither safetensors nor pytorch_model.bin).")
    wanted = patterns_for(layout)
    total = sum(size for path, size in files.items() if _matches(path, wanted))
    folder = _download(name, commit, wanted, total, on_progress)
    if not has_tokenizer(folder):
        raise ModelUnavailable(f"The hub repo `{name}` has no tokenizer files (tokenizer.json or vocab.txt), "
                               "so its text cannot be tokenised; use a repo that ships its tokenizer.")
    point_main_at(name, commit)
    return Snapshot(name, folder, commit, layout, note)


def _resolve(name: str, revision: str | None) -> tuple[str, dict[str, int]]:
    """The commit a revision points at and its files with sizes (one API call, retried once)."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_endpoint())
    info = _with_retry(name, lambda: api.model_info(name, revision=revision, files_metadata=True,
                                                    timeout=REQUEST_TIMEOUT_S))
    files = {s.rfilename: int(s.size or 0) for s in (info.siblings or [])}
    return str(info.sha), files


def _download(name: str, commit: str, patterns: list[str], total: int, on_progress: ProgressCallback | None) -> Path:
    from huggingface_hub import snapshot_download

    def attempt() -> Path:
        return Path(snapshot_download(name, revision=commit, allow_patterns=patterns, endpoint=hub_endpoint(),
                                      etag_timeout=REQUEST_TIMEOUT_S))

    if on_progress is None:
        return _with_retry(name, attempt, total)
    return _with_retry(name, lambda: _watch(attempt, lambda: bytes_arrived(_repo_folder(name), commit), total,
                                            on_progress), total)


def _watch(download: Callable[[], Path], arrived: Callable[[], int], total: int, on_progress: ProgressCallback) -> Path:
    """Run `download` in a worker thread and report the bytes `arrived()` counts meanwhile."""
    start = arrived()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(download())
        except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
            outcome.append(exc)

    worker = threading.Thread(target=run, name="hub-download", daemon=True)
    worker.start()
    while worker.is_alive():
        on_progress(min(total, max(0, arrived() - start)), total)
        worker.join(POLL_INTERVAL_S)
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    on_progress(total, total)
    assert isinstance(result, Path)
    return result


def _with_retry(name: str, call: Callable[[], T], needed_bytes: int = 0) -> T:
    """Run a hub call; retry once on a connection problem; turn every hub failure into one clear line (out of
    space: the folder and about `needed_bytes`, with no retry)."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    for attempt in range(ATTEMPTS):
        try:
            return call()
        except GatedRepoError:
            raise ModelUnavailable(
                f"The hub repo `{name}` is gated: accept its licence on its hub page while logged in, "
                "then set HF_TOKEN to an access token of that account."
            ) from None
        except RevisionNotFoundError:
            raise
        except RepositoryNotFoundError:
            raise ModelUnavailable(f"There is no model `{name}` on the hub (or it is private: set HF_TOKEN).") from None
        except Exception as exc:  # noqa: BLE001 - connection dropped, stalled, refused, or a broken file
            if disk_full(exc) is not None:  # the `.incomplete` blob never counts as cached
                raise ModelUnavailable(no_space_line(_repo_folder(name).parent, needed_bytes,
                                                     f"the download of `{name}`")) from None
            if attempt + 1 < ATTEMPTS:
                continue
            raise ModelUnavailable(
                f"The download of `{name}` failed twice ({_reason(exc)}); check the network and try again."
            ) from exc
    raise AssertionError("unreachable")


def _reason(exc: BaseException) -> str:
    """A short cause: the exception type, and for timeouts or drops a word a person understands."""
    text = f"{type(exc).__name__} {exc}".lower()
    if "timeout" in text or "timed out" in text:
        return "the hub did not answer in time"
    if "protocol" in text or "incomplete" in text or "closed" in text or "consistency" in text:
        return "the connection dropped mid-file"
    if "connect" in text:
        return "the hub could not be reached"
    return type(exc).__name__


def _bound_request_time() -> None:
    """Give huggingface_hub's shared HTTP client a timeout: its API calls have none by default.

    Calls that pass their own timeout (file headers and downloads) keep it.
    """
    import httpx2
    from huggingface_hub import get_session

    session = get_session()
    if session.timeout.read is None:
        session.timeout = httpx2.Timeout(REQUEST_TIMEOUT_S)


def point_main_at(name: str, commit: str) -> None:
    """Point the HF cache's `refs/main` of `name` at `commit`, atomically.

    huggingface_hub writes a ref only for a branch or tag download, not for a commit SHA; the app asks the cache
    for the default revision, so this makes it find the snapshot that was fetched. A later download of "main"
    rewrites the ref as usual.
    """
    ref = _repo_folder(name) / "refs" / "main"
    if ref.is_file() and ref.read_text(encoding="utf-8").strip() == commit:
        return
    ref.parent.mkdir(parents=True, exist_ok=True)
    staging = ref.parent / f".main.{os.getpid()}.{threading.get_ident()}.tmp"
    staging.write_text(commit, encoding="utf-8")
    replace_file(staging, ref)


def _repo_folder(name: str) -> Path:
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    return Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=name, repo_type="model")


def bytes_arrived(repo: Path, commit: str) -> int:
    """Bytes of one repo's download so far, each counted once wherever huggingface_hub keeps it.

    A file arrives as `blobs/<hash>.incomplete`, becomes `blobs/<hash>`, and the commit's snapshot folder gets a
    symlink to it (not counted). Without symlinks (Windows without Developer Mode, HF_HUB_DISABLE_SYMLINKS)
    the finished blob is moved into the snapshot folder instead, and `blobs/` empties: counted there."""
    return _regular_file_bytes(repo / "blobs") + _regular_file_bytes(repo / "snapshots" / commit)


def _regular_file_bytes(folder: Path) -> int:
    """Sizes of the files under `folder`, symlinks not followed nor counted (a file gone meanwhile counts 0)."""
    total = 0
    for root, _dirs, names in os.walk(folder):
        for name in names:
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(root, name))
                total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def _matches(path: str, patterns: list[str]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(path, pattern) for pattern in patterns)


def hub_offline() -> bool:
    """True when the user asked for no network (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return any(
        os.environ.get(var, "").strip().lower() in {"1", "true", "yes", "on"}
        for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def host_reachable(host: str, port: int = 443, timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Open a TCP connection to `host`; give up after `timeout_s`, DNS included (it runs in a thread)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])
