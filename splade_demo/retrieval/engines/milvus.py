"""The `milvus` engine: SPLADE and BM25 in Milvus, embedded (milvus-lite) or on a server, through MilvusClient.

One collection per (corpus content, model, precision, max length), named from their hash:
- the passage fields, and `position` (the passage's place in the corpus: ties rank as in memory);
- `splade`: the SPLADE vector (SPARSE_FLOAT_VECTOR, SPARSE_INVERTED_INDEX, metric IP: exact q·d);
- `terms`: our analyser's terms joined by spaces, read by Milvus' `whitespace` tokenizer, and a
  BM25 Function into `bm25` (bm25_k1 = 1.2, bm25_b = 0.75): Lucene's idf, as `splade_demo.bm25`.
A small `splade_demo_meta` collection records, per collection, what built it and whether it is
complete; an incomplete or foreign collection refuses to answer (`index` resumes it).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import math
import shlex
import socket
import sys
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence
from urllib.parse import urlsplit

import numpy as np

from splade_demo.retrieval.bm25 import B, K1, TermContribution, explain_terms, lucene_idf
from splade_demo.data.corpus import PASSAGE_FIELDS, Passage
from splade_demo.retrieval.ranking import Hit
from splade_demo.retrieval.engines import (
    Bm25Stats,
    EngineError,
    EngineSpec,
    is_public,
    milvus_token,
    not_available,
    rerank,
)
from splade_demo.retrieval.engines.stream import CorpusInfo

if TYPE_CHECKING:
    from pymilvus import MilvusClient

    from splade_demo.retrieval.engines.memory import MemoryEngine
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

SCHEMA_VERSION = 1
META_COLLECTION = "splade_demo_meta"
CONNECT_TIMEOUT_S = 5.0
MAX_LIMIT = 16_384  # Milvus' largest top-k
TIE_MARGIN = 10  # extra hits fetched so that ties at the cut rank by corpus position, as in memory
# VARCHAR limits in bytes (65,535 is Milvus' largest).
FIELD_BYTES: dict[str, int] = {"id": 512, "source": 1024, "title": 4096, "section": 4096, "url": 4096,
                               "text": 65_535, "terms": 65_535}
HIT_FIELDS = ["id", "position", "source", "title", "section", "url"]
AUTH_WORDS = ("auth", "credential", "token", "password", "permission", "privilege", "unauthenticated")
# pymilvus retries an unreachable server 75 times (3.5 min, measured when the server died mid-insert). Ours: every
# RPC stops retrying after RETRY_TIMES tries, and the frequent ones after RPC_TIMEOUT_S (also each try's deadline;
# an insert of INSERT_BATCH rows or a search takes well under a second here).
RETRY_TIMES = 4
RPC_TIMEOUT_S = 10
# pymilvus' failures reach the user as one EngineError: its loggers (configured by its own import) stay silent.
PYMILVUS_LOGGERS = ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer")
# pymilvus shares one connection per URI (and milvus-lite one server per file) across clients: count the
# clients per target, and close the connection only with the last one.
_OPEN: dict[str, int] = {}
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelKey:
    """What the SPLADE vectors depend on besides the corpus."""

    name: str
    fingerprint: str
    precision: str
    max_length: int
    vocab_size: int

    @classmethod
    def of(cls, encoder: "SpladeEncoder") -> "ModelKey":
        return cls(encoder.name, encoder.fingerprint, encoder.precision, encoder.max_length, encoder.vocab_size)

    def label(self) -> str:
        return f"{self.name} ({self.precision}, max length {self.max_length})"


def collection_name(corpus: CorpusInfo, model: ModelKey) -> str:
    """splade_demo_<hash of schema, text recipe, corpus content, model, precision, max length>."""
    from splade_demo.retrieval.splade_index import DOCUMENT_TEXT  # (imports torch: only when a model is involved)

    parts = {"schema": SCHEMA_VERSION, "text": DOCUMENT_TEXT, "corpus": corpus.content_hash,
             "model": model.fingerprint, "precision": model.precision, "max_length": model.max_length}
    return "splade_demo_" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


# -- connecting -----------------------------------------------------------------------------------
def embedded_unavailable() -> str | None:
    """Why the embedded milvus-lite cannot run on this machine, in one line (None when it can)."""
    if sys.platform == "win32":
        return "embedded Milvus has no Windows build; use a Milvus server URI (milvus:http://HOST:19530)"
    if importlib.util.find_spec("milvus_lite") is None:
        return ("embedded Milvus (milvus-lite) is not installed: `pip install -r requirements.txt`, "
                "or use a Milvus server URI (milvus:http://HOST:19530)")
    return None


def connect(spec: EngineSpec, create: bool = False, public: bool | None = None) -> "MilvusClient":
    """A MilvusClient for `spec`; every failure is one EngineError (no path or host in public mode)."""
    where = spec.display(public)
    if spec.embedded:
        if (unavailable := embedded_unavailable()) is not None:
            raise EngineError(unavailable)
        path = Path(spec.target)
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        elif not path.is_file():
            raise EngineError(f"there is no Milvus database at {where}: build it with "
                              f"`python -m splade_demo index --engine {where}`")
    else:
        _probe(spec, where)
    with _quiet():
        from pymilvus import MilvusClient

        _silence_pymilvus()
        try:
            client = BoundedRetries(MilvusClient(uri=spec.target, token=milvus_token(), timeout=CONNECT_TIMEOUT_S))
            client.list_collections()  # the first call that a wrong token fails
            if not spec.embedded:
                _check_version(client, where)
        except EngineError:
            raise
        except Exception as exc:  # noqa: BLE001 - pymilvus raises many kinds; each becomes one line
            if spec.embedded and "Open local milvus failed" in str(exc):
                raise EngineError(f"could not open the Milvus database {where}: another process may be using it "
                                  "(milvus-lite serves one process per file)") from None
            raise engine_error(exc, where) from None
    with _OPEN_LOCK:
        _OPEN[spec.target] = _OPEN.get(spec.target, 0) + 1
    return client


def _silence_pymilvus() -> None:
    for name in PYMILVUS_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


class BoundedRetries:
    """A MilvusClient whose calls stop retrying a failed RPC: a server that went away mid-build is one line within
    seconds, not minutes of pymilvus' silent retries. pymilvus' retry decorator reads `retry_times`, and an int
    `timeout` as its retry limit; some MilvusClient methods pass on only `timeout`."""

    RPCS = frozenset({"flush", "load_collection", "create_collection", "drop_collection", "describe_collection",
                      "get_server_version"})
    TIMED_RPCS = frozenset({"insert", "upsert", "search", "query", "get", "has_collection", "list_collections"})

    def __init__(self, client: "MilvusClient") -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self.RPCS | self.TIMED_RPCS or not callable(attribute):
            return attribute

        def bounded(*args: Any, **kwargs: Any) -> Any:
            kwargs.setdefault("retry_times", RETRY_TIMES)
            if name in self.TIMED_RPCS:
                kwargs.setdefault("timeout", RPC_TIMEOUT_S)
            return attribute(*args, **kwargs)

        return bounded


def _probe(spec: EngineSpec, where: str) -> None:
    """Fail fast on a closed port or an unknown host (gRPC alone waits out its whole timeout)."""
    parts = urlsplit(spec.target)
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise EngineError(f"cannot reach Milvus at {where} ({reason}); is the server running?") from None


def _check_version(client: "MilvusClient", where: str) -> str | None:
    """Refuse a server older than 2.5 (no BM25 function). A server that does not answer `GetVersion` (milvus-lite's
    own server answers UNIMPLEMENTED) has an unknown version: then the feature itself is the probe, when
    `create_collection` adds the BM25 function (`bm25_feature_error`). Returns the version, or None."""
    try:
        version = str(client.get_server_version()).lstrip("v")
    except Exception as exc:  # noqa: BLE001 - an RPC we use only for a check: unknown version, go on
        if _status_name(exc) in ("UNIMPLEMENTED", "NOT_FOUND") or "unimplemented" in str(exc).lower():
            return None
        raise
    try:
        major, minor = (int(x) for x in version.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (2, 5):
        raise EngineError(f"Milvus at {where} is version {version}; BM25 functions need Milvus 2.5 or newer")
    return version


def bm25_feature_error(exc: BaseException, where: str) -> EngineError:
    """A collection with a BM25 function was refused: on an old server, say what it lacks; otherwise one line."""
    lowered = _plain_message(exc).lower()
    if any(word in lowered for word in ("function", "bm25", "analyzer", "unknown field", "not support")):
        return EngineError(f"Milvus at {where} cannot create a collection with a BM25 function "
                           f"({_plain_message(exc)[:120]}); it needs Milvus 2.5 or newer")
    return engine_error(exc, where)


def _status_name(exc: BaseException) -> object:
    """A grpc.RpcError's status name (`UNAVAILABLE`), a MilvusException's numeric code, or None."""
    code = getattr(exc, "code", None)
    if callable(code):  # a grpc.RpcError: code() is a grpc.StatusCode
        try:
            code = getattr(code(), "name", None)
        except Exception:  # noqa: BLE001 - a bare RpcError has no status
            code = None
    return code


def _plain_message(exc: BaseException) -> str:
    """What the server said, on one line: a gRPC error's details (never its multi-line repr), a MilvusException's
    message, or str(exc)."""
    details = getattr(exc, "details", None)
    if callable(details):
        try:
            said = details()
        except Exception:  # noqa: BLE001
            said = None
        name = _status_name(exc)
        text = str(said or "").strip() or (f"status {name}" if isinstance(name, str) else "")
    else:
        text = str(getattr(exc, "message", "") or exc)
    text = " ".join(text.split())
    if text.startswith("<") and "RPC that terminated" in text:  # a repr that slipped through (a wrapped error)
        text = text.split("status = ", 1)[-1].split(" ", 1)[0]
    return text or type(exc).__name__


def engine_error(exc: BaseException, where: str) -> EngineError:
    """One line for a pymilvus/gRPC failure: refused credentials, unreachable, or what Milvus said."""
    message = _plain_message(exc)
    code = _status_name(exc)
    lowered = message.lower()
    if code in (1800, "UNAUTHENTICATED", "PERMISSION_DENIED") or any(word in lowered for word in AUTH_WORDS):
        return EngineError(f"Milvus at {where} refused the credentials: check SPLADE_DEMO_MILVUS_TOKEN "
                           "(an API key, or user:password)")
    if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") or any(
            word in lowered for word in ("unavailable", "fail connecting", "connection refused", "deadline")):
        return EngineError(f"cannot reach Milvus at {where}; is the server running?")
    detail = "" if is_public() else f": {message[:200]}"
    kind = code if isinstance(code, str) else type(exc).__name__.lstrip("_")
    return EngineError(f"Milvus at {where} failed ({kind}){detail}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """milvus-lite imports pkg_resources (a warning) and logs to the root logger when it starts or stops: keep
    stderr clean around connecting and closing (only there: this silences every thread for a moment)."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pkg_resources.*")
            yield
    finally:
        logging.disable(previous)


