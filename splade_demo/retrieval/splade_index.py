"""The SPLADE document index: every passage's sparse vector, cached on disk, scored by dot product.

score(q, d) = sum_t q_t * d_t over the terms both vectors share (Formal et al. 2021, SPLADE v2):
a sparse matrix-vector product over the (docs, vocab) matrix.

The vectors are saved with `scipy.sparse.save_npz` (no pickles) under `<cache_dir>/splade_index/`,
with a JSON sidecar. The key covers the model's fingerprint, the corpus content hash, max_length,
precision and how a passage becomes text, so a restart reuses the vectors and any change rebuilds
them. Files are written to a temporary name and moved into place with `os.replace`.

A build saves its finished batches every few seconds of work as one checkpoint under
`<index>.parts/<plan>/checkpoint-00012-00037.npz` (atomically, like the index; `SavedBatches`), and at once when it
stops, so a build stopped half-way (a server restart, Ctrl-C) resumes from its saved batches; the same batches give
the same vectors as a build in one go. The folder is removed once the index itself is saved.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Callable

import numpy as np
from scipy import sparse

from splade_demo.config import index_pack_source
from splade_demo.data.corpus import Corpus, Passage
from splade_demo.integrity import SEAL_FIELD, disk_full, no_space_line, note, seal, unseal
from splade_demo.retrieval.build_lock import build_lock
from splade_demo.retrieval.index_pack import PackRejected, expected_manifest, find_pack_files, read_pack, write_pack
from splade_demo.retrieval.splade_encoder import EncodeProgress, SpladeEncoder

INDEX_FORMAT = 1
DOCUMENT_TEXT = "title+section+text/v1"  # how a passage becomes the text that is encoded
INDEX_FOLDER = "splade_index"
DEFAULT_BATCH_SIZE = 16


def document_text(passage: Passage) -> str:
    """The text SPLADE encodes for a passage: title, section (when it adds something), text."""
    parts = [passage.title]
    if passage.section.strip() and passage.section.strip().lower() not in passage.title.lower():
        parts.append(passage.section)
    parts.append(passage.text)
    return " ".join(part.strip() for part in parts if part.strip())


def index_key(encoder: SpladeEncoder, corpus: Corpus) -> str:
    """What the vectors depend on: model, corpus content, max_length, precision, text recipe."""
    parts = {
        "format": INDEX_FORMAT,
        "text": DOCUMENT_TEXT,
        "model": encoder.fingerprint,
        "corpus": corpus.content_hash,
        "max_length": encoder.max_length,
        "precision": encoder.precision,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def index_cache_path(encoder: SpladeEncoder, corpus: Corpus, cache_dir: Path) -> Path:
    """Where the index of `corpus` under `encoder` lives (the .npz; metadata is the .json beside it)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", corpus.name)[:40] or "corpus"
    return Path(cache_dir) / INDEX_FOLDER / f"{slug}-{index_key(encoder, corpus)}.npz"


def _meta_path(path: Path) -> Path:
    return path.with_suffix(".json")


def is_cached(encoder: SpladeEncoder, corpus: Corpus, cache_dir: Path) -> bool:
    """True when a complete index for this model, corpus and settings is on disk."""
    path = index_cache_path(encoder, corpus, cache_dir)
    meta = _read_meta(path)
    return path.is_file() and meta is not None and meta.get("key") == index_key(encoder, corpus)


