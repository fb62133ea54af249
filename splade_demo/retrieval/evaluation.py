"""Page-level evaluation: nDCG@10, R@10 and RR (reciprocal rank), as trec_eval defines them (retrieval/measures.py).

A passage ranking is collapsed to pages in order of first appearance (docs/architecture.md). Gains are
the grades (trec_eval's nDCG, Järvelin & Kekäläinen 2002); R@10 and RR count grade >= 1.
A query for which a method retrieves nothing scores 0 on every measure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from splade_demo.data.corpus import LabelledQuery
from splade_demo.retrieval.measures import ndcg_at, recall_at, reciprocal_rank
from splade_demo.retrieval.ranking import Hit, pages_in_order

CUTOFF = 10
MEASURE_NAMES: tuple[str, ...] = ("nDCG@10", "R@10", "RR")
EVAL_DEPTH = 1000  # passages retrieved per query before collapsing to pages


@dataclass(frozen=True)
class QueryResult:
    """One query's page-level metrics under one method."""

    query_id: str
    text: str
    kind: str | None
    metrics: dict[str, float]
    pages: tuple[str, ...]


def scored_pages(hits: Sequence[Hit]) -> tuple[str, ...]:
    """The pages a passage ranking is scored on: each page once, in order of its first passage."""
    return tuple(pages_in_order(list(hits)))


def page_metrics(pages: Sequence[str], grades: Mapping[str, int]) -> dict[str, float]:
    """nDCG@10, R@10 and RR of one query's pages in ranked order."""
    return {"nDCG@10": ndcg_at(pages, grades, CUTOFF), "R@10": recall_at(pages, grades, CUTOFF),
            "RR": reciprocal_rank(pages, grades)}


def evaluate_rankings(queries: Sequence[LabelledQuery], rankings: dict[str, Sequence[Hit]]) -> list[QueryResult]:
    """Per-query metrics of passage rankings (`rankings[query.id]`)."""
    results = []
    for q in queries:
        pages = scored_pages(rankings.get(q.id, []))
        results.append(QueryResult(q.id, q.text, q.kind, page_metrics(pages, q.rel), pages))
    return results


def mean_metrics(results: Sequence[QueryResult], kind: str | None = None) -> dict[str, float]:
    """Mean of each measure over the results (only those of `kind` if given)."""
    chosen = [r for r in results if kind is None or r.kind == kind]
    if not chosen:
        return dict.fromkeys(MEASURE_NAMES, float("nan"))
    return {name: sum(r.metrics[name] for r in chosen) / len(chosen) for name in MEASURE_NAMES}


def evaluate(
    queries: Sequence[LabelledQuery],
    rank: Callable[[str], Mapping[str, Sequence[Hit]]],
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[QueryResult]]:
    """The evaluation loop of every method: `rank(query_text)` gives each method's ranking of one query
    (`Pipeline.ranker(methods, EVAL_DEPTH)`); each method's rankings are then scored over all the queries."""
    rankings: dict[str, dict[str, Sequence[Hit]]] = {}
    for done, query in enumerate(queries, start=1):
        for method, hits in rank(query.text).items():
            rankings.setdefault(method, {})[query.id] = hits
        if on_progress is not None:
            on_progress(done, len(queries))
    return {method: evaluate_rankings(queries, ranked) for method, ranked in rankings.items()}


def summary_rows(results_by_method: dict[str, list[QueryResult]], count_column: bool = False) -> list[dict[str, object]]:
    """One row per method and query subset (all, then each kind), with the mean of each measure.

    The subset is named "all (12)", "mismatch (6)"...; with `count_column`, "all" and a separate "count"."""
    rows: list[dict[str, object]] = []
    for method, results in results_by_method.items():
        kinds = sorted({r.kind for r in results if r.kind})
        for subset in [None, *kinds]:
            count = sum(1 for r in results if subset is None or r.kind == subset)
            name = subset or "all"
            queries: dict[str, object] = {"queries": name, "count": count} if count_column else {"queries": f"{name} ({count})"}
            rows.append({"method": method, **queries, **mean_metrics(results, subset)})
    return rows
