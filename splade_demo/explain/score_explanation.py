"""Explain one passage's score under BM25, SPLADE and their fusion, retrieved or not (like Lucene's `_explain`).

- BM25 (Robertson & Zaragoza 2009, eq. 3.34, with Lucene's idf; see splade_demo.retrieval.bm25): one row per query term with
  every number of the formula, score = sum_t w_t * idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)),
  idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)). Terms absent from the passage are listed with tf = 0.
- SPLADE (Formal et al. 2021, SPLADE v2): score = q . d = sum_t q_t * d_t over the terms both vectors share.
  `expansion` is true when the term is not one of the query's own word pieces (special tokens excluded).
- Hybrid: reciprocal rank fusion (Cormack et al. 2009, k = 60) of the top FUSION_DEPTH passages of each method,
  exactly as `splade_demo.retrieval.pipeline.hybrid_hits`; a passage in neither top FUSION_DEPTH has score 0.

`rank` is the 1-based position among the passages with a positive score, None at score 0. Ties are broken as
`search` breaks them: BM25 and SPLADE by corpus order (`ranking.top_k`), hybrid by first appearance, BM25's
ranking before SPLADE's (`fusion.reciprocal_rank_fusion`). So a rank here is the passage's rank in
`search --k 1000` whenever the method retrieves it. The JSON contract is in docs/architecture.md (Contracts).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Collection, Mapping, Sequence

import numpy as np

from splade_demo.retrieval.analyzer import analyze
from splade_demo.retrieval.bm25 import BM25Index, query_weights
from splade_demo.data.corpus import Corpus
from splade_demo.retrieval.fusion import RRF_K, reciprocal_rank_fusion
from splade_demo.retrieval.ranking import top_k
from splade_demo.retrieval.pipeline import FUSION_DEPTH

if TYPE_CHECKING:
    from splade_demo.retrieval.splade_encoder import SpladeEncoder, SpladeEncoding
    from splade_demo.retrieval.splade_index import SpladeIndex


@dataclass(frozen=True)
class DocRef:
    id: str
    source: str
    title: str


@dataclass(frozen=True)
class BM25Term:
    """One query term's share of the BM25 score, with every number of the formula."""

    term: str  # the analysed (stemmed) term
    surface: str  # the corpus's most frequent word for that stem
    query_weight: float  # occurrences in the query (w_t)
    N: int  # passages in the corpus
    df: int  # passages containing the term
    idf: float  # ln(1 + (N - df + 0.5) / (df + 0.5))
    tf: int  # occurrences in this passage
    doc_len: int  # this passage's length in analysed terms
    avg_doc_len: float
    k1: float
    b: float
    contribution: float  # w_t * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avg_doc_len))


@dataclass(frozen=True)
class RankedScore:
    """A method's rank for the passage (None at score 0) and its score."""

    rank: int | None
    score: float


@dataclass(frozen=True)
class HybridExplanation(RankedScore):
    """Reciprocal rank fusion has no per-term breakdown: its score is Σ 1/(60 + rank)."""


@dataclass(frozen=True)
class SpladeTerm:
    """One term both vectors share: its part q_t * d_t of the dot product."""

    term: str
    query_weight: float
    doc_weight: float
    contribution: float
    expansion: bool  # not one of the query's own word pieces


@dataclass(frozen=True)
class BM25Explanation(RankedScore):
    terms: list[BM25Term]


@dataclass(frozen=True)
class SpladeExplanation(RankedScore):
    terms: list[SpladeTerm]


@dataclass(frozen=True)
class Explanation:
    """Why one passage scores what it does under each method (docs/architecture.md, Contracts)."""

    query: str
    doc: DocRef
    bm25: BM25Explanation
    splade: SpladeExplanation
    hybrid: HybridExplanation

    def as_contract(self) -> dict[str, object]:
        """The CLI's `explain --json` document (plain dicts, lists, str, int, float, bool and None)."""
        return asdict(self)


def rank_of(scores: np.ndarray, index: int) -> int | None:
    """1-based rank of passage `index` among positive scores, ties by corpus order (as `ranking.top_k`); None at 0."""
    scores = np.asarray(scores, dtype=np.float64)
    score = scores[index]
    if not score > 0.0:
        return None
    return 1 + int(np.count_nonzero(scores > score)) + int(np.count_nonzero(scores[:index] == score))


def passage_index(corpus: Corpus, doc_id: str) -> int:
    """The corpus position of passage `doc_id`; LookupError (one line, with a hint) when there is none."""
    try:
        return corpus.index_of(doc_id)
    except KeyError:
        pass
    ids = [p.id for p in corpus.passages if p.source == doc_id]
    if ids:
        shown = ", ".join(ids[:3]) + (f", … ({len(ids)} passages)" if len(ids) > 3 else "")
        raise LookupError(f"{doc_id!r} is a page, not a passage id; its passages are {shown}")
    raise LookupError(f"no passage with id {doc_id!r} in corpus {corpus.name!r}")


