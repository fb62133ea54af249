"""BM25 over the corpus, with a per-term explanation of every score.

Variant: Okapi BM25 (Robertson & Zaragoza 2009, eq. 3.34) with Lucene's idf,
idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5)), k1 = 1.2, b = 0.75 (Lucene's defaults).
rank-bm25's BM25Okapi uses ln((N - n + 0.5) / (n + 0.5)), which is negative for terms in more
than half of the documents and is then floored at 0.25 x the average idf (rank-bm25 #39/#43):
a frequent term can outweigh a rare one. Lucene's idf is always positive, so no score is negative.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
from rank_bm25 import BM25Okapi

from splade_demo.retrieval.analyzer import STOP_WORDS, analyze, stem, tokenize
from splade_demo.data.corpus import Corpus

K1 = 1.2
B = 0.75


class LuceneBM25(BM25Okapi):
    """rank-bm25's BM25Okapi with Lucene's always-positive idf (no epsilon floor)."""

    def __init__(self, corpus: list[list[str]], k1: float = K1, b: float = B) -> None:
        super().__init__(corpus, k1=k1, b=b, epsilon=0.0)

    def _calc_idf(self, nd: dict[str, int]) -> None:
        n_docs = self.corpus_size
        self.idf = {term: lucene_idf(n_docs, df) for term, df in nd.items()}
        self.average_idf = sum(self.idf.values()) / max(1, len(self.idf))


def lucene_idf(n_docs: int, doc_freq: int) -> float:
    """idf(t) = ln(1 + (N - n_t + 0.5) / (n_t + 0.5)) (Lucene's BM25Similarity)."""
    return math.log(1.0 + (n_docs - doc_freq + 0.5) / (doc_freq + 0.5))


@dataclass(frozen=True)
class TermContribution:
    """One query term's share of a document's BM25 score."""

    term: str
    surface: str
    weight: float  # query-side weight (1 per occurrence; similarity for expansion terms)
    idf: float
    tf: int
    doc_len: int
    avgdl: float
    tf_part: float  # tf * (k1 + 1) / (tf + k1 * (1 - b + b * doc_len / avgdl))
    contribution: float  # weight * idf * tf_part


class BM25Index:
    """An analysed corpus with BM25 scoring and explanations."""

    def __init__(self, corpus: Corpus, k1: float = K1, b: float = B) -> None:
        self.corpus = corpus
        self.k1, self.b = k1, b
        tokenized = [analyze(f"{p.title} {p.section} {p.text}") for p in corpus.passages]
        self.model = LuceneBM25(tokenized, k1=k1, b=b)
        self.doc_len = np.asarray(self.model.doc_len, dtype=np.float64)
        self._length_norm = k1 * (1.0 - b + b * self.doc_len / self.model.avgdl)
        postings: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for doc, freqs in enumerate(self.model.doc_freqs):
            for term, tf in freqs.items():
                postings[term][0].append(doc)
                postings[term][1].append(tf)
        self._postings = {t: (np.asarray(d), np.asarray(f, dtype=np.float64)) for t, (d, f) in postings.items()}
        self._surface = self._surface_forms(corpus)
        self._page_docs: dict[str, list[int]] = defaultdict(list)
        for index, p in enumerate(corpus.passages):
            self._page_docs[p.source].append(index)

    @staticmethod
    def _surface_forms(corpus: Corpus) -> dict[str, str]:
        """The most frequent surface word of each stem, to show words rather than stems."""
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for p in corpus.passages:
            for word in tokenize(p.text):
                if word not in STOP_WORDS:
                    counts[stem(word)][word] += 1
        return {term: c.most_common(1)[0][0] for term, c in counts.items()}

    @property
    def avgdl(self) -> float:
        return float(self.model.avgdl)

    def surface(self, term: str) -> str:
        return self._surface.get(term, term)

    def idf(self, term: str) -> float:
        return float(self.model.idf.get(term, 0.0))

    def doc_terms(self, index: int) -> dict[str, int]:
        """Analysed term frequencies of one passage."""
        return dict(self.model.doc_freqs[index])

    def term_scores(self, term: str) -> np.ndarray:
        """Every document's BM25 score for one query term (zero where it is absent)."""
        scores = np.zeros(len(self.doc_len))
        if term in self._postings:
            docs, tf = self._postings[term]
            scores[docs] = self.idf(term) * tf * (self.k1 + 1.0) / (tf + self._length_norm[docs])
        return scores

    def score(self, query_terms: Iterable[str] | Mapping[str, float]) -> np.ndarray:
        """BM25 scores of all documents; a mapping gives each term a query weight."""
        weights = query_weights(query_terms)
        scores = np.zeros(len(self.doc_len))
        for term, weight in weights.items():
            scores += weight * self.term_scores(term)
        return scores

    def search_scores(self, query: str) -> np.ndarray:
        return self.score(analyze(query))

    def explain(self, query_terms: Iterable[str] | Mapping[str, float], index: int) -> list[TermContribution]:
        """Per-term contributions to one document's score; they sum to `score(...)[index]`."""
        weights = query_weights(query_terms)
        freqs = self.model.doc_freqs[index]
        doc_len = int(self.doc_len[index])
        rows: list[TermContribution] = []
        for term, weight in weights.items():
            tf = int(freqs.get(term, 0))
            tf_part = tf * (self.k1 + 1.0) / (tf + self._length_norm[index]) if tf else 0.0
            idf = self.idf(term)
            rows.append(
                TermContribution(term, self.surface(term), weight, idf, tf, doc_len, self.avgdl, tf_part, weight * idf * tf_part)
            )
        return rows

    def page_terms(self, source: str, top_n: int = 8) -> list[str]:
        """The most distinctive words of one page (summed tf x idf over its passages)."""
        totals: Counter[str] = Counter()
        for index in self._page_docs.get(source, []):
            for term, tf in self.model.doc_freqs[index].items():
                totals[term] += tf * self.idf(term)
        return [self.surface(t) for t, _ in totals.most_common(top_n)]

    def page_vocabulary(self, source: str) -> set[str]:
        """All analysed terms of one page."""
        vocabulary: set[str] = set()
        for index in self._page_docs.get(source, []):
            vocabulary.update(self.model.doc_freqs[index])
        return vocabulary


def query_weights(query_terms: Iterable[str] | Mapping[str, float]) -> dict[str, float]:
    """Query-side weights: a repeated term counts once per occurrence, as in rank-bm25."""
    if isinstance(query_terms, Mapping):
        return {t: float(w) for t, w in query_terms.items() if w > 0}
    return {t: float(c) for t, c in Counter(query_terms).items()}


def explain_terms(query_terms: Iterable[str] | Mapping[str, float], doc_terms: Iterable[str],
                  idf: Mapping[str, float], avgdl: float, k1: float = K1, b: float = B) -> list[TermContribution]:
    """`BM25Index.explain` from a passage's analysed terms and the corpus statistics (an engine's `bm25_stats`)."""
    freqs = Counter(doc_terms)
    doc_len = sum(freqs.values())
    norm = k1 * (1.0 - b + b * doc_len / avgdl) if avgdl > 0 else k1
    rows: list[TermContribution] = []
    for term, weight in query_weights(query_terms).items():
        tf = int(freqs.get(term, 0))
        tf_part = tf * (k1 + 1.0) / (tf + norm) if tf else 0.0
        term_idf = float(idf.get(term, 0.0))
        rows.append(TermContribution(term, term, weight, term_idf, tf, doc_len, avgdl, tf_part, weight * term_idf * tf_part))
    return rows


def zero_overlap_pages(index: BM25Index, query: str, sources: Iterable[str]) -> list[str]:
    """The pages among `sources` that share no analysed term with the query."""
    terms = set(analyze(query))
    return [s for s in sources if not terms & index.page_vocabulary(s)]
