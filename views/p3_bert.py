"""3 · Contextual predictions: a masked-LM fills in each query word from its context."""

from __future__ import annotations

import streamlit as st

from splade_demo.app.pages import next_page
from splade_demo.app.resources import fill_mask_result, mlm_resource
from splade_demo.app.sections.bert_context import render_same_word
from splade_demo.app.sections.splade_extras import render_own_word_ranks
from splade_demo.app.state import MASKED_WORDS, page_start, stop_on
from splade_demo.config import DEFAULT_MLM_MODEL
from splade_demo.explain.fill_mask import MASK_WORD, expansion_summary, query_tokens, words
from splade_demo.figures.bert import expansion_bars, prediction_bars, prediction_grid
from splade_demo.models.loading import ModelUnavailable

CHART_COLUMNS = 3
MAX_CHARTS = MASKED_WORDS  # bar charts drawn; a query of many [MASK]s still shows every one in the grid

st.title("Contextual predictions (BERT)")
st.markdown(
    "BERT learned language by guessing hidden words from the words on both sides of them. Hide one query word "
    "at a time and ask what fits the gap: the answer depends on the context, not on the word alone."
)

query, settings, presenter = page_start()
with stop_on(ModelUnavailable):
    loaded = mlm_resource(settings.mlm_model)

if settings.mlm_model == DEFAULT_MLM_MODEL:
    st.caption(f"Model: `{DEFAULT_MLM_MODEL}` with its pre-trained masked-LM head.")
else:
    st.caption(
        f"Model: `{settings.mlm_model}` (`SPLADE_DEMO_MLM_MODEL`). The predictions are this model's masked-LM head. "
        "They are BERT's own only for a plain pre-trained BERT; a SPLADE checkpoint's head, for one, is fine-tuned for retrieval."
    )

with st.expander("How BERT learned to fill in words (the masked-LM objective)"):
    st.markdown(
        "- **Training** (Devlin et al., 2019): in each training sentence 15 % of the token positions are picked. "
        "Of those, 80 % are replaced by `[MASK]`, 10 % by a random token and 10 % are left alone. BERT must predict "
        "the original token at each picked position, using the words on *both* sides; the loss is the cross-entropy "
        "over its WordPiece vocabulary (30,522 tokens for `bert-base-uncased`).\n"
        "- **What the numbers are:** at one masked position the MLM head gives a score (logit) to every vocabulary "
        "token, and a softmax turns those scores into probabilities that sum to 1 *over the vocabulary at that "
        "position*. The top-k shown sum to less than 1. Each masked word is its own distribution: adding "
        "probabilities across words means nothing.\n"
        "- **Here:** each word is replaced by one `[MASK]` in turn (a word of several word pieces becomes a single "
        "`[MASK]`) and BERT predicts a single token for the gap. Punctuation is not masked. If the query contains "
        "`[MASK]` itself, those positions are predicted instead, all in one pass."
    )

k = st.slider("Predictions per masked word (k)", 3, 20, 10, key="p3_k")

# ValueError: e.g. a model without a mask token or a fast tokenizer
with stop_on(ValueError, message=lambda exc: f"`{settings.mlm_model}` cannot fill in masks: {exc}."):
    result = fill_mask_result(settings.mlm_model, query.text, k, MASKED_WORDS)
    query_words_all = words(loaded, query.text)
    own_tokens = query_tokens(loaded, query.text)
has_masks = any(m.word == MASK_WORD for m in result.positions)
st.subheader("Your query's own [MASK] tokens" if has_masks else "Each query word, masked in turn")
if result.truncated:
    st.info(f"The query is {result.n_tokens:,} tokens long; the model reads at most 512, so the rest is left out.")
if result.words_left_out:
    st.info(f"The query has {len(result.positions) + result.words_left_out} words; the first {len(result.positions)} "
            "are masked here.")

if not result.positions:
    st.info("Nothing to mask: the query has no words, only punctuation or symbols.")
else:
    st.caption("Blue bars: tokens the query already contains. Orange: new tokens.")
    shown = result.positions[:MAX_CHARTS]
    if len(result.positions) > MAX_CHARTS:
        st.info(f"{len(result.positions)} positions were predicted; bars for the first {MAX_CHARTS}, all of them in the grid.")
    columns = st.columns(min(CHART_COLUMNS, len(shown)))
    for i, masked in enumerate(shown):
        columns[i % len(columns)].plotly_chart(prediction_bars(masked, own_tokens, presenter), width="stretch",
                                               key=f"p3_bars_{i}")
    st.markdown("**All masked words at a glance** (rows: masked words; columns: rank; hover a cell for its probability)")
    st.plotly_chart(prediction_grid(result, presenter), width="stretch", key="p3_grid")

render_same_word(settings, query.text, query_words_all, k, presenter)

st.subheader("Toward query expansion")
if result.positions:
    pooled = expansion_summary(result, own_tokens)
    st.markdown(
        f"Pool the top-{k} predictions of every masked word: **{len(pooled.terms)}** distinct tokens, "
        f"**{len(pooled.new_terms)}** of them not in the query. Adding them to the query is a masked-LM query "
        "expansion. A token predicted at several words keeps its highest probability."
    )
    st.plotly_chart(expansion_bars(pooled.terms, presenter), width="stretch", key="p3_union")
    missing = pooled.not_predicted
    st.markdown(
        "The expanded query: its own tokens " + " ".join(f"`{t}`" for t in pooled.own_tokens[:30])
        + f" plus the {len(pooled.new_terms)} new ones above."
        + (" Not predicted at any masked word: " + ", ".join(f"`{t}`" for t in missing[:30]) + "." if missing else "")
    )
st.markdown(
    "SPLADE (next page) takes this further without masking anything: it reads the MLM logits at **every** position of "
    "the query, for **every** vocabulary token, and keeps w = max over positions of log(1 + ReLU(logit)). Those are "
    "weights, not probabilities, and SPLADE's MLM head is fine-tuned for retrieval."
)

render_own_word_ranks(settings.mlm_model, loaded, query.text, MASKED_WORDS)
following = next_page("views/p3_bert.py")
if following is not None:
    st.page_link(following.script, label=following.title, icon=following.icon)
