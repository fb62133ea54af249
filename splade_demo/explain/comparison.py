"""Page 5's evidence: BM25, SPLADE and their fusion side by side, rank changes, and the vocabulary-mismatch wins.

Every ranking comes from the pipeline (`Pipeline.rank_methods`); the SPLADE score breakdown itself is
`splade_demo.explain.splade_view.shared_terms`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection, Mapping, Sequence

import numpy as np
import pandas as pd

from splade_demo.explain.labels import grade_mark
from splade_demo.explain.pages import PageHit, collapse_to_pages
from splade_demo.explain.splade_view import SharedTerm, shared_terms
from splade_demo.retrieval.pipeline import COMPARED, Engine, Hit, Pipeline, TermContribution, analyze

if TYPE_CHECKING:
    from splade_demo.retrieval.splade_encoder import SpladeEncoding


@dataclass(frozen=True)
class RankChange:
    """Where one passage sits in each ranking (None when it is outside the shown top k)."""

    id: str
    title: str
    section: str
    source: str
    bm25_rank: int | None
    splade_rank: int | None


def rank_changes(bm25: Sequence[Hit], splade: Sequence[Hit]) -> list[RankChange]:
    """Every passage in either top k, with its rank in both (BM25's order first)."""
    bm25_rank = {h.id: h.rank for h in bm25}
    splade_rank = {h.id: h.rank for h in splade}
    seen: dict[str, Hit] = {}
    for hit in [*bm25, *splade]:
        seen.setdefault(hit.id, hit)
    return [RankChange(h.id, h.title, h.section, h.source, bm25_rank.get(h.id), splade_rank.get(h.id)) for h in seen.values()]


def zero_overlap_hits(hits: Sequence[Hit], engine: Engine, query: str) -> list[Hit]:
    """The hits that share no analysed term with the query: vocabulary-mismatch wins if relevant."""
    terms = set(analyze(query))
    return [h for h in hits if not terms & set(engine.doc_terms(h.id))]


PAGE_DEPTH = 100  # passages ranked per method before the side by side collapses them to pages


@dataclass(frozen=True)
class Comparison:
    """Page 5's rankings of one query: BM25, SPLADE, their fusion, how ranks moved, and the same rankings in pages
    (each method's top `depth` passages collapsed to pages in order of first appearance, as the metrics count them:
    the best passage stands for its page, with the number of its passages in those `depth`)."""

    bm25: list[Hit]
    splade: list[Hit]
    hybrid: list[Hit]
    changes: list[RankChange]
    mismatch_wins: list[Hit]  # SPLADE hits that share no analysed term with the query
    pages: dict[str, list[PageHit]]  # method -> its top k pages
    depth: int = PAGE_DEPTH

    def ranking(self, method: str) -> list[Hit]:
        return {"bm25": self.bm25, "splade": self.splade, "hybrid": self.hybrid}[method]


def compare(pipeline: Pipeline, query: str, query_vector: np.ndarray, k: int, depth: int = PAGE_DEPTH) -> Comparison:
    """Rank one query all three ways, once (the SPLADE query vector is encoded once, by the caller): the top k
    passages and the top k pages of each method."""
    deep = pipeline.rank_methods(COMPARED, query, max(k, depth), splade_vector=query_vector)
    lexical, learned = deep["bm25"][:k], deep["splade"][:k]
    return Comparison(lexical, learned, deep["hybrid"][:k], rank_changes(lexical, learned),
                      zero_overlap_hits(learned, pipeline.engine, query),
                      {m: collapse_to_pages(hits, k) for m, hits in deep.items()}, max(k, depth))


@dataclass(frozen=True)
class SideBySide:
    """Page 5's three columns for one query: a table per method (None while SPLADE is not ready), the comparison
    behind them (None likewise), and whether the tables are pages or passages."""

    tables: dict[str, pd.DataFrame | None]
    comparison: Comparison | None
    page_level: bool


def ranking_table(rows: Sequence[Hit] | Sequence[PageHit], grades: Mapping[str, int],
                  wins: Collection[str] = (), mark_wins: bool = False) -> pd.DataFrame:
    """One column's table: passages (rank, title, section, score, relevant) or pages (the same for each page's
    best passage, with its page and how many of its passages the ranking holds)."""
    records = []
    for row in rows:
        if isinstance(row, PageHit):
            record = {"#": row.rank, "title": row.title, "section": row.best_section, "score": round(row.best_score, 3),
                      "passages": row.passages, "page": row.source}
        else:
            record = {"#": row.rank, "title": row.title, "section": row.section, "score": round(row.score, 3)}
        record["relevant"] = grade_mark(grades.get(row.source))
        if mark_wins:
            record["no shared word"] = "⭐" if (row.best_id if isinstance(row, PageHit) else row.id) in wins else ""
        records.append(record)
    return pd.DataFrame(records)


def side_by_side(pipeline: Pipeline, query: str, query_vector: np.ndarray | None, k: int, page_level: bool = True,
                 grades: Mapping[str, int] | None = None) -> SideBySide:
    """BM25, SPLADE and hybrid side by side: the top k pages (each page's best passage, with its passage count among
    the top PAGE_DEPTH passages) or the top k passages. `query_vector` None: SPLADE is not ready, BM25 alone."""
    grades = grades or {}
    if query_vector is None:
        hits = pipeline.rank("bm25", query, max(k, PAGE_DEPTH) if page_level else k)
        rows = collapse_to_pages(hits, k) if page_level else hits
        return SideBySide({"bm25": ranking_table(rows, grades), "splade": None, "hybrid": None}, None, page_level)
    comparison = compare(pipeline, query, query_vector, k)
    wins = {h.id for h in comparison.mismatch_wins}
    tables = {m: ranking_table(comparison.pages[m] if page_level else comparison.ranking(m), grades, wins,
                               m == "splade") for m in COMPARED}
    return SideBySide(tables, comparison, page_level)


@dataclass(frozen=True)
class Breakdown:
    """One passage's two scores, term by term: SPLADE's q_t·d_t over shared terms and BM25's idf·tf terms."""

    shares: list[SharedTerm]
    bm25_rows: list[TermContribution]
    expansion_terms: list[str]  # shared terms that are not among the query's own word pieces, largest first

    @property
    def splade_score(self) -> float:
        return sum(s.contribution for s in self.shares)

    @property
    def bm25_score(self) -> float:
        return sum(r.contribution for r in self.bm25_rows)

    @property
    def bm25_matches(self) -> int:
        return sum(r.tf > 0 for r in self.bm25_rows)


def breakdown(pipeline: Pipeline, query: str, encoding: "SpladeEncoding", doc_id: str, vocab: Sequence[str]) -> Breakdown:
    """Why one passage scored what it did under each method (the engine hands out its vector, terms and
    statistics; the formulas are ours)."""
    shares = shared_terms(encoding.vector, pipeline.engine.doc_vector(doc_id), vocab)
    own = set(encoding.tokens)
    return Breakdown(shares, pipeline.engine.bm25_explain(analyze(query), doc_id),
                     [s.term for s in shares if s.term not in own])
