"""5 · BM25 vs SPLADE: both rankings, why each passage scored, and the evidence over labelled queries."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from splade_demo.app.progress import build_notice, ready_index
from splade_demo.app.resources import (
    bm25_resource,
    engine_of,
    engine_pipeline,
    evaluation_resource,
    labelled_query,
    splade_encoder_resource,
    splade_query_encoding,
)
from splade_demo.app.state import chart_config, page_start, stop_on
from splade_demo.data.corpus import CorpusError
from splade_demo.data.csv_export import safe_csv
from splade_demo.explain.comparison import compare_rankings, compare_through
from splade_demo.explain.splade_view import shared_terms
from splade_demo.figures.compare import bm25_breakdown_bar, delta_ndcg_chart, slope_chart, splade_breakdown_bar
from splade_demo.models.loading import ModelUnavailable
from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.bm25 import explain_terms
from splade_demo.retrieval.engines import EngineError
from splade_demo.retrieval.evaluation import summary_rows
from splade_demo.retrieval.pipeline import bm25_hits

st.title("BM25 vs SPLADE")
st.markdown(
    "The same query, ranked both ways. BM25 adds up idf × tf over the words the query and passage share; SPLADE "
    "adds up q_t · d_t over the vocabulary terms both vectors hold, including the expansion terms neither text contains."
)

query, settings, presenter = page_start()
with stop_on(ModelUnavailable, CorpusError), stop_on(EngineError):
    pipeline = engine_pipeline(settings)  # None: the memory engine, this process's indexes
    bm25 = bm25_resource(settings.corpus) if pipeline is None else None
    encoder = splade_encoder_resource(settings.splade_model, settings.precision)
    index = ready_index(settings) if pipeline is None else None  # None while it builds: BM25 shows at once

with stop_on(ValueError, message=lambda exc: f"Nothing to encode: {exc}", level="info"):
    encoding = splade_query_encoding(settings.splade_model, settings.precision, query.text)
if encoding.truncated:
    st.info(f"The query is {encoding.n_tokens} word pieces long; SPLADE used the first {len(encoding.tokens)}.")
k = st.slider("Results per ranking (k)", 5, 20, 10, key="p5_k")
if pipeline is None:
    comparison = compare_rankings(bm25, index, encoding.vector, query.text, k) if index is not None else None
else:  # all three rankings through the engine (Milvus)
    with stop_on(EngineError):
        engine = engine_of(pipeline, needs_model=True)
        comparison = compare_through(pipeline, engine, encoding.vector, query.text, k)
labelled = labelled_query(query.text)
grades = labelled.rel if labelled else {}
wins = {h.id for h in comparison.mismatch_wins} if comparison is not None else set()


def ranking_table(hits, mark_wins: bool = False) -> pd.DataFrame:
    return pd.DataFrame([
        {"#": h.rank, "title": h.title, "section": h.section, "score": round(h.score, 3),
         "relevant": {2: "✅ answers", 1: "☑️ helps"}.get(grades.get(h.source, 0), ""),
         **({"no shared word": "⭐" if h.id in wins else ""} if mark_wins else {})}
        for h in hits
    ])


columns = st.columns(3)
for column, name, hits, note in [
    (columns[0], "BM25", comparison.bm25 if comparison else bm25_hits(bm25, query.text, k), "word overlap"),
    (columns[1], "SPLADE", comparison.splade if comparison else None, "⭐ = shares no analysed word with the query"),
    (columns[2], "Hybrid (RRF)", comparison.hybrid if comparison else None, "1/(60 + rank), summed over both rankings"),
]:
    with column:
        st.subheader(name)
        st.caption(note)
        if hits is None:  # the SPLADE index is still being built (or failed): this column fills itself in
            build_notice(settings, key=f"p5_build_{name.split()[0]}", say_failure=name == "SPLADE")
            continue
        if hits:
            st.dataframe(ranking_table(hits, mark_wins=name == "SPLADE"), hide_index=True, width="stretch")
        else:
            st.info(f"{name} scored no passage above zero for this query.")
        st.download_button(f"{name} ranking as CSV", safe_csv(ranking_table(hits)),
                           file_name=f"{name.split()[0].lower()}_ranking.csv", mime="text/csv", key=f"p5_csv_{name}")

if comparison is None:
    st.stop()  # the rest compares with SPLADE: drawn when the index is ready (the notices above rerun the page)
if comparison.changes:
    st.plotly_chart(slope_chart(comparison.changes, k, set(grades), presenter), width="stretch", key="p5_slope",
                    config=chart_config("p5_rank_changes"))
if comparison.mismatch_wins:
    relevant_wins = [h for h in comparison.mismatch_wins if h.source in grades]
    st.success(
        f"{len(comparison.mismatch_wins)} of SPLADE's top {k} share no analysed word with the query"
        + (f"; {len(relevant_wins)} of them are labelled relevant: vocabulary-mismatch wins." if relevant_wins else ".")
    )

st.header("Why did this passage score?")
candidates = {h.id: h for h in [*comparison.splade, *comparison.bm25]}
if not candidates:
    st.info("Neither method retrieved anything to explain.")
else:
    chosen = st.selectbox(
        "Passage", list(candidates), key="p5_doc",
        format_func=lambda pid: f"{candidates[pid].title} — {candidates[pid].section}"[:120],
    )
    hit = candidates[chosen]
    with stop_on(EngineError):
        doc_vector = index.doc_vector(hit.index) if index is not None else engine.doc_vector(hit.id)
        if bm25 is not None:
            rows = bm25.explain(analyze(query.text), hit.index)
        else:  # our formula over what the engine hands out
            stats = engine.bm25_stats(analyze(query.text))
            rows = explain_terms(analyze(query.text), engine.doc_terms(hit.id), stats.idf, stats.avgdl)
    shares = shared_terms(encoding.vector, doc_vector, encoder.vocab)
    query_pieces = set(encoding.tokens)
    left, right = st.columns(2)
    with left:
        total = sum(s.contribution for s in shares)
        st.markdown(f"**SPLADE: {total:.2f}** from {len(shares)} shared terms")
        if shares:
            st.plotly_chart(splade_breakdown_bar(shares, query_pieces, presenter), width="stretch", key="p5_splade_bar",
                            config=chart_config("p5_splade_breakdown"))
            expansion = [s.term for s in shares if s.term not in query_pieces]
            if expansion:
                st.markdown("Expansion terms that matched: " + ", ".join(f"`{t}`" for t in expansion[:15]))
        else:
            st.info("The two SPLADE vectors share no term: the score is zero.")
    with right:
        bm25_total = sum(r.contribution for r in rows)
        st.markdown(f"**BM25: {bm25_total:.2f}** from {sum(r.tf > 0 for r in rows)} matching query words")
        if bm25_total > 0:
            st.plotly_chart(bm25_breakdown_bar(rows, presenter), width="stretch", key="p5_bm25_bar",
                            config=chart_config("p5_bm25_breakdown"))
        else:
            st.info("No query word occurs in this passage: BM25 gives it zero.")
    st.download_button(
        "The query's SPLADE vector as CSV",
        safe_csv(pd.DataFrame(encoding.top_terms(encoder.vocab, encoding.nnz), columns=["term", "weight"])),
        file_name="splade_query_vector.csv", mime="text/csv", key="p5_csv_vector",
    )

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

# -- Explain any page, edit the query's terms (#15) ------------------------------------------
from splade_demo.app.sections.term_editing import render_term_editing
from splade_demo.app.sections.why_not import render_why_not

if pipeline is not None:
    st.info("Explaining any labelled page and editing the query's terms are not available with this engine.")
    st.stop()
render_why_not(query.text, bm25, encoder, index, encoding, labelled)
render_term_editing(query.text, bm25, encoder, index, encoding, labelled, k)
