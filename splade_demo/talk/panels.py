"""The talk's one adapter: each guide panel's data and figure, through the same `explain/` and `figures/` calls as
the pages, with the pages' default controls (k = 10, 20 terms shown, special pieces kept, the page's own sentences).

A panel is data: an optional Plotly figure, static tables and short notes (plain text, escaped when written). A
panel that needs what is missing (a model not on this machine, the SPLADE index not built) raises `Unavailable`
with the reason in one line; the export says so for that step and writes the rest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import pandas as pd
import plotly.graph_objects as go

from splade_demo.config import Settings
from splade_demo.data.corpus import CorpusError, LabelledQuery, find_labelled
from splade_demo.explain.comparison import SideBySide, side_by_side
from splade_demo.explain.context_diff import DEFAULT_CONTRAST, TermPair, context_diff
from splade_demo.explain.fill_mask import predict, predict_word, words
from splade_demo.explain.glove import query_neighbours
from splade_demo.explain.labels import grade_mark, grade_name
from splade_demo.explain.lexical_gap import bm25_report, relevant_pages
from splade_demo.explain.pages import PageHit
from splade_demo.explain.provenance import term_provenance
from splade_demo.explain.score_explanation import own_word_pieces
from splade_demo.explain.splade_view import position_term_grid, term_weights
from splade_demo.explain.term_editing import EditableQuery, rerank
from splade_demo.explain.why_not import default_choice, explain_passage, formula_text, page_best_passage, why_not
from splade_demo.figures.bert import prediction_grid, static_vs_contextual
from splade_demo.figures.bm25 import contribution_bars
from splade_demo.figures.compare import delta_ndcg_chart, slope_chart
from splade_demo.figures.glove import neighbour_panels
from splade_demo.figures.splade import activation_heatmap, term_weight_bars
from splade_demo.models.glove_vectors import VectorsUnavailable
from splade_demo.models.hub_download import ModelUnavailable
from splade_demo.retrieval.evaluation import EVAL_DEPTH, summary_rows
from splade_demo.retrieval.neighbours import neighbours
from splade_demo.retrieval.pipeline import COMPARED, EngineError, Pipeline

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

    from splade_demo.models.loading import LoadedMLM
    from splade_demo.retrieval.evaluation import QueryResult
    from splade_demo.retrieval.splade_encoder import SpladeEncoder, SpladeEncoding

# The pages' defaults (their sliders' starting values and fixed texts); tests/unit/test_talk_export.py checks
# these against app/state.py and app/sections/, which this layer may not import.
K = 10  # results, neighbours and predictions per word (pages 1-3, 5)
TOP_N = 20  # terms shown on page 4
MAX_PANELS = 12  # page 2: query words drawn as neighbour panels
MASKED_WORDS = 20  # app/state.py: words masked in turn on pages 3 and 4
OTHER_SENSE_SENTENCE = "the python swallowed a rabbit whole"  # app/state.py: a query word in another sense
DIFF_ROWS = 25  # app/sections/splade_extras.py: rows of each context-diff table
PRESENTER = True  # a talk: the figures' presenter sizes, readable from the back of the room
NAMES = {"bm25": "BM25", "splade": "SPLADE", "hybrid": "Hybrid (RRF)"}
NOT_BUILT = ("the SPLADE index of this corpus is not built yet: run `python -m splade_demo index` (or open the app "
             "and let its build finish), then export again")


class Unavailable(Exception):
    """What a step needs is not on this machine; the message says what, in one line."""


@dataclass(frozen=True)
class Table:
    """A static table: plain-text cells (escaped when written)."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Panel:
    """What one step shows: the page's figure for the panel (if it has one), tables, notes and a formula block."""

    figure: go.Figure | None = None
    tables: tuple[Table, ...] = ()
    notes: tuple[str, ...] = ()
    formula: str = ""


