"""First use online without `prefetch`: download a model with a progress bar on the page, never a silent spinner."""

from __future__ import annotations

import threading
import time

import streamlit as st

from splade_demo.models.catalog import human_size
from splade_demo.models.hub_download import ModelUnavailable, cached_snapshot, fetch_snapshot
from splade_demo.config import public_mode
from splade_demo.models.loading import allowed_in_public, hub_offline, hub_reachable, is_hub_id, pinned_revision

RETRY_AFTER_S = 60.0  # a failed download (gated, missing, dropped) is said again, not retried, for this long
_LOCK = threading.Lock()
_CACHED: set[str] = set()  # complete in the HF cache: no need to look again in this process
_FAILED: dict[str, tuple[float, str]] = {}  # name -> (when, the one-line message)


def download_with_progress(name: str) -> None:
    """If `name` is a hub model that is not cached and the hub is reachable, download it now, showing the model,
    its size and the bytes so far. Does nothing for local folders, cached models, or offline (the loader then says
    why the model is missing). Raises ModelUnavailable with one line when the download fails; for a minute after,
    every page says the same at once instead of asking the hub again."""
    name = name.strip()
    if not name or not is_hub_id(name) or (public_mode() and not allowed_in_public(name)):
        return  # the loader says why (public mode: a catalogue model only)
    with _LOCK:
        if name in _CACHED:
            return
        failed = _FAILED.get(name)
    if failed is not None and time.monotonic() - failed[0] < RETRY_AFTER_S:
        raise ModelUnavailable(failed[1])
    if cached_snapshot(name) is not None:
        with _LOCK:
            _CACHED.add(name)
        return
    if hub_offline() or not hub_reachable():
        return
    try:
        _download(name)
    except ModelUnavailable as exc:
        with _LOCK:
            _FAILED[name] = (time.monotonic(), str(exc))
        raise
    with _LOCK:
        _CACHED.add(name)
        _FAILED.pop(name, None)


def _download(name: str) -> None:
    bar = st.progress(0.0, text=f"Downloading `{name}` from the model hub (first use)…")

    def show(done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total else 0.0
        bar.progress(fraction, text=f"Downloading `{name}` from the model hub (first use): "
                                    f"{human_size(done)} of {human_size(total)}")

    try:
        snapshot = fetch_snapshot(name, pinned_revision(name), on_progress=show)
    finally:
        bar.empty()
    if snapshot.note:
        st.info(f"Note: {snapshot.note}.")
