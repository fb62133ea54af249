"""Quiet logs (#25): with stderr in a file, an index build's progress is one line per ~10 %, not a frame per batch.

`evaluate --corpus demo 2>log` (the whole demo built by the tiny SPLADE) leaves fewer than 30 lines: that one is
slow here (minutes of encoding on 2 shared cores), so the default run checks the same on the first demo passages.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.robustness.test_clean_exit import environment  # noqa: F401 - a fixture

MAX_LINES = 30


def evaluate_log(env: dict[str, str], corpus: str, log: Path) -> str:
    with log.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", "splade_demo", "evaluate", "--corpus", corpus,
                               "--methods", "bm25,splade", "--json"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=3600)
    text = log.read_text(encoding="utf-8", errors="replace")
    assert done.returncode == 0, text[-2000:]
    return text


def check_quiet(text: str) -> None:
    lines = text.splitlines()
    assert len(lines) < MAX_LINES, text[-3000:]
    assert "\r" not in text  # no carriage-return frames
    progress = [line for line in lines if line.startswith("encoding documents: ")]
    assert progress and progress[0].startswith("encoding documents: 0 %") and "100 %" in progress[-1], lines


@pytest.mark.slow  # a whole `evaluate` process with an index build: about 28 s of the fast tier's 5 minutes
def test_evaluate_with_stderr_in_a_file_writes_progress_lines(environment, tmp_path: Path) -> None:  # noqa: F811
    env, _, corpus = environment
    check_quiet(evaluate_log(env, str(corpus), tmp_path / "log"))


@pytest.mark.slow
def test_evaluate_demo_leaves_fewer_than_30_lines(environment, tmp_path: Path) -> None:  # noqa: F811
    env, _, _ = environment
    check_quiet(evaluate_log(env, "demo", tmp_path / "log"))
