"""Document-encoding throughput against sentence-transformers' SparseEncoder, and ranking fidelity.

    python benchmarks/bench_encode.py            # about 4-5 minutes on 2 cores

Part 1 (speed): a random-init BERT-base (the real SPLADE's exact cost) encodes the same passages
of the `demo` corpus (max_length 256) with
  * the reference: `SparseEncoder(modules=[MLMTransformer(path, max_seq_length=256), SpladePooling("max")])`
    `.encode_document(texts)` with its defaults,
  * where the CPU has native bf16, the same with the model loaded in bf16: sentence-transformers' fastest CPU
    backend here (its ONNX/OpenVINO backends cannot be installed next to transformers 5), and
  * `splade_demo.retrieval.splade_encoder.SpladeEncoder` at each precision (fp32, int8, bf16 where the CPU has native bf16).
Methods run in interleaved rounds (reference, fp32, int8, ... then again), so load from other
processes hits them alike; each method's best round is its throughput, and ratios are against the
reference's best round in this same run. fp32 is also checked against the reference's vectors.

Part 2 (fidelity): the real tiny SPLADE indexes `demo` at fp32 and at each candidate precision
(`load_or_build_index`; the fp32 index is reused from the bench folder unless `--fresh`, the
candidates are always built afresh), ranks every labelled query
(corpus/queries.jsonl) and compares the top-10 *page* lists: overlap@10 averaged over queries.
A default precision must keep it >= 0.95. Page titles of the corpus serve as extra queries
(reported apart, for a larger sample).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import _common as common  # noqa: F401 - sets sys.path and HF_HUB_OFFLINE first

import numpy as np
import torch

from splade_demo.data.corpus import Corpus, load_corpus, load_queries
from splade_demo.retrieval.evaluation import evaluate, mean_metrics
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.ranking import pages_in_order, top_k
from splade_demo.models.quantize import bf16_copy, bf16_is_native, quantized_copy
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import document_text, load_or_build_index

REFERENCE = "SparseEncoder (reference)"
REFERENCE_BF16 = "SparseEncoder bf16"
TARGET_RATIO = 2.0
TARGET_AGREEMENT = 0.95


def sample_passages(corpus: Corpus, n: int) -> list[str]:
    """`n` passages spread evenly through the corpus (so lengths are representative), as the index encodes them."""
    picks = np.unique(np.linspace(0, len(corpus.passages) - 1, n).round().astype(int))
    return [document_text(corpus.passages[int(i)]) for i in picks]


def throughput(args: argparse.Namespace) -> dict[str, float]:
    path = common.random_bert_base_dir("splade")
    texts = sample_passages(load_corpus("demo"), args.n)
    loaded = load_mlm(str(path))
    lengths = SpladeEncoder(loaded, "fp32", args.max_length).token_lengths(texts)
    effective = np.minimum(lengths, args.max_length)
    print(f"\n== Part 1: document encoding, random-init BERT-base ({path.name}), {len(texts)} demo passages, "
          f"max_length {args.max_length}")
    print(f"   word pieces per passage after truncation: mean {effective.mean():.0f}, median {np.median(effective):.0f}, "
          f"{int((lengths > args.max_length).sum())} truncated; {int(effective.sum())} tokens in all")

    reference = common.sparse_encoder_reference(path, args.max_length)
    methods: dict[str, object] = {REFERENCE: lambda t: reference.encode_document(t, show_progress_bar=False)}
    if bf16_is_native():  # sentence-transformers' fastest CPU backend here: its torch backend with bf16 weights
        reference_bf16 = common.sparse_encoder_reference(path, args.max_length, bf16=True)
        methods[REFERENCE_BF16] = lambda t: reference_bf16.encode_document(t, show_progress_bar=False)
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    notes: list[str] = []
    for precision in precisions:
        if precision == "bf16" and not bf16_is_native() and not args.force_bf16:
            notes.append("bf16: skipped, this CPU lacks native bf16 (no avx512_bf16/AMX): oneDNN would emulate it "
                         "(use --force-bf16 to time it on a few passages anyway)")
            continue
        encoder = SpladeEncoder(loaded, precision, args.max_length)  # type: ignore[arg-type]
        if precision == "bf16" and args.force_bf16 and encoder.precision != "bf16":
            # Time the emulated path that the encoder refuses to take here: an encoder over a bf16 copy of the model.
            encoder = SpladeEncoder(dataclasses.replace(loaded, model=bf16_copy(loaded.model)), "fp32", args.max_length)
            notes.append("bf16: forced although emulated here; timed on 4 passages")
        elif encoder.precision != precision:
            notes.append(f"{precision}: the encoder fell back to {encoder.precision} ({encoder.precision_note})")
        methods[f"SpladeEncoder {precision}"] = (lambda e: (lambda t: e.encode_documents(t, batch_size=args.batch_size)))(encoder)
    for note in notes:
        print(f"   note: {note}")

    subset = texts[:4] if args.force_bf16 else texts  # emulated bf16 is ~20x slower: time it on a few passages
    for name, fn in methods.items():  # warm-up: first-call allocations, oneDNN/fbgemm kernel selection
        fn(texts[:2])

    times: dict[str, list[float]] = {name: [] for name in methods}
    outputs: dict[str, object] = {}
    for round_ in range(args.rounds):
        for name, fn in methods.items():
            batch = subset if (args.force_bf16 and "bf16" in name) else texts
            start = time.perf_counter()
            out = fn(batch)
            times[name].append((time.perf_counter() - start) / len(batch))
            outputs[name] = out
        print(f"   round {round_ + 1}/{args.rounds} done (load {common.load_average()})")

    best_ref = min(times[REFERENCE])
    print(f"\n   {'method':30s} {'docs/s (best)':>14s} {'docs/s (median)':>16s} {'x reference':>12s} {'x ref, paired median':>21s}")
    rates: dict[str, float] = {}
    for name, secs in times.items():
        rate = 1.0 / min(secs)
        rates[name] = rate
        paired = statistics.median(r / s for r, s in zip(times[REFERENCE], secs))
        print(f"   {name:30s} {rate:14.2f} {1.0 / statistics.median(secs):16.2f} {best_ref / min(secs):12.2f} {paired:21.2f}")
    tokens_per_doc = float(effective.mean())
    fastest = max((name for name in rates if name.startswith("SparseEncoder")), key=rates.__getitem__)
    for name, rate in rates.items():
        if name.startswith("SpladeEncoder"):
            print(f"   {name}: {rate * tokens_per_doc:,.0f} tokens/s; {verdict_ratio(rate / rates[REFERENCE])}; "
                  f"{rate / rates[fastest]:.2f}x SparseEncoder's fastest backend here ({fastest})")
    demo_tokens = demo_token_estimate(loaded, args.max_length)
    for name, rate in rates.items():
        print(f"   at this rate {name} indexes `demo` ({demo_tokens[0]} passages) in about "
              f"{demo_tokens[0] / rate / 60 * demo_tokens[1] / tokens_per_doc:.1f} min")

    linear_ceiling(int(round(tokens_per_doc)) * 4)

    # Exactness and fidelity of the vectors (random weights: a sanity check, not a ranking check).
    ref_dense = as_dense(outputs[REFERENCE])
    for name, out in outputs.items():
        if name == REFERENCE or "bf16" in name and args.force_bf16:
            continue
        dense = as_dense(out)
        diff = float(np.abs(dense - ref_dense).max())
        cos = np.sum(dense * ref_dense, 1) / (np.linalg.norm(dense, axis=1) * np.linalg.norm(ref_dense, axis=1))
        print(f"   {name} vs reference vectors: max |diff| {diff:.2e}, cosine min {cos.min():.5f}")
    return rates


def as_dense(vectors: object) -> np.ndarray:
    """(docs, vocab) float32 from our CSR matrix or SparseEncoder's (sparse) tensor or list of tensors."""
    if hasattr(vectors, "toarray"):
        return vectors.toarray()
    tensor = vectors if isinstance(vectors, torch.Tensor) else torch.stack(list(vectors))
    return tensor.to_dense().float().numpy()


