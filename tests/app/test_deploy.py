"""The zero-edit Community Cloud layout: deploy/streamlit_app.py runs the app (pages found from another folder)
and deploy/requirements.txt is the root's requirements with the CPU build of torch; the root file asks no other
index (laptops and CI never wait for download.pytorch.org)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.app.pages import PAGES
from tests.conftest import REPO_ROOT, tiny_app_environment

DEPLOY = REPO_ROOT / "deploy"


@pytest.fixture(autouse=True)
def tiny_models(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)


def lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_the_deploy_requirements_are_the_root_ones_with_cpu_torch() -> None:
    deploy = lines(DEPLOY / "requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in deploy
    assert "-r ../requirements.txt" in deploy and (DEPLOY / "../requirements.txt").resolve() == REPO_ROOT / "requirements.txt"
    (root_torch,) = [line for line in lines(REPO_ROOT / "requirements.txt") if line.startswith("torch==")]
    assert f"{root_torch}+cpu" in deploy  # the same version, its CPU build
    assert not [line for line in lines(REPO_ROOT / "requirements.txt") if line.startswith("-")]  # no index asked


def test_the_deploy_entrypoint_runs_the_app_and_finds_every_page() -> None:
    at = AppTest.from_file(str(DEPLOY / "streamlit_app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title][:1] == ["Why SPLADE works"]
    assert at.sidebar.text_area(key="query").value
    at.switch_page(PAGES[1].script)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "A developer documentation search system"  # page 1
