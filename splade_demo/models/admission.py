"""One server-wide admission for every model call: fill-mask, query encoding, index batches.

Streamlit serves every session from threads of one process. Unchecked, two sessions run torch at once, each with
a thread per core, and oversubscribe the cores. Here at most `slots` model calls run at once (never more than the
cores this process may use, `available_cores`; default 1), and on a server (`serve()`) torch's intra-op threads
are set to cores // slots, so the admitted calls together use each core once. Measured at BERT-base size
(benchmarks/bench_admission.py, README "Many visitors at once"): one call with both cores was as fast as no
admission; two calls at one thread each were 1.1-1.9x slower. Interactive calls (a query, a fill-mask) go before
index batches; an index build asks again before each batch, so it yields between batches.

A call may ask for fewer threads (`threads=`): a SPLADE query (`QUERY_THREADS`) is a few word pieces, so every
weight matrix is streamed for a handful of rows and the call is memory-bound. Measured on a 2-core AMD EPYC (Zen 4,
2026-12-03): one thread as fast as two when the cores are idle (BERT-base 18 vs 18 ms, tiny 3-4 ms), and 2-4x
faster when something else keeps the cores busy (25-28 vs 56-112 ms; tiny 4.5-6 vs 19-20 ms), as a browser on the
same machine or a neighbour on a shared Cloud CPU does. A fill-mask batch (one sequence per masked word) is not:
two threads were 10-30 % faster idle, so it keeps the server's count. Queries take one thread in the CLI too (for
that call only): a query's vector is then summed in the same order in the app, the CLI and `export-talk`, to the
last bit, whatever the core count.

A server also runs numpy's matrix products on one thread (`one_blas_thread`). They are memory-bound too (a GloVe
look-up is a 400,000 x 50 matrix times a vector), and OpenBLAS's second thread keeps spinning between calls, on
the core the browser and the other sessions need: in a traced first visit (BERT-base stand-in, Chromium on the
same 2 cores), page 5's evaluation of the labelled queries took 4.9-5.8 s with one BLAS thread, 8.3-8.8 s with two.
The products are the same to the last bit either way (each element is one row's dot product).

A caller that has to wait hears `WaitNotice.waiting(ahead)` first (the app shows "queued behind N requests")
and `admitted()` once it runs. Admission is re-entrant within a thread. `SPLADE_DEMO_MODEL_SLOTS`: the number
of slots (`0`: no admission and torch's threads untouched, the behaviour before; for measurements).
No Streamlit here: the app installs its notice with `set_notice` in the script's thread.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from contextlib import contextmanager
from typing import ContextManager, Iterator, Literal, Protocol

Kind = Literal["interactive", "batch"]
QUERY_THREADS = 1  # a query's intra-op threads on a server (module docstring)


class WaitNotice(Protocol):
    def waiting(self, ahead: int) -> None: ...

    def admitted(self) -> None: ...


def available_cores() -> int:
    """The cores this process may run on: Python 3.13's `os.process_cpu_count()` (its affinity on every OS),
    else the CPU affinity where the OS has one (Linux), else `os.cpu_count()` (macOS, Windows before 3.13)."""
    process_cpu_count = getattr(os, "process_cpu_count", None)
    if process_cpu_count is not None:
        return max(1, process_cpu_count() or 1)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def slots_from_env(cores: int | None = None) -> int:
    """SPLADE_DEMO_MODEL_SLOTS, at most the cores (0 turns admission off); default 1: one model call at a time,
    with every core (measured faster than one call per core at one thread each: benchmarks/bench_admission.py)."""
    cores = cores or available_cores()
    value = os.environ.get("SPLADE_DEMO_MODEL_SLOTS", "").strip()
    if value.isdigit():
        return min(int(value), cores)
    return 1


class Admission:
    """At most `slots` model calls at once; interactive calls first, then batches, each in arrival order."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self._cond = threading.Condition()
        self._running = 0
        self._queues: dict[Kind, deque[object]] = {"interactive": deque(), "batch": deque()}
        self._local = threading.local()
        self.torch_threads: int | None = None  # set by serve(); applied lazily (torch is imported by then)
        self.threads_before: int | None = None  # torch's own setting, before the first change
        self.blas_limited = False  # set by serve(), once

    @property
    def enabled(self) -> bool:
        return self.slots > 0

    def running(self) -> int:
        with self._cond:
            return self._running

    def waiting(self, kind: Kind | None = None) -> int:
        with self._cond:
            return sum(len(q) for k, q in self._queues.items() if kind in (None, k))

    def _ahead(self, kind: Kind, ticket: object) -> int:
        """Calls running plus those queued before `ticket` (all interactive ones come before a batch)."""
        queue = self._queues[kind]
        before = list(queue).index(ticket)
        return self._running + before + (len(self._queues["interactive"]) if kind == "batch" else 0)

    def _may_run(self, kind: Kind, ticket: object) -> bool:
        if self._running >= self.slots or self._queues[kind][0] is not ticket:
            return False
        return kind == "interactive" or not self._queues["interactive"]

    @contextmanager
    def admit(self, kind: Kind = "interactive", notice: WaitNotice | None = None,
              threads: int | None = None) -> Iterator[None]:
        """Run the body as one model call once a slot is free (at once when admission is off or re-entered).

        `threads`: at most this many torch intra-op threads for this call (on a server the default is cores // slots;
        elsewhere torch's own count, restored after the call)."""
        depth = getattr(self._local, "depth", 0)
        if not self.enabled or depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        notice = notice if notice is not None else getattr(self._local, "notice", None)
        ticket = object()
        with self._cond:
            self._queues[kind].append(ticket)
            ahead = None if self._may_run(kind, ticket) else self._ahead(kind, ticket)
        try:
            if ahead is not None and notice is not None:
                notice.waiting(ahead)  # outside the lock: the app draws it
            with self._cond:
                while not self._may_run(kind, ticket):
                    self._cond.wait()
                self._running += 1
        finally:
            with self._cond:
                self._queues[kind].remove(ticket)
                self._cond.notify_all()  # the next in line may now be at the head
        told = ahead is not None
        self._local.depth = 1
        restore: int | None = None
        try:
            restore = self._apply_threads(threads)
            if told and notice is not None:
                notice.admitted()
            yield
        finally:
            if restore is not None:
                import torch  # imported by _apply_threads already

                torch.set_num_threads(restore)
            self._local.depth = 0
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _apply_threads(self, threads: int | None = None) -> int | None:
        """torch's intra-op threads for the admitted call: `threads` if fewer, else (on a server) cores // slots.

        On a server the count is set per call and left (the next call sets its own); elsewhere (the CLI) a call
        that asks for fewer threads gets them for its duration: the count to restore afterwards is returned. So a
        query's vector is computed the same way in the app, the CLI and the talk export (`export-talk` and the app's
        download give the same bytes)."""
        if self.torch_threads is None and not threads:
            return None
        import torch  # lazy: torch takes seconds to import, only model calls need it

        current = torch.get_num_threads()
        if self.torch_threads is None:
            if threads is None or threads >= current:
                return None
            torch.set_num_threads(threads)
            return current
        wanted = min(threads, self.torch_threads) if threads else self.torch_threads
        if current != wanted:
            if self.threads_before is None:
                self.threads_before = current
            torch.set_num_threads(wanted)
        return None

    def set_notice(self, notice: WaitNotice | None) -> None:
        """The notice this thread's waits report to (the app sets one per script run; None removes it)."""
        self._local.notice = notice


