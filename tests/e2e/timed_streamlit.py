"""`python -m tests.e2e.timed_streamlit run app.py ...`: Streamlit's CLI, with each script run's time on the server
appended to the file named by SPLADE_LOAD_RUN_LOG (wall seconds, the script thread's CPU seconds).

The load test reports this server-side time beside the page time seen in the browser: browsers started on the
same cores as the server take most of the CPU (/work/shared/DESIGN.md, "Load tests")."""

from __future__ import annotations

import os
import sys
import threading
import time

from streamlit.runtime.scriptrunner import script_runner
from streamlit.web import cli

LOG = os.environ.get("SPLADE_LOAD_RUN_LOG", os.devnull)
_LOCK = threading.Lock()
_run_script = script_runner.ScriptRunner._run_script


def _timed_run_script(self, rerun_data):  # type: ignore[no-untyped-def]
    started, cpu = time.perf_counter(), time.thread_time()
    try:
        return _run_script(self, rerun_data)
    finally:
        with _LOCK, open(LOG, "a", encoding="utf-8") as out:
            out.write(f"{time.perf_counter() - started:.4f} {time.thread_time() - cpu:.4f}\n")


script_runner.ScriptRunner._run_script = _timed_run_script  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main())
