"""1 · What BM25 misses (being built)."""

import streamlit as st

st.title("What BM25 misses")
st.info("This page is being built.")
