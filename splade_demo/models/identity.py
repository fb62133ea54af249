"""A model's portable identity: what its weights and tokenizer are, wherever its files sit.

`loading.model_fingerprint` (absolute path + file times) is a fine key for this machine's cache but never matches
on another machine. An index pack needs an identity that does:
- the weights' sha256, file by file: the hub names each LFS file by exactly this hash (its ETag, and the blob's
  name in the Hugging Face cache, read from there for free); a local folder's files are hashed once and the result
  cached by path, size and modification time (`weights_sha256.json` in the cache folder);
- the hub commit when the model came from the hub (informative: the same weights under another commit still match);
- the tokenizer's hash: its vocabulary and how it splits a probe text (lower-casing, accents), from the loaded
  tokenizer, so a re-saved tokenizer with other JSON formatting still matches.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WEIGHT_SUFFIX = ".safetensors"
SHA256_NAME = re.compile(r"^[0-9a-f]{64}$")
HASH_CACHE_FILE = "weights_sha256.json"
TOKENIZER_PROBE = "Hello World! Ça coûte 3,50 € — naïve CPython's PyObject_Malloc()"
_cache_lock = threading.Lock()


@dataclass(frozen=True)
class ModelIdentity:
    """What a model is, independent of where its files are."""

    weights_sha256: str  # one hash over the weights files' own sha256s (a single file: its sha256)
    tokenizer_sha256: str
    commit: str | None = None  # the hub commit, when known

    @property
    def short(self) -> str:
        return self.weights_sha256[:12]


def file_sha256(path: Path, cache_dir: Path | None = None) -> str:
    """The sha256 of a file's bytes: the hub cache's blob name when it is one (the LFS ETag), else hashed, with
    the result cached by resolved path, size and modification time in `cache_dir`."""
    resolved = path.resolve()
    if SHA256_NAME.match(resolved.name):  # a Hugging Face cache blob: named by the LFS sha256 of its content
        return resolved.name
    stat = resolved.stat()
    key = f"{resolved}:{stat.st_size}:{stat.st_mtime_ns}"
    cache = Path(cache_dir) / HASH_CACHE_FILE if cache_dir is not None else None
    known = _read_cache(cache)
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    with open(resolved, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    if cache is not None:
        _write_cache(cache, key, value)
    return value


def weights_sha256(folder: Path, cache_dir: Path | None = None) -> str:
    """One hash for a model folder's safetensors files: a single file's own sha256, else a hash of name:sha256."""
    files = sorted(p for p in Path(folder).glob(f"*{WEIGHT_SUFFIX}") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no {WEIGHT_SUFFIX} weights in {folder}")
    hashes = [(p.name, file_sha256(p, cache_dir)) for p in files]
    if len(hashes) == 1:
        return hashes[0][1]
    return hashlib.sha256("\n".join(f"{name}:{value}" for name, value in hashes).encode()).hexdigest()


def tokenizer_sha256(tokenizer: Any) -> str:
    """A hash of the tokenizer's vocabulary (term -> id) and of how it splits a probe text."""
    digest = hashlib.sha256(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    digest.update(json.dumps(tokenizer(TOKENIZER_PROBE)["input_ids"]).encode())
    return digest.hexdigest()


def model_identity(folder: Path, tokenizer: Any, commit: str | None, cache_dir: Path | None = None) -> ModelIdentity:
    """The identity of the model loaded from `folder` (see the module docstring)."""
    return ModelIdentity(weights_sha256(folder, cache_dir), tokenizer_sha256(tokenizer), commit)


def _read_cache(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_cache(path: Path, key: str, value: str) -> None:
    """Add one entry (atomically; a failure only means hashing again next time)."""
    with _cache_lock:
        known = _read_cache(path)
        known[key] = value
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass
