"""Ranking: the BM25 analyzer and index, the SPLADE encoder and index, fusion, the pipeline and evaluation."""
