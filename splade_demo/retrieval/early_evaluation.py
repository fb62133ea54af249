"""Page 5's evaluation, started in the background as soon as the SPLADE index is ready, so that the page finds it
done: the server is idle while the browser draws page 4 and opens page 5 (benchmarks/bench_first_visit.py).

One daemon thread per evaluation waits for the index build, then runs the evaluation, which hears `stop_point`
after every query. At exit (`stop_evaluations`, an atexit hook) a running evaluation stops after the query in
flight and a waiting one never starts: no torch work is left running at interpreter teardown.
"""

from __future__ import annotations

import atexit
import logging
import threading
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from splade_demo.retrieval.splade_index import SpladeIndex

EVALUATION_THREAD_NAME = "splade-early-evaluation"
STOP_TIMEOUT_S = 30.0  # at exit: the query in flight finishes (a BERT-base query: tens of ms)
_STOPPING = threading.Event()
_EVALUATING: set[threading.Thread] = set()  # past their wait for the index
_LOCK = threading.Lock()
logger = logging.getLogger(__name__)


class EvaluationStopped(Exception):
    """The process is ending: the early evaluation stopped between queries and left nothing behind."""


def stop_point(done: int = 0, total: int = 0) -> None:
    """An evaluation's progress callback: raises EvaluationStopped once the process is ending."""
    if _STOPPING.is_set():
        raise EvaluationStopped


def evaluate_when_ready(wait_for_index: Callable[[], "SpladeIndex | None"],
                        evaluate: Callable[[Callable[[int, int], None]], object]) -> threading.Thread:
    """Start a thread that waits for `wait_for_index()` and, if it gives an index, calls `evaluate(stop_point)`.

    A failure is logged, not raised: the page that needs the evaluation computes it and says what went wrong."""
    def run() -> None:
        me = threading.current_thread()
        try:
            if wait_for_index() is None:
                return
            with _LOCK:
                if _STOPPING.is_set():
                    return
                _EVALUATING.add(me)
            evaluate(stop_point)
        except EvaluationStopped:
            pass
        except Exception as exc:  # noqa: BLE001 - the page computes it again and reports the problem
            logger.info("the early evaluation failed (page 5 evaluates when opened): %s", exc)
        finally:
            with _LOCK:
                _EVALUATING.discard(me)

    thread = threading.Thread(target=run, name=EVALUATION_THREAD_NAME, daemon=True)
    thread.start()
    return thread


def stop_evaluations(timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop every running early evaluation between queries and wait for it (atexit). A thread still waiting for its
    index does no torch work, and will not start any."""
    with _LOCK:
        _STOPPING.set()
        threads = list(_EVALUATING)
    for thread in threads:
        thread.join(timeout)


atexit.register(stop_evaluations)
