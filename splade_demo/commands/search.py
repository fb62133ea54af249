"""`search QUERY --method bm25|glove-bm25|splade|hybrid [--k 10] [--corpus PATH]`."""

from __future__ import annotations

import argparse

from splade_demo.commands import TqdmProgress, UsageError, add_common, clean_text
from splade_demo.config import load_settings
from splade_demo.retrieval.pipeline import METHODS, Pipeline

MAX_K = 1000


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="rank passages for a query")
    parser.add_argument("query", help="the search query")
    parser.add_argument("--method", default="bm25", choices=METHODS)
    parser.add_argument("--k", type=int, default=10, help="number of results (1-1000)")
    add_common(parser, corpus=True, engine=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    query = clean_text(args.query)
    if not 1 <= args.k <= MAX_K:
        raise UsageError(f"--k must be between 1 and {MAX_K}")
    pipeline = Pipeline.from_settings(load_settings(), args.corpus, progress=TqdmProgress(), engine_spec=args.engine)
    return [hit.as_contract() for hit in pipeline.rank(args.method, query, args.k)]

