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

    def at(self, rank: int, score: float | None = None) -> "Hit":
        """The same passage at another rank (and score): `dataclasses.replace`'s result, without its field walk
        (page 5's evaluation re-ranks thousands of hits)."""
        return Hit(rank, self.index, self.id, self.source, self.title, self.section, self.url,
                   self.score if score is None else score)

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
    ranked = scores[order]
    if not keep_zero:
        ends = np.flatnonzero(ranked <= 0.0)  # scores fall along `order`: cut at the first one that is not positive
        order, ranked = (order[: ends[0]], ranked[: ends[0]]) if ends.size else (order, ranked)
    hits: list[Hit] = []
    for rank, (index, score) in enumerate(zip(order.tolist(), ranked.tolist()), start=1):  # Python ints and floats
        p = corpus.passages[index]
        hits.append(Hit(rank, index, p.id, p.source, p.title, p.section, p.url, score))
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
