"""Page 5's evidence: BM25 vs SPLADE rank changes, and the vocabulary-mismatch wins.

The SPLADE score breakdown itself is `splade_demo.explain.splade_view.shared_terms`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.bm25 import BM25Index
from splade_demo.retrieval.pipeline import FUSION_DEPTH, bm25_hits, hybrid_hits, splade_vector_hits
from splade_demo.retrieval.ranking import Hit

if TYPE_CHECKING:
    from splade_demo.retrieval.engines import Engine
    from splade_demo.retrieval.pipeline import Pipeline
    from splade_demo.retrieval.splade_index import SpladeIndex


@dataclass(frozen=True)
class RankChange:
    """Where one passage sits in each ranking (None when it is outside the shown top k)."""

    id: str
    title: str
    section: str
    source: str
    bm25_rank: int | None
    splade_rank: int | None


def rank_changes(bm25: Sequence[Hit], splade: Sequence[Hit]) -> list[RankChange]:
    """Every passage in either top k, with its rank in both (BM25's order first)."""
    bm25_rank = {h.id: h.rank for h in bm25}
    splade_rank = {h.id: h.rank for h in splade}
    seen: dict[str, Hit] = {}
    for hit in [*bm25, *splade]:
        seen.setdefault(hit.id, hit)
    return [RankChange(h.id, h.title, h.section, h.source, bm25_rank.get(h.id), splade_rank.get(h.id)) for h in seen.values()]


def zero_overlap_hits(hits: Sequence[Hit], index: BM25Index, query: str) -> list[Hit]:
    """The hits that share no analysed term with the query: vocabulary-mismatch wins if relevant."""
    terms = set(analyze(query))
    return [h for h in hits if not terms & set(index.doc_terms(h.index))]


@dataclass(frozen=True)
class Comparison:
    """Page 5's rankings of one query: BM25, SPLADE, their fusion, and how ranks moved."""

    bm25: list[Hit]
    splade: list[Hit]
    hybrid: list[Hit]
    changes: list[RankChange]
    mismatch_wins: list[Hit]  # SPLADE hits that share no analysed term with the query


def compare_rankings(bm25: BM25Index, splade_index: "SpladeIndex", query_vector: np.ndarray, query: str,
                     k: int) -> Comparison:
    """Rank one query both ways (the SPLADE query vector is encoded once, by the caller)."""
    lexical = bm25_hits(bm25, query, max(k, FUSION_DEPTH))
    learned = splade_vector_hits(splade_index, query_vector, max(k, FUSION_DEPTH))
    return comparison_of(lexical, learned, k, lambda hits: zero_overlap_hits(hits, bm25, query))


def compare_through(pipeline: "Pipeline", engine: "Engine", query_vector: np.ndarray, query: str, k: int) -> Comparison:
    """`compare_rankings` with both rankings from a pipeline over an engine (Milvus), which also hands out each
    SPLADE hit's analysed terms."""
    depth = max(k, FUSION_DEPTH)
    lexical = pipeline.bm25_ranking(analyze(query), depth)
    learned = pipeline.splade_ranking(query_vector, depth)
    terms = set(analyze(query))
    return comparison_of(lexical, learned, k, lambda hits: [h for h in hits if not terms & set(engine.doc_terms(h.id))])


def comparison_of(lexical: list[Hit], learned: list[Hit], k: int,
                  mismatch: Callable[[list[Hit]], list[Hit]]) -> Comparison:
    """The comparison of two rankings at least FUSION_DEPTH deep (or complete); `mismatch` picks the wins."""
    fused = hybrid_hits(lexical[:FUSION_DEPTH], learned[:FUSION_DEPTH], k)
    lexical, learned = lexical[:k], learned[:k]
    return Comparison(lexical, learned, fused, rank_changes(lexical, learned), mismatch(learned))
