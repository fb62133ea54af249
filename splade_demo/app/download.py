"""First use online without `prefetch`: download a model with a progress bar on the page, never a silent spinner."""

from __future__ import annotations

import streamlit as st

from splade_demo.models.catalog import human_size
from splade_demo.models.hub_download import cached_snapshot, fetch_snapshot
from splade_demo.models.loading import hub_offline, hub_reachable, is_hub_id, pinned_revision


def download_with_progress(name: str) -> None:
    """If `name` is a hub model that is not cached and the hub is reachable, download it now, showing the model,
    its size and the bytes so far. Does nothing for local folders, cached models, or offline (the loader then says
    why the model is missing). Raises ModelUnavailable with one line when the download fails."""
    name = name.strip()
    if not name or not is_hub_id(name) or cached_snapshot(name) is not None or hub_offline() or not hub_reachable():
        return
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
