"""Every bad input through the CLI: exit 0 with valid JSON, or exit 2 with one `error: ...` line; never a traceback.

Most calls run `splade_demo.cli.main([...])` in-process (capfd sees the real file descriptors, so a
warning printed by a library counts too); the models and vectors are loaded once and shared, as the
app shares them. A handful go through `python -m splade_demo` to prove the real entry point.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from splade_demo import cli
from splade_demo.models import glove_vectors as glove
from splade_demo.commands import fill_mask as fill_mask_command
from splade_demo.commands import neighbours as neighbours_command
from splade_demo.models import loading as models
from splade_demo.retrieval import pipeline
from tests.conftest import REPO_ROOT, TINY_PASSAGES
from tests.robustness.bad_inputs import BAD_INPUTS, not_argv

COMMANDS: dict[str, list[str]] = {  # the text goes after the command name
    "search bm25": ["search", "{text}", "--method", "bm25", "--k", "3", "--corpus", "{corpus}", "--json"],
    "search splade": ["search", "{text}", "--method", "splade", "--k", "3", "--corpus", "{corpus}", "--json"],
    "encode": ["encode", "{text}", "--top-k", "5", "--json"],
    "fill-mask": ["fill-mask", "{text}", "--k", "3", "--json"],
    "neighbours": ["neighbours", "{text}", "--k", "3", "--json"],
}


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory, tiny_splade_dir: Path):
    """The tiny SPLADE for every model, a tiny corpus, and models/vectors loaded once for the module."""
    folder = tmp_path_factory.mktemp("cli_robustness")
    corpus = folder / "tiny.jsonl"
    corpus.write_text("".join(json.dumps({**r, "url": f"https://docs.python.org/3.11/{r['source']}.html"}) + "\n"
                              for r in TINY_PASSAGES), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SPLADE_DEMO_SPLADE_MODEL", str(tiny_splade_dir))
        mp.setenv("SPLADE_DEMO_MLM_MODEL", str(tiny_splade_dir))
        mp.setenv("SPLADE_DEMO_CACHE", str(folder / "cache"))
        # Each module that imported them calls its own name: cache them there. A model is cached by its name alone:
        # each command passes its own progress callback, which a local folder never calls (an lru_cache keyed on it
        # loaded the model again on every call: 81 loads). The model is shared safely: an encoder's int8 copy
        # leaves it untouched (models/quantize.py).
        loaded_once = functools.lru_cache(maxsize=None)(models.load_mlm)

        def load_mlm(name: str, **_progress: object) -> models.LoadedMLM:
            return loaded_once(name)

        load_vectors = functools.lru_cache(maxsize=None)(glove.load_vectors)
        for module in (models, pipeline, fill_mask_command):
            mp.setattr(module, "load_mlm", load_mlm)
        for module in (glove, pipeline, neighbours_command):
            mp.setattr(module, "load_vectors", load_vectors)
        yield corpus


def argv(command: str, text: str, corpus: Path) -> list[str]:
    return [part.format(text=text, corpus=corpus) if "{" in part else part for part in COMMANDS[command]]


def judge(code: int, out: str, err: str) -> str | None:
    """None when the outcome follows the contract, else what is wrong."""
    if "Traceback" in out or "Traceback" in err:
        return "a traceback"
    if code == 0:
        try:
            json.loads(out)
        except ValueError as exc:
            return f"exit 0 but stdout is not one JSON document ({exc}): {out[:200]!r}"
        return None
    if code != 2:
        return f"exit {code}"
    lines = err.splitlines()
    if len(lines) != 1 or not lines[0].startswith("error: "):
        return f"exit 2 but stderr is not one `error: ...` line: {err[:300]!r}"
    return None


def test_every_bad_input_through_every_command(cli_env: Path, capfd: pytest.CaptureFixture[str]) -> None:
    # A terminal's stdout is strict UTF-8 (pytest's capture replaces what it cannot encode; a lone
    # surrogate in the JSON would then pass unseen here, yet crash the real command).
    sys.stdout.reconfigure(errors="strict")  # type: ignore[union-attr]
    sys.stderr.reconfigure(errors="strict")  # type: ignore[union-attr]
    problems: list[str] = []
    outcomes: Counter[str] = Counter()
    slowest = (0.0, "")
    for command in COMMANDS:
        for name, text in BAD_INPUTS:
            if "\x00" in text:
                # A NUL byte cannot be part of a real command-line argument (argv entries are C strings).
                outcomes["skipped (NUL)"] += 1
                continue
            start = time.perf_counter()
            try:
                code = cli.main(argv(command, text, cli_env))
            except SystemExit as exc:  # argparse's own errors (e.g. an argument that looks like an option)
                code = exc.code if isinstance(exc.code, int) else 2
            except BaseException as exc:  # noqa: BLE001 - an escaped exception is exactly what we look for
                code = -1
                print(f"escaped: {type(exc).__name__}: {exc}", file=sys.stderr)
            elapsed = time.perf_counter() - start
            slowest = max(slowest, (elapsed, f"{command} / {name}"))
            out, err = capfd.readouterr()
            problem = judge(code, out, err)
            outcomes[f"exit {code}" if problem is None else "FAILED"] += 1
            if problem:
                problems.append(f"{command} / {name}: {problem}")
    with capfd.disabled():
        tried = sum(v for k, v in outcomes.items() if not k.startswith("skipped"))
        print(f"\nCLI: {tried} input x command runs ({len(BAD_INPUTS)} inputs x {len(COMMANDS)} commands, "
              f"NUL inputs skipped): {dict(outcomes)}; slowest {slowest[0]:.2f} s ({slowest[1]})")
    assert not problems, "\n".join(problems)


@pytest.mark.process  # a fresh process per case (about 33 s): the in-process test above is the fast tier's
@pytest.mark.parametrize(
    ("command", "name"),
    [("search bm25", "emoji mixed"), ("search bm25", "empty"), ("encode", "script tag"),
     ("fill-mask", "100 [MASK]"), ("neighbours", "rtl override U+202E"),
     ("search splade", "over 512 tokens (700 distinct words)")],
)
def test_the_real_entry_point(cli_env: Path, tiny_splade_dir: Path, command: str, name: str) -> None:
    """A few through `python -m splade_demo` (a fresh process: the real argv, streams and exit code)."""
    text = dict(BAD_INPUTS)[name]
    assert not not_argv(text)
    result = subprocess.run([sys.executable, "-m", "splade_demo", *argv(command, text, cli_env)], capture_output=True,
                            text=True, encoding="utf-8", cwd=REPO_ROOT, timeout=300)
    problem = judge(result.returncode, result.stdout, result.stderr)
    assert problem is None, f"{command} / {name}: {problem}"


@pytest.mark.process  # a fresh process per case
@pytest.mark.skipif(sys.platform == "win32", reason="Windows hands programs their arguments as UTF-16 text: "
                    "no undecodable bytes, and subprocess takes no bytes arguments there")
@pytest.mark.parametrize("command", ["search bm25", "encode", "fill-mask", "neighbours"])
def test_a_non_utf8_argument(cli_env: Path, command: str) -> None:
    """A Latin-1 byte typed in a UTF-8 terminal reaches Python as a lone surrogate (surrogateescape)."""
    args = [part.encode().replace(b"CAFE", b"caf\xe9") for part in argv(command, "CAFE memory", cli_env)]
    result = subprocess.run([sys.executable.encode(), b"-m", b"splade_demo", *args], capture_output=True, cwd=REPO_ROOT,
                            timeout=300, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    out, err = result.stdout.decode("utf-8", "replace"), result.stderr.decode("utf-8", "replace")
    problem = judge(result.returncode, out, err)
    assert problem is None, f"{command}: {problem}"
    result.stdout.decode("utf-8")  # valid UTF-8 whatever happened
