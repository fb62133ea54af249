"""A corpus read as a stream: its identity (content hash, size) without loading it whole.

The content hash is the one `corpus.build_corpus` computes, so a streamed corpus and the same file
loaded in memory name the same index. The hash of a file is remembered by (path, size, mtime) in the
cache folder: `search` over a large corpus does not read it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from splade_demo.data.corpus import (
    NAMED_CORPORA,
    PASSAGE_FIELDS,
    CorpusError,
    Passage,
    _json_lines,
    passage_from_record,
    resolve_corpus_path,
)

FINGERPRINTS_FILE = "corpus_fingerprints.json"
SCAN_FORMAT = 1


@dataclass(frozen=True)
class CorpusInfo:
    """What names a corpus's index: its name, content hash and number of passages."""

    name: str
    path: str
    content_hash: str
    count: int


def corpus_name(spec: str, path: Path) -> str:
    """The name `corpus.load_corpus` gives: `demo`/`full`, else the file name."""
    return spec if spec in NAMED_CORPORA else path.name


def iter_passages(path: str | Path) -> Iterator[Passage]:
    """Validated passages one at a time (errors name the file and line)."""
    for number, record in _json_lines(Path(path)):
        yield passage_from_record(record, f"{path}:{number}")


def scan_corpus(spec: str) -> CorpusInfo:
    """Read the corpus once: validate every record, hash the content, refuse duplicate ids.

    Memory stays small at any size: ids are kept as 64-bit hashes in an array, sorted once.
    """
    path = resolve_corpus_path(spec)
    digest = hashlib.sha256()
    id_hashes: list[int] = []
    for passage in iter_passages(path):
        digest.update(json.dumps([getattr(passage, f) for f in PASSAGE_FIELDS]).encode())
        id_hashes.append(_id_hash(passage.id))
    if not id_hashes:
        raise CorpusError(f"corpus {spec!r} has no passages")
    hashes = np.sort(np.asarray(id_hashes, dtype=np.uint64))
    if np.any(hashes[1:] == hashes[:-1]):
        _report_duplicate(path)
    return CorpusInfo(corpus_name(spec, path), str(path), digest.hexdigest()[:16], len(id_hashes))


def corpus_info(spec: str, cache_dir: Path | None = None) -> CorpusInfo:
    """`scan_corpus`, remembered in `cache_dir` by the file's path, size and modification time."""
    path = resolve_corpus_path(spec)
    stat = path.stat()
    stamp = {"format": SCAN_FORMAT, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    key = str(path.resolve())
    remembered = _read_fingerprints(cache_dir) if cache_dir else {}
    entry = remembered.get(key)
    if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()):
        try:
            return CorpusInfo(corpus_name(spec, path), str(path), str(entry["content_hash"]), int(entry["count"]))
        except (KeyError, TypeError, ValueError):
            pass
    info = scan_corpus(spec)
    if cache_dir:
        remembered[key] = {**stamp, **{k: v for k, v in asdict(info).items() if k in ("content_hash", "count")}}
        _write_fingerprints(cache_dir, remembered)
    return info


def _id_hash(passage_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(passage_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def _report_duplicate(path: Path) -> None:
    """Second pass, only when the hashes collide: name the duplicate id and both lines."""
    seen: dict[int, tuple[str, int]] = {}
    for number, record in _json_lines(path):
        passage_id = str(record.get("id"))
        first = seen.setdefault(_id_hash(passage_id), (passage_id, number))
        if first != (passage_id, number) and first[0] == passage_id:
            raise CorpusError(f"{path}:{number}: duplicate id {passage_id!r} (first at {path}:{first[1]})")


def _read_fingerprints(cache_dir: Path) -> dict:
    try:
        data = json.loads((Path(cache_dir) / FINGERPRINTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_fingerprints(cache_dir: Path, data: dict) -> None:
    """Best effort (a read-only cache only costs a rescan): temporary file, then os.replace."""
    target = Path(cache_dir) / FINGERPRINTS_FILE
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)
