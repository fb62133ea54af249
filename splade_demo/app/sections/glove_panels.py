"""Page 2's panels: the same word in another sense (GloVe cannot tell), BM25 before and after the expansion, and
whether the expansion helped on the labelled queries."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from splade_demo.app.cached_pipeline import glove_evaluation
from splade_demo.app.resources import glove_query_neighbours, queries_resource
from splade_demo.app.state import OTHER_SENSE_SENTENCE
from splade_demo.config import Settings
from splade_demo.data.corpus import CorpusError, LabelledQuery
from splade_demo.data.query_check import check_query
from splade_demo.explain.glove import ExpansionComparison, WordNeighbours, before_after_metrics, expansion_summary, ranking_change
from splade_demo.figures.glove import neighbour_panels

TABLE_COLUMNS = {
    "rank": st.column_config.NumberColumn(width="small"),
    "page": st.column_config.TextColumn(width="medium"),
    "score": st.column_config.NumberColumn(width="small", format="%.2f"),
}


def render_context_blindness(settings: Settings, found: list[WordNeighbours], k: int, presenter: bool) -> None:
    """A sentence with one of the query's words in another sense: GloVe gives that word the same neighbours."""
    cache_dir = str(settings.cache_dir)
    st.subheader("Same word, another sense: the same neighbours")
    sentence = check_query(st.text_input(
        "A sentence that uses one of the query's words in another sense", OTHER_SENSE_SENTENCE, key="p2_sentence", max_chars=1000
    ))
    query_words = {r.word: r for r in found}
    sentence_rows = glove_query_neighbours(settings.glove, cache_dir, sentence.text, k) if sentence.text else []
    shared = [r.word for r in sentence_rows if r.word in query_words]
    if not shared:
        st.info(
            "The sentence shares no word (with a GloVe vector) with the query. Use one of "
            f"{', '.join(f'`{w}`' for w in query_words) or 'the query words'} in another sense, e.g. *{OTHER_SENSE_SENTENCE}*."
        )
    else:
        word = shared[0] if len(shared) == 1 else st.selectbox("Shared word", shared, key="p2_shared_word")
        in_query = query_words[word].neighbours
        in_sentence = next(r.neighbours for r in sentence_rows if r.word == word)
        st.plotly_chart(
            neighbour_panels([(f"“{word}” in the query", in_query), (f"“{word}” in your sentence", in_sentence)],
                             presenter=presenter, columns=2),
            width="stretch", key="p2_context",
        )
        if in_query == in_sentence:
            st.success(f"Identical: the same {len(in_query)} neighbours of `{word}`, in the same order, "
                       "with the same similarities.")
        else:  # cannot happen with static vectors; say so rather than hide it
            st.error("The two lists differ, which static vectors should never do.")
        st.markdown(
            f"**Why.** GloVe (Pennington et al., 2014) stores one vector per word *type*, fitted to how often words "
            f"co-occur across the whole training corpus (Wikipedia + Gigaword). Looking up `{word}` never reads the "
            "sentence around it, so every sense of the word (the language, the snake, Monty Python) is blended into one "
            "vector, and its neighbours are the same in any sentence."
        )


def _ranking_table(hits, other_rank, column: str, labelled: LabelledQuery | None) -> pd.DataFrame:
    relevance = labelled.rel if labelled else {}
    return pd.DataFrame(
        [
            {"rank": h.rank, "score": round(h.score, 2), column: other_rank(h),
             **({"relevance": relevance.get(h.source, 0)} if labelled else {}),
             "page": h.source, "section": h.section or h.title}
            for h in hits
        ]
    )


def render_rankings(comparison: ExpansionComparison, labelled: LabelledQuery | None, top: int) -> None:
    """BM25's top passages beside the expanded query's, with what came in and what left."""
    change = ranking_change(comparison.bm25, comparison.glove, top)
    after_rank = {h.id: f"#{h.rank}" for h in comparison.glove}
    before_column, after_column = st.columns(2)
    with before_column:
        st.markdown(f"**BM25, top {top}**")
        if comparison.bm25:
            st.dataframe(_ranking_table(comparison.bm25[:top], lambda h: after_rank.get(h.id, "—"), "rank after", labelled),
                         hide_index=True, width="stretch", column_config=TABLE_COLUMNS)
        else:
            st.info("BM25 matches no passage: the query shares no word with the corpus.")
    with after_column:
        st.markdown(f"**GloVe-expanded BM25, top {top}**")
        moves = {c.hit.id: c.label for c in change.after}
        if comparison.glove:
            st.dataframe(_ranking_table(comparison.glove[:top], lambda h: moves.get(h.id, ""), "change", labelled),
                         hide_index=True, width="stretch", column_config=TABLE_COLUMNS)
        else:
            st.info("The expanded query matches no passage either.")

    came_in = ", ".join(f"`{c.hit.source}` (#{c.after}, was {f'#{c.before}' if c.before else 'not retrieved'})"
                        for c in change.entered)
    went = ", ".join(f"`{c.hit.source}` (was #{c.before}, now {f'#{c.after}' if c.after else 'not retrieved'})"
                     for c in change.left)
    st.markdown(f"**Came in:** {came_in or 'nothing'}  \n**Left:** {went or 'nothing'}")


def render_did_it_help(settings: Settings, labelled: LabelledQuery | None, comparison: ExpansionComparison, n: int,
                       weight: float) -> None:
    """This query's page-level metrics before and after, and (on request) every labelled query's."""
    st.markdown("**Did it help?**")
    if labelled is None:
        try:
            examples = [q.text for q in queries_resource()[:4]]
        except CorpusError:
            examples = []
        st.info(
            "This query has no relevance labels, so nDCG@10 cannot be measured."
            + (f" Labelled examples: {'; '.join(f'*{t}*' for t in examples)}." if examples else "")
        )
    else:
        before, after = before_after_metrics(labelled, comparison.bm25, comparison.glove)
        columns = st.columns(3)
        for column, name in zip(columns, ("nDCG@10", "R@10", "RR")):
            delta = after[name] - before[name]
            column.metric(f"{name}: BM25 → GloVe-BM25", f"{after[name]:.3f}", f"{delta:+.3f}",
                          delta_color="normal" if abs(delta) >= 5e-4 else "off",
                          help=f"BM25 alone: {before[name]:.3f}. Page-level, over the labelled pages of this query.")
        if labelled.kind:
            st.caption(f"Labelled as a *{labelled.kind}* query. Relevant pages: "
                       + ", ".join(f"`{page}` ({grade})" for page, grade in labelled.rel.items()))

    with st.expander("Over all labelled queries"):
        try:
            count = len(queries_resource())
        except CorpusError as exc:
            st.info(f"No labelled queries are available ({exc}).")
            count = 0
        if count and st.button(f"Rank all {count} labelled quer{'y' if count == 1 else 'ies'} with and without GloVe",
                                    key="p2_evaluate"):
            results = glove_evaluation(settings, n, weight)
            st.dataframe(pd.DataFrame(expansion_summary(results)), hide_index=True, width="stretch")
            st.caption(f"Corpus `{settings.corpus}`, n = {n}, weight = {weight:.2f}. Page-level nDCG@10 (trec_eval's definitions).")
