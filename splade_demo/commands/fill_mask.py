"""`fill-mask TEXT [--k 10]`: a masked-LM's top-k predictions at each masked word.

If TEXT contains `[MASK]`, those positions are predicted; otherwise each word is masked in turn
(punctuation is not masked). Output (docs/architecture.md, "CLI"):
`[{"position", "token", "predictions": [{"token", "probability"}]}]`, where `position` is the
index of the word in the model's pre-tokenised text and `token` the word that was masked
(or "[MASK]"). The model is `SPLADE_DEMO_MLM_MODEL` (default bert-base-uncased).
Each masked word is one more pass of the model over the text, so at most `--max-words` words
(default 64) are masked, the first ones; a note on stderr says when words were left out.
"""

from __future__ import annotations

import argparse
import sys

from splade_demo.commands import DownloadProgressLine, UsageError, add_common, clean_text
from splade_demo.config import load_settings
from splade_demo.explain.fill_mask import predict
from splade_demo.models.loading import load_mlm

MAX_K = 1000
DEFAULT_MAX_WORDS = 64  # each masked word re-reads the text: 64 x 100 tokens ~ 12 s at BERT-base's ~550 tokens/s on 2 cores
MAX_WORDS_LIMIT = 512  # no text has more words within BERT's 512 tokens


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fill-mask", help="masked-LM predictions for each word of TEXT, or for its [MASK] tokens",
        description="Predict the top-k tokens at each [MASK] of TEXT, or at each word masked in turn.",
    )
    parser.add_argument("text", nargs="+", metavar="TEXT", help="the text (several arguments are joined by spaces)")
    parser.add_argument("--k", type=int, default=10, help="predictions per masked position (default 10)")
    parser.add_argument("--max-words", type=int, default=DEFAULT_MAX_WORDS,
                        help=f"words masked in turn, the first ones (default {DEFAULT_MAX_WORDS}; [MASK]s are all predicted)")
    add_common(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> object:
    text = clean_text(" ".join(args.text), what="text")
    if not 1 <= args.k <= MAX_K:
        raise UsageError(f"--k must be between 1 and {MAX_K} (got {args.k})")
    if not 1 <= args.max_words <= MAX_WORDS_LIMIT:
        raise UsageError(f"--max-words must be between 1 and {MAX_WORDS_LIMIT} (got {args.max_words})")
    model_name = load_settings().mlm_model
    loaded = load_mlm(model_name, on_progress=DownloadProgressLine(model_name))
    result = predict(loaded, text, args.k, max_words=args.max_words)
    if result.words_left_out:
        print(f"note: the text has {len(result.positions) + result.words_left_out:,} words; only the first "
              f"{len(result.positions)} were masked (--max-words)", file=sys.stderr)
    if result.truncated:
        print(f"note: the text is {result.n_tokens:,} tokens long; only the first 512 were read", file=sys.stderr)
    if not result.positions:
        print("note: nothing to predict: the text has no words, only punctuation or symbols", file=sys.stderr)
    return [
        {
            "position": masked.position,
            "token": masked.word,
            "predictions": [{"token": p.token, "probability": p.probability} for p in masked.predictions],
        }
        for masked in result.positions
    ]
