"""Every presenter's laptop installs: requirements.txt and requirements-dev.txt resolve with wheels only.

`uv pip compile --only-binary :all:` for each target platform and Python version, against PyPI (not the
machine's own wheel folders). A failure names the package that has no wheel there. Needs PyPI: marked network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.network, pytest.mark.slow]  # PyPI, about a minute: run by `python -m pytest` (CI)

PLATFORMS = ("x86_64-pc-windows-msvc", "aarch64-apple-darwin", "aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu")
PYTHONS = ("3.11", "3.12", "3.13")
MACOS = "14.0"  # torch 2.13's only macOS wheel is macosx_14_0_arm64
PYPI = "https://pypi.org/simple"
NO_WHEEL = re.compile(r"[Bb]ecause (?:only )?([A-Za-z0-9_.\-]+(?:[<>=!~]=?[^\s,]+)?) [^\n]*?has no (?:usable )?wheels")


def uv_command() -> list[str]:
    """uv from the environment (requirements-dev.txt pins it), or as a module of this Python."""
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def resolve(platform: str, python: str, requirements: Path, cache: Path) -> tuple[str, str, int, str]:
    """(platform, python, exit code, uv's message) of one wheel-only resolution."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("UV_", "PIP_"))}
    env.update(UV_CACHE_DIR=str(cache), MACOSX_DEPLOYMENT_TARGET=MACOS, UV_NO_CONFIG="1")
    done = subprocess.run(
        [*uv_command(), "pip", "compile", str(requirements), "--python-platform", platform, "--python-version", python,
         "--only-binary", ":all:", "--index-url", PYPI, "--no-header", "--quiet", "--output-file",
         str(cache.parent / f"resolved-{platform}-{python}-{requirements.stem}.txt")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    return platform, python, done.returncode, (done.stderr or done.stdout).strip()


def culprit(message: str) -> str:
    """The package uv says has no wheel, else uv's first line."""
    found = NO_WHEEL.search(message)
    return found.group(1) if found else (message.splitlines() or ["(no message)"])[0]


def test_the_culprit_is_named_from_uvs_message() -> None:
    message = ("  cause: Because pytrec-eval-terrier>=0.5.5 has no usable wheels and ir-measures>=0.4.3 depends on "
               "pytrec-eval-terrier>=0.5.5, we can conclude that ir-measures>=0.4.3 cannot be used.")
    assert culprit(message) == "pytrec-eval-terrier>=0.5.5"
    assert culprit("  cause: Because milvus-lite==2.5.1 has no wheels with a matching platform tag (e.g., "
                   "`win_amd64`)") == "milvus-lite==2.5.1"


def test_requirements_resolve_with_wheels_on_every_platform(tmp_path: Path) -> None:
    jobs = [(platform, python, REPO_ROOT / "requirements-dev.txt") for platform in PLATFORMS for python in PYTHONS]
    unmarked = tmp_path / "unmarked.txt"  # the failure path: milvus-lite without its marker, on Windows
    unmarked.write_text("pymilvus==2.5.18\nmilvus-lite==2.5.1\n", encoding="utf-8")
    jobs.append(("x86_64-pc-windows-msvc", "3.11", unmarked))
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = list(pool.map(lambda job: resolve(*job, tmp_path / "uv-cache"), jobs))
    *results, (_, _, code, message) = results
    assert code != 0 and culprit(message) == "milvus-lite==2.5.1", message
    failures = [f"{platform} / Python {python}: no wheel for {culprit(message)}\n{message}"
                for platform, python, code, message in results if code != 0]
    assert not failures, "\n\n".join(failures)
