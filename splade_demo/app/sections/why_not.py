"""Page 5, "Why not this page?": any labelled relevant page (or any passage, found by title), its best passage
explained under BM25 and SPLADE, retrieved or not (as Lucene's `_explain`)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from splade_demo.data.corpus import LabelledQuery
from splade_demo.explain.labels import grade_name
from splade_demo.explain.score_explanation import Explanation
from splade_demo.explain.why_not import (
    PAGE_DEPTH,
    default_choice,
    explain_passage,
    find_by_title,
    formula_text,
    page_best_passage,
    why_not,
)
from splade_demo.retrieval.pipeline import FUSION_DEPTH, NotAvailable, Pipeline

if TYPE_CHECKING:
    from splade_demo.retrieval.pipeline import SpladeEncoder, SpladeEncoding

PANEL_KEY = "p5_why_not"  # the container the guided talk highlights


def _rank_text(rank: int | None) -> str:
    return f"#{rank}" if rank is not None else "not retrieved"


def _page_rank_text(rank: int | None) -> str:
    if rank is None:
        return "page not retrieved"
    return f"page #{rank}" + ("" if rank <= PAGE_DEPTH else f" (outside the top {PAGE_DEPTH})")


def render_why_not(query_text: str, pipeline: Pipeline, encoder: "SpladeEncoder", encoding: "SpladeEncoding",
                   labelled: LabelledQuery | None) -> None:
    """The section: choose a page or a passage, then its explanation under both methods."""
    with st.container(key=PANEL_KEY, border=True):
        st.header("Why not this page?")
        st.markdown("Pick a page the labels call relevant, retrieved or not, and see its best passage scored term by "
                    "term under both methods. Or find any passage by its title.")
        try:
            offer = why_not(pipeline, query_text, encoding.vector, labelled)
        except NotAvailable as exc:
            st.info(str(exc))
            return
        corpus, choices = offer.corpus, offer.choices

        title_text = st.text_input("…or find a passage by title", key="p5_why_title", max_chars=200,
                                   placeholder="e.g. gc, Memory Management")
        doc_index: int | None = None
        if title_text.strip():
            found = find_by_title(corpus, title_text)
            if not found:
                st.info("No passage title, section or id contains that text.")
                return
            doc_index = st.selectbox(
                "Passage", found, key="p5_why_passage",
                format_func=lambda i: f"{corpus.passages[i].title} — {corpus.passages[i].section} ({corpus.passages[i].id})"[:140])
        elif not choices:
            st.info("This query has no relevance labels: type a title above to explain any passage.")
            return
        else:
            position = st.selectbox(
                "Labelled relevant page", range(len(choices)), index=default_choice(choices), key="p5_why_page",
                format_func=lambda i: (f"{choices[i].source} ({grade_name(choices[i].grade)}; "
                                       f"BM25 {_page_rank_text(choices[i].bm25_page_rank)})"))
            choice = choices[position]
            doc_index = page_best_passage(pipeline, query_text, encoding.vector, corpus, choice.source)
            st.caption(f"Page ranks (pages in order of first appearance, as the metrics count them): "
                       f"BM25 {_page_rank_text(choice.bm25_page_rank)}, SPLADE {_page_rank_text(choice.splade_page_rank)}. "
                       "Its best passage (highest SPLADE score) is explained below.")
        if doc_index is None:
            return
        explanation = explain_passage(pipeline, query_text, int(doc_index), encoder, encoding)
        _render_explanation(explanation, corpus.passages[int(doc_index)].text)


def _render_explanation(e: Explanation, text: str) -> None:
    st.markdown(f"**{html.escape(e.doc.title)}** · `{html.escape(e.doc.id)}` · page `{html.escape(e.doc.source)}`")
    a, b, c = st.columns(3)
    a.metric("BM25 rank", _rank_text(e.bm25.rank), help=f"score {e.bm25.score:.3f}")
    b.metric("SPLADE rank", _rank_text(e.splade.rank), help=f"score {e.splade.score:.3f}")
    c.metric("Hybrid rank", _rank_text(e.hybrid.rank),
             help=f"RRF score {e.hybrid.score:.4f}: Σ 1/(60 + rank) over each method's top {FUSION_DEPTH}; a passage "
                  "outside both is not retrieved")
    with st.container():  # the formula needs the page's width
        st.markdown(f"**BM25: {e.bm25.score:.3f}**")
        st.code(formula_text(e.bm25.terms, e.bm25.score), language=None)
        if e.bm25.terms and e.bm25.score == 0:
            st.info("None of the query's words occurs in this passage: BM25 gives it 0, whatever it means.")
    with st.container():
        st.markdown(f"**SPLADE: {e.splade.score:.3f}** = Σ q_t · d_t over {len(e.splade.terms)} shared terms")
        if e.splade.terms:
            st.dataframe(pd.DataFrame([
                {"term": t.term, "query weight": round(t.query_weight, 3), "passage weight": round(t.doc_weight, 3),
                 "q·d": round(t.contribution, 3), "expansion": "⊕ expansion" if t.expansion else ""}
                for t in e.splade.terms]), hide_index=True, width="stretch", key="p5_why_splade_terms")
            expansions = sum(t.expansion for t in e.splade.terms)
            st.caption(f"⊕ marks {expansions} expansion terms: not among the query's own word pieces, added by the "
                       "model. Weights are log(1 + ReLU(logit)) max-pooled over positions, not probabilities.")
        else:
            st.info("Zero overlap: the query's SPLADE vector and this passage's share no term, so SPLADE scores it 0.")
    with st.expander("Passage text"):
        st.text(text)
