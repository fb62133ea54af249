"""Page 1's story: what BM25 ranks, why, and which relevant pages it never reaches."""

from __future__ import annotations

from dataclasses import dataclass

from splade_demo.data.corpus import LabelledQuery
from splade_demo.retrieval.pipeline import Hit, Pipeline, TermContribution, analyze, analyze_tokens, pages_in_order

PLACING = "Placing the labelled pages in BM25's full ranking"


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
    unknown_terms: list[str]  # query terms that occur in no passage
    texts: dict[str, str]  # passage id -> its text, for the snippets


def bm25_report(pipeline: Pipeline, query: str, k: int) -> BM25Report:
    """Rank with BM25 through the pipeline's engine, and explain each of the top k term by term."""
    terms = analyze(query)
    hits = pipeline.rank("bm25", query, k)
    engine = pipeline.engine
    contributions = {hit.index: engine.bm25_explain(terms, hit.id) for hit in hits}
    stats = engine.bm25_stats(terms)
    surfaces = {token.term: token.surface for token in analyze_tokens(query) if token.term}
    unknown = [surfaces.get(t, t) for t in dict.fromkeys(terms) if stats.idf.get(t, 0.0) == 0.0]
    return BM25Report(terms, hits, contributions, unknown, {hit.id: engine.passage(hit.id).text for hit in hits})


def relevant_pages(pipeline: Pipeline, query: str, labelled: LabelledQuery) -> list[RelevantPage]:
    """Every labelled page placed in BM25's full page ranking (best grade first). Needs every passage's score:
    `NotAvailable` with an engine that ranks elsewhere."""
    index = pipeline.in_process(PLACING).bm25
    terms = analyze(query)
    full_pages = pages_in_order(pipeline.bm25_ranking(terms, len(index.corpus)))
    titles = {p.source: p.title for p in index.corpus.passages}
    return [RelevantPage(source, titles[source], grade,
                         full_pages.index(source) + 1 if source in full_pages else None,
                         bool(set(terms) & index.page_vocabulary(source)), tuple(index.page_terms(source)))
            for source, grade in sorted(labelled.rel.items(), key=lambda pair: -pair[1]) if source in titles]