def document_frequencies(index: BM25Index, terms: Collection[str]) -> dict[str, int]:
    """df(t): how many passages contain each term (one pass over the analysed corpus)."""
    counts = dict.fromkeys(terms, 0)
    for freqs in index.model.doc_freqs:
        for term in counts:
            if term in freqs:
                counts[term] += 1
    return counts


def explain_bm25(index: BM25Index, query_terms: Sequence[str] | Mapping[str, float], doc_index: int,
                 scores: np.ndarray | None = None) -> BM25Explanation:
    """BM25 rank, score and one row per query term in query order (tf = 0 rows included); rows sum to the score."""
    weights = query_weights(query_terms)
    scores = index.score(weights) if scores is None else scores
    df = document_frequencies(index, weights)
    n_docs = int(index.model.corpus_size)
    rows = [
        BM25Term(c.term, c.surface, float(c.weight), n_docs, df[c.term], float(c.idf), int(c.tf), int(c.doc_len),
                 float(c.avgdl), float(index.k1), float(index.b), float(c.contribution))
        for c in index.explain(weights, doc_index)
    ]
    return BM25Explanation(rank_of(scores, doc_index), float(scores[doc_index]), rows)


def explain_splade(splade_index: "SpladeIndex", query_vector: np.ndarray, doc_index: int, own_ids: Collection[int],
                   vocab: Sequence[str], scores: np.ndarray | None = None) -> SpladeExplanation:
    """SPLADE rank, score and the shared terms by contribution (ties by term id); they sum to the score."""
    scores = splade_index.scores(query_vector) if scores is None else scores
    q = np.asarray(query_vector, dtype=np.float64).ravel()
    row = splade_index.doc_row(doc_index)
    ids = row.indices[(row.data > 0) & (q[row.indices] > 0)]
    d = dict(zip(row.indices.tolist(), row.data.astype(np.float64).tolist()))
    own = set(own_ids)
    terms = [SpladeTerm(vocab[int(i)], float(q[i]), d[int(i)], float(q[i] * d[int(i)]), int(i) not in own)
             for i in ids]
    order = sorted(range(len(terms)), key=lambda k: (-terms[k].contribution, int(ids[k])))
    return SpladeExplanation(rank_of(scores, doc_index), float(scores[doc_index]), [terms[k] for k in order])


def explain_hybrid(bm25_scores: np.ndarray, splade_scores: np.ndarray, corpus: Corpus, doc_index: int,
                   depth: int = FUSION_DEPTH, k: int = RRF_K) -> HybridExplanation:
    """The passage's place in the reciprocal rank fusion of both top-`depth` rankings (as `search`'s hybrid)."""
    fused = reciprocal_rank_fusion([[h.index for h in top_k(bm25_scores, corpus, depth)],
                                    [h.index for h in top_k(splade_scores, corpus, depth)]], k=k)
    for rank, (item, score) in enumerate(fused, start=1):
        if item == doc_index:
            return HybridExplanation(rank, float(score))
    return HybridExplanation(None, 0.0)


def explain_scores(query: str, doc_index: int, bm25: BM25Index, bm25_terms: Sequence[str] | Mapping[str, float],
                   splade_index: "SpladeIndex", query_vector: np.ndarray, own_ids: Collection[int],
                   vocab: Sequence[str]) -> Explanation:
    """The explanation for already analysed BM25 terms and an already encoded (or edited) SPLADE query vector."""
    passage = bm25.corpus.passages[doc_index]
    bm25_scores = bm25.score(query_weights(bm25_terms))
    splade_scores = splade_index.scores(query_vector)
    return Explanation(
        query=query,
        doc=DocRef(passage.id, passage.source, passage.title),
        bm25=explain_bm25(bm25, bm25_terms, doc_index, bm25_scores),
        splade=explain_splade(splade_index, query_vector, doc_index, own_ids, vocab, splade_scores),
        hybrid=explain_hybrid(bm25_scores, splade_scores, bm25.corpus, doc_index),
    )


def own_word_pieces(encoding: "SpladeEncoding", special_ids: Collection[int]) -> frozenset[int]:
    """The vocabulary ids of the text's own word pieces, without [CLS], [SEP] and other special tokens."""
    return frozenset(encoding.input_ids) - frozenset(int(i) for i in special_ids)


def explain(query: str, doc_id: str, bm25: BM25Index, encoder: "SpladeEncoder",
            splade_index: "SpladeIndex") -> Explanation:
    """Explain passage `doc_id` for `query` under BM25, SPLADE and hybrid; works for any passage.

    Raises LookupError for an unknown passage id and ValueError for a query SPLADE cannot encode (blank).
    """
    doc_index = passage_index(bm25.corpus, doc_id)
    encoding = encoder.encode_query(query)
    own = own_word_pieces(encoding, encoder.loaded.tokenizer.all_special_ids)
    return explain_scores(query, doc_index, bm25, analyze(query), splade_index, encoding.vector, own, encoder.vocab)
