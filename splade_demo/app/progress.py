"""The SPLADE index build on a page: a progress bar, and an estimate of the time left from the first batch."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import streamlit as st

if TYPE_CHECKING:  # torch is imported only when SPLADE is first used
    from splade_demo.retrieval.splade_index import BuildStatus, IndexBuild, SpladeIndex

POLL_SECONDS = 0.25


class IndexBuildError(RuntimeError):
    """The SPLADE document index could not be built (the message says why)."""


def duration(seconds: float) -> str:
    """`42 s`, or `3 min 05 s` from 90 s on."""
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"


def status_text(status: "BuildStatus", cached: bool) -> str:
    """The progress bar's text: what is happening, and from the first timed batch on, the time left."""
    if status.first_batch is None:
        return "Tokenising and timing a first batch…" if not cached else "Loading…"
    docs, seconds = status.first_batch
    estimate = status.estimated_total_seconds or 0.0
    left = status.eta_seconds
    return (f"{status.done:,} / {status.total:,} passages · about {duration(left or 0)} left "
            f"(whole build ≈ {duration(estimate)}, from a first batch of {docs} passages in {seconds:.1f} s)")


def wait_for_build(build: "IndexBuild", model_name: str) -> "SpladeIndex":
    """Start `build` (or join the one running) and show its progress on this page until it ends.

    Raises IndexBuildError when the build failed."""
    from splade_demo.retrieval.splade_index import is_cached

    if build.index is not None:
        return build.index
    cached = is_cached(build.encoder, build.corpus, build.cache_dir)
    build.start()
    total = len(build.corpus)
    intro = (f"Loading the SPLADE vectors of {total:,} passages from the cache…" if cached else
             f"First use: encoding {total:,} passages with `{model_name}` to build the SPLADE index. "
             "The vectors are saved to disk, so later runs reuse them.")
    notice, bar = st.empty(), st.empty()
    notice.info(intro)
    status = build.status()
    while not status.finished:
        bar.progress(status.fraction, text=status_text(status, cached))
        time.sleep(POLL_SECONDS)
        status = build.status()
    notice.empty()
    bar.empty()
    if build.index is None:
        raise IndexBuildError(f"The SPLADE index could not be built: {status.error or 'unknown error'}")
    return build.index