@contextlib.contextmanager
def milvus_errors(where: str) -> Iterator[None]:
    """Turn any Milvus failure inside the block into one EngineError (global logging is left alone)."""
    try:
        yield
    except (EngineError, LookupError, ValueError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001
        raise engine_error(exc, where) from None


# -- the metadata collection ---------------------------------------------------------------------
def ensure_meta(client: "MilvusClient") -> None:
    """Create `splade_demo_meta` (name, info JSON; Milvus needs a vector field, so a 2-d placeholder)."""
    if client.has_collection(META_COLLECTION):
        return
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, description="splade_demo: what built each collection")
    schema.add_field("name", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("info", DataType.JSON)
    schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)
    index = client.prepare_index_params()
    index.add_index(field_name="placeholder", index_type="FLAT", metric_type="L2")
    client.create_collection(META_COLLECTION, schema=schema, index_params=index, consistency_level="Strong")


def read_meta(client: "MilvusClient") -> dict[str, dict[str, Any]]:
    """Every collection's record, by collection name."""
    if not client.has_collection(META_COLLECTION):
        return {}
    rows = client.query(META_COLLECTION, filter='name != ""', output_fields=["name", "info"], limit=MAX_LIMIT)
    return {row["name"]: dict(row["info"]) for row in rows}


