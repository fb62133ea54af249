"""Index packs: a corpus's SPLADE document vectors computed once, shipped as one safetensors file, used anywhere.

As pyserini's prebuilt indexes: a machine that has the pack for its model and corpus skips the build. The file is
safetensors (a JSON header and raw arrays: never a pickle) with
- tensors: the CSR arrays `indptr` (int64), `indices` (int32), `data` (float16 or float32), and per passage
  `n_tokens` (int64) and `truncated` (uint8);
- metadata `manifest`: JSON with the pack format, the model (id, hub commit, weights sha256, tokenizer sha256), max
  length, the text recipe, the corpus (name, content hash), the documents' precision and value type, passages,
  non-zeros, build seconds, creation time, and `tensors_sha256`, a hash of every tensor's bytes (tampering shows).

A pack is used only when its manifest matches the loaded model's portable identity (`models.identity`: weights and
tokenizer hashes, never a path or a file time), the corpus's content hash, max length and recipe. Anything else is
one plain line (`PackRejected`) and the caller builds as usual. Queries are still encoded live.

Where packs come from (`find_pack_files`): `SPLADE_DEMO_INDEX_PACK` names a file, a folder of packs, or
`hf://datasets/OWNER/NAME/FILE` (downloaded through huggingface_hub into its cache, with the model downloads' clear
errors); the default is the repo's `corpus/packs/`. Only the operator's environment sets it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from scipy import sparse

from splade_demo.data.corpus import Corpus
from splade_demo.integrity import disk_full, no_space_line
from splade_demo.models.identity import ModelIdentity, model_identity
from splade_demo.retrieval.splade_encoder import SpladeEncoder

PACK_FORMAT = "splade-demo-index-pack/1"
PACK_SUFFIX = ".safetensors"
HF_PREFIX = "hf://"
TENSORS = ("indptr", "indices", "data", "n_tokens", "truncated")
VALUE_TYPES = {"float16": np.float16, "float32": np.float32}
_identities: dict[str, ModelIdentity] = {}


class PackWriteError(OSError):
    """A pack that could not be written, in one line (a full disk: the folder and about the space needed)."""


class PackRejected(ValueError):
    """A pack that cannot be used here; the message is one line naming the file and the reason."""


@dataclass(frozen=True)
class PackContents:
    """What a matching pack holds, ready for a SpladeIndex."""

    path: Path
    matrix: sparse.csr_matrix  # float32 (docs, vocab)
    n_tokens: np.ndarray
    truncated: np.ndarray
    manifest: dict[str, Any]

    @property
    def value_type(self) -> str:
        return str(self.manifest.get("values", "float32"))

    @property
    def precision(self) -> str:
        return str(self.manifest.get("precision", "fp32"))


def encoder_identity(encoder: SpladeEncoder, cache_dir: Path | None) -> ModelIdentity:
    """The portable identity of the encoder's model (hashed once per process and model files)."""
    loaded = encoder.loaded
    key = loaded.fingerprint
    if key not in _identities:
        _identities[key] = model_identity(loaded.location.path, loaded.tokenizer, loaded.location.commit, cache_dir)
    return _identities[key]


def expected_manifest(encoder: SpladeEncoder, corpus: Corpus, cache_dir: Path | None, recipe: str) -> dict[str, Any]:
    """What a pack for this encoder and corpus must say (the fields that decide a match)."""
    identity = encoder_identity(encoder, cache_dir)
    return {
        "format": PACK_FORMAT,
        "model": {"id": encoder.name, "commit": identity.commit, "weights_sha256": identity.weights_sha256,
                  "tokenizer_sha256": identity.tokenizer_sha256},
        "max_length": encoder.max_length,
        "document_text": recipe,
        "corpus": {"name": corpus.name, "content_hash": corpus.content_hash},
        "vocab_size": encoder.vocab_size,
    }


