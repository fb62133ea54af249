"""What page 4 and page 5 show of SPLADE vectors: term-weight bars, the position x term grid, shared terms.

The score of a passage is the dot product score(q, d) = sum_t q_t * d_t over the terms both vectors share
(Formal et al. 2021, SPLADE v2), so `shared_terms` lists exactly the parts that sum to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Collection, Sequence

import numpy as np

from splade_demo.config import Precision
from splade_demo.retrieval.sparse_terms import as_vocab, heaviest_ids, is_special_or_piece
from splade_demo.retrieval.splade_encoder import SpladeEncoding

PRECISION_CAPTIONS: dict[Precision, str] = {
    "fp32": "fp32: the exact weights",
    "int8": "int8: a quantised copy of the model, several times faster; its weights are close to the exact "
            "fp32 ones, not equal (choose fp32 in the sidebar for those)",
    "bf16": "bf16: a copy of the model in bfloat16, several times faster where the CPU has AMX; its weights are "
            "close to the exact fp32 ones, not equal (choose fp32 in the sidebar for those)",
}


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
