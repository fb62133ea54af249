"""Page 4 figures: the position x term heatmap with the max-pool winners marked, and term-weight bars.

Every token and term is HTML-escaped: Plotly renders a subset of HTML in ticks and hovers.
"""

from __future__ import annotations

from html import escape
from typing import Mapping, Sequence

import plotly.graph_objects as go

from splade_demo.figures import EXPANSION_TERM_COLOUR, NEUTRAL_COLOUR, QUERY_TERM_COLOUR, finish
from splade_demo.explain.splade_view import PositionTermGrid, TermWeight

BAR_HEIGHT = 24
ROW_HEIGHT = 34
MAX_CELL_TEXT = 600  # cells above which the values are not printed in the heatmap
WINNER_COLOUR = "#D55E00"


def activation_heatmap(grid: PositionTermGrid, presenter: bool = False) -> go.Figure:
    """Rows: word pieces in text order; columns: the pooled vector's top terms (heaviest at the left).

    Cell (i, j) is log(1 + ReLU(logit_ij)); an outlined cell is the position whose value becomes the
    term's weight (the max over positions).
    """
    n_rows, n_cols = grid.values.shape
    x = list(range(n_cols))
    y = list(range(n_rows))
    terms = [escape(c.term) for c in grid.columns]
    tokens = [escape(t) for t in grid.tokens]
    hover = [[f"position {grid.positions[r]} “{tokens[r]}” → term “{terms[c]}”<br>"
              f"log(1 + ReLU(logit)) = {grid.values[r, c]:.3f}" for c in range(n_cols)] for r in range(n_rows)]
    show_text = n_rows * n_cols <= MAX_CELL_TEXT
    fig = go.Figure(go.Heatmap(
        z=grid.values, x=x, y=y, colorscale="Blues", zmin=0, xgap=1, ygap=1,
        text=[[f"{v:.1f}" if v >= 0.05 else "" for v in row] for row in grid.values] if show_text else None,
        texttemplate="%{text}" if show_text else None,
        hovertext=hover, hoverinfo="text", colorbar=dict(title="log(1+ReLU)"),
    ))
    marked = [(c, r) for c, r in enumerate(grid.winners) if r is not None]
    for c, r in marked:  # outline the winning cell, whatever its size on screen
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5,
                      line=dict(color=WINNER_COLOUR, width=4 if presenter else 3))
    if marked:  # hover on the winners and a legend entry for the outline
        fig.add_trace(go.Scatter(
            x=[c for c, _ in marked], y=[r for _, r in marked], mode="markers", name="max over positions (its weight)",
            marker=dict(symbol="square-open", size=14, color=WINNER_COLOUR, line=dict(width=3), opacity=0.01),
            hovertext=[f"“{terms[c]}”: weight {grid.columns[c].weight:.3f}, from “{tokens[r]}”" for c, r in marked],
            hoverinfo="text", showlegend=False,
        ))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="max over positions (its weight)",
                                 marker=dict(symbol="square-open", size=14, color=WINNER_COLOUR, line=dict(width=3))))
    tick_colours = [QUERY_TERM_COLOUR if c.highlighted else EXPANSION_TERM_COLOUR for c in grid.columns]
    fig.update_layout(
        xaxis=dict(tickmode="array", tickvals=x, ticktext=[f"<span style='color:{col}'>{t}</span>" for t, col in zip(terms, tick_colours)],
                   side="top", tickangle=-45, title="term (blue: in the query, orange: expansion)"),
        yaxis=dict(tickmode="array", tickvals=y, ticktext=tokens, autorange="reversed", title="word piece"),
        showlegend=bool(marked), legend=dict(orientation="h", yanchor="top", y=-0.02, x=0),
    )
    return finish(fig, None, presenter, height=min(1600, 220 + ROW_HEIGHT * max(1, n_rows)))


def term_weight_bars(
    bars: Sequence[TermWeight], presenter: bool = False, title: str | None = None,
    highlighted_label: str = "in the query", other_label: str = "expansion term",
    other_colour: str = EXPANSION_TERM_COLOUR, origins: Mapping[int, str] | None = None,
) -> go.Figure:
    """Horizontal bars, heaviest at the top; highlighted terms (query words) in the query colour.

    `origins` (term id -> "word (position n)") names, in the hover, the position whose activation won the max.
    """
    fig = go.Figure()
    labels = [escape(b.term) for b in bars]
    won = [f"<br>won by {escape(origins[b.term_id])}" if origins and b.term_id in origins else "" for b in bars]
    for flag, name, colour in ((True, highlighted_label, QUERY_TERM_COLOUR), (False, other_label, other_colour)):
        rows = [i for i, b in enumerate(bars) if b.highlighted is flag]
        fig.add_bar(
            y=[i for i in rows], x=[bars[i].weight for i in rows], orientation="h", name=name, marker_color=colour,
            text=[f"{bars[i].weight:.2f}" for i in rows], textposition="auto",
            hovertext=[f"{labels[i]}: weight {bars[i].weight:.3f} ({name}){won[i]}" for i in rows], hoverinfo="text",
        )
    fig.update_layout(
        barmode="overlay", xaxis_title="SPLADE weight w = max over positions of log(1 + ReLU(logit))",
        yaxis=dict(tickmode="array", tickvals=list(range(len(bars))), ticktext=labels, autorange="reversed"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
    )
    return finish(fig, title, presenter, height=130 + BAR_HEIGHT * max(1, len(bars)))


def document_term_bars(bars: Sequence[TermWeight], presenter: bool = False, title: str | None = None) -> go.Figure:
    """A document's heaviest terms; the ones the query vector also has are highlighted."""
    return term_weight_bars(bars, presenter, title, highlighted_label="shared with the query",
                            other_label="document only", other_colour=NEUTRAL_COLOUR)
