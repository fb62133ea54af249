"""Page 2's views of static expansion: each query word's GloVe neighbours, and BM25 before and after expansion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from splade_demo.data.corpus import LabelledQuery
from splade_demo.retrieval.analyzer import analyze, analyze_tokens
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.retrieval.evaluation import EVAL_DEPTH, QueryResult, evaluate_rankings, summary_rows
from splade_demo.retrieval.glove_expansion import ExpandedQuery, explain_expansion
from splade_demo.retrieval.neighbours import Neighbour, neighbours
from splade_demo.retrieval.ranking import Hit, top_k

if TYPE_CHECKING:
    from gensim.models import KeyedVectors


@dataclass(frozen=True)
class WordNeighbours:
    """One query word: skipped (stop word), out of vocabulary, or with its neighbours."""

    word: str
    is_stop: bool
    oov: bool
    neighbours: tuple[Neighbour, ...] = ()


def query_neighbours(vectors: "KeyedVectors", query: str, k: int = 10) -> list[WordNeighbours]:
    """Each distinct word of `query` (BM25's lower-casing and tokenisation): stop words are kept but
    skipped, out-of-vocabulary words are flagged, the others get their k nearest neighbours."""
    rows: list[WordNeighbours] = []
    seen: set[str] = set()
    for token in analyze_tokens(query):
        if token.surface in seen:
            continue
        seen.add(token.surface)
        if token.is_stop_word:
            rows.append(WordNeighbours(token.surface, is_stop=True, oov=False))
            continue
        found = neighbours(vectors, token.surface, k)
        rows.append(WordNeighbours(token.surface, is_stop=False, oov=found is None, neighbours=tuple(found or ())))
    return rows


@dataclass(frozen=True)
class ExpansionComparison:
    """BM25 and GloVe-expanded BM25 rankings of one query (EVAL_DEPTH passages deep)."""

    expansion: ExpandedQuery
    bm25: tuple[Hit, ...]
    glove: tuple[Hit, ...]


def compare_expansion(
    index: BM25Index, vectors: "KeyedVectors", query: str, n: int, weight: float, depth: int = EVAL_DEPTH
) -> ExpansionComparison:
    """Rank the corpus with the plain and the expanded query."""
    expansion = explain_expansion(query, vectors, n, weight)
    before = top_k(index.score(analyze(query)), index.corpus, depth)
    after = top_k(index.score(expansion.weights), index.corpus, depth)
    return ExpansionComparison(expansion, tuple(before), tuple(after))


@dataclass(frozen=True)
class RankChange:
    """One passage of either top k: its rank before and after (None when outside that ranking)."""

    hit: Hit
    before: int | None
    after: int | None

    @property
    def label(self) -> str:
        if self.before is None:
            return "new"
        if self.after is None:
            return "dropped"
        moved = self.before - self.after
        return "=" if moved == 0 else (f"↑{moved}" if moved > 0 else f"↓{-moved}")


@dataclass(frozen=True)
class RankingChange:
    """How the top k changed: the new top k with moves, what came in and what left."""

    after: tuple[RankChange, ...]  # the new top k, each with its rank in the full old ranking
    entered: tuple[RankChange, ...]  # in the new top k, not in the old top k
    left: tuple[RankChange, ...]  # in the old top k, not in the new top k (with its new rank, if any)


def ranking_change(before: Sequence[Hit], after: Sequence[Hit], k: int = 10) -> RankingChange:
    """Compare two passage rankings at depth k; ranks outside k are looked up in the full rankings."""
    rank_before = {h.id: h.rank for h in before}
    rank_after = {h.id: h.rank for h in after}
    top_before = {h.id for h in before[:k]}
    top_after = {h.id for h in after[:k]}
    new_top = tuple(RankChange(h, rank_before.get(h.id), h.rank) for h in after[:k])
    entered = tuple(c for c in new_top if c.hit.id not in top_before)
    left = tuple(RankChange(h, h.rank, rank_after.get(h.id)) for h in before[:k] if h.id not in top_after)
    return RankingChange(new_top, entered, left)


def before_after_metrics(
    query: LabelledQuery, before: Sequence[Hit], after: Sequence[Hit]
) -> tuple[dict[str, float], dict[str, float]]:
    """Page-level metrics (nDCG@10, R@10, RR) of a labelled query before and after expansion."""
    result_before, = evaluate_rankings([query], {query.id: before})
    result_after, = evaluate_rankings([query], {query.id: after})
    return result_before.metrics, result_after.metrics


def expansion_summary(results: dict[str, list[QueryResult]]) -> list[dict[str, object]]:
    """Page 2's table: nDCG@10 of BM25 and GloVe-BM25 per query subset (`evaluation.summary_rows`), and the change."""
    rows = summary_rows(results, count_column=True)
    bm25 = [r for r in rows if r["method"] == "bm25"]
    glove = {r["queries"]: r for r in rows if r["method"] == "glove-bm25"}
    table = []
    for row in bm25:
        before, after = float(row["nDCG@10"]), float(glove[row["queries"]]["nDCG@10"])  # type: ignore[arg-type]
        table.append({"queries": row["queries"], "count": row["count"], "BM25 nDCG@10": round(before, 3),
                      "GloVe-BM25 nDCG@10": round(after, 3), "change": round(after - before, 3)})
    return table
