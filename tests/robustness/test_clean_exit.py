"""Clean stops outside the server (#25): Ctrl-C in `index`, and an AppTest process that ends while its build runs.

- `index` + SIGINT after some batches were saved: exit 130, one `interrupted:` line, no traceback; the next
  `index` resumes (its `resumed` passages cover every batch saved before the signal).
- A Python process whose AppTest run started the background build, ending mid-build: exit 0, no
  `terminate called` (the build stops between batches at exit, so no torch work is left at teardown).
The subprocesses run the real tiny SPLADE over the first passages of `demo`, with their own cache folder.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import numpy as np

from tests.conftest import REPO_ROOT

PASSAGES = 160
EXIT_BOUND_S = 10
BATCH_BOUND_S = 300
BAD_LINES = ("terminate called", "Traceback", "Aborted", "core dumped", "Fatal Python error")

pytestmark = pytest.mark.slow  # real processes stopped mid-build: run by `python -m pytest`, not by -m "not slow"


@pytest.fixture()
def environment(tiny_splade_dir: Path, tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    """(environment, cache folder, corpus path): the tiny SPLADE at fp32 over the first demo passages."""
    corpus = tmp_path / "first.jsonl"
    with gzip.open(REPO_ROOT / "corpus" / "demo.jsonl.gz", "rt", encoding="utf-8") as handle:
        corpus.write_text("".join(next(handle) for _ in range(PASSAGES)), encoding="utf-8")
    cache = tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "SPLADE_DEMO_SPLADE_MODEL": str(tiny_splade_dir),
           "SPLADE_DEMO_MLM_MODEL": str(tiny_splade_dir), "SPLADE_DEMO_PRECISION": "fp32",
           "SPLADE_DEMO_CACHE": str(cache), "SPLADE_DEMO_CORPUS": str(corpus), "SPLADE_DEMO_ENGINE": "memory",
           "SPLADE_DEMO_CHECKPOINT_SECONDS": "0"}  # a checkpoint after every batch: the stops land mid-build
    return env, cache, corpus


def batch_files(cache: Path) -> list[Path]:
    """The checkpoints of an unfinished build (`splade_index.SavedBatches`)."""
    return sorted((cache / "splade_index").glob("*.parts/*/checkpoint-*.npz"))


def saved_rows(cache: Path) -> int:
    """Passages in the checkpoints on disk."""
    return sum(int(np.load(path)["rows"].sum()) for path in batch_files(cache))


def wait_for_batches(process: subprocess.Popen, cache: Path, count: int) -> None:
    deadline = time.monotonic() + BATCH_BOUND_S
    while len(batch_files(cache)) < count:
        assert process.poll() is None, f"the process ended ({process.returncode}) before saving {count} batches"
        assert time.monotonic() < deadline, f"fewer than {count} saved batches within {BATCH_BOUND_S} s"
        time.sleep(0.2)  # polling a condition with a bound


def ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT at its default, as for a command typed in a terminal. A test run started in the
    background by a non-interactive shell (`.ci/run &`) ignores SIGINT, its children inherit that, and Python then
    installs no KeyboardInterrupt handler: the build ran to the end and exited 0."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def no_bad_lines(output: str) -> None:
    assert not [line for line in output.splitlines() if any(bad in line for bad in BAD_LINES)], output[-2000:]


def test_ctrl_c_in_index_exits_130_and_the_next_run_resumes(environment, tmp_path: Path) -> None:
    env, cache, corpus = environment
    stderr = tmp_path / "index.err"
    with stderr.open("w") as err:
        process = subprocess.Popen([sys.executable, "-m", "splade_demo", "index", "--corpus", str(corpus)],
                                   cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                   preexec_fn=ctrl_c_as_in_a_terminal if os.name == "posix" else None)
    try:
        wait_for_batches(process, cache, 2)
        process.send_signal(signal.SIGINT)
        status = process.wait(EXIT_BOUND_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = stderr.read_text(encoding="utf-8", errors="replace")
    assert status == 130, output[-2000:]
    no_bad_lines(output)
    assert output.strip().splitlines()[-1].startswith("interrupted: "), output[-500:]
    saved = saved_rows(cache)
    assert saved > 0
    again = subprocess.run([sys.executable, "-m", "splade_demo", "index", "--corpus", str(corpus), "--json"],
                           cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    report = json.loads(again.stdout)
    assert report["passages"] == PASSAGES and report["resumed"] >= saved
    assert not batch_files(cache)  # the finished index replaced its saved batches


APPTEST_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(sys.argv[1], default_timeout=300)
    at.run()
    deadline = time.monotonic() + float(sys.argv[3])
    while not list(Path(sys.argv[2]).glob("splade_index/*.parts/*/checkpoint-*.npz")):
        if time.monotonic() > deadline:
            sys.exit("no saved batch")
        time.sleep(0.2)
    print("a batch is saved; the script ends with the build running", flush=True)
""")


def test_an_apptest_process_that_ends_mid_build_exits_cleanly(environment, tmp_path: Path) -> None:
    env, cache, _ = environment
    script = tmp_path / "apptest_ends.py"
    script.write_text(APPTEST_SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(REPO_ROOT / "app.py"), str(cache), str(BATCH_BOUND_S)],
                          cwd=REPO_ROOT, env={**env, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
                          timeout=BATCH_BOUND_S + 120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-2000:]
    assert "the script ends with the build running" in output
    no_bad_lines(output)
    assert batch_files(cache) and not list((cache / "splade_index").glob("*.npz"))  # kept, not taken as complete
