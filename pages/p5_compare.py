"""BM25 vs SPLADE (not built yet)."""

import streamlit as st

st.title("BM25 vs SPLADE")
st.info("This page is not built yet. It will show both rankings side by side, score breakdowns, and metrics over the labelled queries.")
