"""GloVe-expanded BM25: add each query word's static nearest neighbours to the BM25 query.

This is query expansion with word embeddings in the style of Kuzi, Shtok & Kurland (CIKM 2016) and
Diaz, Mitra & Craswell (ACL 2016): the expanded query keeps every original term at weight 1 per
occurrence, and each of the top-n neighbours of each non-stop word adds its analysed (stemmed) term
with weight `weight * cosine similarity`. A term reached twice keeps its largest weight; an original
term is never lowered. The neighbours have no context, so they add noise (the article's point).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from splade_demo.retrieval.analyzer import analyze, analyze_tokens
from splade_demo.retrieval.neighbours import neighbours

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

# What happened to one neighbour's term in the expanded query.
ADDED = "added"
IN_QUERY = "already in the query"
RAISED = "raised a query term's weight"
LARGER_ELSEWHERE = "kept a larger weight"
NO_TERM = "stop word or punctuation: dropped"
NOT_POSITIVE = "similarity not positive: dropped"


@dataclass(frozen=True)
class ExpansionTerm:
    """One neighbour of one query word, and what it contributes to the BM25 query."""

    word: str  # the query word
    neighbour: str  # its GloVe neighbour
    similarity: float
    term: str | None  # the neighbour's BM25 term (None when it analyses to nothing)
    weight: float  # weight * similarity
    status: str  # ADDED | IN_QUERY | RAISED | LARGER_ELSEWHERE | NO_TERM | NOT_POSITIVE


@dataclass(frozen=True)
class ExpandedQuery:
    """The weighted BM25 query and where each expansion term came from."""

    query: str
    original: dict[str, float]  # analysed query terms, 1.0 per occurrence
    weights: dict[str, float]  # original terms first, then expansion terms by weight
    terms: tuple[ExpansionTerm, ...]
    oov_words: tuple[str, ...]
    labels: dict[str, str] = field(default_factory=dict)  # a readable word for each term (stems are not)

    @property
    def changing(self) -> int:
        """How many neighbours change the query (added, or raised to a larger weight)."""
        return sum(t.status in (ADDED, RAISED) for t in self.terms)

    def terms_table(self) -> list[dict[str, object]]:
        """One row per neighbour: where it comes from and what it does to the query."""
        return [{"query word": t.word, "neighbour": t.neighbour, "cosine": round(t.similarity, 3),
                 "BM25 term": t.term or "—", "weight": round(t.weight, 3), "in the query?": t.status}
                for t in self.terms]

    def is_original(self, term: str) -> bool:
        return term in self.original

    def label(self, term: str) -> str:
        """The query word or neighbour a term came from when it stems to exactly that term, else the term."""
        return self.labels.get(term, term)

    @property
    def added(self) -> dict[str, float]:
        """The expansion terms that are not original query terms, with their weights."""
        return {t: w for t, w in self.weights.items() if t not in self.original}


def explain_expansion(query: str, vectors: "KeyedVectors", n: int, weight: float) -> ExpandedQuery:
    """Expand `query` with the top-n GloVe neighbours of each distinct non-stop word (see module docstring)."""
    if n < 0:
        raise ValueError("n (neighbours per word) must be 0 or more")
    if weight < 0:
        raise ValueError("weight must be 0 or more")
    original = {t: float(c) for t, c in Counter(analyze(query)).items()}
    candidates: list[tuple[str, str, float, str | None, float]] = []
    oov: list[str] = []
    words = list(dict.fromkeys(tok.surface for tok in analyze_tokens(query) if not tok.is_stop_word))
    for word in words:
        if word not in vectors.key_to_index:
            oov.append(word)
            continue
        found = neighbours(vectors, word, n) if n > 0 else []
        for nb in found or []:
            terms = analyze(nb.term) or [None]
            for term in terms:
                candidates.append((word, nb.term, nb.similarity, term, weight * nb.similarity))
    best: dict[str, float] = {}  # the largest candidate weight of each term
    for _, _, _, term, w in candidates:
        if term is not None and w > 0:
            best[term] = max(best.get(term, 0.0), w)
    rows: list[ExpansionTerm] = []
    claimed: set[str] = set()
    for word, neighbour, similarity, term, w in candidates:
        if term is None:
            status = NO_TERM
        elif w <= 0:
            status = NOT_POSITIVE
        elif term in original and w <= original[term]:
            status = IN_QUERY
        elif w < best[term] or term in claimed:
            status = LARGER_ELSEWHERE
        else:
            status = RAISED if term in original else ADDED
            claimed.add(term)
        rows.append(ExpansionTerm(word, neighbour, similarity, term, w, status))
    weights = {t: max(c, best.get(t, 0.0)) for t, c in original.items()}  # never lower an original term
    added = {t: w for t, w in best.items() if t not in original}
    weights.update(sorted(added.items(), key=lambda item: (-item[1], item[0])))
    labels: dict[str, str] = {}
    for tok in analyze_tokens(query):
        if tok.term is not None:
            labels.setdefault(tok.term, tok.surface)
    for row in rows:
        if row.status == ADDED and row.term is not None and analyze(row.neighbour) == [row.term]:
            labels.setdefault(row.term, row.neighbour)
    return ExpandedQuery(query, original, weights, tuple(rows), tuple(oov), labels)


def expand_query(query: str, vectors: "KeyedVectors", n: int, weight: float) -> dict[str, float]:
    """BM25 term weights of the GloVe-expanded query (the `glove-bm25` method)."""
    return explain_expansion(query, vectors, n, weight).weights