@dataclass(frozen=True, eq=False)
class SpladeIndex:
    """The documents' SPLADE vectors, scored against a query vector by dot product."""

    corpus: Corpus
    matrix: sparse.csr_matrix  # float32 (docs, vocab)
    key: str
    truncated: np.ndarray  # bool (docs,): longer than max_length word pieces
    n_tokens: np.ndarray  # int (docs,): length in word pieces before truncation
    max_length: int
    precision: str
    model_name: str
    path: Path | None = None
    build_seconds: float | None = None  # None when loaded from disk
    from_cache: bool = False
    save_error: str | None = None  # why the vectors could not be written (kept in memory only)
    resumed: int = 0  # passages taken from the saved batches of an interrupted build
    encoded_tokens: int = 0  # word pieces encoded by this build (truncation applied)
    origin: str = "built"  # where the vectors came from: "pack" | "cache" | "built"
    values: str = "float32"  # the stored values' type (a pack may hold float16)
    pack_note: str | None = None  # why no pack was used (one line), when a pack was there but did not fit

    @property
    def origin_caption(self) -> str:
        """Where the document vectors came from, in a few words (page 4, `index --json`)."""
        where = {"pack": "a prebuilt index pack", "cache": "this machine's cache", "built": "a build on this machine"}
        stored = f", stored as {self.values}" if self.values != "float32" else ""
        return f"documents from {where.get(self.origin, self.origin)}, encoded at {self.precision}{stored}"

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def scores(self, query_vector: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """score(q, d) = sum_t q_t d_t for every document, or for the documents at `rows` (float64, exact).

        Every document: only the query's own columns are read (the postings of its terms, `_postings`), so a
        query costs the length of its terms' postings, not the whole matrix; the products q_t * d_t are float64 and
        each document's sum runs over its terms in vocabulary order, as the row-by-row product does.
        """
        q = np.asarray(query_vector, dtype=np.float64).ravel()
        if q.shape[0] != self.matrix.shape[1]:
            raise ValueError(f"the query vector has {q.shape[0]} dimensions; the index has {self.matrix.shape[1]}")
        if rows is not None:
            return np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)] @ q, dtype=np.float64).ravel()
        terms = np.flatnonzero(q)
        columns = self._postings[:, terms].astype(np.float64)  # the query's terms' postings only
        return np.asarray(columns @ q[terms], dtype=np.float64).ravel()

    @cached_property
    def _postings(self) -> sparse.csc_matrix:
        """The matrix by column (one posting list per term), built on the first query: as much memory again."""
        return self.matrix.tocsc()

    def doc_vector(self, index: int) -> np.ndarray:
        """Document `index`'s vector as a dense float32 array (vocab,)."""
        return self.matrix.getrow(index).toarray().ravel().astype(np.float32, copy=False)

    def doc_row(self, index: int) -> sparse.csr_matrix:
        return self.matrix.getrow(index)

    @property
    def nnz_per_doc(self) -> np.ndarray:
        return np.diff(self.matrix.indptr)

    @property
    def truncated_count(self) -> int:
        return int(np.count_nonzero(self.truncated))

    def stats(self) -> dict[str, float | int]:
        """Documents, non-zeros per document (mean, median, min, max) and truncations."""
        nnz = self.nnz_per_doc
        return {
            "docs": int(len(self)),
            "nnz_mean": float(nnz.mean()) if len(nnz) else 0.0,
            "nnz_median": float(np.median(nnz)) if len(nnz) else 0.0,
            "nnz_min": int(nnz.min()) if len(nnz) else 0,
            "nnz_max": int(nnz.max()) if len(nnz) else 0,
            "truncated": self.truncated_count,
            "max_length": self.max_length,
        }


CHECKPOINT_ENV = "SPLADE_DEMO_CHECKPOINT_SECONDS"  # an operator's (and the fault tests') choice; 0: every batch
DEFAULT_CHECKPOINT_SECONDS = 5.0  # at most this much finished work is lost when a build is killed outright


def checkpoint_seconds() -> float:
    """Seconds of work between two checkpoints: SPLADE_DEMO_CHECKPOINT_SECONDS, else 5 (a bad value: 5)."""
    try:
        return max(0.0, float(os.environ.get(CHECKPOINT_ENV, DEFAULT_CHECKPOINT_SECONDS)))
    except ValueError:
        return DEFAULT_CHECKPOINT_SECONDS