def linear_ceiling(tokens: int) -> None:
    """What int8 can gain at most here: BERT-base's Linear layers alone, fp32 vs dynamic int8 (per channel).

    Linear layers are about 90 % of an encode's FLOPs (the MLM head 21 %); the rest (attention, GELU,
    LayerNorm) stays fp32. Without VNNI (AVX2 only), int8 dot products take two instructions per step,
    so int8 matrix products are well short of 4x fp32 here.
    """
    shapes = {"attention q/k/v/out, 768->768, x48": (768, 768, 48), "feed-forward in, 768->3072, x12": (768, 3072, 12),
              "feed-forward out, 3072->768, x12": (3072, 768, 12), "head transform, 768->768, x1": (768, 768, 1),
              "MLM head, 768->30522, x1": (768, 30522, 1)}
    fp32_total = int8_total = 0.0
    print(f"\n   What int8 can gain here: BERT-base's Linear layers alone on one batch of {tokens} tokens, ms per forward pass:")
    for label, (n_in, n_out, count) in shapes.items():
        layer = torch.nn.Sequential(torch.nn.Linear(n_in, n_out)).eval()
        x = torch.randn(tokens, n_in)
        int8_layer = quantized_copy(layer)
        with torch.inference_mode():
            times = {}
            for name, module in (("fp32", layer), ("int8", int8_layer)):
                module(x)
                times[name] = min(_timed(lambda: module(x)) for _ in range(3)) * 1000 * count
        fp32_total += times["fp32"]
        int8_total += times["int8"]
        print(f"     {label:38s} fp32 {times['fp32']:7.1f}  int8 {times['int8']:7.1f}  ({times['fp32'] / times['int8']:.2f}x)")
    print(f"     all Linear layers: int8 is {fp32_total / int8_total:.2f}x fp32 on this CPU (their share of an encode is "
          "the most int8 can speed up)")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def verdict_ratio(ratio: float) -> str:
    return f"{ratio:.2f}x the reference, target >= {TARGET_RATIO}x: {common.verdict(ratio >= TARGET_RATIO)}"


