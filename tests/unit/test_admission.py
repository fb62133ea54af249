"""The server-wide admission (models/admission.py): at most `slots` model calls at once, interactive calls
before index batches, a waiting caller told how many are ahead; and every model call goes through it."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from splade_demo.models import admission as admission_module
from splade_demo.models.admission import QUERY_THREADS, Admission, available_cores, slots_from_env

TIMEOUT_S = 60  # a generous bound on thread hand-offs (never reached when the code is right)


class Notice:
    """Records what a waiting caller is told; `queued` is set once it waits."""

    def __init__(self) -> None:
        self.ahead: list[int] = []
        self.admitted_calls = 0
        self.queued = threading.Event()

    def waiting(self, ahead: int) -> None:
        self.ahead.append(ahead)
        self.queued.set()

    def admitted(self) -> None:
        self.admitted_calls += 1


def hold_slot(gate: Admission, kind: str = "batch") -> tuple[threading.Thread, threading.Event]:
    """A thread that holds one slot until the returned event is set."""
    inside, release = threading.Event(), threading.Event()

    def body() -> None:
        with gate.admit(kind):  # type: ignore[arg-type]
            inside.set()
            release.wait(TIMEOUT_S)

    thread = threading.Thread(target=body)
    thread.start()
    assert inside.wait(TIMEOUT_S)
    return thread, release


def queue_call(gate: Admission, kind: str, name: str, order: list[str]) -> tuple[threading.Thread, Notice]:
    notice = Notice()

    def body() -> None:
        with gate.admit(kind, notice):  # type: ignore[arg-type]
            order.append(name)

    thread = threading.Thread(target=body)
    thread.start()
    assert notice.queued.wait(TIMEOUT_S)
    return thread, notice


def test_a_call_waits_for_a_free_slot_and_is_told_how_many_are_ahead() -> None:
    gate = Admission(slots=1)
    holder, release = hold_slot(gate)
    order: list[str] = []
    waiter, notice = queue_call(gate, "interactive", "query", order)
    assert gate.running() == 1 and gate.waiting() == 1 and order == []
    release.set()
    holder.join(TIMEOUT_S)
    waiter.join(TIMEOUT_S)
    assert order == ["query"] and notice.ahead == [1] and notice.admitted_calls == 1
    assert gate.running() == 0 and gate.waiting() == 0


def test_interactive_calls_go_before_index_batches() -> None:
    gate = Admission(slots=1)
    holder, release = hold_slot(gate)
    order: list[str] = []
    batch, batch_notice = queue_call(gate, "batch", "batch", order)
    query, query_notice = queue_call(gate, "interactive", "query", order)
    assert batch_notice.ahead == [1] and query_notice.ahead == [1]  # the batch queued first, yet the query is next
    release.set()
    for thread in (holder, batch, query):
        thread.join(TIMEOUT_S)
    assert order == ["query", "batch"]


def test_two_slots_run_two_calls_at_once_and_a_third_waits() -> None:
    gate = Admission(slots=2)
    first, release_first = hold_slot(gate)
    second, release_second = hold_slot(gate, "interactive")
    order: list[str] = []
    third, notice = queue_call(gate, "interactive", "third", order)
    assert gate.running() == 2 and notice.ahead == [2]
    release_first.set()
    third.join(TIMEOUT_S)
    assert order == ["third"]
    release_second.set()
    first.join(TIMEOUT_S)
    second.join(TIMEOUT_S)


def test_admission_is_reentrant_and_released_on_errors() -> None:
    gate = Admission(slots=1)
    with gate.admit():
        with gate.admit("batch"):  # a nested call in the same thread does not wait for itself
            assert gate.running() == 1
    with pytest.raises(RuntimeError):
        with gate.admit():
            raise RuntimeError("model call failed")
    assert gate.running() == 0 and gate.waiting() == 0


def test_zero_slots_turn_admission_off() -> None:
    gate = Admission(slots=0)
    with gate.admit(), gate.admit():
        assert gate.running() == 0


def test_one_slot_by_default_never_more_than_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPLADE_DEMO_MODEL_SLOTS", raising=False)
    assert slots_from_env() == 1
    monkeypatch.setenv("SPLADE_DEMO_MODEL_SLOTS", "0")
    assert slots_from_env() == 0
    monkeypatch.setenv("SPLADE_DEMO_MODEL_SLOTS", "64")
    assert slots_from_env() == available_cores()
    assert slots_from_env(cores=2) == 2


def test_a_server_sets_torch_threads_to_cores_per_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.setattr(admission_module, "_ADMISSION", Admission(slots=available_cores()))
    gate = admission_module.serve()
    try:
        with gate.admit():
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_a_server_runs_numpys_blas_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(admission_module, "_ADMISSION", Admission(slots=1))
    controller = threadpoolctl.ThreadpoolController()
    before = controller.select(user_api="blas").info()
    try:
        admission_module.serve()
        threads = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]
        assert threads and set(threads) == {1}
        rng = np.random.default_rng(0)
        matrix, vector = rng.standard_normal((40_000, 50), dtype=np.float32), rng.standard_normal(50, dtype=np.float32)
        one = matrix @ vector
        with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
            np.testing.assert_array_equal(matrix @ vector, one)  # the same products to the last bit
    finally:
        for lib in before:
            threadpoolctl.threadpool_limits(limits={lib["prefix"]: lib["num_threads"]})


class ThreadWatcher(Admission):
    """An admission (one slot) that records torch's thread count inside each admitted call in `seen`."""

    def __init__(self, seen: list[int]) -> None:
        super().__init__(slots=1)
        self.seen = seen

    @contextmanager
    def admit(self, kind="interactive", notice=None, threads=None):  # type: ignore[override]
        import torch

        with super().admit(kind, notice, threads):
            self.seen.append(torch.get_num_threads())
            yield


