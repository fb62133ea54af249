"""4 · SPLADE vectors: the masked-LM logits at every position, max-pooled into one weight per term."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from splade_demo.app.cached_pipeline import pipeline_resource
from splade_demo.app.progress import build_notice
from splade_demo.app.resources import (
    fill_mask_result,
    mlm_resource,
    splade_encoder_resource,
    splade_query_encoding,
)
from splade_demo.app.sections.splade_extras import render_context_diff, render_terms_won, term_origins
from splade_demo.app.state import MASKED_WORDS, chart_config, page_start, stop_on
from splade_demo.data.corpus import CorpusError
from splade_demo.explain.fill_mask import query_tokens
from splade_demo.explain.splade_view import PRECISION_CAPTIONS, position_term_grid, shared_terms, term_weights
from splade_demo.figures.bert import prediction_bars
from splade_demo.figures.splade import activation_heatmap, document_term_bars, term_weight_bars
from splade_demo.models.loading import ModelUnavailable
from splade_demo.retrieval.pipeline import EngineError

RESULTS = 10  # the query's SPLADE results offered on the document side
BERT_K = 10

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
hidden_winners = sorted({t for t, r in zip(grid.winner_tokens, grid.winners) if r is None})
if hidden_winners:
    st.caption("Some weights come from hidden rows: " + ", ".join(f"`{t}`" for t in hidden_winners) + ".")

st.subheader("The sparse vector")
bars = term_weights(encoding.vector, vocab, top_n, set(encoding.input_ids), hide)

st.plotly_chart(term_weight_bars(bars, presenter, origins=term_origins(encoding, vocab)), width="stretch", key="p4_bars",
                config=chart_config("p4_vector"))
render_terms_won(encoding, vocab)
expansion = encoding.expansion_nnz
st.caption(f"{encoding.nnz - expansion:,} of the {encoding.nnz:,} non-zero terms are the query's own word pieces; "
           f"{expansion:,} are expansion terms the model added.")

st.subheader("Weights are not probabilities")
st.markdown(
    "BERT's fill-mask gives a **probability** at one masked position: a softmax, summing to 1 over the vocabulary. "
    "A SPLADE weight is a log-saturated logit, max-pooled over every position of the unmasked text, from a head "
    "fine-tuned for retrieval: unbounded, not normalised, and it rewards terms that help match documents."
)
bert_col, splade_col = st.columns(2)
with bert_col:
    try:
        result = fill_mask_result(settings.mlm_model, query.text, BERT_K, MASKED_WORDS)
        bert_tokens = query_tokens(mlm_resource(settings.mlm_model), query.text)
    except ModelUnavailable as exc:
        st.warning(str(exc))
        result = None
    if result is not None and result.positions:
        words = {f"{m.word} (word {m.position})": m for m in result.positions}
        chosen = st.selectbox("Masked word", list(words), key="p4_mask_word")
        masked = words[chosen]
        st.plotly_chart(prediction_bars(masked, bert_tokens, presenter), width="stretch", key="p4_bert",
                        config=chart_config("p4_bert"))
        st.caption(f"`{settings.mlm_model}`: the top {len(masked.predictions)} of 30k probabilities sum to "
                   f"{sum(p.probability for p in masked.predictions):.2f}.")
    elif result is not None:
        st.info("The query has no word BERT can mask.")
with splade_col:
    side = term_weights(encoding.vector, vocab, BERT_K, set(encoding.input_ids), hide)
    st.plotly_chart(term_weight_bars(side, presenter, title="SPLADE weights (whole query, unmasked)"), width="stretch",
                    key="p4_splade_side", config=chart_config("p4_splade_weights"))
    st.caption(f"`{settings.splade_model}`: {encoding.nnz:,} weights summing to {encoding.l1:.2f}, the largest "
               f"{float(encoding.vector.max()):.2f}.")

st.subheader("A document's vector")
st.caption("Documents are encoded the same way (up to "
           f"{encoder.max_length} word pieces, {encoder.precision}); a document's score is the dot product "
           "Σ q_t·d_t over the terms it shares with the query.")
with stop_on(CorpusError, message=lambda exc: f"The corpus could not be loaded: {exc}"), stop_on(EngineError):
    pipeline = pipeline_resource(settings)
    if not pipeline.splade_ready():  # never waits: the index is built in the background for every session
        build_notice(settings, key="p4_build")
        st.stop()
    hits = pipeline.splade_ranking(encoding.vector, RESULTS)
    note = pipeline.engine.index_note()
if note:
    st.caption(note)
if not hits:
    st.info("No passage shares a term with this query's SPLADE vector.")
    st.stop()
labels = {f"{h.rank}. {h.title} — {h.section} (score {h.score:.2f})": h for h in hits}
hit = labels[st.selectbox("A passage from this query's SPLADE results", list(labels), key="p4_doc")]
with stop_on(EngineError):
    doc_vector = pipeline.engine.doc_vector(hit.id)
    passage_text = pipeline.engine.passage(hit.id).text
    truncated = pipeline.engine.truncation(hit.id)
shares = shared_terms(encoding.vector, doc_vector, vocab)
query_ids = {int(i) for i in encoding.vector.nonzero()[0]}
doc_bars = term_weights(doc_vector, vocab, top_n, query_ids, hide)
doc_nnz = int((doc_vector > 0).sum())

a, b, c = st.columns(3)
a.metric("Document non-zero terms", f"{doc_nnz:,}")
b.metric("Shared with the query", f"{len(shares):,}")
c.metric("Score Σ q·d", f"{sum(s.contribution for s in shares):.2f}")
if truncated is not None:
    st.caption(f"This passage is {truncated:,} word pieces long; only the first {encoder.max_length} were encoded.")

doc_left, doc_right = st.columns([3, 2])
with doc_left:
    st.plotly_chart(document_term_bars(doc_bars, presenter), width="stretch", key="p4_doc_bars",
                    config=chart_config("p4_document"))
with doc_right:
    st.markdown("**Terms shared with the query**")
    st.dataframe(
        pd.DataFrame([{"term": s.term, "query weight": round(s.query_weight, 3), "document weight": round(s.doc_weight, 3),
                       "q·d": round(s.contribution, 3)} for s in shares]),
        hide_index=True, width="stretch",
    )
with st.expander("Passage text"):
    st.text(passage_text)


render_context_diff(query.text, settings.splade_model, settings.precision, vocab, pipeline, splade_query_encoding)
