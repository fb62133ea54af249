"""Peak memory of one process serving every page: both BERT-base models, GloVe, the `demo` index.

    python benchmarks/bench_memory.py            # about 1-3 minutes on 2 cores

Each scenario runs in a fresh subprocess, which loads what the app's process would hold and answers
one query as every page does, printing its resident memory after each stage (VmRSS) and its peak
(VmHWM, and `getrusage(RUSAGE_SELF).ru_maxrss` at the end). Target: peak <= 1.5 GB.

  * the SPLADE model and the fill-mask model: two random-init BERT-base folders (the real models'
    exact size), loaded with `splade_demo.models.load_mlm` like the app does, when their page first
    needs them (page 3, then page 4); at int8 or bf16 the SPLADE encoder owns its load and keeps only that copy;
  * GloVe 6B 50d (`splade_demo.models.glove_vectors.load_vectors`, memory-mapped), the `demo` corpus and its BM25 index;
  * the `demo` SPLADE index: the real tiny SPLADE's vectors (a trained model's terms; a random
    BERT-base's are random), loaded from the bench cache by `load_index` (the parent passes
    the tiny encoder's key fields, so the child never loads the tiny model);
  * streamlit, plotly and pandas imported first, as in the app's process.
Scenarios: `serve-<precision>` (the index is cached) for fp32 and int8, and `build-<default>`:
the same plus one full batch of the longest `demo` passages encoded in-process, which is the
peak while the app builds the index on first use.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import _common as common

TARGET_MB = 1536.0
QUERY = "python memory management"


def status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(scenario: str, precision: str) -> None:
    """Runs in the subprocess: load everything, answer one query per page, print JSON stages."""
    stages: list[dict] = []

    def mark(stage: str, started: float) -> None:
        seconds = time.perf_counter() - started
        gc_start = time.perf_counter()
        gc.collect(2)  # what Streamlit does after every script run with runner.postScriptGC (off in our config)
        stages.append({"stage": stage, "rss_mb": status_mb("VmRSS"), "hwm_mb": status_mb("VmHWM"),
                       "anon_mb": status_mb("RssAnon"), "file_mb": status_mb("RssFile"), "seconds": seconds,
                       "gc_ms": (time.perf_counter() - gc_start) * 1000, "objects": len(gc.get_objects())})

    t = time.perf_counter()
    mark("python + benchmark helpers", t)
    t = time.perf_counter()
    import pandas  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import streamlit  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    mark("imports: streamlit, plotly, pandas, torch, transformers", t)

    from splade_demo.retrieval.analyzer import analyze
    from splade_demo.retrieval.bm25 import BM25Index
    from splade_demo.explain.comparison import compare
    from splade_demo.config import DEFAULT_GLOVE
    from splade_demo.data.corpus import load_corpus, load_queries
    from splade_demo.explain.fill_mask import predict
    from splade_demo.explain.glove import query_neighbours
    from splade_demo.models.glove_vectors import load_vectors
    from splade_demo.explain.glove import compare_expansion
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate
    from splade_demo.retrieval.pipeline import METHODS, Pipeline
    from splade_demo.explain.splade_view import shared_terms
    from splade_demo.retrieval.splade_index import document_text, load_index

    cache_dir = common.BENCH_DIR / "cache"
    t = time.perf_counter()
    corpus = load_corpus("demo")
    bm25 = BM25Index(corpus)
    mark("demo corpus + BM25 index", t)

    t = time.perf_counter()
    index = load_index(SimpleNamespace(**json.loads(os.environ["SPLADE_BENCH_INDEX_KEY"])), corpus, cache_dir)  # type: ignore[arg-type]
    if index is None:
        raise SystemExit("the tiny demo index is not cached: the parent builds it first")
    mark(f"demo SPLADE index ({index.matrix.nnz:,} non-zeros)", t)

    t = time.perf_counter()
    vectors = load_vectors(DEFAULT_GLOVE, cache_dir)
    mark("GloVe 6B 50d (memory-mapped)", t)

    t = time.perf_counter()
    hits = Pipeline.from_components(bm25).rank("bm25", QUERY, 10)
    [bm25.explain(analyze(QUERY), h.index) for h in hits]
    mark("page 1: BM25 top-10 + explain", t)
    t = time.perf_counter()
    query_neighbours(vectors, QUERY, 10)
    compare_expansion(bm25, vectors, QUERY, 3, 0.5)
    mark("page 2: GloVe neighbours + expanded BM25", t)
    t = time.perf_counter()
    mlm = load_mlm(str(common.random_bert_base_dir("mlm")))
    mark("page 3: fill-mask model, BERT-base", t)
    t = time.perf_counter()
    predict(mlm, QUERY, 10)
    predict(mlm, "the python swallowed the zoo keeper's lunch", 10)
    mark("page 3: fill-mask, each word masked", t)
    t = time.perf_counter()
    encoder = load_splade(precision)
    mark(f"page 4: SPLADE model, BERT-base ({encoder.precision})", t)
    t = time.perf_counter()
    encoding = encoder.encode_query(QUERY)
    mark("page 4: SPLADE query encoding", t)
    t = time.perf_counter()
    pipeline = Pipeline.from_components(bm25, encoder, index, vectors)
    comparison = compare(pipeline, QUERY, encoding.vector, 10)
    chosen = (comparison.splade or comparison.bm25)[0]
    shared_terms(encoding.vector, index.doc_vector(chosen.index), encoder.vocab)
    evaluate(load_queries(), pipeline.ranker(METHODS, EVAL_DEPTH))
    mark("page 5: rankings, breakdowns, evaluation", t)

    if scenario.startswith("build"):
        t = time.perf_counter()
        texts = [document_text(p) for p in corpus.passages]
        lengths = encoder.token_lengths(texts)
        longest = [texts[i] for i in sorted(range(len(texts)), key=lambda i: -lengths[i])[:16]]
        encoder.encode_documents(longest)  # the longest batches are the largest: (8, 256, 30522) logits
        mark("index build in-process: the 16 longest passages", t)

    stages.append({"stage": "end", "rss_mb": status_mb("VmRSS"), "hwm_mb": status_mb("VmHWM"), "seconds": 0.0,
                   "anon_mb": status_mb("RssAnon"), "file_mb": status_mb("RssFile"),
                   "ru_maxrss_mb": common.peak_rss_mb()})
    print("JSON " + json.dumps(stages))


def load_splade(precision: str):
    """The SPLADE encoder as the app's `splade_encoder_resource` makes it: int8 and bf16 own a private load."""
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    loaded = load_mlm(str(common.random_bert_base_dir("splade")))
    return SpladeEncoder(loaded, precision, owns_model=precision != "fp32")  # type: ignore[arg-type]


