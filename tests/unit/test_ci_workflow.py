"""The CI matrix (.github/workflows/ci.yml) is a valid GitHub workflow and runs the README's fast tier on every OS;
.ci/run runs the README's full test command.

The workflow is checked against the GitHub workflow schema vendored in check-jsonschema (actionlint's PyPI
wrapper ships no wheel, it downloads its binary at install time).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
FAST_TIER = 'python -m pytest -m "not slow" -n 2'
PROCESS_TESTS = "python -m pytest -m process -n 2"  # slow for the fast tier, but each OS's argv and streams differ
FULL_SUITE = "python -m pytest"


def check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_the_workflow_is_valid_and_a_broken_one_is_caught(tmp_path: Path) -> None:
    valid = check_workflow(WORKFLOW)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text(encoding="utf-8").replace("runs-on:", "run-on:"), encoding="utf-8")
    caught = check_workflow(broken)
    assert caught.returncode != 0 and "runs-on" in caught.stdout, caught.stdout


def test_the_matrix_runs_the_fast_tier_and_the_process_tests_on_every_os_and_python() -> None:
    workflow = YAML(typ="safe").load(WORKFLOW.read_text(encoding="utf-8"))
    (job,) = workflow["jobs"].values()
    matrix = job["strategy"]["matrix"]
    assert set(matrix["os"]) == {"ubuntu-latest", "macos-14", "windows-latest"}
    assert matrix["python"] == ["3.11", "3.13"]
    runs = [step.get("run", "") for step in job["steps"]]
    assert FAST_TIER in runs and PROCESS_TESTS in runs and "python -m pip install -r requirements-dev.txt" in runs


def test_ci_run_and_the_readme_give_the_same_test_commands() -> None:
    ci_run = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci_run.splitlines() if re.match(r"\s*python3? -m pytest", line)]
    assert commands == [FULL_SUITE]
    assert "pip install -q -r requirements-dev.txt" in ci_run  # uv and check-jsonschema come with it
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = "\n".join(readme.splitlines()[:60])
    assert FAST_TIER in first_screen and re.search(rf"^{re.escape(FULL_SUITE)}\s*(#.*)?$", readme, re.M), \
        "the README gives the fast tier first, then the full suite as .ci/run runs it"
