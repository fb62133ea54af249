"""How long the `demo` SPLADE index takes at BERT-base size, against sentence-transformers on the same passages.

    python benchmarks/bench_demo_size.py            # about 2 minutes on 2 cores
    python benchmarks/bench_demo_size.py --full     # and the whole index, built as the app builds it: 2-4 more
    python benchmarks/bench_demo_size.py --variants --n 24   # the CPU variants of issue #22 too
    python benchmarks/bench_demo_size.py --n 24 --profile    # and where the default path's time goes

`--profile` runs the default path once more under torch's profiler: each operator's share of the time, and the
matrix products' own rate in multiply-adds per cycle per core (from the model's shapes, the clock and the cores). With
the kernel libraries held to AVX2 (`ATEN_CPU_CAPABILITY=avx2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
MKL_ENABLE_INSTRUCTIONS=AVX2`) it shows how far an AVX2-only CPU's int8 kernels are from their ceiling.

Each rate is also given as a fraction of the machine's physical peak at its precision (cores x clock x multiply-adds
per cycle for the best instructions torch reports / 110M multiply-adds per BERT-base word piece, `_common.py`), and
against the previous default path (int8 at 512 padded tokens per batch) timed in the same run.

A random-init BERT-base (`BertConfig()`, the real SPLADE's exact cost; its head is biased so that its vectors are
as sparse as a trained SPLADE's, benchmarks/_common.py) encodes `--n` passages spread evenly through the corpus (as
the index encodes them: `document_text`, max_length 256) in interleaved rounds with
  * `splade_demo`'s `SpladeEncoder` at the default precision (and `--precisions`), and
  * sentence-transformers' `SparseEncoder`: torch fp32 (its default) and, where the CPU has native bf16, torch with
    the model in bf16 (its fastest CPU backend that our pins allow).
Each method's best round gives its word pieces per second; ratios are against `SparseEncoder`'s fastest backend in
this same run. The corpus's word pieces divided by the default's rate is the index time it predicts, for the whole
corpus and for its labelled pages alone. `--full` then builds the whole index through `load_or_build_index` in a
temporary folder and prints the time it took. Target: the `demo` index in at most 120 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import _common as common  # noqa: F401 - sets sys.path and HF_HUB_OFFLINE first

import numpy as np
import torch

from splade_demo.config import DEFAULT_PRECISION
from splade_demo.data.corpus import load_corpus, load_queries
from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.models.quantize import bf16_is_native
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import document_text, load_or_build_index

if TYPE_CHECKING:
    from transformers import PretrainedConfig

TARGET_SECONDS = 120.0


PREVIOUS_DEFAULT = "int8 @512 tokens, x86/fbgemm engine (the default before)"


def methods_to_time(path: Path, loaded: LoadedMLM, precisions: list[str],
                    max_length: int, variants: bool = False) -> dict[str, Callable[[list[str]], object]]:
    """Our encoder at each precision (over `loaded`, the model at `path`), the previous default path, the CPU
    variants tried for issue #22 (`variants`), and SparseEncoder's CPU backends, by name."""
    methods: dict[str, Callable[[list[str]], object]] = {}
    for precision in precisions:
        encoder = SpladeEncoder(loaded, precision, max_length)  # type: ignore[arg-type]
        label = precision if encoder.precision == precision else f"{precision} (fell back to {encoder.precision})"
        methods[f"SpladeEncoder {label}"] = encoder.encode_documents
    methods[f"SpladeEncoder {PREVIOUS_DEFAULT}"] = int8_with_engine(loaded, max_length, "x86", 512)
    if variants:
        for engine in ("x86", "onednn"):
            for tokens in (1024, 2048, 4096):
                methods[f"SpladeEncoder int8 @{tokens} tokens, {engine} engine"] = int8_with_engine(
                    loaded, max_length, engine, tokens)
        if bf16_is_native():
            for tokens in (512, 1024, 4096):
                methods[f"SpladeEncoder bf16 @{tokens} tokens"] = SpladeEncoder(
                    loaded, "bf16", max_length, max_batch_tokens=tokens).encode_documents
    reference = common.sparse_encoder_reference(path, max_length)
    methods["SparseEncoder fp32"] = lambda texts: reference.encode_document(texts, show_progress_bar=False)
    if bf16_is_native():
        reference_bf16 = common.sparse_encoder_reference(path, max_length, bf16=True)
        methods["SparseEncoder bf16"] = lambda texts: reference_bf16.encode_document(texts, show_progress_bar=False)
    return methods


