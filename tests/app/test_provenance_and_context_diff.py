"""AppTest of #15's page 4 and page 3 additions with the real tiny SPLADE: the winning word in the term-weight
bars' hover, "terms won by this word", the context diff, and each masked word's own rank under its mask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import open_page, tiny_app_environment

QUERY = "python memory management"


@pytest.fixture()
def tiny_models(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))


def frames(at: AppTest) -> list:
    return [df.value for df in at.dataframe]


def test_term_bars_hover_names_the_winning_word_and_terms_won_by_a_word(tiny_models: None) -> None:
    at = open_page("views/p4_splade.py", QUERY)
    assert not at.exception, [e.value for e in at.exception]
    bars = json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith("-p4_bars")).proto.spec)
    hovers = [h for trace in bars["data"] for h in trace["hovertext"]]
    assert hovers and all("won by " in h and "(position " in h for h in hovers)
    won = at.selectbox(key="p4_won_by")
    assert "python (position 1" in won.format_func(won.value)  # the first word, not [CLS]
    first = next(f for f in frames(at) if list(f.columns) == ["term", "weight", "word piece"])
    assert set(first["word piece"]) == {"python"}
    last_option = won.options[-1]
    won.select_index(len(won.options) - 1).run()  # the last position that won a term
    assert not at.exception
    last = next(f for f in frames(at) if list(f.columns) == ["term", "weight", "word piece"])
    assert set(last["word piece"]) == {last_option.split(" ")[0]} and not last.equals(first)


def test_context_diff_defaults_to_the_query_against_python_snake_care(tiny_models: None) -> None:
    at = open_page("views/p4_splade.py", QUERY, index_built=True)
    assert at.text_input(key="p4_diff_a").value == QUERY and at.text_input(key="p4_diff_b").value == "python snake care"
    diff = [f for f in frames(at) if list(f.columns) == ["term", "weight in A", "weight in B"]]
    gained, lost, shared = diff
    assert (gained["weight in A"] == 0).all() and (gained["weight in B"] > 0).all()
    assert (lost["weight in B"] == 0).all() and (lost["weight in A"] > 0).all()
    assert "python" in set(shared["term"]) and "memory" in set(lost["term"]) and "care" in set(gained["term"])
    pages = [f for f in frames(at) if list(f.columns) == ["#", "page", "title", "passages"]]
    assert len(pages) == 2 and list(pages[0]["page"])[0] == "c-api/memory"
    at.text_input(key="p4_diff_b").input(QUERY).run()  # the same text: nothing gained or lost
    gained, lost, shared = [f for f in frames(at) if list(f.columns) == ["term", "weight in A", "weight in B"]]
    assert gained.empty and lost.empty and len(shared) == 13
    at.text_input(key="p4_diff_b").input("   ").run()
    assert not at.exception and any("Type two texts to compare" in i.value for i in at.info)


def test_page3_shows_each_masked_words_own_rank_and_probability(tiny_models: None) -> None:
    at = open_page("views/p3_bert.py", QUERY)
    assert not at.exception, [e.value for e in at.exception]
    table = next(f for f in frames(at) if "own token" in f.columns)
    assert list(table["word"]) == ["python", "memory", "management"]
    assert (table["rank"] >= 1).all() and ((table["probability"] > 0) & (table["probability"] <= 1)).all()
