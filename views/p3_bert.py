"""3 · Contextual predictions: a masked-LM fills in each query word from its context."""

from __future__ import annotations

import streamlit as st

from splade_demo.app.pages import next_page
from splade_demo.app.resources import fill_mask_result, fill_mask_word, glove_resource, mlm_resource
from splade_demo.app.sections.splade_extras import render_own_word_ranks
from splade_demo.app.state import MASKED_WORDS, OTHER_SENSE_SENTENCE, page_start, stop_on
from splade_demo.config import DEFAULT_MLM_MODEL
from splade_demo.data.query_check import check_query
from splade_demo.explain.fill_mask import MASK_WORD, expansion_union, query_tokens, words
from splade_demo.figures.bert import expansion_bars, prediction_bars, prediction_grid, static_vs_contextual
from splade_demo.models.glove_vectors import VectorsUnavailable
from splade_demo.models.loading import ModelUnavailable
from splade_demo.retrieval.pipeline import neighbours

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

# --- Each word, masked in turn -------------------------------------------------------------
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

# --- Context changes the prediction --------------------------------------------------------
st.subheader("Same word, different sentence")
st.markdown(
    "GloVe gives a word one vector, whatever the sentence. BERT reads the sentence. Edit either sentence and the "
    "word to see what changes; the GloVe column cannot."
)
query_words = [w.text for w in query_words_all if w.maskable and not w.is_mask]
zoo_words = {w.lower() for w in OTHER_SENSE_SENTENCE.split()}
default_word = next((w for w in query_words if w.lower() in zoo_words), query_words[0] if query_words else "")
if st.session_state.get("p3_for_query") != query.text or "p3_sentence_a" not in st.session_state:
    st.session_state["p3_for_query"] = query.text
    st.session_state["p3_sentence_a"] = query.text
    st.session_state["p3_word"] = default_word
st.session_state.setdefault("p3_word", default_word)
st.session_state.setdefault("p3_sentence_b", OTHER_SENSE_SENTENCE)

word_column, a_column, b_column = st.columns([1, 2, 2])
word = " ".join(word_column.text_input("Word", key="p3_word", max_chars=60).split())
sentence_a = check_query(a_column.text_input("Sentence A", key="p3_sentence_a", max_chars=1000))
sentence_b = check_query(b_column.text_input("Sentence B", key="p3_sentence_b", max_chars=1000))

if not word:
    st.info("Type a word that appears in both sentences.")
else:
    in_a = fill_mask_word(settings.mlm_model, sentence_a.text, word, k) if sentence_a.text else None
    in_b = fill_mask_word(settings.mlm_model, sentence_b.text, word, k) if sentence_b.text else None
    glove = None
    try:
        glove = neighbours(glove_resource(settings.glove, str(settings.cache_dir)), word, k)
    except VectorsUnavailable as exc:
        st.warning(f"The static vectors could not be loaded: {exc}")
        glove = []
    st.plotly_chart(
        static_vs_contextual(word, [("sentence A", in_a), ("sentence B", in_b)], glove, presenter),
        width="stretch", key="p3_context",
    )
    if in_a is None or in_b is None:
        st.caption("The word is matched as the model's tokenizer sees it (lower-cased for an uncased model), "
                   "as a whole word: put it in both sentences to compare.")

# --- Toward expansion ----------------------------------------------------------------------
st.subheader("Toward query expansion")
if result.positions:
    terms = expansion_union(result, own_tokens)
    new_terms = [t for t in terms if not t.in_query]
    st.markdown(
        f"Pool the top-{k} predictions of every masked word: **{len(terms)}** distinct tokens, **{len(new_terms)}** "
        "of them not in the query. Adding them to the query is a masked-LM query expansion. A token predicted at "
        "several words keeps its highest probability."
    )
    st.plotly_chart(expansion_bars(terms, presenter), width="stretch", key="p3_union")
    predicted = {t.token for t in terms}
    missing = sorted(t for t in own_tokens if t not in predicted)
    st.markdown(
        "The expanded query: its own tokens " + " ".join(f"`{t}`" for t in sorted(own_tokens)[:30])
        + f" plus the {len(new_terms)} new ones above."
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
