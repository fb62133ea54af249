"""The SPLADE index build shared by every session: one background thread per model, precision, corpus and cache.

The thread loads the encoder if it was given a loader, then builds the index (or loads it, or resumes from the
batches an interrupted build saved: `splade_index.load_or_build_index`), and reports its progress through the
`EncodeProgress` protocol (`on_start`, `on_batch`, in documents and word pieces) for a progress bar and the time
left, both counted in word pieces: the work a build does.

A process that ends while a build runs (Ctrl-C or SIGTERM to `streamlit run`, the end of an AppTest script) stops
it between batches at exit (`stop_builds`, an atexit hook): the batch in flight finishes and is saved, the thread
ends, and no torch work is left running at interpreter teardown (which aborted with `terminate called`).
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from splade_demo.data.corpus import Corpus
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import DEFAULT_BATCH_SIZE, SpladeIndex, load_or_build_index, plain_error

BUILD_THREAD_NAME = "splade-index-build"
STOP_TIMEOUT_S = 60.0  # at exit: the batch in flight finishes (a BERT-base batch of 16 passages: seconds)
_BUILDS: "weakref.WeakSet[IndexBuild]" = weakref.WeakSet()


class BuildStopped(Exception):
    """The process is ending: the build stopped between batches; its saved batches stay for the next start."""


def stop_builds(timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop every running build of this process between batches and wait for its thread (atexit)."""
    builds = list(_BUILDS)
    for build in builds:
        build.stop()
    deadline = time.monotonic() + timeout
    for build in builds:
        build.wait(max(0.0, deadline - time.monotonic()))


atexit.register(stop_builds)


@dataclass(frozen=True)
class BuildStatus:
    """A snapshot of a background build, for a progress bar and an estimate of the time left."""

    done: int  # documents
    total: int
    elapsed: float  # seconds since the build started
    skipped: int  # documents done before encoding starts (blank, or in saved batches)
    encoding_elapsed: float  # seconds since encoding started (after tokenising)
    finished: bool
    error: str | None
    started: bool = True
    done_tokens: int = 0  # word pieces as encoded: the work, which the time follows
    total_tokens: int = 0
    skipped_tokens: int = 0
    waiting_for: int = 0  # the pid of another process building this index (this one waits, then loads it)

    @property
    def fraction(self) -> float:
        """The share of the work done: word pieces once the encoding has started, documents before."""
        if self.total_tokens:
            return min(1.0, self.done_tokens / self.total_tokens)
        return min(1.0, self.done / self.total) if self.total else 1.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left, from this run's word pieces per second so far; None before its first batch."""
        encoded = self.done_tokens - self.skipped_tokens
        if encoded <= 0:
            return None
        return max(0.0, self.encoding_elapsed / encoded * (self.total_tokens - self.done_tokens))