class SavedBatches:
    """The finished batches of one index build, kept as a few checkpoints under `folder/<plan>/`.

    An encoder's `BatchStore`. `save` keeps a batch in memory and writes the batches not yet on disk as one
    checkpoint file (`checkpoint-00012-00037.npz`: batches 12 to 37, plain arrays, no pickles, written atomically)
    once `every_s` seconds have passed since the last one; `flush` writes them at once (the encoder calls it when a
    build stops, finished or not). So a build writes a file every few seconds of work, not one per batch (the tiny
    model's `full` build made over 6,000), and a killed build loses at most `every_s` seconds.
    `begin` drops the checkpoints of any other plan (another batch size) and reads this plan's; a damaged checkpoint
    is skipped (its batches are encoded again). `save` and `flush` never raise: a full disk stops the saving and the
    build goes on in memory (`error` says why)."""

    def __init__(self, folder: Path, vocab_size: int, every_s: float | None = None) -> None:
        self.folder, self.vocab_size = Path(folder), vocab_size
        self.every_s = checkpoint_seconds() if every_s is None else every_s
        self.plan_dir = self.folder
        self.error: str | None = None
        self._on_disk: dict[int, sparse.csr_matrix] = {}
        self._pending: list[tuple[int, sparse.csr_matrix]] = []
        self._last_write = time.monotonic()

    def begin(self, plan: str) -> None:
        self.plan_dir = self.folder / plan
        if self.folder.is_dir():
            for other in self.folder.iterdir():
                if other.is_dir() and other.name != plan:
                    shutil.rmtree(other, ignore_errors=True)
        self._on_disk, self._pending, self._last_write = {}, [], time.monotonic()
        for file in sorted(self.plan_dir.glob("checkpoint-*.npz")) if self.plan_dir.is_dir() else []:
            self._on_disk.update(_read_checkpoint(file, self.vocab_size))

    def checkpoints(self) -> list[Path]:
        """This plan's checkpoint files on disk."""
        return sorted(self.plan_dir.glob("checkpoint-*.npz")) if self.plan_dir.is_dir() else []

    def load(self, number: int, rows: int) -> sparse.csr_matrix | None:
        block = self._on_disk.get(number)
        return block if block is not None and block.shape == (rows, self.vocab_size) else None

    def save(self, number: int, block: sparse.csr_matrix) -> None:
        if self.error is not None:
            return
        self._pending.append((number, block))
        if time.monotonic() - self._last_write >= self.every_s:
            self.flush()

    def flush(self) -> None:
        """Write the batches not yet on disk as one checkpoint (never raises)."""
        if not self._pending or self.error is not None:
            return
        numbers = [number for number, _ in self._pending]
        blocks = [block for _, block in self._pending]
        stacked = sparse.vstack(blocks, format="csr", dtype=np.float32)
        arrays = {"numbers": np.asarray(numbers, dtype=np.int64),
                  "rows": np.asarray([b.shape[0] for b in blocks], dtype=np.int64),
                  "data": stacked.data, "indices": stacked.indices.astype(np.int32), "indptr": stacked.indptr.astype(np.int64)}
        try:
            self.plan_dir.mkdir(parents=True, exist_ok=True)
            path = self.plan_dir / f"checkpoint-{min(numbers):05d}-{max(numbers):05d}.npz"
            _atomic_write(path, lambda handle: np.savez(handle, **arrays))
        except OSError as exc:
            self.error = plain_error(exc)
            return
        self._on_disk.update(self._pending)
        self._pending, self._last_write = [], time.monotonic()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _read_checkpoint(path: Path, vocab_size: int) -> dict[int, sparse.csr_matrix]:
    """The batches of one checkpoint by number ({} when it is damaged)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            numbers, rows = arrays["numbers"], arrays["rows"]
            stacked = sparse.csr_matrix((arrays["data"].astype(np.float32), arrays["indices"], arrays["indptr"]),
                                        shape=(int(rows.sum()), vocab_size))
        stacked.check_format(full_check=True)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return {}
    bounds = np.concatenate([[0], np.cumsum(rows)])
    return {int(n): stacked[int(bounds[i]):int(bounds[i + 1])] for i, n in enumerate(numbers)}


def parts_folder(path: Path) -> Path:
    """Where the finished batches of the index at `path` are kept while it is built."""
    return path.with_suffix(".parts")


def build_index(
    encoder: SpladeEncoder, corpus: Corpus, progress: EncodeProgress | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
    saved: SavedBatches | None = None,
) -> SpladeIndex:
    """Encode every passage (length-sorted batches); only batches go to `saved`, if given (resumed from it)."""
    start = time.perf_counter()
    vectors = encoder.encode_documents_with_info([document_text(p) for p in corpus.passages], batch_size, progress,
                                                 store=saved)
    return SpladeIndex(
        corpus=corpus, matrix=vectors.matrix, key=index_key(encoder, corpus), truncated=vectors.truncated,
        n_tokens=vectors.n_tokens, max_length=encoder.max_length, precision=encoder.precision,
        model_name=encoder.name, build_seconds=time.perf_counter() - start, resumed=vectors.resumed,
        encoded_tokens=vectors.encoded_tokens,
    )


def load_or_build_index(
    encoder: SpladeEncoder, corpus: Corpus, cache_dir: Path, progress: EncodeProgress | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> SpladeIndex:
    """The cached index when its key matches; otherwise build it (resuming from the batches an interrupted
    build saved) and save it atomically."""
    path = index_cache_path(encoder, corpus, cache_dir)
    cached = load_index(encoder, corpus, cache_dir)
    if cached is not None:
        return cached
    with build_lock(path, getattr(progress, "on_wait", None)) as waited:  # one builder per cache (build_lock.py)
        cached = load_index(encoder, corpus, cache_dir) if waited else None
        if cached is not None:
            return cached
        packed, pack_note = load_pack_index(encoder, corpus, cache_dir)
        if packed is not None:
            return packed
        saved = SavedBatches(parts_folder(path), encoder.vocab_size)
        index = _replace(build_index(encoder, corpus, progress, batch_size, saved), pack_note=pack_note)
        try:
            save_index(index, path, encoder.fingerprint)
        except OSError as exc:
            return _replace(index, save_error=_save_failure(exc, path, index))
        saved.remove()
    return _replace(index, path=path)


def load_existing_index(encoder: SpladeEncoder, corpus: Corpus, cache_dir: Path) -> SpladeIndex | None:
    """The index without building it: from the cache, else from a matching index pack; None when neither has it."""
    return load_index(encoder, corpus, cache_dir) or load_pack_index(encoder, corpus, cache_dir)[0]


def load_pack_index(encoder: SpladeEncoder, corpus: Corpus, cache_dir: Path,
                    source: str | None = None) -> tuple[SpladeIndex | None, str | None]:
    """The index from the first matching pack of `source` (default SPLADE_DEMO_INDEX_PACK, else corpus/packs/),
    or (None, the reason in one line) when packs were there but none fits; (None, None) without packs. Never raises."""
    notes: list[str] = []
    start = time.perf_counter()
    try:
        files = find_pack_files(source or index_pack_source())
        expected = expected_manifest(encoder, corpus, cache_dir, DOCUMENT_TEXT) if files else {}
    except (PackRejected, OSError, ValueError) as exc:
        return None, str(exc) if isinstance(exc, PackRejected) else f"index pack: {plain_error(exc)}"
    for file in files:
        try:
            pack = read_pack(file, expected)
        except PackRejected as exc:
            notes.append(str(exc))
            continue
        if pack.matrix.shape != (len(corpus), encoder.vocab_size):
            notes.append(f"pack {file.name} not used: it holds {pack.matrix.shape[0]} passages, the corpus {len(corpus)}")
            continue
        return SpladeIndex(
            corpus=corpus, matrix=pack.matrix, key=index_key(encoder, corpus), truncated=pack.truncated,
            n_tokens=pack.n_tokens, max_length=encoder.max_length, precision=pack.precision, model_name=encoder.name,
            path=file, build_seconds=time.perf_counter() - start, origin="pack", values=pack.value_type,
        ), None
    return None, (notes[0] + (f" (and {len(notes) - 1} other pack(s))" if len(notes) > 1 else "")) if notes else None


def write_index_pack(index: SpladeIndex, encoder: SpladeEncoder, path: Path, cache_dir: Path,
                     values: str = "float16") -> Path:
    """Write `index` (built by `encoder`) as an index pack at `path` (`index_pack.write_pack`)."""
    manifest = {**expected_manifest(encoder, index.corpus, cache_dir, DOCUMENT_TEXT),
                "precision": index.precision, "build_seconds": index.build_seconds}
    return write_pack(path, index.matrix, index.n_tokens, index.truncated, manifest, values)


def plain_error(exc: BaseException) -> str:
    """An exception in plain words, for a page or the sidebar: a full disk, missing memory, or its message."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"the disk is full{where}: free some space in the cache folder, then restart the app"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return f"the cache folder cannot be written ({exc.strerror}: {exc.filename})"
    if isinstance(exc, MemoryError):
        return "the computer ran out of memory"
    message = str(exc).strip()
    return message if type(exc).__name__ == "ModelUnavailable" and message else \
        f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def load_index(encoder: SpladeEncoder, corpus: Corpus, cache_dir: Path) -> SpladeIndex | None:
    """The index from disk, or None when it is missing, stale or unreadable (never raises)."""
    path = index_cache_path(encoder, corpus, cache_dir)
    key = index_key(encoder, corpus)
    meta = _read_meta(path)
    if meta is None or meta.get("key") != key or not path.is_file():
        if meta is None and _meta_path(path).is_file():
            _note_unusable(path, "has a corrupt or half-written sidecar (.json)")
        return None
    try:
        matrix = sparse.load_npz(path).tocsr()  # load_npz refuses pickled objects; the zip CRC catches corruption
        n_docs = len(corpus)
        truncated = np.zeros(n_docs, dtype=bool)
        truncated[np.asarray(meta["truncated"], dtype=np.int64)] = True
        n_tokens = np.asarray(meta["n_tokens"], dtype=np.int64)
    except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        _note_unusable(path, f"cannot be read ({type(exc).__name__})")
        return None
    if matrix.shape != (len(corpus), encoder.vocab_size) or n_tokens.shape != (len(corpus),):
        _note_unusable(path, f"has the wrong shape {matrix.shape}")
        return None
    return SpladeIndex(
        corpus=corpus, matrix=sparse.csr_matrix(matrix, dtype=np.float32), key=key, truncated=truncated,
        n_tokens=n_tokens, max_length=int(meta["max_length"]), precision=str(meta["precision"]),
        model_name=encoder.name, path=path, from_cache=True, origin="cache",
    )