def write_meta(client: "MilvusClient", name: str, info: Mapping[str, Any]) -> None:
    ensure_meta(client)
    client.upsert(META_COLLECTION, [{"name": name, "info": dict(info), "placeholder": [0.0, 0.0]}])


def count_rows(client: "MilvusClient", name: str) -> int:
    rows = client.query(name, filter="", output_fields=["count(*)"])
    return int(rows[0]["count(*)"]) if rows else 0


# -- searching ------------------------------------------------------------------------------------
class MilvusEngine:
    """Ranks passages in one complete Milvus collection; explanations get their inputs from it."""

    def __init__(self, spec: EngineSpec, client: "MilvusClient", name: str, meta: Mapping[str, Any],
                 public: bool | None = None) -> None:
        self.spec, self.client, self.name, self.meta = spec, client, name, dict(meta)
        self.where = spec.display(public)
        self._closed = False

    def __len__(self) -> int:
        return int(self.meta["docs"])

    @property
    def avgdl(self) -> float:
        return float(self.meta["total_terms"]) / max(1, len(self))

    def search_splade(self, query_vector: np.ndarray, k: int) -> list[Hit]:
        q = np.asarray(query_vector, dtype=np.float32).ravel()
        if q.shape[0] != int(self.meta["vocab_size"]):
            raise ValueError(f"the query vector has {q.shape[0]} dimensions; the index has {self.meta['vocab_size']}")
        nonzero = np.flatnonzero(q > 0)
        if k < 1 or not len(nonzero):
            return []
        data = dict(zip(nonzero.tolist(), q[nonzero].astype(np.float64).tolist()))
        return self._search(data, "splade", {"metric_type": "IP", "params": {"drop_ratio_search": 0.0}}, k)

    def search_bm25(self, query_terms: Sequence[str] | Mapping[str, float], k: int) -> list[Hit]:
        if isinstance(query_terms, Mapping):  # Milvus counts a repeated term; it takes no other weight
            if any(w != int(w) or w < 0 for w in query_terms.values()):
                raise not_available("BM25 over weighted query terms (glove-bm25)")
            query_terms = [t for t, w in query_terms.items() for _ in range(int(w))]
        text = " ".join(query_terms)
        if k < 1 or not text:
            return []
        return self._search(text, "bm25", {"metric_type": "BM25"}, k)

    def splade_ready(self, wait: bool = False) -> bool:
        return True  # a complete collection was opened

    def splade_scores(self, query_vector: np.ndarray, doc_ids: Sequence[str]) -> np.ndarray:
        """q·d of these passages: each vector fetched and multiplied here (exact, float64)."""
        q = np.asarray(query_vector, dtype=np.float64).ravel()
        return np.array([float(self.doc_vector(d).astype(np.float64) @ q) for d in doc_ids], dtype=np.float64)

    def bm25_scores(self, query_terms: Sequence[str] | Mapping[str, float], doc_ids: Sequence[str]) -> np.ndarray:
        """BM25 of these passages: our formula over each passage's terms and Milvus' statistics."""
        return np.array([sum(r.contribution for r in self.bm25_explain(query_terms, d)) for d in doc_ids],
                        dtype=np.float64)

    def bm25_explain(self, query_terms: Sequence[str] | Mapping[str, float], doc_id: str) -> list[TermContribution]:
        stats = self.bm25_stats(list(query_terms))
        return explain_terms(query_terms, self.doc_terms(doc_id), stats.idf, stats.avgdl)

    def truncation(self, doc_id: str) -> int | None:
        return None  # the collection does not record passage lengths in word pieces

    def index_note(self) -> str | None:
        return None

    def in_process(self, feature: str) -> "MemoryEngine":
        raise not_available(feature)

    def _search(self, data: object, field: str, params: dict[str, Any], k: int) -> list[Hit]:
        limit = min(k + TIE_MARGIN, MAX_LIMIT)
        with milvus_errors(self.where):
            result = self.client.search(self.name, data=[data], anns_field=field, limit=limit,
                                        search_params=params, output_fields=HIT_FIELDS)
        hits = [Hit(0, int(h["entity"]["position"]), str(h["id"]), h["entity"]["source"], h["entity"]["title"],
                    h["entity"]["section"], h["entity"]["url"], float(h["distance"])) for h in result[0]]
        return rerank(hits, k)

    def _get(self, doc_id: str, fields: list[str]) -> dict[str, Any]:
        with milvus_errors(self.where):
            rows = self.client.get(self.name, ids=[doc_id], output_fields=fields)
        if not rows:
            raise LookupError(f"no passage with id {doc_id!r}")
        return rows[0]

    def doc_vector(self, doc_id: str) -> np.ndarray:
        vector = np.zeros(int(self.meta["vocab_size"]), dtype=np.float32)
        for index, weight in dict(self._get(doc_id, ["splade"])["splade"]).items():
            vector[int(index)] = weight
        return vector

    def passage(self, doc_id: str) -> Passage:
        row = self._get(doc_id, list(PASSAGE_FIELDS))
        return Passage(**{f: row[f] for f in PASSAGE_FIELDS})

    def doc_terms(self, doc_id: str) -> list[str]:
        return self._get(doc_id, ["terms"])["terms"].split()

    def bm25_stats(self, terms: Sequence[str]) -> Bm25Stats:
        """idf from Milvus' own score of one passage holding the term: its df is recovered exactly."""
        n, avgdl = len(self), self.avgdl
        idf: dict[str, float] = {}
        for term in dict.fromkeys(terms):
            with milvus_errors(self.where):
                result = self.client.search(self.name, data=[term], anns_field="bm25", limit=1,
                                            search_params={"metric_type": "BM25"}, output_fields=["terms"])
            if not result[0]:
                idf[term] = 0.0  # as BM25Index.idf for a term no passage has
                continue
            doc = str(result[0][0]["entity"]["terms"]).split()
            tf, dl = doc.count(term), len(doc)
            tf_part = tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * dl / avgdl))
            r = math.exp(float(result[0][0]["distance"]) / tf_part) - 1.0
            df = min(n, max(1, round((n + 0.5 - 0.5 * r) / (r + 1.0))))
            idf[term] = lucene_idf(n, df)
        return Bm25Stats(n, avgdl, idf)

    def describe(self, public: bool | None = None) -> str:
        kind = "embedded milvus-lite" if self.spec.embedded else "Milvus server"
        return (f"{self.spec.display(public)} ({kind}), {len(self):,} passages of {self.meta['corpus']}, "
                f"SPLADE {self.meta['model']} {self.meta['precision']}")

    def close(self) -> None:
        """Release the connection (the last engine on a target closes it and stops milvus-lite)."""
        if not self._closed:
            self._closed = True
            close_client(self.client, self.spec)


