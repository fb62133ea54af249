"""CLI commands: one module each, with `register(subparsers)` and `run(args)`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

from splade_demo.models.catalog import human_size

COMMAND_MODULES: tuple[str, ...] = ("search", "encode", "fill_mask", "neighbours", "evaluate", "index", "prefetch", "explain",
                                   "export_talk")
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
    """EncodeProgress drawn on stderr while an index is built (`progress_bar`: a bar, or lines in a log)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._waiting = False

    def on_wait(self, pid: int) -> None:
        """build_lock: another process builds this index; say so once, then wait for it."""
        if not self._waiting:
            self._waiting = True
            holder = f" (pid {pid})" if pid > 0 else ""
            print(f"note: the index is being built by another process{holder}; waiting for it", file=sys.stderr,
                  flush=True)

    def on_start(self, total: int, skipped: int, total_tokens: int, skipped_tokens: int) -> None:
        self._bar = progress_bar(total=total, initial=skipped, desc="encoding documents", unit="doc")
        if skipped >= total:
            self._bar.close()

    def on_batch(self, done: int, done_tokens: int) -> None:
        self._bar.update(done - self._bar.n)
        if done >= self._bar.total:
            self._bar.close()


def progress_bar(total: int, desc: str, unit: str, initial: int = 0) -> Any:
    """A tqdm bar on a terminal; when stderr is not one (a log file, a pipe), `ProgressLines`: one line per ~10 %
    instead of a carriage-return frame per batch (330 KB of frames in one `evaluate --corpus full` log)."""
    if _stderr_is_terminal():
        from tqdm import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit)
    return ProgressLines(total, desc, unit, initial)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


class DecileLines:
    """Calls `say(done, total)` each time the work crosses another tenth (and at the end): the log-file progress
    of downloads and index builds alike."""

    def __init__(self, say: Callable[[int, int], None]) -> None:
        self.say = say
        self.reported = -1

    def __call__(self, done: int, total: int) -> None:
        step = 10 if total <= 0 else min(10, int(10 * done / total))
        if step > self.reported:
            self.reported = step
            self.say(done, total)


class ProgressLines:
    """The tqdm calls the CLI uses (`update`, `n`, `total`, `close`) as `desc: 40 % (160/400 doc)` lines."""

    def __init__(self, total: int, desc: str, unit: str, initial: int = 0) -> None:
        self.total, self.n, self.desc, self.unit = total, initial, desc, unit
        self._lines = DecileLines(self._say)
        self._closed = False
        self._lines(initial, total)

    def _say(self, done: int, total: int) -> None:
        percent = 100 if total <= 0 else int(100 * done / total)
        print(f"{self.desc}: {percent} % ({done:,}/{total:,} {self.unit})", file=sys.stderr, flush=True)

    def update(self, count: int = 1) -> None:
        self.n += count
        if not self._closed:
            self._lines(self.n, self.total)

    def close(self) -> None:
        self._closed = True


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
        self._lines = DecileLines(self._say)

    def __call__(self, done: int, total: int) -> None:
        self._lines(done, total)

    def _say(self, done: int, total: int) -> None:
        print(f"downloading {self.name}: {human_size(done)} of {human_size(total)}", file=sys.stderr, flush=True)
