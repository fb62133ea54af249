"""The SPLADE index build, shared by the whole server and never waited for by a page.

The first run of any session starts the build of the active corpus in a background thread (`shared_build`, from
the sidebar's status line); pages ask `ready_index` (the index, or None while it builds; a pack or cached index
being read is waited for, briefly) and draw `build_notice`
in place of what needs it. The notice and the sidebar line are fragments that refresh themselves every
`REFRESH_SECONDS` while the build runs, and rerun the page once it has ended, so the page fills itself in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import streamlit as st

from splade_demo.app.resources import splade_index_build
from splade_demo.config import Settings
from splade_demo.models.loading import available_locally

if TYPE_CHECKING:  # torch is imported only when SPLADE is first used
    from splade_demo.retrieval.pipeline import BuildStatus, IndexBuild, SpladeIndex

# How often a notice re-reads the build's progress: a fragment rerun, not a page rerun, but each costs the server
# some CPU that the build could use (measured: a page 5 left open slowed a 200-passage build ~1.6x at 2 s; the
# sidebar's line, which every page has, refreshes less often).
REFRESH_SECONDS = 3.0
SIDEBAR_REFRESH_SECONDS = 6.0
# How long a page waits for an index that is only being read (an index pack or the cache, the model loaded): a
# BERT-base pack is read and checked in under a second on 2 cores, while a notice would redraw the page up to
# REFRESH_SECONDS later (benchmarks/bench_first_visit.py).
READ_WAIT_SECONDS = 3.0


class IndexBuildError(RuntimeError):
    """The SPLADE document index could not be built (the message says why)."""


def duration(seconds: float) -> str:
    """`42 s`, or `3 min 05 s` from 90 s on."""
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 90 else f"{seconds // 60} min {seconds % 60:02d} s"


def status_text(status: "BuildStatus", loading_model: bool = False) -> str:
    """`building: 40 %, about 50 s left`; `ready`; or `could not be built: <why>`."""
    if status.error is not None and status.finished:
        return f"could not be built: {status.error}"
    if status.finished:
        return "ready"
    percent = int(status.fraction * 100)
    if status.waiting_for:
        return "being built by another process; it loads here when that build ends…"
    if loading_model:
        return "building: loading the SPLADE model…"
    left = status.eta_seconds
    if left is None:
        return f"building: {percent} %, timing the first batch…"
    return f"building: {percent} %, about {duration(left)} left"


def shared_build(settings: Settings) -> "IndexBuild | None":
    """The server's build of the SPLADE index for these settings, started if it was not: None while the model is
    not on this machine (a page downloads it or says it is missing; a build never starts without it).

    Raises CorpusError for a corpus that cannot be loaded."""
    build = splade_index_build(settings.splade_model, settings.precision, settings.corpus, str(settings.cache_dir))
    if not build.started and available_locally(settings.splade_model):
        build.start()
    return build if build.started else None


def ready_index(settings: Settings) -> "SpladeIndex | None":
    """The SPLADE index when it is built; None while it builds or after it failed (`build_notice` says which).
    Starts the build if needed; never waits for encoding, only up to READ_WAIT_SECONDS for an index being read.
    Raises CorpusError."""
    build = shared_build(settings)
    return build.wait_while_reading(READ_WAIT_SECONDS) if build is not None else None


def build_notice(settings: Settings, key: str, say_failure: bool = True) -> None:
    """In place of what needs the index: `building: 40 %, about 50 s left`, refreshed until the build ends, then
    the page reruns and draws what it waited for. A failed build is one warning (or, with `say_failure=False`,
    a caption) with a button to try again."""
    build = shared_build(settings)
    if build is None:
        st.info("The SPLADE index is built once the SPLADE model is on this machine.")
        return
    status = build.status()
    if status.finished and build.index is None:
        if not say_failure:
            st.caption("Needs the SPLADE index, which could not be built.")
            return
        st.warning(f"The SPLADE index could not be built: {status.error}. The other pages keep working.")
        st.button("Try the build again", key=f"{key}_retry", on_click=build.retry)
        return
    _live(build, lambda text: st.info(f"SPLADE index {text}. This part fills itself in when it is ready."))


def index_status_line(settings: Settings) -> None:
    """The sidebar's line: the build's progress and time left (refreshing itself), `ready`, or why it failed.
    Drawing it starts the build: the first session that opens the app starts it for everyone."""
    try:
        build = shared_build(settings)
    except Exception:  # noqa: BLE001 - a bad corpus or setting: the pages say so
        return
    if build is None:
        return
    if build.status().finished:
        st.caption(f"SPLADE index: {status_text(build.status())}")
        return
    _live(build, lambda text: st.caption(f"SPLADE index: {text}"), SIDEBAR_REFRESH_SECONDS)


def _live(build: "IndexBuild", draw: Callable[[str], None], every: float = REFRESH_SECONDS) -> None:
    """Draw the build's status in a fragment that reruns every `every` seconds; once the build has ended, rerun the
    whole page (once: the page then has the index, or the failure, and draws no fragment)."""

    def refresh() -> None:
        status = build.status()
        if status.finished:
            st.rerun()
        draw(status_text(status, loading_model=build.encoder is None))

    st.fragment(refresh, run_every=every)()


def wait_for_build(build: "IndexBuild") -> "SpladeIndex":
    """Start `build` (or join the one running) and wait for it; for work that needs the whole index (page 5's
    evaluation, drawn only once the index is ready). Raises IndexBuildError when the build failed."""
    if build.index is not None:
        return build.index
    build.start()
    with st.spinner("Waiting for the SPLADE index…"):
        index = build.wait()
    if index is None:
        raise IndexBuildError(f"The SPLADE index could not be built: {build.status().error or 'unknown error'}")
    return index