def int8_with_engine(loaded: LoadedMLM, max_length: int, engine: str, tokens: int) -> Callable[[list[str]], object]:
    """An int8 encoder whose copy was packed for torch's quantized `engine`, run under that engine."""
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        encoder = SpladeEncoder(loaded, "int8", max_length, max_batch_tokens=tokens)
    finally:
        torch.backends.quantized.engine = before

    def encode(texts: list[str]) -> object:
        previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = engine
        try:
            return encoder.encode_documents(texts)
        finally:
            torch.backends.quantized.engine = previous

    return encode


# The operators that run the Linear layers and the vocabulary head, per precision path (self time: the kernels).
MATRIX_PRODUCT_OPS = frozenset({"quantized::linear_dynamic", "aten::addmm", "aten::mm"})


def linear_macs_per_word_piece(config: PretrainedConfig) -> int:
    """Multiply-adds per word piece in a BERT encoder's Linear layers and its MLM head (attention's own products,
    which grow with the length, left out): per layer Q, K, V, output (4 h^2) and the feed-forward pair (2 h i), then
    the head's transform (h^2) and decoder (h x vocabulary). BERT-base (12 layers, h 768, i 3,072, 30,522 terms;
    Devlin et al. 2019): 109.0M."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    return layers * (4 * h * h + 2 * h * i) + h * h + h * config.vocab_size


def profile_default(encode: Callable[[list[str]], object], sample: list[str], sample_tokens: int,
                    macs_per_word_piece: int) -> None:
    """Print the default path's operators by share of the time (torch profiler, one encode of `sample`) and the
    matrix products' multiply-adds per cycle per core."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        encode(sample)
        wall = time.perf_counter() - start
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    print(f"\n   where the default path's time goes ({sample_tokens / wall:,.0f} word pieces/s under the profiler, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}):")
    for event in events[:6]:
        print(f"   {event.key:56s} {event.self_cpu_time_total / total:6.1%}")
    share = sum(e.self_cpu_time_total for e in events if e.key in MATRIX_PRODUCT_OPS) / total
    clock, source = common.cpu_clock_ghz()
    cores = min(common.usable_cores(), torch.get_num_threads())
    rate = sample_tokens * macs_per_word_piece / (wall * share) if share else float("nan")
    print(f"   matrix products: {share:.1%} of the time, {macs_per_word_piece / 1e6:.1f}M multiply-adds per word "
          f"piece, {rate / 1e9:.1f} GMAC/s = {rate / (cores * clock * 1e9):.1f} per cycle per core "
          f"({cores} cores x {clock:.2f} GHz, {source})")
    if share:
        print(f"   a build 1.5x as fast needs them {share / (1 / 1.5 - (1 - share)):.2f}x as fast"
              if share > 1 - 1 / 1.5 else "   a build 1.5x as fast cannot come from the matrix products alone")


