"""Malformed uploaded corpora: `upload.parse_upload` answers each with an UploadError naming the problem
(never another exception), and the sidebar's uploader (AppTest) keeps the app working and the corpus unchanged."""

from __future__ import annotations

import json
import random

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.data import upload
from splade_demo.app.sidebar import UPLOAD_ERROR_KEY, UPLOAD_KEY, UPLOADED_KEY
from splade_demo.data.corpus import Corpus
from splade_demo.data.upload import UploadError, parse_upload
from tests.conftest import REPO_ROOT
from tests.robustness.bad_inputs import IMG_PAYLOAD, RAW_HTML_MARKERS

GOOD_JSONL = "\n".join(json.dumps({"id": f"d{i}", "text": f"garbage collector frees memory {i}", "title": f"T{i}"})
                       for i in range(5)).encode()

MALFORMED: list[tuple[str, str, bytes, str]] = [  # (case, filename, data, what the message must say)
    ("bad JSON line", "docs.jsonl", b'{"id": "a", "text": "ok"}\n{"id": "b", "text": \n', "line 2: not valid JSON"),
    ("missing text column (CSV)", "docs.csv", b"id,body\na,one\n", "missing text"),
    ("missing text field (JSONL)", "docs.jsonl", b'{"id": "a", "body": "one"}\n', "line 1: missing text"),
    ("binary garbage", "docs.jsonl", bytes(range(256)) * 8, "line 2: the file is not UTF-8 text (byte 0x80)"),
    ("binary with NUL, valid UTF-8", "docs.csv", b"id,text\na,one\x00two\n", "NUL byte"),
    ("PNG header", "docs.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
    ("empty file", "docs.csv", b"", "empty"),
    ("whitespace only", "docs.jsonl", b"  \n\t\n  ", "empty"),
    ("BOM only", "docs.csv", b"\xef\xbb\xbf", "empty"),
    ("10,000 rows", "docs.csv", b"id,text\n" + b"".join(b"r%d,some text %d\n" % (i, i) for i in range(10_000)),
     "too many documents"),
    ("10,000 JSONL lines", "docs.jsonl",
     b"\n".join(json.dumps({"id": str(i), "text": "t"}).encode() for i in range(10_000)), "too many documents"),
    ("over the size cap", "docs.csv", b"id,text\na," + b"x" * (upload.MAX_UPLOAD_BYTES + 10), "the limit is 5 MB"),
    ("a JSON array", "docs.json", b'[{"id": "a", "text": "b"}]', "an array"),
    ("a JSON scalar per line", "docs.jsonl", b'"just a string"\n', "expected a JSON object"),
    ("a lone surrogate escape", "docs.jsonl", b'{"id": "a", "text": "bad \\ud800 char"}\n', "lone surrogate"),
    ("nested object as text", "docs.jsonl", b'{"id": "a", "text": {"nested": 1}}\n', "text must be text"),
    ("duplicate ids", "docs.csv", b"id,text\na,one\na,two\n", "duplicate id"),
    ("javascript: url", "docs.csv", b"id,text,url\na,one,javascript:alert(1)\n", "url must start with"),
    ("HTML in an id", "docs.csv", f"id,text\n{IMG_PAYLOAD},one\n{IMG_PAYLOAD},two\n".encode(), "duplicate id"),
    ("header only", "docs.csv", b"id,text\n", "no documents"),
    ("a 30,000-character text", "docs.jsonl", json.dumps({"id": "a", "text": "x" * 30_000}).encode(), "the limit is"),
]


@pytest.mark.parametrize(("case", "filename", "data", "expected"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_a_malformed_file_is_refused_with_a_clear_message(case: str, filename: str, data: bytes, expected: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rows: list[str] = []  # fast: each row is read once, and none after the first error
    normalise = upload.normalise
    monkeypatch.setattr(upload, "normalise", lambda raw, place: rows.append(place) or normalise(raw, place))
    with pytest.raises(UploadError) as caught:
        parse_upload(filename, data)
    message = str(caught.value)
    assert expected in message, message
    assert message.strip() and len(message) < 500
    assert len(rows) == len(set(rows)) <= data.count(b"\n") + 1, f"{case}: {len(rows)} rows read"


def test_mangled_files_never_raise_anything_but_upload_error() -> None:
    """Seeded fuzzing: truncations, byte flips and random bytes of a good file, as CSV and as JSONL."""
    rng = random.Random(8)
    good_csv = b"id,text,title\n" + b"".join(b'd%d,"garbage, collector %d",T%d\n' % (i, i, i) for i in range(5))
    tried = accepted = 0
    for base, filename in [(GOOD_JSONL, "docs.jsonl"), (good_csv, "docs.csv"), (GOOD_JSONL, "upload")]:
        for _ in range(150):
            data = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            if rng.random() < 0.3:
                data = data[: rng.randrange(len(data))]
            if rng.random() < 0.1:
                data = bytearray(rng.randbytes(rng.randint(0, 300)))
            tried += 1
            try:
                result = parse_upload(filename, bytes(data))
            except UploadError as exc:
                assert str(exc).strip()
            else:
                assert isinstance(result, Corpus) and len(result) >= 1
                accepted += 1
    print(f"\nupload fuzzing: {tried} mangled files, {accepted} still valid, {tried - accepted} refused with a message")


def test_a_malformed_upload_through_the_sidebar_uploader(tmp_path) -> None:
    """AppTest (Streamlit 1.67) supports st.file_uploader.set_value: the callback refuses the file, the corpus stays.

    Runs after the first one execute the page only (st.navigation), so the sidebar's message is checked on a
    fresh first run that carries the stored error; tests/e2e covers a real upload in a browser.
    """
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    corpus_before = at.session_state["settings_overrides"]["corpus"]
    bad = f"id,text\n{IMG_PAYLOAD},one\n{IMG_PAYLOAD},two\n".encode()
    at.sidebar.file_uploader(key=UPLOAD_KEY).set_value(("evil.csv", bad, "text/csv"))
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    error = at.session_state[UPLOAD_ERROR_KEY]
    assert error.startswith("row 2: duplicate id") and UPLOADED_KEY not in at.session_state

    shown = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    shown.session_state[UPLOAD_ERROR_KEY] = error
    shown.run()
    assert not shown.exception
    assert any("not used" in w.value for w in shown.sidebar.warning)
    assert [t.value for t in shown.sidebar.text] == [error]  # st.text: plain text, never HTML
    assert shown.session_state["settings_overrides"]["corpus"] == corpus_before
    assert not [h for h in shown.get("html") if any(m in h.proto.body for m in RAW_HTML_MARKERS)]
    assert shown.title  # the home page still renders
