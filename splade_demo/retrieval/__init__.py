"""Retrieval: analyzer, BM25, SPLADE encoding and index, fusion, ranking, engines. No Streamlit."""
