"""First imports of torch and transformers with the cyclic garbage collector paused, then frozen out of its passes.

Importing torch and transformers creates some 370,000 long-lived Python objects (modules, functions, classes and
their dicts; 450,000 objects are frozen in a server). CPython's collector walks every one of them in each full
pass, and while they are being created it makes a full pass each time the old generation has grown by a quarter:
7 passes during these imports, about 1 s, and more later (Zen 4; benchmarks/README.md). `import_frozen` imports
with the collector paused, frees the garbage (one full pass), then moves every object alive to the permanent
generation (`gc.freeze`, Python 3.7), which later passes skip, and resumes collection.

Freezing is safe for what stays alive for good. An object frozen while alive is never collected if it later becomes
cyclic garbage (a loaded model is such a cycle), hence: it acts only when a module is not imported yet, never around
weights (no model exists before the first torch or transformers import), and the imports run on a thread of their
own, so that a frame an import keeps cannot link back to the caller's frames and the locals they will hold.
"""

from __future__ import annotations

import gc
import importlib
import sys
import threading

_LOCK = threading.Lock()  # one paused import at a time: the collector's switch is process-wide


def import_frozen(*modules: str) -> None:
    """Import `modules` with the collector paused and freeze what exists afterwards; nothing when all are imported.

    A collector the process had turned off stays off and nothing is frozen."""
    if all(name in sys.modules for name in modules):
        return
    with _LOCK:
        if all(name in sys.modules for name in modules):
            return
        collecting = gc.isenabled()
        gc.disable()
        try:
            _import_in_own_thread(modules)
        finally:
            if collecting:
                gc.collect()  # garbage, whichever thread made it, is freed rather than frozen
                gc.freeze()
                gc.enable()


def _import_in_own_thread(modules: tuple[str, ...]) -> None:
    """Import on a thread of its own: a frame an import keeps (in a traceback, say) links back only to that
    thread's short stack, never to the caller's frames and the locals they will hold (a model)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            for name in modules:
                importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            failures.append(exc)

    thread = threading.Thread(target=run, name="frozen-imports", daemon=True)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]
