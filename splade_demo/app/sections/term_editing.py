"""Page 5, "Which terms carry the ranking?": edit the query's terms and watch both rankings, the page view and
nDCG@10 move (like ELSER's `weighted_tokens`). One button resets every edit."""

from __future__ import annotations

import html
from collections import Counter
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from splade_demo.data.corpus import LabelledQuery
from splade_demo.explain.labels import grade_mark
from splade_demo.explain.score_explanation import own_word_pieces
from splade_demo.retrieval.pipeline import EVAL_DEPTH
from splade_demo.explain.term_editing import EditableQuery, Reranking, apply_table, rerank, with_bm25_terms

if TYPE_CHECKING:
    from splade_demo.retrieval.pipeline import Pipeline
    from splade_demo.retrieval.pipeline import SpladeEncoder, SpladeEncoding

PANEL_KEY = "p5_term_editing"
PAGES_KEY = "p5_pages"  # the page-level toggle
TABLE_KEY = "p5_edit_terms"
PRUNE_KEY, TOP_N_KEY, MIN_WEIGHT_KEY = "p5_edit_prune", "p5_edit_top_n", "p5_edit_min_weight"
BM25_KEEP_KEY, BM25_ADD_KEY = "p5_edit_bm25_keep", "p5_edit_bm25_add"
EDIT_KEYS = (TABLE_KEY, PRUNE_KEY, TOP_N_KEY, MIN_WEIGHT_KEY, BM25_KEEP_KEY, BM25_ADD_KEY)
PRUNE_MODES = ("no pruning", "keep the top N terms", "keep terms with weight ≥ t")
METHOD_NAMES = {"bm25": "BM25", "splade": "SPLADE", "hybrid": "Hybrid (RRF)"}


def _reset() -> None:
    for key in EDIT_KEYS:
        st.session_state.pop(key, None)


def page_level_toggle() -> bool:
    """On by default: rankings collapse to pages in order of first appearance, as the metrics do."""
    return st.toggle("Page-level view", value=True, key=PAGES_KEY,
                     help="Collapse each passage ranking to its pages, in order of first appearance (as nDCG@10 and "
                          "R@10 count them), with the number of passages each page has in the ranking.")


def ranking_frames(result: Reranking, page_level: bool, grades: dict[str, int], k: int) -> dict[str, pd.DataFrame]:
    """One table per method: pages (with passage counts) or passages."""
    frames: dict[str, pd.DataFrame] = {}
    for method in METHOD_NAMES:
        if page_level:
            shown = Counter(h.source for h in result.hits[method])
            rows = [{"#": p.rank, "page": p.source, "title": p.title, f"passages in top {k}":
                     shown.get(p.source, 0), f"in top {EVAL_DEPTH}": p.passages,
                     "relevant": grade_mark(grades.get(p.source))} for p in result.pages[method]]
        else:
            rows = [{"#": h.rank, "title": h.title, "section": h.section, "score": round(h.score, 3),
                     "relevant": grade_mark(grades.get(h.source))} for h in result.hits[method]]
        frames[method] = pd.DataFrame(rows)
    return frames


