"""The terms of a sparse vector over a model's vocabulary: names, the heaviest ones, special tokens."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def is_special_or_piece(term: str) -> bool:
    """True for [CLS]-style special tokens and `##` word-piece continuations (hidden on request)."""
    return term.startswith("##") or (len(term) > 2 and term.startswith("[") and term.endswith("]"))


def vocabulary(tokenizer: Any, size: int) -> list[str]:
    """The term of every output dimension (ids beyond the tokenizer's vocabulary get `[id N]`)."""
    known = min(len(tokenizer), size)
    terms = list(tokenizer.convert_ids_to_tokens(list(range(known))))
    return terms + [f"[id {i}]" for i in range(known, size)]


def as_vocab(vocab: Any) -> Sequence[str]:
    """`vocab` as an id -> term sequence: a list as it is, a tokenizer through a lazy view."""
    if hasattr(vocab, "convert_ids_to_tokens"):
        return _VocabView(vocab)
    return vocab


class _VocabView:
    """Lazy id -> term lookup over a tokenizer (for `top_terms(tokenizer, ...)`)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def __getitem__(self, index: int) -> str:
        return str(self.tokenizer.convert_ids_to_tokens(int(index)))


def heaviest_ids(vector: np.ndarray, vocab: Any, n: int, hide_special: bool = False) -> list[int]:
    """Ids of the `n` heaviest non-zero terms, heaviest first (ties by id); `vocab` a tokenizer or list."""
    vector = np.asarray(vector).ravel()
    nonzero = np.flatnonzero(vector > 0)
    order = nonzero[np.lexsort((nonzero, -vector[nonzero]))]
    if not hide_special:
        return [int(i) for i in order[:n]]
    terms = as_vocab(vocab)
    ids: list[int] = []
    for index in order:
        if len(ids) >= n:
            break
        if not is_special_or_piece(terms[int(index)]):
            ids.append(int(index))
    return ids


def top_terms_of(vector: np.ndarray, vocab: Any, n: int, hide_special: bool = False) -> list[tuple[str, float]]:
    """The `n` heaviest non-zero terms of a SPLADE vector as (term, weight), heaviest first."""
    terms = as_vocab(vocab)
    return [(terms[i], float(vector[i])) for i in heaviest_ids(vector, vocab, n, hide_special)]
