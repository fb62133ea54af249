"""`index --engine milvus:...`: batched, resumable loading of a corpus into its Milvus collection.

- A corpus the memory engine could hold (at most IN_MEMORY_LIMIT passages) is encoded exactly as the
  memory engine encodes it (`load_or_build_index`, which also reuses or fills its on-disk cache): both
  engines then hold the same vectors, and int8's per-batch scales cannot make them differ.
- A larger corpus is streamed: read in chunks, each chunk encoded (length-sorted batches) and inserted.
- Resumable: the record says "incomplete" before the first insert; a rerun skips the ids present; only
  when the row count equals the corpus does the record say "complete" (searches refuse until then).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol, Sequence

import numpy as np
from scipy import sparse

from splade_demo.retrieval.analyzer import analyze
from splade_demo.data.corpus import PASSAGE_FIELDS, CorpusError, Passage, load_corpus
from splade_demo.retrieval.engines import EngineError, EngineSpec
from splade_demo.retrieval.engines.milvus import (
    FIELD_BYTES,
    SCHEMA_VERSION,
    ModelKey,
    bm25_feature_error,
    close_client,
    collection_name,
    connect,
    count_rows,
    ensure_meta,
    milvus_errors,
    read_meta,
    write_meta,
)
from splade_demo.retrieval.engines.stream import CorpusInfo, corpus_info, iter_passages
from splade_demo.retrieval.splade_index import DEFAULT_BATCH_SIZE, document_text, load_or_build_index

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from splade_demo.retrieval.splade_encoder import EncodeProgress, SpladeEncoder

IN_MEMORY_LIMIT = 20_000  # passages; above it the corpus is streamed
STREAM_CHUNK = 512  # passages read, encoded and inserted together when streaming
INSERT_BATCH = 256  # rows per insert call


class IndexProgress(Protocol):
    """Progress of an index build: the corpus size once, then the passages done after each insert."""

    def on_start(self, total: int) -> None: ...

    def on_batch(self, done: int) -> None: ...


@dataclass(frozen=True)
class Block:
    """Consecutive passages of the corpus and their positions in it."""

    positions: list[int]
    passages: list[Passage]


def create_collection(client: "MilvusClient", name: str, description: str) -> None:
    """Passage fields, `position`, the SPLADE vector (IP) and the analysed text with its BM25 function."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, description=description[:255])
    schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=FIELD_BYTES["id"])
    schema.add_field("position", DataType.INT64)
    for field in PASSAGE_FIELDS[1:]:
        schema.add_field(field, DataType.VARCHAR, max_length=FIELD_BYTES[field])
    schema.add_field("terms", DataType.VARCHAR, max_length=FIELD_BYTES["terms"], enable_analyzer=True,
                     analyzer_params={"tokenizer": "whitespace"})
    schema.add_field("splade", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="terms_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["terms"], output_field_names=["bm25"]))
    index = client.prepare_index_params()
    index.add_index(field_name="splade", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    index.add_index(field_name="bm25", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                    params={"bm25_k1": 1.2, "bm25_b": 0.75})
    client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")


def index_into_milvus(
    spec: EngineSpec, encoder: "SpladeEncoder", corpus_spec: str, cache_dir: Path,
    progress: IndexProgress | None = None, encode_progress: "EncodeProgress | None" = None, *,
    rebuild: bool = False, insert_batch: int = INSERT_BATCH, chunk_size: int = STREAM_CHUNK,
    in_memory_limit: int = IN_MEMORY_LIMIT, batch_size: int = DEFAULT_BATCH_SIZE, public: bool | None = None,
) -> dict[str, Any]:
    """Fill (or resume) the collection of `corpus_spec` under `encoder`; return a report."""
    start = time.perf_counter()
    info = corpus_info(corpus_spec, cache_dir)
    model = ModelKey.of(encoder)
    name = collection_name(info, model)
    where = spec.display(public)
    client = connect(spec, create=True, public=public)
    try:
        with milvus_errors(where):
            record, present = _prepare(client, name, info, model, rebuild, where)
        report = {"engine": where, "collection": name, "corpus": info.name, "model": model.name,
                  "precision": model.precision, "docs": info.count, "already_present": present}
        if record.get("complete") and present == info.count:
            return {**report, "inserted": 0, "complete": True, "seconds": round(time.perf_counter() - start, 2)}
        if progress is not None:
            progress.on_start(info.count)
        if info.count <= in_memory_limit:
            blocks, vectors = _in_memory(encoder, corpus_spec, info, cache_dir, encode_progress, batch_size, insert_batch)
        else:
            blocks, vectors = _streamed(encoder, info, chunk_size, batch_size)
        inserted, total_terms = _load(client, name, where, blocks, vectors, present, insert_batch, progress)
        with milvus_errors(where):
            client.flush(name)
            rows = count_rows(client, name)
            if rows != info.count:
                raise EngineError(f"the Milvus collection of corpus {info.name!r} has {rows:,} rows for "
                                  f"{info.count:,} passages; rebuild it with `index --rebuild`")
            write_meta(client, name, {**record, "complete": True, "docs": info.count, "total_terms": total_terms,
                                      "vocab_size": model.vocab_size})
        return {**report, "inserted": inserted, "complete": True, "seconds": round(time.perf_counter() - start, 2)}
    finally:
        close_client(client, spec)


def _prepare(client: "MilvusClient", name: str, info: CorpusInfo, model: ModelKey,
             rebuild: bool, where: str) -> tuple[dict[str, Any], int]:
    """The collection's record (written "incomplete" before any row) and the rows already present."""
    ensure_meta(client)
    record = read_meta(client).get(name)
    exists = client.has_collection(name)
    if rebuild and exists:
        client.drop_collection(name)
        exists, record = False, None
    if record is None or not exists:
        record = {"schema": SCHEMA_VERSION, "corpus": info.name, "corpus_hash": info.content_hash,
                  "model": model.name, "model_fingerprint": model.fingerprint, "precision": model.precision,
                  "max_length": model.max_length, "vocab_size": model.vocab_size, "docs": info.count,
                  "total_terms": 0, "complete": False, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_meta(client, name, record)
        if not exists:
            try:
                create_collection(client, name, f"splade_demo: {info.name} under {model.label()}")
            except Exception as exc:  # noqa: BLE001 - the BM25 function is the feature probe (unknown version)
                raise bm25_feature_error(exc, where) from None
    present = count_rows(client, name)
    if present > info.count:
        raise EngineError(f"the Milvus collection of corpus {info.name!r} has {present:,} rows for "
                          f"{info.count:,} passages; rebuild it with `index --rebuild`")
    if record.get("complete") and present != info.count:
        record = {**record, "complete": False}
        write_meta(client, name, record)
    return record, present


VectorSource = Callable[[Block, list[int]], sparse.csr_matrix]


def _in_memory(encoder: "SpladeEncoder", corpus_spec: str, info: CorpusInfo, cache_dir: Path,
               encode_progress: "EncodeProgress | None", batch_size: int,
               insert_batch: int) -> tuple[Iterable[Block], VectorSource]:
    """The memory engine's own encoding (and cache), cut into insert-sized blocks."""
    corpus = load_corpus(corpus_spec)
    if corpus.content_hash != info.content_hash:
        raise CorpusError(f"corpus {info.name!r} changed while it was being indexed; run index again")
    holder: list[sparse.csr_matrix] = []

    def vectors(block: Block, keep: list[int]) -> sparse.csr_matrix:
        if not holder:  # encoded only when some passage is missing from Milvus
            holder.append(load_or_build_index(encoder, corpus, cache_dir, encode_progress, batch_size).matrix)
        return holder[0][[block.positions[i] for i in keep]]

    blocks = (Block(list(range(s, min(len(corpus), s + insert_batch))),
                    list(corpus.passages[s:s + insert_batch])) for s in range(0, len(corpus), insert_batch))
    return blocks, vectors


def _streamed(encoder: "SpladeEncoder", info: CorpusInfo, chunk_size: int,
              batch_size: int) -> tuple[Iterable[Block], VectorSource]:
    """Chunks read from the file one at a time; each chunk's missing passages encoded together."""
    def blocks() -> Iterator[Block]:
        passages = iter_passages(info.path)
        position = 0
        while chunk := list(islice(passages, chunk_size)):
            yield Block(list(range(position, position + len(chunk))), chunk)
            position += len(chunk)

    def vectors(block: Block, keep: list[int]) -> sparse.csr_matrix:
        texts = [document_text(block.passages[i]) for i in keep]
        return encoder.encode_documents(texts, batch_size)

    return blocks(), vectors


def _load(client: "MilvusClient", name: str, where: str, blocks: Iterable[Block], vectors: VectorSource,
          present: int, insert_batch: int, progress: IndexProgress | None) -> tuple[int, int]:
    """Insert every block's missing passages; return (rows inserted, analysed terms in the whole corpus)."""
    done = inserted = total_terms = 0
    for block in blocks:
        terms = [analyze(f"{p.title} {p.section} {p.text}") for p in block.passages]
        total_terms += sum(len(t) for t in terms)
        keep = list(range(len(block.passages)))
        if present:
            with milvus_errors(where):
                found = {row["id"] for row in client.get(name, ids=[p.id for p in block.passages], output_fields=["id"])}
            keep = [i for i in keep if block.passages[i].id not in found]
            done += len(block.passages) - len(keep)
        matrix = vectors(block, keep) if keep else None
        for offset in range(0, len(keep), insert_batch):
            part = keep[offset:offset + insert_batch]
            rows = [_row(block.passages[i], block.positions[i], terms[i], matrix, offset + j) for j, i in enumerate(part)]
            with milvus_errors(where):
                client.insert(name, rows)
            inserted += len(rows)
            done += len(rows)
            if progress is not None:
                progress.on_batch(done)
    return inserted, total_terms


def _row(passage: Passage, position: int, terms: Sequence[str], matrix: sparse.csr_matrix, row: int) -> dict[str, Any]:
    """One Milvus row; fields over Milvus' VARCHAR limits are a clear error naming the passage."""
    values: dict[str, Any] = {f: getattr(passage, f) for f in PASSAGE_FIELDS}
    values["terms"] = " ".join(terms)
    for field, limit in FIELD_BYTES.items():
        size = len(values[field].encode("utf-8"))
        if size > limit:
            raise CorpusError(f"passage {passage.id!r}: its {field} is {size:,} bytes, over Milvus' limit of "
                              f"{limit:,}; split the passage")
    start, end = matrix.indptr[row], matrix.indptr[row + 1]
    values["splade"] = dict(zip(matrix.indices[start:end].tolist(), matrix.data[start:end].astype(np.float64).tolist()))
    values["position"] = position
    return values
