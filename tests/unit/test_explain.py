"""explain: per-term breakdowns, ranks that agree with `search`, page collapse, term editing, context diff.

Oracles: the BM25 formula by hand from the raw passages, the dot product from the dense vectors, `Pipeline.rank`,
`evaluation.scored_pages` and `evaluation.evaluate`. The tiny SPLADE runs at fp32 (exact).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from splade_demo.retrieval.analyzer import analyze
from splade_demo.config import Settings
from splade_demo.data.corpus import Corpus, LabelledQuery, load_corpus
from splade_demo.retrieval.evaluation import EVAL_DEPTH, evaluate, scored_pages
from splade_demo.explain.context_diff import DEFAULT_CONTRAST, context_diff
from splade_demo.explain.pages import best_passage, collapse_to_pages
from splade_demo.explain.score_explanation import (
    Explanation,
    explain,
    explain_scores,
    own_word_pieces,
    passage_index,
    rank_of,
)
from splade_demo.explain.term_editing import EditableQuery, rerank
from splade_demo.retrieval.ranking import pages_in_order, top_k
from splade_demo.retrieval.pipeline import METHODS, Pipeline
from splade_demo.retrieval.splade_encoder import SpladeEncoder
from splade_demo.retrieval.splade_index import SpladeIndex, build_index
from tests.conftest import TINY_PASSAGES

QUERY = "python memory management"
QUERIES = (QUERY, "garbage collector reference cycles", "json decode error", "free unused memory")
DEMO_PAGES = {"library/gc": 8, "c-api/refcounting": 3, "c-api/memory": 6, "library/json": 5, "library/tracemalloc": 4}
LABELLED = LabelledQuery("q01", QUERY, {"c-api/memory": 2, "library/gc": 2, "c-api/refcounting": 2,
                                        "library/tracemalloc": 1}, "mismatch")


@pytest.fixture(scope="module")
def corpus_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny passages, some demo pages, and an exact copy of mem#1 (a tie under every method)."""
    demo = load_corpus("demo")
    taken: Counter[str] = Counter()
    records = [{**r, "url": ""} for r in TINY_PASSAGES]
    for p in demo.passages:
        if taken[p.source] < DEMO_PAGES.get(p.source, 0):
            taken[p.source] += 1
            records.append({"id": p.id, "source": p.source, "title": p.title, "section": p.section, "text": p.text,
                            "url": p.url})
    records.append({**records[1], "id": "mem#copy"})
    path = tmp_path_factory.mktemp("explain") / "explain.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def corpus(corpus_path: Path) -> Corpus:
    return load_corpus(str(corpus_path))


@pytest.fixture(scope="module")
def splade_index(encoder: SpladeEncoder, corpus: Corpus) -> SpladeIndex:
    return build_index(encoder, corpus)


