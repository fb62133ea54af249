"""Snippets with the matched terms highlighted; HTML is built only from escaped text."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from splade_demo.explain.labels import markdown_text
from splade_demo.retrieval.analyzer import STOP_WORDS, TOKEN_PATTERN, stem

__all__ = ["markdown_text", "segments_to_html", "snippet_segments"]  # markdown_text: explain.labels'


@dataclass(frozen=True)
class Segment:
    text: str
    matched: bool


def snippet_segments(text: str, terms: set[str], max_words: int = 60) -> list[Segment]:
    """A window of `text` around its first matched term, split into matched / plain segments.

    A word matches when its analysed term (lower-cased, Snowball stem) is in `terms`.
    """
    words = list(TOKEN_PATTERN.finditer(text))
    matches = [m for m in words if m.group().lower() not in STOP_WORDS and stem(m.group().lower()) in terms]
    if words:
        first = words.index(matches[0]) if matches else 0
        start_word = max(0, first - max_words // 4)
        end_word = min(len(words), start_word + max_words)
        start, end = words[start_word].start(), words[end_word - 1].end()
    else:
        start, end = 0, min(len(text), 400)
    segments: list[Segment] = [Segment("… ", False)] if start > 0 else []
    cursor = start
    for m in matches:
        if m.start() < start or m.end() > end:
            continue
        if m.start() > cursor:
            segments.append(Segment(text[cursor:m.start()], False))
        segments.append(Segment(m.group(), True))
        cursor = m.end()
    segments.append(Segment(text[cursor:end], False))
    if end < len(text):
        segments.append(Segment(" …", False))
    return [s for s in segments if s.text]


def segments_to_html(segments: list[Segment]) -> str:
    """Escaped HTML with <mark> around matched words; whitespace collapsed."""
    parts = [
        f"<mark>{html.escape(s.text)}</mark>" if s.matched else html.escape(re.sub(r"\s+", " ", s.text))
        for s in segments
    ]
    return "".join(parts)