def save_index(index: SpladeIndex, path: Path, fingerprint: str = "") -> None:
    """Write the matrix (.npz) then the metadata (.json), each via a temporary file and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "format": INDEX_FORMAT,
        "key": index.key,
        "model": index.model_name,
        "model_fingerprint": fingerprint,
        "corpus": index.corpus.name,
        "corpus_hash": index.corpus.content_hash,
        "docs": len(index),
        "max_length": index.max_length,
        "precision": index.precision,
        "document_text": DOCUMENT_TEXT,
        "truncated": [int(i) for i in np.flatnonzero(index.truncated)],
        "n_tokens": [int(n) for n in index.n_tokens],
        "build_seconds": index.build_seconds,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _atomic_write(path, lambda handle: sparse.save_npz(handle, index.matrix, compressed=True))
    _atomic_write(_meta_path(path), lambda handle: handle.write(json.dumps(seal(meta)).encode()))  # self-checking


def _atomic_write(path: Path, write: Callable) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is readable like any other file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_meta(path: Path) -> dict | None:
    """The sidecar's fields; None when it is missing, unreadable, or does not match its own checksum. A sidecar
    written before checksums (no `sha256` field) is read as it is."""
    try:
        meta = json.loads(_meta_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(meta, dict) and SEAL_FIELD not in meta:
        return meta
    return unseal(meta)


def _save_failure(exc: OSError, path: Path, index: SpladeIndex) -> str:
    """Why the index was kept in memory only; out of space (or over a file-size limit): one `note:` line naming
    the folder and about how much it needs (the vectors uncompressed, an upper bound), nothing half-written."""
    if disk_full(exc) is None:
        return plain_error(exc)
    matrix = index.matrix
    needed = matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes + 8 * len(index)
    line = no_space_line(path.parent, needed, "the SPLADE index")
    note(line + " (the index is kept in memory until then)")
    return line


def _note_unusable(path: Path, what: str) -> None:
    """One `note:` line for a cached index that exists but cannot be used as it is; it is built again."""
    note(f"the cached SPLADE index {path.name} {what}; building it again")


def _replace(index: SpladeIndex, **changes: object) -> SpladeIndex:
    return replace(index, **changes)


def cache_size_bytes(cache_dir: Path) -> int:
    """Bytes used by every cached SPLADE index under `cache_dir`."""
    folder = Path(cache_dir) / INDEX_FOLDER
    return sum(f.stat().st_size for f in folder.glob("*") if f.is_file()) if folder.is_dir() else 0