@dataclass(frozen=True)
class TalkSources:
    """Where the talk gets its data: the pipeline the pages rank through (its engine holds the corpus, BM25 and the
    SPLADE index, and says whether the index is ready without waiting; it loads the SPLADE encoder and the static
    vectors), the fill-mask model's loader and the labelled queries. `evaluation`, if given, returns the per-query
    results already computed (otherwise they are computed here, as page 5 does)."""

    settings: Settings
    pipeline: Pipeline
    mlm: Callable[[], "LoadedMLM"]
    queries: Callable[[], list[LabelledQuery]]
    evaluation: Callable[[], "dict[str, list[QueryResult]]"] | None = None


def _table(caption: str, rows: Sequence[dict[str, object]]) -> Table:
    columns = tuple(rows[0]) if rows else ()
    return Table(caption, columns, tuple(tuple(_cell(row[c]) for c in columns) for row in rows))


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _frame(caption: str, frame: pd.DataFrame) -> Table:
    """A page's table (a DataFrame from the package) as a static table."""
    return _table(caption, frame.to_dict("records"))


@dataclass
class TalkData:
    """One query's data for every panel, each piece computed once (a failure is kept and re-raised as the reason)."""

    query: str
    sources: TalkSources
    _done: dict[str, object] = field(default_factory=dict)

    def _once(self, name: str, load: Callable[[], object]) -> object:
        if name not in self._done:
            try:
                self._done[name] = load()
            except (ModelUnavailable, VectorsUnavailable, CorpusError, EngineError, Unavailable) as exc:
                self._done[name] = Unavailable(" ".join(str(exc).split()))
        value = self._done[name]
        if isinstance(value, Unavailable):
            raise value
        return value

    # -- components ---------------------------------------------------------------------------
    @property
    def pipeline(self) -> Pipeline:
        return self.sources.pipeline

    @property
    def vectors(self) -> "KeyedVectors":
        return self._once("vectors", self.pipeline.sources.vectors)  # type: ignore[return-value]

    @property
    def mlm(self) -> "LoadedMLM":
        return self._once("mlm", self.sources.mlm)  # type: ignore[return-value]

    @property
    def encoder(self) -> "SpladeEncoder":
        return self._once("encoder", self.pipeline.sources.encoder)  # type: ignore[return-value]

    def index_ready(self) -> None:
        """Unavailable unless the SPLADE index can rank now (never waits for a build)."""
        self.encoder  # noqa: B018 - a missing model is the reason first
        if not self._once("ready", self.pipeline.splade_ready):
            raise Unavailable(NOT_BUILT)

    @property
    def labelled(self) -> LabelledQuery | None:
        def find() -> LabelledQuery | None:
            try:
                return find_labelled(self.query, self.sources.queries())
            except CorpusError:
                return None
        return self._once("labelled", find)  # type: ignore[return-value]

    @property
    def grades(self) -> dict[str, int]:
        return dict(self.labelled.rel) if self.labelled else {}

    # -- shared results -----------------------------------------------------------------------
    @property
    def encoding(self) -> "SpladeEncoding":
        return self._once("encoding", lambda: self.encoder.encode_query(self.query))  # type: ignore[return-value]

    @property
    def own_ids(self) -> frozenset[int]:
        return own_word_pieces(self.encoding, self.encoder.loaded.tokenizer.all_special_ids)

    @property
    def side(self) -> SideBySide:
        """Page 5's three columns, in pages (the page's default), and the comparison behind them."""
        self.index_ready()
        return self._once("side", lambda: side_by_side(  # type: ignore[return-value]
            self.pipeline, self.query, self.encoding.vector, K, page_level=True, grades=self.grades))

    @property
    def evaluation(self) -> "dict[str, list[QueryResult]]":
        return self._once("evaluation", self._evaluate)  # type: ignore[return-value]

    def _evaluate(self) -> "dict[str, list[QueryResult]]":
        """Every method the pipeline can rank by, over the labelled queries, as page 5."""
        if self.sources.evaluation is not None:
            return self.sources.evaluation()
        self.index_ready()
        return self.pipeline.evaluate_supported(self.sources.queries())