def open_milvus(spec: EngineSpec, corpus: CorpusInfo, model: ModelKey | None = None,
                public: bool | None = None) -> MilvusEngine:
    """The complete collection of `corpus` for `model` (None: any model, enough for BM25) or a clear refusal."""
    where = spec.display(public)
    client = connect(spec, public=public)
    with milvus_errors(where):
        records = read_meta(client)
        mine = {n: m for n, m in records.items() if m.get("corpus_hash") == corpus.content_hash}
        if model is not None:
            name = collection_name(corpus, model)
            info = mine.get(name)
            if info is None or info.get("model_fingerprint") != model.fingerprint:
                close_client(client, spec)
                raise EngineError(_missing_message(corpus, model, mine, where))
        else:
            complete = sorted(n for n, m in mine.items() if m.get("complete"))
            name = complete[0] if complete else next(iter(sorted(mine)), "")
            info = mine.get(name)
            if info is None:
                close_client(client, spec)
                raise EngineError(f"Milvus at {where} has no index of corpus {corpus.name!r}: build it with "
                                  f"`python -m splade_demo index --corpus {corpus_option(corpus)} --engine {where}`")
        present = count_rows(client, name) if client.has_collection(name) else 0
        if not info.get("complete") or present != int(info.get("docs", -1)):
            close_client(client, spec)
            raise EngineError(f"the Milvus index of corpus {corpus.name!r} ({info.get('model')}) is incomplete: "
                              f"{present:,} of {corpus.count:,} passages; resume it with "
                              f"`python -m splade_demo index --corpus {corpus_option(corpus)} --engine {where}`")
        client.load_collection(name)
    return MilvusEngine(spec, client, name, info, public)


