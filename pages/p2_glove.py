"""Static expansion (GloVe) (not built yet)."""

import streamlit as st

st.title("Static expansion (GloVe)")
st.info("This page is not built yet. It will show each query word's GloVe neighbours and the noise they add to BM25.")