def precision_of(name: str) -> str:
    return next((p for p in ("int8", "bf16") if f" {p}" in name), "fp32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="demo", help="demo, full, or a path (default demo)")
    parser.add_argument("--n", type=int, default=64, help="passages to time (default 64)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds; the best one counts")
    parser.add_argument("--precisions", default=DEFAULT_PRECISION,
                        help=f"our precisions to time, comma-separated (default {DEFAULT_PRECISION}, the default)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--full", action="store_true", help="also build the whole index at the default precision")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the default path once: operators' shares, matrix products' MACs/cycle")
    parser.add_argument("--variants", action="store_true",
                        help="also time the CPU variants tried for issue #22 (int8 batch sizes and engines, bf16 batches)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(common.machine_report())
    path = common.random_bert_base_dir("splade")
    corpus = load_corpus(args.corpus)
    texts = [document_text(p) for p in corpus.passages]
    loaded = load_mlm(str(path))
    counter = SpladeEncoder(loaded, "fp32", args.max_length)
    tokens = np.minimum(counter.token_lengths(texts), counter.max_length)
    picks = np.unique(np.linspace(0, len(texts) - 1, args.n).round().astype(int))
    sample = [texts[int(i)] for i in picks]
    sample_tokens = int(tokens[picks].sum())
    print(f"\n`{args.corpus}`: {len(texts)} passages, {int(tokens.sum()):,} word pieces as encoded (mean "
          f"{tokens.mean():.0f}); timing {len(sample)} of them ({sample_tokens:,} word pieces, mean "
          f"{sample_tokens / len(sample):.0f}) at BERT-base size, {torch.get_num_threads()} threads")

    methods = methods_to_time(path, loaded, [p.strip() for p in args.precisions.split(",") if p.strip()], args.max_length,
                              args.variants)
    for fn in methods.values():  # warm-up: first-call allocations, kernel selection
        fn(sample[:2])
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    for round_ in range(args.rounds):
        for name, fn in methods.items():
            start = time.perf_counter()
            fn(sample)
            seconds[name].append(time.perf_counter() - start)
        print(f"   round {round_ + 1}/{args.rounds} done (load {common.load_average()})")
    rates = {name: sample_tokens / min(times) for name, times in seconds.items()}
    fastest = max((name for name in rates if name.startswith("SparseEncoder")), key=rates.__getitem__)
    previous = rates[f"SpladeEncoder {PREVIOUS_DEFAULT}"]
    print(f"\n   {'method':64s} {'word pieces/s':>14s} {'x ' + fastest:>22s} {'x before':>9s} {'of peak':>8s}")
    for name, rate in rates.items():
        peak, _ = common.peak_word_pieces_per_s(precision_of(name))
        print(f"   {name:64s} {rate:14,.0f} {rate / rates[fastest]:22.2f} {rate / previous:9.2f} {rate / peak:8.1%}")
    for precision in ("fp32", "bf16", "int8"):
        peak, how = common.peak_word_pieces_per_s(precision)
        print(f"   peak at {precision}: {peak:,.0f} word pieces/s = {how}")

    default = next(name for name in rates if name.startswith(f"SpladeEncoder {DEFAULT_PRECISION}"))
    if args.profile:
        profile_default(methods[default], sample, sample_tokens, linear_macs_per_word_piece(loaded.model.config))
    rate = rates[default]
    labelled = {page for q in load_queries() for page in q.rel}
    in_labelled = np.array([p.source in labelled for p in corpus.passages])
    for label, mask in ((f"`{args.corpus}`", np.ones(len(texts), dtype=bool)), ("its labelled pages alone", in_labelled)):
        predicted = int(tokens[mask].sum()) / rate
        print(f"   {label}: {int(mask.sum())} passages, {int(tokens[mask].sum()):,} word pieces: about {predicted:.0f} s "
              f"at {default}'s rate; target <= {TARGET_SECONDS:.0f} s: {common.verdict(predicted <= TARGET_SECONDS)}")

    if args.full:
        encoder = SpladeEncoder(load_mlm(str(path)), DEFAULT_PRECISION, args.max_length, owns_model=True)
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            index = load_or_build_index(encoder, corpus, Path(cache))
            built = time.perf_counter() - start
        nnz = np.diff(index.matrix.indptr)
        print(f"\n   the whole `{args.corpus}` index at {encoder.precision}, built as the app builds it: {built:.1f} s, "
              f"{int(tokens.sum()) / built:,.0f} word pieces/s, {nnz.mean():.0f} terms per passage (mean); "
              f"target <= {TARGET_SECONDS:.0f} s: {common.verdict(built <= TARGET_SECONDS)}")
    print(f"load average at the end: {common.load_average()}")


if __name__ == "__main__":
    main()
