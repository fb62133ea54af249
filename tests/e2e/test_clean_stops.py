"""Clean stops (#25): SIGINT or SIGTERM to a real `streamlit run` while its background build encodes the demo corpus.

The build stops between batches and keeps what it saved; the server exits within 10 s with status 0 or 130, with no
`terminate called`, abort or traceback in its output; a restart resumes from the saved batches (they are read
back, not encoded again: the files written before the signal are still the same files when new batches appear).

A session is opened the way a browser's first load opens it: the websocket `/_stcore/stream` and one
`rerun_script` message (Streamlit's own protobuf), so no browser competes for the 2 cores.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e import server as launcher
from tests.e2e.conftest import SERVER_START_TIMEOUT_S, server_env

EXIT_BOUND_S = 10  # the bound on the exit after the signal
BATCH_BOUND_S = 300  # a generous bound on the first saved batch (model load + first batch on a loaded machine)
BAD_LINES = ("terminate called", "Traceback", "Aborted", "core dumped", "Fatal Python error", "Segmentation fault")


def open_session(url: str) -> object:
    """A Streamlit session over the websocket, with its first script run requested (the build starts there)."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from websockets.sync.client import connect

    socket = connect(url.replace("http://", "ws://") + "/_stcore/stream", subprotocols=["streamlit"])
    message = BackMsg()
    message.rerun_script.query_string = ""
    message.rerun_script.page_script_hash = ""
    socket.send(message.SerializeToString())
    return socket


def saved_batches(cache: Path) -> dict[str, tuple[int, int]]:
    """Each saved batch file of an unfinished build: (inode, mtime in ns)."""
    found = {}
    for path in (cache / "splade_index").glob("*.parts/*/checkpoint-*.npz"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        found[path.name] = (stat.st_ino, stat.st_mtime_ns)
    return found


def wait_for(condition, bound_s: float, what: str, server: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + bound_s
    while not condition():
        if server is not None and server.poll() is not None:
            pytest.fail(f"the server exited ({server.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {bound_s:.0f} s")
        time.sleep(0.2)  # polling a condition with a bound, not asserting on time


def started_server(env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    server, url = launcher.launch(env, log)
    try:
        launcher.wait_healthy(server, url, log, SERVER_START_TIMEOUT_S)
    except launcher.ServerError as exc:
        launcher.stop(server)
        pytest.fail(str(exc))
    return server, url


def signal_and_wait(server: subprocess.Popen, sig: signal.Signals) -> int:
    server.send_signal(sig)
    try:
        return server.wait(EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(30)
        pytest.fail(f"streamlit did not exit within {EXIT_BOUND_S} s of {sig.name}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_build_stops_cleanly_and_the_restart_resumes(sig: signal.Signals, tiny_splade_dir: Path,
                                                                  tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    env = {**server_env(tiny_splade_dir, cache), "SPLADE_DEMO_PRECISION": "fp32",
           "SPLADE_DEMO_CHECKPOINT_SECONDS": "0"}  # a checkpoint after every batch: the signal lands mid-build
    log = tmp_path / "first.log"
    server, url = started_server(env, log)
    session = open_session(url)
    try:
        wait_for(lambda: len(saved_batches(cache)) >= 2, BATCH_BOUND_S, "saved batch", server)
        before = saved_batches(cache)
        status = signal_and_wait(server, sig)
    finally:
        session.close()
        launcher.stop(server)
    output = log.read_text(encoding="utf-8", errors="replace")
    assert status in (0, 130), output[-2000:]
    assert "\r" not in output  # the server's log has no progress frames
    assert not [line for line in output.splitlines() if any(bad in line for bad in BAD_LINES)], output[-2000:]
    kept = saved_batches(cache)
    assert len(kept) >= len(before) and set(before) <= set(kept)  # the build kept what it saved
    assert not list((cache / "splade_index").glob("*.npz"))  # and it did not pretend to have finished

    restart_log = tmp_path / "restart.log"
    server, url = started_server(env, restart_log)
    session = open_session(url)
    try:
        wait_for(lambda: len(saved_batches(cache)) > len(kept) or list((cache / "splade_index").glob("*.npz")),
                 BATCH_BOUND_S, "new batch after the restart", server)
        resumed = saved_batches(cache)
        if resumed:  # still building: the batches from before the signal were read back, not encoded again
            assert all(resumed.get(name) == kept[name] for name in kept), "a saved batch was encoded again"
        assert signal_and_wait(server, signal.SIGTERM) in (0, 130)
    finally:
        session.close()
        launcher.stop(server)
    output = restart_log.read_text(encoding="utf-8", errors="replace")
    assert not [line for line in output.splitlines() if any(bad in line for bad in BAD_LINES)], output[-2000:]
