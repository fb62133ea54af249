"""The app's "Download this talk (HTML)": the same file as `python -m splade_demo export-talk`, for the current query
and settings, from the app's shared resources.

The file is made when the button is clicked (Streamlit runs the callable in a worker thread, never in the server's
event loop), and each model call in it waits its turn at the server-wide admission (`models.admission.admit`, taken
inside the encoder and fill-mask calls), so a download never blocks another session. Nothing in the callable calls
Streamlit: the models come through the same `Once` loaders the background index build uses.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Callable, TypeVar

import streamlit as st

from splade_demo.app import resources
from splade_demo.app.progress import ready_index
from splade_demo.config import Settings
from splade_demo.models.hub_download import ModelUnavailable
from splade_demo.models.loading import available_locally
from splade_demo.talk.export import export_talk
from splade_demo.retrieval.engines import parse_engine_spec
from splade_demo.talk.panels import TalkSources, Unavailable

LABEL = "⬇️ Download this talk (HTML)"
T = TypeVar("T")


def app_sources(settings: Settings) -> TalkSources:
    """The talk's sources over the app's cached resources (the ones every page uses)."""
    cache_dir = str(settings.cache_dir)
    return TalkSources(
        settings=settings,
        corpus=partial(resources.corpus_resource, settings.corpus),
        bm25=partial(resources.bm25_resource, settings.corpus),
        vectors=partial(resources.glove_resource, settings.glove, cache_dir),
        mlm=_on_this_machine(settings.mlm_model, resources._mlm_once(settings.mlm_model).get),
        encoder=_on_this_machine(settings.splade_model,
                                 resources._splade_encoder_once(settings.splade_model, settings.precision).get),
        index=partial(ready_index, settings) if _memory_engine(settings) else _engine_index,
        queries=resources.queries_resource,
    )


def _on_this_machine(name: str, load: Callable[[], T]) -> Callable[[], T]:
    """`load`, for a model already on this machine: a click never starts a download the page could not show."""
    def get() -> T:
        if not available_locally(name):
            raise ModelUnavailable(f"the model {name} is not on this machine yet: open its page once to download it, "
                                   "or run `python -m splade_demo prefetch`")
        return load()

    return get


def _memory_engine(settings: Settings) -> bool:
    try:
        return parse_engine_spec(settings.engine).kind == "memory"
    except ValueError:  # a bad SPLADE_DEMO_ENGINE: the pages say so; the talk leaves the index's steps out
        return False


def _engine_index() -> None:
    raise Unavailable("the talk's index steps need the in-process SPLADE index, and this app ranks through a "
                      "retrieval engine (SPLADE_DEMO_ENGINE)")


def talk_bytes(query: str, settings: Settings) -> Callable[[], bytes]:
    """What the button downloads: the export's bytes, made on click."""
    sources = app_sources(settings)
    return lambda: export_talk(query, sources).html.encode("utf-8")


def file_name(query: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:40]
    return f"talk-{slug or 'query'}.html"


def render_talk_download(query: str, settings: Settings, key: str) -> None:
    """The button; the file is made when it is clicked (a few seconds with the index built)."""
    st.download_button(LABEL, talk_bytes(query, settings), file_name=file_name(query), mime="text/html", key=key,
                       on_click="ignore",
                       help="The guided talk for this query as one offline HTML file: the same figures, no network "
                            "needed. Same as `python -m splade_demo export-talk`.")