def _missing_message(corpus: CorpusInfo, model: ModelKey, mine: Mapping[str, Mapping[str, Any]], where: str) -> str:
    others = sorted({f"{m.get('model')} ({m.get('precision')}, max length {m.get('max_length')})" for m in mine.values()})
    if others:
        return (f"the Milvus index of corpus {corpus.name!r} was built by another model: {', '.join(others)}, "
                f"not {model.label()}; index it for this model with "
                f"`python -m splade_demo index --corpus {corpus_option(corpus)} --engine {where}`")
    return (f"Milvus at {where} has no index of corpus {corpus.name!r} for {model.label()}: build it with "
            f"`python -m splade_demo index --corpus {corpus_option(corpus)} --engine {where}`")


def corpus_option(corpus: CorpusInfo) -> str:
    """What `--corpus` takes to name this corpus again: `demo`/`full`, else its file (its name in public mode)."""
    if corpus.name in ("demo", "full") or is_public() or not corpus.path:
        return corpus.name
    return shlex.quote(corpus.path)


def close_client(client: "MilvusClient", spec: EngineSpec) -> None:
    """Release one client from `connect`; the last one for a target closes the connection (and milvus-lite)."""
    with _OPEN_LOCK:
        left = _OPEN.get(spec.target, 0) - 1
        if left > 0:
            _OPEN[spec.target] = left
            return
        _OPEN.pop(spec.target, None)
    with contextlib.suppress(Exception), _quiet():
        client.close()
        if spec.embedded:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(spec.target)

