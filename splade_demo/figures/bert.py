"""Page 3 figures: BERT's fill-mask predictions per masked word, as bars and as a rank grid;
static (GloVe) vs contextual (BERT) neighbours; the union of the predictions.

Every word and token is HTML-escaped: Plotly renders a subset of HTML in titles, ticks and hovers.
"""

from __future__ import annotations

from html import escape
from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from splade_demo.figures import EXPANSION_TERM_COLOUR, NEUTRAL_COLOUR, QUERY_TERM_COLOUR, finish
from splade_demo.explain.fill_mask import ExpansionTerm, FillMaskResult, MaskedPosition
from splade_demo.retrieval.neighbours import Neighbour

BAR_HEIGHT = 26


def _row_label(masked: MaskedPosition) -> str:
    return f"{escape(masked.word)} · {masked.position}"


def prediction_bars(masked: MaskedPosition, query_tokens: set[str] | None = None, presenter: bool = False) -> go.Figure:
    """The top-k predictions at one masked word: probability bars, best at the top.
    Tokens the query already holds are in the query colour."""
    originals = query_tokens or set()
    tokens = [p.token for p in masked.predictions]
    probabilities = [p.probability for p in masked.predictions]
    colours = [QUERY_TERM_COLOUR if t in originals else EXPANSION_TERM_COLOUR for t in tokens]
    fig = go.Figure(go.Bar(
        y=[escape(t) for t in tokens], x=probabilities, orientation="h", marker_color=colours,
        text=[f"{p:.1%}" for p in probabilities], textposition="auto",
        hovertemplate="%{y}: probability %{x:.2%}<extra></extra>",
    ))
    fig.update_layout(xaxis_title="probability", xaxis_tickformat=".0%", yaxis=dict(autorange="reversed", type="category"),
                      showlegend=False)
    return finish(fig, f"“{escape(masked.word)}” masked (word {masked.position})", presenter,
                  height=110 + BAR_HEIGHT * max(1, len(tokens)))


def prediction_grid(result: FillMaskResult, presenter: bool = False) -> go.Figure:
    """Rows: the masked words; columns: ranks 1..k; each cell the predicted token, coloured and
    hovered with its probability."""
    rows = result.positions
    k = max((len(m.predictions) for m in rows), default=0)
    z = [[p.probability for p in m.predictions] + [None] * (k - len(m.predictions)) for m in rows]
    text = [[escape(p.token) for p in m.predictions] + [""] * (k - len(m.predictions)) for m in rows]
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(1, k + 1)), y=[_row_label(m) for m in rows], text=text, texttemplate="%{text}",
        colorscale="Blues", zmin=0, colorbar=dict(title="probability", tickformat=".0%"),
        hovertemplate="masked: %{y}<br>rank %{x}: <b>%{text}</b><br>probability %{z:.2%}<extra></extra>",
        xgap=2, ygap=2,
    ))
    fig.update_layout(xaxis=dict(title="rank", dtick=1, side="top"), yaxis=dict(autorange="reversed", type="category"))
    return finish(fig, None, presenter, height=90 + 44 * max(1, len(rows)))


def _panel(fig: go.Figure, column: int, terms: Sequence[str], values: Sequence[float], colour: str,
           value_name: str, tickformat: str, hoverformat: str, empty_note: str) -> None:
    if not terms:
        fig.add_annotation(text=escape(empty_note), showarrow=False, row=1, col=column, x=0.5, y=0.5,
                           xref="x domain" if column == 1 else f"x{column} domain",
                           yref="y domain" if column == 1 else f"y{column} domain")
        fig.update_xaxes(visible=False, row=1, col=column)
        fig.update_yaxes(visible=False, row=1, col=column)
        return
    fig.add_bar(y=[escape(t) for t in terms], x=list(values), orientation="h", marker_color=colour, row=1, col=column,
                hovertemplate=f"%{{y}}: {value_name} %{{x:{hoverformat}}}<extra></extra>",
                showlegend=False)
    fig.update_xaxes(title_text=value_name, tickformat=tickformat, row=1, col=column)
    fig.update_yaxes(autorange="reversed", type="category", row=1, col=column)


def static_vs_contextual(
    word: str,
    sentences: Sequence[tuple[str, MaskedPosition | None]],
    glove: list[Neighbour] | None,
    presenter: bool = False,
) -> go.Figure:
    """One panel per sentence (BERT's predictions for `word` masked in it, softmax probabilities)
    and one for the word's GloVe neighbours (cosine similarity), side by side."""
    titles = [f"BERT in {escape(label)}" for label, _ in sentences] + ["GloVe neighbours (no context)"]
    fig = make_subplots(rows=1, cols=len(titles), subplot_titles=titles, horizontal_spacing=0.12)
    rows = 0
    for column, (label, masked) in enumerate(sentences, start=1):
        predictions = masked.predictions if masked else []
        rows = max(rows, len(predictions))
        _panel(fig, column, [p.token for p in predictions], [p.probability for p in predictions],
               EXPANSION_TERM_COLOUR, "probability", ".0%", ".2%", f"“{word}” is not in {label}")
    neighbours = glove or []
    rows = max(rows, len(neighbours))
    _panel(fig, len(titles), [n.term for n in neighbours], [n.similarity for n in neighbours], NEUTRAL_COLOUR,
           "cosine similarity", ".1f", ".3f", f"“{word}” is not in the GloVe vocabulary" if glove is None else "no neighbours")
    return finish(fig, f"“{escape(word)}”: contextual (BERT) vs static (GloVe)", presenter,
                  height=140 + BAR_HEIGHT * max(1, rows))


def expansion_bars(terms: list[ExpansionTerm], presenter: bool = False, limit: int = 40) -> go.Figure:
    """The union of the predictions, best probability first; tokens already in the query marked."""
    shown = terms[:limit]
    labels = [escape(t.token) for t in shown]
    fig = go.Figure()
    for in_query, name, colour in ((True, "already in the query", QUERY_TERM_COLOUR),
                                   (False, "new: what expansion would add", EXPANSION_TERM_COLOUR)):
        group = [t for t in shown if t.in_query == in_query]
        if not group:
            continue
        fig.add_bar(
            y=[escape(t.token) for t in group], x=[t.probability for t in group], orientation="h", name=name,
            marker_color=colour, customdata=[", ".join(escape(s) for s in t.sources) for t in group],
            hovertemplate="%{y}: best probability %{x:.2%}<br>predicted when masking: %{customdata}<extra></extra>",
        )
    fig.update_layout(
        xaxis_title="highest probability at any masked word", xaxis_tickformat=".0%",
        yaxis=dict(type="category", categoryorder="array", categoryarray=labels, autorange="reversed"),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), barmode="overlay",
    )
    return finish(fig, None, presenter, height=120 + 22 * max(1, len(shown)))
