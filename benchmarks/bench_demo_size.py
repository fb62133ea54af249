"""How long the `demo` SPLADE index takes at BERT-base size, from a short timing: the demo-size lever.

    python benchmarks/bench_demo_size.py            # about 1-2 minutes on 2 cores

Encodes `--n` passages spread evenly through the corpus (as the index encodes them: `document_text`,
max_length 256) with a random-init BERT-base (`BertConfig()`, the real SPLADE's exact cost) through
`splade_demo.splade.SpladeEncoder` at the default precision, in `--rounds` rounds, and turns the best
round into word pieces per second. The corpus's word pieces (special tokens included, as encoded) divided
by that rate is the index time it predicts, printed for the corpus and for its labelled pages alone
(the part of `demo` that cannot shrink). Target: the `demo` index in at most 120 s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import _common as common  # noqa: F401 - sets sys.path and HF_HUB_OFFLINE first

import numpy as np
import torch

from splade_demo.config import DEFAULT_PRECISION
from splade_demo.data.corpus import load_corpus, load_queries
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import document_text

TARGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="demo", help="demo, full, or a path (default demo)")
    parser.add_argument("--n", type=int, default=48, help="passages to time (default 48)")
    parser.add_argument("--rounds", type=int, default=2, help="timing rounds; the best one counts (default 2)")
    parser.add_argument("--precision", default=DEFAULT_PRECISION, help=f"default {DEFAULT_PRECISION}")
    parser.add_argument("--max-length", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(common.machine_report())
    corpus = load_corpus(args.corpus)
    loaded = load_mlm(str(common.random_bert_base_dir("splade")))
    encoder = SpladeEncoder(loaded, args.precision, args.max_length)  # type: ignore[arg-type]
    if encoder.precision != args.precision:
        print(f"note: {args.precision} fell back to {encoder.precision} ({encoder.precision_note})")
    texts = [document_text(p) for p in corpus.passages]
    tokens = np.minimum(encoder.token_lengths(texts), encoder.max_length)
    picks = np.unique(np.linspace(0, len(texts) - 1, args.n).round().astype(int))
    sample = [texts[int(i)] for i in picks]
    sample_tokens = int(tokens[picks].sum())
    print(f"\n`{args.corpus}`: {len(texts)} passages, {int(tokens.sum()):,} word pieces as encoded (mean "
          f"{tokens.mean():.0f}); timing {len(sample)} of them ({sample_tokens:,} word pieces, mean "
          f"{sample_tokens / len(sample):.0f}) at {encoder.precision}, BERT-base size, "
          f"{torch.get_num_threads()} threads")

    encoder.encode_documents(sample[:2])  # warm-up: first-call allocations, kernel selection
    seconds, cpu = [], []
    for round_ in range(args.rounds):
        start, start_cpu = time.perf_counter(), time.process_time()
        encoder.encode_documents(sample)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        print(f"   round {round_ + 1}/{args.rounds}: {seconds[-1]:.1f} s, "
              f"{sample_tokens / seconds[-1]:,.0f} word pieces/s; {cpu[-1]:.1f} CPU-s, so this process had "
              f"{cpu[-1] / seconds[-1]:.2f} cores on average (load {common.load_average()})")
    rate = sample_tokens / min(seconds)
    threads = torch.get_num_threads()
    print(f"   best {rate:,.0f} word pieces/s ({len(sample) / min(seconds):.2f} passages/s); "
          f"median {sample_tokens / statistics.median(seconds):,.0f}")
    print(f"   if it had all {threads} cores ({threads} threads busy for the CPU time it used): about "
          f"{sample_tokens * threads / min(cpu):,.0f} word pieces/s (an idle-machine estimate, not measured)")

    labelled = {page for q in load_queries() for page in q.rel}
    in_labelled = np.array([p.source in labelled for p in corpus.passages])
    everything = np.ones(len(texts), dtype=bool)
    for label, mask in ((f"`{args.corpus}`", everything), ("its labelled pages alone", in_labelled)):
        total = int(tokens[mask].sum())
        predicted = total / rate
        print(f"   {label}: {int(mask.sum())} passages, {total:,} word pieces: about {predicted:.0f} s "
              f"({predicted / 60:.1f} min) at this rate; target <= {TARGET_SECONDS:.0f} s: "
              f"{common.verdict(predicted <= TARGET_SECONDS)}")
    print(f"   at this rate, {TARGET_SECONDS:.0f} s encodes about {rate * TARGET_SECONDS:,.0f} word pieces")
    print(f"load average at the end: {common.load_average()}")


if __name__ == "__main__":
    main()
