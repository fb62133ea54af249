"""Page-level views of a passage ranking: the collapse the metrics use, with the passage count per page.

A passage top 10 is often one page repeated. Collapsing keeps each page at the rank of its first passage
(DESIGN.md, "Labelled queries"; `ranking.pages_in_order`, which `evaluation.scored_pages` scores).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from splade_demo.data.corpus import Corpus
from splade_demo.retrieval.ranking import Hit


@dataclass(frozen=True)
class PageHit:
    """One page of a collapsed ranking."""

    rank: int  # 1-based page rank
    source: str
    title: str
    passages: int  # how many of the ranking's passages belong to this page
    first_rank: int  # passage rank of the page's first (best) passage
    best_id: str  # that passage's id
    best_score: float  # and its score
    ids: tuple[str, ...]  # all the page's passages in the ranking, in ranking order
    best_section: str = ""  # the best passage's section


def collapse_to_pages(hits: Sequence[Hit], n_pages: int | None = None) -> list[PageHit]:
    """Pages in order of first appearance (as `evaluation.scored_pages`), each with its passage count.

    `n_pages` keeps the first pages only; counts are over the whole of `hits` either way.
    """
    first: dict[str, Hit] = {}
    ids: dict[str, list[str]] = {}
    for hit in hits:
        first.setdefault(hit.source, hit)
        ids.setdefault(hit.source, []).append(hit.id)
    pages = [PageHit(rank, source, h.title, len(ids[source]), h.rank, h.id, h.score, tuple(ids[source]), h.section)
             for rank, (source, h) in enumerate(first.items(), start=1)]
    return pages if n_pages is None else pages[: max(0, n_pages)]


def page_passages(corpus: Corpus, source: str) -> list[int]:
    """Corpus positions of the passages of page `source`, in corpus order."""
    return [i for i, p in enumerate(corpus.passages) if p.source == source]


def best_passage(scores: np.ndarray, corpus: Corpus, source: str) -> int | None:
    """The page's highest-scoring passage (ties: corpus order, as `ranking.top_k`); None if the page is absent.

    It is the passage through which the page enters the page-level ranking (when it scores above 0).
    """
    members = page_passages(corpus, source)
    if not members:
        return None
    values = np.asarray(scores, dtype=np.float64)[members]
    return members[int(np.argmax(values))]  # argmax returns the first maximum: corpus order