def demo_token_estimate(loaded, max_length: int) -> tuple[int, float]:
    corpus = load_corpus("demo")
    lengths = SpladeEncoder(loaded, "fp32", max_length).token_lengths([document_text(p) for p in corpus.passages])
    return len(corpus), float(np.minimum(lengths, max_length).mean())


def page_overlap(a: list[str], b: list[str], k: int = 10) -> float:
    """|top-k pages of a ∩ top-k pages of b| / k (both lists shorter than k: over the longer one)."""
    a, b = a[:k], b[:k]
    denominator = max(len(a), len(b))
    return len(set(a) & set(b)) / denominator if denominator else 1.0


def agreement(args: argparse.Namespace) -> dict[str, float]:
    tiny = common.tiny_splade_dir()
    corpus = load_corpus("demo")
    loaded = load_mlm(str(tiny))
    queries = load_queries()
    titles = sorted({p.title for p in corpus.passages})[: args.extra_queries]
    print(f"\n== Part 2: ranking fidelity, real tiny SPLADE ({tiny}), `demo` ({len(corpus)} passages), "
          f"{len(queries)} labelled queries (+{len(titles)} page titles as extra queries)")
    candidates = [p.strip() for p in args.agreement_precisions.split(",") if p.strip() and p.strip() != "fp32"]
    results: dict[str, float] = {}
    # fp32 is exact and deterministic: its index may come from the bench cache. Candidates are what is
    # being tested, so they are always built afresh (the cache key does not know how int8 is made).
    with tempfile.TemporaryDirectory(prefix="splade_bench_cache_") as fresh:
        indexes = {}
        for precision in ["fp32", *candidates]:
            encoder = SpladeEncoder(loaded, precision, args.max_length)  # type: ignore[arg-type]
            if encoder.precision != precision:
                print(f"   {precision}: encoder fell back to {encoder.precision} ({encoder.precision_note}); skipped")
                continue
            cache = common.BENCH_DIR / "cache" if precision == "fp32" and not args.fresh else Path(fresh)
            start = time.perf_counter()
            index = load_or_build_index(encoder, corpus, cache)
            stats = index.stats()
            how = "loaded from the bench cache" if index.from_cache else f"built in {time.perf_counter() - start:.1f} s"
            print(f"   {precision} index {how}: nnz/doc mean {stats['nnz_mean']:.0f}, median {stats['nnz_median']:.0f}")
            indexes[precision] = (encoder, index)
        fp32_index = indexes["fp32"][1]

        def pages(precision: str, text: str, query_precision: str | None = None) -> tuple[list[str], list[str]]:
            index = indexes[precision][1]
            query_encoder = indexes[query_precision or precision][0]
            hits = top_k(index.scores(query_encoder.encode_query(text).vector), corpus, 200)
            return pages_in_order(hits)[:10], [h.id for h in hits[:10]]

        for precision in indexes:
            if precision == "fp32":
                continue
            for label, texts in (("labelled queries", [q.text for q in queries]), ("page-title queries", titles)):
                page_scores, passage_scores = [], []
                for text in texts:
                    ref_pages, ref_ids = pages("fp32", text)
                    cand_pages, cand_ids = pages(precision, text)
                    page_scores.append(page_overlap(ref_pages, cand_pages))
                    passage_scores.append(page_overlap(ref_ids, cand_ids))
                mean_pages = float(np.mean(page_scores)) if page_scores else float("nan")
                if label == "labelled queries":
                    results[precision] = mean_pages
                print(f"   {precision} vs fp32 (queries and documents), {label} (n={len(texts)}): top-10 page overlap "
                      f"{mean_pages:.3f} (min {min(page_scores, default=float('nan')):.2f}), passage overlap@10 "
                      f"{np.mean(passage_scores):.3f}" + (f"; target >= {TARGET_AGREEMENT}: "
                      f"{common.verdict(mean_pages >= TARGET_AGREEMENT)}" if label == "labelled queries" else ""))
            documents_only = [page_overlap(pages("fp32", q.text)[0], pages(precision, q.text, "fp32")[0]) for q in queries]
            print(f"   for comparison, {precision} documents with fp32 queries: top-10 page overlap "
                  f"{np.mean(documents_only):.3f} on the labelled queries")
            evaluated = evaluate(queries, lambda text: {name: top_k(indexes[name][1].scores(
                indexes[name][0].encode_query(text).vector), corpus, 1000) for name in ("fp32", precision)})
            quality = {name: mean_metrics(results) for name, results in evaluated.items()}
            print(f"   page-level nDCG@10 / R@10 / RR over the labelled queries: "
                  + "; ".join(f"{name} {m['nDCG@10']:.3f} / {m['R@10']:.3f} / {m['RR']:.3f}" for name, m in quality.items()))
            diff = np.abs(indexes[precision][1].matrix - fp32_index.matrix)
            print(f"   {precision} vs fp32 document weights: max |diff| {diff.max():.3f}, "
                  f"mean |diff| over fp32 non-zeros {diff.sum() / max(fp32_index.matrix.nnz, 1):.4f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=64, help="demo passages to encode (default 64)")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16, help="SpladeEncoder batch size (the index's default)")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (best round counts)")
    parser.add_argument("--precisions", default="fp32,int8,bf16", help="SpladeEncoder precisions to time")
    parser.add_argument("--force-bf16", action="store_true", help="time bf16 even where it is emulated (4 passages)")
    parser.add_argument("--agreement-precisions", default="int8,bf16", help="precisions compared with fp32 in part 2")
    parser.add_argument("--extra-queries", type=int, default=60, help="page titles used as extra queries in part 2")
    parser.add_argument("--fresh", action="store_true", help="rebuild part 2's fp32 index too, instead of reusing "
                        "it from the bench cache (SPLADE_BENCH_DIR, default /tmp/splade_demo_bench)")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-agreement", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(common.machine_report())
    print(f"bf16: {'native (oneDNN bf16 kernels)' if bf16_is_native() else 'not native here: oneDNN would emulate it'}")
    started = time.perf_counter()
    if not args.skip_speed:
        throughput(args)
    if not args.skip_agreement:
        if "bf16" in args.agreement_precisions and not bf16_is_native():
            args.agreement_precisions = ",".join(p for p in args.agreement_precisions.split(",") if p.strip() != "bf16")
            print("\n   (bf16 left out of part 2: emulated here, so it would be slower than fp32 and never the default)")
        agreement(args)
    print(f"\nload average at the end: {common.load_average()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
