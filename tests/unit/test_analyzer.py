"""The BM25 analyzer: lower-casing, tokenisation, stop words, stemming."""

from __future__ import annotations

from splade_demo.retrieval.analyzer import analyze, analyze_tokens, tokenize


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
