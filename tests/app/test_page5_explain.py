"""AppTest of page 5's explain sections (#15): "Why not this page?", the page-level toggle and live term editing,
with the real tiny SPLADE on the four-passage corpus ("python memory management" is labelled: library/gc and
c-api/memory answer it; BM25 finds no query word in gc#1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

from tests.conftest import open_page, tiny_app_environment

QUERY = "python memory management"


@pytest.fixture()
def tiny_setup(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)


def page5(query: str = QUERY, **state: object) -> AppTest:
    at = open_page("views/p5_compare.py", query, timeout=600, index_built=True, **state)
    assert not at.exception, [e.value for e in at.exception]
    return at


def edit_table(at: AppTest, key: str, edits: dict) -> AppTest:
    """Send a data_editor edit as the browser does (AppTest cannot type into one): the editor's widget state is
    the JSON of {"edited_rows", "added_rows", "deleted_rows"}."""
    editor = next(e for e in at.data_editor if e.proto.id.endswith(f"-{key}"))
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=editor.proto.id, string_value=json.dumps(edits)))
    at._run(states)
    assert not at.exception, [e.value for e in at.exception]
    return at


def frame(at: AppTest, key: str):
    """A table of the explain sections: the SPLADE shared terms, or one method's edited ranking (after the editor)."""
    frames = [df.value for df in at.dataframe]
    if key == "p5_why_splade_terms":
        return next(f for f in frames if list(f.columns[:3]) == ["term", "query weight", "passage weight"])
    editor = next(i for i, df in enumerate(at.dataframe) if df.proto.id.endswith("-p5_edit_terms"))
    method = key.removeprefix("p5_edit_ranking_")
    return frames[editor + 1 + ["bm25", "splade", "hybrid"].index(method)]


def texts(at: AppTest) -> str:
    return " ".join(m.value for m in [*at.markdown, *at.info, *at.caption, *at.code, *at.warning])


def test_why_not_defaults_to_the_best_graded_page_bm25_misses_and_explains_it(tiny_setup: None) -> None:
    at = page5()
    box = at.selectbox(key="p5_why_page")
    assert box.value == 1 and "library/gc" in box.format_func(box.value)  # c-api/memory is BM25's first page
    assert "not retrieved" in box.format_func(box.value)
    ranks = {m.label: m.value for m in at.metric}
    assert ranks["BM25 rank"] == "not retrieved" and ranks["SPLADE rank"].startswith("#")
    formula = next(c.value for c in at.code if "idf(" in c.value)
    assert "ln(1 + (4 − " in formula and "= 0.000" in formula  # N = 4 filled in; gc#1 has none of the words
    assert "None of the query's words occurs in this passage" in texts(at)
    shared = frame(at, "p5_why_splade_terms")
    assert list(shared.columns) == ["term", "query weight", "passage weight", "q·d", "expansion"]
    assert (shared["expansion"] == "⊕ expansion").any()


def test_why_not_other_page_and_a_passage_found_by_title(tiny_setup: None) -> None:
    at = page5()
    at.selectbox(key="p5_why_page").select(0).run()
    assert not at.exception
    assert "Memory Management" in texts(at) and {m.label: m.value for m in at.metric}["BM25 rank"] == "#1"
    at.text_input(key="p5_why_title").input("json").run()
    assert not at.exception
    passage = at.selectbox(key="p5_why_passage")
    assert "json#1" in passage.format_func(passage.value)
    at.text_input(key="p5_why_title").input("no such title at all").run()
    assert "No passage title, section or id contains that text." in texts(at)


def test_zero_overlap_is_said_in_words(tiny_setup: None) -> None:
    at = page5("zzqx")  # a query whose vector shares nothing with json#1 under the tiny model, BM25 nothing at all
    at.text_input(key="p5_why_title").input("json").run()
    assert not at.exception
    if {m.label: m.value for m in at.metric}["SPLADE rank"] == "not retrieved":
        assert "Zero overlap" in texts(at)


def test_page_level_toggle_is_on_by_default_and_collapses_to_pages(tiny_setup: None) -> None:
    at = page5()
    assert at.toggle(key="p5_pages").value is True
    pages = frame(at, "p5_edit_ranking_bm25")
    assert list(pages.columns[:3]) == ["#", "page", "title"] and "passages in top 10" in pages.columns
    assert list(pages["page"]) == ["c-api/memory", "library/threading"]  # order of first appearance
    at.toggle(key="p5_pages").set_value(False).run()
    passages = frame(at, "p5_edit_ranking_bm25")
    assert list(passages.columns[:4]) == ["#", "title", "section", "score"] and len(passages) == 2


def test_term_table_edits_rerank_and_reset(tiny_setup: None) -> None:
    at = page5()
    table = at.data_editor[0].value
    assert list(table.columns) == ["term", "weight", "expansion"] and "memory" in set(table["term"])
    before = frame(at, "p5_edit_ranking_splade")
    # Delete every row: SPLADE scores nothing; add one vocabulary term back and an unknown one.
    edit_table(at, "p5_edit_terms", {"edited_rows": {}, "deleted_rows": list(range(len(table))),
                                     "added_rows": [{"term": "thread", "weight": 3.0}, {"term": "zzqxj", "weight": 1.0}]})
    after = frame(at, "p5_edit_ranking_splade")
    assert list(after["page"])[0] == "library/threading" and not after.equals(before)
    assert any("'zzqxj' is not in the model's vocabulary" in w.value for w in at.warning)
    assert any(m.label == "nDCG@10 · SPLADE" and m.delta and m.delta.startswith("-") for m in at.metric)
    at.button(key="p5_edit_reset").click().run()
    assert not at.exception
    assert frame(at, "p5_edit_ranking_splade").equals(before)


def test_pruning_controls_keep_the_top_terms_or_a_threshold(tiny_setup: None) -> None:
    at = page5()
    total = len(at.data_editor[0].value)
    at.radio(key="p5_edit_prune").set_value("keep the top N terms").run()
    at.number_input(key="p5_edit_top_n").set_value(2).run()
    assert not at.exception and f"2 of the query's {total} terms in use" in texts(at)
    at.radio(key="p5_edit_prune").set_value("keep terms with weight ≥ t").run()
    at.slider(key="p5_edit_min_weight").set_value(0.0).run()
    assert not at.exception and f"{total} of the query's {total} terms in use" in texts(at)


def test_bm25_words_can_be_removed_and_added(tiny_setup: None) -> None:
    at = page5()
    keep = at.multiselect(key="p5_edit_bm25_keep")
    assert set(keep.value) == {"python", "memori", "manag"}
    keep.set_value([]).run()
    assert "BM25 scores no passage above zero for the edited query." in texts(at)
    at.text_input(key="p5_edit_bm25_add").input("JSON").run()
    assert not at.exception
    assert list(frame(at, "p5_edit_ranking_bm25")["page"]) == ["library/json"]
    assert "`json`×1" in texts(at)
