"""`prefetch`: download every default model (safe files only, pinned revisions) and prepare the GloVe cache.

Run it once while online before going offline (a talk, a train): afterwards the app runs with
`HF_HUB_OFFLINE=1`, because `models.locate_model` looks in the Hugging Face cache first. It then
prints what is cached: model, purpose, licence, cached, size on disk, and the snapshot commit.

A model pinned to a commit SHA (see `model_catalog.CATALOG`) is downloaded at that commit, and the
cache's `refs/main` is pointed at it, so the app (which asks for the default revision) loads exactly
the pinned snapshot offline. With nothing to download, it works offline too and just reports.
If something must be downloaded and the hub is unreachable (or `HF_HUB_OFFLINE` is set), it stops at
once: `error: ...`, exit 2, within the hub probe's ~2 s.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from splade_demo.commands import UsageError, add_common
from splade_demo.config import Settings, load_settings
from splade_demo.models.catalog import CatalogEntry, ModelStatus, catalog_status, find, human_size
from splade_demo.models.loading import hub_endpoint, hub_offline, hub_reachable


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prefetch", help="download and cache every default model, then report what is cached",
        description="Download the configured SPLADE and fill-mask models (safetensors and tokenizer files only, "
                    "at pinned revisions) and prepare the GloVe cache; then print what is cached.",
    )
    parser.add_argument("--all", action="store_true", help="also download the catalogue's alternative models")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> object:
    try:
        settings = load_settings()
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    targets = _targets(settings, include_all=args.all)
    missing = [(name, revision) for name, revision in targets if _cached_snapshot(name, revision) is None]
    if missing:
        names = ", ".join(name for name, _ in missing)
        if hub_offline():
            raise RuntimeError(f"cannot download {names}: HF_HUB_OFFLINE is set; unset it (and go online) to prefetch")
        if not hub_reachable():
            raise RuntimeError(f"cannot download {names}: the model hub ({hub_endpoint()}) is unreachable; "
                               "connect to the network and run prefetch again")
    failures = []
    for name, revision in missing:
        try:
            _download(name, revision)
        except RuntimeError as exc:  # models.ModelUnavailable
            failures.append(f"{name} ({' '.join(str(exc).split())})")
    for name, revision in targets:  # cached earlier at the pinned commit: make it the default too
        if revision is not None and _cached_snapshot(name, revision) is not None:
            pin_default_revision(name, revision)
    glove_note = _prepare_glove(settings)
    if failures:
        raise RuntimeError("download failed: " + "; ".join(failures))
    rows = [status_row(s) for s in catalog_status(settings)]
    if args.json:
        return rows
    wanted = {name for name, _ in targets} | {settings.splade_model.strip(), settings.mlm_model.strip()}
    return format_table(rows) + (f"\n{glove_note}" if glove_note else "") + _hint(rows, wanted)


def _targets(settings: Settings, include_all: bool) -> list[tuple[str, str | None]]:
    """(hub id, pinned revision) of each model to have cached; local folders need nothing."""
    from splade_demo.models.catalog import entries

    names = [settings.splade_model, settings.mlm_model]
    if include_all:
        names += [e.name for e in entries() if e.on_hub]
    targets: list[tuple[str, str | None]] = []
    for name in dict.fromkeys(n.strip() for n in names):
        if not name or Path(name).expanduser().is_dir():
            continue
        if Path(name).expanduser().is_absolute() or name.startswith((".", "~")) or name.count("/") > 1:
            raise UsageError(f"the model setting {name!r} is neither a hub id nor an existing folder")
        entry: CatalogEntry | None = find(name)
        targets.append((name, entry.revision if entry else None))
    return targets


def _cached_snapshot(name: str, revision: str | None) -> Path | None:
    """The cached snapshot at `revision` (None: the one the app loads), without the network."""
    from splade_demo.models.loading import SAFE_FILE_PATTERNS, cached_model_dir

    if revision is None:
        return cached_model_dir(name)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(name, revision=revision, local_files_only=True,
                                        allow_patterns=list(SAFE_FILE_PATTERNS)))
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    return folder if (folder / "config.json").is_file() else None


def _download(name: str, revision: str | None) -> Path:
    from splade_demo.models.loading import download_model

    folder = download_model(name, revision=revision)
    if not any(folder.glob("*.safetensors")):
        raise RuntimeError(f"the hub has no safetensors weights for {name} at {revision or 'main'}")
    return folder


def pin_default_revision(name: str, commit: str) -> None:
    """Point the HF cache's `refs/main` of `name` at `commit`.

    huggingface_hub records a ref only for a branch or tag download, not for a commit SHA, and
    `models.locate_model` asks the cache for the default revision; this makes it find the pinned snapshot.
    A later download of "main" rewrites the ref as usual.
    """
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    refs = Path(constants.HF_HUB_CACHE) / repo_folder_name(repo_id=name, repo_type="model") / "refs"
    ref = refs / "main"
    if ref.is_file() and ref.read_text(encoding="utf-8").strip() == commit:
        return
    refs.mkdir(parents=True, exist_ok=True)
    staging = refs / f".main.{os.getpid()}.tmp"
    staging.write_text(commit, encoding="utf-8")
    os.replace(staging, ref)


def _prepare_glove(settings: Settings) -> str:
    """Convert the static vectors into the cache folder once; a note if that is not possible."""
    try:
        from splade_demo.models.glove_vectors import load_vectors
    except ImportError:
        return "note: the static-vectors module is not installed; GloVe was not prepared"
    try:
        load_vectors(settings.glove, settings.cache_dir)
    except (ValueError, OSError) as exc:  # glove.VectorsUnavailable is a ValueError
        return f"note: the static vectors {settings.glove!r} were not prepared: {' '.join(str(exc).split())}"
    return ""


def status_row(status: ModelStatus) -> dict[str, object]:
    """One row of the report (`--json` prints a list of these)."""
    return status.as_dict()


COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "model"), ("purpose", "purpose"), ("licence", "licence"), ("cached", "cached"),
    ("size", "size on disk"), ("snapshot", "snapshot"),
)


def format_table(rows: list[dict[str, object]]) -> str:
    """A plain-text table with one line per model."""
    def cell(row: dict[str, object], key: str) -> str:
        value = row.get(key)
        if key == "cached":
            return f"yes ({row['origin']})" if value else "no"
        if key == "snapshot":
            return str(value)[:12] if value else ("—" if row.get("origin") != "local folder" else "(folder)")
        if key == "purpose":
            return _shorten(str(value), 48)
        if key == "licence":
            return _shorten(str(value), 28)
        return "—" if value in (None, "") else str(value)

    table = [[title for _, title in COLUMNS]] + [[cell(r, key) for key, _ in COLUMNS] for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    total = sum(int(r["size_bytes"] or 0) for r in rows if r.get("cached"))
    lines.append(f"\ntotal on disk: {human_size(total)}")
    return "\n".join(lines)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _hint(rows: list[dict[str, object]], wanted: set[str]) -> str:
    if all(r["cached"] for r in rows if r["model"] in wanted):
        return "\nThe configured models are cached: the app can run with HF_HUB_OFFLINE=1."
    return "\nA configured model is not cached: run prefetch again while online."
