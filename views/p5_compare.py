"""5 · BM25 vs SPLADE: both rankings, why each passage scored, and the evidence over labelled queries."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from splade_demo.app.cached_pipeline import evaluation_resource, pipeline_resource
from splade_demo.app.progress import build_notice
from splade_demo.app.resources import labelled_query, splade_encoder_resource, splade_query_encoding
from splade_demo.app.sections.term_editing import render_term_editing
from splade_demo.app.sections.why_not import render_why_not
from splade_demo.app.state import chart_config, page_start, stop_on
from splade_demo.data.corpus import CorpusError
from splade_demo.data.csv_export import safe_csv
from splade_demo.explain.comparison import breakdown, side_by_side
from splade_demo.figures.compare import bm25_breakdown_bar, delta_ndcg_chart, slope_chart, splade_breakdown_bar
from splade_demo.models.loading import ModelUnavailable
from splade_demo.retrieval.pipeline import EngineError, summary_rows

COLUMNS = {"bm25": ("BM25", "word overlap"), "splade": ("SPLADE", "⭐ = shares no analysed word with the query"),
           "hybrid": ("Hybrid (RRF)", "1/(60 + rank), summed over both rankings")}

st.title("BM25 vs SPLADE")
st.markdown(
    "The same query, ranked both ways. BM25 adds up idf × tf over the words the query and passage share; SPLADE "
    "adds up q_t · d_t over the vocabulary terms both vectors hold, including the expansion terms neither text contains."
)

query, settings, presenter = page_start()
with stop_on(ModelUnavailable, CorpusError), stop_on(EngineError):
    pipeline = pipeline_resource(settings)
    encoder = splade_encoder_resource(settings.splade_model, settings.precision)
    ready = pipeline.splade_ready()  # never waits for encoding: while the index builds, BM25 shows at once
with stop_on(ValueError, message=lambda exc: f"Nothing to encode: {exc}", level="info"):
    encoding = splade_query_encoding(settings.splade_model, settings.precision, query.text)
if encoding.truncated:
    st.info(f"The query is {encoding.n_tokens} word pieces long; SPLADE used the first {len(encoding.tokens)}.")
k = st.slider("Results per ranking (k)", 5, 20, 10, key="p5_k")
page_level = st.toggle("Pages, not passages", value=True, key="p5_side_pages",
                       help="Each page once, at the rank of its best passage, with how many of its passages are in "
                            "the method's top 100 (as the metrics count pages). Off: every passage.")
labelled = labelled_query(query.text)
grades = labelled.rel if labelled else {}
with stop_on(EngineError):
    side = side_by_side(pipeline, query.text, encoding.vector if ready else None, k, page_level, grades)

for column, (method, table) in zip(st.columns(3), side.tables.items()):
    name, note = COLUMNS[method]
    with column:
        st.subheader(name)
        st.caption(note)
        if table is None:  # the SPLADE index is still being built (or failed): this column fills itself in
            build_notice(settings, key=f"p5_build_{name.split()[0]}", say_failure=method == "splade")
        elif table.empty:
            st.info(f"{name} scored no passage above zero for this query.")
        else:
            st.dataframe(table, hide_index=True, width="stretch")
        if table is not None:
            st.download_button(f"{name} ranking as CSV", safe_csv(table), file_name=f"{method}_ranking.csv",
                               mime="text/csv", key=f"p5_csv_{name}")
comparison = side.comparison
if comparison is None:
    st.stop()  # the rest compares with SPLADE: drawn when the index is ready (the notices above rerun the page)
if comparison.changes:
    st.plotly_chart(slope_chart(comparison.changes, k, set(grades), presenter), width="stretch", key="p5_slope",
                    config=chart_config("p5_rank_changes"))
if comparison.mismatch_wins:
    relevant_wins = [h for h in comparison.mismatch_wins if h.source in grades]
    st.success(f"{len(comparison.mismatch_wins)} of SPLADE's top {k} passages share no analysed word with the query"
               + (f"; {len(relevant_wins)} of them are labelled relevant: vocabulary-mismatch wins." if relevant_wins
                  else "."))

st.header("Why did this passage score?")
candidates = {h.id: h for h in [*comparison.splade, *comparison.bm25]}
if not candidates:
    st.info("Neither method retrieved anything to explain.")
else:
    chosen = st.selectbox("Passage", list(candidates), key="p5_doc",
                          format_func=lambda pid: f"{candidates[pid].title} — {candidates[pid].section}"[:120])
    with stop_on(EngineError):
        parts = breakdown(pipeline, query.text, encoding, chosen, encoder.vocab)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**SPLADE: {parts.splade_score:.2f}** from {len(parts.shares)} shared terms")
        if parts.shares:
            st.plotly_chart(splade_breakdown_bar(parts.shares, set(encoding.tokens), presenter), width="stretch",
                            key="p5_splade_bar", config=chart_config("p5_splade_breakdown"))
            if parts.expansion_terms:
                st.markdown("Expansion terms that matched: " + ", ".join(f"`{t}`" for t in parts.expansion_terms[:15]))
        else:
            st.info("The two SPLADE vectors share no term: the score is zero.")
    with right:
        st.markdown(f"**BM25: {parts.bm25_score:.2f}** from {parts.bm25_matches} matching query words")
        if parts.bm25_score > 0:
            st.plotly_chart(bm25_breakdown_bar(parts.bm25_rows, presenter), width="stretch", key="p5_bm25_bar",
                            config=chart_config("p5_bm25_breakdown"))
        else:
            st.info("No query word occurs in this passage: BM25 gives it zero.")
    st.download_button("The query's SPLADE vector as CSV",
                       safe_csv(pd.DataFrame(encoding.top_terms(encoder.vocab, encoding.nnz), columns=["term", "weight"])),
                       file_name="splade_query_vector.csv", mime="text/csv", key="p5_csv_vector")

st.header("The evidence: every labelled query")
st.markdown(
    "Page-level nDCG@10, recall@10 and reciprocal rank (as trec_eval defines them), for each method, over all "
    "labelled queries and split into *vocabulary-mismatch* queries (the answer uses other words) and *lexical* ones."
)
with stop_on(CorpusError, message=lambda exc: f"The labelled queries could not be loaded: {exc}"), stop_on(EngineError):
    results = evaluation_resource(settings)
st.dataframe(pd.DataFrame(summary_rows(results)).round(3), hide_index=True, width="stretch")
st.plotly_chart(delta_ndcg_chart(results["bm25"], results["splade"], presenter), width="stretch", key="p5_delta",
                config=chart_config("p5_delta_ndcg"))
st.caption(f"Model: `{settings.splade_model}` · corpus: `{settings.corpus}` · precision: {encoder.precision}.")

render_why_not(query.text, pipeline, encoder, encoding, labelled)
render_term_editing(query.text, pipeline, encoder, encoding, labelled, k)
