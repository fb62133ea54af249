"""`python -m splade_demo COMMAND` (contract in docs/architecture.md, "CLI").

Each command lives in its own module under `splade_demo/commands/` with
`register(subparsers)` and `run(args) -> object`. With `--json` the result is printed as one
JSON document on stdout; otherwise as text. Bad input prints `error: <one line>` on stderr
and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module
from typing import Sequence

from splade_demo.commands import COMMAND_MODULES, UsageError, render_text


INTERRUPTED = 130  # 128 + SIGINT


def use_utf8_streams(streams: Sequence[object] | None = None) -> None:
    """Write UTF-8 to stdout and stderr whatever the locale says (Windows: cp1252 when redirected to a file).

    Only text streams that can be reconfigured are touched, and only when they are not UTF-8 already."""
    for stream in streams if streams is not None else (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        reconfigure = getattr(stream, "reconfigure", None)
        if encoding != "utf8" and callable(reconfigure):
            reconfigure(encoding="utf-8")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors follow the same contract
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m splade_demo", description="Why SPLADE works: the dashboard's logic from the shell.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module_name in COMMAND_MODULES:
        import_module(f"splade_demo.commands.{module_name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    use_utf8_streams()
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except KeyboardInterrupt:  # Ctrl-C: 130 as a shell reports it; a build keeps the batches it saved
        print("interrupted: an index build resumes from its saved batches when the command runs again",
              file=sys.stderr)
        return INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the contract: one line on stderr, exit 2
        message = " ".join(str(exc).split()) or type(exc).__name__
        if not isinstance(exc, UsageError) and not isinstance(exc, (ValueError, OSError, RuntimeError, LookupError)):
            message = f"{type(exc).__name__}: {message}"
        print(f"error: {message}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        json.dump(result, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print(render_text(result))
    return 0