class IndexBuild:
    """One index build in a background thread, shared by every session that needs it.

    `encoder` is the encoder, or a function that loads it: the thread calls it, so the model loads in the
    background too. A page rerun or a closed tab does not stop the build; a second session joins it instead of
    starting another. `start()` is idempotent and does not start again after a failure (no error loop):
    `retry()` does.
    """

    def __init__(self, encoder: Union[SpladeEncoder, Callable[[], SpladeEncoder]], corpus: Corpus, cache_dir: Path,
                 batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self._load_encoder: Callable[[], SpladeEncoder] = (
            (lambda: encoder) if isinstance(encoder, SpladeEncoder) else encoder)  # type: ignore[assignment]
        self.encoder: SpladeEncoder | None = encoder if isinstance(encoder, SpladeEncoder) else None
        self.corpus, self.cache_dir, self.batch_size = corpus, Path(cache_dir), batch_size
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._index: SpladeIndex | None = None
        self._error: str | None = None
        self._done, self._total, self._skipped = 0, len(corpus), 0
        self._done_tokens = self._total_tokens = self._skipped_tokens = 0  # word pieces
        self._started = self._encoding_started = 0.0
        self._stop = threading.Event()
        self._settled = threading.Event()  # encoding began, another process builds, or the build ended
        self._waiting_for = 0
        _BUILDS.add(self)

    @property
    def index(self) -> SpladeIndex | None:
        return self._index

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        """Start the build unless it runs, has finished, or has failed."""
        with self._lock:
            if self._index is not None or self._thread is not None:
                return
            self._error, self._done, self._skipped = None, 0, 0
            self._done_tokens = self._total_tokens = self._skipped_tokens = 0
            self._started = self._encoding_started = time.perf_counter()
            self._settled.clear()
            self._thread = threading.Thread(target=self._run, name=BUILD_THREAD_NAME, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the build to stop after the batch in flight (it is saved); `wait` for the thread to end."""
        self._stop.set()

    def _stop_point(self) -> None:
        if self._stop.is_set():
            raise BuildStopped

    def retry(self) -> None:
        """Start again after a failure (resuming from the saved batches)."""
        with self._lock:
            if self._error is None or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = None
        self.start()

    def wait(self, timeout: float | None = None) -> SpladeIndex | None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self._index

    def wait_while_reading(self, timeout: float) -> SpladeIndex | None:
        """The index, waiting at most `timeout` s while the build only reads one (from the cache or an index pack,
        its model already loaded): a page then draws it at once instead of a notice that refreshes seconds later.
        Returns at once, None, while the model loads, once encoding has begun or another process builds it."""
        if self._index is None and self.started and self.encoder is not None:
            self._settled.wait(timeout)
        return self._index

    def status(self) -> BuildStatus:
        with self._lock:
            now = time.perf_counter()
            running = self._thread is not None and self._thread.is_alive()
            return BuildStatus(
                done=self._done, total=self._total, elapsed=now - self._started if self._started else 0.0,
                skipped=self._skipped, encoding_elapsed=now - self._encoding_started if self._encoding_started else 0.0,
                finished=self._index is not None or (self._error is not None and not running), error=self._error,
                started=self._thread is not None, done_tokens=self._done_tokens, total_tokens=self._total_tokens,
                skipped_tokens=self._skipped_tokens, waiting_for=self._waiting_for,
            )

    def on_wait(self, pid: int) -> None:
        """build_lock: another process (`pid`) builds this index; we wait for it (and stop waiting at exit)."""
        with self._lock:
            self._waiting_for = pid or -1
        self._settled.set()
        self._stop_point()

    def on_start(self, total: int, skipped: int, total_tokens: int, skipped_tokens: int) -> None:
        """EncodeProgress: encoding starts now (tokenising is over); skipped documents (blank, or in saved batches)
        count as done."""
        with self._lock:
            self._encoding_started = time.perf_counter()
            self._waiting_for = 0
            self._skipped, self._done, self._total = skipped, skipped, total
            self._done_tokens = self._skipped_tokens = skipped_tokens
            self._total_tokens = total_tokens
        self._settled.set()
        self._stop_point()

    def on_batch(self, done: int, done_tokens: int) -> None:
        """EncodeProgress: `done` documents, `done_tokens` word pieces so far."""
        with self._lock:
            self._done, self._done_tokens = done, done_tokens
        self._stop_point()  # after the batch was saved: the next start resumes from it

    def _run(self) -> None:
        try:
            self._build()
        finally:
            self._settled.set()

    def _build(self) -> None:
        try:
            if self.encoder is None:
                self.encoder = self._load_encoder()
            self._stop_point()
            index = load_or_build_index(self.encoder, self.corpus, self.cache_dir, self, self.batch_size)
        except BuildStopped:
            with self._lock:
                self._error = "stopped before it finished (the process is ending; the next start resumes it)"
            return
        except Exception as exc:  # noqa: BLE001 - reported on the page, never a traceback
            with self._lock:
                self._error = plain_error(exc)
            return
        with self._lock:
            self._index = index
            self._done = self._total
