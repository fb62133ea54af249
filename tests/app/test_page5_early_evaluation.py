"""Page 5's evaluation starts in the background once the SPLADE index is ready (`cached_pipeline.evaluate_early`):
the page then shows the evaluation it computed, which equals one computed without the app."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from splade_demo.config import load_settings
from splade_demo.data.corpus import load_queries
from splade_demo.retrieval.early_evaluation import EVALUATION_THREAD_NAME
from splade_demo.retrieval.pipeline import Pipeline
from tests.conftest import join_index_builds, open_page, tiny_app_environment


def test_page_five_shows_the_evaluation_made_in_the_background(
        monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)
    monkeypatch.setenv("SPLADE_DEMO_EARLY_EVALUATION", "1")
    evaluations: list[tuple[str, dict]] = []
    original = Pipeline.evaluate_supported

    def recorded(self: Pipeline, *args: object, **kwargs: object) -> dict:
        results = original(self, *args, **kwargs)  # type: ignore[arg-type]
        evaluations.append((threading.current_thread().name, results))
        return results

    monkeypatch.setattr(Pipeline, "evaluate_supported", recorded)
    at = open_page("views/home.py", "python memory management", timeout=600)  # any page starts it
    join_index_builds()
    for thread in threading.enumerate():
        if thread.name == EVALUATION_THREAD_NAME:
            thread.join(600)
    assert [name for name, _ in evaluations] == [EVALUATION_THREAD_NAME]

    at.switch_page("views/p5_compare.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(evaluations) == 1  # page 5 used the background's evaluation
    metrics = at.dataframe[3].value
    assert set(metrics["method"]) >= {"bm25", "splade", "hybrid"}

    settings = load_settings()  # the same environment, no Streamlit: an independent evaluation
    expected = original(Pipeline.from_settings(settings), load_queries())
    assert evaluations[0][1] == expected