# -- page 1 -----------------------------------------------------------------------------------
def bm25_chart(data: TalkData) -> Panel:
    report = bm25_report(data.pipeline, data.query, K)
    if not report.hits:
        return Panel(notes=("BM25 found no passage that contains any of the query's words: vocabulary mismatch at "
                            "its starkest.",))
    tables = [_table("BM25 breakdown: each passage's score, term by term (idf × tf-part)", [
        {"#": h.rank, "title": h.title, "section": h.section, "score": h.score,
         "terms": " + ".join(f"{c.surface} {c.contribution:.2f}" for c in report.contributions[h.index] if c.tf)}
        for h in report.hits])]
    notes = ["Not in any passage of this corpus: " + ", ".join(report.unknown_terms[:20])] if report.unknown_terms else []
    if data.labelled is not None:
        try:
            placed = relevant_pages(data.pipeline, data.query, data.labelled)
        except EngineError as exc:  # NotAvailable: an engine that ranks elsewhere
            notes.append(str(exc))
            placed = []
        tables.append(_table("The labelled pages, and where BM25 puts them", [
            {"page": p.source, "title": p.title, "grade": grade_name(p.grade),
             "BM25 page rank": str(p.page_rank) if p.page_rank is not None else "never retrieved",
             "shares a query word": "yes" if p.shares_terms else "no"} for p in placed]))
    return Panel(contribution_bars(report.hits, report.contributions, PRESENTER), tuple(tables), tuple(notes))


# -- page 2 -----------------------------------------------------------------------------------
def _glove_words(data: TalkData, text: str) -> list:
    return [r for r in query_neighbours(data.vectors, text, K) if not r.is_stop and not r.oov]


def glove_neighbours(data: TalkData) -> Panel:
    found = _glove_words(data, data.query)
    if not found:
        return Panel(notes=("None of the query's words has a GloVe vector, so there is nothing to expand.",))
    return Panel(neighbour_panels([(r.word, r.neighbours) for r in found[:MAX_PANELS]], presenter=PRESENTER),
                 notes=("Bar length: cosine similarity between the word's vector and the neighbour's.",))


def glove_context(data: TalkData) -> Panel:
    query_words = {r.word: r for r in _glove_words(data, data.query)}
    shared = [r for r in _glove_words(data, OTHER_SENSE_SENTENCE) if r.word in query_words]
    if not shared:
        return Panel(notes=(f"The sentence “{OTHER_SENSE_SENTENCE}” shares no word (with a GloVe vector) with the "
                            "query, so there is no second sense to compare.",))
    word, in_sentence = shared[0].word, shared[0].neighbours
    in_query = query_words[word].neighbours
    figure = neighbour_panels([(f"“{word}” in the query", in_query), (f"“{word}” in your sentence", in_sentence)],
                              presenter=PRESENTER, columns=2)
    same = ("Identical: the same neighbours, in the same order, with the same similarities." if in_query == in_sentence
            else "The two lists differ, which static vectors should never do.")
    return Panel(figure, notes=(f"The sentence: “{OTHER_SENSE_SENTENCE}”.", same))


# -- page 3 -----------------------------------------------------------------------------------
def bert_grid(data: TalkData) -> Panel:
    result = predict(data.mlm, data.query, K, max_words=MASKED_WORDS)
    if not result.positions:
        return Panel(notes=("Nothing to mask: the query has no words, only punctuation or symbols.",))
    return Panel(prediction_grid(result, PRESENTER),
                 notes=(f"Model: {data.sources.settings.mlm_model}. Rows: masked words; columns: rank.",))


def bert_context(data: TalkData) -> Panel:
    candidates = [w.text for w in words(data.mlm, data.query) if w.maskable and not w.is_mask]
    if not candidates:
        return Panel(notes=("The query has no word to mask.",))
    sense_words = {w.lower() for w in OTHER_SENSE_SENTENCE.split()}
    word = next((w for w in candidates if w.lower() in sense_words), candidates[0])
    in_a = predict_word(data.mlm, data.query, word, K)
    in_b = predict_word(data.mlm, OTHER_SENSE_SENTENCE, word, K)
    try:
        glove = neighbours(data.vectors, word, K)
    except Unavailable:
        glove = []
    figure = static_vs_contextual(word, [("sentence A", in_a), ("sentence B", in_b)], glove, PRESENTER)
    return Panel(figure, notes=(f"Sentence A: “{data.query}”. Sentence B: “{OTHER_SENSE_SENTENCE}”.",))


