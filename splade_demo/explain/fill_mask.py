"""BERT fill-mask in context: mask each query word in turn (or the text's own [MASK]s) and
predict the top-k vocabulary tokens with their probabilities.

The masked-LM objective (Devlin et al. 2019, "BERT", sec. 3.1): during pre-training some input
tokens are hidden and the model learns to recover them from both sides of their context. At a
masked position i the MLM head gives one logit per vocabulary entry, and

    p(token = v | context) = softmax(logits_i)_v = exp(logit_iv) / sum_u exp(logit_iu)

so the probabilities shown are a softmax over the whole vocabulary *at one position*: they sum
to 1 over the vocabulary, and the top-k sum to less.

Words are BERT's own: the fast tokenizer's pre-tokenisation (whitespace, then every punctuation
character on its own), read back through `word_ids()`. A word that splits into several word
pieces is replaced by a single [MASK] (as a user would type it). Words made only of punctuation
or symbols ("." "(" "+") are not masked in the mask-each-word mode: predicting a full stop tells
nothing about expansion. They still count for `position`, which is the word's index in BERT's
pre-tokenised text. Explicit [MASK] tokens are always predicted.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from splade_demo.models.admission import admit
from splade_demo.models.loading import LoadedMLM

if TYPE_CHECKING:
    import torch

MAX_TOKENS = 512  # BERT's position embeddings; longer inputs are truncated (with a notice)
MAX_BATCH_TOKENS = 8192  # padded tokens per forward pass when many masked variants are batched
MASK_WORD = "[MASK]"


@dataclass(frozen=True)
class Prediction:
    token: str
    probability: float


@dataclass(frozen=True)
class MaskedPosition:
    position: int  # index of the word (or [MASK]) in BERT's pre-tokenised text
    word: str  # the original word as typed, or "[MASK]"
    predictions: list[Prediction]

    @property
    def top_probability(self) -> float:
        """The probability mass of the predictions kept (the top k of the vocabulary's softmax)."""
        return sum(p.probability for p in self.predictions)


@dataclass(frozen=True)
class FillMaskResult:
    positions: list[MaskedPosition]
    truncated: bool  # the text was longer than MAX_TOKENS tokens and was cut
    n_tokens: int  # tokens in the whole text, [CLS]/[SEP] included, before truncation
    words_left_out: int = 0  # maskable words not masked because of `max_words`


@dataclass(frozen=True)
class Word:
    """One word of BERT's pre-tokenisation, and its token span in the (truncated) input ids."""

    index: int
    text: str
    start: int  # first token
    end: int  # one past the last token
    is_mask: bool

    @property
    def maskable(self) -> bool:
        """Not punctuation or symbols only (those are skipped in the mask-each-word mode)."""
        return not all(unicodedata.category(ch)[0] in "PS" for ch in self.text)


@dataclass(frozen=True)
class _Encoded:
    ids: list[int]
    words: list[Word]
    truncated: bool
    n_tokens: int
    has_mask: bool  # the whole text holds a [MASK], even one cut off by truncation


@dataclass(frozen=True)
class ExpansionTerm:
    """A token predicted at one or more masked positions: what an MLM-based expansion would add."""

    token: str
    probability: float  # the highest probability it got at any position (like SPLADE's max pooling)
    sources: tuple[str, ...]  # the masked words that predicted it
    in_query: bool  # the token is already one of the query's own tokens


def predict(
    loaded: LoadedMLM, text: str, k: int = 10, *, max_words: int | None = None, batched: bool = True
) -> FillMaskResult:
    """Top-k predictions at the text's [MASK]s if it has any, else at each word masked in turn.

    Mask-each-word builds one variant of the input per word and runs them as one padded batch
    (`batched=False` runs one forward pass per word; same numbers, for the benchmark).
    `max_words` caps how many words are masked (the first ones).
    """
    _check_k(k)
    if not text.strip():
        return FillMaskResult([], False, 0)
    with admit(), loaded.lock:
        encoded = _encode(loaded.tokenizer, text, _max_length(loaded))
        masks = [w for w in encoded.words if w.is_mask]
        if encoded.has_mask:  # explicit [MASK]s (none left if truncation cut them all off)
            targets, left_out = masks, 0
            sequences, columns = ([encoded.ids], [[w.start for w in masks]]) if masks else ([], [])
        else:
            maskable = [w for w in encoded.words if w.maskable]
            targets = maskable[: max_words if max_words is not None else None]
            left_out = len(maskable) - len(targets)
            sequences = [_masked_variant(encoded.ids, w, loaded.tokenizer.mask_token_id) for w in targets]
            columns = [[w.start] for w in targets]
        rows = _top_k(loaded, sequences, columns, k, batched=batched)
    positions = [MaskedPosition(w.index, MASK_WORD if w.is_mask else w.text, preds) for w, preds in zip(targets, rows)]
    return FillMaskResult(positions, encoded.truncated, encoded.n_tokens, left_out)


def predict_word(loaded: LoadedMLM, text: str, word: str, k: int = 10) -> MaskedPosition | None:
    """Mask the first occurrence of `word` in `text` (compared as the tokenizer normalises it,
    e.g. lower-cased for an uncased model) and predict it; None if the text lacks the word."""
    _check_k(k)
    if not text.strip() or not word.strip():
        return None
    with admit(), loaded.lock:
        target = _normalise(loaded.tokenizer, word.strip())
        encoded = _encode(loaded.tokenizer, text, _max_length(loaded))
        found = next((w for w in encoded.words if _normalise(loaded.tokenizer, w.text) == target), None)
        if found is None:
            return None
        sequence = _masked_variant(encoded.ids, found, loaded.tokenizer.mask_token_id)
        (predictions,) = _top_k(loaded, [sequence], [[found.start]], k)
    return MaskedPosition(found.index, found.text, predictions)


def words(loaded: LoadedMLM, text: str) -> list[Word]:
    """BERT's words for `text` (within the first MAX_TOKENS tokens)."""
    if not text.strip():
        return []
    with loaded.lock:
        return _encode(loaded.tokenizer, text, _max_length(loaded)).words


def query_tokens(loaded: LoadedMLM, text: str) -> set[str]:
    """The vocabulary tokens the text itself is made of (no special tokens)."""
    if not text.strip():
        return set()
    with loaded.lock:
        tokenizer = loaded.tokenizer
        ids = tokenizer(text, add_special_tokens=False, truncation=True, max_length=_max_length(loaded))["input_ids"]
        return set(tokenizer.convert_ids_to_tokens(ids))


def expansion_union(result: FillMaskResult, query_token_set: Iterable[str]) -> list[ExpansionTerm]:
    """The union of the predictions over all masked positions, best probability first.

    A token predicted at several positions keeps its highest probability; tokens that the query
    already contains are flagged `in_query`.
    """
    originals = set(query_token_set)
    best: dict[str, float] = {}
    sources: dict[str, list[str]] = {}
    for masked in result.positions:
        for p in masked.predictions:
            best[p.token] = max(best.get(p.token, 0.0), p.probability)
            if masked.word not in sources.setdefault(p.token, []):
                sources[p.token].append(masked.word)
    terms = [ExpansionTerm(t, best[t], tuple(sources[t]), t in originals) for t in best]
    return sorted(terms, key=lambda term: (-term.probability, term.token))


@dataclass(frozen=True)
class ExpansionSummary:
    """Page 3's "toward query expansion": the pooled predictions, the new ones, and the query's own tokens that no
    masked word predicted."""

    terms: list[ExpansionTerm]
    new_terms: list[ExpansionTerm]
    own_tokens: list[str]  # sorted
    not_predicted: list[str]  # sorted


def expansion_summary(result: FillMaskResult, query_token_set: Iterable[str]) -> ExpansionSummary:
    """`expansion_union` with what it adds to the query and what it leaves out."""
    own = sorted(set(query_token_set))
    terms = expansion_union(result, own)
    predicted = {t.token for t in terms}
    return ExpansionSummary(terms, [t for t in terms if not t.in_query], own, [t for t in own if t not in predicted])


def default_context_word(words_of_query: Sequence[Word], other_sentence: str) -> str:
    """The word to compare across two sentences: the first maskable query word the other sentence also has (else the
    first maskable word, else "")."""
    maskable = [w.text for w in words_of_query if w.maskable and not w.is_mask]
    other = {w.lower() for w in other_sentence.split()}
    return next((w for w in maskable if w.lower() in other), maskable[0] if maskable else "")


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1 (got {k})")


def _max_length(loaded: LoadedMLM) -> int:
    limits = [MAX_TOKENS, getattr(loaded.model.config, "max_position_embeddings", MAX_TOKENS)]
    tokenizer_max = getattr(loaded.tokenizer, "model_max_length", MAX_TOKENS)
    if isinstance(tokenizer_max, int) and tokenizer_max > 0:
        limits.append(tokenizer_max)
    return min(limits)


def _normalise(tokenizer: Any, text: str) -> str:
    normalizer = getattr(getattr(tokenizer, "backend_tokenizer", None), "normalizer", None)
    return normalizer.normalize_str(text) if normalizer is not None else text


def _encode(tokenizer: Any, text: str, max_length: int) -> _Encoded:
    """Token ids (truncated to `max_length`) and the complete words inside them."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("fill-mask needs a fast (Rust) tokenizer to find word boundaries")
    if tokenizer.mask_token_id is None:
        raise ValueError("the tokenizer has no mask token, so this is not a masked-LM")
    enc = tokenizer(text, truncation=True, max_length=max_length, return_offsets_mapping=True)
    ids: list[int] = enc["input_ids"]
    mask_id = tokenizer.mask_token_id
    n_tokens, truncated, cut_word, has_mask = len(ids), False, None, mask_id in ids
    if len(ids) >= max_length:
        full = tokenizer(text, verbose=False)
        n_tokens = len(full["input_ids"])
        has_mask = mask_id in full["input_ids"]
        truncated = n_tokens > max_length
        if truncated:  # a word cut in two by truncation is context only, never masked
            full_word_ids = full.word_ids()
            kept = [w for w in enc.word_ids() if w is not None]
            if kept and full_word_ids.count(kept[-1]) > kept.count(kept[-1]):
                cut_word = kept[-1]
    spans: dict[int, list[int]] = {}
    for token_index, word_id in enumerate(enc.word_ids()):
        if word_id is not None:
            spans.setdefault(word_id, []).append(token_index)
    offsets = enc["offset_mapping"]
    found: list[Word] = []
    for word_id, tokens in spans.items():
        if word_id == cut_word:
            continue
        start, end = tokens[0], tokens[-1] + 1
        surface = text[offsets[start][0] : offsets[end - 1][1]]
        is_mask = end - start == 1 and ids[start] == mask_id
        found.append(Word(word_id, surface, start, end, is_mask))
    return _Encoded(ids, found, truncated, n_tokens, has_mask)


def _masked_variant(ids: Sequence[int], word: Word, mask_id: int) -> list[int]:
    """The ids with the word's pieces replaced by one [MASK]."""
    return [*ids[: word.start], mask_id, *ids[word.end :]]


def _top_k(
    loaded: LoadedMLM, sequences: list[list[int]], columns: list[list[int]], k: int, batched: bool = True
) -> list[list[Prediction]]:
    """For each (sequence, masked column): the k most probable tokens. Call under the lock."""
    import torch  # lazy: torch takes seconds to import, only model calls need it

    if not sequences:
        return []
    tokenizer, model = loaded.tokenizer, loaded.model
    longest = max(len(s) for s in sequences)
    per_batch = max(1, MAX_BATCH_TOKENS // longest) if batched else 1
    k = min(k, model.config.vocab_size)
    results: list[list[Prediction]] = []
    with torch.inference_mode():
        for first in range(0, len(sequences), per_batch):
            logits = _mask_logits(model, sequences[first : first + per_batch], columns[first : first + per_batch],
                                  tokenizer.pad_token_id or 0)
            probabilities = torch.softmax(logits.float(), dim=-1)
            values, indices = probabilities.topk(k, dim=-1)
            for row_values, row_ids in zip(values.tolist(), indices.tolist()):
                tokens = [tokenizer.decode([i]) for i in row_ids]
                results.append([Prediction(t, float(v)) for t, v in zip(tokens, row_values)])
    return results


def _mask_logits(model: Any, sequences: list[list[int]], columns: list[list[int]], pad_id: int) -> "torch.Tensor":
    """MLM logits at the masked columns only, as (n_masks, vocab).

    For BERT the encoder runs on the padded batch and the MLM head only on the masked positions
    (the vocabulary projection for every position would cost a fifth of BERT-base's time and,
    for long inputs, gigabytes). Other architectures take the full logits.
    """
    import torch  # lazy: torch takes seconds to import, only model calls need it

    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    attention = torch.zeros((len(sequences), length), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        input_ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        attention[row, : len(sequence)] = 1
    rows = torch.tensor([r for r, cols in enumerate(columns) for _ in cols], dtype=torch.long)
    cols = torch.tensor([c for cs in columns for c in cs], dtype=torch.long)
    head: Callable[[torch.Tensor], torch.Tensor] | None = getattr(model, "cls", None)
    encoder = getattr(model, "bert", None)
    if head is not None and encoder is not None:
        hidden = encoder(input_ids=input_ids, attention_mask=attention).last_hidden_state  # (batch, seq, hidden)
        return head(hidden[rows, cols])  # (n_masks, vocab)
    return model(input_ids=input_ids, attention_mask=attention).logits[rows, cols]  # (n_masks, vocab)
