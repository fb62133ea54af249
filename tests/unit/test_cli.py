"""`python -m splade_demo`: output shapes and bad input (error: ..., exit 2, never a traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import REPO_ROOT

Run = Callable[..., subprocess.CompletedProcess[str]]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "splade_demo", *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)


@pytest.fixture(params=["in-process", pytest.param("whole process", marks=pytest.mark.process)])
def run(request: pytest.FixtureRequest, run_cli: Run) -> Run:
    """The CLI in this process (the fast tier), and as `python -m splade_demo` (the `process` tier: a fresh
    interpreter, argv and streams as a shell gives them; about 2-9 s each)."""
    return run_cli if request.param == "in-process" else cli


def test_search_bm25_shape(tiny_corpus_path: Path, run: Run) -> None:
    result = run("search", "garbage collector", "--method", "bm25", "--k", "3", "--corpus", str(tiny_corpus_path), "--json")
    assert result.returncode == 0, result.stderr
    hits = json.loads(result.stdout)
    assert [set(h) for h in hits] == [{"rank", "id", "source", "title", "score"}] * len(hits)
    assert hits[0]["source"] == "library/gc" and hits[0]["rank"] == 1
    assert all(a["score"] >= b["score"] for a, b in zip(hits, hits[1:]))


def test_evaluate_with_an_external_queries_file(tmp_path: Path, tiny_corpus_path: Path, run: Run) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "1", "text": "json decode", "rel": {"library/json": 2}}) + "\n"
        + json.dumps({"id": "2", "text": "free unused objects", "rel": {"library/gc": 2}, "kind": "mismatch"}) + "\n"
    )
    result = run("evaluate", "--queries", str(queries), "--methods", "bm25", "--corpus", str(tiny_corpus_path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report) == {"bm25"} and set(report["bm25"]) == {"nDCG@10", "R@10", "RR"}
    # Query 1 finds its page first; query 2 shares no word with library/gc except nothing: RR = (1 + 0) / 2.
    assert report["bm25"]["RR"] == pytest.approx(0.5)


@pytest.mark.process  # a process per query (about 21 s); in-process, robustness/test_cli_bad_input.py tries these and more
@pytest.mark.parametrize(
    "query",
    ["", "   ", "word " * 5000, "🐍 python 🐍", "<script>alert(1)</script>", "[MASK] memory", "\u202eevil", "\x07\x1b[31mred"],
)
def test_bad_queries_never_print_a_traceback(query: str, tiny_corpus_path: Path) -> None:
    result = cli("search", query, "--corpus", str(tiny_corpus_path), "--json")
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        assert isinstance(json.loads(result.stdout), list)
    else:
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args",
    [
        ["search", "x", "--method", "magic"],
        ["search", "x", "--k", "0"],
        ["search", "x", "--corpus", "/no/such/file.jsonl"],
        ["evaluate", "--methods", "bm25,nope"],
        ["evaluate", "--queries", "/no/such/queries.jsonl"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2(args: list[str], run: Run) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


def test_malformed_corpus_error_names_the_line(tmp_path: Path, run: Run) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n')
    result = run("search", "x", "--corpus", str(bad))
    assert result.returncode == 2 and f"{bad}:1" in result.stderr