# -- page 4 -----------------------------------------------------------------------------------
def splade_heatmap(data: TalkData) -> Panel:
    grid = position_term_grid(data.encoding, data.encoder.vocab, TOP_N, False)
    return Panel(activation_heatmap(grid, PRESENTER),
                 notes=("Rows: the query's word pieces. Columns: the pooled vector's heaviest terms. Each cell is "
                        "log(1 + ReLU(logit)); the outlined cell is the max that becomes the term's weight.",))


def splade_bars(data: TalkData) -> Panel:
    encoding, vocab = data.encoding, data.encoder.vocab
    origins = {o.term_id: f"{o.word} (position {o.position})" for o in term_provenance(encoding, vocab)}
    bars = term_weights(encoding.vector, vocab, TOP_N, set(encoding.input_ids), False)
    table = _table("The heaviest terms, and the word whose position won each max", [
        {"term": b.term, "weight": b.weight, "kind": "query word piece" if b.highlighted else "expansion",
         "won by": origins.get(b.term_id, "")} for b in bars])
    expansion = encoding.expansion_nnz
    return Panel(term_weight_bars(bars, PRESENTER, origins=origins), (table,),
                 (f"{encoding.nnz - expansion:,} of the {encoding.nnz:,} non-zero terms are the query's own word "
                  f"pieces; {expansion:,} are expansion terms the model added.",))


def _pairs(caption: str, pairs: list[TermPair]) -> Table:
    return Table(caption, ("term", "weight in A", "weight in B"),
                 tuple((p.term, f"{p.weight_a:.3f}", f"{p.weight_b:.3f}") for p in pairs[:DIFF_ROWS]))


def _pages(caption: str, pages: list[PageHit]) -> Table:
    return Table(caption, ("#", "page", "title", "passages"),
                 tuple((str(p.rank), p.source, p.title, str(p.passages)) for p in pages))


def splade_context_diff(data: TalkData) -> Panel:
    data.index_ready()
    vocab = data.encoder.vocab
    contrast = data.encoder.encode_query(DEFAULT_CONTRAST)
    diff = context_diff(data.encoding.vector, contrast.vector, vocab, data.pipeline)
    return Panel(tables=(
        _pairs("Gained (only in B)", diff.gained), _pairs("Lost (only in A)", diff.lost),
        _pairs("Shared", diff.shared),
        _pages(f"Top 5 pages for A: “{data.query}”", diff.pages_a),
        _pages(f"Top 5 pages for B: “{DEFAULT_CONTRAST}”", diff.pages_b),
    ), notes=(f"A has {data.encoding.nnz} non-zero terms, B {contrast.nnz}: {len(diff.shared)} shared, "
              f"{len(diff.gained)} gained by B, {len(diff.lost)} lost from A (first {DIFF_ROWS} of each).",))


# -- page 5 -----------------------------------------------------------------------------------
def compare_slope(data: TalkData) -> Panel:
    side, grades = data.side, data.grades
    comparison = side.comparison
    assert comparison is not None  # the index is ready
    figure = slope_chart(comparison.changes, K, set(grades), PRESENTER) if comparison.changes else None
    notes = [f"{len(comparison.mismatch_wins)} of SPLADE's top {K} passages share no analysed word with the query "
             "(⭐)."] if comparison.mismatch_wins else []
    notes.append(f"Each page once, at the rank of its best passage, with how many of its passages are in the "
                 f"method's top {comparison.depth} (as the metrics count pages).")
    tables = tuple(_frame(f"{NAMES[m]}: top {K} pages", side.tables[m]) for m in COMPARED
                   if side.tables[m] is not None)
    return Panel(figure, tables, tuple(notes))


