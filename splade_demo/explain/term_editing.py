"""Live query editing (like ELSER's `weighted_tokens`): change the query's terms, re-rank, re-score.

The SPLADE side is the query vector q itself: a document's score is q . d (Formal et al. 2021), so setting
q_t moves every document's score by (new q_t - old q_t) * d_t and nothing else. The BM25 side is the bag of
analysed query terms with their query weights (Robertson & Zaragoza 2009; splade_demo.retrieval.bm25).
Every edit returns a new `EditableQuery`; the original is never changed, so "reset" is keeping the first one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Collection, Mapping, Sequence

import numpy as np

from splade_demo.data.corpus import LabelledQuery
from splade_demo.explain.pages import PageHit, collapse_to_pages
from splade_demo.retrieval.bm25 import query_weights
from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate_rankings
from splade_demo.retrieval.pipeline import COMPARED, Hit, Pipeline, analyze

if TYPE_CHECKING:
    from splade_demo.retrieval.splade_encoder import SpladeEncoding


def vocab_id(vocab: Sequence[str], term: str) -> int:
    """The id of a vocabulary term; ValueError (one line) when the model's vocabulary lacks it."""
    term = term.strip()
    try:
        return list(vocab).index(term)
    except ValueError:
        raise ValueError(f"{term!r} is not in the model's vocabulary (a word piece such as 'memory' or '##ing')") from None


@dataclass(frozen=True)
class EditableQuery:
    """A query as both methods see it: SPLADE weights by vocabulary id, BM25 terms with query weights."""

    text: str
    splade: Mapping[int, float]  # vocabulary id -> weight > 0
    bm25: Mapping[str, float]  # analysed term -> query weight (occurrences)
    own_ids: frozenset[int] = field(default_factory=frozenset)  # the text's own word pieces (not expansions)

    @classmethod
    def from_encoding(cls, text: str, encoding: "SpladeEncoding", own_ids: Collection[int]) -> "EditableQuery":
        """The unedited query: its encoded SPLADE vector and its analysed words (as `search` uses them)."""
        vector = np.asarray(encoding.vector)
        ids = np.flatnonzero(vector > 0)
        return cls(text, {int(i): float(vector[i]) for i in ids}, query_weights(analyze(text)), frozenset(own_ids))

    # -- SPLADE edits --------------------------------------------------------------------------
    def set_weight(self, term_id: int, weight: float) -> "EditableQuery":
        """q_t := weight (adds the term if absent); a weight <= 0 removes it."""
        if not np.isfinite(weight):
            raise ValueError(f"a term weight must be a finite number, not {weight!r}")
        weights = dict(self.splade)
        if weight > 0:
            weights[int(term_id)] = float(weight)
        else:
            weights.pop(int(term_id), None)
        return replace(self, splade=weights)

    def remove_term(self, term_id: int) -> "EditableQuery":
        return self.set_weight(term_id, 0.0)

    def add_term(self, vocab: Sequence[str], term: str, weight: float) -> "EditableQuery":
        """Add (or re-weight) a vocabulary term by its text; ValueError when it is not in the vocabulary."""
        return self.set_weight(vocab_id(vocab, term), weight)

    def keep_top(self, n: int) -> "EditableQuery":
        """Keep the `n` heaviest SPLADE terms (ties by id)."""
        ranked = sorted(self.splade.items(), key=lambda pair: (-pair[1], pair[0]))[: max(0, n)]
        return replace(self, splade=dict(ranked))

    def keep_at_least(self, threshold: float) -> "EditableQuery":
        """Keep the SPLADE terms with weight >= `threshold`."""
        return replace(self, splade={t: w for t, w in self.splade.items() if w >= threshold})

    # -- BM25 edits ----------------------------------------------------------------------------
    def add_bm25_word(self, word: str) -> "EditableQuery":
        """Add a word to BM25's query as the analyzer indexes it (stemmed; stop words add nothing)."""
        terms = dict(self.bm25)
        for term in analyze(word):
            terms[term] = terms.get(term, 0.0) + 1.0
        return replace(self, bm25=terms)

    def remove_bm25_term(self, term: str) -> "EditableQuery":
        """Drop an analysed term (or the terms a word analyses to) from BM25's query."""
        drop = {term, *analyze(term)}
        return replace(self, bm25={t: w for t, w in self.bm25.items() if t not in drop})

    # -- what the rankings use -----------------------------------------------------------------
    def splade_vector(self, size: int) -> np.ndarray:
        """The SPLADE query vector q (float32, like the encoder's)."""
        vector = np.zeros(size, dtype=np.float32)
        for term_id, weight in self.splade.items():
            vector[term_id] = weight
        return vector

    def splade_terms(self, vocab: Sequence[str]) -> list[tuple[int, str, float, bool]]:
        """(id, term, weight, expansion) for the editable table, heaviest first (ties by id)."""
        ranked = sorted(self.splade.items(), key=lambda pair: (-pair[1], pair[0]))
        return [(t, vocab[t], w, t not in self.own_ids) for t, w in ranked]


