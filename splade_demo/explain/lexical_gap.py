"""Page 1's story: what BM25 ranks, why, and which relevant pages it never reaches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from splade_demo.retrieval.analyzer import analyze, analyze_tokens
from splade_demo.retrieval.bm25 import BM25Index, TermContribution, explain_terms
from splade_demo.data.corpus import LabelledQuery
from splade_demo.retrieval.ranking import Hit, pages_in_order, top_k

if TYPE_CHECKING:
    from splade_demo.retrieval.engines import Engine


@dataclass(frozen=True)
class RelevantPage:
    """A labelled page and how BM25 treated it."""

    source: str
    title: str
    grade: int
    page_rank: int | None  # rank among pages in BM25's full ranking; None if no passage scored
    shares_terms: bool  # does any passage of the page contain a query term?
    words_instead: tuple[str, ...]  # the page's own most distinctive words

    def missed(self, k: int) -> bool:
        return self.page_rank is None or self.page_rank > k


@dataclass(frozen=True)
class BM25Report:
    """Everything page 1 shows for one query."""

    query_terms: list[str]
    hits: list[Hit]
    contributions: dict[int, list[TermContribution]]  # passage index -> per-term shares
    relevant: list[RelevantPage]
    unknown_terms: list[str]  # query terms that occur in no passage


def bm25_report(index: BM25Index, query: str, k: int, labelled: LabelledQuery | None = None) -> BM25Report:
    """Rank with BM25, explain the top k, and place every labelled page."""
    terms = analyze(query)
    scores = index.score(terms)
    hits = top_k(scores, index.corpus, k)
    contributions = {hit.index: index.explain(terms, hit.index) for hit in hits}
    relevant: list[RelevantPage] = []
    if labelled is not None:
        full_pages = pages_in_order(top_k(scores, index.corpus, int(np.count_nonzero(scores))))
        titles = {p.source: p.title for p in index.corpus.passages}
        for source, grade in sorted(labelled.rel.items(), key=lambda pair: -pair[1]):
            if source not in titles:
                continue
            rank = full_pages.index(source) + 1 if source in full_pages else None
            relevant.append(
                RelevantPage(source, titles[source], grade, rank, bool(set(terms) & index.page_vocabulary(source)),
                             tuple(index.page_terms(source)))
            )
    surfaces = {token.term: token.surface for token in analyze_tokens(query) if token.term}
    unknown = [surfaces.get(t, t) for t in dict.fromkeys(terms) if index.idf(t) == 0.0]
    return BM25Report(terms, hits, contributions, relevant, unknown)


def engine_bm25_report(engine: "Engine", query: str, hits: list[Hit]) -> BM25Report:
    """`bm25_report` for hits ranked by an engine: each hit explained by our formula over the passage's analysed
    terms and the engine's statistics. The labelled pages are not placed (that needs the whole corpus here)."""
    terms = analyze(query)
    stats = engine.bm25_stats(terms)
    contributions = {hit.index: explain_terms(terms, engine.doc_terms(hit.id), stats.idf, stats.avgdl) for hit in hits}
    surfaces = {token.term: token.surface for token in analyze_tokens(query) if token.term}
    unknown = [surfaces.get(t, t) for t in dict.fromkeys(terms) if stats.idf.get(t, 0.0) == 0.0]
    return BM25Report(terms, hits, contributions, [], unknown)
