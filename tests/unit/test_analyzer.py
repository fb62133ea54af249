"""The BM25 analyzer: lower-casing, tokenisation, stop words, stemming."""

from __future__ import annotations

from snowballstemmer.english_stemmer import EnglishStemmer

from splade_demo.data.corpus import load_corpus, load_queries
from splade_demo.retrieval.analyzer import analyze, analyze_tokens, stem, tokenize


def test_lower_cases_and_splits_on_punctuation() -> None:
    assert tokenize("Garbage Collection: gc.collect()!") == ["garbage", "collection", "gc", "collect"]


def test_identifiers_with_underscores_stay_whole() -> None:
    assert tokenize("__init__ and tp_alloc") == ["init", "and", "tp_alloc"]


def test_stop_words_dropped_and_stems_shared() -> None:
    assert analyze("the management of memory") == ["manag", "memori"]
    assert analyze("collecting collections") == analyze("collect collection")


def test_stop_words_are_kept_for_display() -> None:
    tokens = analyze_tokens("how to free memory")
    assert [t.surface for t in tokens] == ["how", "to", "free", "memory"]
    assert [t.is_stop_word for t in tokens] == [True, True, False, False]


def test_odd_input_never_raises() -> None:
    assert analyze("") == []
    assert analyze("   \t\n") == []
    assert analyze("🐍🐍 <script>alert(1)</script>") == ["script", "alert", "1", "script"]
    assert analyze("مرحبا python") == ["مرحبا", "python"]


def test_stems_are_the_pure_python_snowball_stems_on_every_word_of_the_corpus() -> None:
    # The analyzer stems through snowballstemmer, which runs the compiled PyStemmer when installed; the oracle is
    # snowballstemmer's own pure-Python English stemmer, called directly.
    words = {w for p in load_corpus("demo").passages for w in tokenize(f"{p.title} {p.section} {p.text}")}
    words |= {w for q in load_queries() for w in tokenize(q.text)}
    oracle = EnglishStemmer()
    assert len(words) > 5_000
    assert {w: stem(w) for w in words} == {w: oracle.stemWord(w) for w in words}
