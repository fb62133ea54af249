"""The SPLADE encoder: masked-LM logits at every position -> one weight per vocabulary term.

SPLADE v2 (Formal et al. 2021, "SPLADE v2: Sparse Lexical and Expansion Model for Information
Retrieval", arXiv:2109.10086, eq. 3 with max pooling):

    w_j = max_i log(1 + ReLU(logit_ij))      over the non-padding positions i of the text

Special tokens ([CLS], [SEP]) are positions like any other, as in naver/splade and
sentence-transformers' `SpladePooling("max")`. The weights are not probabilities: they are
log-saturated logits of a head fine-tuned for retrieval, unbounded and not normalised.

`splade_max_pool` is that formula, one line as in naver/splade: the reference the tests hold the cheaper orders to.
Documents use `splade_max_pool_per_text` (pool, then transform); a query pools the activations it shows.

Queries and documents use the encoder's `precision`, so both sides of the dot product come from
the same model: fp32 (exact, the model as loaded), bf16 (a copy in bfloat16, only where the CPU has
native bf16) or int8 (dynamic quantisation of the Linear layers of a copy). The loaded model is never
touched. An empty query raises ValueError; an empty document gets an all-zero vector.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
import torch
from scipy import sparse

from splade_demo.config import PRECISIONS, Precision
from splade_demo.models.admission import QUERY_THREADS, admit
from splade_demo.models.loading import LoadedMLM
from splade_demo.models.quantize import bf16_copy, bf16_is_native, quantized_copy
from splade_demo.retrieval.sparse_terms import top_terms_of, vocabulary

DEFAULT_DOC_MAX_LENGTH = 256  # the length SPLADE models are trained with
MAX_LENGTH_CAP = 512  # BERT's position embeddings
QUERY_MAX_LENGTH = 512  # queries are short; only a pathological one is truncated
# Padded tokens per document batch, by precision: bounds the (batch, seq, vocab) logits (512 x 30,522 fp32 = 62 MB).
# Measured at BERT-base size on demo passages (README "Performance", benchmarks/bench_demo_size.py --variants):
# bf16 on AMX is 1.35x faster at 2048 than at 1024 (its matrix tiles want long inputs; 2048 x 30,522 bf16 = 125 MB).
# int8 on an AMD EPYC Zen 5 (AVX512-VNNI, 2 cores, a machine shared with other work): 2048 beat 512 in three runs of
# four (1.34x at load 4; 2.2x and 1.7x under heavy load, where 1024 gave 1.53x and 4096 no more than 2048) and lost
# in one (0.81x at load 5); its logits are fp32, so a build's peak grows by about 190 MB at 2048 (an earlier
# measurement on another CPU saw no gain above 512). oneDNN's int8 engine was no faster than the default x86 engine.
MAX_BATCH_TOKENS: dict[str, int] = {"fp32": 512, "int8": 2048, "bf16": 2048}


class EncodeProgress(Protocol):
    """What a document encoding reports: `on_start` once before the first batch, `on_batch` after each batch.

    Each count comes in documents and in word pieces as encoded (truncation applied): the word pieces are the work,
    and batches go longest first, so a time left estimated from documents would err by 1.3-2.3x on `demo`."""

    def on_start(self, total: int, skipped: int, total_tokens: int, skipped_tokens: int) -> None:
        """`total` documents (`total_tokens` word pieces), of which `skipped` (`skipped_tokens`) need no encoding
        (blank ones, or in saved batches) and count as done."""

    def on_batch(self, done: int, done_tokens: int) -> None:
        """`done` documents (`done_tokens` word pieces) so far, skipped ones included (`done == total` and
        `done_tokens == total_tokens` after the last batch)."""


class BatchStore(Protocol):
    """Finished batches kept between runs, so that an interrupted encoding resumes (`splade_index.SavedBatches`).

    `begin(plan)` names the batch plan (documents per batch, in order); `load(number, rows)` gives back a saved
    batch of that plan with `rows` rows, or None; `save(number, block)` keeps one (it must not raise). A store with
    a `flush()` method hears it when the encoding stops, finished or not (it may write saved batches lazily)."""

    def begin(self, plan: str) -> None: ...

    def load(self, number: int, rows: int) -> sparse.csr_matrix | None: ...

    def save(self, number: int, block: sparse.csr_matrix) -> None: ...


def splade_max_pool(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """w_j = max_i log(1 + ReLU(logit_ij)) over non-padding positions (Formal et al. 2021, SPLADE v2, eq. 3)."""
    return torch.amax(torch.log1p(torch.relu(logits)) * attention_mask.unsqueeze(-1), dim=1)  # (batch, seq, vocab) -> (batch, vocab)


def splade_max_pool_per_text(logits: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The same weights as `splade_max_pool`, computed in the cheap order (used for documents).

    log(1 + ReLU(x)) never decreases, so max_i f(x_i) = f(max_i x_i): pool the raw logits over
    each text's own positions, then transform only the (batch, vocab) result. This skips three
    passes over the (batch, seq, vocab) logits (about 10x faster pooling, no temporaries). bf16 logits
    are pooled as they are and only the pooled maxima become fp32 (exactly: fp32 holds every bf16 value).
    """
    pooled = []
    for row, keep in zip(logits, attention_mask):  # row: (seq, vocab)
        n = int(keep.sum())
        pooled.append(max_over_positions(row[:n] if bool(keep[:n].all()) else row[keep.bool()]))
    return torch.log1p(torch.relu(torch.stack(pooled).float()))  # (batch, vocab)


