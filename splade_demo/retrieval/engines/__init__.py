"""Retrieval engines: where passages are indexed and ranked.

- `memory` (the default): today's in-process BM25 and scipy SPLADE index.
- `milvus:PATH.db`: the embedded milvus-lite 2.5.1, one local file.
- `milvus:http(s)://HOST:PORT`: a Milvus standalone server or cluster; token from SPLADE_DEMO_MILVUS_TOKEN.

Every engine ranks with the same formulas: SPLADE by the dot product q·d, BM25 with Lucene's idf,
k1 = 1.2, b = 0.75 over our analyser's terms. Explanations stay ours: an engine hands out a
document's vector, its analysed terms and the BM25 statistics, and `splade_demo` does the maths.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Mapping, Protocol, Sequence
from urllib.parse import urlsplit

if TYPE_CHECKING:
    import numpy as np

    from splade_demo.data.corpus import Passage
    from splade_demo.retrieval.bm25 import TermContribution
    from splade_demo.retrieval.engines.memory import MemoryEngine
    from splade_demo.retrieval.ranking import Hit

EngineKind = Literal["memory", "milvus"]
ENGINE_ENV = "SPLADE_DEMO_ENGINE"
TOKEN_ENV = "SPLADE_DEMO_MILVUS_TOKEN"
PUBLIC_ENV = "SPLADE_DEMO_PUBLIC"
SPEC_HELP = "memory, milvus:PATH.db (embedded milvus-lite) or milvus:http(s)://HOST:PORT (a Milvus server)"
# milvus-lite 2.5.1 names its socket after the file: letters, digits, '.', '-', '_', at most 36 characters.
LITE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,36}$")


class EngineError(RuntimeError):
    """An engine that cannot answer: unreachable, refused, incomplete or built by another model (one line)."""


class NotAvailable(EngineError):
    """What this engine cannot do at all (one plain sentence, from `not_available`)."""


def not_available(feature: str) -> NotAvailable:
    """The one message for a feature an engine cannot serve: `feature` is its name, as a page shows it."""
    return NotAvailable(f"{feature} is not available with this engine: it needs every passage's score in this "
                        "process (SPLADE_DEMO_ENGINE=memory).")


@dataclass(frozen=True)
class EngineSpec:
    """A parsed SPLADE_DEMO_ENGINE value."""

    kind: EngineKind
    target: str = ""  # the .db path (embedded) or the server URL; "" for memory

    @property
    def embedded(self) -> bool:
        return self.kind == "milvus" and not self.target.startswith(("http://", "https://"))

    def display(self, public: bool | None = None) -> str:
        """A one-line name; in public mode no path or host, and never credentials."""
        public = is_public() if public is None else public
        if self.kind == "memory":
            return "memory"
        if self.embedded:
            return "milvus (embedded milvus-lite)" if public else f"milvus:{self.target}"
        if public:
            return "milvus (server)"
        parts = urlsplit(self.target)
        return f"milvus:{parts.scheme}://{parts.hostname}:{parts.port}"


def is_public() -> bool:
    """True on a shared deployment (SPLADE_DEMO_PUBLIC=1): messages name no server path."""
    return os.environ.get(PUBLIC_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def milvus_token() -> str:
    """The Milvus token from SPLADE_DEMO_MILVUS_TOKEN ("" when unset; milvus-lite ignores it)."""
    return os.environ.get(TOKEN_ENV, "").strip()


def parse_engine_spec(spec: str | None) -> EngineSpec:
    """`memory` | `milvus:PATH.db` | `milvus:http(s)://HOST:PORT`; ValueError naming what is wrong."""
    value = (spec or "").strip()
    if value in ("", "memory"):
        return EngineSpec("memory")
    kind, sep, target = value.partition(":")
    if kind != "milvus" or not sep:
        raise ValueError(f"unknown engine {value!r}; choose {SPEC_HELP}")
    target = target.strip()
    if not target:
        raise ValueError(f"engine {value!r} names no Milvus: give milvus:PATH.db or milvus:http(s)://HOST:PORT")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target):
        return EngineSpec("milvus", _check_url(target))
    return EngineSpec("milvus", _check_path(target))


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"Milvus URL scheme {parts.scheme!r} is not supported; use http:// or https://")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the Milvus URL has an invalid port; give http(s)://HOST:PORT") from None
    if not parts.hostname or port is None:
        raise ValueError("the Milvus URL needs a host and a port: http(s)://HOST:PORT (Milvus listens on 19530)")
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise ValueError("the Milvus URL takes no path or query: http(s)://HOST:PORT")
    return f"{parts.scheme}://{parts.netloc}"


def _check_path(path: str) -> str:
    file = Path(path).expanduser()
    if file.suffix != ".db":
        raise ValueError(f"an embedded Milvus is a file ending in .db (milvus:PATH.db), not {file.name!r}")
    if not LITE_NAME.match(file.name):
        raise ValueError("the .db file name must be at most 36 letters, digits, '.', '-' or '_' (a milvus-lite limit)")
    return str(file)


@dataclass(frozen=True)
class Bm25Stats:
    """What our BM25 formula needs besides a document: N, avgdl and each term's idf."""

    n_docs: int
    avgdl: float
    idf: dict[str, float]