def render_term_editing(query_text: str, pipeline: "Pipeline", encoder: "SpladeEncoder",
                        encoding: "SpladeEncoding", labelled: LabelledQuery | None, k: int) -> None:
    """The section: the editable terms, the pruning control, BM25's words, then the rankings they give."""
    vocab = encoder.vocab
    own = own_word_pieces(encoding, encoder.loaded.tokenizer.all_special_ids)
    base = EditableQuery.from_encoding(query_text, encoding, own)
    if st.session_state.get("p5_edit_for") != query_text:
        _reset()  # a new query starts unedited
        st.session_state["p5_edit_for"] = query_text

    with st.container(key=PANEL_KEY, border=True):
        st.header("Which terms carry the ranking?")
        st.markdown("Edit the query as each method sees it. A SPLADE score is q·d, so a term's weight moves every "
                    "passage by (new − old) × d_t; remove every term a passage shares and its score is 0.")
        st.button("Reset every edit", key="p5_edit_reset", on_click=_reset)
        splade_col, bm25_col = st.columns([3, 2])
        with splade_col:
            st.markdown("**SPLADE terms** (edit a weight, delete a row, or add a vocabulary term at the bottom)")
            table = pd.DataFrame([{"term": term, "weight": round(weight, 4), "expansion": expansion}
                                  for _, term, weight, expansion in base.splade_terms(vocab)],
                                 columns=["term", "weight", "expansion"])
            edited_table = st.data_editor(
                table, key=TABLE_KEY, num_rows="dynamic", hide_index=True, width="stretch", height=300,
                column_config={
                    "term": st.column_config.TextColumn("term", help="a word piece of the model's vocabulary"),
                    "weight": st.column_config.NumberColumn("weight", min_value=0.0, step=0.001, format="%.3f",
                                                            help="log(1 + ReLU(logit)), max-pooled; 0 removes"),
                    "expansion": st.column_config.CheckboxColumn("expansion", disabled=True,
                                                                 help="not one of the query's own word pieces"),
                })
            edited, problems = apply_table(base, edited_table.to_dict("records"), vocab)
            for problem in problems:
                st.warning(f"Skipped: {problem}.")
            mode = st.radio("Prune", PRUNE_MODES, key=PRUNE_KEY, horizontal=True)
            if mode == PRUNE_MODES[1]:
                n = st.number_input("N", 0, max(1, len(edited.splade)), min(10, len(edited.splade)), key=TOP_N_KEY)
                edited = edited.keep_top(int(n))
            elif mode == PRUNE_MODES[2]:
                top = max(edited.splade.values(), default=1.0)
                t = st.slider("t", 0.0, float(round(top + 0.05, 2)), min(0.5, float(top)), step=0.05,
                              key=MIN_WEIGHT_KEY)
                edited = edited.keep_at_least(float(t))
            st.caption(f"{len(edited.splade)} of the query's {len(base.splade)} terms in use (after edits and pruning).")
        with bm25_col:
            st.markdown("**BM25 words** (analysed: lower-cased, stop words dropped, stemmed)")
            keep = st.multiselect("Keep", list(base.bm25), default=list(base.bm25), key=BM25_KEEP_KEY)
            added = st.text_input("Add words", key=BM25_ADD_KEY, max_chars=200, placeholder="e.g. garbage collector")
            edited = with_bm25_terms(edited, keep, added)
            st.caption("BM25 query: " + (", ".join(f"`{html.escape(t)}`×{w:g}" for t, w in edited.bm25.items())
                                         or "no term: every passage scores 0"))

        original = rerank(base, pipeline, encoder.vocab_size, k, labelled)
        result = rerank(edited, pipeline, encoder.vocab_size, k, labelled)
        page_level = page_level_toggle()
        if result.ndcg is not None and original.ndcg is not None:
            columns = st.columns(3)
            for column, method in zip(columns, METHOD_NAMES):
                column.metric(f"nDCG@10 · {METHOD_NAMES[method]}", f"{result.ndcg[method]:.3f}",
                              delta=f"{result.ndcg[method] - original.ndcg[method]:+.3f}",
                              help="Page-level nDCG@10 of this query, from the edited query's rankings")
        else:
            st.caption("This query has no relevance labels, so there is no nDCG@10 to show.")
        grades = labelled.rel if labelled else {}
        frames = ranking_frames(result, page_level, grades, k)
        for column, method in zip(st.columns(3), METHOD_NAMES):
            with column:
                st.subheader(METHOD_NAMES[method])
                if frames[method].empty:
                    st.info(f"{METHOD_NAMES[method]} scores no passage above zero for the edited query.")
                else:
                    st.dataframe(frames[method], hide_index=True, width="stretch", key=f"p5_edit_ranking_{method}")
        if page_level:
            st.caption(f"Top {k} pages, in order of first appearance among each method's passages (as the metrics "
                       f"count them), with how many of the page's passages are in the top {k} and the top {EVAL_DEPTH}.")