def max_over_positions(rows: torch.Tensor) -> torch.Tensor:
    """`rows.amax(dim=0)` for a (positions, vocab) tensor, as a tree of element-wise maxima.

    The same values (max is exact in any order), about 3x faster than `amax` over the outer dimension for
    bf16 rows on CPU, whose reduction kernel walks the positions one vocabulary column at a time."""
    while rows.shape[0] > 1:
        half = rows.shape[0] // 2
        top = torch.maximum(rows[:half], rows[half : 2 * half])
        rows = torch.cat([top, rows[2 * half :]]) if rows.shape[0] % 2 else top
    return rows[0]


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
    resumed: int = 0  # documents taken from saved batches instead of encoded
    encoded_tokens: int = 0  # word pieces encoded in this run (truncation applied)


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

    `owns_model=True` says that `loaded` was loaded for this encoder alone. At int8 or bf16 the encoder
    then keeps its copy only and lets the fp32 weights go: about 260 MB (int8) or 220 MB (bf16) instead
    of 420 MB at BERT-base size (benchmarks/bench_memory.py).
    """

    def __init__(
        self,
        loaded: LoadedMLM,
        precision: Precision = "fp32",
        max_length: int = DEFAULT_DOC_MAX_LENGTH,
        max_batch_tokens: int | None = None,
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
        output = loaded.model.get_output_embeddings()
        self.vocab_size = int(output.out_features if output is not None else loaded.model.config.vocab_size)
        self.vocab = vocabulary(loaded.tokenizer, self.vocab_size)
        self.precision: Precision = precision
        self.precision_note: str | None = None
        self._model: torch.nn.Module = loaded.model
        copies = {"int8": quantized_copy, "bf16": bf16_copy}
        if precision == "bf16" and not bf16_is_native():
            self.precision, self.precision_note = "fp32", "bf16 is not native on this CPU; SPLADE uses fp32"
        elif precision in copies:
            try:  # made once, from a copy: the loaded model is never touched
                self._model = copies[precision](loaded.model, share_tensors=not owns_model)
            except (RuntimeError, AttributeError, ImportError) as exc:  # no quantised engine here
                self.precision, self.precision_note = "fp32", f"{precision} copy failed ({type(exc).__name__}); SPLADE uses fp32"
            else:
                if owns_model:  # drop the last reference to the fp32 weights
                    self.loaded = dataclasses.replace(loaded, model=self._model)
        self.max_batch_tokens = max(int(max_batch_tokens or MAX_BATCH_TOKENS[self.precision]), self.max_length)

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
        return self._encode_one(text, self.query_max_length, threads=QUERY_THREADS)

    def encode_document(self, text: str) -> SpladeEncoding:
        """One document like `encode_documents` does it (max_length), with activations.

        At int8 a document encoded alone can differ slightly from the same document in a batch: dynamic
        quantisation scales the activations per batch."""
        return self._encode_one(text, self.max_length)

    def _encode_one(self, text: str, max_length: int, threads: int | None = None) -> SpladeEncoding:
        if not isinstance(text, str) or not text.strip():
            raise ValueError("cannot encode an empty text: give at least one word")
        tokenizer = self.loaded.tokenizer
        with admit(threads=threads), self.loaded.lock, torch.inference_mode():
            n_tokens = len(tokenizer(text, verbose=False)["input_ids"])
            batch = tokenizer([text], truncation=True, max_length=max_length, return_tensors="pt")
            logits = self._logits(batch).float()  # (1, seq, vocab); bf16 -> fp32 is exact
        activations = torch.log1p(torch.relu(logits[0]))  # (seq, vocab), for display
        vector = max_over_positions(activations)  # `splade_max_pool` of one text: no padding to mask
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
        self, texts: Sequence[str], batch_size: int = 16, progress: EncodeProgress | None = None
    ) -> sparse.csr_matrix:
        """Documents' SPLADE vectors, (docs, vocab) float32, rows in the input order."""
        return self.encode_documents_with_info(texts, batch_size, progress).matrix

    def encode_documents_with_info(
        self, texts: Sequence[str], batch_size: int = 16, progress: EncodeProgress | None = None,
        store: BatchStore | None = None,
    ) -> DocumentVectors:
        """Like `encode_documents`, plus which documents were truncated to `max_length`.

        Batches are length-sorted, longest first: little padding. `progress` hears `on_start` before the
        first batch and `on_batch` after each one, in documents and in word pieces.
        With a `store`, batches it already holds are not encoded again (they count as skipped) and each
        new batch is saved to it: the same batches, so the same vectors as an encoding in one go.
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
        batches = [[order[p] for p in batch]
                   for batch in plan_batches([effective[i] for i in order], batch_size, self.max_batch_tokens)]
        saved: list[sparse.csr_matrix | None] = [None] * len(batches)
        if store is not None:
            store.begin(hashlib.sha256(json.dumps(batches).encode()).hexdigest()[:16])
            saved = [store.load(number, len(batch)) for number, batch in enumerate(batches)]
        resumed = sum(len(batch) for batch, block in zip(batches, saved) if block is not None)
        resumed_tokens = sum(int(effective[batch].sum()) for batch, block in zip(batches, saved) if block is not None)
        if progress is not None:
            progress.on_start(total, blank + resumed, int(effective[encodable].sum()), resumed_tokens)
        blocks: list[sparse.csr_matrix] = []
        try:
            self._encode_batches(texts, batches, saved, effective, store, progress, blocks, blank + resumed,
                                 resumed_tokens)
        finally:  # finished or stopped: the store keeps what was done
            flush = getattr(store, "flush", None)
            if flush is not None:
                flush()
        encoded_tokens = sum(int(effective[batch].sum()) for batch, block in zip(batches, saved) if block is None)
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
        return DocumentVectors(matrix=matrix, truncated=truncated, n_tokens=lengths, resumed=resumed,
                               encoded_tokens=encoded_tokens)

    def _encode_batches(self, texts: list[str], batches: list[list[int]], saved: list[sparse.csr_matrix | None],
                        effective: np.ndarray, store: BatchStore | None, progress: EncodeProgress | None,
                        blocks: list[sparse.csr_matrix], done: int, resumed_tokens: int) -> None:
        """Encode the batches not in `saved`, appending every batch's block to `blocks` in plan order."""
        encoded_tokens = 0
        for number, indices in enumerate(batches):
            block = saved[number]
            if block is None:
                with admit("batch"), self.loaded.lock, torch.inference_mode():  # yields to queries between batches
                    encoded = self.loaded.tokenizer([texts[i] for i in indices], truncation=True,
                                                    max_length=self.max_length, padding=True, return_tensors="pt")
                    logits = self._batch_logits(encoded)
                block = self._pool_block(logits, encoded["attention_mask"])
                del logits
                encoded_tokens += int(effective[indices].sum())
                if store is not None:
                    store.save(number, block)
                done += len(indices)
                if progress is not None:
                    progress.on_batch(done, resumed_tokens + encoded_tokens)
            blocks.append(block)

    # -- model calls -------------------------------------------------------------------------
    def _logits(self, batch: Any) -> torch.Tensor:
        """(batch, seq, vocab) logits in the model's own dtype (bf16 for the bf16 copy), on the CPU."""
        return self._model(**batch).logits

    def _batch_logits(self, batch: Any) -> torch.Tensor:
        """A document batch's logits, wherever the model runs (an accelerator encoder keeps them there)."""
        return self._logits(batch)

    def _pool_block(self, logits: torch.Tensor, attention_mask: torch.Tensor) -> sparse.csr_matrix:
        """A batch's (batch, vocab) SPLADE rows as float32 CSR (`splade_max_pool_per_text`, on the CPU)."""
        with torch.inference_mode():
            vectors = splade_max_pool_per_text(logits, attention_mask)
        return sparse.csr_matrix(vectors.numpy().astype(np.float32, copy=False))
