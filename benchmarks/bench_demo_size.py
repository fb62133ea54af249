"""How long the `demo` SPLADE index takes at BERT-base size, against sentence-transformers on the same passages.

    python benchmarks/bench_demo_size.py            # about 2 minutes on 2 cores
    python benchmarks/bench_demo_size.py --full     # and the whole index, built as the app builds it: 2-4 more

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
from typing import Callable

import _common as common  # noqa: F401 - sets sys.path and HF_HUB_OFFLINE first

import numpy as np
import torch

from splade_demo.config import DEFAULT_PRECISION
from splade_demo.data.corpus import load_corpus, load_queries
from splade_demo.models.loading import LoadedMLM, load_mlm
from splade_demo.models.quantize import bf16_is_native
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import document_text, load_or_build_index

TARGET_SECONDS = 120.0


def methods_to_time(path: Path, loaded: LoadedMLM, precisions: list[str],
                    max_length: int) -> dict[str, Callable[[list[str]], object]]:
    """Our encoder at each precision (over `loaded`, the model at `path`) and SparseEncoder's CPU backends, by name."""
    methods: dict[str, Callable[[list[str]], object]] = {}
    for precision in precisions:
        encoder = SpladeEncoder(loaded, precision, max_length)  # type: ignore[arg-type]
        label = precision if encoder.precision == precision else f"{precision} (fell back to {encoder.precision})"
        methods[f"SpladeEncoder {label}"] = encoder.encode_documents
    reference = common.sparse_encoder_reference(path, max_length)
    methods["SparseEncoder fp32"] = lambda texts: reference.encode_document(texts, show_progress_bar=False)
    if bf16_is_native():
        reference_bf16 = common.sparse_encoder_reference(path, max_length, bf16=True)
        methods["SparseEncoder bf16"] = lambda texts: reference_bf16.encode_document(texts, show_progress_bar=False)
    return methods


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="demo", help="demo, full, or a path (default demo)")
    parser.add_argument("--n", type=int, default=64, help="passages to time (default 64)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds; the best one counts")
    parser.add_argument("--precisions", default=DEFAULT_PRECISION,
                        help=f"our precisions to time, comma-separated (default {DEFAULT_PRECISION}, the default)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--full", action="store_true", help="also build the whole index at the default precision")
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

    methods = methods_to_time(path, loaded, [p.strip() for p in args.precisions.split(",") if p.strip()], args.max_length)
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
    print(f"\n   {'method':40s} {'word pieces/s':>14s} {'x ' + fastest:>24s}")
    for name, rate in rates.items():
        print(f"   {name:40s} {rate:14,.0f} {rate / rates[fastest]:24.2f}")

    default = next(name for name in rates if name.startswith(f"SpladeEncoder {DEFAULT_PRECISION}"))
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
