"""Checksums for cached artefacts whose format has none of its own (converted safetensors weights, GloVe's converted
vectors, JSON sidecars). `.npz` files keep the zip CRC they already have.

A folder artefact gets `checksums.json` (each file's size and SHA-256), written last: a folder without it was
never finished. A JSON sidecar carries the SHA-256 of its own other fields (`seal` / `unseal`).

Cost: files are hashed in 1 MiB chunks once when written. A reader checks sizes every time (a stat) and the full
SHA-256 once per file per process (`verify_folder` remembers a file verified at that size and modification
time), so a warm start hashes each artefact once: about 0.2 s for a BERT-base's 440 MB on this machine.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable, Mapping

CHECKSUMS_FILE = "checksums.json"
CHUNK_BYTES = 1 << 20
SEAL_FIELD = "sha256"
logger = logging.getLogger("splade_demo.integrity")
_VERIFIED: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, sha256) verified in this process
_VERIFIED_LOCK = threading.Lock()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksums(folder: Path, files: Iterable[Path] | None = None) -> None:
    """Record the size and SHA-256 of `files` (default: every file in `folder`) in `folder/checksums.json`,
    atomically. Call it last, once everything else is written."""
    folder = Path(folder)
    chosen = sorted(files) if files is not None else sorted(p for p in folder.iterdir() if p.is_file()
                                                             and p.name != CHECKSUMS_FILE)
    entries = {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": file_sha256(p)} for p in chosen}
    write_json_atomically(folder / CHECKSUMS_FILE, {"format": 1, "files": entries})


def verify_folder(folder: Path) -> str | None:
    """None when every file in `folder/checksums.json` is there with its size and SHA-256; otherwise what is wrong,
    in a few words (`no checksums.json: never finished`, `vectors.npy is 12 bytes, not 80,000,128`, ...)."""
    folder = Path(folder)
    try:
        record = json.loads((folder / CHECKSUMS_FILE).read_text(encoding="utf-8"))
        entries: Mapping[str, Mapping[str, Any]] = record["files"]
    except FileNotFoundError:
        return f"it has no {CHECKSUMS_FILE} (never finished, or written before checksums)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its {CHECKSUMS_FILE} is unreadable"
    for name, entry in entries.items():
        problem = _verify_file(folder / name, int(entry["size"]), str(entry["sha256"]))
        if problem:
            return f"{name} {problem}"
    return None


def _verify_file(path: Path, size: int, sha256: str) -> str | None:
    try:
        stat = path.stat()
    except OSError:
        return "is missing"
    if stat.st_size != size:
        return f"is {stat.st_size:,} bytes, not {size:,} (truncated or half-written)"
    key = (str(path), stat.st_size, stat.st_mtime_ns, sha256)
    with _VERIFIED_LOCK:
        if key in _VERIFIED:
            return None
    if file_sha256(path) != sha256:
        return "does not match its checksum (corrupt)"
    with _VERIFIED_LOCK:
        _VERIFIED.add(key)
    return None


def seal(record: Mapping[str, Any]) -> dict[str, Any]:
    """`record` plus the SHA-256 of its other fields (canonical JSON), for a sidecar that checks itself."""
    body = {k: v for k, v in record.items() if k != SEAL_FIELD}
    return {**body, SEAL_FIELD: _json_sha256(body)}


def unseal(record: object) -> dict[str, Any] | None:
    """The sealed `record` without its checksum, or None when it is not a dict or its checksum does not match."""
    if not isinstance(record, dict) or not isinstance(record.get(SEAL_FIELD), str):
        return None
    body = {k: v for k, v in record.items() if k != SEAL_FIELD}
    return body if _json_sha256(body) == record[SEAL_FIELD] else None


def _json_sha256(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_json_atomically(path: Path, record: Mapping[str, Any]) -> None:
    """`record` as JSON at `path`, through a temporary file and os.replace (never half-written)."""
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=f".{Path(path).name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})


DISK_FULL_WORDS = ("no space left on device", "file too large", "disk quota exceeded", "storagefull", "filetoolarge")


def disk_full(exc: BaseException | None) -> BaseException | None:
    """The `no space` / `file too large` / `quota` failure behind `exc` (its causes included), or None. A writer
    that is not Python's own (safetensors' Rust writer) reports it in its message only."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return exc
        if any(word in str(exc).lower() for word in DISK_FULL_WORDS):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def human_bytes(size: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} GB"


def no_space_line(folder: Path, needed_bytes: int, what: str) -> str:
    """One line for a write that ran out of space: the folder, about how much it needs, what to do."""
    return (f"not enough space to write {what} in {folder}: about {human_bytes(max(1, needed_bytes))} is needed; "
            "free some space there (or point SPLADE_DEMO_CACHE at a larger disk) and run it again")


def note(message: str) -> None:
    """One `note:` line on stderr (the CLI) or the server's log (the app): a cached file was bad and is redone."""
    logger.warning("note: %s", message)
