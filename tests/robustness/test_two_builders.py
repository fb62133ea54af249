"""Two builders, one cache (#25): a lock file beside the index (retrieval/build_lock.py).

- Two `index` processes on one cache: the second starts while the first builds; it says the index is "being built
  by another process", waits, and loads the first one's index. One build happens; both end with the same index.
- A lock whose process is gone (killed) is stale: the next builder removes it and builds.
- The app's status line says the same while its build waits.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import sys
from pathlib import Path

import pytest

from splade_demo.data.corpus import load_corpus
from splade_demo.retrieval.build_lock import build_lock, lock_path, pid_alive
from splade_demo.retrieval.index_build import BuildStatus
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import index_cache_path, load_or_build_index
from tests.conftest import REPO_ROOT
from tests.robustness.test_clean_exit import batch_files, environment, wait_for_batches  # noqa: F401 - a fixture

WAIT_BOUND_S = 900

pytestmark = pytest.mark.slow  # two real index processes on one cache: run by `python -m pytest`


@pytest.fixture(scope="module")
def encoder(tiny_splade_dir: Path) -> SpladeEncoder:
    from splade_demo.models.loading import load_mlm

    return SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="fp32")


def test_two_index_processes_on_one_cache_build_once(environment) -> None:  # noqa: F811
    env, cache, corpus = environment
    command = [sys.executable, "-m", "splade_demo", "index", "--corpus", str(corpus), "--json"]
    first = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_batches(first, cache, 1)  # the first one holds the lock and is encoding
        second = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=WAIT_BOUND_S)
        out, err = first.communicate(timeout=WAIT_BOUND_S)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0 and second.returncode == 0, (err[-1000:], second.stderr[-1000:])
    built, waited = json.loads(out), json.loads(second.stdout)
    assert "being built by another process" in second.stderr and "being built" not in err
    assert (built["cached"], waited["cached"]) == (False, True)  # one build; the other loaded its result
    assert waited["tokens"] == 0 and built["tokens"] > 0
    assert built["path"] == waited["path"] and built["nnz_mean"] == waited["nnz_mean"]
    assert not lock_path(Path(built["path"])).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(encoder: SpladeEncoder, tiny_corpus_path: Path,
                                                      tmp_path: Path) -> None:
    corpus = load_corpus(str(tiny_corpus_path))
    path = index_cache_path(encoder, corpus, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    assert not pid_alive(dead.pid)
    path.parent.mkdir(parents=True)
    lock_path(path).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    waits: list[int] = []

    class Recorder:
        def on_wait(self, pid: int) -> None:
            waits.append(pid)

        def on_start(self, *args: int) -> None:
            pass

        def on_batch(self, *args: int) -> None:
            pass

    index = load_or_build_index(encoder, corpus, tmp_path, Recorder())
    assert waits == [] and not index.from_cache and len(index) == len(corpus)
    assert not lock_path(path).exists()


def test_a_lock_left_with_our_own_pid_is_stale_but_our_threads_lock_is_not(tmp_path: Path) -> None:
    """A container restarts its server with the same pid: a lock with our pid that no thread of ours holds is stale;
    one another thread of ours holds is waited for."""
    index = tmp_path / "y.npz"
    lock_path(index).write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    with build_lock(index) as waited:
        assert not waited  # taken over at once
        heard: list[int] = []

        def second() -> None:
            class Stop(Exception):
                pass

            def on_wait(pid: int) -> None:
                heard.append(pid)
                raise Stop

            try:
                with build_lock(index, on_wait):
                    heard.append(-1)
            except Stop:
                pass

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(60)
        assert heard == [os.getpid()] and lock_path(index).exists()
    assert not lock_path(index).exists()


def test_a_live_holder_is_waited_for_and_named(tmp_path: Path) -> None:
    """A lock held by a running process: `on_wait` hears its pid (and can stop the wait by raising)."""
    holder = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        index = tmp_path / "x.npz"
        lock_path(index).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))

        class Stop(Exception):
            pass

        heard: list[int] = []

        def on_wait(pid: int) -> None:
            heard.append(pid)
            raise Stop

        try:
            with build_lock(index, on_wait):
                raise AssertionError("the lock of a live process was taken")
        except Stop:
            pass
        assert heard == [holder.pid] and lock_path(index).exists()  # not ours to remove
    finally:
        holder.communicate(b"")


def test_the_apps_status_line_says_another_process_builds() -> None:
    from splade_demo.app.progress import status_text

    status = BuildStatus(done=0, total=10, elapsed=1.0, skipped=0, encoding_elapsed=0.0, finished=False,
                         error=None, waiting_for=4242)
    assert status_text(status).startswith("being built by another process")
