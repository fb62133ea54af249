"""Page 1 figures: BM25 scores stacked by per-term contribution."""

from __future__ import annotations

import plotly.graph_objects as go

from splade_demo.retrieval.bm25 import TermContribution
from splade_demo.figures import SEQUENCE, finish, plain
from splade_demo.retrieval.ranking import Hit


def hit_label(hit: Hit, width: int = 48) -> str:
    label = f"{hit.rank}. {hit.title}"
    return plain(label if len(label) <= width else label[: width - 1] + "…")


def contribution_bars(hits: list[Hit], contributions: dict[int, list[TermContribution]], presenter: bool = False) -> go.Figure:
    """Horizontal bars, one per hit, stacked by each query term's idf × tf share."""
    labels = [hit_label(h) for h in hits]
    terms: dict[str, str] = {}
    for hit in hits:
        for c in contributions[hit.index]:
            terms.setdefault(c.term, plain(c.surface))
    fig = go.Figure()
    for i, (term, surface) in enumerate(terms.items()):
        values, hover = [], []
        for hit in hits:
            row = next((c for c in contributions[hit.index] if c.term == term), None)
            values.append(row.contribution if row else 0.0)
            hover.append(
                f"{surface}: idf {row.idf:.2f} × tf-part {row.tf_part:.2f} (tf {row.tf}, length {row.doc_len} vs avg {row.avgdl:.0f}) = {row.contribution:.2f}"
                if row else f"{surface}: absent"
            )
        fig.add_bar(y=labels, x=values, name=surface, orientation="h", marker_color=SEQUENCE[i % len(SEQUENCE)],
                    hovertext=hover, hoverinfo="text")
    fig.update_layout(barmode="stack", xaxis_title="BM25 score (sum of per-term contributions)",
                      yaxis=dict(autorange="reversed"), legend_title_text="query term")
    return finish(fig, "Why each passage scored: one colour per query term", presenter, height=120 + 34 * max(1, len(hits)))
