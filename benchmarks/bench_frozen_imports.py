"""The cyclic collector's time on the way to page 5, with the first heavy imports frozen and without.

    python benchmarks/bench_frozen_imports.py                  # BERT-base stand-in, 3 rounds (about 2 minutes)
    python benchmarks/bench_frozen_imports.py --models tiny --rounds 5

Each round starts two fresh interpreters, alternately: one as the app runs (`frozen_imports.import_frozen` for the
first torch and transformers imports), one with `import_frozen` turned into plain imports. Each does what a first
visit to pages 4 and 5 does in the server, in one thread: Streamlit and Plotly imports, the settings (torch), the
SPLADE encoder at the default precision, the document vectors from an index pack (built first, once, if none is
given), the BM25 index, the GloVe vectors and the evaluation of every labelled query. It reports its wall time and
the time spent in collector passes (`gc.callbacks`). Ratios are frozen / plain within the same round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import _common as common

CHILD = r"""
import gc, json, os, sys, time
passes = {"n": 0, "s": 0.0, "start": 0.0}
def on_pass(phase, info):
    if phase == "start":
        passes["start"] = time.perf_counter()
    else:
        passes["n"] += 1
        passes["s"] += time.perf_counter() - passes["start"]
gc.callbacks.append(on_pass)
started = time.perf_counter()
sys.path.insert(0, os.environ["BENCH_REPO"])
if os.environ["BENCH_MODE"] == "plain":
    import importlib
    import splade_demo.frozen_imports as frozen_imports
    def plain_imports(*modules):
        for name in modules:
            importlib.import_module(name)
    frozen_imports.import_frozen = plain_imports  # before compute and loading import it
import streamlit, plotly.graph_objects, pandas  # what the server has imported before a page runs
from splade_demo.config import load_settings
from splade_demo.data.corpus import load_queries
from splade_demo.retrieval.pipeline import Pipeline
pipeline = Pipeline.from_settings(load_settings())
pipeline.sources.encoder()
loaded = time.perf_counter()
pipeline.splade_ready(wait=True)
pipeline.engine.search_bm25(["memory"], 1)
pipeline.sources.vectors()
pipeline.evaluate_supported(load_queries())
print(json.dumps({"wall": time.perf_counter() - started, "to_encoder": loaded - started, "gc_s": passes["s"],
                  "gc_passes": passes["n"], "frozen": gc.get_freeze_count()}))
"""


def child(mode: str, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD], env={**env, "BENCH_MODE": mode}, capture_output=True,
                          text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", choices=["tiny", "bert-base"], default="bert-base")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pack", default=None, help="an index pack of the same model (default: build one first)")
    args = parser.parse_args()
    print(common.machine_report())
    splade = str(common.tiny_splade_dir() if args.models == "tiny" else common.random_bert_base_dir("splade"))
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "SPLADE_DEMO_SPLADE_MODEL": splade, "SPLADE_DEMO_CACHE": cache,
               "SPLADE_DEMO_CORPUS": "demo", "BENCH_REPO": str(common.REPO_ROOT)}
        pack = Path(args.pack) if args.pack else Path(cache) / "demo.safetensors"
        if not args.pack:
            print(f"building an index pack of {args.models} for the demo corpus first (minutes)...")
            subprocess.run([sys.executable, "-m", "splade_demo", "index", "--corpus", "demo", "--pack", str(pack)],
                           env=env, cwd=common.REPO_ROOT, check=True, capture_output=True)
        env["SPLADE_DEMO_INDEX_PACK"] = str(pack.resolve())
        child("frozen", env)  # GloVe converted into the cache, files in the page cache: both modes start warm
        results: dict[str, list[dict[str, float]]] = {"frozen": [], "plain": []}
        for round_number in range(1, args.rounds + 1):
            for mode in (("frozen", "plain") if round_number % 2 else ("plain", "frozen")):
                results[mode].append(child(mode, env))
            frozen, plain = results["frozen"][-1], results["plain"][-1]
            print(f"round {round_number}: wall {frozen['wall']:.2f} s frozen vs {plain['wall']:.2f} s plain "
                  f"({frozen['wall'] / plain['wall']:.2f}x); collector {frozen['gc_s']:.2f} s in "
                  f"{frozen['gc_passes']} passes vs {plain['gc_s']:.2f} s in {plain['gc_passes']}; "
                  f"{frozen['frozen']:,} objects frozen")
    for key, label in (("wall", "wall time"), ("to_encoder", "to the encoder"), ("gc_s", "collector time")):
        frozen = statistics.median(r[key] for r in results["frozen"])
        plain = statistics.median(r[key] for r in results["plain"])
        print(f"median {label}: {frozen:.2f} s frozen, {plain:.2f} s plain ({frozen / plain:.2f}x)")
    print(f"load average at the end: {common.load_average()}")


if __name__ == "__main__":
    main()
