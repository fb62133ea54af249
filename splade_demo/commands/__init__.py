"""CLI commands: one module each, with `register(subparsers)` and `run(args)`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from splade_demo.models.catalog import human_size

COMMAND_MODULES: tuple[str, ...] = ("search", "encode", "fill_mask", "neighbours", "evaluate", "index", "prefetch", "explain")
MAX_QUERY_CHARS = 10_000


class UsageError(ValueError):
    """Bad input from the command line; printed as `error: <message>`."""


def add_common(parser: argparse.ArgumentParser, corpus: bool = False, engine: bool = False) -> None:
    """Options every command shares: --json, --corpus where a corpus is used, --engine where one ranks."""
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    if corpus:
        parser.add_argument("--corpus", default=None, help="demo, full, or a path to a corpus JSONL(.gz)")
    if engine:
        parser.add_argument("--engine", default=None,
                            help="memory, milvus:PATH.db or milvus:http(s)://HOST:PORT (default: SPLADE_DEMO_ENGINE)")


def clean_text(text: str, what: str = "query") -> str:
    """Reject empty or oversized input with a clear message; collapse whitespace."""
    text = " ".join(text.split())
    if not text:
        raise UsageError(f"the {what} is empty")
    check_encodable(text, what)
    if len(text) > MAX_QUERY_CHARS:
        raise UsageError(f"the {what} is {len(text):,} characters long; the limit is {MAX_QUERY_CHARS:,}")
    return text


def check_encodable(text: str, what: str = "query") -> None:
    """UsageError for text UTF-8 cannot encode: a non-UTF-8 byte in argv arrives as a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"the {what} is not valid UTF-8 text") from None


class TqdmProgress:
    """EncodeProgress drawn as a tqdm bar on stderr (while an index is built)."""

    def __init__(self) -> None:
        self._bar: Any = None

    def on_start(self, total: int, skipped: int, total_tokens: int, skipped_tokens: int) -> None:
        from tqdm import tqdm  # lazy: only commands that draw a bar need it

        self._bar = tqdm(total=total, initial=skipped, desc="encoding documents", unit="doc")
        if skipped >= total:
            self._bar.close()

    def on_batch(self, done: int, done_tokens: int) -> None:
        self._bar.update(done - self._bar.n)
        if done >= self._bar.total:
            self._bar.close()


def render_text(result: object) -> str:
    """A readable text rendering of a command's result (without --json)."""
    if isinstance(result, str):
        return result
    if isinstance(result, list) and result and isinstance(result[0], dict) and "rank" in result[0]:
        return "\n".join(f"{r['rank']:>3}  {r['score']:8.3f}  {r['source']:<28} {r['title']}" for r in result)
    return json.dumps(result, indent=2, ensure_ascii=False)


class DownloadProgressLine:
    """A model download's bytes so far on stderr: one line per 10 % of its files (`hub_download.ProgressCallback`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.reported = -1

    def __call__(self, done: int, total: int) -> None:
        step = 10 if total <= 0 else min(10, int(10 * done / total))
        if step > self.reported:
            self.reported = step
            print(f"downloading {self.name}: {human_size(done)} of {human_size(total)}", file=sys.stderr, flush=True)
