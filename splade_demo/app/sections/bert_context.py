"""Page 3, "Same word, different sentence": BERT's predictions for one word in two sentences beside GloVe's
neighbours, which cannot change with the sentence."""

from __future__ import annotations

import streamlit as st

from splade_demo.app.resources import fill_mask_word, glove_resource
from splade_demo.app.state import OTHER_SENSE_SENTENCE
from splade_demo.config import Settings
from splade_demo.data.query_check import check_query
from splade_demo.explain.fill_mask import Word, default_context_word
from splade_demo.figures.bert import static_vs_contextual
from splade_demo.models.glove_vectors import VectorsUnavailable
from splade_demo.retrieval.pipeline import neighbours


def render_same_word(settings: Settings, query_text: str, query_words: list[Word], k: int, presenter: bool) -> None:
    """The panel: a word and two sentences (the query, and a sentence with the word's other sense) to edit."""
    st.subheader("Same word, different sentence")
    st.markdown(
        "GloVe gives a word one vector, whatever the sentence. BERT reads the sentence. Edit either sentence and the "
        "word to see what changes; the GloVe column cannot."
    )
    default_word = default_context_word(query_words, OTHER_SENSE_SENTENCE)
    if st.session_state.get("p3_for_query") != query_text or "p3_sentence_a" not in st.session_state:
        st.session_state["p3_for_query"] = query_text
        st.session_state["p3_sentence_a"] = query_text
        st.session_state["p3_word"] = default_word
    st.session_state.setdefault("p3_word", default_word)
    st.session_state.setdefault("p3_sentence_b", OTHER_SENSE_SENTENCE)

    word_column, a_column, b_column = st.columns([1, 2, 2])
    word = " ".join(word_column.text_input("Word", key="p3_word", max_chars=60).split())
    sentence_a = check_query(a_column.text_input("Sentence A", key="p3_sentence_a", max_chars=1000))
    sentence_b = check_query(b_column.text_input("Sentence B", key="p3_sentence_b", max_chars=1000))
    if not word:
        st.info("Type a word that appears in both sentences.")
        return
    in_a = fill_mask_word(settings.mlm_model, sentence_a.text, word, k) if sentence_a.text else None
    in_b = fill_mask_word(settings.mlm_model, sentence_b.text, word, k) if sentence_b.text else None
    try:
        glove = neighbours(glove_resource(settings.glove, str(settings.cache_dir)), word, k)
    except VectorsUnavailable as exc:
        st.warning(f"The static vectors could not be loaded: {exc}")
        glove = []
    st.plotly_chart(static_vs_contextual(word, [("sentence A", in_a), ("sentence B", in_b)], glove, presenter),
                    width="stretch", key="p3_context")
    if in_a is None or in_b is None:
        st.caption("The word is matched as the model's tokenizer sees it (lower-cased for an uncased model), "
                   "as a whole word: put it in both sentences to compare.")
