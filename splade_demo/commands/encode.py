"""`encode`: not built yet (see the issues)."""

from __future__ import annotations

import argparse

from splade_demo.commands import UsageError, add_common


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("encode", help="not built yet")
    parser.add_argument("args", nargs="*")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> object:
    raise UsageError("the encode command is not built yet")
