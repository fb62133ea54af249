"""The app's "Download this talk (HTML)": the same file as `python -m splade_demo export-talk`, for the current query
and settings, from the app's shared resources.

The file is made when the button is clicked (Streamlit runs the callable in a worker thread, never in the server's
event loop), and each model call in it waits its turn at the server-wide admission (`models.admission.admit`, taken
inside the encoder and fill-mask calls), so a download never blocks another session. Nothing in the callable calls
Streamlit: the models come through the same `Once` loaders the background index build uses.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable, TypeVar

import streamlit as st

from splade_demo.app import resources
from splade_demo.app.cached_pipeline import pipeline_resource
from splade_demo.config import Settings
from splade_demo.models.hub_download import ModelUnavailable
from splade_demo.models.loading import available_locally
from splade_demo.retrieval.pipeline import EngineError, Pipeline
from splade_demo.talk.export import export_talk
from splade_demo.talk.panels import TalkSources

LABEL = "⬇️ Download this talk (HTML)"
T = TypeVar("T")


def app_sources(settings: Settings) -> TalkSources:
    """The talk's sources over the app's cached resources: the pipeline every page ranks through (its engine says
    whether the index is ready without waiting), with its models taken only when already on this machine.
    Raises EngineError for a bad SPLADE_DEMO_ENGINE."""
    shared = pipeline_resource(settings)
    pipeline = Pipeline(replace(shared.sources, encoder=_on_this_machine(settings.splade_model, shared.sources.encoder)),
                        shared.glove_neighbours, shared.glove_weight)
    mlm = _on_this_machine(settings.mlm_model, resources.mlm_once(settings.mlm_model).get)
    return TalkSources(settings, pipeline, mlm, resources.queries_resource)


def _on_this_machine(name: str, load: Callable[[], T]) -> Callable[[], T]:
    """`load`, for a model already on this machine: a click never starts a download the page could not show."""
    def get() -> T:
        if not available_locally(name):
            raise ModelUnavailable(f"the model {name} is not on this machine yet: open its page once to download it, "
                                   "or run `python -m splade_demo prefetch`")
        return load()

    return get


def talk_bytes(query: str, settings: Settings) -> Callable[[], bytes]:
    """What the button downloads: the export's bytes, made on click."""
    sources = app_sources(settings)
    return lambda: export_talk(query, sources).html.encode("utf-8")


def file_name(query: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", query.lower()).strip("-")[:40]
    return f"talk-{slug or 'query'}.html"


def render_talk_download(query: str, settings: Settings, key: str) -> None:
    """The button; the file is made when it is clicked (a few seconds with the index built)."""
    try:
        data = talk_bytes(query, settings)
    except EngineError:  # a bad SPLADE_DEMO_ENGINE: the pages say so; no talk to download
        return
    st.download_button(LABEL, data, file_name=file_name(query), mime="text/html", key=key,
                       on_click="ignore",
                       help="The guided talk for this query as one offline HTML file: the same figures, no network "
                            "needed. Same as `python -m splade_demo export-talk`.")
