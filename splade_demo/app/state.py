"""Session state every page shares: the query, the settings with the sidebar's overrides, presenter mode.

Pages read the query (`page_start`); only app.py and the sidebar write it. `stop_on` turns a failed load
into a message that ends the page there.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, Literal, NamedTuple

import streamlit as st

from splade_demo.app.guide import render_guide
from splade_demo.config import Settings, load_settings
from splade_demo.data.query_check import CheckedQuery, check_query, encodable

QUERY_KEY = "query"
OVERRIDES_KEY = "settings_overrides"
PRESENTER_KEY = "presenter"
DEFAULT_QUERY = "python memory management"
PRESET_QUERIES: tuple[str, ...] = (
    "python memory management",
    "free unused memory",
    "clone an object",
    "json decode error",
)
OTHER_SENSE_SENTENCE = "the python swallowed a rabbit whole"  # a query word in another sense (pages 2 and 3)
MASKED_WORDS = 20  # words masked in turn on pages 3 and 4 (each is one more sequence in the batch)


def get_query() -> str:
    """The shared query (pages read it, never own it); lone surrogates become U+FFFD."""
    return encodable(str(st.session_state.get(QUERY_KEY, DEFAULT_QUERY)))


def checked_query() -> CheckedQuery:
    """The shared query, cleaned and capped; shows the notice (if any) on the page."""
    checked = check_query(get_query())
    if checked.notice:
        st.info(checked.notice)
    return checked


def current_settings() -> Settings:
    """Environment settings with the sidebar's overrides applied."""
    try:
        base = load_settings()
    except ValueError as exc:  # a bad SPLADE_DEMO_PRECISION: say so, use the defaults
        st.warning(f"Ignoring a setting from the environment: {exc}")
        base = Settings()
    return base.with_overrides(**st.session_state.get(OVERRIDES_KEY, {}))


def presenter_mode() -> bool:
    return bool(st.session_state.get(PRESENTER_KEY, False))


class PageStart(NamedTuple):
    """What every page starts from."""

    query: CheckedQuery
    settings: Settings
    presenter: bool


def page_start() -> PageStart:
    """The checked shared query, the settings and presenter mode; an empty query stops the page after its notice.

    With the guided talk on, the step's banner is drawn here (`guide.render_guide`), so pages need no guide code.
    """
    query = checked_query()
    settings, presenter = current_settings(), presenter_mode()
    render_guide(str(sys._getframe(1).f_globals.get("__file__", "")), query.text, settings, presenter)
    if query.empty:
        st.stop()
    return PageStart(query, settings, presenter)


@contextmanager
def stop_on(*errors: type[Exception], message: Callable[[Exception], str] = str,
            level: Literal["warning", "info"] = "warning") -> Iterator[None]:
    """Show any of `errors` (a missing model, corpus or index) as `message(error)` and stop the page there."""
    try:
        yield
    except errors as exc:
        (st.info if level == "info" else st.warning)(message(exc))
        st.stop()


def chart_config(name: str) -> dict:
    """`st.plotly_chart(..., config=chart_config("p1_contributions"))`: the modebar's PNG download, named and sharp
    (twice the resolution; three times in presenter mode, for slides)."""
    scale = 3 if presenter_mode() else 2
    return {"displaylogo": False, "toImageButtonOptions": {"format": "png", "filename": name, "scale": scale}}
