"""Retrieval engines: memory (scipy SPLADE + in-process BM25) vs Milvus (embedded milvus-lite 2.5.1).

    python benchmarks/bench_engines.py                     # 8.6k and 100k documents; a few minutes on 2 cores
    python benchmarks/bench_engines.py --sizes 8600 --queries 100

Synthetic SPLADE-shaped documents: about 200 non-zero weights each over the 30,522-term vocabulary (term ids
skewed towards frequent terms, as real SPLADE vectors are), about 30 per query; each passage also has 50
words for BM25. Vectors come from a stub encoder (a seeded generator), so no model runs and both engines
get the same vectors through their real index paths (`build_index` + `BM25Index`; `index_into_milvus`).

Each engine runs in its own subprocess, so peak RSS is its own: the Python process, and for Milvus also the
milvus-lite server process (a child). Build = from the corpus file to a queryable index. Queries: exact
top-10, SPLADE (q·d) and BM25 (3 words), p50/p95 over --queries calls after 5 warm-ups. The two engines'
top-10 ids are compared on every query.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import _common as common

import numpy as np
from scipy import sparse

VOCAB = 30_522
DOC_NNZ, QUERY_NNZ, DOC_WORDS, QUERY_WORDS, WORD_VOCAB = 200, 30, 50, 3, 20_000


def _ids(rng: np.random.Generator, n: int, space: int) -> np.ndarray:
    """About n distinct ids in [0, space), skewed towards small ids (frequent terms)."""
    return np.unique((space * rng.power(0.35, int(n * 1.3))).astype(np.int64))[:n]


class StubEncoder:
    """What index paths need of a SpladeEncoder; vectors are a function of the passage id ("d<n>")."""

    name, fingerprint, precision, max_length, vocab_size = "synthetic", "synthetic-v1", "fp32", 256, VOCAB
    precision_note = None

    def _vector(self, seed: int, nnz: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        ids = _ids(rng, nnz, VOCAB)
        return ids, rng.gamma(2.0, 0.6, len(ids)).astype(np.float32)

    def encode_documents(self, texts: list[str], batch_size: int = 16, progress=None) -> sparse.csr_matrix:
        rows, cols, vals = [], [], []
        for row, text in enumerate(texts):
            ids, weights = self._vector(int(text.split()[0][1:]), DOC_NNZ)  # the title is "d<n>"
            rows.append(np.full(len(ids), row)), cols.append(ids), vals.append(weights)
        matrix = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                   shape=(len(texts), VOCAB), dtype=np.float32)
        matrix.sort_indices()
        return matrix

    def encode_documents_with_info(self, texts, batch_size=16, progress=None, store=None):
        from splade_demo.retrieval.splade_encoder import DocumentVectors

        return DocumentVectors(self.encode_documents(texts), np.zeros(len(texts), bool), np.zeros(len(texts), int))

    def query(self, i: int) -> np.ndarray:
        ids, weights = self._vector(10**9 + i, QUERY_NNZ)
        vector = np.zeros(VOCAB, np.float32)
        vector[ids] = weights
        return vector


def query_words(i: int) -> list[str]:
    return [f"w{j}" for j in _ids(np.random.default_rng(2 * 10**9 + i), QUERY_WORDS, WORD_VOCAB)]


def corpus_file(docs: int) -> Path:
    path = common.BENCH_DIR / f"engines-{docs}.jsonl"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            for i in range(docs):
                words = " ".join(f"w{j}" for j in np.random.default_rng(3 * 10**9 + i).permutation(
                    _ids(np.random.default_rng(3 * 10**9 + i), DOC_WORDS, WORD_VOCAB)))
                handle.write(json.dumps({"id": f"d{i}", "source": f"synthetic/p{i // 10}", "title": f"d{i}",
                                         "section": "", "text": words, "url": ""}) + "\n")
        tmp.replace(path)
    return path


def child(engine_name: str, docs: int, n_queries: int) -> dict:
    """Build one engine over the synthetic corpus and time its queries (runs in its own process)."""
    from splade_demo.retrieval.bm25 import BM25Index
    from splade_demo.data.corpus import load_corpus
    from splade_demo.retrieval.engines import parse_engine_spec
    from splade_demo.retrieval.engines.memory import MemoryEngine
    from splade_demo.retrieval.splade_index import build_index

    path, stub = corpus_file(docs), StubEncoder()
    work = common.BENCH_DIR / f"engines-{engine_name}-{docs}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    start = time.perf_counter()
    if engine_name == "memory":
        corpus = load_corpus(str(path))
        engine = MemoryEngine(corpus, build_index(stub, corpus), BM25Index(corpus))
    else:
        from splade_demo.retrieval.engines.milvus import ModelKey, open_milvus
        from splade_demo.retrieval.engines.milvus_index import index_into_milvus
        from splade_demo.retrieval.engines.stream import corpus_info

        spec = parse_engine_spec(f"milvus:{work / 'bench.db'}")
        index_into_milvus(spec, stub, str(path), work)
        engine = open_milvus(spec, corpus_info(str(path), work), ModelKey.of(stub))
    build = time.perf_counter() - start
    result: dict = {"engine": engine_name, "docs": docs, "build_s": build}
    methods = [("splade", lambda i: engine.search_splade(stub.query(i), 10)),
               ("bm25", lambda i: engine.search_bm25(query_words(i), 10))]
    if engine_name == "memory":  # the reference in the same run: the whole float32 matrix times a float64 query
        from splade_demo.retrieval.ranking import top_k

        def whole_matrix(i: int) -> list:
            q = stub.query(i).astype(np.float64)
            return top_k(np.asarray(engine.splade.matrix @ q).ravel(), engine.corpus, 10)

        methods.append(("splade_whole_matrix", whole_matrix))
    for method, run in methods:
        for i in range(5):
            run(i)
        times, tops = [], []
        for i in range(n_queries):
            t = time.perf_counter()
            hits = run(i)
            times.append(time.perf_counter() - t)
            tops.append([(h.id, h.score) for h in hits])
        result[method] = {"p50_ms": common.percentile([x * 1000 for x in times], 50),
                          "p95_ms": common.percentile([x * 1000 for x in times], 95), "tops": tops}
    result["server_rss_mb"] = children_peak_rss_mb() if engine_name != "memory" else None
    engine.close()
    result["rss_mb"] = common.peak_rss_mb()
    shutil.rmtree(work, ignore_errors=True)
    return result


def children_peak_rss_mb() -> float:
    """Peak RSS (VmHWM, since exec) of this process's children: the milvus-lite server."""
    peak = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) != os.getpid():
                continue
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except (OSError, ValueError, IndexError):
            continue
    return peak


