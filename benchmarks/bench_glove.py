"""Benchmark the static vectors (issue 3): cold and warm load, and a 5-word query's neighbours.

Run by hand from the repository root:  python benchmarks/bench_glove.py [--repeats 3]

Loads run in fresh subprocesses (as a new app server would), each against a cache folder of
its own: "cold" converts the wheel into gensim's native format first, "warm" memory-maps the
converted files. Times are split into importing gensim and loading the vectors. The files stay
in the OS page cache between runs, so "cold" means "not converted yet", not "not on disk yet".
Targets: warm load <= 1.5 s, neighbours of a 5-word query <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as common  # the shared machine helpers (usable cores, load average) for every OS

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

WARM_LOAD_TARGET_S = 1.5
NEIGHBOURS_TARGET_MS = 50.0
QUERY = "python memory management garbage collection"
CPU_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16", "amx_int8")

_LOAD_SCRIPT = """
import json, sys, time
from pathlib import Path
t0 = time.perf_counter()
import gensim.models  # noqa: F401
t1 = time.perf_counter()
from splade_demo.models.glove_vectors import load_vectors
vectors = load_vectors(sys.argv[1], Path(sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "words": len(vectors)}))
"""


def machine() -> str:
    """Cores, CPU model and the vector/matrix instruction flags, plus numpy's BLAS."""
    model, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model in ("", "unknown CPU", platform.machine()):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    try:
        import numpy  # noqa: F401 - load numpy's BLAS so threadpoolctl can see it
        from threadpoolctl import threadpool_info

        libraries = {f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)" for i in threadpool_info()}
        blas = ", ".join(sorted(libraries))
    except ImportError:
        blas = "unknown"
    usable = common.usable_cores()
    load = common.load_average()
    return (
        f"{model}; {os.cpu_count()} cores ({usable} usable); load average {load}\n"
        f"  CPU flags: {', '.join(f for f in CPU_FLAGS if f in flags) or 'none of ' + '/'.join(CPU_FLAGS)}\n"
        f"  Python {platform.python_version()}, BLAS: {blas}"
    )


def load_in_subprocess(name: str, cache_dir: Path) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_SCRIPT, name, str(cache_dir)],
        capture_output=True, text=True, check=True, cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def ratio(value: float, target: float) -> str:
    verdict = "meets" if value <= target else "MISSES"
    return f"{value / target:.2f}x of target ({verdict})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--vectors", default=None, help="SPLADE_DEMO_GLOVE value (default: the setting)")
    args = parser.parse_args()

    from splade_demo.config import load_settings

    name = args.vectors or load_settings().glove
    print("Machine:", machine())
    print(f"Vectors: {name}\n")

    cold, warm = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="bench_glove_") as tmp:
            cold.append(load_in_subprocess(name, Path(tmp)))
            warm.append(load_in_subprocess(name, Path(tmp)))
    med = lambda runs, key: statistics.median(r[key] for r in runs)  # noqa: E731
    print(f"Cold load (convert to native format, then mmap), median of {args.repeats} fresh processes:")
    print(f"  import gensim {med(cold, 'import_s'):.2f} s + vectors {med(cold, 'load_s'):.2f} s")
    print(f"Warm load (mmap the converted files, fill norms), median of {args.repeats} fresh processes:")
    warm_load, warm_total = med(warm, "load_s"), med(warm, "load_s") + med(warm, "import_s")
    print(f"  vectors {warm_load:.3f} s: {ratio(warm_load, WARM_LOAD_TARGET_S)}")
    print(f"  with import gensim ({med(warm, 'import_s'):.2f} s): {warm_total:.2f} s: "
          f"{ratio(warm_total, WARM_LOAD_TARGET_S)}")

    from splade_demo.explain.glove import query_neighbours
    from splade_demo.models.glove_vectors import load_vectors
    from splade_demo.retrieval.neighbours import neighbours
    from splade_demo.retrieval.glove_expansion import expand_query

    with tempfile.TemporaryDirectory(prefix="bench_glove_") as tmp:
        vectors = load_vectors(name, Path(tmp))
        words = QUERY.split()
        start = time.perf_counter()
        query_neighbours(vectors, QUERY, 10)
        first_ms = (time.perf_counter() - start) * 1000
        times, cpu_times, expand_times = [], [], []
        for _ in range(30):
            start, cpu = time.perf_counter(), time.process_time()
            rows = query_neighbours(vectors, QUERY, 10)
            times.append((time.perf_counter() - start) * 1000)
            cpu_times.append((time.process_time() - cpu) * 1000)
            start = time.perf_counter()
            expand_query(QUERY, vectors, n=3, weight=0.5)
            expand_times.append((time.perf_counter() - start) * 1000)
        assert [r.word for r in rows] == words and all(len(r.neighbours) == 10 for r in rows)
        one = [neighbours(vectors, "python", 10) for _ in range(3)]  # warm-up
        single = []
        for _ in range(30):
            start = time.perf_counter()
            neighbours(vectors, "python", 10)
            single.append((time.perf_counter() - start) * 1000)
        del one
    median_ms = statistics.median(times)
    print(f"\nNeighbours of a {len(words)}-word query ({QUERY!r}, k = 10):")
    print(f"  first call (pages not touched yet) {first_ms:.1f} ms")
    print(f"  median of 30 {median_ms:.1f} ms (min {min(times):.1f}, max {max(times):.1f}): "
          f"{ratio(median_ms, NEIGHBOURS_TARGET_MS)}")
    print(f"  CPU time of this process (all BLAS threads), median {statistics.median(cpu_times):.1f} ms")
    print(f"  one word (gensim most_similar): median {statistics.median(single):.1f} ms")
    print(f"  expand_query (n = 3, weight = 0.5): median {statistics.median(expand_times):.1f} ms")
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1):
        print(f"\nNote: the load average ({os.getloadavg()[0]:.1f}) exceeds the core count: other processes share "
              "the CPUs, so wall times are inflated. Rerun on an idle machine for the figures to compare.")


if __name__ == "__main__":
    main()
