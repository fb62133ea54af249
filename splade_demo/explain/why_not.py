"""Page 5, "Why not this page?": which labelled page to explain, its best passage, and the BM25 formula in numbers.

The explanation itself is `score_explanation.explain_scores`; this module chooses what to explain and writes the
BM25 formula (Robertson & Zaragoza 2009, eq. 3.34, Lucene's idf) with each number filled in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from splade_demo.data.corpus import Corpus, LabelledQuery
from splade_demo.explain.pages import PageHit, collapse_to_pages, page_passages
from splade_demo.explain.score_explanation import BM25Term, Explanation, explain_scores, own_word_pieces
from splade_demo.retrieval.evaluation import EVAL_DEPTH
from splade_demo.retrieval.pipeline import Pipeline, analyze

if TYPE_CHECKING:
    from splade_demo.retrieval.splade_encoder import SpladeEncoder, SpladeEncoding

FEATURE = "Explaining any labelled page"  # what needs every passage's score in this process

PAGE_DEPTH = 10  # a page "missed" by a method is outside its top 10 pages (the depth of nDCG@10 and R@10)


@dataclass(frozen=True)
class PageChoice:
    """A labelled relevant page and where each method puts it among pages (None: not retrieved at all)."""

    source: str
    grade: int
    bm25_page_rank: int | None
    splade_page_rank: int | None

    @property
    def bm25_misses(self) -> bool:
        return self.bm25_page_rank is None or self.bm25_page_rank > PAGE_DEPTH


def page_choices(rel: Mapping[str, int], corpus: Corpus, bm25_pages: Sequence[PageHit],
                 splade_pages: Sequence[PageHit]) -> list[PageChoice]:
    """The labelled relevant pages present in the corpus, best grade first (then name), with their page ranks."""
    present = corpus.sources
    bm25_rank = {p.source: p.rank for p in bm25_pages}
    splade_rank = {p.source: p.rank for p in splade_pages}
    pages = sorted((s for s, g in rel.items() if g > 0 and s in present), key=lambda s: (-rel[s], s))
    return [PageChoice(s, rel[s], bm25_rank.get(s), splade_rank.get(s)) for s in pages]


def default_choice(choices: Sequence[PageChoice]) -> int:
    """Index of the best-graded page BM25 misses (outside its top PAGE_DEPTH pages); else the first page."""
    return next((i for i, c in enumerate(choices) if c.bm25_misses), 0)


@dataclass(frozen=True)
class WhyNot:
    """What the section offers for one query: the corpus (to find passages by title) and the labelled pages."""

    corpus: Corpus
    choices: list[PageChoice]


def why_not(pipeline: Pipeline, query: str, query_vector: np.ndarray, labelled: LabelledQuery | None) -> WhyNot:
    """The labelled pages with their page ranks among each method's top EVAL_DEPTH passages (as the metrics
    count them). Needs every passage's score: `NotAvailable` with an engine that ranks elsewhere."""
    corpus = pipeline.in_process(FEATURE).corpus
    ranked = pipeline.rank_methods(("bm25", "splade"), query, EVAL_DEPTH, splade_vector=query_vector)
    return WhyNot(corpus, page_choices(labelled.rel if labelled else {}, corpus,
                                       collapse_to_pages(ranked["bm25"]), collapse_to_pages(ranked["splade"])))


def page_best_passage(pipeline: Pipeline, query: str, query_vector: np.ndarray, corpus: Corpus,
                      source: str) -> int | None:
    """The page's best passage: highest SPLADE score, or highest BM25 score when SPLADE gives the page nothing
    (ties: corpus order); None when the corpus has no such page."""
    members = page_passages(corpus, source)
    if not members:
        return None
    ids = [corpus.passages[i].id for i in members]
    scores = pipeline.engine.splade_scores(query_vector, ids)
    if scores.max() <= 0:
        scores = pipeline.engine.bm25_scores(analyze(query), ids)
    return members[int(np.argmax(scores))]  # argmax returns the first maximum: corpus order


def explain_passage(pipeline: Pipeline, query: str, doc_index: int, encoder: "SpladeEncoder",
                    encoding: "SpladeEncoding") -> Explanation:
    """One passage's score under BM25, SPLADE and the hybrid, term by term, retrieved or not."""
    local = pipeline.in_process(FEATURE)
    own = own_word_pieces(encoding, encoder.loaded.tokenizer.all_special_ids)
    return explain_scores(query, doc_index, local.bm25, analyze(query), local.splade, encoding.vector, own,
                          encoder.vocab)


def find_by_title(corpus: Corpus, text: str, limit: int = 50) -> list[int]:
    """Passages whose title, section or id contains `text` (case-insensitive), in corpus order, at most `limit`."""
    needle = " ".join(text.split()).casefold()
    if not needle:
        return []
    found = [i for i, p in enumerate(corpus.passages)
             if needle in p.title.casefold() or needle in p.section.casefold() or needle in p.id.casefold()]
    return found[:limit]


def idf_line(term: BM25Term) -> str:
    """idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)) with the numbers in."""
    return (f"idf({term.term}) = ln(1 + ({term.N} − {term.df} + 0.5) / ({term.df} + 0.5)) = {term.idf:.3f}")


def contribution_line(term: BM25Term) -> str:
    """w · idf · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl)) with the numbers in, and its value."""
    return (f"{term.term}: {term.query_weight:g} × {term.idf:.3f} × {term.tf}·({term.k1:g}+1) / "
            f"({term.tf} + {term.k1:g}·(1 − {term.b:g} + {term.b:g}·{term.doc_len}/{term.avg_doc_len:.1f})) "
            f"= {term.contribution:.3f}")


def formula_text(terms: Sequence[BM25Term], score: float) -> str:
    """The whole BM25 sum for one passage, one line per query term, as plain text."""
    if not terms:
        return "The query has no BM25 term (only stop words or symbols): the score is 0."
    first = terms[0]
    lines = ["score = Σ_t w_t · idf(t) · tf·(k1+1) / (tf + k1·(1 − b + b·dl/avgdl))",
             f"N = {first.N} passages, avgdl = {first.avg_doc_len:.2f}, dl = {first.doc_len}, "
             f"k1 = {first.k1:g}, b = {first.b:g}", ""]
    for term in terms:
        lines += [idf_line(term), "  " + contribution_line(term)]
    lines += ["", " + ".join(f"{t.contribution:.3f}" for t in terms) + f" = {score:.3f}"]
    return "\n".join(lines)
