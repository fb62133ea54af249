"""Real-browser fixtures: a Streamlit server on a free loopback port, and Debian's Chromium driven by Playwright.

The server runs offline (HF_HUB_OFFLINE=1) with the real tiny SPLADE as both models, a fresh cache folder
and the demo corpus. Chromium is /usr/bin/chromium (never a downloaded browser) with a new, empty profile.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e import server as launcher

CHROMIUM = launcher.CHROMIUM
CHROMIUM_ARGS = [*launcher.CHROMIUM_ARGS, "--disable-quic", "--no-first-run", "--disable-sync"]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SERVER_START_TIMEOUT_S = 90


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
    server, url = launcher.launch(env, log_path)
    try:
        try:
            launcher.wait_healthy(server, url, log_path, SERVER_START_TIMEOUT_S)
        except launcher.ServerError as exc:
            pytest.fail(str(exc))
        yield url
    finally:
        launcher.stop(server)


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