def ensure_tiny_index() -> dict:
    """Build (or find) the tiny SPLADE's demo index; return what `load_index` needs to find it."""
    from splade_demo.data.corpus import load_corpus
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder
    from splade_demo.retrieval.splade_index import load_or_build_index

    start = time.perf_counter()
    tiny = SpladeEncoder(load_mlm(str(common.tiny_splade_dir())), "fp32")
    index = load_or_build_index(tiny, load_corpus("demo"), common.BENCH_DIR / "cache")
    if not index.from_cache:
        print(f"   (built the tiny SPLADE demo index in {time.perf_counter() - start:.0f} s)")
    return {"fingerprint": tiny.fingerprint, "max_length": tiny.max_length, "precision": tiny.precision,
            "vocab_size": tiny.vocab_size, "name": tiny.name}


def run(scenario: str, precision: str, index_key: dict) -> list[dict]:
    env = {**os.environ, "SPLADE_BENCH_INDEX_KEY": json.dumps(index_key)}
    proc = subprocess.run([sys.executable, __file__, "--child", scenario, "--precision", precision],
                          capture_output=True, text=True, cwd=str(common.REPO_ROOT), env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("JSON ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"scenario {scenario} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][5:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--precision", default=None, help="document precision (default: splade_demo.config's)")
    parser.add_argument("--scenarios", default=None, help="comma list, e.g. serve-fp32,serve-int8,build-fp32")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.precision)
        return
    from splade_demo.config import DEFAULT_PRECISION

    default = args.precision or DEFAULT_PRECISION
    scenarios = args.scenarios.split(",") if args.scenarios else ["serve-fp32", "serve-int8", f"build-{default}"]
    print(common.machine_report())
    print(f"default document precision: {DEFAULT_PRECISION}")
    common.random_bert_base_dir("splade"), common.random_bert_base_dir("mlm")
    index_key = ensure_tiny_index()
    peaks = {}
    for scenario in scenarios:
        precision = scenario.split("-", 1)[1]
        stages = run(scenario, precision, index_key)
        print(f"\n== {scenario}: one process, {precision} SPLADE documents")
        previous = 0.0
        print(f"   {'stage':58s} {'RSS MB':>15s} {'peak':>6s} {'anon':>6s} {'file':>6s} {'time':>6s} {'full GC':>8s}")
        for s in stages[:-1]:
            print(f"   {s['stage']:58s} {s['rss_mb']:6.0f} ({s['rss_mb'] - previous:+6.0f}) {s['hwm_mb']:6.0f} "
                  f"{s['anon_mb']:6.0f} {s['file_mb']:6.0f} {s['seconds']:5.1f}s {s['gc_ms']:6.0f}ms")
            previous = s["rss_mb"]
        end = stages[-1]
        peak = max(end["hwm_mb"], end["ru_maxrss_mb"])
        peaks[scenario] = peak
        print(f"   at the end: {end['anon_mb']:.0f} MB anonymous + {end['file_mb']:.0f} MB file-backed (memory-mapped "
              f"safetensors weights and GloVe: clean pages the kernel can reclaim); a full gc.collect() takes "
              f"{stages[-2]['gc_ms']:.0f} ms over {stages[-2]['objects']:,} objects")
        print(f"   peak RSS (VmHWM) {end['hwm_mb']:.0f} MB, ru_maxrss {end['ru_maxrss_mb']:.0f} MB; "
              f"target <= {TARGET_MB:.0f} MB: {common.verdict(peak <= TARGET_MB)}")
    print("\nsummary: " + ", ".join(f"{k} {v:.0f} MB" for k, v in peaks.items()) + f" (target <= {TARGET_MB:.0f} MB)")


if __name__ == "__main__":
    main()
