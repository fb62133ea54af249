"""`python -m splade_demo fill-mask`: the output shape of docs/architecture.md, [MASK] input, and bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Callable

import pytest
from transformers import pipeline


@pytest.fixture()
def cli(run_cli: Callable[..., subprocess.CompletedProcess[str]],
        monkeypatch: pytest.MonkeyPatch) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`fill-mask ARGS` with `model` as the fill-mask model (in this process; the entry point is tested apart)."""
    def run(*args: str, model: str | Path) -> subprocess.CompletedProcess[str]:
        monkeypatch.setenv("SPLADE_DEMO_MLM_MODEL", str(model))
        return run_cli("fill-mask", *args)

    return run


def test_each_word_shape_and_values(cli: Callable[..., subprocess.CompletedProcess[str]], tiny_splade_dir: Path) -> None:
    result = cli("python memory management", "--k", "3", "--json", model=tiny_splade_dir)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["position"], r["token"]) for r in rows] == [(0, "python"), (1, "memory"), (2, "management")]
    assert all(set(r) == {"position", "token", "predictions"} for r in rows)
    oracle = pipeline("fill-mask", model=str(tiny_splade_dir))
    expected = oracle("python [MASK] management", top_k=3)
    assert [p["token"] for p in rows[1]["predictions"]] == [e["token_str"] for e in expected]
    for p, e in zip(rows[1]["predictions"], expected):
        assert set(p) == {"token", "probability"} and p["probability"] == pytest.approx(e["score"], abs=1e-5)


def test_explicit_masks(cli: Callable[..., subprocess.CompletedProcess[str]], tiny_splade_dir: Path) -> None:
    result = cli("the", "[MASK]", "swallowed", "a", "[MASK]", "--json", model=tiny_splade_dir)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["position"], r["token"], len(r["predictions"])) for r in rows] == [(1, "[MASK]", 10), (4, "[MASK]", 10)]


def test_masked_words_are_capped_with_a_note(cli: Callable[..., subprocess.CompletedProcess[str]],
                                              tiny_splade_dir: Path) -> None:
    text = " ".join(f"word{i}" for i in range(10))
    result = cli(text, "--k", "2", "--max-words", "4", "--json", model=tiny_splade_dir)
    assert result.returncode == 0, result.stderr
    assert [r["token"] for r in json.loads(result.stdout)] == ["word0", "word1", "word2", "word3"]
    assert "10 words; only the first 4 were masked" in result.stderr
    uncapped = cli(text, "--k", "2", "--json", model=tiny_splade_dir)
    assert len(json.loads(uncapped.stdout)) == 10 and "note:" not in uncapped.stderr


@pytest.mark.parametrize(
    ("args", "model", "needle"),
    [
        (["   "], None, "empty"),
        (["python", "--k", "0"], None, "--k"),
        (["python", "--k", "ten"], None, "--k"),
        (["python", "--max-words", "0"], None, "--max-words"),
        (["python"], "/nonexistent/model", "python -m splade_demo prefetch"),
    ],
)
def test_bad_input_is_one_error_line(cli: Callable[..., subprocess.CompletedProcess[str]], tiny_splade_dir: Path,
                                     args: list[str], model: str | None, needle: str) -> None:
    result = cli(*args, "--json", model=model or tiny_splade_dir)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and needle in error[0]
