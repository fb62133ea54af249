"""First imports with the collector paused, then frozen (`splade_demo.frozen_imports`)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest

from splade_demo.frozen_imports import import_frozen
from tests.conftest import REPO_ROOT

# A module whose import makes enough cyclic objects for the collector to run several passes on its own.
MANY_CYCLES = "kept = []\nfor i in range(60_000):\n    pair = [i]\n    pair.append(pair)\n    kept.append(pair)\n"


@pytest.fixture
def new_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], str]]:
    """`make(body)`: the name of a module never imported yet, with that body; the freezes are undone afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    made: list[str] = []

    def make(body: str) -> str:
        name = f"frozen_imports_probe_{len(made)}"
        (tmp_path / f"{name}.py").write_text(body, encoding="utf-8")
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)
    gc.unfreeze()
    gc.enable()


@pytest.fixture
def passes() -> Iterator[list[int]]:
    """The generations of the collector's passes while the test runs."""
    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    yield seen
    gc.callbacks.remove(record)


def test_a_first_import_runs_no_pass_and_its_objects_are_frozen(new_module: Callable[[str], str],
                                                               passes: list[int]) -> None:
    name = new_module(MANY_CYCLES)
    frozen_before = gc.get_freeze_count()
    import_frozen(name)
    assert passes == [2] and gc.isenabled()  # one full pass, at the end: garbage is freed, not frozen
    assert len(sys.modules[name].kept) == 60_000
    assert gc.get_freeze_count() >= frozen_before + 60_000
    control = new_module(MANY_CYCLES)  # the same import, plainly: the collector runs passes on its own
    __import__(control)
    assert len(passes) > 10


def test_garbage_made_during_the_import_is_freed_not_frozen(new_module: Callable[[str], str]) -> None:
    name = new_module("import weakref\nclass Node:\n    pass\nnode = Node()\nnode.me = node\n"
                      "ref = weakref.ref(node)\ndel node\n")
    import_frozen(name)
    assert sys.modules[name].ref() is None


def test_frames_the_import_keeps_do_not_reach_the_callers_locals(new_module: Callable[[str], str]) -> None:
    # An import that leaves a cycle holding its own frame (an exception kept with its traceback) must not keep the
    # frame of the function that called import_frozen: that frame holds the caller's locals once it returns.
    name = new_module("import sys\ntry:\n    raise ValueError('kept')\nexcept ValueError as exc:\n"
                      "    KEPT = exc\n")
    import weakref

    class Big:
        pass

    def caller() -> "weakref.ref[Big]":
        big = Big()
        import_frozen(name)
        return weakref.ref(big)

    big = caller()
    gc.collect()
    assert big() is None


def test_an_import_already_done_changes_nothing(passes: list[int]) -> None:
    frozen_before = gc.get_freeze_count()
    import_frozen("json", "gc")
    assert gc.get_freeze_count() == frozen_before and gc.isenabled()


def test_a_collector_turned_off_stays_off_and_nothing_is_frozen(new_module: Callable[[str], str]) -> None:
    name = new_module("VALUE = 1\n")
    frozen_before = gc.get_freeze_count()
    gc.disable()
    import_frozen(name)
    assert not gc.isenabled() and gc.get_freeze_count() == frozen_before


def test_a_failed_import_raises_and_collection_resumes(new_module: Callable[[str], str]) -> None:
    name = new_module("raise ImportError('no such thing here')\n")
    with pytest.raises(ImportError, match="no such thing here"):
        import_frozen(name)
    assert gc.isenabled()


@pytest.mark.process  # a fresh interpreter, where transformers is not imported yet (about 10 s)
def test_a_model_loaded_after_the_frozen_imports_is_still_released(tiny_splade_dir: Path) -> None:
    # An object frozen while alive is never collected as cyclic garbage; a loaded model is such a cycle. The first
    # load freezes its imports before it builds the model, so an encoder that owns its model still lets the fp32
    # weights go (test_splade checks that in a process where transformers was imported before).
    script = textwrap.dedent(f"""
        import gc, sys, weakref
        from splade_demo.models.loading import load_mlm
        assert "transformers" not in sys.modules
        loaded = load_mlm({str(tiny_splade_dir)!r})
        assert gc.get_freeze_count() > 100_000, gc.get_freeze_count()
        model = weakref.ref(loaded.model)
        del loaded
        gc.collect()
        print("released" if model() is None else "kept")
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "released", done.stderr[-2000:]
