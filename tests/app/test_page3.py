"""AppTest of page 3 (BERT fill-mask in context), with the real tiny SPLADE as the masked-LM stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from splade_demo.app import download
from splade_demo.models import loading
from tests.conftest import open_page, tiny_app_environment

PAGE = "views/p3_bert.py"



def charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "subheader") for e in at.get(kind))


@pytest.fixture(autouse=True)
def tiny_models(monkeypatch: pytest.MonkeyPatch, tiny_splade_dir: Path, tiny_corpus_path: Path) -> None:
    tiny_app_environment(monkeypatch, tiny_splade_dir, tiny_corpus_path)


def test_each_word_masked_context_and_union() -> None:
    at = open_page(PAGE, "python memory management")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.warning, [w.value for w in at.warning]
    specs = charts(at)
    # three prediction charts, the rank grid, the context comparison, the union
    assert len(specs) == 6
    titles = [spec["layout"].get("title", {}).get("text", "") for spec in specs[:3]]
    assert titles == ["“python” masked (word 0)", "“memory” masked (word 1)", "“management” masked (word 2)"]
    grid = specs[3]["data"][0]
    assert grid["type"] == "heatmap" and grid["y"] == ["python · 0", "memory · 1", "management · 2"]
    assert len(grid["z"][0]) == 10  # k = 10 by default: one column per rank
    assert at.text_input(key="p3_word").value == "python"
    assert at.text_input(key="p3_sentence_a").value == "python memory management"
    assert at.text_input(key="p3_sentence_b").value == "the python swallowed a rabbit whole"
    context = specs[4]
    assert len(context["data"]) == 3  # BERT in A, BERT in B, GloVe
    assert context["data"][0]["y"] != context["data"][1]["y"]  # the context changes the prediction
    assert "softmax" in at.expander[0].markdown[0].value


def test_the_glove_column_holds_real_neighbours() -> None:
    at = open_page(PAGE, "python memory management")
    glove = charts(at)[4]["data"][2]
    assert len(glove["y"]) == 10 and "python" not in glove["y"]
    assert all(-1.0 <= s <= 1.0 for s in glove["x"])


def test_editing_the_sentences_and_the_word() -> None:
    at = open_page(PAGE, "python memory management")
    before = charts(at)[4]["data"][1]["y"]
    at.text_input(key="p3_sentence_b").set_value("we wrote the parser in python last year").run()
    assert not at.exception
    assert charts(at)[4]["data"][1]["y"] != before
    at.text_input(key="p3_word").set_value("giraffe").run()
    assert not at.exception
    assert "put it in both sentences" in texts(at)
    at.text_input(key="p3_word").set_value("").run()
    assert not at.exception
    assert any("Type a word" in i.value for i in at.info)


def test_a_query_with_its_own_mask() -> None:
    at = open_page(PAGE, "python [MASK] management")
    assert not at.exception
    assert "Your query's own [MASK] tokens" in texts(at)
    specs = charts(at)
    assert specs[0]["layout"]["title"]["text"] == "“[MASK]” masked (word 1)"
    assert specs[1]["data"][0]["y"] == ["[MASK] · 1"]


def test_punctuation_only_and_empty_queries() -> None:
    at = open_page(PAGE, "?! ...")
    assert not at.exception
    assert any("Nothing to mask" in i.value for i in at.info)
    at = open_page(PAGE, "")
    assert not at.exception
    assert at.info and not charts(at)


def test_a_long_query_is_capped_with_notices() -> None:
    at = open_page(PAGE, "a! " * 330)  # 990 characters, 660 words, 662 tokens
    assert not at.exception
    notices = " ".join(i.value for i in at.info)
    assert "662 tokens long" in notices and "the first 20 are masked" in notices
    assert len(charts(at)[20]["data"][0]["y"]) == 20  # the grid after the 20 bar charts


def test_words_are_escaped_in_the_charts() -> None:
    at = open_page(PAGE, "<b>python</b> memory")
    assert not at.exception
    spec = json.dumps(charts(at))
    assert "<b>python" not in spec  # BERT splits "<" ">" off as punctuation; figures escape every word and token


@pytest.mark.parametrize("model", ["/nonexistent/model", "nobody-here/no-such-model"])
def test_a_missing_model_gives_a_message_and_other_pages_keep_working(monkeypatch: pytest.MonkeyPatch, model: str) -> None:
    monkeypatch.setenv("SPLADE_DEMO_MLM_MODEL", model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    network: list[str] = []  # offline: the model is looked up in the cache only, never probed for or downloaded
    monkeypatch.setattr(loading, "host_reachable", lambda *a, **k: network.append("probe") or False)
    for module in (loading, download):  # the loader's download and the page's first-use download
        monkeypatch.setattr(module, "fetch_snapshot", lambda *a, **k: network.append("download"))
    at = open_page(PAGE, "python memory management")
    assert network == []
    assert not at.exception, [e.value for e in at.exception]
    message = " ".join(w.value for w in at.warning)
    assert model in message and "python -m splade_demo prefetch" in message
    assert not charts(at)
    for page in ("views/p1_bm25.py", "views/p2_glove.py"):
        other = open_page(page, "python memory management")
        assert not other.exception, (page, [e.value for e in other.exception])
