"""`neighbours WORD... [--k 10]`: static (GloVe) nearest neighbours of each word.

Output: `{"word": [{"term", "similarity"}] or null when out of vocabulary}`, keyed by the lower-cased
word that was looked up. An argument holding several words ("python memory") counts as several.
"""

from __future__ import annotations

import argparse

from splade_demo.commands import MAX_QUERY_CHARS, UsageError, add_common, check_encodable
from splade_demo.config import load_settings
from splade_demo.models.glove_vectors import load_vectors
from splade_demo.retrieval.neighbours import neighbours

MAX_K = 1000
MAX_WORDS = 100


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("neighbours", help="GloVe nearest neighbours of each word (no context)")
    parser.add_argument("words", nargs="*", metavar="WORD", help="the words to look up")
    parser.add_argument("--k", type=int, default=10, help=f"neighbours per word (1-{MAX_K})")
    add_common(parser)
    parser.set_defaults(run=run)


def parse_words(arguments: list[str]) -> list[str]:
    """Lower-cased, de-duplicated words from the arguments; UsageError when there are none or too many."""
    if sum(len(a) for a in arguments) > MAX_QUERY_CHARS:
        raise UsageError(f"the words are longer than {MAX_QUERY_CHARS:,} characters in all")
    for argument in arguments:
        check_encodable(argument, "word")
    words = list(dict.fromkeys(w.lower() for argument in arguments for w in argument.split()))
    if not words:
        raise UsageError("give at least one word, e.g. `neighbours python memory`")
    if len(words) > MAX_WORDS:
        raise UsageError(f"{len(words)} words given; the limit is {MAX_WORDS}")
    return words


def run(args: argparse.Namespace) -> dict[str, list[dict[str, object]] | None]:
    words = parse_words(args.words)
    if not 1 <= args.k <= MAX_K:
        raise UsageError(f"--k must be between 1 and {MAX_K}")
    settings = load_settings()
    vectors = load_vectors(settings.glove, settings.cache_dir)
    result: dict[str, list[dict[str, object]] | None] = {}
    for word in words:
        found = neighbours(vectors, word, args.k)
        result[word] = None if found is None else [{"term": n.term, "similarity": n.similarity} for n in found]
    return result
