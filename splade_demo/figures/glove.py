"""Figures of page 2 (static expansion): neighbour bars per word, and the expanded BM25 query."""

from __future__ import annotations

import html
import math
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from splade_demo.figures import EXPANSION_TERM_COLOUR, QUERY_TERM_COLOUR, finish
from splade_demo.retrieval.neighbours import Neighbour
from splade_demo.retrieval.glove_expansion import ADDED, RAISED, ExpandedQuery

PANEL_COLUMNS = 3
ROW_HEIGHT = 24  # pixels per bar


def _text(value: str) -> str:
    """Plotly renders a subset of HTML in labels: escape words from the vectors or the user."""
    return html.escape(value, quote=False)


def neighbour_panels(
    panels: Sequence[tuple[str, Sequence[Neighbour]]],
    title: str | None = None,
    presenter: bool = False,
    columns: int = PANEL_COLUMNS,
    colour: str = EXPANSION_TERM_COLOUR,
) -> go.Figure:
    """One horizontal bar panel per (panel title, neighbours): cosine similarity, nearest on top."""
    panels = list(panels)
    if not panels:
        return finish(go.Figure(), title, presenter=presenter)
    columns = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / columns)
    k = max((len(n) for _, n in panels), default=1) or 1
    fig = make_subplots(
        rows=rows,
        cols=columns,
        subplot_titles=[_text(name) for name, _ in panels],
        horizontal_spacing=0.16 if columns > 1 else 0.0,
        vertical_spacing=min(0.12, 0.6 / rows) if rows > 1 else 0.0,
    )
    low = min([0.0] + [n.similarity for _, ns in panels for n in ns])
    for i, (name, found) in enumerate(panels):
        row, col = i // columns + 1, i % columns + 1
        fig.add_trace(
            go.Bar(
                x=[n.similarity for n in found],
                y=[_text(n.term) for n in found],
                orientation="h",
                marker_color=colour,
                text=[f"{n.similarity:.2f}" for n in found],
                textposition="auto",
                hovertemplate="%{y}: cosine %{x:.3f}<extra>" + _text(name) + "</extra>",
                showlegend=False,
            ),
            row=row,
            col=col,
        )
        fig.update_yaxes(autorange="reversed", row=row, col=col, automargin=True)
        fig.update_xaxes(range=[low, 1.0], row=row, col=col, title_text="cosine similarity" if row == rows else None)
    height = rows * (k * ROW_HEIGHT * (1.4 if presenter else 1.0) + 90) + 40
    return finish(fig, title, presenter=presenter, height=int(height))


def expanded_query_bars(expansion: ExpandedQuery, presenter: bool = False) -> go.Figure:
    """The expanded BM25 query: one bar per term (labelled with the word it came from; the stem is in
    the hover), query terms and expansion terms coloured apart."""
    show = expansion.label
    sources: dict[str, str] = {}
    for row in expansion.terms:
        if row.term is not None and row.status in (ADDED, RAISED):
            sources[row.term] = f"neighbour {row.neighbour!r} of {row.word!r} (cosine {row.similarity:.2f})"
    fig = go.Figure()
    groups = ((True, "query term", QUERY_TERM_COLOUR), (False, "GloVe expansion", EXPANSION_TERM_COLOUR))
    for is_query, name, colour in groups:
        items = [(t, w) for t, w in expansion.weights.items() if expansion.is_original(t) == is_query]
        if not items:
            continue
        fig.add_trace(
            go.Bar(
                x=[w for _, w in items],
                y=[_text(show(t)) for t, _ in items],
                orientation="h",
                name=name,
                marker_color=colour,
                customdata=[_text(f"BM25 term {t!r}" + (f", from {sources[t]}" if t in sources else ""))
                            for t, _ in items],
                hovertemplate="%{y}: weight %{x:.3f}<br>%{customdata}<extra></extra>",
            )
        )
    fig.update_yaxes(autorange="reversed", automargin=True, categoryorder="array",
                     categoryarray=[_text(show(t)) for t in expansion.weights])
    fig.update_xaxes(title_text="BM25 query weight", rangemode="tozero")
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
    height = len(expansion.weights) * ROW_HEIGHT * (1.4 if presenter else 1.0) + 140
    return finish(fig, "The expanded BM25 query", presenter=presenter, height=int(height))
