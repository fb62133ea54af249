"""Real-browser fixtures: a Streamlit server on a free loopback port, and Debian's Chromium driven by Playwright.

The server runs offline (HF_HUB_OFFLINE=1) with the real tiny SPLADE as both models, a fresh cache folder
and the demo corpus. Chromium is /usr/bin/chromium (never a downloaded browser) with a new, empty profile.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-quic", "--no-first-run", "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SERVER_START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def server_env(tiny_splade_dir: Path, cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "SPLADE_DEMO_SPLADE_MODEL": str(tiny_splade_dir),
        "SPLADE_DEMO_MLM_MODEL": str(tiny_splade_dir),
        "SPLADE_DEMO_CACHE": str(cache),
        "SPLADE_DEMO_CORPUS": "demo",
    }


@contextmanager
def streamlit_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`streamlit run app.py` on 127.0.0.1:<free port>; yields its base URL once /_stcore/health answers ok."""
    port = free_port()
    with log_path.open("w", encoding="utf-8") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while True:
                if server.poll() is not None:
                    pytest.fail(f"streamlit exited with code {server.returncode}; see {log_path}")
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                        if response.read().strip() == b"ok":
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"streamlit did not answer /_stcore/health within {SERVER_START_TIMEOUT_S} s")
                time.sleep(0.5)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=15)


@pytest.fixture(scope="session")
def app_url(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[str]:
    """The app, served offline with the tiny SPLADE and the demo corpus."""
    env = server_env(tiny_splade_dir, tmp_path_factory.mktemp("e2e_cache"))
    with streamlit_server(env, artifacts / "streamlit-server.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory: pytest.TempPathFactory):
    """Debian's Chromium with a new empty profile (skipped where it or Playwright is not installed)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); browser tests skipped")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium_profile")),
            executable_path=str(CHROMIUM if CHROMIUM.exists() else shutil.which("chromium")),
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 800},
        )
        try:
            yield context
        finally:
            context.close()
