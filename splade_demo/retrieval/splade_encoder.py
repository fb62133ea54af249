"""The SPLADE encoder: masked-LM logits at every position -> one weight per vocabulary term.

SPLADE v2 (Formal et al. 2021, "SPLADE v2: Sparse Lexical and Expansion Model for Information
Retrieval", arXiv:2109.10086, eq. 3 with max pooling):

    w_j = max_i log(1 + ReLU(logit_ij))      over the non-padding positions i of the text

Special tokens ([CLS], [SEP]) are positions like any other, as in naver/splade and
sentence-transformers' `SpladePooling("max")`. The weights are not probabilities: they are
log-saturated logits of a head fine-tuned for retrieval, unbounded and not normalised.

`splade_max_pool` is that formula, one line as in naver/splade. Documents use
`splade_max_pool_per_text`, the same numbers in a cheaper order (pool, then transform).

Queries and documents use the encoder's `precision`, so both sides of the dot product come from
the same model: fp32 (exact, the model as loaded), bf16 (`torch.autocast` on CPU, only where the CPU
has native bf16) or int8 (dynamic quantisation of the Linear layers of a copy; the loaded model is
never touched). An empty query raises ValueError; an empty document gets an all-zero vector.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterator, Sequence

import numpy as np
import torch
from scipy import sparse

from splade_demo.config import PRECISIONS, Precision
from splade_demo.models.mapped_pages import Releaser, page_releaser
from splade_demo.models.loading import LoadedMLM

DEFAULT_DOC_MAX_LENGTH = 256  # the length SPLADE models are trained with
MAX_LENGTH_CAP = 512  # BERT's position embeddings
QUERY_MAX_LENGTH = 512  # queries are short; only a pathological one is truncated
# Padded tokens per document batch: bounds the (batch, seq, vocab) logits (512 x 30,522 fp32 = 62 MB). Measured at
# BERT-base size in int8 on the 32 longest demo passages, 512 encodes as fast as 1024 (3.67 docs/s both) and its
# peak memory during a build is about 70 MB lower; 1024 was as fast as 2048.
DEFAULT_MAX_BATCH_TOKENS = 512
PRECISION_CAPTIONS: dict[Precision, str] = {
    "fp32": "fp32: the exact weights",
    "int8": "int8: a quantised copy of the model, several times faster; its weights are close to the exact "
            "fp32 ones, not equal (choose fp32 in the sidebar for those)",
    "bf16": "bf16 autocast: weights rounded to bfloat16 precision inside the model",
}


def splade_max_pool(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """w_j = max_i log(1 + ReLU(logit_ij)) over non-padding positions (Formal et al. 2021, SPLADE v2, eq. 3)."""
    return torch.amax(torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1), dim=1)  # (batch, seq, vocab) -> (batch, vocab)


def splade_max_pool_per_text(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The same weights as `splade_max_pool`, computed in the cheap order (used for documents).

    log(1 + ReLU(x)) never decreases, so max_i f(x_i) = f(max_i x_i): pool the raw logits over
    each text's own positions, then transform only the (batch, vocab) result. This skips three
    passes over the (batch, seq, vocab) logits (about 10x faster pooling, no temporaries).
    """
    pooled = []
    for row, keep in zip(logits, attention_mask):  # row: (seq, vocab)
        n = int(keep.sum())
        pooled.append(row[:n].amax(dim=0) if bool(keep[:n].all()) else row[keep.bool()].amax(dim=0))
    return torch.log1p(torch.relu(torch.stack(pooled)))  # (batch, vocab)


def is_special_or_piece(term: str) -> bool:
    """True for [CLS]-style special tokens and `##` word-piece continuations (hidden on request)."""
    return term.startswith("##") or (len(term) > 2 and term.startswith("[") and term.endswith("]"))


def vocabulary(tokenizer: Any, size: int) -> list[str]:
    """The term of every output dimension (ids beyond the tokenizer's vocabulary get `[id N]`)."""
    known = min(len(tokenizer), size)
    terms = list(tokenizer.convert_ids_to_tokens(list(range(known))))
    return terms + [f"[id {i}]" for i in range(known, size)]


def _as_vocab(vocab: Any) -> Sequence[str]:
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
    terms = _as_vocab(vocab)
    ids: list[int] = []
    for index in order:
        if len(ids) >= n:
            break
        if not is_special_or_piece(terms[int(index)]):
            ids.append(int(index))
    return ids


def top_terms_of(vector: np.ndarray, vocab: Any, n: int, hide_special: bool = False) -> list[tuple[str, float]]:
    """The `n` heaviest non-zero terms of a SPLADE vector as (term, weight), heaviest first."""
    terms = _as_vocab(vocab)
    return [(terms[i], float(vector[i])) for i in heaviest_ids(vector, vocab, n, hide_special)]


