"""`encode TEXT [--top-k 30]`: the SPLADE vector of a text, as its heaviest terms.

Prints `{"terms": [{"term", "weight"}], "nnz": int}`, weights sorted from heaviest; `nnz` counts
every non-zero term of the vector, not only the printed ones.
"""

from __future__ import annotations

import argparse

from splade_demo.commands import DownloadProgressLine, UsageError, add_common, clean_text
from splade_demo.config import load_settings
from splade_demo.retrieval.pipeline import splade_encoder

MAX_TOP_K = 30_522


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("encode", help="the SPLADE vector of a text: its heaviest terms and non-zeros")
    parser.add_argument("text", help="the text to encode (as a query)")
    parser.add_argument("--top-k", type=int, default=30, help="terms to print, heaviest first (default 30)")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, object]:
    text = clean_text(args.text, "text")
    if not 1 <= args.top_k <= MAX_TOP_K:
        raise UsageError(f"--top-k must be between 1 and {MAX_TOP_K}")
    settings = load_settings()  # the precision of the app's page 4 and of `search --method splade`
    encoder = splade_encoder(settings.splade_model, settings.precision,
                             on_progress=DownloadProgressLine(settings.splade_model))
    encoding = encoder.encode_query(text)
    terms = [{"term": term, "weight": weight} for term, weight in encoding.top_terms(encoder.vocab, args.top_k)]
    return {"terms": terms, "nnz": encoding.nnz}
