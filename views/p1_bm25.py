"""1 · A developer documentation search system: what BM25 matches, and what it misses."""

from __future__ import annotations

import html

import pandas as pd
import streamlit as st

from splade_demo.app.cached_pipeline import pipeline_resource
from splade_demo.app.resources import labelled_query
from splade_demo.app.state import page_start, stop_on
from splade_demo.data.corpus import CorpusError
from splade_demo.explain.lexical_gap import bm25_report, relevant_pages
from splade_demo.explain.labels import grade_mark, grade_name, markdown_text
from splade_demo.explain.snippets import segments_to_html, snippet_segments
from splade_demo.figures.bm25 import contribution_bars
from splade_demo.retrieval.pipeline import EngineError, NotAvailable, analyze_tokens

st.title("A developer documentation search system")
st.markdown(
    "BM25 scores a passage by the query words it contains: rare words count more (idf), repeats count less and "
    "less (tf saturation), long passages are penalised. It never sees a word the query does not contain."
)

query, settings, presenter = page_start()
with stop_on(CorpusError, message=lambda exc: f"The corpus could not be loaded: {exc}"), stop_on(EngineError):
    pipeline = pipeline_resource(settings)

tokens = analyze_tokens(query.text)
st.markdown(
    "**What BM25 searches for** (lower-cased, stop words dropped, Snowball stems): "
    + " · ".join(f"~~`{t.surface}`~~" if t.is_stop_word else f"`{t.surface}` → `{t.term}`" for t in tokens[:40])
    if tokens else "**What BM25 searches for:** nothing: the query has no words BM25 can index."
)
k = st.slider("Results to show (k)", 3, 30, 10, key="p1_k")
labelled = labelled_query(query.text)
with stop_on(CorpusError, message=lambda exc: f"The corpus could not be loaded: {exc}"), stop_on(EngineError):
    report = bm25_report(pipeline, query.text, k)

if report.unknown_terms:
    st.info("Not in any passage of this corpus, so BM25 cannot use: " + ", ".join(f"`{t}`" for t in report.unknown_terms[:20]))
if not report.hits:
    st.warning("BM25 found no passage that contains any of the query's words. That is vocabulary mismatch at its starkest.")
    st.stop()

st.plotly_chart(contribution_bars(report.hits, report.contributions, presenter),
                width="stretch", key="p1_chart")

relevant_grade = dict(labelled.rel if labelled else {})
st.subheader(f"BM25 top {len(report.hits)} on `{settings.corpus if len(settings.corpus) < 40 else 'custom'}`")
matched_terms = set(report.query_terms)
for hit in report.hits:
    grade = relevant_grade.get(hit.source)
    marker = f"{grade_mark(grade)} · " if grade_mark(grade) else ""
    title = html.escape(hit.title)
    link = f'<a href="{html.escape(hit.url, quote=True)}" target="_blank" rel="noopener">{title}</a>' \
        if hit.url.startswith("https://") else title
    st.html(
        f"<div style='margin-bottom:0.8em'><b>{hit.rank}. {link}</b> — {html.escape(hit.section)} "
        f"<small>({marker}score {hit.score:.2f} · <code>{html.escape(hit.source)}</code>)</small><br>"
        f"<span style='font-size:0.95em'>{segments_to_html(snippet_segments(report.texts[hit.id], matched_terms))}</span></div>"
    )

st.subheader("What BM25 missed")
if labelled is None:
    st.info("This query has no relevance labels, so there is no answer key. Pick an example query in the sidebar "
            "(for instance “python memory management”) to see which answering pages BM25 never reaches.")
    st.stop()
with stop_on(EngineError), stop_on(NotAvailable, level="info"):
    relevant = relevant_pages(pipeline, query.text, labelled)
rows = [
    {"page": p.source, "title": p.title, "grade": grade_name(p.grade),
     "BM25 page rank": str(p.page_rank) if p.page_rank is not None else "never retrieved",
     "shares a query word": "yes" if p.shares_terms else "no"}
    for p in relevant
]
st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
missed = [p for p in relevant if p.missed(k)]
if not missed:
    st.success(f"Every labelled page is in BM25's top {k} pages for this query: a lexical query, where BM25 does well.")
for page in missed:
    where = f"ranked {page.page_rank} among pages" if page.page_rank else "never retrieved"
    reason = "It shares no word with the query." if not page.shares_terms else "It shares some words, but other pages use them more."
    st.markdown(
        f"- **{markdown_text(page.title)}** (`{page.source.replace('`', '')}`, {where}). {reason} It speaks of: "
        + ", ".join(f"`{w}`" for w in page.words_instead)
    )
