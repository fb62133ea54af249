"""Uploaded corpora: good CSV and JSONL, each error naming its row or line, the caps, and text kept as text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from splade_demo.data import upload
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.data.corpus import load_corpus
from splade_demo.data.upload import MAX_KEPT_UPLOADS, UploadError, parse_upload, save_upload

GOOD_CSV = (
    "id,text,title,url,extra\n"
    "a1,\"The garbage collector frees unreachable objects, even in cycles.\",GC basics,https://example.org/gc,x\n"
    "a2,\"Reference counting frees an object when its count drops to zero.\",,,\n"
).encode()


def jsonl(*records: object) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records).encode()


def test_a_good_csv_gets_defaults() -> None:
    corpus = parse_upload("docs.csv", GOOD_CSV)
    first, second = corpus.passages
    assert (first.id, first.title, first.url, first.source, first.section) == \
        ("a1", "GC basics", "https://example.org/gc", "upload/a1", "")
    assert first.text == "The garbage collector frees unreachable objects, even in cycles."
    assert second.title == "Reference counting frees an object when its count…"  # the first 8 words
    assert (second.url, second.source) == ("", "upload/a2")
    assert corpus.index_of("a2") == 1


def test_a_good_jsonl_with_a_bom_blank_lines_and_numeric_ids() -> None:
    data = "\ufeff".encode() + jsonl({"id": 7, "text": "Threads share memory.", "source": "library/threading",
                                      "Section": "Intro"}, "", "  ", {"id": "x", "text": "Short."})
    corpus = parse_upload("docs.jsonl", data)
    assert [p.id for p in corpus.passages] == ["7", "x"]
    assert corpus.passages[0].source == "library/threading" and corpus.passages[0].section == "Intro"
    assert corpus.passages[1].title == "Short."


def test_format_detection_without_an_extension() -> None:
    assert parse_upload("upload", jsonl({"id": "a", "text": "b"})).passages[0].text == "b"
    assert parse_upload("upload", b"id,text\na,b\n").passages[0].text == "b"


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("d.csv", b"id,text\na,one\nb,\n", "row 2: missing text"),
        ("d.csv", b"id,text\na,one\nb,two\n,three\n", "row 3: missing id"),
        ("d.csv", b"id,text\na,one\nb,two\nc\n", "row 3: missing text"),  # a short row
        ("d.csv", b"id,text\na,one\nb,two\na,three\n", "row 3: duplicate id 'a' (first at row 1)"),
        ("d.csv", b"id,body\na,one\n", "the CSV header must name the columns id and text; missing text"),
        ("d.csv", b"id,text\n", "the file has a header but no documents"),
        ("d.csv", b"id,text,url\na,one,javascript:alert(1)\n", "row 1: url must start with https:// or http://"),
        ("d.jsonl", jsonl({"id": "a", "text": "one"}, {"id": "b"}), "line 2: missing text"),
        ("d.jsonl", jsonl({"id": "a", "text": "one"}, "", '{"id": "b", "text": '), "line 3: not valid JSON"),
        ("d.jsonl", jsonl({"id": "a", "text": "one"}, [1, 2]), "line 2: expected a JSON object, found an array"),
        ("d.jsonl", jsonl({"id": "a", "text": ["one"]}), "line 1: text must be text, not list"),
        ("d.jsonl", jsonl({"id": "a", "text": "one"}, {"id": "a", "text": "two"}),
         "line 2: duplicate id 'a' (first at line 1)"),
        ("d.jsonl", jsonl({"id": "a", "text": "\ud800"}), "line 1: text contains an invalid character"),
        ("d.jsonl", b"", "the file is empty"),
        ("d.csv", b"  \n\n ", "the file is empty"),
        ("d.jsonl", b'{"id": "a", "text": "one"}\n{"id": "b", "text": "caf\xe9"}\n',
         "line 2: the file is not UTF-8 text"),
        ("d.csv", b"id,text\na,one\x00two\n", "line 2: a NUL byte"),
    ],
)
def test_each_error_names_the_place(filename: str, data: bytes, message: str) -> None:
    with pytest.raises(UploadError) as error:
        parse_upload(filename, data)
    assert str(error.value).startswith(message), str(error.value)


def test_caps() -> None:
    too_many = "id,text\n" + "".join(f"d{i},word {i}\n" for i in range(upload.MAX_DOCUMENTS + 1))
    with pytest.raises(UploadError, match=r"^row 2001: too many documents; the limit is 2,000"):
        parse_upload("d.csv", too_many.encode())
    assert len(parse_upload("d.csv", too_many.rsplit("\n", 2)[0].encode() + b"\n")) == upload.MAX_DOCUMENTS

    long_text = "x" * (upload.MAX_TEXT_CHARS + 1)
    with pytest.raises(UploadError, match=r"^line 1: text is 20,001 characters long; the limit is 20,000"):
        parse_upload("d.jsonl", jsonl({"id": "a", "text": long_text}))
    assert parse_upload("d.jsonl", jsonl({"id": "a", "text": long_text[:-1]})).passages[0].text == long_text[:-1]

    with pytest.raises(UploadError, match=r"^line 1: title is 1,001 characters"):
        parse_upload("d.jsonl", jsonl({"id": "a", "text": "t", "title": "y" * 1001}))
    with pytest.raises(UploadError, match=r"^the file is 5\.1 MB; the limit is 5 MB"):
        parse_upload("d.csv", b"id,text\n" + b"a" * upload.MAX_UPLOAD_BYTES)


def test_markup_stays_text() -> None:
    payload = "<script>window.__xss=1</script><img src=x onerror=alert(1)> **bold** [link](javascript:alert(1))"
    corpus = parse_upload("d.jsonl", jsonl({"id": "<b>id</b>", "text": payload, "title": payload}))
    passage = corpus.passages[0]
    assert passage.text == payload and passage.title == payload and passage.id == "<b>id</b>"
    assert passage.source == "upload/<b>id</b>"


def test_saved_upload_is_a_corpus_the_app_loads(tmp_path: Path) -> None:
    corpus = parse_upload("docs.csv", GOOD_CSV)
    path = save_upload(corpus, tmp_path)
    assert path == tmp_path / "uploads" / f"{corpus.content_hash}.jsonl"
    assert save_upload(parse_upload("again.csv", GOOD_CSV), tmp_path) == path  # same content, same file
    assert [p.name for p in (tmp_path / "uploads").iterdir()] == [path.name]  # no staging files left

    loaded = load_corpus(str(path))
    assert loaded.passages == corpus.passages and loaded.content_hash == corpus.content_hash
    scores = BM25Index(loaded).score({"garbag": 1.0})
    assert scores[0] > 0 and scores[1] == 0


def test_only_the_newest_uploads_are_kept(tmp_path: Path) -> None:
    paths = []
    for i in range(MAX_KEPT_UPLOADS + 3):
        corpus = parse_upload(f"u{i}.csv", f"id,text\nd{i},document number {i}\n".encode())
        paths.append(save_upload(corpus, tmp_path))
        os.utime(paths[-1], (1_000_000 + i, 1_000_000 + i))  # distinct ages, oldest first
    kept = sorted((tmp_path / "uploads").glob("*.jsonl"))
    assert len(kept) == MAX_KEPT_UPLOADS
    assert set(kept) == set(paths[3:])  # the three oldest went
    again = save_upload(parse_upload("again.csv", b"id,text\nd3,document number 3\n"), tmp_path)
    assert again == paths[3] and again.stat().st_mtime > 1_000_100  # a re-upload counts as recent