@pytest.fixture(scope="module")
def pipeline(corpus_path: Path, tiny_splade_dir: Path, encoder: SpladeEncoder, splade_index: SpladeIndex,
             tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """`search`'s own pipeline; only the (expensive) encoder and document vectors are handed in."""
    settings = Settings(splade_model=str(tiny_splade_dir), precision="fp32", cache_dir=tmp_path_factory.mktemp("c"))
    return Pipeline.from_settings(settings, str(corpus_path), engine_spec="memory", encoder=lambda: encoder,
                                  splade_index=lambda: splade_index)


def explain_all(pipeline: Pipeline, query: str) -> list[Explanation]:
    return [explain(query, p.id, pipeline.in_process("test").bm25, pipeline.sources.encoder(), pipeline.in_process("test").splade)
            for p in pipeline.in_process("test").corpus.passages]


def test_breakdowns_sum_to_the_scores_for_retrieved_and_missed_passages(pipeline: Pipeline) -> None:
    missed = explain(QUERY, "json#1", pipeline.in_process("test").bm25, pipeline.sources.encoder(), pipeline.in_process("test").splade)
    assert missed.bm25.rank is None and missed.bm25.score == 0.0  # shares no word with the query...
    assert [t.tf for t in missed.bm25.terms] == [0, 0, 0] and missed.splade.rank is not None  # ...SPLADE finds it
    seen = Counter()
    for query in QUERIES:
        bm25_scores = pipeline.in_process("test").bm25.score(analyze(query))
        splade_scores = pipeline.in_process("test").splade.scores(pipeline.sources.encoder().encode_query(query).vector)
        for i, e in enumerate(explain_all(pipeline, query)):
            assert e.bm25.score == bm25_scores[i] and e.splade.score == splade_scores[i]
            assert sum(t.contribution for t in e.bm25.terms) == pytest.approx(e.bm25.score, rel=1e-12, abs=1e-12)
            assert sum(t.contribution for t in e.splade.terms) == pytest.approx(e.splade.score, rel=1e-9, abs=1e-12)
            seen.update(f"{part} {'missed' if getattr(e, part).rank is None else 'retrieved'}"
                        for part in ("bm25", "splade"))
    assert set(seen) == {"bm25 missed", "bm25 retrieved", "splade missed", "splade retrieved"}


def test_bm25_rows_equal_the_formula_by_hand(pipeline: Pipeline, corpus: Corpus) -> None:
    docs = [analyze(f"{p.title} {p.section} {p.text}") for p in corpus.passages]
    n, avgdl, k1, b = len(docs), sum(map(len, docs)) / len(docs), 1.2, 0.75
    for doc_id in ("mem#1", "library/gc#2", "json#1"):
        e = explain(QUERY + " python", doc_id, pipeline.in_process("test").bm25, pipeline.sources.encoder(), pipeline.in_process("test").splade)
        tokens = docs[corpus.index_of(doc_id)]
        assert [t.term for t in e.bm25.terms] == list(dict.fromkeys(analyze(QUERY)))
        for row in e.bm25.terms:
            df = sum(row.term in d for d in docs)
            tf = tokens.count(row.term)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            weight = analyze(QUERY + " python").count(row.term)
            by_hand = weight * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(tokens) / avgdl))
            assert (row.N, row.df, row.tf, row.doc_len, row.k1, row.b, row.query_weight) == \
                   (n, df, tf, len(tokens), k1, b, weight)
            assert row.avg_doc_len == pytest.approx(avgdl, rel=1e-12)
            assert row.idf == pytest.approx(idf, rel=1e-12)
            assert row.contribution == pytest.approx(by_hand, rel=1e-12, abs=1e-15)


def test_splade_rows_are_the_shared_terms_of_the_dot_product(pipeline: Pipeline) -> None:
    encoder, index = pipeline.sources.encoder(), pipeline.in_process("test").splade
    q = encoder.encode_query(QUERY).vector.astype(np.float64)
    own = set(encoder.loaded.tokenizer(QUERY, add_special_tokens=False)["input_ids"])
    for doc in ("mem#1", "library/gc#1"):
        d = index.doc_vector(index.corpus.index_of(doc)).astype(np.float64)
        expected = {encoder.vocab[j]: (q[j], d[j], j not in own) for j in np.flatnonzero((q > 0) & (d > 0))}
        rows = explain(QUERY, doc, pipeline.in_process("test").bm25, encoder, index).splade.terms
        assert {t.term: (t.query_weight, t.doc_weight, t.expansion) for t in rows} == expected
        assert all(t.contribution == t.query_weight * t.doc_weight for t in rows)
        assert [t.contribution for t in rows] == sorted((t.contribution for t in rows), reverse=True)
        assert sum(t.contribution for t in rows) == pytest.approx(float(q @ d), rel=1e-9)


@pytest.mark.parametrize("query", QUERIES)
def test_ranks_agree_with_search_for_every_method_and_passage(pipeline: Pipeline, query: str) -> None:
    explanations = {e.doc.id: e for e in explain_all(pipeline, query)}
    for method in METHODS:
        if method == "glove-bm25":
            continue
        part = "splade" if method == "splade" else method
        ranked = pipeline.rank(method, query, k=len(pipeline.in_process("test").corpus))
        by_id = {h.id: h for h in ranked}
        for doc_id, e in explanations.items():
            mine = getattr(e, part)
            hit = by_id.get(doc_id)
            assert mine.rank == (hit.rank if hit else None), (method, doc_id)
            assert mine.score == (hit.score if hit else 0.0), (method, doc_id)
    first, copy = explanations["mem#1"], explanations["mem#copy"]  # identical passages: corpus order breaks ties
    for part in ("bm25", "splade"):
        one, two = getattr(first, part), getattr(copy, part)
        assert one.score == two.score and (one.rank is two.rank is None or one.rank + 1 == two.rank)


def test_rank_of_counts_only_positive_scores_and_breaks_ties_by_position() -> None:
    scores = np.array([0.0, 2.0, 5.0, 2.0, 0.0])
    assert [rank_of(scores, i) for i in range(5)] == [None, 2, 1, 3, None]


