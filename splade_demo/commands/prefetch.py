"""`prefetch`: download every default model (pinned revisions) and prepare the GloVe cache.

Run it once while online before going offline (a talk, a train): afterwards the app runs with
`HF_HUB_OFFLINE=1`, because `models.locate_model` looks in the Hugging Face cache first. For each model it
downloads config, tokenizer and weights in the layout the repo has (`hub_download.choose_layout`: safetensors
first, else `pytorch_model.bin`), converts `.bin` weights once to safetensors (`weights.py`), then prints
what is cached: model, purpose, licence, cached, weights, size on disk, and the snapshot commit.

A model pinned to a commit SHA (see `model_catalog.CATALOG`) is downloaded at that commit (or at `main`, with
a note, if the hub no longer has it), and the cache's `refs/main` is pointed at it, so the app (which asks
for the default revision) loads exactly that snapshot offline. With nothing to download, it works offline
too and just reports. If something must be downloaded and the hub is unreachable (or `HF_HUB_OFFLINE` is
set), it stops at once: `error: ...`, exit 2, within the hub probe's ~2 s.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from splade_demo.commands import DownloadProgressLine, UsageError, add_common
from splade_demo.config import Settings, load_settings
from splade_demo.models.catalog import CatalogEntry, ModelStatus, catalog_status, entries, find, human_size
from splade_demo.models.glove_vectors import load_vectors
from splade_demo.models.hub_download import ModelUnavailable, cached_snapshot, fetch_snapshot, point_main_at
from splade_demo.models.loading import hub_endpoint, hub_offline, hub_reachable, is_hub_id, locate_model


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prefetch", help="download and cache every default model, then report what is cached",
        description="Download the configured SPLADE and fill-mask models (config, tokenizer and weights: "
                    "safetensors, or pytorch_model.bin converted once to safetensors) at pinned revisions, "
                    "and prepare the GloVe cache; then print what is cached.",
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
    missing = [(name, revision) for name, revision in targets if cached_snapshot(name, revision) is None]
    if missing and (hub_offline() or not hub_reachable()):
        # Offline, a snapshot cached as `main` will do (e.g. fetched when its pinned commit was gone).
        unusable = [name for name, _ in missing if cached_snapshot(name) is None]
        if unusable and hub_offline():
            raise RuntimeError(f"cannot download {', '.join(unusable)}: HF_HUB_OFFLINE is set; "
                               "unset it (and go online) to prefetch")
        if unusable:
            raise RuntimeError(f"cannot download {', '.join(unusable)}: the model hub ({hub_endpoint()}) is "
                               "unreachable; connect to the network and run prefetch again")
        missing = []
    failures: list[str] = []
    failed: set[str] = set()
    notes: list[str] = []
    for name, revision in missing:
        try:
            snapshot = fetch_snapshot(name, revision, on_progress=DownloadProgressLine(name))
        except ModelUnavailable as exc:
            failures.append(" ".join(str(exc).split()))
            failed.add(name)
            continue
        if snapshot.note:
            notes.append(f"note: {snapshot.note}")
    for name, revision in targets:  # cached earlier at the pinned commit: make it the default too
        if revision is not None and cached_snapshot(name, revision) is not None:
            point_main_at(name, revision)
    failures += _convert_bin_weights([name for name, _ in targets if name not in failed])
    glove_note = _prepare_glove(settings)
    if failures:
        raise RuntimeError("download failed: " + "; ".join(failures))
    rows = [status_row(s) for s in catalog_status(settings)]
    if args.json:
        return rows
    wanted = {name for name, _ in targets} | {settings.splade_model.strip(), settings.mlm_model.strip()}
    notes += [glove_note] if glove_note else []
    return format_table(rows) + "".join(f"\n{note}" for note in notes) + _hint(rows, wanted)


def _targets(settings: Settings, include_all: bool) -> list[tuple[str, str | None]]:
    """(hub id, pinned revision) of each model to have cached; local folders need nothing."""
    names = [settings.splade_model, settings.mlm_model]
    if include_all:
        names += [e.name for e in entries() if e.on_hub]
    targets: list[tuple[str, str | None]] = []
    for name in dict.fromkeys(n.strip() for n in names):
        if not name or Path(name).expanduser().is_dir():
            continue
        if not is_hub_id(name):
            raise UsageError(f"the model setting {name!r} is neither a hub id nor an existing folder")
        entry: CatalogEntry | None = find(name)
        targets.append((name, entry.revision if entry else None))
    return targets


def _convert_bin_weights(names: list[str]) -> list[str]:
    """Convert every cached `.bin`-only model to safetensors now, so the app never does it during a talk."""
    failures = []
    for name in names:
        try:
            locate_model(name, allow_download=False)
        except ModelUnavailable as exc:
            failures.append(" ".join(str(exc).split()))
    return failures


def _prepare_glove(settings: Settings) -> str:
    """Convert the static vectors into the cache folder once; a note if that is not possible."""
    try:
        load_vectors(settings.glove, settings.cache_dir)
    except ImportError:  # gensim, imported when vectors are first converted
        return "note: the static-vectors module is not installed; GloVe was not prepared"
    except (ValueError, OSError) as exc:  # glove.VectorsUnavailable is a ValueError
        return f"note: the static vectors {settings.glove!r} were not prepared: {' '.join(str(exc).split())}"
    return ""


def status_row(status: ModelStatus) -> dict[str, object]:
    """One row of the report (`--json` prints a list of these)."""
    return status.as_dict()


COLUMNS: tuple[tuple[str, str], ...] = (
    ("model", "model"), ("purpose", "purpose"), ("licence", "licence"), ("cached", "cached"),
    ("weights", "weights"), ("size", "size on disk"), ("snapshot", "snapshot"),
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