def test_a_query_runs_on_one_thread_and_the_next_call_gets_the_server_share_back(monkeypatch: pytest.MonkeyPatch,
                                                                                 tiny_splade_dir: Path) -> None:
    """A SPLADE query asks for QUERY_THREADS (memory-bound: module docstring); a batch after it runs with
    cores // slots again. Seen from inside the model call, through torch's own thread count."""
    torch = pytest.importorskip("torch")
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    seen: list[int] = []
    before = torch.get_num_threads()
    monkeypatch.setattr(admission_module, "available_cores", lambda: 2)
    monkeypatch.setattr(admission_module, "_ADMISSION", ThreadWatcher(seen))
    admission_module.serve()
    encoder = SpladeEncoder(load_mlm(str(tiny_splade_dir), allow_download=False), precision="fp32")
    try:
        encoder.encode_query("free unused memory")
        encoder.encode_documents(["Memory is freed by the garbage collector."])
    finally:
        torch.set_num_threads(before)
    assert seen == [QUERY_THREADS, 2]


def test_outside_a_server_a_query_takes_one_thread_for_its_call_only(monkeypatch: pytest.MonkeyPatch,
                                                                      tiny_splade_dir: Path) -> None:
    """The CLI (no `serve()`): the query runs on QUERY_THREADS, as in the app, and torch's own count comes back
    for what follows (an index build on every core)."""
    torch = pytest.importorskip("torch")
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    seen: list[int] = []
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    monkeypatch.setattr(admission_module, "_ADMISSION", ThreadWatcher(seen))
    encoder = SpladeEncoder(load_mlm(str(tiny_splade_dir), allow_download=False), precision="fp32")
    try:
        encoder.encode_query("free unused memory")
        after_query = torch.get_num_threads()
        encoder.encode_documents(["Memory is freed by the garbage collector."])
    finally:
        torch.set_num_threads(before)
    assert seen == [QUERY_THREADS, 2] and after_query == 2


class Recorder(Admission):
    def __init__(self) -> None:
        super().__init__(slots=1)
        self.kinds: list[str] = []

    def admit(self, kind="interactive", notice=None, threads=None):  # type: ignore[override]
        self.kinds.append(kind)
        return super().admit(kind, notice, threads)


def test_every_model_call_goes_through_the_admission(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path) -> None:
    from splade_demo.explain.fill_mask import predict, predict_word
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    recorder = Recorder()
    monkeypatch.setattr(admission_module, "_ADMISSION", recorder)
    loaded = load_mlm(str(tiny_splade_dir), allow_download=False)
    encoder = SpladeEncoder(loaded, precision="fp32")
    encoder.encode_query("free unused memory")
    assert recorder.kinds == ["interactive"]
    encoder.encode_documents(["one document", "another document here", "a third"], batch_size=1)
    assert recorder.kinds[1:] == ["batch"] * 3  # one admission per batch: an index build yields between batches
    predict(loaded, "python memory management", k=3)
    predict_word(loaded, "python memory management", "memory", k=3)
    assert recorder.kinds[4:] == ["interactive", "interactive"]