def write_pack(path: Path, matrix: sparse.csr_matrix, n_tokens: np.ndarray, truncated: np.ndarray,
               manifest: dict[str, Any], values: str = "float16") -> Path:
    """Write a pack (atomically: a temporary file, then a rename). `manifest` comes from `expected_manifest` plus
    the index's own facts; the counts, value type and tensor hash are added here."""
    from safetensors.numpy import save_file  # lazy: only writing and reading packs needs it

    if values not in VALUE_TYPES:
        raise ValueError(f"unknown pack value type {values!r}; choose one of {', '.join(VALUE_TYPES)}")
    matrix = sparse.csr_matrix(matrix)
    matrix.sort_indices()
    tensors = {
        "indptr": np.ascontiguousarray(matrix.indptr, dtype=np.int64),
        "indices": np.ascontiguousarray(matrix.indices, dtype=np.int32),
        "data": np.ascontiguousarray(matrix.data, dtype=VALUE_TYPES[values]),
        "n_tokens": np.ascontiguousarray(n_tokens, dtype=np.int64),
        "truncated": np.ascontiguousarray(truncated, dtype=np.uint8),
    }
    full = {**manifest, "format": PACK_FORMAT, "values": values, "passages": int(matrix.shape[0]),
            "nnz": int(matrix.nnz), "tensors_sha256": tensors_sha256(tensors),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        save_file(tensors, str(tmp), metadata={"manifest": json.dumps(full, sort_keys=True)})
        os.chmod(tmp, 0o644)  # safetensors writes 0600: a pack is copied to servers and read by other users
        tmp.replace(path)
    except Exception as exc:  # noqa: BLE001 - safetensors' writer reports a full disk in its own error type
        if disk_full(exc) is None:
            raise
        needed = sum(tensor.nbytes for tensor in tensors.values())
        raise PackWriteError(no_space_line(path.parent, needed, "the index pack")) from None
    finally:
        tmp.unlink(missing_ok=True)  # nothing half-written is left under a pack's name
    return path


def tensors_sha256(tensors: dict[str, np.ndarray]) -> str:
    """One hash over the pack's tensors, by name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name in TENSORS:
        array = tensors[name]
        digest.update(f"{name}:{array.dtype.str}:{array.shape}\n".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of the pack at `path` (only its header is read). PackRejected for anything that is not a pack
    of this format: a truncated file, a pickle or other file under a pack's name, another format version."""
    from safetensors import SafetensorError, safe_open  # lazy: see write_pack

    try:
        with safe_open(str(path), framework="np") as handle:
            metadata = handle.metadata() or {}
            names = set(handle.keys())
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise PackRejected(f"{Path(path).name} is not a readable safetensors pack "
                           f"({_short(exc)}): ignored") from None
    try:
        manifest = json.loads(metadata["manifest"])
        version = manifest["format"]
    except (KeyError, ValueError, TypeError):
        raise PackRejected(f"{Path(path).name} has no pack manifest: ignored") from None
    if version != PACK_FORMAT:
        raise PackRejected(f"{Path(path).name} is pack format {str(version)[:40]!r}; this version reads "
                           f"{PACK_FORMAT!r}: ignored")
    if names != set(TENSORS):
        raise PackRejected(f"{Path(path).name} lacks the pack's arrays: ignored")
    return manifest


def mismatch(manifest: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """What differs between a pack's manifest and what this model and corpus need (None: it matches)."""
    got, want = manifest.get("model") or {}, expected["model"]
    if got.get("weights_sha256") != want["weights_sha256"]:
        built = f"commit {str(got.get('commit'))[:10]}…, weights {str(got.get('weights_sha256'))[:10]}…"
        this = f"commit {str(want['commit'])[:10]}…, weights {want['weights_sha256'][:10]}…"
        return f"built for {got.get('id')!s} ({built}); this model is {expected['model']['id']} ({this})"
    if got.get("tokenizer_sha256") != want["tokenizer_sha256"]:
        return "built with another tokenizer (its vocabulary or splitting differs)"
    corpus, want_corpus = manifest.get("corpus") or {}, expected["corpus"]
    if corpus.get("content_hash") != want_corpus["content_hash"]:
        return (f"built for corpus {corpus.get('name')!s} ({str(corpus.get('content_hash'))[:10]}…); this corpus is "
                f"{want_corpus['name']} ({want_corpus['content_hash'][:10]}…)")
    for field, label in (("max_length", "max length"), ("document_text", "text recipe"), ("vocab_size", "vocabulary")):
        if manifest.get(field) != expected[field]:
            return f"built with {label} {manifest.get(field)!s}; this build uses {expected[field]}"
    return None


def read_pack(path: Path, expected: dict[str, Any]) -> PackContents:
    """The pack's vectors when it matches `expected` and is intact; PackRejected (one line) otherwise."""
    from safetensors import SafetensorError  # lazy: see write_pack
    from safetensors.numpy import load_file

    name = Path(path).name
    manifest = read_manifest(path)
    differs = mismatch(manifest, expected)
    if differs:
        raise PackRejected(f"pack {name} not used: {differs}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise PackRejected(f"{name} cannot be read ({_short(exc)}): ignored") from None
    if tensors_sha256(tensors) != manifest.get("tensors_sha256"):
        raise PackRejected(f"pack {name} not used: its arrays do not match the hash in its manifest (altered or damaged)")
    passages, vocab = int(manifest.get("passages", -1)), int(expected["vocab_size"])
    try:
        matrix = sparse.csr_matrix((tensors["data"].astype(np.float32), tensors["indices"], tensors["indptr"]),
                                   shape=(passages, vocab))
        matrix.check_format(full_check=True)
    except (ValueError, TypeError) as exc:
        raise PackRejected(f"pack {name} not used: its arrays are inconsistent ({_short(exc)})") from None
    n_tokens, truncated = tensors["n_tokens"], tensors["truncated"].astype(bool)
    if n_tokens.shape != (passages,) or truncated.shape != (passages,):
        raise PackRejected(f"pack {name} not used: its per-passage arrays have the wrong length")
    return PackContents(Path(path), matrix, n_tokens, truncated, manifest)


def find_pack_files(source: str, fetch: Callable[[str], Path] | None = None) -> list[Path]:
    """The pack files `source` names: a file, the `*.safetensors` of a folder (none if it does not exist), or an
    `hf://datasets/...` file downloaded by `fetch` (default `fetch_hub_pack`)."""
    if source.startswith(HF_PREFIX):
        return [(fetch or fetch_hub_pack)(source)]
    where = Path(source).expanduser()
    if where.is_dir():
        return sorted(p for p in where.glob(f"*{PACK_SUFFIX}") if p.is_file())
    return [where] if where.is_file() else []


def fetch_hub_pack(source: str) -> Path:
    """Download `hf://datasets/OWNER/NAME/FILE` (or `hf://OWNER/NAME/FILE`, a dataset too) into the hub cache, the
    cached file first (HF_HUB_OFFLINE honoured), with huggingface_hub's own progress bar; a dropped connection is
    retried once. PackRejected with the reason in one line, as for models."""
    from huggingface_hub import hf_hub_download  # lazy: only a hub pack needs it
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    from splade_demo.models.hub_download import REQUEST_TIMEOUT_S, hub_endpoint
    from splade_demo.models.loading import hub_offline, hub_reachable

    parts = source[len(HF_PREFIX):].strip("/").split("/")
    if parts and parts[0] == "datasets":
        parts = parts[1:]
    if len(parts) < 3 or not all(parts):
        raise PackRejected(f"{source!r} is not a hub pack address: use hf://datasets/OWNER/NAME/FILE")
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    try:
        return Path(hf_hub_download(repo, filename, repo_type="dataset", local_files_only=True))
    except Exception:  # noqa: BLE001 - not cached: go to the hub below
        pass
    if hub_offline():
        raise PackRejected(f"index pack {source} is not cached and HF_HUB_OFFLINE is set")
    if not hub_reachable():
        raise PackRejected(f"index pack {source} is not cached and the hub ({hub_endpoint()}) is unreachable")
    for attempt in range(2):
        try:
            return Path(hf_hub_download(repo, filename, repo_type="dataset", endpoint=hub_endpoint(),
                                        etag_timeout=REQUEST_TIMEOUT_S))
        except GatedRepoError:
            raise PackRejected(f"index pack {source}: the dataset is gated: accept its terms on the hub, then set "
                               "HF_TOKEN") from None
        except RepositoryNotFoundError:
            raise PackRejected(f"index pack {source}: there is no dataset {repo} on the hub (or it is private: "
                               "set HF_TOKEN)") from None
        except EntryNotFoundError:
            raise PackRejected(f"index pack {source}: the dataset {repo} has no file {filename}") from None
        except Exception as exc:  # noqa: BLE001 - offline, refused, dropped: retried once, then one line
            if attempt == 0 and "offline" not in str(exc).lower():
                continue
            raise PackRejected(f"index pack {source} could not be downloaded ({_short(exc)})") from None
    raise AssertionError("unreachable")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return (text[:120] + "…") if len(text) > 120 else text or type(exc).__name__
