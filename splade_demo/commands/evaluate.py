"""`evaluate [--queries PATH] [--methods bm25,splade] [--corpus PATH]`: page-level metrics."""

from __future__ import annotations

import argparse

from splade_demo.commands import TqdmProgress, UsageError, add_common
from splade_demo.config import load_settings
from splade_demo.data.corpus import load_queries
from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate, mean_metrics
from splade_demo.retrieval.pipeline import METHODS, Pipeline


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="nDCG@10, R@10 and RR over labelled queries")
    parser.add_argument("--queries", default=None, help="a labelled-queries JSONL file (default: the project's)")
    parser.add_argument("--methods", default="bm25", help=f"comma-separated, from {','.join(METHODS)}")
    parser.add_argument("--by-kind", action="store_true", help="also report means per query kind")
    add_common(parser, corpus=True, engine=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if not methods or unknown:
        raise UsageError(f"unknown method(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(METHODS)}")
    queries = load_queries(args.queries)
    pipeline = Pipeline.from_settings(load_settings(), args.corpus, progress=TqdmProgress(), engine_spec=args.engine)
    results_by_method = evaluate(queries, pipeline.ranker(methods, EVAL_DEPTH))
    report: dict[str, dict[str, float]] = {}
    for method in methods:
        results = results_by_method[method]
        report[method] = mean_metrics(results)
        if args.by_kind:
            for kind in sorted({r.kind for r in results if r.kind}):
                report[f"{method}/{kind}"] = mean_metrics(results, kind)
    return report
