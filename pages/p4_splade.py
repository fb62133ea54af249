"""SPLADE vectors (not built yet)."""

import streamlit as st

st.title("SPLADE vectors")
st.info("This page is not built yet. It will show how MLM logits at each position become a sparse term-weight vector.")
