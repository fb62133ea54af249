"""Contextual predictions (BERT) (not built yet)."""

import streamlit as st

st.title("Contextual predictions (BERT)")
st.info("This page is not built yet. It will show BERT's masked-token predictions for each query word, in context.")