@dataclass(frozen=True)
class Reranking:
    """Both rankings (and their fusion) for an edited query, page views and nDCG@10."""

    hits: dict[str, list[Hit]]  # method -> top k passages
    pages: dict[str, list[PageHit]]  # method -> top k pages of the deep (EVAL_DEPTH) ranking
    ndcg: dict[str, float] | None  # method -> nDCG@10 for a labelled query, else None


def rerank(query: EditableQuery, pipeline: Pipeline, vocab_size: int, k: int = 10,
           labelled: LabelledQuery | None = None) -> Reranking:
    """Rank with the edited query as `evaluate` does (EVAL_DEPTH passages, hybrid over FUSION_DEPTH of each)."""
    deep = pipeline.rank_query(COMPARED, query.bm25, query.splade_vector(vocab_size), EVAL_DEPTH)
    return Reranking(
        hits={m: ranked[:k] for m, ranked in deep.items()},
        pages={m: collapse_to_pages(ranked, k) for m, ranked in deep.items()},
        ndcg=None if labelled is None else ndcg_at_10(labelled, deep),
    )


def ndcg_at_10(labelled: LabelledQuery, rankings: Mapping[str, Sequence[Hit]]) -> dict[str, float]:
    """nDCG@10 of each method's passage ranking for one labelled query (`evaluation.evaluate_rankings`)."""
    return {m: evaluate_rankings([labelled], {labelled.id: ranked})[0].metrics["nDCG@10"]
            for m, ranked in rankings.items()}


def apply_table(base: EditableQuery, rows: Sequence[Mapping[str, object]], vocab: Sequence[str]
                ) -> tuple[EditableQuery, list[str]]:
    """The query with the SPLADE terms an edited table gives (rows of {"term", "weight"}), and what was skipped.

    A row with a weight <= 0 (or a deleted row) drops the term; a term outside the vocabulary, or a row without a
    number, is skipped with a one-line reason. The BM25 words are kept as they are.
    """
    ids = {term: i for i, term in enumerate(vocab)}
    weights: dict[int, float] = {}
    problems: list[str] = []
    for row in rows:
        term = str(row.get("term") or "").strip()
        if not term:
            continue
        if term not in ids:
            problems.append(f"{term!r} is not in the model's vocabulary (a word piece such as 'memory' or '##ing')")
            continue
        try:
            weight = float(row.get("weight"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            weight = float("nan")
        if not np.isfinite(weight):
            problems.append(f"{term!r} has no weight: give it a number")
            continue
        if weight > 0:
            weights[ids[term]] = weight
    return replace(base, splade=weights), problems


def with_bm25_terms(query: EditableQuery, keep: Collection[str], added_words: str) -> EditableQuery:
    """BM25's query: only the analysed terms in `keep`, plus the words of `added_words` as the analyzer indexes them."""
    edited = replace(query, bm25={t: w for t, w in query.bm25.items() if t in set(keep)})
    for word in added_words.split():
        edited = edited.add_bm25_word(word)
    return edited