def test_unknown_ids_and_page_ids_are_one_line_lookup_errors(corpus: Corpus) -> None:
    with pytest.raises(LookupError, match="no passage with id 'nope'"):
        passage_index(corpus, "nope")
    count = sum(p.source == "library/gc" for p in corpus.passages)
    with pytest.raises(LookupError, match=f"'library/gc' is a page.*gc#1.*{count} passages") as error:
        passage_index(corpus, "library/gc")
    assert "\n" not in str(error.value)


def test_as_contract_is_exactly_the_documented_json(pipeline: Pipeline) -> None:
    doc = explain(QUERY, "mem#1", pipeline.in_process("test").bm25, pipeline.sources.encoder(), pipeline.in_process("test").splade).as_contract()
    json.dumps(doc)  # plain Python values only
    assert set(doc) == {"query", "doc", "bm25", "splade", "hybrid"} and set(doc["doc"]) == {"id", "source", "title"}
    assert set(doc["bm25"]) == set(doc["splade"]) == {"rank", "score", "terms"} and set(doc["hybrid"]) == {"rank", "score"}
    assert set(doc["bm25"]["terms"][0]) == {"term", "surface", "query_weight", "N", "df", "idf", "tf", "doc_len",
                                            "avg_doc_len", "k1", "b", "contribution"}
    assert set(doc["splade"]["terms"][0]) == {"term", "query_weight", "doc_weight", "contribution", "expansion"}


def test_page_collapse_matches_the_evaluation_page_order(pipeline: Pipeline) -> None:
    for query in QUERIES:
        for method in ("bm25", "splade", "hybrid"):
            hits = pipeline.rank(method, query, EVAL_DEPTH)
            pages = collapse_to_pages(hits)
            assert [p.source for p in pages] == list(scored_pages(hits))
            assert {p.source: p.passages for p in pages} == Counter(h.source for h in hits)
            assert [p.first_rank for p in pages] == [next(h.rank for h in hits if h.source == p.source) for p in pages]
            assert [p.source for p in collapse_to_pages(hits[:10], 3)] == pages_in_order(hits[:10])[:3]


def test_best_passage_is_where_the_page_enters_the_page_ranking(pipeline: Pipeline) -> None:
    scores = pipeline.in_process("test").bm25.score(analyze(QUERY))
    pages = {p.source: p for p in collapse_to_pages(top_k(scores, pipeline.in_process("test").corpus, len(pipeline.in_process("test").corpus)))}
    for source in ("c-api/memory", "library/tracemalloc", "library/gc"):
        best = best_passage(scores, pipeline.in_process("test").corpus, source)
        if source in pages:
            assert pipeline.in_process("test").corpus.passages[best].id == pages[source].best_id
            assert rank_of(scores, best) == pages[source].first_rank
        else:
            assert scores[best] == 0.0
    assert best_passage(scores, pipeline.in_process("test").corpus, "no/such/page") is None


@pytest.fixture(scope="module")
def edited_setup(pipeline: Pipeline) -> tuple[EditableQuery, set[int]]:
    encoding = pipeline.sources.encoder().encode_query(QUERY)
    own = own_word_pieces(encoding, pipeline.sources.encoder().loaded.tokenizer.all_special_ids)
    return EditableQuery.from_encoding(QUERY, encoding, own), own


def test_unedited_query_reranks_like_search_and_scores_like_evaluate(pipeline: Pipeline, edited_setup) -> None:
    query, _ = edited_setup
    result = rerank(query, pipeline, len(pipeline.sources.encoder().vocab), k=10, labelled=LABELLED)
    for method in ("bm25", "splade", "hybrid"):
        assert result.hits[method] == pipeline.rank(method, QUERY, 10)
        expected = evaluate([LABELLED], pipeline.ranker([method], EVAL_DEPTH))[method]
        assert result.ndcg[method] == pytest.approx(expected[0].metrics["nDCG@10"], abs=1e-12)
        assert [p.source for p in result.pages[method]] == pages_in_order(pipeline.rank(method, QUERY, EVAL_DEPTH))[:10]


