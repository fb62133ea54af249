"""Ranked lists shared by every method: top-k hits and their collapse to pages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from splade_demo.data.corpus import Corpus


@dataclass(frozen=True)
class Hit:
    """One ranked passage."""

    rank: int
    index: int
    id: str
    source: str
    title: str
    section: str
    url: str
    score: float

    def as_contract(self) -> dict[str, object]:
        """The CLI's `search` record: rank, id, source, title, score."""
        return {"rank": self.rank, "id": self.id, "source": self.source, "title": self.title, "score": self.score}


def top_k(scores: np.ndarray, corpus: Corpus, k: int, keep_zero: bool = False) -> list[Hit]:
    """The k best passages by score (ties broken by corpus order); zero scores dropped by default."""
    scores = np.asarray(scores, dtype=np.float64)
    k = max(0, min(k, len(scores)))
    if k == 0:
        return []
    candidates = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    hits: list[Hit] = []
    for index in order:
        score = float(scores[index])
        if score <= 0.0 and not keep_zero:
            break
        p = corpus.passages[int(index)]
        hits.append(Hit(len(hits) + 1, int(index), p.id, p.source, p.title, p.section, p.url, score))
    return hits


def pages_in_order(hits: list[Hit]) -> list[str]:
    """Page-level ranking: each page at the rank of its first passage (docs/architecture.md, Labelled queries)."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.source, None)
    return list(seen)


def page_rank(hits: list[Hit], source: str) -> int | None:
    """The 1-based page-level rank of `source` in `hits`, or None when absent."""
    pages = pages_in_order(hits)
    return pages.index(source) + 1 if source in pages else None
