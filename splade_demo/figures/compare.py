"""Page 5 figures: rank changes, score breakdowns, and per-query ΔnDCG@10."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from splade_demo.retrieval.bm25 import TermContribution
from splade_demo.explain.comparison import RankChange
from splade_demo.retrieval.evaluation import QueryResult
from splade_demo.explain.splade_view import SharedTerm
from splade_demo.figures import (
    EXPANSION_TERM_COLOUR, NEUTRAL_COLOUR, QUERY_TERM_COLOUR, RELEVANT_COLOUR, finish, plain,
)


def _short(text: str, width: int = 38) -> str:
    return plain(text if len(text) <= width else text[: width - 1] + "…")


def slope_chart(changes: Sequence[RankChange], k: int, relevant: set[str], presenter: bool = False) -> go.Figure:
    """Lines from each passage's BM25 rank to its SPLADE rank; 'k+1' stands for 'not in the top k'."""
    outside = k + 1
    fig = go.Figure()
    for change in changes:
        left = change.bm25_rank or outside
        right = change.splade_rank or outside
        colour = RELEVANT_COLOUR if change.source in relevant else (QUERY_TERM_COLOUR if right < left else NEUTRAL_COLOUR)
        fig.add_scatter(
            x=["BM25", "SPLADE"], y=[left, right], mode="lines+markers", line=dict(color=colour, width=3 if change.source in relevant else 1.5),
            marker=dict(size=9), showlegend=False,
            hovertext=f"{_short(change.title, 60)} — {_short(change.section, 60)}<br>BM25 {change.bm25_rank or '–'} → SPLADE {change.splade_rank or '–'}",
            hoverinfo="text",
        )
    fig.update_yaxes(autorange="reversed", tickvals=list(range(1, k + 2)),
                     ticktext=[str(i) for i in range(1, k + 1)] + [f">{k}"], title="rank")
    fig.update_xaxes(range=[-0.15, 1.15])
    return finish(fig, "Rank changes (green: a labelled relevant page)", presenter, height=140 + 28 * k)


def splade_breakdown_bar(shares: Sequence[SharedTerm], query_pieces: set[str], presenter: bool = False,
                         top: int = 15) -> go.Figure:
    """One stacked bar: the SPLADE score as q_t·d_t per shared term (expansion terms in orange)."""
    fig = go.Figure()
    shown = list(shares[:top])
    rest = sum(s.contribution for s in shares[top:])
    for share in shown:
        expansion = share.term not in query_pieces
        term = plain(share.term)
        fig.add_bar(
            y=["SPLADE"], x=[share.contribution], orientation="h", name=term,
            marker=dict(color=EXPANSION_TERM_COLOUR if expansion else QUERY_TERM_COLOUR, line=dict(color="white", width=1)),
            text=term, textposition="inside", insidetextanchor="middle",
            hovertext=f"{term}: q {share.query_weight:.2f} × d {share.doc_weight:.2f} = {share.contribution:.2f}"
                      + (" (expansion term)" if expansion else ""),
            hoverinfo="text", showlegend=False,
        )
    if rest > 0:
        fig.add_bar(y=["SPLADE"], x=[rest], orientation="h", marker_color=NEUTRAL_COLOUR, text="others",
                    textposition="inside", hovertext=f"{len(shares) - top} more terms: {rest:.2f}", hoverinfo="text", showlegend=False)
    fig.update_layout(barmode="stack", xaxis_title="SPLADE score = Σ q_t · d_t (blue: query word piece, orange: expansion term)")
    return finish(fig, None, presenter, height=190)


def bm25_breakdown_bar(rows: Sequence[TermContribution], presenter: bool = False) -> go.Figure:
    """One stacked bar: BM25's idf × tf contributions per query term."""
    fig = go.Figure()
    for row in rows:
        if row.contribution <= 0:
            continue
        fig.add_bar(
            y=["BM25"], x=[row.contribution], orientation="h", marker=dict(color=QUERY_TERM_COLOUR, line=dict(color="white", width=1)),
            text=plain(row.surface), textposition="inside",
            hovertext=f"{plain(row.surface)}: idf {row.idf:.2f} × tf-part {row.tf_part:.2f} = {row.contribution:.2f}",
            hoverinfo="text", showlegend=False,
        )
    fig.update_layout(barmode="stack", xaxis_title="BM25 score = Σ idf × saturated tf")
    return finish(fig, None, presenter, height=190)


def delta_ndcg_chart(bm25: Sequence[QueryResult], splade: Sequence[QueryResult], presenter: bool = False) -> go.Figure:
    """ΔnDCG@10 (SPLADE − BM25) per labelled query, one panel per query kind."""
    by_id = {r.query_id: r for r in bm25}
    kinds = [k for k in ("mismatch", "lexical") if any(r.kind == k for r in splade)] or [None]
    if any(r.kind is None for r in splade) and None not in kinds:
        kinds.append(None)
    fig = make_subplots(rows=1, cols=len(kinds), shared_yaxes=True,
                        subplot_titles=[f"{k or 'unlabelled kind'} queries" for k in kinds])
    for col, kind in enumerate(kinds, start=1):
        rows = sorted((r for r in splade if r.kind == kind),
                      key=lambda r: r.metrics["nDCG@10"] - by_id[r.query_id].metrics["nDCG@10"])
        deltas = [r.metrics["nDCG@10"] - by_id[r.query_id].metrics["nDCG@10"] for r in rows]
        fig.add_bar(
            x=[_short(r.text, 28) for r in rows], y=deltas, showlegend=False,
            marker_color=[QUERY_TERM_COLOUR if d > 0 else (EXPANSION_TERM_COLOUR if d < 0 else NEUTRAL_COLOUR) for d in deltas],
            hovertext=[f"{plain(r.text)}<br>BM25 {by_id[r.query_id].metrics['nDCG@10']:.2f} → SPLADE {r.metrics['nDCG@10']:.2f}" for r in rows],
            hoverinfo="text", row=1, col=col,
        )
    fig.update_yaxes(title_text="ΔnDCG@10 (SPLADE − BM25)", row=1, col=1)
    fig.update_xaxes(showticklabels=False)
    return finish(fig, "Per query: above zero, SPLADE ranks the answering pages better", presenter, height=420)