_LOCK = threading.Lock()
_ADMISSION: Admission | None = None


def admission() -> Admission:
    """The process-wide admission, made on first use from SPLADE_DEMO_MODEL_SLOTS and the cores."""
    global _ADMISSION
    with _LOCK:
        if _ADMISSION is None:
            _ADMISSION = Admission(slots_from_env())
        return _ADMISSION


def serve() -> Admission:
    """The admission for a server with many sessions: also sets torch's intra-op threads to cores // slots, so the
    admitted calls together use each core once (the CLI, one caller, keeps torch's default)."""
    gate = admission()
    if gate.enabled:
        gate.torch_threads = max(1, available_cores() // gate.slots)  # applied by the next admitted call
        if not gate.blas_limited:
            gate.blas_limited = True
            one_blas_thread()
    return gate


def one_blas_thread() -> None:
    """The BLAS libraries loaded so far (numpy's OpenBLAS or MKL, which the GloVe look-ups use) on one thread from
    now on (`threadpoolctl`; module docstring). torch's own threads are the admission's business."""
    from threadpoolctl import threadpool_limits  # lazy: it inspects the loaded libraries

    threadpool_limits(limits=1, user_api="blas")


def admit(kind: Kind = "interactive", threads: int | None = None) -> ContextManager[None]:
    """`with admit(): model(...)`: one model call through the process-wide admission (`threads`: see `Admission.admit`)."""
    return admission().admit(kind, threads=threads)
