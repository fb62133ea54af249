"""Pages 3–5 on first use online, with nothing prefetched: the models come through the real download code from a
hub on localhost (the default SPLADE id served as `.bin` only). AppTest runs in a subprocess, because
huggingface_hub reads HF_ENDPOINT and HF_HUB_OFFLINE at import and this test process is offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from splade_demo.config import DEFAULT_MLM_MODEL, DEFAULT_SPLADE_MODEL
from splade_demo.models.catalog import find
from tests.conftest import REPO_ROOT, bin_only_weights, write_tiny_corpus
from tests.hub_server import LocalHub

PAGES = ("views/p3_bert.py", "views/p4_splade.py", "views/p5_compare.py")
RUN_PAGES = """
import json, sys, threading
from streamlit.testing.v1 import AppTest
from splade_demo.retrieval.index_build import BUILD_THREAD_NAME
seen = {}
for page in sys.argv[1:]:
    at = AppTest.from_file("app.py", default_timeout=300)
    at.session_state["query"] = "python memory management"
    at.run()
    for thread in threading.enumerate():  # pages 4-5 fill in once the background index build is done
        if thread.name == BUILD_THREAD_NAME:
            thread.join(300)
    at.switch_page(page)
    at.run()
    seen[page] = {"exceptions": [str(e.value) for e in at.exception], "warnings": [w.value for w in at.warning],
                  "charts": len(at.get("plotly_chart"))}
print(json.dumps(seen))
"""

pytestmark = pytest.mark.slow  # a model hub on localhost, as test_hub_download: run by `python -m pytest`


@pytest.fixture()
def hub(tiny_splade_dir: Path) -> Iterator[LocalHub]:
    files = {p.name: p.read_bytes() for p in tiny_splade_dir.iterdir() if p.is_file() and p.name != "heads.pt"}
    bin_only = {k: v for k, v in files.items() if k != "model.safetensors"} | \
        {"pytorch_model.bin": bin_only_weights(tiny_splade_dir)}
    with LocalHub() as server:
        server.add(DEFAULT_SPLADE_MODEL, bin_only, find(DEFAULT_SPLADE_MODEL).revision)
        server.add(DEFAULT_MLM_MODEL, files, find(DEFAULT_MLM_MODEL).revision)
        yield server


def run_pages(hub: LocalHub, home: Path) -> dict[str, dict]:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "0",
           "SPLADE_DEMO_CACHE": str(home / "cache"), "SPLADE_DEMO_CORPUS": str(write_tiny_corpus(home / "tiny.jsonl"))}
    for variable in ("HF_HUB_CACHE", "HF_TOKEN", "SPLADE_DEMO_SPLADE_MODEL", "SPLADE_DEMO_MLM_MODEL"):
        env.pop(variable, None)
    result = subprocess.run([sys.executable, "-c", RUN_PAGES, *PAGES], capture_output=True, text=True,
                            cwd=REPO_ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pages_3_to_5_download_the_default_models_on_first_use(hub: LocalHub, tmp_path: Path) -> None:
    seen = run_pages(hub, tmp_path)
    for page in PAGES:
        assert seen[page]["exceptions"] == [] and seen[page]["warnings"] == [], (page, seen[page])
        assert seen[page]["charts"] > 0, page
    downloaded = {r[1].split("/resolve/")[0].lstrip("/") for r in hub.requests if "/resolve/" in r[1]}
    assert downloaded == {DEFAULT_SPLADE_MODEL, DEFAULT_MLM_MODEL}
    assert list((tmp_path / "cache" / "converted").glob("*/model.safetensors"))  # the .bin, converted once


def test_a_gated_splade_repo_is_a_clear_warning_and_page_3_still_works(hub: LocalHub, tmp_path: Path) -> None:
    hub.repos[DEFAULT_SPLADE_MODEL].gated = True
    seen = run_pages(hub, tmp_path)
    assert seen["views/p3_bert.py"]["warnings"] == [] and seen["views/p3_bert.py"]["charts"] > 0
    for page in PAGES[1:]:
        assert seen[page]["exceptions"] == []
        (warning,) = seen[page]["warnings"]
        assert "gated" in warning and "HF_TOKEN" in warning and DEFAULT_SPLADE_MODEL in warning
    asked = [r for r in hub.requests if r[1].startswith(f"/api/models/{DEFAULT_SPLADE_MODEL}/revision/")]
    assert len(asked) == 1  # page 5 said what page 4 learnt, without asking the hub again
