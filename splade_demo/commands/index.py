"""`index [--corpus PATH] [--engine ENGINE] [--device cpu|cuda]`: encode the corpus with SPLADE and cache the
vectors on disk (memory engine), or load the passages into their Milvus collection (resumable)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splade_demo.commands import TqdmProgress, add_common
from splade_demo.config import load_settings
from splade_demo.data.corpus import Corpus, load_corpus, resolve_corpus_path
from splade_demo.retrieval.engines import parse_engine_spec

if TYPE_CHECKING:
    from splade_demo.retrieval.splade_encoder import SpladeEncoder


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="encode and cache the SPLADE document vectors, or fill a Milvus engine")
    add_common(parser, corpus=True, engine=True)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where documents are encoded (cuda: fp32 only)")
    parser.add_argument("--rebuild", action="store_true", help="Milvus: drop this corpus's collection and index it again")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, object]:
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.device import check_device, make_encoder

    settings = load_settings()
    spec = parse_engine_spec(args.engine or settings.engine)
    check_device(args.device, settings.precision)  # before a model is loaded
    corpus_spec = args.corpus or settings.corpus
    if spec.kind == "milvus":
        from splade_demo.retrieval.engines.milvus_index import index_into_milvus

        resolve_corpus_path(corpus_spec)  # a missing file fails before the model loads
        encoder = make_encoder(load_mlm(settings.splade_model), settings.precision, args.device)
        return index_into_milvus(spec, encoder, corpus_spec, settings.cache_dir, _TqdmIndexProgress(),
                                 TqdmProgress(), rebuild=args.rebuild)
    corpus = load_corpus(corpus_spec)
    encoder = make_encoder(load_mlm(settings.splade_model), settings.precision, args.device)
    return _index_in_memory(encoder, corpus, settings.cache_dir)


def _index_in_memory(encoder: "SpladeEncoder", corpus: Corpus, cache_dir: Path) -> dict[str, object]:
    """Today's `index`: the SPLADE matrix, built once and cached on disk."""
    from splade_demo.retrieval.splade_index import load_or_build_index

    start = time.perf_counter()
    index = load_or_build_index(encoder, corpus, cache_dir, progress=TqdmProgress())
    report: dict[str, object] = {
        "path": str(index.path) if index.path else None,
        "cached": index.from_cache,
        "model": encoder.name,
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


class _TqdmIndexProgress:
    """A tqdm bar on stderr for passages loaded into Milvus."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_start(self, total: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="loading into Milvus", unit="doc")

    def on_batch(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if done >= self.bar.total:
                self.bar.close()