def test_removing_every_shared_term_zeroes_the_score_and_moves_the_ranking_by_the_arithmetic(
        pipeline: Pipeline, edited_setup) -> None:
    query, own = edited_setup
    bm25, index, vocab = pipeline.in_process("test").bm25, pipeline.in_process("test").splade, pipeline.sources.encoder().vocab
    target = pipeline.in_process("test").corpus.index_of("mem#1")
    shared = set(np.flatnonzero(index.doc_vector(target) > 0)) & set(query.splade)
    edited = query
    for term_id in shared:
        edited = edited.remove_term(term_id)
    for row in explain_scores(QUERY, target, bm25, query.bm25, index, query.splade_vector(len(vocab)), own,
                              vocab).bm25.terms:
        if row.tf:
            edited = edited.remove_bm25_term(row.term)
    after = explain_scores(QUERY, target, bm25, edited.bm25, index, edited.splade_vector(len(vocab)), own, vocab)
    assert (after.splade.score, after.splade.rank, after.splade.terms) == (0.0, None, [])
    assert (after.bm25.score, after.bm25.rank, after.hybrid.rank, after.hybrid.score) == (0.0, None, None, 0.0)
    # Every other passage loses exactly the q_t * d_t of the removed terms.
    before = index.scores(query.splade_vector(len(vocab)))
    removed = np.array([sum(float(query.splade[t]) * float(index.doc_vector(i)[t]) for t in shared)
                        for i in range(len(pipeline.in_process("test").corpus))])
    expected = before - removed
    new = rerank(edited, pipeline, len(vocab), k=len(pipeline.in_process("test").corpus)).hits["splade"]
    assert "mem#1" not in {h.id for h in new}
    for hit in new:
        assert hit.score == pytest.approx(expected[hit.index], rel=1e-9, abs=1e-9)
    assert all(a.score >= b.score for a, b in zip(new, new[1:]))
    assert {h.index for h in new} == {int(i) for i in np.flatnonzero(expected > 1e-9)}


def test_each_edit_does_what_it_says(pipeline: Pipeline, edited_setup) -> None:
    query, _ = edited_setup
    vocab, index = pipeline.sources.encoder().vocab, pipeline.in_process("test").splade
    snake = vocab.index("snake")
    assert query.set_weight(snake, 3.0).splade[snake] == 3.0 and query.splade[snake] != 3.0  # the original stays
    before = index.scores(query.splade_vector(len(vocab)))
    after = index.scores(query.set_weight(snake, 3.0).splade_vector(len(vocab)))
    column = index.matrix[:, snake].toarray().ravel().astype(np.float64)
    np.testing.assert_allclose(after - before, (3.0 - np.float32(query.splade[snake])) * column, rtol=1e-6, atol=1e-6)
    added = query.add_term(vocab, "collector", 1.5)
    assert added.splade[vocab.index("collector")] == 1.5
    assert next(r for r in added.splade_terms(vocab) if r[1] == "collector")[3] is True  # an expansion
    with pytest.raises(ValueError, match="not in the model's vocabulary"):
        query.add_term(vocab, "zzqxj", 1.0)
    top3 = query.keep_top(3)
    assert sorted(top3.splade.values(), reverse=True) == sorted(query.splade.values(), reverse=True)[:3]
    assert all(w >= 1.0 for w in query.keep_at_least(1.0).splade.values())
    assert len(query.keep_at_least(1.0).splade) == sum(w >= 1.0 for w in query.splade.values())
    more = query.add_bm25_word("Collectors")
    np.testing.assert_array_equal(pipeline.in_process("test").bm25.score(more.bm25), pipeline.in_process("test").bm25.score(analyze(QUERY + " collectors")))
    assert "python" not in more.remove_bm25_term("Python").bm25


def test_context_diff_partitions_the_terms_and_ranks_pages_per_vector(pipeline: Pipeline) -> None:
    encoder, index = pipeline.sources.encoder(), pipeline.in_process("test").splade
    a, b = encoder.encode_query(QUERY).vector, encoder.encode_query(DEFAULT_CONTRAST).vector
    diff = context_diff(a, b, encoder.vocab, pipeline)
    assert {p.term_id for p in diff.gained} == set(np.flatnonzero((b > 0) & (a <= 0)))
    assert {p.term_id for p in diff.lost} == set(np.flatnonzero((a > 0) & (b <= 0)))
    assert {p.term_id for p in diff.shared} == set(np.flatnonzero((a > 0) & (b > 0)))
    for pair in [*diff.gained, *diff.lost, *diff.shared]:
        assert (pair.weight_a, pair.weight_b, pair.term) == (float(a[pair.term_id]), float(b[pair.term_id]),
                                                             encoder.vocab[pair.term_id])
    assert [p.weight_b for p in diff.gained] == sorted((p.weight_b for p in diff.gained), reverse=True)
    for vector, pages in ((a, diff.pages_a), (b, diff.pages_b)):
        assert [p.source for p in pages] == pages_in_order(top_k(index.scores(vector), index.corpus, 10_000))[:5]