def why_not_page(data: TalkData) -> Panel:
    data.index_ready()
    vector = data.encoding.vector
    offer = why_not(data.pipeline, data.query, vector, data.labelled)
    if not offer.choices:
        return Panel(notes=("This query has no relevance labels, so there is no labelled page to explain.",))
    choice = offer.choices[default_choice(offer.choices)]
    doc_index = page_best_passage(data.pipeline, data.query, vector, offer.corpus, choice.source)
    if doc_index is None:
        return Panel(notes=(f"The page {choice.source} has no passage in this corpus.",))
    e = explain_passage(data.pipeline, data.query, int(doc_index), data.encoder, data.encoding)
    rank = lambda r: f"#{r}" if r is not None else "not retrieved"  # noqa: E731
    ranks = Table(f"{e.doc.title} · {e.doc.id} · page {e.doc.source}", ("method", "rank", "score"), (
        ("BM25", rank(e.bm25.rank), f"{e.bm25.score:.3f}"), ("SPLADE", rank(e.splade.rank), f"{e.splade.score:.3f}"),
        ("Hybrid (RRF)", rank(e.hybrid.rank), f"{e.hybrid.score:.4f}")))
    terms = _table(f"SPLADE: {e.splade.score:.3f} = Σ q_t · d_t over {len(e.splade.terms)} shared terms", [
        {"term": t.term, "query weight": t.query_weight, "passage weight": t.doc_weight, "q·d": t.contribution,
         "expansion": "⊕ expansion" if t.expansion else ""} for t in e.splade.terms])
    page_rank = lambda r: f"page #{r}" if r is not None else "page not retrieved"  # noqa: E731
    return Panel(tables=(ranks, terms), formula=formula_text(e.bm25.terms, e.bm25.score), notes=(
        f"The best-graded labelled page BM25 misses: {choice.source} (BM25 {page_rank(choice.bm25_page_rank)}, "
        f"SPLADE {page_rank(choice.splade_page_rank)}); its best passage, scored term by term.",))


def term_editing(data: TalkData) -> Panel:
    data.index_ready()
    vocab, grades = data.encoder.vocab, data.grades
    base = EditableQuery.from_encoding(data.query, data.encoding, data.own_ids)
    terms = _table("The query's SPLADE terms (the table the page edits)", [
        {"term": term, "weight": weight, "expansion": "yes" if expansion else ""}
        for _, term, weight, expansion in base.splade_terms(vocab)])
    result = rerank(base, data.pipeline, data.encoder.vocab_size, K, data.labelled)
    tables = [terms]
    for method in COMPARED:
        shown = Counter(h.source for h in result.hits[method])
        tables.append(_table(f"{NAMES[method]}: top {K} pages", [
            {"#": p.rank, "page": p.source, "title": p.title, f"passages in top {K}": shown.get(p.source, 0),
             f"in top {EVAL_DEPTH}": p.passages, "relevant": grade_mark(grades.get(p.source))}
            for p in result.pages[method]]))
    notes = ["BM25 words (analysed): " + (", ".join(f"{t}×{w:g}" for t, w in base.bm25.items()) or "none")]
    if result.ndcg is not None:
        notes.append("nDCG@10 of this query: " + ", ".join(f"{NAMES[m]} {v:.3f}" for m, v in result.ndcg.items()))
    return Panel(tables=tuple(tables), notes=tuple(notes))


def evidence(data: TalkData) -> Panel:
    results = data.evaluation
    table = _table("Page-level nDCG@10, R@10 and RR over every labelled query", summary_rows(results))
    return Panel(delta_ndcg_chart(results["bm25"], results["splade"], PRESENTER), (table,))


PANELS: dict[str, Callable[[TalkData], Panel]] = {
    "p1_chart": bm25_chart,
    "p2_neighbours": glove_neighbours,
    "p2_context": glove_context,
    "p3_grid": bert_grid,
    "p3_context": bert_context,
    "p4_heatmap": splade_heatmap,
    "p4_bars": splade_bars,
    "p4_context_diff": splade_context_diff,
    "p5_slope": compare_slope,
    "p5_why_not": why_not_page,
    "p5_term_editing": term_editing,
    "p5_delta": evidence,
}


def panel(data: TalkData, key: str) -> Panel:
    """The panel of the step whose guide key is `key`; Unavailable when the talk cannot draw it."""
    draw = PANELS.get(key)
    if draw is None:
        raise Unavailable(f"the export has no drawing for the panel {key!r}")
    try:
        return draw(data)
    except EngineError as exc:  # NotAvailable included: what this engine cannot do
        raise Unavailable(" ".join(str(exc).split())) from None