def agree(a: list, b: list, rel: float = 1e-5) -> tuple[int, int, float]:
    """(queries with identical top-10 ids, queries equal up to near-ties, largest score difference).

    Milvus scores in float32, the memory engine in float64: passages whose scores differ by less than
    float32 resolution can swap, or trade places at the cut."""
    identical = near = 0
    worst = 0.0
    for x, y in zip(a, b):
        identical += [i for i, _ in x] == [i for i, _ in y]
        if len(x) == len(y) and all(abs(s - t) <= rel * max(1.0, abs(s)) for (_, s), (_, t) in zip(x, y)):
            cut = x[-1][1] * (1 + rel) if x else 0.0
            near += {i for i, s in x if s > cut} == {i for i, s in y if s > cut}
        worst = max([worst] + [abs(s - t) for (_, s), (_, t) in zip(x, y)])
    return identical, near, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="8600,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--engines", default="memory,milvus", help="which engines to time (memory, milvus)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--docs", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.docs, args.queries)))
        return
    print(common.machine_report())
    rows = []
    for docs in (int(s) for s in args.sizes.split(",")):
        corpus_file(docs)
        results = {}
        for engine in args.engines.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", engine, "--docs", str(docs),
                                  "--queries", str(args.queries)], capture_output=True, text=True, check=True)
            results[engine] = json.loads(out.stdout.strip().splitlines()[-1])
        for engine, r in results.items():
            server = f"{r['server_rss_mb']:.0f}" if r["server_rss_mb"] else "-"
            rows.append(f"| {docs:,} | {engine} | {r['build_s']:.1f} | {r['splade']['p50_ms']:.2f} / {r['splade']['p95_ms']:.2f} "
                        f"| {r['bm25']['p50_ms']:.2f} / {r['bm25']['p95_ms']:.2f} | {r['rss_mb']:.0f} | {server} |")
            if "splade_whole_matrix" in r:
                ref = r["splade_whole_matrix"]
                same_tops = sum(a == b for a, b in zip(ref["tops"], r["splade"]["tops"]))
                rows.append(f"| {docs:,} | memory, whole-matrix product (reference) | | {ref['p50_ms']:.2f} / "
                            f"{ref['p95_ms']:.2f} (postings: {ref['p50_ms'] / r['splade']['p50_ms']:.1f}x faster at "
                            f"p50; same top-10 and scores on {same_tops}/{args.queries}) | | | |")
        if {"memory", "milvus"} <= set(results):
            same = {m: agree(results["memory"][m]["tops"], results["milvus"][m]["tops"]) for m in ("splade", "bm25")}
            rows.append(f"| {docs:,} | top-10 agreement | | " + " | ".join(
                f"ids {i}/{args.queries}, up to near-ties {n}/{args.queries}, max score diff {w:.1e}"
                for i, n, w in (same["splade"], same["bm25"])) + " | | |")
    print("\n| docs | engine | build s | SPLADE p50 / p95 ms | BM25 p50 / p95 ms | peak RSS MB (Python) | peak RSS MB (milvus-lite server) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