@dataclass(frozen=True, eq=False)
class SpladeEncoding:
    """One text's SPLADE vector, and the per-position activations it was max-pooled from."""

    vector: np.ndarray  # float32 (vocab,)
    tokens: list[str]  # word pieces, [CLS] and [SEP] included
    input_ids: tuple[int, ...]
    activations: np.ndarray  # float32 (positions, vocab): log(1 + ReLU(logits))
    truncated: bool
    n_tokens: int  # before truncation, special tokens included

    @property
    def nnz(self) -> int:
        return int(np.count_nonzero(self.vector))

    @property
    def l1(self) -> float:
        return float(self.vector.sum(dtype=np.float64))

    @property
    def expansion_nnz(self) -> int:
        """Non-zero terms that are not among the text's own word pieces."""
        own = np.zeros(self.vector.shape[0], dtype=bool)
        own[list(self.input_ids)] = True
        return int(np.count_nonzero((self.vector > 0) & ~own))

    @property
    def vocab_share(self) -> float:
        """Non-zeros as a share of the vocabulary."""
        return self.nnz / max(1, self.vector.shape[0])

    def top_terms(self, vocab: Any, n: int, hide_special: bool = False) -> list[tuple[str, float]]:
        """(term, weight) for the `n` heaviest terms; `vocab` is a tokenizer or a list of terms."""
        return top_terms_of(self.vector, vocab, n, hide_special)

    def winners(self) -> np.ndarray:
        """For each vocabulary term, the position whose activation is the max-pooled weight."""
        return np.argmax(self.activations, axis=0)


@dataclass(frozen=True)
class DocumentVectors:
    """Documents' SPLADE vectors (rows in input order) and which were truncated."""

    matrix: sparse.csr_matrix  # float32 (docs, vocab)
    truncated: np.ndarray  # bool (docs,)
    n_tokens: np.ndarray  # int (docs,), before truncation


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
    terms = _as_vocab(vocab)
    return [SharedTerm(terms[int(i)], float(q[i]), float(d[i])) for i in order]


