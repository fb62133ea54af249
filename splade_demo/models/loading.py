"""Find and load Hugging Face models: local folder first, then the local cache, then the hub.

A plain `from_pretrained("bert-base-uncased")` with no network retries for about 50 s before
it fails. Here the cache is tried first (`local_files_only=True`), and the hub only after a
probe that gives up within about 2 s. `HF_HUB_OFFLINE=1` is honoured. Downloads and the weights
policy (safetensors first, `.bin` read once through the weights-only loader and converted) live in
`hub_download.py` and `weights.py`; `trust_remote_code` stays off.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from splade_demo.config import load_cache_dir, public_mode
from splade_demo.frozen_imports import import_frozen
from splade_demo.models.catalog import find
from splade_demo.models.hub_download import (
    HUB_PROBE_TIMEOUT_S,
    ModelUnavailable,
    ProgressCallback,
    cached_snapshot,
    fetch_snapshot,
    host_reachable,
    hub_endpoint,
    hub_offline,
)
from splade_demo.models.weights import safetensors_folder

PREFETCH_HINT = "python -m splade_demo prefetch"
# One model load at a time in this process: two threads loading at once (a page's model and the index build's) trip
# over transformers' process-wide state: its lazy import ("cannot import name 'AutoModelForMaskedLM'") and the meta
# device it builds empty models on ("Tensor on device meta"). On 2 cores two loads gain nothing by overlapping.
_LOADING = threading.Lock()

__all__ = ["HUB_PROBE_TIMEOUT_S", "ModelUnavailable", "host_reachable", "hub_endpoint", "hub_offline"]


@dataclass(frozen=True)
class ModelLocation:
    """Where a model's loadable (safetensors) files are, where they came from, and how."""

    name: str
    path: Path
    origin: str  # "local folder" | "cache" | "hub"
    layout: str = "safetensors"  # "safetensors" | "converted from .bin"
    commit: str | None = None  # the hub snapshot's commit
    note: str = ""  # e.g. a pinned commit that was gone, so main was fetched


def hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Can the model hub be reached within `timeout_s`?"""
    parsed = urlparse(hub_endpoint())
    port = parsed.port or (443 if parsed.scheme != "http" else 80)
    return host_reachable(parsed.hostname or "huggingface.co", port, timeout_s)


def unavailable_message(name: str, reason: str) -> str:
    return (
        f"The model `{name}` is not available: {reason}. "
        f"Run `{PREFETCH_HINT}` while online to cache it, or point the setting at a local folder."
    )


def cached_model_dir(name: str) -> Path | None:
    """The complete cached snapshot folder of a hub model, or None (never touches the network)."""
    snapshot = cached_snapshot(name)
    return snapshot.folder if snapshot else None


def available_locally(name: str) -> bool:
    """True when `name` is a local folder or a completely cached hub model (never touches the network)."""
    name = name.strip()
    if not name:
        return False
    if Path(name).expanduser().is_dir():
        return True
    return is_hub_id(name) and cached_model_dir(name) is not None


def is_hub_id(name: str) -> bool:
    """A hub id (`org/name` or `name`), not a path."""
    return not (Path(name).expanduser().is_absolute() or name.startswith((".", "~")) or name.count("/") > 1)


def locate_model(name: str, allow_download: bool = True, on_progress: ProgressCallback | None = None) -> ModelLocation:
    """Find a model's loadable folder: a local path, the HF cache, or (if reachable) a download.

    A `.bin`-only model is converted once to safetensors in the cache folder (`weights.py`).
    """
    name = name.strip()
    if not name:
        raise ModelUnavailable("No model name was given.")
    if public_mode() and not allowed_in_public(name):
        raise ModelUnavailable(public_refusal(name))
    local = Path(name).expanduser()
    if local.is_dir():
        path, layout = safetensors_folder(local, name, load_cache_dir())
        return ModelLocation(name, path, "local folder", layout)
    if not is_hub_id(name):
        raise ModelUnavailable(unavailable_message(name, f"there is no folder at {local}"))
    snapshot = cached_snapshot(name)
    origin = "cache"
    if snapshot is None:
        if not allow_download:
            raise ModelUnavailable(unavailable_message(name, "it is not in the local cache"))
        if hub_offline():
            raise ModelUnavailable(unavailable_message(name, "it is not cached and HF_HUB_OFFLINE is set"))
        if not hub_reachable():
            raise ModelUnavailable(unavailable_message(name, "it is not cached and the model hub is unreachable"))
        snapshot = fetch_snapshot(name, pinned_revision(name), on_progress=on_progress)
        origin = "hub"
    path, layout = safetensors_folder(snapshot.folder, name, load_cache_dir())
    return ModelLocation(name, path, origin, layout, snapshot.commit, snapshot.note)


def allowed_in_public(name: str) -> bool:
    """In public mode: a catalogue model, or the model the operator's environment names (never a visitor's id)."""
    entry = find(name)
    if entry is not None and entry.kind in {"splade", "mlm"}:
        return True
    operator = {os.environ.get(var, "").strip() for var in ("SPLADE_DEMO_SPLADE_MODEL", "SPLADE_DEMO_MLM_MODEL")}
    return name in operator - {""}


def public_refusal(name: str) -> str:
    """The message for a model outside the catalogue in public mode (the id shortened; never a server path)."""
    shown = name.replace("\x00", "")[:60] + ("…" if len(name) > 60 else "")
    return f"The model {shown!r} is not offered on this server: it only loads the models of its catalogue."


def pinned_revision(name: str) -> str | None:
    """The commit the catalogue pins for `name` (None: the hub's main)."""
    entry = find(name)
    return entry.revision if entry else None


@dataclass(frozen=True)
class LoadedMLM:
    """A tokenizer and masked-LM model shared by every session: never mutated after loading.

    Hold `lock` around tokenizer and model calls (Streamlit serves sessions from threads).
    """

    name: str
    location: ModelLocation
    tokenizer: Any
    model: Any
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    @property
    def fingerprint(self) -> str:
        return model_fingerprint(self.location)


def load_mlm(name: str, allow_download: bool = True, on_progress: ProgressCallback | None = None) -> LoadedMLM:
    """Load a masked-LM (BERT fill-mask or a SPLADE model) as a shareable LoadedMLM."""
    location = locate_model(name, allow_download=allow_download, on_progress=on_progress)
    tokenizer, model = _load_from(location)
    return LoadedMLM(name=name, location=location, tokenizer=tokenizer, model=model)


def _load_from(location: ModelLocation) -> tuple[Any, Any]:
    with _LOADING:
        return _load_from_unlocked(location)


def _load_from_unlocked(location: ModelLocation) -> tuple[Any, Any]:
    # lazy: transformers takes seconds to import, and BM25 never needs it. modeling_utils is what every model class
    # imports (torch.distributed, dynamo, scipy...): imported here, before any model exists (frozen_imports)
    import_frozen("transformers", "transformers.modeling_utils")
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # no "Loading weights" bar on the CLI's stderr
    name = location.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(location.path, trust_remote_code=False)
        model = AutoModelForMaskedLM.from_pretrained(
            location.path, use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelUnavailable(
            unavailable_message(name, f"its files at {location.path} could not be loaded ({exc.__class__.__name__})")
        ) from exc
    model.eval()
    model.requires_grad_(False)
    return tokenizer, model


def model_fingerprint(location: ModelLocation) -> str:
    """A short hash for cache keys: the resolved folder (a hub snapshot names its revision),
    the config and tokenizer files, and the weights' sizes and modification times."""
    digest = hashlib.sha256(str(location.path.resolve()).encode())
    for file in sorted(location.path.glob("*")):
        if file.suffix in {".safetensors", ".json"} and file.is_file():
            stat = file.stat()
            digest.update(f"{file.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            if file.suffix == ".json":
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]
