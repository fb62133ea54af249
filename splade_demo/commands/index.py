"""`index [--corpus PATH] [--engine ENGINE] [--device auto|cpu|cuda|mps] [--pack OUT] [--batch-size N]`: encode the
corpus with SPLADE.

Memory engine: the vectors come from the cache, else from a matching index pack (SPLADE_DEMO_INDEX_PACK, default
corpus/packs/; a pack that does not fit is one `note:` line), else from a build. `--json` says which (`source`:
cache | pack | built). `--device auto` (default, or SPLADE_DEMO_DEVICE) encodes on cuda, then mps, then the CPU, and
says which on stderr. `--pack OUT` also writes the vectors as a pack (float16 values unless `--pack-values float32`). A tqdm bar shows the progress (`initial` = passages already done by
an interrupted build, which resumes from its saved batches, as the app's background build does). `--json` reports
passages, tokens, seconds and tokens/s: word pieces encoded in this run (truncation applied) per second of this run.
Milvus engine: the passages go into their collection (resumable, streamed for large corpora)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from splade_demo.commands import TqdmProgress, UsageError, add_common, progress_bar
from splade_demo.compute import DEVICE_CHOICES, resolve_device
from splade_demo.config import load_settings
from splade_demo.data.corpus import Corpus, load_corpus, resolve_corpus_path
from splade_demo.models.loading import load_mlm
from splade_demo.retrieval.engines import parse_engine_spec

if TYPE_CHECKING:
    from splade_demo.retrieval.splade_encoder import SpladeEncoder


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("index", help="encode and cache the SPLADE document vectors, or fill a Milvus engine")
    add_common(parser, corpus=True, engine=True)
    parser.add_argument("--device", default=None, choices=DEVICE_CHOICES,
                        help="where documents are encoded (default: SPLADE_DEMO_DEVICE, else auto: cuda, then mps, then cpu)")
    parser.add_argument("--pack", default=None, metavar="OUT", help="also write the document vectors as an index pack")
    parser.add_argument("--pack-values", default="float16", choices=("float16", "float32"),
                        help="the pack's value type (default float16: half the size, scores within float16 rounding)")
    parser.add_argument("--rebuild", action="store_true", help="Milvus: drop this corpus's collection and index it again")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="passages per batch (default 16); a resumed build needs the batch size it began with")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, object]:
    from splade_demo.retrieval.device import make_encoder  # lazy, as below: torch, which other commands never load
    from splade_demo.retrieval.splade_index import DEFAULT_BATCH_SIZE

    settings = load_settings()
    spec = parse_engine_spec(args.engine or settings.engine)
    try:
        device = resolve_device(args.device)  # before a model is loaded
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    batch_size = DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, not {batch_size}")
    if args.pack and spec.kind == "milvus":
        raise UsageError("--pack writes the in-memory index: use it without a Milvus engine")
    corpus_spec = args.corpus or settings.corpus
    print(f"note: device {device.device} ({device.reason})", file=sys.stderr)
    if spec.kind == "milvus":
        from splade_demo.retrieval.engines.milvus_index import index_into_milvus

        resolve_corpus_path(corpus_spec)  # a missing file fails before the model loads
        encoder = make_encoder(load_mlm(settings.splade_model), settings.precision, device.device)
        return index_into_milvus(spec, encoder, corpus_spec, settings.cache_dir, _TqdmIndexProgress(),
                                 TqdmProgress(), rebuild=args.rebuild, batch_size=batch_size)
    corpus = load_corpus(corpus_spec)
    encoder = make_encoder(load_mlm(settings.splade_model), settings.precision, device.device)
    report = _index_in_memory(encoder, corpus, settings.cache_dir, batch_size, args.pack, args.pack_values)
    return {**report, "device": device.device}


def _index_in_memory(encoder: "SpladeEncoder", corpus: Corpus, cache_dir: Path, batch_size: int,
                     pack: str | None = None, pack_values: str = "float16") -> dict[str, object]:
    """The SPLADE matrix from the cache, a matching pack or a build (resuming an interrupted one), cached on disk."""
    from splade_demo.retrieval.splade_index import load_or_build_index, write_index_pack

    start = time.perf_counter()
    index = load_or_build_index(encoder, corpus, cache_dir, progress=TqdmProgress(), batch_size=batch_size)
    seconds = round(time.perf_counter() - start, 3)  # tokens/s below is computed from this very figure
    if index.pack_note:
        print(f"note: {index.pack_note}; built here instead", file=sys.stderr)
    report: dict[str, object] = {
        "source": index.origin,
        "path": str(index.path) if index.path else None,
        "cached": index.from_cache,
        "model": encoder.name,
        "corpus": corpus.name,
        "precision": index.precision,
        "values": index.values,
        "passages": len(index),
        "resumed": index.resumed,
        "tokens": index.encoded_tokens,
        "seconds": seconds,
        "tokens_per_s": round(index.encoded_tokens / seconds, 1) if index.encoded_tokens and seconds > 0 else None,
        **index.stats(),
        "size_bytes": index.path.stat().st_size if index.path and index.path.is_file() else None,
    }
    if encoder.precision_note:
        report["precision_note"] = encoder.precision_note
    if index.pack_note:
        report["pack_note"] = index.pack_note
    if index.save_error:
        report["save_error"] = index.save_error
    if pack:
        try:
            written = write_index_pack(index, encoder, Path(pack), cache_dir, pack_values)
        except (OSError, ValueError) as exc:
            raise UsageError(f"the pack could not be written to {pack}: {exc}") from None
        report["pack"] = {"path": str(written), "size_bytes": written.stat().st_size, "values": pack_values}
    return report


class _TqdmIndexProgress:
    """A tqdm bar on stderr for passages loaded into Milvus."""

    def __init__(self) -> None:
        self.bar: Any = None

    def on_start(self, total: int) -> None:
        self.bar = progress_bar(total=total, desc="loading into Milvus", unit="doc")

    def on_batch(self, done: int) -> None:
        if self.bar is not None:
            self.bar.update(done - self.bar.n)
            if done >= self.bar.total:
                self.bar.close()