def plan_batches(lengths: Sequence[int], batch_size: int, max_batch_tokens: int) -> list[list[int]]:
    """Split positions 0..n-1 (lengths sorted longest first) into batches of at most `batch_size`
    texts and at most `max_batch_tokens` padded tokens (the first text of a batch is its longest)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for position, length in enumerate(lengths):
        width = int(lengths[current[0]]) if current else int(length)
        if current and (len(current) >= batch_size or (len(current) + 1) * width > max_batch_tokens):
            batches.append(current)
            current = []
        current.append(position)
    if current:
        batches.append(current)
    return batches


class SpladeEncoder:
    """SPLADE encoding with a never-mutated masked-LM (calls hold `loaded.lock`).

    `owns_model=True` says that `loaded` was loaded for this encoder alone. At int8 the encoder then
    keeps its int8 copy only and lets the fp32 weights go: about 260 MB instead of 420 MB at
    BERT-base size (benchmarks/bench_memory.py).
    """

    def __init__(
        self,
        loaded: LoadedMLM,
        precision: Precision = "fp32",
        max_length: int = DEFAULT_DOC_MAX_LENGTH,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        owns_model: bool = False,
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        if max_length < 3:
            raise ValueError(f"max_length must be at least 3 tokens, not {max_length}")
        self.loaded = loaded
        self.requested_precision: Precision = precision
        limit = min(MAX_LENGTH_CAP, int(getattr(loaded.model.config, "max_position_embeddings", MAX_LENGTH_CAP)))
        self.max_length = min(int(max_length), limit)
        self.query_max_length = min(QUERY_MAX_LENGTH, limit)
        self.max_batch_tokens = max(int(max_batch_tokens), self.max_length)
        output = loaded.model.get_output_embeddings()
        self.vocab_size = int(output.out_features if output is not None else loaded.model.config.vocab_size)
        self.vocab = vocabulary(loaded.tokenizer, self.vocab_size)
        self.precision: Precision = precision
        self.precision_note: str | None = None
        self._model: torch.nn.Module = loaded.model
        if precision == "bf16" and not _bf16_autocast_works():
            self.precision, self.precision_note = "fp32", "bf16 autocast is not supported on this CPU; SPLADE uses fp32"
        if precision == "int8":
            try:  # made once, from a copy: the loaded model is never touched
                self._model = quantized_copy(loaded.model, share_tensors=not owns_model)
            except (RuntimeError, AttributeError, ImportError) as exc:  # no quantised engine here
                self.precision, self.precision_note = "fp32", f"int8 quantisation failed ({type(exc).__name__}); SPLADE uses fp32"
            else:
                if owns_model:  # drop the last reference to the fp32 weights
                    self.loaded = dataclasses.replace(loaded, model=self._model)

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def fingerprint(self) -> str:
        return self.loaded.fingerprint

    # -- queries -----------------------------------------------------------------------------
    def encode_query(self, text: str) -> SpladeEncoding:
        """The query's SPLADE vector with its word pieces and per-position activations.

        Raises ValueError for an empty or blank text (a vector of [CLS] and [SEP] alone says nothing).
        """
        return self._encode_one(text, self.query_max_length)

    def encode_document(self, text: str) -> SpladeEncoding:
        """One document like `encode_documents` does it (max_length), with activations.

        At int8 a document encoded alone can differ slightly from the same document in a batch: dynamic
        quantisation scales the activations per batch."""
        return self._encode_one(text, self.max_length)

    def _encode_one(self, text: str, max_length: int) -> SpladeEncoding:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("cannot encode an empty text: give at least one word")
        tokenizer = self.loaded.tokenizer
        with self.loaded.lock, torch.inference_mode():
            n_tokens = len(tokenizer(text, verbose=False)["input_ids"])
            batch = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
            logits = self._logits(batch)  # (1, seq, vocab)
        vector = splade_max_pool(logits, batch["attention_mask"])[0]
        activations = torch.log1p(torch.relu(logits[0]))  # (seq, vocab), for display
        ids = [int(i) for i in batch["input_ids"][0]]
        return SpladeEncoding(
            vector=vector.numpy().astype(np.float32, copy=False),
            tokens=list(tokenizer.convert_ids_to_tokens(ids)),
            input_ids=tuple(ids),
            activations=activations.numpy().astype(np.float32, copy=False),
            truncated=n_tokens > max_length,
            n_tokens=n_tokens,
        )

    # -- documents ---------------------------------------------------------------------------
    def token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        """Each text's length in word pieces before truncation, special tokens included (0 if blank)."""
        lengths = np.zeros(len(texts), dtype=np.int64)
        nonblank = [i for i, t in enumerate(texts) if t.strip()]
        if nonblank:
            with self.loaded.lock:
                ids = self.loaded.tokenizer([texts[i] for i in nonblank], verbose=False)["input_ids"]
            lengths[nonblank] = [len(x) for x in ids]
        return lengths

    def encode_documents(
        self, texts: Sequence[str], batch_size: int = 16, progress: Callable[[int, int], None] | None = None
    ) -> sparse.csr_matrix:
        """Documents' SPLADE vectors, (docs, vocab) float32, rows in the input order."""
        return self.encode_documents_with_info(texts, batch_size, progress).matrix

    def encode_documents_with_info(
        self, texts: Sequence[str], batch_size: int = 16, progress: Callable[[int, int], None] | None = None
    ) -> DocumentVectors:
        """Like `encode_documents`, plus which documents were truncated to `max_length`.

        Batches are length-sorted, longest first: little padding, and the first (timed) batch is
        the slowest, so an estimate made from it errs on the long side. `progress(done, total)`
        is called before the first batch and after each one.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        texts = list(texts)
        total = len(texts)
        lengths = self.token_lengths(texts)
        truncated = lengths > self.max_length
        effective = np.minimum(lengths, self.max_length)
        encodable = [i for i in range(total) if lengths[i] > 0]
        order = sorted(encodable, key=lambda i: (-effective[i], i))
        blank = total - len(encodable)
        if progress is not None:
            progress(blank, total)
        blocks: list[sparse.csr_matrix] = []
        done = blank
        for batch in plan_batches([effective[i] for i in order], batch_size, self.max_batch_tokens):
            indices = [order[p] for p in batch]
            with self.loaded.lock, torch.inference_mode():
                encoded = self.loaded.tokenizer([texts[i] for i in indices], truncation=True, max_length=self.max_length,
                                                padding=True, return_tensors="pt")
                logits = self._logits(encoded)
            vectors = splade_max_pool_per_text(logits, encoded["attention_mask"])
            del logits
            blocks.append(sparse.csr_matrix(vectors.numpy().astype(np.float32, copy=False)))
            done += len(indices)
            if progress is not None:
                progress(done, total)
        if blocks:
            stacked = sparse.vstack(blocks, format="csr", dtype=np.float32)
            rows = np.full(total, -1, dtype=np.int64)
            rows[order] = np.arange(len(order))
            # Blank documents point at an extra all-zero row.
            padded = sparse.vstack([stacked, sparse.csr_matrix((1, self.vocab_size), dtype=np.float32)], format="csr")
            rows[rows < 0] = len(order)
            matrix = padded[rows]
        else:
            matrix = sparse.csr_matrix((total, self.vocab_size), dtype=np.float32)
        matrix = sparse.csr_matrix(matrix, dtype=np.float32)
        matrix.sort_indices()
        return DocumentVectors(matrix=matrix, truncated=truncated, n_tokens=lengths)

    # -- model calls -------------------------------------------------------------------------
    def _logits(self, batch: Any) -> torch.Tensor:
        with _autocast(self.precision == "bf16"):
            logits = self._model(**batch).logits
        return logits.float()


def quantized_copy(model: torch.nn.Module, share_tensors: bool = True) -> torch.nn.Module:
    """An int8 copy of `model` (dynamic quantisation of its Linear layers); `model` is untouched.

    Weights get one scale per output channel: per-tensor scales moved the tiny SPLADE's top-10 pages
    (overlap 0.94 with fp32 on the labelled queries; 0.96 per channel, benchmarks/bench_encode.py).
    Only the module tree is copied: while it is made, the copy shares every fp32 tensor with `model`
    (read-only), so it never holds a second fp32 model.

    `share_tensors=False` is for a `model` that will be dropped afterwards: the tensors that stay fp32
    (embeddings, LayerNorm, biases) are cloned first, so the copy keeps no reference to `model`'s memory,
    and each fp32 Linear weight's memory-mapped pages are given back once its int8 version exists
    (splade_demo.models.mapped_pages), so the fp32 and int8 weights are never resident together.
    """
    shared = {id(t): t for t in [*model.parameters(), *model.buffers()]}
    skeleton = copy.deepcopy(model, memo=shared)
    release = None
    if not share_tensors:  # before quantising: the int8 layers keep their fp32 bias tensors as given
        _clone_tensors(skeleton, keep=_linear_only_weights(skeleton))
        release = page_releaser()
    _quantize_linear_layers(skeleton, release)
    return skeleton.eval()


def _quantize_linear_layers(model: torch.nn.Module, release: Releaser | None) -> None:
    """Swap each torch.nn.Linear for its dynamic int8 version, as `torch.ao.quantization.quantize_dynamic`
    does with a per-channel qconfig, one layer at a time; `release(weight)` after each."""
    qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is torch.nn.Linear:
                    child.qconfig = qconfig
                    setattr(parent, name, torch.ao.nn.quantized.dynamic.Linear.from_float(child))
                    if release is not None:
                        release(child.weight)


def _linear_only_weights(module: torch.nn.Module) -> set[int]:
    """Ids of the Linear weights that no other kind of layer uses (a tied decoder shares the embeddings')."""
    linear = {id(m.weight) for m in module.modules() if isinstance(m, torch.nn.Linear)}
    other = {id(p) for m in module.modules() if not isinstance(m, torch.nn.Linear) for p in m.parameters(recurse=False)}
    return linear - other


def _clone_tensors(module: torch.nn.Module, keep: Collection[int] = ()) -> None:
    """Give every parameter and buffer of `module` its own memory, except those whose id is in `keep`.

    Tied tensors stay tied (one clone each)."""
    clones: dict[int, torch.Tensor] = {id(t): t for t in [*module.parameters(), *module.buffers()] if id(t) in keep}

    def own(tensor: torch.Tensor, as_parameter: bool) -> torch.Tensor:
        if id(tensor) not in clones:
            copied = tensor.detach().clone()
            clones[id(tensor)] = torch.nn.Parameter(copied, requires_grad=False) if as_parameter else copied
        return clones[id(tensor)]

    for sub in module.modules():
        for name, param in sub._parameters.items():
            if param is not None:
                sub._parameters[name] = own(param, as_parameter=True)  # type: ignore[assignment]
        for name, buffer in sub._buffers.items():
            if buffer is not None:
                sub._buffers[name] = own(buffer, as_parameter=False)


@contextlib.contextmanager
def _autocast(enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield


def _bf16_autocast_works() -> bool:
    """True when CPU autocast to bfloat16 runs a Linear layer here on native bf16 kernels.

    Without avx512_bf16/AMX, oneDNN emulates bf16: about 5x slower than fp32 (benchmarks/bench_encode.py).
    """
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = torch.nn.functional.linear(torch.ones(2, 4), torch.ones(3, 4))
        return out.dtype == torch.bfloat16
    except (RuntimeError, TypeError, AttributeError):
        return False


# -- what page 4 shows -----------------------------------------------------------------------
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
