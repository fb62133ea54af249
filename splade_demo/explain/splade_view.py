"""What page 4 and page 5 show of SPLADE vectors: term-weight bars, the position x term grid, shared terms.

The score of a passage is the dot product score(q, d) = sum_t q_t * d_t over the terms both vectors share
(Formal et al. 2021, SPLADE v2), so `shared_terms` lists exactly the parts that sum to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Collection, Sequence

import numpy as np

import pandas as pd

from splade_demo.retrieval.pipeline import Pipeline
from splade_demo.retrieval.sparse_terms import as_vocab, heaviest_ids, is_special_or_piece

if TYPE_CHECKING:  # the encoder module imports torch: a page that only shows BM25 never loads it
    from splade_demo.retrieval.splade_encoder import SpladeEncoding


@dataclass(frozen=True)
class SharedTerm:
    """One term in both vectors: its part q_t * d_t of the dot-product score."""

    term: str
    query_weight: float
    doc_weight: float

    @property
    def contribution(self) -> float:
        return self.query_weight * self.doc_weight


def shared_terms(query_vector: np.ndarray, doc_vector: np.ndarray, vocab: Any) -> list[SharedTerm]:
    """Terms with a non-zero weight on both sides, by contribution (they sum to the score)."""
    q = np.asarray(query_vector, dtype=np.float64).ravel()
    d = np.asarray(doc_vector, dtype=np.float64).ravel()
    both = np.flatnonzero((q > 0) & (d > 0))
    order = both[np.lexsort((both, -(q[both] * d[both])))]
    terms = as_vocab(vocab)
    return [SharedTerm(terms[int(i)], float(q[i]), float(d[i])) for i in order]


@dataclass(frozen=True)
class TermWeight:
    """One bar: a term, its weight, and whether it is highlighted (in the query, or shared with it)."""

    term_id: int
    term: str
    weight: float
    highlighted: bool


def term_weights(
    vector: np.ndarray, vocab: Sequence[str], n: int, highlight_ids: Collection[int], hide_special: bool = False
) -> list[TermWeight]:
    """The `n` heaviest terms of `vector`; `highlighted` when the term's id is in `highlight_ids`."""
    highlight = set(highlight_ids)
    return [TermWeight(i, vocab[i], float(vector[i]), i in highlight) for i in heaviest_ids(vector, vocab, n, hide_special)]


@dataclass(frozen=True, eq=False)
class PositionTermGrid:
    """The heatmap: the text's word pieces (rows) x the pooled vector's top terms (columns)."""

    tokens: list[str]  # row labels, in text order
    positions: list[int]  # each row's position in the text
    columns: list[TermWeight]  # heaviest first; highlighted = one of the text's own word pieces
    values: np.ndarray  # (rows, columns) log(1 + ReLU(logit))
    winners: list[int | None]  # per column, the row holding the max; None when that row is hidden
    winner_tokens: list[str]  # per column, the word piece at the winning position (shown or not)

    @property
    def hidden_winners(self) -> list[str]:
        """The hidden rows' word pieces that won a shown column's max, sorted."""
        return sorted({t for t, row in zip(self.winner_tokens, self.winners) if row is None})


def position_term_grid(encoding: SpladeEncoding, vocab: Sequence[str], n_terms: int, hide_special: bool = False) -> PositionTermGrid:
    """Rows: the word pieces ([CLS]/[SEP] included unless hidden); columns: the top pooled terms.

    Each column's max over *all* positions is its pooled weight; `winners` marks where it is.
    """
    columns = term_weights(encoding.vector, vocab, n_terms, set(encoding.input_ids), hide_special)
    term_ids = [c.term_id for c in columns]
    rows = [i for i, token in enumerate(encoding.tokens) if not (hide_special and is_special_or_piece(token))]
    values = encoding.activations[np.ix_(rows, term_ids)].astype(np.float32) if rows and term_ids \
        else np.zeros((len(rows), len(term_ids)), np.float32)
    row_of = {position: r for r, position in enumerate(rows)}
    best = [int(np.argmax(encoding.activations[:, j])) for j in term_ids]
    return PositionTermGrid(
        tokens=[encoding.tokens[i] for i in rows], positions=rows, columns=columns, values=values,
        winners=[row_of.get(p) for p in best], winner_tokens=[encoding.tokens[p] for p in best],
    )


def own_term_count(encoding: SpladeEncoding) -> int:
    """Non-zero terms that are the text's own word pieces (the rest are expansion terms)."""
    return encoding.nnz - encoding.expansion_nnz


@dataclass(frozen=True)
class DocumentView:
    """Page 4's document panel: one passage's vector beside the query's."""

    text: str
    shares: list[SharedTerm]  # the terms both vectors hold, by contribution
    bars: list[TermWeight]  # the passage's heaviest terms; highlighted = shared with the query
    nnz: int  # the passage's non-zero terms
    truncated: int | None  # its length in word pieces when SPLADE read only the start

    @property
    def score(self) -> float:
        return sum(s.contribution for s in self.shares)

    def shares_table(self) -> pd.DataFrame:
        return pd.DataFrame([{"term": s.term, "query weight": round(s.query_weight, 3),
                              "document weight": round(s.doc_weight, 3), "q·d": round(s.contribution, 3)}
                             for s in self.shares], columns=["term", "query weight", "document weight", "q·d"])


def document_view(pipeline: Pipeline, encoding: SpladeEncoding, doc_id: str, vocab: Sequence[str], n_terms: int,
                  hide_special: bool = False) -> DocumentView:
    """A passage's SPLADE vector (from the engine) against the query's: bars, shared terms and the score q·d."""
    engine = pipeline.engine
    vector = engine.doc_vector(doc_id)
    query_ids = {int(i) for i in np.flatnonzero(encoding.vector)}
    return DocumentView(engine.passage(doc_id).text, shared_terms(encoding.vector, vector, vocab),
                        term_weights(vector, vocab, n_terms, query_ids, hide_special), int(np.count_nonzero(vector > 0)),
                        engine.truncation(doc_id))
