"""`export-talk [--query Q] [--out talk.html] [--corpus PATH] [--json]`: the guided talk as one offline HTML file.

Prints one summary line (with --json: `{"path", "bytes", "steps", "left_out": [{"step", "title", "reason"}]}`).
Exit 0 when the file is written, also when steps are left out (a model not on this machine, the index not built);
2 on bad input (an empty query, a corpus that cannot be loaded, an output folder that does not exist).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from splade_demo.commands import UsageError, add_common, clean_text
from splade_demo.config import load_settings
from splade_demo.data.corpus import CorpusError
from splade_demo.files import replace_file
from splade_demo.retrieval.pipeline import EngineError
from splade_demo.talk.export import export_talk, sources_for

DEFAULT_QUERY = "python memory management"  # the app's default query (app/state.py)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export-talk", help="write the guided talk as one self-contained HTML file")
    parser.add_argument("--query", default=DEFAULT_QUERY, help=f"the talk's query (default: {DEFAULT_QUERY!r})")
    parser.add_argument("--out", default="talk.html", help="the HTML file to write (default: talk.html)")
    add_common(parser, corpus=True)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> dict[str, object] | str:
    query = clean_text(args.query)
    out = Path(args.out)
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder: give a file name such as talk.html")
    if not out.parent.is_dir():
        raise UsageError(f"the folder {out.parent} does not exist")
    settings = load_settings()
    if args.corpus:
        settings = settings.with_overrides(corpus=args.corpus)
    try:
        result = export_talk(query, sources_for(settings))
    except (CorpusError, EngineError) as exc:  # a corpus or an engine that cannot be opened
        raise UsageError(str(exc)) from None
    temporary = out.with_name(out.name + ".part")
    temporary.write_bytes(result.html.encode("utf-8"))
    replace_file(temporary, out)  # a half-written talk never replaces a good one
    return result.as_json(str(out)) if args.json else result.summary(str(out))
