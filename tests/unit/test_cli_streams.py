"""The CLI writes UTF-8 whatever the console's code page: Windows redirects to a file in cp1252.

A corpus title with characters cp1252 lacks (→ λ ✓ 東京) is printed to a file, and an error naming such a path
goes to stderr, with PYTHONIOENCODING=cp1252 standing in for a Windows code page.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from splade_demo.cli import use_utf8_streams
from tests.conftest import REPO_ROOT

TITLE = "Arrows → and λ-calculus ✓ 東京"


@pytest.mark.process  # two whole CLI processes (about 10 s)
def test_output_to_a_cp1252_file_is_utf8(tmp_path: Path) -> None:
    corpus = tmp_path / "unicode.jsonl"
    corpus.write_text(json.dumps({"id": "u#1", "source": "unicode/page", "title": TITLE, "section": "",
                                  "url": "https://example.org/u", "text": "memory management → λ ✓ 東京"},
                                 ensure_ascii=False) + "\n", encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "PYTHONUTF8": "0", "SPLADE_DEMO_CACHE": str(tmp_path / "cache")}
    missing = tmp_path / "nø→λ.jsonl"
    for args, code, stream in ((["search", "memory", "--method", "bm25", "--corpus", str(corpus)], 0, "out"),
                               (["search", "memory", "--method", "bm25", "--corpus", str(corpus), "--json"], 0, "out"),
                               (["search", "memory", "--method", "bm25", "--corpus", str(missing)], 2, "err")):
        with (tmp_path / "out.txt").open("wb") as out, (tmp_path / "err.txt").open("wb") as err:
            done = subprocess.run([sys.executable, "-m", "splade_demo", *args], stdout=out, stderr=err, cwd=REPO_ROOT,
                                  env=env, timeout=300, check=False)
        written = {name: (tmp_path / f"{name}.txt").read_bytes().decode("utf-8") for name in ("out", "err")}
        assert done.returncode == code, written
        assert "UnicodeEncodeError" not in written["err"] and "Traceback" not in written["err"]
        expected = TITLE if stream == "out" else f"error: corpus {str(missing)!r}"
        assert expected in written[stream], written


def test_only_streams_that_can_be_reconfigured_are_switched() -> None:
    cp1252 = io.TextIOWrapper(io.BytesIO(), encoding="cp1252")
    already = io.TextIOWrapper(io.BytesIO(), encoding="UTF-8")
    plain = io.StringIO()  # no reconfigure(): left alone, no error
    use_utf8_streams([cp1252, already, plain])
    assert (cp1252.encoding, already.encoding) == ("utf-8", "UTF-8")
    cp1252.write(TITLE)
    cp1252.flush()
    assert cp1252.buffer.getvalue().decode("utf-8") == TITLE
