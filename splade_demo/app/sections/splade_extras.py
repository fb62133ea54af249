"""Pages 3 and 4: where each SPLADE term comes from (term provenance), the context diff of two texts' vectors,
and each masked word's own rank under its mask. Weights are log(1 + ReLU(logit)) max-pooled over positions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from splade_demo.app.resources import fill_mask_result, mlm_resource
from splade_demo.app.state import MASKED_WORDS, chart_config
from splade_demo.config import Settings
from splade_demo.explain.context_diff import DEFAULT_CONTRAST, TermPair, context_diff
from splade_demo.explain.fill_mask import query_tokens
from splade_demo.explain.splade_view import term_weights
from splade_demo.figures.bert import prediction_bars
from splade_demo.figures.splade import term_weight_bars
from splade_demo.models.loading import ModelUnavailable
from splade_demo.explain.pages import PageHit
from splade_demo.explain.provenance import OwnWordRank, own_word_ranks, term_provenance, terms_by_position

if TYPE_CHECKING:
    from splade_demo.models.loading import LoadedMLM
    from splade_demo.retrieval.pipeline import SpladeEncoding
    from splade_demo.retrieval.pipeline import Pipeline

PROVENANCE_KEY = "p4_provenance"
CONTEXT_DIFF_KEY = "p4_context_diff"
OWN_RANK_KEY = "p3_own_rank"
DIFF_ROWS = 25
BERT_K = 10  # predictions shown for the masked word


def term_origins(encoding: "SpladeEncoding", vocab) -> dict[int, str]:
    """Term id -> "word (position n)": the input position whose activation won the term's max."""
    return {o.term_id: f"{o.word} (position {o.position})" for o in term_provenance(encoding, vocab)}


def render_terms_won(encoding: "SpladeEncoding", vocab) -> None:
    """A selectable word: the terms its position won (its activation was the max over positions)."""
    by_position = terms_by_position(term_provenance(encoding, vocab))
    with st.container(key=PROVENANCE_KEY, border=True):
        st.subheader("Terms won by this word")
        st.caption("Each term's weight is the max over positions; the position holding that max 'won' the term. "
                   "Hover a bar above to see its winner, or pick a word here.")
        if not by_position:
            st.info("The vector has no non-zero term.")
            return
        positions = list(by_position)
        position = st.selectbox(
            "Word (position)", positions, key="p4_won_by",
            index=next((i for i, p in enumerate(positions) if not encoding.tokens[p].startswith("[")), 0),
            format_func=lambda p: f"{by_position[p][0].word} (position {p}, {len(by_position[p])} terms)")
        st.dataframe(pd.DataFrame([{"term": o.term, "weight": round(o.weight, 3), "word piece": o.piece}
                                   for o in by_position[position]]), hide_index=True, width="stretch")


def _pairs_frame(pairs: list[TermPair], label_a: str, label_b: str) -> pd.DataFrame:
    return pd.DataFrame([{"term": p.term, label_a: round(p.weight_a, 3), label_b: round(p.weight_b, 3)}
                         for p in pairs[:DIFF_ROWS]], columns=["term", label_a, label_b])


def _pages_frame(pages: list[PageHit]) -> pd.DataFrame:
    return pd.DataFrame([{"#": p.rank, "page": p.source, "title": p.title, "passages": p.passages} for p in pages],
                        columns=["#", "page", "title", "passages"])


def render_context_diff(query_text: str, model_name: str, precision: str, vocab, pipeline: "Pipeline",
                        encode) -> None:
    """Two texts' SPLADE vectors side by side: gained, lost and shared terms, and each vector's top 5 pages.

    `encode(model_name, precision, text)` is the page's cached query encoder (it raises ValueError on a blank text).
    """
    with st.container(key=CONTEXT_DIFF_KEY, border=True):
        st.subheader("Context diff: the same word, two vectors")
        st.markdown("A word's SPLADE terms depend on its neighbours. Compare two texts: the terms B gains, the terms "
                    "it loses, the terms both keep, and the pages each vector ranks first.")
        if st.session_state.get("p4_diff_for") != query_text:
            st.session_state["p4_diff_for"] = query_text
            st.session_state["p4_diff_a"] = query_text
        st.session_state.setdefault("p4_diff_b", DEFAULT_CONTRAST)
        left, right = st.columns(2)
        text_a = " ".join(left.text_input("Text A", key="p4_diff_a", max_chars=500).split())
        text_b = " ".join(right.text_input("Text B", key="p4_diff_b", max_chars=500).split())
        try:
            a, b = encode(model_name, precision, text_a), encode(model_name, precision, text_b)
        except ValueError as exc:
            st.info(f"Type two texts to compare ({exc}).")
            return
        diff = context_diff(a.vector, b.vector, vocab, pipeline)
        st.caption(f"A has {a.nnz} non-zero terms, B {b.nnz}: {len(diff.shared)} shared, {len(diff.gained)} gained "
                   f"by B, {len(diff.lost)} lost from A (first {DIFF_ROWS} of each, heaviest first).")
        gained, lost, shared = st.columns(3)
        for column, title, pairs in ((gained, "Gained (only in B)", diff.gained), (lost, "Lost (only in A)", diff.lost),
                                     (shared, "Shared", diff.shared)):
            with column:
                st.markdown(f"**{title}**")
                st.dataframe(_pairs_frame(pairs, "weight in A", "weight in B"), hide_index=True, width="stretch")
        pages_a, pages_b = st.columns(2)
        for column, label, text, pages in ((pages_a, "A", text_a, diff.pages_a), (pages_b, "B", text_b, diff.pages_b)):
            with column:
                st.markdown(f"**Top 5 pages for {label}**")
                st.text(text[:80])
                if pages:
                    st.dataframe(_pages_frame(pages), hide_index=True, width="stretch")
                else:
                    st.info("This vector shares no term with any passage.")


