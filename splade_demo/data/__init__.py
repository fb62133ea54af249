"""The data: corpora, uploads, query checks and the labelled queries."""
