"""`python -m splade_demo explain`: the JSON contract, the text table, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture()
def cli(run_cli: Callable[..., subprocess.CompletedProcess[str]], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`python -m splade_demo explain ARGS` in this process, at fp32, with its own cache folder."""
    monkeypatch.setenv("SPLADE_DEMO_PRECISION", "fp32")
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))

    def run(*args: str, model: Path | None = None) -> subprocess.CompletedProcess[str]:
        if model is not None:
            monkeypatch.setenv("SPLADE_DEMO_SPLADE_MODEL", str(model))
        return run_cli("explain", *args)

    return run


def test_json_follows_the_contract_for_a_passage_bm25_misses(cli, run_cli, tiny_splade_dir: Path,
                                                             tiny_corpus_path: Path) -> None:
    result = cli("python memory management", "--doc", "json#1", "--corpus", str(tiny_corpus_path), "--json",
                 model=tiny_splade_dir)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"query", "doc", "bm25", "splade", "hybrid"}
    assert doc["doc"] == {"id": "json#1", "source": "library/json", "title": "json — JSON encoder and decoder"}
    assert doc["bm25"]["rank"] is None and doc["bm25"]["score"] == 0.0
    assert [t["tf"] for t in doc["bm25"]["terms"]] == [0, 0, 0]
    for method in ("bm25", "splade"):
        assert sum(t["contribution"] for t in doc[method]["terms"]) == pytest.approx(doc[method]["score"], abs=1e-9)
    search = run_cli("search", "python memory management", "--method", "splade", "--corpus", str(tiny_corpus_path),
                     "--json")
    hit = next(h for h in json.loads(search.stdout) if h["id"] == "json#1")
    assert (doc["splade"]["rank"], doc["splade"]["score"]) == (hit["rank"], hit["score"])


def test_text_output_is_a_table_per_method(cli, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    result = cli("python memory management", "--doc", "mem#1", "--corpus", str(tiny_corpus_path), model=tiny_splade_dir)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("doc    mem#1  (c-api/memory)")
    assert any(line.startswith("BM25     rank 1") for line in lines)
    assert any(line.split()[:2] == ["memori", "(memory)"] for line in lines)  # the stem and the word
    assert any(line.startswith("SPLADE   rank") for line in lines) and any(line.startswith("hybrid   rank 1") for line in lines)
    assert any(line.split()[-1:] == ["yes"] for line in lines)  # an expansion term is marked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["python", "--doc", "nope#1"], "no passage with id 'nope#1'"),
        (["python", "--doc", "library/gc"], "'library/gc' is a page, not a passage id"),
        (["python", "--doc", "  "], "--doc is empty"),
        (["   ", "--doc", "gc#1"], "the query is empty"),
        (["python"], "the following arguments are required: --doc"),
        (["python", "--doc", "gc#1", "--corpus", "/no/such/file.jsonl"], "is neither 'demo', 'full' nor an existing file"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(cli, args: list[str], message: str, tiny_corpus_path: Path) -> None:
    if "--corpus" not in args:
        args = [*args, "--corpus", str(tiny_corpus_path)]
    result = cli(*args, model=Path("/no/such/model"))  # errors come before any model is loaded
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
