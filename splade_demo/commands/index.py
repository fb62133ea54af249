"""`index [--corpus PATH]`: encode the corpus with SPLADE and cache the vectors on disk."""

from __future__ import annotations

import argparse
import time

from splade_demo.commands import TqdmProgress, add_common
from splade_demo.config import load_settings
from splade_demo.data.corpus import load_corpus


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="encode and cache the SPLADE document vectors (progress bar)")
    add_common(parser, corpus=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, object]:
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder
    from splade_demo.retrieval.splade_index import load_or_build_index

    settings = load_settings()
    corpus = load_corpus(args.corpus or settings.corpus)
    encoder = SpladeEncoder(load_mlm(settings.splade_model), precision=settings.precision, owns_model=True)
    start = time.perf_counter()
    index = load_or_build_index(encoder, corpus, settings.cache_dir, progress=TqdmProgress())
    report: dict[str, object] = {
        "path": str(index.path) if index.path else None,
        "cached": index.from_cache,
        "model": settings.splade_model,
        "corpus": corpus.name,
        "precision": encoder.precision,
        **index.stats(),
        "seconds": round(time.perf_counter() - start, 2),
        "size_bytes": index.path.stat().st_size if index.path and index.path.is_file() else None,
    }
    if encoder.precision_note:
        report["precision_note"] = encoder.precision_note
    if index.save_error:
        report["save_error"] = index.save_error
    return report
