"""`streamlit run app.py` on a free loopback port, up once /_stcore/health answers "ok".

Shared by the browser tests (tests/e2e/conftest.py) and benchmarks/bench_app.py. The polling sleep here is the
only one the tests have: a server start-up has no event to wait on.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]


class ServerError(RuntimeError):
    """The server exited or did not answer its health check in time (the message names the log)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def launch(env: dict[str, str], log_path: Path, module: str = "streamlit") -> tuple[subprocess.Popen, str]:
    """Start the server (headless, 127.0.0.1, a free port) with its output in `log_path`; return it and its URL.

    `module`: what `python -m` runs (`tests.e2e.timed_streamlit` logs each script run's duration)."""
    port = free_port()
    with log_path.open("w", encoding="utf-8") as log:  # the child keeps its own copy of the file descriptor
        server = subprocess.Popen(
            [sys.executable, "-m", module, "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    return server, f"http://127.0.0.1:{port}"


def wait_healthy(server: subprocess.Popen, url: str, log_path: Path, timeout_s: float, poll_s: float = 0.5) -> None:
    """Return once /_stcore/health answers "ok"; ServerError if the server exits or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        if server.poll() is not None:
            raise ServerError(f"streamlit exited with code {server.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ServerError(f"streamlit did not answer /_stcore/health within {timeout_s:.0f} s; see {log_path}")
        time.sleep(poll_s)


def stop(server: subprocess.Popen) -> None:
    """Terminate the server, then kill it if it has not exited within 15 s."""
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=15)
