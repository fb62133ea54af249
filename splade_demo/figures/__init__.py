"""Plotly figures: data in, `go.Figure` out. One module per page; shared styling here."""

from __future__ import annotations

import html

import plotly.graph_objects as go

# Colours that stay apart for colour-blind readers (Okabe & Ito 2008).
QUERY_TERM_COLOUR = "#0072B2"
EXPANSION_TERM_COLOUR = "#E69F00"
NEUTRAL_COLOUR = "#999999"
RELEVANT_COLOUR = "#009E73"
SEQUENCE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

BASE_FONT_SIZE = 15
PRESENTER_FONT_SIZE = 22


def plain(text: str) -> str:
    """Text for a Plotly label or hover: Plotly reads a few HTML tags (<a>, <b>, <br>…) in labels,
    so corpus and user text is escaped and shows literally."""
    return html.escape(str(text), quote=False)


def finish(fig: go.Figure, title: str | None = None, presenter: bool = False, height: int | None = None) -> go.Figure:
    """Apply the project's layout: readable fonts (larger for presenters), tight margins."""
    size = PRESENTER_FONT_SIZE if presenter else BASE_FONT_SIZE
    fig.update_layout(
        title=title,
        font=dict(size=size),
        margin=dict(l=10, r=10, t=60 if title else 20, b=10),
        colorway=list(SEQUENCE),
        hoverlabel=dict(font_size=size),
        legend=dict(font=dict(size=size)),
    )
    if height is not None:
        fig.update_layout(height=height)
    return fig
