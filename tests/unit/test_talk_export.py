"""`python -m splade_demo export-talk`: one self-contained HTML file, one section per guide step, what is missing said
step by step, every corpus and query text escaped, and the CLI contract (exit 0 when written, 2 on bad input)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from splade_demo.cli import main
from splade_demo.talk import panels
from splade_demo.talk.steps import talk_steps
from tests.conftest import TINY_PASSAGES, write_tiny_corpus

QUERY = "python memory management"
XSS_QUERY = "<img src=x onerror=alert(1)> python memory"
MARKUP_TITLE = "<script>alert(2)</script><b>Memory</b> & management"
FIGURE_CALL = re.compile(r'Plotly\.newPlot\(\s*"figure-(\d+)",\s*')


@dataclass(frozen=True)
class Exported:
    code: int
    out: str
    err: str
    html: str


def export(tmp: Path, *args: str) -> Exported:
    """`export-talk ARGS --out tmp/talk.html` in this process."""
    out, err = io.StringIO(), io.StringIO()
    target = tmp / "talk.html"
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["export-talk", *args, "--out", str(target)])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return Exported(code, out.getvalue(), err.getvalue(), target.read_text("utf-8") if target.exists() else "")


@contextlib.contextmanager
def tiny_settings(model: Path | str, corpus: Path, cache: Path) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLADE_DEMO_SPLADE_MODEL", str(model))
        mp.setenv("SPLADE_DEMO_MLM_MODEL", str(model))
        mp.setenv("SPLADE_DEMO_CORPUS", str(corpus))
        mp.setenv("SPLADE_DEMO_CACHE", str(cache))
        mp.setenv("SPLADE_DEMO_PRECISION", "fp32")
        yield


def figure_data(html: str) -> dict[int, list[dict]]:
    """Each drawn figure's traces, by step number, read from its `Plotly.newPlot("figure-N", data, ...)` call."""
    decoder = json.JSONDecoder()
    return {int(m.group(1)): decoder.raw_decode(html, m.end())[0] for m in FIGURE_CALL.finditer(html)}


def sections(html: str) -> dict[int, str]:
    return {int(n): body for n, body in re.findall(r'<section class="step" id="step-(\d+)".*?>(.*?)</section>', html,
                                                    re.DOTALL)}


