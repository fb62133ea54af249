"""`explain QUERY --doc ID [--corpus PATH] [--json]`: why one passage scores what it does, retrieved or not.

JSON (docs/architecture.md, Contracts): `{"query", "doc": {"id", "source", "title"}, "bm25": {"rank", "score", "terms"},
"splade": {"rank", "score", "terms"}, "hybrid": {"rank", "score"}}`. Ranks are those of `search` with the same
settings (SPLADE_DEMO_PRECISION included). Without --json: a table per method.
"""

from __future__ import annotations

import argparse

from splade_demo.commands import TqdmProgress, UsageError, add_common, clean_text
from splade_demo.config import load_settings
from splade_demo.explain.score_explanation import explain, passage_index
from splade_demo.retrieval.pipeline import FUSION_DEPTH, Pipeline


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("explain", help="explain one passage's BM25, SPLADE and hybrid score")
    parser.add_argument("query", help="the search query")
    parser.add_argument("--doc", required=True, metavar="ID", help="the passage id (search prints it)")
    add_common(parser, corpus=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, object] | str:
    query = clean_text(args.query)
    doc_id = args.doc.strip()
    if not doc_id:
        raise UsageError("--doc is empty: give a passage id such as library/gc#1")
    # the contract: `explain` uses the memory engine (SPLADE_DEMO_ENGINE=milvus:… must not make it fail)
    pipeline = Pipeline.from_settings(load_settings(), args.corpus, progress=TqdmProgress(), engine_spec="memory")
    local = pipeline.in_process("explain")
    try:
        passage_index(local.corpus, doc_id)  # before any model is loaded
    except LookupError as exc:
        raise UsageError(str(exc)) from None
    result = explain(query, doc_id, local.bm25, pipeline.sources.encoder(), local.splade).as_contract()
    return result if args.json else render(result)


def _rank(rank: object) -> str:
    return f"rank {rank}" if rank is not None else "not retrieved (score 0)"


def _term_and_word(row: dict) -> str:
    return row["term"] if row["surface"] == row["term"] else f"{row['term']} ({row['surface']})"


def render(result: dict) -> str:
    """The explanation as readable tables (the --json document holds the same numbers)."""
    doc, bm25, splade, hybrid = result["doc"], result["bm25"], result["splade"], result["hybrid"]
    lines = [f"query  {result['query']}", f"doc    {doc['id']}  ({doc['source']})  {doc['title']}", ""]
    lines.append(f"BM25     {_rank(bm25['rank'])}   score {bm25['score']:.4f}")
    if bm25["terms"]:
        first = bm25["terms"][0]
        lines.append(f"  N = {first['N']}, avg_doc_len = {first['avg_doc_len']:.2f}, k1 = {first['k1']}, "
                     f"b = {first['b']}, doc_len = {first['doc_len']}")
        lines.append("  contribution = w x idf x tf(k1+1) / (tf + k1(1 - b + b doc_len/avg_doc_len)), "
                     "idf = ln(1 + (N - df + 0.5)/(df + 0.5))")
        lines.append(f"  {'term (word)':<28} {'w':>4} {'df':>6} {'idf':>7} {'tf':>4} {'contribution':>13}")
        lines += [f"  {_term_and_word(t):<28} {t['query_weight']:>4g} {t['df']:>6} {t['idf']:>7.3f} {t['tf']:>4} "
                  f"{t['contribution']:>13.4f}" for t in bm25["terms"]]
    else:
        lines.append("  the query has no BM25 term (only stop words or symbols)")
    lines += ["", f"SPLADE   {_rank(splade['rank'])}   score {splade['score']:.4f}"]
    if splade["terms"]:
        lines.append(f"  {'term':<20} {'query':>8} {'doc':>8} {'contribution':>13}  expansion")
        lines += [f"  {t['term']:<20} {t['query_weight']:>8.3f} {t['doc_weight']:>8.3f} {t['contribution']:>13.4f}  "
                  f"{'yes' if t['expansion'] else ''}" for t in splade["terms"]]
    else:
        lines.append("  no term in common: the query and passage vectors do not overlap")
    fused = _rank(hybrid["rank"]) if hybrid["rank"] is not None else f"not in either method's top {FUSION_DEPTH}"
    lines += ["", f"hybrid   {fused}   score {hybrid['score']:.5f}  "
                  f"(reciprocal rank fusion, k = 60, of each method's top {FUSION_DEPTH})"]
    return "\n".join(lines)
