"""Offline with nothing cached: pages 1-2 work, pages 3-5 say how to prefetch, and say it fast (no model load
is attempted, and any hub probe has the short timeout).

The app runs in a fresh process (so no model or cache of an earlier test is warm) with the default model ids,
which are not cached here, and HF_HOME pointing at an empty folder. Two ways to be offline: HF_HUB_OFFLINE=1,
and a hub that does not answer (HF_ENDPOINT on a closed loopback port, offline flag unset), which must fail
within the ~2 s probe rather than the ~50 s of a plain `from_pretrained`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PAGES = ["views/home.py", "views/p1_bm25.py", "views/p2_glove.py", "views/p3_bert.py", "views/p4_splade.py",
         "views/p5_compare.py"]
NEEDS_A_MODEL = {"views/p3_bert.py", "views/p4_splade.py", "views/p5_compare.py"}
DRIVER = r"""
import json, sys, time
from streamlit.testing.v1 import AppTest

import transformers

import splade_demo.models.loading as loading

calls = {"probes": [], "loads": 0}  # counted: each hub probe's timeout, and each from_pretrained attempt
real_probe, real_load = loading.host_reachable, transformers.AutoModelForMaskedLM.from_pretrained


def probe(host, port=443, timeout_s=loading.HUB_PROBE_TIMEOUT_S):
    calls["probes"].append(timeout_s)
    return real_probe(host, port, timeout_s)


def load(*args, **kwargs):
    calls["loads"] += 1
    return real_load(*args, **kwargs)


loading.host_reachable, transformers.AutoModelForMaskedLM.from_pretrained = probe, load
report = {}
start = time.perf_counter()
at = AppTest.from_file("app.py", default_timeout=300)
at.run()  # app.py and the home page: imports, sidebar, model status
report["app.py first run"] = {"seconds": time.perf_counter() - start, "exceptions": [e.value for e in at.exception]}
for page in sys.argv[1:]:
    start = time.perf_counter()
    calls["probes"], calls["loads"] = [], 0
    at.switch_page(page)
    at.run()
    report[page] = {
        "seconds": time.perf_counter() - start,
        "probes": list(calls["probes"]),
        "loads": calls["loads"],
        "exceptions": [e.value for e in at.exception],
        "warnings": [w.value for w in at.warning],
        "charts": len(at.get("plotly_chart")),
        "title": [t.value for t in at.title],
    }
print("REPORT " + json.dumps(report))
"""


def free_loopback_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on return: connections to it are refused


@pytest.mark.process  # every page in a fresh interpreter with no model anywhere (about 23 s)
@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE=1", "hub unreachable"])
def test_offline_with_nothing_cached(how: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPLADE_DEMO_", "HF_", "TRANSFORMERS_"))}
    env.update(HF_HOME=str(tmp_path / "hf_home"), SPLADE_DEMO_CACHE=str(tmp_path / "cache"),
               XDG_CACHE_HOME=str(tmp_path / "xdg"), PYTHONPATH=str(REPO_ROOT))
    if how == "HF_HUB_OFFLINE=1":
        env["HF_HUB_OFFLINE"] = "1"
    else:
        env["HF_ENDPOINT"] = f"http://127.0.0.1:{free_loopback_port()}"
    (tmp_path / "hf_home").mkdir()
    result = subprocess.run([sys.executable, "-c", DRIVER, *PAGES[1:], PAGES[0]], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, result.stderr[-3000:]
    report = json.loads(lines[-1][len("REPORT "):])
    assert not any((tmp_path / "hf_home").rglob("*.safetensors")), "something was downloaded"

    print(f"\noffline ({how}): " + "; ".join(f"{page.removeprefix('views/')} {r['seconds']:.2f} s"
                                              for page, r in report.items()))
    assert not report["app.py first run"]["exceptions"]
    for page in PAGES:
        shown = report[page]
        assert not shown["exceptions"], (page, shown["exceptions"])
        assert shown["title"], page  # the page itself renders
        prefetch = [w for w in shown["warnings"] if "python -m splade_demo prefetch" in w]
        if page in NEEDS_A_MODEL:
            assert prefetch, (page, shown["warnings"])
            assert any("naver/splade-cocondenser-ensembledistil" in w or "bert-base-uncased" in w for w in prefetch)
            reason = "HF_HUB_OFFLINE is set" if how == "HF_HUB_OFFLINE=1" else "the model hub is unreachable"
            assert all(reason in w for w in prefetch), (page, prefetch)
            assert shown["loads"] == 0, page  # no ~50 s from_pretrained against an absent hub
            if how == "HF_HUB_OFFLINE=1":
                assert shown["probes"] == [], (page, shown["probes"])  # offline: not even a probe
            else:
                assert shown["probes"] and max(shown["probes"]) <= 2.0, (page, shown["probes"])  # the ~2 s probe only
        else:
            assert not prefetch and not any("model" in w.lower() for w in shown["warnings"]), (page, shown["warnings"])
            if page != "views/home.py":
                assert shown["charts"] >= 1, page
