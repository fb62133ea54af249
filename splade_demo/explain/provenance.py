"""Where each SPLADE term comes from, and how a masked word ranks under its own mask (as spladeviz shows).

Provenance: SPLADE max-pools over positions, w_j = max_i log(1 + ReLU(logit_ij)) (Formal et al. 2021, SPLADE v2),
so each term has one winning position: argmax_i of the activations (the first position on a tie). The
activations of a single encoded text have no padding, so that argmax is the argmax of the masked logits.

Own-word rank (page 3): with word i masked, BERT's MLM head gives p(v | context) = softmax(logits_i)_v
(Devlin et al. 2019, sec. 3.1). The word's own token is its first word piece (a word of several pieces is
masked by one [MASK], as `fill_mask.predict` does); its rank is 1 + the number of tokens with a higher logit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from splade_demo.explain.fill_mask import MAX_BATCH_TOKENS, _encode, _mask_logits, _masked_variant, _max_length
from splade_demo.retrieval.sparse_terms import heaviest_ids

if TYPE_CHECKING:
    from splade_demo.models.loading import LoadedMLM
    from splade_demo.retrieval.splade_encoder import SpladeEncoding


@dataclass(frozen=True)
class TermOrigin:
    """A SPLADE term and the input position whose activation won its max."""

    term_id: int
    term: str
    weight: float
    position: int  # index into the encoding's word pieces ([CLS] is 0)
    piece: str  # the word piece at that position
    word: str  # the whole word that piece belongs to (its ## pieces joined)


def word_at(tokens: Sequence[str], position: int) -> str:
    """The whole word around a word piece: the piece joined with its `##` neighbours."""
    start = position
    while start > 0 and tokens[start].startswith("##"):
        start -= 1
    end = position + 1
    while end < len(tokens) and tokens[end].startswith("##"):
        end += 1
    return tokens[start] + "".join(t[2:] for t in tokens[start + 1 : end])


def term_provenance(encoding: "SpladeEncoding", vocab: Sequence[str], n: int | None = None,
                    hide_special: bool = False) -> list[TermOrigin]:
    """Each non-zero term (the `n` heaviest, or all) with its winning position, heaviest first (ties by id)."""
    vector = np.asarray(encoding.vector).ravel()
    ids = heaviest_ids(vector, vocab, int(np.count_nonzero(vector > 0)) if n is None else n, hide_special)
    if not ids:
        return []
    winners = np.argmax(encoding.activations[:, ids], axis=0)  # (terms,): first maximum on a tie
    return [TermOrigin(t, vocab[t], float(vector[t]), int(p), encoding.tokens[int(p)], word_at(encoding.tokens, int(p)))
            for t, p in zip(ids, winners)]


def terms_by_position(origins: Sequence[TermOrigin]) -> dict[int, list[TermOrigin]]:
    """The terms each position won ("terms won by this word"), heaviest first, positions in text order."""
    grouped: dict[int, list[TermOrigin]] = defaultdict(list)
    for origin in origins:
        grouped[origin.position].append(origin)
    return {p: grouped[p] for p in sorted(grouped)}


@dataclass(frozen=True)
class OwnWordRank:
    """How the masked-LM ranks a word's own token when that word is masked."""

    position: int  # the word's index in BERT's pre-tokenised text (as `fill_mask.MaskedPosition.position`)
    word: str
    token: str  # the token whose rank is given: the word's first word piece
    pieces: int  # word pieces of the word (1 = the whole word is one vocabulary token)
    rank: int  # 1 = the model's top prediction
    probability: float


def own_word_ranks(loaded: "LoadedMLM", text: str, max_words: int | None = None) -> list[OwnWordRank]:
    """For each maskable word (the first `max_words`), its own token's rank and probability under its mask.

    The words, masking and batching are `fill_mask.predict`'s, so a word in the top k has the probability shown
    there. Explicit [MASK] tokens have no own word and are skipped.
    """
    import torch  # lazy: torch takes seconds to import, only model calls need it

    if not text.strip():
        return []
    with loaded.lock:
        tokenizer = loaded.tokenizer
        encoded = _encode(tokenizer, text, _max_length(loaded))
        targets = [w for w in encoded.words if w.maskable and not w.is_mask][: max_words]
        if not targets:
            return []
        sequences = [_masked_variant(encoded.ids, w, tokenizer.mask_token_id) for w in targets]
        per_batch = max(1, MAX_BATCH_TOKENS // max(len(s) for s in sequences))
        rows: list[OwnWordRank] = []
        with torch.inference_mode():
            for first in range(0, len(targets), per_batch):
                chunk = targets[first : first + per_batch]
                logits = _mask_logits(loaded.model, sequences[first : first + per_batch], [[w.start] for w in chunk],
                                      tokenizer.pad_token_id or 0).float()  # (n_masks, vocab)
                probabilities = torch.softmax(logits, dim=-1)
                for row, word in enumerate(chunk):
                    own = encoded.ids[word.start]
                    rank = 1 + int((logits[row] > logits[row, own]).sum())
                    rows.append(OwnWordRank(word.index, word.text, tokenizer.convert_ids_to_tokens(own),
                                            word.end - word.start, rank, float(probabilities[row, own])))
    return rows
