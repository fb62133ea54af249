"""4 · SPLADE vectors: the masked-LM logits at every position, max-pooled into one weight per term."""

from __future__ import annotations

import streamlit as st

from splade_demo.app.cached_pipeline import pipeline_resource
from splade_demo.app.progress import build_notice
from splade_demo.app.resources import splade_encoder_resource, splade_query_encoding
from splade_demo.app.sections.splade_extras import (
    render_context_diff,
    render_terms_won,
    render_weights_vs_probabilities,
    term_origins,
)
from splade_demo.app.state import chart_config, page_start, stop_on
from splade_demo.app.texts import PRECISION_CAPTIONS
from splade_demo.data.corpus import CorpusError
from splade_demo.explain.splade_view import document_view, own_term_count, position_term_grid, term_weights
from splade_demo.figures.splade import activation_heatmap, document_term_bars, term_weight_bars
from splade_demo.models.loading import ModelUnavailable
from splade_demo.retrieval.pipeline import EngineError

RESULTS = 10  # the query's SPLADE results offered on the document side

st.title("SPLADE vectors")
st.markdown(
    "SPLADE runs the masked-LM head at **every** position of the text, not only at a `[MASK]`. Each logit becomes "
    "log(1 + ReLU(logit)), and a max over the positions leaves **one weight per vocabulary term**: "
    "w_j = max_i log(1 + ReLU(logit_ij)) (SPLADE v2, Formal et al. 2021)."
)

query, settings, presenter = page_start()

with stop_on(ModelUnavailable), stop_on(ValueError, message=lambda exc: f"Nothing to encode: {exc}", level="info"):
    encoder = splade_encoder_resource(settings.splade_model, settings.precision)
    encoding = splade_query_encoding(settings.splade_model, settings.precision, query.text)

st.caption(f"SPLADE model: `{settings.splade_model}`, {PRECISION_CAPTIONS[encoder.precision]}.")
if encoder.precision_note:
    st.caption(encoder.precision_note)
if encoding.truncated:
    st.info(f"The query is {encoding.n_tokens:,} word pieces long; only the first {len(encoding.tokens):,} were encoded.")

left, middle = st.columns(2)
top_n = left.slider("Terms shown", 5, 60, 20, key="p4_top_n")
hide = middle.toggle("Hide [CLS], [SEP] and ## pieces", key="p4_hide_special",
                     help="Display only: the vector and the figures below it are unchanged.")

vocab = encoder.vocab
a, b, c, d = st.columns(4)
a.metric("Non-zero terms", f"{encoding.nnz:,}")
b.metric("Share of the vocabulary", f"{encoding.vocab_share:.3%}", help=f"{encoding.nnz:,} of {len(vocab):,} terms")
c.metric("L1 norm (sum of weights)", f"{encoding.l1:.2f}")
d.metric("Word pieces", f"{len(encoding.tokens):,}", help="[CLS] and [SEP] included")

st.subheader("Every position votes; the max wins")
st.caption("Rows: the query's word pieces. Columns: the pooled vector's heaviest terms. Each cell is "
           "log(1 + ReLU(logit)) at that position; the outlined cell is the max that becomes the term's weight.")
grid = position_term_grid(encoding, vocab, top_n, hide)
st.plotly_chart(activation_heatmap(grid, presenter), width="stretch", key="p4_heatmap", config=chart_config("p4_heatmap"))
if grid.hidden_winners:
    st.caption("Some weights come from hidden rows: " + ", ".join(f"`{t}`" for t in grid.hidden_winners) + ".")

st.subheader("The sparse vector")
bars = term_weights(encoding.vector, vocab, top_n, set(encoding.input_ids), hide)

st.plotly_chart(term_weight_bars(bars, presenter, origins=term_origins(encoding, vocab)), width="stretch", key="p4_bars",
                config=chart_config("p4_vector"))
render_terms_won(encoding, vocab)
st.caption(f"{own_term_count(encoding):,} of the {encoding.nnz:,} non-zero terms are the query's own word pieces; "
           f"{encoding.expansion_nnz:,} are expansion terms the model added.")
render_weights_vs_probabilities(settings, query.text, encoding, vocab, hide, presenter)

st.subheader("A document's vector")
st.caption("Documents are encoded the same way (up to "
           f"{encoder.max_length} word pieces, {encoder.precision}); a document's score is the dot product "
           "Σ q_t·d_t over the terms it shares with the query.")
with stop_on(CorpusError, message=lambda exc: f"The corpus could not be loaded: {exc}"), stop_on(EngineError):
    pipeline = pipeline_resource(settings)
    if not pipeline.splade_ready():  # never waits for encoding: the index is built in the background for every session
        build_notice(settings, key="p4_build")
        st.stop()
    hits = pipeline.splade_ranking(encoding.vector, RESULTS)
    notes = (pipeline.engine.index_origin(), pipeline.engine.index_note())
for note in filter(None, notes):
    st.caption(note)
if not hits:
    st.info("No passage shares a term with this query's SPLADE vector.")
    st.stop()
labels = {f"{h.rank}. {h.title} — {h.section} (score {h.score:.2f})": h for h in hits}
hit = labels[st.selectbox("A passage from this query's SPLADE results", list(labels), key="p4_doc")]
with stop_on(EngineError):
    doc = document_view(pipeline, encoding, hit.id, vocab, top_n, hide)
a, b, c = st.columns(3)
a.metric("Document non-zero terms", f"{doc.nnz:,}")
b.metric("Shared with the query", f"{len(doc.shares):,}")
c.metric("Score Σ q·d", f"{doc.score:.2f}")
if doc.truncated is not None:
    st.caption(f"This passage is {doc.truncated:,} word pieces long; only the first {encoder.max_length} were encoded.")
doc_left, doc_right = st.columns([3, 2])
with doc_left:
    st.plotly_chart(document_term_bars(doc.bars, presenter), width="stretch", key="p4_doc_bars",
                    config=chart_config("p4_document"))
with doc_right:
    st.markdown("**Terms shared with the query**")
    st.dataframe(doc.shares_table(), hide_index=True, width="stretch")
with st.expander("Passage text"):
    st.text(doc.text)

render_context_diff(query.text, settings.splade_model, settings.precision, vocab, pipeline, splade_query_encoding)