@st.cache_data(max_entries=64, show_spinner="Ranking each word under its own mask…")
def _own_ranks(model_name: str, text: str, max_words: int, _loaded: "LoadedMLM") -> list[OwnWordRank]:
    return own_word_ranks(_loaded, text, max_words)


def render_own_word_ranks(model_name: str, loaded: "LoadedMLM", text: str, max_words: int) -> None:
    """Page 3: each masked word's own token, its rank and probability under its mask."""
    with st.container(key=OWN_RANK_KEY, border=True):
        st.subheader("Where does the word itself rank?")
        st.caption("Mask one word: the model's probability for the word that was really there, and its rank among "
                   "all vocabulary tokens at that position (1 = its top prediction). A word of several word pieces "
                   "is ranked by its first piece.")
        try:
            rows = _own_ranks(model_name, text, max_words, loaded)
        except ValueError as exc:
            st.info(f"The model cannot rank masked words here: {exc}")
            return
        if not rows:
            st.info("No word to mask.")
            return
        st.dataframe(pd.DataFrame([{"word": r.word, "own token": r.token, "rank": r.rank, "probability": r.probability,
                                    "word pieces": r.pieces} for r in rows]), hide_index=True, width="stretch",
                     column_config={"probability": st.column_config.NumberColumn(format="%.2e")})
        first = sum(r.rank == 1 for r in rows)
        st.caption(f"{first} of {len(rows)} words are the model's own first guess under their mask.")


def render_weights_vs_probabilities(settings: Settings, text: str, encoding: "SpladeEncoding", vocab, hide: bool,
                                    presenter: bool, k: int = BERT_K) -> None:
    """Page 4: BERT's fill-mask probabilities at one masked word beside SPLADE's weights for the whole text."""
    st.subheader("Weights are not probabilities")
    st.markdown(
        "BERT's fill-mask gives a **probability** at one masked position: a softmax, summing to 1 over the vocabulary. "
        "A SPLADE weight is a log-saturated logit, max-pooled over every position of the unmasked text, from a head "
        "fine-tuned for retrieval: unbounded, not normalised, and it rewards terms that help match documents."
    )
    bert_col, splade_col = st.columns(2)
    with bert_col:
        try:
            result = fill_mask_result(settings.mlm_model, text, k, MASKED_WORDS)
            bert_tokens = query_tokens(mlm_resource(settings.mlm_model), text)
        except ModelUnavailable as exc:
            st.warning(str(exc))
            result = None
        if result is not None and result.positions:
            words = {f"{m.word} (word {m.position})": m for m in result.positions}
            masked = words[st.selectbox("Masked word", list(words), key="p4_mask_word")]
            st.plotly_chart(prediction_bars(masked, bert_tokens, presenter), width="stretch", key="p4_bert",
                            config=chart_config("p4_bert"))
            st.caption(f"`{settings.mlm_model}`: the top {len(masked.predictions)} of 30k probabilities sum to "
                       f"{masked.top_probability:.2f}.")
        elif result is not None:
            st.info("The query has no word BERT can mask.")
    with splade_col:
        side = term_weights(encoding.vector, vocab, k, set(encoding.input_ids), hide)
        st.plotly_chart(term_weight_bars(side, presenter, title="SPLADE weights (whole query, unmasked)"),
                        width="stretch", key="p4_splade_side", config=chart_config("p4_splade_weights"))
        st.caption(f"`{settings.splade_model}`: {encoding.nnz:,} weights summing to {encoding.l1:.2f}, the largest "
                   f"{float(encoding.vector.max()):.2f}.")