class Engine(Protocol):
    """Where passages are ranked; the pipeline's one way to a ranking, a score or an explanation's inputs.

    Hits are `splade_demo.retrieval.ranking.Hit` (rank from 1, best first, score > 0, ties by corpus position).
    What an engine cannot do raises `NotAvailable` (one sentence); what fails raises `EngineError`.
    """

    spec: EngineSpec

    def __len__(self) -> int:
        """Passages in the index."""

    # -- rank ------------------------------------------------------------------------------------
    def search_splade(self, query_vector: "np.ndarray", k: int) -> list["Hit"]:
        """The k passages with the largest q·d (exact inner product)."""

    def search_bm25(self, query_terms: Sequence[str] | Mapping[str, float], k: int) -> list["Hit"]:
        """The k best passages by BM25 for analysed query terms (a repeated term counts each time)."""

    def splade_ready(self, wait: bool = False) -> bool:
        """Can SPLADE answer now? False while document vectors are still being built (`wait`: build or open them
        first). Raises EngineError when they cannot be had."""

    # -- score these passages --------------------------------------------------------------------
    def splade_scores(self, query_vector: "np.ndarray", doc_ids: Sequence[str]) -> "np.ndarray":
        """q·d of each passage in `doc_ids` (float64, in that order; 0 where nothing is shared)."""

    def bm25_scores(self, query_terms: Sequence[str] | Mapping[str, float], doc_ids: Sequence[str]) -> "np.ndarray":
        """BM25 of each passage in `doc_ids` (float64, in that order)."""

    # -- what explanations need ------------------------------------------------------------------
    def doc_vector(self, doc_id: str) -> "np.ndarray":
        """One passage's SPLADE vector, dense float32 (vocab,)."""

    def passage(self, doc_id: str) -> "Passage":
        """One passage's fields (id, source, title, section, text, url)."""

    def doc_terms(self, doc_id: str) -> list[str]:
        """One passage's analysed terms, in order (what BM25 counts)."""

    def bm25_stats(self, terms: Sequence[str]) -> Bm25Stats:
        """N, avgdl and the idf of `terms`, for our own per-term BM25 explanation."""

    def bm25_explain(self, query_terms: Sequence[str] | Mapping[str, float], doc_id: str) -> list["TermContribution"]:
        """One passage's BM25 score term by term (our formula, `bm25.explain_terms`); the rows sum to its score."""

    def truncation(self, doc_id: str) -> int | None:
        """The passage's length in word pieces when SPLADE read only its start; None: read whole, or not known."""

    def index_note(self) -> str | None:
        """One sentence about the document vectors worth showing (e.g. they could not be saved), or None."""

    def index_origin(self) -> str | None:
        """Where the document vectors came from (a pack, the cache or built here) and at which precision, one
        sentence; None where the engine does not say."""

    def in_process(self, feature: str) -> "MemoryEngine":
        """The whole corpus and its indexes in this process, for `feature` (a page's name for what needs every
        passage's score: labelled pages placed, why-not, context diff); raises `not_available(feature)` elsewhere."""

    def describe(self, public: bool | None = None) -> str:
        """A one-line description for the sidebar and the CLI."""

    def close(self) -> None:
        """Release connections (the memory engine has none)."""


def rerank(hits: Sequence["Hit"], k: int) -> list["Hit"]:
    """Sort by score, ties by corpus position (as `ranking.top_k` does), drop scores <= 0, renumber."""
    ordered = sorted((h for h in hits if h.score > 0.0), key=lambda h: (-h.score, h.index))
    return [h.at(rank) for rank, h in enumerate(ordered[:k], start=1)]
