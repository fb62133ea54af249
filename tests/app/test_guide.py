"""The guided talk mode (#15): the script is data, every step's panel exists, `?step=N` opens a step, Back/Next move
through the pages, the talk ends on request, and it works in presenter mode and with any query."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.app.guide import STEPS, load_steps, parse_step
from tests.conftest import REPO_ROOT, tiny_app_environment


@pytest.fixture()
def tiny_setup(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path, tmp_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)
    monkeypatch.setenv("SPLADE_DEMO_CACHE", str(tmp_path / "cache"))


def banner(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown if "Guided talk" in m.value)


def narration(at: AppTest, number: int) -> str:
    prefix = html.escape(STEPS[number - 1].narration.split("{query}")[0])
    return next((m.value for m in at.markdown if m.value.startswith(prefix)), "")


def test_the_script_is_about_twelve_steps_of_two_sentences_over_all_five_pages() -> None:
    assert 10 <= len(STEPS) <= 14 and [s.number for s in STEPS] == list(range(1, len(STEPS) + 1))
    assert {s.page for s in STEPS} == {f"views/{p}.py" for p in ("p1_bm25", "p2_glove", "p3_bert", "p4_splade",
                                                                 "p5_compare")}
    for step in STEPS:
        assert len(re.findall(r"[.!?](?:\s|$)", step.narration)) == 2, step.title
        assert "probabilit" not in step.narration or step.page == "views/p3_bert.py" or "not probabilities" in step.narration


@pytest.mark.parametrize("step", STEPS, ids=[s.panel for s in STEPS])
def test_every_panel_is_a_key_on_its_page(step) -> None:
    sources = [REPO_ROOT / step.page, *sorted((REPO_ROOT / "splade_demo" / "app" / "sections").glob("*.py"))]
    assert any(f'"{step.panel}"' in path.read_text(encoding="utf-8") for path in sources), step.panel


def test_bad_step_numbers_are_clamped_or_ignored(tmp_path: Path) -> None:
    assert (parse_step("0"), parse_step("5"), parse_step("99"), parse_step("x")) == (1, 5, len(STEPS), None)
    bad = tmp_path / "guide.toml"
    bad.write_text('[[step]]\npage = "views/nope.py"\npanel = "x"\ntitle = "t"\nnarration = "a. b."\n')
    with pytest.raises(ValueError, match="views/nope.py"):
        load_steps(bad)


def open_step(step: str, query: str = "python memory management", **state: object) -> AppTest:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=600)
    at.session_state["query"] = query
    for key, value in state.items():
        at.session_state[key] = value
    at.query_params["step"] = step
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_a_deep_link_opens_its_step_on_its_page_and_next_back_and_end_work(tiny_setup: None) -> None:
    at = open_step("4")  # BERT's masked predictions, page 3
    assert "step 4 of 12" in banner(at) and at.title[0].value == "Contextual predictions (BERT)"
    assert "python memory management" in narration(at, 4)  # the narration names the current query
    assert at.query_params["step"] == ["4"] or at.query_params["step"] == "4"
    at.button(key="guide_next").click().run()
    assert not at.exception and "step 5 of 12" in banner(at)
    at.button(key="guide_next").click().run()  # step 6 is on page 4: the page switches
    assert not at.exception and "step 6 of 12" in banner(at) and at.title[0].value == "SPLADE vectors"
    at.button(key="guide_back").click().run()
    assert not at.exception and "step 5 of 12" in banner(at) and at.title[0].value == "Contextual predictions (BERT)"
    at.button(key="guide_exit").click().run()
    assert not at.exception and not banner(at)


def test_the_talk_starts_from_home_and_runs_in_presenter_mode_with_any_query(tiny_setup: None) -> None:
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=600)
    at.session_state["query"] = "json decode error"
    at.session_state["presenter"] = True
    at.run()
    at.button(key="guide_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "step 1 of 12" in banner(at) and at.title[0].value == "A developer documentation search system"  # page 1
    assert at.button(key="guide_back").disabled
    at.button(key="guide_next").click().run()
    assert not at.exception and "step 2 of 12" in banner(at)


def test_the_last_step_has_no_next(tiny_setup: None) -> None:
    at = open_step("99")
    assert f"step {len(STEPS)} of {len(STEPS)}" in banner(at) and at.button(key="guide_next").disabled


def test_a_query_with_markup_stays_literal_in_the_narration(tiny_setup: None) -> None:
    at = open_step("1", query="[x](javascript:alert(1)) <b>bold</b>")
    text = narration(at, 1)
    assert "\\[x\\]\\(javascript\\:alert\\(1\\)\\) \\<b\\>bold\\</b\\>" in text
    markdown_it = pytest.importorskip("markdown_it")
    tokens = [t for block in markdown_it.MarkdownIt("commonmark").parse(text) for t in block.children or []]
    assert not [t for t in tokens if t.type in {"link_open", "image", "html_inline"}]


def download_labels(at: AppTest) -> list[str]:
    """The labels of the download buttons (AppTest shows them as elements carrying their proto)."""
    return [element.proto.label for element in at.get("download_button")]


def test_the_talk_download_is_on_the_last_step_and_in_presenter_mode(tiny_setup: None) -> None:
    from splade_demo.app.talk_download import LABEL

    last = open_step("12")
    assert LABEL in download_labels(last)  # on the guide's last step
    middle = open_step("3")
    assert LABEL not in download_labels(middle)  # not elsewhere in the talk...
    presenter = open_step("3", presenter=True)
    assert LABEL in download_labels(presenter)  # ...unless the presenter asks for it (sidebar)