@pytest.fixture(scope="module")
def full(tiny_splade_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """The talk over the tiny corpus with the SPLADE index built: every step drawn."""
    tmp = tmp_path_factory.mktemp("talk_full")
    corpus = write_tiny_corpus(tmp / "tiny.jsonl")
    with tiny_settings(tiny_splade_dir, corpus, tmp / "cache"):
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            assert main(["index"]) == 0
        return export(tmp, "--query", QUERY)


def test_the_pages_defaults_are_the_apps() -> None:
    from splade_demo.app import state
    from splade_demo.app.sections import splade_extras
    from splade_demo.commands import export_talk

    assert (panels.MASKED_WORDS, panels.OTHER_SENSE_SENTENCE) == (state.MASKED_WORDS, state.OTHER_SENSE_SENTENCE)
    assert panels.DIFF_ROWS == splade_extras.DIFF_ROWS and export_talk.DEFAULT_QUERY == state.DEFAULT_QUERY


def test_every_guide_step_has_a_panel_in_talk_order() -> None:
    from splade_demo.app.guide import STEPS

    steps = talk_steps()
    assert [(s.number, s.page, s.panel, s.title, s.narration) for s in steps] == \
        [(s.number, s.page, s.panel, s.title, s.narration) for s in STEPS]
    assert {s.panel for s in steps} <= set(panels.PANELS)


def test_a_full_export_has_every_step_its_figures_and_one_copy_of_plotly(full: Exported) -> None:
    assert full.code == 0, full.err
    assert full.out.strip().endswith("12 of 12 steps, 0 left out")
    found = sections(full.html)
    assert sorted(found) == list(range(1, 13))
    assert all(f"Step {n} of 12" in body for n, body in found.items())
    assert "Left out of this export" not in full.html
    figures = set(figure_data(full.html))
    assert {1, 2, 3, 4, 5, 6, 7, 9, 12} <= figures  # every step whose panel is a chart
    assert full.html.count("plotly.js v") == 1  # the library, inlined once
    outside_scripts = re.sub(r"<script>.*?</script>", "", full.html, flags=re.DOTALL)
    assert set(re.findall(r'(?:src|href)="([^"#]*)', outside_scripts)) <= {""}  # links are #step-N anchors only
    assert f"For “{QUERY}” every bar" in found[1]  # the narration, with the query filled in
    assert re.search(r'<p class="exported">Exported \d{4}-\d\d-\d\d \d\d:\d\d UTC</p>', full.html)


def test_the_vector_step_draws_the_encoders_own_weights(full: Exported, tiny_splade_dir: Path) -> None:
    """Oracle: the bars of step 7 are the 20 heaviest weights of the query's SPLADE vector, encoded here again."""
    from splade_demo.models.loading import load_mlm
    from splade_demo.retrieval.splade_encoder import SpladeEncoder

    vector = SpladeEncoder(load_mlm(str(tiny_splade_dir)), precision="fp32").encode_query(QUERY).vector
    drawn = sorted((x for trace in figure_data(full.html)[7] for x in trace["x"]), reverse=True)
    assert np.allclose(drawn, np.sort(vector[vector > 0])[::-1][:20], atol=1e-6)


def test_the_why_not_step_explains_the_page_bm25_misses(full: Exported) -> None:
    body = sections(full.html)[10]
    assert "library/gc" in body  # the labelled page that shares no word with the query
    assert "score = Σ_t w_t · idf(t)" in body and "0.000 + 0.000 + 0.000 = 0.000" in body  # no shared word: 0


def test_without_the_splade_model_pages_1_to_3_are_written_and_the_rest_say_why(
        tiny_splade_dir: Path, tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "tiny.jsonl")
    with tiny_settings(tiny_splade_dir, corpus, tmp_path / "cache"), pytest.MonkeyPatch.context() as mp:
        missing = tmp_path / "no-such-model"
        mp.setenv("SPLADE_DEMO_SPLADE_MODEL", str(missing))
        result = export(tmp_path, "--query", QUERY)
    assert result.code == 0, result.err
    assert result.out.strip().count("\n") == 0 and "5 of 12 steps, 7 left out" in result.out
    found = sections(result.html)
    for step in talk_steps():
        body = found[step.number]
        if step.page_number in {"1", "2", "3"}:
            assert "Left out" not in body and "js-plotly-plot" not in body  # drawn in the browser, not here
            assert f'id="figure-{step.number}"' in body
        else:
            assert "Left out of this export" in body and str(missing) in body
    assert "not on this machine" in result.html


def test_an_unbuilt_index_leaves_out_only_the_steps_that_need_it(tiny_splade_dir: Path, tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "tiny.jsonl")
    with tiny_settings(tiny_splade_dir, corpus, tmp_path / "empty-cache"):
        result = export(tmp_path, "--query", QUERY, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert [s["step"] for s in doc["left_out"]] == [8, 9, 10, 11, 12]
    assert all("index" in s["reason"] and "not built" in s["reason"] for s in doc["left_out"])
    assert doc["bytes"] == len(result.html.encode("utf-8"))


def test_an_index_pack_stands_in_for_an_unbuilt_index(tiny_splade_dir: Path, tmp_path: Path) -> None:
    corpus = write_tiny_corpus(tmp_path / "tiny.jsonl")
    with tiny_settings(tiny_splade_dir, corpus, tmp_path / "build-cache"):
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            assert main(["index", "--pack", str(tmp_path / "packs" / "tiny.safetensors")]) == 0
    with tiny_settings(tiny_splade_dir, corpus, tmp_path / "empty-cache"), pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLADE_DEMO_INDEX_PACK", str(tmp_path / "packs"))
        result = export(tmp_path, "--query", QUERY, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["left_out"] == []
    assert not (tmp_path / "empty-cache" / "splade_index").exists() or \
        not list((tmp_path / "empty-cache" / "splade_index").glob("*.npz"))  # read from the pack, nothing built


def test_markup_in_the_query_and_a_corpus_title_is_escaped(tiny_splade_dir: Path, tmp_path: Path) -> None:
    records = [dict(p) for p in TINY_PASSAGES]
    records[1]["title"] = MARKUP_TITLE
    corpus = tmp_path / "markup.jsonl"
    corpus.write_text("".join(json.dumps({**r, "url": "https://docs.python.org/"}) + "\n" for r in records), "utf-8")
    with tiny_settings(tiny_splade_dir, corpus, tmp_path / "cache"):
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            assert main(["index"]) == 0
        result = export(tmp_path, "--query", XSS_QUERY)
    assert result.code == 0, result.err
    assert "<img src=x" not in result.html and "<script>alert" not in result.html and "<b>Memory" not in result.html
    assert "&lt;img src=x onerror=alert(1)&gt;" in result.html  # shown as typed
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in result.html  # the title, in a table
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', result.html).group(1)
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy.split("script-src")[1]


@pytest.mark.parametrize(("args", "message"), [
    (["--query", "   "], "the query is empty"),
    (["--corpus", "/no/such/corpus.jsonl"], "corpus"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    result = export(tmp_path, *args)
    assert result.code == 2 and result.out == ""
    assert result.err.startswith("error: ") and message in result.err and result.err.count("\n") == 1
    assert not (tmp_path / "talk.html").exists()


def test_an_output_folder_that_does_not_exist_is_bad_input(run_cli, tmp_path: Path) -> None:
    result = run_cli("export-talk", "--out", str(tmp_path / "missing" / "talk.html"))
    assert result.returncode == 2 and result.stderr.startswith("error: the folder")
