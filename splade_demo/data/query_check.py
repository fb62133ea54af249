"""Checks on a typed query before any page uses it (bad input gets a message, never a crash)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_QUERY_CHARS = 1_000


@dataclass(frozen=True)
class CheckedQuery:
    """The text a page should use, and a notice to show (None when all is well)."""

    text: str
    notice: str | None = None

    @property
    def empty(self) -> bool:
        return not self.text


def encodable(text: str) -> str:
    """`text` with each lone surrogate (which UTF-8, and so the browser, cannot carry) replaced by U+FFFD."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def check_query(raw: str, max_chars: int = MAX_QUERY_CHARS) -> CheckedQuery:
    """Drop control characters, collapse whitespace, and cap the length with a notice."""
    cleaned = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in raw)
    text = " ".join(cleaned.split())
    if not text:
        return CheckedQuery("", "Type a query in the sidebar, or pick one of the examples.")
    if len(text) > max_chars:
        return CheckedQuery(
            text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars],
            f"The query is {len(text):,} characters long; only the first {max_chars:,} are used here.",
        )
    return CheckedQuery(text)
