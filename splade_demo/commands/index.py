"""`index [--corpus PATH]`: encode the corpus with SPLADE and cache the vectors on disk.

A tqdm bar shows the progress (`initial` = passages already done by an interrupted build, which resumes from its
saved batches, as the app's background build does). `--json` reports passages, tokens, seconds and tokens/s:
word pieces encoded in this run (truncation applied) per second of this run."""

from __future__ import annotations

import argparse
import time

from splade_demo.commands import TqdmProgress, UsageError, add_common
from splade_demo.config import load_settings
from splade_demo.data.corpus import load_corpus


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="encode and cache the SPLADE document vectors (progress bar)")
    add_common(parser, corpus=True)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="passages per batch (default 16); a resumed build needs the batch size it began with")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, object]:
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder
    from splade_demo.retrieval.splade_index import DEFAULT_BATCH_SIZE, load_or_build_index

    settings = load_settings()
    batch_size = DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, not {batch_size}")
    corpus = load_corpus(args.corpus or settings.corpus)
    encoder = SpladeEncoder(load_mlm(settings.splade_model), precision=settings.precision, owns_model=True)
    start = time.perf_counter()
    index = load_or_build_index(encoder, corpus, settings.cache_dir, progress=TqdmProgress(), batch_size=batch_size)
    seconds = time.perf_counter() - start
    report: dict[str, object] = {
        "path": str(index.path) if index.path else None,
        "cached": index.from_cache,
        "model": settings.splade_model,
        "corpus": corpus.name,
        "precision": encoder.precision,
        "passages": len(index),
        "resumed": index.resumed,
        "tokens": index.encoded_tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(index.encoded_tokens / seconds, 1) if index.encoded_tokens and seconds > 0 else None,
        **index.stats(),
        "size_bytes": index.path.stat().st_size if index.path and index.path.is_file() else None,
    }
    if encoder.precision_note:
        report["precision_note"] = encoder.precision_note
    if index.save_error:
        report["save_error"] = index.save_error
    return report
