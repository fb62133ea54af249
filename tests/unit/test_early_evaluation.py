"""retrieval/early_evaluation.py: page 5's evaluation in a background thread once the index is ready, stopped
between queries at exit."""

from __future__ import annotations

import logging
import threading
from typing import Callable

import pytest

from splade_demo.retrieval import early_evaluation
from splade_demo.retrieval.early_evaluation import evaluate_when_ready, stop_evaluations, stop_point


@pytest.fixture(autouse=True)
def fresh_stop_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    """`stop_evaluations` ends this process's early evaluations for good: each test gets its own flag."""
    monkeypatch.setattr(early_evaluation, "_STOPPING", threading.Event())


def test_the_evaluation_runs_only_once_the_index_is_there() -> None:
    index_ready, calls = threading.Event(), []

    def wait_for_index() -> object:
        index_ready.wait()
        return object()

    thread = evaluate_when_ready(wait_for_index, lambda stop: calls.append(len(calls)))  # type: ignore[arg-type]
    assert calls == [] and thread.is_alive()  # still waiting: nothing evaluated
    index_ready.set()
    thread.join()
    assert calls == [0]


def test_no_index_no_evaluation() -> None:
    calls: list[int] = []
    evaluate_when_ready(lambda: None, lambda stop: calls.append(1)).join()
    assert calls == []


def test_an_evaluation_stops_between_queries_at_exit() -> None:
    started, queries_done = threading.Event(), []

    def endless(stop: Callable[[int, int], None]) -> None:
        while True:  # ends only when stop_point raises
            queries_done.append(1)
            stop(len(queries_done), 10**9)
            started.set()

    thread = evaluate_when_ready(lambda: object(), endless)  # type: ignore[arg-type, return-value]
    started.wait()
    stop_evaluations(timeout=60)
    assert not thread.is_alive() and queries_done


def test_after_exit_began_a_waiting_evaluation_never_starts() -> None:
    release, calls = threading.Event(), []

    def wait_for_index() -> object:
        release.wait()
        return object()

    thread = evaluate_when_ready(wait_for_index, lambda stop: calls.append(1))  # type: ignore[arg-type]
    stop_evaluations(timeout=60)  # returns at once: the thread is not evaluating
    release.set()
    thread.join()
    assert calls == []
    with pytest.raises(early_evaluation.EvaluationStopped):
        stop_point()


def test_a_failed_evaluation_is_one_log_line_not_an_exception(caplog: pytest.LogCaptureFixture) -> None:
    def failing(stop: Callable[[int, int], None]) -> None:
        raise RuntimeError("the engine went away")

    with caplog.at_level(logging.INFO, logger=early_evaluation.__name__):
        evaluate_when_ready(lambda: object(), failing).join()  # type: ignore[arg-type, return-value]
    assert [r.getMessage() for r in caplog.records] == [
        "the early evaluation failed (page 5 evaluates when opened): the engine went away"]
